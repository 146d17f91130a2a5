/*
 * bench_decision.c - measures one approval decision: policy evaluation
 * (tk_policy_eval on the case's facts) plus the engine's invariant checks
 * and state change (tk_engine_decide), on the demo org and policy.
 *
 * The case: alice (helpdesk) opened an mfa_reset for radmin (labels
 * [admin], tier "critical"); dave (iam) recorded two pieces of evidence;
 * bob (helpdesk) approved. carol (security) now approves: the decision
 * checks invariants 1, 2, 4, 5, her function's capability, counts the
 * approvals against the tier (distinct functions, from security/pam/ir,
 * outside alice's support chain) and moves the case to on_hold.
 *
 * tk_engine_decide changes the case, so every iteration needs the
 * prepared case again. Three loops, each timed with CLOCK_MONOTONIC as
 * the median of several runs after a warm-up:
 *   restore  put back the few fields a decision changes (napprovals,
 *            state, updated, hold_until, ready_until; the new approval
 *            slot is cleared by the engine itself), then decide;
 *            checked once to give exactly the same case as a full copy
 *   memcpy   memcpy the whole prepared case (sizeof(tk_case) bytes) only
 *   full     memcpy the whole case, then decide
 * "decision" is the restore loop; full - memcpy is printed as a cross-check.
 *
 * Usage: bench_decision [--org FILE] [--policy FILE] [--iters N]
 *                       [--runs R] [--json]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/action.h"
#include "core/engine.h"

#define NOW ((tk_time)1795425000) /* 2026-11-23T07:30:00Z */

static tk_case prepared, work;
static tk_events events;
static volatile unsigned sink;

static int
read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL) {
		fprintf(stderr, "bench_decision: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	for (;;) {
		size_t r;
		if (cap - n < 4096) {
			char *nb = realloc(buf, cap + 65536);
			if (nb == NULL) {
				free(buf);
				(void)fclose(f);
				fprintf(stderr, "bench_decision: out of memory\n");
				return -1;
			}
			buf = nb;
			cap += 65536;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "bench_decision: %s: read error\n", path);
		free(buf);
		(void)fclose(f);
		return -1;
	}
	(void)fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static double
now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The measured work: the facts from the case, the policy, the engine. */
static unsigned
decide_once(const tk_ctx *x)
{
	tk_facts f;
	tk_decision d;
	tk_error err;
	const tk_action *act = tk_action_find(work.action);
	const char *sig[TK_MAX_SIGNALS];
	enum tk_status st;

	for (int i = 0; i < work.nsignals; i++)
		sig[i] = work.signals[i];
	memset(&f, 0, sizeof(f));
	f.subject = tk_org_subject(x->org, work.subject);
	f.action = work.action;
	f.family = act != NULL ? act->family : "";
	f.signals = sig;
	f.nsignals = (size_t)work.nsignals;
	f.channel = work.channel;
	f.ticket = work.ticket;
	f.reason_code = work.reason_code;
	f.tier = "";
	tk_policy_eval(x->policy, &f, &d);
	events.n = 0;
	st = tk_engine_decide(x, &work, "carol", true, "", &events, &err);
	return (unsigned)st + (d.tier != NULL ? 1u : 0u) +
	    (d.deny != NULL ? 2u : 0u) + (unsigned)work.state;
}

static void
restore(void)
{
	work.napprovals = prepared.napprovals;
	work.state = prepared.state;
	work.updated = prepared.updated;
	work.hold_until = prepared.hold_until;
	work.ready_until = prepared.ready_until;
}

enum loop { LOOP_RESTORE, LOOP_MEMCPY, LOOP_FULL };

static double
run_loop(enum loop which, const tk_ctx *x, long iters)
{
	unsigned acc = 0;
	double t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		switch (which) {
		case LOOP_RESTORE:
			restore();
			acc += decide_once(x);
			break;
		case LOOP_MEMCPY:
			memcpy(&work, &prepared, sizeof(work));
			__asm__ __volatile__("" : : "r"(&work) : "memory");
			acc += (unsigned)work.napprovals;
			break;
		case LOOP_FULL:
			memcpy(&work, &prepared, sizeof(work));
			acc += decide_once(x);
			break;
		}
	}
	sink += acc;
	return (now_ns() - t0) / (double)iters;
}

static double
median_of(enum loop which, const tk_ctx *x, long iters, int runs,
    double *samples)
{
	(void)run_loop(which, x, iters / 10 + 1); /* warm-up */
	for (int r = 0; r < runs; r++)
		samples[r] = run_loop(which, x, iters);
	qsort(samples, (size_t)runs, sizeof(double), cmp_double);
	return samples[runs / 2];
}

