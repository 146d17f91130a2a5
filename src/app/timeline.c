/*
 * timeline.c - the investigator's reading of a case: who asked through
 * which channel, who verified with what evidence against which contact,
 * who approved when and under which policy version, who executed, what
 * changed, what was revoked, and every refusal and alert on the way.
 *
 * Owns: the sentences and their order. Pure: it reads the case record
 * and the case's audit events (as the case view lists them) and builds
 * JSON; no I/O, no clock.
 */
#include "app/timeline.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/policy.h"

#define LINE_MAX_BYTES 2048

/* Appends {"at","actor","what","text"[,"seq"]} to arr; 0 or -1 (OOM). */
static int
entry(json_t *arr, tk_time at, const char *actor, const char *what,
    json_int_t seq, const char *fmt, ...) __attribute__((format(printf, 6,
    7)));

static int
entry(json_t *arr, tk_time at, const char *actor, const char *what,
    json_int_t seq, const char *fmt, ...)
{
	char text[LINE_MAX_BYTES], ts[32];
	va_list ap;
	json_t *e;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tk_time_format(at, ts, sizeof(ts));
	e = json_pack("{s:s, s:s, s:s, s:s}", "at", ts, "actor",
	    actor[0] ? actor : "system", "what", what, "text", text);
	if (e == NULL)
		return -1;
	if (seq > 0 && json_object_set_new(e, "seq", json_integer(seq)) != 0) {
		json_decref(e);
		return -1;
	}
	return json_array_append_new(arr, e);
}

/* "sessions, tokens" for a TK_REVOKE_* set, "nothing" when empty. */
static void
revoke_list(unsigned bits, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (unsigned b = 1; b <= TK_REVOKE__ALL; b <<= 1) {
		if ((bits & b) == 0)
			continue;
		n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s",
		    n ? ", " : "", tk_revoke_name(b));
		if (n >= size)
			break;
	}
	if (out[0] == '\0')
		(void)snprintf(out, size, "nothing");
}

/* Sorts entries by time; entries at the same second keep their order. */
static int
sort_by_time(json_t *arr)
{
	size_t n = json_array_size(arr);

	/* insertion sort: timelines are short (tens of entries) */
	for (size_t i = 1; i < n; i++) {
		json_t *cur = json_incref(json_array_get(arr, i));
		const char *at = json_string_value(json_object_get(cur, "at"));
		size_t j = i;

		while (j > 0 && strcmp(json_string_value(json_object_get(
		    json_array_get(arr, j - 1), "at")), at) > 0)
			j--;
		if (j != i && (json_array_remove(arr, i) != 0 ||
		    json_array_insert_new(arr, j, cur) != 0))
			return -1;
		if (j == i)
			json_decref(cur);
	}
	return 0;
}

/* Refusals and alerts from the audit events: what the record itself
 * does not keep. */
static int
from_events(json_t *arr, const json_t *events)
{
	size_t i;
	json_t *ev;

	json_array_foreach(events, i, ev) {
		const char *kind = json_string_value(json_object_get(ev, "kind"));
		const char *actor = json_string_value(json_object_get(ev, "actor"));
		const char *ts = json_string_value(json_object_get(ev, "ts"));
		const char *detail = json_string_value(json_object_get(ev,
		    "detail"));
		json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
		bool alert = json_is_true(json_object_get(ev, "alert"));
		json_t *e;
		char text[LINE_MAX_BYTES];

		if (kind == NULL || ts == NULL)
			continue;
		if (strcmp(kind, "refused") != 0 && !alert)
			continue;
		(void)snprintf(text, sizeof(text), "%s%s%s",
		    strcmp(kind, "refused") == 0 ? "refused: " : "ALERT: ",
		    detail != NULL ? detail : kind,
		    strcmp(kind, "refused") == 0 && alert ? " (alert raised)" :
		    "");
		e = json_pack("{s:s, s:s, s:s, s:s, s:I}", "at", ts, "actor",
		    actor != NULL ? actor : "system", "what",
		    strcmp(kind, "refused") == 0 ? "refused" : "alert", "text",
		    text, "seq", seq);
		if (e == NULL || json_array_append_new(arr, e) != 0)
			return -1;
	}
	return 0;
}

