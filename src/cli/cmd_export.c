/*
 * cmd_export.c - `twokey audit export`: writes the audit events of a
 * database as JSON lines, OCSF or CEF, one event per line, for SIEM
 * ingestion (formats and mapping in docs/siem.md).
 *
 * Owns: the command's options, the --since parser (a sequence number or
 * an RFC 3339 time) and the output file, which is written under a
 * temporary name in the same folder and renamed into place only when
 * every event was written, so a failed export never leaves a partial
 * file behind. Formatting is libtwokey's (audit/export.c); events are
 * read with tk_store_event_scan.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/export.h"
#include "audit/log.h"
#include "cli/cli.h"
#include "store/store.h"

#define OUT_PATH_MAX 4096

enum { O_DB = 256, O_FORMAT, O_SINCE, O_OUT };

/* What the scan callback needs. */
struct export_run {
	enum tk_export_format fmt;
	tk_time since_ts;     /* skip events before this time (0: none) */
	FILE *out;
	int64_t count, first, last;
	bool failed;          /* the callback stopped the scan on an error */
	tk_error err;
};

/* ---- --since ------------------------------------------------------------- */

/* Reads exactly n digits at *p into *v. */
static int
digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

/* RFC 3339: YYYY-MM-DD, optionally followed by THH:MM:SS[.frac] and Z or
 * +HH:MM / -HH:MM (a date alone is midnight UTC). Fractions are cut. */
static int
parse_rfc3339(const char *s, tk_time *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0, sign = 0;
	struct tm tm;
	time_t t;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31};

	if (digits(&p, 4, &y) != 0 || *p++ != '-' || digits(&p, 2, &mo) != 0 ||
	    *p++ != '-' || digits(&p, 2, &d) != 0)
		return -1;
	if (*p != '\0') {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -1;
		p++;
		if (digits(&p, 2, &h) != 0 || *p++ != ':' ||
		    digits(&p, 2, &mi) != 0 || *p++ != ':' ||
		    digits(&p, 2, &se) != 0)
			return -1;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p++ == '+' ? 1 : -1;
			if (digits(&p, 2, &oh) != 0 || *p++ != ':' ||
			    digits(&p, 2, &om) != 0 || oh > 23 || om > 59)
				return -1;
		} else {
			return -1;
		}
		if (*p != '\0')
			return -1;
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || se > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	/* 2023-02-29 normalises to March: refuse it rather than guess. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -1;
	*out = (tk_time)t - sign * (oh * 3600 + om * 60);
	return 0;
}

/* --since: all digits is a sequence number (>= 1), anything else an
 * RFC 3339 time. Exactly one of *seq, *ts is set. */
static int
parse_since(const char *s, int64_t *seq, tk_time *ts)
{
	char *end;
	long long v;

	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") ==
	    strlen(s)) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0' || v < 1)
			return -1;
		*seq = (int64_t)v;
		return 0;
	}
	return parse_rfc3339(s, ts);
}

/* ---- output ------------------------------------------------------------------ */

static int
write_event(void *arg, const tk_event_row *row)
{
	struct export_run *r = arg;
	char *line = NULL;
	size_t len = 0;

	if (r->since_ts > 0 && row->ts < r->since_ts)
		return 0;
	if (tk_export_event(r->fmt, row, &line, &len, &r->err) != 0) {
		r->failed = true;
		return 1;
	}
	if (fwrite(line, 1, len, r->out) != len ||
	    fputc('\n', r->out) == EOF) {
		free(line);
		(void)tk_fail(&r->err, TK_ERR_INTERNAL, "cannot write: %s",
		    strerror(errno));
		r->failed = true;
		return 1;
	}
	free(line);
	if (r->count == 0)
		r->first = row->seq;
	r->last = row->seq;
	r->count++;
	return 0;
}

/* Opens a temporary file next to path (mode 0600: the audit trail names
 * people). tmp receives its name. */
static FILE *
open_temp(const char *path, char *tmp, size_t size)
{
	int n, fd;
	FILE *f;

	n = snprintf(tmp, size, "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= size) {
		(void)fprintf(stderr, "error: output path too long\n");
		return NULL;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		(void)fprintf(stderr, "error: cannot create a file next to %s: "
		    "%s\n", path, strerror(errno));
		return NULL;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		(void)fprintf(stderr, "error: cannot open %s: %s\n", tmp,
		    strerror(errno));
		(void)close(fd);
		(void)unlink(tmp);
		return NULL;
	}
	return f;
}

/* Flushes, syncs and closes the temporary file and renames it to path.
 * On any failure the temporary file is removed. */
static int
commit_temp(FILE *f, const char *tmp, const char *path)
{
	int e = 0;

	if (fflush(f) != 0 || ferror(f))
		e = errno ? errno : EIO;
	else if (fsync(fileno(f)) != 0)
		e = errno;
	if (fclose(f) != 0 && e == 0)
		e = errno;
	if (e == 0 && rename(tmp, path) != 0)
		e = errno;
	if (e != 0) {
		(void)unlink(tmp);
		(void)fprintf(stderr, "error: cannot write %s: %s\n", path,
		    strerror(e));
		return -1;
	}
	return 0;
}

