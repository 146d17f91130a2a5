/*
 * webhook.c - the webhook connector: POSTs the change as signed JSON to an
 * automation endpoint that performs it (an IdP workflow, a ticketing
 * robot, a vendor API gateway), so it can front any operation.
 *
 * Body: {"op","case","idempotency_key","subject","subject_kind","action",
 * "group"?,"params","secret"?,"sent_at"} (conn_body.h); the secret only
 * when the option send_secret is true. Headers: X-Twokey-Timestamp (Unix
 * seconds), Idempotency-Key, X-Twokey-Signature: "v1=" + hex HMAC-SHA256
 * over timestamp "." body with the key from secret_file. status() GETs
 * status_url?idempotency_key=K, signed the same way over an empty body.
 *
 * Options: url, secret_file, send_secret (default false), status_url,
 * ca_file.
 *
 * Owns: the opened state (URLs and the HMAC key, wiped at close). It does
 * not change after open, so apply and status may run from several
 * threads; each call has its own curl handle.
 */
#include "connectors/connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "connectors/conn_http.h"

#define WH_KEY_MAX 1024
#define WH_BODY_MAX (64 * 1024)

typedef struct webhook_state {
	char url[TK_CONN_OPT_VALUE_MAX];
	char status_url[TK_CONN_OPT_VALUE_MAX]; /* "" = no status() */
	char ca_file[TK_CONN_OPT_VALUE_MAX];    /* "" = system CAs */
	unsigned char key[WH_KEY_MAX];
	size_t key_len;
	int send_secret;
} webhook_state;

static int
webhook_open(const tk_conn_config *cfg, void **state, tk_error *err)
{
	const char *url = tk_conn_opt(cfg, "url");
	const char *surl = tk_conn_opt(cfg, "status_url");
	const char *ca = tk_conn_opt(cfg, "ca_file");
	char key[WH_KEY_MAX];
	webhook_state *s;
	int send;

	*state = NULL;
	if (tk_http_url_check(cfg, "url", url, err) != 0)
		return -1;
	if (surl != NULL && tk_http_url_check(cfg, "status_url", surl,
	    err) != 0)
		return -1;
	if (ca != NULL && ca[0] != '\0' && access(ca, R_OK) != 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: ca_file %s cannot "
		    "be read", cfg->name, ca);
		return -1;
	}
	send = tk_conn_opt_bool(cfg, "send_secret", 0);
	if (send < 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: send_secret must be "
		    "true or false", cfg->name);
		return -1;
	}
	if (tk_conn_secret_file(cfg, "secret_file", key, sizeof(key),
	    err) != 0)
		return -1;
	if (strlen(key) < 16) {
		OPENSSL_cleanse(key, sizeof(key));
		tk_fail(err, TK_ERR_INVALID, "connector %s: the HMAC key in "
		    "secret_file is shorter than 16 characters; use a random "
		    "one (e.g. openssl rand -hex 32)", cfg->name);
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		OPENSSL_cleanse(key, sizeof(key));
		tk_fail(err, TK_ERR_INTERNAL, "connector %s: libcurl could not "
		    "start", cfg->name);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		OPENSSL_cleanse(key, sizeof(key));
		curl_global_cleanup();
		tk_fail(err, TK_ERR_INTERNAL, "connector %s: out of memory",
		    cfg->name);
		return -1;
	}
	(void)tk_strlcpy(s->url, url, sizeof(s->url));
	if (surl != NULL)
		(void)tk_strlcpy(s->status_url, surl, sizeof(s->status_url));
	if (ca != NULL)
		(void)tk_strlcpy(s->ca_file, ca, sizeof(s->ca_file));
	s->key_len = strlen(key);
	memcpy(s->key, key, s->key_len);
	OPENSSL_cleanse(key, sizeof(key));
	s->send_secret = send;
	*state = s;
	return 0;
}

static void
webhook_close(void *state)
{
	webhook_state *s = state;

	if (s == NULL)
		return;
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	curl_global_cleanup();
}

