/*
 * syslog.c - the syslog sender: a bounded queue filled by any thread and
 * drained by one background thread that writes to a collector over UDP
 * (one datagram per message) or TCP (RFC 6587 octet counting), with
 * reconnects and a capped exponential backoff.
 *
 * Owns: the queue (a singly linked list; producers append at the tail
 * under the mutex, only the thread takes the head), the socket and the
 * counters. The mutex is never held across network I/O, so
 * tk_syslog_send waits at most for the thread's bookkeeping.
 */
#include "app/syslog.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEF_QUEUE_MAX 4096
#define DEF_QUEUE_BYTES (8u * 1024u * 1024u)
#define DEF_MSG_MAX (64u * 1024u)
#define UDP_MSG_MAX 65507u
#define DEF_CONNECT_MS 2000
#define DEF_SEND_MS 2000
#define DEF_RETRY_MIN_MS 100
#define DEF_RETRY_MAX_MS 5000
#define HOST_MAX 256
#define PORT_MAX 8

/* One queued message: the bytes to write (for TCP already framed). */
struct msg {
	struct msg *next;
	size_t len;
	int attempts;   /* failed sends so far */
	char data[];
};

struct tk_syslog {
	/* fixed after open */
	enum tk_syslog_proto proto;
	char host[HOST_MAX];
	char port[PORT_MAX];
	size_t queue_max, queue_bytes_max, msg_max;
	int connect_ms, send_ms, retry_min_ms, retry_max_ms;
	pthread_t thread;

	/* guarded by mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* queue changed, or stop */
	pthread_cond_t idle;    /* the queue became empty */
	struct msg *head, *tail;
	size_t nqueued, nbytes;
	bool stop;              /* close called: drain until deadline */
	struct timespec deadline; /* CLOCK_MONOTONIC, valid when stop */
	tk_syslog_stats st;

	/* the thread's own */
	int fd;
};

/* ---- time ---------------------------------------------------------------- */

