/*
 * test_policy.c - unit tests for the policy loader and evaluator
 * (policy.c): the demo policy and its decisions, name tables, defaults,
 * and every refusal with its exact FILE:LINE:COL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/org.h"
#include "core/policy.h"

#define DEMO_POLICY "examples/demo/policy.yaml"

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n = 0;

	if (f == NULL)
		fail_msg("cannot open %s (run the tests from the repository"
		    " root)", path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		fail_msg("cannot size %s", path);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		fail_msg("cannot read %s", path);
	buf[n] = '\0';
	(void)fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
load_demo(void **state)
{
	tk_policy *p = calloc(1, sizeof(*p));
	tk_error err;
	size_t len;
	char *text;

	if (p == NULL)
		return -1;
	text = slurp(DEMO_POLICY, &len);
	memset(&err, 0, sizeof(err));
	if (tk_policy_load(p, text, len, DEMO_POLICY, &err) != 0) {
		print_error("demo policy: %s\n", err.msg);
		free(text);
		free(p);
		return -1;
	}
	free(text);
	*state = p;
	return 0;
}

static int
free_demo(void **state)
{
	tk_policy_free(*state);
	free(*state);
	return 0;
}

/* ---- facts built by hand (no org.c) ----------------------------------- */

static tk_subject
mk_subject(const char *id, enum tk_subject_kind kind, const char *l1,
    const char *l2)
{
	tk_subject s;

	memset(&s, 0, sizeof(s));
	(void)tk_strlcpy(s.id, id, sizeof(s.id));
	s.kind = kind;
	if (l1 != NULL)
		(void)tk_strlcpy(s.labels[s.nlabels++], l1, TK_NAME_MAX);
	if (l2 != NULL)
		(void)tk_strlcpy(s.labels[s.nlabels++], l2, TK_NAME_MAX);
	return s;
}

static tk_facts
mk_facts(const tk_subject *s, const char *action, const char *family,
    const char *ticket)
{
	tk_facts f;

	memset(&f, 0, sizeof(f));
	f.subject = s;
	f.action = action;
	f.family = family;
	f.channel = "phone";
	f.ticket = ticket;
	f.reason_code = "forgot_password";
	f.tier = "";
	return f;
}

static const char *
tier_of(const tk_policy *p, const tk_facts *f)
{
	tk_decision d;

	tk_policy_eval(p, f, &d);
	return d.tier != NULL ? d.tier->name : "(none)";
}

/* ---- the demo policy -------------------------------------------------- */

