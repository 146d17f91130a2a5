/*
 * log.c - the audit log as an investigator uses it: the signing key file,
 * signed checkpoints (and their mirror outside the database), full
 * verification of a store or an export bundle, and case receipts.
 *
 * Owns: the rules in log.h. The tree itself is the store's (tiles
 * written with the events); the formats are note.c's and merkle.c's.
 * Verification recomputes every leaf and root from the stored bytes and
 * believes a root only when a trusted key signed it.
 */
#include "audit/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit/chain.h"
#include "audit/merkle.h"
#include "core/b64.h"
#include "store/store_pages.h"

#define KEYFILE_MAX 1024
#define PROOF_MAX TK_MERKLE_MAX_PROOF
#define LINE_MAX_BYTES (2 * 1024 * 1024)

/* ---- small helpers ------------------------------------------------------ */

int
tk_audit_key_path(const char *db, char *out, size_t size, tk_error *err)
{
	return tk_db_file_path(db, ".audit-key", out, size, err);
}

int
tk_audit_mirror_path(const char *db, char *out, size_t size, tk_error *err)
{
	return tk_db_file_path(db, ".checkpoints", out, size, err);
}

/* base64 of n bytes as a malloc'd string, or NULL (out of memory). */
static char *
b64_encode(const unsigned char *p, size_t n)
{
	char *out;

	if (n > SIZE_MAX / 2)
		return NULL;
	out = malloc(TK_B64_LEN(n) + 1);
	if (out != NULL)
		tk_b64_encode(p, n, out);
	return out;
}

/* Strict base64 (core/b64.h) decoded into a malloc'd buffer; NULL when
 * malformed or out of memory. */
static unsigned char *
b64_decode(const char *s, size_t *n_out)
{
	size_t len = strlen(s);
	unsigned char *out = malloc(len / 4 * 3 + 1);

	if (out != NULL && tk_b64_decode(s, len, out, len / 4 * 3,
	    n_out) != 0) {
		free(out);
		out = NULL;
	}
	return out;
}

/* Decodes base64 that must be exactly 32 bytes. */
static int
b64_hash(const char *s, unsigned char out[32])
{
	size_t n;

	if (s == NULL || tk_b64_decode(s, strlen(s), out, 32, &n) != 0 ||
	    n != 32)
		return -1;
	return 0;
}

static void
report_bad(tk_audit_report *rep, int64_t seq, const char *kind,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
report_bad(tk_audit_report *rep, int64_t seq, const char *kind,
    const char *fmt, ...)
{
	va_list ap;

	if (!rep->ok)
		return; /* the first problem is the one reported */
	rep->ok = false;
	rep->bad_seq = seq;
	(void)tk_strlcpy(rep->kind, kind, sizeof(rep->kind));
	va_start(ap, fmt);
	(void)vsnprintf(rep->detail, sizeof(rep->detail), fmt, ap);
	va_end(ap);
}

static void
report_init(tk_audit_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->ok = true;
}

/* ---- keys ------------------------------------------------------------------ */

int
tk_audit_trust_add(tk_audit_trust *t, const char *vkey, tk_error *err)
{
	tk_note_key k;

	if (tk_note_vkey_parse(vkey, &k, err) != 0)
		return -1;
	if (k.alg != TK_NOTE_ALG_ED25519)
		return tk_fail(err, TK_ERR_INVALID, "%s is a witness key, not "
		    "a log key", k.name), -1;
	for (size_t i = 0; i < t->nkeys; i++)
		if (strcmp(t->keys[i].name, k.name) == 0 &&
		    memcmp(t->keys[i].id, k.id, sizeof(k.id)) == 0)
			return 0;
	if (t->nkeys >= TK_AUDIT_MAX_KEYS)
		return tk_fail(err, TK_ERR_TOO_LARGE, "more than %d log keys",
		    TK_AUDIT_MAX_KEYS), -1;
	t->keys[t->nkeys++] = k;
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
tk_audit_key_create(tk_store *s, const char *key_path, const char *origin,
    tk_time now, char *vkey_out, size_t vkey_size, tk_error *err)
{
	tk_note_signer k;
	char skey[TK_NOTE_SKEY_MAX + 1];
	size_t n;
	int fd, rc = -1;

	if (!tk_note_name_valid(origin))
		return tk_fail(err, TK_ERR_INVALID, "origin \"%.200s\" is not a "
		    "valid key name: 1-255 bytes, no '+', no spaces (for "
		    "example example.com/twokey)", origin), -1;
	if (tk_note_signer_generate(origin, TK_NOTE_ALG_ED25519, &k, err) != 0)
		return -1;
	if (tk_note_skey_format(&k, skey, sizeof(skey) - 1, err) != 0 ||
	    tk_note_vkey_format(&k.key, vkey_out, vkey_size, err) != 0)
		goto out;
	n = strlen(skey);
	skey[n++] = '\n';
	fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		(void)tk_fail(err, errno == EEXIST ? TK_ERR_WRONG_STATE :
		    TK_ERR_INTERNAL, "cannot create the audit key %s: %s%s",
		    key_path, strerror(errno), errno == EEXIST ? " (a key is "
		    "already there; keep it, or move it away to start a new "
		    "log)" : "");
		goto out;
	}
	if (write_all(fd, skey, n) != 0 || fsync(fd) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot write the audit key "
		    "%s: %s", key_path, strerror(errno));
		(void)close(fd);
		(void)unlink(key_path);
		goto out;
	}
	if (close(fd) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot write the audit key "
		    "%s: %s", key_path, strerror(errno));
		(void)unlink(key_path);
		goto out;
	}
	if (tk_store_audit_key_put(s, origin, vkey_out, now, err) != 0) {
		(void)unlink(key_path);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(skey, sizeof(skey));
	tk_note_signer_wipe(&k);
	return rc;
}

