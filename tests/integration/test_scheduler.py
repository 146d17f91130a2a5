"""test_scheduler.py - the server's scheduler sweep (`--sweep-interval`):
time moves cases on without anyone reading them. After the clock passes
a hold's end, the audit log shows `hold.ended`; after it passes a
post-event review's deadline, GET /v1/alerts shows `review.overdue` -
within a few seconds and with no GET of the case in between. Also: the
option's bad values are usage errors, and 0 turns sweeps off.
"""

import time

from harness import HOUR, MINUTE

PWHITE_PHONE = "+1 555 0102"
WAIT = 10.0  # seconds to wait for a sweep (interval 1 s)


def _poll(fn, what):
    deadline = time.time() + WAIT
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("no %s within %.0f s" % (what, WAIT))


def _log_kinds(x, cid):
    st, body = x.api("ivan", "GET", "/v1/events?limit=1000")
    assert st == 200, (st, body)
    return [e["kind"] for e in body["events"] if e.get("case") == cid]


def _overdue_alerts(x, cid):
    st, body = x.api("carol", "GET", "/v1/alerts")
    assert st == 200, (st, body)
    return [a for a in body["alerts"]
            if a["kind"] == "review.overdue" and a.get("case") == cid]


def test_sweep_ends_hold_and_flags_overdue_review(ctx):
    x = ctx.sibling(serve_args=["--sweep-interval", "1"])

    # A case on its hold (pwhite: tier high, 1h hold).
    c = x.open_case("alice", "pwhite", "password_reset", ticket="INC-9",
                    reason_code="forgot_password")
    held = c["id"]
    x.evidence("bob", held, "callback_on_file", PWHITE_PHONE)
    x.decide("dave", held)
    _, c = x.decide("carol", held)
    assert c["state"] == "on_hold", c

    # A break-glass case executed: its review is due in 24h.
    c = x.open_case("alice", "pwhite", "mfa_reset", ticket="INC-12",
                    reason_code="lost_device")
    bg = c["id"]
    x.evidence("bob", bg, "callback_on_file", PWHITE_PHONE)
    st, c = x.api("frank", "POST", "/v1/cases/%s/break-glass" % bg,
                  {"justification": "exec locked out", "incident": "IR-7"})
    assert st == 200, (st, c)
    x.decide("carol", bg)
    _, c = x.execute("dave", bg, revoked=["sessions"])
    assert c["state"] == "review", c
    assert not _overdue_alerts(x, bg)

    # Past the hold: hold.ended appears in the log by itself.
    x.advance(HOUR + MINUTE)
    _poll(lambda: "hold.ended" in _log_kinds(x, held), "hold.ended")

    # Past the review deadline: the overdue alert, once.
    x.advance(24 * HOUR)
    alerts = _poll(lambda: _overdue_alerts(x, bg), "review.overdue alert")
    assert alerts[0]["alert"] is True, alerts
    time.sleep(2.5)  # more sweeps raise no second alert
    assert len(_overdue_alerts(x, bg)) == 1
    assert _log_kinds(x, bg).count("review.overdue") == 1

    # Reading the case afterwards shows it overdue.
    c = x.case("ivan", bg)
    assert c["review"]["overdue"] is True, c["review"]


def test_sweep_interval_option(ctx):
    for bad in ("-1", "x", "86401", ""):
        r = ctx.twokey("serve", "--db", ctx.db, "--listen", "127.0.0.1:1",
                       "--sweep-interval", bad)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)
        assert "sweep-interval" in r.stderr, r.stderr
    # 0: no sweeps; time moves a case only when it is touched.
    x = ctx.sibling(serve_args=["--sweep-interval", "0"])
    c = x.open_case("alice", "pwhite", "password_reset", ticket="INC-9",
                    reason_code="forgot_password")
    held = c["id"]
    x.evidence("bob", held, "callback_on_file", PWHITE_PHONE)
    x.decide("dave", held)
    x.decide("carol", held)
    x.advance(HOUR + MINUTE)
    time.sleep(2.0)
    assert "hold.ended" not in _log_kinds(x, held)
    c = x.case("ivan", held)  # the read applies time
    assert "hold.ended" in _log_kinds(x, held), c["state"]
