/*
 * witness.c - the tlog-witness client (see witness.h): configuration
 * parsing, the add-checkpoint body, one POST over libcurl, the reading of
 * each status the spec defines, and the check of the returned
 * cosignature with the witness's own key before the caller keeps it.
 */
#include "audit/witness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/b64.h"

#define EM_DASH "\xe2\x80\x94"           /* U+2014, starts a note signature */
#define SIG_PREFIX EM_DASH " "
#define SIG_PREFIX_LEN 4
#define SIZE_TYPE "text/x.tlog.size"

/* ---- configuration ------------------------------------------------------ */

/* An http(s) URL without query, fragment, space or control characters. */
static int
url_ok(const char *url, size_t len, tk_error *err)
{
	size_t host;

	if (len >= 7 && strncmp(url, "http://", 7) == 0)
		host = 7;
	else if (len >= 8 && strncmp(url, "https://", 8) == 0)
		host = 8;
	else
		return tk_fail(err, TK_ERR_INVALID, "witness URL must start "
		    "with http:// or https://"), -1;
	if (len <= host || url[host] == '/')
		return tk_fail(err, TK_ERR_INVALID, "witness URL has no host"),
		    -1;
	if (len >= TK_WITNESS_URL_MAX)
		return tk_fail(err, TK_ERR_INVALID, "witness URL is longer than "
		    "%d bytes", TK_WITNESS_URL_MAX - 1), -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
			return tk_fail(err, TK_ERR_INVALID, "witness URL may not "
			    "hold spaces, control characters, '?' or '#' (it is "
			    "the prefix before /add-checkpoint)"), -1;
	}
	return 0;
}

int
tk_witness_parse(const char *spec, tk_witness *w, tk_error *err)
{
	const char *eq;
	tk_error last;
	size_t ulen;

	memset(w, 0, sizeof(*w));
	last.status = TK_OK;
	last.msg[0] = '\0';
	if (spec == NULL || (eq = strchr(spec, '=')) == NULL)
		return tk_fail(err, TK_ERR_INVALID, "a witness is given as "
		    "URL=VERIFIER_KEY"), -1;
	for (; eq != NULL; eq = strchr(eq + 1, '=')) {
		if (tk_note_vkey_parse(eq + 1, &w->key, &last) == 0)
			break;
	}
	if (eq == NULL) {
		memset(w, 0, sizeof(*w));
		return tk_fail(err, TK_ERR_INVALID, "witness %.200s: no verifier "
		    "key after '=': %.300s", spec, last.msg), -1;
	}
	if (w->key.alg != TK_NOTE_ALG_COSIG_V1) {
		memset(w, 0, sizeof(*w));
		return tk_fail(err, TK_ERR_INVALID, "witness key %.200s is not "
		    "a cosignature/v1 key (algorithm 0x04)", eq + 1), -1;
	}
	ulen = (size_t)(eq - spec);
	while (ulen > 0 && spec[ulen - 1] == '/')
		ulen--;
	if (url_ok(spec, ulen, err) != 0) {
		memset(w, 0, sizeof(*w));
		return -1;
	}
	memcpy(w->url, spec, ulen);
	w->url[ulen] = '\0';
	/* The key in its canonical form (the hex id in lower case): it
	 * names the witness in the store. */
	if (tk_note_vkey_format(&w->key, w->vkey, sizeof(w->vkey), err) != 0) {
		memset(w, 0, sizeof(*w));
		return -1;
	}
	return 0;
}

/* ---- request body ------------------------------------------------------- */

