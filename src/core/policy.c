/*
 * policy.c - loads the identity team's policy YAML into tk_policy and
 * evaluates it.
 *
 * Owns: the policy file format (every key, its checks and its
 * "FILE:LINE:COL: what is wrong and how to fix it" messages), the name
 * tables for evidence methods, revocations and capabilities, the policy
 * digest, and tier / deny-rule / capability / break-glass lookups.
 *
 * The loader is strict on purpose: unknown or duplicate keys, unknown
 * names, malformed durations and out-of-range counts are refused, because
 * a typo in a control must not silently weaken it. A failed load leaves
 * the caller's policy zeroed and nothing allocated. Node access and the
 * "FILE:LINE:COL: " prefix come from core/yaml_walk.c; the wording of
 * this file's type and key checks is its own.
 */
#include "core/policy.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/yaml_walk.h"

#define POLICY_MAX_BYTES (1024 * 1024)
#define POLICY_MAX_COUNT 32

/* ---- name tables ------------------------------------------------------- */

static const char *const method_names[TK_METHOD__COUNT] = {
	[TK_METHOD_REGISTERED_FACTOR] = "registered_factor",
	[TK_METHOD_CALLBACK_ON_FILE] = "callback_on_file",
	[TK_METHOD_OUT_OF_BAND] = "out_of_band",
	[TK_METHOD_MANAGER_ATTESTATION] = "manager_attestation",
	[TK_METHOD_ID_DOCUMENT] = "id_document",
	[TK_METHOD_VIDEO_CALL] = "video_call",
};

#define METHOD_LIST "registered_factor, callback_on_file, out_of_band," \
	" manager_attestation, id_document, video_call"

const char *
tk_method_name(enum tk_method m)
{
	if ((unsigned)m >= TK_METHOD__COUNT)
		return "unknown";
	return method_names[m];
}

int
tk_method_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < TK_METHOD__COUNT; i++)
		if (strcmp(name, method_names[i]) == 0)
			return i;
	return -1;
}

bool
tk_method_needs_contact(enum tk_method m)
{
	return m == TK_METHOD_CALLBACK_ON_FILE || m == TK_METHOD_OUT_OF_BAND;
}

static const struct {
	unsigned bit;
	const char *name;
} revoke_names[] = {
	{TK_REVOKE_SESSIONS, "sessions"},
	{TK_REVOKE_TOKENS, "tokens"},
	{TK_REVOKE_CREDENTIALS, "credentials"},
};

#define REVOKE_LIST "sessions, tokens, credentials"

const char *
tk_revoke_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(revoke_names) / sizeof(revoke_names[0]);
	    i++)
		if (revoke_names[i].bit == bit)
			return revoke_names[i].name;
	return "unknown";
}

int
tk_revoke_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(revoke_names) / sizeof(revoke_names[0]);
	    i++)
		if (strcmp(name, revoke_names[i].name) == 0)
			return (int)revoke_names[i].bit;
	return -1;
}

static const struct {
	unsigned bit;
	const char *name;
} cap_names[] = {
	{TK_CAP_INTAKE, "intake"},
	{TK_CAP_VERIFY, "verify"},
	{TK_CAP_APPROVE, "approve"},
	{TK_CAP_EXECUTE, "execute"},
	{TK_CAP_REVIEW, "review"},
	{TK_CAP_ATTEST, "attest"},
	{TK_CAP_APPROVE_OWNED, "approve_owned"},
};

#define CAP_LIST "intake, verify, approve, execute, review, attest, approve_owned"

int
tk_cap_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (strcmp(name, cap_names[i].name) == 0)
			return (int)cap_names[i].bit;
	return -1;
}

/* ---- loader context and messages --------------------------------------- */

struct pctx {
	tk_yaml_walk w;         /* keeps the first error only */
	tk_policy *p;
};

static bool perr_at(struct pctx *x, size_t line, size_t col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* line and col are 1-based. Keeps the first error only. */
static bool
perr_at(struct pctx *x, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)tk_yw_vfail(&x->w, line, col, fmt, ap);
	va_end(ap);
	return false;
}

static bool perr(struct pctx *x, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool
perr(struct pctx *x, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)tk_yw_vfail(&x->w, n->start_mark.line + 1,
	    n->start_mark.column + 1, fmt, ap);
	va_end(ap);
	return false;
}

static const char *
sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool
is_scalar(struct pctx *x, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE)
		return perr(x, n, "`%s` must be a single value, got %s", key,
		    tk_yw_kind(n));
	if (strlen(sval(n)) != n->data.scalar.length)
		return perr(x, n, "`%s` contains a NUL character", key);
	return true;
}

static bool
is_seq(struct pctx *x, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(x, n, "`%s` must be a list ([a, b] or one `- item`"
		    " per line), got %s", key, tk_yw_kind(n));
	return true;
}

