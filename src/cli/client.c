/*
 * client.c - the CLI's HTTP client for the twokey REST/JSON API, on
 * libcurl: one request per call, bearer token from TWOKEY_TOKEN, server
 * from TWOKEY_URL, API errors turned into "error: CODE: MESSAGE" and exit
 * codes.
 *
 * Owns: the response buffer (capped), the Authorization header (wiped
 * after use) and the mapping from HTTP outcomes to exit codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "cli/cli.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
#define RESP_MAX (64u * 1024u * 1024u) /* largest answer we accept */
#define URL_MAX 4096
#define AUTH_MAX 512

typedef struct resp_buf {
	char *data;
	size_t len, cap;
	bool too_big;
} resp_buf;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	resp_buf *b = arg;
	size_t n = size * nmemb;
	size_t want;
	char *p;

	if (nmemb != 0 && n / nmemb != size)
		return 0;
	if (b->len + n + 1 > RESP_MAX) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		want = b->cap ? b->cap : 4096;
		while (want < b->len + n + 1)
			want *= 2;
		if (want > RESP_MAX)
			want = RESP_MAX;
		p = realloc(b->data, want);
		if (p == NULL)
			return 0;
		b->data = p;
		b->cap = want;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

int
tk_cli_escape(char *buf, size_t size, size_t *len, const char *s)
{
	char *e;
	size_t n;

	e = curl_easy_escape(NULL, s, 0);
	if (e == NULL)
		return -1;
	n = strlen(e);
	if (*len + n + 1 > size) {
		curl_free(e);
		return -1;
	}
	memcpy(buf + *len, e, n + 1);
	*len += n;
	curl_free(e);
	return 0;
}

/* Prints the API error in body (or a generic one for status) to stderr. */
static void
print_api_error(long status, const char *body)
{
	json_t *j = NULL, *e;
	const char *code = NULL, *msg = NULL, *state, *hold, *open_id;
	json_error_t jerr;

	if (body != NULL)
		j = json_loads(body, 0, &jerr);
	e = json_object_get(j, "error");
	if (json_is_object(e)) {
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
	}
	if (code == NULL || msg == NULL) {
		(void)fprintf(stderr, "error: http %ld: the server gave no "
		    "twokey error (is TWOKEY_URL a twokey server?)\n", status);
		json_decref(j);
		return;
	}
	(void)fprintf(stderr, "error: %s: %s\n", code, msg);
	if (json_is_integer(json_object_get(e, "invariant")))
		(void)fprintf(stderr, "  invariant: %lld (see DESIGN.md)\n",
		    (long long)json_integer_value(
		    json_object_get(e, "invariant")));
	state = json_string_value(json_object_get(e, "state"));
	if (state != NULL)
		(void)fprintf(stderr, "  case state: %s\n", state);
	hold = json_string_value(json_object_get(e, "hold_until"));
	if (hold != NULL)
		(void)fprintf(stderr, "  hold ends: %s\n", hold);
	open_id = json_string_value(json_object_get(e, "case"));
	if (open_id != NULL)
		(void)fprintf(stderr, "  open case: %s\n", open_id);
	json_decref(j);
}

/* Builds base URL + path into url. */
static int
build_url(char *url, size_t size, const char *path)
{
	const char *base = getenv("TWOKEY_URL");
	size_t n;
	int w;

	if (base == NULL || *base == '\0')
		base = DEFAULT_URL;
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	w = snprintf(url, size, "%.*s%s", (int)n, base, path);
	return (w < 0 || (size_t)w >= size) ? -1 : 0;
}

