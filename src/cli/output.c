/*
 * output.c - how the CLI prints API answers for people: case summaries,
 * case lists, `me`, and policy explanations in plain words. (--json
 * output is printed raw by client.c or with tk_out_json.)
 *
 * Owns: the human-readable layout. Reads JSON defensively: a missing or
 * mistyped field prints as empty, never crashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The string at key, or "" when absent or not a string. */
static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* Prints the strings of array a joined by sep (or none when empty). */
static void
print_list(FILE *f, const json_t *a, const char *sep, const char *none)
{
	size_t i, n = json_array_size(a);

	if (n == 0) {
		(void)fputs(none, f);
		return;
	}
	for (i = 0; i < n; i++)
		(void)fprintf(f, "%s%s", i ? sep : "",
		    json_is_string(json_array_get(a, i)) ?
		    json_string_value(json_array_get(a, i)) : "?");
}

void
tk_out_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s == NULL) {
		(void)fprintf(stderr, "error: out of memory\n");
		return;
	}
	(void)printf("%s\n", s);
	free(s);
}

static long long
num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* Durations arrive as "4h" strings (or seconds as integers). */
static void
dur(const json_t *o, const char *key, char *buf, size_t size)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		(void)tk_strlcpy(buf, json_string_value(v), size);
	else if (json_is_integer(v))
		tk_duration_format((tk_time)json_integer_value(v), buf, size);
	else
		(void)tk_strlcpy(buf, "", size);
}

static bool
nonzero_dur(const char *d)
{
	return d[0] != '\0' && strcmp(d, "0") != 0 && strcmp(d, "0s") != 0;
}

void
tk_out_requirements(const json_t *req, FILE *f, const char *ind)
{
	const json_t *ev = json_object_get(req, "evidence");
	const json_t *ap = json_object_get(req, "approvals");
	char d[32];
	long long n, m;
	bool any = false;

	if (json_is_true(json_object_get(req, "ticket"))) {
		(void)fprintf(f, "%s- a ticket or incident reference\n", ind);
		any = true;
	}
	if (json_is_true(json_object_get(req, "reason_code"))) {
		(void)fprintf(f, "%s- a reason code from the policy's list\n",
		    ind);
		any = true;
	}
	n = num(ev, "count");
	if (n > 0) {
		(void)fprintf(f, "%s- %lld passing verification%s of the "
		    "subject's identity, by ", ind, n, n == 1 ? "" : "s");
		print_list(f, json_object_get(ev, "methods"), " or ",
		    "any method");
		m = num(ev, "by_other_than_requester");
		if (m > 0)
			(void)fprintf(f, "; %lld of them recorded by someone "
			    "other than the requester, through a contact on "
			    "file", m);
		(void)fputc('\n', f);
		any = true;
	}
	n = num(ap, "count");
	if (n > 0) {
		(void)fprintf(f, "%s- %lld approval%s from distinct people",
		    ind, n, n == 1 ? "" : "s");
		if (json_is_true(json_object_get(ap, "distinct_functions")))
			(void)fprintf(f, " in distinct functions");
		(void)fputc('\n', f);
		if (json_array_size(json_object_get(ap, "from_any")) > 0) {
			(void)fprintf(f, "%s- at least 1 approval from ", ind);
			print_list(f, json_object_get(ap, "from_any"), " or ",
			    "");
			(void)fputc('\n', f);
		}
		m = num(ap, "outside_support_chain");
		if (m > 0)
			(void)fprintf(f, "%s- %lld approval%s from outside the "
			    "requester's support chain (other function and "
			    "team, not in their management line)\n", ind, m,
			    m == 1 ? "" : "s");
		if (json_is_true(json_object_get(ap, "owner")))
			(void)fprintf(f, "%s- when the subject is a non-human "
			    "identity, an approval by its owner\n", ind);
		any = true;
	} else if (ap != NULL) {
		(void)fprintf(f, "%s- no approval\n", ind);
	}
	dur(req, "hold", d, sizeof(d));
	if (nonzero_dur(d)) {
		(void)fprintf(f, "%s- a hold of %s after the last approval; the "
		    "subject is told and can cancel\n", ind, d);
		any = true;
	}
	dur(req, "approval_ttl", d, sizeof(d));
	if (nonzero_dur(d))
		(void)fprintf(f, "%s- evidence and approvals count for %s\n",
		    ind, d);
	if (json_array_size(json_object_get(req, "revoke")) > 0) {
		(void)fprintf(f, "%s- after execution, revoke: ", ind);
		print_list(f, json_object_get(req, "revoke"), ", ", "");
		(void)fputc('\n', f);
	}
	dur(req, "post_review", d, sizeof(d));
	if (nonzero_dur(d))
		(void)fprintf(f, "%s- a post-change review within %s\n", ind,
		    d);
	if (!any)
		(void)fprintf(f, "%s- nothing before execution\n", ind);
}

