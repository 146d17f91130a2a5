/*
 * test_notify.c - unit tests for verify/notify.c that need no network:
 * header injection and malformed input are refused before anything is
 * sent, the channel is chosen from the contact's shape, missing channels
 * are named, and the built e-mail is well formed (RFC 5322 headers,
 * RFC 2047 subject, quoted-printable body with CRLF lines of at most 76
 * characters that decodes back to the text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "core/b64.h"
#include "verify/notify.h"

/* Nothing listens on port 9 (discard) on the test machine: a call that
 * got as far as connecting would fail with TK_ERR_INTERNAL, not
 * TK_ERR_INVALID. */
static void
cfg_init(tk_notify_config *c)
{
	memset(c, 0, sizeof(*c));
	(void)tk_strlcpy(c->smtp_url, "smtp://127.0.0.1:9", sizeof(c->smtp_url));
	(void)tk_strlcpy(c->smtp_from, "twokey@example.com",
	    sizeof(c->smtp_from));
	(void)tk_strlcpy(c->sms_url, "http://127.0.0.1:9/send",
	    sizeof(c->sms_url));
	c->timeout_ms = 2000;
}

static void
test_channel(void **state)
{
	(void)state;
	assert_int_equal(tk_notify_channel_of("jsmith@example.com"),
	    TK_NOTIFY_EMAIL);
	assert_int_equal(tk_notify_channel_of("+1 (555) 010-0100"),
	    TK_NOTIFY_SMS);
	assert_int_equal(tk_notify_channel_of("555.0100"), TK_NOTIFY_SMS);
	assert_int_equal(tk_notify_channel_of("0044 20 7946 0000"),
	    TK_NOTIFY_SMS);
	assert_int_equal(tk_notify_channel_of("12"), TK_NOTIFY_NONE);
	assert_int_equal(tk_notify_channel_of("1+23"), TK_NOTIFY_NONE);
	assert_int_equal(tk_notify_channel_of("call me"), TK_NOTIFY_NONE);
	assert_int_equal(tk_notify_channel_of("555 0100 ext 2"),
	    TK_NOTIFY_NONE);
	assert_int_equal(tk_notify_channel_of(""), TK_NOTIFY_NONE);
	assert_int_equal(tk_notify_channel_of(NULL), TK_NOTIFY_NONE);
}

struct refusal {
	const char *to, *subject, *text;
	enum tk_status status;
	const char *words;
};

static void
test_refusals(void **state)
{
	static const struct refusal r[] = {
		{"a@example.com\r\nBcc: x@evil.example", "s", "t",
		    TK_ERR_INVALID, "line break"},
		{"a@example.com\nBcc: x@evil.example", "s", "t",
		    TK_ERR_INVALID, "line break"},
		{"a@example.com", "hi\r\nBcc: x@evil.example", "t",
		    TK_ERR_INVALID, "subject contains a line break"},
		{"a@example.com", "hi\rBcc: x@evil.example", "t",
		    TK_ERR_INVALID, "subject contains a line break"},
		{"a@example.com", "bell\a", "t", TK_ERR_INVALID,
		    "control character"},
		{"A <a@example.com>", "s", "t", TK_ERR_INVALID,
		    "not one plain address"},
		{"a@example.com, b@example.com", "s", "t", TK_ERR_INVALID,
		    "not one plain address"},
		{"a@example.com;b@example.com", "s", "t", TK_ERR_INVALID,
		    "not one plain address"},
		{"a@@example.com", "s", "t", TK_ERR_INVALID,
		    "not one plain address"},
		{"@example.com", "s", "t", TK_ERR_INVALID,
		    "not one plain address"},
		{"a@localhost", "s", "t", TK_ERR_INVALID,
		    "not one plain address"},
		{"j\xc3\xbcrgen@example.com", "s", "t", TK_ERR_INVALID,
		    "not one plain address"},
		{NULL, "s", "t", TK_ERR_INVALID, "not one plain address"},
		{"a@example.com", "\xc3\x28", "t", TK_ERR_INVALID,
		    "subject is not valid UTF-8"},
		{"a@example.com", "s", "bad \xff byte", TK_ERR_INVALID,
		    "text is not valid UTF-8"},
		{"a@example.com", "s", "overlong \xc0\xaf", TK_ERR_INVALID,
		    "text is not valid UTF-8"},
		{"a@example.com", "s", "surrogate \xed\xa0\x80", TK_ERR_INVALID,
		    "text is not valid UTF-8"},
		{"a@example.com", "s", NULL, TK_ERR_INVALID, "no text"},
	};
	tk_notify_config cfg;
	tk_message m;
	tk_error err;
	size_t i;

	(void)state;
	cfg_init(&cfg);
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		m.to = r[i].to;
		m.subject = r[i].subject;
		m.text = r[i].text;
		memset(&err, 0, sizeof(err));
		assert_int_equal(tk_mail_send(&cfg, &m, &err), -1);
		if (err.status != r[i].status ||
		    strstr(err.msg, r[i].words) == NULL)
			fail_msg("case %zu: status %d, \"%s\"; want %d, %s", i,
			    err.status, err.msg, r[i].status, r[i].words);
		/* the injected text never reaches the error */
		assert_null(strstr(err.msg, "evil"));
		assert_null(strstr(err.msg, "127.0.0.1"));
	}
}

