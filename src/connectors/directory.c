/*
 * directory.c - reads the directory file (YAML, via libyaml) into
 * tk_directory: the connectors twokey may call, the routes that pick one
 * for an operation on a subject, and the notify section (SMTP, SMS
 * gateway, public URL). Also answers which connector a route sends an
 * operation to.
 *
 * Owns: the directory file format (version 1), its checks (unknown keys,
 * wrong types, duplicate names, unknown kinds and operations, timeouts,
 * URL schemes, routes to connectors that are missing or do not declare
 * the operation, values longer than their buffers, secrets written into
 * the file instead of a *_file option), and error messages of the form
 * "FILE:LINE:COL: what is wrong; what to write instead". A parsed
 * tk_directory is plain data and may be shared by threads for reading.
 * Walking the YAML tree (typed access, bounded copies, allowed keys, the
 * message prefix) is core/yaml_walk.c's, shared with the org file.
 */
#include "connectors/directory.h"
#include "connectors/conn_http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "core/yaml_walk.h"

#define DIR_TEXT_MAX (1024u * 1024)  /* bytes of YAML we accept */
#define DIR_TIMEOUT_DEFAULT 10000    /* ms */
#define DIR_TIMEOUT_MAX 600000       /* ms: 10 minutes */

/* Positions of what is checked after the whole file is read (routes may
 * come before the connectors they name). */
struct route_at {
	yaml_mark_t conn_at;               /* the connector value */
	yaml_mark_t op_at[TK_OP__COUNT];   /* each op in the route's list */
	char conn[TK_NAME_MAX];
};

struct ctx {
	tk_yaml_walk w;
	yaml_document_t doc;
	tk_directory *d;
	yaml_mark_t conn_at[TK_DIR_CONNECTORS_MAX];  /* name values */
	yaml_mark_t can_at[TK_DIR_CONNECTORS_MAX];   /* can lists */
	struct route_at rt[TK_DIR_ROUTES_MAX];
};

/* ------------------------------------------------------------------ */
/* small validators */

/* [a-z0-9][a-z0-9._-]*, shorter than TK_NAME_MAX */
static bool
valid_name(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 1; s[i] != '\0'; i++) {
		if (i >= TK_NAME_MAX - 1)
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '_' || s[i] == '-'))
			return false;
	}
	return true;
}

/* Option keys: [a-z][a-z0-9_]* */
static bool
valid_opt_key(const char *s)
{
	size_t i;

	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (i = 1; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* An option that looks like a secret written into the file itself. */
static bool
secret_key(const char *k)
{
	return ends_with(k, "password") || ends_with(k, "secret") ||
	    ends_with(k, "token");
}

static bool
is_bool_text(const char *v)
{
	return strcmp(v, "true") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "yes") == 0 || strcmp(v, "no") == 0;
}

static bool
valid_email(const char *v)
{
	const char *at = strchr(v, '@');
	size_t i;

	if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@'))
		return false;
	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f ||
		    strchr("<>()[],;:\"\\", v[i]) != NULL)
			return false;
	return strchr(at + 1, '.') != NULL;
}

/* "5s", "500ms", "2m": a positive integer and a unit, 1 ms to 10 min. */
static int
parse_timeout(const char *s, int *ms)
{
	long long v = 0, mul;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > DIR_TIMEOUT_MAX)
			return -1;
	}
	if (i == 0)
		return -1;
	if (strcmp(s + i, "ms") == 0)
		mul = 1;
	else if (strcmp(s + i, "s") == 0)
		mul = 1000;
	else if (strcmp(s + i, "m") == 0)
		mul = 60000;
	else
		return -1;
	v *= mul;
	if (v < 1 || v > DIR_TIMEOUT_MAX)
		return -1;
	*ms = (int)v;
	return 0;
}

static int
timeout_value(struct ctx *c, const yaml_node_t *n, int *ms)
{
	char v[32];

	if (tk_yw_scalar(&c->w, n, "timeout", v, sizeof(v)) != 0)
		return -1;
	if (parse_timeout(v, ms) != 0)
		return tk_yw_fail_at(&c->w, n->start_mark, "timeout \"%s\" is "
		    "not a duration between 1ms and 10m; write a whole number "
		    "and a unit, e.g. 500ms, 5s or 2m", v);
	return 0;
}

