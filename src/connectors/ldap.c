/*
 * ldap.c - the ldap connector: performs a case's change in an LDAP
 * directory (OpenLDAP with the ppolicy overlay, or Active Directory)
 * through libldap, one fresh connection and bind per call.
 *
 * Owns: the parsed options and the service account's password (wiped on
 * close). Nothing else is shared between calls, so apply() and status()
 * may run on several threads at once (libldap 2.5 is thread-safe; each
 * call has its own LDAP handle and TLS context).
 *
 * Options (strings in tk_conn_config; see docs/connectors.md):
 *  url                 ldap://host[:port] or ldaps://host[:port]; one URL.
 *  starttls            true|false (default false). When true, StartTLS is
 *                      required: if it fails nothing is sent and the call
 *                      fails. Not allowed with ldaps://.
 *  ca_file             PEM file of the CA(s) that sign the directory's
 *                      certificate (ldaps:// or starttls); the system's
 *                      default otherwise. Certificates are always checked.
 *  bind_dn             the service account's DN.
 *  bind_password_file  file (mode 0600, one line) holding its password.
 *  base_dn             where users are searched (subtree).
 *  user_filter         default "(uid=%s)" ("(sAMAccountName=%s)" for ad);
 *                      every %s is replaced by the subject id escaped per
 *                      RFC 4515; it must match exactly one entry.
 *  flavor              "openldap" (default) or "ad".
 *  group_base          where groups are searched (subtree); required when
 *                      group_add, group_remove or reactivate is declared.
 *  group_filter        default "(cn=%s)"; %s is the group name, escaped.
 *                      With reactivate declared it must hold ATTR=%s:
 *                      ATTR (cn) is what names a group in keep_groups.
 *  group_member_attr   default "member" (values are user DNs; also
 *                      "uniqueMember"); "memberUid" (posixGroup) takes the
 *                      user entry's uid value instead.
 *  mfa_attributes      comma list of attributes that hold the user's MFA
 *                      factors, all removed by mfa_reset (e.g.
 *                      "otpSecret,otpBackupCode"); required when mfa_reset
 *                      is declared.
 *
 * What each operation writes:
 *                   openldap (ppolicy)            ad
 *  password_reset   userPassword = secret,        unicodePwd = "secret" in
 *                   pwdReset = TRUE               UTF-16LE, pwdLastSet = 0
 *  unlock           delete pwdAccountLockedTime   lockoutTime = 0
 *  reactivate       first: delete the member      same, then
 *                   value from every group under  userAccountControl &= ~2,
 *                   group_base that holds it and  lockoutTime = 0
 *                   is not in params.keep_groups;
 *                   then delete
 *                   pwdAccountLockedTime
 *  disable          pwdAccountLockedTime =        userAccountControl |= 2
 *                   000001010000Z (permanent)
 *  group_add/remove add/delete the member value on the one group found
 *  mfa_reset        every mfa_attributes attribute removed (replace with
 *                   no values: absent is fine)
 *  credential_expire only while pwdReset is TRUE (ad: pwdLastSet 0), i.e.
 *                   the temporary password was never changed:
 *                   userPassword (ad: unicodePwd) = 32 random bytes in
 *                   base64, pwdReset = TRUE (ad: pwdLastSet = 0); nothing
 *                   otherwise
 * The openldap flavour needs slapd's ppolicy overlay with a policy that
 * has pwdLockout TRUE (locks only count then) and pwdMustChange TRUE;
 * userPassword is sent as given, so the server must hash it
 * (ppolicy_hash_cleartext). AD accepts unicodePwd only over TLS, so a
 * connector declaring password_reset with flavor ad must use ldaps:// or
 * starttls.
 *
 * Outcomes: anything that fails before the modify is sent (connect,
 * StartTLS, bind, the user or group search, a timeout on any of these) is
 * FAILED: nothing changed. A refused modify is FAILED with the server's
 * words. A modify that got no answer in time, or whose connection broke
 * after it was sent, is UNKNOWN. Adding a present member, removing an
 * absent one, unlocking an unlocked account and the like are DONE and say
 * that nothing needed changing. The whole call is bounded by the
 * connector's timeout_ms (connect, each request and the TLS handshake
 * share one deadline).
 */
#include "connectors/connector.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/b64.h"

#define LD_MFA_MAX 16         /* attributes in mfa_attributes */
#define LD_SECRET_MAX 256     /* bind password and change secrets, bytes */
#define LD_NAME_MAX 256       /* a subject id or group name, bytes */
#define LD_DN_MAX 1024        /* a DN read back from the directory */
#define LD_FILTER_MAX 2048    /* a filter after substitution */
#define LD_DIAG_MAX 256       /* the server's diagnostic text kept */
#define LD_MODS_MAX (LD_MFA_MAX + 4)
#define LD_KEEP_MAX 64        /* groups named in params.keep_groups */
#define LD_LIST_MAX 160       /* a list of group names in a message */
#define LD_EXPIRE_BYTES 32    /* random bytes that replace a temporary
                               * password nobody changed */

#define LOCKED_FOREVER "000001010000Z"  /* ppolicy: locked until an admin */
#define AD_UF_ACCOUNTDISABLE 0x2

/* Parsed options; read-only after open except bind_pw, wiped at close. */
struct ld_state {
	char url[TK_CONN_OPT_VALUE_MAX];
	char ca_file[TK_CONN_OPT_VALUE_MAX];      /* "" = system default */
	char bind_dn[TK_CONN_OPT_VALUE_MAX];
	char bind_pw[LD_SECRET_MAX];              /* secret; wiped at close */
	size_t bind_pw_len;
	char base_dn[TK_CONN_OPT_VALUE_MAX];
	char user_filter[TK_CONN_OPT_VALUE_MAX];
	char group_base[TK_CONN_OPT_VALUE_MAX];   /* "" when no group ops */
	char group_filter[TK_CONN_OPT_VALUE_MAX];
	char member_attr[TK_CONN_OPT_VALUE_MAX];
	char group_name_attr[TK_CONN_OPT_VALUE_MAX]; /* ATTR in ATTR=%s */
	char mfa_opt[TK_CONN_OPT_VALUE_MAX];      /* the option as given */
	char mfa_buf[TK_CONN_OPT_VALUE_MAX];      /* mfa[] point in here */
	char *mfa[LD_MFA_MAX];
	int nmfa;
	bool member_is_uid;                       /* memberUid: uid values */
	bool starttls;
	bool tls;                                 /* ldaps:// or starttls */
	bool ad;
	int timeout_ms;
};

/* One call's connection. */
struct ld_sess {
	const struct ld_state *st;
	LDAP *ld;
	struct timespec deadline;                 /* CLOCK_MONOTONIC */
};

/* What apply and status need from the user's entry. */
struct ld_user {
	char dn[LD_DN_MAX];
	char uid[LD_NAME_MAX];                    /* "" when the entry has none */
	char locked[64];                          /* pwdAccountLockedTime */
	char lockout[32];                         /* AD lockoutTime */
	char changed[64];                         /* pwdChangedTime/pwdLastSet */
	char reset[8];                            /* pwdReset */
	long long uac;                            /* userAccountControl */
	bool has_uac;
	unsigned mfa_present;                     /* bit i: mfa[i] present */
};

static const char *const known_opts[] = {
	"url", "starttls", "ca_file", "bind_dn", "bind_password_file",
	"base_dn", "user_filter", "flavor", "group_base", "group_filter",
	"group_member_attr", "mfa_attributes",
};

#define LD_CAPS ((1u << TK_OP_PASSWORD_RESET) | (1u << TK_OP_UNLOCK) | \
	(1u << TK_OP_REACTIVATE) | (1u << TK_OP_DISABLE) | \
	(1u << TK_OP_GROUP_ADD) | (1u << TK_OP_GROUP_REMOVE) | \
	(1u << TK_OP_MFA_RESET) | (1u << TK_OP_CREDENTIAL_EXPIRE))

/* ---- small helpers ---------------------------------------------------- */

/* An attribute description: a name (letter, then letters, digits, '-')
 * or a numeric OID. */
