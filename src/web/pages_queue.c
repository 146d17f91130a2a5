/*
 * pages_queue.c - the work queues (GET /queues) and the post-event
 * reviews (GET /reviews). A tab per queue with its count, rows of
 * subject, action, tier, state, age and what is missing, filters by state
 * and "needs me" (cases where the reader is eligible for something still
 * missing), 100 rows a page.
 *
 * Paging is by cursor (the app's "next"); the way back is carried in the
 * address as "trail", the cursors of the earlier pages (at most
 * TRAIL_MAX), so the pages stay stateless. Counts come from one indexed
 * query per page, rows from the lean queue read: the page costs the same
 * with 10 or 10,000 open cases.
 *
 * Owns: pg_queues, pg_reviews and their templates' data.
 */
#include <stdio.h>
#include <string.h>

#include "core/action.h"
#include "core/case.h"
#include "web/pages.h"

#define TRAIL_MAX 20

static const struct {
	const char *family, *label;
} families[] = {
	{"password", "Password"},
	{"mfa", "MFA"},
	{"reactivation", "Reactivation"},
	{"nhi", "Non-human"},
	{"role", "Role"},
	{"profile", "Profile"},
};

static const char *const state_filters[] = {
	"open", "verifying", "approving", "on_hold", "ready", "failed",
	"outcome_unknown", "executed_revocation_pending", "executed",
	"review", "closed", "denied", "cancelled", "expired",
};

/* The row for the template: strings ready to show. */
static json_t *
row_view(const json_t *r, tk_time now, bool *bad)
{
	json_t *o = json_object(), *miss = json_array(), *m;
	const char *id = json_string_value(json_object_get(r, "id"));
	const char *st = json_string_value(json_object_get(r, "state"));
	char href[64], age[32], due[40];
	size_t i;

	if (o == NULL || miss == NULL || id == NULL || st == NULL) {
		json_decref(o);
		json_decref(miss);
		*bad = true;
		return NULL;
	}
	(void)snprintf(href, sizeof(href), "/cases/%s", id);
	pg_age(now, json_integer_value(json_object_get(r, "created")), age,
	    sizeof(age));
	pg_set(o, "id", json_string(id), bad);
	pg_set(o, "href", json_string(href), bad);
	pg_set(o, "subject", json_incref(json_object_get(r, "subject")), bad);
	pg_set(o, "action", json_incref(json_object_get(r, "action")), bad);
	pg_set(o, "tier", json_incref(json_object_get(r, "tier")), bad);
	pg_set(o, "state", json_string(st), bad);
	pg_set(o, "state_label", json_string(pg_state_label(st)), bad);
	pg_set(o, "age", json_string(age), bad);
	pg_set(o, "mine", json_incref(json_object_get(r, "mine")), bad);
	pg_set(o, "break_glass", json_incref(json_object_get(r,
	    "break_glass")), bad);
	pg_time(json_integer_value(json_object_get(r, "review_due")), due,
	    sizeof(due));
	pg_set(o, "review_due", json_string(due), bad);
	pg_set(o, "review_overdue", json_incref(json_object_get(r,
	    "review_overdue")), bad);
	json_array_foreach(json_object_get(r, "missing"), i, m)
		if (json_array_append(miss, m) != 0)
			*bad = true;
	pg_set(o, "missing", miss, bad);
	return o;
}

/* "/queues?family=..&state=..&mine=1" plus extra (may be ""). */
static void
queue_href(char *buf, size_t size, const char *family, const char *state,
    bool mine, const char *extra)
{
	(void)snprintf(buf, size, "/queues?state=%s%s%s%s%s", state,
	    family != NULL ? "&family=" : "", family != NULL ? family : "",
	    mine ? "&mine=1" : "", extra);
}

