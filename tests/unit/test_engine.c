/*
 * test_engine.c - the case engine against the demo org and policy, with
 * an injected clock: every invariant refusal, the state machine, holds,
 * TTLs, break-glass, material changes, and the missing/eligible lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"

#define T0 1795000000 /* 2026-11-18 */

static tk_org org;
static tk_policy pol;

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
setup(void **state)
{
	tk_error err;
	size_t n;
	char *t;

	(void)state;
	t = slurp("examples/demo/org.yaml", &n);
	if (tk_org_load(&org, t, n, "org.yaml", &err) != 0)
		fail_msg("org: %s", err.msg);
	free(t);
	t = slurp("examples/demo/policy.yaml", &n);
	if (tk_policy_load(&pol, t, n, "policy.yaml", &err) != 0)
		fail_msg("policy: %s", err.msg);
	free(t);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tk_org_free(&org);
	tk_policy_free(&pol);
	return 0;
}

static tk_ctx
at(tk_time now)
{
	tk_ctx x = {&pol, &org, now};
	return x;
}

static tk_case *
open_case(tk_time now, const char *who, const char *subject,
    const char *action, const char *ticket, const char *reason)
{
	tk_case *c = calloc(1, sizeof(*c));
	tk_ctx x = at(now);
	tk_open_req r = {0};
	tk_events ev = {0};
	tk_error err;

	assert_non_null(c);
	r.subject = subject;
	r.action = action;
	r.channel = "phone";
	r.ticket = ticket;
	r.reason_code = reason;
	r.params = "{}";
	if (tk_engine_open(&x, who, "c_0000000000000001", &r, c, &ev,
	    &err) != TK_OK)
		fail_msg("open: %s", err.msg);
	assert_true(ev.n >= 1);
	assert_string_equal(ev.ev[0].kind, "case.opened");
	return c;
}

/* Runs fn on a copy and asserts the refusal left the case untouched. */
#define REFUSED(expect_status, expect_inv, call)                         \
	do {                                                             \
		tk_case *snap_ = malloc(sizeof(*c));                     \
		tk_error err_;                                           \
		tk_events ev_ = {0};                                     \
		enum tk_status st_;                                      \
		assert_non_null(snap_);                                  \
		memcpy(snap_, c, sizeof(*c));                            \
		tk_error *err = &err_; (void)err;                                   \
		tk_events *ev = &ev_;                                    \
		st_ = (call);                                            \
		if (st_ != (expect_status))                              \
			fail_msg("expected %s got %s: %s",               \
			    tk_status_code(expect_status),               \
			    tk_status_code(st_), err_.msg);              \
		if ((expect_inv) != 0)                                   \
			assert_int_equal(err_.invariant, (expect_inv));  \
		assert_int_equal(ev_.n, 0);                              \
		assert_memory_equal(snap_, c, sizeof(*c));               \
		free(snap_);                                             \
	} while (0)

#define OK(call)                                                         \
	do {                                                             \
		tk_error err_;                                           \
		tk_events ev_ = {0};                                     \
		tk_error *err = &err_; (void)err;                                   \
		tk_events *ev = &ev_;                                    \
		enum tk_status st_ = (call);                             \
		if (st_ != TK_OK)                                        \
			fail_msg("%s: %s", tk_status_code(st_),          \
			    err_.msg);                                   \
		assert_true(ev_.n >= 1);                                 \
	} while (0)

static enum tk_status
approve(tk_time now, tk_case *c, const char *who, tk_events *ev,
    tk_error *err)
{
	tk_ctx x = at(now);
	return tk_engine_decide(&x, c, who, true, "ok", ev, err);
}

static enum tk_status
evidence(tk_time now, tk_case *c, const char *who, const char *method,
    const char *contact, tk_events *ev, tk_error *err)
{
	tk_ctx x = at(now);
	/* as the app passes them once it checked the code or the link */
	tk_evidence_req r = {method, contact, "pass", "ref", true};
	return tk_engine_add_evidence(&x, c, who, &r, ev, err);
}

/* What a client alone may claim. */
static enum tk_status
evidence_claimed(tk_time now, tk_case *c, const char *who,
    const char *method, const char *contact, tk_events *ev, tk_error *err)
{
	tk_ctx x = at(now);
	tk_evidence_req r = {method, contact, "pass", "ref", false};
	return tk_engine_add_evidence(&x, c, who, &r, ev, err);
}

static tk_case *
ready_reset(void)
{
	tk_case *c = open_case(T0, "alice", "jsmith", "password_reset", "",
	    "");
	OK(approve(T0 + 10, c, "bob", ev, err));
	assert_int_equal(c->state, TK_STATE_READY);
	return c;
}

static enum tk_status
exec_begin(tk_time now, tk_case *c, const char *who, tk_events *ev,
    tk_error *err)
{
	tk_ctx x = at(now);
	return tk_engine_execute_begin(&x, c, who, "corp-ldap", ev, err);
}

static enum tk_status
exec_end(tk_time now, tk_case *c, enum tk_exec_outcome o, unsigned revoked,
    tk_events *ev, tk_error *err)
{
	tk_ctx x = at(now);
	tk_exec_result r = {o, "target says so", revoked, 0, NULL,
	    o == TK_EXEC_DONE ? "jsmith@example.com" : NULL,
	    o == TK_EXEC_DONE ? now + 86400 : 0, false};
	return tk_engine_execute_end(&x, c, &r, ev, err);
}

