/*
 * pages_case.c - one case: GET /cases/{id} (subject card, requirements
 * checklist with who is eligible, evidence actions, approve or deny with
 * re-authentication for tiers high and critical, hold, execute, cancel,
 * post-event review and the full timeline, refusals included), the
 * actions it posts to (/evidence, /confirm, /totp, /decide, /execute,
 * /cancel, /review) and the break-glass page (/break-glass).
 *
 * The engine decides; this page only shows what the case view says the
 * reader may do (the "eligible" lists of what is missing) and passes
 * every action to the app. A refusal re-renders the page with the app's
 * status (4xx) and its message in an alert box; a success answers 303
 * to the case page (post/redirect/get), except an execution that hands
 * over a walk-in's temporary credential, which is shown once, here.
 *
 * Contacts on file are masked (+1•••••0101) except for a reader who may
 * record evidence now: a verifier needs the number to call back.
 *
 * Owns: pg_case and the case and break-glass templates' data.
 */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app/signin.h"
#include "core/action.h"
#include "core/policy.h"
#include "web/pages.h"

/* What the page shows besides the case (NULL/"" when nothing). */
struct extra {
	int status;
	const char *alert;        /* the app's refusal message */
	const char *notice;       /* what just happened */
	const json_t *credential; /* {"value","hand_over"}, shown once */
	const web_form *form;     /* the refused form's values, to keep */
};

static const char *
jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

/* The missing item of group whose eligible list holds login. */
static bool
eligible_for(const json_t *view, const char *group, const char *login)
{
	size_t i;
	json_t *m;

	json_array_foreach(json_object_get(view, "missing"), i, m)
		if (strcmp(jstr(m, "group"), group) == 0 &&
		    pg_in(json_object_get(m, "eligible"), login))
			return true;
	return false;
}

static bool
has_cap(const json_t *data, const char *cap)
{
	return pg_in(json_object_get(json_object_get(data, "user"),
	    "capabilities"), cap);
}

/* True when login requested, verified, approved, declared break-glass on
 * or executed the case (invariant 4: such a person cannot review it). */
static bool
took_part(const json_t *view, const char *login)
{
	const char *groups[] = {"evidence", "approvals"};
	size_t i, g;
	json_t *v;

	if (strcmp(jstr(view, "requester"), login) == 0 ||
	    strcmp(jstr(json_object_get(view, "execution"), "by"), login) == 0 ||
	    strcmp(jstr(json_object_get(view, "break_glass"), "by"), login) == 0)
		return true;
	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		json_array_foreach(json_object_get(view, groups[g]), i, v)
			if (strcmp(jstr(v, "by"), login) == 0)
				return true;
	return false;
}

static bool
state_open(const char *st)
{
	static const char *const open[] = {"open", "verifying", "approving",
	    "on_hold", "ready", "failed"};

	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		if (strcmp(st, open[i]) == 0)
			return true;
	return false;
}

static bool
tier_needs_reauth(const char *tier)
{
	return strcmp(tier, "high") == 0 || strcmp(tier, "critical") == 0;
}

/* text with every contact on file replaced by its masked form. */
static json_t *
mask_text(const char *text, const json_t *contacts)
{
	char buf[2048], masked[TK_CONTACT_MAX + 16];
	size_t i;
	json_t *c;

	if (tk_strlcpy(buf, text, sizeof(buf)) != 0)
		tk_utf8_trim(buf);
	json_array_foreach(contacts, i, c) {
		const char *v = jstr(c, "value");
		size_t vl = strlen(v), ml;
		char *p = buf;

		if (vl == 0)
			continue;
		pg_mask(v, masked, sizeof(masked));
		ml = strlen(masked);
		/* search on after each replacement: the masked form may
		 * still contain the value's first character */
		while ((p = strstr(p, v)) != NULL) {
			size_t tail = strlen(p + vl);

			if ((size_t)(p - buf) + ml + tail + 1 > sizeof(buf))
				break;
			memmove(p + ml, p + vl, tail + 1);
			memcpy(p, masked, ml);
			p += ml;
		}
	}
	return json_string(buf);
}

/* Masks the contacts on file wherever staff typed free text into the
 * case (justification, comments, references, notes) for a reader who
 * does not need them: the same rule as the contacts list. */