/* hex HMAC-SHA256(key, ts "." body) into sig (65 bytes). */
static int
sign(const webhook_state *s, const char *ts, const char *body, size_t len,
    char sig[65])
{
	unsigned char mac[32];
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *m;
	size_t outl = 0;
	int rc = -1;

	m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (m == NULL)
		return -1;
	ctx = EVP_MAC_CTX_new(m);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx != NULL &&
	    EVP_MAC_init(ctx, s->key, s->key_len, params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
	    (len == 0 ||
	    EVP_MAC_update(ctx, (const unsigned char *)body, len) == 1) &&
	    EVP_MAC_final(ctx, mac, &outl, sizeof(mac)) == 1 &&
	    outl == sizeof(mac)) {
		tk_hex_encode(mac, sizeof(mac), sig);
		rc = 0;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
	return rc;
}

/* One signed request. Returns -1 (r untouched) when it cannot be signed. */
static int
signed_call(const webhook_state *s, const tk_conn_config *cfg,
    const char *method, const char *url, const char *idem,
    const tk_sbuf *body, tk_http_reply *resp)
{
	char ts[32], sig[65], h_ts[64], h_sig[96], h_idem[TK_REF_MAX + 32];
	tk_http_call q;

	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (sign(s, ts, body != NULL ? body->p : "", body != NULL ?
	    body->len : 0, sig) != 0)
		return -1;
	snprintf(h_ts, sizeof(h_ts), "X-Twokey-Timestamp: %s", ts);
	snprintf(h_sig, sizeof(h_sig), "X-Twokey-Signature: v1=%s", sig);
	snprintf(h_idem, sizeof(h_idem), "Idempotency-Key: %s", idem);
	memset(&q, 0, sizeof(q));
	q.method = method;
	q.url = url;
	q.headers[0] = h_ts;
	q.headers[1] = h_sig;
	q.headers[2] = h_idem;
	q.headers[3] = "Accept: application/json";
	if (body != NULL) {
		q.headers[4] = "Content-Type: application/json";
		q.body = body->p;
		q.body_len = body->len;
	}
	q.ca_file = s->ca_file[0] != '\0' ? s->ca_file : NULL;
	q.timeout_ms = cfg->timeout_ms;
	tk_http_do(&q, resp);
	return 0;
}

/* A header value may not hold CR, LF or other control characters. */
static int
header_ok(const char *v)
{
	if (v == NULL || v[0] == '\0' || strlen(v) >= TK_REF_MAX)
		return 0;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
			return 0;
	return 1;
}

static void
webhook_apply(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	const webhook_state *s = state;
	tk_http_reply resp;
	tk_sbuf body;
	tk_error err;
	json_t *j, *msg;
	char ex[400];
	int with_secret;

	if (!header_ok(ch->idem_key)) {
		tk_conn_result_set(r, TK_CONN_FAILED, "the change has no usable "
		    "idempotency key; nothing was sent");
		return;
	}
	with_secret = s->send_secret && (ch->op == TK_OP_PASSWORD_RESET ||
	    ch->op == TK_OP_SECRET_ROTATE);
	tk_sbuf_init(&body, WH_BODY_MAX);
	if (tk_change_json(ch, with_secret, (long long)time(NULL), &body,
	    &err) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "%s", err.msg);
		return;
	}
	if (signed_call(s, cfg, "POST", s->url, ch->idem_key, &body,
	    &resp) != 0) {
		tk_sbuf_free(&body);
		tk_conn_result_set(r, TK_CONN_FAILED, "the webhook request "
		    "could not be signed (OpenSSL HMAC failed); nothing was "
		    "sent");
		return;
	}
	/* the body may hold the secret: wipe it now it is sent */
	tk_sbuf_free(&body);
	switch (resp.fate) {
	case TK_HTTP_NOT_SENT:
		tk_conn_result_set(r, TK_CONN_FAILED, "webhook %s could not be "
		    "reached: %s; nothing was sent", s->url, resp.error);
		break;
	case TK_HTTP_NO_ANSWER:
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "webhook %s %s after the "
		    "change was sent (%s); it may or may not have been made: "
		    "check the target", s->url, resp.timed_out ?
		    "did not answer in time" : "cut the connection",
		    resp.error);
		break;
	case TK_HTTP_ANSWERED:
		if (resp.status >= 200 && resp.status <= 299) {
			j = resp.body.p != NULL && !resp.body.truncated ?
			    json_loadb(resp.body.p, resp.body.len, 0, NULL) :
			    NULL;
			msg = json_object_get(j, "message");
			if (json_is_string(msg) && json_string_length(msg) > 0) {
				tk_conn_excerpt(json_string_value(msg),
				    json_string_length(msg), 380, ch->secret,
				    ex, sizeof(ex));
				tk_conn_result_set(r, TK_CONN_DONE, "%s", ex);
			} else
				tk_conn_result_set(r, TK_CONN_DONE, "HTTP %ld",
				    resp.status);
			json_decref(j);
			break;
		}
		tk_conn_excerpt(resp.body.p != NULL ? resp.body.p : "",
		    resp.body.len, 300, ch->secret, ex, sizeof(ex));
		tk_conn_result_set(r, TK_CONN_FAILED, "webhook %s answered "
		    "HTTP %ld%s%s%s", s->url, resp.status,
		    resp.status >= 300 && resp.status <= 399 ?
		    " (redirects are not followed)" : "",
		    ex[0] != '\0' ? ": " : "", ex);
		break;
	}
	tk_http_resp_free(&resp);
}