static bool
is_map(struct pctx *x, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(x, n, "`%s` must be a mapping (`key: value` lines or"
		    " {key: value, ...}), got %s", key, tk_yw_kind(n));
	return true;
}

/* Levenshtein distance, capped; for "did you mean" hints. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[33];

	if (la > 32 || lb > 32)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* " (did you mean `x`?)" or "" into buf. */
static void
suggest(const char *got, const char *const *names, size_t n, char *buf,
    size_t size)
{
	size_t best = 3;
	const char *pick = NULL;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(got, names[i]);

		if (d < best) {
			best = d;
			pick = names[i];
		}
	}
	if (pick != NULL)
		(void)snprintf(buf, size, " (did you mean `%s`?)", pick);
}

/*
 * Checks that map (a mapping) has only scalar keys from `allowed`, none
 * twice. `where` names the mapping in messages ("tier `high`").
 */
static bool
check_keys(struct pctx *x, const yaml_node_t *map, const char *const *allowed,
    size_t nallowed, const char *where)
{
	const yaml_node_pair_t *b = map->data.mapping.pairs.start;
	const yaml_node_pair_t *e = map->data.mapping.pairs.top;

	for (const yaml_node_pair_t *pr = b; pr < e; pr++) {
		const yaml_node_t *k = tk_yw_node(&x->w, pr->key);
		size_t i;

		if (k == NULL || k->type != YAML_SCALAR_NODE)
			return perr(x, k != NULL ? k : map, "keys in %s must be"
			    " plain names", where);
		for (i = 0; i < nallowed; i++)
			if (strcmp(sval(k), allowed[i]) == 0)
				break;
		if (i == nallowed) {
			char hint[80], list[320];
			size_t off = 0;

			suggest(sval(k), allowed, nallowed, hint, sizeof(hint));
			list[0] = '\0';
			for (size_t j = 0; j < nallowed && off < sizeof(list);
			    j++) {
				int w = snprintf(list + off, sizeof(list) - off,
				    "%s%s", j ? ", " : "", allowed[j]);

				if (w < 0)
					break;
				off += (size_t)w;
			}
			return perr(x, k, "unknown key `%s` in %s%s; allowed keys"
			    " are: %s", sval(k), where, hint, list);
		}
		for (const yaml_node_pair_t *q = b; q < pr; q++) {
			const yaml_node_t *k2 = tk_yw_node(&x->w, q->key);

			if (k2 != NULL && k2->type == YAML_SCALAR_NODE &&
			    strcmp(sval(k2), sval(k)) == 0)
				return perr(x, k, "duplicate key `%s` in %s (first"
				    " at line %zu): keep one", sval(k), where,
				    (size_t)k2->start_mark.line + 1);
		}
	}
	return true;
}

static bool
need(struct pctx *x, const yaml_node_t *map, const char *key,
    const char *where, const char *example, yaml_node_t **out)
{
	*out = tk_yw_get(&x->w, map, key);
	if (*out == NULL)
		return perr(x, map, "%s is missing `%s`: add e.g. `%s`", where,
		    key, example);
	return true;
}

/* ---- scalar readers ---------------------------------------------------- */

static bool
read_bool(struct pctx *x, const yaml_node_t *n, const char *key, bool *out)
{
	if (!is_scalar(x, n, key))
		return false;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (strcmp(sval(n), "true") == 0) {
			*out = true;
			return true;
		}
		if (strcmp(sval(n), "false") == 0) {
			*out = false;
			return true;
		}
	}
	return perr(x, n, "`%s` must be true or false (unquoted), got `%s`",
	    key, sval(n));
}

/* A whole number 0..max written without quotes. */
static bool
read_int(struct pctx *x, const yaml_node_t *n, const char *key, int max,
    int *out)
{
	const char *s;
	long v = 0;
	bool neg = false;

	if (!is_scalar(x, n, key))
		return false;
	s = sval(n);
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || *s == '\0')
		return perr(x, n, "`%s` must be a whole number (unquoted), got"
		    " `%s`", key, s);
	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (*s == '\0')
		return perr(x, n, "`%s` must be a whole number, got `%s`", key,
		    sval(n));
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return perr(x, n, "`%s` must be a whole number, got `%s`",
			    key, sval(n));
		if (v < 1000000)
			v = v * 10 + (*s - '0');
	}
	if (neg && v != 0)
		return perr(x, n, "`%s` cannot be negative (got %s): use 0 or"
		    " more", key, sval(n));
	if (v > max)
		return perr(x, n, "`%s` is %s, more than the maximum %d", key,
		    sval(n), max);
	*out = (int)v;
	return true;
}

