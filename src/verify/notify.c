/*
 * notify.c - sends e-mail (libcurl SMTP) and SMS (libcurl HTTP POST to a
 * gateway) to people, as configured in the directory file's notify
 * section.
 *
 * Owns: the message format (RFC 5322 headers, RFC 2047 encoded-word
 * subjects, RFC 2045 quoted-printable bodies with CRLF lines), the checks
 * that keep a caller's strings out of the header structure, reading the
 * SMTP password and SMS token files, and the wiping of every buffer that
 * held a message or a secret. No state between calls.
 */
#include "verify/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/b64.h"

#define SECRET_MAX 512          /* bytes of a password or token file */
#define REPLY_MAX 200           /* bytes of a server's reply we quote */
#define LINE_7BIT_MAX 998       /* RFC 5322 line limit, without CRLF */
#define QP_LINE_MAX 76          /* RFC 2045 encoded line limit */
#define EW_RAW_MAX 45           /* bytes per encoded word: 60 base64 */

/* ------------------------------------------------------------------ */
/* checks */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. Refuses
 * overlongs, surrogates and code points above U+10FFFF. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		k = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		k = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		k = 4, cp = c & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return k;
}

static bool
valid_utf8(const char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		k = utf8_seq((const unsigned char *)s + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* One plain address: local@domain.tld in printable ASCII without the
 * characters that would open a display name, a group or a second
 * address. */
static bool
plain_address(const char *v)
{
	const char *at;
	size_t i, n = strlen(v);

	if (n == 0 || n >= TK_CONTACT_MAX)
		return false;
	at = strchr(v, '@');
	if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@') ||
	    strchr(at + 1, '.') == NULL || at[1] == '.' || v[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f ||
		    strchr("<>()[],;:\"\\", v[i]) != NULL)
			return false;
	return true;
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int
check_message(const tk_notify_config *cfg, const tk_message *m,
    tk_error *err)
{
	const char *subj = m->subject != NULL ? m->subject : "";
	size_t n;

	if (cfg->smtp_url[0] == '\0')
		return tk_fail(err, TK_ERR_INVALID, "cannot send e-mail: there "
		    "is no smtp in the directory file's notify section; add "
		    "notify: smtp: {url, from}"), -1;
	if (!plain_address(cfg->smtp_from))
		return tk_fail(err, TK_ERR_INVALID, "the smtp from address in "
		    "the directory file is not one plain address; write e.g. "
		    "from: twokey@example.com"), -1;
	if (m->to != NULL && (strchr(m->to, '\r') != NULL ||
	    strchr(m->to, '\n') != NULL))
		return tk_fail(err, TK_ERR_INVALID, "refused to send e-mail: "
		    "the recipient contains a line break (a header injection "
		    "attempt?); give one plain address"), -1;
	if (m->to == NULL || !plain_address(m->to))
		return tk_fail(err, TK_ERR_INVALID, "refused to send e-mail: "
		    "the recipient is not one plain address (NAME@DOMAIN, no "
		    "display name, no list)"), -1;
	if (strchr(subj, '\r') != NULL || strchr(subj, '\n') != NULL)
		return tk_fail(err, TK_ERR_INVALID, "refused to send e-mail: "
		    "the subject contains a line break (a header injection "
		    "attempt?); give it on one line"), -1;
	if (has_control(subj))
		return tk_fail(err, TK_ERR_INVALID, "refused to send e-mail: "
		    "the subject contains a control character; remove it"), -1;
	n = strlen(subj);
	if (n > TK_MAIL_SUBJECT_MAX)
		return tk_fail(err, TK_ERR_TOO_LARGE, "refused to send e-mail: "
		    "the subject is %zu bytes; the limit is %d", n,
		    TK_MAIL_SUBJECT_MAX), -1;
	if (!valid_utf8(subj, n))
		return tk_fail(err, TK_ERR_INVALID, "refused to send e-mail: "
		    "the subject is not valid UTF-8"), -1;
	if (m->text == NULL)
		return tk_fail(err, TK_ERR_INVALID, "refused to send e-mail: "
		    "no text"), -1;
	n = strlen(m->text);
	if (n > TK_MAIL_TEXT_MAX)
		return tk_fail(err, TK_ERR_TOO_LARGE, "refused to send e-mail: "
		    "the text is %zu bytes; the limit is %d", n,
		    TK_MAIL_TEXT_MAX), -1;
	if (!valid_utf8(m->text, n))
		return tk_fail(err, TK_ERR_INVALID, "refused to send e-mail: "
		    "the text is not valid UTF-8"), -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* a bounded output buffer, sized once so it never moves (a realloc
 * would leave a copy of the secret behind) */

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void
put(struct out *o, const void *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
putc_(struct out *o, char c)
{
	put(o, &c, 1);
}

/* ------------------------------------------------------------------ */
/* message building */

static void
put_date(struct out *o, int64_t now)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)now;
	struct tm tm;
	char buf[64];

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	(void)snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d "
	    "+0000", wd[tm.tm_wday % 7], tm.tm_mday, mo[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	puts_(o, buf);
}

static bool
ascii_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* "Subject: " and the subject: as is when ASCII, else RFC 2047 B
 * encoded words of whole UTF-8 characters, folded. */
static void
put_subject(struct out *o, const char *s)
{
	char b64[TK_B64_LEN(EW_RAW_MAX) + 1];
	size_t n = strlen(s), i = 0, j, k;
	bool first = true;

	puts_(o, "Subject: ");
	if (ascii_printable(s) && n <= 900) {
		puts_(o, s);
		puts_(o, "\r\n");
		return;
	}
	while (i < n) {
		for (j = i; j < n; j += k) {
			k = utf8_seq((const unsigned char *)s + j, n - j);
			if (k == 0)
				k = 1; /* checked before; cannot happen */
			if (j + k - i > EW_RAW_MAX)
				break;
		}
		tk_b64_encode((const unsigned char *)s + i, j - i, b64);
		if (!first)
			puts_(o, "\r\n ");
		puts_(o, "=?UTF-8?B?");
		puts_(o, b64);
		puts_(o, "?=");
		first = false;
		i = j;
	}
	puts_(o, "\r\n");
}

/* True when the text can go as 7bit: ASCII without controls other than
 * tab and line breaks, and no line longer than 998 bytes. */
static bool
text_is_7bit(const char *s)
{
	size_t line = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n' || c == '\r') {
			line = 0;
			continue;
		}
		if (c >= 0x80 || c == 0x7f || (c < 0x20 && c != '\t'))
			return false;
		if (++line > LINE_7BIT_MAX)
			return false;
	}
	return true;
}

/* The text with every line break (CRLF, CR or LF) as CRLF, ending in
 * CRLF. */
static void
put_7bit(struct out *o, const char *s)
{
	size_t n;

	while (*s != '\0') {
		n = strcspn(s, "\r\n");
		put(o, s, n);
		puts_(o, "\r\n");
		s += n;
		if (s[0] == '\r' && s[1] == '\n')
			s += 2;
		else if (*s != '\0')
			s++;
	}
}

/* RFC 2045 quoted-printable, lines of at most 76 characters; a blank at
 * the end of a line is encoded so transport cannot strip it. */
static void
put_qp(struct out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n, i, col;
	char tok[4];
	size_t tl;

	while (*s != '\0') {
		n = strcspn(s, "\r\n");
		col = 0;
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];

			if ((c >= 33 && c <= 126 && c != '=') ||
			    ((c == ' ' || c == '\t') && i + 1 < n)) {
				tok[0] = (char)c;
				tl = 1;
			} else {
				tok[0] = '=';
				tok[1] = hex[c >> 4];
				tok[2] = hex[c & 15];
				tl = 3;
			}
			/* room for the token and a soft break '=' */
			if (col + tl > QP_LINE_MAX - 1 &&
			    !(i + 1 == n && col + tl <= QP_LINE_MAX)) {
				puts_(o, "=\r\n");
				col = 0;
			}
			put(o, tok, tl);
			col += tl;
		}
		puts_(o, "\r\n");
		s += n;
		if (s[0] == '\r' && s[1] == '\n')
			s += 2;
		else if (*s != '\0')
			s++;
	}
	OPENSSL_cleanse(tok, sizeof(tok));
}

