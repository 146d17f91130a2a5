/*
 * server.c - the HTTP edge: runs libmicrohttpd (internal epoll thread
 * pool), parses the listen address, accumulates request bodies under the
 * 64 KiB cap, adapts each request to routes.c, adds the security headers,
 * writes the access log, and shuts down cleanly on SIGINT/SIGTERM.
 *
 * Owns: tk_server_run, the daemon, per-connection body buffers (wiped
 * when freed: sign-in forms carry passwords), the access log, the
 * scheduler thread (tk_app_sweep every --sweep-interval
 * seconds), the checkpoint thread (signing, and shipping committed events
 * to syslog, every second), the witness thread (pushing checkpoints to
 * witnesses) and the syslog senders; all are stopped and joined before
 * the app closes. Tokens and bodies are never logged.
 *
 * The worker pool defaults to 16 threads: a write request blocks its
 * thread until its group-commit batch is durable, so several must be able
 * to wait on one fsync together.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "app/syslog.h"
#include "audit/export.h"
#include "audit/log.h"
#include "http/routes.h"
#include "web/web.h"

/* Past the cap a chunked body is drained (not stored) up to this much,
 * then the connection is dropped. */
#define DRAIN_MAX (16u * 1024 * 1024)

typedef struct server {
	tk_app *app;
	tk_web *web;   /* the console, NULL while starting */
	bool quiet;
	bool tls;      /* twokey serves TLS itself */
} server;

/* Per-request state for requests that carry a body. */
typedef struct conn_state {
	char *body;
	size_t len, cap;
	size_t drained;
	bool too_large;
} conn_state;

/* The per-request marker of a request without a body (never freed). */
static conn_state no_body;

/* ---- listen address ------------------------------------------------------ */

static int
parse_port(const char *s, unsigned short *port, tk_error *err)
{
	unsigned long v = 0;

	if (*s == '\0') {
		(void)tk_fail(err, TK_ERR_INVALID, "the listen address needs a "
		    "port: ADDR:PORT, for example 127.0.0.1:8080");
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > 65535) {
			(void)tk_fail(err, TK_ERR_INVALID, "the port '%.20s' is "
			    "not a number from 0 to 65535", s);
			return -1;
		}
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535) {
		(void)tk_fail(err, TK_ERR_INVALID, "the port '%.20s' is not a "
		    "number from 0 to 65535", s);
		return -1;
	}
	*port = (unsigned short)v;
	return 0;
}

/* Parses "ADDR:PORT" or "[V6]:PORT" (ADDR numeric or a host name). */
static int
parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6,
    char *host, size_t host_size, tk_error *err)
{
	const char *colon, *port_s;
	unsigned short port;
	size_t hl;
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(ss, 0, sizeof(*ss));
	if (listen == NULL || *listen == '\0') {
		(void)tk_fail(err, TK_ERR_INVALID, "no listen address; use "
		    "ADDR:PORT such as 127.0.0.1:8080 or [::1]:8080");
		return -1;
	}
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (close == NULL || close[1] != ':') {
			(void)tk_fail(err, TK_ERR_INVALID, "bad listen address "
			    "'%.100s'; IPv6 is written [ADDR]:PORT", listen);
			return -1;
		}
		hl = (size_t)(close - listen - 1);
		if (hl == 0 || hl >= host_size) {
			(void)tk_fail(err, TK_ERR_INVALID, "bad listen address "
			    "'%.100s'", listen);
			return -1;
		}
		memcpy(host, listen + 1, hl);
		host[hl] = '\0';
		port_s = close + 2;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL) {
			(void)tk_fail(err, TK_ERR_INVALID, "bad listen address "
			    "'%.100s'; use ADDR:PORT such as 127.0.0.1:8080",
			    listen);
			return -1;
		}
		hl = (size_t)(colon - listen);
		if (hl == 0 || hl >= host_size ||
		    memchr(listen, ':', hl) != NULL) {
			(void)tk_fail(err, TK_ERR_INVALID, "bad listen address "
			    "'%.100s'; use ADDR:PORT, and [ADDR]:PORT for IPv6",
			    listen);
			return -1;
		}
		memcpy(host, listen, hl);
		host[hl] = '\0';
		port_s = colon + 1;
	}
	if (parse_port(port_s, &port, err) != 0)
		return -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = listen[0] == '[' ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "cannot resolve listen "
		    "address '%.100s': %s", host, gai_strerror(rc));
		if (res != NULL)
			freeaddrinfo(res);
		return -1;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		(void)tk_fail(err, TK_ERR_INVALID, "bad listen address");
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET6) {
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		*v6 = true;
	} else if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)ss)->sin_port = htons(port);
		*v6 = false;
	} else {
		(void)tk_fail(err, TK_ERR_INVALID, "bad listen address family");
		return -1;
	}
	return 0;
}

