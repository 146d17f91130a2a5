/*
 * pages.c - web_pages, the signed-in console's dispatcher (URL map in
 * docs/console.md), and the helpers the page files share: the data every
 * page receives (user, CSRF token, active section), the notice and error
 * pages, and the formatting of times, ages, states and masked contacts.
 *
 * Owns: the path-to-handler table of the signed-in pages. console.c has
 * already checked the session (and the CSRF token on POST).
 */
#include <stdio.h>
#include <string.h>

#include "web/pages.h"

void
pg_set(json_t *o, const char *key, json_t *v, bool *bad)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*bad = true;
}

json_t *
pg_data(tk_web *w, const web_session *s, const char *title, const char *nav)
{
	json_t *d = json_object(), *me = NULL, *navo;
	tk_app_err err;
	bool bad = false;

	if (d == NULL)
		return NULL;
	pg_set(d, "title", json_string(title), &bad);
	pg_set(d, "version", json_string(TK_VERSION), &bad);
	if (s != NULL) {
		pg_set(d, "csrf", json_string(s->csrf), &bad);
		if (tk_app_me(w->app, s->login, &me, &err) != TK_OK)
			me = json_pack("{s:s, s:s, s:s, s:[]}", "login",
			    s->login, "name", "", "function", "",
			    "capabilities");
		pg_set(d, "user", me, &bad);
	}
	navo = json_object();
	if (navo != NULL && nav != NULL)
		pg_set(navo, nav, json_true(), &bad);
	pg_set(d, "nav", navo, &bad);
	if (bad) {
		json_decref(d);
		return NULL;
	}
	return d;
}

void
pg_oom(tk_web *w, const web_session *s, tk_http_resp *resp)
{
	(void)w;
	(void)s;
	/* the layout with no data: web_page_send falls back to its own
	 * fixed page if even that fails */
	web_page_send(resp, 500, "notice", NULL);
}

void
pg_notice(tk_web *w, const web_session *s, tk_http_resp *resp, int status,
    const char *heading, const char *text, const char *back,
    const char *back_label)
{
	json_t *d = pg_data(w, s, heading, NULL);
	bool bad = false;

	if (d == NULL) {
		pg_oom(w, s, resp);
		return;
	}
	pg_set(d, "heading", json_string(heading), &bad);
	pg_set(d, "text", json_string(text), &bad);
	if (back != NULL) {
		pg_set(d, "back", json_string(back), &bad);
		pg_set(d, "back_label", json_string(back_label ? back_label :
		    "Back"), &bad);
	}
	if (bad)
		pg_oom(w, s, resp);
	else
		web_page_send(resp, status, "notice", d);
	json_decref(d);
}

void
pg_time(tk_time t, char *buf, size_t size)
{
	char iso[32];

	if (t <= 0) {
		(void)tk_strlcpy(buf, "", size);
		return;
	}
	tk_time_format(t, iso, sizeof(iso));
	/* "2026-11-23T09:30:00Z" -> "2026-11-23 09:30 UTC" */
	if (strlen(iso) >= 16) {
		iso[10] = ' ';
		iso[16] = '\0';
		(void)snprintf(buf, size, "%s UTC", iso);
	} else {
		(void)tk_strlcpy(buf, iso, size);
	}
}

void
pg_age(tk_time now, tk_time t, char *buf, size_t size)
{
	tk_time d = now - t;

	if (t <= 0)
		(void)tk_strlcpy(buf, "", size);
	else if (d < 60)
		(void)tk_strlcpy(buf, "just now", size);
	else if (d < 3600)
		(void)snprintf(buf, size, "%lldm", (long long)(d / 60));
	else if (d < 86400)
		(void)snprintf(buf, size, "%lldh %lldm", (long long)(d / 3600),
		    (long long)(d % 3600 / 60));
	else
		(void)snprintf(buf, size, "%lldd %lldh", (long long)(d / 86400),
		    (long long)(d % 86400 / 3600));
}

