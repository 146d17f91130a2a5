/*
 * routes.c - the REST/JSON API of docs/api.md: matches a path and method
 * to a handler, authenticates the bearer token, validates bodies and query
 * parameters, calls the app layer and shapes the JSON answer or error.
 *
 * Owns: the route table, per-endpoint body specs and query parsing, and
 * the error JSON. Knows nothing of libmicrohttpd (server.c adapts it).
 */
#include "http/routes.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/action.h"
#include "core/case.h"
#include "core/policy.h"
#include "http/json.h"
#include "http/page.h"

enum route {
	R_NONE = 0,
	R_HEALTH,
	R_ME,
	R_CASES,
	R_CASE,
	R_CASE_EVIDENCE,
	R_CASE_APPROVALS,
	R_CASE_EXECUTE,
	R_CASE_CANCEL,
	R_CASE_BREAK_GLASS,
	R_CASE_REVIEW,
	R_CASE_CONFIRMATIONS,
	R_CASE_RESOLVE,
	R_CASE_SIGNALS,
	R_CONFIRM,       /* /v1/confirm/{token}: public, JSON */
	R_CONFIRM_PAGE,  /* /confirm/{token}: public, HTML */
	R_EVENTS,
	R_ALERTS,
	R_POLICY,
	R_EXPLAIN,
	R_AUDIT_VERIFY,       /* never public: it runs and records a check */
	R_AUDIT_VERIFICATION,
	R_AUDIT_CHECKPOINT,
	R_AUDIT_INCLUSION,
	R_AUDIT_CONSISTENCY,
	R_AUDIT_EVENTS   /* the audit routes stay last (public log) */
};

#define M_GET 1u
#define M_POST 2u
#define M_PUT 4u
#define M_PATCH 8u

static const struct {
	const char *name;
	enum route route;
} case_subs[] = {
	{"evidence", R_CASE_EVIDENCE},
	{"approvals", R_CASE_APPROVALS},
	{"execute", R_CASE_EXECUTE},
	{"cancel", R_CASE_CANCEL},
	{"break-glass", R_CASE_BREAK_GLASS},
	{"review", R_CASE_REVIEW},
	{"confirmations", R_CASE_CONFIRMATIONS},
	{"resolve", R_CASE_RESOLVE},
	{"signals", R_CASE_SIGNALS},
};

static unsigned
route_methods(enum route r)
{
	switch (r) {
	case R_CASES: return M_GET | M_POST;
	case R_CASE: return M_GET | M_PATCH;
	case R_POLICY: return M_GET | M_PUT;
	case R_CASE_EVIDENCE:
	case R_CASE_APPROVALS:
	case R_CASE_EXECUTE:
	case R_CASE_CANCEL:
	case R_CASE_BREAK_GLASS:
	case R_CASE_REVIEW:
	case R_CASE_CONFIRMATIONS:
	case R_CASE_RESOLVE:
	case R_CASE_SIGNALS:
	case R_EXPLAIN:
	case R_AUDIT_VERIFY:
		return M_POST;
	case R_CONFIRM:
	case R_CONFIRM_PAGE:
		return M_GET | M_POST;
	case R_NONE: return 0;
	default: return M_GET;
	}
}

static unsigned
method_bit(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return M_GET;
	if (strcmp(m, "POST") == 0)
		return M_POST;
	if (strcmp(m, "PUT") == 0)
		return M_PUT;
	if (strcmp(m, "PATCH") == 0)
		return M_PATCH;
	return 0;
}

/* Matches path; the case id segment (any length) goes to id/idlen. */
static enum route
match(const char *path, const char **id, size_t *idlen)
{
	const char *p, *slash;

	*id = NULL;
	*idlen = 0;
	if (strncmp(path, "/confirm/", 9) == 0 && strchr(path + 9, '/') ==
	    NULL) {
		*id = path + 9;
		*idlen = strlen(*id);
		return R_CONFIRM_PAGE;
	}
	if (strncmp(path, "/v1/", 4) != 0)
		return R_NONE;
	if (strncmp(path + 4, "confirm/", 8) == 0 && strchr(path + 12, '/') ==
	    NULL) {
		*id = path + 12;
		*idlen = strlen(*id);
		return R_CONFIRM;
	}
	p = path + 4;
	if (strcmp(p, "health") == 0)
		return R_HEALTH;
	if (strcmp(p, "me") == 0)
		return R_ME;
	if (strcmp(p, "events") == 0)
		return R_EVENTS;
	if (strcmp(p, "alerts") == 0)
		return R_ALERTS;
	if (strcmp(p, "policy") == 0)
		return R_POLICY;
	if (strcmp(p, "policy/explain") == 0)
		return R_EXPLAIN;
	if (strcmp(p, "cases") == 0)
		return R_CASES;
	if (strcmp(p, "audit/verify") == 0)
		return R_AUDIT_VERIFY;
	if (strcmp(p, "audit/verification") == 0)
		return R_AUDIT_VERIFICATION;
	if (strcmp(p, "audit/checkpoint") == 0)
		return R_AUDIT_CHECKPOINT;
	if (strcmp(p, "audit/proof/inclusion") == 0)
		return R_AUDIT_INCLUSION;
	if (strcmp(p, "audit/proof/consistency") == 0)
		return R_AUDIT_CONSISTENCY;
	if (strcmp(p, "audit/events") == 0)
		return R_AUDIT_EVENTS;
	if (strncmp(p, "cases/", 6) != 0)
		return R_NONE;
	p += 6;
	slash = strchr(p, '/');
	*id = p;
	if (slash == NULL) {
		*idlen = strlen(p);
		return *idlen ? R_CASE : R_NONE;
	}
	*idlen = (size_t)(slash - p);
	if (*idlen == 0)
		return R_NONE;
	for (size_t i = 0; i < sizeof(case_subs) / sizeof(case_subs[0]); i++)
		if (strcmp(slash + 1, case_subs[i].name) == 0)
			return case_subs[i].route;
	return R_NONE;
}

