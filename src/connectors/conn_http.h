/*
 * conn_http.h - one HTTP exchange for the scim and webhook connectors,
 * over libcurl, with the rules both share: http and https only, no
 * redirects, connect and total timeouts, an optional CA file, a capped
 * answer, and the one fact a connector needs to choose between FAILED and
 * UNKNOWN: could the request have reached the target?
 *
 * Owns: the curl handle of one call (made and freed inside tk_http_do),
 * so calls from several threads never share state. Header strings are
 * wiped after the call (they may hold a bearer token).
 */
#ifndef TK_CONN_HTTP_H
#define TK_CONN_HTTP_H

#include "connectors/conn_body.h"

#define TK_HTTP_ANSWER_MAX (256 * 1024) /* bytes of an answer kept */
#define TK_HTTP_HEADERS_MAX 8

enum tk_http_fate {
	TK_HTTP_ANSWERED = 0, /* a status line came back (status is set) */
	TK_HTTP_NOT_SENT,     /* never connected: nothing reached the target */
	TK_HTTP_NO_ANSWER     /* connected, maybe sent, no status came back */
};

typedef struct tk_http_call {
	const char *method;   /* "GET", "POST", "PATCH" */
	const char *url;
	const char *headers[TK_HTTP_HEADERS_MAX]; /* "Name: value"; NULL ends */
	const char *body;     /* NULL for none */
	size_t body_len;
	const char *ca_file;  /* NULL: the system's CAs */
	int timeout_ms;       /* whole exchange, connection included */
} tk_http_call;

typedef struct tk_http_reply {
	enum tk_http_fate fate;
	long status;          /* HTTP status when ANSWERED, else 0 */
	tk_sbuf body;         /* the answer, capped at TK_HTTP_ANSWER_MAX
	                       * (body.truncated set when cut) */
	int timed_out;        /* the timeout fired */
	char error[256];      /* what went wrong when not ANSWERED */
} tk_http_reply;

/* Performs the exchange. Never fails as a function: the outcome is in
 * r->fate. The caller calls tk_http_resp_free(r) afterwards. Requires
 * curl_global_init (the connectors call it in open). */
void tk_http_do(const tk_http_call *q, tk_http_reply *r);
void tk_http_resp_free(tk_http_reply *r);

/* 0 when url starts with http:// or https://, has a host, and holds no
 * space or control character; else -1 with err naming the connector
 * and option. */
int tk_http_url_check(const tk_conn_config *c, const char *key,
    const char *url, tk_error *err);

/* The host of scheme://host[:port][/...] into host: "[::1]" keeps its
 * brackets; "" when there is none or it does not fit. */
void tk_url_host(const char *url, char *host, size_t size);
/* True for 127.0.0.0/8 written as a dotted quad (so "127.0.0.1.example"
 * is not), "[::1]" and "localhost". */
bool tk_host_loopback(const char *host);

#endif
