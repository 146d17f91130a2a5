/*
 * test_expr.c - unit tests for the policy `when` language (expr.c):
 * every operator, precedence, parentheses, fields, type errors with exact
 * columns, lexer errors, the `tier` restriction and the caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/expr.h"
#include "core/org.h"

static tk_subject subj;
static const char *sigs[4];
static tk_facts facts;

/* jsmith-like person with `labels`, signals `s1`, `s2` (NULL = none). */
static void
setup_facts(enum tk_subject_kind kind, const char *l1, const char *l2,
    const char *s1, const char *s2)
{
	memset(&subj, 0, sizeof(subj));
	(void)tk_strlcpy(subj.id, "jsmith", sizeof(subj.id));
	subj.kind = kind;
	if (l1 != NULL)
		(void)tk_strlcpy(subj.labels[subj.nlabels++], l1, TK_NAME_MAX);
	if (l2 != NULL)
		(void)tk_strlcpy(subj.labels[subj.nlabels++], l2, TK_NAME_MAX);
	memset(&facts, 0, sizeof(facts));
	facts.subject = &subj;
	facts.action = "password_reset";
	facts.family = "password";
	facts.channel = "phone";
	facts.ticket = "INC-1";
	facts.reason_code = "forgot_password";
	facts.tier = "high";
	facts.nsignals = 0;
	if (s1 != NULL)
		sigs[facts.nsignals++] = s1;
	if (s2 != NULL)
		sigs[facts.nsignals++] = s2;
	facts.signals = sigs;
}

/* Compiles src (must succeed) and evaluates it on the current facts. */
static bool
ev_flags(const char *src, unsigned flags)
{
	tk_error err;
	int col = -1;
	tk_expr *e;
	bool r;

	memset(&err, 0, sizeof(err));
	e = tk_expr_compile(src, flags, &err, &col);
	if (e == NULL)
		fail_msg("compile of `%s` failed: %s", src, err.msg);
	assert_int_equal(col, 0);
	r = tk_expr_eval(e, &facts);
	tk_expr_free(e);
	return r;
}

static bool
ev(const char *src)
{
	return ev_flags(src, TK_EXPR_ALLOW_TIER);
}

/* Compiles src expecting failure at column `col` with `want` in msg. */
static void
bad_flags(const char *src, unsigned flags, int col, const char *want)
{
	tk_error err;
	int got = -1;
	char prefix[32];
	tk_expr *e;

	memset(&err, 0, sizeof(err));
	e = tk_expr_compile(src, flags, &err, &got);
	if (e != NULL) {
		tk_expr_free(e);
		fail_msg("`%s` compiled but should fail", src);
	}
	assert_int_equal(err.status, TK_ERR_INVALID);
	if (got != col)
		fail_msg("`%s`: column %d, want %d (%s)", src, got, col, err.msg);
	(void)snprintf(prefix, sizeof(prefix), "col %d: ", col);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
		fail_msg("`%s`: message `%s` lacks prefix `%s`", src, err.msg,
		    prefix);
	if (strstr(err.msg, want) == NULL)
		fail_msg("`%s`: message `%s` lacks `%s`", src, err.msg, want);
}

static void
bad(const char *src, int col, const char *want)
{
	bad_flags(src, TK_EXPR_ALLOW_TIER, col, want);
}

static void
test_literals(void **state)
{
	(void)state;
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	assert_true(ev("true"));
	assert_false(ev("false"));
	assert_true(ev("\"a\" == \"a\""));
	assert_false(ev("\"a\" == \"b\""));
	assert_true(ev("  true  "));
	assert_true(ev("\"a\\\"b\" == \"a\\\"b\""));
	assert_true(ev("\"a\\\\\" != \"a\""));
}

