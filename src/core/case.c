/*
 * case.c - the case record: state names, the material digest that binds
 * evidence and approvals (invariant 7), and the JSON form that the store
 * keeps and the API shows. Reading a record back validates every field
 * against the caps in tk.h before it is trusted.
 */
#include "core/case.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const state_names[TK_STATE__COUNT] = {
	"open", "verifying", "approving", "on_hold", "ready", "executing",
	"executed", "review", "closed", "denied", "cancelled", "expired",
	"failed", "outcome_unknown", "executed_revocation_pending",
};

const char *
tk_state_name(enum tk_state s)
{
	if ((unsigned)s >= TK_STATE__COUNT)
		return "unknown";
	return state_names[s];
}

int
tk_state_parse(const char *name)
{
	for (int i = 0; i < TK_STATE__COUNT; i++)
		if (name != NULL && strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

bool
tk_state_is_open(enum tk_state s)
{
	switch (s) {
	case TK_STATE_OPEN:
	case TK_STATE_VERIFYING:
	case TK_STATE_APPROVING:
	case TK_STATE_ON_HOLD:
	case TK_STATE_READY:
	case TK_STATE_EXECUTING:
	case TK_STATE_FAILED:
	case TK_STATE_OUTCOME_UNKNOWN:
	case TK_STATE_REVOCATION_PENDING:
		return true;
	default:
		return false;
	}
}

static void
digest_field(EVP_MD_CTX *md, const char *s)
{
	unsigned char len[4];
	size_t n = strlen(s);

	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	(void)EVP_DigestUpdate(md, len, sizeof(len));
	(void)EVP_DigestUpdate(md, s, n);
}

void
tk_case_compute_digest(tk_case *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int outlen = 0;

	memset(c->digest, 0, sizeof(c->digest));
	if (md == NULL)
		return;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
		digest_field(md, "twokey-case-v1");
		digest_field(md, c->subject);
		digest_field(md, c->action);
		digest_field(md, c->params);
		digest_field(md, c->delivery);
		(void)EVP_DigestFinal_ex(md, c->digest, &outlen);
	}
	EVP_MD_CTX_free(md);
}

/* ---- JSON helpers ---------------------------------------------------- */

static int
hex_decode(const char *s, unsigned char *out, size_t n)
{
	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		int v;
		char ch = s[i];
		if (ch >= '0' && ch <= '9')
			v = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)(v << 4);
		else
			out[i / 2] |= (unsigned char)v;
	}
	return 0;
}

static json_t *
jtime(tk_time t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	tk_time_format(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
jdur(tk_time d)
{
	char buf[32];

	tk_duration_format(d, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
jdigest(const unsigned char d[TK_DIGEST_LEN])
{
	char hex[2 * TK_DIGEST_LEN + 1];

	tk_hex_encode(d, TK_DIGEST_LEN, hex);
	return json_string(hex);
}

static json_t *
revoke_list(unsigned bits)
{
	json_t *a = json_array();

	for (unsigned b = 1; a != NULL && b <= TK_REVOKE__ALL; b <<= 1)
		if (bits & b)
			json_array_append_new(a, json_string(tk_revoke_name(b)));
	return a;
}

json_t *
tk_require_to_json(const tk_require *r)
{
	json_t *ev, *ap, *methods, *from, *j;

	methods = json_array();
	for (int m = 0; methods != NULL && m < TK_METHOD__COUNT; m++)
		if (r->ev_methods & (1u << m))
			json_array_append_new(methods,
			    json_string(tk_method_name((enum tk_method)m)));
	from = json_array();
	for (int i = 0; from != NULL && i < r->ap_nfrom_any; i++)
		json_array_append_new(from, json_string(r->ap_from_any[i]));
	ev = json_pack("{s:i, s:o, s:i}", "count", r->ev_count, "methods",
	    methods, "by_other_than_requester", r->ev_by_other);
	ap = json_pack("{s:i, s:b, s:o, s:i, s:b}", "count", r->ap_count,
	    "distinct_functions", r->ap_distinct_functions, "from_any", from,
	    "outside_support_chain", r->ap_outside_chain, "owner", r->ap_owner);
	j = json_pack("{s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "credential_in_person", r->cred_in_person,
	    "ticket", r->ticket, "reason_code", r->reason_code,
	    "evidence", ev, "approvals", ap, "hold", jdur(r->hold),
	    "hold_extension", jdur(r->hold_extension),
	    "approval_ttl", jdur(r->approval_ttl), "revoke",
	    revoke_list(r->revoke), "post_review", jdur(r->post_review));
	return j;
}

static json_t *
evidence_to_json(const tk_evidence *e)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:s}",
	    "method", tk_method_name((enum tk_method)e->method),
	    "by", e->by, "contact", e->contact,
	    "result", e->pass ? "pass" : "fail", "reference", e->reference,
	    "at", jtime(e->at), "digest", jdigest(e->digest),
	    "valid", !e->voided && e->pass, "void_reason", e->void_reason);
}

static json_t *
approval_to_json(const tk_approval *a)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:b, s:s}",
	    "by", a->by, "function", a->function,
	    "decision", a->approve ? "approve" : "deny",
	    "comment", a->comment, "at", jtime(a->at),
	    "policy", a->policy_digest, "digest", jdigest(a->digest),
	    "valid", !a->voided && a->approve, "void_reason", a->void_reason);
}

