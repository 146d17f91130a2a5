/*
 * render.c - the console's template renderer: a small Mustache subset
 * (web_int.h) over jansson values, always HTML-escaped, and the embedded
 * templates and assets it renders and serves.
 *
 * Templates are embedded by assets.S as a table of (name, start, end)
 * blobs. They are parsed once, on first use (pthread_once), into flat node
 * arrays; a section node records where its body ends, so rendering is a
 * walk over an array with a small context stack and no allocation other
 * than the output buffer. A template that does not parse is kept with its
 * error: rendering it fails with that message (a bug, shown as a 500).
 *
 * Owns: the parsed templates (never freed: they live as long as the
 * process), the output buffer, web_render, web_page_send and web_asset.
 * Thread safety: after the one-time parse everything is read-only.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/web_int.h"

/* ---- the embedded blobs (assets.S) ------------------------------------- */

struct web_blob {
	const char *name;
	const char *start, *end;
};
extern const struct web_blob web_blobs[], web_blobs_end[];

#define OUT_MAX (16u * 1024 * 1024) /* a page larger than this is a bug */
#define CTX_MAX 32                  /* nested sections */
#define PARTIAL_DEPTH 8             /* nested partials */
#define NAME_MAX_LEN 64             /* a tag's name */

enum node_kind { N_TEXT, N_VAR, N_SECTION, N_INVERTED, N_PARTIAL };

struct node {
	enum node_kind kind;
	const char *text;   /* N_TEXT: into the template source */
	size_t len;
	char name[NAME_MAX_LEN]; /* dots replaced by NULs; "." = current */
	int nparts;         /* parts of a dotted name */
	size_t end;         /* sections: index of the node after the body */
	int partial;        /* N_PARTIAL: template index, -1 = the body */
};

struct tmpl {
	const char *name;
	const char *src;
	size_t len;
	struct node *nodes;
	size_t n;
	char err[200];      /* "" when it parsed */
};

static struct tmpl *tmpls;
static size_t ntmpls;
static pthread_once_t tmpl_once = PTHREAD_ONCE_INIT;

static int
tmpl_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ntmpls; i++)
		if (strncmp(tmpls[i].name, name, len) == 0 &&
		    tmpls[i].name[len] == '\0')
			return (int)i;
	return -1;
}

/* ---- parsing ------------------------------------------------------------ */

static int
line_of(const char *src, const char *p)
{
	int line = 1;

	for (; src < p; src++)
		if (*src == '\n')
			line++;
	return line;
}

static int
push_node(struct tmpl *t, size_t *cap, const struct node *n)
{
	struct node *nn;

	if (t->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;

		nn = realloc(t->nodes, ncap * sizeof(*nn));
		if (nn == NULL)
			return -1;
		t->nodes = nn;
		*cap = ncap;
	}
	t->nodes[t->n++] = *n;
	return 0;
}

/* Parses t->src into t->nodes; on failure t->err says where and why.
 * with_body: "{{>body}}" names the page a layout wraps. */