static struct timespec
mono_after(int ms)
{
	struct timespec t;

	(void)clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Milliseconds until t (0 when past). */
static int
ms_until(const struct timespec *t)
{
	struct timespec now;
	long long ms;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(t->tv_sec - now.tv_sec) * 1000 +
	    (t->tv_nsec - now.tv_nsec) / 1000000L;
	if (ms < 0)
		return 0;
	return ms > 3600000 ? 3600000 : (int)ms;
}

/* ---- errors and counters (mu held unless noted) ---------------------------- */

static void
set_error(tk_syslog *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records the latest failure; takes mu itself. */
static void
set_error(tk_syslog *s, const char *fmt, ...)
{
	va_list ap;

	(void)pthread_mutex_lock(&s->mu);
	va_start(ap, fmt);
	(void)vsnprintf(s->st.last_error, sizeof(s->st.last_error), fmt, ap);
	va_end(ap);
	(void)pthread_mutex_unlock(&s->mu);
}

/* Unlinks and frees the head (mu held). */
static void
pop_head(tk_syslog *s)
{
	struct msg *m = s->head;

	if (m == NULL)
		return;
	s->head = m->next;
	if (s->head == NULL)
		s->tail = NULL;
	s->nqueued--;
	s->nbytes -= m->len;
	free(m);
	if (s->head == NULL)
		(void)pthread_cond_broadcast(&s->idle);
}

/* ---- target ------------------------------------------------------------- */

int
tk_syslog_parse_target(const char *target, enum tk_syslog_proto *proto,
    char *host, size_t host_size, char *port, size_t port_size,
    tk_error *err)
{
	const char *p = target, *h, *he, *colon;
	size_t hn, pn;
	long v = 0;

	if (target == NULL || target[0] == '\0')
		goto bad;
	if (strncmp(p, "udp://", 6) == 0) {
		*proto = TK_SYSLOG_UDP;
		p += 6;
	} else if (strncmp(p, "tcp://", 6) == 0) {
		*proto = TK_SYSLOG_TCP;
		p += 6;
	} else if (strstr(p, "://") != NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "syslog target %.200s: the "
		    "scheme must be udp:// or tcp://", target);
		return -1;
	}
	if (*p == '[') {
		h = p + 1;
		he = strchr(h, ']');
		if (he == NULL || he[1] != ':')
			goto bad;
		colon = he + 1;
	} else {
		h = p;
		colon = strrchr(p, ':');
		if (colon == NULL || memchr(p, ':', (size_t)(colon - p)) != NULL)
			goto bad; /* none, or an IPv6 address without [] */
		he = colon;
	}
	hn = (size_t)(he - h);
	pn = strlen(colon + 1);
	if (hn == 0 || hn >= host_size || pn == 0 || pn >= port_size)
		goto bad;
	for (const char *q = colon + 1; *q; q++) {
		if (*q < '0' || *q > '9')
			goto bad;
		v = v * 10 + (*q - '0');
		if (v > 65535)
			goto bad;
	}
	if (v < 1)
		goto bad;
	for (size_t i = 0; i < hn; i++)
		if ((unsigned char)h[i] <= 32 || h[i] == '/' || h[i] == 0x7f)
			goto bad;
	memcpy(host, h, hn);
	host[hn] = '\0';
	memcpy(port, colon + 1, pn + 1);
	return 0;
bad:
	(void)tk_fail(err, TK_ERR_INVALID, "syslog target %.200s is not "
	    "HOST:PORT, [IPV6]:PORT, udp://HOST:PORT or tcp://HOST:PORT with "
	    "a port from 1 to 65535", target ? target : "(none)");
	return -1;
}

/* ---- socket (the thread only) ---------------------------------------------- */

static void
close_fd(tk_syslog *s)
{
	if (s->fd >= 0) {
		(void)close(s->fd);
		s->fd = -1;
		(void)pthread_mutex_lock(&s->mu);
		s->st.connected = false;
		(void)pthread_mutex_unlock(&s->mu);
	}
}

/* Connects a non-blocking socket within connect_ms. */
static int
connect_one(tk_syslog *s, const struct addrinfo *ai)
{
	int fd, soerr = 0;
	socklen_t sl = sizeof(soerr);
	struct pollfd pfd;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	pfd.revents = 0;
	if (poll(&pfd, 1, s->connect_ms) <= 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:
	soerr = errno;
	(void)close(fd);
	errno = soerr;
	return -1;
}

static int
open_socket(tk_syslog *s)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rc, fd = -1, e = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = s->proto == TK_SYSLOG_TCP ? SOCK_STREAM :
	    SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(s->host, s->port, &hints, &res);
	if (rc != 0) {
		set_error(s, "cannot resolve %s: %s", s->host,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = connect_one(s, ai);
		if (fd < 0)
			e = errno;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		set_error(s, "cannot connect to %s:%s: %s", s->host, s->port,
		    strerror(e));
		return -1;
	}
	s->fd = fd;
	(void)pthread_mutex_lock(&s->mu);
	s->st.connected = true;
	s->st.connects++;
	(void)pthread_mutex_unlock(&s->mu);
	return 0;
}

/* A TCP collector never talks back: a readable socket means it closed
 * or reset the connection (or sent junk, which is discarded). Catching
 * that before a write avoids losing the write into a dead connection. */
static bool
tcp_alive(tk_syslog *s)
{
	char junk[256];
	ssize_t n;

	for (int i = 0; i < 64; i++) {
		n = recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n < 0 && errno == EINTR)
			continue;
		set_error(s, "the collector %s:%s closed the connection",
		    s->host, s->port);
		return false;
	}
	return true;
}

/* Writes all of m within send_ms. Returns 0, -1 (retry after a
 * reconnect) or -2 (this message can never be sent: drop it). */
static int
write_msg(tk_syslog *s, const struct msg *m)
{
	struct timespec until = mono_after(s->send_ms);
	size_t off = 0;
	ssize_t n;
	struct pollfd pfd;

	if (s->proto == TK_SYSLOG_TCP && !tcp_alive(s))
		return -1;
	while (off < m->len) {
		n = send(s->fd, m->data + off, m->len - off, MSG_NOSIGNAL);
		if (n > 0) {
			if (s->proto == TK_SYSLOG_UDP)
				return (size_t)n == m->len ? 0 : -1;
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			pfd.fd = s->fd;
			pfd.events = POLLOUT;
			pfd.revents = 0;
			if (poll(&pfd, 1, ms_until(&until)) <= 0) {
				set_error(s, "sending to %s:%s timed out",
				    s->host, s->port);
				return -1;
			}
			continue;
		}
		if (n < 0 && errno == EMSGSIZE) {
			set_error(s, "a %zu-byte message is too long for a "
			    "datagram", m->len);
			return -2;
		}
		set_error(s, "cannot send to %s:%s: %s", s->host, s->port,
		    n < 0 ? strerror(errno) : "nothing written");
		return -1;
	}
	return 0;
}

/* ---- the thread --------------------------------------------------------------- */

/* Sleeps ms unless close arrives (mu held, released while waiting). */
static void
backoff_wait(tk_syslog *s, int ms)
{
	struct timespec t = mono_after(ms);

	while (!s->stop && ms_until(&t) > 0)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &t) != 0)
			break;
}

