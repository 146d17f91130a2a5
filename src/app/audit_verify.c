/*
 * audit_verify.c - the full verification of the audit log, run from the
 * server (the console's "Verify now", POST /v1/audit/verify), and its
 * record: each run leaves one `audit.verified` event in the log itself,
 * which is where the latest verification is read back from.
 *
 * The check is `twokey audit verify --db` (cmd_audit.c): the same trust
 * (the public half of the key file next to the database, the keys the
 * database lists, the checkpoint copy next to it) and the same
 * tk_audit_verify_store. It reads through its own read-only connection
 * to the database file, inside one read transaction, so the writers are
 * never blocked and the log is checked as it stood when the run began
 * (WAL: a reader holds its snapshot while the server appends). The
 * checkpoint copy is read before that snapshot begins, into a private
 * temporary file up to its last whole line: the server commits a
 * checkpoint before it appends it to the copy, so every checkpoint the
 * copy holds is in the snapshot, and one signed during the run is not
 * mistaken for a truncated log.
 *
 * Owns: who may run it (auditor or admin), one run at a time per app
 * (app_fx's verifying flag), the event's data {"result": "intact" |
 * "failed", "size", "checkpoints", "bad_seq", "bad_kind", "detail"} and
 * the JSON both calls answer with. The latest run is found through the
 * store's index of those events only (store_verified.c), so nothing is
 * kept in memory and a restarted server still knows it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app_int.h"
#include "audit/log.h"
#include "store/store.h"

#define PATH_MAX_LEN 4096
#define CACHE_KB 2048 /* the verification's connection: one pass, reads */

static void
err_reset(tk_app_err *err)
{
	memset(err, 0, sizeof(*err));
}

/* TK_OK when actor is staff with the auditor or admin role (as the
 * other audit reads ask); otherwise the refusal, for a person. */
static enum tk_status
check_auditor(tk_app *a, const char *actor, const char *what,
    tk_app_err *err)
{
	json_t *me = NULL, *roles, *r;
	enum tk_status st;
	bool ok = false;
	size_t i;

	st = tk_app_me(a, actor, &me, err);
	if (st != TK_OK)
		return st;
	roles = json_object_get(me, "roles");
	json_array_foreach(roles, i, r) {
		const char *n = json_string_value(r);

		if (n != NULL && (strcmp(n, "auditor") == 0 ||
		    strcmp(n, "admin") == 0))
			ok = true;
	}
	json_decref(me);
	if (!ok)
		return tk_fail(&err->e, TK_ERR_FORBIDDEN, "%s needs the auditor "
		    "or admin role; '%s' does not have it", what, actor);
	return TK_OK;
}

/* ---- reading the latest record back ------------------------------------ */

struct last_job {
	json_t *out;  /* the verification, or NULL when none */
	int64_t seq;  /* the event to read */
	int rc;
};

/* One `audit.verified` row as the JSON both calls answer with. Records
 * read back are checked: a row that is not one gives an error. */
static int
last_cb(void *arg, const tk_event_row *row)
{
	struct last_job *j = arg;
	json_t *body, *data, *bad_seq, *kind, *detail;
	const char *result;
	char at[32];

	if (row->seq != j->seq || strcmp(row->kind, TK_EVENT_AUDIT_VERIFIED) !=
	    0)
		return 1;
	body = json_loads(row->body != NULL ? row->body : "", 0, NULL);
	data = json_object_get(body, "data");
	result = json_string_value(json_object_get(data, "result"));
	if (result == NULL || (strcmp(result, "intact") != 0 &&
	    strcmp(result, "failed") != 0) ||
	    !json_is_integer(json_object_get(data, "size")) ||
	    !json_is_integer(json_object_get(data, "checkpoints"))) {
		json_decref(body);
		return 1;
	}
	bad_seq = json_object_get(data, "bad_seq");
	kind = json_object_get(data, "bad_kind");
	detail = json_object_get(data, "detail");
	tk_time_format(row->ts, at, sizeof(at));
	j->out = json_pack("{s:I, s:s, s:I, s:s, s:s, s:O, s:O, s:O, s:O, "
	    "s:O}", "seq", (json_int_t)row->seq, "at", at, "at_epoch",
	    (json_int_t)row->ts, "by", row->actor, "result", result, "size",
	    json_object_get(data, "size"), "checkpoints",
	    json_object_get(data, "checkpoints"), "bad_seq",
	    json_is_integer(bad_seq) ? bad_seq : json_null(), "bad_kind",
	    json_is_string(kind) ? kind : json_null(), "detail",
	    json_is_string(detail) ? detail : json_null());
	json_decref(body);
	j->rc = j->out != NULL ? 0 : -1;
	return 1;
}