static void
mask_case_text(json_t *c, const json_t *contacts, bool *bad)
{
	static const struct {
		const char *group, *field; /* group NULL: c itself */
		bool array;
	} at[] = {
		{NULL, "justification", false},
		{"evidence", "reference", true},
		{"approvals", "comment", true},
		{"break_glass", "justification", false},
		{"execution", "note", false},
		{"execution", "failure", false},
		{"review", "comment", false},
	};
	size_t i, k;
	json_t *o, *item;

	for (k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		o = at[k].group != NULL ? json_object_get(c, at[k].group) : c;
		if (!at[k].array) {
			if (json_is_string(json_object_get(o, at[k].field)))
				pg_set(o, at[k].field, mask_text(jstr(o,
				    at[k].field), contacts), bad);
			continue;
		}
		json_array_foreach(o, i, item)
			if (json_is_string(json_object_get(item, at[k].field)))
				pg_set(item, at[k].field, mask_text(jstr(item,
				    at[k].field), contacts), bad);
	}
}

/* Builds the page data for the case view (the caller owns both). */
static json_t *
case_data(tk_web *w, const web_session *s, const json_t *view,
    const json_t *subj, const struct extra *x)
{
	const char *id = jstr(view, "id"), *st = jstr(view, "state");
	const char *tier = jstr(view, "tier");
	const json_t *contacts = json_object_get(view, "contacts_on_file");
	json_t *d, *arr, *v, *el, *casecopy;
	bool bad = false, full, can_ev, can_dec, can_exec;
	char title[96], buf[160], t1[40];
	const tk_action *act = tk_action_find(jstr(view, "action"));
	size_t i;

	(void)snprintf(title, sizeof(title), "Case %s", id);
	d = pg_data(w, s, title, "queues");
	if (d == NULL)
		return NULL;
	can_ev = eligible_for(view, "evidence", s->login) &&
	    state_open(st);
	can_dec = eligible_for(view, "approval", s->login);
	can_exec = eligible_for(view, "execution", s->login);
	full = can_ev; /* a verifier who needs the numbers sees them */
	casecopy = json_deep_copy(view);
	if (casecopy != NULL && !full) {
		mask_case_text(casecopy, contacts, &bad);
		(void)json_object_del(casecopy, "contacts_on_file");
	}
	pg_set(d, "case", casecopy, &bad);
	pg_set(d, "id", json_string(id), &bad);
	pg_set(d, "state_label", json_string(pg_state_label(st)), &bad);
	pg_set(d, "action_summary", json_string(act != NULL ? act->summary :
	    ""), &bad);
	pg_set(d, "subject_card", subj != NULL ? json_deep_copy(subj) :
	    json_null(), &bad);
	/* contacts on file */
	arr = json_array();
	json_array_foreach(contacts, i, v) {
		char m[TK_CONTACT_MAX + 16];

		pg_mask(jstr(v, "value"), m, sizeof(m));
		/* the full value only for a reader who needs it, so no
		 * template can show it to anyone else */
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s}",
		    "kind", jstr(v, "kind"), "shown", full ? jstr(v, "value") :
		    m, "value", full ? jstr(v, "value") : "")) != 0)
			bad = true;
	}
	pg_set(d, "contacts", arr, &bad);
	pg_set(d, "contacts_full", json_boolean(full), &bad);
	/* requirements: what is missing, and what is in */
	arr = json_array();
	json_array_foreach(json_object_get(view, "missing"), i, v) {
		el = json_pack("{s:s, s:s, s:O, s:b}", "group", jstr(v,
		    "group"), "need", jstr(v, "need"), "eligible",
		    json_object_get(v, "eligible"), "mine",
		    pg_in(json_object_get(v, "eligible"), s->login));
		if (json_array_append_new(arr, el) != 0)
			bad = true;
	}
	pg_set(d, "missing", arr, &bad);
	arr = json_array();
	json_array_foreach(json_object_get(view, "evidence"), i, v) {
		char m[TK_CONTACT_MAX + 16];
		const char *c = jstr(v, "contact");

		pg_mask(c, m, sizeof(m));
		el = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "method",
		    jstr(v, "method"), "by", jstr(v, "by"), "contact",
		    c[0] == '\0' ? "" : full ? c : m, "result", jstr(v,
		    "result"), "at", jstr(v, "at"), "valid",
		    json_is_true(json_object_get(v, "valid")), "void_reason",
		    jstr(v, "void_reason"));
		if (json_array_append_new(arr, el) != 0)
			bad = true;
	}
	pg_set(d, "evidence", arr, &bad);
	arr = json_array();
	json_array_foreach(json_object_get(casecopy, "approvals"), i, v) {
		el = json_pack("{s:s, s:s, s:b, s:s, s:s, s:b, s:s}", "by",
		    jstr(v, "by"), "function", jstr(v, "function"), "approve",
		    strcmp(jstr(v, "decision"), "approve") == 0, "comment",
		    jstr(v, "comment"), "at", jstr(v, "at"), "valid",
		    json_is_true(json_object_get(v, "valid")), "void_reason",
		    jstr(v, "void_reason"));
		if (json_array_append_new(arr, el) != 0)
			bad = true;
	}
	pg_set(d, "approvals", arr, &bad);
	/* what the reader may do */
	pg_set(d, "can_evidence", json_boolean(can_ev), &bad);
	pg_set(d, "can_decide", json_boolean(can_dec), &bad);
	pg_set(d, "can_execute", json_boolean(can_exec), &bad);
	pg_set(d, "can_cancel", json_boolean(state_open(st) &&
	    (strcmp(jstr(view, "requester"), s->login) == 0 ||
	    has_cap(d, "intake") || has_cap(d, "approve"))), &bad);
	if (strcmp(jstr(view, "requester"), s->login) == 0 && !can_dec &&
	    has_cap(d, "approve") && (strcmp(st, "verifying") == 0 ||
	    strcmp(st, "approving") == 0))
		pg_set(d, "own_request", json_true(), &bad);
	pg_set(d, "can_review", json_boolean(strcmp(st, "review") == 0 &&
	    has_cap(d, "review") && !took_part(view, s->login)), &bad);
	pg_set(d, "can_break_glass", json_boolean(state_open(st) &&
	    strcmp(st, "ready") != 0 && json_is_null(json_object_get(view,
	    "break_glass")) && has_cap(d, "break_glass")), &bad);
	if (can_dec && tier_needs_reauth(tier) && !web_reauth_fresh(w, s)) {
		if (s->sso) {
			(void)snprintf(buf, sizeof(buf), "/login/sso?fresh=1&"
			    "next=/cases/%s", id);
			pg_set(d, "sso_reauth_href", json_string(buf), &bad);
		} else {
			pg_set(d, "needs_code", json_true(), &bad);
		}
	}
	if (can_ev) {
		json_t *methods = json_array();
		const json_t *req_methods = json_object_get(json_object_get(
		    json_object_get(view, "requirements"), "evidence"),
		    "methods");

		json_array_foreach(req_methods, i, v) {
			const char *mname = json_string_value(v);
			if (mname == NULL ||
			    strcmp(mname, "registered_factor") == 0 ||
			    strcmp(mname, "out_of_band") == 0)
				continue; /* their own forms */
			if (json_array_append_new(methods, json_pack("{s:s}",
			    "value", mname)) != 0)
				bad = true;
		}
		if (json_array_size(methods) == 0 &&
		    json_array_append_new(methods, json_pack("{s:s}", "value",
		    "callback_on_file")) != 0)
			bad = true;
		pg_set(d, "evidence_methods", methods, &bad);
	}
	/* times */
	if (json_is_string(json_object_get(view, "hold_until")))
		pg_set(d, "hold_until", json_incref(json_object_get(view,
		    "hold_until")), &bad);
	if (json_is_string(json_object_get(view, "ready_until")))
		pg_set(d, "ready_until", json_incref(json_object_get(view,
		    "ready_until")), &bad);
	pg_time(tk_app_now(w->app), t1, sizeof(t1));
	pg_set(d, "now", json_string(t1), &bad);
	/* the timeline, refusals and alerts marked */
	arr = json_array();
	json_array_foreach(json_object_get(view, "timeline"), i, v) {
		const char *what = jstr(v, "what");

		el = json_pack("{s:s, s:s, s:s, s:o, s:b, s:b}", "at", jstr(v,
		    "at"), "actor", jstr(v, "actor"), "what", what, "text",
		    full ? json_string(jstr(v, "text")) : mask_text(jstr(v,
		    "text"), contacts), "refused", strcmp(what, "refused") == 0,
		    "alerted", strcmp(what, "alert") == 0);
		if (json_array_append_new(arr, el) != 0)
			bad = true;
	}
	pg_set(d, "timeline", arr, &bad);
	if (x != NULL) {
		if (x->alert != NULL)
			pg_set(d, "alert", json_string(x->alert), &bad);
		if (x->notice != NULL)
			pg_set(d, "notice", json_string(x->notice), &bad);
		if (x->credential != NULL)
			pg_set(d, "credential", json_deep_copy(x->credential),
			    &bad);
		if (x->form != NULL) {
			const char *c = web_form_get(x->form, "comment");
			const char *r = web_form_get(x->form, "reference");

			if (c != NULL)
				pg_set(d, "form_comment", json_string(c), &bad);
			if (r != NULL)
				pg_set(d, "form_reference", json_string(r),
				    &bad);
		}
	}
	if (bad) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* Renders template name ("case" or "break_glass") for case id. */
