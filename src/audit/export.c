/*
 * export.c - formats stored audit events for SIEMs: JSON lines, OCSF 1.1,
 * ArcSight CEF, RFC 5424 syslog and RFC 6587 octet counting.
 *
 * Owns: the kind table (OCSF class and activity, CEF name of every event
 * kind the engine and the app write; docs/siem.md is its prose twin), the
 * severities, and the escaping of each format. Pure: no I/O, no globals
 * that change, nothing kept between calls.
 *
 * Every row is validated before use (columns NUL-terminated and UTF-8, a
 * time between 1970 and 9999, a body that is a JSON object), since it was
 * read back from a file someone may have edited. Output is built in a
 * growable buffer capped at TK_EXPORT_MAX that frees itself on failure.
 */
#include "audit/export.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/b64.h"

/* 9999-12-31T23:59:59Z: the last second RFC 3339 can write in 4 digits. */
#define TS_MAX ((tk_time)253402300799LL)
/* Longest stored body accepted: twice the chain's own cap, and small
 * enough that its base64 and JSON copies stay under TK_EXPORT_MAX. */
#define BODY_MAX (2u * 1024u * 1024u)

#define JSON_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER)

/* ---- capped growable buffer ------------------------------------------ */

struct xbuf {
	char *p;      /* NUL-terminated when non-NULL */
	size_t len;   /* bytes used, without the NUL */
	size_t cap;   /* bytes allocated */
	bool failed;  /* out of memory: p freed */
	bool toolong; /* past TK_EXPORT_MAX: p freed */
};

static void
xb_fail(struct xbuf *b, bool toolong)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	if (toolong)
		b->toolong = true;
	else
		b->failed = true;
}

static void
xb_add(struct xbuf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->failed || b->toolong)
		return;
	if (n > TK_EXPORT_MAX || b->len + n > TK_EXPORT_MAX) {
		xb_fail(b, true);
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 512;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			xb_fail(b, false);
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
xb_str(struct xbuf *b, const char *s)
{
	xb_add(b, s, strlen(s));
}

static void
xb_chr(struct xbuf *b, char c)
{
	xb_add(b, &c, 1);
}

static void
xb_i64(struct xbuf *b, int64_t v)
{
	char n[24];

	(void)snprintf(n, sizeof(n), "%" PRId64, v);
	xb_str(b, n);
}

/* Hands the buffer to the caller: 0 with *out and *len set, or -1 with err
 * filled (and nothing left to free). */
static int
xb_finish(struct xbuf *b, char **out, size_t *len, tk_error *err)
{
	if (b->toolong) {
		(void)tk_fail(err, TK_ERR_TOO_LARGE, "the formatted event is "
		    "longer than %u bytes", TK_EXPORT_MAX);
		return -1;
	}
	if (b->p == NULL && !b->failed)
		xb_add(b, "", 0); /* an empty result is still a string */
	if (b->failed) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return -1;
	}
	*out = b->p;
	if (len != NULL)
		*len = b->len;
	b->p = NULL;
	return 0;
}

/* ---- text checks ------------------------------------------------------ */

/* Strict UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != 0) {
		unsigned c = *p;
		int n;
		unsigned min, cp;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/* A fixed column is usable when it ends inside its array and is UTF-8. */
static bool
column_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL && utf8_valid(s);
}

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* ---- escapers ---------------------------------------------------------- */

static void
cef_header_add(struct xbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			xb_str(b, "\\\\");
		else if (*p == '|')
			xb_str(b, "\\|");
		else if (is_ctl(*p))
			xb_chr(b, ' ');
		else
			xb_chr(b, (char)*p);
	}
}

static void
cef_value_add(struct xbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			xb_str(b, "\\\\");
		else if (*p == '=')
			xb_str(b, "\\=");
		else if (*p == '\n')
			xb_str(b, "\\n");
		else if (*p == '\r')
			xb_str(b, "\\r");
		else if (is_ctl(*p))
			xb_chr(b, ' ');
		else
			xb_chr(b, (char)*p);
	}
}

static void
sd_value_add(struct xbuf *b, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == ']')
			xb_chr(b, '\\');
		xb_chr(b, *p);
	}
}

