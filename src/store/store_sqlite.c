/*
 * store_sqlite.c - the SQLite implementation of store.h, twokey's default
 * durable store: one database file in WAL mode with synchronous=FULL, so
 * a committed transaction survives a power cut.
 *
 * Owns: the schema (versioned in the meta table), the prepared statements
 * (prepared once at open and cached in the handle), transactions and the
 * one-level savepoint inside them (the app's group commit runs each
 * operation in a savepoint of a shared transaction), and the
 * append side of the audit chain: the next seq and the previous hash are
 * cached in the handle and re-read whenever another connection may have
 * written since. Workload assumed: one writer process (the server) and
 * occasional readers or admin commands (CLI), serialised by SQLite's
 * locks with a 5 s busy timeout.
 *
 * Every row read back is validated (types, NULLs, sizes) before use: a
 * database edited behind our back yields an error, never a crash.
 */
#include "store/store.h"
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit/chain.h"
#include "audit/merkle.h"
#include "audit/tlog.h"

#define SCHEMA_VERSION 2
#define RECORD_MAX (1024 * 1024)      /* one case record, bytes */
#define CONFIG_MAX (4 * 1024 * 1024)  /* one org or policy text, bytes */
#define BODY_MAX (1024 * 1024)        /* one event body, bytes */
#define PATH_MAX_LEN 1024

/* Case states that count as open (core/case.h tk_state_is_open). */
#define OPEN_STATES "('open','verifying','approving','on_hold','ready'," \
	"'executing','failed','outcome_unknown'," \
	"'executed_revocation_pending')"

/* Schema version 2 adds the Merkle tree over the events (tiles in the
 * C2SP tlog-tiles layout), signed checkpoints with their witness
 * cosignatures and the audit log's public keys; events.hash became the
 * RFC 6962 leaf hash. */
#define LOG_SCHEMA \
    "CREATE TABLE IF NOT EXISTS tiles (" \
    " id INTEGER PRIMARY KEY," /* level << 56 | index */ \
    " hashes BLOB NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS checkpoints (" \
    " size INTEGER PRIMARY KEY," \
    " root BLOB NOT NULL," \
    " origin TEXT NOT NULL," \
    " note TEXT NOT NULL," \
    " created INTEGER NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS cosignatures (" \
    " size INTEGER NOT NULL," \
    " witness TEXT NOT NULL," \
    " line TEXT NOT NULL," \
    " created INTEGER NOT NULL," \
    " PRIMARY KEY (size, witness));" \
    "CREATE TABLE IF NOT EXISTS audit_keys (" \
    " origin TEXT PRIMARY KEY," \
    " verifier TEXT NOT NULL," \
    " created INTEGER NOT NULL," \
    " retired INTEGER NOT NULL DEFAULT 0);"

static const char schema_sql[] =
    "CREATE TABLE meta ("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL);"
    "CREATE TABLE config ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " text TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " UNIQUE (name, version));"
    "CREATE TABLE cases ("
    " id TEXT PRIMARY KEY,"
    " subject TEXT NOT NULL,"
    " family TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " updated INTEGER NOT NULL,"
    " record TEXT NOT NULL);"
    "CREATE INDEX cases_subject_family_state ON cases (subject, family,"
    " state);"
    "CREATE INDEX cases_family_state ON cases (family, state);"
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL,"
    " case_id TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " alert INTEGER NOT NULL,"
    " body TEXT NOT NULL,"
    " hash BLOB NOT NULL);"
    "CREATE INDEX events_case ON events (case_id);"
    "CREATE TABLE tokens ("
    " hash BLOB PRIMARY KEY,"
    " login TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tokens_login ON tokens (login);"
    LOG_SCHEMA
    "INSERT INTO meta (key, value) VALUES ('schema_version', '2');";

/* The fixed statements, prepared at open. */
enum st_id {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_DATA_VERSION,
	ST_CONFIG_PUT,
	ST_CONFIG_GET,
	ST_CASE_PUT,
	ST_CASE_GET,
	ST_CASE_FIND_OPEN,
	ST_EVENT_HEAD,
	ST_EVENT_INSERT,
	ST_EVENT_LIST_CASE,
	ST_EVENT_SCAN,
	ST_TOKEN_PUT,
	ST_TOKEN_LOOKUP,
	ST_TOKEN_REVOKE,
	ST_TILE_GET,
	ST_TILE_PUT,
	ST_EVENT_LEAF,
	ST_CP_PUT,
	ST_CP_GET,
	ST_CP_LATEST,
	ST_CP_LIST,
	ST_COSIG_PUT,
	ST_COSIG_LIST,
	ST_KEY_RETIRE,
	ST_KEY_PUT,
	ST_KEY_LIST,
	ST__COUNT
};

static const char *const st_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_BEGIN_READ] = "BEGIN DEFERRED",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT op",
	[ST_RELEASE] = "RELEASE op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO op",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_CONFIG_PUT] =
	    "INSERT INTO config (name, version, text, created) "
	    "SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, "
	    "CAST(strftime('%s', 'now') AS INTEGER) "
	    "FROM config WHERE name = ?1",
	[ST_CONFIG_GET] =
	    "SELECT text FROM config WHERE name = ?1 "
	    "ORDER BY version DESC LIMIT 1",
	[ST_CASE_PUT] =
	    "INSERT INTO cases (id, subject, family, state, updated, record) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
	    "ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, "
	    "family = excluded.family, state = excluded.state, "
	    "updated = excluded.updated, record = excluded.record",
	[ST_CASE_GET] = "SELECT record FROM cases WHERE id = ?1",
	[ST_CASE_FIND_OPEN] =
	    "SELECT id FROM cases WHERE subject = ?1 AND family = ?2 "
	    "AND state IN " OPEN_STATES " ORDER BY rowid LIMIT 1",
	[ST_EVENT_HEAD] =
	    "SELECT seq FROM events ORDER BY seq DESC LIMIT 1",
	[ST_EVENT_INSERT] =
	    "INSERT INTO events (seq, ts, case_id, kind, actor, alert, body, "
	    "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_EVENT_LIST_CASE] =
	    "SELECT seq, ts, case_id, kind, actor, alert, body, hash "
	    "FROM events WHERE case_id = ?1 ORDER BY seq",
	[ST_EVENT_SCAN] =
	    "SELECT seq, ts, case_id, kind, actor, alert, body, hash "
	    "FROM events WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
	[ST_TOKEN_PUT] =
	    "INSERT INTO tokens (hash, login, created, revoked) "
	    "VALUES (?1, ?2, ?3, 0)",
	[ST_TOKEN_LOOKUP] =
	    "SELECT login FROM tokens WHERE hash = ?1 AND revoked = 0",
	[ST_TOKEN_REVOKE] =
	    "UPDATE tokens SET revoked = "
	    "MAX(1, CAST(strftime('%s', 'now') AS INTEGER)) "
	    "WHERE login = ?1 AND revoked = 0",
	[ST_TILE_GET] = "SELECT hashes FROM tiles WHERE id = ?1",
	[ST_TILE_PUT] =
	    "INSERT INTO tiles (id, hashes) VALUES (?1, ?2) "
	    "ON CONFLICT (id) DO UPDATE SET hashes = excluded.hashes",
	[ST_EVENT_LEAF] = "SELECT seq, body, hash, ts, case_id, kind, actor, "
	    "alert FROM events WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
	[ST_CP_PUT] =
	    "INSERT INTO checkpoints (size, root, origin, note, created) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_CP_GET] = "SELECT size, root, origin, note, created "
	    "FROM checkpoints WHERE size = ?1",
	[ST_CP_LATEST] = "SELECT size, root, origin, note, created "
	    "FROM checkpoints ORDER BY size DESC LIMIT 1",
	[ST_CP_LIST] = "SELECT size, root, origin, note, created "
	    "FROM checkpoints ORDER BY size",
	[ST_COSIG_PUT] =
	    "INSERT INTO cosignatures (size, witness, line, created) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (size, witness) DO NOTHING",
	[ST_COSIG_LIST] = "SELECT witness, line FROM cosignatures "
	    "WHERE size = ?1 ORDER BY witness",
	[ST_KEY_RETIRE] = "UPDATE audit_keys SET retired = ?1 "
	    "WHERE retired = 0",
	[ST_KEY_PUT] = "INSERT INTO audit_keys (origin, verifier, created) "
	    "VALUES (?1, ?2, ?3)",
	[ST_KEY_LIST] = "SELECT origin, verifier, created, retired "
	    "FROM audit_keys ORDER BY created, origin",
};

/* case_list variants: bit 0 queue, bit 1 subject, bits 2-3 state (0 none,
 * 1 one state, 2 any open state). Prepared on first use. */
#define LIST_QUEUE 1
#define LIST_SUBJECT 2
#define LIST_STATE_ONE 4
#define LIST_STATE_OPEN 8
#define LIST_VARIANTS 16

/* Statements of the store's other files (tk_store_stmt), by SQL text. */
#define STMT_CACHE 32

