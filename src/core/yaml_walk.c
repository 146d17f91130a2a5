/*
 * yaml_walk.c - walks a libyaml document tree for the org, policy and
 * directory loaders: node lookup, typed access, bounded scalar copies,
 * allowed-key checks and "NAME:LINE:COL: message" errors.
 *
 * Owns: the shared messages (see yaml_walk.h) and the rule that a walk
 * keeps its first error. Allocates nothing beyond the document that
 * tk_yw_parse loads, which the caller deletes.
 */
#include "core/yaml_walk.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int
tk_yw_parse(tk_yaml_walk *w, const char *text, size_t len)
{
	yaml_parser_t parser;

	if (!yaml_parser_initialize(&parser))
		return -2;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	if (!yaml_parser_load(&parser, w->doc)) {
		(void)tk_yw_fail_at(w, parser.problem_mark, "YAML syntax error: "
		    "%s%s%s", parser.problem != NULL ? parser.problem :
		    "unknown", parser.context != NULL ? " " : "",
		    parser.context != NULL ? parser.context : "");
		yaml_parser_delete(&parser);
		return -1;
	}
	yaml_parser_delete(&parser);
	return 0;
}

int
tk_yw_vfail(tk_yaml_walk *w, size_t line, size_t col, const char *fmt,
    va_list ap)
{
	char what[440];

	if (w->failed)
		return -1;
	w->failed = true;
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	if (w->utf8_trim)
		tk_utf8_trim(what);
	(void)tk_fail(w->err, TK_ERR_INVALID, "%.*s:%zu:%zu: %s",
	    w->file_max > 0 ? w->file_max : INT_MAX, w->file, line, col, what);
	return -1;
}

int
tk_yw_fail_at(tk_yaml_walk *w, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)tk_yw_vfail(w, m.line + 1, m.column + 1, fmt, ap);
	va_end(ap);
	return -1;
}

yaml_node_t *
tk_yw_node(const tk_yaml_walk *w, int id)
{
	return yaml_document_get_node(w->doc, id);
}

const char *
tk_yw_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a single value";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

size_t
tk_yw_seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
}

bool
tk_yw_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

int
tk_yw_want(tk_yaml_walk *w, const yaml_node_t *n, yaml_node_type_t t,
    const char *what)
{
	if (n->type == t)
		return 0;
	return tk_yw_fail_at(w, n->start_mark, "%s must be %s, not %s", what,
	    t == YAML_SEQUENCE_NODE ? "a list" :
	    t == YAML_MAPPING_NODE ? "a mapping" : "a single value",
	    tk_yw_kind(n));
}

int
tk_yw_scalar(tk_yaml_walk *w, const yaml_node_t *n, const char *key,
    char *dst, size_t size)
{
	const char *v;
	size_t len;

	if (n->type != YAML_SCALAR_NODE)
		return tk_yw_fail_at(w, n->start_mark, "%s must be a single "
		    "value, not %s", key, tk_yw_kind(n));
	v = (const char *)n->data.scalar.value;
	len = n->data.scalar.length;
	if (strlen(v) != len)
		return tk_yw_fail_at(w, n->start_mark, "%s contains a NUL "
		    "character; remove it", key);
	if (tk_yw_is_null(n)) {
		v = "";
		len = 0;
	}
	if (len >= size)
		return tk_yw_fail_at(w, n->start_mark, "%s is %zu characters "
		    "long; the limit is %zu", key, len, size - 1);
	memcpy(dst, v, len + 1);
	return 0;
}

int
tk_yw_pair(tk_yaml_walk *w, const yaml_node_t *map,
    const yaml_node_pair_t *p, const char *const *keys, unsigned *seen,
    const char *where, const char *expected, int *idx, yaml_node_t **value)
{
	yaml_node_t *k = tk_yw_node(w, p->key);
	const char *name;
	int i;

	if (k == NULL || k->type != YAML_SCALAR_NODE)
		return tk_yw_fail_at(w, k != NULL ? k->start_mark :
		    w->doc->start_mark, "keys in %s must be plain names", where);
	name = (const char *)k->data.scalar.value;
	for (i = 0; i < 32 && keys[i] != NULL; i++)
		if (strcmp(keys[i], name) == 0)
			break;
	if (i == 32 || keys[i] == NULL)
		return tk_yw_fail_at(w, k->start_mark, "unknown key \"%.64s\" "
		    "in %s; expected %s", name, where, expected);
	if (*seen & (1u << i))
		return tk_yw_fail_at(w, k->start_mark, "key \"%s\" appears "
		    "twice in %s; keep one", name, where);
	*seen |= 1u << i;
	*idx = i;
	*value = tk_yw_node(w, p->value);
	if (*value == NULL)
		return tk_yw_fail_at(w, map->start_mark, "missing value");
	return 0;
}

yaml_node_t *
tk_yw_get(const tk_yaml_walk *w, const yaml_node_t *map, const char *key)
{
	const yaml_node_pair_t *p;
	const yaml_node_t *k;

	for (p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		k = tk_yw_node(w, p->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return tk_yw_node(w, p->value);
	}
	return NULL;
}

int
tk_yw_each(tk_yaml_walk *w, const yaml_node_t *n, const char *what,
    int (*one)(void *arg, const yaml_node_t *item), void *arg)
{
	yaml_node_item_t *it;
	yaml_node_t *e;

	if (tk_yw_want(w, n, YAML_SEQUENCE_NODE, what) != 0)
		return -1;
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		e = tk_yw_node(w, *it);
		if (e == NULL)
			return tk_yw_fail_at(w, n->start_mark, "missing %s entry",
			    what);
		if (one(arg, e) != 0)
			return -1;
	}
	return 0;
}