static bool
loopback_url(const char *url)
{
	char host[256];

	tk_url_host(url, host, sizeof(host));
	return tk_host_loopback(host);
}

/* Checks url against a comma-separated list of schemes; no credentials
 * in the authority, no blanks or control characters. */
static int
check_url(struct ctx *c, const yaml_node_t *n, const char *key,
    const char *url, const char *schemes)
{
	const char *sep = strstr(url, "://"), *s, *auth;
	size_t slen, alen, i;

	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return tk_yw_fail_at(&c->w, n->start_mark, "%s "
			    "\"%.200s\" holds a blank or control character; "
			    "write the URL without them (percent-encode if "
			    "needed)", key, url);
	if (sep == NULL || sep == url)
		return tk_yw_fail_at(&c->w, n->start_mark, "%s \"%.200s\" is "
		    "not a URL; write SCHEME://HOST[:PORT][/PATH] with scheme "
		    "%s", key, url, schemes);
	slen = (size_t)(sep - url);
	for (s = schemes; *s != '\0';) {
		size_t k = strcspn(s, ",");

		if (k == slen && strncmp(s, url, slen) == 0)
			break;
		s += k;
		if (*s == ',')
			s++;
	}
	if (*s == '\0')
		return tk_yw_fail_at(&c->w, n->start_mark, "%s \"%.200s\" has "
		    "scheme \"%.*s\"; use %s", key, url,
		    (int)(slen > 20 ? 20 : slen), url, schemes);
	auth = sep + 3;
	alen = strcspn(auth, "/?#");
	if (alen == 0)
		return tk_yw_fail_at(&c->w, n->start_mark, "%s \"%.200s\" has "
		    "no host; write SCHEME://HOST[:PORT]", key, url);
	if (memchr(auth, '@', alen) != NULL)
		return tk_yw_fail_at(&c->w, n->start_mark, "%s \"%.200s\" "
		    "carries a user name or password; secrets never go in the "
		    "directory file: use the user and *_file keys instead", key,
		    url);
	return 0;
}

static int
bool_value(struct ctx *c, const yaml_node_t *n, const char *key, bool *out)
{
	char v[16];

	if (tk_yw_scalar(&c->w, n, key, v, sizeof(v)) != 0)
		return -1;
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
		*out = false;
	else
		return tk_yw_fail_at(&c->w, n->start_mark, "%s \"%s\" is not a "
		    "boolean; write true or false", key, v);
	return 0;
}

/* A list of operation names into a bit set; marks (optional) receive the
 * position of each op. */
static int
ops_value(struct ctx *c, const yaml_node_t *n, const char *key,
    unsigned *ops, yaml_mark_t *marks)
{
	yaml_node_item_t *it;
	yaml_node_t *o;
	char v[TK_NAME_MAX];
	int op, i;

	if (n->type != YAML_SEQUENCE_NODE)
		return tk_yw_fail_at(&c->w, n->start_mark, "%s must be a list "
		    "of operations, e.g. [password_reset, unlock], not %s", key,
		    tk_yw_kind(n));
	if (tk_yw_seq_len(n) == 0)
		return tk_yw_fail_at(&c->w, n->start_mark, "%s is empty; list "
		    "at least one operation, e.g. [password_reset]", key);
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		o = tk_yw_node(&c->w, *it);
		if (o == NULL || tk_yw_scalar(&c->w, o, "an operation", v,
		    sizeof(v)) != 0)
			return -1;
		op = tk_conn_op_parse(v);
		if (op < 0) {
			char list[256];
			size_t len = 0;

			list[0] = '\0';
			for (i = 0; i < TK_OP__COUNT; i++) {
				int k = snprintf(list + len, sizeof(list) - len,
				    "%s%s", i ? ", " : "",
				    tk_conn_op_name((enum tk_conn_op)i));

				if (k < 0 || (size_t)k >= sizeof(list) - len)
					break;
				len += (size_t)k;
			}
			return tk_yw_fail_at(&c->w, o->start_mark, "unknown "
			    "operation \"%s\" in %s; operations are %s", v, key,
			    list);
		}
		if (*ops & (1u << op))
			return tk_yw_fail_at(&c->w, o->start_mark, "operation "
			    "%s is listed twice in %s; keep one", v, key);
		*ops |= 1u << op;
		if (marks != NULL)
			marks[op] = o->start_mark;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* connectors */

static const char *const conn_keys[] = {"name", "kind", "can", "timeout",
	NULL};
enum { CK_NAME, CK_KIND, CK_CAN, CK_TIMEOUT };

/* A sequence of scalars, joined by ",". */
static int
opt_list(struct ctx *c, const yaml_node_t *n, const char *key, char *dst,
    size_t size)
{
	yaml_node_item_t *it;
	yaml_node_t *e;
	size_t len = 0, k;
	char item[TK_CONN_OPT_VALUE_MAX];

	dst[0] = '\0';
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		e = tk_yw_node(&c->w, *it);
		if (e == NULL)
			return tk_yw_fail_at(&c->w, n->start_mark, "missing "
			    "item in %s", key);
		if (e->type != YAML_SCALAR_NODE)
			return tk_yw_fail_at(&c->w, e->start_mark, "option %s: "
			    "list items must be single values, not %s", key,
			    tk_yw_kind(e));
		if (tk_yw_scalar(&c->w, e, key, item, sizeof(item)) != 0)
			return -1;
		if (strchr(item, ',') != NULL)
			return tk_yw_fail_at(&c->w, e->start_mark, "option %s: "
			    "item \"%.100s\" contains ','; list items are "
			    "joined with ',', so write the value as one string "
			    "instead", key, item);
		k = strlen(item);
		if (len + (len > 0) + k >= size)
			return tk_yw_fail_at(&c->w, n->start_mark, "option %s "
			    "is longer than %zu characters once its items are "
			    "joined; shorten it", key, size - 1);
		if (len > 0)
			dst[len++] = ',';
		memcpy(dst + len, item, k + 1);
		len += k;
	}
	return 0;
}

