"""test_audit.py - the hash-chained audit trail: `twokey audit verify`
passes after real traffic, and editing or deleting an event row with
sqlite3 makes it fail naming the first bad sequence number."""

import re
import sqlite3

from harness import HOUR, MINUTE, event_table

RADMIN_PHONE = "+1 555 0103"
RADMIN_EMAIL = "radmin@example.com"


def _ok(resp, what):
    st, body = resp
    assert st < 500, "%s: %s %r" % (what, st, body)
    return body


def _exercise(ctx):
    """Traffic like the scenarios: a standard reset, a critical MFA reset
    through its hold, refusals of every kind, a material PATCH, a deny, a
    cancel and a break-glass. Only checks that nothing is a 5xx."""
    api = ctx.api
    c = _ok(api("alice", "POST", "/v1/cases",
                {"subject": "jsmith", "action": "password_reset",
                 "channel": "phone", "ticket": "INC-1"}), "open std")
    sid = c.get("id", "c_0000000000000000")
    _ok(api("alice", "POST", "/v1/cases/%s/approvals" % sid,
            {"decision": "approve"}), "self-approve")
    _ok(api("bob", "POST", "/v1/cases/%s/approvals" % sid,
            {"decision": "approve", "comment": "ok"}), "approve")
    _ok(api("erin", "POST", "/v1/cases/%s/execute" % sid,
            {"note": "done", "revoked": ["sessions"]}), "execute")

    c = _ok(api("alice", "POST", "/v1/cases",
                {"subject": "radmin", "action": "mfa_reset",
                 "channel": "phone", "ticket": "INC-2",
                 "reason_code": "lost_device"}), "open crit")
    cid = c.get("id", "c_0000000000000000")
    _ok(api("alice", "POST", "/v1/cases/%s/evidence" % cid,
            {"method": "callback_on_file", "contact": RADMIN_PHONE,
             "result": "pass"}), "ev1")
    _ok(api("bob", "POST", "/v1/cases/%s/evidence" % cid,
            {"method": "out_of_band", "contact": "+1 555 6666",
             "result": "pass"}), "ev bad contact")
    _ok(api("bob", "POST", "/v1/cases/%s/evidence" % cid,
            {"method": "out_of_band", "contact": RADMIN_EMAIL,
             "result": "pass", "reference": "code \"read\" back \u00e9"}),
        "ev2")
    for who in ("bob", "erin", "ivan", "olivia", "carol"):
        _ok(api(who, "POST", "/v1/cases/%s/approvals" % cid,
                {"decision": "approve"}), "approve " + who)
    _ok(api("frank", "POST", "/v1/cases/%s/execute" % cid,
            {"note": "too early"}), "exec in hold")
    ctx.advance(4 * HOUR + 5 * MINUTE)
    _ok(api("bob", "POST", "/v1/cases/%s/execute" % cid,
            {"note": "x"}), "exec by approver")
    _ok(api("frank", "POST", "/v1/cases/%s/execute" % cid,
            {"note": "factors removed", "revoked": ["sessions"]}), "exec")

    _ok(api("alice", "POST", "/v1/cases",
            {"subject": "pwhite", "action": "mfa_reset",
             "channel": "phone"}), "denied by policy")
    c = _ok(api("alice", "POST", "/v1/cases",
                {"subject": "jsmith", "action": "password_reset",
                 "channel": "chat", "ticket": "INC-3"}), "open 2")
    pid = c.get("id", "c_0000000000000000")
    _ok(api("bob", "POST", "/v1/cases/%s/approvals" % pid,
            {"decision": "approve"}), "approve 2")
    _ok(api("alice", "PATCH", "/v1/cases/" + pid,
            {"subject": "radmin"}), "patch")
    _ok(api("alice", "POST", "/v1/cases/%s/cancel" % pid,
            {"reason": "wrong subject"}), "cancel")
    c = _ok(api("alice", "POST", "/v1/cases",
                {"subject": "pwhite", "action": "mfa_reset",
                 "channel": "phone", "ticket": "INC-4",
                 "reason_code": "lost_device"}), "open 3")
    bid = c.get("id", "c_0000000000000000")
    _ok(api("alice", "POST", "/v1/cases/%s/break-glass" % bid,
            {"justification": "x", "incident": "IR-1"}), "bg refused")
    _ok(api("frank", "POST", "/v1/cases/%s/break-glass" % bid,
            {"justification": "incident", "incident": "IR-2"}), "bg")
    c = _ok(api("bob", "POST", "/v1/cases",
                {"subject": "alice", "action": "password_reset",
                 "channel": "phone", "ticket": "INC-5"}), "open 4")
    did = c.get("id", "c_0000000000000000")
    _ok(api("alice", "POST", "/v1/cases/%s/approvals" % did,
            {"decision": "approve"}), "subject approves")
    _ok(api("erin", "POST", "/v1/cases/%s/approvals" % did,
            {"decision": "deny", "comment": "no"}), "deny")


