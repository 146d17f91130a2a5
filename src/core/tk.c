/*
 * tk.c - shared helpers: status names and HTTP codes, error filling,
 * bounded string copy, RFC 3339 time and duration formatting.
 */
#include "core/tk.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char *code;
	int http;
} status_table[] = {
	[TK_OK] = {"ok", 200},
	[TK_ERR_INVALID] = {"invalid_request", 400},
	[TK_ERR_UNAUTH] = {"unauthenticated", 401},
	[TK_ERR_FORBIDDEN] = {"forbidden", 403},
	[TK_ERR_SOD] = {"sod_violation", 403},
	[TK_ERR_NOT_FOUND] = {"not_found", 404},
	[TK_ERR_WRONG_STATE] = {"wrong_state", 409},
	[TK_ERR_TOO_LARGE] = {"too_large", 413},
	[TK_ERR_POLICY_DENIED] = {"policy_denied", 422},
	[TK_ERR_INTERNAL] = {"internal", 500},
	[TK_ERR_TOO_MANY] = {"rate_limited", 429},
};

const char *
tk_status_code(enum tk_status s)
{
	if ((unsigned)s >= sizeof(status_table) / sizeof(status_table[0]))
		return "internal";
	return status_table[s].code;
}

int
tk_status_http(enum tk_status s)
{
	if ((unsigned)s >= sizeof(status_table) / sizeof(status_table[0]))
		return 500;
	return status_table[s].http;
}

static void
vfail(tk_error *e, enum tk_status status, int inv, const char *fmt,
    va_list ap)
{
	if (e == NULL)
		return;
	e->status = status;
	e->invariant = inv;
	(void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

enum tk_status
tk_fail(tk_error *e, enum tk_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(e, status, 0, fmt, ap);
	va_end(ap);
	return status;
}

enum tk_status
tk_fail_sod(tk_error *e, int invariant, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(e, TK_ERR_SOD, invariant, fmt, ap);
	va_end(ap);
	return TK_ERR_SOD;
}

int
tk_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n;

	if (size == 0)
		return -1;
	if (src == NULL)
		src = "";
	n = strlen(src);
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

void
tk_utf8_trim(char *s)
{
	size_t len = strlen(s), j, need;
	unsigned char lead;

	if (len == 0)
		return;
	j = len - 1;
	while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80 && len - j < 4)
		j--;
	lead = (unsigned char)s[j];
	if (lead < 0x80)
		need = 1;
	else if ((lead & 0xE0) == 0xC0)
		need = 2;
	else if ((lead & 0xF0) == 0xE0)
		need = 3;
	else if ((lead & 0xF8) == 0xF0)
		need = 4;
	else
		need = len + 1; /* stray byte: cut it */
	if (j + need > len)
		s[j] = '\0';
}

int
tk_db_file_path(const char *db, const char *suffix, char *out, size_t size,
    tk_error *err)
{
	int n;

	if (db == NULL || db[0] == '\0' || strcmp(db, ":memory:") == 0)
		return tk_fail(err, TK_ERR_INVALID, "the audit and seal keys "
		    "and the checkpoint copy live next to a database file; "
		    "give --db PATH"), -1;
	n = snprintf(out, size, "%s%s", db, suffix);
	if (n < 0 || (size_t)n >= size)
		return tk_fail(err, TK_ERR_INVALID, "database path too long"),
		    -1;
	return 0;
}

void
tk_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void
tk_time_format(tk_time t, char *buf, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)tk_strlcpy(buf, "1970-01-01T00:00:00Z", size);
}

int
tk_duration_parse(const char *s, tk_time *out)
{
	char *end;
	long long v;
	tk_time mult;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0 || v > 3650LL * 86400)
		return -1;
	if (*end == '\0') {
		if (v != 0)
			return -1; /* a unit is required except for 0 */
		*out = 0;
		return 0;
	}
	switch (*end) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return -1;
	}
	if (end[1] != '\0' || v * mult > 3650LL * 86400)
		return -1;
	*out = (tk_time)v * mult;
	return 0;
}

void
tk_duration_format(tk_time d, char *buf, size_t size)
{
	if (d != 0 && d % 86400 == 0)
		(void)snprintf(buf, size, "%lldd", (long long)(d / 86400));
	else if (d != 0 && d % 3600 == 0)
		(void)snprintf(buf, size, "%lldh", (long long)(d / 3600));
	else if (d != 0 && d % 60 == 0)
		(void)snprintf(buf, size, "%lldm", (long long)(d / 60));
	else
		(void)snprintf(buf, size, "%llds", (long long)d);
}

int
tk_read_file(const char *path, const char *what, size_t max, char **out,
    size_t *len, tk_error *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (void)tk_fail(err, TK_ERR_INVALID, "cannot open %s %.300s: %s",
		    what, path, strerror(errno)), -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		return (void)tk_fail(err, TK_ERR_INVALID, "%s %.300s is not a "
		    "regular file", what, path), -1;
	}
	if ((unsigned long long)st.st_size > max) {
		(void)close(fd);
		return (void)tk_fail(err, TK_ERR_INVALID, "%s %.300s is larger than "
		    "%zu bytes", what, path, max), -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		(void)close(fd);
		return (void)tk_fail(err, TK_ERR_INTERNAL, "out of memory reading "
		    "%.300s", path), -1;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			(void)tk_fail(err, TK_ERR_INVALID, "reading %s %.300s: %s",
			    what, path, strerror(errno));
			(void)close(fd);
			OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	(void)close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}
