"""test_conn_ldap.py - the ldap connector (issue 4) against a real slapd
2.5 with the ppolicy overlay (tests/servers/slapd.py), through the
test-only driver tests/conn/conn_driver (env TWOKEY_CONN_DRIVER). Each test
starts its own slapd and stops it, even on failure. Results are checked
with the OpenLDAP command-line tools (ldapwhoami, ldapsearch, ldappasswd),
never with the connector itself: old password refused and the new one
bound but forced to change, disabled accounts refused, group member lists,
MFA attributes gone. Failure paths: unknown subject, filter metacharacters,
an ambiguous filter, nothing listening, a wrong service password, a server
that accepts and never answers, a proxy that passes a modify to slapd but
drops its answer (UNKNOWN, and the change did happen), StartTLS refused,
StartTLS and ldaps:// with a test CA (and refused without it), an operation the connector does not declare, and bad configurations.
Everything stays on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

from harness import REPO, free_port

sys.path.insert(0, os.path.join(REPO, "tests", "servers"))
from slapd import Slapd  # noqa: E402

ALL_OPS = ["password_reset", "unlock", "reactivate", "disable",
           "group_add", "group_remove", "mfa_reset", "credential_expire"]
EXIT = {"done": 0, "failed": 1, "unknown": 2}


# ---- the driver ------------------------------------------------------

def driver():
    d = os.environ.get("TWOKEY_CONN_DRIVER") or os.path.join(
        REPO, "build", "asan", "tests", "conn_driver")
    assert os.access(d, os.X_OK), ("conn_driver not found: set "
                                   "TWOKEY_CONN_DRIVER (make MODE=asan "
                                   "build/asan/tests/conn_driver): %r" % d)
    return d


def run_driver(cfg_path, op, subject, *extra, timeout=30):
    """Runs one operation. Returns (exit code, {"outcome","message"} or
    None, seconds, stderr); asserts no sanitizer report."""
    t0 = time.monotonic()
    r = subprocess.run([driver(), cfg_path, op, subject] + list(extra),
                       capture_output=True, text=True, timeout=timeout)
    dt = time.monotonic() - t0
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, \
        "sanitizer report from conn_driver:\n" + r.stderr
    out = None
    if r.returncode in (0, 1, 2):
        out = json.loads(r.stdout)
        assert r.returncode == EXIT[out["outcome"]], (r.returncode, out)
        assert isinstance(out["message"], str) and out["message"]
    return r.returncode, out, dt, r.stderr


def expect(cfg_path, op, subject, outcome, *extra, contains=(), timeout=30):
    code, out, dt, err = run_driver(cfg_path, op, subject, *extra,
                                    timeout=timeout)
    assert out is not None, ("%s %s: driver exit %d: %s"
                             % (op, subject, code, err))
    assert out["outcome"] == outcome, ("%s %s: expected %s, got %r"
                                       % (op, subject, outcome, out))
    for c in contains:
        assert c in out["message"], ("%s %s: %r not in message %r"
                                     % (op, subject, c, out["message"]))
    return out["message"]


def write_config(ctx, d, name="dir", can=ALL_OPS, password=None,
                 timeout_ms=5000, **options):
    pw = d.write_bind_password_file(os.path.join(ctx.tmp, name + ".pw"),
                                    password)
    cfg = d.connector_config(name, can, pw, timeout_ms=timeout_ms,
                             **options)
    path = os.path.join(ctx.tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def config_at(ctx, url, name="dir", timeout_ms=5000, can=ALL_OPS,
              opts=None, **options):
    """A configuration for a fake server at url (nothing else there);
    opts/options override the defaults (opts may override url too)."""
    pw = os.path.join(ctx.tmp, name + ".pw")
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("svc-secret-7d2a\n")
    o = {"url": url, "bind_dn": "cn=twokey,ou=services,dc=example,dc=com",
         "bind_password_file": pw, "base_dn": "ou=people,dc=example,dc=com",
         "group_base": "ou=groups,dc=example,dc=com",
         "mfa_attributes": "otpSecret"}
    o.update(opts or {})
    o.update(options)
    path = os.path.join(ctx.tmp, name + ".json")
    with open(path, "w") as f:
        json.dump({"name": name, "kind": "ldap", "can": list(can),
                   "timeout_ms": timeout_ms, "options": o}, f)
    return path


# ---- fake servers ----------------------------------------------------

class SilentServer:
    """Accepts TCP connections and never answers (nor reads)."""

    def __init__(self, close_at_once=False):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.close_at_once = close_at_once
        self.held = []
        self.stopping = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except OSError:
                continue
            if self.close_at_once:
                c.close()
            else:
                self.held.append(c)

    def close(self):
        self.stopping = True
        self.t.join(5)
        for c in self.held:
            c.close()
        self.ls.close()


def _read_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise EOFError
        buf += b
    return buf


def _read_pdu(s):
    """One BER-encoded LDAPMessage: (bytes, messageID, protocolOp tag)."""
    head = _read_exact(s, 2)
    n = head[1]
    lenbytes = b""
    if n & 0x80:
        lenbytes = _read_exact(s, n & 0x7f)
        n = int.from_bytes(lenbytes, "big")
    body = _read_exact(s, n)
    assert body[0] == 0x02, "messageID is not an INTEGER"
    idlen = body[1]
    msgid = int.from_bytes(body[2:2 + idlen], "big")
    return head + lenbytes + body, msgid, body[2 + idlen]


class DropModifyAnswers:
    """A proxy to slapd that passes every request through (so a modify is
    performed) but never passes back the answer to a ModifyRequest: the
    client sees the change sent and no reply, as when a link dies."""

    MODIFY_REQUEST = 0x66

    def __init__(self, target_port):
        self.target = target_port
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.socks = []
        self.modifies = 0
        self.stopping = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except OSError:
                continue
            u = socket.create_connection(("127.0.0.1", self.target))
            self.socks += [c, u]
            dropped = set()
            threading.Thread(target=self._pump, args=(c, u, dropped, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, dropped, False),
                             daemon=True).start()

    def _pump(self, src, dst, dropped, upstream):
        try:
            while True:
                pdu, msgid, op = _read_pdu(src)
                if upstream and op == self.MODIFY_REQUEST:
                    dropped.add(msgid)
                    self.modifies += 1
                if not upstream and msgid in dropped:
                    continue
                dst.sendall(pdu)
        except (OSError, EOFError, AssertionError, IndexError):
            pass

    def close(self):
        self.stopping = True
        self.t.join(5)
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.ls.close()


# ---- the operations --------------------------------------------------

def test_ldap_password_reset(ctx):
    with Slapd() as d:
        d.add_user("alice", "Alice-old-1")
        d.add_user("bob", "Bob-pw-1")
        cfg = write_config(ctx, d)
        assert d.can_bind("alice", "Alice-old-1")
        msg = expect(cfg, "password_reset", "alice", "done", "--secret",
                     "Temp-Kq7-x93", contains=["uid=alice", "pwdReset"])
        assert "Temp-Kq7-x93" not in msg
        # the old password no longer binds; the new one does
        assert not d.can_bind("alice", "Alice-old-1")
        assert d.can_bind("alice", "Temp-Kq7-x93")
        # stored hashed (ppolicy_hash_cleartext), reset flag set
        a = d.attrs("alice", "userPassword", "pwdReset")
        assert a["userPassword"][0].startswith("{SSHA}"), a
        assert a["pwdReset"] == ["TRUE"], a
        # must change: the bind says so and nothing but a password
        # change is allowed on that connection
        assert d.must_change("alice", "Temp-Kq7-x93")
        code, out = d.bind_result("alice", "Temp-Kq7-x93")
        assert "Password must be changed" in out, out
        # after the user changes it, the account is normal again
        d.change_own_password("alice", "Temp-Kq7-x93", "Alice-new-2")
        assert not d.must_change("alice", "Alice-new-2")
        assert d.can_bind("alice", "Alice-new-2")
        assert "pwdReset" not in d.attrs("alice", "pwdReset")
        # the other user was not touched
        assert d.can_bind("bob", "Bob-pw-1")
        assert not d.must_change("bob", "Bob-pw-1")
        # status cannot tell who set a password: unknown, honestly
        expect(cfg, "password_reset", "alice", "unknown", "--status",
               contains=["cannot tell", "pwdChangedTime"])
        # no secret, no change
        code, out, _, _ = run_driver(cfg, "password_reset", "alice")
        assert out["outcome"] == "failed" and "nothing was sent" in \
            out["message"], out
        assert d.can_bind("alice", "Alice-new-2")


def test_ldap_disable_then_reactivate(ctx):
    with Slapd() as d:
        d.add_user("carol", "Carol-pw-1")
        cfg = write_config(ctx, d)
        expect(cfg, "disable", "carol", "failed", "--status",
               contains=["not in effect"])
        expect(cfg, "disable", "carol", "done",
               contains=["000001010000Z"])
        assert d.attrs("carol", "pwdAccountLockedTime") == \
            {"pwdAccountLockedTime": ["000001010000Z"]}
        assert not d.can_bind("carol", "Carol-pw-1")
        code, out = d.bind_result("carol", "Carol-pw-1")
        assert code == 49 and "Account locked" in out, out
        expect(cfg, "disable", "carol", "done", contains=["already"])
        expect(cfg, "disable", "carol", "done", "--status")
        expect(cfg, "reactivate", "carol", "done",
               contains=["pwdAccountLockedTime"])
        assert d.attrs("carol", "pwdAccountLockedTime") == {}
        assert d.can_bind("carol", "Carol-pw-1")
        expect(cfg, "reactivate", "carol", "done", "--status")
        expect(cfg, "disable", "carol", "failed", "--status")
        expect(cfg, "reactivate", "carol", "done", contains=["already"])


def test_ldap_reactivate_keeps_only_approved_groups(ctx):
    # invariant 11: a restored account does not silently regain old
    # entitlements; params.keep_groups names what the case approved
    with Slapd() as d:
        d.add_group("staff")
        d.add_group("vpn-users")
        d.add_group("payroll")
        kim = d.add_user("kim", "Kim-pw-1", groups=["staff", "vpn-users"])
        lee = d.add_user("lee", "Lee-pw-1", groups=["staff", "vpn-users"])
        bob = d.add_user("bob", "Bob-pw-1", groups=["staff", "vpn-users"])
        cfg = write_config(ctx, d)
        for u in ("kim", "lee"):
            expect(cfg, "disable", u, "done")
            assert not d.can_bind(u, u.capitalize() + "-pw-1")
        # keep one of the two; the other is removed
        msg = expect(cfg, "reactivate", "kim", "done", "--params",
                     '{"keep_groups":"staff"}',
                     contains=["pwdAccountLockedTime",
                               "groups removed: vpn-users",
                               "kept: staff"])
        assert d.can_bind("kim", "Kim-pw-1")
        assert kim in d.group_members("staff")
        assert kim not in d.group_members("vpn-users")
        # without keep_groups: member of none
        msg = expect(cfg, "reactivate", "lee", "done",
                     contains=["kept: none"])
        assert "staff" in msg and "vpn-users" in msg, msg
        assert d.can_bind("lee", "Lee-pw-1")
        assert lee not in d.group_members("staff")
        assert lee not in d.group_members("vpn-users")
        # nobody else was touched
        assert bob in d.group_members("staff")
        assert bob in d.group_members("vpn-users")
        assert d.can_bind("bob", "Bob-pw-1")
        # a kept group the user is not in is not added (never grants);
        # names compare case-insensitively, blanks around commas ignored
        msg = expect(cfg, "reactivate", "kim", "done", "--params",
                     '{"keep_groups":" STAFF , payroll,"}',
                     contains=["groups removed: none", "kept: staff",
                               "not a member of payroll", "not added",
                               "role_grant"])
        assert kim not in d.group_members("payroll")
        assert kim in d.group_members("staff")
        # status: enabled means the groups went first
        expect(cfg, "reactivate", "kim", "done", "--status")
        # a malformed keep_groups: nothing is sent
        expect(cfg, "disable", "kim", "done")
        expect(cfg, "reactivate", "kim", "failed", "--params",
               '{"keep_groups":["staff"]}',
               contains=["keep_groups", "nothing was sent"])
        assert not d.can_bind("kim", "Kim-pw-1")
        assert kim in d.group_members("staff")


def test_ldap_reactivate_memberuid_groups(ctx):
    with Slapd() as d:
        d.add_group("devs", posix=True)
        d.add_group("ops", posix=True)
        d.add_user("mia", "Mia-pw-1", groups=["devs", "ops"])
        cfg = write_config(ctx, d, group_member_attr="memberUid")
        expect(cfg, "disable", "mia", "done")
        expect(cfg, "reactivate", "mia", "done", "--params",
               '{"keep_groups":"ops"}',
               contains=["groups removed: devs", "kept: ops"])
        assert d.group_members("devs") == []
        assert d.group_members("ops") == ["mia"]
        assert d.can_bind("mia", "Mia-pw-1")


def test_ldap_reactivate_group_removal_refused_stays_disabled(ctx):
    # groups go first: a refused removal leaves the account disabled
    with Slapd() as d:
        d.add_group("staff")
        d.add_group("solo")
        ned = d.add_user("ned", "Ned-pw-1", groups=["staff", "solo"])
        # ned is solo's only member: groupOfNames refuses to lose him
        d.ldap_modify("dn: %s\nchangetype: modify\ndelete: member\n"
                      "member: %s\n" % (d.group_dn("solo"), d.bind_dn))
        cfg = write_config(ctx, d)
        expect(cfg, "disable", "ned", "done")
        msg = expect(cfg, "reactivate", "ned", "failed",
                     contains=["Object class violation", "solo",
                               "not enabled"])
        assert not d.can_bind("ned", "Ned-pw-1")
        assert d.attrs("ned", "pwdAccountLockedTime") == \
            {"pwdAccountLockedTime": ["000001010000Z"]}
        assert d.group_members("solo") == [ned]
        expect(cfg, "reactivate", "ned", "failed", "--status")
        # keeping that group, it works; staff goes (if it was not
        # already removed before the refusal)
        expect(cfg, "reactivate", "ned", "done", "--params",
               '{"keep_groups":"solo"}', contains=["kept: solo"])
        assert d.can_bind("ned", "Ned-pw-1")
        assert ned not in d.group_members("staff")
        assert d.group_members("solo") == [ned]
        assert "staff" in msg or "no other group" in msg, msg


def test_ldap_credential_expire_unused(ctx):
    with Slapd() as d:
        d.add_user("amy", "Amy-old-1")
        cfg = write_config(ctx, d)
        expect(cfg, "password_reset", "amy", "done", "--secret",
               "Temp-Ab3-q77")
        assert d.can_bind("amy", "Temp-Ab3-q77")
        msg = expect(cfg, "credential_expire", "amy", "done",
                     contains=["temporary password expired unused",
                               "a new reset is needed"])
        # the temporary password no longer works, nor the old one, and
        # the must-change flag stays
        assert not d.can_bind("amy", "Temp-Ab3-q77")
        assert not d.can_bind("amy", "Amy-old-1")
        assert d.attrs("amy", "pwdReset") == {"pwdReset": ["TRUE"]}
        assert "Temp-Ab3-q77" not in msg
        # the random password is not in the message (nothing that looks
        # like base64 of 32 bytes)
        assert not [w for w in msg.split() if len(w) >= 40], msg
        # status cannot tell, and says running again is safe
        expect(cfg, "credential_expire", "amy", "unknown", "--status",
               contains=["safe to run again"])
        # a new reset works as usual
        expect(cfg, "password_reset", "amy", "done", "--secret",
               "Temp-Zz1-p44")
        assert d.must_change("amy", "Temp-Zz1-p44")


def test_ldap_credential_expire_already_changed(ctx):
    with Slapd() as d:
        d.add_user("ben", "Ben-old-1")
        d.add_user("cat", "Cat-pw-1")
        cfg = write_config(ctx, d)
        expect(cfg, "password_reset", "ben", "done", "--secret",
               "Temp-Cd4-r88")
        d.change_own_password("ben", "Temp-Cd4-r88", "Ben-new-2")
        expect(cfg, "credential_expire", "ben", "done",
               contains=["already changed at first use",
                         "nothing to do"])
        assert d.can_bind("ben", "Ben-new-2")
        assert not d.must_change("ben", "Ben-new-2")
        # never reset at all: nothing to do either
        expect(cfg, "credential_expire", "cat", "done",
               contains=["nothing to do"])
        assert d.can_bind("cat", "Cat-pw-1")
        # undeclared: refused before anything is sent
        cfg2 = write_config(ctx, d, name="nox", can=["password_reset"])
        expect(cfg2, "credential_expire", "ben", "failed",
               contains=["does not declare"])


def test_ldap_unlock_after_failed_binds(ctx):
    with Slapd() as d:
        d.add_user("dave", "Dave-pw-1")
        cfg = write_config(ctx, d)
        expect(cfg, "unlock", "dave", "done", contains=["already"])
        for _ in range(5):  # the policy's pwdMaxFailure
            assert not d.can_bind("dave", "wrong")
        locked = d.attrs("dave", "pwdAccountLockedTime")
        assert locked.get("pwdAccountLockedTime"), locked
        assert not d.can_bind("dave", "Dave-pw-1"), "lockout not in force"
        expect(cfg, "unlock", "dave", "failed", "--status")
        expect(cfg, "unlock", "dave", "done", contains=["removed"])
        assert d.can_bind("dave", "Dave-pw-1")
        expect(cfg, "unlock", "dave", "done", "--status")


def test_ldap_group_add_remove(ctx):
    with Slapd() as d:
        d.add_group("vpn")
        d.add_group("devs", posix=True)
        erin = d.add_user("erin", "Erin-pw-1")
        cfg = write_config(ctx, d)
        cfg_uid = write_config(ctx, d, name="posix",
                               group_member_attr="memberUid")
        expect(cfg, "group_add", "erin", "failed", "--group", "vpn",
               "--status", contains=["is not a member"])
        expect(cfg, "group_add", "erin", "done", "--group", "vpn",
               contains=["added", erin])
        assert erin in d.group_members("vpn")
        expect(cfg, "group_add", "erin", "done", "--group", "vpn",
               contains=["already a member"])
        assert d.group_members("vpn").count(erin) == 1
        expect(cfg, "group_add", "erin", "done", "--group", "vpn",
               "--status")
        expect(cfg, "group_remove", "erin", "done", "--group", "vpn",
               contains=["removed"])
        assert erin not in d.group_members("vpn")
        assert d.group_members("vpn") == [d.bind_dn]  # the placeholder
        expect(cfg, "group_remove", "erin", "done", "--group", "vpn",
               contains=["was not a member"])
        expect(cfg, "group_remove", "erin", "done", "--group", "vpn",
               "--status")
        # posixGroup: memberUid takes the uid
        expect(cfg_uid, "group_add", "erin", "done", "--group", "devs")
        assert d.group_members("devs") == ["erin"]
        expect(cfg_uid, "group_remove", "erin", "done", "--group", "devs")
        assert d.group_members("devs") == []
        # a group that is not there, and the server's own refusal
        expect(cfg, "group_add", "erin", "failed", "--group", "nosuch",
               contains=["no entry for group nosuch"])
        code, out, _, _ = run_driver(cfg, "group_add", "erin")
        assert out["outcome"] == "failed" and "group name" in \
            out["message"], out
        d.add_group("solo", members=["erin"])
        d.ldap_modify("dn: %s\nchangetype: modify\ndelete: member\n"
                      "member: %s\n" % (d.group_dn("solo"), d.bind_dn))
        expect(cfg, "group_remove", "erin", "failed", "--group", "solo",
               contains=["Object class violation"])
        assert d.group_members("solo") == [erin]


def test_ldap_mfa_reset(ctx):
    with Slapd() as d:
        d.add_user("frank", "Frank-pw-1", mfa=["SEEDA", "SEEDB"],
                   backup_codes=["111-222", "333-444"])
        d.add_user("grace", "Grace-pw-1", mfa=["SEEDG"])
        cfg = write_config(ctx, d)
        expect(cfg, "mfa_reset", "frank", "failed", "--status",
               contains=["not in effect"])
        expect(cfg, "mfa_reset", "frank", "done",
               contains=["otpSecret", "otpBackupCode"])
        assert d.attrs("frank", "otpSecret", "otpBackupCode") == {}
        assert d.attrs("grace", "otpSecret") == {"otpSecret": ["SEEDG"]}
        assert d.can_bind("frank", "Frank-pw-1")
        expect(cfg, "mfa_reset", "frank", "done", contains=["nothing"])
        expect(cfg, "mfa_reset", "frank", "done", "--status")
        # an attribute the schema does not know: the server says so
        bad = write_config(ctx, d, name="bad",
                           mfa_attributes="otpSecret,noSuchAttr")
        expect(bad, "mfa_reset", "grace", "failed",
               contains=["noSuchAttr"])
        assert d.attrs("grace", "otpSecret") == {"otpSecret": ["SEEDG"]}


# ---- who is changed --------------------------------------------------

def test_ldap_unknown_subject(ctx):
    with Slapd() as d:
        d.add_user("henry", "Henry-pw-1")
        cfg = write_config(ctx, d)
        expect(cfg, "disable", "nobody", "failed",
               contains=["no entry for user nobody", d.people])
        assert d.can_bind("henry", "Henry-pw-1")


def test_ldap_filter_metacharacters(ctx):
    with Slapd() as d:
        d.add_user("ivan", "Ivan-pw-1")
        d.add_user("x*(y)", "Odd-pw-1")
        cfg = write_config(ctx, d)
        for subject in ("*)(uid=*", "*", "iv*", "ivan)(uid=*",
                        "*)(|(uid=*"):
            msg = expect(cfg, "disable", subject, "failed",
                         contains=["no entry for user"])
            assert "\\2a" in msg, msg  # the filter went escaped
        assert d.attrs("ivan", "pwdAccountLockedTime") == {}
        assert d.can_bind("ivan", "Ivan-pw-1")
        # a real uid with metacharacters is found exactly
        expect(cfg, "disable", "x*(y)", "done")
        assert not d.can_bind("x*(y)", "Odd-pw-1")
        assert d.can_bind("ivan", "Ivan-pw-1")


def test_ldap_ambiguous_filter(ctx):
    with Slapd() as d:
        d.add_user("olivia", "Olivia-pw-1")
        d.add_user("oliver", "Oliver-pw-1")
        cfg = write_config(ctx, d, user_filter="(uid=%s*)")
        expect(cfg, "disable", "oliv", "failed", contains=["ambiguous"])
        assert d.can_bind("olivia", "Olivia-pw-1")
        assert d.can_bind("oliver", "Oliver-pw-1")
        expect(cfg, "disable", "olivia", "done")


# ---- the directory misbehaves ----------------------------------------

def test_ldap_directory_down(ctx):
    url = "ldap://127.0.0.1:%d" % free_port()
    cfg = config_at(ctx, url, timeout_ms=5000)
    code, out, dt, err = run_driver(cfg, "disable", "alice")
    assert out and out["outcome"] == "failed", (code, out, err)
    assert "Can't contact LDAP server" in out["message"], out
    assert url in out["message"], out
    assert dt < 3, "refused connection took %.1fs" % dt


def test_ldap_wrong_bind_password(ctx):
    with Slapd() as d:
        d.add_user("alice", "Alice-pw-1")
        cfg = write_config(ctx, d, password="not-the-password")
        msg = expect(cfg, "disable", "alice", "failed",
                     contains=["Invalid credentials", d.bind_dn])
        assert "not-the-password" not in msg
        assert d.attrs("alice", "pwdAccountLockedTime") == {}


def test_ldap_server_never_answers(ctx):
    srv = SilentServer()
    try:
        cfg = config_at(ctx, "ldap://127.0.0.1:%d" % srv.port,
                        timeout_ms=1500)
        code, out, dt, err = run_driver(cfg, "disable", "alice",
                                        timeout=20)
        assert out and out["outcome"] == "failed", (code, out, err)
        assert "did not answer" in out["message"], out
        assert "nothing was changed" in out["message"], out
        assert dt < 1.5 + 2, "driver took %.1fs with timeout 1.5s" % dt
        assert dt >= 1.2, "gave up before the timeout: %.1fs" % dt
    finally:
        srv.close()


def test_ldap_server_closes_at_once(ctx):
    srv = SilentServer(close_at_once=True)
    try:
        cfg = config_at(ctx, "ldap://127.0.0.1:%d" % srv.port,
                        timeout_ms=3000)
        code, out, dt, err = run_driver(cfg, "disable", "alice",
                                        timeout=20)
        # not killed by SIGPIPE; an honest failure
        assert code == 1 and out["outcome"] == "failed", (code, out, err)
        assert "nothing was changed" in out["message"], out
        assert dt < 3 + 2
    finally:
        srv.close()


def test_ldap_answer_lost_after_modify(ctx):
    with Slapd() as d:
        d.add_user("alice", "Alice-pw-1")
        proxy = DropModifyAnswers(d.port)
        try:
            cfg = config_at(ctx, "ldap://127.0.0.1:%d" % proxy.port,
                            timeout_ms=2000)
            code, out, dt, err = run_driver(cfg, "disable", "alice",
                                            timeout=20)
            assert out and out["outcome"] == "unknown", (code, out, err)
            assert "may or may not" in out["message"], out
            assert dt < 2 + 2, dt
            assert proxy.modifies == 1
        finally:
            proxy.close()
        # it did happen: this is why the outcome is unknown, not failed
        assert not d.can_bind("alice", "Alice-pw-1")
        assert d.attrs("alice", "pwdAccountLockedTime") == \
            {"pwdAccountLockedTime": ["000001010000Z"]}


def test_ldap_starttls_required(ctx):
    with Slapd() as d:  # no TLS configured on this slapd
        d.add_user("alice", "Alice-pw-1")
        cfg = write_config(ctx, d, starttls=True)
        expect(cfg, "disable", "alice", "failed",
               contains=["StartTLS", "nothing was sent"])
        assert d.can_bind("alice", "Alice-pw-1")


def test_ldap_tls(ctx):
    with Slapd(tls=True) as d:
        d.add_user("alice", "Alice-pw-1")
        d.add_user("bob", "Bob-pw-1")
        starttls = write_config(ctx, d, name="starttls", starttls=True,
                                ca_file=d.ca_file)
        ldaps = write_config(ctx, d, name="ldaps", url=d.ldaps_url,
                             ca_file=d.ca_file)
        untrusted = write_config(ctx, d, name="untrusted", url=d.ldaps_url)
        expect(starttls, "disable", "alice", "done")
        assert not d.can_bind("alice", "Alice-pw-1")
        expect(ldaps, "password_reset", "bob", "done", "--secret",
               "Tls-temp-55")
        assert d.must_change("bob", "Tls-temp-55")
        # a certificate nobody vouches for: refused before anything is sent
        expect(untrusted, "reactivate", "alice", "failed",
               contains=["TLS", "ca_file", "nothing was changed"])
        assert not d.can_bind("alice", "Alice-pw-1")


def test_ldap_undeclared_operation(ctx):
    with Slapd() as d:
        d.add_user("alice", "Alice-pw-1")
        cfg = write_config(ctx, d, can=["group_add", "mfa_reset"])
        expect(cfg, "disable", "alice", "failed",
               contains=["does not declare", "disable"])
        expect(cfg, "disable", "alice", "unknown", "--status",
               contains=["does not declare"])
        assert d.can_bind("alice", "Alice-pw-1")


def test_ldap_bad_configurations(ctx):
    url = "ldap://127.0.0.1:%d" % free_port()
    cases = [
        ({"url": "http://127.0.0.1/"}, "url must be"),
        ({"base_dn": ""}, "base_dn"),
        ({"user_filter": "uid=%s"}, "user_filter"),
        ({"user_filter": "(uid=%d)"}, "user_filter"),
        ({"flavor": "novell"}, "flavor"),
        ({"starttls": "maybe"}, "starttls"),
        ({"mfa_attributes": "otp secret"}, "mfa_attributes"),
        ({"surprise": "1"}, "unknown ldap option surprise"),
        ({"ca_file": "/etc/hostname"}, "not TLS"),
        ({"flavor": "ad"}, "only over TLS"),
        ({"group_filter": "(cn=g-%s)"}, "ATTR=%s"),
    ]
    for i, (opts, words) in enumerate(cases):
        cfg = config_at(ctx, url, name="bad%d" % i, opts=opts)
        code, out, _, err = run_driver(cfg, "group_add", "a", "--group", "g")
        assert code == 3, (opts, code, out, err)
        assert words in err, (opts, err)
    # the password file must be private
    cfg = config_at(ctx, url, name="loose")
    os.chmod(os.path.join(ctx.tmp, "loose.pw"), 0o644)
    code, out, _, err = run_driver(cfg, "group_add", "a", "--group", "g")
    assert code == 3 and "chmod 600" in err, (code, err)
    # group_base is needed only when group operations are declared
    cfg = config_at(ctx, url, name="nogroups", can=["disable"],
                    group_base="")
    code, out, _, err = run_driver(cfg, "disable", "a")
    assert code == 1 and "Can't contact" in out["message"], (code, out)
    cfg = config_at(ctx, url, name="needgroups", can=["group_add"],
                    group_base="")
    code, out, _, err = run_driver(cfg, "group_add", "a", "--group", "g")
    assert code == 3 and "group_base" in err, (code, err)