json_t *
tk_case_to_json(const tk_case *c)
{
	json_t *j, *sig, *ev, *ap, *params, *x;
	json_error_t jerr;

	params = json_loads(c->params[0] ? c->params : "{}", 0, &jerr);
	if (params == NULL)
		params = json_object();
	sig = json_array();
	for (int i = 0; sig != NULL && i < c->nsignals; i++)
		json_array_append_new(sig, json_string(c->signals[i]));
	ev = json_array();
	for (int i = 0; ev != NULL && i < c->nevidence; i++)
		json_array_append_new(ev, evidence_to_json(&c->evidence[i]));
	ap = json_array();
	for (int i = 0; ap != NULL && i < c->napprovals; i++)
		json_array_append_new(ap, approval_to_json(&c->approvals[i]));

	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o,"
	    " s:s, s:s, s:s, s:s}",
	    "id", c->id, "subject", c->subject, "action", c->action,
	    "queue", c->family, "channel", c->channel, "ticket", c->ticket,
	    "reason_code", c->reason_code, "justification", c->justification,
	    "signals", sig, "params", params, "delivery", c->delivery,
	    "requester", c->requester, "state", tk_state_name(c->state),
	    "tier", c->tier);
	if (j == NULL)
		return NULL;
	json_object_set_new(j, "rule", json_pack("{s:s, s:s, s:i, s:s}",
	    "tier", c->tier, "owner", c->rule_owner, "line", c->rule_line,
	    "policy", c->policy_digest));
	json_object_set_new(j, "requirements", tk_require_to_json(&c->req));
	json_object_set_new(j, "digest", jdigest(c->digest));
	json_object_set_new(j, "created", jtime(c->created));
	json_object_set_new(j, "updated", jtime(c->updated));
	json_object_set_new(j, "hold_until", jtime(c->hold_until));
	json_object_set_new(j, "ready_until", jtime(c->ready_until));
	json_object_set_new(j, "evidence", ev);
	json_object_set_new(j, "approvals", ap);

	x = c->break_glass ? json_pack("{s:s, s:s, s:s, s:o}", "by", c->bg_by,
	    "incident", c->bg_incident, "justification", c->bg_justification,
	    "at", jtime(c->bg_at)) : json_null();
	json_object_set_new(j, "break_glass", x);
	x = c->executor[0] ? json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, "
	    "s:i, s:s, s:s, s:o}",
	    "by", c->executor, "connector", c->connector, "note", c->exec_note,
	    "at", jtime(c->executed_at), "revoked", revoke_list(c->revoked),
	    "revoke_pending", revoke_list(c->revoke_pending),
	    "failure", c->failure, "attempts", c->attempts,
	    "idempotency_key", c->idem_key, "credential_to", c->cred_to,
	    "credential_until", jtime(c->cred_until)) : json_null();
	json_object_set_new(j, "execution", x);
	x = c->review_due ? json_pack("{s:o, s:s, s:s, s:s, s:o, s:b}",
	    "due", jtime(c->review_due), "by", c->reviewer,
	    "outcome", c->review_outcome, "comment", c->review_comment,
	    "at", jtime(c->reviewed_at), "overdue", c->review_overdue) :
	    json_null();
	json_object_set_new(j, "review", x);
	x = c->ended_by[0] ? json_pack("{s:s, s:s}", "by", c->ended_by,
	    "reason", c->end_reason) : json_null();
	json_object_set_new(j, "ended", x);
	return j;
}

/* ---- reading a record back ------------------------------------------- */

typedef struct rd {
	tk_error *err;
	int bad;
} rd;

static void
rd_bad(rd *r, const char *what)
{
	if (!r->bad)
		(void)tk_fail(r->err, TK_ERR_INTERNAL,
		    "stored case record is malformed at \"%s\"; the database "
		    "may be damaged: run `twokey audit verify`", what);
	r->bad = 1;
}

