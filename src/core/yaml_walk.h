/*
 * yaml_walk.h - walks a libyaml document tree for the loaders of the org,
 * policy and directory files: node lookup, typed access, bounded scalar
 * copies, allowed-key checks and "NAME:LINE:COL: message" errors.
 *
 * Owns: the wording these helpers share ("... must be a list, not a
 * mapping", "unknown key ... expected ...", "... is N characters long;
 * the limit is M"), so the files read alike. What a file means, and its
 * other messages, stay with its loader.
 */
#ifndef TK_YAML_WALK_H
#define TK_YAML_WALK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "core/tk.h"

/* One walk over one document. The loader fills in the first five fields;
 * the walk sets failed. */
typedef struct tk_yaml_walk {
	const char *file;       /* the NAME of NAME:LINE:COL */
	int file_max;           /* at most this many bytes of it; 0: all */
	bool utf8_trim;         /* drop a character cut by the 440-byte cap */
	tk_error *err;          /* receives the message (TK_ERR_INVALID) */
	yaml_document_t *doc;   /* the tree walked */
	bool failed;            /* a message was recorded; later ones are not */
} tk_yaml_walk;

/* Loads the first document of text into *w->doc. Returns 0; -1 after
 * recording "YAML syntax error: ..." at the problem; -2 when libyaml
 * could not start (out of memory; nothing recorded, the caller says so). */
int tk_yw_parse(tk_yaml_walk *w, const char *text, size_t len);

/* Records "NAME:LINE:COL: message" (LINE and COL 1-based) unless an
 * earlier failure of this walk was recorded. Returns -1. */
int tk_yw_vfail(tk_yaml_walk *w, size_t line, size_t col, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));

/* The same at a libyaml mark (0-based). Returns -1. */
int tk_yw_fail_at(tk_yaml_walk *w, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The node with this id, or NULL. */
yaml_node_t *tk_yw_node(const tk_yaml_walk *w, int id);

/* "a single value", "a list", "a mapping" or "nothing". */
const char *tk_yw_kind(const yaml_node_t *n);

/* Items in a sequence node. */
size_t tk_yw_seq_len(const yaml_node_t *n);

/* True for a plain empty or null scalar ("key:" with nothing after, ~,
 * null, Null, NULL). */
bool tk_yw_is_null(const yaml_node_t *n);

/* 0 when n is of type t, else -1 after "WHAT must be a list, not a
 * mapping" (and so on). */
int tk_yw_want(tk_yaml_walk *w, const yaml_node_t *n, yaml_node_type_t t,
    const char *what);

/* Copies scalar n into dst (size bytes with the NUL); a plain null reads
 * as "". Refuses, naming key, a list or mapping, a NUL inside, and a value
 * that does not fit. Returns 0 or -1. */
int tk_yw_scalar(tk_yaml_walk *w, const yaml_node_t *n, const char *key,
    char *dst, size_t size);

/* For pair p of mapping map: checks that its key is one of keys (NULL-
 * terminated, at most 32) and not in *seen, marks it there, and returns
 * its index in *idx and its value node in *value. `where` names the
 * mapping in messages ("a route"), `expected` lists the keys for a
 * person ("ops, kind, label or connector"). Returns 0 or -1. */
int tk_yw_pair(tk_yaml_walk *w, const yaml_node_t *map,
    const yaml_node_pair_t *p, const char *const *keys, unsigned *seen,
    const char *where, const char *expected, int *idx, yaml_node_t **value);

/* The value of the first scalar key named key in mapping map, or NULL. */
yaml_node_t *tk_yw_get(const tk_yaml_walk *w, const yaml_node_t *map,
    const char *key);

/* Calls one(arg, item) for each item of sequence n, stopping at the first
 * that fails. n must be a list ("WHAT must be a list, not ..."); a
 * missing item is "missing WHAT entry". Returns 0 or -1. */
int tk_yw_each(tk_yaml_walk *w, const yaml_node_t *n, const char *what,
    int (*one)(void *arg, const yaml_node_t *item), void *arg);

#endif
