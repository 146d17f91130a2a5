/*
 * app.c - the application layer: the one place where the pure engine, the
 * store and the clock meet.
 *
 * Owns: the tk_app handle (store, org, policy in force, clock, one mutex
 * serialising every store and engine use, and scratch buffers used only
 * under that mutex), group commit (see "Group commit" below: each case
 * operation is one savepoint of a shared transaction - load, refresh,
 * decide, persist case and events, or record the refusal, or undo on a
 * store failure - and is answered once its batch is durable), the
 * scheduler sweep (tk_app_sweep), token issue and authentication (on a
 * reader connection), the read/admin role checks, policy reloads, the
 * JSON views the API returns, the reader connections that serve GET of
 * a case without the mutex (see "Readers" below), and two caches: the
 * rendered case views (under their own mutex) and the stored records of
 * recently used cases (under the mutex); behind them, the views kept in
 * the view file for any case read before (see "Stored views").
 */
#include "app/app.h"
#include "app/app_int.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/action.h"
#include "core/case.h"
#include "core/org.h"
#include "core/policy.h"
#include "app/timeline.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "core/b64.h"
#include "audit/witness.h"
#include "store/store.h"
#include "store/store_views.h"

#define ALERTS_MAX 200
#define ALERT_CHUNK 2048
#define EVENTS_LIMIT_MAX 1000
#define LIST_LIMIT_MAX 500

/*
 * A small direct-mapped cache of rendered case views (GET /v1/cases/{id}),
 * so a hot read costs a lookup and a copy instead of a JSON round trip
 * through the store. An entry is dropped whenever its case is written or
 * gets an event (all case writes go through this process, under mu), when
 * the policy changes, and it is stale from the first moment time could
 * move the case (hold end, execution window end, review due, evidence or
 * approval expiry: every time tk_engine_refresh looks at). The slots are
 * guarded by vmu, always the innermost lock. A reader (below) may add a
 * view only if no batch transaction was open and none ended between the
 * start of its read and the insert (wbusy, vgen): then what it read is
 * the latest committed state and no uncommitted write can have dropped
 * the slot before it.
 */
#define VIEW_SLOTS 512
#define VIEW_TEXT_MAX (16 * 1024) /* larger views are not cached */

struct view_slot {
	char id[TK_ID_MAX];
	char *text;
	size_t len;
	tk_time stale_at;
};

/*
 * A small cache of stored case records: for the case ids most recently
 * read or written, the JSON object the store holds for them (committed,
 * or written by an operation of the leader's open batch). Loading a case
 * whose record is cached skips the SELECT and the text parse; the record
 * is still parsed into a tk_case exactly as a stored one would be. Only
 * touched under mu. An undone operation, a failed or rolled-back batch
 * and anything that drops every cached view drop every cached record;
 * all case writes of this process go through put_case, which replaces
 * the entry, and a commit by any other connection (seen as a change of
 * the store's data_version at the next load) drops them all too. A
 * record handed out (the response of an operation) is a shallow copy, so
 * the cached object itself is never changed.
 */
#define REC_SLOTS 64

/*
 * Readers. GET of a case runs on one of READERS read-only connections
 * without taking mu, so reads neither wait for the group-commit leader
 * (which holds mu across a batch and its fsync) nor queue behind each
 * other on one connection. Each read is one SQLite read transaction: it
 * sees the state committed when it began, never the leader's open batch
 * (WAL), which is what a read under mu sees too. A server thread keeps
 * the reader it was first given (thread-local index), so with as many
 * readers as threads there is no waiting; each reader has its own
 * scratch case, so no tk_case or jansson object is shared between
 * threads. When time has moved the case on (tk_engine_refresh changes
 * it), or the reader cannot read, the GET falls back to the path under
 * mu, which persists the change first. The policy a reader uses is held
 * under cfg (read lock); a reload swaps it under the write lock. Token
 * lookups use the readers too.
 */
#define READERS 16
#define READER_CACHE_KB 256    /* SQLite page cache per reader */

struct reader {
	pthread_mutex_t mu;     /* one thread at a time (rarely waited) */
	tk_store *store;        /* opened on first use; NULL until then */
	bool failed;            /* could not open: use the mu path */
	tk_case work;           /* scratch, under mu */
	tk_events ev;
	tk_missing missing;
	tk_viewdb *views;       /* the view file (see "Stored views") */
	bool views_failed;      /* could not open it: views are built */
};

/*
 * Stored views. Each reader also has a connection to the view file
 * (store_views.h, DB_PATH VIEWS_SUFFIX): a GET that the view cache
 * above misses looks there for the view stored under the case's stamp
 * (the record as committed, its newest event, the org and policy
 * digests) and still fresh at now, read in the same read transaction as
 * the stamp; a hit is one indexed row and a copy, with no JSON parsed
 * or built. A miss builds the view as before and stores it for the next
 * GET of the same state. Anything that could change the view changes
 * the stamp, or is the clock, which stale_at covers exactly as for the
 * cache above; a failure of the file only means building the view.
 */
#define VIEWS_SUFFIX "-views"

struct rec_slot {
	char id[TK_ID_MAX];
	json_t *rec;     /* NULL when free */
	uint64_t used;   /* LRU tick */
};

/*
 * Group commit. An operation that writes (case operations, the refresh a
 * read or the scheduler persists) is submitted with gc_submit: it joins a
 * queue, and the first thread to find no leader becomes the leader. The
 * leader takes mu and runs the queued operations back to back (also those
 * arriving meanwhile, up to GROUP_MAX) inside one transaction, each in its
 * own savepoint (op_begin; op_keep releases it, op_undo rolls back only
 * that operation), then COMMITs once - one fsync for the batch - releases
 * mu, wakes every requester of the batch with the outcome and hands the
 * leadership to the oldest queued request, if any. An idle server thus
 * commits a lone operation at once. If COMMIT fails the whole batch is
 * rolled back: every operation in it answers TK_ERR_INTERNAL and the
 * view cache and the cached last event seq are reset.
 *
 * The transaction is open only while the leader holds mu, so anything
 * else done under mu (reads, token issue, policy reload) sees and returns
 * committed data only, and needs no waiting.
 */
#define GROUP_MAX 64

typedef void (*gc_fn)(tk_app *a, void *arg);

struct gc_req {
	struct gc_req *next;
	gc_fn fn;
	void *arg;
	pthread_cond_t cv;
	bool done, ok, leader;
	char msg[256];
};

/* One operation's savepoint; what to restore when it is undone. */
struct gc_op {
	int64_t last_seq;
};

/* One witness the checkpoints are pushed to (tk_app_witness_add). Its
 * state is used by one witness round at a time (tk_app_witness_push). */
struct app_witness {
	tk_witness w;
	int64_t known;          /* size the witness said it holds, -1 unknown */
	int64_t done;           /* latest size it cosigned and we stored */
	struct timespec next;   /* no try before this (monotonic) */
	int backoff;            /* seconds to wait after the next failure */
	char last_msg[320];     /* last problem reported, "" when fine */
};

struct tk_app {
	pthread_mutex_t mu;
	tk_store *store;
	/* Reader connections (see "Readers"); NULL for ":memory:". */
	struct reader *readers;
	char db_path[1024];
	/* The policy and clock in force: written under mu and cfg (write
	 * lock), read under mu or cfg (read lock). Lock order: mu, then
	 * cfg, then vmu. */
	pthread_rwlock_t cfg;
	pthread_mutex_t vmu;    /* the view cache and the two below */
	bool wbusy;             /* a batch transaction is open (vmu) */
	uint64_t vgen;          /* bumped when one ends (vmu) */
	tk_org org;
	char org_digest[65];    /* SHA-256 of the org text, hex (cfg) */
	tk_policy *policy;
	char *policy_text;
	tk_clock_fn clock;
	void *clock_arg;
	char clock_file[512];   /* TWOKEY_TEST_CLOCK_FILE (test builds) */
	int64_t last_seq;       /* highest event seq known, 0 when none */
	struct view_slot views[VIEW_SLOTS]; /* under vmu */
	struct rec_slot recs[REC_SLOTS];    /* under mu */
	uint64_t rec_tick;                  /* under mu */
	int64_t rec_dv;     /* store data_version the records go with (mu) */
	/* group commit (see above) */
	bool tx_open;           /* the leader's batch transaction (mu) */
	atomic_bool stopping;   /* tk_app_stop: long loops end early */
	/* audit log signing (tk_app_audit_attach), under mu */
	bool signing;
	tk_note_signer signer;  /* secret: wiped at close */
	char mirror[1024];
	int64_t cp_size;        /* size of the last checkpoint */
	tk_time cp_time;        /* when it was signed (or attach) */
	bool audit_public;      /* audit routes need no role */
	/* witnesses and syslog copies (set before the server's threads
	 * start; see the audit log section at the end) */
	struct app_witness wits[TK_APP_WITNESS_MAX];
	size_t nwits;
	atomic_bool pushing;    /* a witness round is running */
	atomic_bool wit_cancel; /* abandon witness requests in flight */
	tk_syslog *cp_syslog;   /* checkpoint copies, or NULL (borrowed) */
	tk_syslog *ev_syslog;   /* event shipping, or NULL (borrowed) */
	enum tk_export_format ev_format;
	int64_t shipped;        /* last seq shipped (one shipper at a time) */
	atomic_bool shipping;   /* a shipping round is running */
	char sl_host[256];      /* RFC 5424 HOSTNAME */
	char sl_procid[24];     /* RFC 5424 PROCID */
	int sl_facility;        /* RFC 5424 facility, 0..23 */
	bool tx_broken;         /* BEGIN or a savepoint failed: the rest of
	                         * this batch fails at once (mu) */
	int batch_ops;          /* operations kept in it (mu) */
	pthread_mutex_t qmu;    /* guards the queue and the flags below */
	struct gc_req *qhead, *qtail;
	bool leading;           /* a leader is at work */
	/* scratch, used only with mu held */
	tk_case work;
	struct app_fx fx;       /* verify.c, execute.c */
	tk_events ev_refresh;
	tk_events ev_op;
	tk_missing missing;
	/* views stored in the view file that answered a GET (tests) */
	atomic_ulong view_hits;
	/* TK_TEST_HOOKS: TWOKEY_TEST_VIEWS=render builds every view,
	 * =stored skips only the in-memory cache (test_views.c) */
	bool no_vcache, no_vstore;
};

static _Thread_local unsigned reader_slot; /* 1 + index, 0: none yet */
static atomic_uint reader_next;

/* ---- small helpers ------------------------------------------------------ */

static void
err_clear(tk_app_err *err)
{
	if (err == NULL)
		return;
	err->e.status = TK_OK;
	err->e.invariant = 0;
	err->e.msg[0] = '\0';
	err->state[0] = '\0';
	err->hold_until = 0;
	err->case_id[0] = '\0';
}

static enum tk_status
oom(tk_app_err *err)
{
	return tk_fail(err ? &err->e : NULL, TK_ERR_INTERNAL,
	    "out of memory; nothing was changed");
}

/* Sets key to a new reference; returns -1 (and drops v) on failure. */
static int
jset(json_t *o, const char *key, json_t *v)
{
	if (v == NULL)
		return -1;
	return json_object_set_new(o, key, v);
}

static int
jappend(json_t *arr, json_t *v)
{
	if (v == NULL)
		return -1;
	return json_array_append_new(arr, v);
}

static int
sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != 32)
		return -1;
	return 0;
}

