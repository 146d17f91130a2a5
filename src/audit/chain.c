/*
 * chain.c - the audit events as rows: builds the canonical body of an
 * event (the exact bytes that are the Merkle leaf) and checks every
 * stored row against itself (tk_chain_verify): gapless sequence, body in
 * canonical form and agreeing with the row's indexed columns, recorded
 * leaf hash equal to SHA-256(0x00 || body).
 *
 * Owns: the canonical encoding (field order, escaping) and the row rules.
 * The tree and the signed checkpoints are checked by log.c. It does no
 * storage itself: it walks the events through tk_store_event_scan and
 * trusts nothing it reads.
 */
#include "audit/chain.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/merkle.h"
#include "store/store.h"

/* Longest body we build; far above any event the engine writes (whose
 * data is bounded by the case caps) and below anything that could hurt. */
#define BODY_MAX (1024 * 1024)

/* A growable byte buffer with a hard cap; on failure it frees itself. */
struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->failed)
		return;
	if (n > BODY_MAX || b->len + n + 1 > BODY_MAX) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* True when s needs no JSON escaping: printable ASCII, no '"' or '\\'. */
static bool
plain(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e ||
		    *s == '"' || *s == '\\')
			return false;
	return true;
}

/* Appends s as a JSON string escaped exactly as jansson escapes strings
 * under JSON_COMPACT|JSON_ENSURE_ASCII. */
static void
buf_json_string(struct buf *b, const char *s)
{
	json_t *js;
	char *enc;

	if (b->failed)
		return;
	if (s == NULL)
		s = "";
	if (plain(s)) { /* nothing to escape: the common case, no jansson */
		buf_add(b, "\"", 1);
		buf_str(b, s);
		buf_add(b, "\"", 1);
		return;
	}
	js = json_string(s);
	if (js == NULL) { /* out of memory or not UTF-8 */
		b->failed = true;
		return;
	}
	enc = json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT |
	    JSON_ENSURE_ASCII);
	json_decref(js);
	if (enc == NULL) {
		b->failed = true;
		return;
	}
	buf_str(b, enc);
	free(enc);
}

char *
tk_chain_body(int64_t seq, tk_time ts, const char *case_id,
    const char *kind, const char *actor, bool alert, const json_t *data)
{
	struct buf b = {NULL, 0, 0, false};
	char num[32], tsbuf[32];
	char *enc;

	if (data != NULL && !json_is_object(data))
		return NULL;
	(void)snprintf(num, sizeof(num), "%" PRId64, seq);
	tk_time_format(ts, tsbuf, sizeof(tsbuf));

	buf_str(&b, "{\"seq\":");
	buf_str(&b, num);
	buf_str(&b, ",\"ts\":");
	buf_json_string(&b, tsbuf);
	buf_str(&b, ",\"case\":");
	buf_json_string(&b, case_id);
	buf_str(&b, ",\"kind\":");
	buf_json_string(&b, kind);
	buf_str(&b, ",\"actor\":");
	buf_json_string(&b, actor);
	buf_str(&b, alert ? ",\"alert\":true" : ",\"alert\":false");
	buf_str(&b, ",\"data\":");
	if (data == NULL) {
		buf_str(&b, "{}");
	} else {
		enc = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS |
		    JSON_ENSURE_ASCII);
		if (enc == NULL) {
			b.failed = true;
		} else {
			buf_str(&b, enc);
			free(enc);
		}
	}
	buf_str(&b, "}");
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* The stored body disagrees with the row's columns or is not canonical:
 * says which field differs. */