static bool
attr_name_ok(const char *s)
{
	size_t i;

	if (s[0] == '\0' || strlen(s) > 64)
		return false;
	if (isdigit((unsigned char)s[0])) {
		for (i = 0; s[i] != '\0'; i++)
			if (!isdigit((unsigned char)s[i]) && s[i] != '.')
				return false;
		return true;
	}
	if (!isalpha((unsigned char)s[0]))
		return false;
	for (i = 1; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* A filter template: "(...)" with at least one %s and no other '%'. */
static bool
filter_template_ok(const char *t)
{
	size_t n = strlen(t), i;
	bool has = false;

	if (n < 2 || t[0] != '(' || t[n - 1] != ')')
		return false;
	for (i = 0; i < n; i++) {
		if (t[i] != '%')
			continue;
		if (t[i + 1] != 's')
			return false;
		has = true;
		i++;
	}
	return has;
}

/* Writes tmpl with every %s replaced by v escaped per RFC 4515 (the five
 * characters * ( ) \ NUL become \2a \28 \29 \5c \00). Returns -1 when the
 * result does not fit. */
static int
filter_build(const char *tmpl, const char *v, char *out, size_t size)
{
	size_t o = 0, i, j;
	char c;

	for (i = 0; tmpl[i] != '\0'; i++) {
		if (tmpl[i] == '%' && tmpl[i + 1] == 's') {
			for (j = 0; v[j] != '\0'; j++) {
				c = v[j];
				if (c == '*' || c == '(' || c == ')' ||
				    c == '\\') {
					if (o + 4 >= size)
						return -1;
					snprintf(out + o, 4, "\\%02x",
					    (unsigned char)c);
					o += 3;
				} else {
					if (o + 2 >= size)
						return -1;
					out[o++] = c;
				}
			}
			i++;
			continue;
		}
		if (o + 2 >= size)
			return -1;
		out[o++] = tmpl[i];
	}
	out[o] = '\0';
	return 0;
}

/* Strict UTF-8 to UTF-16LE, with the double quotes AD wants around a
 * unicodePwd value. Returns the byte length, or -1 (bad UTF-8, too
 * long). out is wiped by the caller. */
static long
ad_password_utf16(const char *s, unsigned char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	uint32_t cp;
	int n, k;

#define PUT16(u) do { \
		if (o + 2 > size) \
			return -1; \
		out[o++] = (unsigned char)((u) & 0xff); \
		out[o++] = (unsigned char)(((u) >> 8) & 0xff); \
	} while (0)

	PUT16(0x22);
	while (*p != '\0') {
		if (p[0] < 0x80) {
			cp = p[0];
			n = 1;
		} else if ((p[0] & 0xe0) == 0xc0) {
			cp = p[0] & 0x1f;
			n = 2;
		} else if ((p[0] & 0xf0) == 0xe0) {
			cp = p[0] & 0x0f;
			n = 3;
		} else if ((p[0] & 0xf8) == 0xf0) {
			cp = p[0] & 0x07;
			n = 4;
		} else
			return -1;
		for (k = 1; k < n; k++) {
			if ((p[k] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			PUT16(0xd800 | (cp >> 10));
			PUT16(0xdc00 | (cp & 0x3ff));
		} else
			PUT16(cp);
		p += n;
	}
	PUT16(0x22);
#undef PUT16
	return (long)o;
}

/* ---- SIGPIPE ---------------------------------------------------------- */

/* libldap writes to its socket with write(); a server that closed the
 * connection would raise SIGPIPE and kill a process that does not ignore
 * it. SIGPIPE from write() goes to the writing thread, so it is blocked
 * in this thread for the call and a pending one of ours is consumed. */
struct ld_sigpipe {
	sigset_t old;
	bool blocked;
	bool was_pending;
};

static void
sigpipe_block(struct ld_sigpipe *p)
{
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	p->was_pending = sigpending(&pend) == 0 &&
	    sigismember(&pend, SIGPIPE) == 1;
	p->blocked = pthread_sigmask(SIG_BLOCK, &set, &p->old) == 0;
}

static void
sigpipe_restore(struct ld_sigpipe *p)
{
	struct timespec zero = { 0, 0 };
	sigset_t set, pend;

	if (!p->blocked)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	if (!p->was_pending && sigismember(&p->old, SIGPIPE) != 1 &&
	    sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1)
		(void)sigtimedwait(&set, NULL, &zero);
	(void)pthread_sigmask(SIG_SETMASK, &p->old, NULL);
}

/* ---- time ------------------------------------------------------------- */

static void
deadline_set(struct ld_sess *s, int ms)
{
	if (clock_gettime(CLOCK_MONOTONIC, &s->deadline) != 0) {
		s->deadline.tv_sec = 0;
		s->deadline.tv_nsec = 0;
		return;
	}
	s->deadline.tv_sec += ms / 1000;
	s->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (s->deadline.tv_nsec >= 1000000000L) {
		s->deadline.tv_sec++;
		s->deadline.tv_nsec -= 1000000000L;
	}
}

/* Time left until the deadline; false when none is left. */
static bool
remaining(const struct ld_sess *s, struct timeval *tv)
{
	struct timespec now;
	long long ns;

	if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
		return false;
	ns = (long long)(s->deadline.tv_sec - now.tv_sec) * 1000000000LL +
	    (s->deadline.tv_nsec - now.tv_nsec);
	if (ns < 1000000LL)
		return false;
	tv->tv_sec = (time_t)(ns / 1000000000LL);
	tv->tv_usec = (suseconds_t)((ns % 1000000000LL) / 1000);
	return true;
}

/* ---- libldap wrappers ------------------------------------------------- */

/* The handle's last diagnostic message (the server's or libldap's). */
static void
ld_diag(LDAP *ld, char *buf, size_t size)
{
	char *msg = NULL;

	buf[0] = '\0';
	if (ld != NULL && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE,
	    &msg) == LDAP_OPT_SUCCESS && msg != NULL) {
		/* libldap's text for a failed TLS handshake says nothing */
		if (strcmp(msg, "(unknown error code)") != 0)
			(void)tk_strlcpy(buf, msg, size);
		ldap_memfree(msg);
	}
}

/* What to check when a TLS connection could not be made. */
static const char *
tls_hint(const struct ld_state *st)
{
	if (!st->tls)
		return "";
	return st->ca_file[0] != '\0' ? "; TLS: check that ca_file signs the "
	    "server's certificate and that it names the host in url" :
	    "; TLS: the system's CAs do not vouch for the server's "
	    "certificate? set ca_file";
}

/* Formats "; server says: DIAG" when diag is non-empty. */
static const char *
diag_suffix(const char *diag, char *buf, size_t size)
{
	if (diag == NULL || diag[0] == '\0')
		return "";
	snprintf(buf, size, " (server: %s)", diag);
	return buf;
}

/* Waits for msgid until the deadline. 1: *res holds the result(s);
 * 0: no answer in time (the request is abandoned); -1: the connection
 * failed (*lderr holds libldap's code). */
static int
ld_wait(struct ld_sess *s, int msgid, LDAPMessage **res, int *lderr)
{
	struct timeval tv;
	int rc;

	*res = NULL;
	*lderr = LDAP_TIMEOUT;
	if (!remaining(s, &tv)) {
		(void)ldap_abandon_ext(s->ld, msgid, NULL, NULL);
		return 0;
	}
	rc = ldap_result(s->ld, msgid, LDAP_MSG_ALL, &tv, res);
	if (rc > 0)
		return 1;
	if (*res != NULL) {
		ldap_msgfree(*res);
		*res = NULL;
	}
	if (rc == 0) {
		(void)ldap_abandon_ext(s->ld, msgid, NULL, NULL);
		return 0;
	}
	if (ldap_get_option(s->ld, LDAP_OPT_RESULT_CODE, lderr) !=
	    LDAP_OPT_SUCCESS)
		*lderr = LDAP_SERVER_DOWN;
	if (*lderr == LDAP_TIMEOUT)
		return 0;
	return -1;
}

/* The result code of res and its diagnostic text (in diag). */
static int
ld_parse(struct ld_sess *s, LDAPMessage *res, char *diag, size_t size)
{
	char *text = NULL;
	int code = LDAP_OTHER, rc;

	diag[0] = '\0';
	rc = ldap_parse_result(s->ld, res, &code, NULL, &text, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS)
		code = rc;
	if (text != NULL) {
		(void)tk_strlcpy(diag, text, size);
		ldap_memfree(text);
	}
	return code;
}

static void
ld_close(struct ld_sess *s)
{
	if (s->ld != NULL)
		(void)ldap_unbind_ext(s->ld, NULL, NULL);
	s->ld = NULL;
}

/* Sets both libldap timeouts to what is left of the deadline. */
static bool
ld_set_timeouts(struct ld_sess *s)
{
	struct timeval tv;

	if (!remaining(s, &tv))
		return false;
	return ldap_set_option(s->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) ==
	    LDAP_OPT_SUCCESS &&
	    ldap_set_option(s->ld, LDAP_OPT_TIMEOUT, &tv) == LDAP_OPT_SUCCESS;
}

/* Connects, StartTLS when asked, binds as the service account. FAILED in
 * r on any failure: nothing has been sent that changes anything. */
static int
ld_connect(struct ld_sess *s, tk_conn_result *r)
{
	const struct ld_state *st = s->st;
	struct berval cred;
	LDAPMessage *res = NULL;
	char diag[LD_DIAG_MAX], sfx[LD_DIAG_MAX + 16];
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
	int rc, msgid, w, lderr;

	rc = ldap_initialize(&s->ld, st->url);
	if (rc != LDAP_SUCCESS || s->ld == NULL) {
		s->ld = NULL;
		tk_conn_result_set(r, TK_CONN_FAILED, "cannot use %s: %s; "
		    "nothing was changed", st->url, ldap_err2string(rc));
		return -1;
	}
	if (ldap_set_option(s->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) !=
	    LDAP_OPT_SUCCESS ||
	    ldap_set_option(s->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) !=
	    LDAP_OPT_SUCCESS ||
	    ldap_set_option(s->ld, LDAP_OPT_RESTART, LDAP_OPT_ON) !=
	    LDAP_OPT_SUCCESS) {
		tk_conn_result_set(r, TK_CONN_FAILED, "cannot set LDAP "
		    "options for %s; nothing was changed", st->url);
		return -1;
	}
	if (st->tls) {
		if ((st->ca_file[0] != '\0' &&
		    ldap_set_option(s->ld, LDAP_OPT_X_TLS_CACERTFILE,
		    st->ca_file) != LDAP_OPT_SUCCESS) ||
		    ldap_set_option(s->ld, LDAP_OPT_X_TLS_REQUIRE_CERT,
		    &demand) != LDAP_OPT_SUCCESS ||
		    ldap_set_option(s->ld, LDAP_OPT_X_TLS_NEWCTX, &zero) !=
		    LDAP_OPT_SUCCESS) {
			ld_diag(s->ld, diag, sizeof(diag));
			tk_conn_result_set(r, TK_CONN_FAILED, "cannot set up "
			    "TLS for %s (ca_file %s)%s; nothing was changed",
			    st->url, st->ca_file[0] ? st->ca_file : "default",
			    diag_suffix(diag, sfx, sizeof(sfx)));
			return -1;
		}
	}
	if (!ld_set_timeouts(s))
		goto timeout;
	if (st->starttls) {
		rc = ldap_start_tls_s(s->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			ld_diag(s->ld, diag, sizeof(diag));
			tk_conn_result_set(r, TK_CONN_FAILED, "StartTLS with "
			    "%s failed: %s%s%s; starttls is required by this "
			    "connector, so nothing was sent", st->url,
			    ldap_err2string(rc),
			    diag_suffix(diag, sfx, sizeof(sfx)), tls_hint(st));
			return -1;
		}
		if (!ld_set_timeouts(s))
			goto timeout;
	}
	cred.bv_val = (char *)st->bind_pw;
	cred.bv_len = st->bind_pw_len;
	rc = ldap_sasl_bind(s->ld, st->bind_dn, LDAP_SASL_SIMPLE, &cred,
	    NULL, NULL, &msgid);
	if (rc != LDAP_SUCCESS) {
		ld_diag(s->ld, diag, sizeof(diag));
		tk_conn_result_set(r, TK_CONN_FAILED, "cannot reach %s: %s%s; "
		    "nothing was changed (check url and that the directory "
		    "is up%s)", st->url, ldap_err2string(rc),
		    diag_suffix(diag, sfx, sizeof(sfx)), tls_hint(st));
		return -1;
	}
	w = ld_wait(s, msgid, &res, &lderr);
	if (w == 0)
		goto timeout;
	if (w < 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "connection to %s lost "
		    "during the bind: %s; nothing was changed", st->url,
		    ldap_err2string(lderr));
		return -1;
	}
	rc = ld_parse(s, res, diag, sizeof(diag));
	ldap_msgfree(res);
	if (rc != LDAP_SUCCESS) {
		tk_conn_result_set(r, TK_CONN_FAILED, "bind as %s to %s "
		    "refused: %s (%d)%s; check bind_dn and bind_password_file; "
		    "nothing was changed", st->bind_dn, st->url,
		    ldap_err2string(rc), rc,
		    diag_suffix(diag, sfx, sizeof(sfx)));
		return -1;
	}
	return 0;
timeout:
	tk_conn_result_set(r, TK_CONN_FAILED, "%s did not answer within "
	    "%d ms (connect, StartTLS or bind); nothing was changed",
	    st->url, st->timeout_ms);
	return -1;
}

/* Searches base (subtree) with tmpl and name for exactly one entry,
 * asking for attrs. 0: *res holds the answer (the caller frees it) and
 * *entry the entry, dn its DN. -1: FAILED in r. */
static int
ld_find(struct ld_sess *s, const char *what, const char *base,
    const char *tmpl, const char *name, char **attrs, LDAPMessage **res,
    LDAPMessage **entry, char *dn, size_t dnsize, tk_conn_result *r)
{
	char filter[LD_FILTER_MAX], diag[LD_DIAG_MAX], sfx[LD_DIAG_MAX + 16];
	struct timeval tv;
	LDAPMessage *e;
	char *d;
	int rc, msgid, w, lderr, n;

	*res = NULL;
	*entry = NULL;
	if (filter_build(tmpl, name, filter, sizeof(filter)) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "the %s filter for "
		    "this name is too long; nothing was changed", what);
		return -1;
	}
	if (!remaining(s, &tv))
		goto timeout;
	rc = ldap_search_ext(s->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs,
	    0, NULL, NULL, &tv, 2, &msgid);
	if (rc != LDAP_SUCCESS) {
		tk_conn_result_set(r, TK_CONN_FAILED, "cannot search %s on "
		    "%s: %s; nothing was changed", base, s->st->url,
		    ldap_err2string(rc));
		return -1;
	}
	w = ld_wait(s, msgid, res, &lderr);
	if (w == 0)
		goto timeout;
	if (w < 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "connection to %s lost "
		    "while looking up the %s: %s; nothing was changed",
		    s->st->url, what, ldap_err2string(lderr));
		return -1;
	}
	rc = ld_parse(s, *res, diag, sizeof(diag));
	n = ldap_count_entries(s->ld, *res);
	if (rc == LDAP_SIZELIMIT_EXCEEDED || n > 1) {
		tk_conn_result_set(r, TK_CONN_FAILED, "%s %s is ambiguous: "
		    "%s matches more than one entry under %s; nothing was "
		    "changed (narrow the filter)", what, name, filter, base);
		goto fail;
	}
	if (rc != LDAP_SUCCESS) {
		tk_conn_result_set(r, TK_CONN_FAILED, "search for %s %s under "
		    "%s refused: %s (%d)%s; nothing was changed", what, name,
		    base, ldap_err2string(rc), rc,
		    diag_suffix(diag, sfx, sizeof(sfx)));
		goto fail;
	}
	e = ldap_first_entry(s->ld, *res);
	if (n < 1 || e == NULL) {
		tk_conn_result_set(r, TK_CONN_FAILED, "no entry for %s %s "
		    "under %s (filter %s); nothing was changed", what, name,
		    base, filter);
		goto fail;
	}
	d = ldap_get_dn(s->ld, e);
	if (d == NULL || tk_strlcpy(dn, d, dnsize) != 0) {
		if (d != NULL)
			ldap_memfree(d);
		tk_conn_result_set(r, TK_CONN_FAILED, "the %s entry for %s has "
		    "no usable DN; nothing was changed", what, name);
		goto fail;
	}
	ldap_memfree(d);
	*entry = e;
	return 0;