static void
test_demo_shape(void **state)
{
	const tk_policy *p = *state;
	const tk_require *r;

	assert_int_equal(p->version, 1);
	assert_string_equal(p->owner, "identity-governance");
	assert_int_equal(p->ntiers, 3);
	assert_int_equal(p->ndenies, 1);
	assert_int_equal(p->nfunctions, 7);
	assert_int_equal(p->nreason_codes, 8);
	assert_int_equal(strlen(p->digest), 16);
	assert_int_equal(strspn(p->digest, "0123456789abcdef"), 16);

	assert_string_equal(p->tiers[0].name, "critical");
	assert_string_equal(p->tiers[0].owner, "carol");
	assert_int_equal(p->tiers[0].line, 20);
	assert_non_null(strstr(p->tiers[0].when_src, "subject.labels has"));
	r = &p->tiers[0].req;
	assert_true(r->ticket);
	assert_true(r->reason_code);
	assert_int_equal(r->ev_count, 2);
	assert_int_equal(r->ev_methods, (1u << TK_METHOD_REGISTERED_FACTOR) |
	    (1u << TK_METHOD_CALLBACK_ON_FILE) | (1u << TK_METHOD_OUT_OF_BAND) |
	    (1u << TK_METHOD_MANAGER_ATTESTATION));
	assert_int_equal(r->ev_by_other, 1);
	assert_int_equal(r->ap_count, 2);
	assert_true(r->ap_distinct_functions);
	assert_int_equal(r->ap_nfrom_any, 3);
	assert_string_equal(r->ap_from_any[0], "security");
	assert_string_equal(r->ap_from_any[1], "pam");
	assert_string_equal(r->ap_from_any[2], "ir");
	assert_int_equal(r->ap_outside_chain, 1);
	assert_true(r->ap_owner);
	assert_int_equal(r->hold, 4 * 3600);
	assert_int_equal(r->approval_ttl, 3600);
	assert_int_equal(r->revoke, TK_REVOKE_SESSIONS | TK_REVOKE_TOKENS);
	assert_int_equal(r->post_review, 24 * 3600);

	assert_string_equal(p->tiers[1].name, "high");
	assert_string_equal(p->tiers[1].owner, "dave");
	r = &p->tiers[1].req;
	assert_int_equal(r->ev_count, 1);
	assert_int_equal(r->ev_by_other, 0);
	assert_int_equal(r->ap_count, 2);
	assert_int_equal(r->ap_nfrom_any, 0);
	assert_false(r->ap_owner);
	assert_int_equal(r->hold, 3600);
	assert_int_equal(r->revoke, TK_REVOKE_SESSIONS);
	assert_int_equal(r->post_review, 0);

	assert_string_equal(p->tiers[2].name, "standard");
	r = &p->tiers[2].req;
	assert_false(r->ticket);
	assert_false(r->reason_code);
	assert_int_equal(r->ev_count, 0);
	/* methods omitted: all methods */
	assert_int_equal(r->ev_methods, (1u << TK_METHOD__COUNT) - 1);
	assert_int_equal(r->ap_count, 1);
	assert_false(r->ap_distinct_functions);
	assert_int_equal(r->hold, 0);
	assert_int_equal(r->approval_ttl, 4 * 3600);

	assert_string_equal(p->denies[0].owner, "carol");
	assert_int_equal(p->denies[0].line, 55);
	assert_non_null(strstr(p->denies[0].reason, "need a ticket"));

	assert_int_equal(p->break_glass.nfunctions, 2);
	assert_string_equal(p->break_glass.functions[0], "ir");
	assert_string_equal(p->break_glass.functions[1], "security");
	assert_int_equal(p->break_glass.approvals, 1);
	assert_int_equal(p->break_glass.review_within, 24 * 3600);
}

static void
test_demo_digest(void **state)
{
	const tk_policy *p = *state;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[17];
	size_t len;
	char *text = slurp(DEMO_POLICY, &len);
	tk_policy q;
	tk_error err;

	assert_int_equal(EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL),
	    1);
	for (int i = 0; i < 8; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(p->digest, hex);
	/* a one-byte change gives another digest */
	text[2] = text[2] == 'X' ? 'Y' : 'X'; /* in a comment */
	assert_int_equal(tk_policy_load(&q, text, len, "x", &err), 0);
	assert_string_not_equal(q.digest, p->digest);
	tk_policy_free(&q);
	free(text);
}

static void
test_demo_tiers(void **state)
{
	const tk_policy *p = *state;
	tk_subject radmin = mk_subject("radmin", TK_SUBJECT_PERSON, "admin",
	    NULL);
	tk_subject svc = mk_subject("svc-payments", TK_SUBJECT_NHI,
	    "production", NULL);
	tk_subject pwhite = mk_subject("pwhite", TK_SUBJECT_PERSON, "executive",
	    "finance");
	tk_subject jsmith = mk_subject("jsmith", TK_SUBJECT_PERSON, NULL, NULL);
	tk_subject prodperson = mk_subject("pp", TK_SUBJECT_PERSON,
	    "production", NULL);
	const char *sig[] = {"new_device"};
	tk_facts f;

	f = mk_facts(&radmin, "password_reset", "password", "INC-1");
	assert_string_equal(tier_of(p, &f), "critical");
	f = mk_facts(&radmin, "mfa_reset", "mfa", "INC-1");
	assert_string_equal(tier_of(p, &f), "critical");
	f = mk_facts(&radmin, "role_grant", "role", "INC-1");
	assert_string_equal(tier_of(p, &f), "critical");
	f = mk_facts(&svc, "secret_rotate", "nhi", "INC-1");
	assert_string_equal(tier_of(p, &f), "critical");
	f = mk_facts(&pwhite, "password_reset", "password", "INC-1");
	assert_string_equal(tier_of(p, &f), "high");
	f = mk_facts(&jsmith, "mfa_reset", "mfa", "INC-1");
	assert_string_equal(tier_of(p, &f), "high");
	f = mk_facts(&jsmith, "account_reactivate", "reactivation", "INC-1");
	assert_string_equal(tier_of(p, &f), "high");
	f = mk_facts(&jsmith, "password_reset", "password", "");
	assert_string_equal(tier_of(p, &f), "standard");
	f.signals = sig;
	f.nsignals = 1;
	assert_string_equal(tier_of(p, &f), "high");
	/* "production" matters only for NHIs */
	f = mk_facts(&prodperson, "password_reset", "password", "");
	assert_string_equal(tier_of(p, &f), "standard");
}