int
tk_audit_key_load(const char *key_path, tk_note_signer *k, tk_error *err)
{
	char buf[KEYFILE_MAX + 1];
	struct stat sb;
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;

	memset(k, 0, sizeof(*k));
	fd = open(key_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tk_fail(err, errno == ENOENT ? TK_ERR_NOT_FOUND :
		    TK_ERR_INTERNAL, "cannot open the audit key %s: %s",
		    key_path, strerror(errno)), -1;
	if (fstat(fd, &sb) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot stat %s: %s",
		    key_path, strerror(errno));
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		(void)tk_fail(err, TK_ERR_INVALID, "the audit key %s is readable "
		    "by others (mode %03o); chmod 600 it", key_path,
		    (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	while (len < KEYFILE_MAX &&
	    (n = read(fd, buf + len, KEYFILE_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "cannot read %s: %s",
			    key_path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (tk_note_skey_parse(buf, k, err) != 0)
		goto out;
	if (k->key.alg != TK_NOTE_ALG_ED25519) {
		(void)tk_fail(err, TK_ERR_INVALID, "%s holds a witness key, not "
		    "a log key", key_path);
		tk_note_signer_wipe(k);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	(void)close(fd);
	return rc;
}

/* ---- checkpoints ------------------------------------------------------- */

struct rehash {
	tk_store *s;
	int64_t expect;
	bool bad;
	tk_error *err;
};

/* Each new leaf: its stored bytes must hash to the tree's leaf. */
static int
rehash_cb(void *arg, const tk_event_row *row)
{
	struct rehash *r = arg;
	unsigned char h[32], t[32];

	if (row->seq != r->expect) {
		(void)tk_fail(r->err, TK_ERR_INTERNAL, "event %" PRId64 " is "
		    "missing from the log; not signing (run `twokey audit "
		    "verify`)", r->expect);
		r->bad = true;
		return 1;
	}
	if (tk_merkle_leaf_hash(row->body, strlen(row->body), h) != 0) {
		(void)tk_fail(r->err, TK_ERR_INTERNAL, "cannot hash event %"
		    PRId64, row->seq);
		r->bad = true;
		return 1;
	}
	if (tk_store_log_leaf(r->s, (uint64_t)(row->seq - 1), t, r->err)
	    != 0) {
		r->bad = true;
		return 1;
	}
	if (CRYPTO_memcmp(h, t, 32) != 0) {
		(void)tk_fail(r->err, TK_ERR_INTERNAL, "event %" PRId64 "'s "
		    "stored bytes no longer hash to its leaf in the tree; not "
		    "signing (run `twokey audit verify`)", row->seq);
		r->bad = true;
		return 1;
	}
	r->expect++;
	return 0;
}

/* Appends {"size":N,"note":"..."} to the mirror file and syncs it. */
static int
mirror_append(const char *path, int64_t size, const char *note,
    tk_error *err)
{
	json_t *j = json_pack("{s:I, s:s}", "size", (json_int_t)size,
	    "note", note);
	char *line = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	int fd, rc = -1;

	json_decref(j);
	if (line == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot open the checkpoint "
		    "mirror %s: %s", path, strerror(errno));
		goto out;
	}
	if (write_all(fd, line, strlen(line)) != 0 ||
	    write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot write the checkpoint "
		    "mirror %s: %s", path, strerror(errno));
		(void)close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot write the checkpoint "
		    "mirror %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	return rc;
}

int
tk_audit_checkpoint(tk_store *s, const tk_note_signer *k, tk_time now,
    const char *mirror_path, int64_t *signed_size, tk_error *err)
{
	tk_checkpoint_row last, cp;
	unsigned char root[32], old[32], proof[PROOF_MAX * 32];
	char body[TK_CHECKPOINT_BASE_MAX];
	tk_checkpoint c;
	struct rehash rh;
	uint64_t size;
	size_t body_len, note_len, n;
	char *note = NULL;
	bool have_last;
	int rc = -1;

	*signed_size = -1;
	memset(&last, 0, sizeof(last));
	if (tk_store_log_size(s, &size, err) != 0)
		return -1;
	if (tk_store_checkpoint_latest(s, &last, err) == 0) {
		have_last = true;
	} else if (err->status == TK_ERR_NOT_FOUND) {
		have_last = false;
	} else {
		return -1;
	}
	if (have_last && size < (uint64_t)last.size) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "the log holds %" PRIu64
		    " events but a checkpoint of size %" PRId64 " was signed: "
		    "the log was truncated; not signing (run `twokey audit "
		    "verify`)", size, last.size);
		goto out;
	}
	if (have_last) {
		if (tk_store_log_root(s, (uint64_t)last.size, old, err) != 0)
			goto out;
		if (CRYPTO_memcmp(old, last.root, 32) != 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "the tree's root at "
			    "size %" PRId64 " differs from the one signed; not "
			    "signing (run `twokey audit verify`)", last.size);
			goto out;
		}
	}
	if (size == 0 || (have_last && size == (uint64_t)last.size)) {
		rc = 0; /* nothing new to sign */
		goto out;
	}
	rh.s = s;
	rh.expect = have_last ? last.size + 1 : 1;
	rh.bad = false;
	rh.err = err;
	if (tk_store_event_scan(s, rh.expect, (int64_t)size - rh.expect + 1,
	    rehash_cb, &rh, err) != 0 || rh.bad)
		goto out;
	if (rh.expect != (int64_t)size + 1) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "events %" PRId64 "..%"
		    PRIu64 " are missing; not signing", rh.expect, size);
		goto out;
	}
	if (tk_store_log_root(s, size, root, err) != 0)
		goto out;
	if (have_last && last.size > 0) {
		if (tk_store_log_consistency(s, (uint64_t)last.size, size, proof,
		    PROOF_MAX, &n, err) != 0)
			goto out;
		if (tk_merkle_verify_consistency((uint64_t)last.size, size,
		    last.root, root, proof, n, err) != 0) {
			(void)tk_fail(err, TK_ERR_INTERNAL, "the tree at %" PRIu64
			    " is not an extension of the signed tree at %" PRId64
			    "; not signing", size, last.size);
			goto out;
		}
	}
	memset(&c, 0, sizeof(c));
	(void)tk_strlcpy(c.origin, k->key.name, sizeof(c.origin));
	c.size = size;
	memcpy(c.root, root, 32);
	if (tk_checkpoint_format(&c, body, sizeof(body), &body_len, err) != 0 ||
	    tk_note_sign(body, body_len, k, 1, now, &note, &note_len, err) != 0)
		goto out;
	memset(&cp, 0, sizeof(cp));
	cp.size = (int64_t)size;
	memcpy(cp.root, root, 32);
	(void)tk_strlcpy(cp.origin, k->key.name, sizeof(cp.origin));
	cp.note = note;
	cp.created = now;
	if (tk_store_begin(s, err) != 0)
		goto out;
	if (tk_store_checkpoint_put(s, &cp, err) != 0 ||
	    tk_store_commit(s, err) != 0) {
		tk_store_rollback(s);
		goto out;
	}
	*signed_size = (int64_t)size;
	if (mirror_path != NULL &&
	    mirror_append(mirror_path, (int64_t)size, note, err) != 0) {
		char why[sizeof(err->msg)];

		(void)tk_strlcpy(why, err->msg, sizeof(why));
		(void)tk_fail(err, TK_ERR_INTERNAL, "checkpoint %" PRIu64 " is "
		    "signed and stored, but its copy outside the database "
		    "failed: %.400s", size, why);
		goto out;
	}
	rc = 0;
out:
	free(note);
	tk_checkpoint_row_clear(&last);
	return rc;
}

/* ---- verification ------------------------------------------------------ */

/* Tiles: TILE_W hashes each, levels 0..TILE_LEVELS-1 (C2SP tlog-tiles;
 * level L holds the nodes of height 8L). */
#define TILE_W 256
#define TILE_LEVELS 8

/* A checkpoint the verifier will hold the log to. */
struct vcp {
	uint64_t size;
	unsigned char root[32];
	char from[24];          /* "database", "mirror", "given", "bundle" */
};

struct chunk; /* store mode's rows in hand (see v_walk) */

struct verifier {
	tk_audit_report *rep;
	tk_note_key keys[TK_AUDIT_MAX_KEYS * 2];
	size_t nkeys;
	struct vcp *cps;
	size_t ncp, cap, next;
	tk_merkle_frontier f;   /* the leaves seen, as a compact range */
	uint64_t size;          /* leaves seen */
	bool failed;            /* hashing itself failed */
	uint64_t good_cp;       /* largest checkpoint size that held */
	uint64_t bad_to;        /* a root failed at this size (0: none) */
	tk_store *s;            /* for pinpointing (store mode), or NULL */
	struct tiles *tc;       /* store mode: the tiles being rebuilt */
	uint64_t tile_bad;      /* first event whose leaf in the stored
	                           tree differs from its bytes (0: none):
	                           edited event or rewritten tile, which the
	                           checkpoints decide */
	struct chunk *in;       /* store mode: the rows being verified,
	                           with the stored tiles their leaves
	                           complete */
	unsigned up_mask;       /* bit L: the last leaf completed a node of
	                           tile level L (height 8L), in up[L] */
	unsigned char up[TILE_LEVELS][32];
};

/* Store mode rebuilds every tile from the verified leaves and holds the
 * stored one to it, so the tree the server proves from is checked hash
 * by hash, not only at its root. */
struct tiles {
	unsigned char buf[TILE_LEVELS][TILE_W * 32];
	size_t n[TILE_LEVELS];
	uint64_t idx[TILE_LEVELS];
};

/* A stored tile as read for the comparison: tk_store_tile_read's
 * answer. */
struct stile {
	int level;
	uint64_t idx;
	int rc;                 /* 0 read, 1 absent, -1 failed (msg) */
	size_t width;
	char msg[320];
	unsigned char hashes[TILE_W * 32];
};

static void
stile_read(tk_store *s, struct stile *t, int level, uint64_t idx)
{
	tk_error e;

	t->level = level;
	t->idx = idx;
	t->width = 0;
	t->msg[0] = '\0';
	t->rc = tk_store_tile_read(s, level, idx, t->hashes, &t->width, &e);
	if (t->rc < 0)
		(void)tk_strlcpy(t->msg, e.msg, sizeof(t->msg));
}

static const struct stile *chunk_tile(const struct chunk *c, int level,
    uint64_t idx);

/* Compares tile (level, idx) as stored with the n hashes rebuilt. Full
 * tiles come read with the batch that completes them; the partial ones
 * at the end are read here. */
static void
tile_compare(struct verifier *v, int level, uint64_t idx, size_t n)
{
	struct tiles *tc = v->tc;
	const struct stile *t = NULL;
	struct stile *mine = NULL;
	size_t k;

	if (v->in != NULL)
		t = chunk_tile(v->in, level, idx);
	if (t == NULL) {
		if (v->in != NULL) {
			/* (Every tile the rows complete is read with them.) */
			report_bad(v->rep, 0, "malformed", "internal: tile %d/%"
			    PRIu64 " was not read with its leaves", level, idx);
			return;
		}
		mine = malloc(sizeof(*mine));
		if (mine == NULL) {
			report_bad(v->rep, 0, "malformed", "out of memory "
			    "reading tile %d/%" PRIu64, level, idx);
			return;
		}
		stile_read(v->s, mine, level, idx);
		t = mine;
	}
	if (t->rc < 0) {
		report_bad(v->rep, 0, "rewritten", "the stored tree (tile %d/%"
		    PRIu64 ") cannot be read back: %.300s", level, idx, t->msg);
		goto out;
	}
	if (t->rc == 1 || t->width != n) {
		report_bad(v->rep, 0, "rewritten", "the stored tree (tile %d/%"
		    PRIu64 ") holds %zu hashes where the events give %zu: "
		    "proofs served from it would fail", level, idx,
		    t->rc == 1 ? (size_t)0 : t->width, n);
		goto out;
	}
	for (k = 0; k < n; k++)
		if (memcmp(t->hashes + 32 * k, tc->buf[level] + 32 * k, 32) != 0)
			break;
	free(mine);
	mine = NULL;
	if (k == n)
		return;
	if (level == 0) {
		if (v->tile_bad == 0)
			v->tile_bad = idx * TILE_W + k + 1;
	} else if (v->tile_bad == 0) {
		/* (With a leaf already differing, the tiles above differ
		 * too: the verdict on that leaf says it.) */
		report_bad(v->rep, 0, "rewritten", "the stored tree (tile %d/%"
		    PRIu64 ", hash %zu) does not match the events: proofs "
		    "served from it would fail", level, idx, k);
	}
	return;
out:
	free(mine);
}

/* A leaf tile disagreed with an event's bytes and no checkpoint root
 * failed on the way: says which side is wrong, as far as the signed
 * checkpoints can tell. */
static void
tile_verdict(struct verifier *v)
{
	uint64_t x = v->tile_bad;

	if (x == 0 || !v->rep->ok)
		return;
	if (x <= v->good_cp)
		report_bad(v->rep, (int64_t)x, "rewritten", "the stored tree's "
		    "leaf for event %" PRIu64 " differs from the event's bytes, "
		    "which signed checkpoint %" PRIu64 " vouches for: the tree "
		    "was rewritten and proofs served for that event would fail",
		    x, v->good_cp);
	else
		report_bad(v->rep, (int64_t)x, "edited", "event %" PRIu64 "'s "
		    "bytes (and recorded hash) differ from the leaf the tree "
		    "recorded when it was appended; no signed checkpoint covers "
		    "it yet to say which changed", x);
}

/* Adds a rebuilt hash at tile level `level` (a node of height 8 *
 * level); full tiles are compared. Their roots, the hashes of the level
 * above, come from the walk's own compact range (v_append), so every
 * node of the tree is hashed once. */
static void
tile_add(struct verifier *v, int level, const unsigned char h[32])
{
	struct tiles *tc = v->tc;

	if (level >= TILE_LEVELS || !v->rep->ok)
		return;
	memcpy(tc->buf[level] + 32 * tc->n[level], h, 32);
	if (++tc->n[level] < TILE_W)
		return;
	tile_compare(v, level, tc->idx[level], TILE_W);
	tc->n[level] = 0;
	tc->idx[level]++;
}

/* After a leaf: its hash and the nodes it completed enter the tiles,
 * lowest level first (a level's tile completes before the one above). */
static void
tile_leaf(struct verifier *v, const unsigned char leaf[32])
{
	tile_add(v, 0, leaf);
	for (int l = 1; l < TILE_LEVELS && (v->up_mask >> l) != 0; l++)
		if (v->up_mask & (1u << l))
			tile_add(v, l, v->up[l]);
}

/* After the walk: the partial right-edge tiles. */
static void
tile_finish(struct verifier *v)
{
	for (int l = 0; l < TILE_LEVELS && v->rep->ok; l++)
		if (v->tc->n[l] > 0)
			tile_compare(v, l, v->tc->idx[l], v->tc->n[l]);
}

static void
v_add_key(struct verifier *v, const tk_note_key *k)
{
	for (size_t i = 0; i < v->nkeys; i++)
		if (strcmp(v->keys[i].name, k->name) == 0 &&
		    memcmp(v->keys[i].id, k->id, sizeof(k->id)) == 0)
			return;
	if (v->nkeys < sizeof(v->keys) / sizeof(v->keys[0]))
		v->keys[v->nkeys++] = *k;
}

/* Verifies a signed note with the trusted keys and records its size and
 * root. A note that does not verify is a finding, not an error. */
static int
v_note(struct verifier *v, const char *note, size_t len, const char *from,
    tk_error *err)
{
	tk_checkpoint c;
	size_t text_len;
	tk_error e;
	struct vcp *cp;

	if (v->nkeys == 0) {
		report_bad(v->rep, 0, "signature", "no key to check the %s "
		    "checkpoints with; give the log's verifier key", from);
		return 0;
	}
	if (tk_note_verify(note, len, v->keys, v->nkeys, NULL, &text_len,
	    &e) != 0) {
		report_bad(v->rep, 0, "signature", "a %s checkpoint is not "
		    "validly signed by any trusted key: %.300s (was the log "
		    "replaced, or signed by another key?)", from, e.msg);
		return 0;
	}
	if (tk_checkpoint_parse(note, text_len, &c, &e) != 0) {
		report_bad(v->rep, 0, "malformed", "a %s checkpoint's body is "
		    "malformed: %.300s", from, e.msg);
		return 0;
	}
	for (size_t i = 0; i < v->ncp; i++) {
		if (v->cps[i].size == c.size &&
		    memcmp(v->cps[i].root, c.root, 32) == 0)
			return 0; /* the same checkpoint from another copy */
		if (v->cps[i].size == c.size &&
		    memcmp(v->cps[i].root, c.root, 32) != 0) {
			report_bad(v->rep, (int64_t)c.size, "rewritten", "two "
			    "different roots were signed for size %" PRIu64
			    " (%s and %s checkpoints): the log was rewritten",
			    c.size, v->cps[i].from, from);
			return 0;
		}
	}
	if (v->ncp == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 64;
		void *np = reallocarray(v->cps, ncap, sizeof(*v->cps));

		if (np == NULL)
			return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
		v->cps = np;
		v->cap = ncap;
	}
	cp = &v->cps[v->ncp++];
	cp->size = c.size;
	memcpy(cp->root, c.root, 32);
	(void)tk_strlcpy(cp->from, from, sizeof(cp->from));
	return 0;
}

static int
vcp_cmp(const void *a, const void *b)
{
	const struct vcp *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;
}

/* Orders the checkpoints by size for the walk. (No checkpoint: cps is
 * NULL, which qsort must not be given.) */
static void
v_sort(struct verifier *v)
{
	if (v->ncp > 1)
		qsort(v->cps, v->ncp, sizeof(*v->cps), vcp_cmp);
}

/* Root of the leaves seen so far. */
static int
v_root(struct verifier *v, unsigned char out[32])
{
	tk_error e;

	if (tk_merkle_frontier_root(&v->f, out, &e) != 0) {
		report_bad(v->rep, 0, "malformed", "cannot compute the root: "
		    "%.300s", e.msg);
		return -1;
	}
	return 0;
}

/* Checks every checkpoint whose size the walk has now reached. */
static void
v_check_cps(struct verifier *v)
{
	unsigned char root[32];

	while (v->rep->ok && v->next < v->ncp &&
	    v->cps[v->next].size <= v->size) {
		struct vcp *cp = &v->cps[v->next];

		if (cp->size < v->size) {
			v->next++; /* size 0 or passed: checked already */
			continue;
		}
		if (v_root(v, root) != 0)
			return;
		if (memcmp(root, cp->root, 32) != 0) {
			if (v->tile_bad > v->good_cp && v->tile_bad <= cp->size) {
				report_bad(v->rep, (int64_t)v->tile_bad, "edited",
				    "event %" PRIu64 " was edited: its bytes (and "
				    "recorded hash) no longer match the leaf signed "
				    "under checkpoint %" PRIu64, v->tile_bad,
				    cp->size);
				return;
			}
			report_bad(v->rep, (int64_t)v->good_cp + 1,
			    "rewritten", "events %" PRIu64 "..%" PRIu64
			    " do not give the root signed in the %s "
			    "checkpoint of size %" PRIu64 ": one of them "
			    "was edited, inserted, removed or reordered",
			    v->good_cp + 1, cp->size, cp->from, cp->size);
			v->bad_to = cp->size;
			return;
		}
		v->good_cp = cp->size;
		v->rep->checkpoints++;
		v->next++;
	}
}

/* Reads the sequence number a body says it has ({"seq":N,...}). */
static int64_t
body_seq(const char *body, size_t len)
{
	static const char pre[] = "{\"seq\":";
	int64_t v = 0;
	size_t i = sizeof(pre) - 1;

	if (len <= i || memcmp(body, pre, i) != 0)
		return -1;
	for (; i < len && body[i] >= '0' && body[i] <= '9'; i++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (body[i] - '0');
	}
	return i < len && body[i] == ',' ? v : -1;
}

/* Appends a leaf hash to the walk's compact range (as
 * tk_merkle_frontier_append does) and keeps the nodes of heights 8,
 * 16, .. 56 it completes: the hashes of tile levels 1..7. */
static int
v_append(struct verifier *v, const unsigned char leaf[32])
{
	tk_merkle_frontier *f = &v->f;
	unsigned char h[32];
	int l;

	v->up_mask = 0;
	if (f->size == UINT64_MAX)
		return -1;
	memcpy(h, leaf, 32);
	/* Each set low bit is a complete left sibling: merge upwards. */
	for (l = 0; (f->size >> l) & 1; l++) {
		if (tk_merkle_node_hash(f->hash[l], h, h) != 0)
			return -1;
		if ((l + 1) % 8 == 0 && (l + 1) / 8 < TILE_LEVELS) {
			memcpy(v->up[(l + 1) / 8], h, 32);
			v->up_mask |= 1u << ((l + 1) / 8);
		}
	}
	memcpy(f->hash[l], h, 32);
	f->size++;
	return 0;
}

/* One leaf in order, as seen: seq is the row's own sequence number
 * (store) or index + 1 (bundle), inside the one its bytes say
 * (body_seq), h their leaf hash or NULL when hashing failed; stored is
 * the row's recorded leaf hash or NULL. */
static void
v_leaf_seen(struct verifier *v, int64_t seq, int64_t inside,
    const unsigned char *h, const unsigned char *stored)
{
	int64_t expect = (int64_t)v->size + 1;

	if (!v->rep->ok)
		return;
	if (seq != expect) {
		if (seq > expect)
			report_bad(v->rep, expect, "missing", "event %" PRId64
			    " is missing (the next stored is %" PRId64 ")",
			    expect, seq);
		else
			report_bad(v->rep, expect, "reordered", "event %"
			    PRId64 " appears again after %" PRId64, seq,
			    expect - 1);
		return;
	}
	if (inside != seq) {
		if (inside > 0)
			report_bad(v->rep, seq, "reordered", "position %" PRId64
			    " holds the bytes of event %" PRId64 ": events "
			    "were moved", seq, inside);
		else
			report_bad(v->rep, seq, "edited", "event %" PRId64 "'s "
			    "bytes are not a twokey event", seq);
		return;
	}
	if (h == NULL) {
		report_bad(v->rep, seq, "malformed", "cannot hash event %"
		    PRId64, seq);
		return;
	}
	if (stored != NULL && memcmp(h, stored, 32) != 0) { /* public */
		report_bad(v->rep, seq, "edited", "event %" PRId64 " was "
		    "edited: its bytes no longer hash to its recorded leaf",
		    seq);
		return;
	}
	if (v_append(v, h) != 0) {
		report_bad(v->rep, seq, "malformed", "cannot hash the tree at "
		    "event %" PRId64 " (or it is full)", seq);
		return;
	}
	v->size++;
	v->rep->events++;
	v_check_cps(v);
}

/* One leaf in order, from its bytes (see v_leaf_seen). */
static void
v_leaf(struct verifier *v, int64_t seq, const char *body, size_t len,
    const unsigned char *stored)
{
	unsigned char h[32];
	int64_t inside = body_seq(body, len);
	bool hashed;

	if (!v->rep->ok)
		return;
	hashed = seq == (int64_t)v->size + 1 && inside == seq &&
	    tk_merkle_leaf_hash(body, len, h) == 0;
	v_leaf_seen(v, seq, inside, hashed ? h : NULL, stored);
}

/* After the last leaf: checkpoints beyond the log mean truncation. */
static void
v_finish(struct verifier *v)
{
	if (!v->rep->ok)
		return;
	v_check_cps(v);
	if (v->rep->ok && v->next < v->ncp) {
		const struct vcp *cp = &v->cps[v->ncp - 1];

		report_bad(v->rep, (int64_t)v->size + 1, "truncated", "the log "
		    "ends at event %" PRIu64 " but the %s checkpoint of size %"
		    PRIu64 " was signed: truncated after checkpoint %" PRIu64,
		    v->size, cp->from, cp->size, v->good_cp);
	}
}

static void
v_free(struct verifier *v)
{
	free(v->tc);
	free(v->cps);
}

/* The mirror file: one {"size":N,"note":"..."} per line. */
static int
v_mirror(struct verifier *v, const char *path, tk_error *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;

	if (f == NULL) {
		if (errno == ENOENT)
			return 0; /* no copy kept (yet) */
		return tk_fail(err, TK_ERR_INTERNAL, "cannot open %s: %s", path,
		    strerror(errno)), -1;
	}
	while (rc == 0 && v->rep->ok && (n = getline(&line, &cap, f)) > 0) {
		json_t *j;
		const char *note;

		lineno++;
		j = json_loadb(line, (size_t)n, 0, NULL);
		note = json_string_value(json_object_get(j, "note"));
		if (note == NULL)
			report_bad(v->rep, 0, "malformed", "%s line %d is not a "
			    "checkpoint record", path, lineno);
		else
			rc = v_note(v, note, strlen(note), "mirror", err);
		json_decref(j);
	}
	free(line);
	(void)fclose(f);
	return rc;
}

struct listed {
	struct verifier *v;
	tk_error *err;
	int rc;
};

static int
listed_key_cb(void *arg, const tk_audit_key_row *k)
{
	struct listed *l = arg;
	tk_note_key key;
	tk_error e;

	if (tk_note_vkey_parse(k->verifier, &key, &e) == 0 &&
	    key.alg == TK_NOTE_ALG_ED25519)
		v_add_key(l->v, &key);
	return 0;
}

static int
listed_cp_cb(void *arg, const tk_checkpoint_row *r)
{
	struct listed *l = arg;

	l->rc = v_note(l->v, r->note, strlen(r->note), "database", l->err);
	return l->rc != 0 || !l->v->rep->ok;
}

/*
 * Store mode walks the rows on two threads, each with its own connection
 * to the database, since stepping SQLite costs more than all the
 * hashing. The log is cut into chunks of CHUNK_ROWS events by sequence
 * number; the caller's thread takes the even ones and a second thread
 * the odd ones. A thread reads its chunk's rows, checking each against
 * its columns and hashing its leaf where it lies (only the seqs and
 * hashes are kept), and the stored tiles they complete. Then, in turn,
 * chunk after chunk in log order, it runs the rest of the one-pass walk
 * on them: gapless seq, the leaf against the recorded hash, the tree,
 * the tiles compared, the checkpoints. So the first problem in log order
 * is the one reported, as in a single pass: reading stops at a row the
 * turn will stop at, and both threads stop after the turn that found a
 * problem, a store error or the end of the log.
 *
 * Full tiles and written events do not change, so the second
 * connection, opened a moment later, reads the same ones; the partial
 * tiles at the right edge are read on the caller's connection after
 * the walk. When no second connection can be had (a private in-memory
 * store), the caller's thread takes every chunk.
 */
#define CHUNK_ROWS 16384        /* a multiple of TILE_W */
/* Tiles a chunk completes: CHUNK_ROWS / TILE_W at level 0, at most one
 * per level above. */
#define CHUNK_TILES (CHUNK_ROWS / TILE_W + TILE_LEVELS)

/* One row as read: what the turn needs of it. Its bytes are checked and
 * hashed as they are read and not kept. */
struct brow {
	int64_t seq;
	int64_t inside;           /* the seq its bytes say (body_seq) */
	bool hashed;              /* leaf holds the leaf hash of the bytes */
	unsigned char hash[32];   /* the recorded leaf hash */
	unsigned char leaf[32];
};

/* What one thread holds of the chunk it works on. */
struct chunk {
	tk_store *s;              /* this thread's connection */
	tk_pages_reader *pages;   /* the file's pages, read directly, or
	                             NULL: through SQLite */
	struct brow *rows;
	size_t nrows;             /* rows read; reading stops at the first
	                             one the turn will stop at */
	struct stile *tiles;
	size_t ntiles;
	uint64_t base;            /* events before the chunk */
	bool bad;                 /* the last row failed its row check */
	char why[TK_TEXT_MAX];    /* and why */
	tk_chain_checker check;
	int rc;                   /* the store's answer */
	tk_error err;
};

struct walk {
	struct verifier *v;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t turn;            /* chunk whose turn it is */
	bool done;                /* a problem, an error or the log's end */
	int rc;                   /* the walk's: -1 on a store error */
	tk_error *err;
	int nthreads;
};

static const struct stile *
chunk_tile(const struct chunk *c, int level, uint64_t idx)
{
	for (size_t i = 0; i < c->ntiles; i++)
		if (c->tiles[i].level == level && c->tiles[i].idx == idx)
			return &c->tiles[i];
	return NULL;
}

/* A stored tile for the chunk: from the pages when they serve it, else
 * through this thread's connection. */
static void
chunk_stile(struct chunk *c, struct stile *t, int level, uint64_t idx)
{
	if (c->pages != NULL) {
		t->level = level;
		t->idx = idx;
		t->width = 0;
		t->msg[0] = '\0';
		t->rc = tk_pages_tile_read(c->pages, level, idx, t->hashes,
		    &t->width);
		if (t->rc != TK_PAGES_ASK_SQLITE)
			return;
	}
	stile_read(c->s, t, level, idx);
}

/* One row read: checked against its columns and hashed where it lies,
 * then the stored tiles it completes. Stops (1) after a row the turn
 * will stop at: out of place, or failing its row check. */
static int
chunk_row(void *arg, const tk_leaf *l)
{
	struct chunk *c = arg;
	struct brow *row = &c->rows[c->nrows++];
	uint64_t pos = c->base + c->nrows, span = TILE_W;

	row->seq = l->seq;
	row->inside = body_seq(l->body, l->len);
	memcpy(row->hash, l->hash, 32);
	row->hashed = false;
	if (l->seq != (int64_t)pos || row->inside != l->seq)
		return 1; /* v_leaf_seen names it */
	/* The row agrees with itself (columns = body). */
	if (tk_chain_row_check_in(&c->check, l, c->why, sizeof(c->why)) !=
	    0) {
		c->bad = true;
		return 1;
	}
	if (tk_merkle_leaf_hash(l->body, l->len, row->leaf) != 0)
		return 1; /* v_leaf_seen says so */
	row->hashed = true;
	for (int lv = 0; lv < TILE_LEVELS && pos % span == 0; lv++) {
		chunk_stile(c, &c->tiles[c->ntiles++], lv, pos / span - 1);
		if (span > UINT64_MAX / TILE_W)
			break;
		span *= TILE_W;
	}
	return 0;
}

/* Reads chunk k: at most CHUNK_ROWS rows from its first seq on. */
static void
chunk_read(struct chunk *c, uint64_t k)
{
	c->base = k * CHUNK_ROWS;
	c->nrows = c->ntiles = 0;
	c->bad = false;
	if (c->pages != NULL) {
		c->rc = tk_pages_event_leaves(c->pages, (int64_t)c->base + 1,
		    CHUNK_ROWS, chunk_row, c);
		if (c->rc != TK_PAGES_ASK_SQLITE)
			return;
		/* Something the pages do not read: SQLite reads the chunk
		 * again and says what it finds. */
		c->nrows = c->ntiles = 0;
		c->bad = false;
	}
	c->rc = tk_store_event_leaves(c->s, (int64_t)c->base + 1, CHUNK_ROWS,
	    chunk_row, c, &c->err);
}

/* The turn: what one pass did with these rows, in log order. */
static void
chunk_turn(struct verifier *v, struct chunk *c)
{
	v->in = c;
	for (size_t i = 0; i < c->nrows && v->rep->ok; i++) {
		const struct brow *row = &c->rows[i];

		if (i + 1 == c->nrows && c->bad) {
			report_bad(v->rep, row->seq, "edited", "%s", c->why);
			break;
		}
		v_leaf_seen(v, row->seq, row->inside,
		    row->hashed ? row->leaf : NULL, row->hash);
		if (v->rep->ok)
			tile_leaf(v, row->hash); /* v_leaf found it equal to
			                            the bytes' */
	}
	v->in = NULL;
}

/* One thread's share: chunks first, first + step, ... until done. */
static void
walk_chunks(struct walk *w, struct chunk *c, uint64_t first, uint64_t step)
{
	struct verifier *v = w->v;

	for (uint64_t k = first;; k += step) {
		bool end;

		if (pthread_mutex_lock(&w->mu) != 0)
			abort();
		end = w->done;
		if (pthread_mutex_unlock(&w->mu) != 0)
			abort();
		if (end)
			return;
		chunk_read(c, k);
		/* This chunk's turn: after the one before it. */
		if (pthread_mutex_lock(&w->mu) != 0)
			abort();
		while (w->turn != k && !w->done)
			if (pthread_cond_wait(&w->cv, &w->mu) != 0)
				abort();
		end = w->done;
		if (pthread_mutex_unlock(&w->mu) != 0)
			abort();
		if (end)
			return;
		chunk_turn(v, c);
		if (!v->rep->ok) {
			end = true;
		} else if (c->rc != 0) {
			*w->err = c->err;
			w->rc = -1;
			end = true;
		} else if (c->nrows < CHUNK_ROWS) {
			end = true; /* the log ends in this chunk */
		}
		if (pthread_mutex_lock(&w->mu) != 0)
			abort();
		w->turn = k + 1;
		if (end)
			w->done = true;
		if (pthread_cond_broadcast(&w->cv) != 0 ||
		    pthread_mutex_unlock(&w->mu) != 0)
			abort();
		if (end)
			return;
	}
}

struct helper {
	struct walk *w;
	struct chunk *c;
};

static void *
helper_main(void *arg)
{
	struct helper *h = arg;

	walk_chunks(h->w, h->c, 1, 2);
	return NULL;
}

static void
chunk_free(struct chunk *c)
{
	tk_pages_reader_free(c->pages);
	c->pages = NULL;
	free(c->rows);
	free(c->tiles);
}

static int
chunk_init(struct chunk *c, tk_store *s)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->rows = calloc(CHUNK_ROWS, sizeof(*c->rows));
	c->tiles = calloc(CHUNK_TILES, sizeof(*c->tiles));
	if (c->rows == NULL || c->tiles == NULL) {
		chunk_free(c);
		return -1;
	}
	return 0;
}

