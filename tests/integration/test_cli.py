"""test_cli.py - the twokey command-line tool as people use it: help and
usage errors, the admin commands on the database file (init, token issue,
policy check / explain / load, audit verify) and the API commands against
a running server (case ..., me), exit codes included."""

import json
import os
import re
import sqlite3

from harness import (DEMO_ORG, DEMO_POLICY, REPO, event_table, run_cli)

EXIT_FAIL, EXIT_USAGE, EXIT_CONN, EXIT_UNAUTH = 1, 2, 3, 4

SUBCOMMANDS = [
    ["init"], ["token", "issue"], ["serve"], ["policy", "check"],
    ["policy", "explain"], ["policy", "load"], ["audit", "verify"],
    ["case", "open"], ["case", "show"], ["case", "list"],
    ["case", "evidence"], ["case", "approve"], ["case", "deny"],
    ["case", "patch"], ["case", "execute"], ["case", "cancel"],
    ["case", "break-glass"], ["case", "review"], ["case", "confirm"],
    ["case", "signal"], ["case", "resolve"], ["factor", "enroll"],
    ["factor", "seal-key"], ["account", "password"], ["account", "totp"],
    ["me"],
]


def _version():
    with open(os.path.join(REPO, "src", "core", "tk.h")) as f:
        m = re.search(r'#define TK_VERSION "([^"]+)"', f.read())
    assert m, "TK_VERSION not found in tk.h"
    return m.group(1)


def _as(ctx, user, *args):
    return ctx.twokey(*args, env={"TWOKEY_TOKEN": ctx.tokens[user]})


def _ok(r, what):
    assert r.returncode == 0, ("%s: exit %d\nstdout: %s\nstderr: %s"
                               % (what, r.returncode, r.stdout, r.stderr))
    return r


def _no_secret(ctx, r, token):
    assert token not in r.stdout and token not in r.stderr, \
        "the token appeared in the CLI's output"