static void
test_eq_ne(void **state)
{
	(void)state;
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	assert_true(ev("subject.id == \"jsmith\""));
	assert_false(ev("subject.id != \"jsmith\""));
	assert_true(ev("\"jsmith\" == subject.id"));
	assert_true(ev("subject.kind == \"person\""));
	assert_false(ev("subject.kind == \"nhi\""));
	assert_true(ev("action.name == \"password_reset\""));
	assert_true(ev("action.family == \"password\""));
	assert_true(ev("channel == \"phone\""));
	assert_true(ev("ticket == \"INC-1\""));
	assert_true(ev("ticket != \"\""));
	assert_true(ev("reason_code == \"forgot_password\""));
	assert_true(ev("tier == \"high\""));
	assert_true(ev("tier != \"standard\""));
	assert_true(ev("subject.id == subject.id"));
	assert_false(ev("subject.id == action.name"));
	/* bools compare too */
	assert_true(ev("true == true"));
	assert_true(ev("true != false"));
	assert_true(ev("(ticket == \"\") == false"));
	setup_facts(TK_SUBJECT_NHI, NULL, NULL, NULL, NULL);
	assert_true(ev("subject.kind == \"nhi\""));
	assert_false(ev("subject.kind == \"person\""));
}

static void
test_sets(void **state)
{
	(void)state;
	setup_facts(TK_SUBJECT_PERSON, "executive", "finance", "new_device",
	    NULL);
	assert_true(ev("subject.labels has \"executive\""));
	assert_true(ev("subject.labels has \"finance\""));
	assert_false(ev("subject.labels has \"admin\""));
	assert_true(ev("signals has \"new_device\""));
	assert_false(ev("signals has \"unusual_geo\""));
	assert_true(ev("subject.labels has_any [\"admin\", \"finance\"]"));
	assert_false(ev("subject.labels has_any [\"admin\", \"shared\"]"));
	assert_true(ev("subject.labels has_all [\"executive\", \"finance\"]"));
	assert_false(ev("subject.labels has_all [\"executive\", \"admin\"]"));
	assert_true(ev("signals has_any [\"unusual_geo\", \"new_device\"]"));
	assert_false(ev("signals has_all [\"unusual_geo\", \"new_device\"]"));
	assert_true(ev("signals has_all [\"new_device\"]"));
	/* has with a string field on the right */
	assert_false(ev("subject.labels has subject.id"));
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	assert_false(ev("subject.labels has_any [\"admin\"]"));
	assert_false(ev("signals has \"new_device\""));
}

static void
test_in(void **state)
{
	(void)state;
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	assert_true(ev("action.family in [\"mfa\", \"password\"]"));
	assert_false(ev("action.family in [\"mfa\", \"reactivation\"]"));
	assert_true(ev("\"phone\" in [\"phone\"]"));
	assert_true(ev("channel in [\"chat\",\"phone\" , \"email\"]"));
}

static void
test_bool_ops(void **state)
{
	(void)state;
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	assert_true(ev("true and true"));
	assert_false(ev("true and false"));
	assert_false(ev("false and true"));
	assert_true(ev("true or false"));
	assert_true(ev("false or true"));
	assert_false(ev("false or false"));
	assert_false(ev("not true"));
	assert_true(ev("not false"));
	assert_true(ev("not not true"));
	assert_true(ev("true and true and true and true"));
	assert_false(ev("true and true and false and true"));
	assert_true(ev("false or false or false or true"));
	assert_false(ev("false or false or false or false"));
}

static void
test_precedence(void **state)
{
	(void)state;
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	/* and binds tighter than or */
	assert_true(ev("true or false and false"));
	assert_true(ev("false and false or true"));
	/* not binds tighter than and */
	assert_false(ev("not true and false"));
	assert_false(ev("not false and false"));
	/* not binds tighter than or */
	assert_true(ev("not true or true"));
	/* not applies to the whole comparison */
	assert_true(ev("not subject.id == \"x\""));
	assert_false(ev("not subject.labels has_any [\"a\"] and false"));
	/* parentheses override */
	assert_false(ev("(true or false) and false"));
	assert_false(ev("not (false or true)"));
	assert_true(ev("(((true)))"));
	assert_true(ev("(false or (true and (not false)))"));
}