timeout:
	tk_conn_result_set(r, TK_CONN_FAILED, "%s did not answer the %s "
	    "search within %d ms; nothing was changed", s->st->url, what,
	    s->st->timeout_ms);
	return -1;
fail:
	ldap_msgfree(*res);
	*res = NULL;
	return -1;
}

/* The first value of attr in e, copied into buf ("" when absent).
 * Returns true when the attribute is present. */
static bool
ld_first_value(struct ld_sess *s, LDAPMessage *e, const char *attr,
    char *buf, size_t size)
{
	struct berval **v;
	size_t n;

	buf[0] = '\0';
	v = ldap_get_values_len(s->ld, e, attr);
	if (v == NULL)
		return false;
	if (v[0] != NULL) {
		n = v[0]->bv_len < size - 1 ? v[0]->bv_len : size - 1;
		memcpy(buf, v[0]->bv_val, n);
		buf[n] = '\0';
	}
	ldap_value_free_len(v);
	return true;
}

/* Finds the subject's entry and reads what the operations need. */
static int
ld_find_user(struct ld_sess *s, const char *subject, struct ld_user *u,
    tk_conn_result *r)
{
	const struct ld_state *st = s->st;
	char *attrs[LD_MFA_MAX + 10];
	char num[32], *end;
	LDAPMessage *res, *e;
	int n = 0, i;

	memset(u, 0, sizeof(*u));
	attrs[n++] = "uid";
	if (st->ad) {
		attrs[n++] = "userAccountControl";
		attrs[n++] = "lockoutTime";
		attrs[n++] = "pwdLastSet";
	} else {
		attrs[n++] = "pwdAccountLockedTime";
		attrs[n++] = "pwdChangedTime";
		attrs[n++] = "pwdReset";
	}
	for (i = 0; i < st->nmfa; i++)
		attrs[n++] = st->mfa[i];
	attrs[n] = NULL;
	if (ld_find(s, "user", st->base_dn, st->user_filter, subject, attrs,
	    &res, &e, u->dn, sizeof(u->dn), r) != 0)
		return -1;
	(void)ld_first_value(s, e, "uid", u->uid, sizeof(u->uid));
	if (st->ad) {
		if (ld_first_value(s, e, "userAccountControl", num,
		    sizeof(num))) {
			errno = 0;
			u->uac = strtoll(num, &end, 10);
			u->has_uac = errno == 0 && end != num && *end == '\0';
		}
		(void)ld_first_value(s, e, "lockoutTime", u->lockout,
		    sizeof(u->lockout));
		(void)ld_first_value(s, e, "pwdLastSet", u->changed,
		    sizeof(u->changed));
	} else {
		(void)ld_first_value(s, e, "pwdAccountLockedTime", u->locked,
		    sizeof(u->locked));
		(void)ld_first_value(s, e, "pwdChangedTime", u->changed,
		    sizeof(u->changed));
		(void)ld_first_value(s, e, "pwdReset", u->reset,
		    sizeof(u->reset));
	}
	for (i = 0; i < st->nmfa; i++) {
		char one[8];

		if (ld_first_value(s, e, st->mfa[i], one, sizeof(one)))
			u->mfa_present |= 1u << i;
	}
	ldap_msgfree(res);
	return 0;
}