void
pg_mask(const char *c, char *out, size_t size)
{
	static const char dots[] = "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2";
	const char *at = strchr(c, '@');
	char digits[TK_CONTACT_MAX];
	size_t nd = 0;

	if (at != NULL) { /* e-mail: first letter, the domain */
		(void)snprintf(out, size, "%.1s%s@%s", c, dots, at + 1);
		return;
	}
	for (const char *p = c; *p != '\0' && nd + 1 < sizeof(digits); p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	digits[nd] = '\0';
	if (nd < 6) { /* too short to show any of it */
		(void)snprintf(out, size, "%s%s", dots, dots);
		return;
	}
	if (c[0] == '+') { /* keep the country code: "+1 555 ..." */
		size_t cc = strcspn(c + 1, " -.(");

		if (cc > 3 || cc >= nd - 4)
			cc = 0;
		(void)snprintf(out, size, "+%.*s%s%s%s", (int)cc, digits, dots,
		    "\xe2\x80\xa2\xe2\x80\xa2", digits + nd - 4);
		return;
	}
	(void)snprintf(out, size, "%s%s%s", dots, "\xe2\x80\xa2\xe2\x80\xa2",
	    digits + nd - 4);
}

bool
pg_in(const json_t *arr, const char *login)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), login) ==
		    0)
			return true;
	return false;
}

const char *
pg_state_label(const char *st)
{
	static const struct { const char *state, *label; } names[] = {
		{"open", "open"},
		{"verifying", "needs evidence"},
		{"approving", "needs approval"},
		{"on_hold", "on hold"},
		{"ready", "ready to execute"},
		{"executing", "executing"},
		{"executed", "executed"},
		{"review", "in review"},
		{"closed", "closed"},
		{"denied", "denied"},
		{"cancelled", "cancelled"},
		{"expired", "expired"},
		{"failed", "failed"},
		{"outcome_unknown", "outcome unknown"},
		{"executed_revocation_pending", "revocation pending"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].state, st) == 0)
			return names[i].label;
	return st;
}

int
pg_count(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* ---- dispatch ------------------------------------------------------------- */

static bool
is(const tk_http_req *req, const char *method)
{
	return strcmp(req->method, method) == 0;
}

void
web_pages(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	const char *p = req->path;
	char id[TK_ID_MAX];

	if (strcmp(p, "/") == 0 && is(req, "GET")) {
		web_redirect(resp, "/queues");
		return;
	}
	if (strcmp(p, "/queues") == 0 && is(req, "GET")) {
		pg_queues(w, req, s, resp);
		return;
	}
	if (strcmp(p, "/reviews") == 0 && is(req, "GET")) {
		pg_reviews(w, req, s, resp);
		return;
	}
	if (strcmp(p, "/audit") == 0 && is(req, "GET")) {
		pg_audit(w, req, s, resp);
		return;
	}
	if (strcmp(p, "/audit/verify") == 0 && is(req, "POST")) {
		pg_audit_verify(w, req, s, resp);
		return;
	}
	if (strcmp(p, "/policy") == 0 && is(req, "GET")) {
		pg_policy(w, req, s, resp);
		return;
	}
	if (strcmp(p, "/cases/new") == 0 && (is(req, "GET") ||
	    is(req, "POST"))) {
		pg_case_new(w, req, s, resp);
		return;
	}
	if (strcmp(p, "/cases/preview") == 0 && is(req, "GET")) {
		pg_case_preview(w, req, s, resp);
		return;
	}
	if (strncmp(p, "/cases/", 7) == 0) {
		const char *rest = p + 7, *slash = strchr(rest, '/');
		size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);

		if (n > 0 && n < sizeof(id)) {
			memcpy(id, rest, n);
			id[n] = '\0';
			if (tk_app_case_id_valid(id) && (is(req, "GET") ||
			    is(req, "POST"))) {
				pg_case(w, req, s, id, slash != NULL ?
				    slash + 1 : "", resp);
				return;
			}
		}
	}
	pg_notice(w, s, resp, 404, "Page not found", "There is no console page "
	    "at this address. Use the menu to go to the queues, a new case, "
	    "reviews, the audit log or the policy.", "/queues",
	    "Go to the queues");
}