/* ---- responses ----------------------------------------------------------- */

/* Log-safe copy: printable ASCII only, bounded. */
static void
safe_copy(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src != NULL && src[i] != '\0' && i + 1 < size; i++)
		dst[i] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static void
access_log(const server *s, const char *method, const char *url, int status,
    const char *login)
{
	char m[16], p[200], l[TK_ID_MAX], ts[32];
	struct timespec now;

	if (s->quiet)
		return;
	safe_copy(m, sizeof(m), method);
	safe_copy(p, sizeof(p), url);
	/* a confirmation link's token is a credential: never logged */
	if (strncmp(p, "/confirm/", 9) == 0)
		(void)tk_strlcpy(p + 9, "[token]", sizeof(p) - 9);
	else if (strncmp(p, "/v1/confirm/", 12) == 0)
		(void)tk_strlcpy(p + 12, "[token]", sizeof(p) - 12);
	safe_copy(l, sizeof(l), login && login[0] ? login : "-");
	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		now.tv_sec = time(NULL);
	tk_time_format((tk_time)now.tv_sec, ts, sizeof(ts));
	(void)fprintf(stderr, "%s %s %s %d %s\n", ts, m, p, status, l);
}

/*
 * Decodes %HH escapes in the path and query arguments in place. A decoded
 * NUL byte becomes DEL (0x7f), so "/v1/cases/%00" can never be cut short
 * into a different, valid-looking path: it fails validation instead.
 */