void
pg_queues(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	const char *family = web_query(req, "family");
	const char *state = web_query(req, "state");
	const char *mine_q = web_query(req, "mine");
	const char *after_q = web_query(req, "after");
	const char *trail_q = web_query(req, "trail");
	bool mine = mine_q != NULL && strcmp(mine_q, "1") == 0;
	json_t *d = NULL, *counts = NULL, *list = NULL, *tabs, *rows, *opts, *r;
	tk_app_queue_req qr;
	tk_app_err err;
	int64_t after = 0;
	char href[600], extra[400], trail[300];
	tk_time now = tk_app_now(w->app);
	bool bad = false;
	size_t i;

	if (family != NULL && *family == '\0')
		family = NULL;
	if (state == NULL || *state == '\0')
		state = "open";
	if ((family != NULL && !tk_family_valid(family)) ||
	    (strcmp(state, "open") != 0 && tk_state_parse(state) < 0) ||
	    (after_q != NULL && pg_count(after_q, INT64_MAX / 10, &after) !=
	    0)) {
		pg_notice(w, s, resp, 400, "Unknown filter", "The queue, state "
		    "or page in the address is not one twokey knows. Start "
		    "again from the queues.", "/queues", "Go to the queues");
		return;
	}
	/* the trail: comma-separated cursors of the earlier pages */
	trail[0] = '\0';
	if (trail_q != NULL) {
		size_t n = strlen(trail_q), k = 0;

		if (n >= sizeof(trail))
			n = 0; /* too long: forget the way back */
		for (size_t j = 0; j < n; j++)
			if (!((trail_q[j] >= '0' && trail_q[j] <= '9') ||
			    trail_q[j] == ','))
				n = 0;
		memcpy(trail, trail_q, n);
		trail[n] = '\0';
		for (size_t j = 0; j < n; j++)
			k += trail[j] == ',';
		if (n > 0 && k + 1 > TRAIL_MAX) { /* drop the oldest */
			char *c = strchr(trail, ',');
			memmove(trail, c + 1, strlen(c + 1) + 1);
		}
	}
	if (tk_app_queue_counts(w->app, s->login, state, &counts, &err) !=
	    TK_OK)
		goto refused;
	memset(&qr, 0, sizeof(qr));
	qr.queue = family;
	qr.state = state;
	qr.mine = mine;
	qr.limit = PG_QUEUE_ROWS;
	qr.after = after;
	if (tk_app_queue(w->app, s->login, &qr, &list, &err) != TK_OK)
		goto refused;

	d = pg_data(w, s, "Queues", "queues");
	tabs = json_array();
	rows = json_array();
	opts = json_array();
	if (d == NULL || tabs == NULL || rows == NULL || opts == NULL) {
		json_decref(tabs);
		json_decref(rows);
		json_decref(opts);
		goto oom;
	}
	queue_href(href, sizeof(href), NULL, state, mine, "");
	if (json_array_append_new(tabs, json_pack("{s:s, s:s, s:O, s:b}",
	    "label", "All", "href", href, "count", json_object_get(counts,
	    "all"), "current", family == NULL)) != 0)
		bad = true;
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		queue_href(href, sizeof(href), families[i].family, state, mine,
		    "");
		if (json_array_append_new(tabs, json_pack("{s:s, s:s, s:O, "
		    "s:b}", "label", families[i].label, "href", href, "count",
		    json_object_get(counts, families[i].family), "current",
		    family != NULL && strcmp(family, families[i].family) ==
		    0)) != 0)
			bad = true;
	}
	pg_set(d, "tabs", tabs, &bad);
	for (i = 0; i < sizeof(state_filters) / sizeof(state_filters[0]); i++)
		if (json_array_append_new(opts, json_pack("{s:s, s:s, s:b}",
		    "value", state_filters[i], "label",
		    strcmp(state_filters[i], "open") == 0 ? "all open" :
		    pg_state_label(state_filters[i]), "selected",
		    strcmp(state, state_filters[i]) == 0)) != 0)
			bad = true;
	pg_set(d, "states", opts, &bad);
	json_array_foreach(json_object_get(list, "rows"), i, r)
		if (json_array_append_new(rows, row_view(r, now, &bad)) != 0)
			bad = true;
	pg_set(d, "count_shown", json_integer((json_int_t)json_array_size(
	    rows)), &bad);
	pg_set(d, "rows", rows, &bad);
	pg_set(d, "family", json_string(family != NULL ? family : ""), &bad);
	pg_set(d, "family_label", json_string(family != NULL ? family :
	    "all queues"), &bad);
	pg_set(d, "state_label", json_string(strcmp(state, "open") == 0 ?
	    "open" : pg_state_label(state)), &bad);
	pg_set(d, "mine", json_boolean(mine), &bad);
	pg_set(d, "total", json_incref(json_object_get(counts, family != NULL ?
	    family : "all")), &bad);
	pg_set(d, "cases_word", json_string(json_integer_value(
	    json_object_get(counts, family != NULL ? family : "all")) == 1 ?
	    "case" : "cases"), &bad);
	pg_set(d, "scanned", json_incref(json_object_get(list, "scanned")),
	    &bad);
	/* paging */
	if (json_is_integer(json_object_get(list, "next"))) {
		(void)snprintf(extra, sizeof(extra), "&after=%lld&trail=%s%s%lld",
		    (long long)json_integer_value(json_object_get(list,
		    "next")), trail, trail[0] ? "," : "", (long long)after);
		queue_href(href, sizeof(href), family, state, mine, extra);
		pg_set(d, "next_href", json_string(href), &bad);
	}
	if (after > 0) {
		char *last = strrchr(trail, ',');
		const char *prev = last != NULL ? last + 1 : trail;
		int64_t pv = 0;

		if (prev[0] != '\0' && pg_count(prev, INT64_MAX / 10, &pv) ==
		    0 && pv > 0) {
			if (last != NULL)
				*last = '\0';
			else
				trail[0] = '\0';
			(void)snprintf(extra, sizeof(extra), "&after=%lld%s%s",
			    (long long)pv, trail[0] ? "&trail=" : "", trail);
		} else {
			extra[0] = '\0'; /* back to the first page */
		}
		queue_href(href, sizeof(href), family, state, mine, extra);
		pg_set(d, "prev_href", json_string(href), &bad);
		queue_href(href, sizeof(href), family, state, mine, "");
		pg_set(d, "first_href", json_string(href), &bad);
	}
	if (bad)
		goto oom;
	web_page_send(resp, 200, "queues", d);
	goto done;
