/*
 * test_app.c - unit tests for the application layer (app/app.c), driven
 * directly against a temporary database initialised from the demo org and
 * policy: a standard case from open to executed; a refused self-approval
 * leaves a `refused` event and the case unchanged; a duplicate open is
 * refused naming the open case; a broken policy reload keeps the old
 * policy; tokens authenticate by hash only; a hold ends with the injected
 * clock; role checks for reads and admin actions; the scheduler sweep
 * ends a hold and raises the overdue-review alert without anyone reading
 * the case; concurrent refusals and reads through group commit each
 * leave one event; after all of it the audit rows verify, the store's
 * Merkle tree equals the tree recomputed from the event bodies, and the
 * full log verification holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "app/app.h"
#include "audit/chain.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "core/case.h"
#include "store/store.h"

#define T0 ((tk_time)1795000000) /* a fixed "now" for the tests */

#include "app_fixture.h"

struct fixture {
	char dir[64];
	char path[128];
	tk_app *app;
	tk_time now;
};

static tk_time
test_clock(void *arg)
{
	return ((struct fixture *)arg)->now;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	tk_error err;

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tk_app_XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof(f->path), "%s/tk.db", f->dir);
	if (init_db(f->path) != 0)
		return -1;
	f->app = tk_app_open(f->path, &err);
	if (f->app == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	f->now = T0;
	tk_app_set_clock(f->app, test_clock, f);
	*state = f;
	return 0;
}

/* Feeds each event body's leaf hash to a frontier. */
static int
frontier_cb(void *arg, const tk_event_row *r)
{
	unsigned char h[32];
	tk_error err;

	assert_int_equal(tk_merkle_leaf_hash(r->body, strlen(r->body), h), 0);
	assert_int_equal(tk_merkle_frontier_append(arg, h, &err), 0);
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal",
	    ".audit-key", ".checkpoints", "-views", "-views-wal",
	    "-views-shm"};
	char p[160];
	int64_t count = 0, bad = 0;
	tk_error err;
	tk_store *s;
	tk_merkle_frontier fr;
	tk_audit_trust t;
	tk_audit_report rep;
	unsigned char mine[32], theirs[32];
	uint64_t size = 0;

	tk_app_close(f->app);
	/* Whatever a test did, the audit log must still verify: rows, the
	 * tree (recomputed from the bodies) and the whole log. */
	s = tk_store_open(f->path, false, &err);
	assert_non_null(s);
	if (tk_chain_verify(s, &count, &bad, &err) != 0)
		fail_msg("rows: %s", err.msg);
	assert_true(count > 0);
	tk_merkle_frontier_init(&fr);
	assert_int_equal(tk_store_event_scan(s, 1, 0, frontier_cb, &fr, &err),
	    0);
	assert_int_equal(fr.size, (uint64_t)count);
	assert_int_equal(tk_store_log_size(s, &size, &err), 0);
	assert_int_equal(size, (uint64_t)count);
	assert_int_equal(tk_merkle_frontier_root(&fr, mine, &err), 0);
	assert_int_equal(tk_store_log_root(s, size, theirs, &err), 0);
	assert_memory_equal(mine, theirs, 32);
	memset(&t, 0, sizeof(t));
	assert_int_equal(tk_audit_verify_store(s, &t, &rep, &err), 0);
	if (!rep.ok)
		fail_msg("audit verify: %s at %lld: %s", rep.kind,
		    (long long)rep.bad_seq, rep.detail);
	assert_int_equal(rep.events, count);
	tk_store_close(s);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		(void)unlink(p);
	}
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void
open_case(struct fixture *f, const char *actor, const char *subject,
    const char *action, const char *ticket, const char *reason,
    char *id_out, json_t **view)
{
	tk_open_req r;
	tk_app_err err;
	json_t *out = NULL;
	enum tk_status st;

	memset(&r, 0, sizeof(r));
	r.subject = subject;
	r.action = action;
	r.channel = "phone";
	r.ticket = ticket;
	r.reason_code = reason;
	r.justification = "caller asked";
	r.params = "{}";
	r.delivery = "";
	st = tk_app_case_open(f->app, actor, &r, &out, &err);
	if (st != TK_OK)
		fprintf(stderr, "open: %s\n", err.e.msg);
	assert_int_equal(st, TK_OK);
	assert_non_null(out);
	assert_true(tk_app_case_id_valid(json_string_value(json_object_get(out,
	    "id"))));
	assert_int_equal(tk_strlcpy(id_out, jstr(out, "id"), TK_ID_MAX), 0);
	if (view != NULL)
		*view = out;
	else
		json_decref(out);
}