static int
last_fn(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct last_job *j = arg;
	tk_store *s = app_store(a);

	(void)now;
	j->rc = 0;
	if (tk_store_event_latest_verified(s, &j->seq, err) != 0)
		return -1;
	if (j->seq == 0)
		return 0;
	j->rc = 1; /* until the row is read */
	if (tk_store_event_scan(s, j->seq, 1, last_cb, j, err) != 0)
		return -1;
	if (j->rc == 1)
		return tk_fail(err, TK_ERR_INTERNAL, "event %lld is indexed as a "
		    "verification but does not read back as one",
		    (long long)j->seq), -1;
	if (j->rc != 0)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
	return 0;
}

/* The latest verification (JSON null when none); no role check. */
static enum tk_status
last_read(tk_app *a, json_t **out, tk_app_err *err)
{
	struct last_job j = {NULL, 0, 0};

	if (app_read(a, last_fn, &j, &err->e) != 0) {
		json_decref(j.out);
		if (err->e.status == TK_OK)
			(void)tk_fail(&err->e, TK_ERR_INTERNAL, "cannot read the "
			    "latest verification");
		return err->e.status;
	}
	*out = j.out != NULL ? j.out : json_null();
	return TK_OK;
}

enum tk_status
tk_app_audit_last_verify(tk_app *a, const char *actor, json_t **out,
    tk_app_err *err)
{
	enum tk_status st;

	err_reset(err);
	*out = NULL;
	st = check_auditor(a, actor, "reading the latest verification", err);
	if (st != TK_OK)
		return st;
	return last_read(a, out, err);
}

/* ---- running it --------------------------------------------------------- */

struct path_job {
	char *buf;
	size_t size;
};

static int
path_fn(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	struct path_job *j = arg;

	(void)now;
	if (tk_strlcpy(j->buf, tk_store_path(app_store(a)), j->size) != 0)
		return tk_fail(err, TK_ERR_INTERNAL, "the database path is too "
		    "long"), -1;
	return 0;
}

/* What `twokey audit verify --db DB` trusts without --key: the public
 * half of the key file next to DB (when there is one) and the keys the
 * database lists (the checkpoint copy is mirror_copy's). */
static int
trust_setup(const char *db, tk_audit_trust *t, tk_error *err)
{
	char path[PATH_MAX_LEN], vkey[TK_NOTE_VKEY_MAX];
	tk_note_signer k;
	int rc;

	if (tk_audit_key_path(db, path, sizeof(path), err) != 0)
		return -1;
	t->trust_listed = true;
	if (tk_audit_key_load(path, &k, err) != 0) {
		if (err->status != TK_ERR_NOT_FOUND)
			return -1;
		memset(err, 0, sizeof(*err)); /* no key file: none to add */
		return 0;
	}
	rc = tk_note_vkey_format(&k.key, vkey, sizeof(vkey), err) != 0 ||
	    tk_audit_trust_add(t, vkey, err) != 0 ? -1 : 0;
	tk_note_signer_wipe(&k);
	return rc;
}

/* The checkpoint copy next to db as it is now, up to its last whole
 * line (the server writes a line, then its newline), in an anonymous
 * temporary file: *copy (fclose it) and a path that opens it into path.
 * *copy stays NULL when there is no copy. */
static int
mirror_copy(const char *mirror, FILE **copy, char *path, size_t psize,
    tk_error *err)
{
	char buf[65536];
	FILE *in, *out;
	off_t total = 0, keep = 0;
	size_t n;
	int len;

	*copy = NULL;
	in = fopen(mirror, "r");
	if (in == NULL) {
		if (errno == ENOENT)
			return 0; /* no copy kept (yet), as the CLI */
		return tk_fail(err, TK_ERR_INTERNAL, "cannot open the "
		    "checkpoint copy %s: %s", mirror, strerror(errno)), -1;
	}
	out = tmpfile();
	if (out == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot make a temporary "
		    "file for the checkpoint copy: %s", strerror(errno));
		(void)fclose(in);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (fwrite(buf, 1, n, out) != n)
			break;
		for (size_t i = n; i > 0; i--)
			if (buf[i - 1] == '\n') {
				keep = total + (off_t)i;
				break;
			}
		total += (off_t)n;
	}
	len = snprintf(path, psize, "/proc/self/fd/%d", fileno(out));
	if (ferror(in) || ferror(out) || fflush(out) != 0 ||
	    ftruncate(fileno(out), keep) != 0 || len < 0 ||
	    (size_t)len >= psize) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot copy the checkpoint "
		    "copy %s: %s", mirror, strerror(errno));
		(void)fclose(in);
		(void)fclose(out);
		return -1;
	}
	(void)fclose(in);
	*copy = out;
	return 0;
}

