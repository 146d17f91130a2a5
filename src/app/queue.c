/*
 * queue.c - lean reads for the console's work queues: one small row per
 * case (what is missing and whether the reader can supply it) without
 * building the full case view, the per-queue counts from one indexed
 * query, and the subject card. The console's queue page must draw with
 * 10,000 open cases in a few milliseconds; these read only the page they
 * show.
 *
 * Owns: tk_app_queue, tk_app_queue_counts and tk_app_subject (app.h).
 * Runs under the app mutex through app_read; never writes: a case that
 * time moved on is shown as of now, and persisted by the next GET of it
 * or the sweep, as tk_app_case_list does.
 */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/action.h"
#include "core/case.h"
#include "core/engine.h"
#include "core/org.h"

#define QUEUE_LIMIT_MAX 500
#define QUEUE_SCAN_DEFAULT 2000

static enum tk_status
q_check_read(const tk_ctx *x, const char *actor, tk_app_err *err)
{
	if (actor == NULL || tk_org_staff(x->org, actor) == NULL)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "'%s' is not staff in "
		    "the org", actor ? actor : "");
	if (!tk_engine_can_read(x, actor))
		return tk_fail(&err->e, TK_ERR_FORBIDDEN, "reading cases needs "
		    "a staff function or the auditor role; '%s' has neither",
		    actor);
	return TK_OK;
}

struct qscan {
	const tk_app_queue_req *r;
	const char *actor;
	tk_ctx x;
	tk_case *c;          /* scratch (large: heap) */
	tk_missing *m;
	tk_events *ev;
	json_t *rows;
	int nrows, limit, scanned, scan_max;
	int64_t last;        /* rowid of the last case read */
	bool full;           /* stopped with rows to spare: more may follow */
	tk_error e;
	bool failed;
};

static bool
eligible(const tk_missing_item *it, const char *actor)
{
	for (int k = 0; k < it->neligible && k < TK_ELIGIBLE_MAX; k++)
		if (strcmp(it->eligible[k], actor) == 0)
			return true;
	return false;
}

static json_t *
row_json(struct qscan *q, bool mine)
{
	const tk_case *c = q->c;
	json_t *miss = json_array(), *row;

	if (miss == NULL)
		return NULL;
	for (int i = 0; i < q->m->n && i < TK_MISSING_MAX; i++) {
		const tk_missing_item *it = &q->m->item[i];

		if (json_array_append_new(miss, json_pack("{s:s, s:s, s:b}",
		    "group", it->group, "need", it->need, "mine",
		    eligible(it, q->actor))) != 0) {
			json_decref(miss);
			return NULL;
		}
	}
	row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, "
	    "s:b, s:b, s:b, s:o}", "id", c->id, "subject", c->subject,
	    "action", c->action, "queue", c->family, "tier", c->tier,
	    "state", tk_state_name(c->state), "created",
	    (json_int_t)c->created, "updated", (json_int_t)c->updated,
	    "hold_until", (json_int_t)c->hold_until, "review_due",
	    (json_int_t)c->review_due, "review_overdue", c->review_overdue,
	    "break_glass", c->break_glass, "mine", mine, "missing", miss);
	return row;
}

static int
scan_cb(void *arg, int64_t rowid, const json_t *rec)
{
	struct qscan *q = arg;
	bool mine = false;
	json_t *row;

	q->last = rowid;
	q->scanned++;
	memset(q->c, 0, sizeof(*q->c));
	if (tk_case_from_json(q->c, rec, &q->e) != 0) {
		(void)tk_fail(&q->e, TK_ERR_INTERNAL, "a stored case is "
		    "malformed: %.400s", q->e.msg);
		q->failed = true;
		return 1;
	}
	q->ev->n = 0;
	(void)tk_engine_refresh(&q->x, q->c, q->ev);
	/* a state filter is on the stored state: time may have moved it */
	if (q->r->state != NULL && strcmp(q->r->state, "open") != 0 &&
	    strcmp(q->r->state, tk_state_name(q->c->state)) != 0)
		goto next;
	if ((q->r->state == NULL || strcmp(q->r->state, "open") == 0) &&
	    !tk_state_is_open(q->c->state))
		goto next;
	memset(q->m, 0, sizeof(*q->m));
	tk_engine_missing(&q->x, q->c, q->m);
	for (int i = 0; i < q->m->n && i < TK_MISSING_MAX; i++)
		mine = mine || eligible(&q->m->item[i], q->actor);
	if (q->r->mine && !mine)
		goto next;
	row = row_json(q, mine);
	if (row == NULL || json_array_append_new(q->rows, row) != 0) {
		(void)tk_fail(&q->e, TK_ERR_INTERNAL, "out of memory");
		q->failed = true;
		return 1;
	}
	q->nrows++;
next:
	if (q->nrows >= q->limit || q->scanned >= q->scan_max) {
		q->full = true;
		return 1;
	}
	return 0;
}

