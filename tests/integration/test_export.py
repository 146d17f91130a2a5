"""test_export.py - `twokey audit export` against a database filled by the
real server: every format parses (JSON lines with the exact stored body
as the Merkle leaf, OCSF classes, CEF header and extension fields), hostile
free text stays inside its field, --since by sequence number and by time,
--out writes a private file only on success, and usage errors exit 2."""

import base64
import json
import os
import re
import sqlite3
import stat

from harness import event_table, run_cli

EXIT_FAIL, EXIT_USAGE = 1, 2

# Quotes, pipes, '=', backslashes, a newline, a tab, a control character
# and non-ASCII: everything that could end a line or forge a field.
NASTY = 'say "hi" | x=1 \\ back\nslash\ttab\x01 caf\u00e9 \u20ac suser=evil'

CEF_HEADER = re.compile(r"^CEF:0\|((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|"
                        r"((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|"
                        r"((?:[^|\\]|\\.)*)\|(\d+)\|(.*)$")


def _version():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "src", "core", "tk.h")) as f:
        return re.search(r'#define TK_VERSION "([^"]+)"', f.read()).group(1)


def _traffic(ctx):
    """A standard reset to execution with hostile free text, a refused
    self-approval, a failed verification and a break-glass."""
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-1",
                      justification=NASTY)
    cid = c["id"]
    ctx.decide("alice", cid, expect=403)                  # invariant 1
    ctx.decide("bob", cid, comment=NASTY)
    ctx.execute("erin", cid, note=NASTY, revoked=("sessions",))
    c = ctx.open_case("alice", "radmin", "mfa_reset", ticket="INC-2",
                      reason_code="lost_device")
    ctx.evidence("alice", c["id"], "callback_on_file", contact="+1 555 0103",
                 result="fail", reference=NASTY)
    c = ctx.open_case("alice", "pwhite", "mfa_reset", ticket="INC-4",
                      reason_code="lost_device")
    st, b = ctx.api("frank", "POST", "/v1/cases/%s/break-glass" % c["id"],
                    {"justification": NASTY, "incident": "IR-2"})
    assert st < 500, (st, b)


def _export(ctx, *args):
    return ctx.twokey("audit", "export", "--db", ctx.db, *args)


def _lines(r, what):
    assert r.returncode == 0, ("%s: exit %d\n%s" % (what, r.returncode,
                                                    r.stderr))
    assert r.stdout == "" or r.stdout.endswith("\n"), what
    return r.stdout.splitlines()


def _stored(db):
    table, _ = event_table(db)
    con = sqlite3.connect(db)
    try:
        return {seq: body for seq, body in con.execute(
            "SELECT seq, body FROM \"%s\" ORDER BY seq" % table)}
    finally:
        con.close()


def _cef_unescape_value(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v):
            out.append({"n": "\n", "r": "\r"}.get(v[i + 1], v[i + 1]))
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def _cef_extension(ext):
    """key=value pairs: a key starts after a space and ends at an
    unescaped '='; values may hold spaces."""
    marks = [m for m in re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", ext)
             if not _escaped(ext, m.end() - 1)]
    fields = {}
    for k, m in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(ext)
        fields[m.group(1)] = _cef_unescape_value(ext[m.end():end])
    return fields


