/*
 * test_views.c - the stored case views (store/store_views.c, "Stored
 * views" in app/app.c): over cases in many states (open, refused
 * attempts, approving, on hold, after the hold, approvals expired,
 * break-glass review, review overdue, cancelled, executed), a GET
 * answered from the view file is byte for byte the view built from the
 * record and the events, and a stored view is never served once the
 * case, its events or the clock moved on. Two handles share one
 * database: one builds every view (TWOKEY_TEST_VIEWS=render), the other
 * skips only the in-memory cache (=stored), so its second GET of a state
 * must come from the view file.
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

#include "app/app.h"
#include "app/app_int.h"
#include "store/store.h"

#define T0 ((tk_time)1795000000)

#include "app_fixture.h"
#define MAX_CASES 8

struct fixture {
	char dir[64];
	char path[128];
	tk_app *app;    /* writes; GETs skip the in-memory cache only */
	tk_app *ref;    /* GETs always build the view */
	tk_time now;
	char ids[MAX_CASES][TK_ID_MAX];
	int nids;
	int compared;
};

static tk_time
test_clock(void *arg)
{
	return ((struct fixture *)arg)->now;
}

static tk_app *
open_app(struct fixture *f, const char *mode)
{
	tk_app *a;
	tk_error err;

	if (setenv("TWOKEY_TEST_VIEWS", mode, 1) != 0)
		return NULL;
	a = tk_app_open(f->path, &err);
	(void)unsetenv("TWOKEY_TEST_VIEWS");
	if (a == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return NULL;
	}
	tk_app_set_clock(a, test_clock, f);
	return a;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tk_views_XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof(f->path), "%s/tk.db", f->dir);
	if (init_db(f->path) != 0)
		return -1;
	f->now = T0;
	f->app = open_app(f, "stored");
	f->ref = open_app(f, "render");
	if (f->app == NULL || f->ref == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal",
	    "-views", "-views-wal", "-views-shm"};
	char p[160];

	tk_app_close(f->app);
	tk_app_close(f->ref);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		(void)unlink(p);
	}
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static void
get_text(tk_app *a, const char *actor, const char *id, char **t, size_t *n)
{
	tk_app_err err;
	enum tk_status st;

	st = tk_app_case_get_text(a, actor, id, t, n, &err);
	if (st != TK_OK)
		fail_msg("GET %s as %s: %s", id, actor, err.e.msg);
	assert_non_null(*t);
	assert_int_equal(strlen(*t), *n);
}

/* Every case so far: the built view, then the handle that stores views
 * twice; the second GET must be answered from the view file and all
 * three must be the same bytes. */
static void
compare_all(struct fixture *f)
{
	for (int i = 0; i < f->nids; i++) {
		char *built, *first, *second;
		size_t nb, n1, n2;
		unsigned long hits;

		get_text(f->ref, "ivan", f->ids[i], &built, &nb);
		get_text(f->app, "ivan", f->ids[i], &first, &n1);
		hits = app_view_hits(f->app);
		get_text(f->app, "alice", f->ids[i], &second, &n2);
		assert_int_equal(app_view_hits(f->app), hits + 1);
		if (nb != n1 || memcmp(built, first, nb) != 0)
			fail_msg("case %s: first GET differs from the built "
			    "view:\n%s\n%s", f->ids[i], built, first);
		if (nb != n2 || memcmp(built, second, nb) != 0)
			fail_msg("case %s: stored view differs from the built "
			    "view:\n%s\n%s", f->ids[i], built, second);
		free(built);
		free(first);
		free(second);
		f->compared++;
	}
}

static void
open_case(struct fixture *f, const char *subject, const char *action,
    const char *ticket, const char *reason)
{
	tk_open_req r;
	tk_app_err err;
	json_t *out = NULL;

	assert_true(f->nids < MAX_CASES);
	memset(&r, 0, sizeof(r));
	r.subject = subject;
	r.action = action;
	r.channel = "phone";
	r.ticket = ticket;
	r.reason_code = reason;
	r.justification = "caller asked";
	r.params = "{}";
	r.delivery = "";
	if (tk_app_case_open(f->app, "alice", &r, &out, &err) != TK_OK)
		fail_msg("open: %s", err.e.msg);
	assert_int_equal(tk_strlcpy(f->ids[f->nids], json_string_value(
	    json_object_get(out, "id")), TK_ID_MAX), 0);
	f->nids++;
	json_decref(out);
}