/* Wipes holder's "credential"."value" in place (jansson keeps strings
 * in its own writable buffers; only their API is const). */
static void
wipe_credential(json_t *holder)
{
	json_t *v = json_object_get(json_object_get(holder, "credential"),
	    "value");

	if (json_is_string(v))
		OPENSSL_cleanse((char *)(uintptr_t)json_string_value(v),
		    json_string_length(v));
}

static void
send_case(tk_web *w, const web_session *s, const char *id, const char *name,
    const struct extra *x, tk_http_resp *resp)
{
	json_t *view = NULL, *subj = NULL, *d;
	tk_app_err err;

	if (tk_app_case_get(w->app, s->login, id, &view, &err) != TK_OK) {
		pg_notice(w, s, resp, tk_status_http(err.e.status),
		    err.e.status == TK_ERR_NOT_FOUND ? "No such case" :
		    "This case cannot be shown", err.e.msg, "/queues",
		    "Go to the queues");
		return;
	}
	/* the subject card; a subject gone from the org shows without it */
	if (tk_app_subject(w->app, s->login, jstr(view, "subject"), &subj,
	    &err) != TK_OK)
		subj = NULL;
	d = case_data(w, s, view, subj, x);
	if (d == NULL)
		pg_oom(w, s, resp);
	else
		web_page_send(resp, x != NULL && x->status ? x->status : 200,
		    name, d);
	if (x != NULL && x->credential != NULL) {
		/* the page carries a credential shown once: wipe the copy in
		 * the page data, and have the server wipe the page */
		wipe_credential(d);
		resp->secret = true;
	}
	json_decref(d);
	json_decref(view);
	json_decref(subj);
}