def _write(ctx, name, text):
    p = os.path.join(ctx.tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def test_cli_help_version_usage(ctx):
    r = _ok(run_cli(["--help"]), "--help")
    assert "usage:" in r.stdout.lower(), r.stdout
    for words in SUBCOMMANDS:
        assert " ".join(words) in r.stdout, (words, r.stdout)
    r = _ok(run_cli(["--version"]), "--version")
    assert _version() in r.stdout, r.stdout
    for words in SUBCOMMANDS:
        r = _ok(run_cli(words + ["--help"]), " ".join(words) + " --help")
        assert "usage: twokey " + " ".join(words) in r.stdout, r.stdout
    # unknown commands and options: usage on stderr, exit 2
    for bad in (["frobnicate"], ["case", "frobnicate"], ["--frob"],
                ["case", "show", "--frob", "c_0000000000000000"],
                ["init", "--nope"], ["policy"], []):
        r = run_cli(bad)
        assert r.returncode == EXIT_USAGE, (bad, r.returncode, r.stderr)
        assert "usage" in r.stderr.lower(), (bad, r.stderr)
        assert r.stdout == "", (bad, r.stdout)
    # missing required options and arguments are usage errors too
    for bad in (["case", "open", "--subject", "jsmith"], ["case", "show"],
                ["case", "execute"], ["case", "confirm",
                                      "c_0000000000000000"],
                ["case", "resolve", "c_0000000000000000", "--note", "n"],
                ["factor", "enroll", "--db", ctx.db],
                ["token", "issue", "--db", ctx.db],
                ["policy", "check"], ["serve", "--db", ctx.db]):
        r = run_cli(bad)
        assert r.returncode == EXIT_USAGE, (bad, r.returncode, r.stderr)


def test_cli_policy_check(ctx):
    r = _ok(run_cli(["policy", "check", DEMO_POLICY]), "policy check")
    assert r.stdout.strip() == "%s: ok, 3 tiers, 1 deny rule" % DEMO_POLICY \
        or re.search(r": ok, 3 tiers, 1 deny rules?$", r.stdout.strip()), \
        r.stdout
    with open(DEMO_POLICY) as f:
        text = f.read()
    bad = text.replace("'action.family in [", "'action.family inn [", 1)
    assert bad != text
    p = _write(ctx, "bad-policy.yaml", bad)
    r = run_cli(["policy", "check", p])
    assert r.returncode == EXIT_FAIL, (r.returncode, r.stdout, r.stderr)
    line = next(i + 1 for i, l in enumerate(bad.splitlines())
                if "inn [" in l)
    m = re.search(re.escape(p) + r":(\d+):(\d+):", r.stderr)
    assert m, "expected %s:LINE:COL in %r" % (p, r.stderr)
    assert int(m.group(1)) == line, (line, r.stderr)
    r = run_cli(["policy", "check", os.path.join(ctx.tmp, "absent.yaml")])
    assert r.returncode == EXIT_FAIL and "absent.yaml" in r.stderr, r.stderr


def test_cli_init(ctx):
    # refuses an existing database
    r = run_cli(["init", "--db", ctx.db, "--org", DEMO_ORG, "--policy",
                 DEMO_POLICY])
    assert r.returncode == EXIT_FAIL and "--force" in r.stderr, r.stderr
    db = os.path.join(ctx.tmp, "fresh.db")
    _ok(run_cli(["init", "--db", db, "--org", DEMO_ORG, "--policy",
                 DEMO_POLICY]), "init")
    assert os.stat(db).st_mode & 0o077 == 0, "database is not private"
    r = _ok(run_cli(["audit", "verify", "--db", db]), "verify fresh")
    assert re.search(r"intact: \d+ events, \d+ signed checkpoints? verified", r.stdout), r.stdout
    _ok(run_cli(["init", "--db", db, "--org", DEMO_ORG, "--policy",
                 DEMO_POLICY, "--force"]), "init --force")
    # a bad org file is reported with file:line:col and creates nothing
    with open(DEMO_ORG) as f:
        org = f.read()
    bad = org.replace("kind: nhi", "kind: robot", 1)
    p = _write(ctx, "bad-org.yaml", bad)
    db2 = os.path.join(ctx.tmp, "never.db")
    r = run_cli(["init", "--db", db2, "--org", p, "--policy", DEMO_POLICY])
    assert r.returncode == EXIT_FAIL, (r.returncode, r.stderr)
    assert re.search(re.escape(p) + r":\d+:\d+:", r.stderr), r.stderr
    assert not os.path.exists(db2), "init created a database from bad input"


def test_cli_token_issue(ctx):
    r = _ok(run_cli(["token", "issue", "--db", ctx.db, "carol"]), "issue")
    tok = r.stdout.strip()
    assert re.fullmatch(r"tk_[A-Za-z0-9_-]{43}", tok), r.stdout
    r = _ok(ctx.twokey("me", env={"TWOKEY_TOKEN": tok}), "me")
    assert "carol" in r.stdout and "security" in r.stdout, r.stdout
    _no_secret(ctx, r, tok)
    r = _ok(ctx.twokey("--json", "me", env={"TWOKEY_TOKEN": tok}), "me json")
    me = json.loads(r.stdout)
    assert me["login"] == "carol" and me["function"] == "security", me
    # the token itself is not in the database
    con = sqlite3.connect(ctx.db)
    try:
        for (name,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"):
            for row in con.execute('SELECT * FROM "%s"' % name):
                assert tok not in repr(row), "token stored in clear"
    finally:
        con.close()
    for who in ("mallory", "jsmith"):  # not staff (jsmith is a subject)
        r = run_cli(["token", "issue", "--db", ctx.db, who])
        assert r.returncode != 0 and "tk_" not in r.stdout, (who, r.stdout)
        assert r.stderr.startswith("error:"), r.stderr
    r = run_cli(["token", "issue", "--db", os.path.join(ctx.tmp, "no.db"),
                 "alice"])
    assert r.returncode == EXIT_FAIL and "init" in r.stderr, r.stderr


def test_cli_policy_explain(ctx):
    r = _ok(run_cli(["policy", "explain", "--db", ctx.db, "--subject",
                     "radmin", "--action", "mfa_reset", "--ticket", "INC-1"]),
            "explain")
    out = r.stdout
    assert "critical" in out and "carol" in out, out
    assert re.search(r"line \d+", out), out
    assert "hold of 4h" in out and "security" in out, out
    r = _ok(run_cli(["policy", "explain", "--db", ctx.db, "--json",
                     "--subject", "radmin", "--action", "mfa_reset",
                     "--ticket", "INC-1"]), "explain --json")
    x = json.loads(r.stdout)
    assert x["tier"] == "critical" and x["owner"] == "carol", x
    assert x["denied"] is None, x
    # no ticket for a high-risk change: the deny rule and its reason
    r = _ok(run_cli(["policy", "explain", "--db", ctx.db, "--subject",
                     "pwhite", "--action", "mfa_reset"]), "explain deny")
    assert "high" in r.stdout and "DENIED" in r.stdout, r.stdout
    assert "ticket" in r.stdout.lower(), r.stdout
    r = _ok(run_cli(["policy", "explain", "--db", ctx.db, "--subject",
                     "jsmith", "--action", "password_reset", "--signal",
                     "new_device", "--ticket", "T-1", "--json"]), "signal")
    assert json.loads(r.stdout)["tier"] == "high", r.stdout
    r = run_cli(["policy", "explain", "--db", ctx.db, "--subject",
                 "jsmith", "--action", "teleport"])
    assert r.returncode == EXIT_FAIL and r.stderr.startswith("error:"), \
        (r.returncode, r.stderr)


def test_cli_policy_load(ctx):
    with open(DEMO_POLICY) as f:
        text = f.read()
    p = _write(ctx, "p2.yaml", text.replace("hold: 4h", "hold: 2h", 1))
    _ok(run_cli(["policy", "load", "--db", ctx.db, p]), "policy load")
    r = _ok(run_cli(["policy", "explain", "--db", ctx.db, "--subject",
                     "radmin", "--action", "mfa_reset", "--ticket", "T"]),
            "explain after load")
    assert "hold of 2h" in r.stdout, r.stdout
    bad = _write(ctx, "p3.yaml", text.replace("when: 'true'",
                                              "when: 'tru'", 1))
    r = run_cli(["policy", "load", "--db", ctx.db, bad])
    assert r.returncode == EXIT_FAIL, (r.returncode, r.stderr)
    assert re.search(re.escape(bad) + r":\d+:\d+:", r.stderr), r.stderr
    r = _ok(run_cli(["policy", "explain", "--db", ctx.db, "--subject",
                     "radmin", "--action", "mfa_reset", "--ticket", "T"]),
            "explain after refused load")
    assert "hold of 2h" in r.stdout, r.stdout
    _ok(run_cli(["audit", "verify", "--db", ctx.db]), "verify")


def test_cli_case_flow(ctx):
    r = _ok(_as(ctx, "alice", "case", "open", "-q", "--subject", "jsmith",
                "--action", "password_reset", "--channel", "phone",
                "--ticket", "INC-7", "--reason", "forgot_password",
                "--justification", "forgot it"), "open")
    cid = r.stdout.strip()
    assert re.fullmatch(r"c_[0-9a-f]{16}", cid), r.stdout
    # a second open case for the same subject and family: wrong_state
    r = _as(ctx, "bob", "case", "open", "--subject", "jsmith", "--action",
            "password_reset", "--channel", "chat")
    assert r.returncode == EXIT_FAIL, (r.returncode, r.stderr)
    assert "error: wrong_state:" in r.stderr, r.stderr
    # the requester cannot approve (invariant 1)
    r = _as(ctx, "alice", "case", "approve", cid)
    assert r.returncode == EXIT_FAIL, r.returncode
    assert "error: sod_violation:" in r.stderr, r.stderr
    r = _ok(_as(ctx, "bob", "case", "approve", cid, "--comment", "ok"),
            "approve")
    assert cid in r.stdout and "bob" in r.stdout, r.stdout
    r = _ok(_as(ctx, "erin", "case", "execute", cid, "--note",
                "reset in AD", "--revoked", "sessions"), "execute")
    r = _ok(_as(ctx, "ivan", "case", "show", cid), "show")
    assert "executed" in r.stdout and "what happened:" in r.stdout \
        and "audit events:" in r.stdout, r.stdout
    assert "refused" in r.stdout, r.stdout  # alice's attempt is there
    r = _ok(_as(ctx, "ivan", "--json", "case", "show", cid), "show json")
    c = json.loads(r.stdout)
    assert c["id"] == cid and c["state"] in ("executed", "review",
                                            "closed"), c
    r = _ok(_as(ctx, "ivan", "case", "list", "--subject", "jsmith"), "list")
    assert cid in r.stdout, r.stdout
    r = _ok(_as(ctx, "ivan", "--json", "case", "list", "--queue",
                "password"), "list json")
    assert cid in [x["id"] for x in json.loads(r.stdout)["cases"]], r.stdout
    # patch, evidence and cancel on a second case
    r = _ok(_as(ctx, "alice", "--json", "case", "open", "--subject",
                "pwhite", "--action", "password_reset", "--channel", "phone",
                "--ticket", "INC-8", "--reason", "forgot_password"), "open 2")
    c = json.loads(r.stdout)
    assert c["tier"] == "high", c
    cid2 = c["id"]
    r = _ok(_as(ctx, "bob", "case", "evidence", cid2, "--method",
                "callback_on_file", "--contact", "+1 555 0102",
                "--reference", "called back"), "evidence")
    r = _ok(_as(ctx, "alice", "--json", "case", "patch", cid2,
                "--justification", "forgot it after holiday"), "patch")
    assert json.loads(r.stdout)["justification"].startswith("forgot"), \
        r.stdout
    r = _ok(_as(ctx, "alice", "case", "cancel", cid2, "--reason",
                "caller hung up"), "cancel")
    assert "cancelled" in r.stdout, r.stdout
    r = _as(ctx, "frank", "case", "review", cid, "--outcome", "confirmed",
            "--comment", "fine")
    assert r.returncode in (0, EXIT_FAIL), r.returncode  # no review needed
    for tok in ctx.tokens.values():
        _no_secret(ctx, r, tok)


def test_cli_errors_and_exit_codes(ctx):
    # no token
    r = ctx.twokey("me", env={"TWOKEY_TOKEN": ""})
    assert r.returncode == EXIT_UNAUTH, (r.returncode, r.stderr)
    assert "TWOKEY_TOKEN" in r.stderr, r.stderr
    # a wrong token
    wrong = "tk_" + "A" * 43
    r = ctx.twokey("case", "list", env={"TWOKEY_TOKEN": wrong})
    assert r.returncode == EXIT_UNAUTH, (r.returncode, r.stderr)
    assert "error: unauthenticated:" in r.stderr, r.stderr
    _no_secret(ctx, r, wrong)
    # unreachable server: exit 3 and a hint about TWOKEY_URL
    r = run_cli(["me"], env={"TWOKEY_URL": "http://127.0.0.1:1",
                             "TWOKEY_TOKEN": ctx.tokens["alice"]})
    assert r.returncode == EXIT_CONN, (r.returncode, r.stderr)
    assert "TWOKEY_URL" in r.stderr, r.stderr
    _no_secret(ctx, r, ctx.tokens["alice"])
    # API errors: not_found, invalid_request, policy_denied
    r = _as(ctx, "alice", "case", "show", "c_0123456789abcdef")
    assert r.returncode == EXIT_FAIL and "error: not_found:" in r.stderr, \
        r.stderr
    r = _as(ctx, "alice", "case", "show", "../../etc/passwd")
    assert r.returncode == EXIT_FAIL and r.stderr.startswith("error:"), \
        r.stderr
    r = _as(ctx, "alice", "case", "open", "--subject", "nobody",
            "--action", "password_reset", "--channel", "phone")
    assert r.returncode == EXIT_FAIL, r.returncode
    assert "error: invalid_request:" in r.stderr, r.stderr
    r = _as(ctx, "alice", "case", "open", "--subject", "pwhite",
            "--action", "mfa_reset", "--channel", "phone", "--reason",
            "lost_device")
    assert r.returncode == EXIT_FAIL, r.returncode
    assert "error: policy_denied:" in r.stderr, r.stderr
    assert "ticket" in r.stderr.lower(), r.stderr
    # --json on an error still says the error on stderr and prints the body
    r = _as(ctx, "alice", "--json", "case", "show", "c_0123456789abcdef")
    assert r.returncode == EXIT_FAIL, r.returncode
    assert json.loads(r.stdout)["error"]["code"] == "not_found", r.stdout
    # bad --param shape is a usage error
    r = _as(ctx, "alice", "case", "open", "--subject", "jsmith",
            "--action", "password_reset", "--param", "novalue")
    assert r.returncode == EXIT_USAGE, (r.returncode, r.stderr)
    assert ctx.alive()


def test_cli_audit_verify_detects_tampering(ctx):
    r = _ok(_as(ctx, "alice", "case", "open", "-q", "--subject", "jsmith",
                "--action", "password_reset", "--channel", "phone"), "open")
    r = _ok(run_cli(["audit", "verify", "--db", ctx.db]), "verify")
    m = re.search(r"intact: (\d+) events", r.stdout)
    assert m and int(m.group(1)) >= 2, r.stdout
    ctx.stop()
    table, cols = event_table(ctx.db)
    con = sqlite3.connect(ctx.db)
    try:
        seqs = [s for (s,) in con.execute(
            'SELECT seq FROM "%s" ORDER BY seq' % table)]
        target = seqs[len(seqs) // 2]
        con.execute('UPDATE "%s" SET body = replace(body, \'"actor"\', '
                    '\'"actoR"\') WHERE seq = ?' % table, (target,))
        con.commit()
    finally:
        con.close()
    r = run_cli(["audit", "verify", "--db", ctx.db])
    assert r.returncode == EXIT_FAIL, (r.returncode, r.stdout, r.stderr)
    assert "FAILED at seq %d" % target in r.stderr, \
        (target, r.stderr)