static int
tmpl_parse(struct tmpl *t, bool with_body)
{
	const char *p = t->src, *end = t->src + t->len;
	size_t open[CTX_MAX], nopen = 0, cap = 0;
	struct node n;

	t->nodes = NULL;
	t->n = 0;
	t->err[0] = '\0';
	while (p < end) {
		const char *tag = NULL, *close, *nm;
		size_t nlen;
		char sigil;

		for (const char *q = p; q + 1 < end; q++)
			if (q[0] == '{' && q[1] == '{') {
				tag = q;
				break;
			}
		if (tag == NULL)
			tag = end;
		if (tag > p) {
			memset(&n, 0, sizeof(n));
			n.kind = N_TEXT;
			n.text = p;
			n.len = (size_t)(tag - p);
			if (push_node(t, &cap, &n) != 0)
				goto oom;
		}
		if (tag == end)
			break;
		close = NULL;
		for (const char *q = tag + 2; q + 1 < end; q++)
			if (q[0] == '}' && q[1] == '}') {
				close = q;
				break;
			}
		if (close == NULL) {
			(void)snprintf(t->err, sizeof(t->err), "line %d: '{{' "
			    "is never closed with '}}'", line_of(t->src, tag));
			return -1;
		}
		nm = tag + 2;
		sigil = *nm;
		if (sigil == '!') { /* a comment */
			p = close + 2;
			continue;
		}
		if (sigil == '#' || sigil == '^' || sigil == '/' ||
		    sigil == '>')
			nm++;
		else if (sigil == '{' || sigil == '&' || sigil == '=') {
			(void)snprintf(t->err, sizeof(t->err), "line %d: '{{%c' "
			    "is not supported: every value is HTML-escaped",
			    line_of(t->src, tag), sigil);
			return -1;
		}
		while (nm < close && (*nm == ' ' || *nm == '\t'))
			nm++;
		nlen = (size_t)(close - nm);
		while (nlen > 0 && (nm[nlen - 1] == ' ' || nm[nlen - 1] == '\t'))
			nlen--;
		if (nlen == 0 || nlen >= NAME_MAX_LEN) {
			(void)snprintf(t->err, sizeof(t->err), "line %d: a tag "
			    "needs a name of 1 to %d characters",
			    line_of(t->src, tag), NAME_MAX_LEN - 1);
			return -1;
		}
		for (size_t i = 0; i < nlen; i++) {
			char c = nm[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
			    c == '-')) {
				(void)snprintf(t->err, sizeof(t->err), "line %d: "
				    "tag name '%.*s' may only have letters, "
				    "digits, '_', '-' and '.'",
				    line_of(t->src, tag), (int)nlen, nm);
				return -1;
			}
		}
		memset(&n, 0, sizeof(n));
		memcpy(n.name, nm, nlen);
		n.name[nlen] = '\0';
		n.nparts = 1;
		if (strcmp(n.name, ".") != 0)
			for (size_t i = 0; i < nlen; i++)
				if (n.name[i] == '.') {
					if (i == 0 || i + 1 == nlen ||
					    n.name[i + 1] == '.') {
						(void)snprintf(t->err,
						    sizeof(t->err), "line %d: "
						    "malformed dotted name '%.*s'",
						    line_of(t->src, tag), (int)nlen,
						    nm);
						return -1;
					}
					n.name[i] = '\0';
					n.nparts++;
				}
		switch (sigil) {
		case '#':
		case '^':
			if (nopen == CTX_MAX) {
				(void)snprintf(t->err, sizeof(t->err), "line %d: "
				    "sections nest deeper than %d",
				    line_of(t->src, tag), CTX_MAX);
				return -1;
			}
			n.kind = sigil == '#' ? N_SECTION : N_INVERTED;
			open[nopen++] = t->n;
			if (push_node(t, &cap, &n) != 0)
				goto oom;
			break;
		case '/': {
			struct node *o;
			if (nopen == 0) {
				(void)snprintf(t->err, sizeof(t->err), "line %d: "
				    "'{{/%.*s}}' closes no open section",
				    line_of(t->src, tag), (int)nlen, nm);
				return -1;
			}
			o = &t->nodes[open[nopen - 1]];
			if (memcmp(o->name, n.name, sizeof(n.name)) != 0) {
				(void)snprintf(t->err, sizeof(t->err), "line %d: "
				    "'{{/%.*s}}' closes a different section than "
				    "the one open", line_of(t->src, tag),
				    (int)nlen, nm);
				return -1;
			}
			o->end = t->n;
			nopen--;
			break;
		}
		case '>':
			n.kind = N_PARTIAL;
			if (n.nparts != 1) {
				(void)snprintf(t->err, sizeof(t->err), "line %d: "
				    "partial names have no dots",
				    line_of(t->src, tag));
				return -1;
			}
			if (with_body && strcmp(n.name, "body") == 0) {
				n.partial = -1;
			} else {
				n.partial = tmpl_find(n.name, nlen);
				if (n.partial < 0) {
					(void)snprintf(t->err, sizeof(t->err),
					    "line %d: no template named '%s' "
					    "for '{{>%s}}'",
					    line_of(t->src, tag), n.name,
					    n.name);
					return -1;
				}
			}
			if (push_node(t, &cap, &n) != 0)
				goto oom;
			break;
		default:
			n.kind = N_VAR;
			if (push_node(t, &cap, &n) != 0)
				goto oom;
			break;
		}
		p = close + 2;
	}
	if (nopen > 0) {
		struct node *o = &t->nodes[open[nopen - 1]];
		(void)snprintf(t->err, sizeof(t->err), "section '%s' is never "
		    "closed", o->name);
		return -1;
	}
	return 0;