def _verify(ctx):
    r = ctx.twokey("audit", "verify", "--db", ctx.db)
    return r.returncode, r.stdout + r.stderr


def _names_seq(out, seq):
    return re.search(r"(?<![0-9])%d(?![0-9])" % seq, out) is not None


def _rows(db):
    table, _ = event_table(db)
    con = sqlite3.connect(db)
    try:
        return table, [r[0] for r in con.execute(
            "SELECT seq FROM \"%s\" ORDER BY seq" % table)]
    finally:
        con.close()


def _pick_middle(seqs):
    """A middle seq whose number does not also equal the event count."""
    k = seqs[len(seqs) // 2]
    if k == len(seqs):
        k -= 1
    return k


def test_verify_passes_after_scenarios(ctx):
    _exercise(ctx)
    code, out = _verify(ctx)
    assert code == 0, "verify on the live database: %d\n%s" % (code, out)
    st, evs = ctx.api("ivan", "GET", "/v1/events?from=1&limit=1000")
    assert st == 200, (st, evs)
    seqs = [e["seq"] for e in evs["events"]]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert len(seqs) >= 40, "expected a busy chain, got %d events" % len(seqs)
    kinds = {e["kind"] for e in evs["events"]}
    assert "refused" in kinds and "case.opened" in kinds, kinds
    ctx.stop()
    _, table_seqs = _rows(ctx.db)
    assert table_seqs == seqs, "API and table disagree"
    code, out = _verify(ctx)
    assert code == 0, "verify after stop: %d\n%s" % (code, out)
    # paging through /v1/events gives the same chain
    ctx.start()
    st, p1 = ctx.api("olivia", "GET", "/v1/events?from=1&limit=10")
    st2, p2 = ctx.api("olivia", "GET", "/v1/events?from=11&limit=10")
    assert st == st2 == 200, (p1, p2)
    assert [e["seq"] for e in p1["events"] + p2["events"]] == \
        list(range(1, 21)), (p1, p2)


def test_refusals_are_chained_events(ctx):
    """Every refused attempt (403/409/422) adds exactly one `refused`
    event to the audit chain."""
    def refused_count():
        st, evs = ctx.api("ivan", "GET", "/v1/events?from=1&limit=1000")
        assert st == 200, evs
        return sum(1 for e in evs["events"] if e["kind"] == "refused")

    base = refused_count()
    st, c = ctx.api("alice", "POST", "/v1/cases",
                    {"subject": "radmin", "action": "mfa_reset",
                     "channel": "phone", "ticket": "INC-2",
                     "reason_code": "lost_device"})
    assert st == 201, c
    cid = c["id"]
    attempts = [
        ("alice", "POST", "/v1/cases/%s/approvals" % cid,
         {"decision": "approve"}, 403),                      # invariant 1
        ("bob", "POST", "/v1/cases/%s/evidence" % cid,
         {"method": "callback_on_file", "contact": "+1 555 0000",
          "result": "pass"}, 403),                           # invariant 6
        ("ivan", "POST", "/v1/cases/%s/approvals" % cid,
         {"decision": "approve"}, 403),                      # auditor
        ("frank", "POST", "/v1/cases/%s/execute" % cid,
         {"note": "x"}, 409),                                # not ready
        ("bob", "POST", "/v1/cases",
         {"subject": "radmin", "action": "mfa_reset", "channel": "phone",
          "ticket": "INC-3", "reason_code": "lost_device"}, 409),  # dup
        ("alice", "POST", "/v1/cases",
         {"subject": "pwhite", "action": "mfa_reset",
          "channel": "phone"}, 422),                         # no ticket
    ]
    for who, m, path, body, want in attempts:
        st, b = ctx.api(who, m, path, body)
        assert st == want, (who, path, want, st, b)
    assert refused_count() == base + len(attempts), \
        "expected %d new refused events" % len(attempts)
    # bad input and bad tokens are not case events and do not break it
    ctx.api(None, "GET", "/v1/cases")
    ctx.api("bob", "POST", "/v1/cases", raw="{")
    code, out = _verify(ctx)
    assert code == 0, out


def test_edited_event_body_detected(ctx):
    _exercise(ctx)
    ctx.stop()
    code, out = _verify(ctx)
    assert code == 0, out
    table, seqs = _rows(ctx.db)
    k = _pick_middle(seqs)
    con = sqlite3.connect(ctx.db)
    with con:
        (body,) = con.execute("SELECT body FROM \"%s\" WHERE seq = ?"
                              % table, (k,)).fetchone()
        # a plausible forgery: same length, one actor renamed
        forged = re.sub(r'"actor":"([a-z])', r'"actor":"X', body, count=1)
        if forged == body:
            forged = body.replace('"alert":false', '"alert":true ', 1)
        assert forged != body, body
        con.execute("UPDATE \"%s\" SET body = ? WHERE seq = ?" % table,
                    (forged, k))
    con.close()
    code, out = _verify(ctx)
    assert code != 0, "verify passed after editing seq %d:\n%s" % (k, out)
    assert _names_seq(out, k), "verify should name seq %d:\n%s" % (k, out)


def test_edited_event_column_detected(ctx):
    _exercise(ctx)
    ctx.stop()
    table, seqs = _rows(ctx.db)
    k = _pick_middle(seqs) + 1
    con = sqlite3.connect(ctx.db)
    with con:
        con.execute("UPDATE \"%s\" SET actor = 'mallory' WHERE seq = ?"
                    % table, (k,))
    con.close()
    code, out = _verify(ctx)
    assert code != 0, "verify passed after editing actor of seq %d" % k
    assert _names_seq(out, k), "verify should name seq %d:\n%s" % (k, out)


def test_edited_and_rehashed_row_detected(ctx):
    """An editor who also recomputes the edited row's own hash still
    breaks the chain at the next row."""
    import hashlib
    _exercise(ctx)
    ctx.stop()
    table, seqs = _rows(ctx.db)
    k = _pick_middle(seqs)
    con = sqlite3.connect(ctx.db)
    with con:
        prev = con.execute("SELECT hash FROM \"%s\" WHERE seq = ?"
                           % table, (k - 1,)).fetchone()[0]
        (body,) = con.execute("SELECT body FROM \"%s\" WHERE seq = ?"
                              % table, (k,)).fetchone()
        forged = body.replace('"alert":true', '"alert":false', 1) \
            if '"alert":true' in body else body.replace(
                '"data":{', '"data":{"x":1,', 1)
        assert forged != body
        h = hashlib.sha256(bytes(prev) + forged.encode()).digest()
        con.execute("UPDATE \"%s\" SET body = ?, hash = ? WHERE seq = ?"
                    % table, (forged, h, k))
    con.close()
    code, out = _verify(ctx)
    assert code != 0, "verify passed after a rehashed edit of seq %d" % k
    assert _names_seq(out, k) or _names_seq(out, k + 1), \
        "verify should name seq %d (or %d):\n%s" % (k, k + 1, out)


def test_deleted_event_row_detected(ctx):
    _exercise(ctx)
    ctx.stop()
    table, seqs = _rows(ctx.db)
    k = _pick_middle(seqs)
    con = sqlite3.connect(ctx.db)
    with con:
        con.execute("DELETE FROM \"%s\" WHERE seq = ?" % table, (k,))
    con.close()
    code, out = _verify(ctx)
    assert code != 0, "verify passed after deleting seq %d:\n%s" % (k, out)
    assert _names_seq(out, k), \
        "verify should name the first bad seq %d:\n%s" % (k, out)


def test_verify_cli_contract(ctx):
    code, out = _verify(ctx)
    assert code == 0, out
    r = ctx.twokey("audit", "verify", "--db", ctx.tmp + "/nope.db")
    assert r.returncode != 0, (r.stdout, r.stderr)
    r = ctx.twokey("audit", "verify", "--help")
    assert r.returncode == 0 and "--db" in r.stdout + r.stderr, r


def test_tokens_never_stored_or_logged(ctx):
    """Only token hashes are stored: no issued token appears in the
    database file, the events, or any API answer."""
    _exercise(ctx)
    st, evs = ctx.api("ivan", "GET", "/v1/events?from=1&limit=1000")
    assert st == 200
    text = repr(evs)
    for user, tok in ctx.tokens.items():
        assert tok not in text, "token of %s in /v1/events" % user
    ctx.stop()
    import glob
    for f in glob.glob(ctx.db + "*"):
        with open(f, "rb") as fh:
            data = fh.read()
        for user, tok in ctx.tokens.items():
            assert tok.encode() not in data, "token of %s in %s" % (user, f)


def test_state_survives_restart_and_kill(ctx):
    """Cases, holds and the chain are durable: a graceful restart and a
    SIGKILL mid-traffic lose nothing that was answered and break nothing."""
    import threading
    st, c = ctx.api("alice", "POST", "/v1/cases",
                    {"subject": "radmin", "action": "mfa_reset",
                     "channel": "phone", "ticket": "INC-2",
                     "reason_code": "lost_device"})
    assert st == 201, c
    cid = c["id"]
    ctx.api("alice", "POST", "/v1/cases/%s/evidence" % cid,
            {"method": "callback_on_file", "contact": RADMIN_PHONE,
             "result": "pass"})
    ctx.api("bob", "POST", "/v1/cases/%s/evidence" % cid,
            {"method": "out_of_band", "contact": RADMIN_EMAIL,
             "result": "pass"})
    ctx.api("bob", "POST", "/v1/cases/%s/approvals" % cid,
            {"decision": "approve"})
    st, c = ctx.api("carol", "POST", "/v1/cases/%s/approvals" % cid,
                    {"decision": "approve"})
    assert st == 201 and c["state"] == "on_hold", c
    ctx.restart()
    c2 = ctx.case("ivan", cid)
    assert c2["state"] == "on_hold" and \
        c2["hold_until"] == c["hold_until"], c2

    # hammer it from a few threads, then SIGKILL the server
    answered = []
    stop = threading.Event()

    def worker(i):
        n = 0
        while not stop.is_set():
            try:
                st, b = ctx.api("alice", "POST", "/v1/cases",
                                {"subject": "jsmith",
                                 "action": "password_reset",
                                 "channel": "phone", "ticket": "T%d" % n},
                                timeout=5)
                if st == 201:
                    answered.append(b["id"])
                    ctx.api("alice", "POST", "/v1/cases/%s/cancel"
                            % b["id"], {"reason": "load"}, timeout=5)
            except Exception:  # noqa: BLE001 - the kill cuts requests
                pass
            n += 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    import time
    time.sleep(1.5)
    ctx.proc.kill()
    ctx.proc.wait(10)
    ctx.proc = None
    stop.set()
    for t in ts:
        t.join(30)
    assert answered, "no request was answered before the kill"
    code, out = _verify(ctx)
    assert code == 0, "chain broken after SIGKILL: %s" % out
    ctx.start()
    for a in answered:
        ctx.case("ivan", a)  # every answered open is still there
    c3 = ctx.case("ivan", cid)
    assert c3["state"] == "on_hold", c3
    ctx.advance(4 * HOUR + MINUTE)
    st, c3 = ctx.api("frank", "POST", "/v1/cases/%s/execute" % cid,
                     {"note": "done", "revoked": ["sessions", "tokens"]})
    assert st == 200 and c3["state"] == "review", (st, c3)
    code, out = _verify(ctx)
    assert code == 0, out
