/*
 * connector.c - the connector registry: operation names, option lookup,
 * secret files, the JSON form of a configuration, and the checks every
 * call goes through (declared capabilities) before a kind's own code runs.
 *
 * Owns: the kind table and tk_connector's open/apply/status/close.
 */
#include "connectors/connector.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

static const char *const op_names[TK_OP__COUNT] = {
	"password_reset", "unlock", "reactivate", "disable", "group_add",
	"group_remove", "mfa_reset", "revoke_sessions", "revoke_tokens",
	"secret_rotate", "credential_expire",
};

const char *
tk_conn_op_name(enum tk_conn_op op)
{
	if ((int)op < 0 || op >= TK_OP__COUNT)
		return "?";
	return op_names[op];
}

int
tk_conn_op_parse(const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < TK_OP__COUNT; i++)
		if (strcmp(op_names[i], name) == 0)
			return i;
	return -1;
}

const char *
tk_conn_outcome_name(enum tk_conn_outcome o)
{
	switch (o) {
	case TK_CONN_DONE: return "done";
	case TK_CONN_FAILED: return "failed";
	case TK_CONN_UNKNOWN: return "unknown";
	}
	return "?";
}

const char *
tk_conn_opt(const tk_conn_config *c, const char *key)
{
	int i;

	for (i = 0; i < c->nopt; i++)
		if (strcmp(c->opt[i].key, key) == 0)
			return c->opt[i].value;
	return NULL;
}

int
tk_conn_opt_bool(const tk_conn_config *c, const char *key, int def)
{
	const char *v = tk_conn_opt(c, key);

	if (v == NULL)
		return def;
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
		return 1;
	if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
		return 0;
	return -1;
}

int
tk_conn_secret_file(const tk_conn_config *c, const char *key, char *buf,
    size_t size, tk_error *err)
{
	const char *path = tk_conn_opt(c, key);
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	if (path == NULL || path[0] == '\0') {
		tk_fail(err, TK_ERR_INVALID, "connector %s: option %s (a file "
		    "holding the secret) is missing; add it to the directory "
		    "file", c->name, key);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: cannot open %s "
		    "file %s: %s", c->name, key, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		close(fd);
		tk_fail(err, TK_ERR_INVALID, "connector %s: %s file %s must be "
		    "a regular file readable only by its owner (chmod 600)",
		    c->name, key, path);
		return -1;
	}
	while (len + 1 < size) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			OPENSSL_cleanse(buf, size);
			tk_fail(err, TK_ERR_INVALID, "connector %s: reading %s: "
			    "%s", c->name, path, strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len + 1 >= size) {
		OPENSSL_cleanse(buf, size);
		tk_fail(err, TK_ERR_INVALID, "connector %s: %s file %s is "
		    "longer than %zu bytes", c->name, key, path, size - 2);
		return -1;
	}
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len == 0 || memchr(buf, '\n', len) != NULL) {
		OPENSSL_cleanse(buf, size);
		tk_fail(err, TK_ERR_INVALID, "connector %s: %s file %s must "
		    "hold the secret on one line", c->name, key, path);
		return -1;
	}
	return 0;
}

int
tk_conn_config_from_json(const json_t *j, tk_conn_config *c, tk_error *err)
{
	const char *key;
	json_t *v;
	size_t i;
	int op;

	memset(c, 0, sizeof(*c));
	c->timeout_ms = 10000;
	if (!json_is_object(j) ||
	    !json_is_string(json_object_get(j, "name")) ||
	    !json_is_string(json_object_get(j, "kind"))) {
		tk_fail(err, TK_ERR_INVALID, "connector config needs \"name\" "
		    "and \"kind\" strings");
		return -1;
	}
	if (tk_strlcpy(c->name, json_string_value(json_object_get(j, "name")),
	    sizeof(c->name)) != 0 ||
	    tk_strlcpy(c->kind, json_string_value(json_object_get(j, "kind")),
	    sizeof(c->kind)) != 0) {
		tk_fail(err, TK_ERR_INVALID, "connector name or kind too long");
		return -1;
	}
	json_array_foreach(json_object_get(j, "can"), i, v) {
		op = tk_conn_op_parse(json_string_value(v));
		if (op < 0) {
			tk_fail(err, TK_ERR_INVALID, "connector %s: unknown "
			    "operation in \"can\"", c->name);
			return -1;
		}
		c->caps |= 1u << op;
	}
	v = json_object_get(j, "timeout_ms");
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 600000) {
			tk_fail(err, TK_ERR_INVALID, "connector %s: timeout_ms "
			    "must be 1..600000", c->name);
			return -1;
		}
		c->timeout_ms = (int)json_integer_value(v);
	}
	json_object_foreach(json_object_get(j, "options"), key, v) {
		char num[32];
		const char *s = num;

		if (c->nopt >= TK_CONN_OPTS_MAX) {
			tk_fail(err, TK_ERR_INVALID, "connector %s: more than "
			    "%d options", c->name, TK_CONN_OPTS_MAX);
			return -1;
		}
		if (json_is_string(v))
			s = json_string_value(v);
		else if (json_is_integer(v))
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			s = json_is_true(v) ? "true" : "false";
		else {
			tk_fail(err, TK_ERR_INVALID, "connector %s: option %s "
			    "must be a string, number or boolean", c->name, key);
			return -1;
		}
		if (tk_strlcpy(c->opt[c->nopt].key, key,
		    sizeof(c->opt[0].key)) != 0 ||
		    tk_strlcpy(c->opt[c->nopt].value, s,
		    sizeof(c->opt[0].value)) != 0) {
			tk_fail(err, TK_ERR_INVALID, "connector %s: option %s "
			    "too long", c->name, key);
			return -1;
		}
		c->nopt++;
	}
	return 0;
}