static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static size_t
unescape(void *cls, struct MHD_Connection *c, char *str)
{
	char *r = str, *w = str;

	(void)cls;
	(void)c;
	while (*r != '\0') {
		int hi, lo;

		if (r[0] == '%' && (hi = hexval(r[1])) >= 0 &&
		    (lo = hexval(r[2])) >= 0) {
			int v = hi * 16 + lo;
			*w++ = v == 0 ? (char)0x7f : (char)v;
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - str);
}

/* The console's Content-Security-Policy: its own script and style files
 * only, no inline script, no framing, forms post only to twokey. */
#define CONSOLE_CSP "default-src 'self'; script-src 'self'; style-src " \
    "'self'; img-src 'self' data:; form-action 'self'; frame-ancestors " \
    "'none'; base-uri 'none'; object-src 'none'"
/* The confirmation page's: no script at all, its own inline style. */
#define PAGE_CSP "default-src 'none'; style-src 'unsafe-inline'; " \
    "form-action 'self'; frame-ancestors 'none'"

static bool
add_header(struct MHD_Response *r, const char *name, const char *value)
{
	return MHD_add_response_header(r, name, value) == MHD_YES;
}

/* The headers of resp's kind: content type, the security headers of
 * console and HTML pages, caching, redirect and cookies. */
static bool
add_headers(const server *s, struct MHD_Response *r, int status,
    const tk_http_resp *resp)
{
	const char *ctype = resp->ctype != NULL ? resp->ctype :
	    resp->html || resp->console ? "text/html; charset=utf-8" :
	    "application/json";
	bool ok;

	ok = add_header(r, "Content-Type", ctype) &&
	    add_header(r, "X-Content-Type-Options", "nosniff") &&
	    add_header(r, "Cache-Control", resp->cacheable ?
	    "public, max-age=3600" : "no-store");
	if (ok && resp->console)
		ok = add_header(r, "Content-Security-Policy", CONSOLE_CSP) &&
		    add_header(r, "X-Frame-Options", "DENY") &&
		    add_header(r, "Referrer-Policy", "no-referrer") &&
		    add_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	else if (ok && resp->html)
		ok = add_header(r, "Content-Security-Policy", PAGE_CSP) &&
		    add_header(r, "Referrer-Policy", "no-referrer");
	if (ok && s != NULL && s->tls)
		ok = add_header(r, "Strict-Transport-Security",
		    "max-age=31536000");
	if (ok && resp->location[0] != '\0')
		ok = add_header(r, "Location", resp->location);
	for (size_t i = 0; ok && i < TK_RESP_COOKIES; i++)
		if (resp->set_cookie[i][0] != '\0')
			ok = add_header(r, "Set-Cookie", resp->set_cookie[i]);
	/* After an error the rest of the request may be unread or
	 * malformed: close rather than parse it as a next request. */
	if (ok && status >= 400)
		ok = add_header(r, "Connection", "close");
	return ok;
}

/* A response body that holds a secret, wiped when libmicrohttpd is done
 * with it. */
struct secret_body {
	char *p;
	size_t len;
};

static void
secret_free(void *cls)
{
	struct secret_body *b = cls;

	OPENSSL_cleanse(b->p, b->len);
	free(b->p);
	free(b);
}

/* Sends resp: its body (borrowed) or, when text is non-NULL, its
 * ready-made text (malloc'd; always taken over, resp->text cleared). */
static enum MHD_Result
send_resp(const server *s, struct MHD_Connection *c, tk_http_resp *resp)
{
	static const char fallback[] = "{\"error\":{\"code\":\"internal\","
	    "\"message\":\"out of memory\"}}";
	struct MHD_Response *r = NULL;
	enum MHD_Result ret;
	char *text = resp->text;
	size_t text_len = resp->text_len;
	int status = resp->status;

	resp->text = NULL;
	if (text == NULL && resp->body != NULL) {
		text = json_dumps(resp->body, JSON_COMPACT);
		text_len = text ? strlen(text) : 0;
	}
	if (text != NULL && resp->secret) {
		struct secret_body *b = malloc(sizeof(*b));

		if (b == NULL) {
			OPENSSL_cleanse(text, text_len);
			free(text);
		} else {
			b->p = text;
			b->len = text_len;
			r = MHD_create_response_from_buffer_with_free_callback_cls(
			    text_len, text, secret_free, b);
			if (r == NULL)
				secret_free(b);
		}
	} else if (text != NULL) {
		r = MHD_create_response_from_buffer(text_len, text,
		    MHD_RESPMEM_MUST_FREE);
		if (r == NULL)
			free(text);
	} else if (resp->location[0] != '\0' && resp->body == NULL)
		r = MHD_create_response_from_buffer(0, (void *)"",
		    MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		tk_http_resp oom;

		memset(&oom, 0, sizeof(oom));
		status = 500;
		r = MHD_create_response_from_buffer(sizeof(fallback) - 1,
		    (void *)fallback, MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		resp = &oom;
	}
	if (!add_headers(s, r, status, resp)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Verification and execution: the seal key of TOTP seeds (DB.seal-key,
 * optional: without it registered factors are unavailable), the
 * directory file (connectors, notify), then the cases a stop left
 * `executing` are reconciled before any request is served. */
static int
attach_fx(server *s, const tk_server_opts *o, tk_error *err)
{
	char path[4096];
	struct stat st;
	int n;

	if (tk_db_file_path(o->db_path, ".seal-key", path, sizeof(path),
	    err) != 0)
		return -1;
	if (stat(path, &st) == 0) {
		if (tk_app_seal_attach(s->app, path, err) != 0)
			return -1;
	} else if (!o->quiet)
		(void)fprintf(stderr, "twokey: no %s: registered factors "
		    "(TOTP) are unavailable; `twokey init` creates it\n", path);
	if (o->directory != NULL &&
	    tk_app_directory_attach(s->app, o->directory, err) != 0)
		return -1;
	n = tk_app_reconcile(s->app, err);
	if (n < 0)
		return -1;
	if (n > 0)
		(void)fprintf(stderr, "twokey: settled %d case%s found "
		    "executing after the last stop (see their events)\n", n,
		    n == 1 ? "" : "s");
	return 0;
}

static enum MHD_Result
send_error(const server *s, struct MHD_Connection *c, const char *method,
    const char *url, enum tk_status st, const char *msg)
{
	tk_app_err err;
	tk_http_resp resp;
	enum MHD_Result ret;

	memset(&err, 0, sizeof(err));
	memset(&resp, 0, sizeof(resp));
	err.e.status = st;
	(void)tk_strlcpy(err.e.msg, msg, sizeof(err.e.msg));
	resp.status = tk_status_http(st);
	resp.body = tk_routes_error_json(&err);
	ret = send_resp(s, c, &resp);
	json_decref(resp.body);
	access_log(s, method, url, tk_status_http(st), NULL);
	return ret;
}

/* ---- request handling --------------------------------------------------- */

static enum MHD_Result
query_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	tk_http_req *req = cls;

	(void)kind;
	if (key == NULL)
		return MHD_YES;
	for (size_t i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].key, key) == 0) {
			req->query_dup = true;
			return MHD_YES;
		}
	if (req->nquery >= TK_QUERY_MAX) {
		req->query_overflow = true;
		return MHD_NO;
	}
	req->query[req->nquery].key = key;
	req->query[req->nquery].value = value ? value : "";
	req->nquery++;
	return MHD_YES;
}

/* The client's address as text ("" when unknown). */
static void
client_address(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	out[0] = '\0';
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		if (inet_ntop(AF_INET, &in->sin_addr, out,
		    (socklen_t)size) == NULL)
			out[0] = '\0';
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (inet_ntop(AF_INET6, &in6->sin6_addr, out,
		    (socklen_t)size) == NULL)
			out[0] = '\0';
	}
}