static void
webhook_status(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	const webhook_state *s = state;
	tk_http_reply resp;
	tk_sbuf url;
	json_t *j;
	const char *st;

	if (s->status_url[0] == '\0') {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "connector %s has no "
		    "status_url, so it cannot tell whether an earlier attempt "
		    "happened: check the target", cfg->name);
		return;
	}
	if (!header_ok(ch->idem_key)) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "no usable idempotency "
		    "key to ask about");
		return;
	}
	tk_sbuf_init(&url, 4096);
	tk_sbuf_adds(&url, s->status_url);
	tk_sbuf_adds(&url, strchr(s->status_url, '?') != NULL ? "&" : "?");
	tk_sbuf_adds(&url, "idempotency_key=");
	tk_sbuf_pct(&url, ch->idem_key);
	if (url.failed || signed_call(s, cfg, "GET", url.p, ch->idem_key, NULL,
	    &resp) != 0) {
		tk_sbuf_free(&url);
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "the status request "
		    "could not be built or signed");
		return;
	}
	tk_sbuf_free(&url);
	if (resp.fate != TK_HTTP_ANSWERED) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "status_url %s did not "
		    "answer: %s", s->status_url, resp.error);
		tk_http_resp_free(&resp);
		return;
	}
	j = resp.status == 200 && resp.body.p != NULL && !resp.body.truncated ?
	    json_loadb(resp.body.p, resp.body.len, 0, NULL) : NULL;
	st = json_string_value(json_object_get(j, "status"));
	if (st != NULL && strcmp(st, "done") == 0)
		tk_conn_result_set(r, TK_CONN_DONE, "the target reports %s "
		    "done", ch->idem_key);
	else if (st != NULL && (strcmp(st, "not_found") == 0 ||
	    strcmp(st, "failed") == 0))
		tk_conn_result_set(r, TK_CONN_FAILED, "the target reports %s "
		    "%s (it did not happen)", ch->idem_key, st);
	else
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "status_url answered "
		    "HTTP %ld without a known status (want {\"status\": "
		    "\"done\"|\"not_found\"})", resp.status);
	json_decref(j);
	tk_http_resp_free(&resp);
}

const tk_connector_ops tk_conn_webhook = {
	"webhook",
	(1u << TK_OP__COUNT) - 1,   /* a webhook can front any operation */
	webhook_open, webhook_apply, webhook_status, webhook_close,
};