struct tk_store {
	sqlite3 *db;
	char path[PATH_MAX_LEN];
	sqlite3_stmt *st[ST__COUNT];
	bool busy[ST__COUNT];            /* statement mid-iteration */
	sqlite3_stmt *list[LIST_VARIANTS];
	bool list_busy[LIST_VARIANTS];
	const char *cache_sql[STMT_CACHE];   /* key: the literal's address */
	sqlite3_stmt *cache_st[STMT_CACHE];
	int ncache;
	/* Chain head cache: valid while head_known; invalidated by a
	 * rollback, a failed write, or another connection's commit (seen
	 * as a change of PRAGMA data_version at begin). */
	bool head_known;
	int64_t head_seq;
	int64_t data_version;
	/* The Merkle tree over committed events, opened on first use and
	 * reopened when another connection commits (log_dv differs). Leaf
	 * hashes of this transaction's events wait in pend until COMMIT:
	 * they enter the tree, its tiles are written in the same
	 * transaction, and only then does COMMIT run. */
	tk_tlog *log;
	int64_t log_dv;
	bool migrate;            /* schema 1 found: migrate_v2 at open */
	tk_tile_io tile_io;
	unsigned char (*pend)[32];
	size_t pend_n, pend_cap;
	size_t sp_pend;          /* pend_n at the savepoint */
	int64_t pend_first;      /* seq of pend[0] */
};

/* ------------------------------------------------------------------ */
/* helpers */

static int
db_fail(tk_store *s, tk_error *err, const char *what)
{
	/* After any SQLite error the transaction may have been rolled back
	 * under us: never trust the cached chain head again without
	 * re-reading it. */
	s->head_known = false;
	(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s: %s", s->path, what,
	    sqlite3_errmsg(s->db));
	return -1;
}

/* Ends one use of a statement. sqlite3_reset returns the error of the
 * last step, which the caller has already checked; clear_bindings
 * cannot fail on a valid statement. */
static void
st_done(sqlite3_stmt *st)
{
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
}

static int
bind_text(tk_store *s, sqlite3_stmt *st, int i, const char *v,
    tk_error *err)
{
	if (sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(s, err, "bind");
	return 0;
}

static int
bind_int(tk_store *s, sqlite3_stmt *st, int i, int64_t v, tk_error *err)
{
	if (sqlite3_bind_int64(st, i, v) != SQLITE_OK)
		return db_fail(s, err, "bind");
	return 0;
}

static int
bind_blob(tk_store *s, sqlite3_stmt *st, int i, const void *v, int n,
    tk_error *err)
{
	if (sqlite3_bind_blob(st, i, v, n, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(s, err, "bind");
	return 0;
}

/* Checks a caller's string argument: non-NULL, shorter than cap, and
 * non-empty unless allowed. */
static int
arg_ok(const char *v, size_t cap, bool allow_empty, const char *what,
    tk_error *err)
{
	if (v == NULL || (!allow_empty && v[0] == '\0')) {
		(void)tk_fail(err, TK_ERR_INVALID, "store: %s is empty", what);
		return -1;
	}
	if (strlen(v) >= cap) {
		(void)tk_fail(err, TK_ERR_INVALID,
		    "store: %s is longer than %zu bytes", what, cap - 1);
		return -1;
	}
	return 0;
}

/* Reads a TEXT column into dst, refusing NULLs, other types, embedded
 * NULs and values that do not fit. */
static int
col_text(tk_store *s, sqlite3_stmt *st, int i, char *dst, size_t size,
    const char *what, tk_error *err)
{
	const unsigned char *t;
	int n;

	if (sqlite3_column_type(st, i) != SQLITE_TEXT) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s is not text "
		    "(database edited?)", s->path, what);
		return -1;
	}
	t = sqlite3_column_text(st, i);
	n = sqlite3_column_bytes(st, i);
	if (t == NULL)
		return db_fail(s, err, "read");
	if (n < 0 || (size_t)n >= size || strlen((const char *)t) != (size_t)n) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s is too long "
		    "or malformed (database edited?)", s->path, what);
		return -1;
	}
	memcpy(dst, t, (size_t)n + 1);
	return 0;
}

/* Same, for a TEXT column of up to max bytes, malloc'd. */
static int
col_text_dup(tk_store *s, sqlite3_stmt *st, int i, size_t max, char **out,
    const char *what, tk_error *err)
{
	const unsigned char *t;
	int n;
	char *p;

	*out = NULL;
	if (sqlite3_column_type(st, i) != SQLITE_TEXT) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s is not text "
		    "(database edited?)", s->path, what);
		return -1;
	}
	t = sqlite3_column_text(st, i);
	n = sqlite3_column_bytes(st, i);
	if (t == NULL)
		return db_fail(s, err, "read");
	if (n < 0 || (size_t)n > max || strlen((const char *)t) != (size_t)n) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s is too long "
		    "or malformed (database edited?)", s->path, what);
		return -1;
	}
	p = malloc((size_t)n + 1);
	if (p == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: out of memory");
		return -1;
	}
	memcpy(p, t, (size_t)n + 1);
	*out = p;
	return 0;
}

static int
col_int(tk_store *s, sqlite3_stmt *st, int i, int64_t *out,
    const char *what, tk_error *err)
{
	if (sqlite3_column_type(st, i) != SQLITE_INTEGER) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s is not an "
		    "integer (database edited?)", s->path, what);
		return -1;
	}
	*out = sqlite3_column_int64(st, i);
	return 0;
}

static int
col_hash(tk_store *s, sqlite3_stmt *st, int i, unsigned char out[32],
    const char *what, tk_error *err)
{
	const void *p;

	if (sqlite3_column_type(st, i) != SQLITE_BLOB ||
	    sqlite3_column_bytes(st, i) != 32 ||
	    (p = sqlite3_column_blob(st, i)) == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s is not a "
		    "32-byte hash (database edited?)", s->path, what);
		return -1;
	}
	memcpy(out, p, 32);
	return 0;
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
static int
st_exec(tk_store *s, enum st_id id, tk_error *err, const char *what)
{
	sqlite3_stmt *st = s->st[id];
	int rc;

	do
		rc = sqlite3_step(st);
	while (rc == SQLITE_ROW);
	if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, what);
		st_done(st);
		return -1;
	}
	st_done(st);
	return 0;
}

static int
read_data_version(tk_store *s, int64_t *out, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_DATA_VERSION];
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		(void)db_fail(s, err, "PRAGMA data_version");
		st_done(st);
		return -1;
	}
	*out = sqlite3_column_int64(st, 0);
	st_done(st);
	return 0;
}

/* Runs a multi-statement SQL text (schema, pragmas). */
static int
exec_sql(tk_store *s, const char *sql, tk_error *err, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s: %s", s->path,
		    what, msg != NULL ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Reads one text value from a single-row query, into buf. found is set
 * false when the query yields no row. */
static int
query_text(tk_store *s, const char *sql, char *buf, size_t size,
    bool *found, tk_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*found = false;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(s, err, "prepare");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (col_text(s, st, 0, buf, size, "value", err) != 0) {
			(void)sqlite3_finalize(st);
			return -1;
		}
		*found = true;
	} else if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, "query");
		(void)sqlite3_finalize(st);
		return -1;
	}
	(void)sqlite3_finalize(st); /* its error is the step's, checked */
	return 0;
}

/* ------------------------------------------------------------------ */
/* open / close */

static int
set_pragmas(tk_store *s, tk_error *err)
{
	char mode[32];
	bool found;

	if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK)
		return db_fail(s, err, "busy_timeout");
	if (query_text(s, "PRAGMA journal_mode=WAL", mode, sizeof(mode),
	    &found, err) != 0)
		return -1;
	if (!found || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0))
		return tk_fail(err, TK_ERR_INTERNAL, "store %s: cannot switch "
		    "to WAL journal mode (got \"%s\"); is the file on a local "
		    "file system?", s->path, found ? mode : ""), -1;
	if (exec_sql(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
	    err, "pragmas") != 0)
		return -1;
	return 0;
}

/* Creates the schema in an empty database or checks the version of an
 * existing one. */