/* The stored case record, for before/after comparisons. */
static json_t *
stored(struct fixture *f, const char *id)
{
	json_t *j = NULL, *rec;
	tk_app_err err;

	assert_int_equal(tk_app_case_get(f->app, "ivan", id, &j, &err),
	    TK_OK);
	rec = json_deep_copy(j);
	json_decref(j);
	assert_non_null(rec);
	assert_int_equal(json_object_del(rec, "events"), 0);
	/* The timeline is, like the events, a view of the audit log (it
	 * shows refusals too), not the record. */
	(void)json_object_del(rec, "timeline");
	return rec;
}

static int
count_events(const json_t *view, const char *kind, const char *actor)
{
	const json_t *ev = json_object_get(view, "events");
	size_t i;
	json_t *e;
	int n = 0;

	json_array_foreach(ev, i, e)
		if (strcmp(jstr(e, "kind"), kind) == 0 &&
		    (actor == NULL || strcmp(jstr(e, "actor"), actor) == 0))
			n++;
	return n;
}

/* ---- tests ----------------------------------------------------------------- */

static void
test_standard_case(void **state)
{
	struct fixture *f = *state;
	char id[TK_ID_MAX];
	json_t *v = NULL;
	tk_app_err err;
	tk_execute_req ex = {"manual", "reset in the directory",
	    TK_REVOKE_SESSIONS};

	open_case(f, "alice", "jsmith", "password_reset", "INC-1",
	    "forgot_password", id, &v);
	assert_string_equal(jstr(v, "tier"), "standard");
	assert_string_equal(jstr(v, "queue"), "password");
	assert_string_equal(jstr(v, "state"), "approving");
	assert_true(json_array_size(json_object_get(v, "missing")) > 0);
	json_decref(v);

	f->now += 60;
	assert_int_equal(tk_app_case_decide(f->app, "bob", id, true, "ok", &v,
	    &err), TK_OK);
	assert_string_equal(jstr(v, "state"), "ready");
	json_decref(v);

	f->now += 60;
	assert_int_equal(tk_app_case_execute(f->app, "erin", id, &ex, &v,
	    &err), TK_OK);
	assert_string_equal(jstr(v, "state"), "executed");
	json_decref(v);

	/* The timeline has every step. */
	assert_int_equal(tk_app_case_get(f->app, "alice", id, &v, &err), TK_OK);
	assert_int_equal(count_events(v, "case.opened", "alice"), 1);
	assert_int_equal(count_events(v, "approval.added", "bob"), 1);
	assert_true(json_array_size(json_object_get(v, "events")) >= 3);
	json_decref(v);

	/* Listing finds it in its queue. */
	tk_app_list_req lr = {"password", NULL, "jsmith", 0, 0};
	assert_int_equal(tk_app_case_list(f->app, "ivan", &lr, &v, &err),
	    TK_OK);
	assert_int_equal(json_integer_value(json_object_get(v, "count")), 1);
	json_decref(v);
}

static void
test_self_approval_refused(void **state)
{
	struct fixture *f = *state;
	char id[TK_ID_MAX];
	json_t *before, *after, *v = NULL, *e;
	tk_app_err err;
	size_t i;
	bool found = false;

	open_case(f, "alice", "jsmith", "password_reset", "INC-2",
	    "forgot_password", id, NULL);
	before = stored(f, id);
	f->now += 30;
	assert_int_equal(tk_app_case_decide(f->app, "alice", id, true, "",
	    &v, &err), TK_ERR_SOD);
	assert_null(v);
	assert_int_equal(err.e.invariant, 1);
	assert_true(strlen(err.e.msg) > 0);
	after = stored(f, id);
	assert_true(json_equal(before, after));

	assert_int_equal(tk_app_case_get(f->app, "alice", id, &v, &err), TK_OK);
	json_array_foreach(json_object_get(v, "events"), i, e) {
		json_t *d = json_object_get(e, "data");
		if (strcmp(jstr(e, "kind"), "refused") != 0)
			continue;
		found = true;
		assert_string_equal(jstr(e, "actor"), "alice");
		assert_string_equal(jstr(d, "action"), "approve");
		assert_string_equal(jstr(d, "code"), "sod_violation");
		assert_int_equal(json_integer_value(json_object_get(d,
		    "invariant")), 1);
		assert_true(strlen(jstr(d, "message")) > 0);
	}
	assert_true(found);
	json_decref(v);
	json_decref(before);
	json_decref(after);
}