const tk_connector_ops *
tk_conn_kind(const char *kind)
{
	static const tk_connector_ops *const kinds[] = {
		&tk_conn_ldap, &tk_conn_scim, &tk_conn_webhook, &tk_conn_exec,
	};
	size_t i;

	if (kind == NULL)
		return NULL;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i]->kind, kind) == 0)
			return kinds[i];
	return NULL;
}

int
tk_connector_open(tk_connector *c, const tk_conn_config *cfg, tk_error *err)
{
	unsigned extra;
	int op;

	memset(c, 0, sizeof(*c));
	c->ops = tk_conn_kind(cfg->kind);
	if (c->ops == NULL) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: unknown kind \"%s\" "
		    "(use ldap, scim, webhook or exec)", cfg->name, cfg->kind);
		return -1;
	}
	extra = cfg->caps & ~c->ops->caps;
	if (extra != 0) {
		for (op = 0; op < TK_OP__COUNT; op++)
			if (extra & (1u << op))
				break;
		tk_fail(err, TK_ERR_INVALID, "connector %s: a %s connector "
		    "cannot do %s; remove it from \"can\"", cfg->name,
		    cfg->kind, tk_conn_op_name((enum tk_conn_op)op));
		return -1;
	}
	c->cfg = *cfg;
	if (c->ops->open(&c->cfg, &c->state, err) != 0) {
		c->ops = NULL;
		return -1;
	}
	return 0;
}

void
tk_conn_result_set(tk_conn_result *r, enum tk_conn_outcome o,
    const char *fmt, ...)
{
	va_list ap;

	r->outcome = o;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	tk_utf8_trim(r->message);
}

void
tk_connector_apply(tk_connector *c, const tk_change *ch, tk_conn_result *r)
{
	if ((int)ch->op < 0 || ch->op >= TK_OP__COUNT ||
	    !(c->cfg.caps & (1u << ch->op))) {
		tk_conn_result_set(r, TK_CONN_FAILED, "connector %s does not "
		    "declare %s; nothing was sent", c->cfg.name,
		    tk_conn_op_name(ch->op));
		return;
	}
	c->ops->apply(c->state, &c->cfg, ch, r);
}

void
tk_connector_status(tk_connector *c, const tk_change *ch, tk_conn_result *r)
{
	if (c->ops->status == NULL) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "connector %s (%s) "
		    "cannot tell whether an earlier attempt happened",
		    c->cfg.name, c->cfg.kind);
		return;
	}
	c->ops->status(c->state, &c->cfg, ch, r);
}

void
tk_connector_close(tk_connector *c)
{
	if (c->ops != NULL && c->ops->close != NULL)
		c->ops->close(c->state);
	c->ops = NULL;
	c->state = NULL;
}

int
tk_conn_keep_groups(const char *params, char *buf, size_t size,
    const char **names, int max, tk_conn_result *r)
{
	json_error_t jerr;
	json_t *j, *v;
	char *p, *q, *end;
	size_t i;
	int n = 0;

	if (size > 0)
		buf[0] = '\0';
	if (params == NULL || params[0] == '\0')
		return 0;
	j = json_loads(params, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		tk_conn_result_set(r, TK_CONN_FAILED, "the case's params are not "
		    "a JSON object; nothing was sent");
		return -1;
	}
	v = json_object_get(j, "keep_groups");
	if (v == NULL || json_is_null(v)) {
		json_decref(j);
		return 0;
	}
	if (!json_is_string(v) || tk_strlcpy(buf, json_string_value(v),
	    size) != 0 || strlen(buf) != json_string_length(v)) {
		json_decref(j);
		tk_conn_result_set(r, TK_CONN_FAILED, "params.keep_groups must "
		    "be one string of comma-separated group names (e.g. "
		    "\"staff,vpn-users\"), under %zu bytes; nothing was sent",
		    size);
		return -1;
	}
	json_decref(j);
	p = buf;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		q = p;
		while (*q != '\0' && *q != ',')
			q++;
		end = q;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (*q == ',')
			q++;
		*end = '\0';
		if (end > p) {
			for (i = 0; p[i] != '\0'; i++)
				if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
					break;
			if (n >= max || (size_t)(end - p) >=
			    TK_CONN_GROUP_NAME_MAX || p[i] != '\0') {
				tk_conn_result_set(r, TK_CONN_FAILED,
				    "params.keep_groups must name at most %d "
				    "groups of 1..%d printable bytes each; "
				    "nothing was sent", max,
				    TK_CONN_GROUP_NAME_MAX - 1);
				return -1;
			}
			names[n++] = p;
		}
		p = q;
	}
	return n;
}

int
tk_conn_name_index(const char *const *names, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcasecmp(names[i], name) == 0)
			return i;
	return -1;
}

void
tk_conn_list_add(char *list, size_t size, const char *name, int *more)
{
	size_t off = strlen(list);

	if (off + strlen(name) + 3 > size) {
		(*more)++;
		return;
	}
	(void)snprintf(list + off, size - off, "%s%s", off > 0 ? ", " : "",
	    name);
}

const char *
tk_conn_list_show(const char *list, int more, char *buf, size_t size)
{
	if (list[0] == '\0')
		return "none";
	if (more == 0)
		return list;
	(void)snprintf(buf, size, "%s and %d more", list, more);
	return buf;
}