static void
rd_str(rd *r, const json_t *o, const char *key, char *dst, size_t size)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || tk_strlcpy(dst, json_string_value(v),
	    size) != 0)
		rd_bad(r, key);
}

static void
rd_int(rd *r, const json_t *o, const char *key, int *dst, int max)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max)
		rd_bad(r, key);
	else
		*dst = (int)json_integer_value(v);
}

static void
rd_bool(rd *r, const json_t *o, const char *key, bool *dst)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		rd_bad(r, key);
	else
		*dst = json_is_true(v);
}

static int
parse_time(const char *s, tk_time *out)
{
	struct tm tm;
	int y, mo, d, h, mi, se;
	char z;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se,
	    &z) != 7 || z != 'Z' || strlen(s) != 20)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (tk_time)t;
	return 0;
}

static void
rd_time(rd *r, const json_t *o, const char *key, tk_time *dst)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_null(v))
		*dst = 0;
	else if (!json_is_string(v) || parse_time(json_string_value(v),
	    dst) != 0)
		rd_bad(r, key);
}

static void
rd_dur(rd *r, const json_t *o, const char *key, tk_time *dst)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || tk_duration_parse(json_string_value(v),
	    dst) != 0)
		rd_bad(r, key);
}

static void
rd_digest(rd *r, const json_t *o, const char *key, unsigned char *dst)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || hex_decode(json_string_value(v), dst,
	    TK_DIGEST_LEN) != 0)
		rd_bad(r, key);
}

static unsigned
rd_revokes(rd *r, const json_t *o, const char *key)
{
	const json_t *a = json_object_get(o, key), *v;
	unsigned bits = 0;
	size_t i;
	int b;

	if (!json_is_array(a)) {
		rd_bad(r, key);
		return 0;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) ||
		    (b = tk_revoke_parse(json_string_value(v))) < 0) {
			rd_bad(r, key);
			return 0;
		}
		bits |= (unsigned)b;
	}
	return bits;
}

static void
rd_require(rd *r, const json_t *o, tk_require *q)
{
	const json_t *ev = json_object_get(o, "evidence");
	const json_t *ap = json_object_get(o, "approvals");
	const json_t *a, *v;
	size_t i;
	int m;

	if (!json_is_object(o) || !json_is_object(ev) || !json_is_object(ap)) {
		rd_bad(r, "requirements");
		return;
	}
	rd_bool(r, o, "ticket", &q->ticket);
	rd_bool(r, o, "reason_code", &q->reason_code);
	rd_int(r, ev, "count", &q->ev_count, 64);
	rd_int(r, ev, "by_other_than_requester", &q->ev_by_other, 64);
	a = json_object_get(ev, "methods");
	if (!json_is_array(a))
		rd_bad(r, "methods");
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) ||
		    (m = tk_method_parse(json_string_value(v))) < 0)
			rd_bad(r, "methods");
		else
			q->ev_methods |= 1u << m;
	}
	rd_int(r, ap, "count", &q->ap_count, 64);
	rd_bool(r, ap, "distinct_functions", &q->ap_distinct_functions);
	rd_int(r, ap, "outside_support_chain", &q->ap_outside_chain, 64);
	rd_bool(r, ap, "owner", &q->ap_owner);
	a = json_object_get(ap, "from_any");
	if (!json_is_array(a) || json_array_size(a) > TK_MAX_FROM)
		rd_bad(r, "from_any");
	json_array_foreach(a, i, v) {
		if (i >= TK_MAX_FROM || !json_is_string(v) ||
		    tk_strlcpy(q->ap_from_any[i], json_string_value(v),
		    TK_NAME_MAX) != 0)
			rd_bad(r, "from_any");
		else
			q->ap_nfrom_any = (int)i + 1;
	}
	rd_dur(r, o, "hold", &q->hold);
	q->hold_extension = q->hold; /* absent before signals extended holds */
	if (json_object_get(o, "credential_in_person") != NULL)
		rd_bool(r, o, "credential_in_person", &q->cred_in_person);
	if (json_object_get(o, "hold_extension") != NULL)
		rd_dur(r, o, "hold_extension", &q->hold_extension);
	rd_dur(r, o, "approval_ttl", &q->approval_ttl);
	rd_dur(r, o, "post_review", &q->post_review);
	q->revoke = rd_revokes(r, o, "revoke");
}

