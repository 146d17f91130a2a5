/*
 * pages_admin.c - the pages for auditors and the identity team: GET
 * /audit (the log's latest signed checkpoint, how far the log has grown
 * since, the latest verification run on the server, the latest alerts,
 * how to verify it independently), POST /audit/verify (auditors and
 * admins: runs the full verification, then 303 back to /audit; a
 * refusal re-renders the page with the app's message) and GET /policy (the policy in force: each tier with its owner, line
 * and requirements, the deny rules, break-glass, the functions, the text
 * itself, and an explain box: subject + action + signals -> tier,
 * requirements and rule owner).
 *
 * Owns: pg_audit, pg_policy and the data of audit.html, policy.html and
 * explain.html.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/action.h"
#include "core/policy.h"
#include "web/pages.h"

#define ALERTS_SHOWN 20

/* The latest verification (audit_verify.c) for audit.html: "verification"
 * {intact, size, at, by, bad_seq, bad_kind, detail}, or "not_verified",
 * or the reason it cannot be read; "can_verify" for auditors and admins
 * (the same role check as running one). */
static void
audit_verification(tk_web *w, const web_session *s, json_t *d, bool *bad)
{
	json_t *lv = NULL, *v;
	tk_app_err err;
	const char *result;
	char at[40];
	json_int_t bad_seq;

	if (tk_app_audit_last_verify(w->app, s->login, &lv, &err) != TK_OK) {
		pg_set(d, "verify_problem", json_string(err.e.msg), bad);
		return;
	}
	pg_set(d, "can_verify", json_true(), bad);
	if (!json_is_object(lv)) {
		pg_set(d, "not_verified", json_true(), bad);
		json_decref(lv);
		return;
	}
	pg_time((tk_time)json_integer_value(json_object_get(lv, "at_epoch")),
	    at, sizeof(at));
	bad_seq = json_integer_value(json_object_get(lv, "bad_seq"));
	result = json_string_value(json_object_get(lv, "result"));
	v = json_pack("{s:b, s:O?, s:s, s:O?, s:O?, s:O?, s:O?}", "intact",
	    result != NULL && strcmp(result, "intact") == 0, "size",
	    json_object_get(lv, "size"), "at", at, "by",
	    json_object_get(lv, "by"), "seq", json_object_get(lv, "seq"),
	    "bad_kind", json_object_get(lv, "bad_kind"), "detail",
	    json_object_get(lv, "detail"));
	if (v != NULL && bad_seq > 0)
		pg_set(v, "bad_seq", json_integer(bad_seq), bad);
	pg_set(d, "verification", v, bad);
	json_decref(lv);
}

/* The audit page; status, alert (a refusal) and notice as the case page
 * gives them. */
static void
audit_page(tk_web *w, const web_session *s, int status, const char *alert,
    const char *notice, tk_http_resp *resp)
{
	json_t *d = pg_data(w, s, "Audit log", "audit"), *cp = NULL;
	json_t *leaves = NULL, *alerts = NULL, *list;
	tk_app_err err;
	bool bad = false;

	if (d == NULL) {
		pg_oom(w, s, resp);
		return;
	}
	if (alert != NULL)
		pg_set(d, "alert", json_string(alert), &bad);
	if (notice != NULL)
		pg_set(d, "notice", json_string(notice), &bad);
	audit_verification(w, s, d, &bad);
	if (tk_app_audit_checkpoint(w->app, s->login, &cp, &err) == TK_OK) {
		json_int_t size = json_integer_value(json_object_get(cp,
		    "size"));

		pg_set(d, "checkpoint", json_incref(cp), &bad);
		if (tk_app_audit_leaves(w->app, s->login, 0, 1, &leaves,
		    &err) == TK_OK) {
			json_int_t now = json_integer_value(json_object_get(
			    leaves, "size"));
			pg_set(d, "log_size", json_integer(now), &bad);
			pg_set(d, "since", json_integer(now - size), &bad);
			pg_set(d, "signed_all", json_boolean(now == size),
			    &bad);
		}
	} else if (err.e.status == TK_ERR_NOT_FOUND) {
		pg_set(d, "no_checkpoint", json_true(), &bad);
	} else {
		pg_set(d, "cp_problem", json_string(err.e.msg), &bad);
	}
	if (tk_app_alerts(w->app, s->login, &alerts, &err) == TK_OK) {
		json_t *shown = json_array(), *a;
		size_t i;

		list = json_object_get(alerts, "alerts");
		json_array_foreach(list, i, a) {
			const json_t *data = json_object_get(a, "data");
			const char *detail = json_string_value(json_object_get(
			    data, "detail"));
			const char *c = json_string_value(json_object_get(a,
			    "case"));
			char href[64] = "";

			if (i >= ALERTS_SHOWN)
				break;
			if (c != NULL)
				(void)snprintf(href, sizeof(href), "/cases/%s", c);
			if (shown == NULL || json_array_append_new(shown,
			    json_pack("{s:O, s:O, s:O, s:O, s:s, s:s, s:s}",
			    "seq", json_object_get(a, "seq"), "ts",
			    json_object_get(a, "ts"), "kind", json_object_get(a,
			    "kind"), "actor", json_object_get(a, "actor"), "case",
			    c != NULL ? c : "", "href", href, "detail",
			    detail != NULL ? detail : "")) != 0)
				bad = true;
		}
		pg_set(d, "alerts", shown, &bad);
	} else {
		pg_set(d, "alerts_problem", json_string(err.e.msg), &bad);
	}
	if (bad)
		pg_oom(w, s, resp);
	else
		web_page_send(resp, status, "audit", d);
	json_decref(d);
	json_decref(cp);
	json_decref(leaves);
	json_decref(alerts);
}