static enum MHD_Result
dispatch(server *s, struct MHD_Connection *c, const char *url,
    const char *method, const char *body, size_t len)
{
	tk_http_req req;
	tk_http_resp resp;
	enum MHD_Result ret;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.body = body;
	req.body_len = len;
	req.auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	req.cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_COOKIE);
	req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	req.tls = s->tls;
	client_address(c, req.remote, sizeof(req.remote));
	(void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_cb,
	    &req);
	memset(&resp, 0, sizeof(resp));
	if (s->web != NULL && tk_web_owns(url))
		tk_web_handle(s->web, &req, &resp);
	else
		tk_routes_handle(s->app, &req, &resp);
	ret = send_resp(s, c, &resp);
	json_decref(resp.body);
	access_log(s, method, url, resp.status, resp.login);
	return ret;
}

static bool
method_has_body(const char *m)
{
	return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
	    strcmp(m, "PATCH") == 0;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	server *s = cls;
	conn_state *st = *con_cls;
	enum MHD_Result ret;

	(void)version;
	if (st == NULL) {
		const char *cl = MHD_lookup_connection_value(c,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *te = MHD_lookup_connection_value(c,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);

		/* Answering on this first call would make libmicrohttpd close
		 * the connection (it cannot know the request has no body):
		 * mark the request seen and answer on the next call. */
		if (!method_has_body(method) && cl == NULL && te == NULL) {
			*con_cls = &no_body;
			return MHD_YES;
		}
		if (cl != NULL) {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(cl, &end, 10);
			if (errno == 0 && end != cl && *end == '\0' &&
			    n > TK_BODY_MAX)
				return send_error(s, c, method, url,
				    TK_ERR_TOO_LARGE, "the request body is over "
				    "64 KiB; send a smaller body");
		}
		st = calloc(1, sizeof(*st));
		if (st == NULL)
			return send_error(s, c, method, url, TK_ERR_INTERNAL,
			    "out of memory");
		*con_cls = st;
		return MHD_YES;
	}
	if (st == &no_body) {
		if (*upload_data_size != 0) { /* a body after all: drop it */
			*upload_data_size = 0;
			return MHD_YES;
		}
		return dispatch(s, c, url, method, NULL, 0);
	}
	if (*upload_data_size != 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (st->too_large) {
			st->drained += n;
			return st->drained > DRAIN_MAX ? MHD_NO : MHD_YES;
		}
		if (st->len + n > TK_BODY_MAX) {
			st->too_large = true;
			if (st->body != NULL)
				OPENSSL_cleanse(st->body, st->cap);
			free(st->body);
			st->body = NULL;
			st->len = st->cap = 0;
			return MHD_YES;
		}
		if (st->len + n > st->cap) {
			size_t ncap = st->cap ? st->cap : 1024;
			char *nb;

			while (ncap < st->len + n)
				ncap *= 2;
			if (ncap > TK_BODY_MAX)
				ncap = TK_BODY_MAX;
			/* not realloc: the old copy (a sign-in form's password)
			 * is wiped before it is freed */
			nb = malloc(ncap);
			if (nb == NULL)
				return MHD_NO;
			if (st->body != NULL) {
				memcpy(nb, st->body, st->len);
				OPENSSL_cleanse(st->body, st->cap);
				free(st->body);
			}
			st->body = nb;
			st->cap = ncap;
		}
		memcpy(st->body + st->len, upload_data, n);
		st->len += n;
		return MHD_YES;
	}
	if (st->too_large)
		return send_error(s, c, method, url, TK_ERR_TOO_LARGE, "the "
		    "request body is over 64 KiB; send a smaller body");
	ret = dispatch(s, c, url, method, st->body, st->len);
	return ret;
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	conn_state *st = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (st == NULL || st == &no_body)
		return;
	if (st->body != NULL) /* bodies carry passwords and codes */
		OPENSSL_cleanse(st->body, st->cap);
	free(st->body);
	free(st);
	*con_cls = NULL;
}

/* ---- scheduler ------------------------------------------------------------ */

typedef struct sweeper sweeper;
struct sweeper {
	tk_app *app;
	unsigned interval;
	int (*work)(sweeper *w, tk_error *err); /* one round */
	const char *what;                      /* for the failure line */
	int64_t cp_events, cp_seconds;         /* checkpointer only */
	bool quiet;
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* signalled on stop */
	bool stop;
	pthread_t tid;
};

static int
sweep_work(sweeper *w, tk_error *err)
{
	int n = tk_app_sweep(w->app, err), m;

	if (n < 0)
		return -1;
	m = tk_app_fx_sweep(w->app, err);
	return m < 0 ? -1 : n + m;
}

/* Signs a checkpoint when the log grew by cp_events, or cp_seconds
 * passed since the last one and it grew; then ships the committed events
 * to syslog (a no-op without --syslog). */
static int
checkpoint_work(sweeper *w, tk_error *err)
{
	int64_t size;
	tk_error e2;
	int rc;

	rc = tk_app_checkpoint(w->app, w->cp_events, w->cp_seconds, false,
	    &size, err);
	if (tk_app_ship(w->app, rc == 0 ? err : &e2) < 0)
		rc = -1;
	return rc;
}

/* Pushes the latest checkpoint to the witnesses that have not cosigned
 * it (each reports its own problems on stderr). */
#define WITNESS_ROUND_MS 5000L
#define WITNESS_FINAL_MS 3000L

static int
witness_work(sweeper *w, tk_error *err)
{
	return tk_app_witness_push(w->app, false, WITNESS_ROUND_MS, err) < 0 ?
	    -1 : 0;
}

static void *
sweep_main(void *arg)
{
	sweeper *w = arg;
	struct timespec until;
	tk_error err;
	int n;

	(void)pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (clock_gettime(CLOCK_MONOTONIC, &until) != 0) {
			until.tv_sec = 0;
			until.tv_nsec = 0;
		}
		until.tv_sec += (time_t)w->interval;
		while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu,
		    &until) != ETIMEDOUT)
			;
		if (w->stop)
			break;
		(void)pthread_mutex_unlock(&w->mu);
		n = w->work(w, &err);
		if (n < 0 && !w->quiet)
			(void)fprintf(stderr, "twokey: %s failed (retried in %u "
			    "s): %s\n", w->what, w->interval, err.msg);
		(void)pthread_mutex_lock(&w->mu);
	}
	(void)pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Starts the scheduler thread (monotonic timed waits). */