/* ---- responses ----------------------------------------------------------- */

json_t *
tk_routes_error_json(const tk_app_err *err)
{
	json_t *e;
	char ts[32];

	e = json_pack("{s:s, s:s}", "code", tk_status_code(err->e.status),
	    "message", err->e.msg[0] ? err->e.msg : "request failed");
	if (e == NULL)
		return NULL;
	if (err->e.status == TK_ERR_SOD &&
	    json_object_set_new(e, "invariant",
	    json_integer(err->e.invariant)) != 0)
		goto fail;
	if (err->state[0] != '\0' &&
	    json_object_set_new(e, "state", json_string(err->state)) != 0)
		goto fail;
	if (err->hold_until != 0) {
		tk_time_format(err->hold_until, ts, sizeof(ts));
		if (json_object_set_new(e, "hold_until", json_string(ts)) != 0)
			goto fail;
	}
	if (err->case_id[0] != '\0' &&
	    json_object_set_new(e, "case", json_string(err->case_id)) != 0)
		goto fail;
	return json_pack("{s:o}", "error", e);
fail:
	json_decref(e);
	return NULL;
}

static void
reply_err(tk_http_resp *resp, const tk_app_err *err)
{
	resp->status = tk_status_http(err->e.status);
	resp->body = tk_routes_error_json(err);
	if (resp->body == NULL)
		resp->status = 500;
}

static void
reply_fail(tk_http_resp *resp, enum tk_status st, const char *msg)
{
	tk_app_err err;

	memset(&err, 0, sizeof(err));
	err.e.status = st;
	(void)tk_strlcpy(err.e.msg, msg, sizeof(err.e.msg));
	reply_err(resp, &err);
}

static void
reply_invalid(tk_http_resp *resp, const tk_error *e)
{
	tk_app_err err;

	memset(&err, 0, sizeof(err));
	err.e = *e;
	reply_err(resp, &err);
}

/* Answers with st's result: body (stolen) on TK_OK, err otherwise. */
static void
reply(tk_http_resp *resp, enum tk_status st, int ok_status, json_t *body,
    const tk_app_err *err)
{
	if (st != TK_OK) {
		json_decref(body);
		reply_err(resp, err);
		return;
	}
	if (body == NULL) {
		reply_fail(resp, TK_ERR_INTERNAL, "out of memory");
		return;
	}
	resp->status = ok_status;
	resp->body = body;
}

/* ---- query parameters --------------------------------------------------- */

/* Refuses query parameters other than the allowed ones (NULL-ended). */
static int
query_check(const tk_http_req *req, const char *const *allowed,
    tk_error *err)
{
	if (req->query_overflow) {
		(void)tk_fail(err, TK_ERR_INVALID, "too many query parameters");
		return -1;
	}
	if (req->query_dup) {
		(void)tk_fail(err, TK_ERR_INVALID, "a query parameter is given "
		    "twice; give each at most once");
		return -1;
	}
	for (size_t i = 0; i < req->nquery; i++) {
		size_t k;
		bool ok = false;

		for (k = 0; allowed != NULL && allowed[k] != NULL; k++)
			if (strcmp(allowed[k], req->query[i].key) == 0)
				ok = true;
		if (!ok) {
			(void)tk_fail(err, TK_ERR_INVALID, "unknown query "
			    "parameter '%.40s'", req->query[i].key);
			return -1;
		}
	}
	return 0;
}

static const char *
query_get(const tk_http_req *req, const char *key)
{
	for (size_t i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].key, key) == 0)
			return req->query[i].value;
	return NULL;
}