struct qjob {
	const char *actor;
	const tk_app_queue_req *r;
	struct qscan *q;
	tk_app_err *err;
	enum tk_status st;
};

static int
queue_read(tk_app *a, tk_time now, void *arg, tk_error *unused)
{
	struct qjob *j = arg;
	struct qscan *q = j->q;
	tk_case_filter f;

	(void)unused;
	q->x = app_ctx(a, now);
	j->st = q_check_read(&q->x, j->actor, j->err);
	if (j->st != TK_OK)
		return -1;
	memset(&f, 0, sizeof(f));
	f.queue = j->r->queue;
	f.state = j->r->state != NULL ? j->r->state : "open";
	f.after = j->r->after;
	/* with mine, read in pages until enough rows or the scan budget */
	while (!q->full) {
		int before = q->scanned;

		f.limit = j->r->mine ? QUEUE_LIMIT_MAX : q->limit;
		f.after = q->last;
		if (tk_store_case_list(app_store(a), &f, scan_cb, q, &q->e) !=
		    0 && !q->failed) {
			j->st = tk_fail(&j->err->e, TK_ERR_INTERNAL, "cannot "
			    "list cases: %.400s", q->e.msg);
			return -1;
		}
		if (q->failed) {
			j->st = tk_fail(&j->err->e, TK_ERR_INTERNAL, "%.500s",
			    q->e.msg);
			return -1;
		}
		if (q->scanned - before < f.limit)
			break; /* the store has no more */
	}
	return 0;
}

enum tk_status
tk_app_queue(tk_app *a, const char *actor, const tk_app_queue_req *r,
    json_t **out, tk_app_err *err)
{
	struct qscan q;
	struct qjob j;
	tk_error e;

	memset(err, 0, sizeof(*err));
	*out = NULL;
	if (r->queue != NULL && !tk_family_valid(r->queue))
		return tk_fail(&err->e, TK_ERR_INVALID, "unknown queue '%.40s'; "
		    "queues are password, mfa, reactivation, nhi, role and "
		    "profile", r->queue);
	if (r->state != NULL && strcmp(r->state, "open") != 0 &&
	    tk_state_parse(r->state) < 0)
		return tk_fail(&err->e, TK_ERR_INVALID, "unknown state "
		    "'%.40s'", r->state);
	if (r->limit > QUEUE_LIMIT_MAX)
		return tk_fail(&err->e, TK_ERR_INVALID, "limit must be between "
		    "1 and %d", QUEUE_LIMIT_MAX);
	memset(&q, 0, sizeof(q));
	q.r = r;
	q.actor = actor;
	q.limit = r->limit <= 0 ? 100 : r->limit;
	q.scan_max = !r->mine ? INT32_MAX : r->scan_max > 0 ? r->scan_max :
	    QUEUE_SCAN_DEFAULT;
	q.last = r->after;
	q.c = malloc(sizeof(*q.c));
	q.m = malloc(sizeof(*q.m));
	q.ev = malloc(sizeof(*q.ev));
	q.rows = json_array();
	if (q.c == NULL || q.m == NULL || q.ev == NULL || q.rows == NULL) {
		(void)tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
		goto done;
	}
	memset(&j, 0, sizeof(j));
	j.actor = actor;
	j.r = r;
	j.q = &q;
	j.err = err;
	j.st = TK_OK;
	if (app_read(a, queue_read, &j, &e) != 0) {
		if (j.st == TK_OK)
			j.st = tk_fail(&err->e, TK_ERR_INTERNAL, "%.500s", e.msg);
		goto done;
	}
	*out = json_pack("{s:O, s:o, s:i}", "rows", q.rows, "next", q.full ?
	    json_integer((json_int_t)q.last) : json_null(), "scanned",
	    q.scanned);
	if (*out == NULL)
		(void)tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
done:
	json_decref(q.rows);
	free(q.c);
	free(q.m);
	free(q.ev);
	return *out != NULL ? TK_OK : err->e.status;
}

