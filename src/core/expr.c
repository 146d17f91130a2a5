/*
 * expr.c - the policy `when` language (see expr.h for the grammar).
 *
 * Owns: the lexer, the recursive-descent parser with compile-time type
 * checking, the compiled node tree and its evaluator. Field names are
 * resolved to enum ids at compile time; `and`/`or` chains compile to
 * n-ary nodes (children linked through `next`) so evaluation recursion is
 * bounded by the nesting depth cap, and evaluation never allocates.
 *
 * Error messages are "col N: what was wrong and what was expected", N
 * being the 1-based column (in characters) of the offending token.
 */
#include "core/expr.h"

#include "core/org.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPR_MAX_LEN 4096
#define EXPR_MAX_DEPTH 64
#define EXPR_MAX_LIST 64

/* Types of the language. */
enum type { TY_BOOL, TY_STRING, TY_SET, TY_LIST };

static const char *const type_names[] = {
	[TY_BOOL] = "bool", [TY_STRING] = "string", [TY_SET] = "set",
	[TY_LIST] = "list",
};

/* Fields, resolved at compile time. */
enum field {
	F_SUBJECT_ID = 0,
	F_SUBJECT_KIND,
	F_SUBJECT_LABELS,
	F_ACTION_NAME,
	F_ACTION_FAMILY,
	F_SIGNALS,
	F_CHANNEL,
	F_TICKET,
	F_REASON_CODE,
	F_TIER,
	F__COUNT,
	F_NONE = 0xff /* operand is a string literal */
};

static const struct {
	const char *name;
	enum type type;
} fields[F__COUNT] = {
	[F_SUBJECT_ID] = {"subject.id", TY_STRING},
	[F_SUBJECT_KIND] = {"subject.kind", TY_STRING},
	[F_SUBJECT_LABELS] = {"subject.labels", TY_SET},
	[F_ACTION_NAME] = {"action.name", TY_STRING},
	[F_ACTION_FAMILY] = {"action.family", TY_STRING},
	[F_SIGNALS] = {"signals", TY_SET},
	[F_CHANNEL] = {"channel", TY_STRING},
	[F_TICKET] = {"ticket", TY_STRING},
	[F_REASON_CODE] = {"reason_code", TY_STRING},
	[F_TIER] = {"tier", TY_STRING},
};

#define FIELD_LIST "subject.id, subject.kind, subject.labels, action.name, " \
	"action.family, signals, channel, ticket, reason_code, tier"

/* Compiled node operations. */
enum op {
	OP_TRUE, OP_FALSE, OP_NOT, OP_AND, OP_OR,
	OP_EQ, OP_NE,         /* string operands fa/a, fb/b */
	OP_BEQ, OP_BNE,       /* bool child nodes a, b */
	OP_HAS,               /* set field fa, string operand fb/b */
	OP_HAS_ANY, OP_HAS_ALL, /* set field fa, items b..b+n */
	OP_IN                 /* string operand fa/a, items b..b+n */
};

struct node {
	unsigned char op;
	unsigned char fa, fb; /* field ids, F_NONE for a literal */
	int32_t a, b;         /* child node, literal offset or first item */
	int32_t n;            /* item count */
	int32_t next;         /* next sibling under and/or, -1 at the end */
	int32_t cola, colb;   /* source columns of the operands */
};

struct item {
	int32_t off; /* offset of the string in chars */
	int32_t col;
};

struct tk_expr {
	struct node *nodes;
	struct item *items;
	char *chars;
	int32_t root;
	int32_t nnodes;
};

/* ---- compile state ---------------------------------------------------- */

enum tok_kind {
	TOK_EOF, TOK_STRING, TOK_NAME, TOK_LBRACK, TOK_RBRACK, TOK_COMMA,
	TOK_LPAREN, TOK_RPAREN, TOK_EQ, TOK_NE
};

struct tok {
	enum tok_kind kind;
	size_t pos;     /* byte offset of the token in src */
	size_t len;     /* bytes in src */
	int32_t str;    /* TOK_STRING: offset of the decoded text in chars */
};