def _escaped(s, i):
    n = 0
    while i - 1 - n >= 0 and s[i - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


def test_export_jsonl_matches_the_stored_chain(ctx):
    _traffic(ctx)
    lines = _lines(_export(ctx, "--format", "jsonl"), "jsonl")
    stored = _stored(ctx.db)
    assert len(lines) == len(stored) >= 10, (len(lines), len(stored))
    kinds = set()
    for n, line in enumerate(lines, 1):
        assert line.isascii(), line
        ev = json.loads(line)
        assert ev["seq"] == n and ev["index"] == n - 1, ev
        leaf = base64.b64decode(ev["leaf"], validate=True).decode()
        assert leaf == stored[n], "leaf of %d is not the stored body" % n
        body = json.loads(leaf)
        for k in ("seq", "ts", "case", "kind", "actor", "alert", "data"):
            assert ev[k] == body[k], (k, ev, body)
        assert re.fullmatch(r"[0-9a-f]{64}", ev["hash"]), ev["hash"]
        kinds.add(ev["kind"])
    for k in ("case.opened", "refused", "approval.added",
              "execution.attested", "evidence.failed",
              "break_glass.declared", "token.issued"):
        assert k in kinds, (k, kinds)
    # the hostile justification survives exactly
    opened = [json.loads(x) for x in lines
              if json.loads(x)["kind"] == "execution.attested"]
    assert NASTY in opened[0]["data"]["detail"], opened[0]
    # jsonl is the default format
    assert _lines(_export(ctx), "default") == lines
    r = ctx.twokey("audit", "verify", "--db", ctx.db)
    assert r.returncode == 0, r.stderr


def test_export_ocsf(ctx):
    _traffic(ctx)
    events = [json.loads(x) for x in
              _lines(_export(ctx, "--format", "jsonl"), "jsonl")]
    lines = _lines(_export(ctx, "--format", "ocsf"), "ocsf")
    assert len(lines) == len(events)
    ver = _version()
    seen = {}
    for ev, line in zip(events, lines):
        o = json.loads(line)
        assert o["class_uid"] in (3001, 3002, 3004), o
        assert o["category_uid"] == 3
        assert o["type_uid"] == o["class_uid"] * 100 + o["activity_id"], o
        assert o["metadata"]["uid"] == str(ev["seq"])
        assert o["metadata"]["event_code"] == ev["kind"]
        assert o["metadata"]["product"] == {
            "name": "twokey", "vendor_name": "twokey", "version": ver}
        assert o["metadata"]["version"].startswith("1.")
        ts = ev["ts"]
        assert o["metadata"]["original_time"] == ts
        assert o["time"] % 1000 == 0 and o["time"] > 1.6e12, o["time"]
        assert o["actor"]["user"]["name"] == ev["actor"]
        assert o["severity_id"] == (4 if ev["alert"] else
                                    3 if ev["kind"] == "refused" else 1), o
        assert isinstance(o["message"], str) and o["message"], o
        if ev["case"]:
            assert o["metadata"]["correlation_uid"] == ev["case"]
        seen.setdefault(ev["kind"], o)
    ex = seen["execution.attested"]
    assert (ex["class_uid"], ex["activity_id"]) == (3001, 4), ex
    assert ex["activity_name"] == "Password Reset"
    assert ex["user"]["name"] == "jsmith"
    assert NASTY in ex["message"], ex["message"]
    ref = seen["refused"]
    assert (ref["class_uid"], ref["status_id"]) == (3004, 2), ref
    assert ref["status_code"] == "sod_violation", ref
    assert seen["evidence.failed"]["class_uid"] == 3002
    assert seen["evidence.failed"]["status"] == "Failure"
    assert seen["token.issued"]["class_uid"] == 3002
    assert seen["case.opened"]["activity_name"] == "Create"
    bg = seen["break_glass.declared"]
    assert bg["severity_id"] == 4 and bg["unmapped"]["alert"] is True, bg


def test_export_cef(ctx):
    _traffic(ctx)
    events = [json.loads(x) for x in
              _lines(_export(ctx, "--format", "jsonl"), "jsonl")]
    lines = _lines(_export(ctx, "--format", "cef"), "cef")
    assert len(lines) == len(events), "a hostile field split a CEF line"
    ver = _version()
    for ev, line in zip(events, lines):
        m = CEF_HEADER.match(line)
        assert m, line
        vendor, product, version, sig, name, sev, ext = m.groups()
        assert (vendor, product, version) == ("twokey", "twokey", ver)
        assert sig == ev["kind"], (sig, ev)
        assert name and 0 <= int(sev) <= 10, line
        assert int(sev) == (8 if ev["alert"] else
                            5 if ev["kind"] == "refused" else 3), line
        f = _cef_extension(ext)
        assert f["externalId"] == str(ev["seq"]), f
        assert f["suser"] == ev["actor"], (f, ev)
        assert int(f["rt"]) % 1000 == 0, f
        if ev["case"]:
            assert f["cs1Label"] == "case" and f["cs1"] == ev["case"], f
        assert "evil" not in f["suser"]
        if ev["kind"] == "execution.attested":
            assert f["duser"] == "jsmith", f
            # controls other than CR/LF become spaces, the rest survives
            want = NASTY.replace("\t", " ").replace("\x01", " ")
            assert want in f["msg"], (want, f["msg"])
        if ev["kind"] == "refused":
            assert f["outcome"] == "failure" and f["reason"], f


def test_export_since_and_out(ctx):
    _traffic(ctx)
    all_ev = [json.loads(x) for x in
              _lines(_export(ctx, "--format", "jsonl"), "jsonl")]
    n = len(all_ev)
    part = [json.loads(x) for x in
            _lines(_export(ctx, "--since", "5"), "--since 5")]
    assert [e["seq"] for e in part] == list(range(5, n + 1))
    assert _lines(_export(ctx, "--since", str(n + 1)), "past end") == []
    # by time: everything at or after an event's own timestamp
    ctx.advance(3600)
    ctx.open_case("bob", "alice", "password_reset", ticket="INC-9")
    later = [json.loads(x) for x in
             _lines(_export(ctx, "--format", "jsonl"), "jsonl")]
    last_ts = later[-1]["ts"]
    want = [e["seq"] for e in later if e["ts"] >= last_ts]
    got = [json.loads(x)["seq"] for x in
           _lines(_export(ctx, "--since", last_ts), "--since time")]
    assert got == want and len(want) < len(later), (got, want)
    got = [json.loads(x)["seq"] for x in _lines(
        _export(ctx, "--since", "2000-01-01T00:00:00+02:00"), "old")]
    assert len(got) == len(later)
    assert _lines(_export(ctx, "--since", "2999-01-01"), "future") == []

    out = os.path.join(ctx.tmp, "events.cef")
    r = _export(ctx, "--format", "cef", "--out", out, "--since", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "", r.stdout
    assert "exported" in r.stderr, r.stderr
    with open(out) as f:
        text = f.read()
    assert len(text.splitlines()) == len(later) - 1
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert not [x for x in os.listdir(ctx.tmp) if ".tmp." in x]


def test_export_errors(ctx):
    r = _export(ctx, "--format", "xml")
    assert r.returncode == EXIT_USAGE, (r.returncode, r.stderr)
    assert r.stdout == "" and "'xml'" in r.stderr, r.stderr
    assert all(f in r.stderr.split("usage:")[0] for f in
               ("jsonl", "ocsf", "cef")), r.stderr
    for bad in (["--since", "yesterday"], ["--since", "0"],
                ["--since", "2026-02-30T00:00:00Z"], ["--since", "-3"],
                ["--frob"], ["extra"], ["--out", ""]):
        r = _export(ctx, *bad)
        assert r.returncode == EXIT_USAGE, (bad, r.returncode, r.stderr)
        assert "usage" in r.stderr.lower(), (bad, r.stderr)
    r = ctx.twokey("audit", "export")
    assert r.returncode == EXIT_USAGE and "--db" in r.stderr, r.stderr
    r = ctx.twokey("audit", "export", "--help")
    assert r.returncode == 0 and "--since" in r.stdout, r.stdout
    assert "audit export" in run_cli(["--help"]).stdout
    r = ctx.twokey("audit", "export", "--db",
                   os.path.join(ctx.tmp, "none.db"))
    assert r.returncode == EXIT_FAIL and "twokey init" in r.stderr, r.stderr
    r = _export(ctx, "--out", os.path.join(ctx.tmp, "no", "such", "dir.x"))
    assert r.returncode == EXIT_FAIL and "cannot" in r.stderr, r.stderr


def test_export_refuses_a_tampered_row(ctx):
    _traffic(ctx)
    ctx.stop()
    table, _ = event_table(ctx.db)
    con = sqlite3.connect(ctx.db)
    with con:
        con.execute("UPDATE \"%s\" SET body = '[not an object' WHERE seq = 4"
                    % table)
    con.close()
    out = os.path.join(ctx.tmp, "x.jsonl")
    r = _export(ctx, "--out", out)
    assert r.returncode == EXIT_FAIL, (r.returncode, r.stderr)
    assert "event 4" in r.stderr and "audit verify" in r.stderr, r.stderr
    assert not os.path.exists(out), "a failed export left a file behind"
    assert not [x for x in os.listdir(ctx.tmp) if ".tmp." in x]
    # to stdout, the events before the bad one are written, then it stops
    r = _export(ctx)
    assert r.returncode == EXIT_FAIL
    assert len(r.stdout.splitlines()) == 3, r.stdout
