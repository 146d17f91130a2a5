/*
 * test_export.c - unit tests for the SIEM export (audit/export.c) and the
 * syslog sender (app/syslog.c): JSON lines with their Merkle index and
 * leaf, OCSF classes for every kind the engine writes, CEF escaping
 * checked by a small CEF parser, RFC 5424 / RFC 6587 framing, rows that
 * must be refused, and the sender against UDP and TCP listeners on
 * 127.0.0.1 (collector late, collector closing, queue full, close).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "app/syslog.h"
#include "audit/chain.h"
#include "audit/export.h"
#include "store/store.h"

#define T0 ((tk_time)1795426200) /* 2026-11-23T09:30:00Z */

/* Everything an attacker can put in a free-text field at once. */
#define NASTY "q\"uo|te p=ipe \\back\\ new\nline cr\rx tab\tbell\a " \
	"del\x7f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 end=1 suser=evil"

/* ---- helpers ------------------------------------------------------------ */

/* Fills row as the store would: body from tk_chain_body (data borrowed). */
static void
make_row(tk_event_row *row, int64_t seq, tk_time ts, const char *case_id,
    const char *kind, const char *actor, bool alert, json_t *data)
{
	memset(row, 0, sizeof(*row));
	row->seq = seq;
	row->ts = ts;
	(void)snprintf(row->case_id, sizeof(row->case_id), "%s", case_id);
	(void)snprintf(row->kind, sizeof(row->kind), "%s", kind);
	(void)snprintf(row->actor, sizeof(row->actor), "%s", actor);
	row->alert = alert;
	for (size_t i = 0; i < sizeof(row->hash); i++)
		row->hash[i] = (unsigned char)(0xa0 + i);
	row->body = tk_chain_body(seq, ts, case_id, kind, actor, alert, data);
	assert_non_null(row->body);
}

/* An engine event (data as app.c writes it) with detail d. */
static void
engine_row(tk_event_row *row, int64_t seq, const char *kind, bool alert,
    const char *action, const char *detail)
{
	json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "detail", detail,
	    "tier", "critical", "subject", "radmin", "action", action);

	assert_non_null(data);
	make_row(row, seq, T0, "c_0123456789abcdef", kind, "alice", alert,
	    data);
	json_decref(data);
}

static char *
export_ok(enum tk_export_format f, const tk_event_row *row)
{
	char *out = NULL;
	size_t len = 0;
	tk_error err = {0};

	if (tk_export_event(f, row, &out, &len, &err) != 0)
		fail_msg("export %s failed: %s", tk_export_format_name(f),
		    err.msg);
	assert_non_null(out);
	assert_int_equal(len, strlen(out));
	assert_null(strchr(out, '\n'));
	assert_null(strchr(out, '\r'));
	return out;
}

static json_t *
parse_line(const char *line)
{
	json_error_t jerr;
	json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);

	if (j == NULL)
		fail_msg("not JSON (%s): %s", jerr.text, line);
	return j;
}

static void
assert_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80 || *p < 0x20)
			fail_msg("byte 0x%02x at %td in %s", *p,
			    (const char *)p - s, s);
}

static void
assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

static const char *
jget(const json_t *o, const char *path)
{
	/* "a.b.c" -> string value, or NULL. */
	char key[64];
	const char *p = path, *dot;
	const json_t *v = o;

	while ((dot = strchr(p, '.')) != NULL) {
		(void)snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
		v = json_object_get(v, key);
		p = dot + 1;
	}
	return json_string_value(json_object_get(v, p));
}

static json_int_t
jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", key);
	return json_integer_value(v);
}

/* ---- a small CEF reader (spec: header pipes, extension key=value) ------- */

struct cef {
	char hdr[8][256];  /* CEF:0, vendor, product, version, id, name, sev */
	int nkeys;
	char key[32][32];
	char val[32][2048];
};

static const char *
cef_get(const struct cef *c, const char *key)
{
	for (int i = 0; i < c->nkeys; i++)
		if (strcmp(c->key[i], key) == 0)
			return c->val[i];
	return NULL;
}

static void
cef_parse(const char *line, struct cef *c)
{
	const char *p = line;
	int field = 0;
	size_t n = 0;
	char cur[2048];
	int ci = -1;

	memset(c, 0, sizeof(*c));
	/* Header: seven fields, '\' escapes '|' and '\'. */
	while (field < 7) {
		assert_true(*p != '\0');
		if (*p == '\\' && (p[1] == '|' || p[1] == '\\')) {
			c->hdr[field][n++] = p[1];
			p += 2;
		} else if (*p == '|') {
			c->hdr[field][n] = '\0';
			field++;
			n = 0;
			p++;
		} else {
			c->hdr[field][n++] = *p++;
		}
		assert_true(n < sizeof(c->hdr[0]));
	}
	/* Extension: an unescaped '=' ends a key; the key starts after the
	 * last space before it. */
	n = 0;
	for (;; p++) {
		if (*p == '\\' && p[1] != '\0') {
			char e = p[1];

			cur[n++] = e == 'n' ? '\n' : e == 'r' ? '\r' : e;
			p++;
		} else if (*p == '=' || *p == '\0') {
			size_t ks = 0;

			cur[n] = '\0';
			if (*p == '=') {
				char *sp = strrchr(cur, ' ');

				ks = sp ? (size_t)(sp - cur) : 0;
				if (ci >= 0) {
					cur[ks] = '\0';
				}
			}
			if (ci >= 0)
				(void)snprintf(c->val[ci], sizeof(c->val[0]),
				    "%s", cur);
			if (*p == '\0')
				break;
			ci = c->nkeys++;
			assert_true(ci < 32);
			(void)snprintf(c->key[ci], sizeof(c->key[0]), "%s",
			    ci == 0 ? cur : cur + ks + 1);
			n = 0;
		} else {
			cur[n++] = *p;
		}
		assert_true(n < sizeof(cur));
	}
}

