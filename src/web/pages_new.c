/*
 * pages_new.c - opening a case: GET /cases/new (the form: subject,
 * action, channel, ticket, reason code from the policy, justification,
 * signals), POST /cases/new (opens it and answers 303 to the case, or
 * re-renders the form with the refusal; with "preview" it only shows the
 * preview, for browsers without script) and GET /cases/preview (the
 * preview fragment console.js fetches: tier, rule owner and requirements
 * from tk_app_policy_explain).
 *
 * Owns: pg_case_new, pg_case_preview and the data of case_new.html and
 * preview.html.
 */
#include <stdio.h>
#include <string.h>

#include "core/action.h"
#include "core/policy.h"
#include "web/pages.h"

#define SIGNALS_MAX 8

static const char *const channels[] = {
	"phone", "chat", "email", "portal", "walk_in", "ticket", "video",
};

static const char *const known_signals[] = {
	"new_device", "unusual_geo", "recent_compromise",
	"recent_contact_change",
};

/* What the form holds (from a query or a posted form). */
struct fields {
	const char *subject, *action, *channel, *ticket, *reason_code;
	const char *justification;
	const char *signals[SIGNALS_MAX];
	size_t nsignals;
};

static bool
picked(const struct fields *f, const char *sig)
{
	for (size_t i = 0; i < f->nsignals; i++)
		if (strcmp(f->signals[i], sig) == 0)
			return true;
	return false;
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* The preview of tier and requirements for f into d["preview"]. */
static void
preview(tk_web *w, const web_session *s, const struct fields *f, json_t *d,
    bool *bad)
{
	tk_explain_req r;
	json_t *out = NULL, *p, *req, *items;
	tk_app_err err;
	char buf[160];

	if (f->subject == NULL || *f->subject == '\0' || f->action == NULL ||
	    *f->action == '\0') {
		pg_set(d, "preview", json_pack("{s:s}", "hint", "Choose a "
		    "subject and an action to see the tier and what it needs."),
		    bad);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.subject = f->subject;
	r.action = f->action;
	r.ticket = f->ticket;
	r.channel = f->channel;
	r.reason_code = f->reason_code;
	r.signals = f->signals;
	r.nsignals = f->nsignals;
	if (tk_app_policy_explain(w->app, s->login, &r, &out, &err) != TK_OK) {
		pg_set(d, "preview", json_pack("{s:s}", "problem", err.e.msg),
		    bad);
		return;
	}
	p = json_object();
	items = json_array();
	if (p == NULL || items == NULL) {
		json_decref(p);
		json_decref(items);
		json_decref(out);
		*bad = true;
		return;
	}
	pg_set(p, "tier", json_incref(json_object_get(out, "tier")), bad);
	pg_set(p, "owner", json_incref(json_object_get(out, "owner")), bad);
	pg_set(p, "line", json_incref(json_object_get(out, "line")), bad);
	if (json_is_object(json_object_get(out, "denied")))
		pg_set(p, "denied", json_incref(json_object_get(out, "denied")),
		    bad);
	req = json_object_get(out, "requirements");
	if (json_is_true(json_object_get(req, "ticket")))
		json_array_append_new(items, json_string("a ticket or incident "
		    "reference"));
	if (json_is_true(json_object_get(req, "reason_code")))
		json_array_append_new(items, json_string("a reason code"));
	{
		json_t *ev = json_object_get(req, "evidence");
		json_t *ap = json_object_get(req, "approvals");
		json_int_t n = json_integer_value(json_object_get(ev, "count"));

		if (n > 0) {
			(void)snprintf(buf, sizeof(buf), "%lld piece%s of "
			    "evidence", (long long)n, n == 1 ? "" : "s");
			json_array_append_new(items, json_string(buf));
		}
		n = json_integer_value(json_object_get(ap, "count"));
		(void)snprintf(buf, sizeof(buf), "%lld approval%s%s",
		    (long long)n, n == 1 ? "" : "s",
		    json_is_true(json_object_get(ap, "distinct_functions")) ?
		    " from distinct functions" : "");
		json_array_append_new(items, json_string(buf));
	}
	if (json_is_string(json_object_get(req, "hold")) &&
	    strcmp(json_string_value(json_object_get(req, "hold")), "0s") !=
	    0) {
		(void)snprintf(buf, sizeof(buf), "a hold of %s after the last "
		    "approval", json_string_value(json_object_get(req,
		    "hold")));
		json_array_append_new(items, json_string(buf));
	}
	if (json_is_string(json_object_get(req, "post_review"))) {
		(void)snprintf(buf, sizeof(buf), "a post-event review within "
		    "%s", json_string_value(json_object_get(req,
		    "post_review")));
		json_array_append_new(items, json_string(buf));
	}
	pg_set(p, "needs", items, bad);
	pg_set(d, "preview", p, bad);
	json_decref(out);
}

/* Reason codes from the policy in force ([] when it cannot be read). */
static json_t *
reason_codes(tk_web *w, const web_session *s, const char *sel)
{
	json_t *pol = NULL, *arr = json_array();
	tk_app_err err;
	tk_policy p;
	tk_error e;
	const char *text;

	if (arr == NULL)
		return NULL;
	if (tk_app_policy_get(w->app, s->login, &pol, &err) != TK_OK)
		return arr;
	text = json_string_value(json_object_get(pol, "text"));
	memset(&p, 0, sizeof(p));
	if (text != NULL && tk_policy_load(&p, text, strlen(text), "policy",
	    &e) == 0) {
		for (size_t i = 0; i < p.nreason_codes; i++)
			if (json_array_append_new(arr, json_pack("{s:s, s:b}",
			    "value", p.reason_codes[i], "selected", sel != NULL &&
			    strcmp(sel, p.reason_codes[i]) == 0)) != 0)
				break;
		tk_policy_free(&p);
	}
	json_decref(pol);
	return arr;
}

static void
send_form(tk_web *w, const web_session *s, const struct fields *f,
    int status, const tk_app_err *err, bool with_preview,
    tk_http_resp *resp)
{
	json_t *d = pg_data(w, s, "New case", "new"), *arr;
	bool bad = false;
	size_t i;

	if (d == NULL) {
		pg_oom(w, s, resp);
		return;
	}
	pg_set(d, "subject", json_string(nz(f->subject)), &bad);
	pg_set(d, "ticket", json_string(nz(f->ticket)), &bad);
	pg_set(d, "justification", json_string(nz(f->justification)), &bad);
	arr = json_array();
	for (i = 0; arr != NULL && i < tk_action_count(); i++) {
		const tk_action *a = tk_action_at(i);
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:b}",
		    "value", a->name, "summary", a->summary, "selected",
		    f->action != NULL && strcmp(f->action, a->name) == 0)) != 0)
			bad = true;
	}
	pg_set(d, "actions", arr, &bad);
	arr = json_array();
	for (i = 0; arr != NULL && i < sizeof(channels) / sizeof(channels[0]);
	    i++)
		if (json_array_append_new(arr, json_pack("{s:s, s:b}", "value",
		    channels[i], "selected", f->channel != NULL &&
		    strcmp(f->channel, channels[i]) == 0)) != 0)
			bad = true;
	pg_set(d, "channels", arr, &bad);
	pg_set(d, "reason_codes", reason_codes(w, s, f->reason_code), &bad);
	arr = json_array();
	for (i = 0; arr != NULL && i < sizeof(known_signals) /
	    sizeof(known_signals[0]); i++)
		if (json_array_append_new(arr, json_pack("{s:s, s:b}", "value",
		    known_signals[i], "checked", picked(f, known_signals[i]))) !=
		    0)
			bad = true;
	pg_set(d, "signals", arr, &bad);
	if (with_preview)
		preview(w, s, f, d, &bad);
	if (err != NULL) {
		pg_set(d, "alert", json_string(err->e.msg), &bad);
		if (err->case_id[0] != '\0') {
			char href[64];
			(void)snprintf(href, sizeof(href), "/cases/%s",
			    err->case_id);
			pg_set(d, "open_case", json_string(href), &bad);
			pg_set(d, "open_case_id", json_string(err->case_id),
			    &bad);
		}
	}
	if (bad)
		pg_oom(w, s, resp);
	else
		web_page_send(resp, status, "case_new", d);
	json_decref(d);
}

