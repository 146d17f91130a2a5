/*
 * page.c - renders the public confirmation page and its answers as small,
 * self-contained HTML documents (inline CSS only, no script), escaping
 * every value that comes from a case or the org.
 *
 * Owns: the markup and its escaping; nothing here touches the app.
 */
#include "http/page.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	char *np;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 2048;

		while (b->len + n + 1 > cap)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_raw(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* HTML-escapes s (text and attribute values alike). */
static void
puts_esc(struct buf *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': puts_raw(b, "&amp;"); break;
		case '<': puts_raw(b, "&lt;"); break;
		case '>': puts_raw(b, "&gt;"); break;
		case '"': puts_raw(b, "&quot;"); break;
		case '\'': puts_raw(b, "&#39;"); break;
		default: put(b, s, 1); break;
		}
	}
}

static void
head(struct buf *b, const char *title)
{
	puts_raw(b, "<!doctype html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\"><title>");
	puts_esc(b, title);
	puts_raw(b, "</title><style>"
	    "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;"
	    "margin:3rem auto;padding:0 1rem;color:#1b1f24}"
	    "h1{font-size:1.4rem}dl{display:grid;grid-template-columns:"
	    "auto 1fr;gap:.3rem 1rem}dt{color:#57606a}"
	    "button{font:inherit;padding:.6rem 1.2rem;margin:.3rem .6rem "
	    ".3rem 0;border-radius:6px;border:2px solid #1b1f24;"
	    "cursor:pointer}button.no{background:#b42318;color:#fff;"
	    "border-color:#b42318}button.yes{background:#fff}"
	    "button.pre{outline:3px solid #f0b400}"
	    ".note{color:#57606a;font-size:.9rem}"
	    "</style></head><body>");
}

static char *
finish(struct buf *b, size_t *len)
{
	puts_raw(b, "</body></html>\n");
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	*len = b->len;
	return b->p;
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

char *
tk_page_confirm(const json_t *view, const char *token, const char *preselect,
    size_t *len)
{
	struct buf b = {NULL, 0, 0, false};
	bool hold = strcmp(jstr(view, "purpose"), "hold") == 0;
	bool yes_pre = preselect != NULL && strcmp(preselect, "yes") == 0;
	bool no_pre = preselect != NULL && strcmp(preselect, "no") == 0;

	head(&b, "Did you ask for this change?");
	puts_raw(&b, hold ? "<h1>A change to your account is on hold</h1>" :
	    "<h1>Did you ask for this change?</h1>");
	puts_raw(&b, "<dl><dt>Account</dt><dd>");
	puts_esc(&b, jstr(view, "subject"));
	puts_raw(&b, "</dd><dt>Change</dt><dd>");
	puts_esc(&b, jstr(view, "summary"));
	puts_raw(&b, "</dd><dt>Asked by</dt><dd>");
	puts_esc(&b, jstr(view, "channel"));
	puts_raw(&b, " on ");
	puts_esc(&b, jstr(view, "requested"));
	puts_raw(&b, "</dd><dt>Case</dt><dd>");
	puts_esc(&b, jstr(view, "case"));
	puts_raw(&b, "</dd></dl>");
	if (jstr(view, "answer")[0] != '\0') {
		puts_raw(&b, "<p>This link was already used.</p>");
		return finish(&b, len);
	}
	/* no action: the form posts back to the page's own address, which
	 * also works behind a proxy that serves twokey under a path */
	(void)token;
	puts_raw(&b, "<form method=\"post\">");
	if (!hold) {
		puts_raw(&b, "<button class=\"yes");
		puts_raw(&b, yes_pre ? " pre" : "");
		puts_raw(&b, "\" name=\"answer\" value=\"yes\">Yes, this was "
		    "me</button>");
	}
	puts_raw(&b, "<button class=\"no");
	puts_raw(&b, no_pre ? " pre" : "");
	puts_raw(&b, "\" name=\"answer\" value=\"no\">No, this was not "
	    "me</button></form>");
	puts_raw(&b, "<p class=\"note\">\"No\" stops the change at once and "
	    "tells the security team. The link works once and expires at ");
	puts_esc(&b, jstr(view, "expires"));
	puts_raw(&b, ". twokey never asks for a password or a code.</p>");
	return finish(&b, len);
}

char *
tk_page_message(const char *heading, const char *text, size_t *len)
{
	struct buf b = {NULL, 0, 0, false};

	head(&b, heading);
	puts_raw(&b, "<h1>");
	puts_esc(&b, heading);
	puts_raw(&b, "</h1><p>");
	puts_esc(&b, text);
	puts_raw(&b, "</p>");
	return finish(&b, len);
}
