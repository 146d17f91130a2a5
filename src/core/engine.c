/*
 * engine.c - the case engine: every decision about a case, and nothing
 * else. It enforces the separation-of-duties invariants (DESIGN.md 1-9),
 * moves the state machine, counts evidence and approvals against the
 * tier's requirements, and says what is still missing and who may
 * provide it.
 *
 * Pure by design: no I/O, no clock (x->now), no allocation. A call either
 * applies its whole change and returns TK_OK with the events to record,
 * or returns an error and leaves the case as it was.
 *
 * Order of checks in every call: who you are (forbidden), then the
 * invariants (sod_violation, whatever the state), then the input
 * (invalid_request / policy_denied), then the state (wrong_state).
 */
#include "core/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/action.h"

/* ---- small helpers ---------------------------------------------------- */

static void
emit(tk_events *ev, const char *kind, const char *actor, bool alert,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
emit(tk_events *ev, const char *kind, const char *actor, bool alert,
    const char *fmt, ...)
{
	va_list ap;
	tk_event *e;

	if (ev == NULL || ev->n >= TK_EVENTS_MAX)
		return;
	e = &ev->ev[ev->n++];
	(void)tk_strlcpy(e->kind, kind, sizeof(e->kind));
	(void)tk_strlcpy(e->actor, actor, sizeof(e->actor));
	e->alert = alert;
	va_start(ap, fmt);
	if (vsnprintf(e->detail, sizeof(e->detail), fmt, ap) >=
	    (int)sizeof(e->detail))
		tk_utf8_trim(e->detail);
	va_end(ap);
}

static bool
empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

static bool
gathering(enum tk_state s)
{
	return s == TK_STATE_OPEN || s == TK_STATE_VERIFYING ||
	    s == TK_STATE_APPROVING;
}

static const tk_staff *
staff_caps(const tk_ctx *x, const char *login, unsigned *caps)
{
	const tk_staff *s = tk_org_staff(x->org, login);

	*caps = s != NULL ? tk_policy_caps(x->policy, s->function) : 0;
	return s;
}

static bool
function_in(const char *fn, const char list[][TK_NAME_MAX], int n)
{
	for (int i = 0; i < n; i++)
		if (fn[0] != '\0' && strcmp(fn, list[i]) == 0)
			return true;
	return false;
}

/* Joins up to n names with ", " into buf. */
static void
join_names(char *buf, size_t size, const char list[][TK_NAME_MAX], int n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && off < size; i++) {
		int w = snprintf(buf + off, size - off, "%s%s",
		    i == 0 ? "" : (i == n - 1 ? " or " : ", "), list[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static void
method_list(char *buf, size_t size, unsigned methods)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int m = 0; m < TK_METHOD__COUNT && off < size; m++) {
		int w;
		if (!(methods & (1u << m)))
			continue;
		w = snprintf(buf + off, size - off, "%s%s", off ? ", " : "",
		    tk_method_name((enum tk_method)m));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static enum tk_status
wrong_state(const tk_ctx *x, const tk_case *c, tk_error *err,
    const char *what)
{
	char when[32];

	(void)x;
	if (c->state == TK_STATE_ON_HOLD) {
		tk_time_format(c->hold_until, when, sizeof(when));
		return tk_fail(err, TK_ERR_WRONG_STATE,
		    "case %s is on hold until %s; %s is possible after the "
		    "hold ends (the subject can still cancel it)", c->id, when,
		    what);
	}
	return tk_fail(err, TK_ERR_WRONG_STATE,
	    "case %s is %s; %s is not possible in that state", c->id,
	    tk_state_name(c->state), what);
}

/* ---- requirements ------------------------------------------------------ */

/* Sets c->req from the tier, lowered for break-glass when declared. */
static void
apply_requirements(const tk_ctx *x, tk_case *c, const tk_tier *t)
{
	c->req = t->req;
	(void)tk_strlcpy(c->tier, t->name, sizeof(c->tier));
	(void)tk_strlcpy(c->rule_owner, t->owner, sizeof(c->rule_owner));
	c->rule_line = t->line;
	(void)tk_strlcpy(c->policy_digest, x->policy->digest,
	    sizeof(c->policy_digest));
	if (c->break_glass) {
		const tk_break_glass *bg = &x->policy->break_glass;
		if (bg->approvals < c->req.ap_count)
			c->req.ap_count = bg->approvals;
		c->req.ap_distinct_functions = false;
		c->req.ap_nfrom_any = 0;
		if (c->req.ap_outside_chain > c->req.ap_count)
			c->req.ap_outside_chain = c->req.ap_count;
		c->req.ap_owner = false;
		c->req.hold = 0;
		if (c->req.post_review == 0 ||
		    bg->review_within < c->req.post_review)
			c->req.post_review = bg->review_within;
	}
}

typedef struct tally {
	int ev_methods;      /* distinct methods with valid evidence */
	int ev_other;        /* ...of them recorded by non-requesters */
	int ap_people;       /* valid approvals (distinct people) */
	int ap_functions;    /* distinct functions among them */
	bool ap_from_any;    /* one of them from the from_any list */
	int ap_outside;      /* approvers outside the support chain */
	bool ap_owner;       /* the NHI owner approved */
	char fns[TK_MAX_APPROVALS][TK_NAME_MAX]; /* functions seen */
} tally;

static bool
evidence_counts(const tk_case *c, const tk_evidence *e)
{
	return !e->voided && e->pass &&
	    (c->req.ev_methods & (1u << e->method)) &&
	    memcmp(e->digest, c->digest, TK_DIGEST_LEN) == 0;
}

static bool
approval_counts(const tk_case *c, const tk_approval *a)
{
	return !a->voided && a->approve &&
	    memcmp(a->digest, c->digest, TK_DIGEST_LEN) == 0;
}

static void
count(const tk_ctx *x, const tk_case *c, tally *t)
{
	unsigned seen = 0, seen_other = 0;
	const tk_staff *req = tk_org_staff(x->org, c->requester);
	const tk_subject *subj = tk_org_subject(x->org, c->subject);

	memset(t, 0, sizeof(*t));
	for (int i = 0; i < c->nevidence; i++) {
		const tk_evidence *e = &c->evidence[i];
		if (!evidence_counts(c, e))
			continue;
		seen |= 1u << e->method;
		if (strcmp(e->by, c->requester) != 0)
			seen_other |= 1u << e->method;
	}
	t->ev_methods = __builtin_popcount(seen);
	t->ev_other = __builtin_popcount(seen_other);

	for (int i = 0; i < c->napprovals; i++) {
		const tk_approval *a = &c->approvals[i];
		const tk_staff *s;
		bool dup = false;

		if (!approval_counts(c, a))
			continue;
		t->ap_people++;
		for (int k = 0; k < t->ap_functions; k++)
			if (strcmp(t->fns[k], a->function) == 0)
				dup = true;
		if (!dup)
			(void)tk_strlcpy(t->fns[t->ap_functions++], a->function,
			    TK_NAME_MAX);
		if (function_in(a->function, c->req.ap_from_any,
		    c->req.ap_nfrom_any))
			t->ap_from_any = true;
		s = tk_org_staff(x->org, a->by);
		if (s != NULL && req != NULL &&
		    tk_org_outside_chain(x->org, req, s))
			t->ap_outside++;
		if (subj != NULL && subj->owner[0] != '\0' &&
		    strcmp(subj->owner, a->by) == 0)
			t->ap_owner = true;
	}
}

static bool
owner_required(const tk_ctx *x, const tk_case *c)
{
	const tk_subject *subj = tk_org_subject(x->org, c->subject);

	return c->req.ap_owner && subj != NULL &&
	    subj->kind == TK_SUBJECT_NHI && subj->owner[0] != '\0';
}

static bool
evidence_done(const tk_case *c, const tally *t)
{
	return t->ev_methods >= c->req.ev_count &&
	    t->ev_other >= c->req.ev_by_other;
}

static bool
approvals_done(const tk_ctx *x, const tk_case *c, const tally *t)
{
	const tk_require *r = &c->req;

	if (t->ap_people < r->ap_count)
		return false;
	if (r->ap_distinct_functions && t->ap_functions < r->ap_count)
		return false;
	if (r->ap_nfrom_any > 0 && r->ap_count > 0 && !t->ap_from_any)
		return false;
	if (t->ap_outside < r->ap_outside_chain)
		return false;
	if (owner_required(x, c) && !t->ap_owner)
		return false;
	return true;
}

/*
 * Moves a case forward as far as its records and the clock allow:
 * gathering -> verifying/approving -> on_hold -> ready -> expired.
 */
static void
advance(const tk_ctx *x, tk_case *c, tk_events *ev)
{
	char when[32];
	tally t;

	if (gathering(c->state)) {
		count(x, c, &t);
		if (!evidence_done(c, &t))
			c->state = TK_STATE_VERIFYING;
		else if (!approvals_done(x, c, &t))
			c->state = TK_STATE_APPROVING;
		else if (c->req.hold > 0) {
			c->state = TK_STATE_ON_HOLD;
			c->hold_until = x->now + c->req.hold;
			tk_time_format(c->hold_until, when, sizeof(when));
			emit(ev, "hold.started", "system", false,
			    "all evidence and approvals are in; the change is "
			    "held until %s and %s is told through every "
			    "contact on file and can cancel", when,
			    c->subject);
		} else {
			c->state = TK_STATE_READY;
			c->hold_until = 0;
			c->ready_until = c->req.approval_ttl > 0 ?
			    x->now + c->req.approval_ttl : 0;
			emit(ev, "case.ready", "system", false,
			    "all evidence and approvals are in%s; ready to "
			    "execute", c->break_glass ? " (break-glass: no "
			    "hold)" : "");
		}
	}
	if (c->state == TK_STATE_ON_HOLD && x->now >= c->hold_until) {
		c->state = TK_STATE_READY;
		c->ready_until = c->req.approval_ttl > 0 ?
		    c->hold_until + c->req.approval_ttl : 0;
		emit(ev, "hold.ended", "system", false,
		    "the hold ended without objection; ready to execute");
	}
	if (c->state == TK_STATE_READY && c->ready_until != 0 &&
	    x->now >= c->ready_until) {
		tk_time_format(c->ready_until, when, sizeof(when));
		c->state = TK_STATE_EXPIRED;
		emit(ev, "case.expired", "system", false,
		    "not executed before %s (approval_ttl after the hold); "
		    "the approvals no longer count: open a new case", when);
	}
}

/* Voids every live approval; returns how many. */
static int
void_approvals(tk_case *c, const char *why)
{
	int n = 0;

	for (int i = 0; i < c->napprovals; i++)
		if (!c->approvals[i].voided) {
			c->approvals[i].voided = true;
			(void)tk_strlcpy(c->approvals[i].void_reason, why,
			    TK_REF_MAX);
			n++;
		}
	return n;
}

/* Voids every live record, e.g. after a material change. */
static int
void_all(tk_case *c, const char *why)
{
	int n = void_approvals(c, why);

	for (int i = 0; i < c->nevidence; i++)
		if (!c->evidence[i].voided) {
			c->evidence[i].voided = true;
			(void)tk_strlcpy(c->evidence[i].void_reason, why,
			    TK_REF_MAX);
			n++;
		}
	return n;
}

/* ---- common checks ----------------------------------------------------- */

/* The actor must be staff; invariant 5 (not the subject). */
static enum tk_status
check_actor(const tk_ctx *x, const tk_case *c, const char *actor,
    const tk_staff **out, unsigned *caps, tk_error *err)
{
	const tk_staff *s = staff_caps(x, actor, caps);

	if (s == NULL)
		return tk_fail(err, TK_ERR_FORBIDDEN,
		    "%s is not staff in the current org file; ask an admin "
		    "to add them", actor);
	if (c != NULL && (strcmp(actor, c->subject) == 0 ||
	    tk_subject_is(tk_org_subject(x->org, c->subject), actor)))
		return tk_fail_sod(err, 5,
		    "invariant 5: you are the subject of case %s and cannot "
		    "act on it in any role; if you did not ask for this "
		    "change, cancel it as \"not me\"", c->id);
	*out = s;
	return TK_OK;
}

static enum tk_status
need_cap(const tk_staff *s, unsigned caps, unsigned want, const char *what,
    tk_error *err)
{
	if (caps & want)
		return TK_OK;
	if (s->function[0] == '\0')
		return tk_fail(err, TK_ERR_FORBIDDEN,
		    "%s has no staff function (roles: %s%s) and so cannot %s; "
		    "ask an admin to give you a function in the org file",
		    s->login, (s->roles & TK_ROLE_ADMIN) ? "admin " : "",
		    (s->roles & TK_ROLE_AUDITOR) ? "auditor" : "", what);
	return tk_fail(err, TK_ERR_FORBIDDEN,
	    "the %s function may not %s under the current policy; ask "
	    "someone whose function allows it", s->function, what);
}

/* ---- requests ---------------------------------------------------------- */

static const char *const channels[] = {
	"phone", "chat", "email", "portal", "walk_in", "ticket", "api",
	"video", NULL,
};

static bool
channel_valid(const char *ch)
{
	for (int i = 0; channels[i] != NULL; i++)
		if (strcmp(ch, channels[i]) == 0)
			return true;
	return false;
}

/* Validates the request fields and evaluates the policy on a scratch
 * case; fills tier/requirements. Does not touch lifecycle fields. */
static enum tk_status
tier_case(const tk_ctx *x, tk_case *c, const tk_subject *subj,
    const tk_action *act, tk_error *err)
{
	const char *sig[TK_MAX_SIGNALS];
	tk_facts f;
	tk_decision d;
	char list[TK_REF_MAX];

	if ((act->kinds & (subj->kind == TK_SUBJECT_NHI ?
	    TK_SUBJECT_KIND_NHI_BIT : TK_SUBJECT_KIND_PERSON_BIT)) == 0)
		return tk_fail(err, TK_ERR_INVALID,
		    "%s does not apply to %s, which is %s; pick an action "
		    "for that kind of identity", act->name, subj->id,
		    subj->kind == TK_SUBJECT_NHI ? "a non-human identity" :
		    "a person");
	for (int i = 0; i < c->nsignals; i++)
		sig[i] = c->signals[i];
	memset(&f, 0, sizeof(f));
	f.subject = subj;
	f.action = act->name;
	f.family = act->family;
	f.signals = sig;
	f.nsignals = (size_t)c->nsignals;
	f.channel = c->channel;
	f.ticket = c->ticket;
	f.reason_code = c->reason_code;
	f.tier = "";
	tk_policy_eval(x->policy, &f, &d);
	if (d.tier == NULL)
		return tk_fail(err, TK_ERR_POLICY_DENIED,
		    "no tier of the policy matches %s for %s; the identity "
		    "team must add a catch-all tier (when: 'true')",
		    act->name, subj->id);
	if (d.deny != NULL)
		return tk_fail(err, TK_ERR_POLICY_DENIED,
		    "%s (policy deny rule at line %d, owner %s)",
		    d.deny->reason, d.deny->line, d.deny->owner);
	if (d.tier->req.ticket && empty(c->ticket))
		return tk_fail(err, TK_ERR_POLICY_DENIED,
		    "tier %s requires a ticket or incident reference "
		    "(invariant 9); add one and submit again", d.tier->name);
	if (d.tier->req.reason_code && empty(c->reason_code)) {
		join_names(list, sizeof(list),
		    (const char (*)[TK_NAME_MAX])x->policy->reason_codes,
		    (int)x->policy->nreason_codes);
		return tk_fail(err, TK_ERR_POLICY_DENIED,
		    "tier %s requires a reason code (invariant 9): one of %s",
		    d.tier->name, list);
	}
	if (!empty(c->reason_code) && x->policy->nreason_codes > 0 &&
	    !tk_policy_reason_valid(x->policy, c->reason_code)) {
		join_names(list, sizeof(list),
		    (const char (*)[TK_NAME_MAX])x->policy->reason_codes,
		    (int)x->policy->nreason_codes);
		return tk_fail(err, TK_ERR_INVALID,
		    "unknown reason code \"%s\"; use one of %s",
		    c->reason_code, list);
	}
	(void)tk_strlcpy(c->family, act->family, sizeof(c->family));
	apply_requirements(x, c, d.tier);
	return TK_OK;
}

static enum tk_status
set_field(char *dst, size_t size, const char *src, const char *name,
    tk_error *err)
{
	if (src == NULL)
		src = "";
	if (tk_strlcpy(dst, src, size) != 0)
		return tk_fail(err, TK_ERR_INVALID,
		    "%s is too long (at most %zu bytes)", name, size - 1);
	return TK_OK;
}

static enum tk_status
set_signals(tk_case *c, const char *const *sig, size_t n, tk_error *err)
{
	if (n > TK_MAX_SIGNALS)
		return tk_fail(err, TK_ERR_INVALID,
		    "too many signals (%zu); at most %d", n, TK_MAX_SIGNALS);
	for (size_t i = 0; i < n; i++)
		if (empty(sig[i]) || tk_strlcpy(c->signals[i], sig[i],
		    TK_NAME_MAX) != 0)
			return tk_fail(err, TK_ERR_INVALID,
			    "signal %zu is empty or longer than %d bytes", i,
			    TK_NAME_MAX - 1);
	c->nsignals = (int)n;
	return TK_OK;
}

static enum tk_status
lookup_target(const tk_ctx *x, const char *subject, const char *action,
    const tk_subject **subj, const tk_action **act, tk_error *err)
{
	if (empty(action) || (*act = tk_action_find(action)) == NULL)
		return tk_fail(err, TK_ERR_INVALID,
		    "unknown action \"%s\"; known actions: %s",
		    action ? action : "", tk_action_names());
	if (empty(subject) || (*subj = tk_org_subject(x->org, subject)) ==
	    NULL)
		return tk_fail(err, TK_ERR_INVALID,
		    "unknown subject \"%s\"; subjects must be in the org file "
		    "with their contacts on file before any request",
		    subject ? subject : "");
	return TK_OK;
}

enum tk_status
tk_engine_open(const tk_ctx *x, const char *actor, const char *id,
    const tk_open_req *r, tk_case *out, tk_events *ev, tk_error *err)
{
	const tk_staff *s = NULL;
	const tk_subject *subj;
	const tk_action *act;
	unsigned caps;
	enum tk_status st;
	tk_case *c = out;

	memset(c, 0, sizeof(*c));
	if ((st = check_actor(x, NULL, actor, &s, &caps, err)) != TK_OK ||
	    (st = need_cap(s, caps, TK_CAP_INTAKE, "open cases", err)) !=
	    TK_OK)
		goto fail;
	if ((st = lookup_target(x, r->subject, r->action, &subj, &act,
	    err)) != TK_OK)
		goto fail;
	if (tk_subject_is(subj, actor)) {
		st = tk_fail_sod(err, 5, "invariant 5: you cannot open a case "
		    "about your own account; ask a colleague to take the "
		    "request");
		goto fail;
	}
	if (empty(r->channel) || !channel_valid(r->channel)) {
		st = tk_fail(err, TK_ERR_INVALID,
		    "channel \"%s\" is not known; use one of phone, chat, "
		    "email, portal, walk_in, ticket, api, video",
		    r->channel ? r->channel : "");
		goto fail;
	}
	if ((st = set_field(c->id, sizeof(c->id), id, "id", err)) ||
	    (st = set_field(c->subject, sizeof(c->subject), subj->id,
	    "subject", err)) ||
	    (st = set_field(c->action, sizeof(c->action), act->name,
	    "action", err)) ||
	    (st = set_field(c->channel, sizeof(c->channel), r->channel,
	    "channel", err)) ||
	    (st = set_field(c->ticket, sizeof(c->ticket), r->ticket,
	    "ticket", err)) ||
	    (st = set_field(c->reason_code, sizeof(c->reason_code),
	    r->reason_code, "reason_code", err)) ||
	    (st = set_field(c->justification, sizeof(c->justification),
	    r->justification, "justification", err)) ||
	    (st = tk_case_params_set(c->params, sizeof(c->params),
	    r->params, err)) ||
	    (st = set_field(c->delivery, sizeof(c->delivery), r->delivery,
	    "delivery", err)) ||
	    (st = set_field(c->requester, sizeof(c->requester), actor,
	    "requester", err)) ||
	    (st = set_signals(c, r->signals, r->nsignals, err)))
		goto fail;
	if (!empty(c->delivery) && !tk_subject_has_contact(subj,
	    c->delivery)) {
		st = tk_fail_sod(err, 10, "invariant 10: credentials are "
		    "delivered only to a contact on file for %s; \"%s\" is "
		    "not one", subj->id, c->delivery);
		goto fail;
	}
	if ((st = tier_case(x, c, subj, act, err)) != TK_OK)
		goto fail;
	c->state = TK_STATE_OPEN;
	c->created = c->updated = x->now;
	tk_case_compute_digest(c);
	emit(ev, "case.opened", actor, false,
	    "%s opened %s for %s by %s%s%s; tier %s (rule line %d, owner %s, "
	    "policy %s)", actor, c->action, c->subject, c->channel,
	    c->ticket[0] ? ", ticket " : "", c->ticket, c->tier,
	    c->rule_line, c->rule_owner, c->policy_digest);
	advance(x, c, ev);
	return TK_OK;
fail:
	memset(c, 0, sizeof(*c));
	return st;
}

enum tk_status
tk_engine_add_evidence(const tk_ctx *x, tk_case *c, const char *actor,
    const tk_evidence_req *r, tk_events *ev, tk_error *err)
{
	const tk_staff *s = NULL;
	const tk_subject *subj = tk_org_subject(x->org, c->subject);
	unsigned caps;
	enum tk_status st;
	int m;
	bool pass;
	tk_evidence *e;
	char list[TK_REF_MAX];

	if ((st = check_actor(x, c, actor, &s, &caps, err)) != TK_OK)
		return st;
	if (empty(r->method) || (m = tk_method_parse(r->method)) < 0)
		return tk_fail(err, TK_ERR_INVALID,
		    "unknown evidence method \"%s\"; use registered_factor, "
		    "callback_on_file, out_of_band, manager_attestation, "
		    "id_document or video_call", r->method ? r->method : "");
	if (!r->system_verified && m == TK_METHOD_REGISTERED_FACTOR)
		return tk_fail(err, TK_ERR_INVALID, "registered_factor evidence "
		    "is recorded by twokey when the code the subject reads "
		    "from their enrolled authenticator checks out: send "
		    "{\"method\": \"registered_factor\", \"code\": "
		    "\"123456\"} instead of a result");
	if (!r->system_verified && m == TK_METHOD_OUT_OF_BAND)
		return tk_fail(err, TK_ERR_INVALID, "out_of_band evidence is "
		    "recorded by twokey when the subject answers the "
		    "confirmation it sent to a contact on file: POST "
		    "/v1/cases/%s/confirmations {\"contact\": ...} instead",
		    c->id);
	if (m == TK_METHOD_MANAGER_ATTESTATION) {
		const char *mgr = subj == NULL ? "" :
		    (subj->kind == TK_SUBJECT_NHI ? subj->owner : subj->manager);
		if (mgr[0] == '\0' || strcmp(mgr, actor) != 0)
			return tk_fail(err, TK_ERR_FORBIDDEN,
			    "only %s's %s (%s) can record a manager "
			    "attestation, from their own session", c->subject,
			    subj && subj->kind == TK_SUBJECT_NHI ? "owner" :
			    "manager", mgr[0] ? mgr : "none on file");
		if ((st = need_cap(s, caps, TK_CAP_ATTEST | TK_CAP_VERIFY,
		    "attest", err)) != TK_OK)
			return st;
	} else if ((st = need_cap(s, caps, TK_CAP_VERIFY, "record evidence",
	    err)) != TK_OK)
		return st;
	if (c->executor[0] != '\0' && strcmp(c->executor, actor) == 0)
		return tk_fail_sod(err, 4, "invariant 4: you executed case %s "
		    "and cannot also verify it", c->id);
	if (tk_method_needs_contact((enum tk_method)m)) {
		if (empty(r->contact))
			return tk_fail(err, TK_ERR_INVALID,
			    "%s needs the contact on file that was used; "
			    "give \"contact\"", r->method);
		if (subj == NULL || !tk_subject_has_contact(subj, r->contact))
			return tk_fail_sod(err, 6, "invariant 6: \"%s\" is not "
			    "a contact on file for %s; verify only through "
			    "the contacts on file, never one the caller "
			    "gives", r->contact, c->subject);
	}
	if (empty(r->result) || (strcmp(r->result, "pass") != 0 &&
	    strcmp(r->result, "fail") != 0))
		return tk_fail(err, TK_ERR_INVALID,
		    "result must be \"pass\" or \"fail\"");
	pass = strcmp(r->result, "pass") == 0;
	if (!(c->req.ev_methods & (1u << m))) {
		method_list(list, sizeof(list), c->req.ev_methods);
		return tk_fail(err, TK_ERR_POLICY_DENIED,
		    "%s does not count as evidence for tier %s; accepted: %s",
		    r->method, c->tier, list[0] ? list : "none");
	}
	if ((r->contact && strlen(r->contact) >= TK_CONTACT_MAX) ||
	    (r->reference && strlen(r->reference) >= TK_REF_MAX))
		return tk_fail(err, TK_ERR_INVALID, "contact (at most %d bytes) "
		    "or reference (at most %d bytes) is too long",
		    TK_CONTACT_MAX - 1, TK_REF_MAX - 1);
	if (!gathering(c->state))
		return wrong_state(x, c, err, "recording evidence");
	if (c->nevidence >= TK_MAX_EVIDENCE)
		return tk_fail(err, TK_ERR_WRONG_STATE,
		    "case %s already holds %d evidence records; open a new "
		    "case", c->id, TK_MAX_EVIDENCE);
	e = &c->evidence[c->nevidence];
	memset(e, 0, sizeof(*e));
	(void)tk_strlcpy(e->contact, r->contact, sizeof(e->contact));
	(void)tk_strlcpy(e->reference, r->reference, sizeof(e->reference));
	e->method = m;
	(void)tk_strlcpy(e->by, actor, sizeof(e->by));
	e->pass = pass;
	e->at = x->now;
	memcpy(e->digest, c->digest, TK_DIGEST_LEN);
	c->nevidence++;
	c->updated = x->now;
	if (pass)
		emit(ev, "evidence.added", actor, false,
		    "%s verified %s by %s%s%s", actor, c->subject, r->method,
		    e->contact[0] ? " via contact on file " : "", e->contact);
	else
		emit(ev, "evidence.failed", actor, true,
		    "%s could not verify %s by %s%s%s: the caller may not be "
		    "who they claim", actor, c->subject, r->method,
		    e->contact[0] ? " via " : "", e->contact);
	advance(x, c, ev);
	return TK_OK;
}

/* True when who is the subject's manager (people) or owner (NHIs). */
static bool
owns_subject(const tk_ctx *x, const tk_case *c, const char *who)
{
	const tk_subject *subj = tk_org_subject(x->org, c->subject);

	return subj != NULL && who[0] != '\0' &&
	    (strcmp(subj->manager, who) == 0 || strcmp(subj->owner, who) == 0);
}

static bool
did_approve(const tk_case *c, const char *who, bool live_only)
{
	for (int i = 0; i < c->napprovals; i++)
		if (c->approvals[i].approve && strcmp(c->approvals[i].by,
		    who) == 0 && (!live_only || approval_counts(c,
		    &c->approvals[i])))
			return true;
	return false;
}

static bool
did_verify(const tk_case *c, const char *who)
{
	for (int i = 0; i < c->nevidence; i++)
		if (strcmp(c->evidence[i].by, who) == 0)
			return true;
	return false;
}

/* True when who requested, verified, approved, declared break-glass on or
 * executed the case. */
static bool
took_part(const tk_case *c, const char *who)
{
	return who[0] != '\0' && (strcmp(c->requester, who) == 0 ||
	    strcmp(c->bg_by, who) == 0 || strcmp(c->executor, who) == 0 ||
	    did_verify(c, who) || did_approve(c, who, false));
}

/* The staff login holding a subject account, or "". */
static const char *
holder_of(const tk_ctx *x, const char *subject)
{
	const tk_subject *s = tk_org_subject(x->org, subject);

	return s != NULL ? s->held_by : "";
}

enum tk_status
tk_engine_decide(const tk_ctx *x, tk_case *c, const char *actor,
    bool approve, const char *comment, tk_events *ev, tk_error *err)
{
	const tk_staff *s = NULL;
	unsigned caps;
	enum tk_status st;
	tk_approval *a;

	if ((st = check_actor(x, c, actor, &s, &caps, err)) != TK_OK)
		return st;
	if (!(caps & TK_CAP_APPROVE) && (caps & TK_CAP_APPROVE_OWNED) &&
	    !owns_subject(x, c, actor))
		return tk_fail(err, TK_ERR_FORBIDDEN, "the %s function may "
		    "approve only changes to identities its members own or "
		    "manage, and %s is not yours", s->function, c->subject);
	if (!(caps & TK_CAP_APPROVE_OWNED) && (st = need_cap(s, caps,
	    TK_CAP_APPROVE, "approve or deny", err)) != TK_OK)
		return st;
	if (strcmp(actor, c->requester) == 0)
		return tk_fail_sod(err, 1, "invariant 1: you requested case "
		    "%s and cannot approve or deny it; someone else must",
		    c->id);
	if (c->executor[0] != '\0' && strcmp(c->executor, actor) == 0)
		return tk_fail_sod(err, 4, "invariant 4: you executed case %s "
		    "and cannot also approve it", c->id);
	if (c->break_glass && strcmp(c->bg_by, actor) == 0)
		return tk_fail_sod(err, 1, "invariant 1: you declared "
		    "break-glass on case %s and so stand in for its requester; "
		    "someone else must approve it", c->id);
	if (did_approve(c, actor, true))
		return tk_fail_sod(err, 2, "invariant 2: you already approved "
		    "case %s; approvals must come from distinct people",
		    c->id);
	if (!approve && empty(comment))
		return tk_fail(err, TK_ERR_INVALID,
		    "a denial needs a comment saying why");
	if (comment != NULL && strlen(comment) >= TK_TEXT_MAX)
		return tk_fail(err, TK_ERR_INVALID, "comment is too long (at "
		    "most %d bytes)", TK_TEXT_MAX - 1);
	if (!gathering(c->state))
		return wrong_state(x, c, err, approve ? "approving" :
		    "denying");
	if (c->napprovals >= TK_MAX_APPROVALS)
		return tk_fail(err, TK_ERR_WRONG_STATE,
		    "case %s already holds %d approval records; open a new "
		    "case", c->id, TK_MAX_APPROVALS);
	a = &c->approvals[c->napprovals];
	memset(a, 0, sizeof(*a));
	(void)tk_strlcpy(a->comment, comment, sizeof(a->comment));
	(void)tk_strlcpy(a->by, actor, sizeof(a->by));
	(void)tk_strlcpy(a->function, s->function, sizeof(a->function));
	(void)tk_strlcpy(a->policy_digest, x->policy->digest,
	    sizeof(a->policy_digest));
	a->approve = approve;
	a->at = x->now;
	memcpy(a->digest, c->digest, TK_DIGEST_LEN);
	c->napprovals++;
	c->updated = x->now;
	if (!approve) {
		c->state = TK_STATE_DENIED;
		(void)tk_strlcpy(c->ended_by, actor, sizeof(c->ended_by));
		(void)tk_strlcpy(c->end_reason, a->comment,
		    sizeof(c->end_reason));
		emit(ev, "case.denied", actor, false, "%s (%s) denied the "
		    "change: %s", actor, s->function, a->comment);
		return TK_OK;
	}
	emit(ev, "approval.added", actor, false, "%s (%s) approved under "
	    "policy %s", actor, s->function, x->policy->digest);
	advance(x, c, ev);
	return TK_OK;
}

enum tk_status
tk_engine_patch(const tk_ctx *x, tk_case *c, const char *actor,
    const tk_patch_req *r, tk_events *ev, tk_error *err)
{
	tk_case n; /* scratch copy: the case changes only on success */
	const tk_staff *s = NULL;
	const tk_subject *subj;
	const tk_action *act;
	unsigned caps;
	enum tk_status st;
	char why[TK_REF_MAX], oldtier[TK_NAME_MAX];
	bool material, retiered;
	int voided;

	if ((st = check_actor(x, c, actor, &s, &caps, err)) != TK_OK ||
	    (st = need_cap(s, caps, TK_CAP_INTAKE, "change cases", err)) !=
	    TK_OK)
		return st;
	if (r->subject != NULL && (strcmp(r->subject, actor) == 0 ||
	    tk_subject_is(tk_org_subject(x->org, r->subject), actor)))
		return tk_fail_sod(err, 5, "invariant 5: you cannot move a "
		    "case onto your own account");
	if (r->subject != NULL && strcmp(r->subject, c->subject) != 0 &&
	    (took_part(c, r->subject) || took_part(c, holder_of(x,
	    r->subject))))
		return tk_fail_sod(err, 5, "invariant 5: %s already took part "
		    "in case %s and cannot become its subject; cancel it and "
		    "open a new case", r->subject, c->id);
	if (!gathering(c->state) && c->state != TK_STATE_ON_HOLD &&
	    c->state != TK_STATE_READY)
		return wrong_state(x, c, err, "changing the case");
	n = *c;
	if ((r->subject && (st = set_field(n.subject, sizeof(n.subject),
	    r->subject, "subject", err))) ||
	    (r->action && (st = set_field(n.action, sizeof(n.action),
	    r->action, "action", err))) ||
	    (r->params && (st = tk_case_params_set(n.params,
	    sizeof(n.params), r->params, err))) ||
	    (r->delivery && (st = set_field(n.delivery, sizeof(n.delivery),
	    r->delivery, "delivery", err))) ||
	    (r->channel && (st = set_field(n.channel, sizeof(n.channel),
	    r->channel, "channel", err))) ||
	    (r->ticket && (st = set_field(n.ticket, sizeof(n.ticket),
	    r->ticket, "ticket", err))) ||
	    (r->reason_code && (st = set_field(n.reason_code,
	    sizeof(n.reason_code), r->reason_code, "reason_code", err))) ||
	    (r->justification && (st = set_field(n.justification,
	    sizeof(n.justification), r->justification, "justification",
	    err))) ||
	    (r->has_signals && (st = set_signals(&n, r->signals, r->nsignals,
	    err))))
		return st;
	tk_case_compute_digest(&n);
	material = memcmp(n.digest, c->digest, TK_DIGEST_LEN) != 0;
	if (material && strcmp(actor, c->requester) != 0)
		return tk_fail(err, TK_ERR_FORBIDDEN, "only the requester %s "
		    "may change what case %s asks for (subject, action, "
		    "params, delivery); cancel it and open a new case",
		    c->requester, c->id);
	if ((st = lookup_target(x, n.subject, n.action, &subj, &act, err)))
		return st;
	if (!channel_valid(n.channel))
		return tk_fail(err, TK_ERR_INVALID, "channel \"%s\" is not "
		    "known; use one of phone, chat, email, portal, walk_in, "
		    "ticket, api, video", n.channel);
	if (strcmp(act->family, c->family) != 0)
		return tk_fail(err, TK_ERR_INVALID, "an action cannot move "
		    "between families (%s to %s); cancel this case and open "
		    "a new one", c->family, act->family);
	if (!empty(n.delivery) && !tk_subject_has_contact(subj, n.delivery))
		return tk_fail_sod(err, 10, "invariant 10: credentials are "
		    "delivered only to a contact on file for %s; \"%s\" is "
		    "not one", subj->id, n.delivery);
	(void)tk_strlcpy(oldtier, c->tier, sizeof(oldtier));
	if ((st = tier_case(x, &n, subj, act, err)) != TK_OK)
		return st;
	tk_case_compute_digest(&n);
	n.updated = x->now;
	(void)snprintf(why, sizeof(why), "case changed by %s:%s%s%s%s%s%s%s%s",
	    actor,
	    strcmp(n.subject, c->subject) ? " subject " : "",
	    strcmp(n.subject, c->subject) ? c->subject : "",
	    strcmp(n.subject, c->subject) ? " -> " : "",
	    strcmp(n.subject, c->subject) ? n.subject : "",
	    strcmp(n.action, c->action) ? " action -> " : "",
	    strcmp(n.action, c->action) ? n.action : "",
	    strcmp(n.params, c->params) ? " params" : "",
	    strcmp(n.delivery, c->delivery) ? " delivery" : "");
	retiered = strcmp(oldtier, n.tier) != 0 ||
	    memcmp(&n.req, &c->req, sizeof(n.req)) != 0;
	emit(ev, "case.changed", actor, false, "%s; tier %s -> %s",
	    why, oldtier, n.tier);
	if (material) {
		voided = void_all(&n, why);
		if (voided > 0)
			emit(ev, "records.voided", "system", false, "%d "
			    "evidence and approval record(s) voided: they were "
			    "bound to what the case said before (invariant 7)",
			    voided);
	} else if (retiered) {
		/* Approvers signed off under the old requirements; a lower
		 * tier must not inherit them and skip its hold. */
		(void)snprintf(why, sizeof(why), "tier changed %s -> %s: "
		    "given under the old requirements", oldtier, n.tier);
		voided = void_approvals(&n, why);
		if (voided > 0)
			emit(ev, "approvals.voided", "system", false, "%d "
			    "approval(s) voided: the tier changed from %s to "
			    "%s, so they must be given again", voided, oldtier,
			    n.tier);
	}
	if (material || retiered) {
		n.state = TK_STATE_OPEN;
		n.hold_until = 0;
		n.ready_until = 0;
		advance(x, &n, ev);
	}
	*c = n;
	return TK_OK;
}

/* Who may execute case c (roles and invariant 4) and whether its state
 * allows it: the checks shared by manual and connector execution. */
static enum tk_status
exec_check(const tk_ctx *x, const tk_case *c, const char *actor,
    tk_error *err)
{
	const tk_staff *s = NULL;
	unsigned caps;
	enum tk_status st;

	if ((st = check_actor(x, c, actor, &s, &caps, err)) != TK_OK ||
	    (st = need_cap(s, caps, TK_CAP_EXECUTE, "execute changes",
	    err)) != TK_OK)
		return st;
	if (strcmp(actor, c->requester) == 0)
		return tk_fail_sod(err, 4, "invariant 4: intake and execution "
		    "are separate roles; you requested case %s, so someone "
		    "else must execute it", c->id);
	if (did_verify(c, actor))
		return tk_fail_sod(err, 4, "invariant 4: you recorded evidence "
		    "on case %s and cannot also execute it", c->id);
	if (did_approve(c, actor, false))
		return tk_fail_sod(err, 4, "invariant 4: you approved case %s "
		    "and cannot also execute it", c->id);
	return TK_OK;
}

/* Lists the revocation bits as "sessions, tokens" into buf. */
static void
revoke_text(unsigned bits, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned b = 1; b <= TK_REVOKE__ALL; b <<= 1)
		if ((bits & b) && off < size)
			off += (size_t)snprintf(buf + off, size - off, "%s%s",
			    off ? ", " : "", tk_revoke_name(b));
}

/* The change is made: opens the post-event review when one is due, else
 * executed. */
static void
exec_done(const tk_ctx *x, tk_case *c, tk_events *ev)
{
	char when[32];

	if (c->break_glass || c->req.post_review > 0) {
		c->state = TK_STATE_REVIEW;
		c->review_due = x->now + c->req.post_review;
		tk_time_format(c->review_due, when, sizeof(when));
		emit(ev, "review.opened", "system", false, "post-event review "
		    "due by %s%s", when, c->break_glass ? " (break-glass)" : "");
	} else
		c->state = TK_STATE_EXECUTED;
}

enum tk_status
tk_engine_execute(const tk_ctx *x, tk_case *c, const char *actor,
    const tk_execute_req *r, tk_events *ev, tk_error *err)
{
	enum tk_status st;
	char rv[64];

	if ((st = exec_check(x, c, actor, err)) != TK_OK)
		return st;
	if (r->connector != NULL && r->connector[0] != '\0' &&
	    strcmp(r->connector, "manual") != 0)
		return tk_fail(err, TK_ERR_INVALID, "connector \"%s\" is not "
		    "the manual one; a configured connector runs through "
		    "twokey's own execution (connector \"auto\")",
		    r->connector);
	if (empty(r->note))
		return tk_fail(err, TK_ERR_INVALID, "a manual execution needs "
		    "a note attesting what you changed and where");
	if ((r->revoked & ~(unsigned)TK_REVOKE__ALL) != 0)
		return tk_fail(err, TK_ERR_INVALID, "unknown revocation");
	if (strlen(r->note) >= sizeof(c->exec_note))
		return tk_fail(err, TK_ERR_INVALID, "note is too long (at most "
		    "%zu bytes)", sizeof(c->exec_note) - 1);
	if (c->state != TK_STATE_READY && c->state != TK_STATE_FAILED)
		return wrong_state(x, c, err, "execution");
	(void)tk_strlcpy(c->exec_note, r->note, sizeof(c->exec_note));
	(void)tk_strlcpy(c->executor, actor, sizeof(c->executor));
	(void)tk_strlcpy(c->connector, "manual", sizeof(c->connector));
	c->failure[0] = '\0';
	c->executed_at = c->updated = x->now;
	c->revoked = r->revoked & c->req.revoke;
	c->revoke_pending = c->req.revoke & ~r->revoked;
	emit(ev, "execution.attested", actor, false, "%s executed %s for %s "
	    "with the manual connector: %s", actor, c->action, c->subject,
	    c->exec_note);
	revoke_text(c->revoked, rv, sizeof(rv));
	if (c->revoked)
		emit(ev, "revocation.done", actor, false, "revoked: %s", rv);
	revoke_text(c->revoke_pending, rv, sizeof(rv));
	if (c->revoke_pending)
		emit(ev, "revocation.pending", actor, true, "required "
		    "revocations not confirmed: %s; the subject's old "
		    "sessions or tokens may still work", rv);
	exec_done(x, c, ev);
	return TK_OK;
}

enum tk_status
tk_engine_execute_begin(const tk_ctx *x, tk_case *c, const char *actor,
    const char *connector, tk_events *ev, tk_error *err)
{
	enum tk_status st;

	if ((st = exec_check(x, c, actor, err)) != TK_OK)
		return st;
	if (empty(connector) || strlen(connector) >= sizeof(c->connector))
		return tk_fail(err, TK_ERR_INVALID, "no connector named");
	if (c->state != TK_STATE_READY && c->state != TK_STATE_FAILED)
		return wrong_state(x, c, err, "execution");
	c->attempts++;
	snprintf(c->idem_key, sizeof(c->idem_key), "%s.%d", c->id,
	    c->attempts);
	(void)tk_strlcpy(c->executor, actor, sizeof(c->executor));
	(void)tk_strlcpy(c->connector, connector, sizeof(c->connector));
	c->exec_note[0] = '\0';
	c->failure[0] = '\0';
	c->cred_to[0] = '\0';
	c->cred_until = 0;
	c->revoked = c->revoke_pending = 0;
	c->updated = x->now;
	c->state = TK_STATE_EXECUTING;
	emit(ev, "execution.started", actor, false, "%s started %s for %s "
	    "through connector %s (attempt %d, idempotency key %s)", actor,
	    c->action, c->subject, connector, c->attempts, c->idem_key);
	return TK_OK;
}

enum tk_status
tk_engine_execute_end(const tk_ctx *x, tk_case *c, const tk_exec_result *r,
    tk_events *ev, tk_error *err)
{
	const char *msg = r->message != NULL ? r->message : "";
	const char *how = r->reconciled ? " (found executing after a "
	    "restart; asked the target)" : "";
	char rv[64], when[32];

	if (c->state != TK_STATE_EXECUTING)
		return wrong_state(x, c, err, "recording an execution outcome");
	c->updated = x->now;
	switch (r->outcome) {
	case TK_EXEC_FAILED:
		c->state = TK_STATE_FAILED;
		(void)tk_strlcpy(c->failure, msg, sizeof(c->failure));
		tk_utf8_trim(c->failure);
		emit(ev, "execution.failed", "system", true, "connector %s "
		    "failed%s: %s; nothing changed in the target, retry after "
		    "fixing the cause", c->connector, how, c->failure);
		return TK_OK;
	case TK_EXEC_UNKNOWN:
		c->state = TK_STATE_OUTCOME_UNKNOWN;
		(void)tk_strlcpy(c->failure, msg, sizeof(c->failure));
		tk_utf8_trim(c->failure);
		emit(ev, "execution.unknown", "system", true, "connector %s "
		    "gave no answer%s: %s; check the target system and settle "
		    "the case (resolve), it is never repeated blindly",
		    c->connector, how, c->failure);
		return TK_OK;
	case TK_EXEC_DONE:
		break;
	}
	(void)tk_strlcpy(c->exec_note, msg, sizeof(c->exec_note));
	tk_utf8_trim(c->exec_note);
	c->executed_at = x->now;
	c->revoked = r->revoked & c->req.revoke;
	c->revoke_pending = c->req.revoke & ~c->revoked;
	(void)tk_strlcpy(c->cred_to, r->cred_to != NULL ? r->cred_to : "",
	    sizeof(c->cred_to));
	c->cred_until = r->cred_until;
	emit(ev, "execution.done", "system", false, "connector %s made the "
	    "change%s: %s", c->connector, how, c->exec_note);
	if (strcmp(c->cred_to, TK_CRED_IN_PERSON) == 0)
		emit(ev, "credential.delivered", "system", false, "a temporary "
		    "credential was shown once to %s to hand to %s in person "
		    "(walk-in; the tier allows it); it was not stored and must "
		    "be changed at first use", c->executor, c->subject);
	else if (c->cred_to[0] != '\0' && c->cred_until > 0) {
		tk_time_format(c->cred_until, when, sizeof(when));
		emit(ev, "credential.delivered", "system", false, "a temporary "
		    "credential went to %s (contact on file); it must be "
		    "changed at first use and stops working unused at %s",
		    c->cred_to, when);
	} else if (c->cred_to[0] != '\0')
		emit(ev, "credential.delivered", "system", false, "a temporary "
		    "credential went to %s (contact on file); it must be "
		    "changed at first use (the target cannot expire it unused)",
		    c->cred_to);
	revoke_text(c->revoked, rv, sizeof(rv));
	if (c->revoked)
		emit(ev, "revocation.done", "system", false, "revoked: %s", rv);
	if (c->revoke_pending) {
		revoke_text(c->revoke_pending, rv, sizeof(rv));
		c->state = TK_STATE_REVOCATION_PENDING;
		emit(ev, "revocation.failed", "system", true, "required "
		    "revocations not done: %s (%s); the subject's old sessions "
		    "or tokens may still work: revoke them by hand, then "
		    "resolve the case", rv, r->revoke_message != NULL ?
		    r->revoke_message : "no connector for them");
		return TK_OK;
	}
	exec_done(x, c, ev);
	return TK_OK;
}

enum tk_status
tk_engine_resolve(const tk_ctx *x, tk_case *c, const char *actor, bool done,
    const char *note, tk_events *ev, tk_error *err)
{
	enum tk_status st;
	char rv[64];

	if ((st = exec_check(x, c, actor, err)) != TK_OK)
		return st;
	if (empty(note) || strlen(note) >= TK_TEXT_MAX)
		return tk_fail(err, TK_ERR_INVALID, "say what you checked in "
		    "the target system (\"note\", 1..%d bytes)",
		    TK_TEXT_MAX - 1);
	c->updated = x->now;
	if (c->state == TK_STATE_OUTCOME_UNKNOWN) {
		if (!done) {
			c->state = TK_STATE_FAILED;
			snprintf(c->failure, sizeof(c->failure), "not done "
			    "(checked by %s): %s", actor, note);
			tk_utf8_trim(c->failure);
			emit(ev, "execution.resolved", actor, false, "%s found "
			    "the change was not made: %s; it may be retried",
			    actor, note);
			return TK_OK;
		}
		(void)tk_strlcpy(c->exec_note, note, sizeof(c->exec_note));
		c->failure[0] = '\0';
		c->executed_at = x->now;
		emit(ev, "execution.resolved", actor, false, "%s found the "
		    "change was made: %s", actor, note);
		c->revoke_pending = c->req.revoke & ~c->revoked;
		if (c->revoke_pending) {
			revoke_text(c->revoke_pending, rv, sizeof(rv));
			c->state = TK_STATE_REVOCATION_PENDING;
			emit(ev, "revocation.failed", "system", true, "required "
			    "revocations not done: %s; revoke them by hand, "
			    "then resolve the case", rv);
			return TK_OK;
		}
		exec_done(x, c, ev);
		return TK_OK;
	}
	if (c->state == TK_STATE_REVOCATION_PENDING) {
		if (!done)
			return tk_fail(err, TK_ERR_INVALID, "the change is made; "
			    "resolve with done=true once the pending "
			    "revocations are carried out by hand");
		revoke_text(c->revoke_pending, rv, sizeof(rv));
		c->revoked |= c->revoke_pending;
		c->revoke_pending = 0;
		emit(ev, "revocation.done", actor, false, "%s confirmed the "
		    "revocations by hand: %s (%s)", actor, rv, note);
		exec_done(x, c, ev);
		return TK_OK;
	}
	return wrong_state(x, c, err, "resolving (only outcome_unknown and "
	    "executed_revocation_pending cases are settled by hand)");
}

enum tk_status
tk_engine_add_signal(const tk_ctx *x, tk_case *c, const char *actor,
    const char *signal, tk_events *ev, tk_error *err)
{
	const tk_staff *s = NULL;
	unsigned caps;
	enum tk_status st;
	char when[32];
	tk_time until;
	int i;

	if ((st = check_actor(x, c, actor, &s, &caps, err)) != TK_OK ||
	    (st = need_cap(s, caps, TK_CAP_INTAKE | TK_CAP_VERIFY,
	    "report risk signals", err)) != TK_OK)
		return st;
	if (empty(signal) || strlen(signal) >= TK_NAME_MAX)
		return tk_fail(err, TK_ERR_INVALID, "signal must be a name of "
		    "1..%d bytes, e.g. \"unusual_geo\"", TK_NAME_MAX - 1);
	if (!tk_state_is_open(c->state) || c->state == TK_STATE_EXECUTING)
		return wrong_state(x, c, err, "reporting a signal");
	for (i = 0; i < c->nsignals; i++)
		if (strcmp(c->signals[i], signal) == 0)
			break;
	if (i == c->nsignals) {
		if (c->nsignals >= TK_MAX_SIGNALS)
			return tk_fail(err, TK_ERR_INVALID, "case %s already "
			    "has %d signals", c->id, TK_MAX_SIGNALS);
		(void)tk_strlcpy(c->signals[c->nsignals++], signal,
		    TK_NAME_MAX);
	}
	c->updated = x->now;
	emit(ev, "signal.added", actor, true, "%s reported risk signal %s",
	    actor, signal);
	if (c->state == TK_STATE_ON_HOLD && c->req.hold_extension > 0) {
		until = x->now + c->req.hold_extension;
		if (until > c->hold_until) {
			c->hold_until = until;
			tk_time_format(until, when, sizeof(when));
			emit(ev, "hold.extended", "system", true, "risk signal "
			    "%s during the hold: held until %s", signal, when);
		}
	}
	return TK_OK;
}

enum tk_status
tk_engine_cancel(const tk_ctx *x, tk_case *c, const char *actor,
    const char *reason, tk_events *ev, tk_error *err)
{
	const tk_staff *s = NULL;
	unsigned caps = 0;
	bool subject = strcmp(actor, c->subject) == 0 ||
	    tk_subject_is(tk_org_subject(x->org, c->subject), actor);

	if (!subject) {
		s = staff_caps(x, actor, &caps);
		if (s == NULL)
			return tk_fail(err, TK_ERR_FORBIDDEN, "%s is not staff "
			    "in the current org file", actor);
		if (strcmp(actor, c->requester) != 0 &&
		    !(caps & (TK_CAP_INTAKE | TK_CAP_APPROVE)))
			return need_cap(s, caps, TK_CAP_INTAKE |
			    TK_CAP_APPROVE, "cancel cases", err);
	}
	if (empty(reason))
		return tk_fail(err, TK_ERR_INVALID, "cancelling needs a "
		    "reason");
	if (strlen(reason) >= sizeof(c->end_reason))
		return tk_fail(err, TK_ERR_INVALID, "reason is too long (at "
		    "most %zu bytes)", sizeof(c->end_reason) - 1);
	/* executing, outcome_unknown, executed_revocation_pending: the
	 * change may be made; only settling it (resolve) is left */
	if (!tk_state_is_open(c->state) || c->state == TK_STATE_EXECUTING ||
	    c->state == TK_STATE_OUTCOME_UNKNOWN ||
	    c->state == TK_STATE_REVOCATION_PENDING)
		return wrong_state(x, c, err, "cancelling");
	(void)tk_strlcpy(c->ended_by, actor, sizeof(c->ended_by));
	(void)tk_strlcpy(c->end_reason, reason, sizeof(c->end_reason));
	c->state = TK_STATE_CANCELLED;
	c->updated = x->now;
	if (subject)
		emit(ev, "case.cancelled", actor, true, "the subject %s "
		    "cancelled the request: \"this was not me\" (%s); treat "
		    "the caller as a possible impostor", actor, c->end_reason);
	else
		emit(ev, "case.cancelled", actor, false, "%s cancelled the "
		    "case: %s", actor, c->end_reason);
	return TK_OK;
}

enum tk_status
tk_engine_break_glass(const tk_ctx *x, tk_case *c, const char *actor,
    const char *justification, const char *incident, tk_events *ev,
    tk_error *err)
{
	const tk_staff *s = NULL;
	const tk_break_glass *bg = &x->policy->break_glass;
	const tk_tier *t = NULL;
	unsigned caps;
	enum tk_status st;
	char list[TK_REF_MAX], due[32];

	if ((st = check_actor(x, c, actor, &s, &caps, err)) != TK_OK)
		return st;
	if (!tk_policy_can_break_glass(x->policy, s->function)) {
		join_names(list, sizeof(list), bg->functions,
		    bg->nfunctions);
		return tk_fail(err, TK_ERR_FORBIDDEN, "break-glass is "
		    "reserved to %s under the current policy; ask the "
		    "incident response or security on-call",
		    list[0] ? list : "nobody");
	}
	if (empty(justification) || empty(incident))
		return tk_fail(err, TK_ERR_INVALID, "break-glass needs an "
		    "incident reference and a justification");
	if (c->break_glass)
		return tk_fail(err, TK_ERR_WRONG_STATE, "break-glass was "
		    "already declared on case %s by %s", c->id, c->bg_by);
	if (!gathering(c->state) && c->state != TK_STATE_ON_HOLD)
		return wrong_state(x, c, err, "break-glass");
	for (size_t i = 0; i < x->policy->ntiers; i++)
		if (strcmp(x->policy->tiers[i].name, c->tier) == 0)
			t = &x->policy->tiers[i];
	if (t == NULL)
		return tk_fail(err, TK_ERR_WRONG_STATE, "tier %s is no longer "
		    "in the policy; change the case to re-tier it", c->tier);
	if (strlen(incident) >= sizeof(c->bg_incident) ||
	    strlen(justification) >= sizeof(c->bg_justification))
		return tk_fail(err, TK_ERR_INVALID, "incident (at most %zu "
		    "bytes) or justification (at most %zu bytes) is too long",
		    sizeof(c->bg_incident) - 1,
		    sizeof(c->bg_justification) - 1);
	(void)tk_strlcpy(c->bg_incident, incident, sizeof(c->bg_incident));
	(void)tk_strlcpy(c->bg_justification, justification,
	    sizeof(c->bg_justification));
	c->break_glass = true;
	(void)tk_strlcpy(c->bg_by, actor, sizeof(c->bg_by));
	c->bg_at = c->updated = x->now;
	apply_requirements(x, c, t);
	tk_duration_format(c->req.post_review, due, sizeof(due));
	emit(ev, "break_glass.declared", actor, true, "BREAK-GLASS by %s "
	    "(%s) for incident %s: %s. Hold skipped, %d approval(s) needed; "
	    "a post-event review is due within %s of execution", actor,
	    s->function, c->bg_incident, c->bg_justification,
	    c->req.ap_count, due);
	c->state = TK_STATE_OPEN;
	c->hold_until = 0;
	advance(x, c, ev);
	return TK_OK;
}

enum tk_status
tk_engine_review(const tk_ctx *x, tk_case *c, const char *actor,
    const char *outcome, const char *comment, tk_events *ev, tk_error *err)
{
	const tk_staff *s = NULL;
	unsigned caps;
	enum tk_status st;
	bool bad;

	if ((st = check_actor(x, c, actor, &s, &caps, err)) != TK_OK ||
	    (st = need_cap(s, caps, TK_CAP_REVIEW, "complete post-event "
	    "reviews", err)) != TK_OK)
		return st;
	if (strcmp(actor, c->requester) == 0 ||
	    strcmp(actor, c->executor) == 0 || strcmp(actor, c->bg_by) == 0 ||
	    did_approve(c, actor, false) || did_verify(c, actor))
		return tk_fail_sod(err, 4, "invariant 4: a post-event review "
		    "must be done by someone who took no part in case %s",
		    c->id);
	if (empty(outcome) || (strcmp(outcome, "confirmed") != 0 &&
	    strcmp(outcome, "unauthorized") != 0))
		return tk_fail(err, TK_ERR_INVALID, "outcome must be "
		    "\"confirmed\" or \"unauthorized\"");
	if (empty(comment))
		return tk_fail(err, TK_ERR_INVALID, "a review needs a comment");
	if (strlen(comment) >= sizeof(c->review_comment))
		return tk_fail(err, TK_ERR_INVALID, "comment is too long (at "
		    "most %zu bytes)", sizeof(c->review_comment) - 1);
	if (c->state != TK_STATE_REVIEW)
		return wrong_state(x, c, err, "a post-event review");
	(void)tk_strlcpy(c->review_comment, comment,
	    sizeof(c->review_comment));
	bad = strcmp(outcome, "unauthorized") == 0;
	(void)tk_strlcpy(c->reviewer, actor, sizeof(c->reviewer));
	(void)tk_strlcpy(c->review_outcome, outcome,
	    sizeof(c->review_outcome));
	c->reviewed_at = c->updated = x->now;
	c->state = TK_STATE_CLOSED;
	emit(ev, "review.completed", actor, bad, "%s reviewed the change: "
	    "%s. %s", actor, outcome, c->review_comment);
	return TK_OK;
}

bool
tk_engine_refresh(const tk_ctx *x, tk_case *c, tk_events *ev)
{
	enum tk_state before = c->state;
	int n = ev ? ev->n : 0;
	bool changed = false;
	char dur[16];

	if (gathering(c->state) && c->req.approval_ttl > 0) {
		tk_duration_format(c->req.approval_ttl, dur, sizeof(dur));
		for (int i = 0; i < c->nevidence; i++) {
			tk_evidence *e = &c->evidence[i];
			if (e->voided || x->now < e->at + c->req.approval_ttl)
				continue;
			e->voided = true;
			(void)snprintf(e->void_reason, sizeof(e->void_reason),
			    "expired: older than approval_ttl %s", dur);
			emit(ev, "evidence.expired", "system", false, "%s's %s "
			    "evidence is older than %s and no longer counts",
			    e->by, tk_method_name((enum tk_method)e->method),
			    dur);
			changed = true;
		}
		for (int i = 0; i < c->napprovals; i++) {
			tk_approval *a = &c->approvals[i];
			if (a->voided || x->now < a->at + c->req.approval_ttl)
				continue;
			a->voided = true;
			(void)snprintf(a->void_reason, sizeof(a->void_reason),
			    "expired: older than approval_ttl %s", dur);
			emit(ev, "approval.expired", "system", false, "%s's "
			    "approval is older than %s and no longer counts; "
			    "it must be given again", a->by, dur);
			changed = true;
		}
	}
	advance(x, c, ev);
	if (c->state == TK_STATE_REVIEW && !c->review_overdue &&
	    x->now >= c->review_due) {
		char due[32];
		tk_time_format(c->review_due, due, sizeof(due));
		c->review_overdue = true;
		emit(ev, "review.overdue", "system", true, "the post-event "
		    "review of %s for %s was due by %s and is not done",
		    c->action, c->subject, due);
		changed = true;
	}
	if (changed || c->state != before || (ev && ev->n != n)) {
		c->updated = x->now;
		return true;
	}
	return false;
}

/* ---- what is missing --------------------------------------------------- */

typedef bool (*elig_fn)(const tk_ctx *x, const tk_case *c,
    const tk_staff *s, unsigned caps, const void *arg);

static tk_missing_item *
add_item(tk_missing *m, const char *group)
{
	tk_missing_item *it;

	if (m->n >= TK_MISSING_MAX)
		return NULL;
	it = &m->item[m->n++];
	memset(it, 0, sizeof(*it));
	(void)tk_strlcpy(it->group, group, sizeof(it->group));
	return it;
}

static void
fill_eligible(const tk_ctx *x, const tk_case *c, tk_missing_item *it,
    elig_fn fn, const void *arg)
{
	for (size_t i = 0; i < x->org->nstaff && it->neligible <
	    TK_ELIGIBLE_MAX; i++) {
		const tk_staff *s = &x->org->staff[i];
		unsigned caps = tk_policy_caps(x->policy, s->function);
		if (tk_subject_is(tk_org_subject(x->org, c->subject),
		    s->login))
			continue; /* invariant 5 */
		if (fn(x, c, s, caps, arg))
			(void)tk_strlcpy(it->eligible[it->neligible++],
			    s->login, TK_ID_MAX);
	}
}

static bool
can_verify(const tk_ctx *x, const tk_case *c, const tk_staff *s,
    unsigned caps, const void *arg)
{
	const tk_subject *subj = tk_org_subject(x->org, c->subject);
	bool other_only = arg != NULL;

	if (other_only && strcmp(s->login, c->requester) == 0)
		return false;
	if ((c->req.ev_methods & (1u << TK_METHOD_MANAGER_ATTESTATION)) &&
	    subj != NULL && (strcmp(subj->manager, s->login) == 0 ||
	    strcmp(subj->owner, s->login) == 0))
		return true;
	return (caps & TK_CAP_VERIFY) != 0;
}

enum approver_need { NEED_ANY, NEED_NEW_FN, NEED_FROM, NEED_OUTSIDE,
	NEED_OWNER };

static bool
can_approve(const tk_ctx *x, const tk_case *c, const tk_staff *s,
    unsigned caps, const void *arg)
{
	enum approver_need need = *(const enum approver_need *)arg;
	const tk_staff *req;
	const tk_subject *subj;

	if (!((caps & TK_CAP_APPROVE) || ((caps & TK_CAP_APPROVE_OWNED) &&
	    owns_subject(x, c, s->login))) ||
	    strcmp(s->login, c->requester) == 0 ||
	    did_approve(c, s->login, true) || strcmp(s->login,
	    c->executor) == 0)
		return false;
	switch (need) {
	case NEED_NEW_FN:
		for (int i = 0; i < c->napprovals; i++)
			if (approval_counts(c, &c->approvals[i]) &&
			    strcmp(c->approvals[i].function, s->function) == 0)
				return false;
		return true;
	case NEED_FROM:
		return function_in(s->function, c->req.ap_from_any,
		    c->req.ap_nfrom_any);
	case NEED_OUTSIDE:
		req = tk_org_staff(x->org, c->requester);
		return req != NULL && tk_org_outside_chain(x->org, req, s);
	case NEED_OWNER:
		subj = tk_org_subject(x->org, c->subject);
		return subj != NULL && strcmp(subj->owner, s->login) == 0;
	default:
		return true;
	}
}

static bool
can_execute(const tk_ctx *x, const tk_case *c, const tk_staff *s,
    unsigned caps, const void *arg)
{
	(void)x;
	(void)arg;
	return (caps & TK_CAP_EXECUTE) && strcmp(s->login, c->requester) &&
	    !did_verify(c, s->login) && !did_approve(c, s->login, false);
}

static bool
can_review(const tk_ctx *x, const tk_case *c, const tk_staff *s,
    unsigned caps, const void *arg)
{
	(void)x;
	(void)arg;
	return (caps & TK_CAP_REVIEW) && strcmp(s->login, c->requester) &&
	    strcmp(s->login, c->executor) && strcmp(s->login, c->bg_by) &&
	    !did_verify(c, s->login) && !did_approve(c, s->login, false);
}

static void
missing_approvals(const tk_ctx *x, const tk_case *c, const tally *t,
    tk_missing *m)
{
	static const enum approver_need any = NEED_ANY, newfn = NEED_NEW_FN,
	    from = NEED_FROM, outside = NEED_OUTSIDE, owner = NEED_OWNER;
	const tk_require *r = &c->req;
	tk_missing_item *it;
	char list[TK_REF_MAX];

	if (t->ap_people < r->ap_count && (it = add_item(m, "approval"))) {
		(void)snprintf(it->need, sizeof(it->need), "%d more "
		    "approval(s) from distinct people (have %d of %d)",
		    r->ap_count - t->ap_people, t->ap_people, r->ap_count);
		fill_eligible(x, c, it, can_approve, &any);
	}
	if (r->ap_distinct_functions && t->ap_functions < r->ap_count &&
	    (it = add_item(m, "approval"))) {
		join_names(list, sizeof(list),
		    (const char (*)[TK_NAME_MAX])t->fns, t->ap_functions);
		(void)snprintf(it->need, sizeof(it->need), "approvals from "
		    "%d more distinct function(s)%s%s%s",
		    r->ap_count - t->ap_functions, t->ap_functions ?
		    " (have: " : "", list, t->ap_functions ? ")" : "");
		fill_eligible(x, c, it, can_approve, &newfn);
	}
	if (r->ap_nfrom_any > 0 && r->ap_count > 0 && !t->ap_from_any &&
	    (it = add_item(m, "approval"))) {
		join_names(list, sizeof(list), r->ap_from_any,
		    r->ap_nfrom_any);
		(void)snprintf(it->need, sizeof(it->need), "1 approval from "
		    "%s", list);
		fill_eligible(x, c, it, can_approve, &from);
	}
	if (t->ap_outside < r->ap_outside_chain && (it = add_item(m,
	    "approval"))) {
		(void)snprintf(it->need, sizeof(it->need), "%d approval(s) "
		    "from outside %s's support chain (other function and "
		    "team, not in their management line)",
		    r->ap_outside_chain - t->ap_outside, c->requester);
		fill_eligible(x, c, it, can_approve, &outside);
	}
	if (owner_required(x, c) && !t->ap_owner && (it = add_item(m,
	    "approval"))) {
		(void)snprintf(it->need, sizeof(it->need), "approval by the "
		    "owner of %s", c->subject);
		fill_eligible(x, c, it, can_approve, &owner);
	}
}

void
tk_engine_missing(const tk_ctx *x, const tk_case *c, tk_missing *m)
{
	tk_missing_item *it;
	tally t;
	char list[TK_REF_MAX], when[32];

	memset(m, 0, sizeof(*m));
	if (gathering(c->state)) {
		count(x, c, &t);
		method_list(list, sizeof(list), c->req.ev_methods);
		if (t.ev_methods < c->req.ev_count &&
		    (it = add_item(m, "evidence"))) {
			(void)snprintf(it->need, sizeof(it->need), "%d more "
			    "evidence record(s) by distinct methods (%s)",
			    c->req.ev_count - t.ev_methods, list);
			fill_eligible(x, c, it, can_verify, NULL);
		}
		if (t.ev_other < c->req.ev_by_other &&
		    (it = add_item(m, "evidence"))) {
			(void)snprintf(it->need, sizeof(it->need), "%d "
			    "evidence record(s) by someone other than the "
			    "requester %s", c->req.ev_by_other - t.ev_other,
			    c->requester);
			fill_eligible(x, c, it, can_verify, c);
		}
		missing_approvals(x, c, &t, m);
	} else if (c->state == TK_STATE_ON_HOLD &&
	    (it = add_item(m, "hold"))) {
		tk_time_format(c->hold_until, when, sizeof(when));
		(void)snprintf(it->need, sizeof(it->need), "the hold ends at "
		    "%s; %s can cancel until then", when, c->subject);
	} else if ((c->state == TK_STATE_READY ||
	    c->state == TK_STATE_FAILED) && (it = add_item(m, "execution"))) {
		(void)snprintf(it->need, sizeof(it->need), "execution by "
		    "someone who did not request, verify or approve it");
		fill_eligible(x, c, it, can_execute, NULL);
	} else if (c->state == TK_STATE_REVIEW &&
	    (it = add_item(m, "review"))) {
		tk_time_format(c->review_due, when, sizeof(when));
		(void)snprintf(it->need, sizeof(it->need), "post-event review "
		    "due by %s", when);
		fill_eligible(x, c, it, can_review, NULL);
	}
}

bool
tk_engine_can_read(const tk_ctx *x, const char *actor)
{
	const tk_staff *s = tk_org_staff(x->org, actor);

	return s != NULL && (s->function[0] != '\0' ||
	    (s->roles & (TK_ROLE_AUDITOR | TK_ROLE_ADMIN)));
}