/* Strict non-negative decimal (no sign, no spaces). -1 when malformed. */
static int
parse_count(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* ---- handlers ------------------------------------------------------------ */

/* Parses the body against spec; replies and returns -1 on error. */
static int
body_parse(const tk_http_req *req, tk_http_resp *resp, const tk_jfield *spec,
    size_t n, tk_jval *vals, json_t **root)
{
	tk_error e;

	if (tk_json_parse(req->body, req->body_len, spec, n, vals, root,
	    &e) != 0) {
		reply_invalid(resp, &e);
		return -1;
	}
	return 0;
}

#define NSPEC(s) (sizeof(s) / sizeof((s)[0]))

static const char *
opt(const tk_jval *v)
{
	return v->present ? v->s : NULL;
}

static void
h_open(tk_app *app, const char *login, const tk_http_req *req,
    tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"subject", TK_JSTR, TK_ID_MAX, 0, true},
		{"action", TK_JSTR, TK_NAME_MAX, 0, true},
		{"channel", TK_JSTR, TK_NAME_MAX, 0, true},
		{"ticket", TK_JSTR, TK_REF_MAX, 0, false},
		{"reason_code", TK_JSTR, TK_NAME_MAX, 0, false},
		{"justification", TK_JSTR, TK_TEXT_MAX, 0, false},
		{"signals", TK_JSTRLIST, TK_NAME_MAX, TK_MAX_SIGNALS, false},
		{"params", TK_JPARAMS, TK_PARAMS_MAX, 0, false},
		{"delivery", TK_JSTR, TK_CONTACT_MAX, 0, false},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_open_req r;
	tk_app_err err;
	enum tk_status st;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.subject = v[0].s;
	r.action = v[1].s;
	r.channel = v[2].s;
	r.ticket = v[3].present ? v[3].s : "";
	r.reason_code = v[4].present ? v[4].s : "";
	r.justification = v[5].present ? v[5].s : "";
	r.signals = v[6].items;
	r.nsignals = v[6].n;
	r.params = v[7].present ? v[7].s : "{}";
	r.delivery = v[8].present ? v[8].s : "";
	st = tk_app_case_open(app, login, &r, &out, &err);
	reply(resp, st, 201, out, &err);
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

static void
h_patch(tk_app *app, const char *login, const char *id,
    const tk_http_req *req, tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"subject", TK_JSTR, TK_ID_MAX, 0, false},
		{"action", TK_JSTR, TK_NAME_MAX, 0, false},
		{"params", TK_JPARAMS, TK_PARAMS_MAX, 0, false},
		{"delivery", TK_JSTR, TK_CONTACT_MAX, 0, false},
		{"channel", TK_JSTR, TK_NAME_MAX, 0, false},
		{"ticket", TK_JSTR, TK_REF_MAX, 0, false},
		{"reason_code", TK_JSTR, TK_NAME_MAX, 0, false},
		{"justification", TK_JSTR, TK_TEXT_MAX, 0, false},
		{"signals", TK_JSTRLIST, TK_NAME_MAX, TK_MAX_SIGNALS, false},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_patch_req r;
	tk_app_err err;
	enum tk_status st;
	bool any = false;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	for (size_t i = 0; i < NSPEC(spec); i++)
		any = any || v[i].present;
	if (!any) {
		reply_fail(resp, TK_ERR_INVALID, "nothing to change: give at "
		    "least one of subject, action, params, delivery, channel, "
		    "ticket, reason_code, justification, signals");
		goto done;
	}
	memset(&r, 0, sizeof(r));
	r.subject = opt(&v[0]);
	r.action = opt(&v[1]);
	r.params = opt(&v[2]);
	r.delivery = opt(&v[3]);
	r.channel = opt(&v[4]);
	r.ticket = opt(&v[5]);
	r.reason_code = opt(&v[6]);
	r.justification = opt(&v[7]);
	r.has_signals = v[8].present;
	r.signals = v[8].items;
	r.nsignals = v[8].n;
	st = tk_app_case_patch(app, login, id, &r, &out, &err);
	reply(resp, st, 200, out, &err);
done:
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

static void
h_evidence(tk_app *app, const char *login, const char *id,
    const tk_http_req *req, tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"method", TK_JSTR, TK_NAME_MAX, 0, true},
		{"contact", TK_JSTR, TK_CONTACT_MAX, 0, false},
		{"result", TK_JSTR, TK_NAME_MAX, 0, false},
		{"reference", TK_JSTR, TK_REF_MAX, 0, false},
		{"code", TK_JSTR, 16, 0, false},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_evidence_req r = {0}; /* system_verified stays false: a client
	                          * never vouches for a factor or a link */
	tk_app_err err;
	enum tk_status st;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	if (strcmp(v[0].s, "registered_factor") == 0 && v[4].present) {
		st = tk_app_case_totp(app, login, id, v[4].s, &out, &err);
		reply(resp, st, 201, out, &err);
		goto done;
	}
	if (v[4].present) {
		reply_fail(resp, TK_ERR_INVALID, "field 'code' goes only with "
		    "method registered_factor");
		goto done;
	}
	if (!v[2].present) {
		reply_fail(resp, TK_ERR_INVALID, strcmp(v[0].s,
		    "registered_factor") == 0 ? "registered_factor needs "
		    "field 'code': the code the subject reads from their "
		    "authenticator" : "field 'result' is required: \"pass\" "
		    "or \"fail\"");
		goto done;
	}
	if (strcmp(v[2].s, "pass") != 0 && strcmp(v[2].s, "fail") != 0) {
		reply_fail(resp, TK_ERR_INVALID, "field 'result' must be "
		    "\"pass\" or \"fail\"");
		goto done;
	}
	r.method = v[0].s;
	r.contact = v[1].present ? v[1].s : "";
	r.result = v[2].s;
	r.reference = v[3].present ? v[3].s : "";
	st = tk_app_case_evidence(app, login, id, &r, &out, &err);
	reply(resp, st, 201, out, &err);
done:
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

static void
h_approval(tk_app *app, const char *login, const char *id,
    const tk_http_req *req, tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"decision", TK_JSTR, TK_NAME_MAX, 0, true},
		{"comment", TK_JSTR, TK_TEXT_MAX, 0, false},
		{"digest", TK_JSTR, 2 * TK_DIGEST_LEN + 1, 0, false},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_app_err err;
	enum tk_status st;
	bool approve;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	if (strcmp(v[0].s, "approve") == 0) {
		approve = true;
	} else if (strcmp(v[0].s, "deny") == 0) {
		approve = false;
	} else {
		reply_fail(resp, TK_ERR_INVALID, "field 'decision' must be "
		    "\"approve\" or \"deny\"");
		goto done;
	}
	st = tk_app_case_decide_seen(app, login, id, approve,
	    v[1].present ? v[1].s : "", v[2].present ? v[2].s : NULL, &out,
	    &err);
	reply(resp, st, 201, out, &err);
done:
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

static void
h_execute(tk_app *app, const char *login, const char *id,
    const tk_http_req *req, tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"connector", TK_JSTR, TK_NAME_MAX, 0, false},
		{"note", TK_JSTR, TK_TEXT_MAX, 0, false},
		{"revoked", TK_JSTRLIST, TK_NAME_MAX, 8, false},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_execute_req r;
	tk_app_err err;
	json_t *cred;
	enum tk_status st;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.connector = v[0].present ? v[0].s : NULL;
	r.note = v[1].present ? v[1].s : "";
	for (size_t i = 0; i < v[2].n; i++) {
		int bit = tk_revoke_parse(v[2].items[i]);
		if (bit < 0) {
			char msg[160];
			(void)snprintf(msg, sizeof(msg), "field 'revoked': "
			    "unknown revocation '%.40s'; use sessions, tokens "
			    "or credentials", v[2].items[i]);
			reply_fail(resp, TK_ERR_INVALID, msg);
			goto done;
		}
		r.revoked |= (unsigned)bit;
	}
	st = tk_app_case_execute(app, login, id, &r, &out, &err);
	cred = json_object_get(json_object_get(out, "credential"), "value");
	if (st == TK_OK && json_is_string(cred)) {
		/* a walk-in's credential, shown once: the answer's text is
		 * wiped once sent (resp->secret), and so is this copy */
		char *text = json_dumps(out, JSON_COMPACT);

		OPENSSL_cleanse((char *)(uintptr_t)json_string_value(cred),
		    json_string_length(cred));
		json_decref(out);
		if (text == NULL) {
			reply_fail(resp, TK_ERR_INTERNAL, "out of memory");
			goto done;
		}
		resp->status = 200;
		resp->text = text;
		resp->text_len = strlen(text);
		resp->secret = true;
		goto done;
	}
	reply(resp, st, 200, out, &err);
done:
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

/* A case operation whose body is one required string field, passed to
 * fn (cancel's reason, a signal, a confirmation's contact). */
typedef enum tk_status (*one_field_fn)(tk_app *, const char *, const char *,
    const char *, json_t **, tk_app_err *);

static void
h_one_field(tk_app *app, const char *login, const char *id,
    const tk_http_req *req, tk_http_resp *resp, const char *field,
    size_t max, one_field_fn fn, int ok_status)
{
	const tk_jfield spec[] = {{field, TK_JSTR, max, 0, true}};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_app_err err;
	enum tk_status st;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	st = fn(app, login, id, v[0].s, &out, &err);
	reply(resp, st, ok_status, out, &err);
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

static void
h_resolve(tk_app *app, const char *login, const char *id,
    const tk_http_req *req, tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"outcome", TK_JSTR, TK_NAME_MAX, 0, true},
		{"note", TK_JSTR, TK_TEXT_MAX, 0, true},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_app_err err;
	enum tk_status st;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	if (strcmp(v[0].s, "done") != 0 && strcmp(v[0].s, "not_done") != 0)
		reply_fail(resp, TK_ERR_INVALID, "field 'outcome' must be "
		    "\"done\" (the change is in the target) or \"not_done\"");
	else {
		st = tk_app_case_resolve(app, login, id,
		    strcmp(v[0].s, "done") == 0, v[1].s, &out, &err);
		reply(resp, st, 200, out, &err);
	}
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

/* The answer in a form body ("answer=yes") or JSON ({"answer":"yes"}):
 * 1 yes, 0 no, -1 neither. */
static int
confirm_answer_of(const tk_http_req *req, bool html)
{
	char buf[64];
	json_t *j, *a;
	int r = -1;

	if (req->body_len == 0 || req->body_len >= sizeof(buf))
		return -1;
	memcpy(buf, req->body, req->body_len);
	buf[req->body_len] = '\0';
	if (html) {
		if (strcmp(buf, "answer=yes") == 0)
			return 1;
		if (strcmp(buf, "answer=no") == 0)
			return 0;
		return -1;
	}
	j = json_loads(buf, 0, NULL);
	a = json_object_get(j, "answer");
	if (json_is_string(a))
		r = strcmp(json_string_value(a), "yes") == 0 ? 1 :
		    strcmp(json_string_value(a), "no") == 0 ? 0 : -1;
	json_decref(j);
	return r;
}

static void
page_reply(tk_http_resp *resp, int status, char *text, size_t len)
{
	if (text == NULL) {
		reply_fail(resp, TK_ERR_INTERNAL, "out of memory");
		return;
	}
	resp->status = status;
	resp->text = text;
	resp->text_len = len;
	resp->html = true;
}

/* The public confirmation link: GET shows what it is about (never acts:
 * mail scanners fetch links), POST records the answer. */
static void
h_confirm(tk_app *app, enum route rt, const char *tokp, size_t toklen,
    bool post, const tk_http_req *req, tk_http_resp *resp)
{
	bool html = rt == R_CONFIRM_PAGE;
	char token[64], *text;
	const char *pre = NULL;
	json_t *out = NULL;
	tk_app_err err;
	enum tk_status st;
	size_t len = 0;
	int yes;

	if (toklen == 0 || toklen >= sizeof(token)) {
		memset(&err, 0, sizeof(err));
		st = tk_fail(&err.e, TK_ERR_NOT_FOUND, "this confirmation link "
		    "is not valid; use the link in the latest message");
		goto fail;
	}
	memcpy(token, tokp, toklen);
	token[toklen] = '\0';
	if (!post) {
		for (size_t i = 0; i < req->nquery; i++)
			if (strcmp(req->query[i].key, "answer") == 0)
				pre = req->query[i].value;
		st = tk_app_confirm_view(app, token, &out, &err);
		if (st != TK_OK)
			goto fail;
		if (!html) {
			reply(resp, st, 200, out, &err);
			return;
		}
		text = tk_page_confirm(out, token, pre, &len);
		json_decref(out);
		page_reply(resp, 200, text, len);
		return;
	}
	yes = confirm_answer_of(req, html);
	if (yes < 0) {
		memset(&err, 0, sizeof(err));
		st = tk_fail(&err.e, TK_ERR_INVALID, "send answer=yes or "
		    "answer=no");
		goto fail;
	}
	st = tk_app_confirm_answer(app, token, yes == 1, &out, &err);
	OPENSSL_cleanse(token, sizeof(token));
	if (st != TK_OK)
		goto fail;
	if (!html) {
		reply(resp, st, 200, out, &err);
		return;
	}
	{
		const char *o = json_string_value(json_object_get(out,
		    "outcome"));

		if (yes)
			text = tk_page_message("Thank you", "Your answer is "
			    "recorded. You can close this page.", &len);
		else if (o != NULL && strcmp(o, "cancelled") == 0)
			text = tk_page_message("The change is stopped", "Thank "
			    "you for telling us. The request was cancelled and "
			    "the security team is alerted; they may contact you "
			    "on the details on file.", &len);
		else
			text = tk_page_message("The security team is alerted",
			    "Thank you for telling us. The change had already "
			    "been carried out, so it could not be stopped from "
			    "here: the security team is alerted now. Call your "
			    "help desk on the number you know.", &len);
	}
	json_decref(out);
	page_reply(resp, 200, text, len);
	return;
fail:
	OPENSSL_cleanse(token, sizeof(token));
	if (!html) {
		reply_err(resp, &err);
		return;
	}
	text = tk_page_message("This link cannot be used", err.e.msg, &len);
	page_reply(resp, tk_status_http(st), text, len);
}

static void
h_break_glass(tk_app *app, const char *login, const char *id,
    const tk_http_req *req, tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"justification", TK_JSTR, TK_TEXT_MAX, 0, true},
		{"incident", TK_JSTR, TK_REF_MAX, 0, true},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_app_err err;
	enum tk_status st;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	st = tk_app_case_break_glass(app, login, id, v[0].s, v[1].s, &out,
	    &err);
	reply(resp, st, 200, out, &err);
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

static void
h_review(tk_app *app, const char *login, const char *id,
    const tk_http_req *req, tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"outcome", TK_JSTR, TK_NAME_MAX, 0, true},
		{"comment", TK_JSTR, TK_TEXT_MAX, 0, true},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_app_err err;
	enum tk_status st;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	st = tk_app_case_review(app, login, id, v[0].s, v[1].s, &out, &err);
	reply(resp, st, 200, out, &err);
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

static void
h_explain(tk_app *app, const char *login, const tk_http_req *req,
    tk_http_resp *resp)
{
	static const tk_jfield spec[] = {
		{"subject", TK_JSTR, TK_ID_MAX, 0, true},
		{"action", TK_JSTR, TK_NAME_MAX, 0, true},
		{"signals", TK_JSTRLIST, TK_NAME_MAX, TK_MAX_SIGNALS, false},
		{"ticket", TK_JSTR, TK_REF_MAX, 0, false},
		{"channel", TK_JSTR, TK_NAME_MAX, 0, false},
		{"reason_code", TK_JSTR, TK_NAME_MAX, 0, false},
	};
	tk_jval v[NSPEC(spec)];
	json_t *root, *out = NULL;
	tk_explain_req r;
	tk_app_err err;
	enum tk_status st;

	if (body_parse(req, resp, spec, NSPEC(spec), v, &root) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.subject = v[0].s;
	r.action = v[1].s;
	r.signals = v[2].items;
	r.nsignals = v[2].n;
	r.ticket = opt(&v[3]);
	r.channel = opt(&v[4]);
	r.reason_code = opt(&v[5]);
	st = tk_app_policy_explain(app, login, &r, &out, &err);
	reply(resp, st, 200, out, &err);
	tk_json_vals_free(v, NSPEC(spec));
	json_decref(root);
}

static void
h_list(tk_app *app, const char *login, const tk_http_req *req,
    tk_http_resp *resp)
{
	static const char *const allowed[] = {
		"queue", "state", "subject", "limit", "after", NULL,
	};
	tk_app_list_req r;
	tk_app_err err;
	tk_error e;
	json_t *out = NULL;
	enum tk_status st;
	const char *s;
	int64_t n;

	if (query_check(req, allowed, &e) != 0) {
		reply_invalid(resp, &e);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.queue = query_get(req, "queue");
	if (r.queue != NULL && !tk_family_valid(r.queue)) {
		reply_fail(resp, TK_ERR_INVALID, "unknown queue; queues are "
		    "password, mfa, reactivation, nhi, role and profile");
		return;
	}
	r.state = query_get(req, "state");
	if (r.state != NULL && strcmp(r.state, "open") != 0 &&
	    tk_state_parse(r.state) < 0) {
		reply_fail(resp, TK_ERR_INVALID, "unknown state; use a case "
		    "state (verifying, approving, on_hold, ready, executed, "
		    "...) or \"open\"");
		return;
	}
	r.subject = query_get(req, "subject");
	if (r.subject != NULL && strlen(r.subject) >= TK_ID_MAX) {
		reply_fail(resp, TK_ERR_INVALID, "subject is too long");
		return;
	}
	s = query_get(req, "limit");
	if (s != NULL) {
		if (parse_count(s, 500, &n) != 0 || n < 1) {
			reply_fail(resp, TK_ERR_INVALID, "limit must be a "
			    "number from 1 to 500");
			return;
		}
		r.limit = (int)n;
	}
	s = query_get(req, "after");
	if (s != NULL) {
		if (parse_count(s, INT64_MAX / 10, &n) != 0) {
			reply_fail(resp, TK_ERR_INVALID, "after must be the "
			    "\"next\" number of a previous page");
			return;
		}
		r.after = n;
	}
	st = tk_app_case_list(app, login, &r, &out, &err);
	reply(resp, st, 200, out, &err);
}

static void
h_events(tk_app *app, const char *login, const tk_http_req *req,
    tk_http_resp *resp)
{
	static const char *const allowed[] = {"from", "limit", NULL};
	tk_app_err err;
	tk_error e;
	json_t *out = NULL;
	enum tk_status st;
	const char *s;
	int64_t from = 1, limit = 100;

	if (query_check(req, allowed, &e) != 0) {
		reply_invalid(resp, &e);
		return;
	}
	s = query_get(req, "from");
	if (s != NULL && (parse_count(s, INT64_MAX / 10, &from) != 0 ||
	    from < 1)) {
		reply_fail(resp, TK_ERR_INVALID, "from must be a sequence "
		    "number, 1 or more");
		return;
	}
	s = query_get(req, "limit");
	if (s != NULL && (parse_count(s, 1000, &limit) != 0 || limit < 1)) {
		reply_fail(resp, TK_ERR_INVALID, "limit must be a number from "
		    "1 to 1000");
		return;
	}
	st = tk_app_events(app, login, from, limit, &out, &err);
	reply(resp, st, 200, out, &err);
}

/* Reads query parameter key as a count into *out; replies and returns -1
 * when it is missing (and required) or malformed. */
static int
query_count(const tk_http_req *req, tk_http_resp *resp, const char *key,
    bool required, int64_t *out)
{
	const char *s = query_get(req, key);
	char msg[128];

	if (s == NULL && !required)
		return 0;
	if (s == NULL || parse_count(s, INT64_MAX / 10, out) != 0 ||
	    *out < 0) {
		(void)snprintf(msg, sizeof(msg), "%s must be given as a whole "
		    "number, 0 or more", key);
		reply_fail(resp, TK_ERR_INVALID, msg);
		return -1;
	}
	return 0;
}

/* GET /v1/audit/...: checkpoint, proofs and leaves for monitors. */
static void
h_audit(tk_app *app, const char *login, enum route rt,
    const tk_http_req *req, tk_http_resp *resp)
{
	static const char *const q_incl[] = {"index", "size", NULL};
	static const char *const q_cons[] = {"from", "to", NULL};
	static const char *const q_ev[] = {"from", "limit", NULL};
	static const char *const q_none[] = {NULL};
	int64_t a = 0, b = 100;
	tk_app_err err;
	json_t *out = NULL;
	enum tk_status st;
	tk_error e;

	switch (rt) {
	case R_AUDIT_CHECKPOINT:
		if (query_check(req, q_none, &e) != 0) {
			reply_invalid(resp, &e);
			return;
		}
		st = tk_app_audit_checkpoint(app, login, &out, &err);
		break;
	case R_AUDIT_INCLUSION:
		if (query_check(req, q_incl, &e) != 0) {
			reply_invalid(resp, &e);
			return;
		}
		if (query_count(req, resp, "index", true, &a) != 0 ||
		    query_count(req, resp, "size", true, &b) != 0)
			return;
		st = tk_app_audit_proof(app, login, false, (uint64_t)a,
		    (uint64_t)b, &out, &err);
		break;
	case R_AUDIT_CONSISTENCY:
		if (query_check(req, q_cons, &e) != 0) {
			reply_invalid(resp, &e);
			return;
		}
		if (query_count(req, resp, "from", true, &a) != 0 ||
		    query_count(req, resp, "to", true, &b) != 0)
			return;
		st = tk_app_audit_proof(app, login, true, (uint64_t)a,
		    (uint64_t)b, &out, &err);
		break;
	default:
		if (query_check(req, q_ev, &e) != 0) {
			reply_invalid(resp, &e);
			return;
		}
		if (query_count(req, resp, "from", false, &a) != 0 ||
		    query_count(req, resp, "limit", false, &b) != 0)
			return;
		st = tk_app_audit_leaves(app, login, a, b, &out, &err);
		break;
	}
	reply(resp, st, 200, out, &err);
}

/* POST /v1/audit/verify (no body, or an empty JSON object) and GET
 * /v1/audit/verification: {"verification": the record, or null}. */
static void
h_verify(tk_app *app, const char *login, bool run, const tk_http_req *req,
    tk_http_resp *resp)
{
	tk_app_err err;
	json_t *root = NULL, *out = NULL;
	tk_jval none;
	enum tk_status st;

	if (run && req->body_len > 0 && body_parse(req, resp, NULL, 0, &none,
	    &root) != 0)
		return;
	json_decref(root);
	if (run)
		st = tk_app_audit_verify(app, login, &out, &err);
	else
		st = tk_app_audit_last_verify(app, login, &out, &err);
	reply(resp, st, 200, st == TK_OK ? json_pack("{s:o}", "verification",
	    out) : NULL, &err);
}

static void
h_policy_put(tk_app *app, const char *login, const tk_http_req *req,
    tk_http_resp *resp)
{
	char digest[32];
	tk_app_err err;
	enum tk_status st;

	st = tk_app_reload_policy(app, login, req->body, req->body_len,
	    digest, sizeof(digest), &err);
	reply(resp, st, 200, st == TK_OK ? json_pack("{s:s}", "digest",
	    digest) : NULL, &err);
}

/* Extracts the bearer token from an Authorization header value. */
static const char *
bearer(const char *auth, size_t *len)
{
	const char *t;

	*len = 0;
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	t = auth + 7;
	while (*t == ' ')
		t++;
	*len = strlen(t);
	while (*len > 0 && (t[*len - 1] == ' ' || t[*len - 1] == '\t'))
		(*len)--;
	return t;
}

void
tk_routes_handle(tk_app *app, const tk_http_req *req, tk_http_resp *resp)
{
	static const char *const none[] = {NULL};
	enum route rt;
	const char *idp, *tok;
	size_t idlen, toklen;
	char id[TK_ID_MAX];
	char login[TK_ID_MAX];
	unsigned mb, allowed;
	tk_app_err err;
	tk_error e;
	json_t *out = NULL;
	enum tk_status st;

	resp->status = 500;
	resp->body = NULL;
	resp->text = NULL;
	resp->text_len = 0;
	resp->html = false;
	resp->login[0] = '\0';
	rt = match(req->path, &idp, &idlen);
	if (rt == R_NONE) {
		reply_fail(resp, TK_ERR_NOT_FOUND, "no such route; the API "
		    "lives under /v1 (see docs/api.md)");
		return;
	}
	mb = method_bit(req->method);
	allowed = route_methods(rt);
	if ((mb & allowed) == 0) {
		static const char *const names[] = {"GET", "POST", "PUT",
		    "PATCH"};
		char msg[128];
		size_t n;

		n = (size_t)snprintf(msg, sizeof(msg), "this route does not "
		    "accept %.10s; use", method_bit(req->method) ?
		    req->method : "that method");
		for (unsigned i = 0; i < 4 && n < sizeof(msg); i++)
			if (allowed & (1u << i))
				n += (size_t)snprintf(msg + n, sizeof(msg) - n,
				    " %s", names[i]);
		reply_fail(resp, TK_ERR_NOT_FOUND, msg);
		return;
	}
	if (rt == R_HEALTH) {
		resp->status = 200;
		resp->body = json_pack("{s:s, s:s}", "status", "ok", "version",
		    TK_VERSION);
		if (resp->body == NULL)
			resp->status = 500;
		return;
	}

	if (rt >= R_AUDIT_CHECKPOINT && req->auth == NULL &&
	    tk_app_audit_is_public(app)) {
		h_audit(app, "", rt, req, resp); /* a public log */
		return;
	}

	if (rt == R_CONFIRM || rt == R_CONFIRM_PAGE) {
		h_confirm(app, rt, idp, idlen, mb == M_POST, req, resp);
		return;
	}

	/* Everything else needs a token. */
	tok = bearer(req->auth, &toklen);
	if (req->auth != NULL && tok == NULL) {
		reply_fail(resp, TK_ERR_UNAUTH, "the Authorization header must "
		    "be 'Bearer <token>'");
		return;
	}
	st = tk_app_authenticate(app, tok, toklen, login, sizeof(login),
	    &err);
	if (st != TK_OK) {
		reply_err(resp, &err);
		return;
	}
	(void)tk_strlcpy(resp->login, login, sizeof(resp->login));

	if (rt != R_CASES && rt != R_EVENTS && rt < R_AUDIT_CHECKPOINT &&
	    query_check(req, none, &e) != 0) {
		reply_invalid(resp, &e);
		return;
	}
	if (rt == R_CASES && mb == M_POST && query_check(req, none, &e) != 0) {
		reply_invalid(resp, &e);
		return;
	}
	if (idp != NULL) {
		if (idlen >= sizeof(id)) {
			reply_fail(resp, TK_ERR_INVALID, "case id must look like "
			    "c_ followed by 16 hex digits");
			return;
		}
		memcpy(id, idp, idlen);
		id[idlen] = '\0';
		if (!tk_app_case_id_valid(id)) {
			reply_fail(resp, TK_ERR_INVALID, "case id must look like "
			    "c_ followed by 16 hex digits");
			return;
		}
	}

	switch (rt) {
	case R_ME:
		st = tk_app_me(app, login, &out, &err);
		reply(resp, st, 200, out, &err);
		break;
	case R_CASES:
		if (mb == M_POST)
			h_open(app, login, req, resp);
		else
			h_list(app, login, req, resp);
		break;
	case R_CASE:
		if (mb == M_PATCH) {
			h_patch(app, login, id, req, resp);
		} else {
			st = tk_app_case_get_text(app, login, id, &resp->text,
			    &resp->text_len, &err);
			if (st != TK_OK)
				reply_err(resp, &err);
			else
				resp->status = 200;
		}
		break;
	case R_CASE_EVIDENCE:
		h_evidence(app, login, id, req, resp);
		break;
	case R_CASE_APPROVALS:
		h_approval(app, login, id, req, resp);
		break;
	case R_CASE_EXECUTE:
		h_execute(app, login, id, req, resp);
		break;
	case R_CASE_CANCEL:
		h_one_field(app, login, id, req, resp, "reason", TK_TEXT_MAX,
		    tk_app_case_cancel, 200);
		break;
	case R_CASE_BREAK_GLASS:
		h_break_glass(app, login, id, req, resp);
		break;
	case R_CASE_REVIEW:
		h_review(app, login, id, req, resp);
		break;
	case R_CASE_CONFIRMATIONS:
		h_one_field(app, login, id, req, resp, "contact",
		    TK_CONTACT_MAX, tk_app_confirm_send, 201);
		break;
	case R_CASE_RESOLVE:
		h_resolve(app, login, id, req, resp);
		break;
	case R_CASE_SIGNALS:
		h_one_field(app, login, id, req, resp, "signal", TK_NAME_MAX,
		    tk_app_case_signal, 201);
		break;
	case R_EVENTS:
		h_events(app, login, req, resp);
		break;
	case R_AUDIT_CHECKPOINT:
	case R_AUDIT_INCLUSION:
	case R_AUDIT_CONSISTENCY:
	case R_AUDIT_EVENTS:
		h_audit(app, login, rt, req, resp);
		break;
	case R_ALERTS:
		st = tk_app_alerts(app, login, &out, &err);
		reply(resp, st, 200, out, &err);
		break;
	case R_POLICY:
		if (mb == M_PUT) {
			h_policy_put(app, login, req, resp);
		} else {
			st = tk_app_policy_get(app, login, &out, &err);
			reply(resp, st, 200, out, &err);
		}
		break;
	case R_EXPLAIN:
		h_explain(app, login, req, resp);
		break;
	case R_AUDIT_VERIFY:
	case R_AUDIT_VERIFICATION:
		h_verify(app, login, rt == R_AUDIT_VERIFY, req, resp);
		break;
	default:
		reply_fail(resp, TK_ERR_NOT_FOUND, "no such route");
		break;
	}
}
