/*
 * test_audit_verify.c - unit tests for the verification of the audit log
 * run from the server (app/audit_verify.c, store/store_verified.c),
 * against a temporary database made from the demo org with the log's
 * signing key next to it and signed checkpoints: an intact log verifies
 * and leaves an `audit.verified` event that reads back as the latest
 * verification, also after the app is reopened; one byte changed in an
 * event's row (through sqlite3, as an attacker with the file would)
 * makes it report FAILED at that event, as an alert; only auditors and
 * admins may run or read it; a second run while one is running is
 * refused; the latest of several is the newest; the checkpoint copy
 * outside the database is checked (a half-written last line is not a
 * finding, a bad line is, named by its path); and a verification
 * while the server appends events and signs checkpoints still finds
 * the log intact (it reads one snapshot).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "app/app.h"
#include "app/app_int.h"
#include "audit/log.h"
#include "store/store.h"

#define T0 ((tk_time)1795000000)

#include "app_fixture.h"
#define FILLER 3000 /* events in the log before most tests start */
/* ... and before the test while writing: past the first chunk the
 * verification walks (16384 rows), so the walk ends in a later one. */
#define FILLER_BIG 17000

struct fixture {
	char dir[64];
	char path[128];
	char key[160];
	char mirror[160];
	tk_app *app;
	tk_time now;
	int filler;
};

static tk_time
test_clock(void *arg)
{
	return ((struct fixture *)arg)->now;
}

/* What `twokey init` does (config texts, the log's key, a first event),
 * plus FILLER events so a walk over the log takes a moment. */