json_t *
tk_timeline(const tk_case *c, const json_t *events)
{
	json_t *arr = json_array();
	char rv[128];
	int rc = 0;

	if (arr == NULL)
		return NULL;
	rc |= entry(arr, c->created, c->requester, "requested", 0,
	    "%s asked for %s on %s by %s%s%s%s%s; tier %s (rule owner %s, "
	    "policy %s)", c->requester, c->action, c->subject,
	    c->channel[0] ? c->channel : "an unnamed channel",
	    c->ticket[0] ? ", ticket " : "", c->ticket,
	    c->reason_code[0] ? ", reason " : "", c->reason_code, c->tier,
	    c->rule_owner[0] ? c->rule_owner : "none", c->policy_digest);
	for (int i = 0; i < c->nevidence && i < TK_MAX_EVIDENCE; i++) {
		const tk_evidence *e = &c->evidence[i];

		rc |= entry(arr, e->at, e->by, "verified", 0,
		    "%s verified with %s%s%s: %s%s%s%s", e->by,
		    tk_method_name((enum tk_method)e->method),
		    e->contact[0] ? " against " : "", e->contact,
		    e->pass ? "pass" : "FAIL", e->reference[0] ? " (ref " : "",
		    e->reference, e->reference[0] ? ")" : "");
		if (e->voided)
			rc |= entry(arr, e->at, e->by, "voided", 0, "evidence by "
			    "%s voided: %s", e->by, e->void_reason);
	}
	for (int i = 0; i < c->napprovals && i < TK_MAX_APPROVALS; i++) {
		const tk_approval *p = &c->approvals[i];

		rc |= entry(arr, p->at, p->by, p->approve ? "approved" :
		    "denied", 0, "%s (%s) %s under policy %s%s%s%s", p->by,
		    p->function[0] ? p->function : "no function",
		    p->approve ? "approved" : "denied", p->policy_digest,
		    p->comment[0] ? ": \"" : "", p->comment,
		    p->comment[0] ? "\"" : "");
		if (p->voided)
			rc |= entry(arr, p->at, p->by, "voided", 0, "approval by "
			    "%s voided: %s", p->by, p->void_reason);
	}
	if (c->break_glass)
		rc |= entry(arr, c->bg_at, c->bg_by, "break_glass", 0,
		    "%s declared break-glass for incident %s: %s", c->bg_by,
		    c->bg_incident, c->bg_justification);
	if (c->hold_until > 0) {
		char until[32];

		tk_time_format(c->hold_until, until, sizeof(until));
		rc |= entry(arr, c->hold_until, "", "hold", 0, "hold ends "
		    "%s; the change could not run before", until);
	}
	if (c->executed_at > 0) {
		revoke_list(c->revoked, rv, sizeof(rv));
		rc |= entry(arr, c->executed_at, c->executor, "executed", 0,
		    "%s executed %s on %s via %s: %s; revoked: %s",
		    c->executor, c->action, c->subject,
		    c->connector[0] ? c->connector : "manual", c->exec_note,
		    rv);
		if (c->revoke_pending != 0) {
			revoke_list(c->revoke_pending, rv, sizeof(rv));
			rc |= entry(arr, c->executed_at, c->executor,
			    "revocation_pending", 0, "still to revoke: %s", rv);
		}
	}
	if (c->failure[0])
		rc |= entry(arr, c->updated, c->executor, "failed", 0,
		    "execution failed: %s", c->failure);
	if (c->reviewed_at > 0)
		rc |= entry(arr, c->reviewed_at, c->reviewer, "reviewed", 0,
		    "%s reviewed the change: %s%s%s", c->reviewer,
		    c->review_outcome, c->review_comment[0] ? ": " : "",
		    c->review_comment);
	if (c->ended_by[0])
		rc |= entry(arr, c->updated, c->ended_by, "ended", 0,
		    "%s ended the case (%s)%s%s", c->ended_by,
		    tk_state_name(c->state), c->end_reason[0] ? ": " : "",
		    c->end_reason);
	if (rc != 0 || (json_is_array(events) && from_events(arr, events) != 0)
	    || sort_by_time(arr) != 0) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}