static bool
read_duration(struct pctx *x, const yaml_node_t *n, const char *key,
    tk_time *out)
{
	if (!is_scalar(x, n, key))
		return false;
	if (tk_duration_parse(sval(n), out) != 0)
		return perr(x, n, "`%s` is not a duration: `%s`; write a whole"
		    " number and a unit, like 30s, 15m, 4h or 7d (or 0)", key,
		    sval(n));
	return true;
}

static bool
name_char_ok(char ch, bool login)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' ||
	    (login && ch == '@');
}

/* A name: non-empty, fits size, letters/digits/_-. (and @ for logins). */
static bool
read_name(struct pctx *x, const yaml_node_t *n, const char *key, char *buf,
    size_t size, bool login)
{
	const char *s;

	if (!is_scalar(x, n, key))
		return false;
	s = sval(n);
	if (*s == '\0')
		return perr(x, n, "`%s` is empty: write a name", key);
	for (const char *q = s; *q != '\0'; q++)
		if (!name_char_ok(*q, login))
			return perr(x, n, "`%s` value `%s` is not a valid name:"
			    " use letters, digits, `_`, `-` or `.`%s", key, s,
			    login ? " (and `@`)" : "");
	if (tk_strlcpy(buf, s, size) != 0)
		return perr(x, n, "`%s` value is too long (at most %zu"
		    " characters)", key, size - 1);
	return true;
}

/* ---- functions, reason codes ------------------------------------------- */

static const tk_function_caps *
find_function(const tk_policy *p, const char *name)
{
	for (size_t i = 0; i < p->nfunctions; i++)
		if (strcmp(p->functions[i].function, name) == 0)
			return &p->functions[i];
	return NULL;
}

static bool
load_functions(struct pctx *x, const yaml_node_t *n)
{
	tk_policy *p = x->p;
	size_t count;

	if (!is_map(x, n, "functions"))
		return false;
	count = (size_t)(n->data.mapping.pairs.top -
	    n->data.mapping.pairs.start);
	if (count == 0)
		return perr(x, n, "`functions` is empty: list each staff"
		    " function and what it may do, e.g. `helpdesk: [intake,"
		    " verify]`");
	p->functions = calloc(count, sizeof(*p->functions));
	if (p->functions == NULL)
		return perr(x, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		const yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = tk_yw_node(&x->w, pr->key);
		yaml_node_t *v = tk_yw_node(&x->w, pr->value);
		tk_function_caps *fc = &p->functions[i];

		if (k == NULL || v == NULL)
			return perr(x, n, "malformed `functions` entry");
		if (!read_name(x, k, "functions", fc->function,
		    sizeof(fc->function), false))
			return false;
		if (find_function(p, fc->function) != NULL)
			return perr(x, k, "function `%s` is listed twice in"
			    " `functions`: keep one", fc->function);
		if (!is_seq(x, v, fc->function))
			return false;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++) {
			yaml_node_t *c = tk_yw_node(&x->w, *it);
			int bit;

			if (c == NULL || !is_scalar(x, c, fc->function))
				return false;
			bit = tk_cap_parse(sval(c));
			if (bit < 0)
				return perr(x, c, "unknown capability `%s` for"
				    " function `%s`; capabilities are: " CAP_LIST,
				    sval(c), fc->function);
			fc->caps |= (unsigned)bit;
		}
		p->nfunctions = i + 1;
	}
	return true;
}

static bool
load_reason_codes(struct pctx *x, const yaml_node_t *n)
{
	tk_policy *p = x->p;
	size_t count;

	if (!is_seq(x, n, "reason_codes"))
		return false;
	count = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	if (count == 0)
		return true;
	p->reason_codes = calloc(count, sizeof(*p->reason_codes));
	if (p->reason_codes == NULL)
		return perr(x, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *c = tk_yw_node(&x->w,
		    n->data.sequence.items.start[i]);

		if (c == NULL || !read_name(x, c, "reason_codes",
		    p->reason_codes[i], TK_NAME_MAX, false))
			return false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->reason_codes[j], p->reason_codes[i]) == 0)
				return perr(x, c, "reason code `%s` is listed"
				    " twice: keep one", p->reason_codes[i]);
		p->nreason_codes = i + 1;
	}
	return true;
}

/* A function named in a tier or in break_glass must exist in `functions`
 * (and, for approvers, be able to approve). */
static bool
check_function_ref(struct pctx *x, const yaml_node_t *n, const char *key,
    const char *name, unsigned need_cap)
{
	const tk_function_caps *fc = find_function(x->p, name);

	if (fc == NULL)
		return perr(x, n, "`%s` names function `%s`, which is not listed"
		    " in `functions`: add it there or fix the name", key, name);
	if (need_cap != 0 && (fc->caps & need_cap) == 0)
		return perr(x, n, "`%s` names function `%s`, which cannot approve"
		    " (add `approve` to its capabilities in `functions`)", key,
		    name);
	return true;
}