bool
tk_app_case_id_valid(const char *id)
{
	if (id == NULL || id[0] != 'c' || id[1] != '_')
		return false;
	for (int i = 2; i < 18; i++) {
		char ch = id[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	return id[18] == '\0';
}

/* ---- clock --------------------------------------------------------------- */

static tk_time
default_clock(tk_app *a)
{
	struct timespec ts;
	tk_time now;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		now = (tk_time)time(NULL);
	else
		now = (tk_time)ts.tv_sec;
#ifdef TK_TEST_HOOKS
	if (a->clock_file[0] != '\0') {
		FILE *f = fopen(a->clock_file, "r");
		if (f != NULL) {
			long long off = 0;
			if (fscanf(f, "%lld", &off) == 1 &&
			    off > -(1LL << 40) && off < (1LL << 40))
				now += (tk_time)off;
			(void)fclose(f);
		}
	}
#else
	(void)a;
#endif
	return now;
}

void
tk_app_set_clock(tk_app *a, tk_clock_fn fn, void *arg)
{
	(void)pthread_mutex_lock(&a->mu);
	(void)pthread_rwlock_wrlock(&a->cfg);
	a->clock = fn;
	a->clock_arg = arg;
	(void)pthread_rwlock_unlock(&a->cfg);
	(void)pthread_mutex_unlock(&a->mu);
}

/* With mu or cfg held. */
static tk_time
now_locked(tk_app *a)
{
	if (a->clock != NULL)
		return a->clock(a->clock_arg);
	return default_clock(a);
}

tk_time
tk_app_now(tk_app *a)
{
	tk_time t;

	(void)pthread_mutex_lock(&a->mu);
	t = now_locked(a);
	(void)pthread_mutex_unlock(&a->mu);
	return t;
}

static tk_ctx
ctx_locked(tk_app *a, tk_time now)
{
	tk_ctx x;

	x.policy = a->policy;
	x.org = &a->org;
	x.now = now;
	return x;
}

void
tk_app_policy_digest(tk_app *a, char *buf, size_t size)
{
	(void)pthread_mutex_lock(&a->mu);
	(void)tk_strlcpy(buf, a->policy->digest, size);
	(void)pthread_mutex_unlock(&a->mu);
}

/* ---- case view cache (vmu held, except view_drop*) ----------------------- */

static struct view_slot *
view_slot(tk_app *a, const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return &a->views[h % VIEW_SLOTS];
}

/* Drops the view of case id (mu held, takes vmu). */
static void
view_drop(tk_app *a, const char *id)
{
	struct view_slot *v;

	if (id == NULL || id[0] == '\0')
		return;
	(void)pthread_mutex_lock(&a->vmu);
	v = view_slot(a, id);
	if (strcmp(v->id, id) == 0) {
		free(v->text);
		memset(v, 0, sizeof(*v));
	}
	a->vgen++;
	(void)pthread_mutex_unlock(&a->vmu);
}

/* Marks the start (busy) or the end of a batch transaction (mu held):
 * readers add no view while one is open or after one ended. */
static void
view_batch(tk_app *a, bool busy)
{
	(void)pthread_mutex_lock(&a->vmu);
	a->wbusy = busy;
	a->vgen++;
	(void)pthread_mutex_unlock(&a->vmu);
}

/* ---- case record cache (mu held) ---------------------------------------- */

/* The cached record of case id (borrowed), or NULL. */
static json_t *
rec_find(tk_app *a, const char *id)
{
	for (size_t i = 0; i < REC_SLOTS; i++) {
		struct rec_slot *r = &a->recs[i];
		if (r->rec != NULL && strcmp(r->id, id) == 0) {
			r->used = ++a->rec_tick;
			return r->rec;
		}
	}
	return NULL;
}

static void
rec_drop(tk_app *a, const char *id)
{
	for (size_t i = 0; i < REC_SLOTS; i++) {
		struct rec_slot *r = &a->recs[i];
		if (r->rec != NULL && strcmp(r->id, id) == 0) {
			json_decref(r->rec);
			r->rec = NULL;
			r->id[0] = '\0';
		}
	}
}

static void
rec_drop_all(tk_app *a)
{
	for (size_t i = 0; i < REC_SLOTS; i++) {
		json_decref(a->recs[i].rec);
		a->recs[i].rec = NULL;
		a->recs[i].id[0] = '\0';
	}
}

/* Caches rec (a reference is taken) as what the store holds for id. */
static void
rec_put(tk_app *a, const char *id, json_t *rec)
{
	struct rec_slot *victim = NULL;

	if (strlen(id) >= sizeof(victim->id))
		return;
	rec_drop(a, id);
	for (size_t i = 0; i < REC_SLOTS; i++) {
		struct rec_slot *r = &a->recs[i];
		if (r->rec == NULL) {
			victim = r;
			break;
		}
		if (victim == NULL || r->used < victim->used)
			victim = r;
	}
	json_decref(victim->rec);
	(void)tk_strlcpy(victim->id, id, sizeof(victim->id));
	victim->rec = json_incref(rec);
	victim->used = ++a->rec_tick;
}

/* Drops every cached view and every cached case record (mu held,
 * takes vmu). */
static void
view_drop_all(tk_app *a)
{
	(void)pthread_mutex_lock(&a->vmu);
	for (size_t i = 0; i < VIEW_SLOTS; i++) {
		free(a->views[i].text);
		memset(&a->views[i], 0, sizeof(a->views[i]));
	}
	a->vgen++;
	(void)pthread_mutex_unlock(&a->vmu);
	rec_drop_all(a);
}

static void
stale_min(tk_time *m, tk_time t, tk_time now)
{
	if (t > now && t < *m)
		*m = t;
}

/* The first moment tk_engine_refresh could change c (after now). */
static tk_time
view_stale_at(const tk_case *c, tk_time now)
{
	tk_time m = INT64_MAX;

	stale_min(&m, c->hold_until, now);
	stale_min(&m, c->ready_until, now);
	stale_min(&m, c->review_due, now);
	if (c->req.approval_ttl > 0) {
		for (int i = 0; i < c->nevidence && i < TK_MAX_EVIDENCE; i++)
			if (!c->evidence[i].voided)
				stale_min(&m, c->evidence[i].at +
				    c->req.approval_ttl, now);
		for (int i = 0; i < c->napprovals && i < TK_MAX_APPROVALS; i++)
			if (!c->approvals[i].voided)
				stale_min(&m, c->approvals[i].at +
				    c->req.approval_ttl, now);
	}
	return m;
}

/* ---- group commit ---------------------------------------------------- */

/* Ends the leader's batch (mu held): COMMIT, or ROLLBACK when !commit.
 * On failure the store rolled everything back; the caches that may hold
 * its effects are reset and msg (when given) says why. */
static bool
batch_end_locked(tk_app *a, bool commit, char *msg, size_t msg_size)
{
	tk_error e;
	bool ok = false;

	if (!a->tx_open)
		return true;
	e.msg[0] = '\0';
	if (commit) {
		ok = tk_store_commit(a->store, &e) == 0;
	} else {
		tk_store_rollback(a->store);
		(void)tk_strlcpy(e.msg, "the transaction was rolled back",
		    sizeof(e.msg));
	}
	a->tx_open = false;
	view_batch(a, false);
	a->batch_ops = 0;
	if (!ok) {
		view_drop_all(a);
		a->last_seq = 0; /* re-found by sync_last_seq when needed */
		if (msg != NULL)
			(void)tk_strlcpy(msg, e.msg, msg_size);
	}
	return ok;
}

/* Starts one operation of the batch (mu held, leader): opens the batch
 * transaction when none is open, then the operation's savepoint. */
static int
op_begin(tk_app *a, struct gc_op *op, tk_error *err)
{
	if (a->tx_broken)
		return tk_fail(err, TK_ERR_INTERNAL, "an earlier operation of "
		    "this batch could not start a transaction"), -1;
	if (!a->tx_open) {
		if (tk_store_begin(a->store, err) != 0) {
			a->tx_broken = true; /* not retried per operation */
			return -1;
		}
		a->tx_open = true;
		view_batch(a, true);
		a->batch_ops = 0;
	}
	op->last_seq = a->last_seq;
	if (tk_store_savepoint(a->store, err) != 0) {
		/* The transaction is unusable: the batch fails as a whole. */
		tk_store_rollback(a->store);
		a->tx_broken = true;
		return -1;
	}
	return 0;
}

/* Undoes one operation's writes; the rest of the batch stays. If the
 * store lost the whole transaction, the batch's COMMIT fails. */
static void
op_undo(tk_app *a, const struct gc_op *op)
{
	tk_error e;

	a->last_seq = op->last_seq;
	rec_drop_all(a); /* may hold what this operation wrote */
	if (tk_store_rollback_to(a->store, &e) != 0)
		tk_store_rollback(a->store);
}

/* Keeps one operation's writes in the batch (undone on failure). */
static int
op_keep(tk_app *a, const struct gc_op *op, tk_error *err)
{
	if (tk_store_release(a->store, err) != 0) {
		op_undo(a, op);
		return -1;
	}
	a->batch_ops++;
	return 0;
}

/* The leader's work: runs the queued operations (its own first) in one
 * transaction, commits, answers the batch and passes the lead on. */
static void
gc_lead(tk_app *a)
{
	struct gc_req *batch = NULL, *last = NULL, *r, *next;
	char msg[256];
	bool ok;
	int n = 0;

	msg[0] = '\0';
	(void)pthread_mutex_lock(&a->mu);
	for (;;) {
		(void)pthread_mutex_lock(&a->qmu);
		r = n < GROUP_MAX ? a->qhead : NULL;
		if (r != NULL) {
			a->qhead = r->next;
			if (a->qhead == NULL)
				a->qtail = NULL;
			r->next = NULL;
		}
		(void)pthread_mutex_unlock(&a->qmu);
		if (r == NULL)
			break;
		r->fn(a, r->arg);
		if (last != NULL)
			last->next = r;
		else
			batch = r;
		last = r;
		n++;
	}
	/* A transaction the store lost (op_begin, op_undo) is no longer
	 * open: its COMMIT fails and the batch with it. */
	if (a->tx_open && !tk_store_in_transaction(a->store)) {
		a->tx_open = false;
		view_batch(a, false);
		view_drop_all(a);
		a->last_seq = 0;
		ok = false;
		(void)tk_strlcpy(msg, "the transaction was rolled back",
		    sizeof(msg));
	} else {
		ok = batch_end_locked(a, true, msg, sizeof(msg));
	}
	a->tx_broken = false;
	(void)pthread_mutex_unlock(&a->mu);
	(void)pthread_mutex_lock(&a->qmu);
	for (r = batch; r != NULL; r = next) {
		next = r->next;
		r->ok = ok;
		if (!ok)
			(void)tk_strlcpy(r->msg, msg, sizeof(r->msg));
		r->done = true;
		(void)pthread_cond_signal(&r->cv); /* r is gone after unlock */
	}
	if (a->qhead != NULL) {
		a->qhead->leader = true;
		(void)pthread_cond_signal(&a->qhead->cv);
	} else {
		a->leading = false;
	}
	(void)pthread_mutex_unlock(&a->qmu);
}

/*
 * Runs fn(a, arg) with mu held inside the batch transaction (see above)
 * and returns once its batch is durably committed: true, or false with
 * err filled when the batch failed (nothing fn did may be reported).
 */
static bool
gc_submit(tk_app *a, gc_fn fn, void *arg, tk_error *err)
{
	struct gc_req r;

	memset(&r, 0, sizeof(r));
	r.fn = fn;
	r.arg = arg;
	if (pthread_cond_init(&r.cv, NULL) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot create a condition "
		    "variable");
		return false;
	}
	(void)pthread_mutex_lock(&a->qmu);
	if (a->qtail != NULL)
		a->qtail->next = &r;
	else
		a->qhead = &r;
	a->qtail = &r;
	if (!a->leading) {
		a->leading = true;
		r.leader = true;
	}
	while (!r.done && !r.leader)
		(void)pthread_cond_wait(&r.cv, &a->qmu);
	(void)pthread_mutex_unlock(&a->qmu);
	if (!r.done) {
		gc_lead(a); /* r is at the head of the queue: it runs first */
		(void)pthread_mutex_lock(&a->qmu); /* r.done, r.ok are set */
		(void)pthread_mutex_unlock(&a->qmu);
	}
	(void)pthread_cond_destroy(&r.cv);
	if (!r.ok)
		(void)tk_fail(err, TK_ERR_INTERNAL, "storage failed; nothing "
		    "was changed: %.400s", r.msg);
	return r.ok;
}

/* The answer of a submitted operation: on a failed batch, drops *out and
 * turns the answer into TK_ERR_INTERNAL. */
static enum tk_status
gc_answer(bool committed, const tk_error *e, enum tk_status st,
    json_t **out, tk_app_err *err)
{
	if (committed || st == TK_ERR_INTERNAL)
		return st;
	if (out != NULL) {
		json_decref(*out);
		*out = NULL;
	}
	err_clear(err);
	return tk_fail(&err->e, TK_ERR_INTERNAL, "%s", e->msg);
}

/* ---- events -------------------------------------------------------------- */

/* Refuses a write when the leader's batch transaction was dropped by the
 * store (after an I/O, full or busy error): without this the write would
 * land in autocommit mode, outside the batch that is about to fail. */
static int
tx_usable(tk_app *a, tk_error *err)
{
	if (a->tx_open && !tk_store_in_transaction(a->store)) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the store rolled the "
		    "transaction back; nothing more is written in it");
		return -1;
	}
	return 0;
}

/* Appends one event (data is stolen). With mu held, inside a transaction. */
static int
append_event(tk_app *a, tk_time now, const char *case_id, const char *kind,
    const char *actor, bool alert, json_t *data, tk_error *err)
{
	tk_event_row row;
	int rc;

	if (data == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (tx_usable(a, err) != 0) {
		json_decref(data);
		return -1;
	}
	memset(&row, 0, sizeof(row));
	view_drop(a, case_id);
	rc = tk_store_event_append(a->store, now, case_id ? case_id : "",
	    kind, actor ? actor : "system", alert, data, &row, err);
	json_decref(data);
	if (rc == 0 && row.seq > a->last_seq)
		a->last_seq = row.seq;
	tk_event_row_clear(&row);
	return rc;
}

static json_t *
engine_event_data(const tk_case *c, const tk_event *ev)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "detail", ev->detail,
	    "tier", c->tier, "subject", c->subject, "action", c->action);
}

/* The hold started: the subject is told through every contact on file
 * (invariant 8). Queued in the same transaction; verify.c sends them. */
static int
queue_hold_notices(tk_app *a, tk_time now, const tk_case *c, tk_error *err)
{
	const tk_subject *s = tk_org_subject(&a->org, c->subject);

	if (s == NULL)
		return 0;
	for (int i = 0; i < s->ncontacts; i++)
		if (tk_store_outbox_add(a->store, c->id, "hold",
		    s->contacts[i].value, now, err) != 0)
			return -1;
	return 0;
}

static int
append_engine_events(tk_app *a, tk_time now, const tk_case *c,
    const tk_events *evs, tk_error *err)
{
	for (int i = 0; i < evs->n && i < TK_EVENTS_MAX; i++) {
		const tk_event *ev = &evs->ev[i];
		if (append_event(a, now, c->id, ev->kind, ev->actor, ev->alert,
		    engine_event_data(c, ev), err) != 0)
			return -1;
		if (strcmp(ev->kind, "hold.started") == 0 &&
		    queue_hold_notices(a, now, c, err) != 0)
			return -1;
	}
	return 0;
}

static bool
is_refusal(enum tk_status st)
{
	return st == TK_ERR_SOD || st == TK_ERR_FORBIDDEN ||
	    st == TK_ERR_WRONG_STATE || st == TK_ERR_POLICY_DENIED;
}

/* The `refused` event's data; extra (stolen, may be NULL) is merged. */
static json_t *
refused_data(const char *what, const tk_error *e, const char *state,
    json_t *extra)
{
	char detail[TK_TEXT_MAX];
	json_t *d;

	(void)snprintf(detail, sizeof(detail), "%s refused (%s): %s", what,
	    tk_status_code(e->status), e->msg);
	d = json_pack("{s:s, s:s, s:s, s:s}", "action", what, "code",
	    tk_status_code(e->status), "message", e->msg, "detail", detail);
	if (d == NULL) {
		json_decref(extra);
		return NULL;
	}
	if (e->status == TK_ERR_SOD &&
	    jset(d, "invariant", json_integer(e->invariant)) != 0)
		goto fail;
	if (state != NULL && state[0] != '\0' &&
	    jset(d, "state", json_string(state)) != 0)
		goto fail;
	if (extra != NULL) {
		if (json_object_update(d, extra) != 0)
			goto fail;
		json_decref(extra);
	}
	return d;
fail:
	json_decref(extra);
	json_decref(d);
	return NULL;
}

/* ---- views ----------------------------------------------------------- */