static void
fields_from_form(struct fields *f, const web_form *wf)
{
	memset(f, 0, sizeof(*f));
	f->subject = web_form_get(wf, "subject");
	f->action = web_form_get(wf, "action");
	f->channel = web_form_get(wf, "channel");
	f->ticket = web_form_get(wf, "ticket");
	f->reason_code = web_form_get(wf, "reason_code");
	f->justification = web_form_get(wf, "justification");
	f->nsignals = web_form_all(wf, "signal", f->signals, SIGNALS_MAX);
}

static void
fields_from_query(struct fields *f, const tk_http_req *req)
{
	memset(f, 0, sizeof(*f));
	f->subject = web_query(req, "subject");
	f->action = web_query(req, "action");
	f->channel = web_query(req, "channel");
	f->ticket = web_query(req, "ticket");
	f->reason_code = web_query(req, "reason_code");
	for (size_t i = 0; i < req->nquery && f->nsignals < SIGNALS_MAX; i++)
		if (strcmp(req->query[i].key, "signal") == 0)
			f->signals[f->nsignals++] = req->query[i].value;
}

void
pg_case_new(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	struct fields f;
	web_form wf;
	tk_open_req r;
	tk_app_err err;
	json_t *out = NULL;
	char loc[64];

	if (strcmp(req->method, "GET") == 0) {
		fields_from_query(&f, req);
		send_form(w, s, &f, 200, NULL, true, resp);
		return;
	}
	if (web_form_parse(&wf, req->body, req->body_len) != 0) {
		memset(&f, 0, sizeof(f));
		memset(&err, 0, sizeof(err));
		(void)tk_strlcpy(err.e.msg, "The form could not be read; reload "
		    "the page and try again.", sizeof(err.e.msg));
		send_form(w, s, &f, 400, &err, false, resp);
		return;
	}
	fields_from_form(&f, &wf);
	if (web_form_get(&wf, "preview") != NULL) {
		send_form(w, s, &f, 200, NULL, true, resp);
		web_form_free(&wf);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.subject = nz(f.subject);
	r.action = nz(f.action);
	r.channel = nz(f.channel);
	r.ticket = nz(f.ticket);
	r.reason_code = nz(f.reason_code);
	r.justification = nz(f.justification);
	r.params = "{}";
	r.delivery = "";
	r.signals = f.signals;
	r.nsignals = f.nsignals;
	if (tk_app_case_open(w->app, s->login, &r, &out, &err) != TK_OK) {
		send_form(w, s, &f, tk_status_http(err.e.status), &err, true,
		    resp);
		web_form_free(&wf);
		return;
	}
	(void)snprintf(loc, sizeof(loc), "/cases/%s",
	    json_string_value(json_object_get(out, "id")) ?
	    json_string_value(json_object_get(out, "id")) : "");
	json_decref(out);
	web_form_free(&wf);
	web_redirect(resp, loc);
}

void
pg_case_preview(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	struct fields f;
	json_t *d = json_object();
	bool bad = false;
	tk_error e;
	size_t len = 0;
	char *text;

	if (d == NULL) {
		pg_oom(w, s, resp);
		return;
	}
	fields_from_query(&f, req);
	preview(w, s, &f, d, &bad);
	text = bad ? NULL : web_render("preview", d, &len, &e);
	json_decref(d);
	if (text == NULL) {
		pg_oom(w, s, resp);
		return;
	}
	/* a fragment, not a page: the layout would repeat the header */
	resp->body = NULL;
	resp->status = 200;
	resp->text = text;
	resp->text_len = len;
	resp->html = true;
	resp->console = true;
	resp->cacheable = false;
	resp->ctype = NULL;
}