/* Reads a list of function names into dst[max][TK_NAME_MAX]. */
static bool
read_function_list(struct pctx *x, const yaml_node_t *n, const char *key,
    char (*dst)[TK_NAME_MAX], int max, int *count, unsigned need_cap)
{
	int k = 0;

	if (!is_seq(x, n, key))
		return false;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		yaml_node_t *c = tk_yw_node(&x->w, *it);

		if (c == NULL)
			return perr(x, n, "malformed `%s`", key);
		if (k == max)
			return perr(x, c, "`%s` lists more than %d functions", key,
			    max);
		if (!read_name(x, c, key, dst[k], TK_NAME_MAX, false) ||
		    !check_function_ref(x, c, key, dst[k], need_cap))
			return false;
		for (int j = 0; j < k; j++)
			if (strcmp(dst[j], dst[k]) == 0)
				return perr(x, c, "`%s` lists `%s` twice", key,
				    dst[k]);
		k++;
	}
	if (k == 0)
		return perr(x, n, "`%s` is empty: name at least one function or"
		    " remove the key", key);
	*count = k;
	return true;
}

/* ---- expressions ------------------------------------------------------- */

static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* File column (1-based) of column `col` (1-based) inside scalar n. When the
 * scalar spans lines or contains escapes, points at the scalar itself. */
static size_t
scalar_col(const yaml_node_t *n, int col)
{
	size_t start = n->start_mark.column + 1;
	bool quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
	    n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	size_t width = utf8_chars(sval(n)) + (quoted ? 2 : 0);

	if (col < 1 || n->start_mark.line != n->end_mark.line ||
	    n->end_mark.column - n->start_mark.column != width ||
	    (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE && !quoted))
		return start;
	return start + (quoted ? 1 : 0) + (size_t)col - 1;
}

static void
copy_src(char *dst, size_t size, const char *src)
{
	if (tk_strlcpy(dst, src, size) != 0 && size > 4)
		memcpy(dst + size - 4, "...", 4);
}

static bool
compile_when(struct pctx *x, const yaml_node_t *n, unsigned flags,
    char *src_buf, size_t src_size, tk_expr **out)
{
	tk_error e;
	int col = 0;
	const char *what;

	if (!is_scalar(x, n, "when"))
		return false;
	memset(&e, 0, sizeof(e));
	*out = tk_expr_compile(sval(n), flags, &e, &col);
	if (*out == NULL) {
		what = e.msg;
		if (strncmp(what, "col ", 4) == 0 && strstr(what, ": ") != NULL)
			what = strstr(what, ": ") + 2;
		return perr_at(x, n->start_mark.line + 1, scalar_col(n, col),
		    "in `when`: %s", what);
	}
	copy_src(src_buf, src_size, sval(n));
	return true;
}

struct tier_check {
	struct pctx *x;
	const yaml_node_t *n;
};

static int
check_tier_literal(const char *lit, int col, void *ctx)
{
	struct tier_check *tc = ctx;
	const tk_policy *p = tc->x->p;
	char list[256];
	size_t off = 0;

	if (lit[0] == '\0')
		return 0; /* tier == "": no tier matched */
	for (size_t i = 0; i < p->ntiers; i++)
		if (strcmp(p->tiers[i].name, lit) == 0)
			return 0;
	list[0] = '\0';
	for (size_t i = 0; i < p->ntiers && off < sizeof(list); i++) {
		int w = snprintf(list + off, sizeof(list) - off, "%s%s",
		    i ? ", " : "", p->tiers[i].name);

		if (w < 0)
			break;
		off += (size_t)w;
	}
	(void)perr_at(tc->x, tc->n->start_mark.line + 1,
	    scalar_col(tc->n, col), "in `when`: no tier is named \"%s\"; the"
	    " tiers are: %s", lit, list);
	return 1;
}

/* ---- tiers ------------------------------------------------------------- */

static const char *const evidence_keys[] = {
	"count", "methods", "by_other_than_requester",
};

