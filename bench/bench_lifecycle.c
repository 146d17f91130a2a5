/*
 * bench_lifecycle.c - load generator for twokey's REST API: drives whole
 * case lifecycles against a running `twokey serve` from several threads,
 * each with its own keep-alive connection (one libcurl easy handle per
 * thread), and reports cases per second.
 *
 * Lifecycles (--lifecycle):
 *   short  the demo policy's standard tier: alice opens a password_reset,
 *          bob approves, erin executes (3 requests)
 *   full   a policy whose standard tier asks for one piece of evidence and
 *          two approvals (scripts/bench.sh derives it from the demo):
 *          alice opens, dave records callback_on_file evidence (the
 *          subject's phone on file, "+1 555 " and k in 7 digits, as
 *          scripts/bench.sh writes the org), bob and carol approve, erin
 *          executes (5 requests). registered_factor cannot be used: since
 *          issue 4 twokey checks the TOTP code itself.
 * Thread t works on subjects PREFIX<k> with k % threads == t, one case at
 * a time, cycling through them (an executed case is no longer open, so the
 * subject may get a new one); no two threads ever touch the same subject.
 *
 * Usage: bench_lifecycle --url http://127.0.0.1:PORT --subjects N
 *          [--prefix u] [--threads T] [--seconds S] [--lifecycle short|full]
 *          --token LOGIN=TOKEN ...  [--json]
 * Only loopback URLs are accepted.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_THREADS 256
#define MAX_TOKENS 16
#define BODY_CAP (256 * 1024)
#define LAT_BUCKETS 4096 /* 100 µs each: 0 .. 409.6 ms */

enum actor { A_ALICE, A_BOB, A_CAROL, A_DAVE, A_ERIN, A__COUNT };
static const char *const actor_login[A__COUNT] = {
	"alice", "bob", "carol", "dave", "erin",
};

static struct cfg {
	const char *url;
	const char *prefix;
	long subjects;
	int threads;
	double seconds;
	bool full;
	bool json;
	char *token[A__COUNT];
} cfg = {.prefix = "u", .threads = 8, .seconds = 10.0};

typedef struct worker {
	pthread_t tid;
	int idx;
	CURL *h;
	struct curl_slist *hdr[A__COUNT];
	char *body;
	size_t blen;
	long cases, requests, errors;
	char lasterr[512];
	unsigned long lat[LAT_BUCKETS + 1];
} worker;

static double deadline;

static double
now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	worker *w = ud;
	size_t len = size * n;

	if (w->blen + len >= BODY_CAP)
		len = BODY_CAP - 1 - w->blen; /* truncated: only ids are read */
	memcpy(w->body + w->blen, p, len);
	w->blen += len;
	w->body[w->blen] = '\0';
	return size * n;
}

/* One request; returns the HTTP status or -1 on a transport error. */
static long
request(worker *w, enum actor who, const char *method, const char *url,
    const char *json)
{
	long status = -1;
	CURLcode rc;
	double t0 = now_s(), dt;
	size_t b;

	w->blen = 0;
	w->body[0] = '\0';
	if (curl_easy_setopt(w->h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, w->hdr[who]) !=
	    CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_CUSTOMREQUEST, method) !=
	    CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, json) != CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_HTTPGET, json == NULL ? 1L : 0L)
	    != CURLE_OK) {
		(void)snprintf(w->lasterr, sizeof(w->lasterr), "setopt failed");
		return -1;
	}
	if (json == NULL)
		(void)curl_easy_setopt(w->h, CURLOPT_CUSTOMREQUEST, NULL);
	rc = curl_easy_perform(w->h);
	dt = now_s() - t0;
	w->requests++;
	b = (size_t)(dt * 1e4);
	w->lat[b < LAT_BUCKETS ? b : LAT_BUCKETS]++;
	if (rc != CURLE_OK) {
		(void)snprintf(w->lasterr, sizeof(w->lasterr), "%s %s: %s",
		    method, url, curl_easy_strerror(rc));
		return -1;
	}
	if (curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK)
		return -1;
	return status;
}

