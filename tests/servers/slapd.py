"""slapd.py - a throw-away OpenLDAP server (slapd 2.5) for twokey's tests.

Starts slapd on 127.0.0.1:PORT from a temporary slapd.conf and an empty
mdb database under a temporary directory, loads the ppolicy overlay from
/usr/lib/ldap (in OpenLDAP 2.5 the ppolicy schema is built into the
overlay; there is no ppolicy.schema file to include any more), the core,
cosine, inetorgperson and nis schemas and a small test schema (below) for
MFA attributes, then creates:

  dc=example,dc=com
    ou=people      users (inetOrgPerson + posixAccount + twokeyTestMfa)
    ou=groups      groups (groupOfNames with DN members; posixGroup with
                   memberUid)
    ou=services    cn=twokey, the connector's service account: write on
                   everything (manage on userPassword, so ppolicy treats it
                   as a password administrator)
    ou=policies    cn=default, the default password policy: pwdMustChange
                   TRUE, pwdAllowUserChange TRUE, pwdLockout TRUE,
                   pwdMaxFailure 5; ppolicy_hash_cleartext is on, so a
                   plain userPassword sent in a modify is stored hashed.

The test schema (OIDs under 2.25.<uuid>, which needs no registration):
otpSecret and otpBackupCode, multi-valued strings on the auxiliary class
twokeyTestMfa; the directory has no standard attribute for TOTP seeds, so
the LDAP connector's mfa_attributes option is tested against these.

API (standard library only; every call raises on a fixture failure):

    with Slapd() as d:                # started; stopped on exit, even on
        d.url, d.suffix, d.people, d.groups, d.bind_dn, d.bind_password
        d.write_bind_password_file(path)      # mode 0600
        d.connector_config(name, can, password_file, **options) -> dict
        d.add_user(uid, password, groups=[...], mfa=[...])  # -> its DN
        d.add_group(cn, posix=False, members=[uid...])
        d.user_dn(uid) -> str
        d.can_bind(uid, password) -> bool
        d.must_change(uid, password) -> bool  # binds, but must change
        d.change_own_password(uid, old, new)  # as the user (pwd modify)
        d.group_members(cn) -> list           # member / memberUid values
        d.attrs(uid, *names) -> {name: [values]}   # read as the root DN
        d.ldap_modify(ldif)                   # as the root DN

Slapd(tls=True) also makes a throw-away CA (d.ca_file) and a certificate
for 127.0.0.1, offers StartTLS on d.url and listens on d.ldaps_url too.

Slapd(port=None) picks a free loopback port; d.log is slapd's stderr
(stats level) for a failing test's report. close() is idempotent.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SUFFIX = "dc=example,dc=com"
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"
SLAPD = "/usr/sbin/slapd"
START_TIMEOUT = 15.0
TOOL_TIMEOUT = 20.0

_ARC = "2.25.131407632433544289543776965670207078038"
TEST_SCHEMA = """\
attributetype ( {arc}.1.1 NAME 'otpSecret'
	DESC 'twokey tests: a TOTP seed (multi-valued)'
	EQUALITY caseExactMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( {arc}.1.2 NAME 'otpBackupCode'
	DESC 'twokey tests: a one-time recovery code'
	EQUALITY caseExactMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
objectclass ( {arc}.2.1 NAME 'twokeyTestMfa'
	DESC 'twokey tests: MFA factors on a user entry'
	SUP top AUXILIARY
	MAY ( otpSecret $ otpBackupCode ) )
""".format(arc=_ARC)


class SlapdError(Exception):
    """The fixture could not do what was asked (not a test assertion)."""


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _esc_dn(v):
    """RFC 4514 escaping of one RDN value (tests use plain names)."""
    out = []
    for i, ch in enumerate(v):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or \
                (ch == " " and i in (0, len(v) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


class Slapd:
    """One slapd process and its temporary directory."""

    def __init__(self, port=None, root_password="root-secret-4cc1",
                 bind_password="svc-secret-7d2a", tls=False):
        self.tmp = tempfile.mkdtemp(prefix="twokey-slapd-")
        self.tls = tls
        self.ca_file = None
        self.ldaps_url = None
        self.ldaps_port = None
        self.proc = None
        self._log_f = None
        self.suffix = SUFFIX
        self.people = "ou=people," + SUFFIX
        self.groups = "ou=groups," + SUFFIX
        self.policy_dn = "cn=default,ou=policies," + SUFFIX
        self.root_dn = "cn=admin," + SUFFIX
        self.root_password = root_password
        self.bind_dn = "cn=twokey,ou=services," + SUFFIX
        self.bind_password = bind_password
        self.log = os.path.join(self.tmp, "slapd.log")
        self._uid_number = 10000
        try:
            if tls:
                self._make_certs()
            self._write_config()
            self._start(port)
            self._populate()
        except BaseException:
            self.close()
            raise

    # ---- life cycle ---------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _write_config(self):
        os.mkdir(os.path.join(self.tmp, "db"), 0o700)
        schema = os.path.join(self.tmp, "twokey-test.schema")
        with open(schema, "w") as f:
            f.write(TEST_SCHEMA)
        svc = self.bind_dn
        tlsconf = ""
        if self.tls:
            tlsconf = ("TLSCACertificateFile %s\nTLSCertificateFile %s\n"
                       "TLSCertificateKeyFile %s\n"
                       % (self.ca_file, self._cert, self._key))
        conf = """\
include {sd}/core.schema
include {sd}/cosine.schema
include {sd}/inetorgperson.schema
include {sd}/nis.schema
include {schema}
pidfile {tmp}/slapd.pid
argsfile {tmp}/slapd.args
modulepath {md}
moduleload back_mdb
moduleload ppolicy
password-hash {{SSHA}}
{tlsconf}
database mdb
maxsize 33554432
suffix "{suffix}"
rootdn "{root}"
rootpw "{rootpw}"
directory {tmp}/db

overlay ppolicy
ppolicy_default "{policy}"
ppolicy_hash_cleartext
ppolicy_use_lockout

access to attrs=userPassword
	by dn.exact="{svc}" manage
	by self write
	by anonymous auth
	by * none
access to *
	by dn.exact="{svc}" write
	by self read
	by users read
	by * none
""".format(sd=SCHEMA_DIR, schema=schema, tmp=self.tmp, md=MODULE_DIR,
           suffix=SUFFIX, root=self.root_dn, rootpw=self.root_password,
           policy=self.policy_dn, svc=svc, tlsconf=tlsconf)
        self.conf = os.path.join(self.tmp, "slapd.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        os.chmod(self.conf, 0o600)
        r = subprocess.run([SLAPD, "-Tt", "-u", "-f", self.conf],
                           capture_output=True, text=True,
                           timeout=TOOL_TIMEOUT)
        if r.returncode != 0:
            raise SlapdError("slapd.conf does not test clean:\n%s%s"
                             % (r.stdout, r.stderr))

    def _start(self, port):
        last = ""
        for _attempt in range(4):
            self.port = port or free_port()
            self.url = "ldap://127.0.0.1:%d" % self.port
            urls = self.url + "/"
            if self.tls:
                self.ldaps_port = free_port()
                self.ldaps_url = "ldaps://127.0.0.1:%d" % self.ldaps_port
                urls += " " + self.ldaps_url + "/"
            self._log_f = open(self.log, "ab")
            # -d stats: stay in the foreground, log operations to stderr
            self.proc = subprocess.Popen(
                [SLAPD, "-f", self.conf, "-h", urls, "-d", "stats"],
                stdin=subprocess.DEVNULL, stdout=self._log_f,
                stderr=subprocess.STDOUT)
            deadline = time.time() + START_TIMEOUT
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", self.port),
                                                  timeout=0.5):
                        return
                except OSError:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                self._stop_proc()
                raise SlapdError("slapd did not listen on %s within %ds:\n%s"
                                 % (self.url, START_TIMEOUT, self.log_tail()))
            self.proc = None
            last = self.log_tail()
            if port or "address already in use" not in last.lower():
                break
        raise SlapdError("slapd did not start:\n" + last)

    def _make_certs(self):
        """A throw-away CA and a server certificate for 127.0.0.1 and
        localhost (openssl command line), for ldaps:// and StartTLS."""
        t = self.tmp
        self.ca_file = os.path.join(t, "ca.pem")
        ca_key = os.path.join(t, "ca.key")
        self._key = os.path.join(t, "server.key")
        self._cert = os.path.join(t, "server.pem")
        csr = os.path.join(t, "server.csr")
        ext = os.path.join(t, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n")
        for argv in (
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", ca_key, "-out", self.ca_file, "-days", "2",
                 "-subj", "/CN=twokey test CA"],
                ["openssl", "req", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", self._key, "-out", csr, "-subj",
                 "/CN=127.0.0.1"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_file,
                 "-CAkey", ca_key, "-CAcreateserial", "-out", self._cert,
                 "-days", "2", "-extfile", ext]):
            self._tool(argv)

    def _stop_proc(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)

    def stop(self):
        """Stops slapd (the data stays until close())."""
        self._stop_proc()

    def close(self):
        try:
            self._stop_proc()
        finally:
            if self._log_f is not None:
                self._log_f.close()
                self._log_f = None
            shutil.rmtree(self.tmp, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=40):
        try:
            with open(self.log, "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(data.splitlines()[-lines:])

    # ---- tools --------------------------------------------------------

    def _tool(self, argv, input=None, check=True):
        r = subprocess.run(argv, input=input, capture_output=True,
                           text=True, timeout=TOOL_TIMEOUT)
        if check and r.returncode != 0:
            raise SlapdError("%s failed (%d): %s%s" % (
                " ".join(a if "secret" not in a else "***" for a in argv),
                r.returncode, r.stdout, r.stderr))
        return r

    def _root_args(self):
        return ["-x", "-H", self.url, "-D", self.root_dn, "-w",
                self.root_password]

    def ldap_modify(self, ldif):
        """Applies LDIF change records (changetype: ...) as the root DN."""
        return self._tool(["ldapmodify"] + self._root_args(), input=ldif)

    def _add(self, ldif):
        return self._tool(["ldapadd"] + self._root_args(), input=ldif)

    def _populate(self):
        s = SUFFIX
        self._add("""\
dn: {s}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{s}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{s}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{s}
objectClass: organizationalUnit
ou: services

dn: ou=policies,{s}
objectClass: organizationalUnit
ou: policies

dn: {policy}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMustChange: TRUE
pwdAllowUserChange: TRUE
pwdLockout: TRUE
pwdMaxFailure: 5
pwdFailureCountInterval: 300

dn: {svc}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: twokey
userPassword: {svcpw}
""".format(s=s, policy=self.policy_dn, svc=self.bind_dn,
           svcpw=self.bind_password))

    # ---- data ---------------------------------------------------------

    def user_dn(self, uid):
        return "uid=%s,%s" % (_esc_dn(uid), self.people)

    def group_dn(self, cn):
        return "cn=%s,%s" % (_esc_dn(cn), self.groups)

    def add_user(self, uid, password, groups=(), mfa=(), backup_codes=()):
        """Adds a user (password stored hashed by ppolicy_hash_cleartext;
        added by the root DN, so no must-change is set) and adds it to each
        existing group in groups. Returns the DN."""
        self._uid_number += 1
        dn = self.user_dn(uid)
        lines = ["dn: " + dn,
                 "objectClass: inetOrgPerson",
                 "objectClass: posixAccount",
                 "objectClass: twokeyTestMfa",
                 "uid: " + uid, "cn: " + uid, "sn: " + uid,
                 "uidNumber: %d" % self._uid_number,
                 "gidNumber: 10000",
                 "homeDirectory: /home/" + uid,
                 "userPassword: " + password]
        lines += ["otpSecret: " + v for v in mfa]
        lines += ["otpBackupCode: " + v for v in backup_codes]
        self._add("\n".join(lines) + "\n")
        for g in groups:
            self.add_member(g, uid)
        return dn

    def add_group(self, cn, posix=False, members=()):
        """groupOfNames (member = DNs; it must keep one member, so the
        group starts with the service account's DN as a placeholder) or
        posixGroup (memberUid = uids)."""
        if posix:
            lines = ["dn: " + self.group_dn(cn), "objectClass: posixGroup",
                     "cn: " + cn, "gidNumber: %d" % (20000 + len(cn))]
            lines += ["memberUid: " + u for u in members]
        else:
            lines = ["dn: " + self.group_dn(cn), "objectClass: groupOfNames",
                     "cn: " + cn, "member: " + self.bind_dn]
            lines += ["member: " + self.user_dn(u) for u in members]
        self._add("\n".join(lines) + "\n")
        return self.group_dn(cn)

    def add_member(self, cn, uid):
        attr, val = self._member_of(cn, uid)
        self.ldap_modify("dn: %s\nchangetype: modify\nadd: %s\n%s: %s\n"
                         % (self.group_dn(cn), attr, attr, val))

    def _member_of(self, cn, uid):
        oc = self._search(self.group_dn(cn), "base", "(objectClass=*)",
                          ["objectClass"]).get("objectClass", [])
        if "posixGroup" in oc:
            return "memberUid", uid
        return "member", self.user_dn(uid)

    def _search(self, base, scope, filt, attrs):
        """One entry's attributes {name: [values]} (first entry), read as
        the root DN; {} when none."""
        r = self._tool(["ldapsearch", "-LLL", "-o", "ldif-wrap=no"] +
                       self._root_args() + ["-b", base, "-s", scope, filt] +
                       list(attrs), check=False)
        if r.returncode == 32:  # noSuchObject
            return {}
        if r.returncode != 0:
            raise SlapdError("ldapsearch %s failed (%d): %s"
                             % (base, r.returncode, r.stderr))
        out = {}
        for line in r.stdout.splitlines():
            if not line or line.startswith("dn:") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            if v.startswith(":"):  # base64
                import base64
                v = base64.b64decode(v[1:].strip()).decode("utf-8",
                                                          "replace")
            else:
                v = v.strip()
            out.setdefault(k, []).append(v)
        return out

    def attrs(self, uid, *names):
        """The user's attributes (operational ones by name too)."""
        return self._search(self.user_dn(uid), "base", "(objectClass=*)",
                            names or ["*", "+"])

    def group_members(self, cn):
        a = self._search(self.group_dn(cn), "base", "(objectClass=*)",
                         ["member", "memberUid"])
        return a.get("member", []) + a.get("memberUid", [])

    # ---- as a user ----------------------------------------------------

    def _whoami(self, uid, password, ppolicy=False):
        argv = ["ldapwhoami", "-x", "-H", self.url, "-D",
                self.user_dn(uid), "-w", password]
        if ppolicy:
            argv += ["-e", "ppolicy"]
        return self._tool(argv, check=False)

    def can_bind(self, uid, password):
        """True when a simple bind as the user with password succeeds and
        the connection can be used (whoami answers)."""
        return self._whoami(uid, password).returncode == 0

    def bind_result(self, uid, password):
        """(exit code, output) of `ldapwhoami -e ppolicy` as the user."""
        r = self._whoami(uid, password, ppolicy=True)
        return r.returncode, r.stdout + r.stderr

    def must_change(self, uid, password):
        """True when the password is right but the server insists it be
        changed first. What slapd 2.5 really does (checked): the bind
        succeeds and carries the ppolicy response "Password must be
        changed"; after it every operation but bind, unbind, abandon,
        StartTLS and a password change is refused with insufficientAccess
        (50) "Operations are restricted to bind/unbind/abandon/StartTLS/
        modify password" (WhoAmI is still answered, so this searches the
        user's own entry)."""
        r = self._tool(["ldapsearch", "-x", "-H", self.url, "-D",
                        self.user_dn(uid), "-w", password, "-e", "ppolicy",
                        "-b", self.user_dn(uid), "-s", "base", "1.1"],
                       check=False)
        out = r.stdout + r.stderr
        return (r.returncode == 50 and "Password must be changed" in out
                and "Operations are restricted" in out)

    def change_own_password(self, uid, old, new):
        """The user changes their own password (Password Modify extended
        operation, bound as the user)."""
        return self._tool(["ldappasswd", "-x", "-H", self.url, "-D",
                           self.user_dn(uid), "-w", old, "-a", old, "-s",
                           new])

    # ---- connector set-up ---------------------------------------------

    def write_bind_password_file(self, path, password=None):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write((password if password is not None
                     else self.bind_password) + "\n")
        os.chmod(path, 0o600)
        return path

    def connector_config(self, name, can, password_file, timeout_ms=5000,
                         **options):
        """The tk_conn_config_from_json form for this directory."""
        opts = {"url": self.url, "bind_dn": self.bind_dn,
                "bind_password_file": password_file,
                "base_dn": self.people, "group_base": self.groups,
                "mfa_attributes": "otpSecret,otpBackupCode"}
        opts.update(options)
        return {"name": name, "kind": "ldap", "can": list(can),
                "timeout_ms": timeout_ms, "options": opts}
