"""test_verify_execute.py - issue 4 end to end through the real server:
TOTP evidence (match, replay, lockout with an alert), one-time
confirmations to a contact on file through a real SMTP sink ("yes" records
out_of_band evidence, "no" cancels with an alert, links single-use and
bound to the case), hold notices to every contact on file (e-mail and
SMS) with a working "not me" link, and execution against a real slapd:
password reset with the temporary password delivered only to the contact
on file (and found nowhere else), directory down -> failed and a retry,
role grants removed when they expire, revocations through a webhook, and
a server killed while a case is `executing` -> reconciled, never
repeated."""

import http.server
import json
import os
import re
import signal
import sys
import threading
import time

from harness import HOUR, MINUTE, events_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "servers"))

from slapd import Slapd  # noqa: E402
from sms_gateway import SmsGateway  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402
from test_conn_scim import TOKEN as SCIM_TOKEN, ScimServer  # noqa: E402

RADMIN_PHONE = "+1 555 0103"
RADMIN_EMAIL = "radmin@example.com"
JSMITH_EMAIL = "jsmith@example.com"
PUBLIC = "http://127.0.0.1:9"   # only text in the messages


class Hook:
    """A webhook receiver that records POSTs and answers 200 (or fail)."""

    def __init__(self, fail=None):
        self.records = []
        self.fail = fail
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                hook.records.append(json.loads(body or b"{}"))
                st = hook.fail or 200
                self.send_response(st)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"message": "revoked"}' if st == 200
                                 else b'{"message": "idp says no"}')

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def _secret(ctx, name, value):
    path = os.path.join(ctx.data, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return path


def _directory(ctx, smtp=None, sms=None, ldap=None, hook=None,
               exec_prog=None, ldap_timeout="3s"):
    """Writes a directory file and restarts the server with it."""
    lines = ["version: 1", "connectors:"]
    routes = []
    if ldap is not None:
        pw = ldap.write_bind_password_file(os.path.join(ctx.data,
                                                        "ldap.secret"))
        lines += ["  - name: corp-ldap", "    kind: ldap",
                  "    can: [password_reset, unlock, reactivate, disable, "
                  "group_add, group_remove, mfa_reset, credential_expire]",
                  "    timeout: %s" % ldap_timeout,
                  "    url: %s" % ldap.url,
                  "    bind_dn: %s" % ldap.bind_dn,
                  "    bind_password_file: %s" % pw,
                  "    base_dn: %s" % ldap.people,
                  "    group_base: %s" % ldap.groups,
                  "    mfa_attributes: [otpSecret, otpBackupCode]"]
        routes.append("  - {ops: [password_reset, unlock, reactivate, "
                      "disable, group_add, group_remove, mfa_reset], "
                      "connector: corp-ldap}")
    if exec_prog is not None:
        lines += ["  - name: slow-cli", "    kind: exec",
                  "    can: [mfa_reset]", "    timeout: 60s",
                  "    program: %s" % exec_prog]
        routes.insert(0, "  - {ops: [mfa_reset], connector: slow-cli}")
    if hook is not None:
        key = _secret(ctx, "hook.key", "0123456789abcdef0123456789abcdef")
        lines += ["  - name: idp-hook", "    kind: webhook",
                  "    can: [revoke_sessions, revoke_tokens]",
                  "    timeout: 3s", "    url: %s" % hook.url,
                  "    secret_file: %s" % key]
        routes.append("  - {ops: [revoke_sessions, revoke_tokens], "
                      "connector: idp-hook}")
    if len(lines) == 2:
        lines[-1] = "connectors: []"
    lines += ["routes:"] + routes if routes else ["routes: []"]
    lines += ["notify:", "  public_url: %s" % PUBLIC, "  timeout: 5s"]
    if smtp is not None:
        lines += ["  smtp:", "    url: %s" % smtp.url,
                  "    from: twokey@example.com"]
    if sms is not None:
        lines += ["  sms:", "    url: %s" % sms.url]
    path = os.path.join(ctx.data, "directory.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    ctx.stop()
    ctx.serve_args = ["--directory", path, "--sweep-interval", "1"]
    ctx.start()
    return path


def _token_of(text, answer):
    m = re.search(r"/confirm/([A-Za-z0-9_-]{40,})\?answer=" + answer, text)
    assert m, "no %s link in %r" % (answer, text)
    return m.group(1)


def _open_critical(ctx):
    c = ctx.open_case("alice", "radmin", "mfa_reset", ticket="INC-7",
                      reason_code="lost_device")
    assert c["tier"] == "critical", c
    return c["id"]


def _wait(pred, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


# ---- registered factor ----------------------------------------------------


def test_totp_code_checked_by_twokey(ctx):
    uri, r = ctx.enroll("radmin")
    assert "secret=" in uri and "issuer=twokey" in uri, uri
    assert "\u2580" in r.stdout or "\u2584" in r.stdout or \
        "\u2588" in r.stdout, "no QR code drawn"
    cid = _open_critical(ctx)
    # a claimed pass is not evidence
    st, b = ctx.api("bob", "POST", "/v1/cases/%s/evidence" % cid,
                    {"method": "registered_factor", "result": "pass"})
    assert st == 400 and "code" in b["error"]["message"], (st, b)
    code = ctx.totp("radmin")
    st, c = ctx.totp_evidence("bob", cid, "radmin", code=code)
    ev = [e for e in c["evidence"] if e["method"] == "registered_factor"]
    assert ev and ev[0]["by"] == "bob" and ev[0]["result"] == "pass", c
    # the same code again: a replay, refused
    st, b = ctx.totp_evidence("dave", cid, "radmin", code=code, expect=400)
    assert "already used" in b["error"]["message"], b
    # the seed is sealed in the database, never in clear
    import sqlite3
    db = sqlite3.connect(ctx.db)
    sealed = db.execute("SELECT sealed FROM factors WHERE subject='radmin'"
                        ).fetchone()[0]
    db.close()
    assert ctx.factors["radmin"]["key"] not in bytes(sealed)
    assert os.stat(ctx.db + ".seal-key").st_mode & 0o077 == 0


def test_totp_lockout_after_five_wrong_codes(ctx):
    ctx.enroll("radmin")
    cid = _open_critical(ctx)
    good = ctx.totp("radmin")
    wrong = "%06d" % ((int(good) + 1) % 1000000)
    for i in range(4):
        st, b = ctx.totp_evidence("bob", cid, "radmin", code=wrong,
                                  expect=400)
        assert "%d tr" % (4 - i) in b["error"]["message"], b
    st, b = ctx.totp_evidence("bob", cid, "radmin", code=wrong, expect=403)
    assert "locked" in b["error"]["message"], b
    # even the right code is refused while locked
    st, b = ctx.totp_evidence("bob", cid, "radmin", code=good, expect=403)
    st, alerts = ctx.api("carol", "GET", "/v1/alerts")
    assert any(a.get("kind") == "factor.locked" for a in alerts["alerts"]), \
        alerts
    ctx.advance(16 * MINUTE)
    ctx.totp_evidence("bob", cid, "radmin")


def test_totp_without_factor_or_by_requester(ctx):
    cid = _open_critical(ctx)
    st, b = ctx.api("bob", "POST", "/v1/cases/%s/evidence" % cid,
                    {"method": "registered_factor", "code": "123456"})
    assert st == 422 and "no registered factor" in b["error"]["message"], b
    r = ctx.twokey("factor", "enroll", "--db", ctx.db, "nobody")
    assert r.returncode != 0 and "not a subject" in r.stderr, r.stderr


# ---- confirmations --------------------------------------------------------


def test_out_of_band_yes_and_no(ctx):
    with SmtpSink() as smtp, SmsGateway() as sms:
        _directory(ctx, smtp=smtp, sms=sms)
        cid = _open_critical(ctx)
        # a claimed out_of_band pass is not evidence
        st, b = ctx.api("bob", "POST", "/v1/cases/%s/evidence" % cid,
                        {"method": "out_of_band", "contact": RADMIN_EMAIL,
                         "result": "pass"})
        assert st == 400 and "confirmations" in b["error"]["message"], b
        # a contact the caller gives is refused (invariant 6)
        st, b = ctx.api("bob", "POST", "/v1/cases/%s/confirmations" % cid,
                        {"contact": "attacker@example.net"})
        assert st == 403 and b["error"]["code"] == "sod_violation", b
        st, c = ctx.api("bob", "POST", "/v1/cases/%s/confirmations" % cid,
                        {"contact": RADMIN_EMAIL})
        assert st == 201, (st, c)
        msg = smtp.wait_messages(1)[0]
        assert msg["to"] == [RADMIN_EMAIL] or RADMIN_EMAIL in str(
            msg["headers"].get("To")), msg
        assert "Remove a person's MFA factors" in msg["body"], msg["body"]
        yes = _token_of(msg["body"], "yes")
        assert _token_of(msg["body"], "no") == yes
        # the page shows what it is about and does not act on GET
        st, v = ctx.api(None, "GET", "/v1/confirm/" + yes)
        assert st == 200 and v["case"] == cid and v["answer"] == "", v
        st, page = ctx.api(None, "GET", "/confirm/%s?answer=yes" % yes)
        assert st == 200 and "No, this was not me" in page, page
        assert "script" not in page
        assert "default-src 'none'" in ctx.last_headers.get(
            "Content-Security-Policy", ""), ctx.last_headers
        assert ctx.case("ivan", cid)["evidence"] == []
        st, r = ctx.api(None, "POST", "/v1/confirm/" + yes,
                        {"answer": "yes"})
        assert st == 200 and r["outcome"] == "verified", r
        c = ctx.case("ivan", cid)
        ev = c["evidence"][0]
        assert ev["method"] == "out_of_band" and ev["by"] == "bob" and \
            ev["contact"] == RADMIN_EMAIL, ev
        # single use
        st, r = ctx.api(None, "POST", "/v1/confirm/" + yes,
                        {"answer": "no"})
        assert st == 409, (st, r)
        # an SMS to the phone on file, answered "no" through the HTML form
        st, c = ctx.api("dave", "POST", "/v1/cases/%s/confirmations" % cid,
                        {"contact": RADMIN_PHONE})
        assert st == 201, c
        texts = _wait(lambda: sms.messages(), what="an SMS")
        no = _token_of(texts[-1]["json"]["text"], "no")
        st, page = ctx.api(None, "POST", "/confirm/" + no, raw="answer=no",
                           headers={"Content-Type":
                                    "application/x-www-form-urlencoded"})
        assert st == 200 and "stopped" in page, page
        c = ctx.case("ivan", cid)
        assert c["state"] == "cancelled", c["state"]
        denied = events_of(c, "confirmation.denied")
        assert denied and denied[0]["alert"], denied
        # tokens never reach the log or the database
        with open(ctx.stderr_path, "rb") as f:
            log = f.read()
        assert yes.encode() not in log and no.encode() not in log
        for f in os.listdir(ctx.data):
            if f.startswith("twokey.db"):
                with open(os.path.join(ctx.data, f), "rb") as fh:
                    assert yes.encode() not in fh.read(), f


def test_confirmation_bound_to_case_and_expires(ctx):
    with SmtpSink() as smtp:
        _directory(ctx, smtp=smtp)
        c = ctx.open_case("alice", "jsmith", "mfa_reset", ticket="INC-8",
                          reason_code="lost_device")
        cid = c["id"]
        ctx.api("bob", "POST", "/v1/cases/%s/confirmations" % cid,
                {"contact": JSMITH_EMAIL})
        tok = _token_of(smtp.wait_messages(1)[0]["body"], "yes")
        # a material change voids it
        st, _ = ctx.api("alice", "PATCH", "/v1/cases/" + cid,
                        {"params": {"factor": "all"}})
        assert st == 200
        st, r = ctx.api(None, "POST", "/v1/confirm/" + tok, {"answer": "yes"})
        assert st == 409 and "changed" in r["error"]["message"], r
        ctx.api("bob", "POST", "/v1/cases/%s/confirmations" % cid,
                {"contact": JSMITH_EMAIL})
        tok2 = _token_of(smtp.wait_messages(2)[1]["body"], "yes")
        ctx.advance(16 * MINUTE)
        st, r = ctx.api(None, "POST", "/v1/confirm/" + tok2,
                        {"answer": "yes"})
        assert st == 409 and "expired" in r["error"]["message"], r
        # but "No, this was not me" is always heard: neither the change
        # to the case nor the expiry silences it
        st, r = ctx.api(None, "POST", "/v1/confirm/" + tok, {"answer": "no"})
        assert st == 200 and r["outcome"] == "cancelled", r
        c = ctx.case("ivan", cid)
        assert c["state"] == "cancelled" and \
            events_of(c, "confirmation.denied")[0]["alert"], c["state"]
        st, r = ctx.api(None, "POST", "/v1/confirm/" + "A" * 43,
                        {"answer": "yes"})
        assert st == 404, r


def test_confirmation_smtp_down(ctx):
    with SmtpSink() as smtp:
        _directory(ctx, smtp=smtp)
    # the sink is gone now
    cid = _open_critical(ctx)
    st, b = ctx.api("bob", "POST", "/v1/cases/%s/confirmations" % cid,
                    {"contact": RADMIN_EMAIL})
    assert st == 500 and "could not be sent" in b["error"]["message"], b
    c = ctx.case("ivan", cid)
    assert c["evidence"] == [] and events_of(c, "confirmation.failed"), c


# ---- holds ------------------------------------------------------------------


def test_hold_notice_to_every_contact_and_not_me(ctx):
    with SmtpSink() as smtp, SmsGateway() as sms:
        _directory(ctx, smtp=smtp, sms=sms)
        ctx.enroll("radmin")
        cid = _open_critical(ctx)
        ctx.evidence("alice", cid, "callback_on_file", RADMIN_PHONE)
        ctx.totp_evidence("bob", cid, "radmin")
        ctx.decide("carol", cid)
        _, c = ctx.decide("frank", cid)
        assert c["state"] == "on_hold", c
        mails = smtp.wait_messages(1)
        texts = _wait(lambda: sms.messages(), what="the hold SMS")
        assert texts[0]["json"]["to"].replace(" ", "") == "+15550103"
        assert "on hold" in mails[0]["body"], mails[0]["body"]
        c = _wait(lambda: len(events_of(ctx.case("ivan", cid),
                                        "notice.sent")) == 2 and
                  ctx.case("ivan", cid), what="two notice.sent events")
        # a new risk signal during the hold extends it
        before = c["hold_until"]
        ctx.advance(10 * MINUTE)
        st, c = ctx.api("alice", "POST", "/v1/cases/%s/signals" % cid,
                        {"signal": "unusual_geo"})
        assert st == 201 and c["hold_until"] > before, (before, c)
        no = _token_of(mails[0]["body"], "no")
        st, r = ctx.api(None, "POST", "/v1/confirm/" + no, {"answer": "no"})
        assert st == 200 and r["outcome"] == "cancelled", r
        assert ctx.case("ivan", cid)["state"] == "cancelled"


# ---- execution against slapd ------------------------------------------------


def _reset_case(ctx, subject="jsmith"):
    c = ctx.open_case("alice", subject, "password_reset", ticket="INC-9",
                      reason_code="forgot_password")
    ctx.decide("carol", c["id"])
    c = ctx.case("ivan", c["id"])
    assert c["state"] == "ready", c
    return c["id"]


def test_ldap_password_reset_end_to_end(ctx):
    with Slapd() as ldap, SmtpSink() as smtp:
        ldap.add_user("jsmith", "old-Passw0rd!")
        hook = Hook()
        try:
            _directory(ctx, smtp=smtp, ldap=ldap, hook=hook)
            cid = _reset_case(ctx)
            st, c = ctx.api("frank", "POST", "/v1/cases/%s/execute" % cid,
                            {})
            assert st == 200, (st, c)
            assert c["state"] == "executed", c
            x = c["execution"]
            assert x["connector"] == "corp-ldap" and x["attempts"] == 1
            assert x["credential_to"] == JSMITH_EMAIL, x
            assert x["revoked"] == ["sessions"], x
            assert hook.records and hook.records[0]["op"] == \
                "revoke_sessions", hook.records
            # its own idempotency key, not the reset's
            assert hook.records[0]["idempotency_key"] == \
                x["idempotency_key"] + ".revoke_sessions", hook.records
            msgs = smtp.wait_messages(1)
            m = re.search(r"temporary password is:\n\n  (\S+)\n",
                          msgs[0]["body"])
            assert m, msgs[0]["body"]
            temp = m.group(1)
            assert len(temp) == 20
            assert not ldap.can_bind("jsmith", "old-Passw0rd!")
            assert ldap.can_bind("jsmith", temp)
            assert ldap.must_change("jsmith", temp)
            # the temporary password is nowhere else
            for user in ("alice", "frank", "ivan"):
                _, view = ctx.api(user, "GET", "/v1/cases/" + cid)
                assert temp not in json.dumps(view)
            _, evs = ctx.api("ivan", "GET", "/v1/events?limit=1000")
            assert temp not in json.dumps(evs)
            with open(ctx.stderr_path, "rb") as f:
                assert temp.encode() not in f.read()
            for f in os.listdir(ctx.data):
                if f.startswith("twokey.db"):
                    with open(os.path.join(ctx.data, f), "rb") as fh:
                        assert temp.encode() not in fh.read(), f
            assert len(smtp.messages()) == 1
            assert "stops working at" in msgs[0]["body"]
            # unused after its TTL (24 h): the sweep disables it
            ctx.advance(25 * HOUR)
            _wait(lambda: not ldap.can_bind("jsmith", temp), timeout=20,
                  what="the unused temporary password to expire")
            c = _wait(lambda: events_of(ctx.case("ivan", cid),
                                        "credential.expired") and
                      ctx.case("ivan", cid), what="credential.expired")
            r = ctx.twokey("audit", "verify", "--db", ctx.db)
            assert r.returncode == 0, r.stdout + r.stderr
        finally:
            hook.close()


def test_ldap_down_fails_then_retry(ctx):
    with SmtpSink() as smtp:
        ldap = Slapd()
        try:
            ldap.add_user("jsmith", "old-Passw0rd!")
            _directory(ctx, smtp=smtp, ldap=ldap)
            cid = _reset_case(ctx)
            ldap.stop()
            t0 = time.time()
            st, c = ctx.api("frank", "POST", "/v1/cases/%s/execute" % cid,
                            {})
            assert st == 200 and c["state"] == "failed", (st, c)
            assert time.time() - t0 < 8
            assert "contact LDAP server" in c["execution"]["failure"], c
            assert smtp.messages() == []     # no credential went out
            assert ldap.url.split(":")[-1] in c["execution"]["failure"]
        finally:
            ldap.close()
        with Slapd(port=int(ldap.url.rsplit(":", 1)[1])) as ldap2:
            ldap2.add_user("jsmith", "old-Passw0rd!")
            st, c = ctx.api("frank", "POST", "/v1/cases/%s/execute" % cid,
                            {})
            # no revocation route: the change is made, the case says so
            assert c["state"] == "executed_revocation_pending", c
            assert c["execution"]["attempts"] == 2, c
            c = ctx.case("ivan", cid)
            assert events_of(c, "execution.failed"), "earlier record lost"
            a = events_of(c, "revocation.failed")
            assert a and a[0]["alert"], a
            st, c = ctx.api("frank", "POST", "/v1/cases/%s/resolve" % cid,
                            {"outcome": "done",
                             "note": "ended sessions in the IdP console"})
            assert st == 200 and c["state"] == "executed", c


def test_role_grant_expires(ctx):
    with Slapd() as ldap:
        ldap.add_user("jsmith", "pw-Jsmith1!")
        ldap.add_group("payments-admins")
        _directory(ctx, ldap=ldap)
        c = ctx.open_case("alice", "jsmith", "role_grant", ticket="INC-10",
                          reason_code="role_change",
                          params={"group": "payments-admins",
                                  "expires": "8h"})
        ctx.decide("carol", c["id"])
        ctx.decide("dave", c["id"], expect=None)
        c = ctx.case("ivan", c["id"])
        if c["state"] != "ready":
            ctx.advance(2 * HOUR)
            c = ctx.case("ivan", c["id"])
        assert c["state"] == "ready", c
        st, c = ctx.api("frank", "POST", "/v1/cases/%s/execute" % c["id"],
                        {})
        assert st == 200 and c["state"] in (
            "executed", "executed_revocation_pending"), c
        assert ldap.user_dn("jsmith") in ldap.group_members(
            "payments-admins")
        ctx.advance(9 * HOUR)
        _wait(lambda: ldap.user_dn("jsmith") not in ldap.group_members(
            "payments-admins"), what="the expired grant to be removed")
        c = _wait(lambda: events_of(ctx.case("ivan", c["id"]),
                                    "grant.expired"), what="grant.expired")


def test_killed_while_executing_is_reconciled(ctx):
    prog = os.path.join(ctx.data, "slow.sh")
    marker = os.path.join(ctx.data, "ran")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\necho $$ >> %s\nexec sleep 30\n" % marker)
    os.chmod(prog, 0o755)
    _directory(ctx, exec_prog=prog)
    c = ctx.open_case("alice", "jsmith", "mfa_reset", ticket="INC-11",
                      reason_code="lost_device")
    cid = c["id"]
    ctx.enroll("jsmith")
    ctx.totp_evidence("bob", cid, "jsmith")
    ctx.decide("carol", cid)
    ctx.decide("frank", cid)
    ctx.advance(HOUR + MINUTE)
    assert ctx.case("ivan", cid)["state"] == "ready"
    answer = []

    def execute():
        try:
            answer.append(ctx.api("dave", "POST",
                                  "/v1/cases/%s/execute" % cid, {},
                                  timeout=90))
        except OSError:
            pass  # the server is killed mid-request: expected
    t = threading.Thread(target=execute, daemon=True)
    t.start()
    _wait(lambda: os.path.exists(marker) or answer, timeout=60,
          what="the connector to run")
    assert os.path.exists(marker), ("execute answered before the "
                                    "connector ran: %r" % (answer,))
    ctx.proc.send_signal(signal.SIGKILL)
    ctx.proc.wait(10)
    ctx.proc = None
    ctx.start()
    c = ctx.case("ivan", cid)
    assert c["state"] == "outcome_unknown", c["state"]
    # the change may be made: it can no longer be cancelled
    st, b = ctx.api("alice", "POST", "/v1/cases/%s/cancel" % cid,
                    {"reason": "changed my mind"})
    assert st == 409, b
    assert events_of(c, "execution.unknown")[0]["alert"]
    with open(marker) as f:
        pids = f.read().split()
    assert len(pids) == 1, pids     # never repeated
    try:
        os.kill(int(pids[0]), signal.SIGKILL)
    except OSError:
        pass
    st, b = ctx.api("dave", "POST", "/v1/cases/%s/execute" % cid, {})
    assert st == 409, b
    st, c = ctx.api("dave", "POST", "/v1/cases/%s/resolve" % cid,
                    {"outcome": "not_done", "note": "checked: factors still "
                     "there"})
    assert st == 200 and c["state"] == "failed", c
    r = ctx.twokey("audit", "verify", "--db", ctx.db)
    assert r.returncode == 0, r.stdout + r.stderr


test_ldap_password_reset_end_to_end.timeout = 180
test_ldap_down_fails_then_retry.timeout = 180
test_role_grant_expires.timeout = 180
test_killed_while_executing_is_reconciled.timeout = 180
test_hold_notice_to_every_contact_and_not_me.timeout = 180
test_out_of_band_yes_and_no.timeout = 180


# ---- execution through SCIM -------------------------------------------------


def _scim_directory(ctx, scim):
    token = _secret(ctx, "scim.token", SCIM_TOKEN)
    path = os.path.join(ctx.data, "directory.yaml")
    with open(path, "w") as f:
        f.write("version: 1\nconnectors:\n  - name: idp-scim\n"
                "    kind: scim\n    can: [reactivate, disable, unlock]\n"
                "    timeout: 3s\n    url: %s\n    token_file: %s\n"
                "routes:\n  - {ops: [reactivate], connector: idp-scim}\n"
                % (scim.url, token))
    ctx.stop()
    ctx.serve_args = ["--directory", path, "--sweep-interval", "1"]
    ctx.start()


def _ready_reactivation(ctx):
    c = ctx.open_case("alice", "jsmith", "reactivation", ticket="INC-12",
                      reason_code="returning_employee")
    cid = c["id"]
    ctx.evidence("bob", cid, "callback_on_file", "+1 555 0101")
    ctx.decide("carol", cid)
    ctx.decide("frank", cid)
    ctx.advance(HOUR + MINUTE)
    assert ctx.case("ivan", cid)["state"] == "ready"
    return cid


def test_scim_reactivation_and_server_error(ctx):
    seed = {"users": [{"userName": "jsmith", "active": False}],
            "groups": []}
    scim = ScimServer(ctx.data, seed)
    try:
        _scim_directory(ctx, scim)
        cid = _ready_reactivation(ctx)
        scim.fault(status=500, detail="backend unavailable", method="PATCH")
        st, c = ctx.api("dave", "POST", "/v1/cases/%s/execute" % cid, {})
        assert st == 200 and c["state"] == "failed", c
        assert "backend unavailable" in c["execution"]["failure"], c
        assert scim.user("jsmith")["active"] is False
        scim.fault()
        st, c = ctx.api("dave", "POST", "/v1/cases/%s/execute" % cid, {})
        assert st == 200 and c["execution"]["attempts"] == 2, c
        # reactivated; no revocation route, so the case says so
        assert c["state"] == "executed_revocation_pending", c
        assert scim.user("jsmith")["active"] is True
    finally:
        scim.stop()


test_scim_reactivation_and_server_error.timeout = 180


def test_walk_in_credential_shown_once_to_executor(ctx):
    """Where the tier allows it (credential_in_person), a walk-in's
    temporary password is shown once to the executor, nowhere else."""
    from harness import DEMO_ORG, DEMO_POLICY
    with open(DEMO_POLICY) as f:
        text = f.read()
    text = text.replace("      hold: 0s\n      approval_ttl: 4h\n",
                        "      hold: 0s\n      approval_ttl: 4h\n"
                        "      credential_in_person: true\n", 1)
    assert "credential_in_person" in text
    pol = os.path.join(ctx.data, "policy-walk-in.yaml")
    with open(pol, "w") as f:
        f.write(text)
    w = ctx.sibling(org=DEMO_ORG, policy=pol, start=False)
    with Slapd() as ldap, SmtpSink() as smtp:
        ldap.add_user("jsmith", "old-Passw0rd!")
        _directory(w, smtp=smtp, ldap=ldap)
        # by phone: the usual e-mail to the address on file
        c = w.open_case("alice", "jsmith", "password_reset",
                        channel="phone", ticket="INC-20")
        w.decide("carol", c["id"])
        st, c = w.api("frank", "POST", "/v1/cases/%s/execute" % c["id"],
                      {})
        assert st == 200 and "credential" not in c, c
        assert len(smtp.wait_messages(1)) == 1
        # (no revocation route here: settle the pending session revocation)
        st, c = w.api("frank", "POST", "/v1/cases/%s/resolve" % c["id"],
                      {"outcome": "done", "note": "sessions ended by hand"})
        assert st == 200 and c["state"] == "executed", c
        # walk-in: shown once to frank, not mailed, not stored
        c = w.open_case("alice", "jsmith", "password_reset",
                        channel="walk_in", ticket="INC-21")
        cid = c["id"]
        w.decide("carol", cid)
        st, c = w.api("frank", "POST", "/v1/cases/%s/execute" % cid, {})
        assert st == 200 and c["state"] == "executed_revocation_pending", c
        temp = c["credential"]["value"]
        assert len(temp) == 20 and ldap.can_bind("jsmith", temp)
        assert c["execution"]["credential_to"] == "in person", c
        time.sleep(0.5)
        assert len(smtp.messages()) == 1
        for user in ("alice", "frank", "ivan"):
            _, view = w.api(user, "GET", "/v1/cases/" + cid)
            assert temp not in json.dumps(view)
        _, evs = w.api("ivan", "GET", "/v1/events?limit=1000")
        assert temp not in json.dumps(evs)
        for f in os.listdir(w.data):
            if f.startswith("twokey.db"):
                with open(os.path.join(w.data, f), "rb") as fh:
                    assert temp.encode() not in fh.read(), f
        with open(w.stderr_path, "rb") as f:
            assert temp.encode() not in f.read()


test_walk_in_credential_shown_once_to_executor.timeout = 180
