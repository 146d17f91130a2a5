/*
 * oidc_driver.c - test-only: drives the console's OpenID Connect client
 * (web/oidc.c) without a browser or a server, so the integration tests
 * can run the whole login against a real provider.
 *
 * Usage: oidc_driver CONFIG.yaml [--skew SECONDS]
 * Reads one JSON object per line on stdin and answers one per line:
 *   {"begin": {"fresh": true, "next": "/queues"}}
 *       -> {"ok": true, "url": "...", "binding": "..."}
 *   {"state": "...", "code": "...", "error": "...", "binding": "..."}
 *       -> {"ok": true, "login", "auth_time", "next", "fresh"}
 *   {"skew": SECONDS}  -> {"ok": true}: moves the clock the client sees
 *   {"flood": N, "threads": T}  -> {"ok": true, "distinct": D}: N logins
 *       begun from T threads at once (the in-flight table's bound and
 *       its lock); D is how many different states they got
 * and {"ok": false, "status": "...", "message": "..."} on any failure.
 * --skew sets the first skew (seconds added to now).
 * Exits 0 at the end of input, 3 on a usage or configuration error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "web/oidc.h"

static void
emit(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
	(void)fflush(stdout);
	json_decref(j);
}

static void
fail(const tk_error *err)
{
	emit(json_pack("{s:b, s:s, s:s}", "ok", 0, "status",
	    tk_status_code(err->status), "message", err->msg));
}

#define FLOOD_MAX 4096
#define THREADS_MAX 16

struct flood {
	tk_oidc *o;
	tk_time now;
	int from, to;                  /* logins [from, to) */
	char (*states)[64];
	int failed;
};

static void *
flood_one(void *arg)
{
	struct flood *f = arg;
	char url[8192], binding[128];
	const char *p;
	tk_error err;
	size_t n;
	int i;

	for (i = f->from; i < f->to; i++) {
		if (tk_oidc_begin(f->o, false, "/", f->now, url, sizeof(url),
		    binding, sizeof(binding), &err) != 0 ||
		    (p = strstr(url, "&state=")) == NULL) {
			f->failed = 1;
			continue;
		}
		p += 7;
		n = strcspn(p, "&");
		if (n >= sizeof(f->states[i]))
			n = sizeof(f->states[i]) - 1;
		memcpy(f->states[i], p, n);
		f->states[i][n] = '\0';
	}
	return NULL;
}

static int
cmp_state(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
flood(tk_oidc *o, tk_time now, int n, int t)
{
	struct flood f[THREADS_MAX];
	pthread_t th[THREADS_MAX];
	char (*states)[64];
	int i, distinct = 0, failed = 0;

	if (n < 1 || n > FLOOD_MAX || t < 1 || t > THREADS_MAX ||
	    (states = calloc((size_t)n, sizeof(*states))) == NULL) {
		emit(json_pack("{s:b, s:s}", "ok", 0, "message", "bad flood"));
		return;
	}
	for (i = 0; i < t; i++) {
		f[i] = (struct flood){o, now, n * i / t, n * (i + 1) / t,
		    states, 0};
		if (pthread_create(&th[i], NULL, flood_one, &f[i]) != 0) {
			f[i].failed = 1;
			th[i] = 0;
		}
	}
	for (i = 0; i < t; i++) {
		if (th[i] != 0)
			(void)pthread_join(th[i], NULL);
		failed |= f[i].failed;
	}
	qsort(states, (size_t)n, sizeof(*states), cmp_state);
	for (i = 0; i < n; i++)
		if (states[i][0] != '\0' &&
		    (i == 0 || strcmp(states[i], states[i - 1]) != 0))
			distinct++;
	free(states);
	emit(json_pack("{s:b, s:i}", "ok", !failed, "distinct", distinct));
}

static const char *
str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

int
main(int argc, char **argv)
{
	char line[16384], url[8192], binding[128];
	tk_oidc_result res;
	tk_error err;
	tk_oidc *o;
	json_t *j, *b;
	long skew = 0;
	char *end;
	tk_time now;

	if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--skew") == 0)) {
		fprintf(stderr, "usage: oidc_driver CONFIG.yaml [--skew SECS]\n");
		return 3;
	}
	if (argc == 4) {
		skew = strtol(argv[3], &end, 10);
		if (*end != '\0') {
			fprintf(stderr, "oidc_driver: --skew wants seconds\n");
			return 3;
		}
	}
	memset(&err, 0, sizeof(err));
	o = tk_oidc_load(argv[1], &err);
	if (o == NULL) {
		fail(&err);
		return 3;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		now = (tk_time)time(NULL) + skew;
		memset(&err, 0, sizeof(err));
		j = json_loads(line, 0, NULL);
		if (!json_is_object(j)) {
			json_decref(j);
			(void)tk_fail(&err, TK_ERR_INVALID, "not a JSON object");
			fail(&err);
			continue;
		}
		if (json_is_integer(json_object_get(j, "flood"))) {
			flood(o, now, (int)json_integer_value(json_object_get(j,
			    "flood")), (int)json_integer_value(
			    json_object_get(j, "threads")));
		} else if (json_is_integer(json_object_get(j, "skew"))) {
			skew = (long)json_integer_value(json_object_get(j,
			    "skew"));
			emit(json_pack("{s:b}", "ok", 1));
		} else if ((b = json_object_get(j, "begin")) != NULL) {
			if (tk_oidc_begin(o, json_is_true(json_object_get(b,
			    "fresh")), str(b, "next"), now, url, sizeof(url),
			    binding, sizeof(binding), &err) != 0)
				fail(&err);
			else
				emit(json_pack("{s:b, s:s, s:s}", "ok", 1,
				    "url", url, "binding", binding));
		} else if (tk_oidc_finish(o, str(j, "state"), str(j, "code"),
		    str(j, "error"), str(j, "binding"), now, &res, &err) != 0)
			fail(&err);
		else
			emit(json_pack("{s:b, s:s, s:I, s:s, s:b}", "ok", 1,
			    "login", res.login, "auth_time",
			    (json_int_t)res.auth_time, "next", res.next,
			    "fresh", res.fresh));
		json_decref(j);
	}
	tk_oidc_free(o);
	return 0;
}