refused:
	pg_notice(w, s, resp, tk_status_http(err.e.status), "Queues",
	    err.e.msg, NULL, NULL);
	goto done;
oom:
	pg_oom(w, s, resp);
done:
	json_decref(d);
	json_decref(counts);
	json_decref(list);
}

void
pg_reviews(tk_web *w, const tk_http_req *req, const web_session *s,
    tk_http_resp *resp)
{
	const char *after_q = web_query(req, "after");
	json_t *d = NULL, *list = NULL, *due, *overdue, *r;
	tk_app_queue_req qr;
	tk_app_err err;
	int64_t after = 0;
	tk_time now = tk_app_now(w->app);
	bool bad = false;
	size_t i;
	char href[80];

	if (after_q != NULL && pg_count(after_q, INT64_MAX / 10, &after) != 0)
		after = 0;
	memset(&qr, 0, sizeof(qr));
	qr.state = "review";
	qr.limit = PG_QUEUE_ROWS;
	qr.after = after;
	if (tk_app_queue(w->app, s->login, &qr, &list, &err) != TK_OK) {
		pg_notice(w, s, resp, tk_status_http(err.e.status), "Reviews",
		    err.e.msg, NULL, NULL);
		return;
	}
	d = pg_data(w, s, "Post-event reviews", "reviews");
	due = json_array();
	overdue = json_array();
	if (d == NULL || due == NULL || overdue == NULL) {
		json_decref(due);
		json_decref(overdue);
		goto oom;
	}
	json_array_foreach(json_object_get(list, "rows"), i, r) {
		json_int_t at = json_integer_value(json_object_get(r,
		    "review_due"));
		bool late = json_is_true(json_object_get(r, "review_overdue")) ||
		    (at > 0 && at < now);

		if (json_array_append_new(late ? overdue : due, row_view(r, now,
		    &bad)) != 0)
			bad = true;
	}
	pg_set(d, "overdue", overdue, &bad);
	pg_set(d, "due", due, &bad);
	if (json_is_integer(json_object_get(list, "next"))) {
		(void)snprintf(href, sizeof(href), "/reviews?after=%lld",
		    (long long)json_integer_value(json_object_get(list,
		    "next")));
		pg_set(d, "next_href", json_string(href), &bad);
	}
	if (bad)
		goto oom;
	web_page_send(resp, 200, "reviews", d);
	goto done;
oom:
	pg_oom(w, s, resp);
done:
	json_decref(d);
	json_decref(list);
}
