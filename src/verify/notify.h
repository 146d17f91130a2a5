/*
 * notify.h - telling people things: e-mail through the SMTP server and
 * SMS through the HTTP gateway named in the directory file's notify
 * section. Used for holds ("this was not me"), temporary credentials
 * delivered to a contact on file, and alerts.
 *
 * Owns: building the RFC 5322 message (headers, RFC 2047 subject,
 * quoted-printable body), refusing header injection, the SMS gateway's
 * JSON request, and choosing the channel from the contact's shape.
 *
 * Every call is synchronous, blocks at most cfg->timeout_ms, and may run
 * on several threads at once (one libcurl handle per call). The caller
 * must have called curl_global_init once (the twokey binary does so in
 * main before any command). Messages may carry a secret: no error text
 * ever quotes the message body, and every buffer that held it is wiped.
 * Errors do not quote the recipient or subject either (they may be the
 * very text an attacker tried to inject).
 */
#ifndef TK_NOTIFY_H
#define TK_NOTIFY_H

#include <stddef.h>

#include "connectors/directory.h"
#include "core/tk.h"

#define TK_MAIL_SUBJECT_MAX 512    /* bytes of UTF-8 */
#define TK_MAIL_TEXT_MAX 65536     /* bytes of UTF-8 */
#define TK_SMS_TEXT_MAX 1600       /* bytes of UTF-8 (ten SMS parts) */

typedef struct tk_message {
	const char *to;          /* one e-mail address (tk_mail_send) */
	const char *subject;     /* UTF-8, one line; NULL = "" */
	const char *text;        /* UTF-8; any line breaks; may hold a secret */
} tk_message;

/* Sends one e-mail through cfg->smtp_url (smtp:// with STARTTLS required
 * when cfg->smtp_starttls, or smtps://; AUTH with smtp_user and the
 * password from smtp_password_file, a chmod 600 one-line file, when
 * smtp_user is set). The message is text/plain; charset=utf-8, 7bit when
 * the text is short-lined ASCII, quoted-printable otherwise (libcurl does
 * not ask for 8BITMIME, so raw 8-bit bytes are not sent); the subject is
 * RFC 2047 encoded when it is not ASCII. Refuses, with TK_ERR_INVALID and
 * without connecting: a to or subject holding CR, LF or another control
 * character, a to that is not one plain address, text or subject that is
 * not UTF-8 or too long (TK_ERR_TOO_LARGE). On a delivery failure,
 * TK_ERR_INTERNAL with the URL, libcurl's reason and the server's last
 * reply. Returns 0 when the server accepted the message, -1 otherwise. */
int tk_mail_send(const tk_notify_config *cfg, const tk_message *m,
    tk_error *err);

/* Sends an SMS: POST cfg->sms_url with {"to": NUMBER, "text": TEXT}
 * (the number without blanks, dashes, dots or parentheses), and
 * Authorization: Bearer TOKEN (from sms_token_file, chmod 600) when the
 * file is set. 2xx = sent (0); otherwise -1 with the status and a short,
 * sanitised excerpt of the gateway's answer (the text itself is cut out
 * of it should the gateway echo it). No redirects. */
int tk_sms_send(const tk_notify_config *cfg, const char *to,
    const char *text, tk_error *err);

enum tk_notify_channel {
	TK_NOTIFY_NONE = 0,      /* neither an address nor a number */
	TK_NOTIFY_EMAIL,         /* holds '@' */
	TK_NOTIFY_SMS,           /* digits, blanks, + - . ( ), >= 3 digits */
};

/* Which channel a contact needs (no validation beyond the shape). */
enum tk_notify_channel tk_notify_channel_of(const char *contact);

/* Sends m to contact through the channel its shape asks for (m->to is
 * ignored: contact is the recipient; an SMS carries m->text only). -1
 * with TK_ERR_INVALID when the contact is neither, or when the channel it
 * needs is not configured ("no smtp in the directory file's notify
 * section"). */
int tk_notify_send(const tk_notify_config *cfg, const char *contact,
    const tk_message *m, tk_error *err);

/* Builds the message tk_mail_send would send, dated now (Unix seconds),
 * into a malloc'ed buffer (*out, *len, NUL-terminated). The caller wipes
 * (OPENSSL_cleanse) and frees it. Same refusals as tk_mail_send. For
 * tests and for a dry run. */
int tk_mail_build(const tk_notify_config *cfg, const tk_message *m,
    int64_t now, char **out, size_t *len, tk_error *err);

#endif