static bool
load_evidence(struct pctx *x, const yaml_node_t *n, tk_require *r)
{
	yaml_node_t *v;

	if (!is_map(x, n, "evidence") ||
	    !check_keys(x, n, evidence_keys, 3, "`evidence`") ||
	    !need(x, n, "count", "`evidence`", "count: 1", &v) ||
	    !read_int(x, v, "count", POLICY_MAX_COUNT, &r->ev_count))
		return false;
	r->ev_methods = (1u << TK_METHOD__COUNT) - 1;
	if ((v = tk_yw_get(&x->w, n, "methods")) != NULL) {
		if (!is_seq(x, v, "methods"))
			return false;
		r->ev_methods = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++) {
			yaml_node_t *c = tk_yw_node(&x->w, *it);
			int m;

			if (c == NULL || !is_scalar(x, c, "methods"))
				return false;
			m = tk_method_parse(sval(c));
			if (m < 0)
				return perr(x, c, "unknown evidence method `%s`;"
				    " methods are: " METHOD_LIST, sval(c));
			r->ev_methods |= 1u << m;
		}
		if (r->ev_methods == 0)
			return perr(x, v, "`methods` is empty: list the accepted"
			    " methods or remove the key to accept all");
	}
	if ((v = tk_yw_get(&x->w, n, "by_other_than_requester")) != NULL) {
		if (!read_int(x, v, "by_other_than_requester",
		    POLICY_MAX_COUNT, &r->ev_by_other))
			return false;
		if (r->ev_by_other > r->ev_count)
			return perr(x, v, "`by_other_than_requester` (%d) is more"
			    " than the evidence `count` (%d): lower it or raise"
			    " the count", r->ev_by_other, r->ev_count);
	}
	return true;
}

static const char *const approvals_keys[] = {
	"count", "distinct_functions", "from_any", "outside_support_chain",
	"owner",
};

static bool
load_approvals(struct pctx *x, const yaml_node_t *n, tk_require *r)
{
	yaml_node_t *v;

	if (!is_map(x, n, "approvals") ||
	    !check_keys(x, n, approvals_keys, 5, "`approvals`") ||
	    !need(x, n, "count", "`approvals`", "count: 1", &v) ||
	    !read_int(x, v, "count", POLICY_MAX_COUNT, &r->ap_count))
		return false;
	if ((v = tk_yw_get(&x->w, n, "distinct_functions")) != NULL &&
	    !read_bool(x, v, "distinct_functions", &r->ap_distinct_functions))
		return false;
	if ((v = tk_yw_get(&x->w, n, "from_any")) != NULL) {
		if (!read_function_list(x, v, "from_any", r->ap_from_any,
		    TK_MAX_FROM, &r->ap_nfrom_any, TK_CAP_APPROVE))
			return false;
		if (r->ap_count == 0)
			return perr(x, v, "`from_any` needs at least one approval:"
			    " raise `count` or remove `from_any`");
	}
	if ((v = tk_yw_get(&x->w, n, "outside_support_chain")) != NULL) {
		if (!read_int(x, v, "outside_support_chain", POLICY_MAX_COUNT,
		    &r->ap_outside_chain))
			return false;
		if (r->ap_outside_chain > r->ap_count)
			return perr(x, v, "`outside_support_chain` (%d) is more"
			    " than the approvals `count` (%d): lower it or raise"
			    " the count", r->ap_outside_chain, r->ap_count);
	}
	if ((v = tk_yw_get(&x->w, n, "owner")) != NULL) {
		if (!read_bool(x, v, "owner", &r->ap_owner))
			return false;
		if (r->ap_owner && r->ap_count == 0)
			return perr(x, v, "`owner: true` needs at least one"
			    " approval: raise `count`");
	}
	return true;
}

static const char *const require_keys[] = {
	"ticket", "reason_code", "evidence", "approvals", "hold",
	"approval_ttl", "revoke", "post_review", "hold_extension",
	"credential_in_person",
};

static bool
load_require(struct pctx *x, const yaml_node_t *n, tk_require *r,
    const char *tier)
{
	char where[96];
	yaml_node_t *v;

	(void)snprintf(where, sizeof(where), "`require` of tier `%s`", tier);
	if (!is_map(x, n, "require") ||
	    !check_keys(x, n, require_keys, 10, where))
		return false;
	if ((v = tk_yw_get(&x->w, n, "ticket")) != NULL &&
	    !read_bool(x, v, "ticket", &r->ticket))
		return false;
	if ((v = tk_yw_get(&x->w, n, "reason_code")) != NULL) {
		if (!read_bool(x, v, "reason_code", &r->reason_code))
			return false;
		if (r->reason_code && x->p->nreason_codes == 0)
			return perr(x, v, "`reason_code: true` but the policy"
			    " lists no `reason_codes`: add a top-level"
			    " `reason_codes: [...]`");
	}
	if (!need(x, n, "evidence", where, "evidence: {count: 0}", &v) ||
	    !load_evidence(x, v, r))
		return false;
	if (!need(x, n, "approvals", where, "approvals: {count: 1}", &v) ||
	    !load_approvals(x, v, r))
		return false;
	if ((v = tk_yw_get(&x->w, n, "hold")) != NULL &&
	    !read_duration(x, v, "hold", &r->hold))
		return false;
	r->hold_extension = r->hold;
	if ((v = tk_yw_get(&x->w, n, "hold_extension")) != NULL &&
	    !read_duration(x, v, "hold_extension", &r->hold_extension))
		return false;
	if ((v = tk_yw_get(&x->w, n, "credential_in_person")) != NULL &&
	    !read_bool(x, v, "credential_in_person", &r->cred_in_person))
		return false;
	if (!need(x, n, "approval_ttl", where, "approval_ttl: 1h", &v) ||
	    !read_duration(x, v, "approval_ttl", &r->approval_ttl))
		return false;
	if (r->approval_ttl == 0)
		return perr(x, v, "`approval_ttl` must be more than 0: approvals"
		    " and evidence would never count");
	if ((v = tk_yw_get(&x->w, n, "revoke")) != NULL) {
		if (!is_seq(x, v, "revoke"))
			return false;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++) {
			yaml_node_t *c = tk_yw_node(&x->w, *it);
			int bit;

			if (c == NULL || !is_scalar(x, c, "revoke"))
				return false;
			bit = tk_revoke_parse(sval(c));
			if (bit < 0)
				return perr(x, c, "unknown revocation `%s`;"
				    " revocations are: " REVOKE_LIST, sval(c));
			r->revoke |= (unsigned)bit;
		}
	}
	if ((v = tk_yw_get(&x->w, n, "post_review")) != NULL &&
	    !read_duration(x, v, "post_review", &r->post_review))
		return false;
	return true;
}