struct cc {
	const char *src;
	size_t len;
	size_t pos;
	unsigned flags;
	struct tok tok;
	struct node *nodes;
	size_t nnodes, capnodes;
	struct item *items;
	size_t nitems, capitems;
	char *chars;
	size_t nchars, capchars;
	int depth;
	bool failed;
	tk_error *err;
	int errcol;
};

/* An operand (or sub-expression) while parsing, before it becomes part of a
 * node. */
enum opnd_kind { OK_NODE, OK_FIELD, OK_STR, OK_LIST };

struct opnd {
	enum type type;
	enum opnd_kind kind;
	int field;
	int32_t idx;  /* node index, literal offset, or first item */
	int32_t n;    /* list: item count */
	size_t pos;   /* source span, for messages */
	size_t len;
};

/* 1-based column, in characters, of byte offset pos. */
static int
col_of(const char *src, size_t pos)
{
	int col = 1;

	for (size_t i = 0; i < pos; i++)
		if (((unsigned char)src[i] & 0xC0) != 0x80)
			col++;
	return col;
}

static bool fail(struct cc *c, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool
fail(struct cc *c, size_t pos, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	int col;

	if (c->failed)
		return false;
	c->failed = true;
	col = col_of(c->src, pos);
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->errcol = col;
	(void)tk_fail(c->err, TK_ERR_INVALID, "col %d: %s", col, what);
	return false;
}

static bool
oom(struct cc *c)
{
	if (!c->failed) {
		c->failed = true;
		c->errcol = 1;
		(void)tk_fail(c->err, TK_ERR_INTERNAL,
		    "col 1: out of memory compiling expression");
	}
	return false;
}

static bool
grow(struct cc *c, void **buf, size_t *cap, size_t need, size_t size)
{
	size_t ncap;
	void *nb;

	if (need <= *cap)
		return true;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	nb = realloc(*buf, ncap * size);
	if (nb == NULL)
		return oom(c);
	*buf = nb;
	*cap = ncap;
	return true;
}

static int32_t
new_node(struct cc *c, enum op op)
{
	struct node *n;

	if (!grow(c, (void **)&c->nodes, &c->capnodes, c->nnodes + 1,
	    sizeof(*c->nodes)))
		return -1;
	n = &c->nodes[c->nnodes];
	memset(n, 0, sizeof(*n));
	n->op = (unsigned char)op;
	n->fa = n->fb = F_NONE;
	n->a = n->b = n->next = -1;
	return (int32_t)c->nnodes++;
}

/* ---- lexer ---------------------------------------------------------------- */

static bool
is_name_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    ch == '_';
}

static bool
is_name_char(char ch)
{
	return is_name_start(ch) || (ch >= '0' && ch <= '9') || ch == '.';
}

/* Decodes a string literal starting at the opening quote. */
static bool
lex_string(struct cc *c, size_t start)
{
	size_t i = start + 1;
	size_t off = c->nchars;

	for (;;) {
		char ch;

		if (i >= c->len)
			return fail(c, start, "unterminated string: add a closing"
			    " \" to the string that starts here");
		ch = c->src[i];
		if (ch == '"')
			break;
		if (ch == '\\') {
			char nx = i + 1 < c->len ? c->src[i + 1] : '\0';

			if (nx != '"' && nx != '\\')
				return fail(c, i, "unknown escape in string: only"
				    " \\\" and \\\\ are allowed");
			ch = nx;
			i++;
		}
		if (!grow(c, (void **)&c->chars, &c->capchars, c->nchars + 2, 1))
			return false;
		c->chars[c->nchars++] = ch;
		i++;
	}
	if (!grow(c, (void **)&c->chars, &c->capchars, c->nchars + 1, 1))
		return false;
	c->chars[c->nchars++] = '\0';
	c->tok.kind = TOK_STRING;
	c->tok.str = (int32_t)off;
	c->tok.len = i + 1 - start;
	c->pos = i + 1;
	return true;
}