static enum tk_status
execute(tk_time now, tk_case *c, const char *who, unsigned revoked,
    tk_events *ev, tk_error *err)
{
	tk_ctx x = at(now);
	tk_execute_req r = {"manual", "reset in the IdP", revoked};
	return tk_engine_execute(&x, c, who, &r, ev, err);
}

static bool
eligible_has(const tk_missing_item *it, const char *who)
{
	for (int i = 0; i < it->neligible; i++)
		if (strcmp(it->eligible[i], who) == 0)
			return true;
	return false;
}

static const tk_missing_item *
find_need(const tk_missing *m, const char *needle)
{
	for (int i = 0; i < m->n; i++)
		if (strstr(m->item[i].need, needle) != NULL)
			return &m->item[i];
	return NULL;
}

static void
test_factor_and_oob_only_when_checked(void **state)
{
	tk_case *c = open_case(T0, "alice", "radmin", "mfa_reset", "INC-1",
	    "lost_device");
	(void)state;
	REFUSED(TK_ERR_INVALID, 0, evidence_claimed(T0 + 1, c, "bob",
	    "registered_factor", NULL, ev, err));
	REFUSED(TK_ERR_INVALID, 0, evidence_claimed(T0 + 1, c, "bob",
	    "out_of_band", "radmin@example.com", ev, err));
	OK(evidence_claimed(T0 + 1, c, "bob", "callback_on_file",
	    "+1 555 0103", ev, err));
	OK(evidence(T0 + 2, c, "dave", "registered_factor", NULL, ev, err));
	assert_int_equal(c->state, TK_STATE_APPROVING);
	free(c);
}

static void
test_connector_execution_outcomes(void **state)
{
	tk_case *c = ready_reset();
	(void)state;
	/* the same separation of duties as a manual execution */
	REFUSED(TK_ERR_SOD, 4, exec_begin(T0 + 20, c, "bob", ev, err));
	REFUSED(TK_ERR_SOD, 4, exec_begin(T0 + 20, c, "alice", ev, err));
	OK(exec_begin(T0 + 20, c, "erin", ev, err));
	assert_int_equal(c->state, TK_STATE_EXECUTING);
	assert_int_equal(c->attempts, 1);
	assert_string_equal(c->idem_key, "c_0000000000000001.1");
	/* executing: no second start */
	REFUSED(TK_ERR_WRONG_STATE, 0, exec_begin(T0 + 21, c, "erin", ev,
	    err));
	OK(exec_end(T0 + 22, c, TK_EXEC_FAILED, 0, ev, err));
	assert_int_equal(c->state, TK_STATE_FAILED);
	assert_string_equal(c->failure, "target says so");
	/* a retry is a new attempt with a new key */
	OK(exec_begin(T0 + 30, c, "erin", ev, err));
	assert_string_equal(c->idem_key, "c_0000000000000001.2");
	OK(exec_end(T0 + 31, c, TK_EXEC_DONE, TK_REVOKE_SESSIONS, ev, err));
	assert_int_equal(c->state, TK_STATE_EXECUTED);
	assert_string_equal(c->cred_to, "jsmith@example.com");
	REFUSED(TK_ERR_WRONG_STATE, 0, exec_end(T0 + 32, c, TK_EXEC_DONE, 0,
	    ev, err));
	free(c);
}

static void
test_unknown_outcome_and_pending_revocation(void **state)
{
	tk_case *c = ready_reset();
	tk_ctx x = at(T0 + 40);
	(void)state;
	OK(exec_begin(T0 + 20, c, "erin", ev, err));
	OK(exec_end(T0 + 21, c, TK_EXEC_UNKNOWN, 0, ev, err));
	assert_int_equal(c->state, TK_STATE_OUTCOME_UNKNOWN);
	assert_true(tk_state_is_open(c->state));
	/* never run again blindly: a person settles it */
	REFUSED(TK_ERR_WRONG_STATE, 0, exec_begin(T0 + 22, c, "erin", ev,
	    err));
	REFUSED(TK_ERR_SOD, 4, tk_engine_resolve(&x, c, "bob", true,
	    "checked", ev, err));
	REFUSED(TK_ERR_INVALID, 0, tk_engine_resolve(&x, c, "erin", true, "",
	    ev, err));
	/* done, but the tier's session revocation was not: pending */
	OK(tk_engine_resolve(&x, c, "erin", true, "password changed at "
	    "10:02 in the directory", ev, err));
	assert_int_equal(c->state, TK_STATE_REVOCATION_PENDING);
	assert_int_equal(c->revoke_pending, TK_REVOKE_SESSIONS);
	OK(tk_engine_resolve(&x, c, "erin", true, "sessions ended by hand",
	    ev, err));
	assert_int_equal(c->state, TK_STATE_EXECUTED);
	assert_int_equal(c->revoke_pending, 0);
	free(c);
}