static void
explain_mismatch(const tk_leaf *l, json_t *root, char *why, size_t size)
{
	char tsbuf[32];
	json_t *f;
	const char *cols[3][2] = {
		{"case", l->case_id}, {"kind", l->kind}, {"actor", l->actor},
	};
	size_t i;

	f = json_object_get(root, "seq");
	if (!json_is_integer(f) || json_integer_value(f) != l->seq) {
		(void)snprintf(why, size, "seq %" PRId64 ": the body says seq %"
		    PRId64 " (bodies moved or edited?)", l->seq,
		    json_is_integer(f) ? (int64_t)json_integer_value(f) : -1);
		return;
	}
	tk_time_format(l->ts, tsbuf, sizeof(tsbuf));
	f = json_object_get(root, "ts");
	if (!json_is_string(f) || strcmp(json_string_value(f), tsbuf) != 0) {
		(void)snprintf(why, size, "seq %" PRId64 ": ts column %s does "
		    "not match the body (edited?)", l->seq, tsbuf);
		return;
	}
	for (i = 0; i < 3; i++) {
		f = json_object_get(root, cols[i][0]);
		if (!json_is_string(f) ||
		    strcmp(json_string_value(f), cols[i][1]) != 0) {
			(void)snprintf(why, size, "seq %" PRId64 ": %s column "
			    "\"%.100s\" does not match the body (edited?)",
			    l->seq, cols[i][0], cols[i][1]);
			return;
		}
	}
	f = json_object_get(root, "alert");
	if (!json_is_boolean(f) || json_is_true(f) != l->alert) {
		(void)snprintf(why, size, "seq %" PRId64 ": alert column does "
		    "not match the body (edited?)", l->seq);
		return;
	}
	(void)snprintf(why, size, "seq %" PRId64 ": body is not in canonical "
	    "form (edited?)", l->seq);
}

/* Consumes the literal lit (n bytes) at *p, if the body has it there. */
static bool
eat(const char **p, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* The same, for a string literal. */
#define EAT(p, end, lit) eat((p), (end), (lit), sizeof(lit) - 1)

/* Consumes the column text s at *p, if the body has it there and it
 * needs no escaping (so its canonical encoding is itself). */
static bool
eat_plain(const char **p, const char *end, const char *s)
{
	const char *q = *p;

	for (; *s != '\0'; s++, q++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' ||
		    q == end || *q != *s)
			return false;
	}
	*p = q;
	return true;
}

/*
 * The fast check of a row: its body starts with exactly the canonical
 * prefix its columns give ({"seq":..,"alert":..,"data":{) and ends the
 * object. Only for columns that need no escaping (all the engine
 * writes); anything else, or any mismatch, takes the full re-encoding.
 * The data object's own bytes are covered by the leaf hash and the
 * signed tree, so they are not re-encoded here. The prefix is matched
 * piece by piece, with no formatting but the timestamp's, which c keeps
 * from one row to the next.
 */
static bool
fast_row_ok(tk_chain_checker *c, const tk_leaf *l)
{
	static const char t_data[] = "\",\"alert\":true,\"data\":{";
	static const char f_data[] = "\",\"alert\":false,\"data\":{";
	const char *p = l->body, *end = l->body + l->len;
	char num[24];
	size_t n = sizeof(num);
	uint64_t seq;

	if (l->seq < 0)
		return false;
	/* seq in decimal, written from the right */
	seq = (uint64_t)l->seq;
	do {
		num[--n] = (char)('0' + seq % 10);
		seq /= 10;
	} while (seq != 0);
	if (!c->have_ts || c->ts != l->ts) {
		tk_time_format(l->ts, c->ts_text, sizeof(c->ts_text));
		c->ts = l->ts;
		c->have_ts = true;
	}
	if (!EAT(&p, end, "{\"seq\":") ||
	    !eat(&p, end, num + n, sizeof(num) - n) ||
	    !EAT(&p, end, ",\"ts\":\"") ||
	    !eat(&p, end, c->ts_text, strlen(c->ts_text)) ||
	    !EAT(&p, end, "\",\"case\":\"") ||
	    !eat_plain(&p, end, l->case_id) ||
	    !EAT(&p, end, "\",\"kind\":\"") ||
	    !eat_plain(&p, end, l->kind) ||
	    !EAT(&p, end, "\",\"actor\":\"") ||
	    !eat_plain(&p, end, l->actor))
		return false;
	if (l->alert ? !eat(&p, end, t_data, sizeof(t_data) - 1) :
	    !eat(&p, end, f_data, sizeof(f_data) - 1))
		return false;
	/* "{" of data consumed; at least "}}" must follow, and end it */
	return end - p >= 2 && end[-1] == '}' && end[-2] == '}';
}