static int
check_schema(tk_store *s, bool create, tk_error *err)
{
	char buf[32], *end;
	bool found;
	long v;

	if (exec_sql(s, "BEGIN IMMEDIATE", err, "begin") != 0)
		return -1;
	if (query_text(s, "SELECT name FROM sqlite_master WHERE type='table' "
	    "AND name='meta'", buf, sizeof(buf), &found, err) != 0)
		goto fail;
	if (!found) {
		if (query_text(s, "SELECT name FROM sqlite_master LIMIT 1", buf,
		    sizeof(buf), &found, err) != 0)
			goto fail;
		if (found) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "%s is not a twokey "
			    "database (it has other tables); choose another "
			    "path", s->path);
			goto fail;
		}
		if (!create) {
			(void)tk_fail(err, TK_ERR_NOT_FOUND, "no database at %s; "
			    "run `twokey init` first", s->path);
			goto fail;
		}
		if (exec_sql(s, schema_sql, err, "create schema") != 0)
			goto fail;
	} else {
		if (query_text(s, "SELECT value FROM meta WHERE "
		    "key='schema_version'", buf, sizeof(buf), &found, err) != 0)
			goto fail;
		if (!found) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "%s: the meta table "
			    "has no schema_version (damaged database?)",
			    s->path);
			goto fail;
		}
		errno = 0;
		v = strtol(buf, &end, 10);
		if (errno != 0 || *end != '\0' || v < 1) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "%s: schema_version "
			    "\"%s\" is malformed (damaged database?)", s->path,
			    buf);
			goto fail;
		}
		if (v > SCHEMA_VERSION) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "%s has schema "
			    "version %ld but this twokey (%s) understands up to "
			    "version %d; use a newer twokey", s->path, v,
			    TK_VERSION, SCHEMA_VERSION);
			goto fail;
		}
		if (v == 1) {
			/* Tables now, so statements prepare; the data moves in
			 * migrate_v2 once they are. */
			if (exec_sql(s, LOG_SCHEMA, err, "create log tables") != 0)
				goto fail;
			s->migrate = true;
		}
	}
	if (exec_sql(s, "COMMIT", err, "commit") != 0)
		goto fail;
	return 0;
fail:
	(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
prepare_all(tk_store *s, tk_error *err)
{
	int i;

	for (i = 0; i < ST__COUNT; i++)
		if (sqlite3_prepare_v3(s->db, st_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK)
			return db_fail(s, err, "prepare");
	return 0;
}

static int migrate_v2(tk_store *s, tk_error *err);
static void log_forget(tk_store *s);

tk_store *
tk_store_open(const char *path, bool create, tk_error *err)
{
	tk_store *s;
	struct stat sb;
	bool memory;
	int fd, flags;

	if (path == NULL || path[0] == '\0') {
		(void)tk_fail(err, TK_ERR_INVALID, "store: no database path "
		    "given; pass --db PATH");
		return NULL;
	}
	if (strlen(path) >= PATH_MAX_LEN) {
		(void)tk_fail(err, TK_ERR_INVALID, "store: database path is "
		    "longer than %d bytes", PATH_MAX_LEN - 1);
		return NULL;
	}
	memory = strcmp(path, ":memory:") == 0;
	if (memory)
		create = true; /* always new and empty */
	if (!memory && stat(path, &sb) != 0) {
		if (errno != ENOENT || !create) {
			if (errno == ENOENT)
				(void)tk_fail(err, TK_ERR_NOT_FOUND, "no database "
				    "at %s; run `twokey init` first", path);
			else
				(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: %s",
				    path, strerror(errno));
			return NULL;
		}
		/* Create it private: it holds token hashes and the audit
		 * trail. SQLite gives the -wal and -shm files the same mode. */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "store: cannot create "
			    "%s: %s", path, strerror(errno));
			return NULL;
		}
		if (fd >= 0 && close(fd) != 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "store: cannot create "
			    "%s: %s", path, strerror(errno));
			return NULL;
		}
	} else if (!memory && !S_ISREG(sb.st_mode)) {
		(void)tk_fail(err, TK_ERR_INVALID, "store: %s is not a regular "
		    "file", path);
		return NULL;
	}

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: out of memory");
		return NULL;
	}
	(void)tk_strlcpy(s->path, path, sizeof(s->path));
	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (memory)
		flags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		if (s->db == NULL)
			(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: out of "
			    "memory", path);
		else
			(void)db_fail(s, err, "open");
		goto fail;
	}
	if (sqlite3_extended_result_codes(s->db, 1) != SQLITE_OK) {
		(void)db_fail(s, err, "open");
		goto fail;
	}
	if (set_pragmas(s, err) != 0 || check_schema(s, create, err) != 0 ||
	    tk_store_fx_schema(s, err) != 0 ||
	    tk_store_verified_schema(s, err) != 0 ||
	    tk_store_signin_schema(s, err) != 0 || prepare_all(s, err) != 0 ||
	    read_data_version(s, &s->data_version, err) != 0)
		goto fail;
	if (s->migrate) {
		if (exec_sql(s, "BEGIN IMMEDIATE", err, "begin") != 0)
			goto fail;
		if (migrate_v2(s, err) != 0) {
			tk_store_rollback(s);
			goto fail;
		}
		if (exec_sql(s, "COMMIT", err, "commit") != 0) {
			tk_store_rollback(s);
			goto fail;
		}
		s->migrate = false;
		log_forget(s);
		s->head_known = false;
	}
	return s;
fail:
	tk_store_close(s);
	return NULL;
}

sqlite3 *
tk_store_sqlite(tk_store *s)
{
	return s->db;
}

void
tk_store_close(tk_store *s)
{
	int i;

	if (s == NULL)
		return;
	if (s->db != NULL && !sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	for (i = 0; i < ST__COUNT; i++)
		(void)sqlite3_finalize(s->st[i]); /* NULL is a no-op */
	for (i = 0; i < LIST_VARIANTS; i++)
		(void)sqlite3_finalize(s->list[i]);
	for (i = 0; i < s->ncache; i++)
		(void)sqlite3_finalize(s->cache_st[i]);
	tk_tlog_free(s->log);
	free(s->pend);
	/* All statements are finalized, so close cannot be busy; its only
	 * other failure leaves nothing for us to do. */
	(void)sqlite3_close(s->db);
	free(s);
}

/* Refuses to bind a statement that is still being stepped (a list
 * called again from its own callback). */
static int
not_reentered(tk_store *s, enum st_id id, const char *what, tk_error *err)
{
	if (!s->busy[id])
		return 0;
	(void)tk_fail(err, TK_ERR_INTERNAL, "store: %s called from its own "
	    "callback", what);
	return -1;
}

/* Reads the current row of st and hands it to the caller's callback:
 * 0 goes on, 1 stops (the callback asked), -1 fails (err filled). */
typedef int (*row_fn)(tk_store *s, sqlite3_stmt *st, void *ctx,
    tk_error *err);

/* Steps the bound statement id to its end, one fn per row; what names
 * the rows for errors. Always resets the statement. */
static int
st_rows(tk_store *s, enum st_id id, const char *what, row_fn fn,
    void *ctx, tk_error *err)
{
	sqlite3_stmt *st = s->st[id];
	char msg[64];
	int rc, ret = -1;

	s->busy[id] = true;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			(void)snprintf(msg, sizeof(msg), "%s read", what);
			(void)db_fail(s, err, msg);
			goto out;
		}
		rc = fn(s, st, ctx, err);
		if (rc < 0)
			goto out;
		if (rc > 0)
			break;
	}
	ret = 0;
out:
	s->busy[id] = false;
	st_done(st);
	return ret;
}

static int load_head(tk_store *s, tk_error *err);

/* ------------------------------------------------------------------ */
/* the Merkle tree over the events */

/* A tile's row id: level in the top byte, index below (one integer key
 * keeps tile reads to a single rowid lookup). */
static int
tile_id(int level, uint64_t index, int64_t *id, tk_error *err)
{
	if (level < 0 || level > 7 || index >= ((uint64_t)1 << 56))
		return tk_fail(err, TK_ERR_INTERNAL, "store: tile %d/%" PRIu64
		    " out of range", level, index), -1;
	*id = (int64_t)(((uint64_t)level << 56) | index);
	return 0;
}

/* Tile storage for tlog.c: one row per tile, width * 32 bytes. */
static int
tile_get(void *arg, int level, uint64_t index, unsigned char *hashes,
    size_t *width, tk_error *err)
{
	tk_store *s = arg;
	sqlite3_stmt *st = s->st[ST_TILE_GET];
	const void *p;
	int64_t id;
	int rc, n, ret = -1;

	if (tile_id(level, index, &id, err) != 0)
		return -1;
	if (bind_int(s, st, 1, id, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = 1;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)db_fail(s, err, "tile read");
		goto out;
	}
	n = sqlite3_column_bytes(st, 0);
	p = sqlite3_column_blob(st, 0);
	if (sqlite3_column_type(st, 0) != SQLITE_BLOB || p == NULL ||
	    n <= 0 || n % 32 != 0 || n > 256 * 32) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: tile %d/%" PRIu64
		    " is malformed (database edited?)", s->path, level, index);
		goto out;
	}
	memcpy(hashes, p, (size_t)n);
	*width = (size_t)n / 32;
	ret = 0;
out:
	st_done(st);
	return ret;
}

static int
tile_put(void *arg, int level, uint64_t index, const unsigned char *hashes,
    size_t width, tk_error *err)
{
	tk_store *s = arg;
	sqlite3_stmt *st = s->st[ST_TILE_PUT];
	int64_t id;
	int ret = -1;

	if (width == 0 || width > 256)
		return tk_fail(err, TK_ERR_INTERNAL, "store: tile out of "
		    "range"), -1;
	if (tile_id(level, index, &id, err) != 0)
		return -1;
	if (bind_int(s, st, 1, id, err) != 0 ||
	    bind_blob(s, st, 2, hashes, (int)(width * 32), err) != 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		(void)db_fail(s, err, "tile write");
		goto out;
	}
	ret = 0;
out:
	st_done(st);
	return ret;
}