static void
refused(tk_web *w, const web_session *s, const char *id, const char *name,
    const tk_app_err *err, const web_form *f, tk_http_resp *resp)
{
	struct extra x = {0};

	x.status = tk_status_http(err->e.status);
	x.alert = err->e.msg[0] ? err->e.msg : "the request was refused";
	x.form = f;
	send_case(w, s, id, name, &x, resp);
}

static void
bad_input(tk_web *w, const web_session *s, const char *id, const char *name,
    const char *msg, const web_form *f, tk_http_resp *resp)
{
	tk_app_err err;

	memset(&err, 0, sizeof(err));
	err.e.status = TK_ERR_INVALID;
	(void)tk_strlcpy(err.e.msg, msg, sizeof(err.e.msg));
	refused(w, s, id, name, &err, f, resp);
}

static void
done(tk_http_resp *resp, const char *id, const char *what)
{
	char loc[96];

	(void)snprintf(loc, sizeof(loc), "/cases/%s?done=%s", id, what);
	web_redirect(resp, loc);
}

static const char *
notice_for(const char *what)
{
	static const struct { const char *what, *text; } n[] = {
		{"evidence", "Evidence recorded."},
		{"confirm", "Confirmation sent to the contact on file. It is "
		    "recorded as evidence when the subject answers yes."},
		{"totp", "Code accepted: registered-factor evidence recorded."},
		{"approve", "Approval recorded."},
		{"deny", "Denial recorded."},
		{"execute", "Executed."},
		{"cancel", "Case cancelled."},
		{"review", "Review recorded."},
		{"break-glass", "Break-glass declared. The security team is "
		    "alerted and a post-event review is open."},
	};

	for (size_t i = 0; what != NULL && i < sizeof(n) / sizeof(n[0]); i++)
		if (strcmp(n[i].what, what) == 0)
			return n[i].text;
	return NULL;
}

/* The decision, with the TOTP re-authentication tiers high and critical
 * need first (unless the session re-authenticated a moment ago). */
