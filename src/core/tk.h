/*
 * tk.h - twokey's shared vocabulary: sizes, times, status codes and the
 * error record every library call fills in on failure.
 *
 * Owns: the status enum, its wire names and HTTP codes, and tk_error.
 * Every fixed buffer size in the library is defined here so callers and
 * parsers agree on the caps.
 */
#ifndef TK_H
#define TK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TK_VERSION "0.1.0"

#define TK_ID_MAX 64        /* logins, subject ids, case ids, incl. NUL */
#define TK_NAME_MAX 48      /* tier, function, team, label, signal names */
#define TK_CONTACT_MAX 128  /* one phone number or e-mail address */
#define TK_REF_MAX 256      /* ticket, evidence reference */
#define TK_TEXT_MAX 1024    /* justification, comments, notes */
#define TK_PARAMS_MAX 2048  /* canonical JSON of a case's params */
#define TK_MAX_LABELS 16
#define TK_MAX_CONTACTS 8
#define TK_MAX_SIGNALS 16
#define TK_MAX_FROM 8       /* functions in approvals.from_any */
#define TK_MAX_EVIDENCE 32  /* evidence records kept per case */
#define TK_MAX_APPROVALS 32 /* approval records kept per case */

/* Seconds since the Unix epoch, UTC. The engine never reads a clock: the
 * caller passes "now" in. */
typedef int64_t tk_time;

enum tk_status {
	TK_OK = 0,
	TK_ERR_INVALID,       /* invalid_request 400 */
	TK_ERR_UNAUTH,        /* unauthenticated 401 */
	TK_ERR_FORBIDDEN,     /* forbidden 403: role does not allow it */
	TK_ERR_SOD,           /* sod_violation 403: an invariant forbids it */
	TK_ERR_NOT_FOUND,     /* not_found 404 */
	TK_ERR_WRONG_STATE,   /* wrong_state 409 */
	TK_ERR_TOO_LARGE,     /* too_large 413 */
	TK_ERR_POLICY_DENIED, /* policy_denied 422 */
	TK_ERR_INTERNAL,      /* internal 500: store or system failure */
	TK_ERR_TOO_MANY       /* rate_limited 429: locked or throttled */
};

/* Filled by any call that fails. msg is for a person: what was wrong and
 * what to do. invariant is the DESIGN.md invariant number for
 * TK_ERR_SOD (0 otherwise). */
typedef struct tk_error {
	enum tk_status status;
	int invariant;
	char msg[512];
} tk_error;

/* Sets e (when non-NULL) and returns status, so callers can write
 * `return tk_fail(err, TK_ERR_INVALID, "...", ...);`. */
enum tk_status tk_fail(tk_error *e, enum tk_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, for invariant refusals: status is TK_ERR_SOD. */
enum tk_status tk_fail_sod(tk_error *e, int invariant, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

const char *tk_status_code(enum tk_status s); /* "sod_violation" ... */
int tk_status_http(enum tk_status s);         /* 403 ... */

/* Bounded copy: always NUL-terminates; returns -1 when src did not fit
 * (dst then holds a truncated copy), 0 otherwise. */
int tk_strlcpy(char *dst, const char *src, size_t size);

/* Cuts s so that it does not end inside a UTF-8 sequence (after a
 * truncating snprintf), so text stays valid UTF-8 for JSON. */
void tk_utf8_trim(char *s);

/* The path of a file kept next to the database: db + suffix (".audit-key",
 * ".checkpoints", ".seal-key") into out. -1 with err when db is not a
 * file path or the result does not fit. */
int tk_db_file_path(const char *db, const char *suffix, char *out,
    size_t size, tk_error *err);

/* Reads the regular file at path, at most max bytes, into a malloc'd
 * NUL-terminated buffer (*out, *len). what names the file in the error
 * ("OIDC file"). A partial read is wiped before it is freed, so key files
 * may use it; the caller wipes the result when it holds a secret. */
int tk_read_file(const char *path, const char *what, size_t max,
    char **out, size_t *len, tk_error *err);

/* Writes n bytes as 2n lowercase hex digits and a NUL into out, which
 * must hold 2n + 1 bytes. */
void tk_hex_encode(const unsigned char *in, size_t n, char *out);

/* Formats t as RFC 3339 UTC ("2026-11-23T09:30:00Z") into buf (>= 21). */
void tk_time_format(tk_time t, char *buf, size_t size);

/* Parses "30s", "15m", "4h", "7d" (a positive integer and one unit) into
 * seconds. Returns 0 on success, -1 on a malformed value. "0" is 0. */
int tk_duration_parse(const char *s, tk_time *out);
/* Writes the shortest exact form of d ("4h", "90m", "0s"). */
void tk_duration_format(tk_time d, char *buf, size_t size);

#endif
