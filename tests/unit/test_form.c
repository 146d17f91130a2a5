/*
 * test_form.c - unit tests for the console's request parsing
 * (web/form.c): urlencoded bodies (escapes, '+', empty pairs, repeated
 * fields, the field cap, malformed input refused whole), Cookie headers
 * (several cookies, quoting, prefixes of other names, oversize values)
 * and query lookups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "web/web_int.h"

static void
test_form_decodes_fields(void **state)
{
	static const char body[] = "login=alice&password=p%40ss+w%C3%B6rd"
	    "&&code=123456&signal=a&signal=b&empty=";
	web_form f;
	const char *sig[4];

	(void)state;
	assert_int_equal(web_form_parse(&f, body, strlen(body)), 0);
	assert_string_equal(web_form_get(&f, "login"), "alice");
	assert_string_equal(web_form_get(&f, "password"), "p@ss w\xc3\xb6rd");
	assert_string_equal(web_form_get(&f, "code"), "123456");
	assert_string_equal(web_form_get(&f, "empty"), "");
	assert_null(web_form_get(&f, "missing"));
	assert_int_equal(web_form_all(&f, "signal", sig, 4), 2);
	assert_string_equal(sig[0], "a");
	assert_string_equal(sig[1], "b");
	assert_int_equal(web_form_all(&f, "signal", sig, 1), 1);
	web_form_free(&f);
	assert_null(f.buf);
}

static void
test_form_empty_body(void **state)
{
	web_form f;

	(void)state;
	assert_int_equal(web_form_parse(&f, NULL, 0), 0);
	assert_int_equal(f.n, 0);
	assert_null(web_form_get(&f, "x"));
	web_form_free(&f);
}

static void
test_form_refuses_malformed(void **state)
{
	static const char *bad[] = {
		"a=%4", "a=%zz", "a=%", "a=%00", "novalue", "a=1&b",
		"%41%=1",
	};
	web_form f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(web_form_parse(&f, bad[i], strlen(bad[i])), -1);
		assert_null(f.buf);
	}
	/* an embedded NUL byte in the raw body */
	assert_int_equal(web_form_parse(&f, "a=1\0b=2", 7), -1);
}

static void
test_form_field_cap(void **state)
{
	char body[WEB_FORM_MAX * 8 + 16];
	size_t i, n = 0;
	web_form f;

	(void)state;
	for (i = 0; i < WEB_FORM_MAX; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%sk%zu=v",
		    i ? "&" : "", i);
	assert_int_equal(web_form_parse(&f, body, n), 0);
	assert_int_equal(f.n, WEB_FORM_MAX);
	web_form_free(&f);
	n += (size_t)snprintf(body + n, sizeof(body) - n, "&one=more");
	assert_int_equal(web_form_parse(&f, body, n), -1);
}

static void
test_cookie_lookup(void **state)
{
	char v[16];

	(void)state;
	assert_true(web_cookie("a=1; tk_session=abc; b=2", "tk_session", v,
	    sizeof(v)));
	assert_string_equal(v, "abc");
	assert_true(web_cookie("tk_session_old=x;tk_session=\"q\"",
	    "tk_session", v, sizeof(v)));
	assert_string_equal(v, "q");
	/* a longer name that starts with the wanted one is not it */
	assert_false(web_cookie("tk_sessionX=abc", "tk_session", v,
	    sizeof(v)));
	assert_false(web_cookie("tk_session=", "tk_session", v, sizeof(v)));
	assert_false(web_cookie(NULL, "tk_session", v, sizeof(v)));
	/* too long for the buffer: refused, not cut */
	assert_false(web_cookie("tk_session=0123456789abcdefg", "tk_session",
	    v, sizeof(v)));
	assert_true(web_cookie("x=1;   tk_pre=zz", "tk_pre", v, sizeof(v)));
	assert_string_equal(v, "zz");
}

static void
test_query_lookup(void **state)
{
	tk_http_req req;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.query[0].key = "family";
	req.query[0].value = "mfa";
	req.query[1].key = "mine";
	req.query[1].value = "1";
	req.nquery = 2;
	assert_string_equal(web_query(&req, "mine"), "1");
	assert_null(web_query(&req, "state"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_decodes_fields),
		cmocka_unit_test(test_form_empty_body),
		cmocka_unit_test(test_form_refuses_malformed),
		cmocka_unit_test(test_form_field_cap),
		cmocka_unit_test(test_cookie_lookup),
		cmocka_unit_test(test_query_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