int
tk_cli_request(const char *method, const char *path, const json_t *body,
    json_t **out)
{
	CURL *h = NULL;
	struct curl_slist *hdrs = NULL;
	resp_buf rb = {0};
	char url[URL_MAX], auth[AUTH_MAX], cerr[CURL_ERROR_SIZE];
	char *payload = NULL;
	const char *token = getenv("TWOKEY_TOKEN");
	CURLcode cc;
	long status = 0;
	int rc = TK_EXIT_FAIL, w;
	json_t *j;
	json_error_t jerr;

	*out = NULL;
	auth[0] = '\0';
	cerr[0] = '\0';
	if (token == NULL || *token == '\0') {
		(void)fprintf(stderr, "error: unauthenticated: TWOKEY_TOKEN is "
		    "not set; ask an admin for a token (`twokey token issue`) "
		    "and export TWOKEY_TOKEN\n");
		return TK_EXIT_UNAUTH;
	}
	if (strlen(token) > 256) {
		(void)fprintf(stderr, "error: unauthenticated: TWOKEY_TOKEN is "
		    "too long to be a twokey token\n");
		return TK_EXIT_UNAUTH;
	}
	if (build_url(url, sizeof(url), path) != 0) {
		(void)fprintf(stderr, "error: TWOKEY_URL is too long\n");
		return TK_EXIT_FAIL;
	}
	w = snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	if (w < 0 || (size_t)w >= sizeof(auth))
		goto out;
	if (body != NULL) {
		payload = json_dumps(body, JSON_COMPACT);
		if (payload == NULL) {
			(void)fprintf(stderr, "error: out of memory\n");
			goto out;
		}
	}
	h = curl_easy_init();
	if (h == NULL) {
		(void)fprintf(stderr, "error: cannot initialise libcurl\n");
		goto out;
	}
	hdrs = curl_slist_append(hdrs, auth);
	if (hdrs == NULL)
		goto oom;
	OPENSSL_cleanse(auth, sizeof(auth)); /* libcurl keeps its own copy */
	if (body != NULL) {
		struct curl_slist *t = curl_slist_append(hdrs,
		    "Content-Type: application/json");
		if (t == NULL)
			goto oom;
		hdrs = t;
	}
	{
		struct curl_slist *t = curl_slist_append(hdrs,
		    "Accept: application/json");
		if (t == NULL)
			goto oom;
		hdrs = t;
	}
	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rb) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "twokey/" TK_VERSION)
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")
	    != CURLE_OK) {
		(void)fprintf(stderr, "error: cannot configure libcurl\n");
		goto out;
	}
	if (payload != NULL &&
	    (curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload))
	    != CURLE_OK)) {
		(void)fprintf(stderr, "error: cannot configure libcurl\n");
		goto out;
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		if (rb.too_big) {
			(void)fprintf(stderr, "error: the server's answer is "
			    "larger than %u bytes\n", RESP_MAX);
			rc = TK_EXIT_FAIL;
		} else {
			(void)fprintf(stderr, "error: cannot reach the twokey "
			    "server at %s: %s\n  hint: check TWOKEY_URL and "
			    "that `twokey serve` is running\n", url,
			    cerr[0] ? cerr : curl_easy_strerror(cc));
			rc = TK_EXIT_CONN;
		}
		goto out;
	}
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status)
	    != CURLE_OK)
		status = 0;
	if (tk_cli_json && rb.data != NULL) {
		(void)fputs(rb.data, stdout);
		if (rb.len == 0 || rb.data[rb.len - 1] != '\n')
			(void)fputc('\n', stdout);
	}
	if (status < 200 || status > 299) {
		print_api_error(status, rb.data);
		rc = status == 401 ? TK_EXIT_UNAUTH : TK_EXIT_FAIL;
		goto out;
	}
	j = json_loads(rb.data ? rb.data : "", 0, &jerr);
	if (j == NULL) {
		(void)fprintf(stderr, "error: the server's answer is not JSON: "
		    "%s (is TWOKEY_URL a twokey server?)\n", jerr.text);
		goto out;
	}
	*out = j;
	rc = TK_EXIT_OK;
	goto out;
oom:
	(void)fprintf(stderr, "error: out of memory\n");
out:
	OPENSSL_cleanse(auth, sizeof(auth));
	if (hdrs != NULL && hdrs->data != NULL) /* the Authorization line */
		OPENSSL_cleanse(hdrs->data, strlen(hdrs->data));
	curl_slist_free_all(hdrs);
	if (h != NULL)
		curl_easy_cleanup(h);
	free(payload);
	free(rb.data);
	return rc;
}