/* Reads the next token into c->tok. */
static bool
next(struct cc *c)
{
	const char *s = c->src;
	size_t i = c->pos;
	char ch;

	while (i < c->len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
	    s[i] == '\r'))
		i++;
	c->tok.pos = i;
	c->tok.len = 1;
	c->tok.str = -1;
	if (i >= c->len) {
		c->tok.kind = TOK_EOF;
		c->tok.len = 0;
		c->pos = i;
		return true;
	}
	ch = s[i];
	if (ch == '"')
		return lex_string(c, i);
	if (is_name_start(ch)) {
		size_t j = i;

		while (j < c->len && is_name_char(s[j]))
			j++;
		c->tok.kind = TOK_NAME;
		c->tok.len = j - i;
		c->pos = j;
		return true;
	}
	c->pos = i + 1;
	switch (ch) {
	case '[': c->tok.kind = TOK_LBRACK; return true;
	case ']': c->tok.kind = TOK_RBRACK; return true;
	case ',': c->tok.kind = TOK_COMMA; return true;
	case '(': c->tok.kind = TOK_LPAREN; return true;
	case ')': c->tok.kind = TOK_RPAREN; return true;
	case '=':
		if (i + 1 < c->len && s[i + 1] == '=') {
			c->tok.kind = TOK_EQ;
			c->tok.len = 2;
			c->pos = i + 2;
			return true;
		}
		return fail(c, i, "`=` is not an operator: use `==` to compare");
	case '!':
		if (i + 1 < c->len && s[i + 1] == '=') {
			c->tok.kind = TOK_NE;
			c->tok.len = 2;
			c->pos = i + 2;
			return true;
		}
		return fail(c, i, "`!` is not an operator: use `not` (or `!=`)");
	case '&':
		return fail(c, i, "`&` is not an operator: use `and`");
	case '|':
		return fail(c, i, "`|` is not an operator: use `or`");
	case '\'':
		return fail(c, i, "strings are written in double quotes"
		    " (\"like this\"), not single quotes");
	default:
		if ((unsigned char)ch < 0x20 || ch == 0x7f)
			return fail(c, i, "unexpected control character (0x%02x)",
			    (unsigned)(unsigned char)ch);
		return fail(c, i, "unexpected character `%c`: expected a field,"
		    " a \"string\", a [list], true, false, not, ( or )", ch);
	}
}

static bool
tok_is(const struct cc *c, const char *word)
{
	size_t n = strlen(word);

	return c->tok.kind == TOK_NAME && c->tok.len == n &&
	    memcmp(c->src + c->tok.pos, word, n) == 0;
}

/* Describes the current token for messages ("`)`", "end of expression"). */
static void
tok_desc(const struct cc *c, char *buf, size_t size)
{
	size_t n = c->tok.len;

	if (c->tok.kind == TOK_EOF) {
		(void)tk_strlcpy(buf, "the end of the expression", size);
		return;
	}
	if (n > 40)
		n = 40;
	(void)snprintf(buf, size, "`%.*s%s`", (int)n, c->src + c->tok.pos,
	    n < c->tok.len ? "..." : "");
}

/* Describes an operand: "string subject.kind", "list [...]". */
static void
opnd_desc(const struct cc *c, const struct opnd *o, char *buf, size_t size)
{
	size_t n = o->len;

	if (o->kind == OK_NODE && o->type == TY_BOOL && !(o->len == 4 &&
	    memcmp(c->src + o->pos, "true", 4) == 0) && !(o->len == 5 &&
	    memcmp(c->src + o->pos, "false", 5) == 0)) {
		(void)snprintf(buf, size, "a true/false expression");
		return;
	}
	if (n > 40)
		n = 40;
	(void)snprintf(buf, size, "%s %.*s%s", type_names[o->type], (int)n,
	    c->src + o->pos, n < o->len ? "..." : "");
}

/* ---- parser ---------------------------------------------------------------- */