/* Queues the leaf hash of event seq until COMMIT. */
static int
pend_push(tk_store *s, int64_t seq, const unsigned char hash[32],
    tk_error *err)
{
	if (s->pend_n == 0)
		s->pend_first = seq;
	else if (seq != s->pend_first + (int64_t)s->pend_n)
		return tk_fail(err, TK_ERR_INTERNAL, "store: event %" PRId64
		    " out of order in the transaction", seq), -1;
	if (s->pend_n == s->pend_cap) {
		size_t ncap = s->pend_cap ? s->pend_cap * 2 : 256;
		void *np = reallocarray(s->pend, ncap, sizeof(*s->pend));

		if (np == NULL)
			return tk_fail(err, TK_ERR_INTERNAL, "store: out of "
			    "memory"), -1;
		s->pend = np;
		s->pend_cap = ncap;
	}
	memcpy(s->pend[s->pend_n++], hash, 32);
	return 0;
}

/* Drops the in-memory tree; the next use reopens it from the tiles. */
static void
log_forget(tk_store *s)
{
	tk_tlog_free(s->log);
	s->log = NULL;
}

/* Makes s->log the tree of the first `size` events (stored tiles). */
static int
log_open_at(tk_store *s, int64_t size, tk_error *err)
{
	log_forget(s);
	s->tile_io.arg = s;
	s->tile_io.get = tile_get;
	s->tile_io.put = tile_put;
	s->log = tk_tlog_open(&s->tile_io, (uint64_t)size, 0, err);
	if (s->log == NULL)
		return -1;
	s->log_dv = s->data_version;
	return 0;
}

/* Makes s->log current for reads outside a write: reopened when another
 * connection committed since it was built. */
static int
log_ready(tk_store *s, tk_error *err)
{
	int64_t dv;

	if (s->pend_n > 0)
		return tk_fail(err, TK_ERR_INTERNAL, "store: the audit tree "
		    "cannot be read while events are uncommitted"), -1;
	if (read_data_version(s, &dv, err) != 0)
		return -1;
	if (s->log != NULL && dv == s->log_dv)
		return 0;
	s->data_version = dv;
	s->head_known = false;
	if (load_head(s, err) != 0)
		return -1;
	return log_open_at(s, s->head_seq, err);
}

/* At COMMIT: the pending leaves enter the tree and its changed tiles are
 * written, inside the transaction. The tree must stand exactly at the
 * event before the first pending one; if another connection appended
 * since it was built, it is reopened (we hold the write lock). */
static int
log_take_pending(tk_store *s, tk_error *err)
{
	int64_t base = s->pend_first - 1;

	if (s->log == NULL || s->log_dv != s->data_version ||
	    tk_tlog_size(s->log) != (uint64_t)base) {
		if (log_open_at(s, base, err) != 0)
			return -1;
	}
	for (size_t i = 0; i < s->pend_n; i++)
		if (tk_tlog_append(s->log, s->pend[i], NULL, err) != 0)
			goto fail;
	if (tk_tlog_flush(s->log, err) != 0)
		goto fail;
	s->pend_n = 0;
	s->sp_pend = 0;
	return 0;
fail:
	log_forget(s);
	return -1;
}

int
tk_store_tile_read(tk_store *s, int level, uint64_t index,
    unsigned char *hashes, size_t *width, tk_error *err)
{
	return tile_get(s, level, index, hashes, width, err);
}

int
tk_store_log_size(tk_store *s, uint64_t *size, tk_error *err)
{
	if (log_ready(s, err) != 0)
		return -1;
	*size = tk_tlog_size(s->log);
	return 0;
}

/* Checks a requested tree size against the committed one. */
static int
log_size_ok(tk_store *s, uint64_t size, tk_error *err)
{
	uint64_t have = tk_tlog_size(s->log);

	if (size > have)
		return tk_fail(err, TK_ERR_INVALID, "the log holds %" PRIu64
		    " events; size %" PRIu64 " is beyond it", have, size), -1;
	return 0;
}

int
tk_store_log_root(tk_store *s, uint64_t size, unsigned char root[32],
    tk_error *err)
{
	if (log_ready(s, err) != 0 || log_size_ok(s, size, err) != 0)
		return -1;
	return tk_tlog_root(s->log, size, root, err);
}

int
tk_store_log_inclusion(tk_store *s, uint64_t index, uint64_t size,
    unsigned char *proof, size_t max, size_t *n, tk_error *err)
{
	if (log_ready(s, err) != 0 || log_size_ok(s, size, err) != 0)
		return -1;
	if (index >= size)
		return tk_fail(err, TK_ERR_INVALID, "index %" PRIu64 " is not "
		    "inside a tree of size %" PRIu64, index, size), -1;
	return tk_tlog_prove_inclusion(s->log, index, size, proof, max, n,
	    err);
}

int
tk_store_log_consistency(tk_store *s, uint64_t size1, uint64_t size2,
    unsigned char *proof, size_t max, size_t *n, tk_error *err)
{
	if (log_ready(s, err) != 0 || log_size_ok(s, size2, err) != 0)
		return -1;
	if (size1 > size2)
		return tk_fail(err, TK_ERR_INVALID, "from (%" PRIu64 ") is "
		    "larger than to (%" PRIu64 ")", size1, size2), -1;
	return tk_tlog_prove_consistency(s->log, size1, size2, proof, max, n,
	    err);
}

int
tk_store_log_leaf(tk_store *s, uint64_t index, unsigned char hash[32],
    tk_error *err)
{
	if (log_ready(s, err) != 0 || log_size_ok(s, index + 1, err) != 0)
		return -1;
	return tk_tlog_node(s->log, 0, index, hash, err);
}

/* ------------------------------------------------------------------ */
/* checkpoints, cosignatures and audit keys */

void
tk_checkpoint_row_clear(tk_checkpoint_row *r)
{
	if (r == NULL)
		return;
	free(r->note);
	r->note = NULL;
}

int
tk_store_checkpoint_put(tk_store *s, const tk_checkpoint_row *cp,
    tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_CP_PUT];
	int rc, ret = -1;

	if (cp->size < 0 || arg_ok(cp->origin, sizeof(cp->origin), false,
	    "checkpoint origin", err) != 0 || cp->note == NULL)
		return tk_fail(err, TK_ERR_INVALID, "store: malformed "
		    "checkpoint"), -1;
	if (bind_int(s, st, 1, cp->size, err) != 0 ||
	    bind_blob(s, st, 2, cp->root, 32, err) != 0 ||
	    bind_text(s, st, 3, cp->origin, err) != 0 ||
	    bind_text(s, st, 4, cp->note, err) != 0 ||
	    bind_int(s, st, 5, cp->created, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		(void)tk_fail(err, TK_ERR_WRONG_STATE, "a checkpoint of size %"
		    PRId64 " is already signed", cp->size);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, "checkpoint write");
		goto out;
	}
	ret = 0;
out:
	st_done(st);
	return ret;
}

static int
read_checkpoint(tk_store *s, sqlite3_stmt *st, tk_checkpoint_row *r,
    tk_error *err)
{
	memset(r, 0, sizeof(*r));
	if (col_int(s, st, 0, &r->size, "checkpoint size", err) != 0 ||
	    col_hash(s, st, 1, r->root, "checkpoint root", err) != 0 ||
	    col_text(s, st, 2, r->origin, sizeof(r->origin),
	    "checkpoint origin", err) != 0 ||
	    col_text_dup(s, st, 3, 64 * 1024, &r->note, "checkpoint note",
	    err) != 0 ||
	    col_int(s, st, 4, &r->created, "checkpoint created", err) != 0) {
		tk_checkpoint_row_clear(r);
		return -1;
	}
	return 0;
}

/* One checkpoint from a single-row statement already bound. */
static int
checkpoint_one(tk_store *s, enum st_id id, tk_checkpoint_row *r,
    tk_error *err)
{
	sqlite3_stmt *st = s->st[id];
	int rc, ret = -1;

	memset(r, 0, sizeof(*r));
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "no checkpoint has been "
		    "signed yet");
	else if (rc != SQLITE_ROW)
		(void)db_fail(s, err, "checkpoint read");
	else
		ret = read_checkpoint(s, st, r, err);
	st_done(st);
	return ret;
}

int
tk_store_checkpoint_latest(tk_store *s, tk_checkpoint_row *r,
    tk_error *err)
{
	return checkpoint_one(s, ST_CP_LATEST, r, err);
}