/* ---- formats --------------------------------------------------------------- */

static void
test_format_names(void **state)
{
	enum tk_export_format f;

	(void)state;
	assert_int_equal(tk_export_format_parse("jsonl", &f), 0);
	assert_int_equal(f, TK_EXPORT_JSONL);
	assert_int_equal(tk_export_format_parse("ocsf", &f), 0);
	assert_int_equal(f, TK_EXPORT_OCSF);
	assert_int_equal(tk_export_format_parse("cef", &f), 0);
	assert_int_equal(f, TK_EXPORT_CEF);
	assert_int_equal(tk_export_format_parse("CEF", &f), -1);
	assert_int_equal(tk_export_format_parse("json", &f), -1);
	assert_int_equal(tk_export_format_parse("", &f), -1);
	assert_int_equal(tk_export_format_parse(NULL, &f), -1);
	assert_string_equal(tk_export_format_name(TK_EXPORT_OCSF), "ocsf");
}

static void
test_jsonl(void **state)
{
	tk_event_row row;
	char *line;
	json_t *j, *body;
	const char *leaf;
	unsigned char *dec;
	size_t blen;
	int n;

	(void)state;
	engine_row(&row, 42, "case.opened", false, "mfa_reset", NASTY);
	line = export_ok(TK_EXPORT_JSONL, &row);
	assert_ascii(line);
	j = parse_line(line);
	assert_int_equal(jint(j, "seq"), 42);
	assert_int_equal(jint(j, "index"), 41);
	assert_string_equal(jget(j, "ts"), "2026-11-23T09:30:00Z");
	assert_string_equal(jget(j, "case"), "c_0123456789abcdef");
	assert_string_equal(jget(j, "kind"), "case.opened");
	assert_string_equal(jget(j, "actor"), "alice");
	assert_true(json_is_false(json_object_get(j, "alert")));
	assert_string_equal(jget(j, "data.detail"), NASTY);
	assert_string_equal(jget(j, "data.subject"), "radmin");
	assert_string_equal(jget(j, "hash"), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf");

	/* leaf is the exact body, byte for byte. */
	leaf = jget(j, "leaf");
	assert_non_null(leaf);
	blen = strlen(row.body);
	dec = malloc(strlen(leaf) + 1);
	assert_non_null(dec);
	n = EVP_DecodeBlock(dec, (const unsigned char *)leaf,
	    (int)strlen(leaf));
	assert_true(n >= (int)blen);
	assert_memory_equal(dec, row.body, blen);
	for (int i = (int)blen; i < n; i++)
		assert_int_equal(dec[i], 0); /* base64 padding only */
	body = parse_line((const char *)row.body);
	assert_true(json_equal(json_object_get(body, "data"),
	    json_object_get(j, "data")));
	free(dec);
	json_decref(body);
	json_decref(j);
	free(line);
	tk_event_row_clear(&row);
}

/* ---- OCSF ------------------------------------------------------------------- */

struct map_case {
	const char *kind, *action;
	int class_uid, activity_id;
	const char *activity_name;
};

static const struct map_case map_cases[] = {
	{"execution.attested", "password_reset", 3001, 4, "Password Reset"},
	{"execution.attested", "mfa_reset", 3001, 11, "MFA Factor Disable"},
	{"execution.attested", "device_enrolment", 3001, 10,
	    "MFA Factor Enable"},
	{"execution.attested", "reactivation", 3001, 2, "Enable"},
	{"execution.attested", "role_grant", 3001, 7, "Attach Policy"},
	{"execution.attested", "role_revoke", 3001, 8, "Detach Policy"},
	{"execution.attested", "secret_rotation", 3001, 99, "Secret Rotation"},
	{"execution.attested", "email_change", 3001, 99, "Email Change"},
	{"execution.attested", "brand_new_action", 3001, 99, "Other"},
	{"execution.attested", NULL, 3001, 99, "Other"},
	{"revocation.done", "mfa_reset", 3001, 99, "Revocation"},
	{"revocation.pending", "mfa_reset", 3001, 99, "Revocation"},
	{"evidence.added", NULL, 3002, 99, "Identity Verification"},
	{"evidence.failed", NULL, 3002, 99, "Identity Verification"},
	{"token.issued", NULL, 3002, 99, "API Token Issue"},
	{"case.opened", "mfa_reset", 3004, 1, "Create"},
	{"store.initialized", NULL, 3004, 1, "Create"},
	{"approval.added", NULL, 3004, 3, "Update"},
	{"break_glass.declared", NULL, 3004, 3, "Update"},
	{"policy.loaded", NULL, 3004, 3, "Update"},
	{"refused", "open", 3004, 1, "Create"},
	{"refused", "approve", 3004, 3, "Update"},
	{"no.such.kind", NULL, 3004, 99, "Other"},
	{"", NULL, 3004, 99, "Other"},
};

static void
test_ocsf_map(void **state)
{
	tk_ocsf_map m;

	(void)state;
	for (size_t i = 0; i < sizeof(map_cases) / sizeof(*map_cases); i++) {
		const struct map_case *c = &map_cases[i];

		tk_export_ocsf_map(c->kind, c->action, &m);
		if (m.class_uid != c->class_uid ||
		    m.activity_id != c->activity_id ||
		    strcmp(m.activity_name, c->activity_name) != 0)
			fail_msg("%s/%s: got %d/%d %s, want %d/%d %s", c->kind,
			    c->action ? c->action : "-", m.class_uid,
			    m.activity_id, m.activity_name, c->class_uid,
			    c->activity_id, c->activity_name);
		assert_int_equal(m.category_uid, 3);
		assert_non_null(m.cef_name);
		assert_non_null(m.class_name);
	}
	tk_export_ocsf_map(NULL, NULL, &m);
	assert_int_equal(m.class_uid, 3004);
	assert_string_equal(m.cef_name, "Event");
}

/* Every kind src/core/engine.c emits has its own entry (not the generic
 * fallback), so a new kind cannot slip into SIEMs unnamed. */
static void
test_every_engine_kind_mapped(void **state)
{
	static const char *const app_kinds[] = {"refused", "token.issued",
		"policy.loaded", "store.initialized"};
	FILE *f;
	char *src;
	size_t n;
	int found = 0;
	tk_ocsf_map m;
	const char *p;

	(void)state;
	f = fopen("src/core/engine.c", "rb");
	if (f == NULL)
		skip(); /* not run from the repository root */
	src = calloc(1, 1u << 20);
	assert_non_null(src);
	n = fread(src, 1, (1u << 20) - 1, f);
	(void)fclose(f);
	assert_true(n > 0);
	for (p = src; (p = strstr(p, "emit(ev, \"")) != NULL; ) {
		char kind[64];
		const char *q;

		p += strlen("emit(ev, \"");
		q = strchr(p, '"');
		assert_non_null(q);
		assert_true((size_t)(q - p) < sizeof(kind));
		(void)snprintf(kind, sizeof(kind), "%.*s", (int)(q - p), p);
		tk_export_ocsf_map(kind, NULL, &m);
		if (m.class_uid == 3004 && m.activity_id == 99)
			fail_msg("engine kind %s has no OCSF mapping", kind);
		if (strcmp(m.cef_name, kind) == 0)
			fail_msg("engine kind %s has no CEF name", kind);
		found++;
	}
	assert_true(found >= 20);
	for (size_t i = 0; i < sizeof(app_kinds) / sizeof(*app_kinds); i++) {
		tk_export_ocsf_map(app_kinds[i], NULL, &m);
		assert_false(m.class_uid == 3004 && m.activity_id == 99);
	}
	free(src);
}

static void
test_ocsf_account_change(void **state)
{
	tk_event_row row;
	char *line;
	json_t *j;

	(void)state;
	engine_row(&row, 7, "execution.attested", false, "password_reset",
	    NASTY);
	line = export_ok(TK_EXPORT_OCSF, &row);
	assert_ascii(line);
	j = parse_line(line);
	assert_int_equal(jint(j, "category_uid"), 3);
	assert_int_equal(jint(j, "class_uid"), 3001);
	assert_string_equal(jget(j, "class_name"), "Account Change");
	assert_int_equal(jint(j, "activity_id"), 4);
	assert_string_equal(jget(j, "activity_name"), "Password Reset");
	assert_int_equal(jint(j, "type_uid"), 300104);
	assert_int_equal(jint(j, "time"), (json_int_t)T0 * 1000);
	assert_int_equal(jint(j, "severity_id"), 1);
	assert_string_equal(jget(j, "severity"), "Informational");
	assert_int_equal(jint(j, "status_id"), 1);
	assert_string_equal(jget(j, "message"), NASTY);
	assert_string_equal(jget(j, "metadata.version"), TK_OCSF_VERSION);
	assert_string_equal(jget(j, "metadata.uid"), "7");
	assert_string_equal(jget(j, "metadata.event_code"),
	    "execution.attested");
	assert_string_equal(jget(j, "metadata.correlation_uid"),
	    "c_0123456789abcdef");
	assert_string_equal(jget(j, "metadata.product.name"), "twokey");
	assert_string_equal(jget(j, "metadata.product.vendor_name"), "twokey");
	assert_string_equal(jget(j, "metadata.product.version"), TK_VERSION);
	assert_string_equal(jget(j, "actor.user.name"), "alice");
	assert_string_equal(jget(j, "user.name"), "radmin");
	assert_string_equal(jget(j, "unmapped.data.tier"), "critical");
	assert_string_equal(jget(j, "unmapped.data.action"), "password_reset");
	assert_null(jget(j, "unmapped.data.detail")); /* it is the message */
	assert_null(json_object_get(j, "entity"));
	json_decref(j);
	free(line);
	tk_event_row_clear(&row);
}

static void
test_ocsf_refused_and_alerts(void **state)
{
	tk_event_row row;
	char *line;
	json_t *j, *data;

	(void)state;
	/* A refused self-approval: invariant 1, an alert. */
	data = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "action", "approve",
	    "code", "sod_violation", "message", "invariant 1: " NASTY,
	    "detail", "approve refused (sod_violation): x", "invariant", 1,
	    "state", "approving");
	assert_non_null(data);
	make_row(&row, 9, T0, "c_1", "refused", "alice", true, data);
	json_decref(data);
	line = export_ok(TK_EXPORT_OCSF, &row);
	j = parse_line(line);
	assert_int_equal(jint(j, "class_uid"), 3004);
	assert_int_equal(jint(j, "activity_id"), 3);
	assert_int_equal(jint(j, "severity_id"), 4);
	assert_string_equal(jget(j, "severity"), "High");
	assert_int_equal(jint(j, "status_id"), 2);
	assert_string_equal(jget(j, "status"), "Failure");
	assert_string_equal(jget(j, "status_code"), "sod_violation");
	assert_string_equal(jget(j, "status_detail"), "invariant 1: " NASTY);
	assert_string_equal(jget(j, "entity.uid"), "c_1");
	assert_string_equal(jget(j, "entity.type"), "case");
	assert_null(json_object_get(json_object_get(j, "entity"), "data"));
	assert_true(json_is_true(json_object_get(json_object_get(j,
	    "unmapped"), "alert")));
	json_decref(j);
	free(line);
	tk_event_row_clear(&row);

	/* A refused open (no case yet), not an alert: Medium. */
	data = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "action",
	    "open", "code", "policy_denied", "message", "denied", "detail",
	    "open refused", "request", "subject", "pwhite", "action",
	    "mfa_reset", "ticket", "");
	assert_non_null(data);
	make_row(&row, 10, T0, "", "refused", "alice", false, data);
	json_decref(data);
	line = export_ok(TK_EXPORT_OCSF, &row);
	j = parse_line(line);
	assert_int_equal(jint(j, "activity_id"), 1);
	assert_int_equal(jint(j, "type_uid"), 300401);
	assert_int_equal(jint(j, "severity_id"), 3);
	assert_string_equal(jget(j, "entity.name"), "new case");
	assert_string_equal(jget(j, "entity.data.subject"), "pwhite");
	assert_string_equal(jget(j, "entity.data.action"), "mfa_reset");
	assert_null(json_object_get(json_object_get(j, "metadata"),
	    "correlation_uid"));
	json_decref(j);
	free(line);
	tk_event_row_clear(&row);

	/* Failed verification: Authentication, Failure, High. */
	engine_row(&row, 11, "evidence.failed", true, "mfa_reset", "no");
	line = export_ok(TK_EXPORT_OCSF, &row);
	j = parse_line(line);
	assert_int_equal(jint(j, "class_uid"), 3002);
	assert_int_equal(jint(j, "status_id"), 2);
	assert_int_equal(jint(j, "severity_id"), 4);
	assert_string_equal(jget(j, "service.name"), "twokey");
	assert_string_equal(jget(j, "user.name"), "radmin");
	json_decref(j);
	free(line);
	tk_event_row_clear(&row);

	/* Pending revocations and the system actor. */
	engine_row(&row, 12, "revocation.pending", true, "mfa_reset", "r");
	(void)snprintf(row.actor, sizeof(row.actor), "system");
	line = export_ok(TK_EXPORT_OCSF, &row);
	j = parse_line(line);
	assert_int_equal(jint(j, "status_id"), 99);
	assert_string_equal(jget(j, "status"), "Pending");
	assert_int_equal(jint(json_object_get(json_object_get(j, "actor"),
	    "user"), "type_id"), 3);
	json_decref(j);
	free(line);
	tk_event_row_clear(&row);
}