static bool parse_or(struct cc *c, struct opnd *out);

static bool
enter(struct cc *c, size_t pos)
{
	if (++c->depth > EXPR_MAX_DEPTH)
		return fail(c, pos, "expression nested deeper than %d levels"
		    " (parentheses and `not`): simplify it", EXPR_MAX_DEPTH);
	return true;
}

static bool
parse_list(struct cc *c, struct opnd *o)
{
	size_t open = c->tok.pos;
	int32_t first = (int32_t)c->nitems;
	int32_t n = 0;

	if (!next(c))
		return false;
	for (;;) {
		char got[64];

		if (c->tok.kind != TOK_STRING) {
			tok_desc(c, got, sizeof(got));
			if (n == 0 && c->tok.kind == TOK_RBRACK)
				return fail(c, c->tok.pos, "empty list: a list"
				    " needs at least one \"string\"");
			return fail(c, c->tok.pos, "expected a \"string\" in the"
			    " list, got %s", got);
		}
		if (n == EXPR_MAX_LIST)
			return fail(c, c->tok.pos, "list has more than %d items",
			    EXPR_MAX_LIST);
		if (!grow(c, (void **)&c->items, &c->capitems, c->nitems + 1,
		    sizeof(*c->items)))
			return false;
		c->items[c->nitems].off = c->tok.str;
		c->items[c->nitems].col = col_of(c->src, c->tok.pos);
		c->nitems++;
		n++;
		if (!next(c))
			return false;
		if (c->tok.kind == TOK_RBRACK)
			break;
		if (c->tok.kind != TOK_COMMA) {
			tok_desc(c, got, sizeof(got));
			return fail(c, c->tok.pos, "expected `,` or `]` in the list"
			    " started at col %d, got %s", col_of(c->src, open),
			    got);
		}
		if (!next(c))
			return false;
	}
	o->type = TY_LIST;
	o->kind = OK_LIST;
	o->idx = first;
	o->n = n;
	o->len = c->tok.pos + 1 - open;
	return next(c);
}

static bool
parse_operand(struct cc *c, struct opnd *o)
{
	char got[64];

	memset(o, 0, sizeof(*o));
	o->pos = c->tok.pos;
	o->len = c->tok.len;
	o->field = F_NONE;
	switch (c->tok.kind) {
	case TOK_STRING:
		o->type = TY_STRING;
		o->kind = OK_STR;
		o->idx = c->tok.str;
		return next(c);
	case TOK_LBRACK:
		return parse_list(c, o);
	case TOK_LPAREN: {
		size_t open = c->tok.pos;

		if (!enter(c, open) || !next(c) || !parse_or(c, o))
			return false;
		if (c->tok.kind != TOK_RPAREN) {
			tok_desc(c, got, sizeof(got));
			return fail(c, c->tok.pos, "expected `)` to close the `(`"
			    " at col %d, got %s", col_of(c->src, open), got);
		}
		c->depth--;
		o->len = c->tok.pos + 1 - open;
		o->pos = open;
		return next(c);
	}
	case TOK_NAME:
		break;
	default:
		tok_desc(c, got, sizeof(got));
		return fail(c, c->tok.pos, "expected a value (a field, a"
		    " \"string\", a [list], true, false, not or `(`), got %s",
		    got);
	}
	if (tok_is(c, "true") || tok_is(c, "false")) {
		int32_t n = new_node(c, tok_is(c, "true") ? OP_TRUE : OP_FALSE);

		if (n < 0)
			return false;
		o->type = TY_BOOL;
		o->kind = OK_NODE;
		o->idx = n;
		return next(c);
	}
	if (tok_is(c, "and") || tok_is(c, "or") || tok_is(c, "has") ||
	    tok_is(c, "has_any") || tok_is(c, "has_all") || tok_is(c, "in")) {
		tok_desc(c, got, sizeof(got));
		return fail(c, c->tok.pos, "expected a value (a field, a"
		    " \"string\", a [list], true, false, not or `(`), got"
		    " operator %s", got);
	}
	for (int f = 0; f < F__COUNT; f++) {
		if (!tok_is(c, fields[f].name))
			continue;
		if (f == F_TIER && !(c->flags & TK_EXPR_ALLOW_TIER))
			return fail(c, c->tok.pos, "`tier` can only be used in"
			    " deny rules: while tiers are being chosen the tier"
			    " is not known yet");
		o->type = fields[f].type;
		o->kind = OK_FIELD;
		o->field = f;
		return next(c);
	}
	tok_desc(c, got, sizeof(got));
	return fail(c, c->tok.pos, "unknown field %s; fields are " FIELD_LIST,
	    got);
}

