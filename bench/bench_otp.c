/*
 * bench_otp.c - measures registered-factor verification (verify/otp.c):
 * tk_totp_match with window 1, SHA1, 6 digits (the target is
 * under 5 us per verification), and one tk_hotp for comparison.
 *
 * Each loop calls the function --iters times (default 1,000,000 for
 * TOTP) and is timed with CLOCK_MONOTONIC; the median of --runs runs
 * (default 3) after a short warm-up gives ns per call. The TOTP loop
 * submits the code of the current step, so all three steps of the
 * window are computed (they always are: no early exit) and the match is
 * checked.
 *
 * Usage: bench_otp [--iters N] [--runs R] [--json]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "verify/otp.h"

#define NOW ((int64_t)1795425000) /* 2026-11-23T07:30:00Z */
#define MAX_RUNS 15

static const unsigned char key[20] = "12345678901234567890";
static volatile int64_t sink;

static double
now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ns per call of one loop: 0 totp_match, 1 hotp. */
static double
run(int which, const char *code, long iters)
{
	char out[TK_OTP_CODE_MAX];
	double t0;
	long i;

	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		if (which == 0)
			sink += tk_totp_match(key, sizeof(key), TK_OTP_SHA1, 6,
			    30, NOW, code, 1, -1);
		else {
			sink += tk_hotp(key, sizeof(key), TK_OTP_SHA1,
			    (uint64_t)i, 6, out);
			sink += out[0];
		}
	}
	return (now_ns() - t0) / (double)iters;
}

static double
median_of(int which, const char *code, long iters, int runs)
{
	double s[MAX_RUNS];
	int r;

	(void)run(which, code, iters / 10 + 1); /* warm-up */
	for (r = 0; r < runs; r++)
		s[r] = run(which, code, iters);
	qsort(s, (size_t)runs, sizeof(s[0]), cmp_double);
	return s[runs / 2];
}

static long
parse_long(const char *what, const char *s, long lo, long hi)
{
	char *end;
	long v;

	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "bench_otp: bad %s \"%s\" (%ld..%ld)\n", what,
		    s, lo, hi);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	char code[TK_OTP_CODE_MAX];
	long iters = 1000000;
	int runs = 3, json = 0, i;
	double totp, hotp;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
			iters = parse_long("--iters", argv[++i], 1, 1000000000);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = (int)parse_long("--runs", argv[++i], 1, MAX_RUNS);
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else {
			fprintf(stderr, "usage: bench_otp [--iters N] "
			    "[--runs R] [--json]\n");
			return 2;
		}
	}
	if (tk_hotp(key, sizeof(key), TK_OTP_SHA1, (uint64_t)(NOW / 30), 6,
	    code) != 0 ||
	    tk_totp_match(key, sizeof(key), TK_OTP_SHA1, 6, 30, NOW, code, 1,
	    -1) != NOW / 30) {
		fprintf(stderr, "bench_otp: the current code does not match; "
		    "the OTP code is broken\n");
		return 1;
	}
	totp = median_of(0, code, iters, runs);
	hotp = median_of(1, code, iters / 2 + 1, runs);
	if (json)
		printf("{\"totp_match_ns\": %.1f, \"hotp_ns\": %.1f, "
		    "\"iters\": %ld, \"runs\": %d}\n", totp, hotp, iters, runs);
	else {
		printf("registered factor (TOTP), median of %d runs x %ld:\n",
		    runs, iters);
		printf("  tk_totp_match (SHA1, 6 digits, window 1)  %8.1f "
		    "ns/call\n", totp);
		printf("  tk_hotp (one code, SHA1, 6 digits)        %8.1f "
		    "ns/call\n", hotp);
	}
	return sink == 0x7fffffffffffffffLL ? 3 : 0;
}