static void
test_duplicate_open_refused(void **state)
{
	struct fixture *f = *state;
	char id[TK_ID_MAX];
	tk_open_req r;
	tk_app_err err;
	json_t *v = NULL, *evs = NULL;

	open_case(f, "alice", "jsmith", "password_reset", "INC-3",
	    "forgot_password", id, NULL);
	memset(&r, 0, sizeof(r));
	r.subject = "jsmith";
	r.action = "password_reset";
	r.channel = "chat";
	r.ticket = "INC-4";
	r.reason_code = "forgot_password";
	r.params = "{}";
	assert_int_equal(tk_app_case_open(f->app, "bob", &r, &v, &err),
	    TK_ERR_WRONG_STATE);
	assert_null(v);
	assert_string_equal(err.case_id, id);
	assert_string_equal(err.state, "approving");
	assert_non_null(strstr(err.e.msg, id));

	/* The refusal is in the audit trail, with no case id. */
	assert_int_equal(tk_app_events(f->app, "ivan", 1, 1000, &evs, &err),
	    TK_OK);
	json_t *last = json_array_get(json_object_get(evs, "events"),
	    json_array_size(json_object_get(evs, "events")) - 1);
	assert_string_equal(jstr(last, "kind"), "refused");
	assert_true(json_is_null(json_object_get(last, "case")));
	assert_string_equal(jstr(json_object_get(last, "data"), "action"),
	    "open");
	json_decref(evs);

	/* Another family for the same subject is fine. */
	r.action = "email_change";
	assert_int_equal(tk_app_case_open(f->app, "bob", &r, &v, &err), TK_OK);
	json_decref(v);

	/* Unknown subject and action are invalid, not refusals. */
	r.subject = "nobody";
	assert_int_equal(tk_app_case_open(f->app, "bob", &r, &v, &err),
	    TK_ERR_INVALID);
	r.subject = "jsmith";
	r.action = "frobnicate";
	assert_int_equal(tk_app_case_open(f->app, "bob", &r, &v, &err),
	    TK_ERR_INVALID);
}

static void
test_policy_reload(void **state)
{
	struct fixture *f = *state;
	static const char broken[] = "version: 1\ntiers:\n  - name: x\n"
	    "    when: 'subject.labels has'\n";
	char before[32], after[32], digest[32];
	char *text;
	json_t *v = NULL;
	tk_app_err err;
	size_t n;

	tk_app_policy_digest(f->app, before, sizeof(before));
	assert_int_equal(tk_app_reload_policy(f->app, "olivia", broken,
	    strlen(broken), digest, sizeof(digest), &err), TK_ERR_INVALID);
	assert_non_null(strstr(err.e.msg, "policy:"));
	tk_app_policy_digest(f->app, after, sizeof(after));
	assert_string_equal(before, after);

	/* Only admins load policy. */
	text = slurp("examples/demo/policy.yaml");
	assert_non_null(text);
	n = strlen(text);
	assert_int_equal(tk_app_reload_policy(f->app, "alice", text, n,
	    digest, sizeof(digest), &err), TK_ERR_FORBIDDEN);

	/* A changed but valid policy is stored and swapped in. */
	char *changed = malloc(n + 32);
	assert_non_null(changed);
	memcpy(changed, text, n);
	memcpy(changed + n, "\n# edited\n", 11);
	assert_int_equal(tk_app_reload_policy(f->app, "olivia", changed,
	    strlen(changed), digest, sizeof(digest), &err), TK_OK);
	tk_app_policy_digest(f->app, after, sizeof(after));
	assert_string_equal(digest, after);
	assert_string_not_equal(before, after);
	assert_int_equal(tk_app_policy_get(f->app, "dave", &v, &err), TK_OK);
	assert_string_equal(jstr(v, "text"), changed);
	json_decref(v);
	free(changed);
	free(text);

	/* The running app and a fresh one both see the new policy. */
	tk_app_close(f->app);
	f->app = tk_app_open(f->path, &err.e);
	assert_non_null(f->app);
	tk_app_set_clock(f->app, test_clock, f);
	tk_app_policy_digest(f->app, before, sizeof(before));
	assert_string_equal(before, after);
}

