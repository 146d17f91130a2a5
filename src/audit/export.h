/*
 * export.h - turns stored audit events into the formats security teams
 * ingest: JSON lines, OCSF 1.1 JSON, ArcSight CEF, and the RFC 5424
 * syslog / RFC 6587 octet-counting framing of any of them.
 *
 * Owns: the mapping of every event kind to its OCSF class and activity,
 * CEF name and severities (documented in docs/siem.md), and the escaping
 * rules of each format. Pure: no I/O, no clock, no globals; every
 * function is safe to call from several threads at once.
 *
 * Every string inside an event (justifications, comments, references)
 * may have been typed by an attacker: each format escapes it exactly so
 * that it can neither end a line nor forge a field. A row read back from
 * the store is validated (UTF-8 columns, a body that is a JSON object)
 * before it is formatted.
 *
 * Returned strings are malloc'd and NUL-terminated; the caller frees
 * them. A line never contains a newline. Every function returns 0 on
 * success, -1 on failure with err filled (TK_ERR_INVALID for a malformed
 * row or argument, TK_ERR_TOO_LARGE past TK_EXPORT_MAX,
 * TK_ERR_INTERNAL when out of memory); *out is then NULL.
 */
#ifndef TK_EXPORT_H
#define TK_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/tk.h"
#include "store/store.h"

/* Longest line any formatter returns (a 1 MiB body as base64 plus the
 * decoded copy fits with room to spare). */
#define TK_EXPORT_MAX (8u * 1024u * 1024u)

/* The OCSF schema version the "ocsf" format follows. */
#define TK_OCSF_VERSION "1.1.0"

enum tk_export_format {
	TK_EXPORT_JSONL, /* the event as stored, plus Merkle index and leaf */
	TK_EXPORT_OCSF,  /* OCSF 1.1 event, one object per line */
	TK_EXPORT_CEF    /* ArcSight Common Event Format, version 0 */
};

/* "jsonl", "ocsf" or "cef" (exact, lower case). Returns -1 for any
 * other name. */
int tk_export_format_parse(const char *name, enum tk_export_format *out);
const char *tk_export_format_name(enum tk_export_format f);

/*
 * Formats one stored event as one line without a trailing newline.
 *   jsonl: {"seq","index" (seq - 1, the Merkle leaf index),"ts","case",
 *          "kind","actor","alert","data","hash" (hex, the row's stored hash),
 *          "leaf" (base64 of the exact body bytes)}
 *   ocsf:  see docs/siem.md for the class of each kind;
 *   cef:   CEF:0|twokey|twokey|VERSION|KIND|NAME|SEVERITY|EXTENSIONS.
 * JSON output is ASCII only (non-ASCII as \uXXXX escapes).
 */
int tk_export_event(enum tk_export_format f, const tk_event_row *row,
    char **out, size_t *len, tk_error *err);

/* How loud an event is: ALERT for events written with alert=true,
 * REFUSED for refusals that are not alerts, INFO for the rest. */
enum tk_export_level { TK_LEVEL_INFO, TK_LEVEL_REFUSED, TK_LEVEL_ALERT };
enum tk_export_level tk_export_level(const char *kind, bool alert);
int tk_export_cef_severity(enum tk_export_level l);    /* 3, 5, 8 */
int tk_export_ocsf_severity(enum tk_export_level l);   /* 1, 3, 4 */
int tk_export_syslog_severity(enum tk_export_level l); /* 6, 4, 2 */

/* Where an event kind lands in OCSF. activity_name is the caption of
 * activity_id, or twokey's own name when activity_id is 99 (Other).
 * The case action (e.g. "password_reset", may be NULL) only matters for
 * execution.attested, which becomes the Account Change it names. */
typedef struct tk_ocsf_map {
	int category_uid;          /* 3: Identity & Access Management */
	int class_uid;             /* 3001, 3002 or 3004 */
	const char *class_name;    /* "Account Change" ... */
	int activity_id;
	const char *activity_name;
	const char *cef_name;      /* the CEF header's Name ("Case opened") */
} tk_ocsf_map;
void tk_export_ocsf_map(const char *kind, const char *action,
    tk_ocsf_map *out);

/* RFC 5424 header fields. NULL or "" means the nil value "-". Characters
 * outside printable US-ASCII become '_' and each field is cut to its
 * RFC length (hostname 255, app_name 48, procid 128). */
typedef struct tk_syslog_opts {
	int facility;         /* 0..23; 10 (authpriv) is the usual choice */
	const char *hostname; /* this host's name */
	const char *app_name; /* NULL: "twokey" */
	const char *procid;   /* e.g. the pid as text, or NULL */
} tk_syslog_opts;
#define TK_SYSLOG_FACILITY_DEFAULT 10

/*
 * Wraps msg (a line from tk_export_event for this row) as one RFC 5424
 * message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG with
 * PRI = facility * 8 + tk_export_syslog_severity, TIMESTAMP = the event
 * time, MSGID = the event kind and SD = [origin software="twokey"
 * swVersion="VERSION"]. MSG is sent as is, without a BOM (MSG-ANY).
 * msg must not contain CR or LF (TK_ERR_INVALID).
 */
int tk_export_syslog(const tk_syslog_opts *o, const tk_event_row *row,
    const char *msg, char **out, size_t *len, tk_error *err);

/* RFC 6587 octet counting: "LEN SP MSG" for syslog over TCP. */
int tk_export_octet_frame(const char *msg, size_t msg_len, char **out,
    size_t *len, tk_error *err);

/* Escapers, exposed for tests. Each returns a malloc'd string or NULL
 * when out of memory.
 *   cef_header: '\' -> "\\", '|' -> "\|", controls -> ' '.
 *   cef_value:  '\' -> "\\", '=' -> "\=", LF -> "\n", CR -> "\r",
 *               other controls -> ' '.
 *   sd_value:   '"' -> "\"", '\' -> "\\", ']' -> "\]" (RFC 5424 6.3.3). */
char *tk_export_cef_header_escape(const char *s);
char *tk_export_cef_value_escape(const char *s);
char *tk_export_sd_escape(const char *s);

#endif