/* Sends one modify and waits. Returns the server's result code (>= 0)
 * with its text in diag; or -1 with r set: FAILED when the request could
 * not be sent, UNKNOWN when it was sent and no answer came. */
static int
ld_modify(struct ld_sess *s, const char *dn, LDAPMod **mods, char *diag,
    size_t dsize, tk_conn_result *r)
{
	LDAPMessage *res = NULL;
	int rc, msgid, w, lderr;

	diag[0] = '\0';
	rc = ldap_modify_ext(s->ld, dn, mods, NULL, NULL, &msgid);
	if (rc != LDAP_SUCCESS) {
		tk_conn_result_set(r, TK_CONN_FAILED, "could not send the "
		    "change for %s to %s: %s; nothing was changed", dn,
		    s->st->url, ldap_err2string(rc));
		return -1;
	}
	w = ld_wait(s, msgid, &res, &lderr);
	if (w == 0) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "the change for %s was "
		    "sent to %s but no answer came within %d ms; it may or "
		    "may not have happened: check the entry before retrying",
		    dn, s->st->url, s->st->timeout_ms);
		return -1;
	}
	if (w < 0) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "the connection to %s "
		    "broke after the change for %s was sent (%s); it may or "
		    "may not have happened: check the entry before retrying",
		    s->st->url, dn, ldap_err2string(lderr));
		return -1;
	}
	rc = ld_parse(s, res, diag, dsize);
	ldap_msgfree(res);
	return rc;
}

/* Compares attr=value on dn. 1 true, 0 false, -1 failed (r set, with
 * outcome o). */
static int
ld_compare(struct ld_sess *s, const char *dn, const char *attr,
    const char *value, enum tk_conn_outcome o, tk_conn_result *r)
{
	char diag[LD_DIAG_MAX], sfx[LD_DIAG_MAX + 16];
	LDAPMessage *res = NULL;
	struct berval bv;
	int rc, msgid, w, lderr;

	bv.bv_val = (char *)value;
	bv.bv_len = strlen(value);
	rc = ldap_compare_ext(s->ld, dn, attr, &bv, NULL, NULL, &msgid);
	if (rc != LDAP_SUCCESS) {
		tk_conn_result_set(r, o, "cannot read %s of %s: %s", attr, dn,
		    ldap_err2string(rc));
		return -1;
	}
	w = ld_wait(s, msgid, &res, &lderr);
	if (w <= 0) {
		tk_conn_result_set(r, o, "no answer from %s reading %s of %s "
		    "within %d ms", s->st->url, attr, dn, s->st->timeout_ms);
		return -1;
	}
	rc = ld_parse(s, res, diag, sizeof(diag));
	ldap_msgfree(res);
	if (rc == LDAP_COMPARE_TRUE)
		return 1;
	if (rc == LDAP_COMPARE_FALSE || rc == LDAP_NO_SUCH_ATTRIBUTE)
		return 0;
	tk_conn_result_set(r, o, "reading %s of %s refused: %s (%d)%s", attr,
	    dn, ldap_err2string(rc), rc, diag_suffix(diag, sfx, sizeof(sfx)));
	return -1;
}

/* A modify was refused: FAILED with the server's words. */
static void
refused(tk_conn_result *r, const char *what, const char *dn, int rc,
    const char *diag)
{
	char sfx[LD_DIAG_MAX + 16];

	tk_conn_result_set(r, TK_CONN_FAILED, "%s on %s refused: %s (%d)%s; "
	    "nothing was changed", what, dn, ldap_err2string(rc), rc,
	    diag_suffix(diag, sfx, sizeof(sfx)));
}

/* ---- operations ------------------------------------------------------- */

/* One LDAPMod with at most one value. */
struct ld_mod {
	LDAPMod m;
	struct berval bv;
	struct berval *vals[2];
};

static void
mod_set(struct ld_mod *m, int op, const char *attr, const void *val,
    size_t len)
{
	memset(m, 0, sizeof(*m));
	m->m.mod_op = op | LDAP_MOD_BVALUES;
	m->m.mod_type = (char *)attr;
	if (val != NULL) {
		m->bv.bv_val = (char *)val;
		m->bv.bv_len = len;
		m->vals[0] = &m->bv;
	}
	m->vals[1] = NULL;
	m->m.mod_bvalues = m->vals;
}

static void
op_password(struct ld_sess *s, const struct ld_user *u, const char *secret,
    const char *what, tk_conn_result *r)
{
	unsigned char wide[2 * (LD_SECRET_MAX + 2)];
	char diag[LD_DIAG_MAX];
	struct ld_mod m[2];
	LDAPMod *mods[3];
	long wlen;
	int rc;

	if (s->st->ad) {
		wlen = ad_password_utf16(secret, wide, sizeof(wide));
		if (wlen < 0) {
			OPENSSL_cleanse(wide, sizeof(wide));
			tk_conn_result_set(r, TK_CONN_FAILED, "the new password "
			    "is not valid UTF-8 or too long; nothing was sent");
			return;
		}
		mod_set(&m[0], LDAP_MOD_REPLACE, "unicodePwd", wide,
		    (size_t)wlen);
		mod_set(&m[1], LDAP_MOD_REPLACE, "pwdLastSet", "0", 1);
	} else {
		mod_set(&m[0], LDAP_MOD_REPLACE, "userPassword", secret,
		    strlen(secret));
		mod_set(&m[1], LDAP_MOD_REPLACE, "pwdReset", "TRUE", 4);
	}
	mods[0] = &m[0].m;
	mods[1] = &m[1].m;
	mods[2] = NULL;
	rc = ld_modify(s, u->dn, mods, diag, sizeof(diag), r);
	OPENSSL_cleanse(wide, sizeof(wide));
	OPENSSL_cleanse(m, sizeof(m));
	if (rc < 0)
		return;
	if (rc != LDAP_SUCCESS) {
		refused(r, what, u->dn, rc, diag);
		return;
	}
	tk_conn_result_set(r, TK_CONN_DONE, "temporary password set on %s; "
	    "%s: it must be changed at first login", u->dn,
	    s->st->ad ? "pwdLastSet=0" : "pwdReset=TRUE");
}

static void
op_lock(struct ld_sess *s, const struct ld_user *u, enum tk_conn_op op,
    tk_conn_result *r)
{
	const char *what = tk_conn_op_name(op);
	char diag[LD_DIAG_MAX], num[32];
	struct ld_mod m[2];
	LDAPMod *mods[3];
	long long uac = u->uac;
	int rc, n = 0;

	if (s->st->ad) {
		if (op != TK_OP_UNLOCK && !u->has_uac) {
			tk_conn_result_set(r, TK_CONN_FAILED, "%s has no "
			    "readable userAccountControl; cannot %s it "
			    "(check the service account's read rights)",
			    u->dn, what);
			return;
		}
		if (op == TK_OP_DISABLE)
			uac |= AD_UF_ACCOUNTDISABLE;
		else if (op == TK_OP_REACTIVATE)
			uac &= ~(long long)AD_UF_ACCOUNTDISABLE;
		if (op != TK_OP_UNLOCK && uac != u->uac) {
			snprintf(num, sizeof(num), "%lld", uac);
			mod_set(&m[n++], LDAP_MOD_REPLACE,
			    "userAccountControl", num, strlen(num));
		}
		if (op != TK_OP_DISABLE && u->lockout[0] != '\0' &&
		    strcmp(u->lockout, "0") != 0)
			mod_set(&m[n++], LDAP_MOD_REPLACE, "lockoutTime",
			    "0", 1);
	} else if (op == TK_OP_DISABLE) {
		if (strcmp(u->locked, LOCKED_FOREVER) != 0)
			mod_set(&m[n++], LDAP_MOD_REPLACE,
			    "pwdAccountLockedTime", LOCKED_FOREVER,
			    strlen(LOCKED_FOREVER));
	} else if (u->locked[0] != '\0')
		mod_set(&m[n++], LDAP_MOD_DELETE, "pwdAccountLockedTime",
		    NULL, 0);
	if (n == 0) {
		tk_conn_result_set(r, TK_CONN_DONE, "%s: nothing to change on "
		    "%s (already %s)", what, u->dn,
		    op == TK_OP_DISABLE ? "disabled" :
		    op == TK_OP_UNLOCK ? "unlocked" : "active");
		return;
	}
	mods[0] = &m[0].m;
	mods[1] = n > 1 ? &m[1].m : NULL;
	mods[n] = NULL;
	rc = ld_modify(s, u->dn, mods, diag, sizeof(diag), r);
	if (rc < 0)
		return;
	if (rc == LDAP_NO_SUCH_ATTRIBUTE && !s->st->ad) {
		/* unlocked by someone else between our read and the delete */
		tk_conn_result_set(r, TK_CONN_DONE, "%s: %s was already "
		    "unlocked", what, u->dn);
		return;
	}
	if (rc != LDAP_SUCCESS) {
		refused(r, what, u->dn, rc, diag);
		return;
	}
	if (s->st->ad)
		tk_conn_result_set(r, TK_CONN_DONE, "%s: %s done "
		    "(userAccountControl %lld%s)", what, u->dn, uac,
		    op != TK_OP_DISABLE ? ", lockoutTime 0" : "");
	else if (op == TK_OP_DISABLE)
		tk_conn_result_set(r, TK_CONN_DONE, "disabled %s "
		    "(pwdAccountLockedTime %s: locked until an administrator "
		    "unlocks it)", u->dn, LOCKED_FOREVER);
	else
		tk_conn_result_set(r, TK_CONN_DONE, "%s: removed "
		    "pwdAccountLockedTime from %s; the account can bind "
		    "again", what, u->dn);
}