static json_t *
missing_json(tk_missing *ms, const tk_ctx *x, const tk_case *c)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return NULL;
	memset(ms, 0, sizeof(*ms));
	tk_engine_missing(x, c, ms);
	for (int i = 0; i < ms->n && i < TK_MISSING_MAX; i++) {
		const tk_missing_item *m = &ms->item[i];
		json_t *el = json_array();
		json_t *it;

		if (el == NULL)
			goto fail;
		for (int k = 0; k < m->neligible && k < TK_ELIGIBLE_MAX; k++)
			if (jappend(el, json_string(m->eligible[k])) != 0) {
				json_decref(el);
				goto fail;
			}
		it = json_pack("{s:s, s:s, s:o}", "group", m->group,
		    "need", m->need, "eligible", el);
		if (jappend(arr, it) != 0)
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

/* Builds {seq, ts, [case,] kind, actor, alert, [detail,] data} from a
 * stored row by reading back its canonical body. */
static json_t *
event_json(const tk_event_row *row, bool with_case, bool with_detail)
{
	char ts[32];
	char hash[65];
	json_t *body, *data, *j, *detail;
	json_error_t jerr;

	body = json_loads(row->body ? row->body : "{}", 0, &jerr);
	data = body ? json_object_get(body, "data") : NULL;
	tk_time_format(row->ts, ts, sizeof(ts));
	tk_hex_encode(row->hash, 32, hash);
	j = json_pack("{s:I, s:s, s:s, s:s, s:b, s:O?}", "seq",
	    (json_int_t)row->seq, "ts", ts, "kind", row->kind,
	    "actor", row->actor, "alert", row->alert, "data", data);
	if (j == NULL)
		goto done;
	if (with_case && jset(j, "case", row->case_id[0] ?
	    json_string(row->case_id) : json_null()) != 0)
		goto fail;
	if (with_detail) {
		detail = data ? json_object_get(data, "detail") : NULL;
		if (jset(j, "detail", json_string(json_is_string(detail) ?
		    json_string_value(detail) : "")) != 0)
			goto fail;
	}
	if (!with_detail && jset(j, "hash", json_string(hash)) != 0)
		goto fail;
	if (json_object_get(j, "data") == NULL &&
	    jset(j, "data", json_object()) != 0)
		goto fail;
	goto done;
fail:
	json_decref(j);
	j = NULL;
done:
	json_decref(body);
	return j;
}

struct evlist {
	json_t *arr;
	bool with_case, with_detail, alerts_only, failed;
};

static int
evlist_cb(void *arg, const tk_event_row *row)
{
	struct evlist *l = arg;

	if (l->alerts_only && !row->alert)
		return 0;
	if (jappend(l->arr, event_json(row, l->with_case, l->with_detail))
	    != 0) {
		l->failed = true;
		return 1;
	}
	return 0;
}

/* The case view (view_of): record + queue + missing (+ events read from
 * store, with ms as scratch; the caller holds what guards both: mu for
 * the writer's connection, a reader's own mutex for its). rec, when not NULL, is tk_case_to_json(c) already made (stolen, also
 * on failure); otherwise it is made here. */
/* The subject's contacts on file: the only numbers and addresses a
 * verifier may call back or confirm through (invariant 6), so the view
 * shows them, never one a caller gave. */
static json_t *
contacts_json(const tk_ctx *x, const tk_case *c)
{
	const tk_subject *s = tk_org_subject(x->org, c->subject);
	json_t *arr = json_array();

	if (arr == NULL || s == NULL)
		return arr;
	for (int i = 0; i < s->ncontacts; i++)
		if (jappend(arr, json_pack("{s:s, s:s}", "kind",
		    s->contacts[i].kind == TK_CONTACT_PHONE ? "phone" : "email",
		    "value", s->contacts[i].value)) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static json_t *
view_of(tk_store *store, tk_missing *ms, const tk_ctx *x, const tk_case *c,
    json_t *rec, bool with_events, tk_error *err)
{
	json_t *j = rec != NULL ? rec : tk_case_to_json(c);

	if (j == NULL)
		goto oom;
	if (jset(j, "queue", json_string(c->family)) != 0 ||
	    jset(j, "missing", missing_json(ms, x, c)) != 0 ||
	    jset(j, "contacts_on_file", contacts_json(x, c)) != 0)
		goto oom;
	if (with_events) {
		struct evlist l = {json_array(), false, true, false, false};
		if (l.arr == NULL)
			goto oom;
		if (tk_store_event_list_case(store, c->id, evlist_cb, &l,
		    err) != 0) {
			json_decref(l.arr);
			json_decref(j);
			if (!l.failed)
				return NULL;
			goto oom;
		}
		if (l.failed) {
			json_decref(l.arr);
			goto oom;
		}
		if (jset(j, "events", l.arr) != 0 ||
		    jset(j, "timeline", tk_timeline(c, json_object_get(j,
		    "events"))) != 0)
			goto oom;
	}
	return j;
oom:
	json_decref(j);
	(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
	return NULL;
}

/* The same with mu held, from the writer's connection. */
static json_t *
case_view(tk_app *a, const tk_ctx *x, const tk_case *c, json_t *rec,
    bool with_events, tk_error *err)
{
	return view_of(a->store, &a->missing, x, c, rec, with_events, err);
}

/*
 * The answer of a case operation that changed a case (201/200 with the
 * case view, no events). The leader only copies the case as stored into
 * it (ready); the requester's own thread renders it once the batch is
 * durable, outside mu, under cfg like a reader: the JSON work stays off
 * the group-commit leader's critical path. Heap-allocated per request
 * (a tk_case is large); nothing in it is shared.
 */
struct answer {
	tk_case c;
	tk_missing ms;
	tk_time now;
	bool ready;
};

static struct answer *
answer_new(void)
{
	struct answer *an = malloc(sizeof(*an));

	if (an != NULL)
		an->ready = false;
	return an;
}

/* Keeps c, as just stored at now, for the answer (mu held). */
static void
answer_keep(struct answer *an, const tk_case *c, tk_time now)
{
	if (an == NULL)
		return;
	an->c = *c;
	an->now = now;
	an->ready = true;
}

/* Renders the kept case into *out (no lock held). what names the
 * operation in the error when out of memory. */
static enum tk_status
answer_render(tk_app *a, struct answer *an, const char *what, json_t **out,
    tk_app_err *err)
{
	tk_ctx x;

	if (!an->ready)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "%s was saved but "
		    "its answer was not kept; GET the case", what);
	(void)pthread_rwlock_rdlock(&a->cfg);
	x = ctx_locked(a, an->now);
	*out = view_of(NULL, &an->ms, &x, &an->c, NULL, false, &err->e);
	(void)pthread_rwlock_unlock(&a->cfg);
	if (*out == NULL)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "%s was saved but the "
		    "answer could not be built (out of memory); GET the case",
		    what);
	return TK_OK;
}

/* ---- open / close ---------------------------------------------------- */

static int
load_config(tk_app *a, tk_error *err)
{
	char *org_text = NULL;
	unsigned char d[32];

	if (tk_store_config_get(a->store, "org", &org_text, err) != 0) {
		if (err != NULL && err->status == TK_ERR_NOT_FOUND)
			(void)tk_fail(err, TK_ERR_INVALID, "the database has "
			    "no org; create it with `twokey init`");
		return -1;
	}
	if (tk_org_load(&a->org, org_text, strlen(org_text), "org",
	    err) != 0) {
		free(org_text);
		return -1;
	}
	if (sha256(org_text, strlen(org_text), d) != 0) {
		free(org_text);
		return tk_fail(err, TK_ERR_INTERNAL, "cannot hash the org"), -1;
	}
	tk_hex_encode(d, sizeof(d), a->org_digest);
	free(org_text);
	if (tk_store_config_get(a->store, "policy", &a->policy_text,
	    err) != 0) {
		if (err != NULL && err->status == TK_ERR_NOT_FOUND)
			(void)tk_fail(err, TK_ERR_INVALID, "the database has "
			    "no policy; create it with `twokey init`");
		return -1;
	}
	a->policy = calloc(1, sizeof(*a->policy));
	if (a->policy == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (tk_policy_load(a->policy, a->policy_text, strlen(a->policy_text),
	    "policy", err) != 0) {
		free(a->policy);
		a->policy = NULL;
		return -1;
	}
	return 0;
}

struct probe {
	bool found;
};

static int
probe_cb(void *arg, const tk_event_row *row)
{
	struct probe *p = arg;

	(void)row;
	p->found = true;
	return 1;
}

/* Is there an event with this seq (the chain is gapless from 1)? */
static int
seq_exists(tk_app *a, int64_t seq, bool *found, tk_error *err)
{
	struct probe p = {false};

	if (tk_store_event_scan(a->store, seq, 1, probe_cb, &p, err) != 0)
		return -1;
	*found = p.found;
	return 0;
}

/* Brings a->last_seq up to the newest event (others may append too). */
static int
sync_last_seq(tk_app *a, tk_error *err)
{
	int64_t lo = a->last_seq, hi, step = 1;
	bool found;

	/* lo exists (or is 0); find an hi that does not. */
	for (;;) {
		hi = lo + step;
		if (seq_exists(a, hi, &found, err) != 0)
			return -1;
		if (!found)
			break;
		lo = hi;
		if (step < (INT64_C(1) << 40))
			step *= 2;
	}
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (seq_exists(a, mid, &found, err) != 0)
			return -1;
		if (found)
			lo = mid;
		else
			hi = mid;
	}
	a->last_seq = lo;
	return 0;
}

/* ---- readers (see "Readers") ------------------------------------------ */

/* cfg prefers writers, so a policy reload is not starved by reads. */
static int
cfg_lock_init(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t at;
	int rc;

	if (pthread_rwlockattr_init(&at) != 0)
		return -1;
	(void)pthread_rwlockattr_setkind_np(&at,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(l, &at);
	(void)pthread_rwlockattr_destroy(&at);
	return rc == 0 ? 0 : -1;
}

static int
readers_init(tk_app *a, const char *db_path, tk_error *err)
{
	if (tk_strlcpy(a->db_path, db_path, sizeof(a->db_path)) != 0)
		return tk_fail(err, TK_ERR_INVALID, "database path too long"),
		    -1;
	/* Large and zeroed: pages are touched only when a reader is used. */
	a->readers = calloc(READERS, sizeof(*a->readers));
	if (a->readers == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
	for (size_t i = 0; i < READERS; i++)
		if (pthread_mutex_init(&a->readers[i].mu, NULL) != 0) {
			for (size_t k = 0; k < i; k++)
				(void)pthread_mutex_destroy(&a->readers[k].mu);
			free(a->readers);
			a->readers = NULL;
			return tk_fail(err, TK_ERR_INTERNAL, "cannot create a "
			    "mutex"), -1;
		}
	return 0;
}

static void
readers_close(tk_app *a)
{
	if (a->readers == NULL)
		return;
	for (size_t i = 0; i < READERS; i++) {
		if (a->readers[i].store != NULL)
			tk_store_close(a->readers[i].store);
		tk_viewdb_close(a->readers[i].views);
		(void)pthread_mutex_destroy(&a->readers[i].mu);
	}
	free(a->readers);
	a->readers = NULL;
}

/* This thread's reader, locked and with its connection open, or NULL
 * when there is none (":memory:", or it cannot be opened: the caller
 * uses the path under mu). Release with reader_put. */
static struct reader *
reader_get(tk_app *a)
{
	struct reader *r;
	tk_error e;

	if (a->readers == NULL)
		return NULL;
	if (reader_slot == 0)
		reader_slot = 1 + atomic_fetch_add(&reader_next, 1) % READERS;
	r = &a->readers[(reader_slot - 1) % READERS];
	(void)pthread_mutex_lock(&r->mu);
	if (r->store == NULL && !r->failed) {
		r->store = tk_store_open(a->db_path, false, &e);
		if (r->store != NULL &&
		    tk_store_reader(r->store, READER_CACHE_KB, &e) != 0) {
			tk_store_close(r->store);
			r->store = NULL;
		}
		r->failed = r->store == NULL;
	}
	if (r->store == NULL) {
		(void)pthread_mutex_unlock(&r->mu);
		return NULL;
	}
	if (r->views == NULL && !r->views_failed && !a->no_vstore) {
		char path[sizeof(a->db_path) + sizeof(VIEWS_SUFFIX)];
		(void)snprintf(path, sizeof(path), "%s%s", a->db_path,
		    VIEWS_SUFFIX);
		r->views = tk_viewdb_open(path, &e);
		r->views_failed = r->views == NULL;
	}
	return r;
}

static void
reader_put(struct reader *r)
{
	(void)pthread_mutex_unlock(&r->mu);
}

tk_app *
tk_app_open(const char *db_path, tk_error *err)
{
	tk_app *a;
	const char *cf;

	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot create a mutex");
		return NULL;
	}
	if (pthread_mutex_init(&a->qmu, NULL) != 0) {
		(void)pthread_mutex_destroy(&a->mu);
		free(a);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot create a mutex");
		return NULL;
	}
	if (pthread_mutex_init(&a->vmu, NULL) != 0) {
		(void)pthread_mutex_destroy(&a->qmu);
		(void)pthread_mutex_destroy(&a->mu);
		free(a);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot create a mutex");
		return NULL;
	}
	if (cfg_lock_init(&a->cfg) != 0) {
		(void)pthread_mutex_destroy(&a->vmu);
		(void)pthread_mutex_destroy(&a->qmu);
		(void)pthread_mutex_destroy(&a->mu);
		free(a);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot create a lock");
		return NULL;
	}
	cf = getenv("TWOKEY_TEST_CLOCK_FILE");
	if (cf != NULL)
		(void)tk_strlcpy(a->clock_file, cf, sizeof(a->clock_file));
#ifdef TK_TEST_HOOKS
	cf = getenv("TWOKEY_TEST_VIEWS");
	if (cf != NULL) {
		a->no_vcache = strcmp(cf, "render") == 0 ||
		    strcmp(cf, "stored") == 0;
		a->no_vstore = strcmp(cf, "render") == 0;
	}
#endif
	a->store = tk_store_open(db_path, false, err);
	if (a->store == NULL)
		goto fail;
	/* ":memory:" is private to one connection: no readers. */
	if (strcmp(db_path, ":memory:") != 0 && readers_init(a, db_path,
	    err) != 0)
		goto fail;
	if (load_config(a, err) != 0)
		goto fail;
	if (sync_last_seq(a, err) != 0)
		goto fail;
	return a;
fail:
	tk_app_close(a);
	return NULL;
}

void
tk_app_close(tk_app *a)
{
	if (a == NULL)
		return;
	app_fx_close(a);
	readers_close(a);
	if (a->store != NULL)
		tk_store_close(a->store);
	if (a->policy != NULL) {
		tk_policy_free(a->policy);
		free(a->policy);
	}
	free(a->policy_text);
	view_drop_all(a);
	tk_note_signer_wipe(&a->signer);
	tk_org_free(&a->org);
	(void)pthread_rwlock_destroy(&a->cfg);
	(void)pthread_mutex_destroy(&a->vmu);
	(void)pthread_mutex_destroy(&a->qmu);
	(void)pthread_mutex_destroy(&a->mu);
	free(a);
}

/* ---- tokens ------------------------------------------------------------ */

enum tk_status
tk_app_token_issue(tk_app *a, const char *login, char *out, size_t out_size,
    tk_app_err *err)
{
	unsigned char raw[32], hash[32];
	char b64[TK_B64_LEN(32) + 1];
	char token[TK_TOKEN_MAX];
	size_t n = 0;
	tk_time now;
	enum tk_status st = TK_OK;
	json_t *data;

	err_clear(err);
	if (login == NULL || tk_org_staff(&a->org, login) == NULL)
		return tk_fail(&err->e, TK_ERR_NOT_FOUND, "'%s' is not staff "
		    "in the org; only staff members get tokens",
		    login ? login : "");
	if (out_size < TK_TOKEN_MAX)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "token buffer too small");
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return tk_fail(&err->e, TK_ERR_INTERNAL,
		    "the system random generator failed");
	tk_b64_encode(raw, sizeof(raw), b64);
	memcpy(token, "tk_", 3);
	for (size_t i = 0; i < 44 && b64[i] != '='; i++) {
		char ch = b64[i];
		token[3 + n++] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
	}
	token[3 + n] = '\0';
	if (sha256(token, 3 + n, hash) != 0) {
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot hash token");
		goto done;
	}
	(void)pthread_mutex_lock(&a->mu);
	now = now_locked(a);
	data = json_pack("{s:s, s:s}", "detail", "API token issued",
	    "login", login);
	if (tk_store_begin(a->store, &err->e) != 0 ||
	    tk_store_token_put(a->store, login, hash, now, &err->e) != 0 ||
	    append_event(a, now, "", "token.issued", "system", false,
	    json_incref(data), &err->e) != 0 ||
	    tk_store_commit(a->store, &err->e) != 0) {
		tk_store_rollback(a->store);
		char why[sizeof(err->e.msg)];

		(void)tk_strlcpy(why, err->e.msg, sizeof(why));
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot store the token: "
		    "%.400s", why);
	}
	(void)pthread_mutex_unlock(&a->mu);
	json_decref(data);
	if (st == TK_OK)
		(void)tk_strlcpy(out, token, out_size);
done:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(hash, sizeof(hash));
	return st;
}

enum tk_status
tk_app_authenticate(tk_app *a, const char *token, size_t token_len,
    char *login_out, size_t login_size, tk_app_err *err)
{
	unsigned char hash[32];
	char login[TK_ID_MAX];
	struct reader *r;
	tk_error e;
	int rc;

	err_clear(err);
	if (token == NULL || token_len == 0)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "no token: send "
		    "'Authorization: Bearer <token>' with a token from "
		    "`twokey token issue`");
	if (token_len > 512)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "unknown token: it was "
		    "never issued or has been revoked; ask an admin for a new "
		    "one");
	if (sha256(token, token_len, hash) != 0)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "cannot hash token");
	login[0] = '\0';
	if ((r = reader_get(a)) != NULL) {
		rc = tk_store_token_lookup(r->store, hash, login, sizeof(login),
		    &e);
		reader_put(r);
	} else {
		(void)pthread_mutex_lock(&a->mu);
		rc = tk_store_token_lookup(a->store, hash, login, sizeof(login),
		    &e);
		(void)pthread_mutex_unlock(&a->mu);
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	if (rc != 0) {
		if (e.status == TK_ERR_NOT_FOUND)
			return tk_fail(&err->e, TK_ERR_UNAUTH, "unknown token: it "
			    "was never issued or has been revoked; ask an admin "
			    "for a new one");
		return tk_fail(&err->e, TK_ERR_INTERNAL, "cannot check the "
		    "token: %.400s", e.msg);
	}
	/* The org never changes while the app is open: no lock needed. */
	if (tk_org_staff(&a->org, login) == NULL)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "the token belongs to "
		    "'%s', who is no longer staff in the org", login);
	if (tk_strlcpy(login_out, login, login_size) != 0)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "login too long");
	return TK_OK;
}

/* ---- role checks (mu held) ------------------------------------------- */

static const tk_staff *
actor_staff(tk_app *a, const char *actor, tk_app_err *err)
{
	const tk_staff *s = actor ? tk_org_staff(&a->org, actor) : NULL;

	if (s == NULL)
		(void)tk_fail(&err->e, TK_ERR_UNAUTH, "'%s' is not staff in "
		    "the org", actor ? actor : "");
	return s;
}

static enum tk_status
check_read(tk_app *a, const tk_ctx *x, const char *actor, tk_app_err *err)
{
	if (actor_staff(a, actor, err) == NULL)
		return err->e.status;
	if (!tk_engine_can_read(x, actor))
		return tk_fail(&err->e, TK_ERR_FORBIDDEN, "reading cases needs "
		    "a staff function or the auditor role; '%s' has neither",
		    actor);
	return TK_OK;
}

static enum tk_status
check_roles(tk_app *a, const char *actor, unsigned roles, const char *what,
    tk_app_err *err)
{
	const tk_staff *s = actor_staff(a, actor, err);

	if (s == NULL)
		return err->e.status;
	if ((s->roles & roles) == 0)
		return tk_fail(&err->e, TK_ERR_FORBIDDEN, "%s needs the %s "
		    "role; '%s' does not have it", what,
		    roles == TK_ROLE_ADMIN ? "admin" : "auditor or admin",
		    actor);
	return TK_OK;
}

/* ---- reads ----------------------------------------------------------- */

/* Names of the TK_CAP_* bits, bit 0 first (as in the policy file). */
static const char *const cap_names[] = {
	"intake", "verify", "approve", "execute", "review", "attest",
	"approve_owned",
};

enum tk_status
tk_app_me(tk_app *a, const char *actor, json_t **out, tk_app_err *err)
{
	const tk_staff *s;
	json_t *roles = NULL, *caps = NULL;
	unsigned c;
	bool bg;

	err_clear(err);
	*out = NULL;
	(void)pthread_mutex_lock(&a->mu);
	s = actor_staff(a, actor, err);
	if (s == NULL) {
		(void)pthread_mutex_unlock(&a->mu);
		return err->e.status;
	}
	c = s->function[0] ? tk_policy_caps(a->policy, s->function) : 0;
	bg = s->function[0] && tk_policy_can_break_glass(a->policy,
	    s->function);
	(void)pthread_mutex_unlock(&a->mu);
	roles = json_array();
	caps = json_array();
	if (roles == NULL || caps == NULL)
		goto fail;
	if ((s->roles & TK_ROLE_ADMIN) && jappend(roles, json_string("admin")))
		goto fail;
	if ((s->roles & TK_ROLE_AUDITOR) &&
	    jappend(roles, json_string("auditor")))
		goto fail;
	for (unsigned i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if ((c & (1u << i)) && jappend(caps, json_string(cap_names[i])))
			goto fail;
	/* declaring break-glass is allowed per function by the policy */
	if (bg && jappend(caps, json_string("break_glass")))
		goto fail;
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "login",
	    s->login, "name", s->name, "function", s->function, "team",
	    s->team, "manager", s->manager, "roles", roles,
	    "capabilities", caps);
	if (*out == NULL)
		return oom(err);
	return TK_OK;
fail:
	json_decref(roles);
	json_decref(caps);
	return oom(err);
}