static void
test_demo_deny(void **state)
{
	const tk_policy *p = *state;
	tk_subject pwhite = mk_subject("pwhite", TK_SUBJECT_PERSON, "executive",
	    "finance");
	tk_subject jsmith = mk_subject("jsmith", TK_SUBJECT_PERSON, NULL, NULL);
	tk_decision d;
	tk_facts f;

	/* high tier, no ticket: denied with the policy's reason */
	f = mk_facts(&pwhite, "mfa_reset", "mfa", "");
	tk_policy_eval(p, &f, &d);
	assert_non_null(d.tier);
	assert_string_equal(d.tier->name, "high");
	assert_non_null(d.deny);
	assert_ptr_equal(d.deny, &p->denies[0]);
	assert_non_null(strstr(d.deny->reason, "ticket"));
	/* the caller's facts are not modified */
	assert_string_equal(f.tier, "");
	/* high tier with a ticket: allowed */
	f.ticket = "INC-42";
	tk_policy_eval(p, &f, &d);
	assert_string_equal(d.tier->name, "high");
	assert_null(d.deny);
	/* standard tier without a ticket: allowed */
	f = mk_facts(&jsmith, "password_reset", "password", "");
	tk_policy_eval(p, &f, &d);
	assert_string_equal(d.tier->name, "standard");
	assert_null(d.deny);
	/* NULL ticket counts as empty */
	f = mk_facts(&pwhite, "mfa_reset", "mfa", NULL);
	tk_policy_eval(p, &f, &d);
	assert_non_null(d.deny);
}

static void
test_demo_lookups(void **state)
{
	const tk_policy *p = *state;

	assert_int_equal(tk_policy_caps(p, "helpdesk"), TK_CAP_INTAKE |
	    TK_CAP_VERIFY | TK_CAP_APPROVE | TK_CAP_EXECUTE);
	assert_int_equal(tk_policy_caps(p, "security"), TK_CAP_VERIFY |
	    TK_CAP_APPROVE | TK_CAP_REVIEW);
	assert_int_equal(tk_policy_caps(p, "owner"), TK_CAP_APPROVE_OWNED |
	    TK_CAP_ATTEST);
	assert_int_equal(tk_policy_caps(p, "manager"), TK_CAP_ATTEST);
	assert_int_equal(tk_policy_caps(p, "auditor"), 0);
	assert_int_equal(tk_policy_caps(p, ""), 0);
	assert_int_equal(tk_policy_caps(p, NULL), 0);
	assert_true(tk_policy_reason_valid(p, "forgot_password"));
	assert_true(tk_policy_reason_valid(p, "returning_employee"));
	assert_false(tk_policy_reason_valid(p, "because"));
	assert_false(tk_policy_reason_valid(p, ""));
	assert_false(tk_policy_reason_valid(p, NULL));
	assert_true(tk_policy_can_break_glass(p, "ir"));
	assert_true(tk_policy_can_break_glass(p, "security"));
	assert_false(tk_policy_can_break_glass(p, "helpdesk"));
	assert_false(tk_policy_can_break_glass(p, ""));
	assert_false(tk_policy_can_break_glass(p, NULL));
}

