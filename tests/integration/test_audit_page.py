"""test_audit_page.py - the latest verification of the audit log, run on the
server, through the API and the console's Audit page.

API: GET /v1/audit/verification is null before any run; POST
/v1/audit/verify by an auditor (no body) or an admin ({}) answers the
result (intact, the log's size, who, when) and leaves an `audit.verified`
event; the latest is the newest and survives a restart; a body with fields
or a query is refused; bob (help desk) and an unauthenticated caller are
refused and nothing is recorded. One byte changed in an event's row while
the server is stopped (sqlite3, as anyone with the file could) makes the
next run report FAILED at that event, as the CLI does, with an alert.

Console: ivan (auditor) sees "not verified yet" and a "Verify now" button;
pressing it (POST /audit/verify with the CSRF token) answers 303 back to
/audit, which then says "Latest verification: intact, N events, at T by
ivan"; a post without the token is refused by the console; bob sees no
button and his hand-made post is refused with the app's message; after
tampering the page shows FAILED at the event in a danger alert."""

import re
import sqlite3

import harness
from test_console_signin import Browser, hidden, setup_accounts, sign_in


def log_size(ctx):
    st, r = ctx.api("ivan", "GET", "/v1/audit/events?limit=1")
    assert st == 200, r
    return r["size"]


def verified_events(ctx):
    st, evs = ctx.api("ivan", "GET", "/v1/events?from=1&limit=1000")
    assert st == 200, evs
    return [e for e in evs["events"] if e["kind"] == "audit.verified"]


def tamper(ctx, seq):
    """Changes one byte of event seq's body with the server stopped."""
    ctx.stop()
    db = sqlite3.connect(ctx.db)
    try:
        (body,) = db.execute("SELECT body FROM events WHERE seq = ?",
                             (seq,)).fetchone()
        # the first letter of the kind's value: still valid JSON, but
        # no longer the bytes that were hashed
        i = body.index('"kind":"') + len('"kind":"')
        changed = body[:i] + ("x" if body[i] != "x" else "y") + body[i + 1:]
        cur = db.execute("UPDATE events SET body = ? WHERE seq = ?",
                         (changed, seq))
        assert cur.rowcount == 1
        db.commit()
    finally:
        db.close()
    ctx.start()


def test_audit_verify_api(ctx):
    st, r = ctx.api("ivan", "GET", "/v1/audit/verification")
    assert st == 200 and r == {"verification": None}, (st, r)

    # refused: no role, no token, a body with fields, a query
    st, r = ctx.api("bob", "POST", "/v1/audit/verify")
    harness.expect_error((st, r), 403, "forbidden", what="bob verifies")
    assert "auditor or admin" in r["error"]["message"], r
    st, r = ctx.api("bob", "GET", "/v1/audit/verification")
    assert st == 403, (st, r)
    st, r = ctx.api(None, "POST", "/v1/audit/verify")
    assert st == 401, (st, r)
    st, r = ctx.api("ivan", "POST", "/v1/audit/verify", body={"x": 1})
    assert st == 400, (st, r)
    st, r = ctx.api("ivan", "POST", "/v1/audit/verify?deep=1")
    assert st == 400, (st, r)
    st, r = ctx.api("ivan", "GET", "/v1/audit/verify")
    assert st == 404, (st, r)
    assert verified_events(ctx) == []

    size = log_size(ctx)
    st, r = ctx.api("ivan", "POST", "/v1/audit/verify")
    assert st == 200, (st, r)
    v = r["verification"]
    assert v["result"] == "intact", v
    assert v["size"] == size and v["by"] == "ivan", (v, size)
    assert v["bad_seq"] is None and v["bad_kind"] is None, v
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", v["at"]), v
    assert v["seq"] == size + 1 and log_size(ctx) == size + 1
    ev = verified_events(ctx)
    assert len(ev) == 1 and ev[0]["actor"] == "ivan", ev
    assert ev[0]["seq"] == v["seq"] and not ev[0]["alert"], ev
    assert ev[0]["data"]["result"] == "intact", ev
    assert ev[0]["data"]["size"] == size, ev

    st, r = ctx.api("olivia", "POST", "/v1/audit/verify", body={})
    assert st == 200 and r["verification"]["result"] == "intact", (st, r)
    second = r["verification"]
    assert second["by"] == "olivia" and second["seq"] > v["seq"], second
    assert second["size"] == v["seq"], second   # saw the first's record
    st, r = ctx.api("ivan", "GET", "/v1/audit/verification")
    assert st == 200 and r["verification"] == second, (st, r)

    # the record is the event log: it survives a restart
    ctx.restart()
    st, r = ctx.api("olivia", "GET", "/v1/audit/verification")
    assert st == 200 and r["verification"] == second, (st, r)

    # one byte of event 3 changed behind the server's back
    tamper(ctx, 3)
    st, r = ctx.api("ivan", "POST", "/v1/audit/verify")
    assert st == 200, (st, r)
    bad = r["verification"]
    assert bad["result"] == "failed", bad
    assert bad["bad_seq"] == 3 and bad["bad_kind"] == "edited", bad
    assert bad["detail"], bad
    # the CLI finds the same
    cli = ctx.twokey("audit", "verify", "--db", ctx.db)
    assert cli.returncode != 0, cli.stdout
    assert "FAILED at seq 3 (edited)" in cli.stderr, cli.stderr
    # an alert, and the latest verification
    st, al = ctx.api("ivan", "GET", "/v1/alerts")
    assert st == 200, al
    assert any(a["kind"] == "audit.verified" and a["seq"] == bad["seq"]
               for a in al["alerts"]), al
    st, r = ctx.api("ivan", "GET", "/v1/audit/verification")
    assert r["verification"] == bad, r