static void
test_tokens(void **state)
{
	struct fixture *f = *state;
	char tok[TK_TOKEN_MAX], login[TK_ID_MAX];
	tk_app_err err;

	assert_int_equal(tk_app_token_issue(f->app, "carol", tok, sizeof(tok),
	    &err), TK_OK);
	assert_int_equal(strncmp(tok, "tk_", 3), 0);
	assert_int_equal(strlen(tok), 46);
	assert_int_equal(tk_app_authenticate(f->app, tok, strlen(tok), login,
	    sizeof(login), &err), TK_OK);
	assert_string_equal(login, "carol");
	tok[10] ^= 1;
	assert_int_equal(tk_app_authenticate(f->app, tok, strlen(tok), login,
	    sizeof(login), &err), TK_ERR_UNAUTH);
	assert_int_equal(tk_app_authenticate(f->app, "", 0, login,
	    sizeof(login), &err), TK_ERR_UNAUTH);
	assert_int_equal(tk_app_token_issue(f->app, "jsmith", tok, sizeof(tok),
	    &err), TK_ERR_NOT_FOUND);
}

static void
test_hold_and_clock(void **state)
{
	struct fixture *f = *state;
	char id[TK_ID_MAX];
	tk_app_err err;
	json_t *v = NULL;
	tk_evidence_req ev = {"callback_on_file", "+1 555 0102", "pass",
	    "called back on file", false};
	tk_execute_req ex = {"manual", "reset done", TK_REVOKE_SESSIONS};

	/* pwhite is executive + finance: tier high, 1h hold. */
	open_case(f, "alice", "pwhite", "password_reset", "INC-9",
	    "forgot_password", id, &v);
	assert_string_equal(jstr(v, "tier"), "high");
	json_decref(v);
	assert_int_equal(tk_app_case_evidence(f->app, "bob", id, &ev, &v,
	    &err), TK_OK);
	json_decref(v);
	assert_int_equal(tk_app_case_decide(f->app, "dave", id, true, "", &v,
	    &err), TK_OK);
	json_decref(v);
	assert_int_equal(tk_app_case_decide(f->app, "carol", id, true, "", &v,
	    &err), TK_OK);
	assert_string_equal(jstr(v, "state"), "on_hold");
	json_decref(v);

	/* Execute during the hold: wrong_state with the hold's end. */
	f->now += 600;
	assert_int_equal(tk_app_case_execute(f->app, "erin", id, &ex, &v,
	    &err), TK_ERR_WRONG_STATE);
	assert_string_equal(err.state, "on_hold");
	assert_true(err.hold_until > f->now);

	/* After the hold the same call goes through. */
	f->now += 3600;
	assert_int_equal(tk_app_case_execute(f->app, "erin", id, &ex, &v,
	    &err), TK_OK);
	assert_string_equal(jstr(v, "state"), "executed");
	json_decref(v);
}