static void
test_name_tables(void **state)
{
	(void)state;
	for (int m = 0; m < TK_METHOD__COUNT; m++)
		assert_int_equal(tk_method_parse(tk_method_name(m)), m);
	assert_string_equal(tk_method_name(TK_METHOD_CALLBACK_ON_FILE),
	    "callback_on_file");
	assert_string_equal(tk_method_name(TK_METHOD__COUNT), "unknown");
	assert_int_equal(tk_method_parse("video_call"), TK_METHOD_VIDEO_CALL);
	assert_int_equal(tk_method_parse("telepathy"), -1);
	assert_int_equal(tk_method_parse(NULL), -1);
	assert_true(tk_method_needs_contact(TK_METHOD_CALLBACK_ON_FILE));
	assert_true(tk_method_needs_contact(TK_METHOD_OUT_OF_BAND));
	assert_false(tk_method_needs_contact(TK_METHOD_REGISTERED_FACTOR));
	assert_false(tk_method_needs_contact(TK_METHOD_MANAGER_ATTESTATION));
	assert_false(tk_method_needs_contact(TK_METHOD_ID_DOCUMENT));
	assert_false(tk_method_needs_contact(TK_METHOD_VIDEO_CALL));

	assert_int_equal(tk_revoke_parse("sessions"), TK_REVOKE_SESSIONS);
	assert_int_equal(tk_revoke_parse("tokens"), TK_REVOKE_TOKENS);
	assert_int_equal(tk_revoke_parse("credentials"), TK_REVOKE_CREDENTIALS);
	assert_int_equal(tk_revoke_parse("cookies"), -1);
	assert_int_equal(tk_revoke_parse(NULL), -1);
	assert_string_equal(tk_revoke_name(TK_REVOKE_TOKENS), "tokens");
	assert_string_equal(tk_revoke_name(TK_REVOKE_CREDENTIALS),
	    "credentials");
	assert_string_equal(tk_revoke_name(3), "unknown");

	assert_int_equal(tk_cap_parse("intake"), TK_CAP_INTAKE);
	assert_int_equal(tk_cap_parse("verify"), TK_CAP_VERIFY);
	assert_int_equal(tk_cap_parse("approve"), TK_CAP_APPROVE);
	assert_int_equal(tk_cap_parse("execute"), TK_CAP_EXECUTE);
	assert_int_equal(tk_cap_parse("review"), TK_CAP_REVIEW);
	assert_int_equal(tk_cap_parse("attest"), TK_CAP_ATTEST);
	assert_int_equal(tk_cap_parse("admin"), -1);
	assert_int_equal(tk_cap_parse(NULL), -1);
}

/* ---- small policies --------------------------------------------------- */

/* Four lines; tiers entries start on line 5. */
#define HEAD \
	"version: 1\n" \
	"owner: idgov\n" \
	"functions: {ir: [approve, intake], security: [approve], iam: [verify]}\n" \
	"tiers:\n"

/* One valid tier, lines 5-7. */
#define STD_TIER \
	"  - name: std\n" \
	"    when: 'true'\n" \
	"    require: {evidence: {count: 0}, approvals: {count: 1}," \
	" approval_ttl: 1h}\n"

static void
load_ok(const char *text, tk_policy *p)
{
	tk_error err;

	memset(&err, 0, sizeof(err));
	if (tk_policy_load(p, text, strlen(text), "t.yaml", &err) != 0)
		fail_msg("load failed: %s\n--- policy:\n%s", err.msg, text);
}

/* Loads text expecting the message to start with "t.yaml:" pos ": " and
 * contain want; checks that p is left zeroed. */
static void
load_bad(const char *text, const char *pos, const char *want)
{
	tk_policy p, zero;
	tk_error err;
	char prefix[64];

	memset(&p, 0x5a, sizeof(p));
	memset(&zero, 0, sizeof(zero));
	memset(&err, 0, sizeof(err));
	if (tk_policy_load(&p, text, strlen(text), "t.yaml", &err) == 0) {
		tk_policy_free(&p);
		fail_msg("policy loaded but should fail (%s):\n%s", want, text);
	}
	assert_int_equal(err.status, TK_ERR_INVALID);
	assert_memory_equal(&p, &zero, sizeof(p));
	(void)snprintf(prefix, sizeof(prefix), "t.yaml:%s: ", pos);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0 ||
	    strstr(err.msg, want) == NULL)
		fail_msg("got `%s`\nwant prefix `%s` and `%s`", err.msg, prefix,
		    want);
}