static enum tk_status
not_found(const char *id, tk_app_err *err)
{
	return tk_fail(&err->e, TK_ERR_NOT_FOUND, "no case %s; list cases "
	    "with GET /v1/cases", id);
}

/* Loads case id into a->work (mu held), from the record cache when it
 * holds the case. */
static enum tk_status
load_case(tk_app *a, const char *id, tk_app_err *err)
{
	json_t *rec;
	bool cached;
	int64_t dv;
	tk_error e;

	if (tk_store_data_version(a->store, &dv, &e) != 0) {
		rec_drop_all(a); /* cannot tell: read the store */
	} else if (dv != a->rec_dv) {
		rec_drop_all(a); /* another connection committed */
		a->rec_dv = dv;
	}
	rec = rec_find(a, id);
	cached = rec != NULL;
	if (cached) {
		(void)json_incref(rec);
	} else if (tk_store_case_get(a->store, id, &rec, &e) != 0) {
		if (e.status == TK_ERR_NOT_FOUND)
			return not_found(id, err);
		return tk_fail(&err->e, TK_ERR_INTERNAL, "cannot read case %s: "
		    "%.400s", id, e.msg);
	}
	memset(&a->work, 0, sizeof(a->work));
	if (tk_case_from_json(&a->work, rec, &e) != 0) {
		json_decref(rec);
		return tk_fail(&err->e, TK_ERR_INTERNAL, "case %s is stored "
		    "malformed: %.400s", id, e.msg);
	}
	if (!cached)
		rec_put(a, id, rec);
	json_decref(rec);
	return TK_OK;
}

/* Stores case c (mu held, in a transaction) and caches its record. */
static int
put_case(tk_app *a, const tk_case *c, tk_error *err)
{
	json_t *rec = tk_case_to_json(c);
	int rc;

	view_drop(a, c->id);
	rec_drop(a, c->id);
	if (rec == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return -1;
	}
	if (tx_usable(a, err) != 0) {
		json_decref(rec);
		return -1;
	}
	rc = tk_store_case_put(a->store, c->id, c->subject, c->family,
	    tk_state_name(c->state), c->updated, rec, err);
	if (rc == 0)
		rec_put(a, c->id, rec);
	json_decref(rec);
	return rc;
}

/* Loads, refreshes and renders case id with its events into *out (mu
 * held). When time moved the case on, the change is persisted first: as
 * an operation of the batch when called by the group-commit leader
 * (write), otherwise nothing is rendered and *must_write is set. */
static enum tk_status
case_get_locked(tk_app *a, const tk_ctx *x, const char *actor,
    const char *id, bool write, bool *must_write, json_t **out,
    tk_app_err *err)
{
	enum tk_status st;
	struct gc_op op;
	tk_error e;

	*must_write = false;
	st = check_read(a, x, actor, err);
	if (st != TK_OK)
		return st;
	st = load_case(a, id, err);
	if (st != TK_OK)
		return st;
	a->ev_refresh.n = 0;
	if (tk_engine_refresh(x, &a->work, &a->ev_refresh)) {
		if (!write) {
			*must_write = true;
			return TK_OK;
		}
		/* Time moved the case on: persist it with its events. */
		if (op_begin(a, &op, &e) != 0)
			return tk_fail(&err->e, TK_ERR_INTERNAL, "cannot store "
			    "case %s: %.400s", id, e.msg);
		if (put_case(a, &a->work, &e) != 0 ||
		    append_engine_events(a, x->now, &a->work, &a->ev_refresh,
		    &e) != 0) {
			op_undo(a, &op);
			return tk_fail(&err->e, TK_ERR_INTERNAL, "cannot store "
			    "case %s: %.400s", id, e.msg);
		}
		if (op_keep(a, &op, &e) != 0)
			return tk_fail(&err->e, TK_ERR_INTERNAL, "cannot store "
			    "case %s: %.400s", id, e.msg);
	}
	*out = case_view(a, x, &a->work, NULL, true, &err->e);
	if (*out == NULL)
		return err->e.status = TK_ERR_INTERNAL;
	return TK_OK;
}

static char *
dup_text(const char *text, size_t len)
{
	char *d = malloc(len + 1);

	if (d != NULL) {
		memcpy(d, text, len);
		d[len] = '\0';
	}
	return d;
}

/* One GET of a case, as JSON (view) or as cached compact text (txt). */
struct get_job {
	const char *actor, *id;
	bool text;
	json_t *view;
	char *txt;
	size_t len;
	tk_app_err *err;
	enum tk_status st;
};

/* Answers j from the view cache when it holds a fresh view of the case
 * (mu or cfg held, takes vmu): true when answered. */
static bool
get_job_cached(tk_app *a, const tk_ctx *x, struct get_job *j)
{
	struct view_slot *v;
	bool hit;

	if (!j->text || a->no_vcache)
		return false;
	(void)pthread_mutex_lock(&a->vmu);
	v = view_slot(a, j->id);
	hit = v->text != NULL && strcmp(v->id, j->id) == 0 &&
	    x->now < v->stale_at;
	if (hit) {
		j->txt = dup_text(v->text, v->len);
		j->len = v->len;
	}
	(void)pthread_mutex_unlock(&a->vmu);
	if (!hit)
		return false;
	j->st = check_read(a, x, j->actor, j->err);
	if (j->st != TK_OK) {
		free(j->txt);
		j->txt = NULL;
		j->len = 0;
	} else if (j->txt == NULL) {
		j->st = oom(j->err);
	}
	return true;
}

/* Turns j's view into compact text (j->text) and offers it to the view
 * cache as the view of case c at now. Under mu (gen NULL) it is kept:
 * inside a batch the view may not be durable yet, but a failed COMMIT
 * drops every cached view before mu is released. From a reader it is
 * kept only when no batch is open and vgen is still *gen, the value it
 * had, with no batch open, before the read began. */
static void
get_job_text(tk_app *a, struct get_job *j, const tk_case *c, tk_time now,
    const uint64_t *gen)
{
	struct view_slot *v;
	char *t, *copy;

	if (j->st != TK_OK || !j->text)
		return;
	t = json_dumps(j->view, JSON_COMPACT);
	json_decref(j->view);
	j->view = NULL;
	if (t == NULL) {
		j->st = oom(j->err);
		return;
	}
	j->txt = t;
	j->len = strlen(t);
	if (j->len > VIEW_TEXT_MAX || (copy = dup_text(t, j->len)) == NULL)
		return;
	(void)pthread_mutex_lock(&a->vmu);
	if (gen == NULL || (!a->wbusy && a->vgen == *gen)) {
		v = view_slot(a, j->id);
		free(v->text);
		(void)tk_strlcpy(v->id, j->id, sizeof(v->id));
		v->text = copy;
		v->len = j->len;
		v->stale_at = view_stale_at(c, now);
		copy = NULL;
	}
	(void)pthread_mutex_unlock(&a->vmu);
	free(copy);
}

/* The same, never cached. */
static void
get_job_text_nocache(struct get_job *j)
{
	char *t;

	if (j->st != TK_OK || !j->text)
		return;
	t = json_dumps(j->view, JSON_COMPACT);
	json_decref(j->view);
	j->view = NULL;
	if (t == NULL) {
		j->st = oom(j->err);
		return;
	}
	j->txt = t;
	j->len = strlen(t);
}

/* Runs a get_job with mu held; write as in case_get_locked. Returns
 * false when the case must be persisted first (only when !write). */
static bool
get_job_run(tk_app *a, struct get_job *j, bool write)
{
	tk_ctx x = ctx_locked(a, now_locked(a));
	bool must_write = false;

	if (get_job_cached(a, &x, j))
		return true;
	j->st = case_get_locked(a, &x, j->actor, j->id, write, &must_write,
	    &j->view, j->err);
	if (must_write)
		return false;
	get_job_text(a, j, &a->work, x.now, NULL);
	return true;
}

/* Runs a get_job on this thread's reader, without mu (see "Readers").
 * Returns false, with nothing in j, when the path under mu must answer
 * instead: no reader, a read that failed (that path reports it), or a
 * case time has moved on (that path persists the change first). */
static bool
get_job_read(tk_app *a, struct get_job *j)
{
	struct reader *r;
	tk_ctx x;
	json_t *rec = NULL;
	tk_error e;
	uint64_t gen;
	bool done = false, cacheable, stamped = false;
	unsigned char stamp[TK_VIEW_STAMP_LEN];
	char salt[2 * sizeof(a->org_digest) + 2];

	if ((r = reader_get(a)) == NULL)
		return false;
	(void)pthread_rwlock_rdlock(&a->cfg);
	x = ctx_locked(a, now_locked(a));
	if (get_job_cached(a, &x, j)) {
		done = true;
		goto out;
	}
	(void)pthread_mutex_lock(&a->vmu);
	cacheable = !a->wbusy;
	gen = a->vgen;
	(void)pthread_mutex_unlock(&a->vmu);
	j->st = check_read(a, &x, j->actor, j->err);
	if (j->st != TK_OK) {
		done = true;
		goto out;
	}
	if (tk_store_read_begin(r->store, &e) != 0)
		goto out;
	if (j->text && r->views != NULL) {
		(void)snprintf(salt, sizeof(salt), "%s/%s", a->policy->digest,
		    a->org_digest);
		stamped = tk_store_case_stamp(r->store, j->id, salt, stamp,
		    &e) == 0;
		if (stamped && tk_viewdb_get(r->views, j->id, stamp, x.now,
		    &j->txt, &j->len, &e) == 1) {
			atomic_fetch_add(&a->view_hits, 1);
			j->st = TK_OK;
			tk_store_read_end(r->store);
			done = true;
			goto out;
		}
	}
	if (tk_store_case_get(r->store, j->id, &rec, &e) != 0) {
		if (e.status == TK_ERR_NOT_FOUND) {
			j->st = not_found(j->id, j->err);
			done = true;
		}
		goto end;
	}
	memset(&r->work, 0, sizeof(r->work));
	if (tk_case_from_json(&r->work, rec, &e) != 0)
		goto end;
	r->ev.n = 0;
	if (tk_engine_refresh(&x, &r->work, &r->ev))
		goto end; /* time moved it on: persist under mu */
	j->view = view_of(r->store, &r->missing, &x, &r->work, NULL, true,
	    &e);
	if (j->view == NULL)
		goto end;
	done = true;
	j->st = TK_OK;
end:
	tk_store_read_end(r->store);
	json_decref(rec);
	if (done && j->st == TK_OK) {
		if (cacheable)
			get_job_text(a, j, &r->work, x.now, &gen);
		else
			get_job_text_nocache(j);
		/* Stored for the next GET of this state (a failure to store
		 * it changes nothing). */
		if (stamped && j->txt != NULL)
			(void)tk_viewdb_put(r->views, j->id, stamp,
			    view_stale_at(&r->work, x.now), j->txt, j->len,
			    &e);
	}
out:
	(void)pthread_rwlock_unlock(&a->cfg);
	reader_put(r);
	if (!done)
		err_clear(j->err);
	return done;
}

static void
get_job_fn(tk_app *a, void *arg)
{
	(void)get_job_run(a, arg, true);
}

/* A read under mu; when time moved the case on, the same read again as
 * an operation of a batch, answered once that is durable. */
static enum tk_status
get_job_do(tk_app *a, struct get_job *j)
{
	tk_error e;
	bool done;

	if (get_job_read(a, j))
		return j->st;
	(void)pthread_mutex_lock(&a->mu);
	done = get_job_run(a, j, false);
	(void)pthread_mutex_unlock(&a->mu);
	if (done)
		return j->st;
	err_clear(j->err);
	if (!gc_submit(a, get_job_fn, j, &e) && j->st != TK_ERR_INTERNAL) {
		json_decref(j->view);
		j->view = NULL;
		free(j->txt);
		j->txt = NULL;
		j->len = 0;
		err_clear(j->err);
		j->st = tk_fail(&j->err->e, TK_ERR_INTERNAL, "%s", e.msg);
	}
	return j->st;
}

enum tk_status
tk_app_case_get(tk_app *a, const char *actor, const char *id, json_t **out,
    tk_app_err *err)
{
	struct get_job j;

	err_clear(err);
	*out = NULL;
	if (!tk_app_case_id_valid(id))
		return tk_fail(&err->e, TK_ERR_INVALID, "case id must look "
		    "like c_ followed by 16 hex digits");
	memset(&j, 0, sizeof(j));
	j.actor = actor;
	j.id = id;
	j.err = err;
	if (get_job_do(a, &j) == TK_OK)
		*out = j.view;
	else
		json_decref(j.view);
	return j.st;
}

enum tk_status
tk_app_case_get_text(tk_app *a, const char *actor, const char *id,
    char **text, size_t *len, tk_app_err *err)
{
	struct get_job j;

	err_clear(err);
	*text = NULL;
	*len = 0;
	if (!tk_app_case_id_valid(id))
		return tk_fail(&err->e, TK_ERR_INVALID, "case id must look "
		    "like c_ followed by 16 hex digits");
	memset(&j, 0, sizeof(j));
	j.actor = actor;
	j.id = id;
	j.text = true;
	j.err = err;
	if (get_job_do(a, &j) == TK_OK) {
		*text = j.txt;
		*len = j.len;
	} else {
		free(j.txt);
	}
	return j.st;
}

struct listctx {
	tk_app *a;
	const tk_ctx *x;
	json_t *arr;
	int64_t last;
	int n;
	tk_error e;
	bool failed;
};

static int
list_cb(void *arg, int64_t rowid, const json_t *rec)
{
	struct listctx *l = arg;
	tk_app *a = l->a;
	tk_events scratch;

	l->last = rowid;
	memset(&a->work, 0, sizeof(a->work));
	if (tk_case_from_json(&a->work, rec, &l->e) != 0) {
		(void)tk_fail(&l->e, TK_ERR_INTERNAL, "a stored case is "
		    "malformed: %.400s", l->e.msg);
		l->failed = true;
		return 1;
	}
	/* Show the case as of now; GET of the case persists the change. */
	scratch.n = 0;
	(void)tk_engine_refresh(l->x, &a->work, &scratch);
	if (jappend(l->arr, case_view(a, l->x, &a->work, NULL, false,
	    &l->e)) != 0) {
		(void)tk_fail(&l->e, TK_ERR_INTERNAL, "out of memory");
		l->failed = true;
		return 1;
	}
	l->n++;
	return 0;
}

enum tk_status
tk_app_case_list(tk_app *a, const char *actor, const tk_app_list_req *r,
    json_t **out, tk_app_err *err)
{
	tk_case_filter f;
	struct listctx l;
	tk_ctx x;
	enum tk_status st;
	int limit = r->limit <= 0 ? 100 : r->limit;

	err_clear(err);
	*out = NULL;
	if (limit > LIST_LIMIT_MAX)
		return tk_fail(&err->e, TK_ERR_INVALID, "limit must be between "
		    "1 and %d", LIST_LIMIT_MAX);
	memset(&f, 0, sizeof(f));
	f.queue = r->queue;
	f.state = r->state;
	f.subject = r->subject;
	f.limit = limit;
	f.after = r->after;
	memset(&l, 0, sizeof(l));
	l.a = a;
	l.arr = json_array();
	if (l.arr == NULL)
		return oom(err);
	(void)pthread_mutex_lock(&a->mu);
	x = ctx_locked(a, now_locked(a));
	l.x = &x;
	st = check_read(a, &x, actor, err);
	if (st == TK_OK &&
	    tk_store_case_list(a->store, &f, list_cb, &l, &l.e) != 0 &&
	    !l.failed)
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot list cases: "
		    "%.400s", l.e.msg);
	if (st == TK_OK && l.failed)
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "%.500s", l.e.msg);
	(void)pthread_mutex_unlock(&a->mu);
	if (st != TK_OK) {
		json_decref(l.arr);
		return st;
	}
	*out = json_pack("{s:o, s:i, s:o}", "cases", l.arr, "count", l.n,
	    "next", l.n == limit ? json_integer((json_int_t)l.last) :
	    json_null());
	if (*out == NULL)
		return oom(err);
	return TK_OK;
}

