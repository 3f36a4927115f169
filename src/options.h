/*
 * The command-line options, one table row each: what the value is, where
 * it goes in struct config, its limits and default, the mode it belongs to
 * and its --help text. config.c's parsing, the defaults, the mode checks
 * and the usage text are all driven from options_table.
 */
#ifndef WSB_OPTIONS_H
#define WSB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config;
struct option_entry;

enum option_kind {
	OPTION_FLAG,	/* bool: --x alone is true, or --x=BOOL */
	OPTION_NUMBER,	/* a decimal in [minimum, maximum] */
	OPTION_CHOICE,	/* one of choices[], stored as its index */
	OPTION_STRING,	/* kept as given (it lives in argv), once checked */
	OPTION_CUSTOM,	/* parse() does it all: lists, repeated flags */
};

enum option_mode {
	OPTION_SERVER = 1,
	OPTION_CLIENT = 2,
	OPTION_BOTH = OPTION_SERVER | OPTION_CLIENT,
};

/* Where --help lists the option. */
enum option_group {
	OPTION_GROUP_MAIN,
	OPTION_GROUP_HTTP,
	OPTION_GROUP_CLIENT,
	OPTION_GROUP_INFO,	/* --help, --version, --license */
};

/*
 * Options of one mode used in the other are refused in one message that
 * names the whole group, so the user fixes them all at once.
 */
enum option_refusal {
	REFUSE_ALONE,		/* a message of its own */
	REFUSE_LISTEN,
	REFUSE_ENV,
	REFUSE_AUTH,
	REFUSE_HTTP,
	REFUSE_HEADER_KIND,
	REFUSE_CLIENT_NET,
};

/* Checks a value before it is stored; -1 with one line in err. */
typedef int (*option_check_cb)(const struct option_entry *, const char *,
    char *, size_t);
/* Parses and stores a value itself (v is NULL for a bare FLAG). */
typedef int (*option_parse_cb)(struct config *, const struct option_entry *,
    const char *, char *, size_t);

struct option_entry {
	const char		*name;
	enum option_kind	 kind;
	enum option_mode	 mode;
	enum option_group	 group;
	enum option_refusal	 refusal;

	size_t			 offset;	/* the field in struct config */
	size_t			 size;		/* its size (numbers) */
	unsigned long long	 minimum;
	unsigned long long	 maximum;
	unsigned long long	 default_number; /* NUMBER, CHOICE */
	const char		*default_string; /* CUSTOM: parsed first */
	const char *const	*choices;	/* CHOICE, NULL-ended */
	const char		*what;		/* errors: "a port number" */
	option_check_cb		 check;		/* STRING */
	option_parse_cb		 parse;		/* instead of storing */

	const char		*arg;		/* "=PORT" after --name */
	const char		*help;		/* NULL: shares the row above's */
	const char		*client_arg;	/* Client mode: arg, help */
	const char		*client_help;
};

/* Ends with a row whose name is NULL. */
extern const struct option_entry options_table[];

const struct option_entry *options_find(const char *, size_t);
int	 options_defaults(struct config *, char *, size_t);
int	 options_apply(struct config *, const struct option_entry *,
	     const char *, char *, size_t);
int	 options_bool(const struct option_entry *, const char *, bool *,
	     char *, size_t);
void	 options_forget(struct config *, const struct option_entry *);
bool	 options_given(const struct config *, const char *);
bool	 options_used(const struct config *, const struct option_entry *);
int	 options_refuse(const struct option_entry *, char *, size_t);
void	 options_usage(FILE *);
int	 options_error(char *, size_t, const char *, ...)
	     __attribute__((__format__(__printf__, 3, 4)));

#endif