static void
op_mfa(struct ld_sess *s, const struct ld_user *u, tk_conn_result *r)
{
	const struct ld_state *st = s->st;
	struct ld_mod m[LD_MFA_MAX];
	LDAPMod *mods[LD_MFA_MAX + 1];
	char diag[LD_DIAG_MAX], list[256];
	size_t off = 0;
	int i, rc;

	list[0] = '\0';
	for (i = 0; i < st->nmfa; i++) {
		/* replace with no values: removes the attribute, and is no
		 * error when it is absent (RFC 4511 4.6) */
		mod_set(&m[i], LDAP_MOD_REPLACE, st->mfa[i], NULL, 0);
		mods[i] = &m[i].m;
		if ((u->mfa_present & (1u << i)) && off < sizeof(list)) {
			snprintf(list + off, sizeof(list) - off, "%s%s",
			    off ? ", " : "", st->mfa[i]);
			off = strlen(list);
		}
	}
	mods[st->nmfa] = NULL;
	rc = ld_modify(s, u->dn, mods, diag, sizeof(diag), r);
	if (rc < 0)
		return;
	if (rc != LDAP_SUCCESS) {
		refused(r, "mfa reset", u->dn, rc, diag);
		return;
	}
	if (u->mfa_present == 0)
		tk_conn_result_set(r, TK_CONN_DONE, "mfa reset: %s had none of "
		    "%s; nothing to remove", u->dn, st->mfa_opt);
	else
		tk_conn_result_set(r, TK_CONN_DONE, "mfa reset: removed %s "
		    "from %s", list, u->dn);
}

/* The value that stands for the user in a group: its DN, or its uid for
 * memberUid. NULL (r set) when the entry has no uid. */
static const char *
member_value(const struct ld_state *st, const struct ld_user *u,
    tk_conn_result *r)
{
	if (!st->member_is_uid)
		return u->dn;
	if (u->uid[0] == '\0') {
		tk_conn_result_set(r, TK_CONN_FAILED, "%s has no uid "
		    "attribute, which group_member_attr %s needs; nothing was "
		    "changed", u->dn, st->member_attr);
		return NULL;
	}
	return u->uid;
}

/* Finds the group's DN (exactly one entry under group_base). */
static int
find_group(struct ld_sess *s, const char *group, char *gdn, size_t size,
    tk_conn_result *r)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res, *e;

	if (ld_find(s, "group", s->st->group_base, s->st->group_filter,
	    group, attrs, &res, &e, gdn, size, r) != 0)
		return -1;
	ldap_msgfree(res);
	return 0;
}

static void
op_group(struct ld_sess *s, const struct ld_user *u, enum tk_conn_op op,
    const char *group, tk_conn_result *r)
{
	const struct ld_state *st = s->st;
	char gdn[LD_DN_MAX], diag[LD_DIAG_MAX];
	bool add = op == TK_OP_GROUP_ADD;
	tk_conn_result scratch;
	struct ld_mod m;
	LDAPMod *mods[2];
	const char *val;
	int rc;

	if ((val = member_value(st, u, r)) == NULL ||
	    find_group(s, group, gdn, sizeof(gdn), r) != 0)
		return;
	mod_set(&m, add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, st->member_attr,
	    val, strlen(val));
	mods[0] = &m.m;
	mods[1] = NULL;
	rc = ld_modify(s, gdn, mods, diag, sizeof(diag), r);
	if (rc < 0)
		return;
	if (rc == LDAP_SUCCESS) {
		tk_conn_result_set(r, TK_CONN_DONE, "%s %s %s %s", add ?
		    "added" : "removed", val, add ? "to" : "from", gdn);
		return;
	}
	if (add && rc == LDAP_TYPE_OR_VALUE_EXISTS) {
		tk_conn_result_set(r, TK_CONN_DONE, "%s was already a member "
		    "of %s; nothing changed", val, gdn);
		return;
	}
	if (!add && rc == LDAP_NO_SUCH_ATTRIBUTE) {
		tk_conn_result_set(r, TK_CONN_DONE, "%s was not a member of "
		    "%s; nothing changed", val, gdn);
		return;
	}
	/* AD answers a duplicate add with entryAlreadyExists and removing a
	 * non-member with unwillingToPerform: look before calling it done */
	if (st->ad && ((add && rc == LDAP_ALREADY_EXISTS) ||
	    (!add && rc == LDAP_UNWILLING_TO_PERFORM)) &&
	    ld_compare(s, gdn, st->member_attr, val, TK_CONN_FAILED,
	    &scratch) == (add ? 1 : 0)) {
		tk_conn_result_set(r, TK_CONN_DONE, "%s %s a member of %s; "
		    "nothing changed", val, add ? "was already" : "was not",
		    gdn);
		return;
	}
	refused(r, add ? "group add" : "group remove", gdn, rc, diag);
}

/* Searches group_base for every group whose member attribute holds val,
 * asking for the attribute that names a group. 0: *res holds them (the
 * caller frees it). -1: FAILED in r (only a search was sent). Every group
 * must be seen: a size limit or a partial answer is a failure, not a
 * shorter list. */
static int
ld_member_groups(struct ld_sess *s, const char *val, LDAPMessage **res,
    tk_conn_result *r)
{
	const struct ld_state *st = s->st;
	char tmpl[TK_CONN_OPT_VALUE_MAX + 8], filter[LD_FILTER_MAX];
	char diag[LD_DIAG_MAX], sfx[LD_DIAG_MAX + 16];
	char *attrs[2];
	struct timeval tv;
	int rc, msgid, w, lderr;

	*res = NULL;
	snprintf(tmpl, sizeof(tmpl), "(%s=%%s)", st->member_attr);
	if (filter_build(tmpl, val, filter, sizeof(filter)) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "the member filter for "
		    "%s is too long; nothing was changed", val);
		return -1;
	}
	attrs[0] = (char *)st->group_name_attr;
	attrs[1] = NULL;
	if (!remaining(s, &tv))
		goto timeout;
	rc = ldap_search_ext(s->ld, st->group_base, LDAP_SCOPE_SUBTREE,
	    filter, attrs, 0, NULL, NULL, &tv, 0, &msgid);
	if (rc != LDAP_SUCCESS) {
		tk_conn_result_set(r, TK_CONN_FAILED, "cannot search %s on %s: "
		    "%s; nothing was changed", st->group_base, st->url,
		    ldap_err2string(rc));
		return -1;
	}
	w = ld_wait(s, msgid, res, &lderr);
	if (w == 0)
		goto timeout;
	if (w < 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "connection to %s lost "
		    "while listing the groups of %s: %s; nothing was changed",
		    st->url, val, ldap_err2string(lderr));
		return -1;
	}
	rc = ld_parse(s, *res, diag, sizeof(diag));
	if (rc != LDAP_SUCCESS) {
		tk_conn_result_set(r, TK_CONN_FAILED, "listing the groups of %s "
		    "under %s (filter %s) refused: %s (%d)%s; every group must "
		    "be seen before the account is enabled, so nothing was "
		    "changed", val, st->group_base, filter, ldap_err2string(rc),
		    rc, diag_suffix(diag, sfx, sizeof(sfx)));
		ldap_msgfree(*res);
		*res = NULL;
		return -1;
	}
	return 0;
timeout:
	tk_conn_result_set(r, TK_CONN_FAILED, "%s did not list the groups of "
	    "%s within %d ms; nothing was changed", st->url, val,
	    st->timeout_ms);
	return -1;
}

/* The group entry's name (the first value of group_name_attr, or its DN)
 * in name, and the index in keep of the one it matches, or -1. */
static int
group_keep_index(struct ld_sess *s, LDAPMessage *e, const char *dn,
    const char *const *keep, int nkeep, char *name, size_t size)
{
	char one[LD_NAME_MAX];
	struct berval **v;
	int i, k = -1;

	(void)tk_strlcpy(name, dn, size);
	v = ldap_get_values_len(s->ld, e, s->st->group_name_attr);
	if (v == NULL)
		return -1;
	for (i = 0; v[i] != NULL; i++) {
		if (v[i]->bv_len >= sizeof(one) ||
		    memchr(v[i]->bv_val, '\0', v[i]->bv_len) != NULL)
			continue;
		memcpy(one, v[i]->bv_val, v[i]->bv_len);
		one[v[i]->bv_len] = '\0';
		if (i == 0)
			(void)tk_strlcpy(name, one, size);
		if (k < 0)
			k = tk_conn_name_index(keep, nkeep, one);
	}
	ldap_value_free_len(v);
	return k;
}