static void
test_small_ok(void **state)
{
	tk_policy p;
	tk_subject s = mk_subject("x", TK_SUBJECT_PERSON, NULL, NULL);
	tk_facts f = mk_facts(&s, "password_reset", "password", "");
	tk_decision d;

	(void)state;
	/* the tier falls back to the policy owner; no deny, no break-glass */
	load_ok(HEAD STD_TIER, &p);
	assert_string_equal(p.tiers[0].owner, "idgov");
	assert_int_equal(p.ndenies, 0);
	assert_int_equal(p.break_glass.nfunctions, 0);
	assert_false(tk_policy_can_break_glass(&p, "ir"));
	tk_policy_free(&p);
	assert_int_equal(p.ntiers, 0);
	assert_null(p.tiers);

	/* no top-level owner is fine when every rule has one; block style */
	load_ok("version: 1\n"
	    "tiers:\n"
	    "  - name: only_admins\n"
	    "    owner: carol@example.com\n"
	    "    when: \"subject.labels has \\\"admin\\\"\"\n"
	    "    require:\n"
	    "      evidence:\n"
	    "        count: 1\n"
	    "        methods: [id_document]\n"
	    "      approvals:\n"
	    "        count: 0\n"
	    "      approval_ttl: 15m\n"
	    "      revoke: [credentials]\n"
	    "deny:\n"
	    "  - when: tier == \"\"\n"
	    "    owner: dave\n"
	    "    reason: No tier matched.\n", &p);
	assert_string_equal(p.owner, "");
	assert_string_equal(p.tiers[0].owner, "carol@example.com");
	assert_int_equal(p.tiers[0].req.ev_methods, 1u << TK_METHOD_ID_DOCUMENT);
	assert_int_equal(p.tiers[0].req.revoke, TK_REVOKE_CREDENTIALS);
	assert_int_equal(p.tiers[0].req.approval_ttl, 900);
	/* no tier matches: tier is NULL and the deny rule sees tier "" */
	tk_policy_eval(&p, &f, &d);
	assert_null(d.tier);
	assert_non_null(d.deny);
	assert_string_equal(d.deny->reason, "No tier matched.");
	tk_policy_free(&p);
}

static void
test_long_when_src(void **state)
{
	char text[4096];
	char when[1200];
	size_t n = 0;
	tk_policy p;

	(void)state;
	while (n + 9 < 1100) {
		memcpy(when + n, "false or ", 9);
		n += 9;
	}
	memcpy(when + n, "true", 5);
	(void)snprintf(text, sizeof(text), HEAD "  - name: std\n"
	    "    when: '%s'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n", when);
	load_ok(text, &p);
	/* kept truncated for display, marked with ... */
	assert_int_equal(strlen(p.tiers[0].when_src), sizeof(p.tiers[0].when_src)
	    - 1);
	assert_string_equal(p.tiers[0].when_src + sizeof(p.tiers[0].when_src)
	    - 4, "...");
	tk_policy_free(&p);
}

static void
test_err_top_level(void **state)
{
	(void)state;
	load_bad("", "1:1", "the policy is empty");
	load_bad("- a\n- b\n", "1:1", "must be a mapping");
	load_bad("version: 1\nowner: x\ntierz: []\n", "3:1",
	    "unknown key `tierz` in the policy (did you mean `tiers`?)");
	load_bad("owner: x\ntiers: []\n", "1:1", "missing `version`");
	load_bad("version: 2\nowner: x\n", "1:10", "unsupported policy"
	    " `version: 2`");
	load_bad("version: \"1\"\n", "1:10", "must be a whole number");
	load_bad("version: 1\nowner: x\n", "1:1", "missing `tiers`");
	load_bad("version: 1\nowner: x\ntiers: []\n", "3:8", "`tiers` is empty");
	load_bad("version: 1\nowner: x\nowner: y\n", "3:1",
	    "duplicate key `owner` in the policy (first at line 2)");
	load_bad("version: 1\nowner: [a]\n", "2:8", "`owner` must be a single"
	    " value");
	load_bad("version: 1\nowner: two words\n", "2:8", "not a valid name");
	load_bad("version: 1\ntiers: [\n", "3:1", "YAML syntax error");
	load_bad(HEAD STD_TIER "---\nversion: 1\n", "9:1",
	    "more than one YAML document");
}

