/* The CGI-style environment a child starts with. */
#ifndef WSB_ENV_H
#define WSB_ENV_H

#include <stdbool.h>

struct http_request;

/* --pty: the child's TERM unless --passenv passes the server's. */
#define ENV_PTY_TERM	"xterm-256color"

struct env_facts {
	const struct http_request	*req;
	const char			*remote_addr;
	const char			*remote_host;
	int				 remote_port;	/* -1: unknown */
	const char			*server_addr;	/* the listening address */
	int				 server_port;
	const char			*unique_id;
	const char			*software;	/* "wsbridge/VERSION" */
	bool				 https;
	/* --dir and CGI: the script's part of the path, and the rest. */
	const char			*script_name;	/* NULL: "/" */
	const char			*path_info;	/* NULL: the path */
	bool				 cgi;		/* real CGI/1.1 */
	/* --basic-auth, --auth-header: NULL or "" for nobody. */
	const char			*remote_user;
	const char			*auth_type;
	bool				 hide_authorization;
	bool				 pty;		/* --pty: TERM too */
};

char	**env_build(const struct env_facts *, char *const *passenv,
	     char *const *environ_src);
void	  env_free(char **);

#endif