/* Turns a parsed operand into a bool node, or fails naming `what`. */
static bool
as_bool(struct cc *c, const struct opnd *o, const char *what, int32_t *node)
{
	char d[80];

	if (o->type == TY_BOOL) {
		*node = o->idx;
		return true;
	}
	opnd_desc(c, o, d, sizeof(d));
	if (o->type == TY_STRING)
		return fail(c, o->pos, "%s needs true/false, got %s; compare"
		    " it, e.g. %.*s == \"...\"", what, d, (int)(o->len > 40 ?
		    40 : o->len), c->src + o->pos);
	if (o->type == TY_SET)
		return fail(c, o->pos, "%s needs true/false, got %s; test it"
		    " with has, has_any or has_all", what, d);
	return fail(c, o->pos, "%s needs true/false, got %s; a list can"
	    " only follow has_any, has_all or in", what, d);
}

static void
set_str_operand(struct node *n, const struct opnd *o, bool left, int col)
{
	if (left) {
		n->fa = (unsigned char)(o->kind == OK_FIELD ? o->field : F_NONE);
		n->a = o->kind == OK_FIELD ? -1 : o->idx;
		n->cola = col;
	} else {
		n->fb = (unsigned char)(o->kind == OK_FIELD ? o->field : F_NONE);
		n->b = o->kind == OK_FIELD ? -1 : o->idx;
		n->colb = col;
	}
}

/* After a comparison only `and`, `or`, `)` or the end may follow; a word
 * there is usually a misspelt operator. */
static bool
after_cmp(struct cc *c)
{
	char got[64];

	if (c->tok.kind != TOK_NAME || tok_is(c, "and") || tok_is(c, "or"))
		return true;
	tok_desc(c, got, sizeof(got));
	return fail(c, c->tok.pos, "unknown operator %s: expected ==, !=, has,"
	    " has_any, has_all, in, and, or", got);
}