static const char *const tier_keys[] = {"name", "owner", "when", "require"};

static bool
load_tier(struct pctx *x, const yaml_node_t *n, tk_tier *t, size_t index)
{
	char where[80];
	yaml_node_t *v;
	tk_policy *p = x->p;

	if (!is_map(x, n, "tiers entry"))
		return false;
	v = tk_yw_get(&x->w, n, "name");
	if (v != NULL && v->type == YAML_SCALAR_NODE)
		(void)snprintf(where, sizeof(where), "tier `%.40s`", sval(v));
	else
		(void)snprintf(where, sizeof(where), "tier %zu", index + 1);
	if (!check_keys(x, n, tier_keys, 4, where) ||
	    !need(x, n, "name", where, "name: standard", &v) ||
	    !read_name(x, v, "name", t->name, sizeof(t->name), false))
		return false;
	for (size_t i = 0; i < index; i++)
		if (strcmp(p->tiers[i].name, t->name) == 0)
			return perr(x, v, "tier name `%s` is used twice (first at"
			    " line %d): tier names must be unique", t->name,
			    p->tiers[i].line);
	(void)snprintf(where, sizeof(where), "tier `%s`", t->name);
	t->line = (int)n->start_mark.line + 1;
	if ((v = tk_yw_get(&x->w, n, "owner")) != NULL) {
		if (!read_name(x, v, "owner", t->owner, sizeof(t->owner), true))
			return false;
	} else if (p->owner[0] != '\0') {
		(void)tk_strlcpy(t->owner, p->owner, sizeof(t->owner));
	} else {
		return perr(x, n, "tier `%s` has no owner: add `owner: LOGIN`"
		    " to the tier, or a top-level `owner:` for the whole"
		    " policy", t->name);
	}
	if (!need(x, n, "when", where, "when: 'true'", &v) ||
	    !compile_when(x, v, 0, t->when_src, sizeof(t->when_src), &t->when))
		return false;
	if (!need(x, n, "require", where, "require: {...}", &v) ||
	    !load_require(x, v, &t->req, t->name))
		return false;
	return true;
}

static bool
load_tiers(struct pctx *x, const yaml_node_t *n)
{
	tk_policy *p = x->p;
	size_t count;

	if (!is_seq(x, n, "tiers"))
		return false;
	count = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	if (count == 0)
		return perr(x, n, "`tiers` is empty: add at least one tier (the"
		    " last one usually `when: 'true'`)");
	p->tiers = calloc(count, sizeof(*p->tiers));
	if (p->tiers == NULL)
		return perr(x, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *c = tk_yw_node(&x->w,
		    n->data.sequence.items.start[i]);

		if (c == NULL)
			return perr(x, n, "malformed `tiers`");
		/* counted before loading so tk_policy_free sees its expr */
		p->ntiers = i + 1;
		if (!load_tier(x, c, &p->tiers[i], i))
			return false;
	}
	return true;
}

/* ---- deny rules -------------------------------------------------------- */

static const char *const deny_keys[] = {"when", "owner", "reason"};