static void
test_signal_extends_hold(void **state)
{
	tk_case *c = open_case(T0, "alice", "pwhite", "password_reset",
	    "INC-9", "forgot_password");
	tk_ctx x;
	tk_time until;
	(void)state;
	OK(evidence(T0 + 1, c, "bob", "callback_on_file", "+1 555 0102", ev,
	    err));
	OK(approve(T0 + 2, c, "carol", ev, err));
	OK(approve(T0 + 3, c, "frank", ev, err));
	assert_int_equal(c->state, TK_STATE_ON_HOLD);
	until = c->hold_until;
	x = at(T0 + 600);
	REFUSED(TK_ERR_INVALID, 0, tk_engine_add_signal(&x, c, "alice", "",
	    ev, err));
	REFUSED(TK_ERR_FORBIDDEN, 0, tk_engine_add_signal(&x, c, "ivan",
	    "unusual_geo", ev, err));
	OK(tk_engine_add_signal(&x, c, "alice", "unusual_geo", ev, err));
	assert_true(c->hold_until > until);
	assert_int_equal(c->hold_until, T0 + 600 + c->req.hold_extension);
	assert_string_equal(c->signals[c->nsignals - 1], "unusual_geo");
	free(c);
}

/* params are stored in the canonical form the digest covers, whatever
 * form the caller used, so the case reads back with the same digest. */
static void
test_params_canonical(void **state)
{
	tk_case c, back;
	tk_ctx x = at(T0);
	tk_open_req r = {0};
	tk_events ev = {0};
	tk_error err;
	json_t *j;
	static const char *const bad[] = {
		"[]", "{\"a\": 1}", "{\"a\": \"1\", \"a\": \"2\"}", "{",
		"{\"\": \"x\"}",
	};
	(void)state;

	r.subject = "jsmith";
	r.action = "password_reset";
	r.channel = "phone";
	r.reason_code = "forgot_password";
	r.params = "{ \"b\": \"2\",  \"a\": \"1\" }";
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_OK);
	assert_string_equal(c.params, "{\"a\":\"1\",\"b\":\"2\"}");
	j = tk_case_to_json(&c);
	assert_non_null(j);
	assert_int_equal(tk_case_from_json(&back, j, &err), 0);
	assert_memory_equal(back.digest, c.digest, TK_DIGEST_LEN);
	json_decref(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ev.n = 0;
		r.params = bad[i];
		assert_int_equal(tk_engine_open(&x, "alice", "c_2", &r, &c, &ev,
		    &err), TK_ERR_INVALID);
		assert_non_null(strstr(err.msg, "params"));
	}
}

static void
test_standard_password_reset(void **state)
{
	tk_case *c = open_case(T0, "alice", "jsmith", "password_reset", "",
	    "");
	(void)state;
	assert_string_equal(c->tier, "standard");
	assert_int_equal(c->state, TK_STATE_APPROVING);
	REFUSED(TK_ERR_SOD, 1, approve(T0, c, "alice", ev, err));
	OK(approve(T0 + 10, c, "bob", ev, err));
	assert_int_equal(c->state, TK_STATE_READY);
	REFUSED(TK_ERR_SOD, 4, execute(T0 + 20, c, "bob", 0, ev, err));
	REFUSED(TK_ERR_SOD, 4, execute(T0 + 20, c, "alice", 0, ev, err));
	OK(execute(T0 + 20, c, "erin", TK_REVOKE_SESSIONS, ev, err));
	assert_int_equal(c->state, TK_STATE_EXECUTED);
	assert_int_equal(c->revoke_pending, 0);
	free(c);
}

static void
test_critical_mfa_reset(void **state)
{
	tk_case *c = open_case(T0, "alice", "radmin", "mfa_reset", "INC-1",
	    "lost_device");
	tk_ctx x;
	tk_missing m;
	const tk_missing_item *it;
	tk_events evs = {0};
	(void)state;

	assert_string_equal(c->tier, "critical");
	assert_string_equal(c->rule_owner, "carol");
	assert_int_equal(c->state, TK_STATE_VERIFYING);
	/* the requester's own evidence does not satisfy by_other_than */
	OK(evidence(T0 + 1, c, "alice", "callback_on_file", "+1 555 0103", ev,
	    err));
	assert_int_equal(c->state, TK_STATE_VERIFYING);
	OK(evidence(T0 + 2, c, "alice", "out_of_band", "radmin@example.com",
	    ev, err));
	assert_int_equal(c->state, TK_STATE_VERIFYING);
	x = at(T0 + 2);
	tk_engine_missing(&x, c, &m);
	it = find_need(&m, "other than the requester");
	assert_non_null(it);
	assert_false(eligible_has(it, "alice"));
	assert_true(eligible_has(it, "bob"));
	assert_false(eligible_has(it, "radmin"));
	OK(evidence(T0 + 3, c, "bob", "out_of_band", "radmin@example.com", ev,
	    err));
	assert_int_equal(c->state, TK_STATE_APPROVING);

	OK(approve(T0 + 4, c, "bob", ev, err));
	/* grace owns svc-payments, not radmin: approve_owned does not reach */
	REFUSED(TK_ERR_FORBIDDEN, 0, approve(T0 + 4, c, "grace", ev, err));
	OK(approve(T0 + 5, c, "erin", ev, err));
	assert_int_equal(c->state, TK_STATE_APPROVING);
	x = at(T0 + 5);
	tk_engine_missing(&x, c, &m);
	it = find_need(&m, "security, pam or ir");
	assert_non_null(it);
	assert_true(eligible_has(it, "carol"));
	assert_true(eligible_has(it, "frank"));
	assert_false(eligible_has(it, "bob"));
	it = find_need(&m, "outside alice's support chain");
	assert_non_null(it);
	assert_true(eligible_has(it, "carol"));
	assert_true(eligible_has(it, "dave"));
	assert_false(eligible_has(it, "erin"));
	assert_false(eligible_has(it, "alice"));
	assert_false(eligible_has(it, "grace"));

	OK(approve(T0 + 6, c, "carol", ev, err));
	assert_int_equal(c->state, TK_STATE_ON_HOLD);
	assert_int_equal(c->hold_until, T0 + 6 + 4 * 3600);
	REFUSED(TK_ERR_WRONG_STATE, 0, execute(T0 + 60, c, "frank", 3, ev,
	    err));
	/* invariants hold whatever the state */
	REFUSED(TK_ERR_FORBIDDEN, 0, execute(T0 + 60, c, "carol", 3, ev, err));
	REFUSED(TK_ERR_SOD, 4, execute(T0 + 60, c, "bob", 3, ev, err));

	x = at(T0 + 6 + 4 * 3600);
	assert_true(tk_engine_refresh(&x, c, &evs));
	assert_int_equal(c->state, TK_STATE_READY);
	assert_string_equal(evs.ev[evs.n - 1].kind, "hold.ended");
	/* the approvals are older than approval_ttl now but locked in */
	REFUSED(TK_ERR_SOD, 4, execute(x.now, c, "erin", 3, ev, err));
	REFUSED(TK_ERR_SOD, 4, execute(x.now, c, "alice", 3, ev, err));
	OK(execute(x.now + 1, c, "frank", TK_REVOKE_SESSIONS, ev, err));
	assert_int_equal(c->state, TK_STATE_REVIEW);
	assert_int_equal(c->revoke_pending, TK_REVOKE_TOKENS);
	assert_int_equal(c->review_due, x.now + 1 + 24 * 3600);
	free(c);
}

