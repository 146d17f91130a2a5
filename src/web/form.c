/*
 * form.c - parsing what a browser sends the console: urlencoded form
 * bodies, the Cookie header and query parameters.
 *
 * Owns: web_form and its decoding. A form is one copy of the body,
 * decoded in place, at most WEB_FORM_MAX fields, and wiped when freed
 * (forms carry passwords and codes).
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "web/web_int.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX and '+' in place over s[0..n) and ends the result with a
 * NUL (at most at s[n]). -1 on a bad escape or an encoded NUL. */
static int
decode(char *s, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		s[o++] = c;
	}
	s[o] = '\0';
	return 0;
}

int
web_form_parse(web_form *f, const char *body, size_t len)
{
	char *p, *end;

	memset(f, 0, sizeof(*f));
	f->buf = malloc(len + 1);
	if (f->buf == NULL)
		return -1;
	f->cap = len + 1;
	if (len > 0)
		memcpy(f->buf, body, len);
	f->buf[len] = '\0';
	if (memchr(f->buf, '\0', len) != NULL)
		goto bad;
	p = f->buf;
	end = f->buf + len;
	while (p < end) {
		char *amp = memchr(p, '&', (size_t)(end - p));
		char *stop = amp != NULL ? amp : end;
		char *eq;

		if (stop == p) { /* an empty pair, as in "a=1&&b=2" */
			p = stop + 1;
			continue;
		}
		if (f->n == WEB_FORM_MAX)
			goto bad;
		eq = memchr(p, '=', (size_t)(stop - p));
		if (eq == NULL)
			goto bad;
		*eq = '\0';
		if (decode(p, (size_t)(eq - p)) != 0 ||
		    decode(eq + 1, (size_t)(stop - eq - 1)) != 0)
			goto bad;
		f->f[f->n].key = p;
		f->f[f->n].value = eq + 1;
		f->n++;
		p = stop + 1;
	}
	return 0;
bad:
	web_form_free(f);
	return -1;
}

void
web_form_free(web_form *f)
{
	if (f->buf != NULL) {
		OPENSSL_cleanse(f->buf, f->cap);
		free(f->buf);
	}
	memset(f, 0, sizeof(*f));
}

const char *
web_form_get(const web_form *f, const char *key)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->f[i].key, key) == 0)
			return f->f[i].value;
	return NULL;
}

size_t
web_form_all(const web_form *f, const char *key, const char **out,
    size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < f->n && n < max; i++)
		if (strcmp(f->f[i].key, key) == 0)
			out[n++] = f->f[i].value;
	return n;
}

bool
web_cookie(const char *header, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	const char *p = header;

	if (header == NULL || size == 0)
		return false;
	while (*p != '\0') {
		const char *semi, *val;
		size_t vlen;

		while (*p == ' ' || *p == '\t')
			p++;
		semi = strchr(p, ';');
		if (semi == NULL)
			semi = p + strlen(p);
		if ((size_t)(semi - p) > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			val = p + nlen + 1;
			vlen = (size_t)(semi - val);
			if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
				val++;
				vlen -= 2;
			}
			if (vlen == 0 || vlen >= size)
				return false;
			memcpy(out, val, vlen);
			out[vlen] = '\0';
			return true;
		}
		if (*semi == '\0')
			break;
		p = semi + 1;
	}
	return false;
}

const char *
web_query(const tk_http_req *req, const char *key)
{
	size_t i;

	for (i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].key, key) == 0)
			return req->query[i].value;
	return NULL;
}