static int
init_keyed_db(struct fixture *f)
{
	char *org = slurp("examples/demo/org.yaml");
	char *pol = slurp("examples/demo/policy.yaml");
	char vkey[TK_NOTE_VKEY_MAX];
	tk_store *s = NULL;
	tk_event_row row;
	tk_error err;
	json_t *data = json_pack("{s:s}", "detail", "test database");
	int rc = -1;

	memset(&row, 0, sizeof(row));
	memset(&err, 0, sizeof(err));
	if (org == NULL || pol == NULL || data == NULL)
		goto out;
	s = tk_store_open(f->path, true, &err);
	if (s == NULL)
		goto out;
	if (tk_audit_key_create(s, f->key, "example.com/twokey", T0, vkey,
	    sizeof(vkey), &err) != 0 || tk_store_begin(s, &err) != 0 ||
	    tk_store_config_put(s, "org", org, &err) != 0 ||
	    tk_store_config_put(s, "policy", pol, &err) != 0 ||
	    tk_store_event_append(s, T0, "", "store.initialized", "system",
	    false, data, &row, &err) != 0)
		goto out;
	for (int i = 0; i < f->filler; i++) {
		tk_event_row_clear(&row);
		if (tk_store_event_append(s, T0, "", "test.filler", "system",
		    false, data, &row, &err) != 0)
			goto out;
	}
	if (tk_store_commit(s, &err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "init: %s\n", err.msg);
	tk_event_row_clear(&row);
	json_decref(data);
	if (s != NULL)
		tk_store_close(s);
	free(org);
	free(pol);
	return rc;
}

static int
app_start(struct fixture *f)
{
	tk_error err;
	int64_t size;

	f->app = tk_app_open(f->path, &err);
	if (f->app == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	tk_app_set_clock(f->app, test_clock, f);
	if (tk_app_audit_attach(f->app, f->key, f->mirror, &err) != 0 ||
	    tk_app_checkpoint(f->app, 1, 1, true, &size, &err) != 0) {
		fprintf(stderr, "audit: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int
setup_n(void **state, int filler)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->filler = filler;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tk_averify_XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof(f->path), "%s/tk.db", f->dir);
	(void)snprintf(f->key, sizeof(f->key), "%s.audit-key", f->path);
	(void)snprintf(f->mirror, sizeof(f->mirror), "%s.checkpoints",
	    f->path);
	f->now = T0;
	if (init_keyed_db(f) != 0 || app_start(f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_n(state, FILLER);
}

static int
setup_big(void **state)
{
	return setup_n(state, FILLER_BIG);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal",
	    ".audit-key", ".checkpoints"};
	char p[200];

	tk_app_close(f->app);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		(void)unlink(p);
	}
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static json_int_t
jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	assert_non_null(s);
	return s;
}

static uint64_t
log_size(struct fixture *f)
{
	tk_app_err err;
	json_t *l = NULL;
	uint64_t n;

	assert_int_equal(tk_app_audit_leaves(f->app, "ivan", 0, 1, &l, &err),
	    TK_OK);
	n = (uint64_t)jint(l, "size");
	json_decref(l);
	return n;
}

/* The stored event seq, as the event log gives it to an auditor. */
static json_t *
event_at(struct fixture *f, int64_t seq)
{
	tk_app_err err;
	json_t *evs = NULL, *e;

	assert_int_equal(tk_app_events(f->app, "ivan", seq, 1, &evs, &err),
	    TK_OK);
	e = json_incref(json_array_get(json_object_get(evs, "events"), 0));
	json_decref(evs);
	assert_non_null(e);
	return e;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_intact(void **state)
{
	struct fixture *f = *state;
	tk_app_err err;
	json_t *v = NULL, *last = NULL, *ev, *data;
	uint64_t before = log_size(f);

	assert_int_equal(tk_app_audit_last_verify(f->app, "ivan", &last,
	    &err), TK_OK);
	assert_true(json_is_null(last));
	json_decref(last);

	f->now = T0 + 60;
	assert_int_equal(tk_app_audit_verify(f->app, "ivan", &v, &err), TK_OK);
	assert_string_equal(jstr(v, "result"), "intact");
	assert_int_equal(jint(v, "size"), (json_int_t)before);
	assert_int_equal(jint(v, "checkpoints"), 1);
	assert_string_equal(jstr(v, "by"), "ivan");
	assert_int_equal(jint(v, "at_epoch"), T0 + 60);
	assert_string_equal(jstr(v, "at"), "2026-11-18T11:07:40Z");
	assert_true(json_is_null(json_object_get(v, "bad_seq")));
	assert_true(json_is_null(json_object_get(v, "bad_kind")));
	/* the record is the newest event of the log */
	assert_int_equal(jint(v, "seq"), (json_int_t)before + 1);
	assert_int_equal(log_size(f), before + 1);
	ev = event_at(f, (int64_t)before + 1);
	assert_string_equal(jstr(ev, "kind"), "audit.verified");
	assert_string_equal(jstr(ev, "actor"), "ivan");
	assert_false(json_is_true(json_object_get(ev, "alert")));
	data = json_object_get(ev, "data");
	assert_string_equal(jstr(data, "result"), "intact");
	assert_int_equal(jint(data, "size"), (json_int_t)before);
	json_decref(ev);

	assert_int_equal(tk_app_audit_last_verify(f->app, "olivia", &last,
	    &err), TK_OK);
	assert_true(json_equal(last, v));
	json_decref(last);

	/* The record is the event log: a restarted server still has it. */
	tk_app_close(f->app);
	assert_int_equal(app_start(f), 0);
	assert_int_equal(tk_app_audit_last_verify(f->app, "ivan", &last,
	    &err), TK_OK);
	assert_true(json_equal(last, v));
	json_decref(last);
	json_decref(v);
}

static void
test_tampered(void **state)
{
	struct fixture *f = *state;
	tk_app_err err;
	json_t *v = NULL, *last = NULL, *ev;
	sqlite3 *db = NULL;
	char *msg = NULL;

	/* One byte of event 7's body, changed behind the server's back. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE events SET body = "
	    "replace(body, 'test database', 'test databasE') WHERE seq = 7",
	    NULL, NULL, &msg), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);

	assert_int_equal(tk_app_audit_verify(f->app, "olivia", &v, &err),
	    TK_OK);
	assert_string_equal(jstr(v, "result"), "failed");
	assert_int_equal(jint(v, "bad_seq"), 7);
	assert_string_equal(jstr(v, "bad_kind"), "edited");
	assert_non_null(strstr(jstr(v, "detail"), "7"));
	assert_string_equal(jstr(v, "by"), "olivia");
	/* a failed verification is an alert */
	ev = event_at(f, jint(v, "seq"));
	assert_string_equal(jstr(ev, "kind"), "audit.verified");
	assert_true(json_is_true(json_object_get(ev, "alert")));
	json_decref(ev);
	assert_int_equal(tk_app_audit_last_verify(f->app, "ivan", &last,
	    &err), TK_OK);
	assert_true(json_equal(last, v));
	json_decref(last);
	json_decref(v);

	/* Put the byte back: the log verifies again. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE events SET body = "
	    "replace(body, 'test databasE', 'test database') WHERE seq = 7",
	    NULL, NULL, &msg), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(tk_app_audit_verify(f->app, "ivan", &v, &err), TK_OK);
	assert_string_equal(jstr(v, "result"), "intact");
	json_decref(v);
}

static void
test_refused(void **state)
{
	struct fixture *f = *state;
	tk_app_err err;
	json_t *v = NULL;
	uint64_t before = log_size(f);

	/* bob approves for IAM: staff, but neither auditor nor admin */
	assert_int_equal(tk_app_audit_verify(f->app, "bob", &v, &err),
	    TK_ERR_FORBIDDEN);
	assert_null(v);
	assert_non_null(strstr(err.e.msg, "auditor or admin"));
	assert_non_null(strstr(err.e.msg, "'bob'"));
	assert_int_equal(tk_app_audit_last_verify(f->app, "bob", &v, &err),
	    TK_ERR_FORBIDDEN);
	assert_null(v);
	assert_int_equal(tk_app_audit_verify(f->app, "mallory", &v, &err),
	    TK_ERR_UNAUTH);
	assert_int_equal(tk_app_audit_verify(f->app, NULL, &v, &err),
	    TK_ERR_UNAUTH);
	/* nothing was run, nothing recorded */
	assert_int_equal(log_size(f), before);
	assert_int_equal(tk_app_audit_last_verify(f->app, "ivan", &v, &err),
	    TK_OK);
	assert_true(json_is_null(v));
	json_decref(v);
}

static void
test_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct app_fx *fx = app_fx(f->app);
	tk_app_err err;
	json_t *v = NULL;

	atomic_store(&fx->verifying, true); /* as while a run is under way */
	assert_int_equal(tk_app_audit_verify(f->app, "ivan", &v, &err),
	    TK_ERR_WRONG_STATE);
	assert_null(v);
	assert_non_null(strstr(err.e.msg, "a verification is already "
	    "running"));
	/* the refused call leaves the running one's flag alone */
	assert_true(atomic_load(&fx->verifying));
	atomic_store(&fx->verifying, false);
	assert_int_equal(tk_app_audit_verify(f->app, "ivan", &v, &err), TK_OK);
	assert_false(atomic_load(&fx->verifying));
	json_decref(v);
}

static void
test_latest_is_newest(void **state)
{
	struct fixture *f = *state;
	tk_app_err err;
	json_t *a = NULL, *b = NULL, *last = NULL;
	char tok[TK_TOKEN_MAX];

	f->now = T0 + 10;
	assert_int_equal(tk_app_audit_verify(f->app, "olivia", &a, &err),
	    TK_OK);
	/* other events in between do not hide it */
	assert_int_equal(tk_app_token_issue(f->app, "carol", tok, sizeof(tok),
	    &err), TK_OK);
	assert_int_equal(tk_app_audit_last_verify(f->app, "ivan", &last,
	    &err), TK_OK);
	assert_true(json_equal(last, a));
	json_decref(last);
	f->now = T0 + 20;
	assert_int_equal(tk_app_audit_verify(f->app, "ivan", &b, &err), TK_OK);
	assert_true(jint(b, "seq") > jint(a, "seq"));
	/* the second saw the first's record and the token event */
	assert_int_equal(jint(b, "size"), jint(a, "seq") + 1);
	assert_int_equal(tk_app_audit_last_verify(f->app, "olivia", &last,
	    &err), TK_OK);
	assert_true(json_equal(last, b));
	assert_string_equal(jstr(last, "by"), "ivan");
	assert_int_equal(jint(last, "at_epoch"), T0 + 20);
	json_decref(last);
	json_decref(a);
	json_decref(b);
}

/* The checkpoint copy outside the database is checked too: a line in it
 * that is no checkpoint fails the log (named by the copy's own path); a
 * last line still being written (no newline yet) is left for later. */
static void
test_mirror(void **state)
{
	struct fixture *f = *state;
	tk_app_err err;
	json_t *v = NULL;
	FILE *m;

	m = fopen(f->mirror, "a");
	assert_non_null(m);
	assert_true(fputs("{\"size\":", m) >= 0);
	assert_int_equal(fclose(m), 0);
	assert_int_equal(tk_app_audit_verify(f->app, "ivan", &v, &err), TK_OK);
	assert_string_equal(jstr(v, "result"), "intact");
	json_decref(v);

	m = fopen(f->mirror, "a");
	assert_non_null(m);
	assert_true(fputs("99}\nnot a checkpoint\n", m) >= 0);
	assert_int_equal(fclose(m), 0);
	assert_int_equal(tk_app_audit_verify(f->app, "ivan", &v, &err), TK_OK);
	assert_string_equal(jstr(v, "result"), "failed");
	assert_string_equal(jstr(v, "bad_kind"), "malformed");
	assert_non_null(strstr(jstr(v, "detail"), f->mirror));
	assert_null(strstr(jstr(v, "detail"), "/proc/"));
	json_decref(v);
}

struct writer {
	struct fixture *f;
	atomic_bool stop;
	int issued;
	int failed;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	char tok[TK_TOKEN_MAX];
	tk_app_err err;
	tk_error e;
	int64_t size;

	while (!atomic_load(&w->stop)) {
		if (tk_app_token_issue(w->f->app, "carol", tok, sizeof(tok),
		    &err) != TK_OK)
			w->failed++;
		else
			w->issued++;
		if (w->issued % 3 == 0 && tk_app_checkpoint(w->f->app, 1, 1,
		    true, &size, &e) != 0)
			w->failed++;
	}
	return NULL;
}

static void
test_while_writing(void **state)
{
	struct fixture *f = *state;
	struct writer w = {f, false, 0, 0};
	tk_app_err err;
	json_t *v = NULL;
	pthread_t th;

	char why[512] = "";
	json_int_t size = 0;

	assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
	/* (no assert while the writer runs: it uses f) */
	for (int i = 0; i < 3 && why[0] == '\0'; i++) {
		if (tk_app_audit_verify(f->app, "ivan", &v, &err) != TK_OK)
			(void)snprintf(why, sizeof(why), "refused: %s", err.e.msg);
		else if (strcmp(json_string_value(json_object_get(v,
		    "result")), "intact") != 0)
			(void)snprintf(why, sizeof(why), "%s at %lld: %s",
			    json_string_value(json_object_get(v, "bad_kind")),
			    (long long)json_integer_value(json_object_get(v,
			    "bad_seq")), json_string_value(json_object_get(v,
			    "detail")));
		else
			size = json_integer_value(json_object_get(v, "size"));
		json_decref(v);
		v = NULL;
	}
	atomic_store(&w.stop, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	if (why[0] != '\0')
		fail_msg("verification while writing: %s", why);
	assert_true(size > FILLER_BIG);
	assert_int_equal(w.failed, 0);
	assert_true(w.issued > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_at_a_time, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_latest_is_newest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mirror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_while_writing, setup_big,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
