/*
 * test_pages.c - unit tests for the console's signed-in pages
 * (src/web/pages_*.c) driven through web_pages with a fake session on a
 * temporary database initialised from the demo org and policy: the
 * queue's tabs count and list the open cases, filter by queue, state and
 * "needs me", and page; a self-approval re-renders the case with a 403
 * alert carrying the app's invariant message; contacts on file are
 * masked for everyone but a verifier who needs them; execute is offered
 * only to someone allowed to; tiers high and critical ask for a TOTP
 * code unless the session re-authenticated; break-glass insists on the
 * confirmation; a new case redirects to its page and the preview names
 * the tier; the policy, audit and reviews pages render.
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
#include "core/case.h"
#include "store/store.h"
#include "web/web_int.h"

#define T0 ((tk_time)1795000000)

#include "app_fixture.h"

struct fixture {
	char dir[64];
	char path[128];
	tk_app *app;
	struct tk_web web;
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
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tk_pages_XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof(f->path), "%s/tk.db", f->dir);
	if (init_db(f->path) != 0)
		return -1;
	f->app = tk_app_open(f->path, &err);
	if (f->app == NULL)
		return -1;
	f->now = T0;
	tk_app_set_clock(f->app, test_clock, f);
	f->web.app = f->app;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	tk_app_close(f->app);
	(void)unlink(f->path);
	(void)snprintf(p, sizeof(p), "%s-wal", f->path);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s-shm", f->path);
	(void)unlink(p);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* Opens a case through the app; its id into id. */
static void
open_case_why(struct fixture *f, const char *actor, const char *subject,
    const char *action, const char *ticket, const char *why, char *id)
{
	tk_open_req r;
	json_t *out = NULL;
	tk_app_err err;

	memset(&r, 0, sizeof(r));
	r.subject = subject;
	r.action = action;
	r.channel = "phone";
	r.ticket = ticket;
	r.reason_code = "forgot_password";
	r.justification = why;
	r.params = "{}";
	r.delivery = "";
	if (tk_app_case_open(f->app, actor, &r, &out, &err) != TK_OK)
		fail_msg("open %s %s: %s", subject, action, err.e.msg);
	(void)tk_strlcpy(id, json_string_value(json_object_get(out, "id")),
	    TK_ID_MAX);
	json_decref(out);
}

static void
open_case(struct fixture *f, const char *actor, const char *subject,
    const char *action, const char *ticket, char *id)
{
	open_case_why(f, actor, subject, action, ticket,
	    "caller <b>forgot</b>", id);
}

static void
session(web_session *s, const char *login)
{
	memset(s, 0, sizeof(*s));
	(void)tk_strlcpy(s->login, login, sizeof(s->login));
	(void)tk_strlcpy(s->csrf, "csrf-token-for-test", sizeof(s->csrf));
}

/* Runs one request; the response text stays in resp (free resp->text). */
static void
run(struct fixture *f, const web_session *s, const char *method,
    const char *path, const char *query, const char *body,
    tk_http_resp *resp)
{
	tk_http_req req;
	static char qbuf[512];
	char *p, *save = NULL;

	memset(&req, 0, sizeof(req));
	memset(resp, 0, sizeof(*resp));
	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	(void)tk_strlcpy(req.remote, "127.0.0.1", sizeof(req.remote));
	if (query != NULL) {
		(void)tk_strlcpy(qbuf, query, sizeof(qbuf));
		for (p = strtok_r(qbuf, "&", &save); p != NULL &&
		    req.nquery < TK_QUERY_MAX; p = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(p, '=');
			if (eq != NULL)
				*eq++ = '\0';
			req.query[req.nquery].key = p;
			req.query[req.nquery].value = eq != NULL ? eq : "";
			req.nquery++;
		}
	}
	web_pages(&f->web, &req, s, resp);
}

static int
occurrences(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

#define HAS(resp, s) do { if (strstr((resp)->text, (s)) == NULL) \
	fail_msg("page lacks '%s'", (s)); } while (0)
#define LACKS(resp, s) do { if (strstr((resp)->text, (s)) != NULL) \
	fail_msg("page has '%s'", (s)); } while (0)

