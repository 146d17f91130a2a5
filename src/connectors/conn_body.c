/*
 * conn_body.c - the wiping capped buffer, JSON and URL encoders, the
 * change document and answer excerpts shared by the scim, webhook and exec
 * connectors (see conn_body.h).
 */
#include "connectors/conn_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

void
tk_sbuf_init(tk_sbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

/* Makes room for n more bytes and the NUL; never realloc, so no copy of
 * a secret is left behind unwiped. */
static int
grow(tk_sbuf *b, size_t n)
{
	size_t want, cap;
	char *np;

	if (b->failed)
		return -1;
	if (n > b->max - b->len) {
		b->failed = 1;
		return -1;
	}
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	np = malloc(cap);
	if (np == NULL) {
		b->failed = 1;
		return -1;
	}
	if (b->p != NULL) {
		memcpy(np, b->p, b->len + 1);
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

void
tk_sbuf_add(tk_sbuf *b, const void *s, size_t n)
{
	if (grow(b, n) != 0)
		return;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
tk_sbuf_adds(tk_sbuf *b, const char *s)
{
	tk_sbuf_add(b, s, strlen(s));
}

void
tk_sbuf_add_trunc(tk_sbuf *b, const void *s, size_t n)
{
	size_t room = b->max - b->len;

	if (n > room) {
		n = room;
		b->truncated = 1;
	}
	tk_sbuf_add(b, s, n);
}

void
tk_sbuf_free(tk_sbuf *b)
{
	if (b->p != NULL) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

int
tk_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, need, k;
	unsigned cp, min;

	while (i < len) {
		if (u[i] == 0)
			return 0;
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((u[i] & 0xE0) == 0xC0) {
			need = 1; cp = u[i] & 0x1F; min = 0x80;
		} else if ((u[i] & 0xF0) == 0xE0) {
			need = 2; cp = u[i] & 0x0F; min = 0x800;
		} else if ((u[i] & 0xF8) == 0xF0) {
			need = 3; cp = u[i] & 0x07; min = 0x10000;
		} else
			return 0;
		if (len - i - 1 < need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((u[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (u[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += need + 1;
	}
	return 1;
}

void
tk_sbuf_json_str(tk_sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, len = strlen(s), run = 0;
	char esc[6];

	if (!tk_utf8_valid(s, len)) {
		b->failed = 1;
		return;
	}
	tk_sbuf_add(b, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		tk_sbuf_add(b, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			tk_sbuf_add(b, esc, 2);
		} else {
			esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			tk_sbuf_add(b, esc, 6);
		}
	}
	tk_sbuf_add(b, s + len - run, run);
	tk_sbuf_add(b, "\"", 1);
	OPENSSL_cleanse(esc, sizeof(esc));
}

void
tk_sbuf_pct(tk_sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char enc[3];

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			tk_sbuf_add(b, s, 1);
			continue;
		}
		enc[0] = '%';
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		tk_sbuf_add(b, enc, 3);
	}
}

/* Adds ,"key":"value" */
static void
field(tk_sbuf *b, const char *key, const char *value)
{
	tk_sbuf_add(b, ",\"", 2);
	tk_sbuf_adds(b, key);
	tk_sbuf_add(b, "\":", 2);
	tk_sbuf_json_str(b, value);
}

int
tk_change_json(const tk_change *ch, int with_secret, long long now,
    tk_sbuf *out, tk_error *err)
{
	const char *params = ch->params != NULL ? ch->params : "{}";
	json_error_t jerr;
	json_t *pj;
	char when[32];

	pj = json_loads(params, JSON_REJECT_DUPLICATES, &jerr);
	if (pj == NULL || !json_is_object(pj)) {
		json_decref(pj);
		tk_fail(err, TK_ERR_INVALID, "the change's params are not a "
		    "JSON object; nothing was sent");
		return -1;
	}
	json_decref(pj);
	tk_time_format((tk_time)now, when, sizeof(when));
	tk_sbuf_adds(out, "{\"op\":");
	tk_sbuf_json_str(out, tk_conn_op_name(ch->op));
	field(out, "case", ch->case_id != NULL ? ch->case_id : "");
	field(out, "idempotency_key", ch->idem_key != NULL ? ch->idem_key : "");
	field(out, "subject", ch->subject != NULL ? ch->subject : "");
	field(out, "subject_kind", ch->subject_kind != NULL ?
	    ch->subject_kind : "");
	field(out, "action", ch->action != NULL ? ch->action : "");
	if (ch->group != NULL)
		field(out, "group", ch->group);
	tk_sbuf_adds(out, ",\"params\":");
	tk_sbuf_adds(out, params);
	if (with_secret && ch->secret != NULL)
		field(out, "secret", ch->secret);
	field(out, "sent_at", when);
	tk_sbuf_add(out, "}", 1);
	if (out->failed) {
		tk_sbuf_free(out);
		tk_fail(err, TK_ERR_INVALID, "the change could not be encoded "
		    "(a field is not UTF-8 or the body is too large); nothing "
		    "was sent");
		return -1;
	}
	return 0;
}

void
tk_conn_excerpt(const char *s, size_t len, size_t max, const char *secret,
    char *out, size_t size)
{
	static const char red[] = "[redacted]";
	size_t i = 0, o = 0, slen = secret != NULL ? strlen(secret) : 0;
	size_t limit = size - 4; /* room for "..." and the NUL */
	int space = 1, cut = 0;

	if (size < 8) {
		if (size > 0)
			out[0] = '\0';
		return;
	}
	if (max < limit)
		limit = max;
	while (i < len) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t n = 1;

		if (slen > 0 && len - i >= slen &&
		    memcmp(s + i, secret, slen) == 0) {
			if (o + sizeof(red) - 1 > limit) {
				cut = 1;
				break;
			}
			memcpy(out + o, red, sizeof(red) - 1);
			o += sizeof(red) - 1;
			i += slen;
			space = 0;
			continue;
		}
		if (*u < 0x20 || *u == 0x7f || *u == ' ') {
			i++;
			if (!space && o < limit) {
				out[o++] = ' ';
				space = 1;
			}
			continue;
		}
		if (*u >= 0x80) {
			n = (*u & 0xE0) == 0xC0 ? 2 : (*u & 0xF0) == 0xE0 ? 3 :
			    (*u & 0xF8) == 0xF0 ? 4 : 0;
			if (n == 0 || len - i < n ||
			    !tk_utf8_valid(s + i, n)) {
				if (o + 1 > limit) {
					cut = 1;
					break;
				}
				out[o++] = '?';
				i++;
				space = 0;
				continue;
			}
		}
		if (o + n > limit) {
			cut = 1;
			break;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
		space = 0;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	if (cut) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}