/* ---- CEF ------------------------------------------------------------------------ */

static void
test_cef_escapers(void **state)
{
	char *s;

	(void)state;
	s = tk_export_cef_header_escape("a|b\\c\nd\re=f\x01g");
	assert_string_equal(s, "a\\|b\\\\c d e=f g");
	free(s);
	s = tk_export_cef_value_escape("a=b\\c\nd\re|f\tg\x7fh \xc3\xa9");
	assert_string_equal(s, "a\\=b\\\\c\\nd\\re|f g h \xc3\xa9");
	free(s);
	s = tk_export_cef_value_escape("");
	assert_string_equal(s, "");
	free(s);
	s = tk_export_cef_value_escape(NULL);
	assert_string_equal(s, "");
	free(s);
	s = tk_export_sd_escape("a\"b\\c]d[e=f");
	assert_string_equal(s, "a\\\"b\\\\c\\]d[e=f");
	free(s);
}

/* What cef_value_add leaves of s after a round trip: controls other than
 * CR and LF become spaces. */
static void
cef_expected(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s && n + 1 < size; s++)
		out[n++] = ((unsigned char)*s < 0x20 && *s != '\n' &&
		    *s != '\r') || *s == 0x7f ? ' ' : *s;
	out[n] = '\0';
}

static void
test_cef_event(void **state)
{
	tk_event_row row;
	struct cef c;
	char *line, want[512], rt[32];

	(void)state;
	engine_row(&row, 15, "break_glass.declared", true, "mfa_reset", NASTY);
	line = export_ok(TK_EXPORT_CEF, &row);
	cef_parse(line, &c);
	assert_string_equal(c.hdr[0], "CEF:0");
	assert_string_equal(c.hdr[1], "twokey");
	assert_string_equal(c.hdr[2], "twokey");
	assert_string_equal(c.hdr[3], TK_VERSION);
	assert_string_equal(c.hdr[4], "break_glass.declared");
	assert_string_equal(c.hdr[5], "Break-glass declared");
	assert_string_equal(c.hdr[6], "8");
	(void)snprintf(rt, sizeof(rt), "%lld", (long long)T0 * 1000);
	assert_string_equal(cef_get(&c, "rt"), rt);
	assert_string_equal(cef_get(&c, "externalId"), "15");
	/* The attacker's "suser=evil" stays inside msg. */
	assert_string_equal(cef_get(&c, "suser"), "alice");
	assert_string_equal(cef_get(&c, "duser"), "radmin");
	assert_string_equal(cef_get(&c, "cs1Label"), "case");
	assert_string_equal(cef_get(&c, "cs1"), "c_0123456789abcdef");
	assert_string_equal(cef_get(&c, "cs2"), "critical");
	assert_string_equal(cef_get(&c, "cs3"), "mfa_reset");
	assert_null(cef_get(&c, "end"));
	cef_expected(NASTY, want, sizeof(want));
	assert_string_equal(cef_get(&c, "msg"), want);
	assert_string_equal(c.key[c.nkeys - 1], "msg");
	free(line);
	tk_event_row_clear(&row);

	/* A refused attempt: act, outcome, reason, invariant; severity 5
	 * when not an alert. */
	{
		json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:i}", "action",
		    "execute", "code", "sod_violation", "message", "m",
		    "detail", "execute refused | x=y", "invariant", 4);

		assert_non_null(data);
		make_row(&row, 16, T0 + 1, "c_2", "refused", "bob", false, data);
		json_decref(data);
	}
	line = export_ok(TK_EXPORT_CEF, &row);
	cef_parse(line, &c);
	assert_string_equal(c.hdr[5], "Attempt refused");
	assert_string_equal(c.hdr[6], "5");
	assert_string_equal(cef_get(&c, "act"), "execute");
	assert_string_equal(cef_get(&c, "outcome"), "failure");
	assert_string_equal(cef_get(&c, "reason"), "sod_violation");
	assert_string_equal(cef_get(&c, "cn1Label"), "invariant");
	assert_string_equal(cef_get(&c, "cn1"), "4");
	assert_string_equal(cef_get(&c, "msg"), "execute refused | x=y");
	assert_non_null(strstr(line, "msg=execute refused | x\\=y"));
	free(line);
	tk_event_row_clear(&row);

	/* An unknown kind with a pipe in it (a tampered row): header
	 * escaped, name falls back to the kind. */
	make_row(&row, 17, T0, "", "odd|kind\\x", "carol", false, NULL);
	line = export_ok(TK_EXPORT_CEF, &row);
	assert_non_null(strstr(line, "|odd\\|kind\\\\x|odd\\|kind\\\\x|3|"));
	cef_parse(line, &c);
	assert_string_equal(c.hdr[4], "odd|kind\\x");
	assert_null(cef_get(&c, "duser"));
	free(line);
	tk_event_row_clear(&row);
}