static char *
escape_with(void (*fn)(struct xbuf *, const char *), const char *s)
{
	struct xbuf b = {0};
	char *out = NULL;

	fn(&b, s != NULL ? s : "");
	if (xb_finish(&b, &out, NULL, NULL) != 0)
		return NULL;
	return out;
}

char *
tk_export_cef_header_escape(const char *s)
{
	return escape_with(cef_header_add, s);
}

char *
tk_export_cef_value_escape(const char *s)
{
	return escape_with(cef_value_add, s);
}

char *
tk_export_sd_escape(const char *s)
{
	return escape_with(sd_value_add, s);
}

/* ---- formats and levels ------------------------------------------------ */

static const char *const format_names[] = {
	[TK_EXPORT_JSONL] = "jsonl",
	[TK_EXPORT_OCSF] = "ocsf",
	[TK_EXPORT_CEF] = "cef",
};

int
tk_export_format_parse(const char *name, enum tk_export_format *out)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(format_names) / sizeof(*format_names);
	    i++)
		if (strcmp(name, format_names[i]) == 0) {
			*out = (enum tk_export_format)i;
			return 0;
		}
	return -1;
}

const char *
tk_export_format_name(enum tk_export_format f)
{
	if ((unsigned)f >= sizeof(format_names) / sizeof(*format_names))
		return "?";
	return format_names[f];
}

enum tk_export_level
tk_export_level(const char *kind, bool alert)
{
	if (alert)
		return TK_LEVEL_ALERT;
	if (kind != NULL && strcmp(kind, "refused") == 0)
		return TK_LEVEL_REFUSED;
	return TK_LEVEL_INFO;
}

int
tk_export_cef_severity(enum tk_export_level l)
{
	return l == TK_LEVEL_ALERT ? 8 : l == TK_LEVEL_REFUSED ? 5 : 3;
}

int
tk_export_ocsf_severity(enum tk_export_level l)
{
	return l == TK_LEVEL_ALERT ? 4 : l == TK_LEVEL_REFUSED ? 3 : 1;
}

int
tk_export_syslog_severity(enum tk_export_level l)
{
	return l == TK_LEVEL_ALERT ? 2 : l == TK_LEVEL_REFUSED ? 4 : 6;
}

static const char *
ocsf_severity_name(int id)
{
	switch (id) {
	case 1: return "Informational";
	case 2: return "Low";
	case 3: return "Medium";
	case 4: return "High";
	case 5: return "Critical";
	default: return "Unknown";
	}
}

/* ---- the kind table ------------------------------------------------------ */

#define C_ACCOUNT 3001
#define C_AUTH 3002
#define C_ENTITY 3004

struct kind_info {
	const char *kind;
	int class_uid;
	int activity_id;           /* 0: by the case action (execution) */
	const char *other_name;    /* activity name when activity_id is 99 */
	const char *cef_name;
};