void
pg_audit(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	const char *done = web_query(req, "done");

	audit_page(w, s, 200, NULL, done != NULL && strcmp(done, "verified") ==
	    0 ? "The verification finished; its result is below and in the "
	    "audit log." : NULL, resp);
}

void
pg_audit_verify(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	tk_app_err err;
	json_t *out = NULL;

	(void)req;
	if (tk_app_audit_verify(w->app, s->login, &out, &err) != TK_OK) {
		audit_page(w, s, tk_status_http(err.e.status), err.e.msg[0] ?
		    err.e.msg : "the verification was refused", NULL, resp);
		return;
	}
	json_decref(out);
	web_redirect(resp, "/audit?done=verified");
}

/* One line for a tier's requirements. */
static void
require_line(const tk_require *r, char *buf, size_t size)
{
	char hold[32], ttl[32], rev[64] = "";
	size_t n = 0;

	tk_duration_format(r->hold, hold, sizeof(hold));
	tk_duration_format(r->approval_ttl, ttl, sizeof(ttl));
	for (unsigned b = 1; b <= TK_REVOKE_CREDENTIALS; b <<= 1)
		if (r->revoke & b)
			n += (size_t)snprintf(rev + n, n < sizeof(rev) ?
			    sizeof(rev) - n : 0, "%s%s", n ? ", " : "",
			    tk_revoke_name(b));
	(void)snprintf(buf, size, "%s%s%d evidence, %d approval%s%s%s; hold "
	    "%s; approvals count %s; revoke: %s%s",
	    r->ticket ? "ticket; " : "", r->reason_code ? "reason code; " : "",
	    r->ev_count, r->ap_count, r->ap_count == 1 ? "" : "s",
	    r->ap_distinct_functions ? " from distinct functions" : "",
	    r->ap_outside_chain > 0 ? ", some from outside the requester's "
	    "support chain" : "", hold, ttl, rev[0] ? rev : "none",
	    r->post_review > 0 ? "; post-event review" : "");
}

static void
explain(tk_web *w, const tk_http_req *req, const web_session *s, json_t *d,
    bool *bad)
{
	const char *subject = web_query(req, "subject");
	const char *action = web_query(req, "action");
	const char *sigs[TK_MAX_SIGNALS];
	size_t nsig = 0;
	tk_explain_req r;
	json_t *out = NULL, *ex;
	tk_app_err err;
	char line[512];

	for (size_t i = 0; i < req->nquery && nsig < TK_MAX_SIGNALS; i++)
		if (strcmp(req->query[i].key, "signal") == 0 &&
		    req->query[i].value[0] != '\0')
			sigs[nsig++] = req->query[i].value;
	ex = json_pack("{s:s, s:s, s:s}", "subject", subject ? subject : "",
	    "action", action ? action : "", "signals_text", "");
	if (ex == NULL) {
		*bad = true;
		return;
	}
	{
		char st[TK_MAX_SIGNALS * TK_NAME_MAX] = "";
		size_t n = 0;

		for (size_t i = 0; i < nsig && n < sizeof(st); i++)
			n += (size_t)snprintf(st + n, sizeof(st) - n, "%s%s",
			    i ? " " : "", sigs[i]);
		pg_set(ex, "signals_text", json_string(st), bad);
	}
	if (subject != NULL && *subject != '\0' && action != NULL &&
	    *action != '\0') {
		memset(&r, 0, sizeof(r));
		r.subject = subject;
		r.action = action;
		r.signals = sigs;
		r.nsignals = nsig;
		if (tk_app_policy_explain(w->app, s->login, &r, &out, &err) !=
		    TK_OK) {
			pg_set(ex, "problem", json_string(err.e.msg), bad);
		} else {
			json_t *res = json_object();

			pg_set(res, "tier", json_incref(json_object_get(out,
			    "tier")), bad);
			pg_set(res, "owner", json_incref(json_object_get(out,
			    "owner")), bad);
			pg_set(res, "line", json_incref(json_object_get(out,
			    "line")), bad);
			if (json_is_object(json_object_get(out, "denied")))
				pg_set(res, "denied", json_incref(
				    json_object_get(out, "denied")), bad);
			{
				json_t *rq = json_object_get(out,
				    "requirements");
				char *txt = json_is_object(rq) ? json_dumps(rq,
				    JSON_COMPACT) : NULL;

				(void)snprintf(line, sizeof(line), "%s", txt ?
				    txt : "");
				free(txt);
				pg_set(res, "requirements", json_string(line),
				    bad);
			}
			pg_set(ex, "result", res, bad);
			json_decref(out);
		}
	}
	pg_set(d, "explain", ex, bad);
}