static int
parse_option(struct ctx *c, tk_conn_config *cf, const yaml_node_t *k,
    const yaml_node_t *v)
{
	const char *key = (const char *)k->data.scalar.value;
	int i;

	if (!valid_opt_key(key) || strlen(key) >= TK_CONN_OPT_KEY_MAX)
		return tk_yw_fail_at(&c->w, k->start_mark, "option name "
		    "\"%.64s\" is not valid; use 1-%d lower-case letters, "
		    "digits or '_', starting with a letter", key,
		    TK_CONN_OPT_KEY_MAX - 1);
	for (i = 0; i < cf->nopt; i++)
		if (strcmp(cf->opt[i].key, key) == 0)
			return tk_yw_fail_at(&c->w, k->start_mark, "key \"%s\" "
			    "appears twice in connector %s; keep one", key,
			    cf->name);
	if (cf->nopt >= TK_CONN_OPTS_MAX)
		return tk_yw_fail_at(&c->w, k->start_mark, "more than %d "
		    "options in one connector; remove the ones it does not use",
		    TK_CONN_OPTS_MAX);
	memcpy(cf->opt[cf->nopt].key, key, strlen(key) + 1);
	if (v->type == YAML_MAPPING_NODE)
		return tk_yw_fail_at(&c->w, v->start_mark, "option %s is a "
		    "mapping; options are single values or lists of single "
		    "values", key);
	if (v->type == YAML_SEQUENCE_NODE) {
		if (opt_list(c, v, key, cf->opt[cf->nopt].value,
		    sizeof(cf->opt[0].value)) != 0)
			return -1;
	} else if (tk_yw_scalar(&c->w, v, key, cf->opt[cf->nopt].value,
	    sizeof(cf->opt[0].value)) != 0) {
		return -1;
	}
	/* a flag about a secret (send_secret: false) is not one */
	if (secret_key(key) && !is_bool_text(cf->opt[cf->nopt].value))
		return tk_yw_fail_at(&c->w, k->start_mark, "option \"%s\" "
		    "would put a secret in the directory file; write it to a "
		    "file readable only by twokey (chmod 600) and name that "
		    "file with %s_file", key, key);
	cf->nopt++;
	return 0;
}