enum tk_status
tk_app_events(tk_app *a, const char *actor, int64_t from, int64_t limit,
    json_t **out, tk_app_err *err)
{
	struct evlist l = {NULL, true, false, false, false};
	enum tk_status st;
	tk_error e;

	err_clear(err);
	*out = NULL;
	if (from <= 0)
		from = 1;
	if (limit <= 0)
		limit = 100;
	if (limit > EVENTS_LIMIT_MAX)
		return tk_fail(&err->e, TK_ERR_INVALID, "limit must be between "
		    "1 and %d", EVENTS_LIMIT_MAX);
	l.arr = json_array();
	if (l.arr == NULL)
		return oom(err);
	(void)pthread_mutex_lock(&a->mu);
	st = check_roles(a, actor, TK_ROLE_AUDITOR | TK_ROLE_ADMIN,
	    "reading the audit log", err);
	if (st == TK_OK && tk_store_event_scan(a->store, from, limit,
	    evlist_cb, &l, &e) != 0 && !l.failed)
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot read events: "
		    "%.400s", e.msg);
	if (st == TK_OK && l.failed)
		st = oom(err);
	(void)pthread_mutex_unlock(&a->mu);
	if (st != TK_OK) {
		json_decref(l.arr);
		return st;
	}
	*out = json_pack("{s:o}", "events", l.arr);
	return *out ? TK_OK : oom(err);
}

enum tk_status
tk_app_alerts(tk_app *a, const char *actor, json_t **out, tk_app_err *err)
{
	json_t *res, *chunk = NULL;
	enum tk_status st;
	tk_ctx x;
	tk_error e;
	int64_t hi;

	err_clear(err);
	*out = NULL;
	res = json_array();
	if (res == NULL)
		return oom(err);
	(void)pthread_mutex_lock(&a->mu);
	x = ctx_locked(a, now_locked(a));
	st = check_read(a, &x, actor, err);
	if (st == TK_OK && sync_last_seq(a, &e) != 0)
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot read events: "
		    "%.400s", e.msg);
	/* Walk back from the newest event in chunks until 200 alerts. */
	for (hi = a->last_seq; st == TK_OK && hi >= 1 &&
	    json_array_size(res) < ALERTS_MAX;) {
		int64_t lo = hi - ALERT_CHUNK + 1 < 1 ? 1 : hi - ALERT_CHUNK + 1;
		struct evlist l = {json_array(), true, true, true, false};

		if (l.arr == NULL) {
			st = oom(err);
			break;
		}
		chunk = l.arr;
		if (tk_store_event_scan(a->store, lo, hi - lo + 1, evlist_cb,
		    &l, &e) != 0 && !l.failed) {
			st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot read "
			    "events: %.400s", e.msg);
			break;
		}
		if (l.failed) {
			st = oom(err);
			break;
		}
		for (size_t i = json_array_size(chunk); i > 0 &&
		    json_array_size(res) < ALERTS_MAX; i--)
			if (json_array_append(res, json_array_get(chunk, i - 1))
			    != 0) {
				st = oom(err);
				break;
			}
		json_decref(chunk);
		chunk = NULL;
		hi = lo - 1;
	}
	(void)pthread_mutex_unlock(&a->mu);
	json_decref(chunk);
	if (st != TK_OK) {
		json_decref(res);
		return st;
	}
	*out = json_pack("{s:o}", "alerts", res);
	return *out ? TK_OK : oom(err);
}

enum tk_status
tk_app_policy_get(tk_app *a, const char *actor, json_t **out,
    tk_app_err *err)
{
	enum tk_status st;

	err_clear(err);
	*out = NULL;
	(void)pthread_mutex_lock(&a->mu);
	st = actor == NULL || actor_staff(a, actor, err) ? TK_OK :
	    err->e.status;
	if (st == TK_OK) {
		*out = json_pack("{s:s, s:s, s:s}", "digest", a->policy->digest,
		    "owner", a->policy->owner, "text", a->policy_text);
		if (*out == NULL)
			st = oom(err);
	}
	(void)pthread_mutex_unlock(&a->mu);
	return st;
}

enum tk_status
tk_app_policy_explain(tk_app *a, const char *actor, const tk_explain_req *r,
    json_t **out, tk_app_err *err)
{
	const tk_subject *subj;
	const tk_action *act;
	tk_facts f;
	tk_decision d;
	enum tk_status st = TK_OK;
	json_t *denied = NULL;

	err_clear(err);
	*out = NULL;
	if (r->subject == NULL || r->action == NULL)
		return tk_fail(&err->e, TK_ERR_INVALID, "explain needs a "
		    "subject and an action");
	act = tk_action_find(r->action);
	if (act == NULL)
		return tk_fail(&err->e, TK_ERR_INVALID, "unknown action '%s'; "
		    "known actions: %s", r->action, tk_action_names());
	subj = tk_org_subject(&a->org, r->subject);
	if (subj == NULL)
		return tk_fail(&err->e, TK_ERR_INVALID, "unknown subject '%s'; "
		    "subjects are listed in the org file", r->subject);
	memset(&f, 0, sizeof(f));
	f.subject = subj;
	f.action = act->name;
	f.family = act->family;
	f.signals = r->signals;
	f.nsignals = r->nsignals;
	f.channel = r->channel ? r->channel : "";
	f.ticket = r->ticket ? r->ticket : "";
	f.reason_code = r->reason_code ? r->reason_code : "";
	f.tier = "";
	(void)pthread_mutex_lock(&a->mu);
	if (actor != NULL && actor_staff(a, actor, err) == NULL) {
		st = err->e.status;
		goto out;
	}
	memset(&d, 0, sizeof(d));
	tk_policy_eval(a->policy, &f, &d);
	if (d.deny != NULL) {
		denied = json_pack("{s:s, s:s, s:i}", "reason", d.deny->reason,
		    "owner", d.deny->owner, "line", d.deny->line);
	} else if (d.tier == NULL) {
		denied = json_pack("{s:s, s:s, s:i}", "reason", "no tier of the "
		    "policy matches this request", "owner", a->policy->owner,
		    "line", 0);
	} else {
		denied = json_null();
	}
	if (denied == NULL) {
		st = oom(err);
		goto out;
	}
	if (d.tier != NULL)
		*out = json_pack("{s:s, s:s, s:i, s:o, s:o, s:s, s:s}", "tier",
		    d.tier->name, "owner", d.tier->owner, "line", d.tier->line,
		    "requirements", tk_require_to_json(&d.tier->req),
		    "denied", denied, "policy", a->policy->digest,
		    "queue", act->family);
	else
		*out = json_pack("{s:n, s:n, s:n, s:n, s:o, s:s, s:s}", "tier",
		    "owner", "line", "requirements", "denied", denied,
		    "policy", a->policy->digest, "queue", act->family);
	denied = NULL; /* stolen by json_pack, even on failure */
	if (*out == NULL)
		st = oom(err);
out:
	(void)pthread_mutex_unlock(&a->mu);
	json_decref(denied);
	return st;
}

/* ---- policy reload ------------------------------------------------------- */

enum tk_status
tk_app_reload_policy(tk_app *a, const char *actor, const char *text,
    size_t len, char *digest_out, size_t digest_size, tk_app_err *err)
{
	tk_policy *np, *old;
	char *copy;
	tk_error e;
	tk_time now;
	enum tk_status st = TK_OK;
	json_t *data;

	err_clear(err);
	if (actor != NULL) {
		(void)pthread_mutex_lock(&a->mu);
		st = check_roles(a, actor, TK_ROLE_ADMIN, "loading a policy",
		    err);
		(void)pthread_mutex_unlock(&a->mu);
		if (st != TK_OK)
			return st;
	}
	if (text == NULL || len == 0)
		return tk_fail(&err->e, TK_ERR_INVALID, "the policy text is "
		    "empty; send the policy YAML as the body");
	if (memchr(text, '\0', len) != NULL)
		return tk_fail(&err->e, TK_ERR_INVALID, "the policy text "
		    "contains a NUL byte");
	copy = malloc(len + 1);
	np = calloc(1, sizeof(*np));
	if (copy == NULL || np == NULL) {
		free(copy);
		free(np);
		return oom(err);
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (tk_policy_load(np, copy, len, "policy", &e) != 0) {
		free(copy);
		free(np);
		return tk_fail(&err->e, TK_ERR_INVALID, "%.500s", e.msg);
	}
	(void)pthread_mutex_lock(&a->mu);
	now = now_locked(a);
	data = json_pack("{s:s, s:s, s:s}", "detail", "policy loaded",
	    "digest", np->digest, "previous", a->policy->digest);
	if (tk_store_begin(a->store, &e) != 0 ||
	    tk_store_config_put(a->store, "policy", copy, &e) != 0 ||
	    append_event(a, now, "", "policy.loaded", actor ? actor :
	    "system", false, json_incref(data), &e) != 0 ||
	    tk_store_commit(a->store, &e) != 0) {
		json_decref(data);
		tk_store_rollback(a->store);
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot store the "
		    "policy (the old one keeps serving): %.400s", e.msg);
		(void)pthread_mutex_unlock(&a->mu);
		tk_policy_free(np);
		free(np);
		free(copy);
		return st;
	}
	json_decref(data);
	(void)pthread_rwlock_wrlock(&a->cfg);
	old = a->policy;
	a->policy = np;
	view_drop_all(a);
	(void)pthread_rwlock_unlock(&a->cfg);
	free(a->policy_text);
	a->policy_text = copy;
	if (digest_out != NULL)
		(void)tk_strlcpy(digest_out, np->digest, digest_size);
	(void)pthread_mutex_unlock(&a->mu);
	tk_policy_free(old);
	free(old);
	return TK_OK;
}

/* ---- case operations ------------------------------------------------- */

static bool
is_auditor(tk_app *a, const char *actor)
{
	const tk_staff *s = tk_org_staff(&a->org, actor);

	return s != NULL && (s->roles & TK_ROLE_AUDITOR) != 0;
}

static enum tk_status
auditor_refusal(const char *actor, tk_app_err *err)
{
	return tk_fail(&err->e, TK_ERR_FORBIDDEN, "%s has the auditor role: "
	    "auditors read everything and change nothing", actor);
}

/* Copies the wrong_state extras from the case into err. */
static void
state_extras(const tk_case *c, tk_app_err *err)
{
	if (err->e.status != TK_ERR_WRONG_STATE)
		return;
	(void)tk_strlcpy(err->state, tk_state_name(c->state),
	    sizeof(err->state));
	if (c->state == TK_STATE_ON_HOLD)
		err->hold_until = c->hold_until;
}

static int find_open_settled(tk_app *a, const tk_ctx *x,
    const char *subject, const char *family, char *open_id, size_t size,
    tk_error *e);

typedef app_case_fn case_fn;

struct op_job {
	const char *actor, *id, *what;
	const char *new_subject;  /* PATCH moving the case, or NULL */
	case_fn fn;
	const void *arg;
	json_t **out;
	tk_app_err *err;
	enum tk_status st;
	bool keep;                /* keep fn's other writes on a refusal */
	tk_case *after;           /* copy of the case on success, or NULL */
	struct answer *an;        /* when out: the case as stored */
};

/* A PATCH may not move a case onto a subject that already has an open
 * case of the same family: one open case per subject and family. */
static enum tk_status
patch_target_free(tk_app *a, const tk_ctx *x, const char *subject,
    const tk_case *c, tk_app_err *err)
{
	char open_id[TK_ID_MAX];
	tk_error e;

	if (find_open_settled(a, x, subject, c->family, open_id,
	    sizeof(open_id), &e) != 0)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "cannot check for "
		    "open cases: %.400s", e.msg);
	if (open_id[0] == '\0')
		return TK_OK;
	(void)tk_strlcpy(err->case_id, open_id, sizeof(err->case_id));
	return tk_fail(&err->e, TK_ERR_WRONG_STATE, "%s already has an open "
	    "%s case, %s; one open case per subject and family: finish or "
	    "cancel it first", subject, c->family, open_id);
}

/*
 * One operation on an existing case, run by the group-commit leader as
 * one savepoint of the batch: load, apply time, call the engine, persist
 * the case and its events - or, on a refusal, persist what time changed
 * plus a `refused` event. A store failure undoes this operation only.
 */
static void
case_op_run(tk_app *a, void *jarg)
{
	struct op_job *j = jarg;
	const char *actor = j->actor, *id = j->id, *what = j->what;
	tk_app_err *err = j->err;
	tk_ctx x;
	tk_case *c = &a->work;
	enum tk_status st;
	struct gc_op op;
	bool changed;
	tk_error e;

	x = ctx_locked(a, now_locked(a));
	if (op_begin(a, &op, &e) != 0) {
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot start a "
		    "transaction: %.400s", e.msg);
		goto finish;
	}
	st = load_case(a, id, err);
	if (st != TK_OK) {
		op_undo(a, &op);
		goto finish;
	}
	a->ev_refresh.n = 0;
	a->ev_op.n = 0;
	changed = tk_engine_refresh(&x, c, &a->ev_refresh);
	/* Auditors change nothing (whatever function they may also have),
	 * except to cancel a case about themselves as "not me". */
	if (is_auditor(a, actor) && !((strcmp(what, "cancel") == 0 ||
	    strcmp(what, "confirmation") == 0) &&
	    strcmp(c->subject, actor) == 0))
		st = auditor_refusal(actor, err);
	else if (j->new_subject != NULL &&
	    strcmp(j->new_subject, c->subject) != 0 &&
	    (st = patch_target_free(a, &x, j->new_subject, c, err)) != TK_OK)
		; /* refused: another open case holds the new subject */
	else
		st = j->fn(&x, c, actor, j->arg, &a->ev_op, &err->e);
	if (st == TK_ERR_INTERNAL) {
		/* A failed read (the store may have dropped the transaction)
		 * or out of memory: write nothing for this operation. */
		e = err->e;
		goto store_fail;
	}
	if (st == TK_OK) {
		if (put_case(a, c, &e) != 0 ||
		    append_engine_events(a, x.now, c, &a->ev_refresh, &e) != 0 ||
		    append_engine_events(a, x.now, c, &a->ev_op, &e) != 0)
			goto store_fail;
		if (op_keep(a, &op, &e) != 0)
			goto store_failed;
		if (j->after != NULL)
			*j->after = *c;
		answer_keep(j->an, c, x.now);
		goto finish;
	}
	/* Refused or invalid: the engine left the case as time made it. */
	if (err->e.status != st)
		(void)tk_fail(&err->e, st, "%s was refused", what);
	if (changed && (put_case(a, c, &e) != 0 ||
	    append_engine_events(a, x.now, c, &a->ev_refresh, &e) != 0))
		goto store_fail;
	if (is_refusal(st) && append_event(a, x.now, c->id, "refused", actor,
	    st == TK_ERR_SOD, refused_data(what, &err->e,
	    tk_state_name(c->state), NULL), &e) != 0)
		goto store_fail;
	if (changed || is_refusal(st) || j->keep) {
		if (op_keep(a, &op, &e) != 0)
			goto store_failed;
	} else {
		op_undo(a, &op);
	}
	state_extras(c, err);
	goto finish;
store_fail:
	op_undo(a, &op);
store_failed:
	err->state[0] = '\0';
	err->hold_until = 0;
	st = tk_fail(&err->e, TK_ERR_INTERNAL, "storage failed; nothing was "
	    "changed: %.400s", e.msg);
finish:
	j->st = st;
}

/* Validates, then runs case_op_run in a batch; answers once the batch is
 * durably committed (TK_ERR_INTERNAL if that fails). */
static enum tk_status
case_op(tk_app *a, const char *actor, const char *id, const char *what,
    case_fn fn, const void *arg, json_t **out, tk_app_err *err)
{
	return app_case_op(a, actor, id, what, fn, arg, false, out, err, NULL);
}