/* Every kind written by src/core/engine.c, the app layer and `init`. */
static const struct kind_info kinds[] = {
	{"store.initialized", C_ENTITY, 1, NULL, "Audit store initialized"},
	{"policy.loaded", C_ENTITY, 3, NULL, "Policy loaded"},
	{"token.issued", C_AUTH, 99, "API Token Issue", "API token issued"},
	{"case.opened", C_ENTITY, 1, NULL, "Case opened"},
	{"case.changed", C_ENTITY, 3, NULL, "Case changed"},
	{"records.voided", C_ENTITY, 3, NULL, "Evidence and approvals voided"},
	{"approvals.voided", C_ENTITY, 3, NULL, "Approvals voided"},
	{"evidence.added", C_AUTH, 99, "Identity Verification",
	    "Requester identity verified"},
	{"evidence.failed", C_AUTH, 99, "Identity Verification",
	    "Requester identity verification failed"},
	{"evidence.expired", C_ENTITY, 3, NULL, "Evidence expired"},
	{"approval.added", C_ENTITY, 3, NULL, "Approval given"},
	{"approval.expired", C_ENTITY, 3, NULL, "Approval expired"},
	{"case.denied", C_ENTITY, 3, NULL, "Case denied"},
	{"hold.started", C_ENTITY, 3, NULL, "Hold started"},
	{"hold.ended", C_ENTITY, 3, NULL, "Hold ended"},
	{"case.ready", C_ENTITY, 3, NULL, "Case ready to execute"},
	{"case.expired", C_ENTITY, 3, NULL, "Case expired"},
	{"execution.attested", C_ACCOUNT, 0, NULL, "Identity change executed"},
	{"revocation.done", C_ACCOUNT, 99, "Revocation",
	    "Sessions and credentials revoked"},
	{"revocation.pending", C_ACCOUNT, 99, "Revocation",
	    "Revocations not confirmed"},
	{"review.opened", C_ENTITY, 3, NULL, "Post-event review opened"},
	{"review.completed", C_ENTITY, 3, NULL, "Post-event review completed"},
	{"review.overdue", C_ENTITY, 3, NULL, "Post-event review overdue"},
	{"case.cancelled", C_ENTITY, 3, NULL, "Case cancelled"},
	{"break_glass.declared", C_ENTITY, 3, NULL, "Break-glass declared"},
	{"refused", C_ENTITY, 3, NULL, "Attempt refused"},
	/* verification and execution (issue 4: engine.c, app/verify.c,
	 * app/execute.c) */
	{"execution.started", C_ENTITY, 3, NULL, "Connector execution started"},
	{"execution.done", C_ACCOUNT, 0, NULL, "Identity change executed"},
	{"execution.failed", C_ENTITY, 3, NULL, "Connector execution failed"},
	{"execution.unknown", C_ENTITY, 3, NULL,
	    "Connector execution outcome unknown"},
	{"execution.resolved", C_ENTITY, 3, NULL,
	    "Execution outcome settled by hand"},
	{"credential.delivered", C_ACCOUNT, 99, "Credential Delivery",
	    "Temporary credential delivered"},
	{"credential.undelivered", C_ACCOUNT, 99, "Credential Delivery",
	    "Temporary credential not delivered"},
	{"revocation.failed", C_ACCOUNT, 99, "Revocation", "Revocation failed"},
	{"signal.added", C_ENTITY, 3, NULL, "Risk signal reported"},
	{"hold.extended", C_ENTITY, 3, NULL, "Hold extended"},
	{"hold.acknowledged", C_ENTITY, 3, NULL, "Hold acknowledged"},
	{"factor.enrolled", C_ACCOUNT, 10, NULL, "TOTP factor enrolled"},
	{"factor.failed", C_AUTH, 99, "Identity Verification",
	    "Wrong TOTP code"},
	{"factor.locked", C_AUTH, 99, "Identity Verification",
	    "TOTP factor locked"},
	{"confirmation.created", C_ENTITY, 3, NULL, "Confirmation requested"},
	{"confirmation.sent", C_ENTITY, 3, NULL, "Confirmation sent"},
	{"confirmation.failed", C_ENTITY, 3, NULL, "Confirmation not sent"},
	{"confirmation.denied", C_AUTH, 99, "Identity Verification",
	    "Subject said this was not them"},
	{"notice.sent", C_ENTITY, 3, NULL, "Hold notice sent"},
	{"notice.failed", C_ENTITY, 3, NULL, "Hold notice not sent"},
	{"grant.expired", C_ACCOUNT, 8, NULL, "Role grant removed on expiry"},
	{"grant.remove_failed", C_ACCOUNT, 99, "Grant Removal",
	    "Expired role grant not removed"},
	{"credential.expired", C_ACCOUNT, 99, "Credential Expiry",
	    "Temporary credential TTL ended"},
	{"credential.expire_failed", C_ACCOUNT, 99, "Credential Expiry",
	    "Temporary credential not disabled at its TTL"},
};

/* What execution.attested changed, by the case action. */
static const struct {
	const char *action;
	int activity_id;
	const char *name;
} account_activities[] = {
	{"password_reset", 4, "Password Reset"},
	{"mfa_reset", 11, "MFA Factor Disable"},
	{"device_enrolment", 10, "MFA Factor Enable"},
	{"reactivation", 2, "Enable"},
	{"role_grant", 7, "Attach Policy"},
	{"role_revoke", 8, "Detach Policy"},
	{"recovery_factor_change", 99, "Recovery Factor Change"},
	{"email_change", 99, "Email Change"},
	{"phone_change", 99, "Phone Change"},
	{"api_key_reissue", 99, "API Key Reissue"},
	{"secret_rotation", 99, "Secret Rotation"},
	{"certificate_reissue", 99, "Certificate Reissue"},
};