static int
sweeper_start(sweeper *w)
{
	pthread_condattr_t ca;

	if (pthread_mutex_init(&w->mu, NULL) != 0)
		return -1;
	if (pthread_condattr_init(&ca) != 0)
		goto fail_mu;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&w->cv, &ca) != 0) {
		(void)pthread_condattr_destroy(&ca);
		goto fail_mu;
	}
	(void)pthread_condattr_destroy(&ca);
	w->stop = false;
	if (pthread_create(&w->tid, NULL, sweep_main, w) != 0) {
		(void)pthread_cond_destroy(&w->cv);
		goto fail_mu;
	}
	return 0;
fail_mu:
	(void)pthread_mutex_destroy(&w->mu);
	return -1;
}

static void
sweeper_stop(sweeper *w)
{
	(void)pthread_mutex_lock(&w->mu);
	w->stop = true;
	(void)pthread_cond_signal(&w->cv);
	(void)pthread_mutex_unlock(&w->mu);
	(void)pthread_join(w->tid, NULL);
	(void)pthread_cond_destroy(&w->cv);
	(void)pthread_mutex_destroy(&w->mu);
}

/* ---- audit outputs: witnesses and syslog ------------------------------------ */

/* Opens a syslog sender for target (udp:// by default). */
static tk_syslog *
syslog_open(const char *target, size_t queue_max, tk_error *err)
{
	tk_syslog_cfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.proto = TK_SYSLOG_UDP;
	cfg.target = target;
	cfg.queue_max = queue_max;
	return tk_syslog_open(&cfg, err);
}

/* Sends what is queued (a second at most) and closes; says what was lost. */
static void
syslog_close(tk_syslog *s, const char *what, const char *target)
{
	tk_syslog_stats st;

	if (s == NULL)
		return;
	tk_syslog_close(s, 1000, &st);
	if (st.dropped > 0)
		(void)fprintf(stderr, "twokey: %s syslog %s: %" PRIu64 " sent, "
		    "%" PRIu64 " dropped%s%s\n", what, target, st.sent,
		    st.dropped, st.last_error[0] ? ": " : "", st.last_error);
}

/* Adds the witnesses and starts the syslog senders of o. On failure
 * nothing is left open (the app keeps no syslog handle). */
