/*
 * page.h - the only HTML twokey serves before the console exists: the
 * public page behind a confirmation link, where the subject answers
 * "Yes, this was me" or "No, this was not me". No script, no external
 * resources; every value is HTML-escaped.
 */
#ifndef TK_HTTP_PAGE_H
#define TK_HTTP_PAGE_H

#include <jansson.h>
#include <stddef.h>

/* The question page for a confirmation view (tk_app_confirm_view); its
 * form posts back to the page's own address (token is unused, kept for
 * callers). malloc'd, *len set; NULL on OOM. */
char *tk_page_confirm(const json_t *view, const char *token,
    const char *preselect, size_t *len);
/* A short page with a heading and a sentence (answers and errors). */
char *tk_page_message(const char *heading, const char *text, size_t *len);

#endif