struct cjob {
	const char *actor, *state;
	json_t *counts;
	int64_t all;
	tk_app_err *err;
	enum tk_status st;
	bool oom;
};

static void
count_cb(void *arg, const char *family, int64_t n)
{
	struct cjob *j = arg;

	if (json_object_set_new(j->counts, family, json_integer(n)) != 0)
		j->oom = true;
	j->all += n;
}

static int
counts_read(tk_app *a, tk_time now, void *arg, tk_error *unused)
{
	struct cjob *j = arg;
	tk_ctx x = app_ctx(a, now);
	tk_error e;

	(void)unused;
	j->st = q_check_read(&x, j->actor, j->err);
	if (j->st != TK_OK)
		return -1;
	if (tk_store_case_counts(app_store(a), j->state, count_cb, j, &e) !=
	    0) {
		j->st = tk_fail(&j->err->e, e.status == TK_ERR_INVALID ?
		    TK_ERR_INVALID : TK_ERR_INTERNAL, "%.500s", e.msg);
		return -1;
	}
	return 0;
}

enum tk_status
tk_app_queue_counts(tk_app *a, const char *actor, const char *state,
    json_t **out, tk_app_err *err)
{
	static const char *const fams[] = {"password", "mfa", "reactivation",
	    "nhi", "role", "profile"};
	struct cjob j;
	tk_error e;

	memset(err, 0, sizeof(*err));
	memset(&j, 0, sizeof(j));
	*out = NULL;
	j.actor = actor;
	j.state = state;
	j.err = err;
	j.counts = json_object();
	if (j.counts == NULL)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++)
		if (json_object_set_new(j.counts, fams[i], json_integer(0)) != 0)
			j.oom = true;
	if (app_read(a, counts_read, &j, &e) != 0) {
		json_decref(j.counts);
		return j.st != TK_OK ? j.st : tk_fail(&err->e, TK_ERR_INTERNAL,
		    "%.500s", e.msg);
	}
	if (j.oom || json_object_set_new(j.counts, "all",
	    json_integer(j.all)) != 0) {
		json_decref(j.counts);
		return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
	}
	*out = j.counts;
	return TK_OK;
}

struct sjob {
	const char *actor, *id;
	tk_subject s;
	bool found;
	tk_app_err *err;
	enum tk_status st;
};

static int
subject_read(tk_app *a, tk_time now, void *arg, tk_error *unused)
{
	struct sjob *j = arg;
	tk_ctx x = app_ctx(a, now);
	const tk_subject *s;

	(void)unused;
	j->st = q_check_read(&x, j->actor, j->err);
	if (j->st != TK_OK)
		return -1;
	s = tk_org_subject(x.org, j->id);
	if (s != NULL) {
		j->s = *s;
		j->found = true;
	}
	return 0;
}

enum tk_status
tk_app_subject(tk_app *a, const char *actor, const char *id, json_t **out,
    tk_app_err *err)
{
	struct sjob *j;
	json_t *labels;
	enum tk_status st;
	tk_error e;

	memset(err, 0, sizeof(*err));
	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
	j->actor = actor;
	j->id = id;
	j->err = err;
	if (app_read(a, subject_read, j, &e) != 0) {
		st = j->st;
		free(j);
		return st;
	}
	if (!j->found) {
		free(j);
		return tk_fail(&err->e, TK_ERR_NOT_FOUND, "no subject '%.64s' "
		    "in the org", id);
	}
	labels = json_array();
	for (int i = 0; labels != NULL && i < j->s.nlabels; i++)
		if (json_array_append_new(labels, json_string(j->s.labels[i]))
		    != 0) {
			json_decref(labels);
			labels = NULL;
		}
	if (labels != NULL)
		*out = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s}", "id",
		    j->s.id, "kind", j->s.kind == TK_SUBJECT_NHI ? "nhi" :
		    "person", "name", j->s.name, "labels", labels, "manager",
		    j->s.manager, "owner", j->s.owner, "held_by", j->s.held_by);
	free(j);
	if (*out == NULL)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
	return TK_OK;
}
