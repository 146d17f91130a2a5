/*
 * test_render.c - unit tests for the console's template renderer
 * (src/web/render.c): every inserted value is HTML-escaped; sections
 * repeat over arrays, render once for true, strings and objects, and not
 * for false, null, "", [] or a missing name; inverted sections do the
 * opposite; dotted names and {{.}}; partials from the embedded templates;
 * broken templates fail with a message naming the line; the layout wraps
 * a page; the assets are served with their types and may be cached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "web/web_int.h"

/* Renders src with data given as JSON text; returns the output (freed by
 * the caller) or NULL with err filled. */
static char *
r(const char *src, const char *data_json, tk_error *err)
{
	json_t *data = json_loads(data_json, 0, NULL);
	size_t len = 0;
	char *out;

	assert_non_null(data);
	memset(err, 0, sizeof(*err));
	out = web_render_string(src, strlen(src), data, &len, err);
	if (out != NULL)
		assert_int_equal(len, strlen(out));
	json_decref(data);
	return out;
}

static void
expect(const char *src, const char *data_json, const char *want)
{
	tk_error err;
	char *out = r(src, data_json, &err);

	if (out == NULL)
		fail_msg("render failed: %s", err.msg);
	assert_string_equal(out, want);
	free(out);
}

static void
expect_error(const char *src, const char *needle)
{
	tk_error err;
	char *out = r(src, "{}", &err);

	assert_null(out);
	assert_int_equal(err.status, TK_ERR_INTERNAL);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

static void
test_escaping(void **state)
{
	(void)state;
	expect("<p>{{x}}</p>", "{\"x\": \"<script>alert('1')</script> & \\\"q\\\"\"}",
	    "<p>&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt; &amp; "
	    "&quot;q&quot;</p>");
	/* attribute context: quotes cannot break out */
	expect("<a href=\"{{u}}\">", "{\"u\": \"\\\" onclick=\\\"x\"}",
	    "<a href=\"&quot; onclick=&quot;x\">");
	/* numbers, booleans, null */
	expect("{{i}} {{f}} {{t}} [{{n}}] [{{b}}]",
	    "{\"i\": 42, \"f\": 1.5, \"t\": true, \"n\": null, \"b\": false}",
	    "42 1.5 true [] []");
	/* objects and arrays print nothing (never their JSON) */
	expect("[{{o}}][{{a}}]", "{\"o\": {\"k\": \"<v>\"}, \"a\": [\"<v>\"]}",
	    "[][]");
	/* a name that is not there prints nothing */
	expect("a{{missing}}b{{deep.er.name}}c", "{}", "abc");
	/* no unescaped form exists */
	expect_error("{{{x}}}", "not supported");
	expect_error("{{&x}}", "not supported");
}

static void
test_sections(void **state)
{
	(void)state;
	expect("{{#xs}}<li>{{name}}</li>{{/xs}}",
	    "{\"xs\": [{\"name\": \"a\"}, {\"name\": \"<b>\"}]}",
	    "<li>a</li><li>&lt;b&gt;</li>");
	expect("{{#xs}}[{{.}}]{{/xs}}", "{\"xs\": [\"x\", 2, \"&\"]}",
	    "[x][2][&amp;]");
	expect("{{#t}}yes{{/t}}{{#f}}no{{/f}}{{#n}}no{{/n}}{{#e}}no{{/e}}"
	    "{{#z}}no{{/z}}{{#m}}no{{/m}}",
	    "{\"t\": true, \"f\": false, \"n\": null, \"e\": \"\", \"z\": []}",
	    "yes");
	expect("{{^t}}no{{/t}}{{^f}}1{{/f}}{{^n}}2{{/n}}{{^e}}3{{/e}}"
	    "{{^z}}4{{/z}}{{^m}}5{{/m}}{{^xs}}no{{/xs}}",
	    "{\"t\": true, \"f\": false, \"n\": null, \"e\": \"\", \"z\": [],"
	    " \"xs\": [1]}", "12345");
	/* an object section makes it the context; outer names stay visible */
	expect("{{#u}}{{name}}/{{csrf}}{{/u}}",
	    "{\"u\": {\"name\": \"Al\"}, \"csrf\": \"tok\"}", "Al/tok");
	/* a string section renders once, with the string as {{.}} */
	expect("{{#s}}<{{.}}>{{/s}}", "{\"s\": \"v&\"}", "<v&amp;>");
	/* dotted names */
	expect("{{a.b.c}}|{{a.b}}|{{a.x.c}}",
	    "{\"a\": {\"b\": {\"c\": \"deep\"}}}", "deep||");
	expect("{{#a.b}}{{c}}{{/a.b}}", "{\"a\": {\"b\": {\"c\": 1}}}", "1");
	/* an array item by index: "has any" tests */
	expect("{{#xs.0}}some:{{#xs}}{{.}}{{/xs}}{{/xs.0}}{{^ys.0}}none{{/ys.0}}"
	    "{{xs.1}}", "{\"xs\": [\"a\", \"b\"], \"ys\": []}", "some:abnoneb");
	/* nested arrays and the item's own fields shadowing outer ones */
	expect("{{#rows}}{{id}}:{{#tags}}{{.}},{{/tags}};{{/rows}}",
	    "{\"id\": \"outer\", \"rows\": [{\"id\": \"r1\", \"tags\": [\"x\","
	    " \"y\"]}, {\"tags\": []}]}", "r1:x,y,;outer:;");
	/* comments vanish; whitespace inside tags is allowed */
	expect("a{{! a note }}b{{ x }}c", "{\"x\": 1}", "ab1c");
}

static void
test_partials(void **state)
{
	(void)state;
	/* alert.html is embedded: {{#alert}} with role="alert" */
	tk_error err;
	char *out = r("<div>{{>alert}}</div>",
	    "{\"alert\": \"invariant 1: <you> requested it\"}", &err);

	assert_non_null(out);
	assert_non_null(strstr(out, "role=\"alert\""));
	assert_non_null(strstr(out, "invariant 1: &lt;you&gt; requested it"));
	free(out);
	out = r("<div>{{>alert}}</div>", "{}", &err);
	assert_non_null(out);
	assert_null(strstr(out, "role=\"alert\""));
	free(out);
	expect_error("{{>no_such_template}}", "no template named");
}

static void
test_broken(void **state)
{
	(void)state;
	expect_error("line one\n{{#open}}never closed", "never closed");
	expect_error("a\nb\n{{/x}}", "line 3");
	expect_error("{{#a}}{{/b}}", "different section");
	expect_error("x {{name", "never closed with '}}'");
	expect_error("{{}}", "needs a name");
	expect_error("{{a b}}", "may only have");
	expect_error("{{a..b}}", "malformed dotted name");
	expect_error("{{>a.b}}", "no dots");
}

static void
test_layout_and_assets(void **state)
{
	json_t *d = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:b}, s:s, "
	    "s:s, s:s}", "title", "<T>", "csrf", "c\"srf", "user", "login",
	    "alice", "name", "Alice A", "function", "helpdesk", "nav",
	    "queues", true, "heading", "Hello", "text", "body <text>",
	    "version", "0.1.0");
	tk_http_resp resp;
	size_t len = 0;
	tk_error err;
	char *s;

	(void)state;
	assert_non_null(d);
	memset(&resp, 0, sizeof(resp));
	web_page_send(&resp, 404, "notice", d);
	assert_int_equal(resp.status, 404);
	assert_true(resp.html);
	assert_true(resp.console);
	assert_false(resp.cacheable);
	assert_non_null(resp.text);
	assert_int_equal(resp.text_len, strlen(resp.text));
	assert_non_null(strstr(resp.text, "<title>&lt;T&gt; · twokey</title>"));
	assert_non_null(strstr(resp.text, "<h1>Hello</h1>"));
	assert_non_null(strstr(resp.text, "body &lt;text&gt;"));
	assert_non_null(strstr(resp.text, "value=\"c&quot;srf\""));
	assert_non_null(strstr(resp.text, "href=\"/queues\" aria-current"));
	assert_null(strstr(resp.text, "href=\"/policy\" aria-current"));
	assert_non_null(strstr(resp.text, "class=\"skip\" href=\"#main\""));
	assert_non_null(strstr(resp.text, "<main id=\"main\""));
	free(resp.text);

	/* an unknown page is a 500 with a fixed page, never a crash */
	memset(&resp, 0, sizeof(resp));
	web_page_send(&resp, 200, "no_such_page", d);
	assert_int_equal(resp.status, 500);
	assert_non_null(strstr(resp.text, "could not be shown"));
	free(resp.text);
	s = web_render("no_such_page", d, &len, &err);
	assert_null(s);
	assert_non_null(strstr(err.msg, "no_such_page"));
	json_decref(d);

	memset(&resp, 0, sizeof(resp));
	assert_true(web_asset("/assets/console.css", &resp));
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.ctype, "text/css; charset=utf-8");
	assert_true(resp.cacheable);
	assert_non_null(strstr(resp.text, ":focus-visible"));
	free(resp.text);
	memset(&resp, 0, sizeof(resp));
	assert_true(web_asset("/assets/console.js", &resp));
	assert_string_equal(resp.ctype, "text/javascript; charset=utf-8");
	free(resp.text);
	memset(&resp, 0, sizeof(resp));
	assert_false(web_asset("/assets/nope.css", &resp));
	assert_false(web_asset("layout.html", &resp)); /* templates are not assets */
	assert_null(resp.text);
}

/* Every embedded template parses (a broken one would be a 500 page). */
static void
test_all_templates_parse(void **state)
{
	static const char *const names[] = {"layout", "alert", "queues", "case",
	    "case_new", "preview", "break_glass", "reviews", "audit",
	    "policy", "explain", "notice"};
	json_t *d = json_object();

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tk_error err;
		size_t len;
		char *s;

		if (strcmp(names[i], "layout") == 0)
			continue; /* needs a body: covered by web_page_send */
		s = web_render(names[i], d, &len, &err);
		if (s == NULL)
			fail_msg("%s: %s", names[i], err.msg);
		free(s);
	}
	json_decref(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_partials),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_layout_and_assets),
		cmocka_unit_test(test_all_templates_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
