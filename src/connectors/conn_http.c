/*
 * conn_http.c - one HTTP exchange over libcurl for the scim and webhook
 * connectors (see conn_http.h): the options every call sets, the capped
 * answer, and the reading of curl's result as answered / not sent / no
 * answer.
 */
#include "connectors/conn_http.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	tk_sbuf *b = arg;

	/* keep what fits, drain the rest so the exchange ends normally */
	tk_sbuf_add_trunc(b, p, size * n);
	return size * n;
}

/* Errors that happen before any byte of the request can have left. */
static int
never_sent(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_FAILED_INIT:
	case CURLE_URL_MALFORMAT:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return 1;
	default:
		return 0;
	}
}

static void
wipe_headers(struct curl_slist *h)
{
	struct curl_slist *i;

	for (i = h; i != NULL; i = i->next)
		if (i->data != NULL)
			OPENSSL_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

void
tk_http_do(const tk_http_call *q, tk_http_reply *r)
{
	char cerr[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = NULL, *n;
	curl_off_t pre = 0;
	CURLcode rc;
	CURL *h;
	long status = 0;
	int i, bad = 0;

	memset(r, 0, sizeof(*r));
	tk_sbuf_init(&r->body, TK_HTTP_ANSWER_MAX);
	r->fate = TK_HTTP_NOT_SENT;
	cerr[0] = '\0';
	h = curl_easy_init();
	if (h == NULL) {
		snprintf(r->error, sizeof(r->error), "libcurl could not start "
		    "(out of memory?)");
		return;
	}
	for (i = 0; i < TK_HTTP_HEADERS_MAX && q->headers[i] != NULL; i++) {
		n = curl_slist_append(hdrs, q->headers[i]);
		if (n == NULL) {
			bad = 1;
			break;
		}
		hdrs = n;
	}
	/* no "Expect: 100-continue" round trip */
	if (!bad && (n = curl_slist_append(hdrs, "Expect:")) != NULL)
		hdrs = n;
	else
		bad = 1;
	if (bad ||
	    curl_easy_setopt(h, CURLOPT_URL, q->url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)q->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)q->timeout_ms)
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "twokey/" TK_VERSION)
	    != CURLE_OK ||
	    (q->ca_file != NULL &&
	    curl_easy_setopt(h, CURLOPT_CAINFO, q->ca_file) != CURLE_OK)) {
		snprintf(r->error, sizeof(r->error), "libcurl refused an "
		    "option (out of memory, or a libcurl without http/https)");
		goto done;
	}
	if (q->body != NULL) {
		if (curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body)
		    != CURLE_OK ||
		    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)q->body_len) != CURLE_OK) {
			snprintf(r->error, sizeof(r->error), "libcurl refused "
			    "the request body");
			goto done;
		}
	} else if (curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK) {
		snprintf(r->error, sizeof(r->error), "libcurl refused GET");
		goto done;
	}
	if (strcmp(q->method, "GET") != 0 && strcmp(q->method, "POST") != 0 &&
	    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method)
	    != CURLE_OK) {
		snprintf(r->error, sizeof(r->error), "libcurl refused method "
		    "%s", q->method);
		goto done;
	}
	rc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
	r->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
	if (rc != CURLE_OK)
		snprintf(r->error, sizeof(r->error), "%s",
		    cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
	if (status > 0) {
		r->fate = TK_HTTP_ANSWERED;
		r->status = status;
	} else if (rc == CURLE_OK || never_sent(rc) || pre == 0)
		r->fate = TK_HTTP_NOT_SENT;
	else
		r->fate = TK_HTTP_NO_ANSWER;
	if (r->fate == TK_HTTP_NOT_SENT && r->error[0] == '\0')
		snprintf(r->error, sizeof(r->error), "no HTTP answer");
done:
	curl_easy_cleanup(h);
	wipe_headers(hdrs);
	if (r->body.failed) {
		/* out of memory while keeping the answer: treat as empty */
		tk_sbuf_free(&r->body);
		r->body.failed = 0;
	}
}

void
tk_http_resp_free(tk_http_reply *r)
{
	tk_sbuf_free(&r->body);
}

int
tk_http_url_check(const tk_conn_config *c, const char *key, const char *url,
    tk_error *err)
{
	size_t host, i, len;

	if (url == NULL || url[0] == '\0') {
		tk_fail(err, TK_ERR_INVALID, "connector %s: option %s (an "
		    "http:// or https:// URL) is missing", c->name, key);
		return -1;
	}
	len = strlen(url);
	if (strncmp(url, "http://", 7) == 0)
		host = 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = 8;
	else {
		tk_fail(err, TK_ERR_INVALID, "connector %s: option %s must "
		    "start with http:// or https://", c->name, key);
		return -1;
	}
	if (len <= host || url[host] == '/' || url[host] == '?') {
		tk_fail(err, TK_ERR_INVALID, "connector %s: option %s has no "
		    "host", c->name, key);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)url[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '#') {
			tk_fail(err, TK_ERR_INVALID, "connector %s: option %s "
			    "may not hold spaces, control or non-ASCII "
			    "characters or '#'", c->name, key);
			return -1;
		}
	}
	return 0;
}

/* The host of scheme://host[:port][/...] into host ("" when none). */
void
tk_url_host(const char *url, char *host, size_t size)
{
	const char *p = strstr(url, "://"), *e;
	size_t n;

	host[0] = '\0';
	if (p == NULL)
		return;
	p += 3;
	if (*p == '[') {
		e = strchr(p, ']');
		if (e == NULL)
			return;
		e++;
	} else {
		e = p + strcspn(p, ":/?#");
	}
	n = (size_t)(e - p);
	if (n >= size)
		return;
	memcpy(host, p, n);
	host[n] = '\0';
}

/* 127.0.0.0/8 written as a dotted quad, [::1] or localhost. */
bool
tk_host_loopback(const char *h)
{
	int parts = 0, digits = 0, val = 0;
	const char *p;

	if (strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0)
		return true;
	if (strncmp(h, "127.", 4) != 0)
		return false;
	for (p = h; ; p++) {
		if (*p >= '0' && *p <= '9') {
			val = val * 10 + (*p - '0');
			if (++digits > 3 || val > 255)
				return false;
		} else if (*p == '.' || *p == '\0') {
			if (digits == 0)
				return false;
			parts++;
			digits = val = 0;
			if (*p == '\0')
				break;
		} else
			return false;
	}
	return parts == 4;
}