def test_audit_page_console(ctx):
    keys = setup_accounts(ctx, ("ivan", "bob"))
    iv = Browser(ctx.port)
    sign_in(ctx, iv, keys["ivan"], login="ivan")
    st, _, _, html = iv.request("GET", "/audit")
    assert st == 200, (st, html[:800])
    assert "not verified yet" in html, html
    assert 'action="/audit/verify"' in html and "Verify now" in html, html
    csrf = hidden(html, "csrf")

    # the console's own CSRF check comes first
    st, _, _, _ = iv.request("POST", "/audit/verify", {"csrf": "x" * 43})
    assert st == 403, st
    assert verified_events(ctx) == []

    size = log_size(ctx)
    st, h, _, html = iv.request("POST", "/audit/verify", {"csrf": csrf})
    assert st == 303 and h["location"] == "/audit?done=verified", \
        (st, h.get("location"), html[:800])
    st, _, _, html = iv.request("GET", h["location"])
    assert st == 200, st
    m = re.search(r"Latest verification: intact, (\d+) events, at "
                  r"(\d{4}-\d\d-\d\d \d\d:\d\d UTC) by ivan\.", html)
    assert m, html
    assert int(m.group(1)) == size, (m.group(1), size)
    assert "The verification finished" in html, html
    assert "not verified yet" not in html
    ev = verified_events(ctx)
    assert len(ev) == 1 and ev[0]["actor"] == "ivan", ev

    # bob: no button, and a hand-made post is refused with the reason
    bb = Browser(ctx.port)
    sign_in(ctx, bb, keys["bob"], login="bob")
    st, _, _, html = bb.request("GET", "/audit")
    assert st == 200, st
    assert 'action="/audit/verify"' not in html and "Verify now" \
        not in html, html
    assert "auditor or admin" in html, html
    st, _, _, html = bb.request("POST", "/audit/verify",
                                {"csrf": hidden(html, "csrf")})
    assert st == 403, (st, html[:800])
    assert re.search(r'class="alert alert-error" role="alert">.*needs the '
                     r"auditor or admin role; &#39;bob&#39; does not have "
                     r"it|class=\"alert alert-error\" role=\"alert\">.*"
                     r"needs the auditor or admin role; 'bob' does not "
                     r"have it", html, re.S), html
    assert len(verified_events(ctx)) == 1

    # tampered: FAILED at the event, in a danger alert
    tamper(ctx, 2)
    iv.port = ctx.port  # (a new port; the session is in the database)
    st, _, _, html = iv.request("GET", "/audit")
    assert st == 200, st
    csrf = hidden(html, "csrf")
    st, h, _, _ = iv.request("POST", "/audit/verify", {"csrf": csrf})
    assert st == 303, st
    st, _, _, html = iv.request("GET", h["location"])
    m = re.search(r'<div id="verification" class="alert alert-error" '
                  r'role="alert"><p><strong>Latest verification: FAILED at '
                  r"seq 2 \(edited\)</strong>, \d+ events checked, at "
                  r"[^<]* by ivan", html)
    assert m, html