/* The url option, when the kind has one we know the schemes of. */
static int
check_conn_url(struct ctx *c, const tk_conn_config *cf,
    const yaml_node_t *n)
{
	yaml_node_t *v;
	const char *url = tk_conn_opt(cf, "url"), *schemes = NULL;

	if (url == NULL)
		return 0;
	if (strcmp(cf->kind, "ldap") == 0)
		schemes = "ldap,ldaps";
	else if (strcmp(cf->kind, "scim") == 0 ||
	    strcmp(cf->kind, "webhook") == 0)
		schemes = "http,https";
	if (schemes == NULL)
		return 0;
	v = tk_yw_get(&c->w, n, "url");
	if (v == NULL)
		return 0;
	return check_url(c, v, "url", url, schemes);
}

static int
parse_conn_one(void *arg, const yaml_node_t *n)
{
	struct ctx *c = arg;
	tk_directory *d = c->d;
	tk_conn_config *cf;
	yaml_node_pair_t *p;
	yaml_node_t *k, *v;
	const char *kn;
	unsigned seen = 0;
	int ki, i, rc;

	if (tk_yw_want(&c->w, n, YAML_MAPPING_NODE, "each connector") != 0)
		return -1;
	if (d->nconn >= TK_DIR_CONNECTORS_MAX)
		return tk_yw_fail_at(&c->w, n->start_mark, "more than %d "
		    "connectors; the limit is %d", TK_DIR_CONNECTORS_MAX,
		    TK_DIR_CONNECTORS_MAX);
	cf = &d->conn[d->nconn];
	memset(cf, 0, sizeof(*cf));
	cf->timeout_ms = DIR_TIMEOUT_DEFAULT;
	c->conn_at[d->nconn] = n->start_mark;
	c->can_at[d->nconn] = n->start_mark;
	/* name first, so messages about the rest can say which connector */
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		k = tk_yw_node(&c->w, p->key);
		v = tk_yw_node(&c->w, p->value);
		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
		    strcmp((const char *)k->data.scalar.value, "name") != 0)
			continue;
		if (tk_yw_scalar(&c->w, v, "name", cf->name,
		    sizeof(cf->name)) != 0)
			return -1;
		if (!valid_name(cf->name))
			return tk_yw_fail_at(&c->w, v->start_mark, "connector "
			    "name \"%s\" is not valid; use 1-%d characters: "
			    "lower-case letters, digits, '.', '_' or '-', "
			    "starting with a letter or digit", cf->name,
			    TK_NAME_MAX - 1);
		c->conn_at[d->nconn] = v->start_mark;
	}
	if (cf->name[0] == '\0')
		return tk_yw_fail_at(&c->w, n->start_mark, "connector has no "
		    "name; add name: NAME (routes refer to it)");
	for (i = 0; i < d->nconn; i++)
		if (strcmp(d->conn[i].name, cf->name) == 0)
			return tk_yw_fail_at(&c->w, c->conn_at[d->nconn],
			    "connector name \"%s\" appears twice (first at "
			    "line %zu); names must be unique", cf->name,
			    c->conn_at[i].line + 1);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		k = tk_yw_node(&c->w, p->key);
		v = tk_yw_node(&c->w, p->value);
		if (k == NULL || v == NULL)
			return tk_yw_fail_at(&c->w, n->start_mark, "missing "
			    "key or value");
		if (k->type != YAML_SCALAR_NODE)
			return tk_yw_fail_at(&c->w, k->start_mark, "keys in a "
			    "connector must be plain names");
		kn = (const char *)k->data.scalar.value;
		for (ki = 0; conn_keys[ki] != NULL; ki++)
			if (strcmp(conn_keys[ki], kn) == 0)
				break;
		if (conn_keys[ki] == NULL) {
			if (parse_option(c, cf, k, v) != 0)
				return -1;
			continue;
		}
		if (seen & (1u << ki))
			return tk_yw_fail_at(&c->w, k->start_mark, "key \"%s\" "
			    "appears twice in connector %s; keep one", kn,
			    cf->name);
		seen |= 1u << ki;
		rc = 0;
		switch (ki) {
		case CK_NAME:
			break;
		case CK_KIND:
			rc = tk_yw_scalar(&c->w, v, "kind", cf->kind,
			    sizeof(cf->kind));
			if (rc == 0 && tk_conn_kind(cf->kind) == NULL)
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "unknown kind \"%s\" for connector %s; use "
				    "ldap, scim, webhook or exec", cf->kind,
				    cf->name);
			break;
		case CK_CAN:
			c->can_at[d->nconn] = v->start_mark;
			rc = ops_value(c, v, "can", &cf->caps, NULL);
			break;
		case CK_TIMEOUT:
			rc = timeout_value(c, v, &cf->timeout_ms);
			break;
		default:
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	if (!(seen & (1u << CK_KIND)))
		return tk_yw_fail_at(&c->w, n->start_mark, "connector %s has "
		    "no kind; add kind: ldap, scim, webhook or exec", cf->name);
	if (!(seen & (1u << CK_CAN)))
		return tk_yw_fail_at(&c->w, n->start_mark, "connector %s does "
		    "not say what it can do; add can: [OPERATION, ...], e.g. "
		    "can: [password_reset, unlock]", cf->name);
	if (check_conn_url(c, cf, n) != 0)
		return -1;
	d->nconn++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* routes */