static void
test_roles(void **state)
{
	struct fixture *f = *state;
	char id[TK_ID_MAX];
	tk_app_err err;
	json_t *v = NULL;

	open_case(f, "alice", "jsmith", "password_reset", "", "", id, NULL);
	/* The auditor reads but cannot change. */
	assert_int_equal(tk_app_case_get(f->app, "ivan", id, &v, &err), TK_OK);
	json_decref(v);
	v = NULL;
	assert_int_equal(tk_app_case_decide(f->app, "ivan", id, true, "", &v,
	    &err), TK_ERR_FORBIDDEN);
	assert_null(v);
	/* The admin without a function cannot approve. */
	assert_int_equal(tk_app_case_decide(f->app, "olivia", id, true, "",
	    &v, &err), TK_ERR_FORBIDDEN);
	/* The event log is for auditors and admins only. */
	assert_int_equal(tk_app_events(f->app, "alice", 1, 10, &v, &err),
	    TK_ERR_FORBIDDEN);
	assert_int_equal(tk_app_events(f->app, "olivia", 1, 10, &v, &err),
	    TK_OK);
	json_decref(v);
	/* Malformed and unknown ids. */
	assert_int_equal(tk_app_case_get(f->app, "ivan", "c_12", &v, &err),
	    TK_ERR_INVALID);
	assert_int_equal(tk_app_case_get(f->app, "ivan", "c_0123456789abcdef",
	    &v, &err), TK_ERR_NOT_FOUND);
	assert_int_equal(tk_app_case_decide(f->app, "bob", "c_0123456789ABCDEF",
	    true, "", &v, &err), TK_ERR_INVALID);
	/* me */
	assert_int_equal(tk_app_me(f->app, "carol", &v, &err), TK_OK);
	assert_string_equal(jstr(v, "function"), "security");
	json_decref(v);
}

static void
test_explain_and_alerts(void **state)
{
	struct fixture *f = *state;
	tk_explain_req r;
	tk_app_err err;
	json_t *v = NULL;

	memset(&r, 0, sizeof(r));
	r.subject = "radmin";
	r.action = "mfa_reset";
	assert_int_equal(tk_app_policy_explain(f->app, NULL, &r, &v, &err),
	    TK_OK);
	assert_string_equal(jstr(v, "tier"), "critical");
	assert_true(json_is_object(json_object_get(v, "denied")));
	json_decref(v);
	r.ticket = "INC-1";
	assert_int_equal(tk_app_policy_explain(f->app, "alice", &r, &v, &err),
	    TK_OK);
	assert_true(json_is_null(json_object_get(v, "denied")));
	json_decref(v);

	assert_int_equal(tk_app_alerts(f->app, "carol", &v, &err), TK_OK);
	assert_true(json_is_array(json_object_get(v, "alerts")));
	json_decref(v);
}

/* Kinds of the events (audit log, read by the auditor) about case id. */
static int
count_log(struct fixture *f, const char *id, const char *kind)
{
	tk_app_err err;
	json_t *v = NULL, *e;
	size_t i;
	int n = 0;

	assert_int_equal(tk_app_events(f->app, "ivan", 1, 1000, &v, &err),
	    TK_OK);
	json_array_foreach(json_object_get(v, "events"), i, e)
		if (strcmp(jstr(e, "kind"), kind) == 0 &&
		    (id == NULL || strcmp(jstr(e, "case"), id) == 0))
			n++;
	json_decref(v);
	return n;
}

static int
count_alerts(struct fixture *f, const char *kind)
{
	tk_app_err err;
	json_t *v = NULL, *e;
	size_t i;
	int n = 0;

	assert_int_equal(tk_app_alerts(f->app, "carol", &v, &err), TK_OK);
	json_array_foreach(json_object_get(v, "alerts"), i, e)
		if (strcmp(jstr(e, "kind"), kind) == 0)
			n++;
	json_decref(v);
	return n;
}