/* Extracts "id":"c_..." from a case body into id. */
static int
case_id(const char *body, char *id, size_t size)
{
	const char *p = strstr(body, "\"id\":");
	size_t n = 0;

	if (p == NULL)
		return -1;
	p += 5;
	while (*p == ' ')
		p++;
	if (*p++ != '"')
		return -1;
	while (p[n] != '"' && p[n] != '\0' && n + 1 < size) {
		if (!((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' &&
		    p[n] <= 'z') || p[n] == '_'))
			return -1;
		n++;
	}
	if (p[n] != '"' || n == 0)
		return -1;
	memcpy(id, p, n);
	id[n] = '\0';
	return 0;
}

static bool
step(worker *w, enum actor who, const char *method, const char *url,
    const char *json, long want)
{
	long st = request(w, who, method, url, json);

	if (st == want)
		return true;
	w->errors++;
	if (st >= 0)
		(void)snprintf(w->lasterr, sizeof(w->lasterr), "%s %s as %s: "
		    "HTTP %ld, want %ld: %.300s", method, url,
		    actor_login[who], st, want, w->body);
	return false;
}

static bool
lifecycle(worker *w, long k)
{
	char url[512], curl_[600], body[512], id[80];
	int n;

	n = snprintf(url, sizeof(url), "%s/v1/cases", cfg.url);
	if (n < 0 || (size_t)n >= sizeof(url))
		return false;
	n = snprintf(body, sizeof(body), "{\"subject\":\"%s%ld\","
	    "\"action\":\"password_reset\",\"channel\":\"phone\","
	    "\"ticket\":\"BENCH-%ld\",\"reason_code\":\"forgot_password\","
	    "\"justification\":\"load test\"}", cfg.prefix, k, k);
	if (n < 0 || (size_t)n >= sizeof(body))
		return false;
	if (!step(w, A_ALICE, "POST", url, body, 201))
		return false;
	if (case_id(w->body, id, sizeof(id)) != 0) {
		w->errors++;
		(void)snprintf(w->lasterr, sizeof(w->lasterr), "no case id in "
		    "%.300s", w->body);
		return false;
	}
	if (cfg.full) {
		n = snprintf(curl_, sizeof(curl_), "%s/%s/evidence", url, id);
		if (n < 0 || (size_t)n >= sizeof(curl_))
			return false;
		/* The phone on file scripts/bench.sh gives subject k. */
		n = snprintf(body, sizeof(body), "{\"method\":"
		    "\"callback_on_file\",\"contact\":\"+1 555 %07ld\","
		    "\"result\":\"pass\",\"reference\":\"called back\"}", k);
		if (n < 0 || (size_t)n >= sizeof(body) ||
		    !step(w, A_DAVE, "POST", curl_, body, 201))
			return false;
	}
	n = snprintf(curl_, sizeof(curl_), "%s/%s/approvals", url, id);
	if (n < 0 || (size_t)n >= sizeof(curl_) ||
	    !step(w, A_BOB, "POST", curl_, "{\"decision\":\"approve\"}", 201))
		return false;
	if (cfg.full && !step(w, A_CAROL, "POST", curl_,
	    "{\"decision\":\"approve\"}", 201))
		return false;
	n = snprintf(curl_, sizeof(curl_), "%s/%s/execute", url, id);
	if (n < 0 || (size_t)n >= sizeof(curl_) ||
	    !step(w, A_ERIN, "POST", curl_, "{\"connector\":\"manual\","
	    "\"note\":\"reset in the directory\",\"revoked\":[\"sessions\"]}",
	    200))
		return false;
	return true;
}