static bool
parse_cmp(struct cc *c, struct opnd *o)
{
	struct opnd r;
	char opname[16], dl[80], dr[80];
	enum op op;
	int32_t n;

	if (!parse_operand(c, o))
		return false;
	if (c->tok.kind == TOK_EQ)
		op = OP_EQ;
	else if (c->tok.kind == TOK_NE)
		op = OP_NE;
	else if (tok_is(c, "has"))
		op = OP_HAS;
	else if (tok_is(c, "has_any"))
		op = OP_HAS_ANY;
	else if (tok_is(c, "has_all"))
		op = OP_HAS_ALL;
	else if (tok_is(c, "in"))
		op = OP_IN;
	else
		return after_cmp(c);
	(void)snprintf(opname, sizeof(opname), "`%.*s`", (int)c->tok.len,
	    c->src + c->tok.pos);
	if (!next(c) || !parse_operand(c, &r))
		return false;
	opnd_desc(c, o, dl, sizeof(dl));
	opnd_desc(c, &r, dr, sizeof(dr));

	switch (op) {
	case OP_EQ:
	case OP_NE:
		if (o->type == TY_SET || o->type == TY_LIST)
			return fail(c, o->pos, "%s compares two strings or two"
			    " bools, got %s on its left%s", opname, dl,
			    o->type == TY_SET ? "; test a set with has, has_any"
			    " or has_all" : "");
		if (r.type == TY_SET || r.type == TY_LIST)
			return fail(c, r.pos, "%s compares two strings or two"
			    " bools, got %s on its right%s", opname, dr,
			    r.type == TY_LIST ? "; to test membership in a list"
			    " use `in`" : "");
		if (o->type != r.type)
			return fail(c, r.pos, "%s compares two strings or two"
			    " bools: the left is %s, the right is %s", opname,
			    dl, dr);
		if (o->type == TY_BOOL) {
			n = new_node(c, op == OP_EQ ? OP_BEQ : OP_BNE);
			if (n < 0)
				return false;
			c->nodes[n].a = o->idx;
			c->nodes[n].b = r.idx;
		} else {
			n = new_node(c, op);
			if (n < 0)
				return false;
			set_str_operand(&c->nodes[n], o, true,
			    col_of(c->src, o->pos));
			set_str_operand(&c->nodes[n], &r, false,
			    col_of(c->src, r.pos));
		}
		break;
	case OP_HAS:
	case OP_HAS_ANY:
	case OP_HAS_ALL:
		if (o->type != TY_SET)
			return fail(c, o->pos, "%s needs a set on its left"
			    " (subject.labels or signals), got %s", opname, dl);
		if (op == OP_HAS && r.type != TY_STRING)
			return fail(c, r.pos, "%s needs a string on its right,"
			    " got %s%s", opname, dr, r.type == TY_LIST ?
			    "; for a list use has_any or has_all" : "");
		if (op != OP_HAS && r.type != TY_LIST)
			return fail(c, r.pos, "%s needs a [list] of strings on"
			    " its right, got %s%s", opname, dr,
			    r.type == TY_STRING ? "; for one string use has" :
			    "");
		n = new_node(c, op);
		if (n < 0)
			return false;
		c->nodes[n].fa = (unsigned char)o->field;
		c->nodes[n].cola = col_of(c->src, o->pos);
		if (op == OP_HAS) {
			set_str_operand(&c->nodes[n], &r, false,
			    col_of(c->src, r.pos));
		} else {
			c->nodes[n].b = r.idx;
			c->nodes[n].n = r.n;
		}
		break;
	default: /* OP_IN */
		if (o->type != TY_STRING)
			return fail(c, o->pos, "`in` needs a string on its left,"
			    " got %s%s", dl, o->type == TY_SET ? "; for a set"
			    " use has_any or has_all" : "");
		if (r.type != TY_LIST)
			return fail(c, r.pos, "`in` needs a [list] of strings on"
			    " its right, got %s%s", dr, r.type == TY_SET ?
			    "; to test a set use has" : "");
		n = new_node(c, OP_IN);
		if (n < 0)
			return false;
		set_str_operand(&c->nodes[n], o, true, col_of(c->src, o->pos));
		c->nodes[n].b = r.idx;
		c->nodes[n].n = r.n;
		break;
	}
	o->len = r.pos + r.len - o->pos;
	o->type = TY_BOOL;
	o->kind = OK_NODE;
	o->idx = n;
	o->field = F_NONE;
	return after_cmp(c);
}

static bool
parse_not(struct cc *c, struct opnd *o)
{
	size_t pos;
	int32_t child = -1, n;

	if (!tok_is(c, "not"))
		return parse_cmp(c, o);
	pos = c->tok.pos;
	if (!enter(c, pos) || !next(c) || !parse_not(c, o))
		return false;
	c->depth--;
	if (!as_bool(c, o, "`not`", &child))
		return false;
	n = new_node(c, OP_NOT);
	if (n < 0)
		return false;
	c->nodes[n].a = child;
	o->len = o->pos + o->len - pos;
	o->pos = pos;
	o->idx = n;
	return true;
}