static void
post_decide(tk_web *w, const tk_http_req *req, const web_session *s,
    const char *id, const web_form *f, tk_http_resp *resp)
{
	const char *dec = web_form_get(f, "decision");
	const char *comment = web_form_get(f, "comment");
	const char *code = web_form_get(f, "code");
	const char *seen = web_form_get(f, "digest");
	json_t *view = NULL;
	tk_app_err err;
	bool approve;

	if (dec == NULL || (strcmp(dec, "approve") != 0 &&
	    strcmp(dec, "deny") != 0)) {
		bad_input(w, s, id, "case", "Choose Approve or Deny.", f, resp);
		return;
	}
	approve = strcmp(dec, "approve") == 0;
	if (tk_app_case_get(w->app, s->login, id, &view, &err) != TK_OK) {
		refused(w, s, id, "case", &err, f, resp);
		return;
	}
	if (tier_needs_reauth(jstr(view, "tier")) && !web_reauth_fresh(w, s)) {
		json_decref(view);
		if (s->sso) {
			bad_input(w, s, id, "case", "This tier needs you to sign "
			    "in again before a decision: use \"Re-authenticate "
			    "with SSO\", then decide.", f, resp);
			return;
		}
		if (code == NULL || *code == '\0') {
			memset(&err, 0, sizeof(err));
			err.e.status = TK_ERR_UNAUTH;
			(void)tk_strlcpy(err.e.msg, "This tier needs a fresh "
			    "code from your own authenticator app before a "
			    "decision: enter it in the code field and submit "
			    "again.", sizeof(err.e.msg));
			refused(w, s, id, "case", &err, f, resp);
			return;
		}
		if (tk_app_session_reauth_totp(w->app, s->token, code,
		    req->remote, &err) != TK_OK) {
			refused(w, s, id, "case", &err, f, resp);
			return;
		}
	} else {
		json_decref(view);
	}
	/* bound to the case as the approver read it (the digest the page's
	 * form carries): a change since then is refused, not approved
	 * unseen */
	if (tk_app_case_decide_seen(w->app, s->login, id, approve,
	    comment != NULL ? comment : "", seen != NULL && *seen != '\0' ?
	    seen : NULL, NULL, &err) != TK_OK) {
		refused(w, s, id, "case", &err, f, resp);
		return;
	}
	done(resp, id, approve ? "approve" : "deny");
}

static void
post_execute(tk_web *w, const web_session *s, const char *id,
    const web_form *f, tk_http_resp *resp)
{
	const char *revoked[4];
	size_t n = web_form_all(f, "revoked", revoked, 4);
	const char *note = web_form_get(f, "note");
	const char *conn = web_form_get(f, "connector");
	tk_execute_req r;
	json_t *out = NULL, *cred;
	tk_app_err err;

	memset(&r, 0, sizeof(r));
	r.connector = conn != NULL && *conn != '\0' ? conn : NULL;
	r.note = note != NULL ? note : "";
	for (size_t i = 0; i < n; i++) {
		int bit = tk_revoke_parse(revoked[i]);
		if (bit < 0) {
			bad_input(w, s, id, "case", "Unknown revocation: tick "
			    "sessions, tokens or credentials.", f, resp);
			return;
		}
		r.revoked |= (unsigned)bit;
	}
	if (tk_app_case_execute(w->app, s->login, id, &r, &out, &err) !=
	    TK_OK) {
		refused(w, s, id, "case", &err, f, resp);
		return;
	}
	cred = json_object_get(out, "credential");
	if (json_is_object(cred)) {
		/* a walk-in's credential: shown once, on this answer only */
		struct extra x = {0};
		x.notice = "Executed. Hand the temporary credential below to the "
		    "person in front of you; it is not shown again.";
		x.credential = cred;
		send_case(w, s, id, "case", &x, resp);
		wipe_credential(out);
	} else {
		done(resp, id, "execute");
	}
	json_decref(out);
}

static void
post_break_glass(tk_web *w, const web_session *s, const char *id,
    const web_form *f, tk_http_resp *resp)
{
	const char *inc = web_form_get(f, "incident");
	const char *just = web_form_get(f, "justification");
	const char *ok = web_form_get(f, "confirm");
	tk_app_err err;

	if (ok == NULL || strcmp(ok, "yes") != 0) {
		bad_input(w, s, id, "break_glass", "Tick the box to confirm you "
		    "understand what break-glass does.", f, resp);
		return;
	}
	if (inc == NULL || *inc == '\0' || just == NULL || *just == '\0') {
		bad_input(w, s, id, "break_glass", "Give the incident reference "
		    "and a justification.", f, resp);
		return;
	}
	if (tk_app_case_break_glass(w->app, s->login, id, just, inc, NULL,
	    &err) != TK_OK) {
		refused(w, s, id, "break_glass", &err, f, resp);
		return;
	}
	done(resp, id, "break-glass");
}