static bool
past_deadline(tk_syslog *s)
{
	return s->stop && ms_until(&s->deadline) == 0;
}

static void *
sender_main(void *arg)
{
	tk_syslog *s = arg;
	int backoff = 0, rc;
	struct msg *m;

	(void)pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->head == NULL && !s->stop)
			(void)pthread_cond_wait(&s->cv, &s->mu);
		if (s->head == NULL || past_deadline(s))
			break;
		m = s->head; /* stays ours: producers only touch the tail */
		(void)pthread_mutex_unlock(&s->mu);

		rc = s->fd >= 0 ? 0 : open_socket(s);
		if (rc == 0) {
			rc = write_msg(s, m);
			if (rc != 0)
				close_fd(s);
		}

		(void)pthread_mutex_lock(&s->mu);
		if (rc == 0) {
			s->st.sent++;
			backoff = 0;
			pop_head(s);
			continue;
		}
		if (rc == -2 || ++m->attempts >= TK_SYSLOG_ATTEMPTS) {
			s->st.dropped++;
			pop_head(s);
		}
		backoff = backoff == 0 ? s->retry_min_ms : backoff * 2;
		if (backoff > s->retry_max_ms)
			backoff = s->retry_max_ms;
		backoff_wait(s, backoff);
	}
	/* Closing: what could not be sent in time is dropped. */
	while (s->head != NULL) {
		s->st.dropped++;
		pop_head(s);
	}
	(void)pthread_mutex_unlock(&s->mu);
	close_fd(s);
	return NULL;
}

/* ---- public --------------------------------------------------------------- */

tk_syslog *
tk_syslog_open(const tk_syslog_cfg *cfg, tk_error *err)
{
	tk_syslog *s;
	pthread_condattr_t ca;
	enum tk_syslog_proto proto;
	int rc;

	if (cfg == NULL) {
		(void)tk_fail(err, TK_ERR_INVALID, "no syslog configuration");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		(void)tk_fail(err, TK_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	proto = cfg->proto;
	if (tk_syslog_parse_target(cfg->target, &proto, s->host,
	    sizeof(s->host), s->port, sizeof(s->port), err) != 0) {
		free(s);
		return NULL;
	}
	if (proto != TK_SYSLOG_UDP && proto != TK_SYSLOG_TCP) {
		free(s);
		(void)tk_fail(err, TK_ERR_INVALID, "unknown syslog protocol");
		return NULL;
	}
	s->proto = proto;
	s->fd = -1;
	s->queue_max = cfg->queue_max ? cfg->queue_max : DEF_QUEUE_MAX;
	s->queue_bytes_max = cfg->queue_bytes_max ? cfg->queue_bytes_max :
	    DEF_QUEUE_BYTES;
	s->msg_max = cfg->msg_max ? cfg->msg_max : DEF_MSG_MAX;
	if (proto == TK_SYSLOG_UDP && s->msg_max > UDP_MSG_MAX)
		s->msg_max = UDP_MSG_MAX;
	s->connect_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms :
	    DEF_CONNECT_MS;
	s->send_ms = cfg->send_timeout_ms > 0 ? cfg->send_timeout_ms :
	    DEF_SEND_MS;
	s->retry_min_ms = cfg->retry_min_ms > 0 ? cfg->retry_min_ms :
	    DEF_RETRY_MIN_MS;
	s->retry_max_ms = cfg->retry_max_ms > 0 ? cfg->retry_max_ms :
	    DEF_RETRY_MAX_MS;
	if (s->retry_max_ms < s->retry_min_ms)
		s->retry_max_ms = s->retry_min_ms;

	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot create a mutex");
		return NULL;
	}
	if (pthread_condattr_init(&ca) != 0)
		goto fail_mu;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&s->cv, &ca) != 0) {
		(void)pthread_condattr_destroy(&ca);
		goto fail_mu;
	}
	if (pthread_cond_init(&s->idle, &ca) != 0) {
		(void)pthread_condattr_destroy(&ca);
		(void)pthread_cond_destroy(&s->cv);
		goto fail_mu;
	}
	(void)pthread_condattr_destroy(&ca);
	rc = pthread_create(&s->thread, NULL, sender_main, s);
	if (rc != 0) {
		(void)pthread_cond_destroy(&s->cv);
		(void)pthread_cond_destroy(&s->idle);
		(void)pthread_mutex_destroy(&s->mu);
		free(s);
		(void)tk_fail(err, TK_ERR_INTERNAL, "cannot start the syslog "
		    "thread: %s", strerror(rc));
		return NULL;
	}
	return s;