static void
test_too_large(void **state)
{
	tk_notify_config cfg;
	tk_message m;
	tk_error err;
	char *big;

	(void)state;
	cfg_init(&cfg);
	big = malloc(TK_MAIL_TEXT_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', TK_MAIL_TEXT_MAX + 1);
	big[TK_MAIL_TEXT_MAX + 1] = '\0';
	m.to = "a@example.com";
	m.subject = "s";
	m.text = big;
	assert_int_equal(tk_mail_send(&cfg, &m, &err), -1);
	assert_int_equal(err.status, TK_ERR_TOO_LARGE);
	big[TK_MAIL_SUBJECT_MAX + 1] = '\0';
	m.subject = big;
	m.text = "t";
	assert_int_equal(tk_mail_send(&cfg, &m, &err), -1);
	assert_int_equal(err.status, TK_ERR_TOO_LARGE);
	big[TK_SMS_TEXT_MAX + 1] = '\0';
	memset(big, 'a', TK_SMS_TEXT_MAX + 1);
	assert_int_equal(tk_sms_send(&cfg, "+15550100", big, &err), -1);
	assert_int_equal(err.status, TK_ERR_TOO_LARGE);
	free(big);
}

static void
test_not_configured(void **state)
{
	tk_notify_config cfg;
	tk_message m = {"ignored@example.com", "s", "t"};
	tk_error err;

	(void)state;
	cfg_init(&cfg);
	cfg.smtp_url[0] = '\0';
	assert_int_equal(tk_notify_send(&cfg, "a@example.com", &m, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_non_null(strstr(err.msg, "no smtp in the directory file's "
	    "notify section"));
	assert_int_equal(tk_mail_send(&cfg, &m, &err), -1);
	assert_non_null(strstr(err.msg, "no smtp in the directory file's "
	    "notify section"));
	cfg_init(&cfg);
	cfg.sms_url[0] = '\0';
	assert_int_equal(tk_notify_send(&cfg, "+1 555 0100", &m, &err), -1);
	assert_non_null(strstr(err.msg, "no sms in the directory file's "
	    "notify section"));
	assert_int_equal(tk_sms_send(&cfg, "+1 555 0100", "t", &err), -1);
	assert_non_null(strstr(err.msg, "no sms in the directory file's "
	    "notify section"));
	cfg_init(&cfg);
	assert_int_equal(tk_notify_send(&cfg, "the desk", &m, &err), -1);
	assert_non_null(strstr(err.msg, "neither an e-mail address"));
	assert_int_equal(tk_sms_send(&cfg, "555-CALL-NOW", "t", &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not a phone number"));
	/* the contact, not m->to, is the recipient: injection via contact */
	assert_int_equal(tk_notify_send(&cfg, "a@example.com\r\nBcc: b@x.io",
	    &m, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_non_null(strstr(err.msg, "line break"));
}

static void
test_secret_file(void **state)
{
	tk_notify_config cfg;
	tk_message m = {"a@example.com", "s", "t"};
	char path[] = "/tmp/twokey-smtp-pw-XXXXXX";
	tk_error err;
	int fd;

	(void)state;
	cfg_init(&cfg);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "pw\n", 3), 3);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, 0644), 0);
	(void)tk_strlcpy(cfg.smtp_user, "twokey", sizeof(cfg.smtp_user));
	(void)tk_strlcpy(cfg.smtp_password_file, path,
	    sizeof(cfg.smtp_password_file));
	assert_int_equal(tk_mail_send(&cfg, &m, &err), -1);
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_non_null(strstr(err.msg, "password_file"));
	(void)tk_strlcpy(cfg.sms_token_file, path, sizeof(cfg.sms_token_file));
	assert_int_equal(tk_sms_send(&cfg, "+15550100", "t", &err), -1);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_non_null(strstr(err.msg, "token_file"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(tk_mail_send(&cfg, &m, &err), -1);
	assert_non_null(strstr(err.msg, "No such file"));
}

/* ------------------------------------------------------------------ */
/* the built message */

static const char *
header(const char *msg, const char *name, char *buf, size_t size)
{
	const char *p = msg, *e;
	size_t n = strlen(name);

	while (p != NULL && strncmp(p, "\r\n", 2) != 0) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			e = strstr(p, "\r\n");
			while (e != NULL && e[2] == ' ')
				e = strstr(e + 2, "\r\n");
			if (e == NULL || (size_t)(e - p) >= size)
				return NULL;
			memcpy(buf, p + n + 2, (size_t)(e - p) - n - 2);
			buf[(e - p) - n - 2] = '\0';
			return buf;
		}
		p = strstr(p, "\r\n");
		if (p != NULL)
			p += 2;
	}
	return NULL;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a quoted-printable body (checking line lengths) into out. */
static void
qp_decode(const char *body, char *out, size_t size)
{
	size_t k = 0, col = 0;
	const char *p = body;

	while (*p != '\0') {
		assert_true(k + 3 < size);
		if (p[0] == '\r') {
			assert_int_equal(p[1], '\n');
			assert_true(col <= 76);
			out[k++] = '\r';
			out[k++] = '\n';
			p += 2;
			col = 0;
			continue;
		}
		assert_int_not_equal(p[0], '\n'); /* no bare LF */
		if (p[0] == '=' && p[1] == '\r') {
			assert_int_equal(p[2], '\n');
			assert_true(col + 1 <= 76);
			p += 3;
			col = 0;
			continue;
		}
		if (p[0] == '=') {
			assert_true(hexval(p[1]) >= 0 && hexval(p[2]) >= 0);
			out[k++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 3;
			col += 3;
			continue;
		}
		assert_true(((unsigned char)p[0] >= 0x20 || p[0] == '\t') &&
		    (unsigned char)p[0] < 0x7f && p[0] != '=');
		out[k++] = *p++;
		col++;
	}
	out[k] = '\0';
}

/* Decodes a subject of =?UTF-8?B?...?= words folded with CRLF SP. */
static void
ew_decode(const char *s, char *out, size_t size)
{
	size_t k = 0, n, got;
	const char *e;

	while (*s != '\0') {
		if (strncmp(s, "\r\n ", 3) == 0)
			s += 3;
		assert_int_equal(strncmp(s, "=?UTF-8?B?", 10), 0);
		e = strstr(s + 10, "?=");
		assert_non_null(e);
		assert_true(e + 2 - s <= 75);
		n = (size_t)(e - (s + 10));
		assert_int_equal(tk_b64_decode(s + 10, n,
		    (unsigned char *)out + k, size - k - 1, &got), 0);
		k += got;
		s = e + 2;
	}
	out[k] = '\0';
}

static void
test_build(void **state)
{
	tk_notify_config cfg;
	tk_message m;
	tk_error err;
	char *msg, hv[1024], dec[4096];
	const char *body;
	size_t len;

	(void)state;
	cfg_init(&cfg);
	/* ASCII: 7bit, lines as CRLF, dot lines left to libcurl */
	m.to = "jsmith@example.com";
	m.subject = "Your password was reset";
	m.text = "Hello,\nline two\r\n.\nend";
	assert_int_equal(tk_mail_build(&cfg, &m, 1700000000, &msg, &len, &err),
	    0);
	assert_int_equal(strlen(msg), len);
	assert_string_equal(header(msg, "From", hv, sizeof(hv)),
	    "twokey@example.com");
	assert_string_equal(header(msg, "To", hv, sizeof(hv)),
	    "jsmith@example.com");
	assert_string_equal(header(msg, "Subject", hv, sizeof(hv)),
	    "Your password was reset");
	assert_string_equal(header(msg, "Date", hv, sizeof(hv)),
	    "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_non_null(header(msg, "Message-ID", hv, sizeof(hv)));
	assert_int_equal(strlen(hv), 1 + 32 + 1 + strlen("example.com") + 1);
	assert_true(hv[0] == '<' && strcmp(hv + 33, "@example.com>") == 0);
	assert_string_equal(header(msg, "MIME-Version", hv, sizeof(hv)),
	    "1.0");
	assert_string_equal(header(msg, "Content-Type", hv, sizeof(hv)),
	    "text/plain; charset=utf-8");
	assert_string_equal(header(msg, "Content-Transfer-Encoding", hv,
	    sizeof(hv)), "7bit");
	body = strstr(msg, "\r\n\r\n");
	assert_non_null(body);
	assert_string_equal(body + 4, "Hello,\r\nline two\r\n.\r\nend\r\n");
	OPENSSL_cleanse(msg, len);
	free(msg);

	/* UTF-8: encoded-word subject, quoted-printable body */
	m.subject = "Zur\xc3\xbc" "cksetzen \xe2\x9c\x93 \xe2\x80\x94 "
	    "Passwort f\xc3\xbcr J\xc3\xbcrgen M\xc3\xbcller, bitte "
	    "best\xc3\xa4tigen \xf0\x9f\x94\x91";
	m.text = "Gr\xc3\xbc\xc3\x9f" "e J\xc3\xbcrgen,\n"
	    "Ihr tempor\xc3\xa4res Passwort: x=y \n"
	    "A very long line of ASCII that goes on and on and on past the "
	    "seventy-six character limit of quoted-printable lines, more "
	    "than twice, so that soft breaks are needed in the middle \xe2"
	    "\x9c\x93 of it.\n\tend";
	assert_int_equal(tk_mail_build(&cfg, &m, 1700000000, &msg, &len, &err),
	    0);
	assert_string_equal(header(msg, "Content-Transfer-Encoding", hv,
	    sizeof(hv)), "quoted-printable");
	assert_non_null(header(msg, "Subject", hv, sizeof(hv)));
	assert_non_null(strstr(hv, "\r\n ")); /* folded: several words */
	ew_decode(hv, dec, sizeof(dec));
	assert_string_equal(dec, m.subject);
	body = strstr(msg, "\r\n\r\n");
	assert_non_null(body);
	assert_non_null(strstr(body, "Gr=C3=BC=C3=9Fe"));
	assert_non_null(strstr(body, "x=3Dy=20\r\n")); /* '=' and a last blank */
	qp_decode(body + 4, dec, sizeof(dec));
	assert_string_equal(dec, "Gr\xc3\xbc\xc3\x9f" "e J\xc3\xbcrgen,\r\n"
	    "Ihr tempor\xc3\xa4res Passwort: x=y \r\n"
	    "A very long line of ASCII that goes on and on and on past the "
	    "seventy-six character limit of quoted-printable lines, more "
	    "than twice, so that soft breaks are needed in the middle \xe2"
	    "\x9c\x93 of it.\r\n\tend\r\n");
	OPENSSL_cleanse(msg, len);
	free(msg);

	/* a long ASCII line goes quoted-printable too */
	{
		char line[1200];

		memset(line, 'x', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\0';
		m.subject = "s";
		m.text = line;
		assert_int_equal(tk_mail_build(&cfg, &m, 0, &msg, &len, &err),
		    0);
		assert_string_equal(header(msg, "Content-Transfer-Encoding",
		    hv, sizeof(hv)), "quoted-printable");
		assert_string_equal(header(msg, "Date", hv, sizeof(hv)),
		    "Thu, 01 Jan 1970 00:00:00 +0000");
		body = strstr(msg, "\r\n\r\n");
		qp_decode(body + 4, dec, sizeof(dec));
		assert_int_equal(strlen(dec), sizeof(line) - 1 + 2);
		free(msg);
	}
	/* the same refusals as sending */
	m.to = "a@example.com\r\nBcc: b@example.com";
	assert_int_equal(tk_mail_build(&cfg, &m, 0, &msg, &len, &err), -1);
	assert_null(msg);
	assert_int_equal(err.status, TK_ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_channel),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_not_configured),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