/* The walk over the rows (see above). 0, or -1 (err filled) when the
 * store fails before any problem is found in the rows read. */
static int
v_walk(struct verifier *v, tk_error *err)
{
	struct walk w;
	struct chunk c[2];
	struct helper h = {&w, &c[1]};
	tk_store *s2 = NULL;
	tk_pages *pages;
	char why[256];
	pthread_t helper;
	tk_error e;
	int rc;

	memset(&w, 0, sizeof(w));
	w.v = v;
	w.err = err;
	w.nthreads = 1;
	if (chunk_init(&c[0], v->s) != 0)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory for the "
		    "verification's buffers"), -1;
	if ((rc = pthread_mutex_init(&w.mu, NULL)) != 0) {
		chunk_free(&c[0]);
		return tk_fail(err, TK_ERR_INTERNAL, "cannot set up the "
		    "verification's threads: %s", strerror(rc)), -1;
	}
	if ((rc = pthread_cond_init(&w.cv, NULL)) != 0) {
		(void)pthread_mutex_destroy(&w.mu);
		chunk_free(&c[0]);
		return tk_fail(err, TK_ERR_INTERNAL, "cannot set up the "
		    "verification's threads: %s", strerror(rc)), -1;
	}
	/* The second connection; without one (in-memory, or it cannot be
	 * opened) this thread walks alone. So does a walk inside the
	 * caller's read transaction: a second connection would not read
	 * the caller's snapshot of a log still being appended to. */
	if (strcmp(tk_store_path(v->s), ":memory:") != 0 &&
	    !tk_store_in_transaction(v->s) &&
	    (s2 = tk_store_open(tk_store_path(v->s), false, &e)) != NULL) {
		if (chunk_init(&c[1], s2) == 0) {
			w.nthreads = 2; /* (the thread starts below) */
		} else {
			chunk_free(&c[1]);
			tk_store_close(s2);
			s2 = NULL;
		}
	}
	(void)tk_store_map_reads(v->s, true, &e); /* (else plain reads) */
	if (s2 != NULL)
		(void)tk_store_map_reads(s2, true, &e);
	/* The pages read directly where they can be (see store_pages.h);
	 * the connections stay for what they do not read. */
	pages = tk_pages_open(v->s, why, sizeof(why));
	c[0].pages = tk_pages_reader_new(pages);
	if (w.nthreads == 2)
		c[1].pages = tk_pages_reader_new(pages);
	if (w.nthreads == 2 &&
	    pthread_create(&helper, NULL, helper_main, &h) != 0) {
		chunk_free(&c[1]);
		tk_store_close(s2);
		s2 = NULL;
		w.nthreads = 1;
	}
	walk_chunks(&w, &c[0], 0, (uint64_t)w.nthreads);
	if (w.nthreads == 2) {
		if (pthread_join(helper, NULL) != 0)
			abort();
		chunk_free(&c[1]);
		tk_store_close(s2);
	}
	tk_pages_reader_free(c[0].pages);
	c[0].pages = NULL;
	tk_pages_close(pages);
	(void)tk_store_map_reads(v->s, false, &e);
	(void)pthread_cond_destroy(&w.cv);
	(void)pthread_mutex_destroy(&w.mu);
	chunk_free(&c[0]);
	return w.rc;
}