/* The POST actions other than decide, execute and break-glass. */
static void
post_simple(tk_web *w, const web_session *s, const char *id,
    const char *sub, const web_form *f, tk_http_resp *resp)
{
	tk_app_err err;
	enum tk_status st;

	if (strcmp(sub, "evidence") == 0) {
		const char *m = web_form_get(f, "method");
		const char *res = web_form_get(f, "result");
		tk_evidence_req r = {0}; /* never system_verified from a form */

		if (m == NULL || res == NULL || (strcmp(res, "pass") != 0 &&
		    strcmp(res, "fail") != 0)) {
			bad_input(w, s, id, "case", "Choose the method and "
			    "whether the check passed or failed.", f, resp);
			return;
		}
		if (strcmp(m, "registered_factor") == 0 ||
		    strcmp(m, "out_of_band") == 0) {
			bad_input(w, s, id, "case", "Registered-factor and "
			    "out-of-band evidence are recorded by twokey "
			    "itself: use the code form or send a "
			    "confirmation.", f, resp);
			return;
		}
		r.method = m;
		r.contact = web_form_get(f, "contact") != NULL ?
		    web_form_get(f, "contact") : "";
		r.result = res;
		r.reference = web_form_get(f, "reference") != NULL ?
		    web_form_get(f, "reference") : "";
		st = tk_app_case_evidence(w->app, s->login, id, &r, NULL,
		    &err);
	} else if (strcmp(sub, "confirm") == 0) {
		const char *c = web_form_get(f, "contact");

		st = tk_app_confirm_send(w->app, s->login, id, c ? c : "", NULL,
		    &err);
	} else if (strcmp(sub, "totp") == 0) {
		const char *c = web_form_get(f, "code");

		st = tk_app_case_totp(w->app, s->login, id, c ? c : "", NULL,
		    &err);
	} else if (strcmp(sub, "cancel") == 0) {
		const char *r = web_form_get(f, "reason");

		if (r == NULL || *r == '\0') {
			bad_input(w, s, id, "case", "Say why the case is "
			    "cancelled.", f, resp);
			return;
		}
		st = tk_app_case_cancel(w->app, s->login, id, r, NULL, &err);
	} else if (strcmp(sub, "review") == 0) {
		const char *o = web_form_get(f, "outcome");
		const char *n = web_form_get(f, "notes");

		if (o == NULL || n == NULL || *n == '\0') {
			bad_input(w, s, id, "case", "Choose the outcome and "
			    "write what you checked.", f, resp);
			return;
		}
		st = tk_app_case_review(w->app, s->login, id, o, n, NULL, &err);
	} else {
		pg_notice(w, s, resp, 404, "Page not found", "There is no such "
		    "action on a case.", "/queues", "Go to the queues");
		return;
	}
	if (st != TK_OK) {
		refused(w, s, id, "case", &err, f, resp);
		return;
	}
	done(resp, id, sub);
}

void
pg_case(tk_web *w, const tk_http_req *req, const web_session *s,
    const char *id, const char *sub, tk_http_resp *resp)
{
	bool post = strcmp(req->method, "POST") == 0;
	web_form f;

	if (!post) {
		struct extra x = {0};

		if (strcmp(sub, "") == 0) {
			x.notice = notice_for(web_query(req, "done"));
			send_case(w, s, id, "case", &x, resp);
		} else if (strcmp(sub, "break-glass") == 0) {
			send_case(w, s, id, "break_glass", NULL, resp);
		} else {
			pg_notice(w, s, resp, 404, "Page not found", "There is "
			    "no such page for a case.", "/queues",
			    "Go to the queues");
		}
		return;
	}
	if (web_form_parse(&f, req->body, req->body_len) != 0) {
		bad_input(w, s, id, "case", "The form could not be read; reload "
		    "the page and try again.", NULL, resp);
		return;
	}
	if (strcmp(sub, "decide") == 0)
		post_decide(w, req, s, id, &f, resp);
	else if (strcmp(sub, "execute") == 0)
		post_execute(w, s, id, &f, resp);
	else if (strcmp(sub, "break-glass") == 0)
		post_break_glass(w, s, id, &f, resp);
	else
		post_simple(w, s, id, sub, &f, resp);
	web_form_free(&f);
}