int
tk_store_checkpoint_get(tk_store *s, int64_t size, tk_checkpoint_row *r,
    tk_error *err)
{
	memset(r, 0, sizeof(*r));
	if (bind_int(s, s->st[ST_CP_GET], 1, size, err) != 0) {
		st_done(s->st[ST_CP_GET]);
		return -1;
	}
	return checkpoint_one(s, ST_CP_GET, r, err);
}

struct cp_rows {
	tk_checkpoint_cb cb;
	void *arg;
};

static int
cp_row(tk_store *s, sqlite3_stmt *st, void *ctx, tk_error *err)
{
	struct cp_rows *c = ctx;
	tk_checkpoint_row r;
	int rc;

	if (read_checkpoint(s, st, &r, err) != 0)
		return -1;
	rc = c->cb(c->arg, &r);
	tk_checkpoint_row_clear(&r);
	return rc != 0;
}

int
tk_store_checkpoint_list(tk_store *s, tk_checkpoint_cb cb, void *arg,
    tk_error *err)
{
	struct cp_rows c = {cb, arg};

	if (not_reentered(s, ST_CP_LIST, "checkpoint list", err) != 0)
		return -1;
	return st_rows(s, ST_CP_LIST, "checkpoint", cp_row, &c, err);
}

int
tk_store_cosig_put(tk_store *s, int64_t size, const char *witness,
    const char *line, tk_time now, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_COSIG_PUT];
	int ret = -1;

	if (arg_ok(witness, 1024, false, "witness", err) != 0 ||
	    arg_ok(line, 4096, false, "cosignature", err) != 0)
		return -1;
	if (bind_int(s, st, 1, size, err) != 0 ||
	    bind_text(s, st, 2, witness, err) != 0 ||
	    bind_text(s, st, 3, line, err) != 0 ||
	    bind_int(s, st, 4, now, err) != 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		(void)db_fail(s, err, "cosignature write");
		goto out;
	}
	ret = 0;
out:
	st_done(st);
	return ret;
}

struct cosig_rows {
	tk_cosig_cb cb;
	void *arg;
};

static int
cosig_row(tk_store *s, sqlite3_stmt *st, void *ctx, tk_error *err)
{
	struct cosig_rows *c = ctx;
	char witness[1024], line[4096];

	if (col_text(s, st, 0, witness, sizeof(witness), "witness", err) != 0 ||
	    col_text(s, st, 1, line, sizeof(line), "cosignature", err) != 0)
		return -1;
	return c->cb(c->arg, witness, line) != 0;
}

int
tk_store_cosig_list(tk_store *s, int64_t size, tk_cosig_cb cb, void *arg,
    tk_error *err)
{
	struct cosig_rows c = {cb, arg};

	if (not_reentered(s, ST_COSIG_LIST, "cosignature list", err) != 0)
		return -1;
	if (bind_int(s, s->st[ST_COSIG_LIST], 1, size, err) != 0) {
		st_done(s->st[ST_COSIG_LIST]);
		return -1;
	}
	return st_rows(s, ST_COSIG_LIST, "cosignature", cosig_row, &c, err);
}

int
tk_store_audit_key_put(tk_store *s, const char *origin,
    const char *verifier, tk_time now, tk_error *err)
{
	sqlite3_stmt *st;
	int ret = -1;

	if (arg_ok(origin, TK_TEXT_MAX, false, "key origin", err) != 0 ||
	    arg_ok(verifier, TK_TEXT_MAX, false, "verifier key", err) != 0)
		return -1;
	st = s->st[ST_KEY_RETIRE];
	if (bind_int(s, st, 1, now, err) != 0 ||
	    sqlite3_step(st) != SQLITE_DONE) {
		(void)db_fail(s, err, "key retire");
		st_done(st);
		return -1;
	}
	st_done(st);
	st = s->st[ST_KEY_PUT];
	if (bind_text(s, st, 1, origin, err) != 0 ||
	    bind_text(s, st, 2, verifier, err) != 0 ||
	    bind_int(s, st, 3, now, err) != 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_errcode(s->db) == SQLITE_CONSTRAINT)
			(void)tk_fail(err, TK_ERR_WRONG_STATE, "origin %s was "
			    "used by an earlier key; choose a new origin",
			    origin);
		else
			(void)db_fail(s, err, "key write");
		goto out;
	}
	ret = 0;
out:
	st_done(st);
	return ret;
}

struct key_rows {
	tk_audit_key_cb cb;
	void *arg;
};

static int
key_row(tk_store *s, sqlite3_stmt *st, void *ctx, tk_error *err)
{
	struct key_rows *c = ctx;
	tk_audit_key_row k;

	memset(&k, 0, sizeof(k));
	if (col_text(s, st, 0, k.origin, sizeof(k.origin), "key origin",
	    err) != 0 || col_text(s, st, 1, k.verifier, sizeof(k.verifier),
	    "verifier key", err) != 0 ||
	    col_int(s, st, 2, &k.created, "key created", err) != 0 ||
	    col_int(s, st, 3, &k.retired, "key retired", err) != 0)
		return -1;
	return c->cb(c->arg, &k) != 0;
}

int
tk_store_audit_key_list(tk_store *s, tk_audit_key_cb cb, void *arg,
    tk_error *err)
{
	struct key_rows c = {cb, arg};

	if (not_reentered(s, ST_KEY_LIST, "key list", err) != 0)
		return -1;
	return st_rows(s, ST_KEY_LIST, "key", key_row, &c, err);
}

/* ------------------------------------------------------------------ */
/* migration from schema 1 (hash chain) to 2 (Merkle tree) */

/* Rewrites every event's hash as its RFC 6962 leaf hash and builds the
 * tiles, inside the caller's transaction. Nothing else changes: the
 * bodies, the leaves, stay exactly as they were. */
static int
migrate_v2(tk_store *s, tk_error *err)
{
	sqlite3_stmt *rd = NULL, *up = NULL;
	unsigned char h[32];
	int rc, ret = -1;

	if (sqlite3_prepare_v2(s->db, "SELECT seq, body FROM events ORDER BY "
	    "seq", -1, &rd, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "UPDATE events SET hash = ?2 WHERE "
	    "seq = ?1", -1, &up, NULL) != SQLITE_OK) {
		(void)db_fail(s, err, "prepare migration");
		goto out;
	}
	s->head_seq = 0;
	s->pend_n = 0;
	while ((rc = sqlite3_step(rd)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(rd, 0);
		const unsigned char *b = sqlite3_column_text(rd, 1);
		int n = sqlite3_column_bytes(rd, 1);

		if (seq != s->head_seq + 1 || b == NULL) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: event %"
			    PRId64 " is missing or empty; the old chain is "
			    "broken, so it is not migrated (run the older "
			    "twokey's `audit verify`)", s->path,
			    s->head_seq + 1);
			goto out;
		}
		if (tk_merkle_leaf_hash(b, (size_t)n, h) != 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "cannot hash");
			goto out;
		}
		if (pend_push(s, seq, h, err) != 0)
			goto out;
		if (sqlite3_bind_int64(up, 1, seq) != SQLITE_OK ||
		    sqlite3_bind_blob(up, 2, h, 32, SQLITE_STATIC) !=
		    SQLITE_OK || sqlite3_step(up) != SQLITE_DONE) {
			(void)db_fail(s, err, "migrate event");
			goto out;
		}
		(void)sqlite3_reset(up);
		s->head_seq = seq;
	}
	if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, "read events");
		goto out;
	}
	if (s->pend_n > 0 && log_take_pending(s, err) != 0)
		goto out;
	if (exec_sql(s, "UPDATE meta SET value = '2' WHERE key = "
	    "'schema_version'", err, "set schema version") != 0)
		goto out;
	ret = 0;
out:
	s->pend_n = 0;
	(void)sqlite3_finalize(rd);
	(void)sqlite3_finalize(up);
	return ret;
}

/* ------------------------------------------------------------------ */
/* transactions */

int
tk_store_begin(tk_store *s, tk_error *err)
{
	int64_t dv;

	if (!sqlite3_get_autocommit(s->db))
		return tk_fail(err, TK_ERR_INTERNAL, "store: a transaction is "
		    "already open"), -1;
	if (st_exec(s, ST_BEGIN, err, "begin") != 0)
		return -1;
	/* We now hold the write lock: if anyone else committed since we
	 * last looked, our chain head may be stale. */
	if (read_data_version(s, &dv, err) != 0) {
		tk_store_rollback(s);
		return -1;
	}
	if (dv != s->data_version)
		s->head_known = false;
	s->data_version = dv;
	s->pend_n = 0;
	s->sp_pend = 0;
	return 0;
}

int
tk_store_commit(tk_store *s, tk_error *err)
{
	if (s->pend_n > 0 && log_take_pending(s, err) != 0) {
		tk_store_rollback(s);
		return -1;
	}
	if (st_exec(s, ST_COMMIT, err, "commit") != 0) {
		tk_store_rollback(s);
		return -1;
	}
	/* Durable now. Should the tree refuse the news, rebuild it from
	 * the tiles just committed on next use. */
	if (s->log != NULL && tk_tlog_committed(s->log, err) != 0)
		log_forget(s);
	return 0;
}