static const char *
class_name(int uid)
{
	switch (uid) {
	case C_ACCOUNT: return "Account Change";
	case C_AUTH: return "Authentication";
	default: return "Entity Management";
	}
}

static const char *
entity_activity_name(int id)
{
	switch (id) {
	case 1: return "Create";
	case 2: return "Read";
	case 3: return "Update";
	case 4: return "Delete";
	default: return "Other";
	}
}

void
tk_export_ocsf_map(const char *kind, const char *action, tk_ocsf_map *out)
{
	const struct kind_info *k = NULL;

	memset(out, 0, sizeof(*out));
	out->category_uid = 3;
	for (size_t i = 0; kind != NULL && i < sizeof(kinds) / sizeof(*kinds);
	    i++)
		if (strcmp(kinds[i].kind, kind) == 0) {
			k = &kinds[i];
			break;
		}
	if (k == NULL) {
		/* A kind this version does not know: generic, never dropped. */
		out->class_uid = C_ENTITY;
		out->class_name = class_name(C_ENTITY);
		out->activity_id = 99;
		out->activity_name = "Other";
		out->cef_name = kind != NULL && kind[0] ? kind : "Event";
		return;
	}
	out->class_uid = k->class_uid;
	out->class_name = class_name(k->class_uid);
	out->cef_name = k->cef_name;
	out->activity_id = k->activity_id;
	if (k->activity_id == 0) {
		out->activity_id = 99;
		out->activity_name = "Other";
		for (size_t i = 0; action != NULL && i < sizeof(account_activities)
		    / sizeof(*account_activities); i++)
			if (strcmp(account_activities[i].action, action) == 0) {
				out->activity_id = account_activities[i].activity_id;
				out->activity_name = account_activities[i].name;
				break;
			}
	} else if (k->activity_id == 99) {
		out->activity_name = k->other_name;
	} else if (strcmp(k->kind, "refused") == 0 && action != NULL &&
	    strcmp(action, "open") == 0) {
		/* A refused open is a refused Create; the rest are Updates. */
		out->activity_id = 1;
		out->activity_name = entity_activity_name(1);
	} else {
		out->activity_name = entity_activity_name(k->activity_id);
	}
}

/* ---- reading a row ----------------------------------------------------- */

/* What formatters need from a validated row. */
struct ev {
	const tk_event_row *row;
	json_t *body;          /* parsed canonical body (owned) */
	json_t *data;          /* body.data, borrowed from body */
	char ts[32];           /* RFC 3339 */
	int64_t ms;            /* epoch milliseconds */
	enum tk_export_level level;
	const char *detail;    /* data.detail or "" */
	const char *subject;   /* the identity being changed, or "" */
	const char *action;    /* the case action, or "" */
	const char *op;        /* for refused: the refused operation, or "" */
	tk_ocsf_map map;
};

static const char *
jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