/* ---- syslog framing -------------------------------------------------------- */

static void
test_syslog_frame(void **state)
{
	tk_event_row row;
	tk_syslog_opts o = {TK_SYSLOG_FACILITY_DEFAULT, "host-1", NULL, "123"};
	char *out = NULL, want[512], longhost[400];
	size_t len = 0;
	tk_error err = {0};

	(void)state;
	engine_row(&row, 1, "case.opened", false, "mfa_reset", "d");
	assert_int_equal(tk_export_syslog(&o, &row, "hello world", &out, &len,
	    &err), 0);
	(void)snprintf(want, sizeof(want), "<86>1 2026-11-23T09:30:00Z host-1 "
	    "twokey 123 case.opened [origin software=\"twokey\" swVersion=\""
	    "%s\"] hello world", TK_VERSION);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	free(out);

	/* Alert: severity 2; nil fields; app name override; local0. */
	row.alert = true;
	o = (tk_syslog_opts){16, NULL, "my app", ""};
	assert_int_equal(tk_export_syslog(&o, &row, "m", &out, &len, &err), 0);
	assert_prefix(out, "<130>1 2026-11-23T09:30:00Z - my_app - "
	    "case.opened [");
	free(out);

	/* Refused: warning (4); empty message: no trailing space. */
	(void)snprintf(row.kind, sizeof(row.kind), "refused");
	row.alert = false;
	o = (tk_syslog_opts){0, "h", NULL, NULL};
	assert_int_equal(tk_export_syslog(&o, &row, "", &out, &len, &err), 0);
	assert_prefix(out, "<4>1 ");
	assert_int_equal(out[len - 1], ']');
	free(out);

	/* Hostname cut to 255 octets, non-printables replaced. */
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	longhost[3] = '\t';
	o = (tk_syslog_opts){1, longhost, NULL, NULL};
	assert_int_equal(tk_export_syslog(&o, &row, "m", &out, &len, &err), 0);
	{
		const char *h = strchr(out, 'Z') + 2;
		const char *sp = strchr(h, ' ');

		assert_int_equal(sp - h, 255);
		assert_int_equal(h[3], '_');
	}
	free(out);

	/* Refused: a line break, a bad facility. */
	o = (tk_syslog_opts){1, "h", NULL, NULL};
	assert_int_equal(tk_export_syslog(&o, &row, "a\nb", &out, &len, &err),
	    -1);
	assert_null(out);
	assert_int_equal(err.status, TK_ERR_INVALID);
	o.facility = 24;
	assert_int_equal(tk_export_syslog(&o, &row, "a", &out, &len, &err), -1);
	assert_non_null(strstr(err.msg, "facility"));

	/* NULL options: the defaults. */
	assert_int_equal(tk_export_syslog(NULL, &row, "m", &out, &len, &err),
	    0);
	assert_prefix(out, "<84>1 2026-11-23T09:30:00Z - twokey - "
	    "refused [");
	free(out);
	tk_event_row_clear(&row);
}