void
tk_store_rollback(tk_store *s)
{
	tk_error ignored;

	s->head_known = false;
	s->pend_n = 0;
	s->sp_pend = 0;
	log_forget(s);
	if (sqlite3_get_autocommit(s->db))
		return; /* nothing open (SQLite may have rolled back itself) */
	if (st_exec(s, ST_ROLLBACK, &ignored, "rollback") != 0) {
		/* Last resort: the statement cache may be the problem. */
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

int
tk_store_reader(tk_store *s, int cache_kb, tk_error *err)
{
	char sql[96];
	int n;

	if (cache_kb < 64 || cache_kb > 1024 * 1024)
		return tk_fail(err, TK_ERR_INVALID, "store: reader cache of "
		    "%d KiB is out of range", cache_kb), -1;
	n = snprintf(sql, sizeof(sql), "PRAGMA query_only=ON; "
	    "PRAGMA cache_size=-%d;", cache_kb);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return tk_fail(err, TK_ERR_INTERNAL, "store: pragma too long"),
		    -1;
	return exec_sql(s, sql, err, "reader pragmas");
}

int
tk_store_read_begin(tk_store *s, tk_error *err)
{
	if (!sqlite3_get_autocommit(s->db))
		return tk_fail(err, TK_ERR_INTERNAL, "store: a transaction is "
		    "already open"), -1;
	return st_exec(s, ST_BEGIN_READ, err, "begin read");
}

void
tk_store_read_end(tk_store *s)
{
	tk_error ignored;

	if (sqlite3_get_autocommit(s->db))
		return;
	if (st_exec(s, ST_COMMIT, &ignored, "end read") != 0 &&
	    st_exec(s, ST_ROLLBACK, &ignored, "end read") != 0)
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

bool
tk_store_in_transaction(tk_store *s)
{
	return sqlite3_get_autocommit(s->db) == 0;
}

int
tk_store_data_version(tk_store *s, int64_t *out, tk_error *err)
{
	return read_data_version(s, out, err);
}

int
tk_store_savepoint(tk_store *s, tk_error *err)
{
	if (sqlite3_get_autocommit(s->db))
		return tk_fail(err, TK_ERR_INTERNAL, "store: a savepoint needs "
		    "an open transaction"), -1;
	if (st_exec(s, ST_SAVEPOINT, err, "savepoint") != 0)
		return -1;
	s->sp_pend = s->pend_n;
	return 0;
}

int
tk_store_release(tk_store *s, tk_error *err)
{
	if (sqlite3_get_autocommit(s->db))
		return tk_fail(err, TK_ERR_INTERNAL, "store %s: the transaction "
		    "was rolled back", s->path), -1;
	return st_exec(s, ST_RELEASE, err, "release savepoint");
}

int
tk_store_rollback_to(tk_store *s, tk_error *err)
{
	/* Events appended since the savepoint are gone: re-read the chain
	 * head (inside the transaction) before the next append. */
	s->head_known = false;
	if (sqlite3_get_autocommit(s->db))
		return tk_fail(err, TK_ERR_INTERNAL, "store %s: the transaction "
		    "was rolled back", s->path), -1;
	if (st_exec(s, ST_ROLLBACK_TO, err, "rollback to savepoint") != 0 ||
	    st_exec(s, ST_RELEASE, err, "release savepoint") != 0)
		return -1;
	s->pend_n = s->sp_pend; /* those events are gone */
	return 0;
}

/* ------------------------------------------------------------------ */
/* configuration */

int
tk_store_config_put(tk_store *s, const char *name, const char *text,
    tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_CONFIG_PUT];
	int rc;

	if (arg_ok(name, TK_NAME_MAX, false, "config name", err) != 0 ||
	    arg_ok(text, CONFIG_MAX, true, "config text", err) != 0)
		return -1;
	if (bind_text(s, st, 1, name, err) != 0 ||
	    bind_text(s, st, 2, text, err) != 0) {
		st_done(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, "config put");
		st_done(st);
		return -1;
	}
	st_done(st);
	return 0;
}

int
tk_store_config_get(tk_store *s, const char *name, char **text,
    tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_CONFIG_GET];
	int rc, ret = -1;

	*text = NULL;
	if (arg_ok(name, TK_NAME_MAX, false, "config name", err) != 0)
		return -1;
	if (bind_text(s, st, 1, name, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "no %s has been loaded "
		    "into %s; run `twokey init` first", name, s->path);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)db_fail(s, err, "config get");
		goto out;
	}
	ret = col_text_dup(s, st, 0, CONFIG_MAX, text, "config text", err);
out:
	st_done(st);
	return ret;
}

/* ------------------------------------------------------------------ */
/* cases */

int
tk_store_case_put(tk_store *s, const char *id, const char *subject,
    const char *family, const char *state, tk_time updated,
    const json_t *record, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_CASE_PUT];
	char *text;
	int rc, ret = -1;

	if (arg_ok(id, TK_ID_MAX, false, "case id", err) != 0 ||
	    arg_ok(subject, TK_ID_MAX, false, "case subject", err) != 0 ||
	    arg_ok(family, TK_NAME_MAX, false, "case family", err) != 0 ||
	    arg_ok(state, TK_NAME_MAX, false, "case state", err) != 0)
		return -1;
	if (!json_is_object(record))
		return tk_fail(err, TK_ERR_INVALID, "store: case record is not "
		    "a JSON object"), -1;
	text = json_dumps(record, JSON_COMPACT);
	if (text == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "store: cannot encode the "
		    "case record (out of memory or invalid text)"), -1;
	if (strlen(text) > RECORD_MAX) {
		(void)tk_fail(err, TK_ERR_TOO_LARGE, "store: case record is "
		    "larger than %d bytes", RECORD_MAX);
		free(text);
		return -1;
	}
	if (bind_text(s, st, 1, id, err) != 0 ||
	    bind_text(s, st, 2, subject, err) != 0 ||
	    bind_text(s, st, 3, family, err) != 0 ||
	    bind_text(s, st, 4, state, err) != 0 ||
	    bind_int(s, st, 5, updated, err) != 0 ||
	    bind_text(s, st, 6, text, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, "case put");
		goto out;
	}
	ret = 0;
out:
	st_done(st);
	free(text);
	return ret;
}

/* Parses a stored case record, which must be a JSON object. */
static json_t *
parse_record(tk_store *s, const char *text, tk_error *err)
{
	json_error_t jerr;
	json_t *j;

	j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: a case record "
		    "is not a JSON object (database edited?)", s->path);
		return NULL;
	}
	return j;
}

int
tk_store_case_get(tk_store *s, const char *id, json_t **record,
    tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_CASE_GET];
	char *text = NULL;
	int rc, ret = -1;

	*record = NULL;
	if (arg_ok(id, TK_ID_MAX, false, "case id", err) != 0)
		return -1;
	if (bind_text(s, st, 1, id, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "no case %s", id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)db_fail(s, err, "case get");
		goto out;
	}
	if (col_text_dup(s, st, 0, RECORD_MAX, &text, "case record", err) != 0)
		goto out;
	*record = parse_record(s, text, err);
	if (*record != NULL)
		ret = 0;
out:
	st_done(st);
	free(text);
	return ret;
}

int
tk_store_case_find_open(tk_store *s, const char *subject,
    const char *family, char *id_out, size_t id_size, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_CASE_FIND_OPEN];
	int rc, ret = -1;

	if (id_size > 0)
		id_out[0] = '\0';
	if (arg_ok(subject, TK_ID_MAX, false, "subject", err) != 0 ||
	    arg_ok(family, TK_NAME_MAX, false, "family", err) != 0)
		return -1;
	if (bind_text(s, st, 1, subject, err) != 0 ||
	    bind_text(s, st, 2, family, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "no open %s case for %s",
		    family, subject);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)db_fail(s, err, "case find");
		goto out;
	}
	ret = col_text(s, st, 0, id_out, id_size, "case id", err);
out:
	st_done(st);
	return ret;
}

static sqlite3_stmt *
list_stmt(tk_store *s, int variant, tk_error *err)
{
	char sql[512];
	int n;

	if (s->list[variant] != NULL)
		return s->list[variant];
	n = snprintf(sql, sizeof(sql),
	    "SELECT rowid, record FROM cases WHERE rowid > ?1%s%s%s "
	    "ORDER BY rowid LIMIT ?5",
	    (variant & LIST_QUEUE) ? " AND family = ?2" : "",
	    (variant & LIST_STATE_ONE) ? " AND state = ?3" :
	    (variant & LIST_STATE_OPEN) ? " AND state IN " OPEN_STATES : "",
	    (variant & LIST_SUBJECT) ? " AND subject = ?4" : "");
	if (n < 0 || (size_t)n >= sizeof(sql)) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: list query too "
		    "long");
		return NULL;
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &s->list[variant], NULL) != SQLITE_OK) {
		(void)db_fail(s, err, "prepare list");
		s->list[variant] = NULL;
		return NULL;
	}
	return s->list[variant];
}