static void
test_ready_window_expires(void **state)
{
	tk_case *c = open_case(T0, "alice", "jsmith", "password_reset", "",
	    "");
	tk_ctx x;
	(void)state;

	OK(approve(T0, c, "bob", ev, err));
	assert_int_equal(c->state, TK_STATE_READY);
	x = at(T0 + 4 * 3600);
	assert_true(tk_engine_refresh(&x, c, NULL));
	assert_int_equal(c->state, TK_STATE_EXPIRED);
	REFUSED(TK_ERR_WRONG_STATE, 0, execute(x.now, c, "erin", 1, ev, err));
	free(c);
}

static void
test_patch_voids_and_retiers(void **state)
{
	tk_case *c = open_case(T0, "alice", "jsmith", "password_reset", "T-1",
	    "forgot_password");
	tk_ctx x = at(T0 + 5);
	tk_patch_req p = {0};
	tk_events lev = {0};
	tk_error lerr;
	(void)state;

	OK(approve(T0 + 1, c, "bob", ev, err));
	assert_int_equal(c->state, TK_STATE_READY);
	p.subject = "radmin";
	assert_int_equal(tk_engine_patch(&x, c, "alice", &p, &lev, &lerr),
	    TK_OK);
	assert_string_equal(c->tier, "critical");
	assert_int_equal(c->state, TK_STATE_VERIFYING);
	assert_true(c->approvals[0].voided);
	assert_non_null(strstr(c->approvals[0].void_reason, "jsmith -> radmin"));
	assert_string_equal(lev.ev[0].kind, "case.changed");
	assert_string_equal(lev.ev[1].kind, "records.voided");
	/* bob may approve again: his old approval no longer counts */
	OK(approve(T0 + 6, c, "bob", ev, err));
	free(c);
}

static void
test_patch_refused_leaves_case(void **state)
{
	tk_case *c = open_case(T0, "alice", "jsmith", "password_reset", "",
	    "");
	tk_ctx x = at(T0 + 5);
	tk_patch_req p = {0};
	(void)state;

	p.subject = "pwhite"; /* high tier with no ticket: denied */
	REFUSED(TK_ERR_POLICY_DENIED, 0, tk_engine_patch(&x, c, "alice", &p,
	    ev, err));
	p.subject = "alice";
	REFUSED(TK_ERR_SOD, 5, tk_engine_patch(&x, c, "alice", &p, ev, err));
	p.subject = "nobody";
	REFUSED(TK_ERR_INVALID, 0, tk_engine_patch(&x, c, "alice", &p, ev,
	    err));
	free(c);
}

static void
test_policy_denied_without_ticket(void **state)
{
	tk_case c;
	tk_ctx x = at(T0);
	tk_open_req r = {0};
	tk_events ev = {0};
	tk_error err;
	(void)state;

	r.subject = "pwhite";
	r.action = "mfa_reset";
	r.channel = "phone";
	r.reason_code = "lost_device";
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_ERR_POLICY_DENIED);
	assert_non_null(strstr(err.msg, "need a ticket"));
	assert_int_equal(ev.n, 0);
	r.ticket = "INC-9";
	r.reason_code = "";
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_ERR_POLICY_DENIED);
	assert_non_null(strstr(err.msg, "reason code"));
	r.reason_code = "made_up";
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_ERR_INVALID);
	r.reason_code = "lost_device";
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_OK);
	assert_string_equal(c.tier, "high");
}