int
tk_mail_build(const tk_notify_config *cfg, const tk_message *m,
    int64_t now, char **outp, size_t *lenp, tk_error *err)
{
	unsigned char rnd[16];
	char id[33];
	const char *domain;
	struct out o;
	size_t tlen;
	bool seven;

	*outp = NULL;
	*lenp = 0;
	if (check_message(cfg, m, err) != 0)
		return -1;
	tlen = strlen(m->text);
	o.cap = 8192 + 4 * tlen;
	o.len = 0;
	o.full = false;
	o.p = malloc(o.cap);
	if (o.p == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory building "
		    "an e-mail"), -1;
	o.p[0] = '\0';
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(o.p);
		return tk_fail(err, TK_ERR_INTERNAL, "no randomness for a "
		    "Message-ID"), -1;
	}
	tk_hex_encode(rnd, sizeof(rnd), id);
	domain = strchr(cfg->smtp_from, '@') + 1;
	seven = text_is_7bit(m->text);

	puts_(&o, "From: ");
	puts_(&o, cfg->smtp_from);
	puts_(&o, "\r\nTo: ");
	puts_(&o, m->to);
	puts_(&o, "\r\n");
	put_subject(&o, m->subject != NULL ? m->subject : "");
	puts_(&o, "Date: ");
	put_date(&o, now);
	puts_(&o, "\r\nMessage-ID: <");
	puts_(&o, id);
	putc_(&o, '@');
	puts_(&o, domain);
	puts_(&o, ">\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: ");
	puts_(&o, seven ? "7bit" : "quoted-printable");
	puts_(&o, "\r\nAuto-Submitted: auto-generated\r\n\r\n");
	if (seven)
		put_7bit(&o, m->text);
	else
		put_qp(&o, m->text);
	if (o.full) {
		OPENSSL_cleanse(o.p, o.cap);
		free(o.p);
		return tk_fail(err, TK_ERR_INTERNAL, "e-mail larger than its "
		    "buffer (a bug)"), -1;
	}
	*outp = o.p;
	*lenp = o.len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* secret files */