int
tk_store_case_list(tk_store *s, const tk_case_filter *f, tk_case_cb cb,
    void *arg, tk_error *err)
{
	sqlite3_stmt *st;
	int variant = 0, rc, ret = -1;
	int64_t rowid;
	char *text;
	json_t *j;

	if (f->queue != NULL) {
		variant |= LIST_QUEUE;
		if (arg_ok(f->queue, TK_NAME_MAX, false, "queue", err) != 0)
			return -1;
	}
	if (f->subject != NULL) {
		variant |= LIST_SUBJECT;
		if (arg_ok(f->subject, TK_ID_MAX, false, "subject", err) != 0)
			return -1;
	}
	if (f->state != NULL) {
		if (arg_ok(f->state, TK_NAME_MAX, false, "state", err) != 0)
			return -1;
		variant |= strcmp(f->state, "open") == 0 ? LIST_STATE_OPEN :
		    LIST_STATE_ONE;
	}
	if (s->list_busy[variant])
		return tk_fail(err, TK_ERR_INTERNAL, "store: case list called "
		    "from its own callback"), -1;
	st = list_stmt(s, variant, err);
	if (st == NULL)
		return -1;
	if (bind_int(s, st, 1, f->after, err) != 0 ||
	    ((variant & LIST_QUEUE) && bind_text(s, st, 2, f->queue, err)) ||
	    ((variant & LIST_STATE_ONE) &&
	    bind_text(s, st, 3, f->state, err)) ||
	    ((variant & LIST_SUBJECT) &&
	    bind_text(s, st, 4, f->subject, err)) ||
	    bind_int(s, st, 5, f->limit > 0 ? f->limit : 100, err) != 0) {
		st_done(st);
		return -1;
	}
	s->list_busy[variant] = true;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			(void)db_fail(s, err, "case list");
			goto out;
		}
		if (col_int(s, st, 0, &rowid, "case rowid", err) != 0 ||
		    col_text_dup(s, st, 1, RECORD_MAX, &text, "case record",
		    err) != 0)
			goto out;
		j = parse_record(s, text, err);
		free(text);
		if (j == NULL)
			goto out;
		rc = cb(arg, rowid, j);
		json_decref(j);
		if (rc != 0)
			break;
	}
	ret = 0;
out:
	s->list_busy[variant] = false;
	st_done(st);
	return ret;
}

/* ------------------------------------------------------------------ */
/* events */

void
tk_event_row_clear(tk_event_row *r)
{
	if (r == NULL)
		return;
	free(r->body);
	r->body = NULL;
}

/* Makes sure head_seq/head_hash describe the last stored event. Called
 * inside a write transaction. */
static int
load_head(tk_store *s, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_EVENT_HEAD];
	int rc, ret = -1;

	if (s->head_known)
		return 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		s->head_seq = 0;
	} else if (rc == SQLITE_ROW) {
		if (col_int(s, st, 0, &s->head_seq, "event seq", err) != 0)
			goto out;
		if (s->head_seq < 1) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: last "
			    "event has seq %" PRId64 " (database edited?)",
			    s->path, s->head_seq);
			goto out;
		}
	} else {
		(void)db_fail(s, err, "event head");
		goto out;
	}
	s->head_known = true;
	ret = 0;
out:
	st_done(st);
	return ret;
}

/* The append proper; the caller holds a write transaction. On success
 * *body_out is the malloc'd body. */
static int
append_locked(tk_store *s, tk_time ts, const char *case_id,
    const char *kind, const char *actor, bool alert, const json_t *data,
    int64_t *seq_out, char **body_out, unsigned char hash[32],
    tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_EVENT_INSERT];
	int64_t seq;
	char *body;
	size_t len;
	int rc;

	if (load_head(s, err) != 0)
		return -1;
	seq = s->head_seq + 1;
	body = tk_chain_body(seq, ts, case_id, kind, actor, alert, data);
	if (body == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "store: cannot encode "
		    "event %s (out of memory or invalid text)", kind), -1;
	len = strlen(body);
	if (len > BODY_MAX) {
		free(body);
		return tk_fail(err, TK_ERR_TOO_LARGE, "store: event %s is "
		    "larger than %d bytes", kind, BODY_MAX), -1;
	}
	if (tk_merkle_leaf_hash(body, len, hash) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: cannot hash event");
		goto fail;
	}
	if (pend_push(s, seq, hash, err) != 0)
		goto fail;
	if (bind_int(s, st, 1, seq, err) != 0 ||
	    bind_int(s, st, 2, ts, err) != 0 ||
	    bind_text(s, st, 3, case_id, err) != 0 ||
	    bind_text(s, st, 4, kind, err) != 0 ||
	    bind_text(s, st, 5, actor, err) != 0 ||
	    bind_int(s, st, 6, alert ? 1 : 0, err) != 0 ||
	    bind_text(s, st, 7, body, err) != 0 ||
	    bind_blob(s, st, 8, hash, 32, err) != 0) {
		s->pend_n--;
		goto fail;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, "event append");
		s->pend_n--;
		goto fail;
	}
	st_done(st);
	s->head_seq = seq;
	*seq_out = seq;
	*body_out = body;
	return 0;
fail:
	st_done(st);
	s->head_known = false;
	free(body);
	return -1;
}

int
tk_store_event_append(tk_store *s, tk_time ts, const char *case_id,
    const char *kind, const char *actor, bool alert, const json_t *data,
    tk_event_row *row, tk_error *err)
{
	unsigned char hash[32];
	int64_t seq;
	char *body;
	bool own_tx;

	if (case_id == NULL)
		case_id = "";
	if (actor == NULL)
		actor = "";
	if (arg_ok(case_id, TK_ID_MAX, true, "event case id", err) != 0 ||
	    arg_ok(kind, TK_NAME_MAX, false, "event kind", err) != 0 ||
	    arg_ok(actor, TK_ID_MAX, true, "event actor", err) != 0)
		return -1;
	if (data != NULL && !json_is_object(data))
		return tk_fail(err, TK_ERR_INVALID, "store: event data must be "
		    "a JSON object"), -1;
	own_tx = sqlite3_get_autocommit(s->db) != 0;
	if (own_tx && tk_store_begin(s, err) != 0)
		return -1;
	if (append_locked(s, ts, case_id, kind, actor, alert, data, &seq,
	    &body, hash, err) != 0) {
		if (own_tx)
			tk_store_rollback(s);
		return -1;
	}
	if (own_tx && tk_store_commit(s, err) != 0) {
		free(body);
		return -1;
	}
	if (row == NULL) {
		free(body);
		return 0;
	}
	memset(row, 0, sizeof(*row));
	row->seq = seq;
	row->ts = ts;
	(void)tk_strlcpy(row->case_id, case_id, sizeof(row->case_id));
	(void)tk_strlcpy(row->kind, kind, sizeof(row->kind));
	(void)tk_strlcpy(row->actor, actor, sizeof(row->actor));
	row->alert = alert;
	row->body = body;
	memcpy(row->hash, hash, 32);
	return 0;
}

/* Reads and validates one event row from a SELECT of seq, ts, case_id,
 * kind, actor, alert, body, hash. */
static int
read_event(tk_store *s, sqlite3_stmt *st, tk_event_row *r, tk_error *err)
{
	int64_t alert;

	memset(r, 0, sizeof(*r));
	if (col_int(s, st, 0, &r->seq, "event seq", err) != 0)
		return -1;
	if (r->seq < 1) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: event seq %"
		    PRId64 " is not positive (database edited?)", s->path,
		    r->seq);
		return -1;
	}
	if (col_int(s, st, 1, &r->ts, "event ts", err) != 0 ||
	    col_text(s, st, 2, r->case_id, sizeof(r->case_id),
	    "event case_id", err) != 0 ||
	    col_text(s, st, 3, r->kind, sizeof(r->kind), "event kind",
	    err) != 0 ||
	    col_text(s, st, 4, r->actor, sizeof(r->actor), "event actor",
	    err) != 0 ||
	    col_int(s, st, 5, &alert, "event alert", err) != 0 ||
	    col_hash(s, st, 7, r->hash, "event hash", err) != 0)
		goto bad;
	if (alert != 0 && alert != 1) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store %s: event alert is "
		    "not 0 or 1 (database edited?)", s->path);
		goto bad;
	}
	r->alert = alert == 1;
	if (col_text_dup(s, st, 6, BODY_MAX, &r->body, "event body", err) != 0)
		goto bad;
	return 0;
bad:
	/* Name the row: tk_chain_verify reports it as the first bad seq. */
	{
		char msg[440];

		if (err != NULL) {
			(void)tk_strlcpy(msg, err->msg, sizeof(msg));
			(void)snprintf(err->msg, sizeof(err->msg), "seq %" PRId64
			    ": %.439s", r->seq, msg);
		}
	}
	return -1;
}