static void
test_open_refusals(void **state)
{
	tk_case c;
	tk_ctx x = at(T0);
	tk_open_req r = {0};
	tk_events ev = {0};
	tk_error err;
	(void)state;

	r.subject = "jsmith";
	r.action = "password_reset";
	r.channel = "phone";
	assert_int_equal(tk_engine_open(&x, "ivan", "c_1", &r, &c, &ev, &err),
	    TK_ERR_FORBIDDEN);
	assert_int_equal(tk_engine_open(&x, "olivia", "c_1", &r, &c, &ev,
	    &err), TK_ERR_FORBIDDEN);
	assert_int_equal(tk_engine_open(&x, "mallory", "c_1", &r, &c, &ev,
	    &err), TK_ERR_FORBIDDEN);
	r.subject = "alice";
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_ERR_SOD);
	assert_int_equal(err.invariant, 5);
	r.subject = "jsmith";
	r.action = "launch_missiles";
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_ERR_INVALID);
	r.action = "api_key_reissue"; /* nhi only */
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_ERR_INVALID);
	r.action = "password_reset";
	r.channel = "carrier_pigeon";
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_ERR_INVALID);
	r.channel = "phone";
	r.delivery = "+1 999 9999"; /* caller-supplied, not on file */
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, &c, &ev, &err),
	    TK_ERR_SOD);
	assert_int_equal(err.invariant, 10);
	assert_int_equal(ev.n, 0);
}

static void
test_subject_never_acts(void **state)
{
	tk_case *c = open_case(T0, "bob", "alice", "password_reset", "", "");
	tk_ctx x = at(T0 + 1);
	(void)state;

	REFUSED(TK_ERR_SOD, 5, approve(T0 + 1, c, "alice", ev, err));
	REFUSED(TK_ERR_SOD, 5, evidence(T0 + 1, c, "alice", "callback_on_file",
	    "+1 555 0201", ev, err));
	OK(approve(T0 + 1, c, "erin", ev, err));
	REFUSED(TK_ERR_SOD, 5, execute(T0 + 2, c, "alice", 1, ev, err));
	REFUSED(TK_ERR_SOD, 5, tk_engine_break_glass(&x, c, "alice", "j", "i",
	    ev, err));
	/* but the subject may cancel: "this was not me", with an alert */
	{
		tk_events lev = {0};
		tk_error lerr;
		assert_int_equal(tk_engine_cancel(&x, c, "alice", "not me",
		    &lev, &lerr), TK_OK);
		assert_int_equal(c->state, TK_STATE_CANCELLED);
		assert_true(lev.ev[0].alert);
	}
	free(c);
}

static void
test_distinct_approvers_and_contacts(void **state)
{
	tk_case *c = open_case(T0, "alice", "pwhite", "password_reset", "T-2",
	    "forgot_password");
	tk_ctx x = at(T0 + 1);
	tk_evidence_req bad = {"callback_on_file", "+1 999 0000", "pass", "", false};
	(void)state;

	assert_string_equal(c->tier, "high");
	REFUSED(TK_ERR_SOD, 6, tk_engine_add_evidence(&x, c, "bob", &bad, ev,
	    err));
	bad.contact = "";
	REFUSED(TK_ERR_INVALID, 0, tk_engine_add_evidence(&x, c, "bob", &bad,
	    ev, err));
	/* manager attestation only from the subject's manager */
	REFUSED(TK_ERR_FORBIDDEN, 0, evidence(T0 + 1, c, "bob",
	    "manager_attestation", "", ev, err));
	OK(evidence(T0 + 1, c, "henry", "manager_attestation", "", ev, err));
	assert_int_equal(c->state, TK_STATE_APPROVING);
	OK(approve(T0 + 2, c, "bob", ev, err));
	REFUSED(TK_ERR_SOD, 2, approve(T0 + 3, c, "bob", ev, err));
	/* erin is a second person but the same function: not enough */
	OK(approve(T0 + 3, c, "erin", ev, err));
	assert_int_equal(c->state, TK_STATE_APPROVING);
	OK(approve(T0 + 4, c, "dave", ev, err));
	assert_int_equal(c->state, TK_STATE_ON_HOLD);
	/* auditors and admins cannot approve */
	REFUSED(TK_ERR_FORBIDDEN, 0, approve(T0 + 5, c, "ivan", ev, err));
	REFUSED(TK_ERR_FORBIDDEN, 0, approve(T0 + 5, c, "olivia", ev, err));
	free(c);
}

static void
test_approval_ttl(void **state)
{
	tk_case *c = open_case(T0, "alice", "pwhite", "password_reset", "T-3",
	    "forgot_password");
	tk_ctx x = at(T0 + 3600);
	tk_events lev = {0};
	(void)state;

	OK(evidence(T0, c, "bob", "callback_on_file", "+1 555 0102", ev, err));
	OK(approve(T0 + 1800, c, "carol", ev, err));
	assert_int_equal(c->state, TK_STATE_APPROVING);
	/* evidence recorded at T0 expires at T0+1h; carol's approval not yet */
	assert_true(tk_engine_refresh(&x, c, &lev));
	assert_true(c->evidence[0].voided);
	assert_false(c->approvals[0].voided);
	assert_int_equal(c->state, TK_STATE_VERIFYING);
	assert_string_equal(lev.ev[0].kind, "evidence.expired");
	x.now = T0 + 1800 + 3600;
	lev.n = 0;
	assert_true(tk_engine_refresh(&x, c, &lev));
	assert_true(c->approvals[0].voided);
	assert_non_null(strstr(c->approvals[0].void_reason, "approval_ttl"));
	assert_string_equal(lev.ev[0].kind, "approval.expired");
	/* carol can approve again; nothing else changed */
	assert_false(tk_engine_refresh(&x, c, NULL));
	OK(approve(x.now, c, "carol", ev, err));
	free(c);
}