static const char *const route_keys[] = {"ops", "kind", "label",
	"connector", NULL};
enum { RK_OPS, RK_KIND, RK_LABEL, RK_CONNECTOR };

static int
parse_route_one(void *arg, const yaml_node_t *n)
{
	struct ctx *c = arg;
	tk_directory *d = c->d;
	struct route_at *at;
	tk_route *r;
	yaml_node_pair_t *p;
	yaml_node_t *v;
	unsigned seen = 0;
	int k, rc;

	if (tk_yw_want(&c->w, n, YAML_MAPPING_NODE, "each route") != 0)
		return -1;
	if (d->nroute >= TK_DIR_ROUTES_MAX)
		return tk_yw_fail_at(&c->w, n->start_mark, "more than %d "
		    "routes; the limit is %d", TK_DIR_ROUTES_MAX,
		    TK_DIR_ROUTES_MAX);
	r = &d->route[d->nroute];
	at = &c->rt[d->nroute];
	memset(r, 0, sizeof(*r));
	memset(at, 0, sizeof(*at));
	r->connector = -1;
	at->conn_at = n->start_mark;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		if (tk_yw_pair(&c->w, n, p, route_keys, &seen, "a route",
		    "ops, kind, label or connector", &k, &v) != 0)
			return -1;
		rc = 0;
		switch (k) {
		case RK_OPS:
			rc = ops_value(c, v, "ops", &r->ops, at->op_at);
			break;
		case RK_KIND:
			rc = tk_yw_scalar(&c->w, v, "kind", r->kind,
			    sizeof(r->kind));
			if (rc == 0 && strcmp(r->kind, "person") != 0 &&
			    strcmp(r->kind, "nhi") != 0)
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "route kind \"%s\" is not a subject kind; "
				    "use person or nhi, or leave kind out to "
				    "match both", r->kind);
			break;
		case RK_LABEL:
			rc = tk_yw_scalar(&c->w, v, "label", r->label,
			    sizeof(r->label));
			if (rc == 0 && r->label[0] != '\0' &&
			    !valid_name(r->label))
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "label \"%s\" is not a valid label name; "
				    "use lower-case letters, digits, '.', '_' "
				    "or '-'", r->label);
			break;
		case RK_CONNECTOR:
			at->conn_at = v->start_mark;
			rc = tk_yw_scalar(&c->w, v, "connector", at->conn,
			    sizeof(at->conn));
			if (rc == 0 && at->conn[0] == '\0')
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "connector is empty; name one of the "
				    "connectors");
			break;
		default:
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	if (!(seen & (1u << RK_OPS)))
		return tk_yw_fail_at(&c->w, n->start_mark, "route has no ops; "
		    "add ops: [OPERATION, ...]");
	if (!(seen & (1u << RK_CONNECTOR)))
		return tk_yw_fail_at(&c->w, n->start_mark, "route has no "
		    "connector; add connector: NAME");
	d->nroute++;
	return 0;
}

/* After the whole file: each route's connector exists and declares the
 * route's operations. */