struct event_rows {
	tk_event_cb cb;
	void *arg;
};

static int
event_row(tk_store *s, sqlite3_stmt *st, void *ctx, tk_error *err)
{
	struct event_rows *c = ctx;
	tk_event_row row;
	int rc;

	if (read_event(s, st, &row, err) != 0)
		return -1;
	rc = c->cb(c->arg, &row);
	tk_event_row_clear(&row);
	return rc != 0;
}

static int
event_iterate(tk_store *s, enum st_id id, tk_event_cb cb, void *arg,
    tk_error *err)
{
	struct event_rows c = {cb, arg};

	return st_rows(s, id, "event", event_row, &c, err);
}

int
tk_store_event_list_case(tk_store *s, const char *case_id,
    tk_event_cb cb, void *arg, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_EVENT_LIST_CASE];

	if (arg_ok(case_id, TK_ID_MAX, true, "case id", err) != 0)
		return -1;
	if (not_reentered(s, ST_EVENT_LIST_CASE, "event list", err) != 0)
		return -1;
	if (bind_text(s, st, 1, case_id, err) != 0) {
		st_done(st);
		return -1;
	}
	return event_iterate(s, ST_EVENT_LIST_CASE, cb, arg, err);
}

/* Bytes of the file a whole-log walk maps (SQLite's default cap). */
#define LEAF_MMAP "2147418112"

struct leaf_rows {
	tk_leaf_cb cb;
	void *arg;
};

/* A row as a tk_leaf: pointers into it, the body read as a blob (no
 * copy, no conversion: the bytes as stored). Each column is fetched
 * once as a value and read from there: a walk over millions of rows
 * spent a tenth of its time in the per-call overhead of the column
 * functions. (These values are unprotected, which only matters with a
 * connection shared by threads; the store's is not.) */
static int
leaf_row(tk_store *s, sqlite3_stmt *st, void *ctx, tk_error *err)
{
	struct leaf_rows *c = ctx;
	sqlite3_value *col[8];
	const unsigned char *body, *hash;
	int64_t seq;
	tk_leaf l;
	int n;

	for (int i = 0; i < 8; i++)
		col[i] = sqlite3_column_value(st, i);
	seq = sqlite3_value_int64(col[0]);
	if (sqlite3_value_type(col[1]) != SQLITE_TEXT ||
	    sqlite3_value_type(col[2]) != SQLITE_BLOB ||
	    sqlite3_value_type(col[3]) != SQLITE_INTEGER ||
	    sqlite3_value_type(col[4]) != SQLITE_TEXT ||
	    sqlite3_value_type(col[5]) != SQLITE_TEXT ||
	    sqlite3_value_type(col[6]) != SQLITE_TEXT ||
	    sqlite3_value_type(col[7]) != SQLITE_INTEGER)
		return tk_fail(err, TK_ERR_INTERNAL, "store %s: seq %" PRId64
		    ": a column has the wrong type (database edited?)",
		    s->path, seq), -1;
	body = sqlite3_value_blob(col[1]);
	n = sqlite3_value_bytes(col[1]);
	hash = sqlite3_value_blob(col[2]);
	if ((body == NULL && n != 0) || n > BODY_MAX ||
	    sqlite3_value_bytes(col[2]) != 32 || hash == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "store %s: seq %" PRId64
		    ": the body is too long or the hash is not a 32-byte hash "
		    "(database edited?)", s->path, seq), -1;
	l.seq = seq;
	l.ts = sqlite3_value_int64(col[3]);
	l.case_id = (const char *)sqlite3_value_text(col[4]);
	l.kind = (const char *)sqlite3_value_text(col[5]);
	l.actor = (const char *)sqlite3_value_text(col[6]);
	l.alert = sqlite3_value_int64(col[7]) != 0;
	l.body = (const char *)body;
	l.len = (size_t)n;
	l.hash = hash;
	if (l.case_id == NULL || l.kind == NULL || l.actor == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "store %s: out of memory "
		    "reading event %" PRId64, s->path, seq), -1;
	return c->cb(c->arg, &l) != 0;
}

int
tk_store_map_reads(tk_store *s, bool on, tk_error *err)
{
	if (!sqlite3_get_autocommit(s->db))
		return tk_fail(err, TK_ERR_INTERNAL, "store: the file's map "
		    "cannot change inside a transaction"), -1;
	return exec_sql(s, on ? "PRAGMA mmap_size=" LEAF_MMAP :
	    "PRAGMA mmap_size=0", err, "mmap_size");
}

sqlite3_stmt *
tk_store_stmt(tk_store *s, const char *sql, tk_error *err)
{
	sqlite3_stmt *st = NULL;
	int i;

	for (i = 0; i < s->ncache; i++)
		if (s->cache_sql[i] == sql)
			return s->cache_st[i];
	if (s->ncache >= STMT_CACHE) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "store: more than %d cached "
		    "statements", STMT_CACHE);
		return NULL;
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &st, NULL) != SQLITE_OK) {
		(void)db_fail(s, err, "prepare");
		(void)sqlite3_finalize(st);
		return NULL;
	}
	s->cache_sql[s->ncache] = sql;
	s->cache_st[s->ncache] = st;
	s->ncache++;
	return st;
}

void
tk_store_stmt_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
}

const char *
tk_store_path(const tk_store *s)
{
	return s->path;
}

int
tk_store_event_leaves(tk_store *s, int64_t from, int64_t limit,
    tk_leaf_cb cb, void *arg, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_EVENT_LEAF];
	struct leaf_rows c = {cb, arg};
	bool mapped = false;
	int rc;

	if (not_reentered(s, ST_EVENT_LEAF, "leaf scan", err) != 0)
		return -1;
	if (bind_int(s, st, 1, from, err) != 0 ||
	    bind_int(s, st, 2, limit > 0 ? limit : -1, err) != 0) {
		st_done(st);
		return -1;
	}
	/* A walk over the whole log reads the file through a memory map
	 * for its duration (SQLite caps the map at 2 GB here): pages are
	 * not copied out of the kernel one read at a time, which cost a
	 * third of the walk. Outside a transaction only, since the setting
	 * takes effect at the next one; a map SQLite cannot set up just
	 * means plain reads. */
	if (limit <= 0 && sqlite3_get_autocommit(s->db) &&
	    sqlite3_exec(s->db, "PRAGMA mmap_size=" LEAF_MMAP, NULL, NULL,
	    NULL) == SQLITE_OK)
		mapped = true;
	rc = st_rows(s, ST_EVENT_LEAF, "event", leaf_row, &c, err);
	if (mapped)
		(void)sqlite3_exec(s->db, "PRAGMA mmap_size=0", NULL, NULL,
		    NULL); /* (the reads are done; a failure leaves a map) */
	return rc;
}

int
tk_store_event_scan(tk_store *s, int64_t from, int64_t limit,
    tk_event_cb cb, void *arg, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_EVENT_SCAN];

	if (not_reentered(s, ST_EVENT_SCAN, "event scan", err) != 0)
		return -1;
	if (bind_int(s, st, 1, from, err) != 0 ||
	    bind_int(s, st, 2, limit > 0 ? limit : -1, err) != 0) {
		st_done(st);
		return -1;
	}
	return event_iterate(s, ST_EVENT_SCAN, cb, arg, err);
}

/* ------------------------------------------------------------------ */
/* tokens */

int
tk_store_token_put(tk_store *s, const char *login,
    const unsigned char hash[32], tk_time now, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_TOKEN_PUT];
	int rc, ret = -1;

	if (arg_ok(login, TK_ID_MAX, false, "login", err) != 0)
		return -1;
	if (bind_blob(s, st, 1, hash, 32, err) != 0 ||
	    bind_text(s, st, 2, login, err) != 0 ||
	    bind_int(s, st, 3, now, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, "token put");
		goto out;
	}
	ret = 0;
out:
	st_done(st);
	return ret;
}

int
tk_store_token_lookup(tk_store *s, const unsigned char hash[32],
    char *login_out, size_t login_size, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_TOKEN_LOOKUP];
	int rc, ret = -1;

	if (login_size > 0)
		login_out[0] = '\0';
	if (bind_blob(s, st, 1, hash, 32, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "unknown or revoked "
		    "token");
		goto out;
	}
	if (rc != SQLITE_ROW) {
		(void)db_fail(s, err, "token lookup");
		goto out;
	}
	ret = col_text(s, st, 0, login_out, login_size, "token login", err);
out:
	st_done(st);
	return ret;
}

int
tk_store_token_revoke_user(tk_store *s, const char *login, tk_error *err)
{
	sqlite3_stmt *st = s->st[ST_TOKEN_REVOKE];
	int rc, ret = -1;

	if (arg_ok(login, TK_ID_MAX, false, "login", err) != 0)
		return -1;
	if (bind_text(s, st, 1, login, err) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		(void)db_fail(s, err, "token revoke");
		goto out;
	}
	ret = 0;
out:
	st_done(st);
	return ret;
}