static void
print_missing(const json_t *c)
{
	const json_t *miss = json_object_get(c, "missing"), *it;
	size_t i;

	if (json_array_size(miss) == 0)
		return;
	(void)printf("missing:\n");
	json_array_foreach(miss, i, it) {
		(void)printf("  - [%s] %s", str(it, "group"), str(it, "need"));
		if (json_array_size(json_object_get(it, "eligible")) > 0) {
			(void)printf("\n      eligible: ");
			print_list(stdout, json_object_get(it, "eligible"), ", ",
			    "");
		}
		(void)printf("\n");
	}
}

/* The only contacts a verifier may use (invariant 6). */
static void
print_contacts(const json_t *c)
{
	const json_t *arr = json_object_get(c, "contacts_on_file"), *it;
	size_t i;

	if (json_array_size(arr) == 0)
		return;
	(void)printf("contacts on file (call back or confirm only through "
	    "these):\n");
	json_array_foreach(arr, i, it)
		(void)printf("  %-6s %s\n", str(it, "kind"), str(it, "value"));
}

static void
print_void(const json_t *o)
{
	if (json_is_false(json_object_get(o, "valid")))
		(void)printf("\n      VOID: %s", str(o, "void_reason"));
}

void
tk_out_case(const json_t *c, bool with_events)
{
	const json_t *a, *it, *rule = json_object_get(c, "rule");
	size_t i;

	(void)printf("case %s: %s for %s  [%s]\n", str(c, "id"),
	    str(c, "action"), str(c, "subject"), str(c, "state"));
	(void)printf("  tier:      %s", str(c, "tier"));
	if (json_is_object(rule))
		(void)printf(" (rule at policy line %lld, owner %s)",
		    num(rule, "line"), str(rule, "owner"));
	(void)printf("\n  queue:     %s   channel: %s   ticket: %s   "
	    "reason: %s\n", str(c, "queue"), str(c, "channel"),
	    *str(c, "ticket") ? str(c, "ticket") : "-",
	    *str(c, "reason_code") ? str(c, "reason_code") : "-");
	(void)printf("  requester: %s   created: %s   updated: %s\n",
	    str(c, "requester"), str(c, "created"), str(c, "updated"));
	if (*str(c, "justification"))
		(void)printf("  why:       %s\n", str(c, "justification"));
	if (json_array_size(json_object_get(c, "signals")) > 0) {
		(void)printf("  signals:   ");
		print_list(stdout, json_object_get(c, "signals"), ", ", "");
		(void)printf("\n");
	}
	if (*str(c, "hold_until"))
		(void)printf("  hold ends: %s\n", str(c, "hold_until"));
	if (*str(c, "ready_until"))
		(void)printf("  ready until: %s\n", str(c, "ready_until"));
	a = json_object_get(c, "break_glass");
	if (json_is_object(a))
		(void)printf("  BREAK-GLASS by %s at %s, incident %s: %s\n",
		    str(a, "by"), str(a, "at"), str(a, "incident"),
		    str(a, "justification"));
	if (json_is_object(json_object_get(c, "requirements"))) {
		(void)printf("requirements:\n");
		tk_out_requirements(json_object_get(c, "requirements"), stdout,
		    "  ");
	}
	a = json_object_get(c, "evidence");
	if (json_array_size(a) > 0) {
		(void)printf("evidence:\n");
		json_array_foreach(a, i, it) {
			(void)printf("  - %s %s by %s", str(it, "result"),
			    str(it, "method"), str(it, "by"));
			if (*str(it, "contact"))
				(void)printf(" via %s", str(it, "contact"));
			(void)printf(" at %s", str(it, "at"));
			if (*str(it, "reference"))
				(void)printf(" (%s)", str(it, "reference"));
			print_void(it);
			(void)printf("\n");
		}
	}
	a = json_object_get(c, "approvals");
	if (json_array_size(a) > 0) {
		(void)printf("approvals:\n");
		json_array_foreach(a, i, it) {
			(void)printf("  - %s by %s (%s) at %s",
			    str(it, "decision"), str(it, "by"),
			    str(it, "function"), str(it, "at"));
			if (*str(it, "comment"))
				(void)printf(": %s", str(it, "comment"));
			print_void(it);
			(void)printf("\n");
		}
	}
	a = json_object_get(c, "execution");
	if (json_is_object(a)) {
		(void)printf("executed by %s (%s) at %s: %s\n", str(a, "by"),
		    str(a, "connector"), str(a, "at"), str(a, "note"));
		(void)printf("  revoked: ");
		print_list(stdout, json_object_get(a, "revoked"), ", ", "-");
		if (json_array_size(json_object_get(a, "revoke_pending")) > 0) {
			(void)printf("   STILL PENDING: ");
			print_list(stdout, json_object_get(a, "revoke_pending"),
			    ", ", "");
		}
		(void)printf("\n");
	}
	a = json_object_get(c, "review");
	if (json_is_object(a)) {
		if (*str(a, "outcome"))
			(void)printf("review: %s by %s at %s: %s\n",
			    str(a, "outcome"), str(a, "by"), str(a, "at"),
			    str(a, "comment"));
		else
			(void)printf("review: due by %s\n", str(a, "due"));
	}
	a = json_object_get(c, "ended");
	if (json_is_object(a))
		(void)printf("ended by %s: %s\n", str(a, "by"),
		    str(a, "reason"));
	print_missing(c);
	print_contacts(c);
	a = json_object_get(c, "credential");
	if (json_is_object(a))
		(void)printf("\nTEMPORARY CREDENTIAL (%s):\n\n    %s\n\n",
		    str(a, "hand_over"), str(a, "value"));
	if (!with_events)
		return;
	a = json_object_get(c, "timeline");
	if (json_array_size(a) > 0) {
		(void)printf("what happened:\n");
		json_array_foreach(a, i, it)
			(void)printf("  %s  %s\n", str(it, "at"), str(it, "text"));
	}
	a = json_object_get(c, "events");
	if (json_array_size(a) > 0) {
		(void)printf("audit events:\n");
		json_array_foreach(a, i, it) {
			const json_t *d = json_object_get(it, "data");

			(void)printf("  #%-5lld %s %s%-18s %-8s ",
			    num(it, "seq"), str(it, "ts"),
			    json_is_true(json_object_get(it, "alert")) ?
			    "!" : " ", str(it, "kind"), str(it, "actor"));
			if (*str(it, "detail"))
				(void)printf("%s\n", str(it, "detail"));
			else if (*str(d, "message"))
				/* a refusal: what was tried and why not */
				(void)printf("%s%s%s: %s\n", str(d, "action"),
				    *str(d, "action") ? " refused, " : "",
				    str(d, "code"), str(d, "message"));
			else
				(void)printf("\n");
		}
	}
}

