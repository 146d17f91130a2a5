/*
 * bench_console.c - how fast the console draws its two busiest pages
 * (issue 5): the queue page with 10,000 open cases (tabs with counts, the
 * first 100 rows) and one case page (view, subject card, timeline),
 * each rendered through web_pages as a signed-in user, many times;
 * prints the median and p99. Targets: queue < 20 ms, case < 5 ms.
 *
 * The world: the demo org plus SUBJECTS person subjects, each with an
 * open password reset (standard tier) and an MFA reset (high tier),
 * opened through the app from several threads (group commit) on a
 * database in /dev/shm when there is one (the bench measures rendering,
 * not the disk).
 *
 * Usage: bench_console [--subjects N] [--runs N] [--json]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "store/store.h"
#include "web/web_int.h"

#define T0 ((tk_time)time(NULL))
#include "../tests/unit/app_fixture.h"

#define THREADS 4

/* The demo org with n more subjects u0..u(n-1). */
static char *
make_org(int n)
{
	char *demo = slurp("examples/demo/org.yaml"), *out;
	size_t len, cap, off;

	if (demo == NULL)
		return NULL;
	len = strlen(demo);
	cap = len + (size_t)n * 160 + 64;
	out = malloc(cap);
	if (out == NULL) {
		free(demo);
		return NULL;
	}
	memcpy(out, demo, len);
	off = len;
	free(demo);
	if (off > 0 && out[off - 1] != '\n')
		out[off++] = '\n';
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, cap - off, "  - {id: u%d, "
		    "kind: person, manager: henry, contacts: [{phone: \"+1 555 "
		    "%07d\"}, {email: u%d@example.com}]}\n", i, i, i);
	return out;
}

struct opener {
	tk_app *app;
	int from, to;
	int failed;
	char first_id[TK_ID_MAX];
};

static void *
open_range(void *arg)
{
	struct opener *o = arg;
	static const char *const actions[] = {"password_reset", "mfa_reset"};

	for (int i = o->from; i < o->to; i++)
		for (int k = 0; k < 2; k++) {
			char subj[32];
			tk_open_req r;
			json_t *out = NULL;
			tk_app_err err;

			(void)snprintf(subj, sizeof(subj), "u%d", i);
			memset(&r, 0, sizeof(r));
			r.subject = subj;
			r.action = actions[k];
			r.channel = "phone";
			r.ticket = "INC-1";
			r.reason_code = k ? "lost_device" : "forgot_password";
			r.justification = "bench";
			r.params = "{}";
			r.delivery = "";
			if (tk_app_case_open(o->app, "alice", &r, &out, &err) !=
			    TK_OK) {
				if (o->failed++ == 0)
					fprintf(stderr, "bench_console: open: "
					    "%s\n", err.e.msg);
			} else if (o->first_id[0] == '\0' && k == 1) {
				(void)tk_strlcpy(o->first_id,
				    json_string_value(json_object_get(out,
				    "id")), sizeof(o->first_id));
			}
			json_decref(out);
		}
	return NULL;
}