/* Common start: trusted keys and the outside checkpoints. */
static void
v_begin(struct verifier *v, const tk_audit_trust *t, tk_audit_report *rep)
{
	memset(v, 0, sizeof(*v));
	tk_merkle_frontier_init(&v->f);
	report_init(rep);
	v->rep = rep;
	for (size_t i = 0; i < t->nkeys; i++)
		v_add_key(v, &t->keys[i]);
}

static int
v_outside(struct verifier *v, const tk_audit_trust *t, tk_error *err)
{
	if (t->mirror_path != NULL && v_mirror(v, t->mirror_path, err) != 0)
		return -1;
	if (t->checkpoint != NULL && v->rep->ok &&
	    v_note(v, t->checkpoint, t->checkpoint_len, "given", err) != 0)
		return -1;
	v_sort(v);
	return 0;
}

struct pinpoint {
	tk_store *s;
	int64_t found;
	tk_error *err;
	int rc;
};

/* In store mode: the first event whose bytes differ from the leaf the
 * tree (tiles) recorded for it when it was appended. */
static int
pinpoint_cb(void *arg, const tk_event_row *row)
{
	struct pinpoint *p = arg;
	unsigned char h[32], t[32];
	tk_error e;

	if (tk_merkle_leaf_hash(row->body, strlen(row->body), h) != 0) {
		(void)tk_fail(p->err, TK_ERR_INTERNAL, "cannot hash");
		p->rc = -1;
		return 1;
	}
	/* A tree that cannot be read back (tampered too) cannot narrow the
	 * finding down; the range stands. */
	if (tk_store_log_leaf(p->s, (uint64_t)(row->seq - 1), t, &e) != 0)
		return 1;
	if (CRYPTO_memcmp(h, t, 32) != 0) {
		p->found = row->seq;
		return 1;
	}
	return 0;
}