oom:
	(void)snprintf(t->err, sizeof(t->err), "out of memory");
	return -1;
}

static bool
is_template(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '/' && n > 5 && strcmp(name + n - 5, ".html") == 0;
}

/* Names the templates (file name without ".html") and parses them all. */
static void
tmpl_init(void)
{
	size_t nb = (size_t)(web_blobs_end - web_blobs), k = 0;
	static char names[64][NAME_MAX_LEN];

	tmpls = calloc(nb ? nb : 1, sizeof(*tmpls));
	if (tmpls == NULL)
		return;
	for (size_t i = 0; i < nb && k < 64; i++) {
		const char *nm = web_blobs[i].name;
		size_t len = strlen(nm);

		if (!is_template(nm) || len - 5 >= NAME_MAX_LEN)
			continue;
		memcpy(names[k], nm, len - 5);
		names[k][len - 5] = '\0';
		tmpls[k].name = names[k];
		tmpls[k].src = web_blobs[i].start;
		tmpls[k].len = (size_t)(web_blobs[i].end - web_blobs[i].start);
		k++;
	}
	ntmpls = k; /* every name first: partials resolve to any of them */
	for (size_t i = 0; i < ntmpls; i++)
		(void)tmpl_parse(&tmpls[i], strcmp(tmpls[i].name, "layout") ==
		    0);
}

/* ---- output -------------------------------------------------------------- */

struct out {
	char *p;
	size_t len, cap;
	bool fail;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->fail || n == 0)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 8192;
		char *np;

		while (o->len + n + 1 > cap)
			cap *= 2;
		if (cap > OUT_MAX) {
			o->fail = true;
			return;
		}
		np = realloc(o->p, cap);
		if (np == NULL) {
			o->fail = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* HTML-escapes s[0..n): text and quoted attribute values alike. */
static void
put_esc(struct out *o, const char *s, size_t n)
{
	const char *e = s + n;

	while (s < e) {
		const char *q = s;
		const char *rep;

		while (q < e && *q != '&' && *q != '<' && *q != '>' &&
		    *q != '"' && *q != '\'')
			q++;
		put(o, s, (size_t)(q - s));
		if (q == e)
			break;
		switch (*q) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		default: rep = "&#39;"; break;
		}
		put(o, rep, strlen(rep));
		s = q + 1;
	}
}

/* ---- rendering ------------------------------------------------------------ */

struct rstate {
	struct out out;
	const json_t *ctx[CTX_MAX + 1];
	int nctx;
	int body;           /* the page a layout wraps, -1 none */
	int depth;          /* partials */
	char err[240];
};

static const json_t *
lookup(const struct rstate *r, const struct node *n)
{
	const json_t *v = NULL;
	const char *part = n->name;

	if (strcmp(n->name, ".") == 0)
		return r->ctx[r->nctx - 1];
	for (int i = r->nctx - 1; i >= 0; i--) {
		if (json_is_object(r->ctx[i]) &&
		    (v = json_object_get(r->ctx[i], part)) != NULL)
			break;
	}
	for (int k = 1; v != NULL && k < n->nparts; k++) {
		part += strlen(part) + 1;
		if (json_is_array(v) && part[0] >= '0' && part[0] <= '9' &&
		    strlen(part) < 5) /* "rows.0": an item by index */
			v = json_array_get(v, (size_t)strtoul(part, NULL, 10));
		else
			v = json_is_object(v) ? json_object_get(v, part) : NULL;
	}
	return v;
}

static bool
truthy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return true;
	case JSON_ARRAY: return json_array_size(v) > 0;
	case JSON_STRING: return json_string_length(v) > 0;
	case JSON_INTEGER: return json_integer_value(v) != 0;
	case JSON_REAL: return json_real_value(v) != 0.0;
	case JSON_TRUE: return true;
	default: return false;
	}
}

static void
put_value(struct out *o, const json_t *v)
{
	char num[48];
	int n;

	switch (json_typeof(v)) {
	case JSON_STRING:
		put_esc(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		n = snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(v));
		put(o, num, (size_t)n);
		break;
	case JSON_REAL:
		n = snprintf(num, sizeof(num), "%g", json_real_value(v));
		put(o, num, (size_t)n);
		break;
	case JSON_TRUE:
		put(o, "true", 4);
		break;
	default: /* null, false, objects and arrays print nothing */
		break;
	}
}