static void
test_demo_expressions(void **state)
{
	const char *crit = "subject.labels has \"admin\" or (subject.kind =="
	    " \"nhi\" and subject.labels has \"production\")";
	const char *high = "action.family in [\"mfa\", \"reactivation\"] or"
	    " subject.labels has_any [\"executive\", \"finance\", \"contractor\","
	    " \"shared\"] or signals has_any [\"new_device\", \"unusual_geo\","
	    " \"recent_compromise\", \"recent_contact_change\"]";

	(void)state;
	setup_facts(TK_SUBJECT_PERSON, "admin", NULL, NULL, NULL);
	assert_true(ev_flags(crit, 0));
	setup_facts(TK_SUBJECT_NHI, "production", NULL, NULL, NULL);
	assert_true(ev_flags(crit, 0));
	setup_facts(TK_SUBJECT_PERSON, "production", NULL, NULL, NULL);
	assert_false(ev_flags(crit, 0));
	assert_false(ev_flags(high, 0));
	facts.family = "mfa";
	assert_true(ev_flags(high, 0));
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, "recent_contact_change",
	    NULL);
	assert_true(ev_flags(high, 0));
}

static void
test_missing_facts(void **state)
{
	tk_facts empty;
	tk_error err;
	tk_expr *e;

	(void)state;
	memset(&empty, 0, sizeof(empty));
	memset(&err, 0, sizeof(err));
	e = tk_expr_compile("subject.labels has \"a\" or signals has \"b\" or"
	    " subject.kind == \"\" and ticket == \"\" and tier == \"\" and"
	    " subject.id == \"\" and channel == \"\"", TK_EXPR_ALLOW_TIER, &err,
	    NULL);
	assert_non_null(e);
	assert_true(tk_expr_eval(e, &empty));
	assert_false(tk_expr_eval(NULL, &empty));
	tk_expr_free(e);
	tk_expr_free(NULL);
}

static void
test_type_errors(void **state)
{
	(void)state;
	/* the example from the docs: `has` needs a set */
	bad("action.family == \"mfa\" or subject.kind has \"x\"", 27,
	    "`has` needs a set on its left (subject.labels or signals), got"
	    " string subject.kind");
	bad("\"admin\" has \"x\"", 1, "`has` needs a set on its left");
	bad("subject.labels has [\"a\"]", 20,
	    "`has` needs a string on its right, got list");
	bad("subject.labels has signals", 20, "needs a string on its right,"
	    " got set signals");
	bad("subject.labels has_any \"a\"", 24, "`has_any` needs a [list]");
	bad("subject.labels has_all signals", 24, "`has_all` needs a [list]");
	bad("ticket has_any [\"a\"]", 1, "`has_any` needs a set on its left");
	bad("subject.labels in [\"a\"]", 1, "`in` needs a string on its left,"
	    " got set subject.labels");
	bad("ticket in \"a\"", 11, "`in` needs a [list] of strings");
	bad("ticket in signals", 11, "got set signals");
	bad("ticket == true", 11, "`==` compares two strings or two bools");
	bad("true != ticket", 9, "the left is bool true, the right is string"
	    " ticket");
	bad("subject.labels == \"admin\"", 1, "`==` compares two strings or"
	    " two bools, got set subject.labels");
	bad("ticket == [\"a\"]", 11, "use `in`");
	bad("ticket", 1, "must be true or false, got string ticket");
	bad("signals", 1, "must be true or false, got set signals");
	bad("[\"a\", \"b\"]", 1, "must be true or false, got list");
	bad("true and ticket", 10, "`and` needs true/false, got string ticket");
	bad("ticket or true", 1, "`or` needs true/false, got string ticket");
	bad("not channel", 5, "`not` needs true/false, got string channel");
	bad("true and signals", 10, "test it with has, has_any or has_all");
	bad("true or (false or [\"x\"])", 19, "a list can only follow");
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	bad("ticket == \"abc", 11, "unterminated string");
	bad("\"", 1, "unterminated string");
	bad("ticket == \"a\\nb\"", 13, "unknown escape");
	bad("ticket == 'x'", 11, "double quotes");
	bad("ticket = \"x\"", 8, "use `==`");
	bad("!true", 1, "use `not`");
	bad("true && false", 6, "use `and`");
	bad("true || false", 6, "use `or`");
	bad("ticket == \"x\" #", 15, "unexpected character `#`");
	bad("", 1, "empty expression");
	bad("   ", 4, "empty expression");
	bad("true false", 6, "unknown operator `false`");
	bad("action.family inn [\"mfa\"]", 15, "unknown operator `inn`:"
	    " expected ==, !=, has, has_any, has_all, in, and, or");
	bad("ticket == \"\" andd true", 14, "unknown operator `andd`");
	bad("(true) (false)", 8, "expected `and`, `or`, `)` or the end");
	bad("ticket == \"a\" == \"b\"", 15, "expected `and`, `or`");
	bad("(true", 6, "expected `)` to close the `(` at col 1, got the end");
	bad("(true or false))", 16, "expected `and`, `or`, `)` or the end");
	bad("true and", 9, "expected a value");
	bad("true and or false", 10, "got operator `or`");
	bad("ticket ==", 10, "expected a value");
	bad("ticket in []", 12, "empty list");
	bad("ticket in [\"a\" \"b\"]", 16, "expected `,` or `]` in the list"
	    " started at col 11");
	bad("ticket in [\"a\", ]", 17, "expected a \"string\" in the list");
	bad("ticket in [\"a\", ticket]", 17, "expected a \"string\"");
	bad("ticket in [\"a\"", 15, "expected `,` or `]`");
	/* columns count characters, not bytes */
	bad("ticket == \"\xc3\xa9t\xc3\xa9\" or x", 20, "unknown field `x`");
}

