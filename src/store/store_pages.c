/*
 * store_pages.c - reads the events and tiles of an SQLite store straight
 * from the database file's pages, for the audit walk (store_pages.h).
 * Stepping SQLite cost about 0.5 us per event, half of a verification's
 * CPU; this reads the table B-trees as https://sqlite.org/fileformat2.html
 * describes them, with large pread()s into buffers it reuses (a memory
 * map of the file cost more: on a virtual machine the first touch of
 * every freshly mapped page traps to the hypervisor, about 1.5 us a
 * page here).
 *
 * Owns: the file descriptor, the readers' buffers, and the read
 * transaction that keeps the file the snapshot it reads. Trusts nothing
 * in the file: every page number, offset and length is checked against
 * the page and the file, depths and page visits are bounded, row ids
 * must rise. Whatever is not shaped as
 * the store writes it (records with other column types, payloads too
 * large to be events or tiles, any oddity of the tree) is left to SQLite
 * (TK_PAGES_ASK_SQLITE), which then gives its own answer for that range:
 * so this file never decides whether a row is acceptable, only reads the
 * ones that plainly are.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"
#include "store/store_pages.h"

#define DEPTH_MAX 20            /* as SQLite's BTCURSOR_MAX_DEPTH */
#define WIN_BYTES (128 * 1024)  /* leaf pages read at once (stays in L2) */
#define PAYLOAD_MAX (64 * 1024) /* larger rows: SQLite reads them */
#define COL_MAX 1024            /* case id, kind, actor: longer ones too */
#define TILE_BYTES (256 * 32)

#define PT_INTERIOR 0x05        /* table B-tree page types */
#define PT_LEAF 0x0d

struct tk_pages {
	sqlite3 *db;
	int fd;                 /* the database file, read only */
	uint64_t len;           /* its size when opened */
	uint32_t psize;         /* page size */
	uint32_t usable;        /* page size less the reserved bytes */
	uint32_t npages;
	uint32_t ev_root, tile_root;
};

/* ---- open, close ------------------------------------------------------- */

static uint32_t
be16(const unsigned char *b)
{
	return (uint32_t)b[0] << 8 | b[1];
}

static uint32_t
be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

/* The root page of table `name`, inside the open transaction. */
static int
root_page(sqlite3 *db, const char *name, uint32_t *root)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	sqlite3_int64 v;

	if (sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE "
	    "type = 'table' AND name = ?1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		v = sqlite3_column_int64(st, 0);
		if (v > 0 && v <= UINT32_MAX) {
			*root = (uint32_t)v;
			rc = 0;
		}
	}
	(void)sqlite3_finalize(st);
	return rc;
}