static int render_nodes(struct rstate *r, const struct tmpl *t, size_t from,
    size_t to);

static int
render_tmpl(struct rstate *r, int idx)
{
	const struct tmpl *t = &tmpls[idx];

	if (t->err[0] != '\0') {
		(void)snprintf(r->err, sizeof(r->err), "template %s: %s",
		    t->name, t->err);
		return -1;
	}
	if (r->depth >= PARTIAL_DEPTH) {
		(void)snprintf(r->err, sizeof(r->err), "template %s: partials "
		    "nest deeper than %d (a partial includes itself?)", t->name,
		    PARTIAL_DEPTH);
		return -1;
	}
	r->depth++;
	if (render_nodes(r, t, 0, t->n) != 0)
		return -1;
	r->depth--;
	return 0;
}

static int
push_ctx(struct rstate *r, const struct tmpl *t, const json_t *v)
{
	if (r->nctx > CTX_MAX) {
		(void)snprintf(r->err, sizeof(r->err), "template %s: context "
		    "nests deeper than %d", t->name, CTX_MAX);
		return -1;
	}
	r->ctx[r->nctx++] = v;
	return 0;
}

static int
render_nodes(struct rstate *r, const struct tmpl *t, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const struct node *n = &t->nodes[i];
		const json_t *v;

		switch (n->kind) {
		case N_TEXT:
			put(&r->out, n->text, n->len);
			break;
		case N_VAR:
			v = lookup(r, n);
			if (v != NULL)
				put_value(&r->out, v);
			break;
		case N_PARTIAL:
			if (render_tmpl(r, n->partial < 0 ? r->body :
			    n->partial) != 0)
				return -1;
			break;
		case N_INVERTED:
			v = lookup(r, n);
			if (v == NULL || !truthy(v))
				if (render_nodes(r, t, i + 1, n->end) != 0)
					return -1;
			i = n->end - 1;
			break;
		case N_SECTION:
			v = lookup(r, n);
			if (v == NULL || !truthy(v)) {
				i = n->end - 1;
				break;
			}
			if (json_is_array(v)) {
				for (size_t k = 0; k < json_array_size(v);
				    k++) {
					if (push_ctx(r, t, json_array_get(v, k))
					    != 0 || render_nodes(r, t, i + 1,
					    n->end) != 0)
						return -1;
					r->nctx--;
				}
			} else if (json_is_true(v)) {
				if (render_nodes(r, t, i + 1, n->end) != 0)
					return -1;
			} else {
				if (push_ctx(r, t, v) != 0 ||
				    render_nodes(r, t, i + 1, n->end) != 0)
					return -1;
				r->nctx--;
			}
			i = n->end - 1;
			break;
		}
		if (r->out.fail) {
			(void)snprintf(r->err, sizeof(r->err), "out of memory "
			    "(or a page over %u bytes)", OUT_MAX);
			return -1;
		}
	}
	return 0;
}

static char *
render_idx(int idx, int body, const json_t *data, size_t *len, tk_error *err)
{
	struct rstate r;

	memset(&r, 0, sizeof(r));
	r.body = body;
	r.ctx[0] = data;
	r.nctx = 1;
	if (render_tmpl(&r, idx) != 0) {
		free(r.out.p);
		(void)tk_fail(err, TK_ERR_INTERNAL, "%s", r.err);
		return NULL;
	}
	if (r.out.p == NULL) { /* an empty template */
		r.out.p = malloc(1);
		if (r.out.p == NULL) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
			return NULL;
		}
		r.out.p[0] = '\0';
	}
	*len = r.out.len;
	return r.out.p;
}

char *
web_render(const char *name, const json_t *data, size_t *len, tk_error *err)
{
	int idx;

	*len = 0;
	(void)pthread_once(&tmpl_once, tmpl_init);
	if (tmpls == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	idx = tmpl_find(name, strlen(name));
	if (idx < 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "no template named '%s'",
		    name);
		return NULL;
	}
	return render_idx(idx, -1, data, len, err);
}