/* Narrows a failed checkpoint root down to the edited event, when the
 * tiles still hold its original leaf. */
static int
v_pinpoint(struct verifier *v, tk_error *err)
{
	struct pinpoint p;
	uint64_t from = v->good_cp + 1, to = v->bad_to;

	p.s = v->s;
	p.found = 0;
	p.err = err;
	p.rc = 0;
	if (tk_store_event_scan(v->s, (int64_t)from, (int64_t)(to - from + 1),
	    pinpoint_cb, &p, err) != 0 || p.rc != 0)
		return -1;
	if (p.found > 0) {
		v->rep->ok = true; /* replace the range with the event */
		report_bad(v->rep, p.found, "edited", "event %" PRId64 " was "
		    "edited: its bytes (and recorded hash) no longer match the "
		    "leaf signed under checkpoint %" PRIu64, p.found, to);
	}
	return 0;
}

int
tk_audit_verify_store(tk_store *s, const tk_audit_trust *t,
    tk_audit_report *rep, tk_error *err)
{
	struct verifier v;
	struct listed l;
	unsigned char mine[32], theirs[32];
	uint64_t size;
	int rc = -1;

	v_begin(&v, t, rep);
	v.s = s;
	l.v = &v;
	l.err = err;
	l.rc = 0;
	/* The store's own list of keys is what an attacker who replaced
	 * the database would write: it counts only when the caller brought
	 * no key. */
	if ((t->nkeys == 0 || t->trust_listed) &&
	    tk_store_audit_key_list(s, listed_key_cb, &l, err) != 0)
		goto out;
	if (tk_store_checkpoint_list(s, listed_cp_cb, &l, err) != 0 ||
	    l.rc != 0)
		goto out;
	if (rep->ok && v_outside(&v, t, err) != 0)
		goto out;
	v.tc = calloc(1, sizeof(*v.tc));
	if (v.tc == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (rep->ok && v_walk(&v, err) != 0)
		goto out;
	v_finish(&v);
	if (!rep->ok && v.bad_to > 0 && v_pinpoint(&v, err) != 0)
		goto out;
	if (rep->ok) {
		tk_error e;

		/* The tree the server proves from must be this one. Tiles
		 * that cannot be read back are a finding, not a failure of
		 * the check. */
		if (tk_store_log_size(s, &size, &e) != 0) {
			report_bad(rep, 0, "rewritten", "the stored tree (tiles) "
			    "cannot be read back: %.300s", e.msg);
			goto done;
		}
		if (size != v.size) {
			report_bad(rep, (int64_t)v.size + 1, "truncated", "the "
			    "tree holds %" PRIu64 " leaves but %" PRIu64 " events "
			    "are stored", size, v.size);
		} else {
			tile_finish(&v);
			tile_verdict(&v);
			if (!rep->ok || v_root(&v, mine) != 0)
				goto done;
			if (tk_store_log_root(s, size, theirs, &e) != 0)
				report_bad(rep, 0, "rewritten", "the stored tree "
				    "(tiles) cannot be read back: %.300s", e.msg);
			else if (memcmp(mine, theirs, 32) != 0)
				report_bad(rep, 0, "rewritten", "the stored tree "
				    "(tiles) does not match the events: proofs "
				    "served from it would fail");
		}
	}
done:
	rc = 0;
out:
	v_free(&v);
	return rc;
}

/* ---- export bundle --------------------------------------------------------- */

struct exporter {
	FILE *out;
	tk_error *err;
	int rc;
	json_t *keys;
};

static int
put_line(struct exporter *x, json_t *j)
{
	char *line;

	if (j == NULL) {
		(void)tk_fail(x->err, TK_ERR_INTERNAL, "out of memory");
		x->rc = -1;
		return 1;
	}
	line = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (line == NULL) {
		(void)tk_fail(x->err, TK_ERR_INTERNAL, "out of memory");
		x->rc = -1;
		return 1;
	}
	if (fputs(line, x->out) == EOF || fputc('\n', x->out) == EOF) {
		(void)tk_fail(x->err, TK_ERR_INTERNAL, "cannot write the "
		    "export: %s", strerror(errno));
		x->rc = -1;
		free(line);
		return 1;
	}
	free(line);
	return 0;
}

static int
export_key_cb(void *arg, const tk_audit_key_row *k)
{
	struct exporter *x = arg;

	if (json_array_append_new(x->keys, json_string(k->verifier)) != 0) {
		(void)tk_fail(x->err, TK_ERR_INTERNAL, "out of memory");
		x->rc = -1;
		return 1;
	}
	return 0;
}

static int
export_cp_cb(void *arg, const tk_checkpoint_row *r)
{
	return put_line(arg, json_pack("{s:s}", "checkpoint", r->note));
}

static int
export_leaf_cb(void *arg, const tk_event_row *row)
{
	struct exporter *x = arg;
	char *b = b64_encode((const unsigned char *)row->body,
	    strlen(row->body));
	json_t *j;

	if (b == NULL) {
		(void)tk_fail(x->err, TK_ERR_INTERNAL, "out of memory");
		x->rc = -1;
		return 1;
	}
	j = json_pack("{s:I, s:s}", "index", (json_int_t)(row->seq - 1),
	    "leaf", b);
	free(b);
	return put_line(x, j);
}

int
tk_audit_export(tk_store *s, FILE *out, tk_error *err)
{
	struct exporter x;
	uint64_t size;
	bool have_size;
	tk_error e;

	x.out = out;
	x.err = err;
	x.rc = 0;
	x.keys = json_array();
	if (x.keys == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
	/* The tree's size, when its tiles can be read back. A database
	 * whose events were deleted behind the store's back may have tiles
	 * that no longer match; the export is how such a log is taken away
	 * to be checked, so it then carries every stored event and no
	 * declared size, and the verifier holds it to the checkpoints. */
	have_size = tk_store_log_size(s, &size, &e) == 0;
	if (tk_store_audit_key_list(s, export_key_cb, &x, err) != 0 ||
	    x.rc != 0) {
		json_decref(x.keys);
		return -1;
	}
	/* Checkpoints first, so a verifier can check while it streams. */
	if (put_line(&x, have_size ? json_pack("{s:s, s:I, s:o}", "format",
	    TK_AUDIT_EXPORT_FORMAT, "size", (json_int_t)size, "keys",
	    x.keys) : json_pack("{s:s, s:o}", "format",
	    TK_AUDIT_EXPORT_FORMAT, "keys", x.keys)) != 0)
		return -1;
	if (tk_store_checkpoint_list(s, export_cp_cb, &x, err) != 0 ||
	    x.rc != 0)
		return -1;
	if ((!have_size || size > 0) && (tk_store_event_scan(s, 1,
	    have_size ? (int64_t)size : 0, export_leaf_cb, &x, err) != 0 ||
	    x.rc != 0))
		return -1;
	if (fflush(out) != 0)
		return tk_fail(err, TK_ERR_INTERNAL, "cannot write the export: "
		    "%s", strerror(errno)), -1;
	return 0;
}

int
tk_audit_verify_export(FILE *in, const tk_audit_trust *t,
    tk_audit_report *rep, tk_error *err)
{
	struct verifier v;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int64_t lineno = 0, declared = -1;
	bool leaves = false, sorted = false;
	int rc = -1;

	v_begin(&v, t, rep);
	if (t->nkeys == 0) {
		(void)tk_fail(err, TK_ERR_INVALID, "an offline check needs the "
		    "log's verifier key (--key)");
		goto out;
	}
	while (rep->ok && (n = getline(&line, &cap, in)) > 0) {
		json_t *j;
		const char *s;

		lineno++;
		if (n > LINE_MAX_BYTES) {
			report_bad(rep, 0, "malformed", "line %" PRId64 " is "
			    "longer than %d bytes", lineno, LINE_MAX_BYTES);
			break;
		}
		j = json_loadb(line, (size_t)n, 0, NULL);
		if (!json_is_object(j)) {
			report_bad(rep, 0, "malformed", "line %" PRId64 " is not "
			    "a JSON object", lineno);
		} else if (lineno == 1) {
			s = json_string_value(json_object_get(j, "format"));
			if (s == NULL || strcmp(s, TK_AUDIT_EXPORT_FORMAT) != 0)
				report_bad(rep, 0, "malformed", "not a twokey audit "
				    "export (format must be %s)",
				    TK_AUDIT_EXPORT_FORMAT);
			if (json_is_integer(json_object_get(j, "size")))
				declared = json_integer_value(json_object_get(j,
				    "size"));
		} else if ((s = json_string_value(json_object_get(j,
		    "checkpoint"))) != NULL) {
			if (leaves)
				report_bad(rep, 0, "malformed", "line %" PRId64 ": "
				    "checkpoints must come before the events",
				    lineno);
			else if (v_note(&v, s, strlen(s), "bundle", err) != 0) {
				json_decref(j);
				goto out;
			}
		} else {
			json_t *ji = json_object_get(j, "index");
			const char *b = json_string_value(json_object_get(j,
			    "leaf"));
			/* A leaf index, 0 .. INT64_MAX - 1 so that index + 1
			 * (its seq) cannot overflow; -1 when not one. */
			int64_t idx = json_is_integer(ji) &&
			    json_integer_value(ji) >= 0 &&
			    json_integer_value(ji) < INT64_MAX ?
			    (int64_t)json_integer_value(ji) : -1;
			unsigned char *body;
			size_t blen;

			if (!sorted) {
				if (t->checkpoint != NULL && v_note(&v,
				    t->checkpoint, t->checkpoint_len, "given",
				    err) != 0) {
					json_decref(j);
					goto out;
				}
				v_sort(&v);
				sorted = true;
			}
			leaves = true;
			if (idx < 0 || b == NULL ||
			    (body = b64_decode(b, &blen)) == NULL) {
				report_bad(rep, idx >= 0 ? idx + 1 : 0,
				    "malformed", "line %" PRId64 " is not an "
				    "event {\"index\":N,\"leaf\":\"base64\"}",
				    lineno);
			} else {
				v_leaf(&v, idx + 1, (const char *)body, blen,
				    NULL);
				free(body);
			}
		}
		json_decref(j);
	}
	if (ferror(in)) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot read the export: %s",
		    strerror(errno));
		goto out;
	}
	if (lineno == 0)
		report_bad(rep, 0, "malformed", "the export is empty");
	if (!sorted && rep->ok) {
		if (t->checkpoint != NULL && v_note(&v, t->checkpoint,
		    t->checkpoint_len, "given", err) != 0)
			goto out;
		v_sort(&v);
	}
	v_finish(&v);
	if (rep->ok && declared >= 0 && (uint64_t)declared != v.size)
		report_bad(rep, (int64_t)v.size + 1, "truncated", "the export "
		    "says %" PRId64 " events but holds %" PRIu64, declared,
		    v.size);
	if (rep->ok && v.rep->checkpoints == 0)
		report_bad(rep, 0, "signature", "no checkpoint in the export "
		    "is signed by the given key, so nothing vouches for it");
	rc = 0;
out:
	free(line);
	v_free(&v);
	return rc;
}