/* Checks st, drops the answer (*v, set by the call st came from), and
 * compares every case. */
static void
step(struct fixture *f, enum tk_status st, enum tk_status want, json_t **v)
{
	assert_int_equal(st, want);
	json_decref(*v);
	*v = NULL;
	compare_all(f);
}

static void
test_views_match(void **state)
{
	struct fixture *f = *state;
	tk_app_err err;
	json_t *v = NULL;
	char *t = NULL;
	size_t n;
	tk_evidence_req ev = {"callback_on_file", "+1 555 0102", "pass",
	    "called back on file", false};
	tk_execute_req ex = {"manual", "reset done", TK_REVOKE_SESSIONS};

	/* Standard: open, a refused self-approval (an event, no record
	 * change), approval, execution. */
	open_case(f, "jsmith", "password_reset", "INC-1", "forgot_password");
	compare_all(f);
	step(f, tk_app_case_decide(f->app, "alice", f->ids[0], true, "", &v,
	    &err), TK_ERR_SOD, &v);
	step(f, tk_app_case_decide(f->app, "bob", f->ids[0], true, "", &v,
	    &err), TK_OK, &v);
	step(f, tk_app_case_execute(f->app, "erin", f->ids[0], &ex, &v,
	    &err), TK_OK, &v);

	/* High: evidence, two approvals, on hold; during and after it. */
	open_case(f, "pwhite", "password_reset", "INC-9", "forgot_password");
	step(f, tk_app_case_evidence(f->app, "bob", f->ids[1], &ev, &v, &err),
	    TK_OK, &v);
	step(f, tk_app_case_decide(f->app, "dave", f->ids[1], true, "", &v,
	    &err), TK_OK, &v);
	step(f, tk_app_case_decide(f->app, "carol", f->ids[1], true, "", &v,
	    &err), TK_OK, &v);
	f->now += 600;
	compare_all(f);
	f->now += 3600; /* the hold has ended */
	compare_all(f);
	step(f, tk_app_case_execute(f->app, "erin", f->ids[1], &ex, &v,
	    &err), TK_OK, &v);

	/* Critical: two approvals from the support chain, then past the
	 * approval TTL. */
	open_case(f, "radmin", "mfa_reset", "INC-1", "lost_device");
	step(f, tk_app_case_decide(f->app, "bob", f->ids[2], true, "", &v,
	    &err), TK_OK, &v);
	step(f, tk_app_case_decide(f->app, "erin", f->ids[2], true, "", &v,
	    &err), TK_OK, &v);
	f->now += 2 * 3600;
	compare_all(f);

	/* Break-glass, executed: review due, then overdue. */
	open_case(f, "pwhite", "mfa_reset", "INC-12", "lost_device");
	step(f, tk_app_case_evidence(f->app, "bob", f->ids[3], &ev, &v, &err),
	    TK_OK, &v);
	step(f, tk_app_case_break_glass(f->app, "frank", f->ids[3],
	    "exec locked out", "IR-77", &v, &err), TK_OK, &v);
	step(f, tk_app_case_decide(f->app, "carol", f->ids[3], true, "", &v,
	    &err), TK_OK, &v);
	step(f, tk_app_case_execute(f->app, "dave", f->ids[3], &ex, &v, &err),
	    TK_OK, &v);
	f->now += 25 * 3600;
	compare_all(f);

	/* Cancelled. */
	open_case(f, "jsmith", "password_reset", "INC-2", "forgot_password");
	step(f, tk_app_case_cancel(f->app, "alice", f->ids[4], "duplicate",
	    &v, &err), TK_OK, &v);
	assert_int_equal(f->compared, 50);

	/* A stored view is still subject to the reader's role. */
	assert_int_not_equal(tk_app_case_get_text(f->app, "mallory",
	    f->ids[0], &t, &n, &err), TK_OK);
	assert_null(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_views_match, setup,
		    teardown),
	};

#ifndef TK_TEST_HOOKS
	printf("test_views: needs a build with test hooks (MODE=asan, "
	    "debug or tsan); skipped\n");
	return 0;
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