static int
ev_load(struct ev *e, const tk_event_row *row, tk_error *err)
{
	json_error_t jerr;
	const json_t *req;
	bool refused;

	memset(e, 0, sizeof(*e));
	if (row == NULL || row->body == NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "event has no body");
		return -1;
	}
	if (strlen(row->body) > BODY_MAX) {
		(void)tk_fail(err, TK_ERR_TOO_LARGE, "event %" PRId64 ": the "
		    "stored body is longer than %u bytes", row->seq, BODY_MAX);
		return -1;
	}
	if (row->seq < 1 || row->ts < 0 || row->ts > TS_MAX) {
		(void)tk_fail(err, TK_ERR_INVALID, "event %" PRId64 ": sequence "
		    "number or time out of range", row->seq);
		return -1;
	}
	if (!column_ok(row->case_id, sizeof(row->case_id)) ||
	    !column_ok(row->kind, sizeof(row->kind)) ||
	    !column_ok(row->actor, sizeof(row->actor)) || row->kind[0] == '\0') {
		(void)tk_fail(err, TK_ERR_INVALID, "event %" PRId64 ": a column "
		    "is empty, unterminated or not UTF-8; run `twokey audit "
		    "verify`", row->seq);
		return -1;
	}
	e->body = json_loads(row->body, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(e->body)) {
		json_decref(e->body);
		e->body = NULL;
		(void)tk_fail(err, TK_ERR_INVALID, "event %" PRId64 ": the "
		    "stored body is not a JSON object; run `twokey audit verify`",
		    row->seq);
		return -1;
	}
	e->data = json_object_get(e->body, "data");
	if (e->data != NULL && !json_is_object(e->data)) {
		json_decref(e->body);
		e->body = NULL;
		(void)tk_fail(err, TK_ERR_INVALID, "event %" PRId64 ": the "
		    "body's data is not an object", row->seq);
		return -1;
	}
	e->row = row;
	tk_time_format(row->ts, e->ts, sizeof(e->ts));
	e->ms = (int64_t)row->ts * 1000;
	e->level = tk_export_level(row->kind, row->alert);
	refused = strcmp(row->kind, "refused") == 0;
	req = json_object_get(e->data, "request");
	e->detail = jstr(e->data, "detail");
	e->subject = jstr(e->data, "subject");
	if (e->subject[0] == '\0')
		e->subject = jstr(req, "subject");
	if (e->subject[0] == '\0' && strcmp(row->kind, "token.issued") == 0)
		e->subject = jstr(e->data, "login");
	e->action = refused ? jstr(req, "action") : jstr(e->data, "action");
	e->op = refused ? jstr(e->data, "action") : "";
	tk_export_ocsf_map(row->kind, refused ? e->op : e->action, &e->map);
	return 0;
}

static void
ev_free(struct ev *e)
{
	json_decref(e->body);
	e->body = NULL;
}

/* ---- jsonl ---------------------------------------------------------------- */

/* Sets key to a new value (stolen); returns -1 when v is NULL or the set
 * fails (v is then released). */
static int
jset(json_t *obj, const char *key, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new(obj, key, v);
}

static json_t *
base64_json(const char *s, size_t n)
{
	char *enc;
	json_t *j;

	if (n > BODY_MAX)
		return NULL;
	enc = malloc(TK_B64_LEN(n) + 1);
	if (enc == NULL)
		return NULL;
	tk_b64_encode((const unsigned char *)s, n, enc);
	j = json_stringn(enc, TK_B64_LEN(n));
	free(enc);
	return j;
}

