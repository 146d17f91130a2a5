/*
 * pages.h - what the console's page files (pages_*.c) share: the page
 * data every template gets, the error and notice pages, time and contact
 * formatting, and the handlers web_pages dispatches to.
 *
 * Owns: nothing beyond these helpers; each page file owns its pages.
 */
#ifndef TK_WEB_PAGES_H
#define TK_WEB_PAGES_H

#include "web/web_int.h"

#define PG_QUEUE_ROWS 100 /* rows per queue page */

/* {"title","csrf","user":{login,name,function,capabilities},"nav":{nav:
 * true},"version"} for s; NULL on out of memory. */
json_t *pg_data(tk_web *w, const web_session *s, const char *title,
    const char *nav);
/* Sends notice.html in the layout: heading, text, an optional link. */
void pg_notice(tk_web *w, const web_session *s, tk_http_resp *resp,
    int status, const char *heading, const char *text, const char *back,
    const char *back_label);
/* A 500 page for out of memory (or another internal failure). */
void pg_oom(tk_web *w, const web_session *s, tk_http_resp *resp);

/* json_object_set_new that records failure in *bad. */
void pg_set(json_t *o, const char *key, json_t *v, bool *bad);

/* "2026-11-23 09:30 UTC" */
void pg_time(tk_time t, char *buf, size_t size);
/* "3d 4h", "2h 5m", "12m", "just now" between t and now */
void pg_age(tk_time now, tk_time t, char *buf, size_t size);
/* "+1•••••0101", "j•••@example.com": a contact with most of it hidden. */
void pg_mask(const char *contact, char *out, size_t size);
/* True when user login is in the JSON array of strings arr. */
bool pg_in(const json_t *arr, const char *login);
/* A human name for a state ("on hold", "needs evidence"...). */
const char *pg_state_label(const char *state);
/* Parses a strict non-negative decimal; -1 when malformed. */
int pg_count(const char *s, int64_t max, int64_t *out);

/* Handlers. id is a valid case id. */
void pg_queues(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp);
void pg_reviews(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp);
void pg_case(tk_web *w, const tk_http_req *req, const web_session *s,
    const char *id, const char *sub, tk_http_resp *resp);
void pg_case_new(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp);
void pg_case_preview(tk_web *w, const tk_http_req *req,
    const web_session *s, tk_http_resp *resp);
void pg_audit(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp);
void pg_audit_verify(tk_web *w, const tk_http_req *req,
    const web_session *s, tk_http_resp *resp);
void pg_policy(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp);

#endif