/* Reads n bytes at off, all of them: 0, or -1 (short file, error). */
static int
read_full(int fd, unsigned char *buf, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t k = pread(fd, buf, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* The file's header: page size, reserved bytes, size in pages, UTF-8. */
static int
read_header(tk_pages *p, char *why, size_t why_size)
{
	unsigned char h[100];
	uint32_t n;

	if (p->len < 100 || read_full(p->fd, h, sizeof(h), 0) != 0 ||
	    memcmp(h, "SQLite format 3", 16) != 0) {
		(void)snprintf(why, why_size, "not an SQLite 3 file");
		return -1;
	}
	p->psize = be16(h + 16) == 1 ? 65536 : be16(h + 16);
	if (p->psize < 512 || (p->psize & (p->psize - 1)) != 0 ||
	    (h[18] != 1 && h[18] != 2) || (h[19] != 1 && h[19] != 2) ||
	    be32(h + 56) != 1) {
		(void)snprintf(why, why_size, "a file format this reader does "
		    "not know (page size, version or text encoding)");
		return -1;
	}
	if (h[20] > p->psize - 480) {
		(void)snprintf(why, why_size, "too many reserved bytes");
		return -1;
	}
	p->usable = p->psize - h[20];
	/* The header's size counts when it is valid (as SQLite decides);
	 * else the file's. Either way no page lies beyond the file. */
	n = be32(h + 28);
	if (n == 0 || be32(h + 92) != be32(h + 24))
		n = (uint32_t)(p->len / p->psize);
	if ((uint64_t)n * p->psize > p->len) {
		(void)snprintf(why, why_size, "the file is shorter than its "
		    "header says");
		return -1;
	}
	p->npages = n;
	return 0;
}

tk_pages *
tk_pages_open(tk_store *s, char *why, size_t why_size)
{
	const char *path = tk_store_path(s);
	char wal[4096];
	struct stat stw, st;
	tk_pages *p;
	int n;

	if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0) {
		(void)snprintf(why, why_size, "not a plain database file");
		return NULL;
	}
	n = snprintf(wal, sizeof(wal), "%s-wal", path);
	if (n < 0 || (size_t)n >= sizeof(wal)) {
		(void)snprintf(why, why_size, "path too long");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		(void)snprintf(why, why_size, "out of memory");
		return NULL;
	}
	p->fd = -1;
	p->db = tk_store_sqlite(s);
	if (!sqlite3_get_autocommit(p->db)) {
		(void)snprintf(why, why_size, "a transaction is open");
		free(p);
		return NULL;
	}
	/* The read transaction first: its snapshot is taken by the first
	 * read (the schema's). */
	if (sqlite3_exec(p->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		(void)snprintf(why, why_size, "BEGIN: %s", sqlite3_errmsg(p->db));
		free(p);
		return NULL;
	}
	if (root_page(p->db, "events", &p->ev_root) != 0 ||
	    root_page(p->db, "tiles", &p->tile_root) != 0) {
		(void)snprintf(why, why_size, "no events or tiles table");
		goto fail;
	}
	/* With the snapshot held: a write-ahead log that is absent or empty
	 * means the snapshot is the file itself, and SQLite then keeps any
	 * checkpoint from writing into the file until this transaction
	 * ends (a checkpoint needs WAL_READ_LOCK(0), which readers of the
	 * file alone hold). Frames in the log: leave it all to SQLite. */
	if (stat(wal, &stw) == 0) {
		if (stw.st_size != 0) {
			(void)snprintf(why, why_size, "the write-ahead log holds "
			    "frames");
			goto fail;
		}
	} else if (errno != ENOENT) {
		(void)snprintf(why, why_size, "%s: %s", wal, strerror(errno));
		goto fail;
	}
	p->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->fd < 0) {
		(void)snprintf(why, why_size, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(p->fd, &st) != 0 || st.st_size < 100) {
		(void)snprintf(why, why_size, "%s: cannot size it", path);
		goto fail;
	}
	p->len = (uint64_t)st.st_size;
	if (read_header(p, why, why_size) != 0)
		goto fail;
	return p;
fail:
	tk_pages_close(p);
	return NULL;
}

void
tk_pages_close(tk_pages *p)
{
	if (p == NULL)
		return;
	if (p->fd >= 0)
		(void)close(p->fd);
	/* A read transaction: nothing to undo. */
	(void)sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
	free(p);
}

/* ---- pages and cells ------------------------------------------------- */

/* A page of the tree, its B-tree header and cell count. */
struct pg {
	const unsigned char *b;     /* the page */
	uint32_t hdr;               /* offset of its B-tree header */
	uint32_t ncell;
	int type;
};

/* Reads page g->b of number pgno as a table B-tree page. */
static int
page_parse(const tk_pages *p, uint32_t pgno, struct pg *g)
{
	uint32_t hlen;

	g->hdr = pgno == 1 ? 100 : 0;
	g->type = g->b[g->hdr];
	if (g->type == PT_LEAF)
		hlen = 8;
	else if (g->type == PT_INTERIOR)
		hlen = 12;
	else
		return -1;
	g->ncell = be16(g->b + g->hdr + 3);
	if (g->hdr + hlen + 2 * g->ncell > p->usable)
		return -1;
	return 0;
}

/* Offset of cell i, checked to leave room for its smallest form. */
static int
cell_at(const tk_pages *p, const struct pg *g, uint32_t i, uint32_t *off)
{
	uint32_t hlen = g->type == PT_LEAF ? 8 : 12;
	uint32_t o = be16(g->b + g->hdr + hlen + 2 * i);

	if (o < g->hdr + hlen + 2 * g->ncell || o + 4 >= p->usable)
		return -1;
	*off = o;
	return 0;
}

/* A varint at b[*i] within b[..end); -1 past the end. */
static int
varint(const unsigned char *b, uint32_t end, uint32_t *i, uint64_t *v)
{
	uint64_t x = 0;

	for (int k = 0; k < 9; k++) {
		if (*i >= end)
			return -1;
		if (k == 8) {
			x = (x << 8) | b[(*i)++];
			*v = x;
			return 0;
		}
		x = (x << 7) | (b[*i] & 0x7f);
		if ((b[(*i)++] & 0x80) == 0) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* An interior cell's key and left child. */
static int
interior_cell(const tk_pages *p, const struct pg *g, uint32_t i,
    int64_t *key, uint32_t *child)
{
	uint32_t o;
	uint64_t k;

	if (cell_at(p, g, i, &o) != 0)
		return -1;
	*child = be32(g->b + o);
	o += 4;
	if (varint(g->b, p->usable, &o, &k) != 0)
		return -1;
	*key = (int64_t)k;
	return 0;
}

/* A leaf cell's row id, and where its payload starts. */
static int
leaf_cell(const tk_pages *p, const struct pg *g, uint32_t i, int64_t *rowid,
    uint64_t *psize, uint32_t *payload)
{
	uint32_t o;
	uint64_t r;

	if (cell_at(p, g, i, &o) != 0 ||
	    varint(g->b, p->usable, &o, psize) != 0 ||
	    varint(g->b, p->usable, &o, &r) != 0)
		return -1;
	*rowid = (int64_t)r;
	*payload = o;
	return 0;
}

/* ---- readers ----------------------------------------------------------- */

/*
 * A cursor: a path from the root to a leaf cell. At interior levels, i
 * is the child taken (ncell: the right-most one). Each level keeps its
 * own copy of its page (and which page it is, so that the next seek
 * from the root reads only what changed); a windowed cursor's leaves
 * stay in the reader's window instead of being copied.
 */
struct level {
	struct pg g;
	uint32_t i;
	uint32_t pgno;          /* page held in buf (0: none) */
	unsigned char *buf;
};

struct cursor {
	tk_pages_reader *r;
	bool windowed;
	int depth;
	uint64_t budget;        /* pages it may still visit */
	struct level at[DEPTH_MAX];
};

struct tk_pages_reader {
	const tk_pages *p;
	unsigned char *win;     /* WIN_BYTES: consecutive pages */
	uint32_t win_first, win_n;
	unsigned char *page;    /* one page: an overflow page */
	unsigned char *payload; /* PAYLOAD_MAX, for rows that overflow */
	struct cursor ev, tile;
};

tk_pages_reader *
tk_pages_reader_new(const tk_pages *p)
{
	tk_pages_reader *r;

	if (p == NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->p = p;
	r->win = malloc(WIN_BYTES > p->psize ? WIN_BYTES : p->psize);
	r->page = malloc(p->psize);
	r->payload = malloc(PAYLOAD_MAX);
	if (r->win == NULL || r->page == NULL || r->payload == NULL) {
		tk_pages_reader_free(r);
		return NULL;
	}
	r->ev.r = r->tile.r = r;
	r->ev.windowed = true;
	return r;
}

void
tk_pages_reader_free(tk_pages_reader *r)
{
	if (r == NULL)
		return;
	for (int d = 0; d < DEPTH_MAX; d++) {
		free(r->ev.at[d].buf);
		free(r->tile.at[d].buf);
	}
	free(r->win);
	free(r->page);
	free(r->payload);
	free(r);
}

static const unsigned char *
in_window(const tk_pages_reader *r, uint32_t pgno)
{
	if (r->win_n == 0 || pgno < r->win_first ||
	    pgno - r->win_first >= r->win_n)
		return NULL;
	return r->win + (size_t)(pgno - r->win_first) * r->p->psize;
}

/* Loads the window with the pages from pgno on. */
static int
window_load(tk_pages_reader *r, uint32_t pgno)
{
	const tk_pages *p = r->p;
	uint32_t n = WIN_BYTES / p->psize;

	if (n == 0)
		n = 1;
	if (n > p->npages - pgno + 1)
		n = p->npages - pgno + 1;
	r->win_n = 0;
	if (read_full(p->fd, r->win, (size_t)n * p->psize,
	    (uint64_t)(pgno - 1) * p->psize) != 0)
		return -1;
	r->win_first = pgno;
	r->win_n = n;
	return 0;
}

/* Enters page pgno at the cursor's next level. */
static int
push(struct cursor *c, uint32_t pgno)
{
	tk_pages_reader *r = c->r;
	const tk_pages *p = r->p;
	struct level *l;
	const unsigned char *w;

	if (c->depth >= DEPTH_MAX || c->budget == 0 || pgno == 0 ||
	    pgno > p->npages)
		return -1;
	c->budget--;
	l = &c->at[c->depth];
	if (l->buf == NULL && (l->buf = malloc(p->psize)) == NULL)
		return -1;
	l->i = 0;
	l->g.b = NULL;
	if (c->windowed && (w = in_window(r, pgno)) != NULL) {
		l->g.b = w;
		if (page_parse(p, pgno, &l->g) != 0)
			return -1;
		if (l->g.type == PT_LEAF)
			goto done;
		/* Interior pages outlive the window: copied. */
		memcpy(l->buf, w, p->psize);
		l->pgno = pgno;
	} else if (l->pgno != pgno) {
		l->pgno = 0;
		if (read_full(p->fd, l->buf, p->psize,
		    (uint64_t)(pgno - 1) * p->psize) != 0)
			return -1;
		l->pgno = pgno;
	}
	l->g.b = l->buf;
	if (page_parse(p, pgno, &l->g) != 0)
		return -1;
	if (c->windowed && l->g.type == PT_LEAF) {
		/* The leaves that follow are mostly the pages after it. */
		if (window_load(r, pgno) != 0 ||
		    (l->g.b = in_window(r, pgno)) == NULL ||
		    page_parse(p, pgno, &l->g) != 0)
			return -1;
	}
done:
	c->depth++;
	return 0;
}

/*
 * A leaf cell's payload of n bytes at offset o: in place when it fits
 * the page, else gathered with its overflow pages into r->payload. *data
 * points at it. -1: malformed or too large.
 */
static int
payload(tk_pages_reader *r, const struct pg *g, uint32_t o, uint64_t n,
    const unsigned char **data)
{
	const tk_pages *p = r->p;
	uint32_t u = p->usable, x = u - 35, m, local;
	uint64_t k, done;
	uint32_t next, visits = 0;

	if (n <= x) {
		if (o + n > u)
			return -1;
		*data = g->b + o;
		return 0;
	}
	if (n > PAYLOAD_MAX)
		return -1;
	m = ((u - 12) * 32 / 255) - 23;
	k = m + (n - m) % (u - 4);
	local = k <= x ? (uint32_t)k : m;
	if ((uint64_t)o + local + 4 > u)
		return -1;
	memcpy(r->payload, g->b + o, local);
	done = local;
	next = be32(g->b + o + local);
	while (done < n) {
		const unsigned char *ob;
		uint64_t take;

		if (next == 0 || next > p->npages || ++visits > p->npages)
			return -1;
		/* (From the window when there, without moving it: the
		 * leaf being read may lie in it.) */
		if ((ob = in_window(r, next)) == NULL) {
			if (read_full(p->fd, r->page, p->psize,
			    (uint64_t)(next - 1) * p->psize) != 0)
				return -1;
			ob = r->page;
		}
		take = n - done < u - 4 ? n - done : u - 4;
		memcpy(r->payload + done, ob + 4, (size_t)take);
		done += take;
		next = be32(ob);
	}
	*data = r->payload;
	return 0;
}

/* The child an interior level points at. */
static int
child_of(const struct cursor *c, int d, uint32_t *child)
{
	const struct pg *g = &c->at[d].g;
	int64_t key;

	if (c->at[d].i == g->ncell) {
		*child = be32(g->b + g->hdr + 8);
		return 0;
	}
	return interior_cell(c->r->p, g, c->at[d].i, &key, child);
}

/*
 * Positions c on the first leaf cell with row id >= key (possibly past
 * the last cell of its leaf: settle moves on). -1: malformed.
 */
static int
seek(struct cursor *c, uint32_t root, int64_t key)
{
	const tk_pages *p = c->r->p;
	uint32_t pgno = root;

	c->depth = 0;
	c->budget = (uint64_t)p->npages * 2 + 64;
	for (;;) {
		struct pg *g;
		uint32_t lo, hi;

		if (push(c, pgno) != 0)
			return -1;
		g = &c->at[c->depth - 1].g;
		lo = 0;
		hi = g->ncell;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2, child, po;
			int64_t k;
			uint64_t ps;

			if (g->type == PT_INTERIOR ?
			    interior_cell(p, g, mid, &k, &child) :
			    leaf_cell(p, g, mid, &k, &ps, &po))
				return -1;
			if (k < key)
				lo = mid + 1;
			else
				hi = mid;
		}
		c->at[c->depth - 1].i = lo;
		if (g->type == PT_LEAF)
			return 0;
		if (child_of(c, c->depth - 1, &pgno) != 0)
			return -1;
	}
}

/* Moves to a leaf cell at or after the current position: 0 there, 1 at
 * the end of the tree, -1 malformed. */
static int
settle(struct cursor *c)
{
	for (;;) {
		int d = c->depth - 1;
		uint32_t child;

		if (d < 0)
			return 1;
		if (c->at[d].g.type == PT_LEAF) {
			if (c->at[d].i < c->at[d].g.ncell)
				return 0;
			c->depth--;     /* leaf done: up, to the next child */
			if (c->depth > 0)
				c->at[c->depth - 1].i++;
			continue;
		}
		if (c->at[d].i > c->at[d].g.ncell) {
			c->depth--;
			if (c->depth > 0)
				c->at[c->depth - 1].i++;
			continue;
		}
		if (child_of(c, d, &child) != 0 || push(c, child) != 0)
			return -1;
	}
}

/* ---- events and tiles -------------------------------------------------- */

/* One record's header: its serial types, and where each value starts. */
#define NCOL_EVENT 8
#define NCOL_TILE 2

static int
record(const unsigned char *r, uint64_t n, int ncol, uint64_t *type,
    uint64_t *at)
{
	uint32_t i = 0, end;
	uint64_t hs, off;

	if (varint(r, n > 9 ? 9 : (uint32_t)n, &i, &hs) != 0 || hs > n ||
	    hs < i)
		return -1;
	end = (uint32_t)hs;
	off = hs;
	for (int k = 0; k < ncol; k++) {
		uint64_t t, len;

		if (varint(r, end, &i, &t) != 0)
			return -1;
		if (t >= 12)
			len = (t - 12) / 2;
		else if (t <= 4)
			len = t;
		else if (t == 5)
			len = 6;
		else if (t == 6 || t == 7)
			len = 8;
		else if (t == 8 || t == 9)
			len = 0;
		else
			return -1;
		type[k] = t;
		at[k] = off;
		off += len;
		if (off > n)
			return -1;
	}
	return i == end && off == n ? 0 : -1; /* no more, no fewer */
}

/* An integer value (serial types 1-6, 8, 9); -1 for any other type. */
static int
int_value(const unsigned char *v, uint64_t t, int64_t *out)
{
	static const int len[] = {0, 1, 2, 3, 4, 6, 8};
	uint64_t x;
	int n;

	if (t == 8 || t == 9) {
		*out = (int64_t)t - 8;
		return 0;
	}
	if (t < 1 || t > 6)
		return -1;
	n = len[t];
	x = v[0] & 0x80 ? UINT64_MAX : 0; /* sign */
	for (int k = 0; k < n; k++)
		x = (x << 8) | v[k];
	*out = (int64_t)x;
	return 0;
}

/* A text value copied out with its NUL, as sqlite3_value_text gives it. */
static int
text_value(const unsigned char *v, uint64_t t, char *out)
{
	uint64_t n;

	if (t < 13 || (t & 1) == 0)
		return -1;
	n = (t - 13) / 2;
	if (n >= COL_MAX)
		return -1;
	memcpy(out, v, (size_t)n);
	out[n] = '\0';
	return 0;
}

/* One events row in the store's shape: seq (the row id: NULL in the
 * record), ts, case_id, kind, actor, alert, body, hash. -1: another
 * shape, for SQLite to judge. */
static int
event_row(const unsigned char *r, uint64_t n, int64_t rowid, tk_leaf *l,
    char cols[3][COL_MAX])
{
	uint64_t t[NCOL_EVENT], at[NCOL_EVENT];
	int64_t alert;

	if (record(r, n, NCOL_EVENT, t, at) != 0 || t[0] != 0 ||
	    int_value(r + at[1], t[1], &l->ts) != 0 ||
	    text_value(r + at[2], t[2], cols[0]) != 0 ||
	    text_value(r + at[3], t[3], cols[1]) != 0 ||
	    text_value(r + at[4], t[4], cols[2]) != 0 ||
	    int_value(r + at[5], t[5], &alert) != 0 ||
	    t[6] < 13 || (t[6] & 1) == 0 || t[7] != 12 + 2 * 32)
		return -1;
	l->seq = rowid;
	l->case_id = cols[0];
	l->kind = cols[1];
	l->actor = cols[2];
	l->alert = alert != 0;
	l->body = (const char *)r + at[6];
	l->len = (size_t)((t[6] - 13) / 2);
	l->hash = r + at[7];
	return 0;
}

int
tk_pages_event_leaves(tk_pages_reader *r, int64_t from, int64_t limit,
    tk_leaf_cb cb, void *arg)
{
	const tk_pages *p = r->p;
	struct cursor *c = &r->ev;
	char cols[3][COL_MAX];
	int64_t last = INT64_MIN, n = 0;

	if (limit <= 0 || seek(c, p->ev_root, from) != 0)
		return TK_PAGES_ASK_SQLITE;
	while (n < limit) {
		struct level *l;
		const unsigned char *rec;
		uint64_t ps;
		uint32_t po;
		int64_t rowid;
		tk_leaf lf;
		int s = settle(c);

		if (s < 0)
			return TK_PAGES_ASK_SQLITE;
		if (s > 0)
			break;
		l = &c->at[c->depth - 1];
		if (leaf_cell(p, &l->g, l->i, &rowid, &ps, &po) != 0 ||
		    rowid <= last || rowid < from ||
		    payload(r, &l->g, po, ps, &rec) != 0 ||
		    event_row(rec, ps, rowid, &lf, cols) != 0)
			return TK_PAGES_ASK_SQLITE;
		last = rowid;
		n++;
		l->i++;
		if (cb(arg, &lf) != 0)
			break;
	}
	return 0;
}

int
tk_pages_tile_read(tk_pages_reader *r, int level, uint64_t index,
    unsigned char *hashes, size_t *width)
{
	const tk_pages *p = r->p;
	struct cursor *c = &r->tile;
	const struct level *l;
	const unsigned char *rec;
	uint64_t ps, t[NCOL_TILE], at[NCOL_TILE], len;
	uint32_t po;
	int64_t id, rowid;
	int s;

	if (level < 0 || level > 7 || index >= ((uint64_t)1 << 56))
		return TK_PAGES_ASK_SQLITE;
	id = (int64_t)(((uint64_t)level << 56) | index);
	if (seek(c, p->tile_root, id) != 0 || (s = settle(c)) < 0)
		return TK_PAGES_ASK_SQLITE;
	if (s > 0)
		return 1;
	l = &c->at[c->depth - 1];
	if (leaf_cell(p, &l->g, l->i, &rowid, &ps, &po) != 0)
		return TK_PAGES_ASK_SQLITE;
	if (rowid != id)
		return rowid > id ? 1 : TK_PAGES_ASK_SQLITE;
	if (payload(r, &l->g, po, ps, &rec) != 0 ||
	    record(rec, ps, NCOL_TILE, t, at) != 0 || t[0] != 0 ||
	    t[1] < 12 || (t[1] & 1) != 0)
		return TK_PAGES_ASK_SQLITE;
	len = (t[1] - 12) / 2;
	if (len == 0 || len % 32 != 0 || len > TILE_BYTES)
		return TK_PAGES_ASK_SQLITE; /* SQLite names it malformed */
	memcpy(hashes, rec + at[1], (size_t)len);
	*width = (size_t)len / 32;
	return 0;
}