static void
test_break_glass(void **state)
{
	tk_case *c = open_case(T0, "alice", "radmin", "mfa_reset", "INC-2",
	    "compromise_suspected");
	tk_ctx x = at(T0 + 1);
	(void)state;

	REFUSED(TK_ERR_FORBIDDEN, 0, tk_engine_break_glass(&x, c, "alice",
	    "j", "INC-2", ev, err));
	REFUSED(TK_ERR_INVALID, 0, tk_engine_break_glass(&x, c, "frank", "",
	    "INC-2", ev, err));
	{
		tk_events lev = {0};
		tk_error lerr;
		assert_int_equal(tk_engine_break_glass(&x, c, "frank",
		    "attacker active", "INC-2", &lev, &lerr), TK_OK);
		assert_true(lev.ev[0].alert);
	}
	assert_int_equal(c->req.ap_count, 1);
	assert_int_equal(c->req.hold, 0);
	OK(evidence(T0 + 2, c, "bob", "callback_on_file", "+1 555 0103", ev,
	    err));
	OK(evidence(T0 + 2, c, "alice", "out_of_band", "radmin@example.com",
	    ev, err));
	OK(approve(T0 + 3, c, "carol", ev, err));
	assert_int_equal(c->state, TK_STATE_READY); /* no hold */
	OK(execute(T0 + 4, c, "frank", 3, ev, err));
	assert_int_equal(c->state, TK_STATE_REVIEW);
	assert_int_equal(c->review_due, T0 + 4 + 24 * 3600);
	x.now = T0 + 4 + 24 * 3600;
	{
		tk_events lev = {0};
		assert_true(tk_engine_refresh(&x, c, &lev));
		assert_true(c->review_overdue);
		assert_string_equal(lev.ev[0].kind, "review.overdue");
		assert_true(lev.ev[0].alert);
		assert_false(tk_engine_refresh(&x, c, &lev)); /* alerts once */
	}
	REFUSED(TK_ERR_SOD, 4, tk_engine_review(&x, c, "frank", "confirmed",
	    "fine", ev, err));
	OK(tk_engine_review(&x, c, "dave", "confirmed", "checked INC-2", ev,
	    err));
	assert_int_equal(c->state, TK_STATE_CLOSED);
	free(c);
}

static void
test_any_order_and_deny(void **state)
{
	tk_case *c = open_case(T0, "alice", "pwhite", "password_reset", "T-4",
	    "forgot_password");
	(void)state;

	OK(approve(T0 + 1, c, "bob", ev, err));
	OK(approve(T0 + 2, c, "carol", ev, err));
	assert_int_equal(c->state, TK_STATE_VERIFYING);
	OK(evidence(T0 + 3, c, "erin", "callback_on_file", "+1-555-0102", ev,
	    err));
	assert_int_equal(c->state, TK_STATE_ON_HOLD);
	free(c);

	c = open_case(T0, "alice", "jsmith", "password_reset", "", "");
	{
		tk_ctx x = at(T0 + 1);
		REFUSED(TK_ERR_INVALID, 0, tk_engine_decide(&x, c, "bob", false,
		    "", ev, err));
		OK(tk_engine_decide(&x, c, "bob", false, "caller failed "
		    "questions", ev, err));
	}
	assert_int_equal(c->state, TK_STATE_DENIED);
	REFUSED(TK_ERR_WRONG_STATE, 0, approve(T0 + 2, c, "erin", ev, err));
	free(c);
}

static void
test_nhi_owner(void **state)
{
	tk_case *c = open_case(T0, "dave", "svc-payments", "api_key_reissue",
	    "CHG-1", "rotation");
	tk_ctx x;
	tk_missing m;
	const tk_missing_item *it;
	(void)state;

	assert_string_equal(c->tier, "critical");
	OK(evidence(T0, c, "grace", "manager_attestation", "", ev, err));
	OK(evidence(T0, c, "bob", "out_of_band", "payments-owners@example.com",
	    ev, err));
	OK(approve(T0 + 1, c, "carol", ev, err));
	OK(approve(T0 + 1, c, "frank", ev, err));
	assert_int_equal(c->state, TK_STATE_APPROVING);
	x = at(T0 + 1);
	tk_engine_missing(&x, c, &m);
	it = find_need(&m, "owner of svc-payments");
	assert_non_null(it);
	assert_int_equal(it->neligible, 1);
	assert_string_equal(it->eligible[0], "grace");
	OK(approve(T0 + 2, c, "grace", ev, err));
	assert_int_equal(c->state, TK_STATE_ON_HOLD);
	free(c);
}