int
tk_witness_body(uint64_t old, const unsigned char *proof, size_t n,
    const char *note, size_t note_len, char **out, size_t *out_len,
    tk_error *err)
{
	char head[32];
	size_t cap, len;
	char *buf;
	int w;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (n > TK_WITNESS_PROOF_MAX || (n > 0 && proof == NULL))
		return tk_fail(err, TK_ERR_INVALID, "a witness takes at most %d "
		    "proof hashes", TK_WITNESS_PROOF_MAX), -1;
	if (note == NULL || note_len == 0 || note_len > TK_NOTE_MAX_LEN ||
	    note[note_len - 1] != '\n')
		return tk_fail(err, TK_ERR_INVALID, "not a signed note"), -1;
	w = snprintf(head, sizeof(head), "old %" PRIu64 "\n", old);
	if (w < 0 || (size_t)w >= sizeof(head))
		return tk_fail(err, TK_ERR_INTERNAL, "old size line"), -1;
	/* 45 bytes per proof line (44 base64 and '\n'), the empty line and
	 * the NUL. */
	cap = (size_t)w + n * 45 + 1 + note_len + 1;
	buf = malloc(cap);
	if (buf == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
	memcpy(buf, head, (size_t)w);
	len = (size_t)w;
	for (size_t i = 0; i < n; i++) {
		tk_b64_encode(proof + 32 * i, 32, buf + len);
		len += TK_B64_LEN(32);
		buf[len++] = '\n';
	}
	buf[len++] = '\n';
	memcpy(buf + len, note, note_len);
	len += note_len;
	buf[len] = '\0';
	*out = buf;
	if (out_len != NULL)
		*out_len = len;
	return 0;
}

/* ---- answer ------------------------------------------------------------- */

/* Copies at most 120 bytes of an answer for a message: printable ASCII,
 * anything else as '?', so a hostile witness cannot write to our log. */
static void
snippet(const char *p, size_t n, char *out, size_t size)
{
	size_t j = 0;

	if (size == 0)
		return;
	for (size_t i = 0; p != NULL && i < n && i < 120 && j + 1 < size;
	    i++) {
		unsigned char c = (unsigned char)p[i];

		out[j++] = c >= 0x20 && c < 0x7f ? (char)c : (c == '\n' ? ' ' :
		    '?');
	}
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
}

/* Whether the line [p, p+n) (no newline) is by key: its name and the key
 * id in the first bytes of its signature. */
static bool
line_is_by(const char *p, size_t n, const tk_note_key *key)
{
	size_t name_len = strlen(key->name);
	unsigned char dec[8];
	const char *b64;
	size_t dn;

	if (n < SIG_PREFIX_LEN + name_len + 1 + 8 ||
	    memcmp(p, SIG_PREFIX, SIG_PREFIX_LEN) != 0 ||
	    memcmp(p + SIG_PREFIX_LEN, key->name, name_len) != 0 ||
	    p[SIG_PREFIX_LEN + name_len] != ' ')
		return false;
	b64 = p + SIG_PREFIX_LEN + name_len + 1;
	if (memchr(b64, ' ', n - (size_t)(b64 - p)) != NULL)
		return false;
	/* the first 8 characters hold the 4-byte key id (and 2 more) */
	if (tk_b64_decode(b64, 8, dec, sizeof(dec), &dn) != 0 || dn != 6)
		return false;
	return memcmp(dec, key->id, TK_NOTE_KEY_ID_LEN) == 0;
}

int
tk_witness_check_reply(const tk_witness *w, const char *note,
    size_t note_len, const char *reply, size_t reply_len, tk_time now,
    char *line, size_t line_size, tk_time *ts, tk_error *err)
{
	tk_note_result res;
	tk_error e;
	char *all;
	const char *p, *end, *nl;
	bool found = false;

	if (line_size > 0)
		line[0] = '\0';
	*ts = -1;
	if (reply == NULL || reply_len == 0 || reply_len > TK_WITNESS_REPLY_MAX
	    || reply[reply_len - 1] != '\n' ||
	    memchr(reply, '\0', reply_len) != NULL)
		return tk_fail(err, TK_ERR_INVALID, "the witness's answer is "
		    "not a list of signature lines"), -1;
	for (p = reply, end = reply + reply_len; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if ((size_t)(nl - p) <= SIG_PREFIX_LEN ||
		    memcmp(p, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
			return tk_fail(err, TK_ERR_INVALID, "the witness's answer "
			    "holds a line that is not a note signature"), -1;
	}
	if (note == NULL || note_len == 0 || note_len > TK_NOTE_MAX_LEN)
		return tk_fail(err, TK_ERR_INVALID, "not a signed note"), -1;
	all = malloc(note_len + reply_len);
	if (all == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
	memcpy(all, note, note_len);
	memcpy(all + note_len, reply, reply_len);
	/* The spec's way: the lines appended to the checkpoint, checked with
	 * only this witness's key (other lines are ignored). */
	if (tk_note_verify(all, note_len + reply_len, &w->key, 1, &res, NULL,
	    &e) != 0 || !res.ok) {
		free(all);
		return tk_fail(err, TK_ERR_INVALID, "no valid cosignature by "
		    "the witness's key %.100s+%02x%02x%02x%02x: %.300s",
		    w->key.name, w->key.id[0], w->key.id[1], w->key.id[2],
		    w->key.id[3], e.msg), -1;
	}
	free(all);
	if (res.timestamp < 0 || res.timestamp > now + TK_WITNESS_SKEW)
		return tk_fail(err, TK_ERR_INVALID, "the witness's cosignature "
		    "is dated %" PRId64 ", more than %d s after our clock "
		    "(%" PRId64 ")", (int64_t)res.timestamp, TK_WITNESS_SKEW,
		    (int64_t)now), -1;
	for (p = reply; p < end && !found; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (line_is_by(p, (size_t)(nl - p), &w->key)) {
			if ((size_t)(nl - p) >= line_size)
				return tk_fail(err, TK_ERR_TOO_LARGE, "cosignature "
				    "line too long"), -1;
			memcpy(line, p, (size_t)(nl - p));
			line[nl - p] = '\0';
			found = true;
		}
	}
	if (!found)
		return tk_fail(err, TK_ERR_INVALID, "the verified cosignature "
		    "line was not found again"), -1;
	*ts = res.timestamp;
	return 0;
}

/* ---- HTTP ----------------------------------------------------------------- */

struct rbuf {
	char *data;
	size_t len;
	bool too_big;
};

static size_t
on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct rbuf *b = arg;
	size_t n = size * nmemb;
	char *t;

	if (nmemb != 0 && n / nmemb != size)
		return 0;
	if (b->len + n > TK_WITNESS_REPLY_MAX) {
		b->too_big = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	t = realloc(b->data, b->len + n + 1);
	if (t == NULL)
		return 0;
	b->data = t;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* libcurl's progress callback: a non-zero answer abandons the request. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	const atomic_bool *cancel = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return cancel != NULL && atomic_load(cancel) ? 1 : 0;
}

/* Reads a 409 body "N\n" of type text/x.tlog.size. */
static bool
parse_size_body(const char *ctype, const char *body, size_t len,
    uint64_t *size)
{
	uint64_t v = 0;
	size_t i;

	if (ctype == NULL || strncmp(ctype, SIZE_TYPE, strlen(SIZE_TYPE)) != 0
	    || (ctype[strlen(SIZE_TYPE)] != '\0' &&
	    ctype[strlen(SIZE_TYPE)] != ';'))
		return false;
	if (body == NULL || len < 2 || len > 21 || body[len - 1] != '\n' ||
	    (body[0] == '0' && len > 2))
		return false;
	for (i = 0; i + 1 < len; i++) {
		if (body[i] < '0' || body[i] > '9' ||
		    v > (UINT64_MAX - (uint64_t)(body[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(body[i] - '0');
	}
	*size = v;
	return true;
}

/* Fills r from a complete HTTP answer. */
static void
classify(const tk_witness *w, const char *note, size_t note_len,
    tk_time now, long status, const char *ctype, const struct rbuf *b,
    tk_witness_result *r)
{
	char snip[128];
	tk_error e;

	r->status = status;
	snippet(b->data, b->len, snip, sizeof(snip));
	switch (status) {
	case 200:
		if (tk_witness_check_reply(w, note, note_len, b->data, b->len,
		    now, r->line, sizeof(r->line), &r->timestamp, &e) == 0) {
			r->outcome = TK_WITNESS_COSIGNED;
			(void)snprintf(r->msg, sizeof(r->msg), "cosigned");
		} else {
			r->outcome = TK_WITNESS_REFUSED;
			(void)snprintf(r->msg, sizeof(r->msg), "refused its "
			    "answer: %s", e.msg);
		}
		return;
	case 409:
		if (parse_size_body(ctype, b->data, b->len, &r->size)) {
			r->outcome = TK_WITNESS_CONFLICT;
			(void)snprintf(r->msg, sizeof(r->msg), "409 Conflict: the "
			    "witness holds size %" PRIu64, r->size);
		} else {
			r->outcome = TK_WITNESS_REFUSED;
			(void)snprintf(r->msg, sizeof(r->msg), "409 Conflict: the "
			    "witness holds another root for this size: the log "
			    "was forked or rewritten (%s)", snip);
		}
		return;
	case 400:
		r->outcome = TK_WITNESS_REFUSED;
		(void)snprintf(r->msg, sizeof(r->msg), "400 Bad Request: the "
		    "witness refused the request (%s)", snip);
		return;
	case 403:
		r->outcome = TK_WITNESS_REFUSED;
		(void)snprintf(r->msg, sizeof(r->msg), "403 Forbidden: the "
		    "witness does not trust the key that signed this "
		    "checkpoint (%s)", snip);
		return;
	case 404:
		r->outcome = TK_WITNESS_REFUSED;
		(void)snprintf(r->msg, sizeof(r->msg), "404 Not Found: the "
		    "witness does not know this log's origin; give it the "
		    "log's verifier key (%s)", snip);
		return;
	case 422:
		r->outcome = TK_WITNESS_REFUSED;
		(void)snprintf(r->msg, sizeof(r->msg), "422: the witness "
		    "refused the consistency proof: this log does not extend "
		    "the tree it cosigned, so it was forked or rolled back (%s)",
		    snip);
		return;
	default:
		r->outcome = status >= 400 && status < 500 ?
		    TK_WITNESS_REFUSED : TK_WITNESS_UNREACHABLE;
		(void)snprintf(r->msg, sizeof(r->msg), "the witness answered "
		    "HTTP %ld (%s)", status, snip);
		return;
	}
}

int
tk_witness_add_checkpoint(const tk_witness *w, uint64_t old,
    const unsigned char *proof, size_t n, const char *note, size_t note_len,
    tk_time now, long timeout_ms, const atomic_bool *cancel,
    tk_witness_result *r, tk_error *err)
{
	char url[TK_WITNESS_URL_MAX + 32], cerr[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = NULL, *t;
	struct rbuf b = {NULL, 0, false};
	char *body = NULL, *ctype = NULL;
	size_t body_len;
	long status = 0;
	CURLcode cc;
	CURL *h = NULL;
	int rc = -1, k;

	memset(r, 0, sizeof(*r));
	r->outcome = TK_WITNESS_UNREACHABLE;
	r->timestamp = -1;
	if (timeout_ms < 100 || timeout_ms > 60000)
		return tk_fail(err, TK_ERR_INVALID, "witness timeout out of "
		    "range"), -1;
	k = snprintf(url, sizeof(url), "%s/add-checkpoint", w->url);
	if (k < 0 || (size_t)k >= sizeof(url))
		return tk_fail(err, TK_ERR_INVALID, "witness URL too long"), -1;
	if (tk_witness_body(old, proof, n, note, note_len, &body, &body_len,
	    err) != 0)
		return -1;
	cerr[0] = '\0';
	h = curl_easy_init();
	if (h == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot initialise libcurl");
		goto out;
	}
	t = curl_slist_append(hdrs, "Content-Type: text/plain; charset=utf-8");
	if (t != NULL)
		hdrs = t;
	t = t != NULL ? curl_slist_append(hdrs, "Expect:") : NULL;
	if (t != NULL)
		hdrs = t;
	if (t == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)body_len) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    timeout_ms < 3000 ? timeout_ms : 3000L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "twokey/" TK_VERSION)
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")
	    != CURLE_OK ||
	    (cancel != NULL &&
	    (curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress)
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cancel)
	    != CURLE_OK))) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot configure libcurl");
		goto out;
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		r->outcome = TK_WITNESS_UNREACHABLE;
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			(void)snprintf(r->msg, sizeof(r->msg), "cancelled");
		else if (b.too_big)
			(void)snprintf(r->msg, sizeof(r->msg), "the witness's "
			    "answer is longer than %d bytes", TK_WITNESS_REPLY_MAX);
		else
			(void)snprintf(r->msg, sizeof(r->msg), "cannot reach the "
			    "witness: %s", cerr[0] ? cerr : curl_easy_strerror(cc));
		rc = 0;
		goto out;
	}
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype) != CURLE_OK)
		ctype = NULL;
	classify(w, note, note_len, now, status, ctype, &b, r);
	rc = 0;
out:
	curl_slist_free_all(hdrs);
	if (h != NULL)
		curl_easy_cleanup(h);
	free(body);
	free(b.data);
	return rc;
}