void
pg_policy(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	json_t *d = pg_data(w, s, "Policy", "policy"), *pol = NULL;
	json_t *tiers, *denies, *funcs, *acts;
	tk_app_err err;
	tk_policy p;
	tk_error e;
	const char *text;
	bool bad = false, loaded = false;
	char line[512];

	if (d == NULL) {
		pg_oom(w, s, resp);
		return;
	}
	if (tk_app_policy_get(w->app, s->login, &pol, &err) != TK_OK) {
		json_decref(d);
		pg_notice(w, s, resp, tk_status_http(err.e.status), "Policy",
		    err.e.msg, NULL, NULL);
		return;
	}
	text = json_string_value(json_object_get(pol, "text"));
	pg_set(d, "digest", json_incref(json_object_get(pol, "digest")), &bad);
	pg_set(d, "owner", json_incref(json_object_get(pol, "owner")), &bad);
	pg_set(d, "text", json_string(text != NULL ? text : ""), &bad);
	memset(&p, 0, sizeof(p));
	tiers = json_array();
	denies = json_array();
	funcs = json_array();
	acts = json_array();
	if (text != NULL && tk_policy_load(&p, text, strlen(text), "policy",
	    &e) == 0)
		loaded = true;
	for (size_t i = 0; loaded && tiers != NULL && i < p.ntiers; i++) {
		require_line(&p.tiers[i].req, line, sizeof(line));
		if (json_array_append_new(tiers, json_pack("{s:s, s:s, s:s, "
		    "s:i, s:s}", "name", p.tiers[i].name, "owner",
		    p.tiers[i].owner, "when", p.tiers[i].when_src, "line",
		    p.tiers[i].line, "requires", line)) != 0)
			bad = true;
	}
	for (size_t i = 0; loaded && denies != NULL && i < p.ndenies; i++)
		if (json_array_append_new(denies, json_pack("{s:s, s:s, s:s, "
		    "s:i}", "when", p.denies[i].when_src, "owner",
		    p.denies[i].owner, "reason", p.denies[i].reason, "line",
		    p.denies[i].line)) != 0)
			bad = true;
	for (size_t i = 0; loaded && funcs != NULL && i < p.nfunctions; i++) {
		static const char *const caps[] = {"intake", "verify",
		    "approve", "execute", "review", "attest", "approve_owned"};
		char c[160] = "";
		size_t n = 0;

		for (unsigned b = 0; b < 7; b++)
			if (p.functions[i].caps & (1u << b))
				n += (size_t)snprintf(c + n, n < sizeof(c) ?
				    sizeof(c) - n : 0, "%s%s", n ? ", " : "",
				    caps[b]);
		if (json_array_append_new(funcs, json_pack("{s:s, s:s}",
		    "function", p.functions[i].function, "caps", c)) != 0)
			bad = true;
	}
	if (loaded) {
		char bg[256] = "", rw[32];
		size_t n = 0;

		for (int i = 0; i < p.break_glass.nfunctions; i++)
			n += (size_t)snprintf(bg + n, n < sizeof(bg) ?
			    sizeof(bg) - n : 0, "%s%s", i ? ", " : "",
			    p.break_glass.functions[i]);
		tk_duration_format(p.break_glass.review_within, rw, sizeof(rw));
		pg_set(d, "break_glass", json_pack("{s:s, s:i, s:s}",
		    "functions", bg[0] ? bg : "nobody", "approvals",
		    p.break_glass.approvals, "review_within", rw), &bad);
		tk_policy_free(&p);
	} else {
		pg_set(d, "load_problem", json_string(e.msg), &bad);
	}
	pg_set(d, "tiers", tiers, &bad);
	pg_set(d, "denies", denies, &bad);
	pg_set(d, "functions", funcs, &bad);
	for (size_t i = 0; acts != NULL && i < tk_action_count(); i++) {
		const char *an = tk_action_at(i)->name;
		const char *q = web_query(req, "action");

		if (json_array_append_new(acts, json_pack("{s:s, s:b}", "value",
		    an, "selected", q != NULL && strcmp(q, an) == 0)) != 0)
			bad = true;
	}
	pg_set(d, "actions", acts, &bad);
	explain(w, req, s, d, &bad);
	if (bad)
		pg_oom(w, s, resp);
	else
		web_page_send(resp, 200, "policy", d);
	json_decref(d);
	json_decref(pol);
}