static void
test_err_owner(void **state)
{
	(void)state;
	load_bad("version: 1\n"
	    "tiers:\n"
	    "  - name: a\n"
	    "    owner: carol\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n"
	    "  - name: b\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n", "7:5", "tier `b` has no owner: add `owner:"
	    " LOGIN` to the tier, or a top-level `owner:`");
	load_bad("version: 1\n"
	    "tiers:\n"
	    "  - name: a\n"
	    "    owner: carol\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n"
	    "deny:\n"
	    "  - when: 'true'\n"
	    "    reason: x\n", "8:5", "deny rule 1 has no owner");
}

static void
test_err_tiers(void **state)
{
	(void)state;
	load_bad(HEAD STD_TIER
	    "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n", "8:11", "tier name `std` is used twice"
	    " (first at line 5)");
	load_bad(HEAD "  - name: std\n"
	    "    whne: 'true'\n", "6:5", "unknown key `whne` in tier `std`"
	    " (did you mean `when`?)");
	load_bad(HEAD "  - name: std\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n", "5:5", "tier `std` is missing `when`");
	load_bad(HEAD "  - when: 'true'\n", "5:5", "tier 1 is missing `name`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n", "5:5", "tier `std` is missing `require`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approval_ttl: 1h}\n", "7:14",
	    "missing `approvals`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {approvals: {count: 0}, approval_ttl: 1h}\n", "7:14",
	    "missing `evidence`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1}}\n",
	    "7:14", "missing `approval_ttl`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h, hodl: 4h}\n", "7:78",
	    "unknown key `hodl` in `require` of tier `std` (did you mean"
	    " `hold`?)");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {cuont: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n", "7:26", "unknown key `cuont` in `evidence`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1,"
	    " outside_chain: 1}, approval_ttl: 1h}\n", "7:59",
	    "unknown key `outside_chain` in `approvals`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {ticket: yes, evidence: {count: 0}, approvals:"
	    " {count: 1}, approval_ttl: 1h}\n", "7:23",
	    "`ticket` must be true or false (unquoted), got `yes`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {reason_code: true, evidence: {count: 0}, approvals:"
	    " {count: 1}, approval_ttl: 1h}\n", "7:28",
	    "the policy lists no `reason_codes`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: [1]\n", "7:14", "`require` must be a mapping");
}

static void
test_err_names(void **state)
{
	(void)state;
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 1, methods: [registered_factor,"
	    " telepathy]}, approvals: {count: 1}, approval_ttl: 1h}\n", "7:65",
	    "unknown evidence method `telepathy`; methods are:"
	    " registered_factor");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 1, methods: []}, approvals:"
	    " {count: 1}, approval_ttl: 1h}\n", "7:45", "`methods` is empty");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h, revoke: [sessions, cookies]}\n", "7:97",
	    "unknown revocation `cookies`; revocations are: sessions, tokens,"
	    " credentials");
	load_bad("version: 1\nowner: x\nfunctions:\n  helpdesk: [intake,"
	    " approve, reset]\n", "4:31", "unknown capability `reset` for"
	    " function `helpdesk`");
	load_bad("version: 1\nowner: x\nfunctions:\n  helpdesk: intake\n",
	    "4:13", "`helpdesk` must be a list");
	load_bad("version: 1\nowner: x\nfunctions: {a: [intake], a: [verify]}\n",
	    "3:26", "function `a` is listed twice");
	load_bad("version: 1\nowner: x\nreason_codes: [a, b, a]\n", "3:22",
	    "reason code `a` is listed twice");
	/* approvals.from_any: listed and able to approve */
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1,"
	    " from_any: [security, pam]}, approval_ttl: 1h}\n", "7:80",
	    "`from_any` names function `pam`, which is not listed in"
	    " `functions`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1,"
	    " from_any: [iam]}, approval_ttl: 1h}\n", "7:70",
	    "`from_any` names function `iam`, which cannot approve");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 0,"
	    " from_any: [ir]}, approval_ttl: 1h}\n", "7:69",
	    "`from_any` needs at least one approval");
}