/* Reads a one-line secret from a file only its owner may read. what
 * names the directory file key in messages. */
static int
read_secret(const char *path, const char *what, char *buf, size_t size,
    tk_error *err)
{
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return tk_fail(err, TK_ERR_INVALID, "cannot open %s %.300s: %s",
		    what, path, strerror(errno)), -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		(void)close(fd);
		return tk_fail(err, TK_ERR_INVALID, "%s %.300s must be a "
		    "regular file readable only by its owner (chmod 600)", what,
		    path), -1;
	}
	while (len + 1 < size) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			(void)close(fd);
			OPENSSL_cleanse(buf, size);
			return tk_fail(err, TK_ERR_INVALID, "reading %s %.300s: "
			    "%s", what, path, strerror(errno)), -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	(void)close(fd);
	if (len + 1 >= size) {
		OPENSSL_cleanse(buf, size);
		return tk_fail(err, TK_ERR_INVALID, "%s %.300s is longer than "
		    "%zu bytes", what, path, size - 2), -1;
	}
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len == 0 || has_control(buf)) {
		OPENSSL_cleanse(buf, size);
		return tk_fail(err, TK_ERR_INVALID, "%s %.300s must hold the "
		    "secret on one line", what, path), -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* libcurl plumbing */

struct upload {
	const char *p;
	size_t len, off;
};

static size_t
on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb;

	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(dst, u->p + u->off, n);
	u->off += n;
	return n;
}

/* The server's last refusal (4xx/5xx; a later "221 Bye" to QUIT does
 * not hide it), printable ASCII only. */
struct reply {
	char bad[REPLY_MAX + 1];
};

static void
keep_line(char *dst, size_t size, const char *s, size_t n)
{
	size_t i, k = 0;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	for (i = 0; i < n && k + 1 < size; i++)
		dst[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[k] = '\0';
}

static int
on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	struct reply *r = arg;

	(void)h;
	/* only what the server said; never what we sent (AUTH, DATA) */
	if (type != CURLINFO_HEADER_IN || size == 0)
		return 0;
	if (data[0] == '4' || data[0] == '5')
		keep_line(r->bad, sizeof(r->bad), data, size);
	return 0;
}

static long
timeout_of(const tk_notify_config *cfg)
{
	return cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
}

/* Wipes what an slist holds before freeing it. */
static void
slist_wipe_free(struct curl_slist *l)
{
	struct curl_slist *t;

	for (t = l; t != NULL; t = t->next)
		if (t->data != NULL)
			OPENSSL_cleanse(t->data, strlen(t->data));
	curl_slist_free_all(l);
}

