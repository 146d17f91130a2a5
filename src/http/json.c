/*
 * json.c - strict request-body parsing for the API: one JSON object,
 * only known fields, each of the declared type and within its cap; params
 * canonicalised (compact, sorted keys) so the case digest is stable.
 *
 * Owns: tk_json_parse and the values it hands back (tk_jval).
 */
#include "http/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values longer than this are never echoed back into a message. */
#define NAME_ECHO 40

static int
check_string(const json_t *v, const char *name, size_t cap, tk_error *err,
    const char **out)
{
	size_t n;

	if (!json_is_string(v)) {
		(void)tk_fail(err, TK_ERR_INVALID, "field '%s' must be a "
		    "string", name);
		return -1;
	}
	n = json_string_length(v);
	if (n >= cap) {
		(void)tk_fail(err, TK_ERR_INVALID, "field '%s' is too long: "
		    "at most %zu bytes", name, cap - 1);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int
parse_list(const json_t *v, const tk_jfield *f, tk_jval *out, tk_error *err)
{
	size_t i, max = f->max_items;
	const json_t *it;

	if (max == 0 || max > TK_JLIST_MAX)
		max = TK_JLIST_MAX;
	if (!json_is_array(v)) {
		(void)tk_fail(err, TK_ERR_INVALID, "field '%s' must be an array "
		    "of strings", f->name);
		return -1;
	}
	if (json_array_size(v) > max) {
		(void)tk_fail(err, TK_ERR_INVALID, "field '%s' has too many "
		    "items: at most %zu", f->name, max);
		return -1;
	}
	json_array_foreach(v, i, it) {
		if (!json_is_string(it)) {
			(void)tk_fail(err, TK_ERR_INVALID, "field '%s' must be "
			    "an array of strings; item %zu is not a string",
			    f->name, i + 1);
			return -1;
		}
		if (json_string_length(it) >= f->cap || json_string_length(it)
		    == 0) {
			(void)tk_fail(err, TK_ERR_INVALID, "field '%s': item %zu "
			    "must be 1 to %zu bytes long", f->name, i + 1,
			    f->cap - 1);
			return -1;
		}
		out->items[i] = json_string_value(it);
	}
	out->n = json_array_size(v);
	return 0;
}

static int
parse_params(const json_t *v, const tk_jfield *f, tk_jval *out,
    tk_error *err)
{
	const char *key;
	const json_t *val;
	char *s;

	if (!json_is_object(v)) {
		(void)tk_fail(err, TK_ERR_INVALID, "field '%s' must be an "
		    "object whose values are strings", f->name);
		return -1;
	}
	json_object_foreach((json_t *)v, key, val) {
		if (!json_is_string(val)) {
			(void)tk_fail(err, TK_ERR_INVALID, "field '%s': value "
			    "of '%.*s' must be a string", f->name, NAME_ECHO,
			    key);
			return -1;
		}
		if (strlen(key) == 0 || strlen(key) >= TK_NAME_MAX) {
			(void)tk_fail(err, TK_ERR_INVALID, "field '%s': keys "
			    "must be 1 to %d bytes long", f->name,
			    TK_NAME_MAX - 1);
			return -1;
		}
	}
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	if (s == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (strlen(s) >= f->cap) {
		free(s);
		(void)tk_fail(err, TK_ERR_INVALID, "field '%s' is too large: "
		    "at most %zu bytes as compact JSON", f->name, f->cap - 1);
		return -1;
	}
	out->owned = s;
	out->s = s;
	return 0;
}

int
tk_json_parse(const char *body, size_t len, const tk_jfield *spec,
    size_t nspec, tk_jval *vals, json_t **root, tk_error *err)
{
	json_error_t jerr;
	json_t *j;
	const char *key;
	json_t *v;

	*root = NULL;
	memset(vals, 0, nspec * sizeof(*vals));
	if (body == NULL || len == 0) {
		(void)tk_fail(err, TK_ERR_INVALID, "the request body must be a "
		    "JSON object");
		return -1;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "malformed JSON at line %d "
		    "column %d: %.200s", jerr.line, jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		(void)tk_fail(err, TK_ERR_INVALID, "the request body must be a "
		    "JSON object");
		return -1;
	}
	json_object_foreach(j, key, v) {
		size_t i;

		for (i = 0; i < nspec; i++)
			if (strcmp(spec[i].name, key) == 0)
				break;
		if (i == nspec) {
			char shown[NAME_ECHO + 1];
			size_t k;

			/* Echo the name only as printable ASCII. */
			for (k = 0; k < NAME_ECHO && key[k] != '\0'; k++)
				shown[k] = (key[k] >= 0x20 && key[k] < 0x7f &&
				    key[k] != '\'') ? key[k] : '?';
			shown[k] = '\0';
			(void)tk_fail(err, TK_ERR_INVALID, "unknown field '%s%s'",
			    shown, key[k] != '\0' ? "..." : "");
			goto fail;
		}
		if (json_is_null(v))
			continue;
		switch (spec[i].type) {
		case TK_JSTR:
			if (check_string(v, spec[i].name, spec[i].cap, err,
			    &vals[i].s) != 0)
				goto fail;
			break;
		case TK_JSTRLIST:
			if (parse_list(v, &spec[i], &vals[i], err) != 0)
				goto fail;
			break;
		case TK_JPARAMS:
			if (parse_params(v, &spec[i], &vals[i], err) != 0)
				goto fail;
			break;
		}
		vals[i].present = true;
	}
	for (size_t i = 0; i < nspec; i++)
		if (spec[i].required && !vals[i].present) {
			(void)tk_fail(err, TK_ERR_INVALID, "field '%s' is "
			    "required", spec[i].name);
			goto fail;
		}
	*root = j;
	return 0;
fail:
	tk_json_vals_free(vals, nspec);
	json_decref(j);
	return -1;
}

void
tk_json_vals_free(tk_jval *vals, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(vals[i].owned);
		vals[i].owned = NULL;
		vals[i].s = NULL;
		vals[i].present = false;
		vals[i].n = 0;
	}
}