static void *
run(void *arg)
{
	worker *w = arg;
	long k = w->idx;

	while (now_s() < deadline) {
		if (lifecycle(w, k))
			w->cases++;
		else if (w->errors > 20)
			break; /* something is wrong: stop, report lasterr */
		k += cfg.threads;
		if (k >= cfg.subjects)
			k = w->idx;
	}
	return NULL;
}

static int
setup(worker *w, int idx)
{
	char h[600];

	memset(w, 0, sizeof(*w));
	w->idx = idx;
	w->body = malloc(BODY_CAP);
	w->h = curl_easy_init();
	if (w->body == NULL || w->h == NULL)
		return -1;
	for (int a = 0; a < A__COUNT; a++) {
		struct curl_slist *l = NULL, *t;
		if (cfg.token[a] == NULL)
			continue;
		if (snprintf(h, sizeof(h), "Authorization: Bearer %s",
		    cfg.token[a]) >= (int)sizeof(h))
			return -1;
		if ((t = curl_slist_append(l, h)) == NULL)
			return -1;
		l = t;
		if ((t = curl_slist_append(l, "Content-Type: application/json"))
		    == NULL)
			return -1;
		l = t;
		/* libcurl would wait for "100 Continue" on larger bodies */
		if ((t = curl_slist_append(l, "Expect:")) == NULL)
			return -1;
		w->hdr[a] = t;
	}
	if (curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, on_body) !=
	    CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w) != CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_TIMEOUT, 30L) != CURLE_OK ||
	    curl_easy_setopt(w->h, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK)
		return -1;
	return 0;
}

static void
cleanup(worker *w)
{
	for (int a = 0; a < A__COUNT; a++)
		curl_slist_free_all(w->hdr[a]);
	if (w->h != NULL)
		curl_easy_cleanup(w->h);
	free(w->body);
}

static double
percentile(const unsigned long *lat, unsigned long total, double q)
{
	unsigned long want = (unsigned long)((double)total * q), seen = 0;

	for (int b = 0; b <= LAT_BUCKETS; b++) {
		seen += lat[b];
		if (seen > want)
			return (b + 1) * 0.1; /* ms, upper bucket edge */
	}
	return LAT_BUCKETS * 0.1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_lifecycle --url http://127.0.0.1:PORT "
	    "--subjects N [--prefix P] [--threads T] [--seconds S] "
	    "[--lifecycle short|full] --token LOGIN=TOKEN ... [--json]\n");
	exit(2);
}

static int
loopback(const char *url)
{
	static const char *const ok[] = {
		"http://127.0.0.1:", "http://localhost:", "http://[::1]:",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strncmp(url, ok[i], strlen(ok[i])) == 0)
			return 0;
	return -1;
}