/* ---- the command ---------------------------------------------------------- */

int
tk_cmd_audit_export(const tk_cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{"help", no_argument, NULL, 'h'},
		{"db", required_argument, NULL, O_DB},
		{"format", required_argument, NULL, O_FORMAT},
		{"since", required_argument, NULL, O_SINCE},
		{"out", required_argument, NULL, O_OUT},
		{NULL, 0, NULL, 0},
	};
	const char *db = NULL, *fmt_name = "jsonl", *since = NULL;
	const char *out_path = NULL;
	char tmp[OUT_PATH_MAX + 16];
	char msg[160];
	struct export_run run;
	int64_t from = 1;
	tk_store *s = NULL;
	tk_error err = {0};
	struct stat sb;
	int c, rc = TK_EXIT_FAIL;
	bool bundle;

	memset(&run, 0, sizeof(run));
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'h':
			tk_cli_usage(cmd, stdout);
			return TK_EXIT_OK;
		case O_DB:
			db = optarg;
			break;
		case O_FORMAT:
			fmt_name = optarg;
			break;
		case O_SINCE:
			since = optarg;
			break;
		case O_OUT:
			out_path = optarg;
			break;
		default:
			return tk_cli_usage_error(cmd, NULL);
		}
	}
	if (optind < argc)
		return tk_cli_usage_error(cmd, "unexpected argument");
	if (db == NULL)
		return tk_cli_usage_error(cmd, "--db is required");
	/* bundle: the whole log with its checkpoints, for an offline
	 * `audit verify --offline` (audit/log.h); no --since. */
	bundle = strcmp(fmt_name, "bundle") == 0;
	if (bundle && since != NULL)
		return tk_cli_usage_error(cmd, "--format bundle is the whole "
		    "log: it takes no --since");
	if (!bundle && tk_export_format_parse(fmt_name, &run.fmt) != 0) {
		(void)snprintf(msg, sizeof(msg), "unknown --format '%.60s': use "
		    "jsonl, ocsf, cef or bundle", fmt_name);
		return tk_cli_usage_error(cmd, msg);
	}
	if (since != NULL && parse_since(since, &from, &run.since_ts) != 0) {
		(void)snprintf(msg, sizeof(msg), "--since '%.60s' is neither a "
		    "sequence number (1 or more) nor an RFC 3339 time such as "
		    "2026-11-23T09:30:00Z", since);
		return tk_cli_usage_error(cmd, msg);
	}
	if (out_path != NULL && (out_path[0] == '\0' ||
	    strlen(out_path) > OUT_PATH_MAX))
		return tk_cli_usage_error(cmd, "--out needs a file name of at "
		    "most 4096 bytes");
	if (out_path != NULL && stat(out_path, &sb) == 0 &&
	    !S_ISREG(sb.st_mode)) {
		(void)fprintf(stderr, "error: --out %s is not a regular file\n",
		    out_path);
		return TK_EXIT_FAIL;
	}

	s = tk_store_open(db, false, &err);
	if (s == NULL) {
		(void)fprintf(stderr, "error: %s: %s\n",
		    tk_status_code(err.status), err.msg);
		return TK_EXIT_FAIL;
	}
	run.out = out_path != NULL ? open_temp(out_path, tmp, sizeof(tmp)) :
	    stdout;
	if (run.out == NULL)
		goto done;
	if (bundle) {
		if (tk_audit_export(s, run.out, &err) != 0)
			(void)fprintf(stderr, "error: %s\n", err.msg);
		else
			rc = TK_EXIT_OK;
	} else if (tk_store_event_scan(s, from, 0, write_event, &run, &err)
	    != 0) {
		(void)fprintf(stderr, "error: cannot read the audit events: "
		    "%s\n", err.msg);
	} else if (run.failed) {
		(void)fprintf(stderr, "error: export stopped after %" PRId64
		    " event(s): %s\n", run.count, run.err.msg);
	} else {
		rc = TK_EXIT_OK;
	}
	if (out_path != NULL) {
		if (rc != TK_EXIT_OK) {
			(void)fclose(run.out);
			(void)unlink(tmp);
		} else if (commit_temp(run.out, tmp, out_path) != 0) {
			rc = TK_EXIT_FAIL;
		} else if (bundle) {
			(void)fprintf(stderr, "exported the audit log bundle to "
			    "%s\n", out_path);
		} else if (run.count > 0) {
			(void)fprintf(stderr, "exported %" PRId64 " event(s), seq "
			    "%" PRId64 "..%" PRId64 ", as %s to %s\n", run.count,
			    run.first, run.last, tk_export_format_name(run.fmt),
			    out_path);
		} else {
			(void)fprintf(stderr, "exported 0 events to %s\n",
			    out_path);
		}
	} else if (fflush(stdout) != 0 || ferror(stdout)) {
		(void)fprintf(stderr, "error: cannot write to standard output: "
		    "%s\n", strerror(errno));
		rc = TK_EXIT_FAIL;
	}
done:
	tk_store_close(s);
	return rc;
}