static void
test_octet_frame(void **state)
{
	char *out = NULL;
	size_t len = 0;
	tk_error err = {0};

	(void)state;
	assert_int_equal(tk_export_octet_frame("hello", 5, &out, &len, &err),
	    0);
	assert_string_equal(out, "5 hello");
	assert_int_equal(len, 7);
	free(out);
	/* Length counts octets, not characters. */
	assert_int_equal(tk_export_octet_frame("caf\xc3\xa9", 5, &out, &len,
	    &err), 0);
	assert_string_equal(out, "5 caf\xc3\xa9");
	free(out);
	assert_int_equal(tk_export_octet_frame("", 0, &out, &len, &err), 0);
	assert_string_equal(out, "0 ");
	free(out);
	assert_int_equal(tk_export_octet_frame(NULL, 0, &out, &len, &err), -1);
	assert_null(out);
}

/* Syslog of a CEF line and of an OCSF line: one line each, framed. */
static void
test_syslog_of_each_format(void **state)
{
	tk_event_row row;
	tk_syslog_opts o = {10, "h", NULL, NULL};
	char *line, *msg, *framed;
	size_t len, flen;
	tk_error err = {0};
	enum tk_export_format f[] = {TK_EXPORT_JSONL, TK_EXPORT_OCSF,
		TK_EXPORT_CEF};
	char want[32];

	(void)state;
	engine_row(&row, 3, "approval.added", false, "mfa_reset", NASTY);
	for (size_t i = 0; i < sizeof(f) / sizeof(*f); i++) {
		line = export_ok(f[i], &row);
		assert_int_equal(tk_export_syslog(&o, &row, line, &msg, &len,
		    &err), 0);
		assert_null(strpbrk(msg, "\r\n"));
		assert_non_null(strstr(msg, line));
		assert_int_equal(tk_export_octet_frame(msg, len, &framed,
		    &flen, &err), 0);
		(void)snprintf(want, sizeof(want), "%zu ", len);
		assert_prefix(framed, want);
		assert_int_equal(flen, strlen(want) + len);
		free(framed);
		free(msg);
		free(line);
	}
	tk_event_row_clear(&row);
}