static json_t *
jsonl_event(const struct ev *e)
{
	const tk_event_row *r = e->row;
	char hash[65];
	json_t *j = json_object();

	if (j == NULL)
		return NULL;
	tk_hex_encode(r->hash, sizeof(r->hash), hash);
	if (jset(j, "seq", json_integer(r->seq)) != 0 ||
	    jset(j, "index", json_integer(r->seq - 1)) != 0 ||
	    jset(j, "ts", json_string(e->ts)) != 0 ||
	    jset(j, "case", json_string(r->case_id)) != 0 ||
	    jset(j, "kind", json_string(r->kind)) != 0 ||
	    jset(j, "actor", json_string(r->actor)) != 0 ||
	    jset(j, "alert", json_boolean(r->alert)) != 0 ||
	    jset(j, "data", e->data ? json_incref(e->data) : json_object()) != 0 ||
	    jset(j, "hash", json_string(hash)) != 0 ||
	    jset(j, "leaf", base64_json(r->body, strlen(r->body))) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ---- OCSF ----------------------------------------------------------------- */

static json_t *
ocsf_user(const char *name, bool system)
{
	json_t *u = json_pack("{s:s, s:s}", "name", name, "uid", name);

	if (u != NULL && system && (jset(u, "type_id", json_integer(3)) != 0 ||
	    jset(u, "type", json_string("System")) != 0)) {
		json_decref(u);
		return NULL;
	}
	return u;
}

/* The managed entity of an Entity Management event. */
static json_t *
ocsf_entity(const struct ev *e)
{
	const tk_event_row *r = e->row;
	json_t *ent, *d;

	if (strcmp(r->kind, "policy.loaded") == 0)
		return json_pack("{s:s, s:s, s:s}", "name", "policy", "uid",
		    jstr(e->data, "digest"), "type", "policy");
	if (strcmp(r->kind, "store.initialized") == 0)
		return json_pack("{s:s, s:s}", "name", "audit store", "type",
		    "store");
	ent = json_pack("{s:s, s:s}", "name", r->case_id[0] ? r->case_id :
	    "new case", "type", "case");
	if (ent == NULL)
		return NULL;
	if (r->case_id[0] && jset(ent, "uid", json_string(r->case_id)) != 0)
		goto fail;
	d = json_object();
	if (jset(ent, "data", d) != 0)
		goto fail;
	if ((e->subject[0] && jset(d, "subject", json_string(e->subject)) != 0) ||
	    (e->action[0] && jset(d, "action", json_string(e->action)) != 0) ||
	    (json_is_string(json_object_get(e->data, "tier")) &&
	    jset(d, "tier", json_string(jstr(e->data, "tier"))) != 0))
		goto fail;
	if (json_object_size(d) == 0 && json_object_del(ent, "data") != 0)
		goto fail;
	return ent;
fail:
	json_decref(ent);
	return NULL;
}

static int
ocsf_status(json_t *j, const struct ev *e)
{
	const char *k = e->row->kind;
	int id = 1;
	const char *name = "Success";

	if (strcmp(k, "refused") == 0 || strcmp(k, "evidence.failed") == 0) {
		id = 2;
		name = "Failure";
	} else if (strcmp(k, "revocation.pending") == 0) {
		id = 99;
		name = "Pending";
	}
	if (jset(j, "status_id", json_integer(id)) != 0 ||
	    jset(j, "status", json_string(name)) != 0)
		return -1;
	if (strcmp(k, "refused") == 0) {
		if (jstr(e->data, "code")[0] && jset(j, "status_code",
		    json_string(jstr(e->data, "code"))) != 0)
			return -1;
		if (jstr(e->data, "message")[0] && jset(j, "status_detail",
		    json_string(jstr(e->data, "message"))) != 0)
			return -1;
	}
	return 0;
}

static json_t *
ocsf_event(const struct ev *e)
{
	const tk_event_row *r = e->row;
	const tk_ocsf_map *m = &e->map;
	int sev = tk_export_ocsf_severity(e->level);
	char uid[24], type_name[128];
	json_t *j, *md, *un, *data;
	const char *it;
	json_t *v;

	(void)snprintf(uid, sizeof(uid), "%" PRId64, r->seq);
	(void)snprintf(type_name, sizeof(type_name), "%s: %s", m->class_name,
	    m->activity_name);
	j = json_object();
	if (j == NULL)
		return NULL;
	if (jset(j, "category_uid", json_integer(m->category_uid)) != 0 ||
	    jset(j, "category_name",
	    json_string("Identity & Access Management")) != 0 ||
	    jset(j, "class_uid", json_integer(m->class_uid)) != 0 ||
	    jset(j, "class_name", json_string(m->class_name)) != 0 ||
	    jset(j, "activity_id", json_integer(m->activity_id)) != 0 ||
	    jset(j, "activity_name", json_string(m->activity_name)) != 0 ||
	    jset(j, "type_uid", json_integer((json_int_t)m->class_uid * 100 +
	    m->activity_id)) != 0 ||
	    jset(j, "type_name", json_string(type_name)) != 0 ||
	    jset(j, "severity_id", json_integer(sev)) != 0 ||
	    jset(j, "severity", json_string(ocsf_severity_name(sev))) != 0 ||
	    ocsf_status(j, e) != 0 ||
	    jset(j, "time", json_integer(e->ms)) != 0 ||
	    jset(j, "message", json_string(e->detail[0] ? e->detail :
	    m->cef_name)) != 0)
		goto fail;

	md = json_pack("{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:s}",
	    "version", TK_OCSF_VERSION,
	    "product", "name", "twokey", "vendor_name", "twokey",
	    "version", TK_VERSION,
	    "uid", uid, "event_code", r->kind, "log_name", "audit",
	    "original_time", e->ts);
	if (jset(j, "metadata", md) != 0)
		goto fail;
	if (r->case_id[0] &&
	    jset(md, "correlation_uid", json_string(r->case_id)) != 0)
		goto fail;

	if (jset(j, "actor", json_pack("{s:o}", "user", ocsf_user(r->actor,
	    strcmp(r->actor, "system") == 0))) != 0)
		goto fail;
	if (m->class_uid == C_ACCOUNT || m->class_uid == C_AUTH) {
		if (e->subject[0] &&
		    jset(j, "user", ocsf_user(e->subject, false)) != 0)
			goto fail;
		if (m->class_uid == C_AUTH && jset(j, "service",
		    json_pack("{s:s}", "name", "twokey")) != 0)
			goto fail;
	} else if (jset(j, "entity", ocsf_entity(e)) != 0) {
		goto fail;
	}

	/* Everything else the event said, under unmapped. */
	un = json_object();
	if (jset(j, "unmapped", un) != 0 ||
	    jset(un, "alert", json_boolean(r->alert)) != 0)
		goto fail;
	data = json_object();
	if (jset(un, "data", data) != 0)
		goto fail;
	json_object_foreach(e->data, it, v) {
		if (strcmp(it, "detail") == 0)
			continue;
		if (json_object_set(data, it, v) != 0)
			goto fail;
	}
	return j;
fail:
	json_decref(j);
	return NULL;
}

static int
dump_json(json_t *j, char **out, size_t *len, tk_error *err)
{
	char *s;
	size_t n;

	if (j == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return -1;
	}
	s = json_dumps(j, JSON_FLAGS);
	json_decref(j);
	if (s == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return -1;
	}
	n = strlen(s);
	if (n > TK_EXPORT_MAX) {
		free(s);
		(void)tk_fail(err, TK_ERR_TOO_LARGE, "the formatted event is "
		    "longer than %u bytes", TK_EXPORT_MAX);
		return -1;
	}
	*out = s;
	if (len != NULL)
		*len = n;
	return 0;
}

/* ---- CEF ------------------------------------------------------------------ */

/* The extension part of a CEF line being built. */
struct cef {
	struct xbuf *b;
	bool first; /* no pair written yet: no separating space */
};

/* Appends " key=value" (value escaped); nothing when value is empty. */
static void
cef_ext(struct cef *c, const char *key, const char *value)
{
	struct xbuf *b = c->b;

	if (value == NULL || value[0] == '\0')
		return;
	if (!c->first)
		xb_chr(b, ' ');
	c->first = false;
	xb_str(b, key);
	xb_chr(b, '=');
	cef_value_add(b, value);
}

static void
cef_ext_i64(struct cef *c, const char *key, int64_t v)
{
	char n[24];

	(void)snprintf(n, sizeof(n), "%" PRId64, v);
	cef_ext(c, key, n);
}

static void
cef_labelled(struct cef *c, int i, const char *label, const char *value)
{
	char k[16];

	if (value == NULL || value[0] == '\0')
		return;
	(void)snprintf(k, sizeof(k), "cs%dLabel", i);
	cef_ext(c, k, label);
	(void)snprintf(k, sizeof(k), "cs%d", i);
	cef_ext(c, k, value);
}

static void
cef_line(struct xbuf *b, const struct ev *e)
{
	const tk_event_row *r = e->row;
	const json_t *inv = json_object_get(e->data, "invariant");
	char hash[65];
	const char *outcome;
	struct cef c = {b, true};

	xb_str(b, "CEF:0|twokey|twokey|");
	cef_header_add(b, TK_VERSION);
	xb_chr(b, '|');
	cef_header_add(b, r->kind);
	xb_chr(b, '|');
	cef_header_add(b, e->map.cef_name);
	xb_chr(b, '|');
	xb_i64(b, tk_export_cef_severity(e->level));
	xb_chr(b, '|');

	outcome = e->map.class_uid == C_ENTITY && e->map.activity_id == 99 ?
	    "" : "success";
	if (strcmp(r->kind, "refused") == 0 ||
	    strcmp(r->kind, "evidence.failed") == 0)
		outcome = "failure";
	else if (strcmp(r->kind, "revocation.pending") == 0)
		outcome = "pending";
	tk_hex_encode(r->hash, sizeof(r->hash), hash);

	cef_ext_i64(&c, "rt", e->ms);
	cef_ext_i64(&c, "externalId", r->seq);
	cef_ext(&c, "suser", r->actor);
	cef_ext(&c, "duser", e->subject);
	cef_ext(&c, "act", e->op);
	cef_ext(&c, "outcome", outcome);
	cef_ext(&c, "reason", strcmp(r->kind, "refused") == 0 ?
	    jstr(e->data, "code") : "");
	cef_labelled(&c, 1, "case", r->case_id);
	cef_labelled(&c, 2, "tier", jstr(e->data, "tier"));
	cef_labelled(&c, 3, "action", e->action);
	cef_labelled(&c, 4, "policyDigest", jstr(e->data, "digest"));
	cef_labelled(&c, 5, "eventHash", hash);
	if (json_is_integer(inv)) {
		cef_ext(&c, "cn1Label", "invariant");
		cef_ext_i64(&c, "cn1", (int64_t)json_integer_value(inv));
	}
	cef_ext(&c, "msg", e->detail[0] ? e->detail : e->map.cef_name);
}

/* ---- entry point ------------------------------------------------------ */

int
tk_export_event(enum tk_export_format f, const tk_event_row *row,
    char **out, size_t *len, tk_error *err)
{
	struct ev e;
	struct xbuf b = {0};
	int rc;

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (ev_load(&e, row, err) != 0)
		return -1;
	switch (f) {
	case TK_EXPORT_JSONL:
		rc = dump_json(jsonl_event(&e), out, len, err);
		break;
	case TK_EXPORT_OCSF:
		rc = dump_json(ocsf_event(&e), out, len, err);
		break;
	case TK_EXPORT_CEF:
		cef_line(&b, &e);
		rc = xb_finish(&b, out, len, err);
		break;
	default:
		rc = -1;
		(void)tk_fail(err, TK_ERR_INVALID, "unknown export format");
		break;
	}
	ev_free(&e);
	return rc;
}

/* ---- syslog ------------------------------------------------------------- */

/* An RFC 5424 header field: PRINTUSASCII only, at most max octets, "-"
 * when empty. */
static void
header_field(struct xbuf *b, const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0') {
		xb_chr(b, '-');
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p && n < max;
	    p++, n++)
		xb_chr(b, *p >= 33 && *p <= 126 ? (char)*p : '_');
}

int
tk_export_syslog(const tk_syslog_opts *o, const tk_event_row *row,
    const char *msg, char **out, size_t *len, tk_error *err)
{
	struct xbuf b = {0};
	char ts[32];
	int facility = o != NULL ? o->facility : TK_SYSLOG_FACILITY_DEFAULT;

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (facility < 0 || facility > 23) {
		(void)tk_fail(err, TK_ERR_INVALID, "syslog facility %d is not "
		    "between 0 and 23", facility);
		return -1;
	}
	if (row == NULL || msg == NULL || row->ts < 0 || row->ts > TS_MAX ||
	    !column_ok(row->kind, sizeof(row->kind))) {
		(void)tk_fail(err, TK_ERR_INVALID, "syslog: malformed event");
		return -1;
	}
	if (strpbrk(msg, "\r\n") != NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "syslog: the message holds a "
		    "line break");
		return -1;
	}
	tk_time_format(row->ts, ts, sizeof(ts));
	xb_chr(&b, '<');
	xb_i64(&b, facility * 8 + tk_export_syslog_severity(
	    tk_export_level(row->kind, row->alert)));
	xb_str(&b, ">1 ");
	xb_str(&b, ts);
	xb_chr(&b, ' ');
	header_field(&b, o != NULL ? o->hostname : NULL, 255);
	xb_chr(&b, ' ');
	header_field(&b, o != NULL && o->app_name != NULL ? o->app_name :
	    "twokey", 48);
	xb_chr(&b, ' ');
	header_field(&b, o != NULL ? o->procid : NULL, 128);
	xb_chr(&b, ' ');
	header_field(&b, row->kind, 32);
	xb_str(&b, " [origin software=\"twokey\" swVersion=\"");
	sd_value_add(&b, TK_VERSION);
	xb_str(&b, "\"]");
	if (msg[0] != '\0') {
		xb_chr(&b, ' ');
		xb_str(&b, msg);
	}
	return xb_finish(&b, out, len, err);
}

int
tk_export_octet_frame(const char *msg, size_t msg_len, char **out,
    size_t *len, tk_error *err)
{
	struct xbuf b = {0};

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (msg == NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "no message to frame");
		return -1;
	}
	xb_i64(&b, (int64_t)msg_len);
	xb_chr(&b, ' ');
	xb_add(&b, msg, msg_len);
	return xb_finish(&b, out, len, err);
}