static int
outputs_start(const tk_server_opts *o, tk_app *app, tk_syslog **cp,
    tk_syslog **ev, tk_error *err)
{
	enum tk_export_format f = TK_EXPORT_JSONL;
	char host[256], pid[24];
	tk_syslog_opts so;

	*cp = *ev = NULL;
	for (size_t i = 0; i < o->nwitnesses; i++)
		if (tk_app_witness_add(app, o->witnesses[i], err) != 0)
			return -1;
	if (o->syslog_format != NULL &&
	    tk_export_format_parse(o->syslog_format, &f) != 0)
		return tk_fail(err, TK_ERR_INVALID, "--syslog-format wants jsonl, "
		    "ocsf or cef"), -1;
	if (o->checkpoint_syslog == NULL && o->syslog == NULL)
		return 0;
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	(void)snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	so.facility = TK_SYSLOG_FACILITY_DEFAULT; /* authpriv */
	so.hostname = host;
	so.app_name = NULL;
	so.procid = pid;
	if (o->checkpoint_syslog != NULL &&
	    (*cp = syslog_open(o->checkpoint_syslog, 0, err)) == NULL)
		goto fail;
	if (o->syslog != NULL && (*ev = syslog_open(o->syslog, 16384, err))
	    == NULL)
		goto fail;
	if (tk_app_syslog_attach(app, *cp, *ev, f, o->syslog_from, &so, err)
	    != 0)
		goto fail;
	return 0;
fail:
	tk_syslog_close(*ev, 0, NULL);
	tk_syslog_close(*cp, 0, NULL);
	*cp = *ev = NULL;
	return -1;
}

/* ---- run ------------------------------------------------------------------ */

/* ---- TLS and the console ------------------------------------------------ */

#define PEM_MAX (1024 * 1024)

typedef struct tls_files {
	char *cert, *key; /* PEM text, NUL-terminated; key wiped on free */
	size_t key_len;
} tls_files;

/* Reads a whole PEM file (at most PEM_MAX) into *out. */
static int
pem_read(const char *path, const char *what, char **out, size_t *len,
    tk_error *err)
{
	char label[32];

	(void)snprintf(label, sizeof(label), "TLS %s", what);
	if (tk_read_file(path, label, PEM_MAX, out, len, err) != 0)
		return -1;
	if (strstr(*out, "-----BEGIN ") == NULL) {
		OPENSSL_cleanse(*out, *len);
		free(*out);
		*out = NULL;
		return tk_fail(err, TK_ERR_INVALID, "the TLS %s %.300s is not "
		    "PEM (no -----BEGIN line); give a PEM file", what, path),
		    -1;
	}
	return 0;
}

static void
tls_free(tls_files *t)
{
	free(t->cert);
	if (t->key != NULL) {
		OPENSSL_cleanse(t->key, t->key_len);
		free(t->key);
	}
	memset(t, 0, sizeof(*t));
}

static int
tls_load(const tk_server_opts *o, tls_files *t, tk_error *err)
{
	size_t len;

	memset(t, 0, sizeof(*t));
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return tk_fail(err, TK_ERR_INVALID, "this libmicrohttpd has no "
		    "TLS support; serve behind a TLS reverse proxy instead");
	if (pem_read(o->tls_cert, "certificate", &t->cert, &len, err) != 0 ||
	    pem_read(o->tls_key, "key", &t->key, &t->key_len, err) != 0) {
		tls_free(t);
		return -1;
	}
	return 0;
}

static void
server_close(server *s, tls_files *t)
{
	tk_web_free(s->web);
	s->web = NULL;
	tk_app_close(s->app);
	s->app = NULL;
	tls_free(t);
}

static int
web_start(server *s, const tk_server_opts *o, tk_error *err)
{
	tk_web_opts wo;

	memset(&wo, 0, sizeof(wo));
	wo.tls = s->tls || o->secure_cookies;
	wo.idle_seconds = o->session_idle;
	wo.max_seconds = o->session_max;
	wo.oidc = o->oidc;
	s->web = tk_web_new(s->app, &wo, err);
	return s->web != NULL ? 0 : -1;
}