/* reactivate (invariant 11: a restored account does not silently regain
 * old entitlements). The user is first taken out of every group under
 * group_base that is not in keep (params.keep_groups); only when all of
 * that succeeded is the account enabled. This order is deliberate: a
 * failure part-way leaves a disabled account with fewer groups (safe,
 * and running again finishes the job), never an enabled one that still
 * holds old groups. A kept group the user is not in is not added:
 * reactivation never grants, a role_grant case does. */
static void
op_reactivate(struct ld_sess *s, const struct ld_user *u,
    const char *const *keep, int nkeep, tk_conn_result *r)
{
	const struct ld_state *st = s->st;
	char removed[LD_LIST_MAX], kept[LD_LIST_MAX], absent[LD_LIST_MAX];
	char b1[LD_LIST_MAX + 32], b2[LD_LIST_MAX + 32], b3[LD_LIST_MAX + 32];
	char gdn[LD_DN_MAX], name[LD_NAME_MAX], diag[LD_DIAG_MAX];
	char sfx[LD_DIAG_MAX + 16], before[LD_LIST_MAX + 64];
	bool seen[LD_KEEP_MAX];
	int more_rm = 0, more_kept = 0, more_abs = 0, nrm = 0, i, k, rc;
	LDAPMessage *res, *e;
	tk_conn_result lr;
	struct ld_mod m;
	LDAPMod *mods[2];
	const char *val;
	char *d;

	removed[0] = kept[0] = absent[0] = '\0';
	memset(seen, 0, sizeof(seen));
	if ((val = member_value(st, u, r)) == NULL ||
	    ld_member_groups(s, val, &res, r) != 0)
		return;
	for (e = ldap_first_entry(s->ld, res); e != NULL;
	    e = ldap_next_entry(s->ld, e)) {
		d = ldap_get_dn(s->ld, e);
		if (d == NULL || tk_strlcpy(gdn, d, sizeof(gdn)) != 0) {
			if (d != NULL)
				ldap_memfree(d);
			snprintf(before, sizeof(before), "%s", nrm > 0 ?
			    "some groups were already removed" :
			    "no group was changed");
			tk_conn_result_set(r, TK_CONN_FAILED, "reactivate: a "
			    "group of %s has no usable DN; %s and the account "
			    "was not enabled", u->dn, before);
			ldap_msgfree(res);
			return;
		}
		ldap_memfree(d);
		k = group_keep_index(s, e, gdn, keep, nkeep, name,
		    sizeof(name));
		if (k >= 0) {
			seen[k] = true;
			tk_conn_list_add(kept, sizeof(kept), name, &more_kept);
			continue;
		}
		mod_set(&m, LDAP_MOD_DELETE, st->member_attr, val, strlen(val));
		mods[0] = &m.m;
		mods[1] = NULL;
		rc = ld_modify(s, gdn, mods, diag, sizeof(diag), &lr);
		if (rc == LDAP_SUCCESS || rc == LDAP_NO_SUCH_ATTRIBUTE) {
			/* no such attribute: someone removed it meanwhile */
			nrm++;
			tk_conn_list_add(removed, sizeof(removed), name, &more_rm);
			continue;
		}
		if (nrm > 0)
			snprintf(before, sizeof(before), "already removed from "
			    "%s", tk_conn_list_show(removed, more_rm, b1, sizeof(b1)));
		else
			snprintf(before, sizeof(before), "no other group was "
			    "changed");
		if (rc >= 0)
			tk_conn_result_set(r, TK_CONN_FAILED, "reactivate: "
			    "removing %s from group %s refused: %s (%d)%s; %s; "
			    "the account was not enabled (groups go first), "
			    "fix this and run again", val, gdn,
			    ldap_err2string(rc), rc,
			    diag_suffix(diag, sfx, sizeof(sfx)), before);
		else
			tk_conn_result_set(r, lr.outcome, "reactivate: "
			    "removing the user from group %s: %s; %s; the "
			    "account was not enabled (groups go first)", gdn,
			    lr.message, before);
		ldap_msgfree(res);
		return;
	}
	ldap_msgfree(res);
	for (i = 0; i < nkeep; i++)
		if (!seen[i])
			tk_conn_list_add(absent, sizeof(absent), keep[i], &more_abs);
	op_lock(s, u, TK_OP_REACTIVATE, &lr);
	if (lr.outcome != TK_CONN_DONE) {
		tk_conn_result_set(r, lr.outcome, "reactivate: groups removed "
		    "first: %s (kept: %s); then enabling the account: %s",
		    tk_conn_list_show(removed, more_rm, b1, sizeof(b1)),
		    tk_conn_list_show(kept, more_kept, b2, sizeof(b2)), lr.message);
		return;
	}
	tk_conn_result_set(r, TK_CONN_DONE, "%s; groups removed: %s; kept: "
	    "%s%s%s%s", lr.message, tk_conn_list_show(removed, more_rm, b1,
	    sizeof(b1)), tk_conn_list_show(kept, more_kept, b2, sizeof(b2)),
	    absent[0] != '\0' ? "; not a member of " : "",
	    absent[0] != '\0' ? tk_conn_list_show(absent, more_abs, b3, sizeof(b3)) :
	    "", absent[0] != '\0' ? ", not added (reactivation never "
	    "grants; a role_grant case does)" : "");
}

/* credential_expire: the temporary password's time is up. While the user
 * has not changed it (pwdReset TRUE; ad: pwdLastSet 0) it is replaced by
 * 32 random bytes nobody ever sees, and the must-change flag stays; once
 * changed there is nothing to do. The random password is wiped and never
 * appears in a result. Known gap: a change by the user between the read
 * and this modify is overwritten (they then need a new reset). */
static void
op_expire(struct ld_sess *s, const struct ld_user *u, tk_conn_result *r)
{
	unsigned char raw[LD_EXPIRE_BYTES];
	char enc[TK_B64_LEN(LD_EXPIRE_BYTES) + 1];
	bool unused;

	if (s->st->ad) {
		if (u->changed[0] == '\0') {
			tk_conn_result_set(r, TK_CONN_FAILED, "credential_expire: "
			    "cannot read pwdLastSet of %s, so cannot tell whether "
			    "the temporary password was changed (check the "
			    "service account's read rights); nothing was "
			    "changed", u->dn);
			return;
		}
		unused = strcmp(u->changed, "0") == 0;
	} else
		unused = strcasecmp(u->reset, "TRUE") == 0;
	if (!unused) {
		tk_conn_result_set(r, TK_CONN_DONE, "credential_expire: %s: "
		    "already changed at first use; nothing to do", u->dn);
		return;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		OPENSSL_cleanse(raw, sizeof(raw));
		tk_conn_result_set(r, TK_CONN_FAILED, "credential_expire: the "
		    "random generator failed; nothing was sent (the temporary "
		    "password still works: run again)");
		return;
	}
	tk_b64_encode(raw, sizeof(raw), enc);
	OPENSSL_cleanse(raw, sizeof(raw));
	op_password(s, u, enc, "credential expire", r);
	if (strstr(r->message, enc) != NULL)
		tk_conn_result_set(r, r->outcome, "%s: the directory's message "
		    "was withheld because it contained a secret",
		    tk_conn_outcome_name(r->outcome));
	OPENSSL_cleanse(enc, sizeof(enc));
	if (r->outcome == TK_CONN_DONE)
		tk_conn_result_set(r, TK_CONN_DONE, "credential_expire: %s: "
		    "temporary password expired unused; a new reset is needed "
		    "(replaced by a random password nobody knows; %s kept)",
		    u->dn, s->st->ad ? "pwdLastSet=0" : "pwdReset=TRUE");
}

/* ---- the connector ---------------------------------------------------- */

/* Checks what apply (or status, which needs no secret) needs from ch;
 * FAILED in r when something is missing. */
static bool
change_ok(const struct ld_state *st, const tk_change *ch, bool apply,
    tk_conn_result *r)
{
	if (ch->subject == NULL || ch->subject[0] == '\0' ||
	    strlen(ch->subject) >= LD_NAME_MAX) {
		tk_conn_result_set(r, TK_CONN_FAILED, "the subject id must be "
		    "1..%d bytes; nothing was sent", LD_NAME_MAX - 1);
		return false;
	}
	if ((ch->op == TK_OP_GROUP_ADD || ch->op == TK_OP_GROUP_REMOVE) &&
	    (ch->group == NULL || ch->group[0] == '\0' ||
	    strlen(ch->group) >= LD_NAME_MAX)) {
		tk_conn_result_set(r, TK_CONN_FAILED, "%s needs a group name "
		    "of 1..%d bytes; nothing was sent",
		    tk_conn_op_name(ch->op), LD_NAME_MAX - 1);
		return false;
	}
	if (apply && ch->op == TK_OP_CREDENTIAL_EXPIRE && st->ad &&
	    !st->tls) {
		tk_conn_result_set(r, TK_CONN_FAILED, "Active Directory takes "
		    "passwords only over TLS: use ldaps:// or starttls; nothing "
		    "was sent");
		return false;
	}
	if (apply && ch->op == TK_OP_PASSWORD_RESET) {
		if (ch->secret == NULL || ch->secret[0] == '\0' ||
		    strlen(ch->secret) >= LD_SECRET_MAX) {
			tk_conn_result_set(r, TK_CONN_FAILED, "password_reset "
			    "needs a new password of 1..%d bytes; nothing was "
			    "sent", LD_SECRET_MAX - 1);
			return false;
		}
		if (st->ad && !st->tls) {
			tk_conn_result_set(r, TK_CONN_FAILED, "Active "
			    "Directory takes passwords only over TLS: use "
			    "ldaps:// or starttls; nothing was sent");
			return false;
		}
	}
	return true;
}

