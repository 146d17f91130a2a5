/*
 * test_conn_body.c - unit tests for connectors/conn_body.c, what the scim,
 * webhook and exec connectors build and read: the capped buffer (cap,
 * truncation, failure sticks), JSON string escaping (checked by parsing it
 * back with jansson), UTF-8 validation, percent-encoding, the change
 * document (field order, optional group and secret, params checked), and
 * result excerpts (one line, cut on a character boundary, secret
 * redacted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "connectors/conn_body.h"

static void
test_sbuf_cap(void **st)
{
	tk_sbuf b;
	int i;

	(void)st;
	tk_sbuf_init(&b, 1000);
	for (i = 0; i < 100; i++)
		tk_sbuf_adds(&b, "0123456789");
	assert_false(b.failed);
	assert_int_equal(b.len, 1000);
	assert_int_equal(strlen(b.p), 1000);
	tk_sbuf_add(&b, "x", 1);
	assert_true(b.failed);
	tk_sbuf_adds(&b, "");           /* failure sticks */
	assert_int_equal(b.len, 1000);
	tk_sbuf_free(&b);
	assert_null(b.p);

	tk_sbuf_init(&b, 5);
	tk_sbuf_add_trunc(&b, "abcdefgh", 8);
	assert_false(b.failed);
	assert_true(b.truncated);
	assert_string_equal(b.p, "abcde");
	tk_sbuf_free(&b);
}

static void
json_round(const char *s)
{
	json_t *j;
	tk_sbuf b;

	tk_sbuf_init(&b, 4096);
	tk_sbuf_json_str(&b, s);
	assert_false(b.failed);
	j = json_loadb(b.p, b.len, JSON_DECODE_ANY, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(j), s);
	json_decref(j);
	tk_sbuf_free(&b);
}

static void
test_json_str(void **st)
{
	tk_sbuf b;

	(void)st;
	json_round("plain");
	json_round("a\" or userName pr or \"");
	json_round("back\\slash \x01\x1f tab\t nl\n");
	json_round("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x94\x91");
	tk_sbuf_init(&b, 64);
	tk_sbuf_json_str(&b, "a\"b\\c\n");
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\u000a\"");
	tk_sbuf_free(&b);
	/* invalid UTF-8 is refused, not passed on */
	tk_sbuf_init(&b, 64);
	tk_sbuf_json_str(&b, "bad \xc3(");
	assert_true(b.failed);
	tk_sbuf_free(&b);
}

static void
test_utf8(void **st)
{
	(void)st;
	assert_true(tk_utf8_valid("abc", 3));
	assert_true(tk_utf8_valid("\xc3\xa9", 2));
	assert_false(tk_utf8_valid("\xc3", 1));          /* cut */
	assert_false(tk_utf8_valid("\xc0\xaf", 2));      /* overlong */
	assert_false(tk_utf8_valid("\xed\xa0\x80", 3));  /* surrogate */
	assert_false(tk_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(tk_utf8_valid("a\0b", 3));
}

static void
test_pct(void **st)
{
	tk_sbuf b;

	(void)st;
	tk_sbuf_init(&b, 256);
	tk_sbuf_pct(&b, "userName eq \"a&b\"/~x");
	assert_string_equal(b.p,
	    "userName%20eq%20%22a%26b%22%2F~x");
	tk_sbuf_free(&b);
}

static void
test_change_json(void **st)
{
	tk_change ch;
	tk_sbuf b;
	tk_error err;
	json_t *j;

	(void)st;
	memset(&ch, 0, sizeof(ch));
	ch.op = TK_OP_PASSWORD_RESET;
	ch.case_id = "c_1";
	ch.idem_key = "c_1.2";
	ch.subject = "alice";
	ch.subject_kind = "person";
	ch.action = "password_reset";
	ch.secret = "S\"ecret";
	ch.params = "{\"reason\":\"forgot\"}";
	tk_sbuf_init(&b, 4096);
	assert_int_equal(tk_change_json(&ch, 0, 1790000000, &b, &err), 0);
	assert_string_equal(b.p, "{\"op\":\"password_reset\",\"case\":\"c_1\","
	    "\"idempotency_key\":\"c_1.2\",\"subject\":\"alice\","
	    "\"subject_kind\":\"person\",\"action\":\"password_reset\","
	    "\"params\":{\"reason\":\"forgot\"},"
	    "\"sent_at\":\"2026-09-21T14:13:20Z\"}");
	tk_sbuf_free(&b);
	ch.group = "G";
	tk_sbuf_init(&b, 4096);
	assert_int_equal(tk_change_json(&ch, 1, 1790000000, &b, &err), 0);
	j = json_loadb(b.p, b.len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "secret")),
	    "S\"ecret");
	assert_string_equal(json_string_value(json_object_get(j, "group")),
	    "G");
	json_decref(j);
	tk_sbuf_free(&b);
	/* params must be a JSON object */
	ch.params = "[1]";
	tk_sbuf_init(&b, 4096);
	assert_int_equal(tk_change_json(&ch, 0, 0, &b, &err), -1);
	assert_non_null(strstr(err.msg, "params"));
	tk_sbuf_free(&b);
	ch.params = "{\"a\":1";
	tk_sbuf_init(&b, 4096);
	assert_int_equal(tk_change_json(&ch, 0, 0, &b, &err), -1);
	tk_sbuf_free(&b);
	/* a body over the cap fails */
	ch.params = NULL;
	tk_sbuf_init(&b, 40);
	assert_int_equal(tk_change_json(&ch, 0, 0, &b, &err), -1);
	tk_sbuf_free(&b);
}

static void
test_excerpt(void **st)
{
	char out[64], big[4000];

	(void)st;
	tk_conn_excerpt("line one\n\n  line\ttwo  ", 22, 100, NULL, out,
	    sizeof(out));
	assert_string_equal(out, "line one line two");
	tk_conn_excerpt("pw is hunter22 ok hunter22", 26, 100, "hunter22",
	    out, sizeof(out));
	assert_string_equal(out, "pw is [redacted] ok [redacted]");
	tk_conn_excerpt("bad \xff byte", 10, 100, NULL, out, sizeof(out));
	assert_string_equal(out, "bad ? byte");
	/* cut never splits a character and says it was cut */
	memset(big, 0, sizeof(big));
	for (int i = 0; i < 1000; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	tk_conn_excerpt(big, 2000, 1000, NULL, out, sizeof(out));
	assert_true(strlen(out) <= sizeof(out) - 1);
	assert_true(tk_utf8_valid(out, strlen(out)));
	assert_non_null(strstr(out, "..."));
	tk_conn_excerpt(big, 2000, 7, NULL, out, sizeof(out));
	assert_string_equal(out, "\xc3\xa9\xc3\xa9\xc3\xa9...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sbuf_cap),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_pct),
		cmocka_unit_test(test_change_json),
		cmocka_unit_test(test_excerpt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