/* and := not ("and" not)*, or := and ("or" and)*: n-ary nodes. */
static bool
parse_chain(struct cc *c, struct opnd *o, const char *word, enum op op,
    bool (*sub)(struct cc *, struct opnd *))
{
	char what[16];
	struct opnd r;
	int32_t n, child = -1, last;

	if (!sub(c, o))
		return false;
	if (!tok_is(c, word))
		return true;
	(void)snprintf(what, sizeof(what), "`%s`", word);
	if (!as_bool(c, o, what, &child))
		return false;
	n = new_node(c, op);
	if (n < 0)
		return false;
	c->nodes[n].a = child;
	last = child;
	while (tok_is(c, word)) {
		if (!next(c) || !sub(c, &r) || !as_bool(c, &r, what, &child))
			return false;
		c->nodes[last].next = child;
		last = child;
		o->len = r.pos + r.len - o->pos;
	}
	o->type = TY_BOOL;
	o->kind = OK_NODE;
	o->idx = n;
	return true;
}

static bool
parse_and(struct cc *c, struct opnd *o)
{
	return parse_chain(c, o, "and", OP_AND, parse_not);
}

static bool
parse_or(struct cc *c, struct opnd *o)
{
	return parse_chain(c, o, "or", OP_OR, parse_and);
}

static void
cc_free(struct cc *c)
{
	free(c->nodes);
	free(c->items);
	free(c->chars);
	c->nodes = NULL;
	c->items = NULL;
	c->chars = NULL;
}

tk_expr *
tk_expr_compile(const char *src, unsigned flags, tk_error *err, int *errcol)
{
	struct cc c;
	struct opnd o;
	int32_t root;
	tk_expr *e;

	memset(&c, 0, sizeof(c));
	if (errcol != NULL)
		*errcol = 0;
	c.src = src != NULL ? src : "";
	c.len = strlen(c.src);
	c.flags = flags;
	c.err = err;
	if (c.len > EXPR_MAX_LEN) {
		(void)fail(&c, EXPR_MAX_LEN, "expression is longer than %d"
		    " characters: split it or simplify it", EXPR_MAX_LEN);
		goto bad;
	}
	if (!next(&c))
		goto bad;
	if (c.tok.kind == TOK_EOF) {
		(void)fail(&c, c.tok.pos, "empty expression: write `true` to"
		    " match everything");
		goto bad;
	}
	if (!parse_or(&c, &o))
		goto bad;
	if (c.tok.kind != TOK_EOF) {
		char got[64];

		tok_desc(&c, got, sizeof(got));
		(void)fail(&c, c.tok.pos, "expected `and`, `or`, `)` or the end"
		    " of the expression, got %s", got);
		goto bad;
	}
	if (o.type != TY_BOOL) {
		char d[80];

		opnd_desc(&c, &o, d, sizeof(d));
		(void)fail(&c, o.pos, "the expression must be true or false,"
		    " got %s%s", d, o.type == TY_STRING ? "; compare it with =="
		    " or !=" : o.type == TY_SET ? "; test it with has, has_any"
		    " or has_all" : "");
		goto bad;
	}
	root = o.idx;
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		(void)oom(&c);
		goto bad;
	}
	e->nodes = c.nodes;
	e->items = c.items;
	e->chars = c.chars;
	e->root = root;
	e->nnodes = (int32_t)c.nnodes;
	return e;
bad:
	if (errcol != NULL)
		*errcol = c.errcol;
	cc_free(&c);
	return NULL;
}

void
tk_expr_free(tk_expr *e)
{
	if (e == NULL)
		return;
	free(e->nodes);
	free(e->items);
	free(e->chars);
	free(e);
}

/* ---- evaluation -------------------------------------------------------- */

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static const char *
field_str(const tk_facts *f, unsigned field)
{
	switch (field) {
	case F_SUBJECT_ID:
		return f->subject != NULL ? f->subject->id : "";
	case F_SUBJECT_KIND:
		if (f->subject == NULL)
			return "";
		return f->subject->kind == TK_SUBJECT_NHI ? "nhi" : "person";
	case F_ACTION_NAME: return nz(f->action);
	case F_ACTION_FAMILY: return nz(f->family);
	case F_CHANNEL: return nz(f->channel);
	case F_TICKET: return nz(f->ticket);
	case F_REASON_CODE: return nz(f->reason_code);
	case F_TIER: return nz(f->tier);
	default: return "";
	}
}