int
main(int argc, char **argv)
{
	static worker ws[MAX_THREADS];
	static unsigned long lat[LAT_BUCKETS + 1];
	long cases = 0, reqs = 0, errs = 0;
	double t0, el, cpu;
	struct rusage ru;
	char *end;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc && strcmp(a, "--json") != 0)
			usage();
		if (strcmp(a, "--url") == 0)
			cfg.url = argv[++i];
		else if (strcmp(a, "--prefix") == 0)
			cfg.prefix = argv[++i];
		else if (strcmp(a, "--subjects") == 0) {
			cfg.subjects = strtol(argv[++i], &end, 10);
			if (*end != '\0' || cfg.subjects <= 0)
				usage();
		} else if (strcmp(a, "--threads") == 0) {
			cfg.threads = (int)strtol(argv[++i], &end, 10);
			if (*end != '\0' || cfg.threads <= 0 ||
			    cfg.threads > MAX_THREADS)
				usage();
		} else if (strcmp(a, "--seconds") == 0) {
			cfg.seconds = strtod(argv[++i], &end);
			if (*end != '\0' || !(cfg.seconds > 0))
				usage();
		} else if (strcmp(a, "--lifecycle") == 0) {
			const char *v = argv[++i];
			if (strcmp(v, "full") == 0)
				cfg.full = true;
			else if (strcmp(v, "short") != 0)
				usage();
		} else if (strcmp(a, "--token") == 0) {
			char *v = argv[++i], *eq = strchr(v, '=');
			int found = 0;
			if (eq == NULL)
				usage();
			*eq = '\0';
			for (int k = 0; k < A__COUNT; k++)
				if (strcmp(v, actor_login[k]) == 0) {
					cfg.token[k] = eq + 1;
					found = 1;
				}
			if (!found)
				usage();
		} else if (strcmp(a, "--json") == 0)
			cfg.json = true;
		else
			usage();
	}
	if (cfg.url == NULL || cfg.subjects <= 0 || loopback(cfg.url) != 0)
		usage();
	if (cfg.subjects < cfg.threads)
		cfg.threads = (int)cfg.subjects;
	for (int k = 0; k < A__COUNT; k++)
		if (cfg.token[k] == NULL && (cfg.full || (k != A_CAROL &&
		    k != A_DAVE))) {
			fprintf(stderr, "bench_lifecycle: no token for %s\n",
			    actor_login[k]);
			return 2;
		}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "bench_lifecycle: curl_global_init failed\n");
		return 1;
	}
	for (int t = 0; t < cfg.threads; t++)
		if (setup(&ws[t], t) != 0) {
			fprintf(stderr, "bench_lifecycle: out of memory\n");
			return 1;
		}
	t0 = now_s();
	deadline = t0 + cfg.seconds;
	for (int t = 0; t < cfg.threads; t++) {
		int e = pthread_create(&ws[t].tid, NULL, run, &ws[t]);
		if (e != 0) {
			fprintf(stderr, "bench_lifecycle: pthread_create: %s\n",
			    strerror(e));
			return 1;
		}
	}
	for (int t = 0; t < cfg.threads; t++)
		(void)pthread_join(ws[t].tid, NULL);
	el = now_s() - t0;
	if (getrusage(RUSAGE_SELF, &ru) != 0) {
		perror("getrusage");
		return 1;
	}
	cpu = ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6) / el;
	for (int t = 0; t < cfg.threads; t++) {
		cases += ws[t].cases;
		reqs += ws[t].requests;
		errs += ws[t].errors;
		for (int b = 0; b <= LAT_BUCKETS; b++)
			lat[b] += ws[t].lat[b];
		if (ws[t].errors > 0)
			fprintf(stderr, "bench_lifecycle: thread %d: %ld errors, "
			    "last: %s\n", t, ws[t].errors, ws[t].lasterr);
		cleanup(&ws[t]);
	}
	curl_global_cleanup();
	if (cfg.json)
		printf("{\"lifecycle\": \"%s\", \"threads\": %d, \"seconds\": "
		    "%.2f, \"cases\": %ld, \"cases_per_s\": %.1f, \"requests\": "
		    "%ld, \"requests_per_s\": %.1f, \"errors\": %ld, "
		    "\"req_p50_ms\": %.1f, \"req_p99_ms\": %.1f, \"client_cpu\": %.2f}\n",
		    cfg.full ? "full" : "short", cfg.threads, el, cases,
		    (double)cases / el, reqs, (double)reqs / el, errs,
		    percentile(lat, (unsigned long)reqs, 0.50),
		    percentile(lat, (unsigned long)reqs, 0.99), cpu);
	else
		printf("%s lifecycle, %d connections, %.1f s: %ld cases "
		    "(%.1f cases/s), %ld requests (%.1f req/s), %ld errors, "
		    "request p50 %.1f ms p99 %.1f ms, client %.2f CPUs\n",
		    cfg.full ? "full" : "short", cfg.threads, el, cases,
		    (double)cases / el, reqs, (double)reqs / el, errs,
		    percentile(lat, (unsigned long)reqs, 0.50),
		    percentile(lat, (unsigned long)reqs, 0.99), cpu);
	return errs > 0 && cases == 0 ? 1 : 0;
}