static void
test_err_durations(void **state)
{
	(void)state;
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h, hold: 4 hours}\n", "7:84",
	    "`hold` is not a duration: `4 hours`; write a whole number and a"
	    " unit, like 30s, 15m, 4h or 7d");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1x}\n", "7:74", "`approval_ttl` is not a duration:"
	    " `1x`");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: -1h}\n", "7:74", "`approval_ttl` is not a duration");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 0s}\n", "7:74", "`approval_ttl` must be more than 0");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1},"
	    " approval_ttl: 1h, post_review: 24}\n", "7:91",
	    "`post_review` is not a duration");
	load_bad(HEAD STD_TIER "break_glass: {functions: [ir], approvals: 1,"
	    " review_within: 1 day}\n", "8:61", "`review_within` is not a"
	    " duration");
}

static void
test_err_counts(void **state)
{
	(void)state;
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: -1},"
	    " approval_ttl: 1h}\n", "7:56", "`count` cannot be negative (got"
	    " -1): use 0 or more");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 33}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n", "7:33", "`count` is 33, more than the"
	    " maximum 32");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 1.5}, approvals: {count: 1},"
	    " approval_ttl: 1h}\n", "7:33", "`count` must be a whole number");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 1, by_other_than_requester: 2},"
	    " approvals: {count: 1}, approval_ttl: 1h}\n", "7:61",
	    "`by_other_than_requester` (2) is more than the evidence `count`"
	    " (1)");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1,"
	    " outside_support_chain: 2}, approval_ttl: 1h}\n", "7:82",
	    "`outside_support_chain` (2) is more than the approvals `count`"
	    " (1)");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 1,"
	    " outside_support_chain: -1}, approval_ttl: 1h}\n", "7:82",
	    "cannot be negative");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'true'\n"
	    "    require: {evidence: {count: 0}, approvals: {count: 0,"
	    " owner: true}, approval_ttl: 1h}\n", "7:66",
	    "`owner: true` needs at least one approval");
	load_bad(HEAD STD_TIER "break_glass: {functions: [ir], approvals: 99,"
	    " review_within: 1h}\n", "8:43", "`approvals` is 99, more than the"
	    " maximum 32");
}

static void
test_err_break_glass(void **state)
{
	(void)state;
	load_bad(HEAD STD_TIER "break_glass: {functions: [ir, helpdesk],"
	    " approvals: 1, review_within: 24h}\n", "8:31", "`functions` names"
	    " function `helpdesk`, which is not listed in `functions`");
	load_bad("version: 1\nowner: x\n" "tiers:\n" STD_TIER
	    "break_glass: {functions: [ir], approvals: 1, review_within: 24h}\n",
	    "7:27", "`functions` names function `ir`, which is not listed");
	load_bad(HEAD STD_TIER "break_glass: {functions: [ir], approvals: 1}\n",
	    "8:14", "`break_glass` is missing `review_within`");
	load_bad(HEAD STD_TIER "break_glass: {functions: [], approvals: 1,"
	    " review_within: 1h}\n", "8:26", "`functions` is empty");
	load_bad(HEAD STD_TIER "break_glass: {functions: [ir], approvals: 1,"
	    " review_within: 1h, skip_hold: true}\n", "8:65",
	    "unknown key `skip_hold` in `break_glass`");
	load_bad(HEAD STD_TIER "break_glass: {functions: [ir], approvals: 1,"
	    " review_within: 0}\n", "8:61", "`review_within` must be more"
	    " than 0");
}