int
tk_case_from_json(tk_case *c, const json_t *j, tk_error *err)
{
	rd r = {err, 0};
	const json_t *a, *v, *x;
	size_t i;
	char buf[TK_NAME_MAX];
	int st, m;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(j)) {
		rd_bad(&r, "case");
		return -1;
	}
	rd_str(&r, j, "id", c->id, sizeof(c->id));
	rd_str(&r, j, "subject", c->subject, sizeof(c->subject));
	rd_str(&r, j, "action", c->action, sizeof(c->action));
	rd_str(&r, j, "queue", c->family, sizeof(c->family));
	rd_str(&r, j, "channel", c->channel, sizeof(c->channel));
	rd_str(&r, j, "ticket", c->ticket, sizeof(c->ticket));
	rd_str(&r, j, "reason_code", c->reason_code, sizeof(c->reason_code));
	rd_str(&r, j, "justification", c->justification,
	    sizeof(c->justification));
	rd_str(&r, j, "delivery", c->delivery, sizeof(c->delivery));
	rd_str(&r, j, "requester", c->requester, sizeof(c->requester));
	rd_str(&r, j, "tier", c->tier, sizeof(c->tier));
	rd_str(&r, j, "state", buf, sizeof(buf));
	if ((st = tk_state_parse(buf)) < 0)
		rd_bad(&r, "state");
	else
		c->state = (enum tk_state)st;

	x = json_object_get(j, "params");
	if (!json_is_object(x))
		rd_bad(&r, "params");
	else {
		char *s = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS);
		if (s == NULL || tk_strlcpy(c->params, s, sizeof(c->params)))
			rd_bad(&r, "params");
		free(s);
	}
	a = json_object_get(j, "signals");
	if (!json_is_array(a) || json_array_size(a) > TK_MAX_SIGNALS)
		rd_bad(&r, "signals");
	else
		json_array_foreach(a, i, v) {
			if (!json_is_string(v) || tk_strlcpy(c->signals[i],
			    json_string_value(v), TK_NAME_MAX) != 0)
				rd_bad(&r, "signals");
			c->nsignals = (int)i + 1;
		}

	x = json_object_get(j, "rule");
	if (!json_is_object(x))
		rd_bad(&r, "rule");
	else {
		rd_str(&r, x, "owner", c->rule_owner, sizeof(c->rule_owner));
		rd_int(&r, x, "line", &c->rule_line, 1 << 24);
		rd_str(&r, x, "policy", c->policy_digest,
		    sizeof(c->policy_digest));
	}
	rd_require(&r, json_object_get(j, "requirements"), &c->req);
	rd_digest(&r, j, "digest", c->digest);
	rd_time(&r, j, "created", &c->created);
	rd_time(&r, j, "updated", &c->updated);
	rd_time(&r, j, "hold_until", &c->hold_until);
	rd_time(&r, j, "ready_until", &c->ready_until);

	a = json_object_get(j, "evidence");
	if (!json_is_array(a) || json_array_size(a) > TK_MAX_EVIDENCE)
		rd_bad(&r, "evidence");
	else
		json_array_foreach(a, i, v) {
			tk_evidence *e = &c->evidence[i];
			rd_str(&r, v, "method", buf, sizeof(buf));
			if ((m = tk_method_parse(buf)) < 0)
				rd_bad(&r, "method");
			e->method = m;
			rd_str(&r, v, "by", e->by, sizeof(e->by));
			rd_str(&r, v, "contact", e->contact, sizeof(e->contact));
			rd_str(&r, v, "result", buf, sizeof(buf));
			e->pass = strcmp(buf, "pass") == 0;
			rd_str(&r, v, "reference", e->reference,
			    sizeof(e->reference));
			rd_time(&r, v, "at", &e->at);
			rd_digest(&r, v, "digest", e->digest);
			rd_str(&r, v, "void_reason", e->void_reason,
			    sizeof(e->void_reason));
			e->voided = e->void_reason[0] != '\0';
			c->nevidence = (int)i + 1;
		}
	a = json_object_get(j, "approvals");
	if (!json_is_array(a) || json_array_size(a) > TK_MAX_APPROVALS)
		rd_bad(&r, "approvals");
	else
		json_array_foreach(a, i, v) {
			tk_approval *p = &c->approvals[i];
			rd_str(&r, v, "by", p->by, sizeof(p->by));
			rd_str(&r, v, "function", p->function,
			    sizeof(p->function));
			rd_str(&r, v, "decision", buf, sizeof(buf));
			p->approve = strcmp(buf, "approve") == 0;
			rd_str(&r, v, "comment", p->comment, sizeof(p->comment));
			rd_time(&r, v, "at", &p->at);
			rd_str(&r, v, "policy", p->policy_digest,
			    sizeof(p->policy_digest));
			rd_digest(&r, v, "digest", p->digest);
			rd_str(&r, v, "void_reason", p->void_reason,
			    sizeof(p->void_reason));
			p->voided = p->void_reason[0] != '\0';
			c->napprovals = (int)i + 1;
		}

	x = json_object_get(j, "break_glass");
	if (json_is_object(x)) {
		c->break_glass = true;
		rd_str(&r, x, "by", c->bg_by, sizeof(c->bg_by));
		rd_str(&r, x, "incident", c->bg_incident,
		    sizeof(c->bg_incident));
		rd_str(&r, x, "justification", c->bg_justification,
		    sizeof(c->bg_justification));
		rd_time(&r, x, "at", &c->bg_at);
	} else if (!json_is_null(x))
		rd_bad(&r, "break_glass");
	x = json_object_get(j, "execution");
	if (json_is_object(x)) {
		rd_str(&r, x, "by", c->executor, sizeof(c->executor));
		rd_str(&r, x, "connector", c->connector, sizeof(c->connector));
		rd_str(&r, x, "note", c->exec_note, sizeof(c->exec_note));
		rd_time(&r, x, "at", &c->executed_at);
		c->revoked = rd_revokes(&r, x, "revoked");
		c->revoke_pending = rd_revokes(&r, x, "revoke_pending");
		rd_str(&r, x, "failure", c->failure, sizeof(c->failure));
		/* absent in records written before connectors existed */
		if (json_object_get(x, "attempts") != NULL) {
			rd_int(&r, x, "attempts", &c->attempts, 1 << 20);
			rd_str(&r, x, "idempotency_key", c->idem_key,
			    sizeof(c->idem_key));
			rd_str(&r, x, "credential_to", c->cred_to,
			    sizeof(c->cred_to));
			rd_time(&r, x, "credential_until", &c->cred_until);
		}
	} else if (!json_is_null(x))
		rd_bad(&r, "execution");
	x = json_object_get(j, "review");
	if (json_is_object(x)) {
		rd_time(&r, x, "due", &c->review_due);
		rd_str(&r, x, "by", c->reviewer, sizeof(c->reviewer));
		rd_str(&r, x, "outcome", c->review_outcome,
		    sizeof(c->review_outcome));
		rd_str(&r, x, "comment", c->review_comment,
		    sizeof(c->review_comment));
		rd_time(&r, x, "at", &c->reviewed_at);
		rd_bool(&r, x, "overdue", &c->review_overdue);
	} else if (!json_is_null(x))
		rd_bad(&r, "review");
	x = json_object_get(j, "ended");
	if (json_is_object(x)) {
		rd_str(&r, x, "by", c->ended_by, sizeof(c->ended_by));
		rd_str(&r, x, "reason", c->end_reason, sizeof(c->end_reason));
	} else if (!json_is_null(x))
		rd_bad(&r, "ended");
	if (!r.bad) {
		/* The digest binds evidence and approvals to the material
		 * fields (invariant 7): a stored record whose fields were
		 * changed behind the engine's back is damage, not a case. */
		unsigned char stored[TK_DIGEST_LEN];
		memcpy(stored, c->digest, sizeof(stored));
		tk_case_compute_digest(c);
		if (memcmp(stored, c->digest, sizeof(stored)) != 0)
			rd_bad(&r, "digest (subject, action, params or delivery "
			    "changed outside twokey)");
	}
	return r.bad ? -1 : 0;
}

enum tk_status
tk_case_params_set(char *dst, size_t size, const char *src, tk_error *err)
{
	json_t *j, *v;
	json_error_t je;
	const char *key;
	char *canon;
	enum tk_status st = TK_OK;

	if (src == NULL || *src == '\0' || strcmp(src, "{}") == 0) {
		if (tk_strlcpy(dst, "{}", size) != 0)
			return tk_fail(err, TK_ERR_INVALID, "params do not fit");
		return TK_OK;
	}
	j = json_loads(src, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return tk_fail(err, TK_ERR_INVALID, "params must be a JSON "
		    "object whose values are strings");
	}
	json_object_foreach(j, key, v)
		if (!json_is_string(v) || *key == '\0' ||
		    strlen(key) >= TK_NAME_MAX) {
			json_decref(j);
			return tk_fail(err, TK_ERR_INVALID, "params: every "
			    "value must be a string and every key 1 to %d "
			    "bytes long", TK_NAME_MAX - 1);
		}
	canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (canon == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory");
	if (tk_strlcpy(dst, canon, size) != 0)
		st = tk_fail(err, TK_ERR_INVALID, "params are too long (at "
		    "most %zu bytes)", size - 1);
	free(canon);
	return st;
}
