/* What the command line asked for. Parsed once, read-only afterwards. */
#ifndef WSB_CONFIG_H
#define WSB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LL_DEBUG,
	LL_TRACE,
	LL_ACCESS,
	LL_INFO,
	LL_ERROR,
	LL_FATAL,
};

enum config_action {
	ACTION_SERVE,
	ACTION_HELP,
	ACTION_VERSION,
	ACTION_LICENSE,
};

#define CONFIG_MAX_ADDRESSES	16
#define CONFIG_MAX_PASSENV	64
#define CONFIG_MAX_PROXIES	16
#define CONFIG_MAX_HEADERS	32
#define CONFIG_MAX_PROTOCOLS	16

struct config {
	enum config_action	 action;
	unsigned long long	 given;	/* bit i: options_table[i] was given */
	int			 port;
	bool			 port_given;	/* even as the default */
	const char		*addresses[CONFIG_MAX_ADDRESSES + 1];
	size_t			 naddresses;
	bool			 binary;
	char			*passenv[CONFIG_MAX_PASSENV + 1];
	unsigned		 closems;
	unsigned		 ping_ms;	/* 0: no pings */
	size_t			 max_message;	/* --maxframesize */
	size_t			 queue_limit;	/* per direction */
	enum log_level		 loglevel;
	char			*passenv_buf;	/* owns passenv[] strings */
	const char		*unixsocket;	/* --unixsocket PATH */
	const char		*uid;		/* --uid name or number */
	const char		*gid;		/* --gid name or number */
	char			*proxies[CONFIG_MAX_PROXIES + 1];
	char			*proxies_buf;	/* owns proxies[] strings */
	const char		*metrics_path;	/* --metrics PATH */
	const char		*basic_auth;	/* --basic-auth FILE */
	const char		*auth_realm;	/* NULL: the command's name */
	const char		*auth_header;	/* --auth-header NAME */

	/* websocketd's HTTP side. */
	const char		*dir;		/* --dir: scripts by URL path */
	const char		*staticdir;
	const char		*cgidir;
	bool			 devconsole;
	unsigned		 maxforks;	/* 0: unlimited */
	char			*origins[CONFIG_MAX_HEADERS + 1]; /* --origin list */
	char			*origins_buf;
	bool			 sameorigin;
	int			 redirport;	/* 0: none */
	bool			 reverselookup;
	bool			 passstderr;
	bool			 unbuffer;	/* the child's stdout is a pty */
	bool			 pty;		/* a terminal: the child's, or ours */
	bool			 deflate;
	bool			 ssl;

	/*
	 * --header goes on every response of a server and on the request of a
	 * client; --header-ws and --header-http on one kind of response only.
	 */
	const char		*headers[CONFIG_MAX_HEADERS + 1];
	enum header_kind {
		HEADER_ALL, HEADER_WS, HEADER_HTTP,
	}			 header_kinds[CONFIG_MAX_HEADERS];
	size_t			 nheaders;

	/* Client mode (--connect). */
	const char		*connect_url;
	const char		*origin;
	const char		*protocols[CONFIG_MAX_PROTOCOLS + 1];
	size_t			 nprotocols;
	bool			 insecure;
	const char		*sslca;
	const char		*sslcert;
	const char		*sslkey;
	unsigned		 connect_timeout;	/* seconds */
	unsigned		 eof_wait_ms;	/* --eof-wait: 0, close at EOF */
	const char		*password_file;	/* --password-file FILE */
	char			*connect_shown;	/* the URL without a password */
	char			*auth_line;	/* "Authorization: Basic ..." */
	char *const		*command;	/* argv of the child, NULL-ended */
	char			*command_path;	/* command[0] found in PATH */
};

int	 config_parse(struct config *, int, char **, char *, size_t);
int	 config_resolve_command(struct config *, const char *, char *, size_t);
int	 config_client_credentials(struct config *, const char *, const char *,
	     char *, size_t);
void	 config_free(struct config *);
int	 config_parse_loglevel(const char *, enum log_level *);
const char *config_loglevel_name(enum log_level);

#endif