static void
test_unknown_fields(void **state)
{
	(void)state;
	bad("subject.name == \"x\"", 1, "unknown field `subject.name`; fields"
	    " are subject.id, subject.kind");
	bad("true and subject.label has \"x\"", 10,
	    "unknown field `subject.label`");
	bad("labels has \"admin\"", 1, "unknown field `labels`");
	bad("TRUE", 1, "unknown field `TRUE`");
}

static void
test_tier_restricted(void **state)
{
	(void)state;
	bad_flags("tier == \"high\"", 0, 1, "`tier` can only be used in deny"
	    " rules");
	bad_flags("true and tier != \"standard\"", 0, 10, "`tier` can only be"
	    " used in deny rules");
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	assert_true(ev_flags("tier == \"high\"", TK_EXPR_ALLOW_TIER));
}

static int
collect(const char *lit, int col, void *ctx)
{
	char *buf = ctx;
	size_t n = strlen(buf);

	(void)snprintf(buf + n, 256 - n, "%s@%d;", lit, col);
	return strcmp(lit, "stop") == 0 ? 7 : 0;
}

static void
test_tier_literals(void **state)
{
	char buf[256] = "";
	tk_error err;
	tk_expr *e;

	(void)state;
	e = tk_expr_compile("tier != \"standard\" and (\"high\" == tier or tier"
	    " in [\"a\", \"b\"]) and ticket == \"x\"", TK_EXPR_ALLOW_TIER, &err,
	    NULL);
	assert_non_null(e);
	assert_int_equal(tk_expr_tier_literals(e, collect, buf), 0);
	assert_string_equal(buf, "standard@9;high@25;a@52;b@57;");
	tk_expr_free(e);
	buf[0] = '\0';
	e = tk_expr_compile("tier == \"stop\" or tier == \"x\"",
	    TK_EXPR_ALLOW_TIER, &err, NULL);
	assert_non_null(e);
	assert_int_equal(tk_expr_tier_literals(e, collect, buf), 7);
	assert_string_equal(buf, "stop@9;");
	tk_expr_free(e);
}