int
tk_chain_row_check_in(tk_chain_checker *c, const tk_leaf *l, char *why,
    size_t size)
{
	json_error_t jerr;
	json_t *root, *data;
	char *canon;
	bool same;

	if (fast_row_ok(c, l))
		return 0;
	root = json_loadb(l->body, l->len, JSON_ALLOW_NUL, &jerr);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		(void)snprintf(why, size, "seq %" PRId64 ": body is not a JSON "
		    "object (edited?)", l->seq);
		return -1;
	}
	data = json_object_get(root, "data");
	if (!json_is_object(data)) {
		json_decref(root);
		(void)snprintf(why, size, "seq %" PRId64 ": body has no data "
		    "object (edited?)", l->seq);
		return -1;
	}
	canon = tk_chain_body(l->seq, l->ts, l->case_id, l->kind, l->actor,
	    l->alert, data);
	if (canon == NULL) {
		json_decref(root);
		(void)snprintf(why, size, "seq %" PRId64 ": cannot re-encode the "
		    "body (out of memory or invalid text)", l->seq);
		return -1;
	}
	same = strlen(canon) == l->len && memcmp(canon, l->body, l->len) == 0;
	free(canon);
	if (!same)
		explain_mismatch(l, root, why, size);
	json_decref(root);
	return same ? 0 : -1;
}

int
tk_chain_row_check(const tk_leaf *l, char *why, size_t size)
{
	tk_chain_checker c;

	memset(&c, 0, sizeof(c));
	return tk_chain_row_check_in(&c, l, why, size);
}

/* State of one verification walk. */
struct verify {
	int64_t expect;          /* next seq expected */
	int64_t count;
	int64_t bad_seq;         /* 0 while intact */
	tk_error *err;
	tk_chain_checker check;  /* kept from row to row */
};

static int
bad(struct verify *v, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(struct verify *v, int64_t seq, const char *fmt, ...)
{
	va_list ap;

	v->bad_seq = seq;
	if (v->err != NULL) {
		v->err->status = TK_ERR_INTERNAL;
		v->err->invariant = 0;
		va_start(ap, fmt);
		(void)vsnprintf(v->err->msg, sizeof(v->err->msg), fmt, ap);
		va_end(ap);
	}
	return 1;
}

static int
verify_row(void *arg, const tk_leaf *l)
{
	struct verify *v = arg;
	char why[sizeof(v->err->msg)];
	unsigned char h[32];

	if (l->seq != v->expect) {
		if (l->seq > v->expect && l->seq == v->expect + 1)
			return bad(v, v->expect, "seq %" PRId64 " missing: "
			    "sequence jumps from %" PRId64 " to %" PRId64
			    " (deleted?)", v->expect, v->expect - 1, l->seq);
		if (l->seq > v->expect)
			return bad(v, v->expect, "seq %" PRId64 " missing: "
			    "sequence jumps from %" PRId64 " to %" PRId64
			    " (%" PRId64 " events deleted?)", v->expect,
			    v->expect - 1, l->seq, l->seq - v->expect);
		return bad(v, v->expect, "seq %" PRId64 ": found seq %" PRId64
		    " out of order", v->expect, l->seq);
	}
	if (tk_chain_row_check_in(&v->check, l, why, sizeof(why)) != 0)
		return bad(v, l->seq, "%s", why);
	if (tk_merkle_leaf_hash(l->body, l->len, h) != 0)
		return bad(v, l->seq, "seq %" PRId64 ": cannot hash the body",
		    l->seq);
	if (memcmp(h, l->hash, 32) != 0)
		return bad(v, l->seq, "seq %" PRId64 ": body does not match its "
		    "leaf hash (edited?)", l->seq);
	v->expect++;
	v->count++;
	return 0;
}

int
tk_chain_verify(struct tk_store *s, int64_t *count, int64_t *bad_seq,
    tk_error *err)
{
	struct verify v;

	memset(&v, 0, sizeof(v));
	v.expect = 1;
	v.err = err;
	if (count != NULL)
		*count = 0;
	if (bad_seq != NULL)
		*bad_seq = 0;
	if (tk_store_event_leaves(s, 1, 0, verify_row, &v, err) != 0) {
		/* The store refuses a row it cannot read back (NULL or
		 * oversized column, wrong type): the first row not yet
		 * verified is the culprit, or a gap before it. */
		if (count != NULL)
			*count = v.count;
		if (bad_seq != NULL)
			*bad_seq = v.expect;
		return -1;
	}
	if (count != NULL)
		*count = v.count;
	if (v.bad_seq != 0) {
		if (bad_seq != NULL)
			*bad_seq = v.bad_seq;
		return -1;
	}
	return 0;
}