/* ------------------------------------------------------------------ */
/* e-mail */

int
tk_mail_send(const tk_notify_config *cfg, const tk_message *m,
    tk_error *err)
{
	char errbuf[CURL_ERROR_SIZE], addr[TK_CONTACT_MAX + 2];
	char pass[SECRET_MAX];
	struct curl_slist *rcpt = NULL;
	struct reply rep;
	struct upload up;
	char *msg = NULL;
	size_t len = 0;
	long code = 0, to_ms = timeout_of(cfg);
	CURLcode cc;
	CURL *h = NULL;
	int rc = -1;

	pass[0] = '\0';
	if (tk_mail_build(cfg, m, (int64_t)time(NULL), &msg, &len, err) != 0)
		return -1;
	if (cfg->smtp_user[0] != '\0' &&
	    read_secret(cfg->smtp_password_file, "notify smtp password_file",
	    pass, sizeof(pass), err) != 0)
		goto out;
	errbuf[0] = '\0';
	rep.bad[0] = '\0';
	up.p = msg;
	up.len = len;
	up.off = 0;
	(void)snprintf(addr, sizeof(addr), "<%s>", m->to);
	rcpt = curl_slist_append(NULL, addr);
	h = curl_easy_init();
	if (rcpt == NULL || h == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot initialise libcurl "
		    "for e-mail");
		goto out;
	}
	(void)snprintf(addr, sizeof(addr), "<%s>", cfg->smtp_from);
	if (curl_easy_setopt(h, CURLOPT_URL, cfg->smtp_url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps")
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_MAIL_FROM, addr) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_READDATA, &up) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len)
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USE_SSL, cfg->smtp_starttls ?
	    (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, to_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, to_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &rep) != CURLE_OK ||
	    (pass[0] != '\0' &&
	    (curl_easy_setopt(h, CURLOPT_USERNAME, cfg->smtp_user)
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PASSWORD, pass) != CURLE_OK))) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot configure libcurl "
		    "for e-mail");
		goto out;
	}
	cc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "sending e-mail through "
		    "%.200s failed: %s%s%s%s", cfg->smtp_url,
		    curl_easy_strerror(cc), errbuf[0] ? " (" : "", errbuf,
		    errbuf[0] ? ")" : "");
		if (rep.bad[0] != '\0') {
			size_t k = strlen(err->msg);

			(void)snprintf(err->msg + k, sizeof(err->msg) - k,
			    "; the server said: \"%s\"", rep.bad);
		} else if (code >= 400) {
			size_t k = strlen(err->msg);

			(void)snprintf(err->msg + k, sizeof(err->msg) - k,
			    "; the server's last code: %ld", code);
		}
		goto out;
	}
	rc = 0;
out:
	if (h != NULL)
		curl_easy_cleanup(h);
	curl_slist_free_all(rcpt);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (msg != NULL) {
		OPENSSL_cleanse(msg, len);
		free(msg);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* SMS */

/* Digits with an optional leading '+', after dropping blanks, dashes,
 * dots and parentheses; false when it is not a phone number. */
static bool
phone_norm(const char *v, char *dst, size_t size)
{
	size_t n = 0, digits = 0;

	for (; *v != '\0'; v++) {
		if (strchr(" \t-.()", *v) != NULL)
			continue;
		if (*v == '+' && n == 0) {
			/* a leading plus only */
		} else if (*v < '0' || *v > '9') {
			return false;
		} else {
			digits++;
		}
		if (n + 1 >= size)
			return false;
		dst[n++] = *v;
	}
	dst[n] = '\0';
	return digits >= 3;
}

/* s as a JSON string body (no quotes), escaping what JSON requires. */
static void
put_json_str(struct out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char esc[7];

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			putc_(o, '\\');
			putc_(o, (char)c);
		} else if (c == '\n') {
			puts_(o, "\\n");
		} else if (c == '\r') {
			puts_(o, "\\r");
		} else if (c == '\t') {
			puts_(o, "\\t");
		} else if (c < 0x20) {
			esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
			put(o, esc, 6);
		} else {
			putc_(o, (char)c);
		}
	}
}