enum tk_status
app_case_op(tk_app *a, const char *actor, const char *id, const char *what,
    app_case_fn fn, const void *arg, bool keep, json_t **out,
    tk_app_err *err, tk_case *after)
{
	struct op_job j;
	tk_error e;
	bool ok;

	err_clear(err);
	if (out != NULL)
		*out = NULL;
	if (!tk_app_case_id_valid(id))
		return tk_fail(&err->e, TK_ERR_INVALID, "case id must look "
		    "like c_ followed by 16 hex digits");
	if (actor == NULL)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "no actor");
	j.actor = actor;
	j.id = id;
	j.what = what;
	j.new_subject = strcmp(what, "patch") == 0 ?
	    ((const tk_patch_req *)arg)->subject : NULL;
	j.fn = fn;
	j.arg = arg;
	j.out = out;
	j.err = err;
	j.st = TK_ERR_INTERNAL;
	j.keep = keep;
	j.after = after;
	j.an = NULL;
	if (out != NULL && (j.an = answer_new()) == NULL)
		return oom(err);
	ok = gc_submit(a, case_op_run, &j, &e);
	if (ok && j.st == TK_OK && out != NULL)
		j.st = answer_render(a, j.an, what, out, err);
	free(j.an);
	return gc_answer(ok, &e, j.st, out, err);
}

static enum tk_status
op_evidence(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	return tk_engine_add_evidence(x, c, actor, arg, ev, err);
}

enum tk_status
tk_app_case_evidence(tk_app *a, const char *actor, const char *id,
    const tk_evidence_req *r, json_t **out, tk_app_err *err)
{
	return case_op(a, actor, id, "evidence", op_evidence, r, out, err);
}

struct decide_arg {
	bool approve;
	const char *comment;
	const char *seen; /* the digest the approver read, or NULL */
};

static enum tk_status
op_decide(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	const struct decide_arg *d = arg;
	char now[2 * TK_DIGEST_LEN + 1];

	if (d->seen != NULL) {
		tk_hex_encode(c->digest, TK_DIGEST_LEN, now);
		if (strcmp(d->seen, now) != 0)
			return tk_fail(err, TK_ERR_WRONG_STATE, "case %s changed "
			    "after you read it (what you read had digest "
			    "%.16s..., it is now %.16s...); read it again and "
			    "decide on what it asks now", c->id, d->seen, now);
	}
	return tk_engine_decide(x, c, actor, d->approve, d->comment, ev, err);
}

enum tk_status
tk_app_case_decide(tk_app *a, const char *actor, const char *id,
    bool approve, const char *comment, json_t **out, tk_app_err *err)
{
	return tk_app_case_decide_seen(a, actor, id, approve, comment, NULL,
	    out, err);
}

enum tk_status
tk_app_case_decide_seen(tk_app *a, const char *actor, const char *id,
    bool approve, const char *comment, const char *seen, json_t **out,
    tk_app_err *err)
{
	struct decide_arg d = {approve, comment ? comment : "", seen};

	return case_op(a, actor, id, approve ? "approve" : "deny", op_decide,
	    &d, out, err);
}

static enum tk_status
op_patch(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	return tk_engine_patch(x, c, actor, arg, ev, err);
}

enum tk_status
tk_app_case_patch(tk_app *a, const char *actor, const char *id,
    const tk_patch_req *r, json_t **out, tk_app_err *err)
{
	if (r->subject != NULL && tk_org_subject(&a->org, r->subject) == NULL) {
		err_clear(err);
		return tk_fail(&err->e, TK_ERR_INVALID, "unknown subject '%s'; "
		    "subjects are listed in the org file", r->subject);
	}
	if (r->action != NULL && tk_action_find(r->action) == NULL) {
		err_clear(err);
		return tk_fail(&err->e, TK_ERR_INVALID, "unknown action '%s'; "
		    "known actions: %s", r->action, tk_action_names());
	}
	return case_op(a, actor, id, "patch", op_patch, r, out, err);
}

static enum tk_status
op_execute(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	return tk_engine_execute(x, c, actor, arg, ev, err);
}

enum tk_status
app_execute_manual(tk_app *a, const char *actor, const char *id,
    const tk_execute_req *r, json_t **out, tk_app_err *err)
{
	return case_op(a, actor, id, "execute", op_execute, r, out, err);
}

static enum tk_status
op_cancel(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	return tk_engine_cancel(x, c, actor, arg, ev, err);
}

enum tk_status
tk_app_case_cancel(tk_app *a, const char *actor, const char *id,
    const char *reason, json_t **out, tk_app_err *err)
{
	return case_op(a, actor, id, "cancel", op_cancel, reason ? reason : "",
	    out, err);
}

struct bg_arg {
	const char *justification, *incident;
};

static enum tk_status
op_break_glass(const tk_ctx *x, tk_case *c, const char *actor,
    const void *arg, tk_events *ev, tk_error *err)
{
	const struct bg_arg *b = arg;

	return tk_engine_break_glass(x, c, actor, b->justification,
	    b->incident, ev, err);
}

enum tk_status
tk_app_case_break_glass(tk_app *a, const char *actor, const char *id,
    const char *justification, const char *incident, json_t **out,
    tk_app_err *err)
{
	struct bg_arg b = {justification ? justification : "",
	    incident ? incident : ""};

	return case_op(a, actor, id, "break_glass", op_break_glass, &b, out,
	    err);
}

struct review_arg {
	const char *outcome, *comment;
};

static enum tk_status
op_review(const tk_ctx *x, tk_case *c, const char *actor, const void *arg,
    tk_events *ev, tk_error *err)
{
	const struct review_arg *r = arg;

	return tk_engine_review(x, c, actor, r->outcome, r->comment, ev, err);
}

enum tk_status
tk_app_case_review(tk_app *a, const char *actor, const char *id,
    const char *outcome, const char *comment, json_t **out, tk_app_err *err)
{
	struct review_arg r = {outcome ? outcome : "", comment ? comment : ""};

	return case_op(a, actor, id, "review", op_review, &r, out, err);
}

/* ---- open ------------------------------------------------------------ */

/* "c_" + 16 hex: 4 bytes of the time in seconds, then 4 random bytes.
 * Time first keeps new cases (and their events in the case index) at
 * the right edge of the B-trees instead of scattered over them; the
 * opener checks the id is unused before taking it. */
static int
new_case_id(tk_time now, char *out, size_t size)
{
	unsigned char raw[8];
	uint32_t t = now > 0 ? (uint32_t)now : 0;

	if (size < 19 || RAND_bytes(raw + 4, 4) != 1)
		return -1;
	raw[0] = (unsigned char)(t >> 24);
	raw[1] = (unsigned char)(t >> 16);
	raw[2] = (unsigned char)(t >> 8);
	raw[3] = (unsigned char)t;
	out[0] = 'c';
	out[1] = '_';
	tk_hex_encode(raw, sizeof(raw), out + 2);
	return 0;
}

/* What a refused open asked for, for the `refused` event. */
static json_t *
open_request_json(const tk_open_req *r)
{
	return json_pack("{s:{s:s, s:s, s:s}}", "request",
	    "subject", r->subject ? r->subject : "",
	    "action", r->action ? r->action : "",
	    "ticket", r->ticket ? r->ticket : "");
}

/* Reads the state of a stored case (mu held) into out ("" when the
 * record has none). A read failure is returned: it may mean the store
 * dropped the transaction. */
static int
stored_state(tk_app *a, const char *id, char *out, size_t size,
    tk_error *e)
{
	json_t *rec = NULL;
	const char *state;

	out[0] = '\0';
	if (tk_store_case_get(a->store, id, &rec, e) != 0)
		return -1;
	state = json_string_value(json_object_get(rec, "state"));
	(void)tk_strlcpy(out, state != NULL ? state : "", size);
	json_decref(rec);
	return 0;
}

/*
 * Finds an open case for subject+family (mu held, inside the leader's
 * savepoint). A stored case that time has already finished (a ready case
 * whose window closed, say) is refreshed and persisted first, so it does
 * not block a new case under a state it is no longer in. open_id gets
 * the blocking case or "" when there is none.
 */
static int
find_open_settled(tk_app *a, const tk_ctx *x, const char *subject,
    const char *family, char *open_id, size_t size, tk_error *e)
{
	tk_case *blk = NULL;
	tk_events ev;
	json_t *rec;
	int rc = -1;

	for (int round = 0; round < 4; round++) {
		open_id[0] = '\0';
		if (tk_store_case_find_open(a->store, subject, family, open_id,
		    size, e) != 0) {
			if (e->status != TK_ERR_NOT_FOUND)
				goto done;
			open_id[0] = '\0';
			rc = 0;
			goto done;
		}
		if (blk == NULL && (blk = malloc(sizeof(*blk))) == NULL) {
			(void)tk_fail(e, TK_ERR_INTERNAL, "out of memory");
			goto done;
		}
		rec = NULL;
		if (tk_store_case_get(a->store, open_id, &rec, e) != 0)
			goto done;
		if (tk_case_from_json(blk, rec, e) != 0) {
			json_decref(rec);
			goto done;
		}
		json_decref(rec);
		ev.n = 0;
		if (tk_engine_refresh(x, blk, &ev) &&
		    (put_case(a, blk, e) != 0 ||
		    append_engine_events(a, x->now, blk, &ev, e) != 0))
			goto done;
		if (tk_state_is_open(blk->state)) {
			rc = 0; /* still open: it blocks */
			goto done;
		}
	}
	rc = 0;
done:
	free(blk);
	return rc;
}

struct open_job {
	const char *actor;
	const tk_open_req *r;
	const tk_action *act;
	char *id;                   /* TK_ID_MAX; replaced if already used */
	json_t **out;
	tk_app_err *err;
	enum tk_status st;
	struct answer *an;          /* when out: the case as stored */
};

/* Opens a case as one savepoint of the leader's batch (see case_op_run):
 * a refusal is kept as a `refused` event, a store failure undone. */
/*
 * Opens the case with two facts twokey knows added as signals, so the
 * policy can route a subject nobody can reach independently to a manual
 * path (in-person proofing, a long hold) instead of failing open:
 * `no_contact_on_file` when the subject has no contact on file, and
 * `no_registered_factor` when no TOTP factor is enrolled for it.
 * e gets a store failure (status TK_ERR_INTERNAL) when one happened.
 */
static enum tk_status
open_with_facts(tk_app *a, const tk_ctx *x, const char *actor,
    const char *id, const tk_open_req *r, tk_case *c, tk_error *e,
    tk_error *err)
{
	const char *sig[TK_MAX_SIGNALS + 2];
	const tk_subject *s = r->subject != NULL ?
	    tk_org_subject(&a->org, r->subject) : NULL;
	tk_open_req r2 = *r;
	tk_factor_row f;
	size_t n = 0;

	e->status = TK_OK;
	/* the facts first: no number of caller signals can crowd them out */
	if (s != NULL) {
		if (s->ncontacts == 0)
			sig[n++] = "no_contact_on_file";
		if (tk_store_factor_get(a->store, s->id, &f, e) != 0) {
			if (e->status != TK_ERR_NOT_FOUND)
				return tk_fail(err, TK_ERR_INTERNAL, "%s",
				    e->msg);
			e->status = TK_OK;
			sig[n++] = "no_registered_factor";
		}
		OPENSSL_cleanse(&f, sizeof(f));
	}
	if (r->nsignals + n > TK_MAX_SIGNALS)
		return tk_fail(err, TK_ERR_INVALID, "at most %zu signals on "
		    "this case (twokey adds %zu it knows: %s%s%s)",
		    TK_MAX_SIGNALS - n, n, n > 0 ? sig[0] : "",
		    n > 1 ? ", " : "", n > 1 ? sig[1] : "");
	for (size_t i = 0; i < r->nsignals; i++)
		sig[n++] = r->signals[i];
	r2.signals = sig;
	r2.nsignals = n;
	return tk_engine_open(x, actor, id, &r2, c, &a->ev_op, err);
}

static void
case_open_run(tk_app *a, void *jarg)
{
	struct open_job *j = jarg;
	const char *actor = j->actor, *id = j->id;
	const tk_open_req *r = j->r;
	const tk_action *act = j->act;
	tk_app_err *err = j->err;
	char open_id[TK_ID_MAX];
	tk_case *c = &a->work;
	struct gc_op op;
	tk_ctx x;
	tk_error e;
	enum tk_status st;
	int rc;

	x = ctx_locked(a, now_locked(a));
	if (op_begin(a, &op, &e) != 0) {
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot start a "
		    "transaction: %.400s", e.msg);
		goto finish;
	}
	if (is_auditor(a, actor)) {
		st = auditor_refusal(actor, err);
		if (append_event(a, x.now, "", "refused", actor, false,
		    refused_data("open", &err->e, NULL, open_request_json(r)),
		    &e) != 0)
			goto store_fail;
		goto keep;
	}
	rc = find_open_settled(a, &x, r->subject, act->family, open_id,
	    sizeof(open_id), &e);
	if (rc != 0)
		goto store_fail;
	if (open_id[0] != '\0') {
		if (stored_state(a, open_id, err->state, sizeof(err->state),
		    &e) != 0)
			goto store_fail;
		(void)tk_strlcpy(err->case_id, open_id, sizeof(err->case_id));
		st = tk_fail(&err->e, TK_ERR_WRONG_STATE, "%s already has an "
		    "open %s case, %s (state %s); finish or cancel it before "
		    "opening another", r->subject, act->family, open_id,
		    err->state[0] ? err->state : "open");
		json_t *extra = open_request_json(r);
		if (extra != NULL &&
		    jset(extra, "open_case", json_string(open_id)) != 0) {
			json_decref(extra);
			extra = NULL;
		}
		if (extra == NULL ||
		    append_event(a, x.now, "", "refused", actor, false,
		    refused_data("open", &err->e, err->state, extra), &e) != 0)
			goto store_fail;
		goto keep;
	}
	/* The id's 32 random bits could meet an existing case's: never
	 * overwrite one, draw again. */
	for (int tries = 0;; tries++) {
		json_t *old = NULL;

		if (tk_store_case_get(a->store, id, &old, &e) != 0) {
			if (e.status != TK_ERR_NOT_FOUND)
				goto store_fail;
			break;
		}
		json_decref(old);
		if (tries >= 8 || new_case_id(x.now, j->id, TK_ID_MAX) != 0) {
			(void)tk_fail(&e, TK_ERR_INTERNAL, "cannot find an "
			    "unused case id");
			goto store_fail;
		}
	}
	memset(c, 0, sizeof(*c));
	a->ev_op.n = 0;
	st = open_with_facts(a, &x, actor, id, r, c, &e, &err->e);
	if (st == TK_ERR_INTERNAL && e.status == TK_ERR_INTERNAL)
		goto store_fail;
	if (st != TK_OK) {
		if (!is_refusal(st)) {
			op_undo(a, &op);
			goto finish;
		}
		if (append_event(a, x.now, "", "refused", actor, false,
		    refused_data("open", &err->e, NULL, open_request_json(r)),
		    &e) != 0)
			goto store_fail;
		goto keep;
	}
	if (put_case(a, c, &e) != 0 ||
	    append_engine_events(a, x.now, c, &a->ev_op, &e) != 0)
		goto store_fail;
	if (op_keep(a, &op, &e) != 0)
		goto store_failed;
	answer_keep(j->an, c, x.now);
	goto finish;
keep:
	if (op_keep(a, &op, &e) != 0)
		goto store_failed;
	goto finish;
store_fail:
	op_undo(a, &op);
store_failed:
	err->state[0] = '\0';
	err->case_id[0] = '\0';
	st = tk_fail(&err->e, TK_ERR_INTERNAL, "storage failed; nothing was "
	    "changed: %.400s", e.msg);
finish:
	j->st = st;
}

enum tk_status
tk_app_case_open(tk_app *a, const char *actor, const tk_open_req *r,
    json_t **out, tk_app_err *err)
{
	const tk_action *act;
	char id[TK_ID_MAX];
	struct open_job j;
	tk_error e;
	bool ok;

	err_clear(err);
	if (out != NULL)
		*out = NULL;
	if (actor == NULL)
		return tk_fail(&err->e, TK_ERR_UNAUTH, "no actor");
	if (r->subject == NULL || r->subject[0] == '\0')
		return tk_fail(&err->e, TK_ERR_INVALID, "a case needs a "
		    "subject: the id of the account or identity to change");
	if (r->action == NULL || r->action[0] == '\0')
		return tk_fail(&err->e, TK_ERR_INVALID, "a case needs an "
		    "action; known actions: %s", tk_action_names());
	act = tk_action_find(r->action);
	if (act == NULL)
		return tk_fail(&err->e, TK_ERR_INVALID, "unknown action '%s'; "
		    "known actions: %s", r->action, tk_action_names());
	if (tk_org_subject(&a->org, r->subject) == NULL)
		return tk_fail(&err->e, TK_ERR_INVALID, "unknown subject '%s'; "
		    "subjects are listed in the org file", r->subject);
	if (new_case_id((tk_time)time(NULL), id, sizeof(id)) != 0)
		return tk_fail(&err->e, TK_ERR_INTERNAL, "the system random "
		    "generator failed");

	j.actor = actor;
	j.r = r;
	j.act = act;
	j.id = id;
	j.out = out;
	j.err = err;
	j.st = TK_ERR_INTERNAL;
	j.an = NULL;
	if (out != NULL && (j.an = answer_new()) == NULL)
		return oom(err);
	ok = gc_submit(a, case_open_run, &j, &e);
	if (ok && j.st == TK_OK && out != NULL)
		j.st = answer_render(a, j.an, "the case", out, err);
	free(j.an);
	return gc_answer(ok, &e, j.st, out, err);
}