char *
web_render_string(const char *src, size_t srclen, const json_t *data,
    size_t *len, tk_error *err)
{
	struct tmpl t;
	struct rstate r;
	char *res = NULL;

	*len = 0;
	(void)pthread_once(&tmpl_once, tmpl_init);
	if (tmpls == NULL)
		return (void)tk_fail(err, TK_ERR_INTERNAL, "out of memory"),
		    NULL;
	memset(&t, 0, sizeof(t));
	t.name = "(string)";
	t.src = src;
	t.len = srclen;
	if (tmpl_parse(&t, false) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "template %s: %s", t.name,
		    t.err);
		free(t.nodes);
		return NULL;
	}
	memset(&r, 0, sizeof(r));
	r.body = -1;
	r.ctx[0] = data;
	r.nctx = 1;
	if (render_nodes(&r, &t, 0, t.n) != 0) {
		free(r.out.p);
		(void)tk_fail(err, TK_ERR_INTERNAL, "%s", r.err);
	} else {
		res = r.out.p != NULL ? r.out.p : calloc(1, 1);
		*len = r.out.len;
		if (res == NULL)
			(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
	}
	free(t.nodes);
	return res;
}

/* ---- pages and assets ------------------------------------------------------ */

static void
resp_clear(tk_http_resp *resp)
{
	resp->body = NULL;
	resp->text = NULL;
	resp->text_len = 0;
	resp->html = true;
	resp->console = true;
	resp->cacheable = false;
	resp->ctype = NULL;
}

void
web_page_send(tk_http_resp *resp, int status, const char *name,
    const json_t *data)
{
	static const char fallback[] = "<!doctype html>\n<html lang=\"en\">"
	    "<head><meta charset=\"utf-8\"><title>twokey: error</title>"
	    "</head><body><main><h1>This page could not be shown</h1>"
	    "<p>twokey hit an internal error while drawing the page; the "
	    "server log says why. Go back and try again.</p></main></body>"
	    "</html>\n";
	int lay, page;
	tk_error err;
	size_t len = 0;
	char *text = NULL;

	resp_clear(resp);
	(void)pthread_once(&tmpl_once, tmpl_init);
	memset(&err, 0, sizeof(err));
	if (tmpls == NULL) {
		(void)tk_fail(&err, TK_ERR_INTERNAL, "out of memory");
	} else if ((lay = tmpl_find("layout", 6)) < 0 ||
	    (page = tmpl_find(name, strlen(name))) < 0) {
		(void)tk_fail(&err, TK_ERR_INTERNAL, "no template '%s' (or no "
		    "layout)", name);
	} else {
		text = render_idx(lay, page, data, &len, &err);
	}
	if (text == NULL) {
		fprintf(stderr, "twokey: console page %s: %s\n", name,
		    err.msg);
		text = malloc(sizeof(fallback));
		if (text == NULL) {
			resp->status = 500;
			return;
		}
		memcpy(text, fallback, sizeof(fallback));
		len = sizeof(fallback) - 1;
		status = 500;
	}
	resp->status = status;
	resp->text = text;
	resp->text_len = len;
}

bool
web_asset(const char *path, tk_http_resp *resp)
{
	size_t nb = (size_t)(web_blobs_end - web_blobs);

	for (size_t i = 0; i < nb; i++) {
		const struct web_blob *b = &web_blobs[i];
		size_t len, n;
		char *text;

		if (strcmp(b->name, path) != 0 ||
		    strncmp(path, "/assets/", 8) != 0)
			continue;
		len = (size_t)(b->end - b->start);
		resp_clear(resp);
		text = malloc(len + 1);
		if (text == NULL) {
			resp->status = 500;
			return true;
		}
		memcpy(text, b->start, len);
		text[len] = '\0';
		n = strlen(path);
		if (n > 4 && strcmp(path + n - 4, ".css") == 0)
			resp->ctype = "text/css; charset=utf-8";
		else if (n > 3 && strcmp(path + n - 3, ".js") == 0)
			resp->ctype = "text/javascript; charset=utf-8";
		else
			resp->ctype = "application/octet-stream";
		resp->html = false;
		resp->cacheable = true;
		resp->status = 200;
		resp->text = text;
		resp->text_len = len;
		return true;
	}
	return false;
}