struct sink {
	char *p;      /* the first bytes of the answer */
	size_t len, cap;
};

static size_t
on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
	size_t n = size * nmemb, take = n;

	if (take > k->cap - 1 - k->len)
		take = k->cap - 1 - k->len;
	memcpy(k->p + k->len, data, take);
	k->len += take;
	k->p[k->len] = '\0';
	return n; /* keep reading; only the start is kept */
}

/* True when body repeats any 12-byte stretch of text that JSON or form
 * encoding would leave as is: a gateway echoing its request (escaped)
 * would otherwise carry the message (a temporary password, a link token)
 * into an error. */
static bool
echoes(const char *body, const char *text)
{
	enum { W = 12 };
	size_t tl = strlen(text);
	char win[W + 1];

	for (size_t i = 0; i + W <= tl; i++) {
		size_t j;

		for (j = 0; j < W; j++) {
			unsigned char ch = (unsigned char)text[i + j];
			if (ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f)
				break;
		}
		if (j < W)
			continue;
		memcpy(win, text + i, W);
		win[W] = '\0';
		if (strstr(body, win) != NULL) {
			OPENSSL_cleanse(win, sizeof(win));
			return true;
		}
	}
	OPENSSL_cleanse(win, sizeof(win));
	return false;
}

/* The gateway's answer as printable text, with the message text cut out
 * should it be echoed (withheld entirely when any part of it is). */
static void
excerpt(const char *body, const char *text, char *dst, size_t size)
{
	char tmp[REPLY_MAX + 1];
	const char *p;
	size_t tl = strlen(text), k = 0, i, n = strlen(body);

	for (i = 0; i < n && k + 1 < sizeof(tmp);) {
		if (tl >= 4 && n - i >= tl && memcmp(body + i, text, tl) == 0) {
			p = "[text]";
			while (*p != '\0' && k + 1 < sizeof(tmp))
				tmp[k++] = *p++;
			i += tl;
			continue;
		}
		tmp[k++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : ' ';
		i++;
	}
	tmp[k] = '\0';
	/* an echo in another form (escaped, cut up) still repeats part of
	 * the message: then nothing of the answer is quoted */
	if (echoes(tmp, text))
		(void)tk_strlcpy(dst, "[answer withheld: it repeats the "
		    "message]", size);
	else
		(void)tk_strlcpy(dst, tmp, size);
	OPENSSL_cleanse(tmp, sizeof(tmp));
}

int
tk_sms_send(const tk_notify_config *cfg, const char *to, const char *text,
    tk_error *err)
{
	char errbuf[CURL_ERROR_SIZE], num[TK_CONTACT_MAX];
	char token[SECRET_MAX], auth[SECRET_MAX + 32];
	char rbuf[1024], ex[REPLY_MAX + 1];
	struct curl_slist *hdrs = NULL, *t;
	struct sink sk = {rbuf, 0, sizeof(rbuf)};
	struct out o = {NULL, 0, 0, false};
	long code = 0, to_ms = timeout_of(cfg);
	size_t tlen;
	CURLcode cc;
	CURL *h = NULL;
	int rc = -1;

	token[0] = '\0';
	auth[0] = '\0';
	rbuf[0] = '\0';
	if (cfg->sms_url[0] == '\0')
		return tk_fail(err, TK_ERR_INVALID, "cannot send an SMS: there "
		    "is no sms in the directory file's notify section; add "
		    "notify: sms: {url}"), -1;
	if (to == NULL || !phone_norm(to, num, sizeof(num)))
		return tk_fail(err, TK_ERR_INVALID, "refused to send an SMS: "
		    "the recipient is not a phone number (digits, an optional "
		    "leading +, blanks, dashes, dots or parentheses)"), -1;
	if (text == NULL || text[0] == '\0')
		return tk_fail(err, TK_ERR_INVALID, "refused to send an SMS: "
		    "no text"), -1;
	tlen = strlen(text);
	if (tlen > TK_SMS_TEXT_MAX)
		return tk_fail(err, TK_ERR_TOO_LARGE, "refused to send an SMS: "
		    "the text is %zu bytes; the limit is %d", tlen,
		    TK_SMS_TEXT_MAX), -1;
	if (!valid_utf8(text, tlen))
		return tk_fail(err, TK_ERR_INVALID, "refused to send an SMS: "
		    "the text is not valid UTF-8"), -1;
	if (cfg->sms_token_file[0] != '\0') {
		if (read_secret(cfg->sms_token_file, "notify sms token_file",
		    token, sizeof(token), err) != 0)
			return -1;
		(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    token);
	}
	o.cap = 64 + sizeof(num) + 6 * tlen;
	o.p = malloc(o.cap);
	if (o.p == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory building an "
		    "SMS");
		goto out;
	}
	o.p[0] = '\0';
	puts_(&o, "{\"to\":\"");
	put_json_str(&o, num);
	puts_(&o, "\",\"text\":\"");
	put_json_str(&o, text);
	puts_(&o, "\"}");
	if (o.full) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "SMS larger than its buffer "
		    "(a bug)");
		goto out;
	}
	t = curl_slist_append(NULL, "Content-Type: application/json");
	hdrs = t;
	if (t != NULL)
		t = curl_slist_append(hdrs, "Expect:");
	if (t != NULL && auth[0] != '\0')
		t = curl_slist_append(hdrs, auth);
	h = curl_easy_init();
	errbuf[0] = '\0';
	if (t == NULL || h == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot initialise libcurl "
		    "for an SMS");
		goto out;
	}
	if (curl_easy_setopt(h, CURLOPT_URL, cfg->sms_url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")
	    != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, o.p) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)o.len) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sk) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, to_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, to_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "twokey/" TK_VERSION)
	    != CURLE_OK) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot configure libcurl "
		    "for an SMS");
		goto out;
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "sending an SMS through "
		    "%.200s failed: %s%s%s%s", cfg->sms_url,
		    curl_easy_strerror(cc), errbuf[0] ? " (" : "", errbuf,
		    errbuf[0] ? ")" : "");
		goto out;
	}
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		excerpt(rbuf, text, ex, sizeof(ex));
		(void)tk_fail(err, TK_ERR_INTERNAL, "the SMS gateway %.200s "
		    "answered %ld%s%s%s; the SMS was not sent", cfg->sms_url,
		    code, ex[0] ? ": \"" : "", ex, ex[0] ? "\"" : "");
		OPENSSL_cleanse(ex, sizeof(ex));
		goto out;
	}
	rc = 0;