static void
test_queue(void **state)
{
	struct fixture *f = *state;
	char a[TK_ID_MAX], b[TK_ID_MAX], c[TK_ID_MAX], d[TK_ID_MAX];
	web_session s;
	tk_http_resp resp;

	open_case(f, "alice", "jsmith", "password_reset", "", a);
	open_case(f, "alice", "pwhite", "mfa_reset", "INC-1", b);
	open_case(f, "bob", "radmin", "password_reset", "INC-2", c);
	open_case(f, "alice", "bob", "password_reset", "", d);
	session(&s, "carol");
	run(f, &s, "GET", "/queues", NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	assert_true(resp.console);
	HAS(&resp, a);
	HAS(&resp, b);
	HAS(&resp, c);
	HAS(&resp, d);
	/* the tabs count: all 4, password 3, mfa 1 */
	HAS(&resp, ">All <span class=\"count\" aria-label=\"4 cases\">4</span>");
	HAS(&resp, ">Password <span class=\"count\" aria-label=\"3 cases\">3");
	HAS(&resp, ">MFA <span class=\"count\" aria-label=\"1 cases\">1");
	HAS(&resp, "<main id=\"main\"");
	free(resp.text);

	run(f, &s, "GET", "/queues", "family=mfa", NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, b);
	LACKS(&resp, a);
	LACKS(&resp, c);
	/* the counts stay for every tab */
	HAS(&resp, ">Password <span class=\"count\" aria-label=\"3 cases\">3");
	free(resp.text);

	/* needs me: bob may approve jsmith's case but never act on a case
	 * about his own account (invariant 5) */
	session(&s, "bob");
	run(f, &s, "GET", "/queues", "mine=1", NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, a);
	HAS(&resp, "(you can)");
	LACKS(&resp, d);
	free(resp.text);

	/* a state filter with nothing in it */
	run(f, &s, "GET", "/queues", "state=closed", NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "No cases here");
	LACKS(&resp, a);
	free(resp.text);

	run(f, &s, "GET", "/queues", "state=bogus", NULL, &resp);
	assert_int_equal(resp.status, 400);
	free(resp.text);
}

static void
test_queue_paging(void **state)
{
	struct fixture *f = *state;
	web_session s;
	tk_http_resp resp;
	char id[TK_ID_MAX], *next;
	const char *subjects[] = {"jsmith", "pwhite", "radmin", "alice",
	    "bob", "erin", "carol", "dave", "frank", "grace", "henry",
	    "ivan", "olivia", "dave-admin"};
	const char *actions[] = {"password_reset", "mfa_reset"};
	int n = 0;

	for (size_t i = 0; i < 14; i++)
		for (size_t k = 0; k < 2; k++) {
			/* alice cannot open a case on her own account */
			open_case(f, strcmp(subjects[i], "alice") == 0 ? "bob" :
			    "alice", subjects[i], actions[k], "INC-9", id);
			n++;
		}
	session(&s, "ivan");
	run(f, &s, "GET", "/queues", "limit=1", NULL, &resp); /* ignored */
	assert_int_equal(resp.status, 200);
	assert_int_equal(occurrences(resp.text, "<tr>\n<td><a href=\"/cases/"),
	    n < 100 ? n : 100);
	LACKS(&resp, "rel=\"next\""); /* 28 < 100 rows */
	free(resp.text);
	(void)next;
}

static void
test_self_approval_refused(void **state)
{
	struct fixture *f = *state;
	char a[TK_ID_MAX], path[80];
	web_session s;
	tk_http_resp resp;

	open_case(f, "alice", "jsmith", "password_reset", "", a);
	session(&s, "alice");
	/* the case page says why alice has no decision form */
	(void)snprintf(path, sizeof(path), "/cases/%s", a);
	run(f, &s, "GET", path, NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "You requested this case, so you cannot approve");
	LACKS(&resp, "/decide\"");
	free(resp.text);
	session(&s, "bob");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	LACKS(&resp, "You requested this case");
	HAS(&resp, "/decide\"");
	free(resp.text);
	session(&s, "alice");
	(void)snprintf(path, sizeof(path), "/cases/%s/decide", a);
	run(f, &s, "POST", path, NULL, "csrf=csrf-token-for-test&decision="
	    "approve&comment=%3Cme%3E", &resp);
	assert_int_equal(resp.status, 403);
	HAS(&resp, "role=\"alert\"");
	HAS(&resp, "invariant 1");
	/* alice is not offered the decision form at all */
	LACKS(&resp, "/decide\"");
	/* the refusal is on the timeline with who and why */
	HAS(&resp, "refused");
	free(resp.text);

	/* bob may approve: 303 back to the case, which then shows it */
	session(&s, "bob");
	run(f, &s, "POST", path, NULL, "csrf=x&decision=approve", &resp);
	assert_int_equal(resp.status, 303);
	assert_non_null(strstr(resp.location, a));
	free(resp.text);
}

/* Invariant 7 in the console: the decision form carries the digest of
 * the case as the approver read it, and a change made in between is
 * refused rather than approved unseen. */
static void
test_decision_bound_to_what_was_read(void **state)
{
	struct fixture *f = *state;
	char a[TK_ID_MAX], path[80], dpath[96], digest[72], body[256];
	const char *p, *e;
	web_session s;
	tk_http_resp resp;
	tk_patch_req pr;
	json_t *out = NULL, *view = NULL;
	tk_app_err err;

	open_case(f, "alice", "jsmith", "password_reset", "", a);
	(void)snprintf(path, sizeof(path), "/cases/%s", a);
	(void)snprintf(dpath, sizeof(dpath), "/cases/%s/decide", a);
	session(&s, "bob");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	p = strstr(resp.text, "name=\"digest\" value=\"");
	assert_non_null(p);
	p += strlen("name=\"digest\" value=\"");
	e = strchr(p, '"');
	assert_non_null(e);
	assert_int_equal(e - p, 64);
	memcpy(digest, p, 64);
	digest[64] = '\0';
	free(resp.text);
	/* alice changes what is asked after bob read it */
	memset(&pr, 0, sizeof(pr));
	pr.params = "{\"note\":\"changed\"}"; /* canonical, as the API
						     passes it */
	assert_int_equal(tk_app_case_patch(f->app, "alice", a, &pr, &out,
	    &err), TK_OK);
	json_decref(out);
	(void)snprintf(body, sizeof(body), "decision=approve&comment=ok&"
	    "digest=%s", digest);
	run(f, &s, "POST", dpath, NULL, body, &resp);
	assert_int_equal(resp.status, 409);
	HAS(&resp, "role=\"alert\"");
	HAS(&resp, "changed after you read it");
	free(resp.text);
	assert_int_equal(tk_app_case_get(f->app, "bob", a, &view, &err),
	    TK_OK);
	assert_int_equal(json_array_size(json_object_get(view, "approvals")),
	    0);
	/* with the page read again, the decision goes through */
	(void)snprintf(body, sizeof(body), "decision=approve&comment=ok&"
	    "digest=%s", json_string_value(json_object_get(view, "digest")));
	json_decref(view);
	run(f, &s, "POST", dpath, NULL, body, &resp);
	assert_int_equal(resp.status, 303);
	free(resp.text);
}

static void
test_contacts_masked(void **state)
{
	struct fixture *f = *state;
	char b[TK_ID_MAX], path[80];
	web_session s;
	tk_http_resp resp;

	/* high tier: one piece of evidence needed */
	open_case(f, "alice", "pwhite", "mfa_reset", "INC-1", b);
	(void)snprintf(path, sizeof(path), "/cases/%s", b);
	session(&s, "ivan"); /* auditor: reads, never verifies */
	run(f, &s, "GET", path, NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	LACKS(&resp, "+1 555 0102");
	LACKS(&resp, "pwhite@example.com");
	HAS(&resp, "+1\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80"
	    "\xa2" "0102");
	HAS(&resp, "p\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2@example.com");
	LACKS(&resp, "/evidence\"");
	/* the subject card */
	HAS(&resp, "executive");
	HAS(&resp, "henry");
	HAS(&resp, "caller &lt;b&gt;forgot&lt;/b&gt;");
	free(resp.text);

	session(&s, "carol"); /* security verifies */
	run(f, &s, "GET", path, NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "+1 555 0102");
	HAS(&resp, "pwhite@example.com");
	HAS(&resp, "/evidence\"");
	HAS(&resp, "/confirm\"");
	HAS(&resp, "/totp\"");
	free(resp.text);

	/* a contact on file typed into free text is masked there too */
	open_case_why(f, "alice", "pwhite", "password_reset", "INC-2",
	    "caller asked us to use +1 555 0102 and pwhite@example.com", b);
	(void)snprintf(path, sizeof(path), "/cases/%s", b);
	session(&s, "ivan");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	LACKS(&resp, "+1 555 0102");
	LACKS(&resp, "pwhite@example.com");
	HAS(&resp, "caller asked us to use +1\xe2\x80\xa2");
	free(resp.text);
}

static void
test_execute_and_reauth(void **state)
{
	struct fixture *f = *state;
	char a[TK_ID_MAX], b[TK_ID_MAX], path[80], dpath[80];
	web_session s;
	tk_http_resp resp;

	open_case(f, "alice", "jsmith", "password_reset", "", a);
	(void)snprintf(path, sizeof(path), "/cases/%s", a);
	(void)snprintf(dpath, sizeof(dpath), "/cases/%s/decide", a);
	session(&s, "bob");
	run(f, &s, "POST", dpath, NULL, "decision=approve", &resp);
	assert_int_equal(resp.status, 303);
	free(resp.text);
	/* ready: bob approved and may not execute (invariant 4) */
	run(f, &s, "GET", path, NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "ready to execute");
	LACKS(&resp, "/execute\"");
	free(resp.text);
	session(&s, "ivan");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	LACKS(&resp, "/execute\"");
	free(resp.text);
	session(&s, "dave");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	HAS(&resp, "/execute\"");
	free(resp.text);

	/* high tier: a decision needs a fresh TOTP code */
	open_case(f, "alice", "pwhite", "mfa_reset", "INC-1", b);
	(void)snprintf(path, sizeof(path), "/cases/%s", b);
	(void)snprintf(dpath, sizeof(dpath), "/cases/%s/decide", b);
	session(&s, "dave");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	HAS(&resp, "name=\"code\" class=\"code\" inputmode=\"numeric\" "
	    "autocomplete=\"one-time-code\"");
	free(resp.text);
	run(f, &s, "POST", dpath, NULL, "decision=approve", &resp);
	assert_int_equal(resp.status, 401);
	HAS(&resp, "role=\"alert\"");
	HAS(&resp, "fresh code");
	free(resp.text);
	/* an SSO session gets the re-authentication link instead */
	s.sso = true;
	run(f, &s, "GET", path, NULL, NULL, &resp);
	HAS(&resp, "/login/sso?fresh=1&amp;next=/cases/");
	LACKS(&resp, "autocomplete=\"one-time-code\"");
	free(resp.text);
	/* re-authenticated a minute ago: no code asked, the app decides */
	s.sso = false;
	s.reauth_at = f->now - 60;
	run(f, &s, "GET", path, NULL, NULL, &resp);
	LACKS(&resp, "autocomplete=\"one-time-code\"");
	free(resp.text);
	run(f, &s, "POST", dpath, NULL, "decision=deny&comment=no", &resp);
	assert_int_equal(resp.status, 303);
	free(resp.text);
	run(f, &s, "GET", path, "done=deny", NULL, &resp);
	HAS(&resp, "denied");
	HAS(&resp, "Denial recorded.");
	free(resp.text);
}

static void
test_break_glass(void **state)
{
	struct fixture *f = *state;
	char a[TK_ID_MAX], path[80];
	web_session s;
	tk_http_resp resp;

	open_case(f, "alice", "jsmith", "password_reset", "INC-7", a);
	(void)snprintf(path, sizeof(path), "/cases/%s/break-glass", a);
	/* the help desk may not declare it (policy: ir only): no form,
	 * and no button on the case page */
	session(&s, "bob");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "You cannot declare break-glass");
	LACKS(&resp, "name=\"confirm\"");
	free(resp.text);
	session(&s, "frank");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "class=\"danger-zone\"");
	HAS(&resp, "immediately");
	HAS(&resp, "name=\"confirm\"");
	free(resp.text);
	run(f, &s, "POST", path, NULL, "incident=IR-1&justification=x", &resp);
	assert_int_equal(resp.status, 400);
	HAS(&resp, "role=\"alert\"");
	HAS(&resp, "Tick the box");
	free(resp.text);
	run(f, &s, "POST", path, NULL, "incident=IR-1&justification=outage&"
	    "confirm=yes", &resp);
	assert_int_equal(resp.status, 303);
	free(resp.text);
	/* approved and executed under break-glass, the case waits for its
	 * review: the
	 * form is offered to a reviewer who took no part (carol), not to
	 * the one who declared it (frank, invariant 4) */
	(void)snprintf(path, sizeof(path), "/cases/%s/decide", a);
	session(&s, "bob");
	run(f, &s, "POST", path, NULL, "decision=approve", &resp);
	assert_int_equal(resp.status, 303);
	free(resp.text);
	(void)snprintf(path, sizeof(path), "/cases/%s/execute", a);
	session(&s, "dave");
	run(f, &s, "POST", path, NULL, "note=reset+in+the+directory&"
	    "revoked=sessions&revoked=tokens", &resp);
	assert_int_equal(resp.status, 303);
	free(resp.text);
	(void)snprintf(path, sizeof(path), "/cases/%s", a);
	session(&s, "carol");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	HAS(&resp, "Post-event review");
	free(resp.text);
	session(&s, "frank");
	run(f, &s, "GET", path, NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	assert_null(strstr(resp.text, "Post-event review"));
	free(resp.text);
}

static void
test_new_case_and_preview(void **state)
{
	struct fixture *f = *state;
	web_session s;
	tk_http_resp resp;

	session(&s, "alice");
	run(f, &s, "GET", "/cases/new", NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "<option value=\"lost_device\">lost_device</option>");
	HAS(&resp, "value=\"new_device\"");
	HAS(&resp, "name=\"preview\"");
	free(resp.text);
	run(f, &s, "GET", "/cases/preview", "subject=radmin&action=mfa_reset",
	    NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "id=\"preview\"");
	HAS(&resp, "tier-critical");
	HAS(&resp, "carol");
	LACKS(&resp, "<html"); /* a fragment */
	free(resp.text);
	run(f, &s, "GET", "/cases/preview", "subject=jsmith&action="
	    "password_reset&signal=new_device", NULL, &resp);
	HAS(&resp, "tier-high");
	free(resp.text);
	run(f, &s, "POST", "/cases/new", NULL, "csrf=x&subject=jsmith&action="
	    "password_reset&channel=phone&reason_code=forgot_password&"
	    "justification=j", &resp);
	assert_int_equal(resp.status, 303);
	assert_int_equal(strncmp(resp.location, "/cases/c_", 9), 0);
	free(resp.text);
	/* a second open case for the same subject and queue is refused */
	run(f, &s, "POST", "/cases/new", NULL, "subject=jsmith&action="
	    "password_reset&channel=phone", &resp);
	assert_int_equal(resp.status, 409);
	HAS(&resp, "role=\"alert\"");
	HAS(&resp, "value=\"jsmith\"");
	free(resp.text);
	/* the no-script preview button */
	run(f, &s, "POST", "/cases/new", NULL, "subject=radmin&action="
	    "mfa_reset&channel=phone&preview=1", &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "tier-critical");
	free(resp.text);
}

static void
test_admin_pages(void **state)
{
	struct fixture *f = *state;
	web_session s;
	tk_http_resp resp;

	session(&s, "ivan");
	run(f, &s, "GET", "/policy", "subject=radmin&action=mfa_reset", NULL,
	    &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "identity-governance");
	HAS(&resp, "<span class=\"badge tier-critical\">critical</span>");
	HAS(&resp, "High-risk changes need a ticket");
	HAS(&resp, "Rule owner</dt><dd>carol");
	free(resp.text);
	run(f, &s, "GET", "/audit", NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "No checkpoint has been signed yet");
	free(resp.text);
	run(f, &s, "GET", "/reviews", NULL, NULL, &resp);
	assert_int_equal(resp.status, 200);
	HAS(&resp, "No review is waiting");
	free(resp.text);
	run(f, &s, "GET", "/nowhere", NULL, NULL, &resp);
	assert_int_equal(resp.status, 404);
	free(resp.text);
	run(f, &s, "GET", "/cases/c_0000000000000000", NULL, NULL, &resp);
	assert_int_equal(resp.status, 404);
	free(resp.text);
	run(f, &s, "GET", "/", NULL, NULL, &resp);
	assert_int_equal(resp.status, 303);
	assert_string_equal(resp.location, "/queues");
	free(resp.text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_paging, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_self_approval_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_decision_bound_to_what_was_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contacts_masked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_execute_and_reauth, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_break_glass, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_new_case_and_preview,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_pages, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