/* ---- scheduler sweep ------------------------------------------------- */

#define SWEEP_PAGE 100

/* One page of cases listed by the sweep; ids of those time would move. */
struct sweep_list {
	tk_app *a;
	const tk_ctx *x;
	char (*ids)[TK_ID_MAX];
	int n, seen;
	int64_t last;
};

static int
sweep_cb(void *arg, int64_t rowid, const json_t *rec)
{
	struct sweep_list *l = arg;
	tk_app *a = l->a;
	tk_events scratch;
	tk_error e;

	l->last = rowid;
	l->seen++;
	memset(&a->work, 0, sizeof(a->work));
	if (tk_case_from_json(&a->work, rec, &e) != 0)
		return 0; /* malformed: a GET of it reports the error */
	scratch.n = 0;
	if (tk_engine_refresh(l->x, &a->work, &scratch) && l->n < SWEEP_PAGE)
		(void)tk_strlcpy(l->ids[l->n++], a->work.id, TK_ID_MAX);
	return 0;
}

struct sweep_job {
	char (*ids)[TK_ID_MAX];
	int n, changed;
	bool failed;
	tk_error e;
};

/* The group-commit leader refreshes each listed case, one savepoint each
 * (re-checked: an operation in between may have moved it already). */
static void
sweep_run(tk_app *a, void *arg)
{
	struct sweep_job *j = arg;
	tk_ctx x = ctx_locked(a, now_locked(a));
	tk_app_err aerr;
	struct gc_op op;

	for (int i = 0; i < j->n; i++) {
		if (op_begin(a, &op, &j->e) != 0) {
			j->failed = true;
			return;
		}
		a->ev_refresh.n = 0;
		if (load_case(a, j->ids[i], &aerr) != TK_OK ||
		    !tk_engine_refresh(&x, &a->work, &a->ev_refresh)) {
			op_undo(a, &op);
			continue;
		}
		if (put_case(a, &a->work, &j->e) != 0 ||
		    append_engine_events(a, x.now, &a->work, &a->ev_refresh,
		    &j->e) != 0) {
			op_undo(a, &op);
			j->failed = true;
			continue;
		}
		if (op_keep(a, &op, &j->e) != 0) {
			j->failed = true;
			continue;
		}
		j->changed++;
	}
}

void
tk_app_stop(tk_app *a)
{
	atomic_store(&a->stopping, true);
}

int
tk_app_sweep(tk_app *a, tk_error *err)
{
	static const char *const states[] = {"open", "review"};
	char (*ids)[TK_ID_MAX];
	int changed = 0;

	ids = calloc(SWEEP_PAGE, sizeof(*ids));
	if (ids == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return -1;
	}
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		int64_t after = 0;

		for (;;) {
			struct sweep_list l;
			struct sweep_job j;
			tk_case_filter f;
			tk_ctx x;
			int rc;

			memset(&f, 0, sizeof(f));
			f.state = states[s];
			f.limit = SWEEP_PAGE;
			f.after = after;
			memset(&l, 0, sizeof(l));
			l.a = a;
			l.ids = ids;
			(void)pthread_mutex_lock(&a->mu);
			x = ctx_locked(a, now_locked(a));
			l.x = &x;
			rc = tk_store_case_list(a->store, &f, sweep_cb, &l, err);
			(void)pthread_mutex_unlock(&a->mu);
			if (rc != 0)
				goto fail;
			if (l.n > 0) {
				memset(&j, 0, sizeof(j));
				j.ids = ids;
				j.n = l.n;
				if (!gc_submit(a, sweep_run, &j, err))
					goto fail;
				if (j.failed) {
					if (err != NULL)
						*err = j.e;
					goto fail;
				}
				changed += j.changed;
			}
			if (l.seen < SWEEP_PAGE || atomic_load(&a->stopping))
				break;
			after = l.last;
		}
	}
	free(ids);
	return changed;
fail:
	free(ids);
	return -1;
}

/* ---- audit log: signing and proofs ---------------------------------- */

int
tk_app_audit_attach(tk_app *a, const char *key_path, const char *mirror_path,
    tk_error *err)
{
	tk_checkpoint_row cp;
	int rc = 0;

	(void)pthread_mutex_lock(&a->mu);
	if (tk_audit_key_load(key_path, &a->signer, err) != 0) {
		rc = -1;
		goto out;
	}
	a->signing = true;
	a->mirror[0] = '\0';
	if (mirror_path != NULL)
		(void)tk_strlcpy(a->mirror, mirror_path, sizeof(a->mirror));
	if (tk_store_checkpoint_latest(a->store, &cp, err) == 0) {
		a->cp_size = cp.size;
		tk_checkpoint_row_clear(&cp);
	} else if (err->status == TK_ERR_NOT_FOUND) {
		a->cp_size = 0;
	} else {
		rc = -1;
	}
	a->cp_time = now_locked(a);
out:
	(void)pthread_mutex_unlock(&a->mu);
	return rc;
}

static void cp_syslog_checkpoint(tk_app *a, int64_t size);

int
tk_app_checkpoint(tk_app *a, int64_t every_events, int64_t every_seconds,
    bool force, int64_t *signed_size, tk_error *err)
{
	uint64_t size;
	tk_time now;
	int rc = 0;

	*signed_size = -1;
	(void)pthread_mutex_lock(&a->mu);
	if (!a->signing)
		goto out;
	if (tk_store_log_size(a->store, &size, err) != 0) {
		rc = -1;
		goto out;
	}
	now = now_locked(a);
	if ((int64_t)size <= a->cp_size)
		goto out;
	if (!force && (int64_t)size - a->cp_size < every_events &&
	    now - a->cp_time < every_seconds)
		goto out;
	rc = tk_audit_checkpoint(a->store, &a->signer, now,
	    a->mirror[0] ? a->mirror : NULL, signed_size, err);
	if (*signed_size >= 0) {
		a->cp_size = *signed_size;
		a->cp_time = now;
		cp_syslog_checkpoint(a, *signed_size);
	}
out:
	(void)pthread_mutex_unlock(&a->mu);
	return rc;
}

/* A JSON string holding the base64 of n bytes, or NULL (out of memory). */
static json_t *
b64_json(const unsigned char *p, size_t n)
{
	char small[TK_B64_LEN(TK_MERKLE_MAX_PROOF * 32) + 1], *buf = small;
	json_t *j;

	if (n > SIZE_MAX / 2)
		return NULL;
	if (TK_B64_LEN(n) + 1 > sizeof(small) &&
	    (buf = malloc(TK_B64_LEN(n) + 1)) == NULL)
		return NULL;
	tk_b64_encode(p, n, buf);
	j = json_stringn(buf, TK_B64_LEN(n));
	if (buf != small)
		free(buf);
	return j;
}

static json_t *
proof_json(const unsigned char *proof, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n; i++)
		if (json_array_append_new(arr, b64_json(proof + 32 * i, 32))
		    != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* Readers of the audit log: auditors and admins, or anyone when the
 * server was told the log is public. */
static enum tk_status
audit_reader(tk_app *a, const char *actor, tk_app_err *err)
{
	if (a->audit_public)
		return TK_OK;
	return check_roles(a, actor, TK_ROLE_AUDITOR | TK_ROLE_ADMIN,
	    "reading the audit log", err);
}

void
tk_app_audit_public(tk_app *a, bool on)
{
	(void)pthread_mutex_lock(&a->mu);
	a->audit_public = on;
	(void)pthread_mutex_unlock(&a->mu);
}

bool
tk_app_audit_is_public(tk_app *a)
{
	bool on;

	(void)pthread_mutex_lock(&a->mu);
	on = a->audit_public;
	(void)pthread_mutex_unlock(&a->mu);
	return on;
}

/* Collects a checkpoint's cosignature lines (witness order). */
static int
cosig_cb(void *arg, const char *witness, const char *line)
{
	(void)witness;
	return json_array_append_new(arg, json_string(line)) != 0;
}

enum tk_status
tk_app_audit_checkpoint(tk_app *a, const char *actor, json_t **out,
    tk_app_err *err)
{
	tk_checkpoint_row cp;
	enum tk_status st;
	json_t *cosigs = json_array();
	tk_error e;

	err_clear(err);
	*out = NULL;
	if (cosigs == NULL)
		return oom(err);
	(void)pthread_mutex_lock(&a->mu);
	st = audit_reader(a, actor, err);
	if (st == TK_OK && tk_store_checkpoint_latest(a->store, &cp, &e) != 0)
		st = tk_fail(&err->e, e.status == TK_ERR_NOT_FOUND ?
		    TK_ERR_NOT_FOUND : TK_ERR_INTERNAL, "%.400s", e.msg);
	if (st == TK_OK && tk_store_cosig_list(a->store, cp.size, cosig_cb,
	    cosigs, &e) != 0) {
		tk_checkpoint_row_clear(&cp);
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "%.400s", e.msg);
	}
	(void)pthread_mutex_unlock(&a->mu);
	if (st != TK_OK) {
		json_decref(cosigs);
		return st;
	}
	*out = json_pack("{s:s, s:I, s:o, s:s}", "origin", cp.origin, "size",
	    (json_int_t)cp.size, "root", b64_json(cp.root, 32), "note",
	    cp.note);
	tk_checkpoint_row_clear(&cp);
	if (*out != NULL && json_array_size(cosigs) > 0 &&
	    json_object_set(*out, "cosignatures", cosigs) != 0) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(cosigs);
	return *out ? TK_OK : oom(err);
}

enum tk_status
tk_app_audit_proof(tk_app *a, const char *actor, bool consistency,
    uint64_t x, uint64_t size, json_t **out, tk_app_err *err)
{
	unsigned char proof[TK_MERKLE_MAX_PROOF * 32], root[32];
	unsigned char leaf[32];
	enum tk_status st;
	size_t n = 0;
	tk_error e;
	int rc;

	err_clear(err);
	*out = NULL;
	(void)pthread_mutex_lock(&a->mu);
	st = audit_reader(a, actor, err);
	if (st == TK_OK) {
		if (consistency)
			rc = x == 0 ? (tk_fail(&e, TK_ERR_INVALID, "from must be "
			    "1 or more: every tree extends the empty one"), -1) :
			    tk_store_log_consistency(a->store, x, size, proof,
			    TK_MERKLE_MAX_PROOF, &n, &e);
		else
			rc = tk_store_log_inclusion(a->store, x, size, proof,
			    TK_MERKLE_MAX_PROOF, &n, &e);
		if (rc == 0)
			rc = tk_store_log_root(a->store, size, root, &e);
		if (rc == 0 && !consistency)
			rc = tk_store_log_leaf(a->store, x, leaf, &e);
		if (rc != 0)
			st = tk_fail(&err->e, e.status == TK_ERR_INVALID ?
			    TK_ERR_INVALID : TK_ERR_INTERNAL, "%.400s", e.msg);
	}
	(void)pthread_mutex_unlock(&a->mu);
	if (st != TK_OK)
		return st;
	if (consistency)
		*out = json_pack("{s:I, s:I, s:o, s:o}", "from", (json_int_t)x,
		    "to", (json_int_t)size, "root", b64_json(root, 32),
		    "proof", proof_json(proof, n));
	else
		*out = json_pack("{s:I, s:I, s:o, s:o, s:o}", "index",
		    (json_int_t)x, "size", (json_int_t)size, "leaf_hash",
		    b64_json(leaf, 32), "root", b64_json(root, 32), "proof",
		    proof_json(proof, n));
	return *out ? TK_OK : oom(err);
}

struct leaves {
	json_t *arr;
	bool failed;
};

static int
leaves_cb(void *arg, const tk_event_row *row)
{
	struct leaves *l = arg;
	json_t *j;

	j = json_pack("{s:I, s:I, s:o}", "index", (json_int_t)(row->seq - 1),
	    "seq", (json_int_t)row->seq, "leaf", b64_json((const unsigned
	    char *)row->body, strlen(row->body)));
	if (j == NULL || json_array_append_new(l->arr, j) != 0) {
		l->failed = true;
		return 1;
	}
	return 0;
}

enum tk_status
tk_app_audit_leaves(tk_app *a, const char *actor, int64_t from,
    int64_t limit, json_t **out, tk_app_err *err)
{
	struct leaves l = {NULL, false};
	enum tk_status st;
	uint64_t size = 0;
	tk_error e;

	err_clear(err);
	*out = NULL;
	if (from < 0 || limit < 1 || limit > EVENTS_LIMIT_MAX)
		return tk_fail(&err->e, TK_ERR_INVALID, "from must be 0 or more "
		    "and limit between 1 and %d", EVENTS_LIMIT_MAX);
	l.arr = json_array();
	if (l.arr == NULL)
		return oom(err);
	(void)pthread_mutex_lock(&a->mu);
	st = audit_reader(a, actor, err);
	if (st == TK_OK && tk_store_log_size(a->store, &size, &e) != 0)
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "%.400s", e.msg);
	if (st == TK_OK && (uint64_t)from < size) {
		int64_t n = (int64_t)size - from < limit ? (int64_t)size - from :
		    limit;

		if (tk_store_event_scan(a->store, from + 1, n, leaves_cb, &l,
		    &e) != 0 && !l.failed)
			st = tk_fail(&err->e, TK_ERR_INTERNAL, "cannot read "
			    "events: %.400s", e.msg);
	}
	if (st == TK_OK && l.failed)
		st = oom(err);
	(void)pthread_mutex_unlock(&a->mu);
	if (st != TK_OK) {
		json_decref(l.arr);
		return st;
	}
	*out = json_pack("{s:I, s:o}", "size", (json_int_t)size, "events",
	    l.arr);
	return *out ? TK_OK : oom(err);
}

/* ---- audit log: witnesses and copies outside the database ------------- */

#define WITNESS_REQ_MS 5000L  /* one add-checkpoint request at most */
#define WITNESS_BACKOFF_MAX 60
#define SHIP_PAGE 256         /* events read per hold of mu */
#define SHIP_PAGES 64         /* pages per tk_app_ship call */
#define SHIP_PENDING_MAX 2048 /* leave the rest of the queue free */

static void
mono_now(struct timespec *t)
{
	if (clock_gettime(CLOCK_MONOTONIC, t) != 0) {
		t->tv_sec = 0;
		t->tv_nsec = 0;
	}
}

static long
mono_ms_until(const struct timespec *deadline)
{
	struct timespec now;

	mono_now(&now);
	return (long)(deadline->tv_sec - now.tv_sec) * 1000L +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000L;
}

/* Queues one RFC 5424 message on s: MSGID kind, time ts, MSG the compact
 * JSON of msg (consumed). Failures are written to stderr: a copy is
 * best effort and the database stays the record. */
static void
syslog_json(tk_app *a, tk_syslog *s, tk_time ts, const char *kind,
    json_t *msg)
{
	tk_syslog_opts o = {a->sl_facility, a->sl_host, NULL,
	    a->sl_procid[0] ? a->sl_procid : NULL};
	tk_event_row row;
	char *text = msg != NULL ? json_dumps(msg, JSON_COMPACT) : NULL;
	char *line = NULL;
	size_t len;
	tk_error e;

	json_decref(msg);
	if (text == NULL) {
		(void)fprintf(stderr, "twokey: syslog: %s not sent: out of "
		    "memory\n", kind);
		return;
	}
	memset(&row, 0, sizeof(row));
	row.ts = ts;
	(void)tk_strlcpy(row.kind, kind, sizeof(row.kind));
	if (tk_export_syslog(&o, &row, text, &line, &len, &e) != 0)
		(void)fprintf(stderr, "twokey: syslog: %s not sent: %s\n", kind,
		    e.msg);
	else if (tk_syslog_send(s, line, len) != 0)
		(void)fprintf(stderr, "twokey: syslog: %s dropped (queue full "
		    "or too long)\n", kind);
	free(line);
	free(text);
}

/* Sends the checkpoint of size just signed to the checkpoint syslog as
 * {"size":N,"note":"..."}, the line the mirror file holds. mu held. */
