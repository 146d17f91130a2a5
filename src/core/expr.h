/*
 * expr.h - the policy's `when` language: a small typed expression language
 * compiled once at load and evaluated per decision without allocation.
 *
 * Owns: lexing, parsing, type checking and evaluating expressions.
 *
 * Grammar (lowest precedence first):
 *   expr    := or
 *   or      := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | cmp
 *   cmp     := operand (("==" | "!=") operand
 *                      | ("has" | "has_any" | "has_all" | "in") operand)?
 *   operand := "true" | "false" | STRING | "[" STRING ("," STRING)* "]"
 *            | FIELD | "(" expr ")"
 * Fields: subject.id, subject.kind, subject.labels (set), action.name,
 *         action.family, signals (set), channel, ticket, reason_code,
 *         tier (string; only where the caller allows it: deny rules).
 * Types: bool, string, set (labels/signals), list (literal). Checked at
 * compile: `==`/`!=` need two strings (or two bools); `has` needs set and
 * string; `has_any`/`has_all` need set and list; `in` needs string and
 * list; `and`/`or`/`not` need bools; the whole expression must be bool.
 * Strings are double-quoted, with \" and \\ escapes.
 */
#ifndef TK_EXPR_H
#define TK_EXPR_H

#include "core/tk.h"

struct tk_subject;

typedef struct tk_expr tk_expr;

/* The facts an expression is evaluated against. Pointers are borrowed. */
typedef struct tk_facts {
	const struct tk_subject *subject;
	const char *action;       /* action name */
	const char *family;       /* action family */
	const char *const *signals;
	size_t nsignals;
	const char *channel;
	const char *ticket;       /* "" when none */
	const char *reason_code;  /* "" when none */
	const char *tier;         /* "" until the tier is known */
} tk_facts;

#define TK_EXPR_ALLOW_TIER 1u /* the `tier` field may be used */

/*
 * Compiles src. On error returns NULL and fills err with
 * TK_ERR_INVALID and "col N: what" where N is the 1-based column in src
 * of the offending token; *errcol (if non-NULL) gets N so the caller can
 * translate to a file position.
 */
tk_expr *tk_expr_compile(const char *src, unsigned flags, tk_error *err,
    int *errcol);
void tk_expr_free(tk_expr *e);

/* Calls fn(literal, col, ctx) for each string literal the expression
 * compares with the `tier` field (==, != or in), col being its 1-based
 * column in the source, so a policy can refuse a tier name that does not
 * exist. Returns the first non-zero value fn returns, or 0. */
int tk_expr_tier_literals(const tk_expr *e,
    int (*fn)(const char *lit, int col, void *ctx), void *ctx);

/* Evaluates a compiled expression. Cannot fail. */
bool tk_expr_eval(const tk_expr *e, const tk_facts *f);

#endif