static int
resolve_routes(struct ctx *c)
{
	tk_directory *d = c->d;
	char names[200];
	size_t len;
	int i, j, op;

	for (i = 0; i < d->nroute; i++) {
		tk_route *r = &d->route[i];
		struct route_at *at = &c->rt[i];

		for (j = 0; j < d->nconn; j++)
			if (strcmp(d->conn[j].name, at->conn) == 0)
				break;
		if (j == d->nconn) {
			len = 0;
			names[0] = '\0';
			for (j = 0; j < d->nconn; j++) {
				int k = snprintf(names + len, sizeof(names) - len,
				    "%s%s", j ? ", " : "", d->conn[j].name);

				if (k < 0 || (size_t)k >= sizeof(names) - len)
					break;
				len += (size_t)k;
			}
			return tk_yw_fail_at(&c->w, at->conn_at, "route names "
			    "connector \"%s\", which is not defined under "
			    "connectors; %s%s", at->conn, d->nconn ? "use one "
			    "of: " : "define it under connectors", names);
		}
		r->connector = j;
		for (op = 0; op < TK_OP__COUNT; op++)
			if ((r->ops & (1u << op)) &&
			    !(d->conn[j].caps & (1u << op)))
				return tk_yw_fail_at(&c->w, at->op_at[op],
				    "route sends %s to connector %s, which "
				    "does not declare it; add %s to its can "
				    "list (line %zu) or route %s to another "
				    "connector", tk_conn_op_name((enum
				    tk_conn_op)op), d->conn[j].name,
				    tk_conn_op_name((enum tk_conn_op)op),
				    c->can_at[j].line + 1, tk_conn_op_name((enum
				    tk_conn_op)op));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* notify */

static const char *const smtp_keys[] = {"url", "from", "starttls", "user",
	"password_file", NULL};
enum { SMK_URL, SMK_FROM, SMK_STARTTLS, SMK_USER, SMK_PASSWORD_FILE };

static int
parse_smtp(struct ctx *c, const yaml_node_t *n)
{
	tk_notify_config *nc = &c->d->notify;
	yaml_node_pair_t *p;
	yaml_node_t *v, *url_n = NULL, *from_n = NULL, *user_n = NULL;
	unsigned seen = 0;
	int k, rc;

	if (tk_yw_want(&c->w, n, YAML_MAPPING_NODE, "smtp") != 0)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		if (tk_yw_pair(&c->w, n, p, smtp_keys, &seen, "notify.smtp",
		    "url, from, starttls, user or password_file", &k, &v) != 0)
			return -1;
		switch (k) {
		case SMK_URL:
			url_n = v;
			rc = tk_yw_scalar(&c->w, v, "smtp url", nc->smtp_url,
			    sizeof(nc->smtp_url));
			if (rc == 0)
				rc = check_url(c, v, "smtp url", nc->smtp_url,
				    "smtp,smtps");
			break;
		case SMK_FROM:
			from_n = v;
			rc = tk_yw_scalar(&c->w, v, "from", nc->smtp_from,
			    sizeof(nc->smtp_from));
			if (rc == 0 && !valid_email(nc->smtp_from))
				rc = tk_yw_fail_at(&c->w, v->start_mark, "from "
				    "\"%s\" is not an e-mail address; write "
				    "one plain address, e.g. "
				    "twokey@example.com", nc->smtp_from);
			break;
		case SMK_STARTTLS:
			rc = bool_value(c, v, "starttls", &nc->smtp_starttls);
			break;
		case SMK_USER:
			user_n = v;
			rc = tk_yw_scalar(&c->w, v, "user", nc->smtp_user,
			    sizeof(nc->smtp_user));
			break;
		case SMK_PASSWORD_FILE:
			rc = tk_yw_scalar(&c->w, v, "password_file",
			    nc->smtp_password_file,
			    sizeof(nc->smtp_password_file));
			break;
		default:
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	if (url_n == NULL || nc->smtp_url[0] == '\0')
		return tk_yw_fail_at(&c->w, n->start_mark, "smtp has no url; "
		    "add url: \"smtp://HOST:PORT\" (or smtps://), or remove "
		    "smtp to send no e-mail");
	if (from_n == NULL || nc->smtp_from[0] == '\0')
		return tk_yw_fail_at(&c->w, n->start_mark, "smtp has no from "
		    "address; add from: twokey@YOUR-DOMAIN");
	if (nc->smtp_starttls && strncmp(nc->smtp_url, "smtps:", 6) == 0)
		return tk_yw_fail_at(&c->w, url_n->start_mark, "starttls is "
		    "set but the url is smtps://, which is TLS from the start; "
		    "use smtp:// with starttls: true, or smtps:// without "
		    "starttls");
	if ((nc->smtp_user[0] != '\0') != (nc->smtp_password_file[0] != '\0'))
		return tk_yw_fail_at(&c->w, n->start_mark, "smtp user and "
		    "password_file go together; set both (the password in a "
		    "chmod 600 file) or neither");
	if (nc->smtp_user[0] != '\0' && !nc->smtp_starttls &&
	    strncmp(nc->smtp_url, "smtp:", 5) == 0 &&
	    !loopback_url(nc->smtp_url))
		return tk_yw_fail_at(&c->w, user_n->start_mark, "smtp user is "
		    "set but %s is not encrypted, so the password would cross "
		    "the network in clear; set starttls: true or use smtps://",
		    nc->smtp_url);
	return 0;
}

static const char *const sms_keys[] = {"url", "token_file", NULL};
enum { SSK_URL, SSK_TOKEN_FILE };

static int
parse_sms(struct ctx *c, const yaml_node_t *n)
{
	tk_notify_config *nc = &c->d->notify;
	yaml_node_pair_t *p;
	yaml_node_t *v;
	unsigned seen = 0;
	int k, rc;

	if (tk_yw_want(&c->w, n, YAML_MAPPING_NODE, "sms") != 0)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		if (tk_yw_pair(&c->w, n, p, sms_keys, &seen, "notify.sms",
		    "url or token_file", &k, &v) != 0)
			return -1;
		if (k == SSK_URL) {
			rc = tk_yw_scalar(&c->w, v, "sms url", nc->sms_url,
			    sizeof(nc->sms_url));
			if (rc == 0)
				rc = check_url(c, v, "sms url", nc->sms_url,
				    "http,https");
		} else {
			rc = tk_yw_scalar(&c->w, v, "token_file",
			    nc->sms_token_file, sizeof(nc->sms_token_file));
		}
		if (rc != 0)
			return -1;
	}
	if (nc->sms_url[0] == '\0')
		return tk_yw_fail_at(&c->w, n->start_mark, "sms has no url; "
		    "add url: \"https://GATEWAY/PATH\", or remove sms to send "
		    "no SMS");
	return 0;
}

static const char *const notify_keys[] = {"public_url", "smtp", "sms",
	"timeout", NULL};
enum { NK_PUBLIC_URL, NK_SMTP, NK_SMS, NK_TIMEOUT };

static int
parse_notify(struct ctx *c, const yaml_node_t *n)
{
	tk_notify_config *nc = &c->d->notify;
	yaml_node_pair_t *p;
	yaml_node_t *v;
	unsigned seen = 0;
	int k, rc;

	if (tk_yw_is_null(n))
		return 0;
	if (tk_yw_want(&c->w, n, YAML_MAPPING_NODE, "notify") != 0)
		return -1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		if (tk_yw_pair(&c->w, n, p, notify_keys, &seen, "notify",
		    "public_url, smtp, sms or timeout", &k, &v) != 0)
			return -1;
		switch (k) {
		case NK_PUBLIC_URL:
			rc = tk_yw_scalar(&c->w, v, "public_url",
			    nc->public_url, sizeof(nc->public_url));
			if (rc == 0 && nc->public_url[0] != '\0')
				rc = check_url(c, v, "public_url",
				    nc->public_url, "http,https");
			break;
		case NK_SMTP:
			rc = parse_smtp(c, v);
			break;
		case NK_SMS:
			rc = parse_sms(c, v);
			break;
		case NK_TIMEOUT:
			rc = timeout_value(c, v, &nc->timeout_ms);
			break;
		default:
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* whole file */

/* "routes:" with nothing after it (or ~, null) is an empty list. */
static int
parse_list(struct ctx *c, const yaml_node_t *n, const char *what,
    int (*one)(void *, const yaml_node_t *))
{
	if (tk_yw_is_null(n))
		return 0;
	return tk_yw_each(&c->w, n, what, one, c);
}

static const char *const top_keys[] = {"version", "connectors", "routes",
	"notify", NULL};
enum { DK_VERSION, DK_CONNECTORS, DK_ROUTES, DK_NOTIFY };

static int
parse_top(struct ctx *c)
{
	yaml_node_t *root, *v;
	yaml_node_pair_t *p;
	char ver[16];
	unsigned seen = 0;
	int k, rc;

	root = yaml_document_get_root_node(&c->doc);
	if (root == NULL)
		return tk_yw_fail_at(&c->w, c->doc.start_mark, "the directory "
		    "file is empty; it needs version: 1 and connectors, routes "
		    "or notify");
	if (root->type != YAML_MAPPING_NODE)
		return tk_yw_fail_at(&c->w, root->start_mark, "the directory "
		    "file must be a mapping with version, connectors, routes "
		    "and notify");
	for (p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top; p++) {
		if (tk_yw_pair(&c->w, root, p, top_keys, &seen,
		    "the directory file", "version, connectors, routes or "
		    "notify", &k, &v) != 0)
			return -1;
		switch (k) {
		case DK_VERSION:
			rc = tk_yw_scalar(&c->w, v, "version", ver,
			    sizeof(ver));
			if (rc == 0 && strcmp(ver, "1") != 0)
				rc = tk_yw_fail_at(&c->w, v->start_mark,
				    "unsupported version \"%s\"; this twokey "
				    "reads directory files of version 1", ver);
			break;
		case DK_CONNECTORS:
			rc = parse_list(c, v, "connectors", parse_conn_one);
			break;
		case DK_ROUTES:
			rc = parse_list(c, v, "routes", parse_route_one);
			break;
		case DK_NOTIFY:
			rc = parse_notify(c, v);
			break;
		default:
			rc = -1;
		}
		if (rc != 0)
			return -1;
	}
	if (!(seen & (1u << DK_VERSION)))
		return tk_yw_fail_at(&c->w, root->start_mark, "the directory "
		    "file has no version; add version: 1 at the top");
	return resolve_routes(c);
}

int
tk_directory_parse(const char *text, size_t len, const char *name,
    tk_directory *d, tk_error *err)
{
	yaml_mark_t m0 = {0, 0, 0};
	struct ctx *c;
	int rc;

	memset(d, 0, sizeof(*d));
	d->notify.timeout_ms = DIR_TIMEOUT_DEFAULT;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory reading "
		    "%.60s", name != NULL ? name : "directory"), -1;
	c->w.file = name != NULL ? name : "directory";
	c->w.file_max = 60;
	c->w.utf8_trim = true;
	c->w.err = err;
	c->w.doc = &c->doc;
	c->d = d;
	if (text == NULL || len > DIR_TEXT_MAX) {
		rc = tk_yw_fail_at(&c->w, m0, "the directory file is larger "
		    "than %u bytes", DIR_TEXT_MAX);
		free(c);
		return rc;
	}
	rc = tk_yw_parse(&c->w, text, len);
	if (rc == -2) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory reading "
		    "%.60s", c->w.file);
		free(c);
		return -1;
	}
	if (rc != 0) {
		free(c);
		memset(d, 0, sizeof(*d));
		return -1;
	}
	rc = parse_top(c);
	yaml_document_delete(&c->doc);
	free(c);
	if (rc != 0) {
		memset(d, 0, sizeof(*d));
		return -1;
	}
	return 0;
}

int
tk_directory_load(const char *path, tk_directory *d, tk_error *err)
{
	char *buf;
	size_t len;
	int rc;

	memset(d, 0, sizeof(*d));
	if (tk_read_file(path, "directory file", DIR_TEXT_MAX, &buf, &len,
	    err) != 0)
		return -1;
	rc = tk_directory_parse(buf, len, path, d, err);
	free(buf);
	return rc;
}

int
tk_directory_route(const tk_directory *d, enum tk_conn_op op,
    const char *subject_kind, const char (*labels)[TK_NAME_MAX],
    int nlabels)
{
	const tk_route *r;
	int i, j;

	if (d == NULL || (int)op < 0 || op >= TK_OP__COUNT)
		return -1;
	for (i = 0; i < d->nroute && i < TK_DIR_ROUTES_MAX; i++) {
		r = &d->route[i];
		if (!(r->ops & (1u << op)))
			continue;
		if (r->kind[0] != '\0' && (subject_kind == NULL ||
		    strcmp(r->kind, subject_kind) != 0))
			continue;
		if (r->label[0] != '\0') {
			for (j = 0; j < nlabels && labels != NULL; j++)
				if (strcmp(labels[j], r->label) == 0)
					break;
			if (labels == NULL || j == nlabels)
				continue;
		}
		if (r->connector < 0 || r->connector >= d->nconn)
			continue;
		return r->connector;
	}
	return -1;
}
