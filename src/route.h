/*
 * The decision on a request whose head listener.c has read (route.c).
 */
#ifndef WSB_ROUTE_H
#define WSB_ROUTE_H

#include <stddef.h>

struct http_request;
struct pending;

void	 route_request(struct pending *, struct http_request *, size_t);

#endif
