/*
 * json.h - strict parsing of API request bodies: a JSON object whose
 * fields are checked against a small per-endpoint spec (names, types,
 * caps), so handlers only ever see validated, bounded values.
 *
 * Owns: the field spec types and the parser; it knows nothing of HTTP.
 */
#ifndef TK_HTTP_JSON_H
#define TK_HTTP_JSON_H

#include <jansson.h>

#include "core/tk.h"

enum tk_jtype {
	TK_JSTR,     /* a string (null = absent) */
	TK_JSTRLIST, /* an array of strings */
	TK_JPARAMS   /* an object of strings, canonicalised */
};

typedef struct tk_jfield {
	const char *name;
	enum tk_jtype type;
	size_t cap;       /* buffer size incl. NUL: strings, list items */
	size_t max_items; /* TK_JSTRLIST: most items accepted */
	bool required;
} tk_jfield;

#define TK_JLIST_MAX 16

typedef struct tk_jval {
	bool present;
	const char *s; /* TK_JSTR (borrowed from the root), TK_JPARAMS (owned) */
	const char *items[TK_JLIST_MAX]; /* TK_JSTRLIST, borrowed */
	size_t n;
	char *owned;   /* freed by tk_json_vals_free */
} tk_jval;

/*
 * Parses body[0..len) as a JSON object holding only the fields in spec.
 * vals[i] describes spec[i]. *root keeps the borrowed strings alive; the
 * caller releases it with json_decref after using vals, and calls
 * tk_json_vals_free. On error returns -1 with err = TK_ERR_INVALID and a
 * message naming the field.
 */
int tk_json_parse(const char *body, size_t len, const tk_jfield *spec,
    size_t nspec, tk_jval *vals, json_t **root, tk_error *err);
void tk_json_vals_free(tk_jval *vals, size_t n);

#endif