void
tk_out_case_list(const json_t *list)
{
	const json_t *cases = json_object_get(list, "cases"), *c;
	size_t i;

	if (json_array_size(cases) == 0) {
		(void)printf("no cases\n");
		return;
	}
	(void)printf("%-18s %-10s %-9s %-22s %-14s %-10s %s\n", "ID", "STATE",
	    "TIER", "ACTION", "SUBJECT", "REQUESTER", "UPDATED");
	json_array_foreach(cases, i, c) {
		(void)printf("%-18s %-10s %-9s %-22s %-14s %-10s %s\n",
		    str(c, "id"), str(c, "state"), str(c, "tier"),
		    str(c, "action"), str(c, "subject"), str(c, "requester"),
		    str(c, "updated"));
	}
	if (json_is_integer(json_object_get(list, "next")))
		(void)printf("(more cases; narrow the filter or raise "
		    "--limit)\n");
}

void
tk_out_me(const json_t *me)
{
	(void)printf("login:        %s\n", str(me, "login"));
	if (*str(me, "name"))
		(void)printf("name:         %s\n", str(me, "name"));
	(void)printf("function:     %s\n",
	    *str(me, "function") ? str(me, "function") : "-");
	(void)printf("team:         %s\n",
	    *str(me, "team") ? str(me, "team") : "-");
	(void)printf("roles:        ");
	print_list(stdout, json_object_get(me, "roles"), ", ", "-");
	(void)printf("\ncapabilities: ");
	print_list(stdout, json_object_get(me, "capabilities"), ", ", "-");
	(void)printf("\n");
}

void
tk_out_explain(const json_t *x, const char *subject, const char *action)
{
	const json_t *den = json_object_get(x, "denied");

	(void)printf("request: %s for %s\n", action, subject);
	if (*str(x, "tier") == '\0') {
		(void)printf("tier:    none - no tier matches, so the request "
		    "would be denied\n");
	} else {
		(void)printf("tier:    %s\n", str(x, "tier"));
		(void)printf("rule:    tier \"%s\" at policy line %lld, owner "
		    "%s\n", str(x, "tier"), num(x, "line"),
		    *str(x, "owner") ? str(x, "owner") : "-");
		if (*str(x, "when"))
			(void)printf("  when:  %s\n", str(x, "when"));
	}
	if (*str(x, "policy"))
		(void)printf("policy:  %s\n", str(x, "policy"));
	if (json_is_object(json_object_get(x, "requirements"))) {
		(void)printf("requirements:\n");
		tk_out_requirements(json_object_get(x, "requirements"), stdout,
		    "  ");
	}
	if (json_is_object(den))
		(void)printf("DENIED:  %s\n  (deny rule at policy line %lld, "
		    "owner %s)\n", str(den, "reason"), num(den, "line"),
		    *str(den, "owner") ? str(den, "owner") : "-");
	else
		(void)printf("denied:  no deny rule matches\n");
}