static int
prepare(const tk_ctx *x)
{
	tk_error err;
	static const char *const none[1] = {NULL};
	tk_open_req o = {
		.subject = "radmin", .action = "mfa_reset", .channel = "phone",
		.ticket = "INC-1042", .reason_code = "lost_device",
		.justification = "caller lost their phone", .params = "{}",
		.delivery = "", .signals = none, .nsignals = 0,
	};
	/* the TOTP code as the app records it once it checked the code */
	tk_evidence_req e1 = {"registered_factor", "", "pass", "push ok",
	    true};
	tk_evidence_req e2 = {"callback_on_file", "+1 555 0103", "pass",
	    "called back on file", false};

	if (tk_engine_open(x, "alice", "c_0123456789abcdef", &o, &prepared,
	    &events, &err) != TK_OK ||
	    (events.n = 0, tk_engine_add_evidence(x, &prepared, "dave", &e1,
	    &events, &err)) != TK_OK ||
	    (events.n = 0, tk_engine_add_evidence(x, &prepared, "dave", &e2,
	    &events, &err)) != TK_OK ||
	    (events.n = 0, tk_engine_decide(x, &prepared, "bob", true, "ok",
	    &events, &err)) != TK_OK) {
		fprintf(stderr, "bench_decision: preparing the case: %s\n",
		    err.msg);
		return -1;
	}
	if (strcmp(prepared.tier, "critical") != 0 ||
	    prepared.state != TK_STATE_APPROVING) {
		fprintf(stderr, "bench_decision: prepared case is %s/%s, want "
		    "critical/approving\n", prepared.tier,
		    tk_state_name(prepared.state));
		return -1;
	}
	return 0;
}

/* The decision must succeed and both ways of resetting must agree. */
static int
check(const tk_ctx *x)
{
	static tk_case a;
	tk_error err;

	memcpy(&work, &prepared, sizeof(work));
	events.n = 0;
	if (tk_engine_decide(x, &work, "carol", true, "", &events, &err) !=
	    TK_OK || work.state != TK_STATE_ON_HOLD) {
		fprintf(stderr, "bench_decision: carol's approval: %s (state "
		    "%s)\n", err.msg, tk_state_name(work.state));
		return -1;
	}
	memcpy(&a, &work, sizeof(a));
	restore();
	(void)decide_once(x);
	if (memcmp(&a, &work, sizeof(a)) != 0) {
		fprintf(stderr, "bench_decision: restore loop does not "
		    "reproduce the full-copy result\n");
		return -1;
	}
	return 0;
}

static long
parse_long(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0) {
		fprintf(stderr, "bench_decision: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	const char *org_path = "examples/demo/org.yaml";
	const char *pol_path = "examples/demo/policy.yaml";
	long iters = 2000000;
	int runs = 7;
	bool json = false;
	char *text;
	size_t len;
	tk_error err;
	static tk_org org;
	static tk_policy pol;
	tk_ctx x;
	double samples[64], dec, mc, full;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--org") == 0 && i + 1 < argc)
			org_path = argv[++i];
		else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			pol_path = argv[++i];
		else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
			iters = parse_long(argv[++i], "--iters");
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = (int)parse_long(argv[++i], "--runs");
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else {
			fprintf(stderr, "usage: bench_decision [--org FILE] "
			    "[--policy FILE] [--iters N] [--runs R] [--json]\n");
			return 2;
		}
	}
	if (runs > 64)
		runs = 64;

	if (read_file(org_path, &text, &len) != 0)
		return 1;
	if (tk_org_load(&org, text, len, org_path, &err) != 0) {
		fprintf(stderr, "bench_decision: %s\n", err.msg);
		free(text);
		return 1;
	}
	free(text);
	if (read_file(pol_path, &text, &len) != 0)
		return 1;
	if (tk_policy_load(&pol, text, len, pol_path, &err) != 0) {
		fprintf(stderr, "bench_decision: %s\n", err.msg);
		free(text);
		return 1;
	}
	free(text);
	x.policy = &pol;
	x.org = &org;
	x.now = NOW + 600;

	{
		tk_ctx x0 = x;
		x0.now = NOW;
		if (prepare(&x0) != 0 || check(&x) != 0)
			return 1;
	}

	dec = median_of(LOOP_RESTORE, &x, iters, runs, samples);
	/* A whole-case copy is ~100 KB: fewer iterations keep it short. */
	mc = median_of(LOOP_MEMCPY, &x, iters / 10 + 1, runs, samples);
	full = median_of(LOOP_FULL, &x, iters / 10 + 1, runs, samples);

	if (json)
		printf("{\"decision_ns\": %.1f, \"memcpy_ns\": %.1f, "
		    "\"full_ns\": %.1f, \"full_minus_memcpy_ns\": %.1f, "
		    "\"case_bytes\": %zu, \"iters\": %ld, \"runs\": %d}\n",
		    dec, mc, full, full - mc, sizeof(tk_case), iters, runs);
	else {
		printf("one approval decision (policy eval + invariants), "
		    "median of %d runs x %ld:\n", runs, iters);
		printf("  decision            %8.1f ns/op\n", dec);
		printf("  memcpy of the case  %8.1f ns/op (%zu bytes; not part "
		    "of the decision)\n", mc, sizeof(tk_case));
		printf("  memcpy + decision   %8.1f ns/op (minus memcpy: "
		    "%.1f)\n", full, full - mc);
	}
	tk_policy_free(&pol);
	tk_org_free(&org);
	return sink == 0xdeadbeefu ? 3 : 0;
}