static bool
load_deny(struct pctx *x, const yaml_node_t *n)
{
	tk_policy *p = x->p;
	size_t count;

	if (!is_seq(x, n, "deny"))
		return false;
	count = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	if (count == 0)
		return true;
	p->denies = calloc(count, sizeof(*p->denies));
	if (p->denies == NULL)
		return perr(x, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *c = tk_yw_node(&x->w,
		    n->data.sequence.items.start[i]);
		tk_deny_rule *d = &p->denies[i];
		struct tier_check tc;
		char where[40];
		yaml_node_t *v;

		if (c == NULL)
			return perr(x, n, "malformed `deny`");
		p->ndenies = i + 1;
		(void)snprintf(where, sizeof(where), "deny rule %zu", i + 1);
		d->line = (int)c->start_mark.line + 1;
		if (!is_map(x, c, "deny entry") ||
		    !check_keys(x, c, deny_keys, 3, where))
			return false;
		if ((v = tk_yw_get(&x->w, c, "owner")) != NULL) {
			if (!read_name(x, v, "owner", d->owner, sizeof(d->owner),
			    true))
				return false;
		} else if (p->owner[0] != '\0') {
			(void)tk_strlcpy(d->owner, p->owner, sizeof(d->owner));
		} else {
			return perr(x, c, "%s has no owner: add `owner: LOGIN` to"
			    " the rule, or a top-level `owner:`", where);
		}
		if (!need(x, c, "when", where, "when: 'ticket == \"\"'", &v) ||
		    !compile_when(x, v, TK_EXPR_ALLOW_TIER, d->when_src,
		    sizeof(d->when_src), &d->when))
			return false;
		tc.x = x;
		tc.n = v;
		if (tk_expr_tier_literals(d->when, check_tier_literal, &tc) != 0)
			return false;
		if (!need(x, c, "reason", where, "reason: 'Why, and what to do'",
		    &v) || !is_scalar(x, v, "reason"))
			return false;
		if (sval(v)[0] == '\0')
			return perr(x, v, "`reason` is empty: say why the request"
			    " is refused and what to do instead");
		if (tk_strlcpy(d->reason, sval(v), sizeof(d->reason)) != 0)
			return perr(x, v, "`reason` is too long (at most %zu"
			    " characters)", sizeof(d->reason) - 1);
	}
	return true;
}

/* ---- break-glass ------------------------------------------------------- */

static const char *const bg_keys[] = {"functions", "approvals",
	"review_within"};

static bool
load_break_glass(struct pctx *x, const yaml_node_t *n)
{
	tk_break_glass *bg = &x->p->break_glass;
	yaml_node_t *v;

	if (!is_map(x, n, "break_glass") ||
	    !check_keys(x, n, bg_keys, 3, "`break_glass`"))
		return false;
	if (!need(x, n, "functions", "`break_glass`", "functions: [ir]", &v) ||
	    !read_function_list(x, v, "functions", bg->functions, TK_MAX_FROM,
	    &bg->nfunctions, 0))
		return false;
	if (!need(x, n, "approvals", "`break_glass`", "approvals: 1", &v) ||
	    !read_int(x, v, "approvals", POLICY_MAX_COUNT, &bg->approvals))
		return false;
	if (!need(x, n, "review_within", "`break_glass`",
	    "review_within: 24h", &v) ||
	    !read_duration(x, v, "review_within", &bg->review_within))
		return false;
	if (bg->review_within == 0)
		return perr(x, v, "`review_within` must be more than 0: every"
		    " break-glass needs a post-event review deadline");
	return true;
}

/* ---- top level --------------------------------------------------------- */

static const char *const top_keys[] = {
	"version", "owner", "functions", "reason_codes", "tiers", "deny",
	"break_glass",
};

static bool
load_root(struct pctx *x, const yaml_node_t *root)
{
	tk_policy *p = x->p;
	yaml_node_t *v;

	if (root->type != YAML_MAPPING_NODE)
		return perr(x, root, "the policy must be a mapping with `version:`,"
		    " `tiers:` and so on, got %s", tk_yw_kind(root));
	if (!check_keys(x, root, top_keys, 7, "the policy"))
		return false;
	if (!need(x, root, "version", "the policy", "version: 1", &v) ||
	    !read_int(x, v, "version", 1000, &p->version))
		return false;
	if (p->version != 1)
		return perr(x, v, "unsupported policy `version: %d`: this twokey"
		    " reads version 1", p->version);
	if ((v = tk_yw_get(&x->w, root, "owner")) != NULL &&
	    !read_name(x, v, "owner", p->owner, sizeof(p->owner), true))
		return false;
	if ((v = tk_yw_get(&x->w, root, "functions")) != NULL &&
	    !load_functions(x, v))
		return false;
	if ((v = tk_yw_get(&x->w, root, "reason_codes")) != NULL &&
	    !load_reason_codes(x, v))
		return false;
	if (!need(x, root, "tiers", "the policy", "tiers: [...]", &v) ||
	    !load_tiers(x, v))
		return false;
	if ((v = tk_yw_get(&x->w, root, "deny")) != NULL && !load_deny(x, v))
		return false;
	if ((v = tk_yw_get(&x->w, root, "break_glass")) != NULL &&
	    !load_break_glass(x, v))
		return false;
	return true;
}

