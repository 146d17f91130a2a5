/*
 * store_views.c - the materialised case views (see store_views.h): the
 * stamp of a case as committed, read from the main database, and the
 * separate view file, one table `views` (id, stamp, stale_at, body).
 *
 * Owns: the view file's connections and statements. The file is kept
 * out of the main database on purpose: writing a view must not take
 * the main database's write lock (the group-commit leader holds it
 * across each batch and its fsync) nor add to its WAL; and as a cache it
 * needs no fsync (WAL with synchronous=NORMAL stays consistent after a
 * crash; at worst recent views are lost and built again).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"
#include "store/store_views.h"

#define VIEW_BUSY_MS 20 /* a put waits at most this for the file */

struct tk_viewdb {
	sqlite3 *db;
	sqlite3_stmt *get, *put;
};

int
tk_store_case_stamp(tk_store *s, const char *id, const char *salt,
    unsigned char stamp[TK_VIEW_STAMP_LEN], tk_error *err)
{
	static const char sql[] = "SELECT record, (SELECT max(seq) FROM "
	    "events WHERE case_id = ?1) FROM cases WHERE id = ?1";
	sqlite3_stmt *st;
	EVP_MD_CTX *md = NULL;
	const void *rec;
	unsigned char seqb[8];
	unsigned int n = 0;
	int64_t seq;
	int rc, len, ret = -1;

	st = tk_store_stmt(s, sql, err);
	if (st == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: bind the case id");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "no case %s", id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: read the stamp of "
		    "case %s: %s", id, sqlite3_errmsg(tk_store_sqlite(s)));
		goto out;
	}
	rec = sqlite3_column_blob(st, 0);
	len = sqlite3_column_bytes(st, 0);
	seq = sqlite3_column_int64(st, 1);
	for (int i = 0; i < 8; i++)
		seqb[i] = (unsigned char)((uint64_t)seq >> (8 * i));
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, &len, sizeof(len)) != 1 ||
	    (len > 0 && EVP_DigestUpdate(md, rec, (size_t)len) != 1) ||
	    EVP_DigestUpdate(md, seqb, sizeof(seqb)) != 1 ||
	    EVP_DigestUpdate(md, salt, strlen(salt)) != 1 ||
	    EVP_DigestFinal_ex(md, stamp, &n) != 1 ||
	    n != TK_VIEW_STAMP_LEN) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: cannot hash the "
		    "stamp of case %s", id);
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(md);
	tk_store_stmt_done(st);
	return ret;
}

static int
vfail(tk_viewdb *v, tk_error *err, const char *what)
{
	return tk_fail(err, TK_ERR_INTERNAL, "view file: %s: %s", what,
	    v->db != NULL ? sqlite3_errmsg(v->db) : "out of memory"), -1;
}

tk_viewdb *
tk_viewdb_open(const char *path, tk_error *err)
{
	static const char setup[] =
	    "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL;"
	    "PRAGMA cache_size=-256;"
	    "CREATE TABLE IF NOT EXISTS views ("
	    " id TEXT PRIMARY KEY,"
	    " stamp BLOB NOT NULL,"
	    " stale_at INTEGER NOT NULL,"
	    " body BLOB NOT NULL);";
	tk_viewdb *v = calloc(1, sizeof(*v));
	int fd;

	if (v == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	/* The views hold what the case pages show (subjects, contacts on
	 * file, justifications): owner-only, like the database. SQLite gives
	 * its -wal and -shm files the main file's mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "view file %.300s: %s",
		    path, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		goto fail;
	}
	(void)close(fd);
	if (sqlite3_open_v2(path, &v->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		(void)vfail(v, err, "open");
		goto fail;
	}
	/* Set-up by several connections at once waits; later puts do not
	 * wait long (VIEW_BUSY_MS). */
	if (sqlite3_busy_timeout(v->db, 2000) != SQLITE_OK ||
	    sqlite3_exec(v->db, setup, NULL, NULL, NULL) != SQLITE_OK) {
		(void)vfail(v, err, "set up");
		goto fail;
	}
	if (sqlite3_busy_timeout(v->db, VIEW_BUSY_MS) != SQLITE_OK ||
	    sqlite3_prepare_v3(v->db, "SELECT body FROM views WHERE id = ?1 "
	    "AND stamp = ?2 AND stale_at > ?3", -1,
	    SQLITE_PREPARE_PERSISTENT, &v->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(v->db, "INSERT OR REPLACE INTO views (id, "
	    "stamp, stale_at, body) VALUES (?1, ?2, ?3, ?4)", -1,
	    SQLITE_PREPARE_PERSISTENT, &v->put, NULL) != SQLITE_OK) {
		(void)vfail(v, err, "prepare");
		goto fail;
	}
	return v;
fail:
	tk_viewdb_close(v);
	return NULL;
}

void
tk_viewdb_close(tk_viewdb *v)
{
	if (v == NULL)
		return;
	(void)sqlite3_finalize(v->get);
	(void)sqlite3_finalize(v->put);
	(void)sqlite3_close(v->db);
	free(v);
}

int
tk_viewdb_get(tk_viewdb *v, const char *id,
    const unsigned char stamp[TK_VIEW_STAMP_LEN], tk_time now, char **text,
    size_t *len, tk_error *err)
{
	const void *body;
	int rc, n, ret = -1;

	*text = NULL;
	*len = 0;
	if (sqlite3_bind_text(v->get, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(v->get, 2, stamp, TK_VIEW_STAMP_LEN,
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(v->get, 3, now) != SQLITE_OK) {
		(void)vfail(v, err, "bind");
		goto out;
	}
	rc = sqlite3_step(v->get);
	if (rc == SQLITE_DONE) {
		ret = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)vfail(v, err, "read a view");
		goto out;
	}
	body = sqlite3_column_blob(v->get, 0);
	n = sqlite3_column_bytes(v->get, 0);
	if (body == NULL || n <= 0) {
		ret = 0; /* an empty view is never stored: treat as none */
		goto out;
	}
	*text = malloc((size_t)n + 1);
	if (*text == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(*text, body, (size_t)n);
	(*text)[n] = '\0';
	*len = (size_t)n;
	ret = 1;
out:
	(void)sqlite3_reset(v->get);
	(void)sqlite3_clear_bindings(v->get);
	return ret;
}

int
tk_viewdb_put(tk_viewdb *v, const char *id,
    const unsigned char stamp[TK_VIEW_STAMP_LEN], tk_time stale_at,
    const char *text, size_t len, tk_error *err)
{
	int ret = -1;

	if (len == 0 || len > INT32_MAX)
		return tk_fail(err, TK_ERR_INVALID, "view file: a view of %zu "
		    "bytes is not stored", len), -1;
	if (sqlite3_bind_text(v->put, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(v->put, 2, stamp, TK_VIEW_STAMP_LEN,
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(v->put, 3, stale_at) != SQLITE_OK ||
	    sqlite3_bind_blob(v->put, 4, text, (int)len, SQLITE_STATIC) !=
	    SQLITE_OK) {
		(void)vfail(v, err, "bind");
		goto out;
	}
	if (sqlite3_step(v->put) != SQLITE_DONE) {
		(void)vfail(v, err, "store a view");
		goto out;
	}
	ret = 0;
out:
	(void)sqlite3_reset(v->put);
	(void)sqlite3_clear_bindings(v->put);
	return ret;
}