/* ---- rows that must be refused ------------------------------------------------ */

static void
expect_refused(const tk_event_row *row, const char *what)
{
	enum tk_export_format f[] = {TK_EXPORT_JSONL, TK_EXPORT_OCSF,
		TK_EXPORT_CEF};

	for (size_t i = 0; i < sizeof(f) / sizeof(*f); i++) {
		char *out = (char *)"x";
		size_t len = 99;
		tk_error err = {0};

		if (tk_export_event(f[i], row, &out, &len, &err) != -1)
			fail_msg("%s: %s accepted", what,
			    tk_export_format_name(f[i]));
		assert_null(out);
		assert_int_equal(len, 0);
		assert_true(err.msg[0] != '\0');
	}
}

static void
test_bad_rows(void **state)
{
	tk_event_row row;
	char *keep;

	(void)state;
	engine_row(&row, 5, "case.opened", false, "mfa_reset", "d");
	keep = row.body;

	row.body = NULL;
	expect_refused(&row, "no body");
	row.body = (char *)"{\"seq\":5";
	expect_refused(&row, "truncated body");
	row.body = (char *)"[1,2]";
	expect_refused(&row, "array body");
	row.body = (char *)"{\"data\":[1]}";
	expect_refused(&row, "data not an object");
	row.body = (char *)"{\"a\":1,\"a\":2}";
	expect_refused(&row, "duplicate keys");
	row.body = keep;

	row.seq = 0;
	expect_refused(&row, "seq 0");
	row.seq = 5;
	row.ts = -1;
	expect_refused(&row, "negative time");
	row.ts = (tk_time)253402300800LL;
	expect_refused(&row, "year 10000");
	row.ts = T0;

	(void)snprintf(row.actor, sizeof(row.actor), "al\xc3ice");
	expect_refused(&row, "actor not UTF-8");
	(void)snprintf(row.actor, sizeof(row.actor), "\xed\xa0\x80");
	expect_refused(&row, "surrogate");
	(void)snprintf(row.actor, sizeof(row.actor), "\xc0\xaf");
	expect_refused(&row, "overlong");
	(void)snprintf(row.actor, sizeof(row.actor), "alice");
	memset(row.kind, 'k', sizeof(row.kind));
	expect_refused(&row, "unterminated kind");
	row.kind[0] = '\0';
	expect_refused(&row, "empty kind");
	(void)snprintf(row.kind, sizeof(row.kind), "case.opened");

	/* Still good after all that. */
	free(export_ok(TK_EXPORT_CEF, &row));
	{
		char *out = NULL;
		size_t len;
		tk_error err = {0};

		assert_int_equal(tk_export_event((enum tk_export_format)9, &row,
		    &out, &len, &err), -1);
		assert_null(out);
	}
	tk_event_row_clear(&row);
}

/* Rows as the store returns them, through every format. */
struct scan_ctx {
	int n;
};

static int
scan_cb(void *arg, const tk_event_row *row)
{
	struct scan_ctx *c = arg;
	char *line;
	json_t *j;

	for (int f = TK_EXPORT_JSONL; f <= TK_EXPORT_CEF; f++) {
		line = export_ok((enum tk_export_format)f, row);
		if (f != TK_EXPORT_CEF) {
			j = parse_line(line);
			json_decref(j);
		}
		free(line);
	}
	c->n++;
	return 0;
}

static void
test_from_store(void **state)
{
	tk_store *s;
	tk_error err = {0};
	json_t *data;
	struct scan_ctx c = {0};
	static const char *const kinds[] = {"case.opened", "refused",
		"execution.attested", "evidence.failed", "token.issued"};

	(void)state;
	s = tk_store_open(":memory:", true, &err);
	assert_non_null(s);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
		data = json_pack("{s:s, s:s, s:s, s:s}", "detail", NASTY,
		    "subject", "jsmith", "action", "password_reset", "login",
		    "bob");
		assert_non_null(data);
		assert_int_equal(tk_store_event_append(s, T0 + (tk_time)i,
		    i % 2 ? "" : "c_9", kinds[i], "alice", i == 3, data, NULL,
		    &err), 0);
		json_decref(data);
	}
	assert_int_equal(tk_store_event_scan(s, 1, 0, scan_cb, &c, &err), 0);
	assert_int_equal(c.n, 5);
	tk_store_close(s);
}

/* ---- the syslog sender ---------------------------------------------------------- */

/* A socket on 127.0.0.1 with an ephemeral port; TCP ones listen unless
 * listen_now is false (then connects are refused until listen()). */
static int
loopback(int type, bool listen_now, int *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	if (type == SOCK_STREAM && listen_now)
		assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void
wait_readable(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};

	if (poll(&p, 1, ms) != 1)
		fail_msg("nothing arrived within %d ms", ms);
}