/* ---- receipts ----------------------------------------------------------------- */

struct receipt_ev {
	tk_store *s;
	uint64_t size;
	json_t *events;
	int64_t last;
	tk_error *err;
	int rc;
};

static int
receipt_ev_cb(void *arg, const tk_event_row *row)
{
	struct receipt_ev *r = arg;
	json_t *j;

	r->last = row->seq;
	j = json_pack("{s:I, s:s}", "index", (json_int_t)(row->seq - 1),
	    "body", row->body);
	if (j == NULL || json_array_append_new(r->events, j) != 0) {
		(void)tk_fail(r->err, TK_ERR_INTERNAL, "out of memory");
		r->rc = -1;
		return 1;
	}
	return 0;
}

/* Adds leaf (base64) and proof to each collected event. */
static int
receipt_prove(struct receipt_ev *r, tk_error *err)
{
	unsigned char proof[PROOF_MAX * 32];
	size_t i, n;
	json_t *ev;

	json_array_foreach(r->events, i, ev) {
		const char *body = json_string_value(json_object_get(ev,
		    "body"));
		uint64_t index = (uint64_t)json_integer_value(json_object_get(ev,
		    "index"));
		json_t *pa = json_array();
		char *b;

		if (pa == NULL)
			return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
		if (tk_store_log_inclusion(r->s, index, r->size, proof, PROOF_MAX,
		    &n, err) != 0) {
			json_decref(pa);
			return -1;
		}
		for (size_t k = 0; k < n; k++) {
			b = b64_encode(proof + 32 * k, 32);
			if (b == NULL || json_array_append_new(pa,
			    json_string(b)) != 0) {
				free(b);
				json_decref(pa);
				return tk_fail(err, TK_ERR_INTERNAL, "out of "
				    "memory"), -1;
			}
			free(b);
		}
		b = b64_encode((const unsigned char *)body, strlen(body));
		if (b == NULL || json_object_set_new(ev, "leaf",
		    json_string(b)) != 0 || json_object_set_new(ev, "proof",
		    pa) != 0) {
			free(b);
			return tk_fail(err, TK_ERR_INTERNAL, "out of memory"), -1;
		}
		free(b);
		if (json_object_del(ev, "body") != 0)
			return tk_fail(err, TK_ERR_INTERNAL, "receipt"), -1;
	}
	return 0;
}