static void
cp_syslog_checkpoint(tk_app *a, int64_t size)
{
	tk_checkpoint_row cp;
	tk_error e;

	if (a->cp_syslog == NULL)
		return;
	if (tk_store_checkpoint_get(a->store, size, &cp, &e) != 0) {
		(void)fprintf(stderr, "twokey: syslog: checkpoint %" PRId64
		    " not sent: %s\n", size, e.msg);
		return;
	}
	syslog_json(a, a->cp_syslog, cp.created, "checkpoint",
	    json_pack("{s:I, s:s}", "size", (json_int_t)size, "note",
	    cp.note));
	tk_checkpoint_row_clear(&cp);
}

struct cosig_find {
	const char *witness;
	bool found;
};

static int
cosig_find_cb(void *arg, const char *witness, const char *line)
{
	struct cosig_find *f = arg;

	(void)line;
	if (strcmp(witness, f->witness) == 0)
		f->found = true;
	return 0;
}

int
tk_app_witness_add(tk_app *a, const char *spec, tk_error *err)
{
	struct app_witness *aw;
	struct cosig_find f;
	tk_checkpoint_row cp;
	tk_witness w;
	int rc = 0;

	if (tk_witness_parse(spec, &w, err) != 0)
		return -1;
	(void)pthread_mutex_lock(&a->mu);
	if (a->nwits >= TK_APP_WITNESS_MAX) {
		(void)tk_fail(err, TK_ERR_INVALID, "at most %d witnesses",
		    TK_APP_WITNESS_MAX);
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < a->nwits; i++)
		if (strcmp(a->wits[i].w.vkey, w.vkey) == 0) {
			(void)tk_fail(err, TK_ERR_INVALID, "witness key %.200s is "
			    "given twice", w.vkey);
			rc = -1;
			goto out;
		}
	aw = &a->wits[a->nwits];
	memset(aw, 0, sizeof(*aw));
	aw->w = w;
	aw->known = -1;
	aw->backoff = 1;
	/* Already cosigned by this witness: nothing to push until the next
	 * checkpoint. */
	if (tk_store_checkpoint_latest(a->store, &cp, err) == 0) {
		f.witness = w.vkey;
		f.found = false;
		if (tk_store_cosig_list(a->store, cp.size, cosig_find_cb, &f,
		    err) != 0)
			rc = -1;
		else if (f.found)
			aw->known = aw->done = cp.size;
		tk_checkpoint_row_clear(&cp);
	} else if (err->status != TK_ERR_NOT_FOUND) {
		rc = -1;
	}
	if (rc == 0)
		a->nwits++;
out:
	(void)pthread_mutex_unlock(&a->mu);
	return rc;
}

/* Writes a witness's problem to stderr unless it is the one already
 * reported, and schedules the next try. */
static void
witness_failed(struct app_witness *aw, const char *msg)
{
	struct timespec now;

	if (strcmp(aw->last_msg, msg) != 0) {
		(void)fprintf(stderr, "twokey: witness %s at %s: %s\n",
		    aw->w.key.name, aw->w.url, msg);
		(void)tk_strlcpy(aw->last_msg, msg, sizeof(aw->last_msg));
	}
	mono_now(&now);
	aw->next = now;
	aw->next.tv_sec += aw->backoff;
	aw->backoff = aw->backoff * 2 > WITNESS_BACKOFF_MAX ?
	    WITNESS_BACKOFF_MAX : aw->backoff * 2;
}

/* Pushes the checkpoint (size, note) to one witness: from the size it
 * holds, and once more from the size a 409 names. Returns 1 when a
 * cosignature was stored, 0 otherwise. */
static int
witness_push_one(tk_app *a, struct app_witness *aw, int64_t size,
    const char *note, size_t note_len, tk_time now,
    const struct timespec *deadline)
{
	unsigned char proof[TK_MERKLE_MAX_PROOF * 32];
	tk_witness_result r;
	char msg[sizeof(aw->last_msg)];
	uint64_t old;
	size_t n;
	long left;
	tk_error e;
	int rc;

	old = aw->known >= 0 && aw->known <= size ? (uint64_t)aw->known : 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		n = 0;
		if (old > 0 && old < (uint64_t)size) {
			(void)pthread_mutex_lock(&a->mu);
			rc = tk_store_log_consistency(a->store, old,
			    (uint64_t)size, proof, TK_MERKLE_MAX_PROOF, &n, &e);
			(void)pthread_mutex_unlock(&a->mu);
			if (rc != 0) {
				(void)snprintf(msg, sizeof(msg), "no consistency "
				    "proof from %" PRIu64 " to %" PRId64 ": %s", old,
				    size, e.msg);
				witness_failed(aw, msg);
				return 0;
			}
		}
		left = mono_ms_until(deadline);
		if (left < 100 || atomic_load(&a->wit_cancel))
			return 0; /* out of time: next round */
		if (tk_witness_add_checkpoint(&aw->w, old, proof, n, note,
		    note_len, now, left < WITNESS_REQ_MS ? left : WITNESS_REQ_MS,
		    &a->wit_cancel, &r, &e) != 0) {
			witness_failed(aw, e.msg);
			return 0;
		}
		if (r.outcome == TK_WITNESS_CONFLICT) {
			aw->known = r.size > INT64_MAX ? -1 : (int64_t)r.size;
			if (attempt == 0 && r.size <= (uint64_t)size &&
			    r.size != old) {
				old = r.size;
				continue;
			}
			if (r.size > (uint64_t)size)
				(void)snprintf(msg, sizeof(msg), "409 Conflict: the "
				    "witness cosigned size %" PRIu64 " of this log, "
				    "which now holds %" PRId64 ": the log was rolled "
				    "back or forked (run `twokey audit verify`)",
				    r.size, size);
			else
				(void)snprintf(msg, sizeof(msg), "409 Conflict again "
				    "(the witness now holds size %" PRIu64 "): is "
				    "another server signing for this log?", r.size);
			witness_failed(aw, msg);
			return 0;
		}
		if (r.outcome != TK_WITNESS_COSIGNED) {
			if (!atomic_load(&a->wit_cancel))
				witness_failed(aw, r.msg);
			return 0;
		}
		break;
	}
	if (r.outcome != TK_WITNESS_COSIGNED)
		return 0;
	(void)pthread_mutex_lock(&a->mu);
	rc = tk_store_cosig_put(a->store, size, aw->w.vkey, r.line,
	    now_locked(a), &e);
	if (rc == 0 && a->cp_syslog != NULL)
		syslog_json(a, a->cp_syslog, r.timestamp, "cosignature",
		    json_pack("{s:I, s:s, s:s}", "size", (json_int_t)size,
		    "witness", aw->w.vkey, "cosignature", r.line));
	(void)pthread_mutex_unlock(&a->mu);
	if (rc != 0) {
		(void)snprintf(msg, sizeof(msg), "cosigned size %" PRId64 " but "
		    "the cosignature could not be stored: %s", size, e.msg);
		witness_failed(aw, msg);
		return 0;
	}
	aw->known = aw->done = size;
	aw->backoff = 1;
	if (aw->last_msg[0] != '\0') {
		(void)fprintf(stderr, "twokey: witness %s at %s: cosigning again "
		    "(size %" PRId64 ")\n", aw->w.key.name, aw->w.url, size);
		aw->last_msg[0] = '\0';
	}
	return 1;
}

void
tk_app_witness_cancel(tk_app *a, bool on)
{
	atomic_store(&a->wit_cancel, on);
}

int
tk_app_witness_push(tk_app *a, bool force, long budget_ms, tk_error *err)
{
	struct timespec deadline, now_m;
	tk_checkpoint_row cp;
	size_t nwits, note_len;
	tk_time now;
	int stored = 0, rc = 0;

	if (atomic_exchange(&a->pushing, true))
		return 0;
	memset(&cp, 0, sizeof(cp));
	mono_now(&deadline);
	deadline.tv_sec += budget_ms / 1000;
	deadline.tv_nsec += (budget_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	(void)pthread_mutex_lock(&a->mu);
	nwits = a->nwits;
	if (nwits > 0 && tk_store_checkpoint_latest(a->store, &cp, err) != 0)
		rc = err->status == TK_ERR_NOT_FOUND ? 0 : -1;
	now = now_locked(a);
	(void)pthread_mutex_unlock(&a->mu);
	if (nwits == 0 || cp.note == NULL)
		goto out;
	note_len = strlen(cp.note);
	for (size_t i = 0; i < nwits; i++) {
		struct app_witness *aw = &a->wits[i];

		if (aw->done >= cp.size)
			continue;
		mono_now(&now_m);
		if (!force && (now_m.tv_sec < aw->next.tv_sec ||
		    (now_m.tv_sec == aw->next.tv_sec &&
		    now_m.tv_nsec < aw->next.tv_nsec)))
			continue;
		if (mono_ms_until(&deadline) < 100 ||
		    atomic_load(&a->wit_cancel))
			break;
		stored += witness_push_one(a, aw, cp.size, cp.note, note_len, now,
		    &deadline);
	}
out:
	tk_checkpoint_row_clear(&cp);
	atomic_store(&a->pushing, false);
	return rc != 0 ? -1 : stored;
}

int
tk_app_syslog_attach(tk_app *a, tk_syslog *cp, tk_syslog *ev,
    enum tk_export_format f, int64_t from_seq, const tk_syslog_opts *o,
    tk_error *err)
{
	uint64_t size = 0;
	int rc = 0;

	if (o != NULL && (o->facility < 0 || o->facility > 23))
		return tk_fail(err, TK_ERR_INVALID, "syslog facility %d is not "
		    "between 0 and 23", o->facility), -1;
	if (from_seq < 0)
		return tk_fail(err, TK_ERR_INVALID, "--syslog-from wants a "
		    "sequence number of 1 or more"), -1;
	(void)pthread_mutex_lock(&a->mu);
	if (ev != NULL && from_seq == 0 &&
	    tk_store_log_size(a->store, &size, err) != 0) {
		rc = -1;
		goto out;
	}
	a->cp_syslog = cp;
	a->ev_syslog = ev;
	a->ev_format = f;
	a->shipped = from_seq > 0 ? from_seq - 1 : (int64_t)size;
	a->sl_facility = o != NULL ? o->facility : TK_SYSLOG_FACILITY_DEFAULT;
	a->sl_host[0] = a->sl_procid[0] = '\0';
	if (o != NULL && o->hostname != NULL)
		(void)tk_strlcpy(a->sl_host, o->hostname, sizeof(a->sl_host));
	if (o != NULL && o->procid != NULL)
		(void)tk_strlcpy(a->sl_procid, o->procid, sizeof(a->sl_procid));
out:
	(void)pthread_mutex_unlock(&a->mu);
	return rc;
}

/* A page of events copied out of the store, to format without mu. */
struct ship_page {
	tk_event_row rows[SHIP_PAGE];
	size_t n;
	bool failed;
};

static int
ship_page_cb(void *arg, const tk_event_row *row)
{
	struct ship_page *p = arg;
	tk_event_row *r;

	if (p->n >= SHIP_PAGE)
		return 1;
	r = &p->rows[p->n];
	*r = *row;
	r->body = row->body != NULL ? strdup(row->body) : NULL;
	if (r->body == NULL) {
		p->failed = true;
		return 1;
	}
	p->n++;
	return 0;
}

int64_t
tk_app_ship(tk_app *a, tk_error *err)
{
	tk_syslog_opts o = {a->sl_facility, a->sl_host, NULL,
	    a->sl_procid[0] ? a->sl_procid : NULL};
	struct ship_page *p;
	tk_syslog_stats st;
	int64_t total = 0;
	uint64_t size;
	int rc = 0;

	if (a->ev_syslog == NULL || atomic_exchange(&a->shipping, true))
		return 0;
	p = malloc(sizeof(*p));
	if (p == NULL) {
		atomic_store(&a->shipping, false);
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
	}
	for (int page = 0; page < SHIP_PAGES && rc == 0; page++) {
		int64_t want;

		tk_syslog_stats_get(a->ev_syslog, &st);
		if (st.pending >= SHIP_PENDING_MAX)
			break;
		want = (int64_t)(SHIP_PENDING_MAX - st.pending);
		if (want > SHIP_PAGE)
			want = SHIP_PAGE;
		p->n = 0;
		p->failed = false;
		/* Bounded by the committed log size: nothing uncommitted is
		 * ever shipped. */
		(void)pthread_mutex_lock(&a->mu);
		if (tk_store_log_size(a->store, &size, err) != 0)
			rc = -1;
		else if ((uint64_t)a->shipped < size) {
			if ((int64_t)size - a->shipped < want)
				want = (int64_t)size - a->shipped;
			if (tk_store_event_scan(a->store, a->shipped + 1, want,
			    ship_page_cb, p, err) != 0 && !p->failed)
				rc = -1;
		}
		(void)pthread_mutex_unlock(&a->mu);
		if (p->failed && rc == 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
			rc = -1;
		}
		for (size_t i = 0; i < p->n; i++) {
			tk_event_row *row = &p->rows[i];
			char *line = NULL, *msg = NULL;
			size_t len;
			tk_error e;

			/* Gapless: stop at a hole rather than skip it. */
			if (rc == 0 && row->seq != a->shipped + 1) {
				(void)tk_fail(err, TK_ERR_INTERNAL, "event %" PRId64
				    " read where %" PRId64 " was expected",
				    row->seq, a->shipped + 1);
				rc = -1;
			}
			if (rc == 0) {
				if (tk_export_event(a->ev_format, row, &line, &len,
				    &e) != 0 || tk_export_syslog(&o, row, line, &msg,
				    &len, &e) != 0)
					(void)fprintf(stderr, "twokey: syslog: event %"
					    PRId64 " not shipped: %s (`twokey audit "
					    "verify`)\n", row->seq, e.msg);
				else if (tk_syslog_send(a->ev_syslog, msg, len) != 0)
					(void)fprintf(stderr, "twokey: syslog: event %"
					    PRId64 " dropped (too long or the sender is "
					    "closing)\n", row->seq);
				else
					total++;
				a->shipped = row->seq;
			}
			free(line);
			free(msg);
			tk_event_row_clear(row);
		}
		if (rc != 0 || p->n < (size_t)want || p->n == 0)
			break;
	}
	free(p);
	atomic_store(&a->shipping, false);
	return rc != 0 ? -1 : total;
}

/* ---- shared with verify.c and execute.c (app_int.h) -------------------- */

struct app_fx *
app_fx(tk_app *a)
{
	return &a->fx;
}

tk_store *
app_store(tk_app *a)
{
	return a->store;
}

unsigned long
app_view_hits(tk_app *a)
{
	return atomic_load(&a->view_hits);
}

tk_ctx
app_ctx(tk_app *a, tk_time now)
{
	return ctx_locked(a, now);
}

int
app_event(tk_app *a, tk_time now, const char *case_id, const char *kind,
    const char *actor, bool alert, json_t *data, tk_error *err)
{
	return append_event(a, now, case_id, kind, actor, alert, data, err);
}

bool
app_subject(tk_app *a, const char *id, tk_subject *out)
{
	const tk_subject *s;

	(void)pthread_mutex_lock(&a->mu);
	s = tk_org_subject(&a->org, id);
	if (s != NULL)
		*out = *s;
	(void)pthread_mutex_unlock(&a->mu);
	return s != NULL;
}

enum tk_status
app_case_read(tk_app *a, const char *id, tk_case *out, tk_app_err *err)
{
	enum tk_status st;

	err_clear(err);
	(void)pthread_mutex_lock(&a->mu);
	st = load_case(a, id, err);
	if (st == TK_OK)
		*out = a->work;
	(void)pthread_mutex_unlock(&a->mu);
	return st;
}

int
app_read(tk_app *a, app_tx_fn fn, void *arg, tk_error *err)
{
	int rc;

	(void)pthread_mutex_lock(&a->mu);
	rc = fn(a, now_locked(a), arg, err);
	(void)pthread_mutex_unlock(&a->mu);
	return rc;
}

struct tx_job {
	app_tx_fn fn;
	void *arg;
	tk_error *err;
	int rc;
};

static void
tx_run(tk_app *a, void *arg)
{
	struct tx_job *j = arg;
	struct gc_op op;

	j->rc = -1;
	if (op_begin(a, &op, j->err) != 0)
		return;
	if (j->fn(a, now_locked(a), j->arg, j->err) != 0) {
		op_undo(a, &op);
		return;
	}
	if (op_keep(a, &op, j->err) != 0)
		return;
	j->rc = 0;
}

int
app_tx(tk_app *a, app_tx_fn fn, void *arg, tk_error *err)
{
	struct tx_job j = {fn, arg, err, -1};
	tk_error e;

	if (!gc_submit(a, tx_run, &j, &e)) {
		*err = e; /* the batch did not commit: nothing fn did stays */
		return -1;
	}
	return j.rc;
}