static void
test_json_roundtrip(void **state)
{
	tk_case *c = open_case(T0, "alice", "radmin", "mfa_reset", "INC-1",
	    "lost_device");
	tk_case *d = calloc(1, sizeof(*d));
	json_t *j, *k;
	tk_error lerr;
	(void)state;

	OK(evidence(T0 + 1, c, "bob", "callback_on_file", "+1 555 0103", ev,
	    err));
	OK(approve(T0 + 2, c, "carol", ev, err));
	j = tk_case_to_json(c);
	assert_non_null(j);
	if (tk_case_from_json(d, j, &lerr) != 0)
		fail_msg("%s", lerr.msg);
	k = tk_case_to_json(d);
	assert_true(json_equal(j, k));
	assert_memory_equal(c->digest, d->digest, TK_DIGEST_LEN);
	assert_int_equal(d->req.hold, 4 * 3600);
	/* a record edited behind the engine's back is refused */
	json_object_set_new(j, "subject", json_string("jsmith"));
	assert_int_equal(tk_case_from_json(d, j, &lerr), -1);
	assert_non_null(strstr(lerr.msg, "digest"));
	json_object_set_new(j, "subject", json_string("radmin"));
	/* a damaged record is refused, not trusted */
	json_object_set_new(j, "state", json_string("exploded"));
	assert_int_equal(tk_case_from_json(d, j, &lerr), -1);
	assert_int_equal(lerr.status, TK_ERR_INTERNAL);
	json_decref(j);
	json_decref(k);
	free(c);
	free(d);
}

static void
test_digest_is_material_only(void **state)
{
	tk_case a, b;
	(void)state;

	memset(&a, 0, sizeof(a));
	(void)tk_strlcpy(a.subject, "jsmith", sizeof(a.subject));
	(void)tk_strlcpy(a.action, "password_reset", sizeof(a.action));
	(void)tk_strlcpy(a.params, "{}", sizeof(a.params));
	b = a;
	tk_case_compute_digest(&a);
	(void)tk_strlcpy(b.justification, "different words", sizeof(b.justification));
	(void)tk_strlcpy(b.ticket, "T-9", sizeof(b.ticket));
	tk_case_compute_digest(&b);
	assert_memory_equal(a.digest, b.digest, TK_DIGEST_LEN);
	(void)tk_strlcpy(b.params, "{\"k\":\"v\"}", sizeof(b.params));
	tk_case_compute_digest(&b);
	assert_memory_not_equal(a.digest, b.digest, TK_DIGEST_LEN);
	b = a;
	(void)tk_strlcpy(b.delivery, "jsmith@example.com", sizeof(b.delivery));
	tk_case_compute_digest(&b);
	assert_memory_not_equal(a.digest, b.digest, TK_DIGEST_LEN);
}

static void
test_patch_cannot_skip_hold(void **state)
{
	const char *sig[] = {"new_device"};
	tk_case *c = calloc(1, sizeof(*c));
	tk_ctx x = at(T0);
	tk_open_req r = {0};
	tk_patch_req p = {0};
	tk_events lev = {0};
	tk_error lerr;
	(void)state;

	assert_non_null(c);
	r.subject = "jsmith";
	r.action = "password_reset";
	r.channel = "phone";
	r.ticket = "T-7";
	r.reason_code = "forgot_password";
	r.signals = sig;
	r.nsignals = 1;
	assert_int_equal(tk_engine_open(&x, "alice", "c_1", &r, c, &lev,
	    &lerr), TK_OK);
	assert_string_equal(c->tier, "high");
	OK(evidence(T0 + 1, c, "bob", "callback_on_file", "+1 555 0101", ev,
	    err));
	OK(approve(T0 + 2, c, "carol", ev, err));
	OK(approve(T0 + 3, c, "dave", ev, err));
	assert_int_equal(c->state, TK_STATE_ON_HOLD);
	/* dropping the risk signal lowers the tier: the approvals given for
	 * the high tier must not carry over and skip the hold */
	p.has_signals = true;
	p.nsignals = 0;
	x.now = T0 + 4;
	lev.n = 0;
	assert_int_equal(tk_engine_patch(&x, c, "alice", &p, &lev, &lerr),
	    TK_OK);
	assert_string_equal(c->tier, "standard");
	assert_int_equal(c->state, TK_STATE_APPROVING);
	assert_true(c->approvals[0].voided && c->approvals[1].voided);
	assert_false(c->evidence[0].voided); /* identity proof still holds */
	free(c);
}

static void
test_patch_material_only_by_requester(void **state)
{
	tk_case *c = open_case(T0, "alice", "jsmith", "password_reset", "",
	    "");
	tk_ctx x = at(T0 + 1);
	tk_patch_req p = {0};
	(void)state;

	OK(approve(T0 + 1, c, "bob", ev, err));
	p.subject = "pwhite";
	REFUSED(TK_ERR_FORBIDDEN, 0, tk_engine_patch(&x, c, "bob", &p, ev,
	    err));
	/* someone who took part cannot become the subject */
	p.subject = "bob";
	REFUSED(TK_ERR_SOD, 5, tk_engine_patch(&x, c, "alice", &p, ev, err));
	/* non-material fields may be edited by other intake staff */
	memset(&p, 0, sizeof(p));
	p.justification = "caller confirmed employee number";
	OK(tk_engine_patch(&x, c, "erin", &p, ev, err));
	assert_int_equal(c->state, TK_STATE_READY);
	free(c);
}