/* A message that contains a secret (a server echoing it back) is
 * replaced: secrets never leave in results. */
static void
scrub(const struct ld_state *st, const tk_change *ch, tk_conn_result *r)
{
	if ((ch->secret != NULL && ch->secret[0] != '\0' &&
	    strstr(r->message, ch->secret) != NULL) ||
	    (st->bind_pw_len > 0 && strstr(r->message, st->bind_pw) != NULL))
		tk_conn_result_set(r, r->outcome, "%s: the directory's message "
		    "was withheld because it contained a secret",
		    tk_conn_outcome_name(r->outcome));
}

static void
ld_apply(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	const struct ld_state *st = state;
	const char *keep[LD_KEEP_MAX];
	char keep_buf[TK_PARAMS_MAX];
	struct ld_sigpipe sp;
	struct ld_sess s;
	struct ld_user u;
	int nkeep = 0;

	(void)cfg;
	if (!change_ok(st, ch, true, r))
		return;
	if (ch->op == TK_OP_REACTIVATE && (nkeep = tk_conn_keep_groups(
	    ch->params, keep_buf, sizeof(keep_buf), keep, LD_KEEP_MAX,
	    r)) < 0)
		return;
	memset(&s, 0, sizeof(s));
	s.st = st;
	deadline_set(&s, st->timeout_ms);
	sigpipe_block(&sp);
	if (ld_connect(&s, r) == 0 && ld_find_user(&s, ch->subject, &u,
	    r) == 0) {
		switch (ch->op) {
		case TK_OP_PASSWORD_RESET:
			op_password(&s, &u, ch->secret, "password reset", r);
			break;
		case TK_OP_UNLOCK:
		case TK_OP_DISABLE:
			op_lock(&s, &u, ch->op, r);
			break;
		case TK_OP_REACTIVATE:
			op_reactivate(&s, &u, keep, nkeep, r);
			break;
		case TK_OP_CREDENTIAL_EXPIRE:
			op_expire(&s, &u, r);
			break;
		case TK_OP_GROUP_ADD:
		case TK_OP_GROUP_REMOVE:
			op_group(&s, &u, ch->op, ch->group, r);
			break;
		case TK_OP_MFA_RESET:
			op_mfa(&s, &u, r);
			break;
		default:
			tk_conn_result_set(r, TK_CONN_FAILED, "the ldap "
			    "connector cannot do %s; nothing was sent",
			    tk_conn_op_name(ch->op));
			break;
		}
	}
	ld_close(&s);
	sigpipe_restore(&sp);
	scrub(st, ch, r);
}

/* What the directory shows now about an earlier apply of ch. */
static void
status_of(struct ld_sess *s, const struct ld_user *u, const tk_change *ch,
    tk_conn_result *r)
{
	const struct ld_state *st = s->st;
	char gdn[LD_DN_MAX];
	const char *val;
	bool in_effect;
	int c;

	switch (ch->op) {
	case TK_OP_PASSWORD_RESET:
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "cannot tell whether "
		    "the earlier password reset on %s happened: the directory "
		    "does not record who set a password (%s %s%s%s)", u->dn,
		    st->ad ? "pwdLastSet" : "pwdChangedTime",
		    u->changed[0] ? u->changed : "absent",
		    st->ad ? "" : ", pwdReset ",
		    st->ad ? "" : (u->reset[0] ? u->reset : "absent"));
		return;
	case TK_OP_CREDENTIAL_EXPIRE:
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "cannot tell whether "
		    "the earlier credential_expire on %s happened (%s %s); it "
		    "is safe to run again", u->dn,
		    st->ad ? "pwdLastSet" : "pwdReset",
		    st->ad ? (u->changed[0] ? u->changed : "absent") :
		    (u->reset[0] ? u->reset : "absent"));
		return;
	case TK_OP_DISABLE:
		in_effect = st->ad ? u->has_uac &&
		    (u->uac & AD_UF_ACCOUNTDISABLE) != 0 :
		    strcmp(u->locked, LOCKED_FOREVER) == 0;
		break;
	case TK_OP_UNLOCK:
		in_effect = st->ad ? u->lockout[0] == '\0' ||
		    strcmp(u->lockout, "0") == 0 : u->locked[0] == '\0';
		break;
	case TK_OP_REACTIVATE:
		/* groups are removed before the account is enabled, so an
		 * enabled account means that part was done */
		in_effect = st->ad ? u->has_uac &&
		    (u->uac & AD_UF_ACCOUNTDISABLE) == 0 &&
		    (u->lockout[0] == '\0' || strcmp(u->lockout, "0") == 0) :
		    u->locked[0] == '\0';
		break;
	case TK_OP_MFA_RESET:
		in_effect = u->mfa_present == 0;
		break;
	case TK_OP_GROUP_ADD:
	case TK_OP_GROUP_REMOVE:
		if ((val = member_value(st, u, r)) == NULL ||
		    find_group(s, ch->group, gdn, sizeof(gdn), r) != 0) {
			r->outcome = TK_CONN_UNKNOWN;
			return;
		}
		c = ld_compare(s, gdn, st->member_attr, val, TK_CONN_UNKNOWN,
		    r);
		if (c < 0)
			return;
		in_effect = (c == 1) == (ch->op == TK_OP_GROUP_ADD);
		tk_conn_result_set(r, in_effect ? TK_CONN_DONE :
		    TK_CONN_FAILED, "%s %s a member of %s now", val,
		    c == 1 ? "is" : "is not", gdn);
		return;
	default:
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "the ldap connector "
		    "cannot do %s", tk_conn_op_name(ch->op));
		return;
	}
	if (in_effect)
		tk_conn_result_set(r, TK_CONN_DONE, "%s is in effect on %s",
		    tk_conn_op_name(ch->op), u->dn);
	else
		tk_conn_result_set(r, TK_CONN_FAILED, "%s is not in effect on "
		    "%s now", tk_conn_op_name(ch->op), u->dn);
}

static void
ld_status(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	const struct ld_state *st = state;
	struct ld_sigpipe sp;
	struct ld_sess s;
	struct ld_user u;
	char why[sizeof(r->message)];

	if ((int)ch->op < 0 || ch->op >= TK_OP__COUNT ||
	    !(cfg->caps & (1u << ch->op))) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "connector %s does not "
		    "declare %s, so it cannot tell", cfg->name,
		    tk_conn_op_name(ch->op));
		return;
	}
	if (!change_ok(st, ch, false, r)) {
		r->outcome = TK_CONN_UNKNOWN;
		return;
	}
	memset(&s, 0, sizeof(s));
	s.st = st;
	deadline_set(&s, st->timeout_ms);
	sigpipe_block(&sp);
	if (ld_connect(&s, r) == 0 && ld_find_user(&s, ch->subject, &u,
	    r) == 0)
		status_of(&s, &u, ch, r);
	else {
		(void)tk_strlcpy(why, r->message, sizeof(why));
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "cannot tell: %s", why);
	}
	ld_close(&s);
	sigpipe_restore(&sp);
	scrub(st, ch, r);
}

static void
ld_global_init(void)
{
	int v;

	/* libldap sets its global options up on first use; do it here,
	 * once, rather than racing in the first concurrent calls */
	(void)ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &v);
}

/* The attribute that names a group in group_filter: ATTR in "ATTR=%s"
 * (the first such). -1 when there is none. */
static int
group_name_attr(const char *tmpl, char *buf, size_t size)
{
	const char *p = strstr(tmpl, "=%s"), *a;

	if (p == NULL)
		return -1;
	a = p;
	while (a > tmpl && (isalnum((unsigned char)a[-1]) || a[-1] == '-' ||
	    a[-1] == '.'))
		a--;
	if (a == p || (size_t)(p - a) >= size || (a > tmpl && a[-1] != '('))
		return -1;
	memcpy(buf, a, (size_t)(p - a));
	buf[p - a] = '\0';
	return attr_name_ok(buf) ? 0 : -1;
}

/* Copies option key (or def when absent) into buf. required: absent is
 * an error. */