fail_mu:
	(void)pthread_mutex_destroy(&s->mu);
	free(s);
	(void)tk_fail(err, TK_ERR_INTERNAL, "cannot create a condition "
	    "variable");
	return NULL;
}

int
tk_syslog_send(tk_syslog *s, const char *msg, size_t len)
{
	struct msg *m;
	char hdr[24];
	int hn = 0;

	if (s == NULL)
		return -1;
	if (msg == NULL || len > s->msg_max) {
		(void)pthread_mutex_lock(&s->mu);
		s->st.dropped++;
		if (msg == NULL)
			(void)tk_strlcpy(s->st.last_error, "dropped a NULL "
			    "message", sizeof(s->st.last_error));
		else
			(void)snprintf(s->st.last_error,
			    sizeof(s->st.last_error), "dropped a %zu-byte "
			    "message: longer than %zu bytes", len, s->msg_max);
		(void)pthread_mutex_unlock(&s->mu);
		return -1;
	}
	if (s->proto == TK_SYSLOG_TCP) {
		hn = snprintf(hdr, sizeof(hdr), "%zu ", len);
		if (hn < 0 || (size_t)hn >= sizeof(hdr))
			return -1;
	}
	/* Allocate outside the lock; the caps are checked under it. */
	m = malloc(sizeof(*m) + (size_t)hn + len);
	(void)pthread_mutex_lock(&s->mu);
	if (m == NULL || s->stop || s->nqueued >= s->queue_max ||
	    s->nbytes + (size_t)hn + len > s->queue_bytes_max) {
		s->st.dropped++;
		(void)snprintf(s->st.last_error, sizeof(s->st.last_error), "%s",
		    m == NULL ? "dropped a message: out of memory" : s->stop ?
		    "dropped a message: the sender is closing" :
		    "dropped a message: the queue is full");
		(void)pthread_mutex_unlock(&s->mu);
		free(m);
		return -1;
	}
	m->next = NULL;
	m->len = (size_t)hn + len;
	m->attempts = 0;
	memcpy(m->data, hdr, (size_t)hn);
	memcpy(m->data + hn, msg, len);
	if (s->tail != NULL)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->nqueued++;
	s->nbytes += m->len;
	s->st.queued++;
	(void)pthread_cond_signal(&s->cv);
	(void)pthread_mutex_unlock(&s->mu);
	return 0;
}

int
tk_syslog_flush(tk_syslog *s, int timeout_ms)
{
	struct timespec t = mono_after(timeout_ms > 0 ? timeout_ms : 0);
	int rc = 0;

	if (s == NULL)
		return 0;
	(void)pthread_mutex_lock(&s->mu);
	while (s->head != NULL) {
		if (ms_until(&t) == 0 ||
		    pthread_cond_timedwait(&s->idle, &s->mu, &t) == ETIMEDOUT) {
			rc = s->head != NULL ? -1 : 0;
			break;
		}
	}
	(void)pthread_mutex_unlock(&s->mu);
	return rc;
}

void
tk_syslog_stats_get(tk_syslog *s, tk_syslog_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return;
	(void)pthread_mutex_lock(&s->mu);
	*out = s->st;
	out->pending = s->nqueued;
	(void)pthread_mutex_unlock(&s->mu);
}

void
tk_syslog_close(tk_syslog *s, int timeout_ms, tk_syslog_stats *stats_out)
{
	if (s == NULL) {
		if (stats_out != NULL)
			memset(stats_out, 0, sizeof(*stats_out));
		return;
	}
	(void)pthread_mutex_lock(&s->mu);
	s->stop = true;
	s->deadline = mono_after(timeout_ms > 0 ? timeout_ms : 0);
	(void)pthread_cond_broadcast(&s->cv);
	(void)pthread_mutex_unlock(&s->mu);
	(void)pthread_join(s->thread, NULL);
	if (stats_out != NULL)
		tk_syslog_stats_get(s, stats_out);
	(void)pthread_cond_destroy(&s->cv);
	(void)pthread_cond_destroy(&s->idle);
	(void)pthread_mutex_destroy(&s->mu);
	free(s);
}
