/*
 * test_timeline.c - unit tests for the investigator's timeline of a case
 * (app/timeline.c): every fact of the record appears once, in time order,
 * with who, what and against which contact or policy version; refusals
 * and alerts come from the audit events with their seq; ordinary events
 * do not repeat what the record says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app/timeline.h"
#include "core/policy.h"

#define T0 ((tk_time)1795426200) /* 2026-11-23T09:30:00Z */

static const char *
text_of(json_t *tl, const char *what, int nth)
{
	size_t i;
	json_t *e;

	json_array_foreach(tl, i, e) {
		const char *w = json_string_value(json_object_get(e, "what"));
		if (w != NULL && strcmp(w, what) == 0 && nth-- == 0)
			return json_string_value(json_object_get(e, "text"));
	}
	return NULL;
}

static void
fill_case(tk_case *c)
{
	memset(c, 0, sizeof(*c));
	(void)tk_strlcpy(c->id, "c_0123456789abcdef", sizeof(c->id));
	(void)tk_strlcpy(c->subject, "radmin", sizeof(c->subject));
	(void)tk_strlcpy(c->action, "mfa_reset", sizeof(c->action));
	(void)tk_strlcpy(c->channel, "phone", sizeof(c->channel));
	(void)tk_strlcpy(c->ticket, "INC-7", sizeof(c->ticket));
	(void)tk_strlcpy(c->requester, "alice", sizeof(c->requester));
	(void)tk_strlcpy(c->tier, "critical", sizeof(c->tier));
	(void)tk_strlcpy(c->rule_owner, "carol", sizeof(c->rule_owner));
	(void)tk_strlcpy(c->policy_digest, "00112233aabbccdd",
	    sizeof(c->policy_digest));
	c->created = T0;
	c->nevidence = 1;
	c->evidence[0].method = TK_METHOD_CALLBACK_ON_FILE;
	(void)tk_strlcpy(c->evidence[0].by, "alice", sizeof(c->evidence[0].by));
	(void)tk_strlcpy(c->evidence[0].contact, "+1 555 0200",
	    sizeof(c->evidence[0].contact));
	c->evidence[0].pass = true;
	c->evidence[0].at = T0 + 60;
	c->napprovals = 2;
	(void)tk_strlcpy(c->approvals[0].by, "carol",
	    sizeof(c->approvals[0].by));
	(void)tk_strlcpy(c->approvals[0].function, "security",
	    sizeof(c->approvals[0].function));
	c->approvals[0].approve = true;
	c->approvals[0].at = T0 + 300; /* later than the second one */
	(void)tk_strlcpy(c->approvals[0].policy_digest, "00112233aabbccdd",
	    sizeof(c->approvals[0].policy_digest));
	(void)tk_strlcpy(c->approvals[1].by, "bob", sizeof(c->approvals[1].by));
	(void)tk_strlcpy(c->approvals[1].function, "pam",
	    sizeof(c->approvals[1].function));
	c->approvals[1].approve = true;
	c->approvals[1].at = T0 + 120;
	(void)tk_strlcpy(c->approvals[1].policy_digest, "00112233aabbccdd",
	    sizeof(c->approvals[1].policy_digest));
	(void)tk_strlcpy(c->executor, "frank", sizeof(c->executor));
	(void)tk_strlcpy(c->connector, "manual", sizeof(c->connector));
	(void)tk_strlcpy(c->exec_note, "factors removed",
	    sizeof(c->exec_note));
	c->executed_at = T0 + 4 * 3600 + 600;
	c->revoked = TK_REVOKE_SESSIONS | TK_REVOKE_TOKENS;
	c->hold_until = T0 + 4 * 3600 + 300;
	c->state = TK_STATE_EXECUTED;
	c->updated = c->executed_at;
}