static int
opt_copy(const tk_conn_config *cfg, const char *key, const char *def,
    bool required, char *buf, size_t size, tk_error *err)
{
	const char *v = tk_conn_opt(cfg, key);

	if (v == NULL || v[0] == '\0')
		v = def;
	if (v == NULL) {
		if (required) {
			tk_fail(err, TK_ERR_INVALID, "connector %s: option %s "
			    "is missing; add it to the directory file",
			    cfg->name, key);
			return -1;
		}
		buf[0] = '\0';
		return 0;
	}
	if (tk_strlcpy(buf, v, size) != 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: option %s is too "
		    "long", cfg->name, key);
		return -1;
	}
	return 0;
}

/* Splits st->mfa_opt ("a, b,c") into st->mfa[]. */
static int
parse_mfa(const tk_conn_config *cfg, struct ld_state *st, tk_error *err)
{
	char *p, *q, *end;

	memcpy(st->mfa_buf, st->mfa_opt, sizeof(st->mfa_buf));
	p = st->mfa_buf;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		q = p;
		while (*q != '\0' && *q != ',')
			q++;
		end = q;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (*q == ',') {
			*q = '\0';
			q++;
		}
		*end = '\0';
		if (!attr_name_ok(p) || st->nmfa >= LD_MFA_MAX) {
			tk_fail(err, TK_ERR_INVALID, "connector %s: "
			    "mfa_attributes must be a comma list of up to %d "
			    "attribute names (e.g. \"otpSecret,otpBackupCode\")",
			    cfg->name, LD_MFA_MAX);
			return -1;
		}
		st->mfa[st->nmfa++] = p;
		p = q;
	}
	return 0;
}

static int
ld_open_opts(const tk_conn_config *cfg, struct ld_state *st, tk_error *err)
{
	const unsigned group_ops = (1u << TK_OP_GROUP_ADD) |
	    (1u << TK_OP_GROUP_REMOVE) | (1u << TK_OP_REACTIVATE);
	LDAPURLDesc *lud = NULL;
	const char *flavor;
	bool ldaps;
	size_t i, k;
	int b;

	for (i = 0; i < (size_t)cfg->nopt; i++) {
		for (k = 0; k < sizeof(known_opts) / sizeof(known_opts[0]); k++)
			if (strcmp(cfg->opt[i].key, known_opts[k]) == 0)
				break;
		if (k == sizeof(known_opts) / sizeof(known_opts[0]))
			return tk_fail(err, TK_ERR_INVALID, "connector %s: "
			    "unknown ldap option %s (see docs/connectors.md)",
			    cfg->name, cfg->opt[i].key) == TK_OK ? 0 : -1;
	}
	st->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
	flavor = tk_conn_opt(cfg, "flavor");
	if (flavor == NULL || strcmp(flavor, "openldap") == 0)
		st->ad = false;
	else if (strcmp(flavor, "ad") == 0)
		st->ad = true;
	else
		return tk_fail(err, TK_ERR_INVALID, "connector %s: flavor must "
		    "be openldap or ad", cfg->name) == TK_OK ? 0 : -1;
	if (opt_copy(cfg, "url", NULL, true, st->url, sizeof(st->url),
	    err) != 0)
		return -1;
	if (ldap_url_parse(st->url, &lud) != LDAP_URL_SUCCESS || lud == NULL ||
	    lud->lud_scheme == NULL || (strcmp(lud->lud_scheme, "ldap") != 0 &&
	    strcmp(lud->lud_scheme, "ldaps") != 0)) {
		if (lud != NULL)
			ldap_free_urldesc(lud);
		return tk_fail(err, TK_ERR_INVALID, "connector %s: url must be "
		    "one ldap://host[:port] or ldaps://host[:port]",
		    cfg->name) == TK_OK ? 0 : -1;
	}
	ldaps = strcmp(lud->lud_scheme, "ldaps") == 0;
	ldap_free_urldesc(lud);
	b = tk_conn_opt_bool(cfg, "starttls", 0);
	if (b < 0)
		return tk_fail(err, TK_ERR_INVALID, "connector %s: starttls "
		    "must be true or false", cfg->name) == TK_OK ? 0 : -1;
	st->starttls = b == 1;
	if (ldaps && st->starttls)
		return tk_fail(err, TK_ERR_INVALID, "connector %s: starttls "
		    "cannot be used with ldaps:// (already TLS); use one",
		    cfg->name) == TK_OK ? 0 : -1;
	st->tls = ldaps || st->starttls;
	if (opt_copy(cfg, "ca_file", NULL, false, st->ca_file,
	    sizeof(st->ca_file), err) != 0)
		return -1;
	if (st->ca_file[0] != '\0' && !st->tls)
		return tk_fail(err, TK_ERR_INVALID, "connector %s: ca_file is "
		    "set but the connection is not TLS; use ldaps:// or "
		    "starttls: true", cfg->name) == TK_OK ? 0 : -1;
	if (st->ca_file[0] != '\0' && access(st->ca_file, R_OK) != 0)
		return tk_fail(err, TK_ERR_INVALID, "connector %s: cannot read "
		    "ca_file %s: %s", cfg->name, st->ca_file,
		    strerror(errno)) == TK_OK ? 0 : -1;
	if (opt_copy(cfg, "bind_dn", NULL, true, st->bind_dn,
	    sizeof(st->bind_dn), err) != 0 ||
	    opt_copy(cfg, "base_dn", NULL, true, st->base_dn,
	    sizeof(st->base_dn), err) != 0 ||
	    opt_copy(cfg, "user_filter", st->ad ? "(sAMAccountName=%s)" :
	    "(uid=%s)", true, st->user_filter, sizeof(st->user_filter),
	    err) != 0 ||
	    opt_copy(cfg, "group_base", NULL, (cfg->caps & group_ops) != 0,
	    st->group_base, sizeof(st->group_base), err) != 0 ||
	    opt_copy(cfg, "group_filter", "(cn=%s)", true, st->group_filter,
	    sizeof(st->group_filter), err) != 0 ||
	    opt_copy(cfg, "group_member_attr", "member", true,
	    st->member_attr, sizeof(st->member_attr), err) != 0 ||
	    opt_copy(cfg, "mfa_attributes", NULL,
	    (cfg->caps & (1u << TK_OP_MFA_RESET)) != 0, st->mfa_opt,
	    sizeof(st->mfa_opt), err) != 0)
		return -1;
	if (!filter_template_ok(st->user_filter))
		return tk_fail(err, TK_ERR_INVALID, "connector %s: user_filter "
		    "must be a filter in parentheses with %%s where the "
		    "subject id goes, e.g. (uid=%%s)", cfg->name) == TK_OK ?
		    0 : -1;
	if (!filter_template_ok(st->group_filter))
		return tk_fail(err, TK_ERR_INVALID, "connector %s: group_filter "
		    "must be a filter in parentheses with %%s where the group "
		    "name goes, e.g. (cn=%%s)", cfg->name) == TK_OK ? 0 : -1;
	if (!attr_name_ok(st->member_attr))
		return tk_fail(err, TK_ERR_INVALID, "connector %s: "
		    "group_member_attr must be an attribute name (member, "
		    "uniqueMember or memberUid)", cfg->name) == TK_OK ? 0 : -1;
	st->member_is_uid = strcasecmp(st->member_attr, "memberUid") == 0;
	if ((cfg->caps & (1u << TK_OP_REACTIVATE)) &&
	    group_name_attr(st->group_filter, st->group_name_attr,
	    sizeof(st->group_name_attr)) != 0)
		return tk_fail(err, TK_ERR_INVALID, "connector %s: reactivate "
		    "needs group_filter to name groups as ATTR=%%s (e.g. "
		    "(cn=%%s)): ATTR is how params.keep_groups names the "
		    "groups an account keeps", cfg->name) == TK_OK ? 0 : -1;
	if (st->mfa_opt[0] != '\0' && parse_mfa(cfg, st, err) != 0)
		return -1;
	if (st->ad && !st->tls && (cfg->caps &
	    ((1u << TK_OP_PASSWORD_RESET) | (1u << TK_OP_CREDENTIAL_EXPIRE))))
		return tk_fail(err, TK_ERR_INVALID, "connector %s: Active "
		    "Directory takes passwords only over TLS; use ldaps:// or "
		    "starttls: true, or remove password_reset and "
		    "credential_expire from \"can\"",
		    cfg->name) == TK_OK ? 0 : -1;
	if (tk_conn_secret_file(cfg, "bind_password_file", st->bind_pw,
	    sizeof(st->bind_pw), err) != 0)
		return -1;
	st->bind_pw_len = strlen(st->bind_pw);
	return 0;
}

static int
ld_open(const tk_conn_config *cfg, void **state, tk_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct ld_state *st;

	*state = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return tk_fail(err, TK_ERR_INTERNAL, "connector %s: out of "
		    "memory", cfg->name) == TK_OK ? 0 : -1;
	if (ld_open_opts(cfg, st, err) != 0) {
		OPENSSL_cleanse(st, sizeof(*st));
		free(st);
		return -1;
	}
	(void)pthread_once(&once, ld_global_init);
	*state = st;
	return 0;
}

static void
ld_state_close(void *state)
{
	struct ld_state *st = state;

	if (st == NULL)
		return;
	OPENSSL_cleanse(st, sizeof(*st));
	free(st);
}

const tk_connector_ops tk_conn_ldap = {
	"ldap", LD_CAPS, ld_open, ld_apply, ld_status, ld_state_close,
};