json_t *
tk_audit_receipt(tk_store *s, const char *case_id, tk_error *err)
{
	tk_checkpoint_row cp;
	struct receipt_ev r;
	json_t *out = NULL;

	memset(&cp, 0, sizeof(cp));
	r.s = s;
	r.events = json_array();
	r.last = 0;
	r.err = err;
	r.rc = 0;
	if (r.events == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	if (tk_store_event_list_case(s, case_id, receipt_ev_cb, &r, err) != 0 ||
	    r.rc != 0)
		goto out;
	if (json_array_size(r.events) == 0) {
		(void)tk_fail(err, TK_ERR_NOT_FOUND, "no events for case %s; "
		    "check the case id", case_id);
		goto out;
	}
	if (tk_store_checkpoint_latest(s, &cp, err) != 0) {
		if (err->status == TK_ERR_NOT_FOUND)
			(void)tk_fail(err, TK_ERR_WRONG_STATE, "no checkpoint "
			    "signed yet; retry after the next one");
		goto out;
	}
	if (cp.size < r.last) {
		(void)tk_fail(err, TK_ERR_WRONG_STATE, "the case's last event "
		    "(%" PRId64 ") is not yet under a signed checkpoint (latest "
		    "size %" PRId64 "); retry after the next one", r.last,
		    cp.size);
		goto out;
	}
	r.size = (uint64_t)cp.size;
	if (receipt_prove(&r, err) != 0)
		goto out;
	out = json_pack("{s:s, s:s, s:I, s:s, s:O}", "format",
	    TK_AUDIT_RECEIPT_FORMAT, "case", case_id, "size",
	    (json_int_t)cp.size, "checkpoint", cp.note, "events", r.events);
	if (out == NULL)
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
out:
	json_decref(r.events);
	tk_checkpoint_row_clear(&cp);
	return out;
}

int
tk_audit_receipt_check(const json_t *receipt, const tk_audit_trust *t,
    tk_audit_report *rep, tk_error *err)
{
	const char *fmt, *note, *case_id;
	unsigned char proof[PROOF_MAX * 32], leaf[32];
	tk_checkpoint c;
	size_t text_len, i;
	json_t *evs, *ev;
	tk_error e;

	report_init(rep);
	if (t->nkeys == 0)
		return tk_fail(err, TK_ERR_INVALID, "checking a receipt needs "
		    "the log's verifier key (--key)"), -1;
	fmt = json_string_value(json_object_get(receipt, "format"));
	note = json_string_value(json_object_get(receipt, "checkpoint"));
	case_id = json_string_value(json_object_get(receipt, "case"));
	evs = json_object_get(receipt, "events");
	if (fmt == NULL || strcmp(fmt, TK_AUDIT_RECEIPT_FORMAT) != 0 ||
	    note == NULL || case_id == NULL || !json_is_array(evs)) {
		report_bad(rep, 0, "malformed", "not a twokey receipt (format "
		    "%s with case, checkpoint and events)",
		    TK_AUDIT_RECEIPT_FORMAT);
		return 0;
	}
	if (tk_note_verify(note, strlen(note), t->keys, t->nkeys, NULL,
	    &text_len, &e) != 0) {
		report_bad(rep, 0, "signature", "the receipt's checkpoint is not "
		    "signed by the given key: %.300s", e.msg);
		return 0;
	}
	if (tk_checkpoint_parse(note, text_len, &c, &e) != 0) {
		report_bad(rep, 0, "malformed", "the receipt's checkpoint is "
		    "malformed: %.300s", e.msg);
		return 0;
	}
	rep->checkpoints = 1;
	json_array_foreach(evs, i, ev) {
		json_t *ji = json_object_get(ev, "index"), *pj;
		const char *b = json_string_value(json_object_get(ev, "leaf"));
		unsigned char *body = NULL;
		size_t blen, np = 0, k;
		json_t *parsed;
		const char *evcase;

		pj = json_object_get(ev, "proof");
		if (!json_is_integer(ji) || json_integer_value(ji) < 0 ||
		    json_integer_value(ji) >= INT64_MAX || /* seq = index + 1 */
		    b == NULL || !json_is_array(pj) ||
		    json_array_size(pj) > PROOF_MAX ||
		    (body = b64_decode(b, &blen)) == NULL) {
			report_bad(rep, 0, "malformed", "receipt event %zu is "
			    "malformed", i);
			return 0;
		}
		json_array_foreach(pj, k, ev) {
			if (b64_hash(json_string_value(ev), proof + 32 * np++)
			    != 0) {
				free(body);
				report_bad(rep, json_integer_value(ji) + 1,
				    "malformed", "receipt event %zu has a "
				    "malformed proof", i);
				return 0;
			}
		}
		ev = json_array_get(evs, i);
		if (tk_merkle_leaf_hash(body, blen, leaf) != 0) {
			free(body);
			return tk_fail(err, TK_ERR_INTERNAL, "cannot hash"), -1;
		}
		parsed = json_loadb((const char *)body, blen, 0, NULL);
		evcase = json_string_value(json_object_get(parsed, "case"));
		if (evcase == NULL || strcmp(evcase, case_id) != 0 ||
		    body_seq((const char *)body, blen) !=
		    json_integer_value(ji) + 1) {
			report_bad(rep, json_integer_value(ji) + 1, "edited",
			    "receipt event %zu is not event %" PRId64 " of case "
			    "%s", i, (int64_t)json_integer_value(ji) + 1,
			    case_id);
		} else if (tk_merkle_verify_inclusion(
		    (uint64_t)json_integer_value(ji), c.size, leaf, proof, np,
		    c.root, &e) != 0) {
			report_bad(rep, json_integer_value(ji) + 1, "edited",
			    "event %" PRId64 " is not in the signed log of size %"
			    PRIu64 ": %.300s", (int64_t)json_integer_value(ji) + 1,
			    c.size, e.msg);
		} else {
			rep->events++;
		}
		json_decref(parsed);
		free(body);
		if (!rep->ok)
			return 0;
	}
	return 0;
}