static void
test_err_when(void **state)
{
	(void)state;
	/* single-quoted: +1 for the quote */
	load_bad(HEAD "  - name: std\n"
	    "    when: 'action.family == \"mfa\" or subject.kind has \"x\"'\n",
	    "6:38", "in `when`: `has` needs a set on its left (subject.labels or"
	    " signals), got string subject.kind");
	/* double-quoted */
	load_bad(HEAD "  - name: std\n"
	    "    when: \"ticket == 'x'\"\n", "6:22",
	    "in `when`: strings are written in double quotes");
	/* plain */
	load_bad(HEAD "  - name: std\n"
	    "    when: subject.labels has_any [\"a\", \"b\"] or signalz has"
	    " \"x\"\n", "6:48", "unknown field `signalz`");
	/* in a flow sequence item */
	load_bad(HEAD "  - {name: std, when: 'true and', require: {}}\n",
	    "5:32", "in `when`: expected a value");
	load_bad(HEAD "  - name: std\n"
	    "    when: 'ticket == \"abc'\n", "6:22", "unterminated string");
	load_bad(HEAD "  - name: std\n"
	    "    when: ''\n", "6:12", "empty expression");
	/* tier is for deny rules only */
	load_bad(HEAD "  - name: std\n"
	    "    when: 'tier == \"std\"'\n", "6:12", "`tier` can only be used"
	    " in deny rules");
	/* escapes shift columns: point at the scalar instead */
	load_bad(HEAD "  - name: std\n"
	    "    when: 'it''s'\n", "6:11", "unknown field `it`");
	/* a multi-line scalar: point at the scalar */
	load_bad(HEAD "  - name: std\n"
	    "    when: >\n"
	    "      true and\n"
	    "      nope\n", "6:11", "unknown field `nope`");
	load_bad(HEAD "  - name: std\n"
	    "    when: [true]\n", "6:11", "`when` must be a single value");
}

static void
test_err_deny(void **state)
{
	(void)state;
	load_bad(HEAD STD_TIER "deny:\n"
	    "  - when: 'tier != \"standrad\" and ticket == \"\"'\n"
	    "    reason: x\n", "9:20", "no tier is named \"standrad\"; the tiers"
	    " are: std");
	load_bad(HEAD STD_TIER "deny:\n"
	    "  - when: 'tier in [\"std\", \"hihg\"]'\n"
	    "    reason: x\n", "9:28", "no tier is named \"hihg\"");
	load_bad(HEAD STD_TIER "deny:\n"
	    "  - when: 'ticket == \"\"'\n", "9:5", "deny rule 1 is missing"
	    " `reason`");
	load_bad(HEAD STD_TIER "deny:\n"
	    "  - when: 'ticket == \"\"'\n"
	    "    reason: ''\n", "10:13", "`reason` is empty");
	load_bad(HEAD STD_TIER "deny:\n"
	    "  - when: 'ticket == \"\"'\n"
	    "    reason: x\n"
	    "    reson: y\n", "11:5", "unknown key `reson` in deny rule 1");
	load_bad(HEAD STD_TIER "deny:\n"
	    "  - when: 'ticket = \"\"'\n"
	    "    reason: x\n", "9:19", "use `==`");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_demo_shape, load_demo,
		    free_demo),
		cmocka_unit_test_setup_teardown(test_demo_digest, load_demo,
		    free_demo),
		cmocka_unit_test_setup_teardown(test_demo_tiers, load_demo,
		    free_demo),
		cmocka_unit_test_setup_teardown(test_demo_deny, load_demo,
		    free_demo),
		cmocka_unit_test_setup_teardown(test_demo_lookups, load_demo,
		    free_demo),
		cmocka_unit_test(test_name_tables),
		cmocka_unit_test(test_small_ok),
		cmocka_unit_test(test_long_when_src),
		cmocka_unit_test(test_err_top_level),
		cmocka_unit_test(test_err_owner),
		cmocka_unit_test(test_err_tiers),
		cmocka_unit_test(test_err_names),
		cmocka_unit_test(test_err_durations),
		cmocka_unit_test(test_err_counts),
		cmocka_unit_test(test_err_break_glass),
		cmocka_unit_test(test_err_when),
		cmocka_unit_test(test_err_deny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