out:
	if (h != NULL)
		curl_easy_cleanup(h);
	slist_wipe_free(hdrs);
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(auth, sizeof(auth));
	OPENSSL_cleanse(rbuf, sizeof(rbuf));
	if (o.p != NULL) {
		OPENSSL_cleanse(o.p, o.cap);
		free(o.p);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* choosing the channel */

enum tk_notify_channel
tk_notify_channel_of(const char *contact)
{
	char num[TK_CONTACT_MAX];

	if (contact == NULL || contact[0] == '\0')
		return TK_NOTIFY_NONE;
	if (strchr(contact, '@') != NULL)
		return TK_NOTIFY_EMAIL;
	if (phone_norm(contact, num, sizeof(num)))
		return TK_NOTIFY_SMS;
	return TK_NOTIFY_NONE;
}

int
tk_notify_send(const tk_notify_config *cfg, const char *contact,
    const tk_message *m, tk_error *err)
{
	tk_message mm;

	switch (tk_notify_channel_of(contact)) {
	case TK_NOTIFY_EMAIL:
		if (cfg->smtp_url[0] == '\0')
			return tk_fail(err, TK_ERR_INVALID, "cannot send e-mail: "
			    "no smtp in the directory file's notify section; add "
			    "notify: smtp: {url, from} or use a phone contact"),
			    -1;
		mm = *m;
		mm.to = contact;
		return tk_mail_send(cfg, &mm, err);
	case TK_NOTIFY_SMS:
		if (cfg->sms_url[0] == '\0')
			return tk_fail(err, TK_ERR_INVALID, "cannot send an SMS: "
			    "no sms in the directory file's notify section; add "
			    "notify: sms: {url} or use an e-mail contact"), -1;
		return tk_sms_send(cfg, contact, m->text, err);
	case TK_NOTIFY_NONE:
		break;
	}
	return tk_fail(err, TK_ERR_INVALID, "cannot notify: the contact is "
	    "neither an e-mail address (NAME@DOMAIN) nor a phone number"), -1;
}
