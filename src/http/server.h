/*
 * server.h - the twokey HTTP server: REST/JSON API on libmicrohttpd.
 *
 * Owns: listening (HTTP, or HTTPS with --tls-cert/--tls-key), request
 * bodies and caps, routing to the API (routes.c) or the console
 * (src/web), response headers, JSON error responses.
 */
#ifndef TK_SERVER_H
#define TK_SERVER_H

#include "core/tk.h"

typedef struct tk_server_opts {
	const char *db_path;   /* database created by `twokey init` */
	const char *listen;    /* "127.0.0.1:8080" or "[::1]:8080" */
	unsigned threads;      /* worker threads, 0 = 16 */
	int sweep_interval;    /* seconds between scheduler sweeps: 0 = 5,
	                          < 0 = no sweeps */
	bool quiet;            /* no access log on stderr */
	int64_t checkpoint_events;  /* sign after this many events: 0 = 1000 */
	int64_t checkpoint_seconds; /* ...or this long after the last one
	                               when any arrived: 0 = 10 */
	bool audit_public;     /* the /v1/audit routes need no token */
	bool no_mirror;        /* no checkpoint copy in a file */
	const char *checkpoint_file; /* the checkpoint copy's file; NULL:
	                                PATH.checkpoints */
	/* Witnesses, "URL=VERIFIER_KEY" each (audit/witness.h): every new
	 * checkpoint is pushed to them by their own thread, and each
	 * cosignature that verifies is kept with its checkpoint. */
	const char *const *witnesses;
	size_t nwitnesses;
	const char *checkpoint_syslog; /* "udp://HOST:PORT" or "tcp://...":
	                                  each signed checkpoint and stored
	                                  cosignature as a syslog message;
	                                  NULL: none */
	const char *syslog;    /* the same for every committed audit event */
	const char *syslog_format; /* "jsonl" (NULL), "ocsf" or "cef" */
	int64_t syslog_from;   /* first seq shipped; 0: the events committed
	                          after start */
	const char *directory; /* directory file (connectors, notify), or
	                          NULL: manual execution only, no messages */
	const char *tls_cert;  /* PEM certificate (chain) and key: serve */
	const char *tls_key;   /* HTTPS; both or neither */
	const char *oidc;      /* console SSO configuration file, or NULL */
	bool secure_cookies;   /* browsers reach the console over HTTPS
	                          through a proxy: cookies get Secure */
	int64_t session_idle;  /* console session idle expiry (s): 0 = 30 min */
	int64_t session_max;   /* ...and absolute expiry: 0 = 12 hours */
} tk_server_opts;

/*
 * Runs until SIGINT or SIGTERM, then stops accepting, finishes requests
 * in flight and returns 0. A scheduler thread calls tk_app_sweep every
 * sweep_interval seconds, so holds end, approvals expire and overdue
 * reviews raise their alert without anyone reading the case. A
 * checkpoint thread signs checkpoints and ships committed events to
 * syslog every second; a witness thread pushes new checkpoints to the
 * witnesses (network waits there never hold up requests or signing).
 * At shutdown the last checkpoint is signed, shipped and pushed (a few
 * seconds at most). Returns -1 with err filled when it cannot start
 * (database missing, address in use, bad listen string, bad witness or
 * syslog target).
 *
 * Test builds (TK_TEST_HOOKS) read the environment variable
 * TWOKEY_TEST_CLOCK_FILE: when set, the file holds a number of seconds
 * added to the real clock, re-read on every request.
 */
int tk_server_run(const tk_server_opts *o, tk_error *err);

#endif