static bool
digest(struct pctx *x, const char *text, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < 8)
		return perr_at(x, 1, 1, "cannot compute the policy digest"
		    " (OpenSSL SHA-256 failed)");
	tk_hex_encode(md, 8, x->p->digest); /* 16 hex digits */
	return true;
}

int
tk_policy_load(tk_policy *p, const char *text, size_t len,
    const char *filename, tk_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct pctx x;
	tk_policy tmp;
	yaml_node_t *root;
	bool ok = false;

	memset(&tmp, 0, sizeof(tmp));
	memset(&x, 0, sizeof(x));
	x.w.file = filename != NULL ? filename : "policy";
	x.w.err = err;
	x.w.doc = &doc;
	x.p = &tmp;
	if (p != NULL)
		memset(p, 0, sizeof(*p));
	if (p == NULL || text == NULL) {
		(void)perr_at(&x, 1, 1, "no policy text");
		return -1;
	}
	if (len > POLICY_MAX_BYTES) {
		(void)perr_at(&x, 1, 1, "policy is larger than %d bytes",
		    POLICY_MAX_BYTES);
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		(void)perr_at(&x, 1, 1, "out of memory (YAML parser)");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	if (!yaml_parser_load(&parser, &doc)) {
		(void)perr_at(&x, parser.problem_mark.line + 1,
		    parser.problem_mark.column + 1, "YAML syntax error: %s%s%s",
		    parser.problem != NULL ? parser.problem : "unknown",
		    parser.context != NULL ? " " : "",
		    parser.context != NULL ? parser.context : "");
		yaml_parser_delete(&parser);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		(void)perr_at(&x, 1, 1, "the policy is empty: start with"
		    " `version: 1` and a `tiers:` list");
	} else if (load_root(&x, root)) {
		if (!yaml_parser_load(&parser, &extra)) {
			(void)perr_at(&x, parser.problem_mark.line + 1,
			    parser.problem_mark.column + 1,
			    "YAML syntax error: %s",
			    parser.problem != NULL ? parser.problem : "unknown");
		} else {
			yaml_node_t *r2 = yaml_document_get_root_node(&extra);

			if (r2 != NULL)
				(void)perr_at(&x, r2->start_mark.line + 1,
				    r2->start_mark.column + 1, "the file holds"
				    " more than one YAML document: keep one");
			yaml_document_delete(&extra);
		}
		ok = !x.w.failed && digest(&x, text, len);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (!ok) {
		tk_policy_free(&tmp);
		return -1;
	}
	*p = tmp;
	return 0;
}

void
tk_policy_free(tk_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->ntiers; i++)
		tk_expr_free(p->tiers[i].when);
	for (size_t i = 0; i < p->ndenies; i++)
		tk_expr_free(p->denies[i].when);
	free(p->tiers);
	free(p->denies);
	free(p->functions);
	free(p->reason_codes);
	memset(p, 0, sizeof(*p));
}

/* ---- evaluation -------------------------------------------------------- */

void
tk_policy_eval(const tk_policy *p, const tk_facts *f, tk_decision *d)
{
	tk_facts g;

	d->tier = NULL;
	d->deny = NULL;
	if (p == NULL || f == NULL)
		return;
	for (size_t i = 0; i < p->ntiers; i++) {
		if (tk_expr_eval(p->tiers[i].when, f)) {
			d->tier = &p->tiers[i];
			break;
		}
	}
	g = *f;
	g.tier = d->tier != NULL ? d->tier->name : "";
	for (size_t i = 0; i < p->ndenies; i++) {
		if (tk_expr_eval(p->denies[i].when, &g)) {
			d->deny = &p->denies[i];
			break;
		}
	}
}

unsigned
tk_policy_caps(const tk_policy *p, const char *function)
{
	const tk_function_caps *fc;

	if (p == NULL || function == NULL || function[0] == '\0')
		return 0;
	fc = find_function(p, function);
	return fc != NULL ? fc->caps : 0;
}

bool
tk_policy_reason_valid(const tk_policy *p, const char *code)
{
	if (p == NULL || code == NULL || code[0] == '\0')
		return false;
	for (size_t i = 0; i < p->nreason_codes; i++)
		if (strcmp(p->reason_codes[i], code) == 0)
			return true;
	return false;
}

bool
tk_policy_can_break_glass(const tk_policy *p, const char *function)
{
	if (p == NULL || function == NULL || function[0] == '\0')
		return false;
	for (int i = 0; i < p->break_glass.nfunctions && i < TK_MAX_FROM; i++)
		if (strcmp(p->break_glass.functions[i], function) == 0)
			return true;
	return false;
}