static void
test_depth_cap(void **state)
{
	char buf[512];
	size_t n = 0;

	(void)state;
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	/* 64 levels of parentheses compile */
	for (int i = 0; i < 64; i++)
		buf[n++] = '(';
	memcpy(buf + n, "true", 4);
	n += 4;
	for (int i = 0; i < 64; i++)
		buf[n++] = ')';
	buf[n] = '\0';
	assert_true(ev(buf));
	/* 65 do not; the error points at the 65th `(` */
	n = 0;
	for (int i = 0; i < 65; i++)
		buf[n++] = '(';
	memcpy(buf + n, "true", 4);
	n += 4;
	for (int i = 0; i < 65; i++)
		buf[n++] = ')';
	buf[n] = '\0';
	bad(buf, 65, "nested deeper than 64 levels");
	/* `not` counts as a level */
	n = 0;
	for (int i = 0; i < 65; i++) {
		memcpy(buf + n, "not ", 4);
		n += 4;
	}
	memcpy(buf + n, "true", 5);
	bad(buf, 257, "nested deeper than 64 levels");
	for (int i = 0; i < 63; i++)
		memcpy(buf + 4 * i, "not ", 4);
	memcpy(buf + 4 * 63, "not true", 9);
	assert_true(ev(buf)); /* 64 nots: even */
}

static void
test_length_and_list_caps(void **state)
{
	char *big;
	char list[1024];
	size_t n = 0;

	(void)state;
	setup_facts(TK_SUBJECT_PERSON, NULL, NULL, NULL, NULL);
	big = malloc(5000);
	assert_non_null(big);
	/* exactly 4096 characters compile; a long `or` chain stays shallow */
	n = 0;
	while (n + 9 + 4 <= 4096) {
		memcpy(big + n, "false or ", 9);
		n += 9;
	}
	memcpy(big + n, "true", 4);
	n += 4;
	memset(big + n, ' ', 4096 - n);
	big[4096] = '\0';
	assert_true(ev(big));
	big[4096] = ' ';
	big[4097] = '\0';
	bad(big, 4097, "longer than 4096 characters");
	free(big);

	n = (size_t)snprintf(list, sizeof(list), "ticket in [");
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s\"t%d\"",
		    i ? "," : "", i);
	(void)snprintf(list + n, sizeof(list) - n, "]");
	assert_false(ev(list));
	list[n] = '\0';
	(void)snprintf(list + n, sizeof(list) - n, ",\"INC-1\"]");
	bad(list, (int)n + 2, "list has more than 64 items");
}

static void
test_eval_speed(void **state)
{
	const char *high = "action.family in [\"mfa\", \"reactivation\"] or"
	    " subject.labels has_any [\"executive\", \"finance\", \"contractor\","
	    " \"shared\"] or signals has_any [\"new_device\", \"unusual_geo\","
	    " \"recent_compromise\", \"recent_contact_change\"]";
	tk_error err;
	tk_expr *e;
	struct timespec a, b;
	volatile int hits = 0;
	const int rounds = 200000;
	double ns;

	(void)state;
	setup_facts(TK_SUBJECT_PERSON, "staff", NULL, "x", NULL);
	e = tk_expr_compile(high, 0, &err, NULL);
	assert_non_null(e);
	(void)clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < rounds; i++)
		hits += tk_expr_eval(e, &facts);
	(void)clock_gettime(CLOCK_MONOTONIC, &b);
	ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 +
	    (double)(b.tv_nsec - a.tv_nsec)) / rounds;
	assert_int_equal(hits, 0);
	print_message("    worst-case `high` expression: %.0f ns per eval\n",
	    ns);
	tk_expr_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_eq_ne),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_in),
		cmocka_unit_test(test_bool_ops),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_demo_expressions),
		cmocka_unit_test(test_missing_facts),
		cmocka_unit_test(test_type_errors),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_tier_restricted),
		cmocka_unit_test(test_tier_literals),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_length_and_list_caps),
		cmocka_unit_test(test_eval_speed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