static void
test_record_facts_in_order(void **state)
{
	tk_case c;
	json_t *tl, *e;
	const char *t, *prev = "";
	size_t i;

	(void)state;
	fill_case(&c);
	tl = tk_timeline(&c, NULL);
	assert_non_null(tl);
	t = text_of(tl, "requested", 0);
	assert_non_null(t);
	assert_non_null(strstr(t, "alice asked for mfa_reset on radmin by phone"));
	assert_non_null(strstr(t, "INC-7"));
	assert_non_null(strstr(t, "policy 00112233aabbccdd"));
	t = text_of(tl, "verified", 0);
	assert_non_null(t);
	assert_non_null(strstr(t, "callback_on_file against +1 555 0200: pass"));
	json_decref(tl);
	/* evidence with no contact (a TOTP code) names none */
	c.evidence[0].method = TK_METHOD_REGISTERED_FACTOR;
	c.evidence[0].contact[0] = '\0';
	tl = tk_timeline(&c, NULL);
	assert_non_null(tl);
	t = text_of(tl, "verified", 0);
	assert_non_null(strstr(t, "alice verified with registered_factor: pass"));
	c.evidence[0].method = TK_METHOD_CALLBACK_ON_FILE;
	(void)tk_strlcpy(c.evidence[0].contact, "+1 555 0200",
	    sizeof(c.evidence[0].contact));
	json_decref(tl);
	tl = tk_timeline(&c, NULL);
	assert_non_null(tl);
	/* approvals sorted by time: bob first */
	assert_non_null(strstr(text_of(tl, "approved", 0), "bob (pam)"));
	assert_non_null(strstr(text_of(tl, "approved", 1), "carol (security)"));
	t = text_of(tl, "executed", 0);
	assert_non_null(t);
	assert_non_null(strstr(t, "frank executed mfa_reset on radmin"));
	assert_non_null(strstr(t, "revoked: sessions, tokens"));
	assert_non_null(text_of(tl, "hold", 0));
	assert_null(text_of(tl, "ended", 0));
	json_array_foreach(tl, i, e) {
		const char *at = json_string_value(json_object_get(e, "at"));
		assert_true(strcmp(prev, at) <= 0);
		prev = at;
	}
	json_decref(tl);
}

static void
test_refusals_and_alerts_from_events(void **state)
{
	tk_case c;
	json_t *ev, *tl, *e;
	size_t i, refused = 0, alerts = 0;

	(void)state;
	fill_case(&c);
	c.executed_at = 0;
	c.revoked = 0;
	c.hold_until = 0;
	c.state = TK_STATE_CANCELLED;
	(void)tk_strlcpy(c.ended_by, "radmin", sizeof(c.ended_by));
	(void)tk_strlcpy(c.end_reason, "not me", sizeof(c.end_reason));
	c.updated = T0 + 500;
	ev = json_pack("[{s:I, s:s, s:s, s:s, s:b, s:s},"
	    "{s:I, s:s, s:s, s:s, s:b, s:s},"
	    "{s:I, s:s, s:s, s:s, s:b, s:s}]",
	    "seq", 10, "ts", "2026-11-23T09:32:00Z", "kind", "refused",
	    "actor", "alice", "alert", 1, "detail", "approve refused: own case",
	    "seq", 11, "ts", "2026-11-23T09:33:00Z", "kind", "evidence.recorded",
	    "actor", "alice", "alert", 0, "detail", "evidence",
	    "seq", 12, "ts", "2026-11-23T09:38:20Z", "kind", "case.cancelled",
	    "actor", "radmin", "alert", 1, "detail", "not me");
	assert_non_null(ev);
	tl = tk_timeline(&c, ev);
	assert_non_null(tl);
	json_array_foreach(tl, i, e) {
		const char *w = json_string_value(json_object_get(e, "what"));
		if (strcmp(w, "refused") == 0) {
			refused++;
			assert_int_equal(json_integer_value(json_object_get(e,
			    "seq")), 10);
			assert_non_null(strstr(json_string_value(json_object_get(e,
			    "text")), "own case"));
		}
		if (strcmp(w, "alert") == 0)
			alerts++;
	}
	assert_int_equal(refused, 1);
	assert_int_equal(alerts, 1); /* the cancel; the plain event is not repeated */
	assert_non_null(strstr(text_of(tl, "ended", 0),
	    "radmin ended the case (cancelled): not me"));
	json_decref(tl);
	json_decref(ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_facts_in_order),
		cmocka_unit_test(test_refusals_and_alerts_from_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