static int
accept_within(int lfd, int ms)
{
	int fd;

	wait_readable(lfd, ms);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

/* Reads one octet-counted frame from a TCP stream into buf. */
static void
read_frame(int fd, char *buf, size_t size)
{
	char c;
	size_t len = 0, got = 0;
	ssize_t n;

	for (;;) {
		wait_readable(fd, 10000);
		assert_int_equal(recv(fd, &c, 1, 0), 1);
		if (c == ' ')
			break;
		assert_true(c >= '0' && c <= '9');
		len = len * 10 + (size_t)(c - '0');
	}
	assert_true(len < size);
	while (got < len) {
		wait_readable(fd, 10000);
		n = recv(fd, buf + got, len - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	buf[len] = '\0';
}

static void
wait_stat(tk_syslog *s, int ms, bool (*ok)(const tk_syslog_stats *))
{
	tk_syslog_stats st;
	struct timespec d = {0, 5000000};

	for (int waited = 0; waited < ms; waited += 5) {
		tk_syslog_stats_get(s, &st);
		if (ok(&st))
			return;
		(void)nanosleep(&d, NULL);
	}
	tk_syslog_stats_get(s, &st);
	fail_msg("condition not reached in %d ms (sent %llu, dropped %llu, "
	    "error %s)", ms, (unsigned long long)st.sent,
	    (unsigned long long)st.dropped, st.last_error);
}

static bool
has_error(const tk_syslog_stats *st)
{
	return st->last_error[0] != '\0';
}

static void
test_parse_target(void **state)
{
	enum tk_syslog_proto p = TK_SYSLOG_UDP;
	char h[64], port[8];
	tk_error err = {0};
	static const char *const bad[] = {"", "host", "host:", ":514",
		"host:0", "host:65536", "host:5x", "::1:514", "[::1]514",
		"[::1", "http://h:1", "ho st:514", "h/x:1", "host:123456"};

	(void)state;
	assert_int_equal(tk_syslog_parse_target("127.0.0.1:514", &p, h,
	    sizeof(h), port, sizeof(port), &err), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_string_equal(port, "514");
	assert_int_equal(p, TK_SYSLOG_UDP);
	assert_int_equal(tk_syslog_parse_target("tcp://log.example:6514", &p,
	    h, sizeof(h), port, sizeof(port), &err), 0);
	assert_int_equal(p, TK_SYSLOG_TCP);
	assert_string_equal(h, "log.example");
	assert_int_equal(tk_syslog_parse_target("udp://[::1]:65535", &p, h,
	    sizeof(h), port, sizeof(port), &err), 0);
	assert_int_equal(p, TK_SYSLOG_UDP);
	assert_string_equal(h, "::1");
	assert_string_equal(port, "65535");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (tk_syslog_parse_target(bad[i], &p, h, sizeof(h), port,
		    sizeof(port), &err) != -1)
			fail_msg("accepted target '%s'", bad[i]);
	assert_int_equal(tk_syslog_parse_target(NULL, &p, h, sizeof(h), port,
	    sizeof(port), &err), -1);
	assert_null(tk_syslog_open(&(tk_syslog_cfg){.target = "nope"}, &err));
	assert_int_equal(err.status, TK_ERR_INVALID);
}

static void
test_udp_sender(void **state)
{
	int port, fd = loopback(SOCK_DGRAM, false, &port);
	char target[64], buf[70000];
	tk_syslog_cfg cfg = {0};
	tk_syslog *s;
	tk_syslog_stats st;
	tk_error err = {0};
	static const char *const msgs[] = {"<86>1 - - twokey - m1 - first",
		"second \xc3\xa9", "third\nwith newline"};
	char *big;

	(void)state;
	(void)snprintf(target, sizeof(target), "udp://127.0.0.1:%d", port);
	cfg.target = target;
	cfg.proto = TK_SYSLOG_TCP; /* the scheme wins */
	s = tk_syslog_open(&cfg, &err);
	assert_non_null(s);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(tk_syslog_send(s, msgs[i], strlen(msgs[i])), 0);
	for (size_t i = 0; i < 3; i++) {
		ssize_t n;

		wait_readable(fd, 10000);
		n = recv(fd, buf, sizeof(buf), 0);
		assert_int_equal(n, (ssize_t)strlen(msgs[i]));
		assert_memory_equal(buf, msgs[i], (size_t)n);
	}
	/* Larger than a datagram can be: dropped at once, counted. */
	big = malloc(65508);
	assert_non_null(big);
	memset(big, 'x', 65508);
	assert_int_equal(tk_syslog_send(s, big, 65508), -1);
	free(big);
	assert_int_equal(tk_syslog_flush(s, 10000), 0);
	tk_syslog_close(s, 1000, &st);
	assert_int_equal(st.queued, 3);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.pending, 0);
	assert_false(st.connected);
	assert_non_null(strstr(st.last_error, "longer than 65507"));
	(void)close(fd);
}

static void
test_tcp_sender_reconnects(void **state)
{
	int port, lfd = loopback(SOCK_STREAM, true, &port), c1, c2;
	char target[64], buf[256];
	tk_syslog_cfg cfg = {0};
	tk_syslog *s;
	tk_syslog_stats st;
	tk_error err = {0};

	(void)state;
	(void)snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	cfg.target = target;
	cfg.proto = TK_SYSLOG_TCP;
	cfg.retry_min_ms = 10;
	s = tk_syslog_open(&cfg, &err);
	assert_non_null(s);
	assert_int_equal(tk_syslog_send(s, "one", 3), 0);
	assert_int_equal(tk_syslog_send(s, "two 2\nlines", 11), 0);
	c1 = accept_within(lfd, 10000);
	read_frame(c1, buf, sizeof(buf));
	assert_string_equal(buf, "one");
	read_frame(c1, buf, sizeof(buf));
	assert_string_equal(buf, "two 2\nlines");
	assert_int_equal(tk_syslog_flush(s, 10000), 0);

	/* The collector drops the connection: the next message goes out on
	 * a new one, whole. */
	(void)close(c1);
	{
		struct timespec d = {0, 20000000};

		(void)nanosleep(&d, NULL); /* let the FIN arrive */
	}
	assert_int_equal(tk_syslog_send(s, "three", 5), 0);
	c2 = accept_within(lfd, 10000);
	read_frame(c2, buf, sizeof(buf));
	assert_string_equal(buf, "three");
	assert_int_equal(tk_syslog_flush(s, 10000), 0);
	tk_syslog_stats_get(s, &st);
	assert_true(st.connected);
	tk_syslog_close(s, 1000, &st);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.connects, 2);
	(void)close(c2);
	(void)close(lfd);
}

static void
test_tcp_collector_late(void **state)
{
	int port, lfd = loopback(SOCK_STREAM, false, &port), c;
	char target[64], buf[256];
	tk_syslog_cfg cfg = {0};
	tk_syslog *s;
	tk_syslog_stats st;
	tk_error err = {0};

	(void)state;
	(void)snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", port);
	cfg.target = target;
	cfg.retry_min_ms = 300; /* attempts at 0, 300, 900 ms: room to listen */
	cfg.retry_max_ms = 300;
	s = tk_syslog_open(&cfg, &err);
	assert_non_null(s);
	assert_int_equal(tk_syslog_send(s, "early", 5), 0);
	wait_stat(s, 10000, has_error); /* the first connect was refused */
	tk_syslog_stats_get(s, &st);
	assert_non_null(strstr(st.last_error, "cannot connect"));
	assert_int_equal(st.pending, 1);
	assert_int_equal(listen(lfd, 8), 0);
	c = accept_within(lfd, 10000);
	read_frame(c, buf, sizeof(buf));
	assert_string_equal(buf, "early");
	tk_syslog_close(s, 1000, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.dropped, 0);
	(void)close(c);
	(void)close(lfd);
}

static void
test_queue_full_and_close(void **state)
{
	int port, lfd = loopback(SOCK_STREAM, false, &port);
	char target[64];
	tk_syslog_cfg cfg = {0};
	tk_syslog *s;
	tk_syslog_stats st;
	tk_error err = {0};
	struct timespec t0, t1;
	int ok = 0, dropped = 0;

	(void)state;
	(void)snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", port);
	cfg.target = target;
	cfg.queue_max = 3;
	cfg.msg_max = 8;
	cfg.retry_min_ms = 5000; /* the thread sleeps: the queue stays full */
	s = tk_syslog_open(&cfg, &err);
	assert_non_null(s);
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 1000; i++) {
		if (tk_syslog_send(s, "message", 7) == 0)
			ok++;
		else
			dropped++;
	}
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The caller never waits for the network. */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
	assert_int_equal(ok, 3);
	assert_int_equal(dropped, 997);
	assert_int_equal(tk_syslog_send(s, "too long!", 9), -1);
	assert_int_equal(tk_syslog_flush(s, 50), -1);
	tk_syslog_stats_get(s, &st);
	assert_int_equal(st.pending, 3);
	assert_int_equal(st.dropped, 998);

	/* close does not wait for the backoff; what is left is dropped. */
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	tk_syslog_close(s, 100, &st);
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000 < 3000);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.queued, 3);
	assert_int_equal(st.dropped, 1001);
	assert_int_equal(st.pending, 0);
	tk_syslog_close(NULL, 0, &st);
	assert_int_equal(st.sent, 0);
	assert_int_equal(tk_syslog_send(NULL, "x", 1), -1);
	(void)close(lfd);
}