static void
test_sweep(void **state)
{
	struct fixture *f = *state;
	char hold[TK_ID_MAX], bg[TK_ID_MAX];
	tk_app_err err;
	tk_error e;
	json_t *v = NULL;
	tk_evidence_req ev = {"callback_on_file", "+1 555 0102", "pass",
	    "called back on file", false};
	tk_execute_req ex = {"manual", "factors reset", TK_REVOKE_SESSIONS};

	/* A case on its 1h hold ... */
	open_case(f, "alice", "pwhite", "password_reset", "INC-9",
	    "forgot_password", hold, NULL);
	assert_int_equal(tk_app_case_evidence(f->app, "bob", hold, &ev, &v,
	    &err), TK_OK);
	json_decref(v);
	assert_int_equal(tk_app_case_decide(f->app, "dave", hold, true, "", &v,
	    &err), TK_OK);
	json_decref(v);
	assert_int_equal(tk_app_case_decide(f->app, "carol", hold, true, "",
	    &v, &err), TK_OK);
	assert_string_equal(jstr(v, "state"), "on_hold");
	json_decref(v);
	/* ... and a break-glass case executed, its review due in 24h. */
	open_case(f, "alice", "pwhite", "mfa_reset", "INC-12", "lost_device",
	    bg, NULL);
	assert_int_equal(tk_app_case_evidence(f->app, "bob", bg, &ev, &v,
	    &err), TK_OK);
	json_decref(v);
	assert_int_equal(tk_app_case_break_glass(f->app, "frank", bg,
	    "exec locked out", "IR-77", &v, &err), TK_OK);
	json_decref(v);
	assert_int_equal(tk_app_case_decide(f->app, "carol", bg, true, "", &v,
	    &err), TK_OK);
	json_decref(v);
	assert_int_equal(tk_app_case_execute(f->app, "dave", bg, &ex, &v,
	    &err), TK_OK);
	assert_string_equal(jstr(v, "state"), "review");
	json_decref(v);

	/* Nothing is due yet: a sweep changes nothing. */
	assert_int_equal(tk_app_sweep(f->app, &e), 0);

	/* Past the hold: the sweep ends it, nobody read the case. */
	f->now += 3600 + 60;
	assert_int_equal(count_log(f, hold, "hold.ended"), 0);
	assert_int_equal(tk_app_sweep(f->app, &e), 1);
	assert_int_equal(count_log(f, hold, "hold.ended"), 1);
	assert_int_equal(count_alerts(f, "review.overdue"), 0);
	assert_int_equal(tk_app_sweep(f->app, &e), 0);

	/* Past the review deadline: the overdue alert, once. */
	f->now += 24 * 3600;
	assert_true(tk_app_sweep(f->app, &e) >= 1);
	assert_int_equal(count_log(f, bg, "review.overdue"), 1);
	assert_int_equal(count_alerts(f, "review.overdue"), 1);
	assert_int_equal(tk_app_sweep(f->app, &e), 0);
	assert_int_equal(count_log(f, bg, "review.overdue"), 1);

	/* The case says so when read. */
	assert_int_equal(tk_app_case_get(f->app, "ivan", bg, &v, &err), TK_OK);
	assert_true(json_is_true(json_object_get(json_object_get(v, "review"),
	    "overdue")));
	json_decref(v);
}

/* Group commit: threads refusing and reading at once; every refusal is
 * one durable `refused` event and the chain stays gapless. */
#define GC_THREADS 8
#define GC_ROUNDS 40

struct gc_arg {
	struct fixture *f;
	const char *id;
	int refused, read;
};

static void *
gc_worker(void *p)
{
	struct gc_arg *g = p;
	tk_app_err err;
	json_t *v;
	char *text;
	size_t len;

	for (int i = 0; i < GC_ROUNDS; i++) {
		v = NULL;
		if (tk_app_case_decide(g->f->app, "alice", g->id, true, "", &v,
		    &err) == TK_ERR_SOD)
			g->refused++;
		json_decref(v);
		if (tk_app_case_get_text(g->f->app, "ivan", g->id, &text, &len,
		    &err) == TK_OK) {
			g->read++;
			free(text);
		}
	}
	return NULL;
}

static void
test_group_commit_concurrent(void **state)
{
	struct fixture *f = *state;
	struct gc_arg g[GC_THREADS];
	pthread_t t[GC_THREADS];
	char id[TK_ID_MAX];

	open_case(f, "alice", "jsmith", "password_reset", "", "", id, NULL);
	for (int i = 0; i < GC_THREADS; i++) {
		memset(&g[i], 0, sizeof(g[i]));
		g[i].f = f;
		g[i].id = id;
		assert_int_equal(pthread_create(&t[i], NULL, gc_worker, &g[i]),
		    0);
	}
	for (int i = 0; i < GC_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(g[i].refused, GC_ROUNDS);
		assert_int_equal(g[i].read, GC_ROUNDS);
	}
	assert_int_equal(count_log(f, id, "refused"), GC_THREADS * GC_ROUNDS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_standard_case, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_self_approval_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_open_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_reload, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_and_clock, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_and_alerts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_concurrent,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("app", tests, NULL, NULL);
}