static void
test_break_glass_declarer_cannot_approve(void **state)
{
	tk_case *c = open_case(T0, "alice", "radmin", "mfa_reset", "INC-3",
	    "compromise_suspected");
	tk_ctx x = at(T0 + 1);
	(void)state;

	OK(tk_engine_break_glass(&x, c, "carol", "intrusion", "INC-3", ev,
	    err));
	REFUSED(TK_ERR_SOD, 1, approve(T0 + 2, c, "carol", ev, err));
	OK(evidence(T0 + 2, c, "bob", "callback_on_file", "+1 555 0103", ev,
	    err));
	OK(evidence(T0 + 2, c, "bob", "out_of_band", "radmin@example.com", ev,
	    err));
	/* one approval, but still from outside alice's support chain */
	OK(approve(T0 + 3, c, "erin", ev, err));
	assert_int_equal(c->state, TK_STATE_APPROVING);
	OK(approve(T0 + 4, c, "frank", ev, err));
	assert_int_equal(c->state, TK_STATE_READY);
	free(c);
}

static void
test_event_text_stays_utf8(void **state)
{
	tk_case *c = open_case(T0, "alice", "jsmith", "password_reset", "",
	    "");
	char note[TK_TEXT_MAX];
	tk_ctx x = at(T0 + 2);
	tk_execute_req r = {"manual", note, 1};
	tk_events lev = {0};
	tk_error lerr;
	size_t off = 0;
	(void)state;

	while (off + 3 < sizeof(note)) { /* 341 x U+65E5, 1023 bytes */
		memcpy(note + off, "\xe6\x97\xa5", 3);
		off += 3;
	}
	note[off] = '\0';
	OK(approve(T0 + 1, c, "bob", ev, err));
	assert_int_equal(tk_engine_execute(&x, c, "erin", &r, &lev, &lerr),
	    TK_OK);
	for (int i = 0; i < lev.n; i++) {
		json_t *j = json_string(lev.ev[i].detail);
		assert_non_null(j); /* NULL = invalid UTF-8 */
		json_decref(j);
	}
	free(c);
}

static void
test_attest_capability_enforced(void **state)
{
	size_t n;
	char *t = slurp("examples/demo/policy.yaml", &n);
	char *m = strstr(t, "manager:  [attest]");
	tk_policy p2;
	tk_error lerr;
	tk_case *c;
	(void)state;

	assert_non_null(m);
	memcpy(m, "manager:  [review]", 18);
	if (tk_policy_load(&p2, t, n, "p2.yaml", &lerr) != 0)
		fail_msg("%s", lerr.msg);
	free(t);
	c = open_case(T0, "alice", "pwhite", "password_reset", "T-5",
	    "forgot_password");
	{
		tk_ctx x = {&p2, &org, T0 + 1};
		tk_evidence_req r = {"manager_attestation", "", "pass", "", false};
		REFUSED(TK_ERR_FORBIDDEN, 0, tk_engine_add_evidence(&x, c,
		    "henry", &r, ev, err));
	}
	OK(evidence(T0 + 1, c, "henry", "manager_attestation", "", ev, err));
	tk_policy_free(&p2);
	free(c);
}

static void
test_held_account_is_own_account(void **state)
{
	tk_case *c = open_case(T0, "alice", "dave-admin", "password_reset",
	    "T-8", "forgot_password");
	tk_ctx x = at(T0 + 1);
	tk_open_req r = {0};
	tk_case *d = calloc(1, sizeof(*d));
	tk_events lev = {0};
	tk_error lerr;
	(void)state;

	assert_string_equal(c->tier, "critical");
	REFUSED(TK_ERR_SOD, 5, approve(T0 + 1, c, "dave", ev, err));
	REFUSED(TK_ERR_SOD, 5, evidence(T0 + 1, c, "dave", "callback_on_file",
	    "+1 555 0205", ev, err));
	/* dave cannot open a case about his own second account either */
	r.subject = "dave-admin";
	r.action = "password_reset";
	r.channel = "phone";
	r.ticket = "T-9";
	r.reason_code = "forgot_password";
	assert_int_equal(tk_engine_open(&x, "dave", "c_2", &r, d, &lev,
	    &lerr), TK_ERR_SOD);
	assert_int_equal(lerr.invariant, 5);
	free(c);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_canonical),
		cmocka_unit_test(test_standard_password_reset),
		cmocka_unit_test(test_critical_mfa_reset),
		cmocka_unit_test(test_ready_window_expires),
		cmocka_unit_test(test_patch_voids_and_retiers),
		cmocka_unit_test(test_patch_refused_leaves_case),
		cmocka_unit_test(test_policy_denied_without_ticket),
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_subject_never_acts),
		cmocka_unit_test(test_distinct_approvers_and_contacts),
		cmocka_unit_test(test_approval_ttl),
		cmocka_unit_test(test_break_glass),
		cmocka_unit_test(test_any_order_and_deny),
		cmocka_unit_test(test_nhi_owner),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_digest_is_material_only),
		cmocka_unit_test(test_patch_cannot_skip_hold),
		cmocka_unit_test(test_patch_material_only_by_requester),
		cmocka_unit_test(test_break_glass_declarer_cannot_approve),
		cmocka_unit_test(test_event_text_stays_utf8),
		cmocka_unit_test(test_attest_capability_enforced),
		cmocka_unit_test(test_held_account_is_own_account),
		cmocka_unit_test(test_factor_and_oob_only_when_checked),
		cmocka_unit_test(test_connector_execution_outcomes),
		cmocka_unit_test(test_unknown_outcome_and_pending_revocation),
		cmocka_unit_test(test_signal_extends_hold),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