/* Export + framing + sender end to end: what arrives parses back. */
static void
test_ship_ocsf_over_tcp(void **state)
{
	int port, lfd = loopback(SOCK_STREAM, true, &port), c;
	char target[64], buf[8192];
	tk_syslog_cfg cfg = {0};
	tk_syslog *s;
	tk_error err = {0};
	tk_event_row row;
	tk_syslog_opts o = {10, "tk1", NULL, NULL};
	char *line, *msg, *json;
	size_t len;
	json_t *j;

	(void)state;
	(void)snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", port);
	cfg.target = target;
	s = tk_syslog_open(&cfg, &err);
	assert_non_null(s);
	engine_row(&row, 21, "case.cancelled", true, "mfa_reset", NASTY);
	line = export_ok(TK_EXPORT_OCSF, &row);
	assert_int_equal(tk_export_syslog(&o, &row, line, &msg, &len, &err), 0);
	assert_int_equal(tk_syslog_send(s, msg, len), 0);
	c = accept_within(lfd, 10000);
	read_frame(c, buf, sizeof(buf));
	assert_string_equal(buf, msg);
	assert_prefix(buf, "<82>1 ");
	json = strstr(buf, "] {");
	assert_non_null(json);
	j = parse_line(json + 2);
	assert_string_equal(jget(j, "message"), NASTY);
	json_decref(j);
	tk_syslog_close(s, 1000, NULL);
	free(msg);
	free(line);
	tk_event_row_clear(&row);
	(void)close(c);
	(void)close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_jsonl),
		cmocka_unit_test(test_ocsf_map),
		cmocka_unit_test(test_every_engine_kind_mapped),
		cmocka_unit_test(test_ocsf_account_change),
		cmocka_unit_test(test_ocsf_refused_and_alerts),
		cmocka_unit_test(test_cef_escapers),
		cmocka_unit_test(test_cef_event),
		cmocka_unit_test(test_syslog_frame),
		cmocka_unit_test(test_octet_frame),
		cmocka_unit_test(test_syslog_of_each_format),
		cmocka_unit_test(test_bad_rows),
		cmocka_unit_test(test_from_store),
		cmocka_unit_test(test_parse_target),
		cmocka_unit_test(test_udp_sender),
		cmocka_unit_test(test_tcp_sender_reconnects),
		cmocka_unit_test(test_tcp_collector_late),
		cmocka_unit_test(test_queue_full_and_close),
		cmocka_unit_test(test_ship_ocsf_over_tcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
