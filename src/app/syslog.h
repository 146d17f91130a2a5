/*
 * syslog.h - ships lines (RFC 5424 messages, see audit/export.h) to a
 * syslog collector over UDP (RFC 5426, one datagram per message) or TCP
 * (RFC 6587 octet counting), for continuous SIEM shipping.
 *
 * Owns: one background thread, its socket and a bounded in-memory queue.
 * tk_syslog_send never waits for the network: it copies the line into
 * the queue, or drops it (and counts the drop) when the queue is full.
 * The thread connects, sends, reconnects after a TCP failure with a
 * capped exponential backoff, and gives a message up (counted as
 * dropped) after TK_SYSLOG_ATTEMPTS failed sends. Delivery is best
 * effort: a line written just before a collector vanished can be lost,
 * and one resent after a broken TCP connection can arrive twice. The
 * database stays the record; `twokey audit export --since` fills gaps.
 *
 * Thread safety: every function may be called from any thread, except
 * that tk_syslog_close must be the last call on a handle.
 */
#ifndef TK_SYSLOG_H
#define TK_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tk.h"

#define TK_SYSLOG_ATTEMPTS 3 /* sends of one message before it is dropped */

enum tk_syslog_proto { TK_SYSLOG_UDP, TK_SYSLOG_TCP };

typedef struct tk_syslog_cfg {
	enum tk_syslog_proto proto;
	const char *target;      /* "host:port", "[v6addr]:port", optionally
	                          * prefixed "udp://" or "tcp://" (which then
	                          * overrides proto) */
	size_t queue_max;        /* messages waiting; 0: 4096 */
	size_t queue_bytes_max;  /* bytes waiting; 0: 8 MiB */
	size_t msg_max;          /* longest message; 0: 64 KiB (UDP: at most
	                          * 65507, the largest IPv4 datagram) */
	int connect_timeout_ms;  /* 0: 2000 */
	int send_timeout_ms;     /* 0: 2000 */
	int retry_min_ms;        /* first backoff after a failure; 0: 100 */
	int retry_max_ms;        /* backoff cap; 0: 5000 */
} tk_syslog_cfg;

typedef struct tk_syslog_stats {
	uint64_t queued;     /* messages accepted by tk_syslog_send */
	uint64_t sent;       /* messages written to the socket */
	uint64_t dropped;    /* refused (queue full, too long) or given up */
	uint64_t connects;   /* successful connects (TCP) or opens (UDP) */
	size_t pending;      /* messages in the queue now */
	bool connected;      /* a socket is open now */
	char last_error[160]; /* the latest failure, "" when none yet */
} tk_syslog_stats;

typedef struct tk_syslog tk_syslog;

/* Splits a target into protocol, host and port (see tk_syslog_cfg).
 * proto is left alone without a scheme. Returns 0, or -1 with err. */
int tk_syslog_parse_target(const char *target, enum tk_syslog_proto *proto,
    char *host, size_t host_size, char *port, size_t port_size,
    tk_error *err);

/* Checks the configuration and starts the sender thread; it does not
 * wait for the collector (a collector that is down at start is retried
 * in the background). Returns NULL with err on a bad target or when the
 * thread cannot start. */
tk_syslog *tk_syslog_open(const tk_syslog_cfg *cfg, tk_error *err);

/* Queues a copy of msg (len bytes, no trailing newline needed) and
 * returns 0; returns -1 and counts a drop when the queue is full, msg is
 * longer than msg_max, the handle is closing, or memory runs out. Never
 * waits for the network. */
int tk_syslog_send(tk_syslog *s, const char *msg, size_t len);

/* Waits until the queue is empty or timeout_ms passed. Returns 0 when
 * everything queued so far was sent or dropped, -1 on timeout. */
int tk_syslog_flush(tk_syslog *s, int timeout_ms);

void tk_syslog_stats_get(tk_syslog *s, tk_syslog_stats *out);

/* Sends what it can for up to timeout_ms, then stops the thread, closes
 * the socket and frees everything; what is still queued is counted as
 * dropped (stats_out, when non-NULL, receives the final counters). Waits
 * at most timeout_ms plus one connect or send timeout. NULL is a no-op. */
void tk_syslog_close(tk_syslog *s, int timeout_ms, tk_syslog_stats *stats_out);

#endif