/* Says the mirror's own path where the report names the temporary one. */
static void
detail_path(char *detail, size_t size, const char *tmp, const char *real)
{
	char out[sizeof(((tk_audit_report *)0)->detail)];
	const char *p = strstr(detail, tmp);

	if (p == NULL)
		return;
	(void)snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - detail),
	    detail, real, p + strlen(tmp));
	tk_utf8_trim(out);
	(void)tk_strlcpy(detail, out, size);
}

/* One verification on a connection of its own, read-only, in one read
 * transaction (see the top of the file). */
static int
verify_once(const char *db, const tk_audit_trust *t, tk_audit_report *rep,
    tk_error *err)
{
	tk_store *s;
	int rc = -1;

	s = tk_store_open(db, false, err);
	if (s == NULL)
		return -1;
	if (tk_store_reader(s, CACHE_KB, err) == 0 &&
	    tk_store_read_begin(s, err) == 0) {
		rc = tk_audit_verify_store(s, t, rep, err);
		tk_store_read_end(s);
	}
	tk_store_close(s);
	return rc;
}

struct rec_job {
	const char *actor;
	const tk_audit_report *rep;
};

static int
rec_fn(tk_app *a, tk_time now, void *arg, tk_error *err)
{
	const struct rec_job *j = arg;
	const tk_audit_report *r = j->rep;
	json_t *data;

	data = json_pack("{s:s, s:I, s:I}", "result", r->ok ? "intact" :
	    "failed", "size", (json_int_t)r->events, "checkpoints",
	    (json_int_t)r->checkpoints);
	if (data != NULL && !r->ok && (json_object_set_new(data, "bad_seq",
	    r->bad_seq > 0 ? json_integer(r->bad_seq) : json_null()) != 0 ||
	    json_object_set_new(data, "bad_kind", json_string(r->kind)) != 0 ||
	    json_object_set_new(data, "detail", json_string(r->detail)) != 0)) {
		json_decref(data);
		data = NULL;
	}
	/* A failed verification is an alert: the log was changed. */
	return app_event(a, now, "", TK_EVENT_AUDIT_VERIFIED, j->actor, !r->ok,
	    data, err);
}

enum tk_status
tk_app_audit_verify(tk_app *a, const char *actor, json_t **out,
    tk_app_err *err)
{
	struct app_fx *fx = app_fx(a);
	char db[PATH_MAX_LEN], mirror[PATH_MAX_LEN], copy_path[64];
	FILE *copy = NULL;
	struct path_job pj = {db, sizeof(db)};
	struct rec_job rj;
	tk_audit_trust *t = NULL;
	tk_audit_report rep;
	enum tk_status st;

	err_reset(err);
	*out = NULL;
	st = check_auditor(a, actor, "verifying the audit log", err);
	if (st != TK_OK)
		return st;
	if (atomic_exchange(&fx->verifying, true))
		return tk_fail(&err->e, TK_ERR_WRONG_STATE, "a verification is "
		    "already running; its result will be the latest "
		    "verification (GET /v1/audit/verification) when it ends");
	if (app_read(a, path_fn, &pj, &err->e) != 0) {
		st = err->e.status;
		goto out;
	}
	if (strcmp(db, ":memory:") == 0) {
		st = tk_fail(&err->e, TK_ERR_WRONG_STATE, "an in-memory store "
		    "cannot be verified from a second connection; verify a "
		    "database file");
		goto out;
	}
	t = calloc(1, sizeof(*t)); /* large: the keys */
	if (t == NULL) {
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (trust_setup(db, t, &err->e) != 0 ||
	    tk_audit_mirror_path(db, mirror, sizeof(mirror), &err->e) != 0 ||
	    mirror_copy(mirror, &copy, copy_path, sizeof(copy_path),
	    &err->e) != 0) {
		st = err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
		goto out;
	}
	t->mirror_path = copy != NULL ? copy_path : NULL;
	if (verify_once(db, t, &rep, &err->e) != 0) {
		st = err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
		goto out;
	}
	if (copy != NULL)
		detail_path(rep.detail, sizeof(rep.detail), copy_path, mirror);
	rj.actor = actor;
	rj.rep = &rep;
	if (app_tx(a, rec_fn, &rj, &err->e) != 0) {
		st = err->e.status != TK_OK ? err->e.status : TK_ERR_INTERNAL;
		goto out;
	}
	st = last_read(a, out, err);
	if (st == TK_OK && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		st = tk_fail(&err->e, TK_ERR_INTERNAL, "the verification was "
		    "recorded but does not read back");
	}
out:
	if (copy != NULL)
		(void)fclose(copy);
	free(t);
	atomic_store(&fx->verifying, false);
	return st;
}