static const char *
sval(const tk_expr *e, const tk_facts *f, unsigned field, int32_t off)
{
	return field == F_NONE ? e->chars + off : field_str(f, field);
}

static bool
set_has(const tk_facts *f, unsigned field, const char *s)
{
	if (field == F_SUBJECT_LABELS) {
		const tk_subject *sub = f->subject;

		if (sub == NULL)
			return false;
		for (int i = 0; i < sub->nlabels && i < TK_MAX_LABELS; i++)
			if (strcmp(sub->labels[i], s) == 0)
				return true;
		return false;
	}
	for (size_t i = 0; i < f->nsignals; i++)
		if (f->signals[i] != NULL && strcmp(f->signals[i], s) == 0)
			return true;
	return false;
}

static bool
eval_node(const tk_expr *e, int32_t i, const tk_facts *f)
{
	const struct node *n = &e->nodes[i];
	const char *s;

	switch ((enum op)n->op) {
	case OP_TRUE:
		return true;
	case OP_FALSE:
		return false;
	case OP_NOT:
		return !eval_node(e, n->a, f);
	case OP_AND:
		for (int32_t k = n->a; k >= 0; k = e->nodes[k].next)
			if (!eval_node(e, k, f))
				return false;
		return true;
	case OP_OR:
		for (int32_t k = n->a; k >= 0; k = e->nodes[k].next)
			if (eval_node(e, k, f))
				return true;
		return false;
	case OP_EQ:
		return strcmp(sval(e, f, n->fa, n->a), sval(e, f, n->fb, n->b))
		    == 0;
	case OP_NE:
		return strcmp(sval(e, f, n->fa, n->a), sval(e, f, n->fb, n->b))
		    != 0;
	case OP_BEQ:
		return eval_node(e, n->a, f) == eval_node(e, n->b, f);
	case OP_BNE:
		return eval_node(e, n->a, f) != eval_node(e, n->b, f);
	case OP_HAS:
		return set_has(f, n->fa, sval(e, f, n->fb, n->b));
	case OP_HAS_ANY:
		for (int32_t k = 0; k < n->n; k++)
			if (set_has(f, n->fa, e->chars + e->items[n->b + k].off))
				return true;
		return false;
	case OP_HAS_ALL:
		for (int32_t k = 0; k < n->n; k++)
			if (!set_has(f, n->fa, e->chars + e->items[n->b + k].off))
				return false;
		return true;
	case OP_IN:
		s = sval(e, f, n->fa, n->a);
		for (int32_t k = 0; k < n->n; k++)
			if (strcmp(s, e->chars + e->items[n->b + k].off) == 0)
				return true;
		return false;
	}
	return false;
}

int
tk_expr_tier_literals(const tk_expr *e,
    int (*fn)(const char *lit, int col, void *ctx), void *ctx)
{
	int32_t i;
	int rc = 0;

	if (e == NULL || fn == NULL)
		return 0;
	for (i = 0; i < e->nnodes && rc == 0; i++) {
		const struct node *n = &e->nodes[i];

		if (n->op == OP_EQ || n->op == OP_NE) {
			if (n->fa == F_TIER && n->fb == F_NONE)
				rc = fn(e->chars + n->b, n->colb, ctx);
			else if (n->fb == F_TIER && n->fa == F_NONE)
				rc = fn(e->chars + n->a, n->cola, ctx);
		} else if (n->op == OP_IN && n->fa == F_TIER) {
			for (int32_t k = 0; k < n->n && rc == 0; k++)
				rc = fn(e->chars + e->items[n->b + k].off,
				    e->items[n->b + k].col, ctx);
		}
	}
	return rc;
}

bool
tk_expr_eval(const tk_expr *e, const tk_facts *f)
{
	if (e == NULL || f == NULL)
		return false;
	return eval_node(e, e->root, f);
}