static double
now_ms(void)
{
	struct timespec t;

	(void)clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Renders path runs times; median and p99 in ms. -1 on a failed page. */
static int
measure(tk_web *w, const web_session *s, const char *path, int runs,
    double *median, double *p99, size_t *bytes)
{
	double *t = calloc((size_t)runs, sizeof(double));

	if (t == NULL)
		return -1;
	for (int i = 0; i < runs; i++) {
		tk_http_req req;
		tk_http_resp resp;
		double t0;

		memset(&req, 0, sizeof(req));
		memset(&resp, 0, sizeof(resp));
		req.method = "GET";
		req.path = path;
		t0 = now_ms();
		web_pages(w, &req, s, &resp);
		t[i] = now_ms() - t0;
		*bytes = resp.text_len;
		free(resp.text);
		json_decref(resp.body);
		if (resp.status != 200) {
			fprintf(stderr, "bench_console: %s answered %d\n", path,
			    resp.status);
			free(t);
			return -1;
		}
	}
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	*median = t[runs / 2];
	*p99 = t[(size_t)((double)runs * 0.99) < (size_t)runs ?
	    (size_t)((double)runs * 0.99) : (size_t)runs - 1];
	free(t);
	return 0;
}

int
main(int argc, char **argv)
{
	int subjects = 5000, runs = 200, failed = 0, rc = 1;
	bool json = false;
	char dir[64], db[128], casepath[64], p[160];
	char *org = NULL;
	tk_app *app = NULL;
	tk_error err;
	struct opener op[THREADS];
	pthread_t th[THREADS];
	struct tk_web web;
	web_session s;
	double qm, qp, cm, cp, t0, open_s;
	size_t qbytes = 0, cbytes = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--subjects") == 0 && i + 1 < argc)
			subjects = (int)strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = (int)strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else {
			fprintf(stderr, "usage: bench_console [--subjects N] "
			    "[--runs N] [--json]\n");
			return 2;
		}
	}
	if (subjects < 1 || subjects > 100000 || runs < 1 || runs > 100000) {
		fprintf(stderr, "bench_console: subjects 1..100000, runs "
		    "1..100000\n");
		return 2;
	}
	(void)snprintf(dir, sizeof(dir), "%s/twokey-console.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("bench_console: mkdtemp");
		return 1;
	}
	(void)snprintf(db, sizeof(db), "%s/bench.db", dir);
	org = make_org(subjects);
	if (org == NULL || init_db_with(db, org) != 0)
		goto out;
	app = tk_app_open(db, &err);
	if (app == NULL) {
		fprintf(stderr, "bench_console: %s\n", err.msg);
		goto out;
	}
	t0 = now_ms();
	for (int i = 0; i < THREADS; i++) {
		memset(&op[i], 0, sizeof(op[i]));
		op[i].app = app;
		op[i].from = subjects * i / THREADS;
		op[i].to = subjects * (i + 1) / THREADS;
		if (pthread_create(&th[i], NULL, open_range, &op[i]) != 0) {
			fprintf(stderr, "bench_console: cannot start a thread\n");
			goto out;
		}
	}
	for (int i = 0; i < THREADS; i++) {
		(void)pthread_join(th[i], NULL);
		failed += op[i].failed;
	}
	open_s = (now_ms() - t0) / 1e3;
	if (failed > 0 || op[0].first_id[0] == '\0') {
		fprintf(stderr, "bench_console: %d cases not opened\n", failed);
		goto out;
	}
	memset(&web, 0, sizeof(web));
	web.app = app;
	memset(&s, 0, sizeof(s));
	(void)tk_strlcpy(s.login, "carol", sizeof(s.login));
	(void)tk_strlcpy(s.csrf, "bench", sizeof(s.csrf));
	(void)snprintf(casepath, sizeof(casepath), "/cases/%s",
	    op[0].first_id);
	if (measure(&web, &s, "/queues", runs, &qm, &qp, &qbytes) != 0 ||
	    measure(&web, &s, casepath, runs * 5, &cm, &cp, &cbytes) != 0)
		goto out;
	if (json)
		printf("{\"open_cases\": %d, \"open_seconds\": %.1f, "
		    "\"queue_median_ms\": %.3f, \"queue_p99_ms\": %.3f, "
		    "\"queue_bytes\": %zu, \"case_median_ms\": %.3f, "
		    "\"case_p99_ms\": %.3f, \"case_bytes\": %zu}\n",
		    subjects * 2, open_s, qm, qp, qbytes, cm, cp, cbytes);
	else
		printf("open cases %d (opened in %.1f s)\n"
		    "queue page: median %.3f ms, p99 %.3f ms (%zu bytes, %d "
		    "runs; target < 20 ms)\n"
		    "case page: median %.3f ms, p99 %.3f ms (%zu bytes, %d "
		    "runs; target < 5 ms)\n", subjects * 2, open_s, qm, qp,
		    qbytes, runs, cm, cp, cbytes, runs * 5);
	rc = 0;
out:
	if (app != NULL)
		tk_app_close(app);
	free(org);
	(void)unlink(db);
	(void)snprintf(p, sizeof(p), "%s-wal", db);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s-shm", db);
	(void)unlink(p);
	(void)rmdir(dir);
	return rc;
}