int
tk_server_run(const tk_server_opts *o, tk_error *err)
{
	struct sockaddr_storage ss;
	char host[256];
	bool v6 = false;
	sigset_t set, old;
	struct sigaction ign, old_pipe;
	struct MHD_Daemon *d;
	unsigned flags, threads;
	uint16_t port;
	const union MHD_DaemonInfo *info;
	server s;
	tls_files tls;
	sweeper sw, cw, ww;
	bool sweeping = false, checkpointing = false, witnessing = false;
	tk_syslog *cp_sl = NULL, *ev_sl = NULL;
	char key_path[4096], mirror[4096];
	int64_t final_size;
	int sig = 0;

	if (o == NULL || o->db_path == NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "no database path");
		return -1;
	}
	if (parse_listen(o->listen, &ss, &v6, host, sizeof(host), err) != 0)
		return -1;
	memset(&s, 0, sizeof(s));
	memset(&tls, 0, sizeof(tls)); /* freed at close, TLS or not */
	s.quiet = o->quiet;
	if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
		(void)tk_fail(err, TK_ERR_INVALID, "--tls-cert and --tls-key go "
		    "together: give both to serve HTTPS, or neither");
		return -1;
	}
	if (o->tls_cert != NULL && tls_load(o, &tls, err) != 0)
		return -1;
	s.tls = o->tls_cert != NULL;
	s.app = tk_app_open(o->db_path, err);
	if (s.app == NULL) {
		tls_free(&tls);
		return -1;
	}
	/* The audit log's key: without it no checkpoint could be signed,
	 * and an unsigned log is not one an investigator can trust. */
	if (tk_audit_key_path(o->db_path, key_path, sizeof(key_path),
	    err) != 0 || tk_audit_mirror_path(o->db_path, mirror,
	    sizeof(mirror), err) != 0 ||
	    tk_app_audit_attach(s.app, key_path, o->no_mirror ? NULL :
	    o->checkpoint_file != NULL ? o->checkpoint_file : mirror,
	    err) != 0) {
		char why[sizeof(err->msg)];

		(void)tk_strlcpy(why, err->msg, sizeof(why));
		(void)tk_fail(err, TK_ERR_INVALID, "%.600s (a database made "
		    "before signed checkpoints needs a key: `twokey audit key "
		    "--db %.200s --rotate --origin NAME`)", why, o->db_path);
		server_close(&s, &tls);
		return -1;
	}
	tk_app_audit_public(s.app, o->audit_public);
	if (attach_fx(&s, o, err) != 0 || web_start(&s, o, err) != 0) {
		server_close(&s, &tls);
		return -1;
	}
	if (outputs_start(o, s.app, &cp_sl, &ev_sl, err) != 0) {
		server_close(&s, &tls);
		return -1;
	}

	/* Workers inherit a mask with SIGINT/SIGTERM blocked; this thread
	 * waits for them with sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0) {
		syslog_close(ev_sl, "event", o->syslog);
		syslog_close(cp_sl, "checkpoint", o->checkpoint_syslog);
		server_close(&s, &tls);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot block signals");
		return -1;
	}
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	(void)sigemptyset(&ign.sa_mask);
	(void)sigaction(SIGPIPE, &ign, &old_pipe);

	threads = o->threads ? o->threads : 16;
	if (threads > 256)
		threads = 256;
	/* MHD_USE_ITC: stop wakes every worker through its own channel; a
	 * worker at its share of the connection limit no longer watches
	 * the listen socket and would otherwise sleep until a timeout. */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
	if (v6)
		flags |= MHD_USE_DUAL_STACK;
	if (s.tls)
		flags |= MHD_USE_TLS;
	if (!o->quiet)
		flags |= MHD_USE_ERROR_LOG;
	port = v6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
	    ntohs(((struct sockaddr_in *)&ss)->sin_port);
	d = MHD_start_daemon(flags, port, NULL, NULL, handler, &s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, (void *)NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	    MHD_OPTION_CONNECTION_LIMIT, 1024u,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, (void *)NULL,
	    /* without TLS the list ends here */
	    s.tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, tls.cert,
	    MHD_OPTION_HTTPS_MEM_KEY, tls.key,
	    MHD_OPTION_END);
	if (d == NULL) {
		(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
		(void)sigaction(SIGPIPE, &old_pipe, NULL);
		syslog_close(ev_sl, "event", o->syslog);
		syslog_close(cp_sl, "checkpoint", o->checkpoint_syslog);
		server_close(&s, &tls);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot listen on %.100s: "
		    "the address is in use or not available here%s",
		    o->listen, s.tls ? ", or the TLS certificate and key do "
		    "not load or do not match" : "");
		return -1;
	}
	if (o->sweep_interval >= 0) {
		memset(&sw, 0, sizeof(sw));
		sw.app = s.app;
		sw.interval = o->sweep_interval > 0 ?
		    (unsigned)o->sweep_interval : 5u;
		sw.quiet = o->quiet;
		sw.work = sweep_work;
		sw.what = "scheduler sweep";
		if (sweeper_start(&sw) != 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "cannot start the "
			    "scheduler thread");
			goto fail_threads;
		}
		sweeping = true;
	}
	memset(&cw, 0, sizeof(cw));
	cw.app = s.app;
	cw.interval = 1;
	cw.quiet = o->quiet;
	cw.work = checkpoint_work;
	cw.what = "audit checkpoint";
	cw.cp_events = o->checkpoint_events > 0 ? o->checkpoint_events : 1000;
	cw.cp_seconds = o->checkpoint_seconds > 0 ? o->checkpoint_seconds : 10;
	if (sweeper_start(&cw) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot start the "
		    "checkpoint thread");
		goto fail_threads;
	}
	checkpointing = true;
	if (o->nwitnesses > 0) {
		memset(&ww, 0, sizeof(ww));
		ww.app = s.app;
		ww.interval = 1;
		ww.quiet = o->quiet;
		ww.work = witness_work;
		ww.what = "witness round";
		if (sweeper_start(&ww) != 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "cannot start the "
			    "witness thread");
			goto fail_threads;
		}
		witnessing = true;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	(void)fprintf(stderr, "twokey %s: listening on http%s://%s%s%s:%u "
	    "(%u threads)\n", TK_VERSION, s.tls ? "s" : "", v6 ? "[" : "",
	    host, v6 ? "]" : "",
	    info ? (unsigned)info->port : 0u, threads);
	if (!o->quiet) {
		for (size_t i = 0; i < o->nwitnesses; i++)
			(void)fprintf(stderr, "twokey: checkpoints go to witness "
			    "%s\n", o->witnesses[i]);
		if (o->checkpoint_syslog != NULL)
			(void)fprintf(stderr, "twokey: checkpoints go to syslog "
			    "%s\n", o->checkpoint_syslog);
		if (o->syslog != NULL)
			(void)fprintf(stderr, "twokey: audit events go to syslog "
			    "%s as %s\n", o->syslog, o->syslog_format != NULL ?
			    o->syslog_format : "jsonl");
	}
	(void)fflush(stderr);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGINT || sig == SIGTERM)
			break;
	}
	if (!o->quiet)
		(void)fprintf(stderr, "twokey: %s received, shutting down\n",
		    sig == SIGINT ? "SIGINT" : "SIGTERM");
	if (sweeping) {
		tk_app_stop(s.app);
		sweeper_stop(&sw);
	}
	MHD_stop_daemon(d);
	if (checkpointing)
		sweeper_stop(&cw);
	if (witnessing) {
		tk_app_witness_cancel(s.app, true);
		sweeper_stop(&ww);
		tk_app_witness_cancel(s.app, false);
	}
	/* Requests are done: sign what they wrote, ship it, and have the
	 * witnesses cosign it (bounded: a witness that is down costs at
	 * most WITNESS_FINAL_MS). */
	{
		tk_error ce;

		if (tk_app_checkpoint(s.app, 0, 0, true, &final_size, &ce) != 0)
			(void)fprintf(stderr, "twokey: final audit checkpoint "
			    "failed: %s\n", ce.msg);
		for (int i = 0; i < 50 && ev_sl != NULL; i++) {
			int64_t n = tk_app_ship(s.app, &ce);

			if (n < 0)
				(void)fprintf(stderr, "twokey: shipping the last "
				    "events failed: %s\n", ce.msg);
			if (n <= 0)
				break;
			(void)tk_syslog_flush(ev_sl, 100);
		}
		if (o->nwitnesses > 0 && tk_app_witness_push(s.app, true,
		    WITNESS_FINAL_MS, &ce) < 0)
			(void)fprintf(stderr, "twokey: final witness round failed: "
			    "%s\n", ce.msg);
	}
	syslog_close(ev_sl, "event", o->syslog);
	syslog_close(cp_sl, "checkpoint", o->checkpoint_syslog);
	server_close(&s, &tls);
	(void)sigaction(SIGPIPE, &old_pipe, NULL);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;

fail_threads:
	/* A background thread would not start (err says which): stop the
	 * ones that did and undo the rest, newest first. */
	if (checkpointing)
		sweeper_stop(&cw);
	if (sweeping) {
		tk_app_stop(s.app);
		sweeper_stop(&sw);
	}
	MHD_stop_daemon(d);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)sigaction(SIGPIPE, &old_pipe, NULL);
	syslog_close(ev_sl, "event", o->syslog);
	syslog_close(cp_sl, "checkpoint", o->checkpoint_syslog);
	server_close(&s, &tls);
	return -1;
}
