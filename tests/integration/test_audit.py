"""test_audit.py - the audit log: `twokey audit verify` passes after real
traffic, and editing or deleting an event row with sqlite3 makes it fail
naming the first bad sequence number; the RFC 6962 Merkle tree and its
Ed25519-signed C2SP checkpoints verify independently in Python (key id,
note signature, root from the raw leaves, RFC 9162 inclusion and
consistency proofs); /v1/audit access and input rules; receipts
(`audit prove` / `audit check`); the final checkpoint at shutdown;
tampering after a checkpoint; offline bundles (`audit verify --offline`)."""

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
    ctx.enroll("radmin")
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
            {"method": "callback_on_file", "contact": "+1 555 6666",
             "result": "pass"}), "ev bad contact")
    _ok(api("bob", "POST", "/v1/cases/%s/evidence" % cid,
            {"method": "manager_attestation", "result": "pass",
             "reference": "code \"read\" back \u00e9"}), "ev refused")
    _ok(api("bob", "POST", "/v1/cases/%s/evidence" % cid,
            {"method": "registered_factor", "code": ctx.totp("radmin")}),
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
    ctx.enroll("radmin")
    ctx.totp_evidence("bob", cid, "radmin")
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


# ---- the Merkle log, checked independently --------------------------------

import base64  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

from harness import DEMO_ORG, DEMO_POLICY, expect_error, run_cli  # noqa: E402


def _sha(b):
    return hashlib.sha256(b).digest()


def _leaf_hash(data):
    return _sha(b"\x00" + data)


def _node(left, right):
    return _sha(b"\x01" + left + right)


def _mth(hashes):
    """RFC 6962 Merkle tree hash over leaf hashes."""
    n = len(hashes)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return _node(_mth(hashes[:k]), _mth(hashes[k:]))


def _verify_inclusion(index, size, leaf_hash, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0 or first > second or not proof and first & (first - 1):
        return False
    if first & (first - 1) == 0:
        proof = [first_hash] + list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


def _parse_vkey(text):
    """A C2SP verifier key name+hexid+base64(0x01||pub): checks its key id
    and returns (name, keyid bytes, raw public key)."""
    m = re.search(r"(\S+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)", text)
    assert m, "no verifier key in %r" % text
    name, hexid, b64 = m.group(1), m.group(2), m.group(3)
    raw = base64.b64decode(b64)
    assert len(raw) == 33 and raw[0] == 1, "not an Ed25519 key: %r" % text
    want = _sha(name.encode() + b"\n" + raw)[:4]
    assert bytes.fromhex(hexid) == want, \
        "key id %s != SHA-256(name\\n0x01||pub)[:4] = %s" % (hexid,
                                                             want.hex())
    return name, want, raw[1:], m.group(0)


def _note_ok(note, key):
    """True when the signed note has a valid Ed25519 signature line by
    key (name, keyid, pub) over its text."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import \
        Ed25519PublicKey
    name, keyid, pub = key[0], key[1], key[2]
    i = note.rfind("\n\n")
    if i < 0:
        return False
    text, sigs = note[:i + 1], note[i + 2:]
    pk = Ed25519PublicKey.from_public_bytes(pub)
    for line in sigs.split("\n"):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        try:
            sig = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if len(sig) != 68 or sig[:4] != keyid:
            continue
        try:
            pk.verify(sig[4:], text.encode())
            return True
        except InvalidSignature:
            return False
    return False


def _note_body(note):
    lines = note[:note.rfind("\n\n")].split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2])


def _ctx_key(ctx):
    r = ctx.twokey("audit", "key", "--db", ctx.db)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return _parse_vkey(r.stdout.strip().splitlines()[0])


def _serve_with(ctx, *args):
    ctx.serve_args = [a for a in ctx.serve_args] + list(args)
    ctx.restart()


def _activity(ctx, n=2):
    """Opens n cases with some evidence; returns their ids."""
    ids = []
    for i in range(n):
        c = ctx.open_case("alice", "jsmith", "password_reset",
                          ticket="INC-%d" % (100 + i))
        ids.append(c["id"])
        ctx.evidence("bob", c["id"], "callback_on_file",
                     contact="+1 555 0101", expect=None)
        ctx.decide("bob", c["id"], expect=None)
        st, b = ctx.api("alice", "POST", "/v1/cases/%s/cancel" % c["id"],
                        {"reason": "test done"})
        assert st == 200, (st, b)
    return ids


def _leaves(ctx, user="ivan", page=7):
    out = []
    size = None
    while True:
        st, b = ctx.api(user, "GET", "/v1/audit/events?from=%d&limit=%d"
                        % (len(out), page))
        assert st == 200, (st, b)
        size = b["size"]
        if not b["events"]:
            break
        for e in b["events"]:
            assert e["index"] == len(out), (e, len(out))
            assert e["seq"] == e["index"] + 1, e
            out.append(base64.b64decode(e["leaf"]))
        assert len(b["events"]) <= page, b
    assert len(out) == size, (len(out), size)
    return out


def _log_size(ctx, user="ivan"):
    st, b = ctx.api(user, "GET", "/v1/audit/events?from=0&limit=1")
    assert st == 200, (st, b)
    return b["size"]


def _wait_checkpoint(ctx, size=None, user="ivan", timeout=20):
    """Polls /v1/audit/checkpoint until it covers the whole log (or
    `size`); returns its JSON."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        want = size if size is not None else _log_size(ctx, user)
        st, cp = ctx.api(user, "GET", "/v1/audit/checkpoint")
        last = (st, cp)
        if st == 200 and cp["size"] >= want:
            if size is not None or cp["size"] == _log_size(ctx, user):
                return cp
        time.sleep(0.2)
    raise AssertionError("no checkpoint covering the log within %ds: %r"
                         % (timeout, last))


def test_checkpoint_verifies_independently(ctx):
    key = _ctx_key(ctx)
    _serve_with(ctx, "--checkpoint-interval", "1")
    _activity(ctx, 3)
    cp = _wait_checkpoint(ctx)
    note = cp["note"]
    assert _note_ok(note, key), "checkpoint signature does not verify:\n" \
        + note
    origin, size, root = _note_body(note)
    assert origin == key[0] == cp["origin"], (origin, key[0], cp)
    assert size == cp["size"] and base64.b64encode(root).decode() == \
        cp["root"], (note, cp)
    leaves = _leaves(ctx)
    assert len(leaves) == size, (len(leaves), size)
    assert size >= 10, size
    assert _mth([_leaf_hash(x) for x in leaves]) == root, \
        "Python RFC 6962 root differs from the signed root"
    # the leaves are the events' exact JSON bytes
    for i, x in enumerate(leaves):
        assert json.loads(x.decode())["seq"] == i + 1, x
    # a root over a prefix is not the signed root (the check has teeth)
    assert _mth([_leaf_hash(x) for x in leaves[:-1]]) != root
    # tampered notes fail: size digit, root, signature, other key name
    text, sigs = note[:note.rfind("\n\n") + 1], note[note.rfind("\n\n"):]
    lines = text.split("\n")
    bad_size = "\n".join([lines[0], str(size + 1)] + lines[2:]) + sigs
    assert not _note_ok(bad_size, key), "size-tampered note verified"
    flipped = bytearray(root)
    flipped[0] ^= 1
    bad_root = "\n".join(lines[:2] + [base64.b64encode(bytes(flipped))
                                      .decode()] + lines[3:]) + sigs
    assert not _note_ok(bad_root, key), "root-tampered note verified"
    other = _parse_vkey(run_init(ctx, "other")[1])
    assert not _note_ok(note, other), "note verified with another key"
    # the CLI refuses the size-tampered note as a trusted checkpoint
    ctx.stop()
    path = os.path.join(ctx.tmp, "bad.note")
    with open(path, "w") as f:
        f.write(bad_size)
    r = ctx.twokey("audit", "verify", "--db", ctx.db, "--checkpoint", path)
    assert r.returncode == 1, ("tampered --checkpoint accepted",
                               r.stdout, r.stderr)
    good = os.path.join(ctx.tmp, "good.note")
    with open(good, "w") as f:
        f.write(note)
    r = ctx.twokey("audit", "verify", "--db", ctx.db, "--checkpoint", good)
    assert r.returncode == 0, (r.stdout, r.stderr)


def run_init(ctx, name, origin=None):
    """`twokey init` of another database under ctx.tmp; returns (db path,
    the verifier key it printed)."""
    d = os.path.join(ctx.tmp, name)
    os.makedirs(d, exist_ok=True)
    db = os.path.join(d, "twokey.db")
    args = ["init", "--db", db, "--org", DEMO_ORG, "--policy", DEMO_POLICY]
    if origin:
        args += ["--origin", origin]
    r = run_cli(args)
    assert r.returncode == 0, (r.stdout, r.stderr)
    m = re.search(r"verifier key:\s*(\S+)", r.stdout + r.stderr)
    assert m, "init printed no verifier key: %r" % r.stdout
    if origin:
        assert m.group(1).startswith(origin + "+"), m.group(1)
    return db, m.group(1)


def test_init_prints_verifier_key(ctx):
    db, vk = run_init(ctx, "x", origin="example.com/twokey")
    name, keyid, pub, _ = _parse_vkey(vk)
    assert name == "example.com/twokey"
    r = run_cli(["audit", "key", "--db", db])
    assert r.returncode == 0 and r.stdout.strip() == vk, (r.stdout, vk)
    # the key file is private
    mode = os.stat(db + ".audit-key").st_mode & 0o777
    assert mode & 0o077 == 0, oct(mode)
    # a second init gets a different key
    _, vk2 = run_init(ctx, "y", origin="example.com/twokey")
    assert vk2 != vk and _parse_vkey(vk2)[1] != keyid


def test_proofs_verify_in_python(ctx):
    _serve_with(ctx, "--checkpoint-interval", "1")
    key = _ctx_key(ctx)
    _activity(ctx, 1)
    cp1 = _wait_checkpoint(ctx)
    n1, root1 = cp1["size"], base64.b64decode(cp1["root"])
    assert _note_ok(cp1["note"], key)
    _activity(ctx, 2)
    cp2 = _wait_checkpoint(ctx)
    n2, root2 = cp2["size"], base64.b64decode(cp2["root"])
    assert n2 > n1, (n1, n2)
    assert _note_ok(cp2["note"], key)
    leaves = _leaves(ctx)[:n2]
    hashes = [_leaf_hash(x) for x in leaves]
    for i in range(n2):
        st, p = ctx.api("ivan", "GET", "/v1/audit/proof/inclusion?"
                        "index=%d&size=%d" % (i, n2))
        assert st == 200, (i, st, p)
        assert p["index"] == i and p["size"] == n2, p
        assert base64.b64decode(p["leaf_hash"]) == hashes[i], (i, p)
        assert base64.b64decode(p["root"]) == root2, (i, p)
        proof = [base64.b64decode(x) for x in p["proof"]]
        assert _verify_inclusion(i, n2, hashes[i], proof, root2), \
            "inclusion proof of %d in %d does not verify: %r" % (i, n2, p)
        # teeth: the proof does not prove a neighbour or another root
        assert not _verify_inclusion(i, n2, hashes[(i + 1) % n2], proof,
                                     root2)
        assert not _verify_inclusion(i, n2, hashes[i], proof, root1)
    # inclusion at the earlier checkpoint size too
    i = n1 - 1
    st, p = ctx.api("olivia", "GET", "/v1/audit/proof/inclusion?"
                    "index=%d&size=%d" % (i, n1))
    assert st == 200, p
    assert _verify_inclusion(i, n1, hashes[i],
                             [base64.b64decode(x) for x in p["proof"]],
                             root1), p
    # consistency between the two checkpoints, and from 1 and from n1-1
    for a, ra in ((n1, root1), (1, _mth(hashes[:1])),
                  (n1 - 1, _mth(hashes[:n1 - 1]))):
        if a < 1:
            continue
        st, c = ctx.api("ivan", "GET", "/v1/audit/proof/consistency?"
                        "from=%d&to=%d" % (a, n2))
        assert st == 200, (a, c)
        assert c["from"] == a and c["to"] == n2, c
        assert base64.b64decode(c["root"]) == root2, c
        proof = [base64.b64decode(x) for x in c["proof"]]
        assert _verify_consistency(a, n2, ra, root2, proof), \
            "consistency %d->%d does not verify: %r" % (a, n2, c)
        bad = bytearray(ra)
        bad[5] ^= 0x40
        assert not _verify_consistency(a, n2, bytes(bad), root2, proof)


def test_audit_api_input_and_access(ctx):
    _serve_with(ctx, "--checkpoint-interval", "1")
    _activity(ctx, 1)
    cp = _wait_checkpoint(ctx)
    n = cp["size"]
    bad = [
        "/v1/audit/proof/inclusion?index=%d&size=%d" % (n, n),
        "/v1/audit/proof/inclusion?index=%d&size=%d" % (n + 5, n),
        "/v1/audit/proof/inclusion?index=0&size=%d" % (n + 1000),
        "/v1/audit/proof/inclusion?index=abc&size=%d" % n,
        "/v1/audit/proof/inclusion?index=0&size=-1",
        "/v1/audit/proof/inclusion?index=0",
        "/v1/audit/proof/inclusion?index=0&size=%d&foo=1" % n,
        "/v1/audit/proof/inclusion?index=0&size=1e3",
        "/v1/audit/proof/consistency?from=%d&to=%d" % (n, n - 1),
        "/v1/audit/proof/consistency?from=1&to=%d" % (n + 1000),
        "/v1/audit/proof/consistency?from=0&to=%d" % n,
        "/v1/audit/proof/consistency?from=x&to=%d" % n,
        "/v1/audit/proof/consistency?from=1&to=%d&index=0" % n,
        "/v1/audit/events?from=abc",
        "/v1/audit/events?limit=-1",
        "/v1/audit/events?limit=100000",
        "/v1/audit/events?from=0&limit=10&size=3",
        "/v1/audit/checkpoint?x=1",
    ]
    for path in bad:
        expect_error(ctx.api("ivan", "GET", path), 400, "invalid_request",
                     what="GET " + path)
    good = ["/v1/audit/checkpoint",
            "/v1/audit/proof/inclusion?index=0&size=%d" % n,
            "/v1/audit/proof/consistency?from=1&to=%d" % n,
            "/v1/audit/events?from=0&limit=5"]
    for path in good:
        for who in ("ivan", "olivia"):
            st, b = ctx.api(who, "GET", path)
            assert st == 200, (who, path, st, b)
        for who in ("alice", "carol", "frank"):
            expect_error(ctx.api(who, "GET", path), 403, "forbidden",
                         what="%s GET %s" % (who, path))
        st, b = ctx.api(None, "GET", path)
        assert st == 401, ("no token", path, st, b)
    # --public-audit: the audit routes answer without a token; the rest
    # of the API does not
    _serve_with(ctx, "--public-audit")
    for path in good:
        st, b = ctx.api(None, "GET", path)
        assert st == 200, ("public", path, st, b)
    st, b = ctx.api(None, "GET", "/v1/audit/checkpoint")
    assert _note_ok(b["note"], _ctx_key(ctx)), b
    expect_error(ctx.api(None, "GET", "/v1/audit/proof/inclusion?index=%d"
                         "&size=%d" % (n, n)), 400, "invalid_request",
                 what="public bad index")
    for path in ("/v1/events?from=1&limit=5", "/v1/cases"):
        st, b = ctx.api(None, "GET", path)
        assert st == 401, ("public audit opened " + path, st, b)


def _prove(ctx, cid, out):
    return ctx.twokey("audit", "prove", "--db", ctx.db, "--out", out, cid)


def _check(ctx, key, receipt):
    r = ctx.twokey("audit", "check", "--key", key, receipt)
    return r.returncode, r.stdout + r.stderr


def test_receipt_prove_and_check(ctx):
    vk = _ctx_key(ctx)[3]
    _serve_with(ctx, "--checkpoint-interval", "1")
    cid = _activity(ctx, 2)[0]
    _wait_checkpoint(ctx)
    rpath = os.path.join(ctx.tmp, "receipt.json")
    r = _prove(ctx, cid, rpath)
    assert r.returncode == 0, (r.stdout, r.stderr)
    with open(rpath) as f:
        rec = json.load(f)
    assert rec["format"] == "twokey-receipt/1" and rec["case"] == cid, rec
    st, case = ctx.api("ivan", "GET", "/v1/cases/" + cid)
    assert st == 200
    assert len(rec["events"]) == len(case["events"]) >= 3, \
        (len(rec["events"]), len(case["events"]))
    # the receipt verifies in Python as well
    key = _parse_vkey(vk)
    assert _note_ok(rec["checkpoint"], key)
    _, size, root = _note_body(rec["checkpoint"])
    for e in rec["events"]:
        leaf = base64.b64decode(e["leaf"])
        assert json.loads(leaf)["case"] == cid, leaf
        assert _verify_inclusion(e["index"], size, _leaf_hash(leaf),
                                 [base64.b64decode(x) for x in e["proof"]],
                                 root), e
    code, out = _check(ctx, vk, rpath)
    assert code == 0, out
    # one leaf byte changed
    forged = json.loads(json.dumps(rec))
    leaf = bytearray(base64.b64decode(forged["events"][1]["leaf"]))
    leaf[len(leaf) // 2] ^= 0x01
    forged["events"][1]["leaf"] = base64.b64encode(bytes(leaf)).decode()
    fpath = os.path.join(ctx.tmp, "forged.json")
    with open(fpath, "w") as f:
        json.dump(forged, f)
    code, out = _check(ctx, vk, fpath)
    assert code == 1, "receipt with an edited leaf passed: %s" % out
    # another log's key, even with the same origin name
    _, other = run_init(ctx, "other", origin=key[0])
    assert other != vk
    code, out = _check(ctx, other, rpath)
    assert code == 1, "receipt passed with another key: %s" % out
    # a key file works like the key
    kpath = os.path.join(ctx.tmp, "vk.txt")
    with open(kpath, "w") as f:
        f.write("# the log's key\n%s\n" % vk)
    code, out = _check(ctx, kpath, rpath)
    assert code == 0, out
    # unknown case
    r = _prove(ctx, "c_0000000000000000", os.path.join(ctx.tmp, "n.json"))
    assert r.returncode != 0, (r.stdout, r.stderr)


def test_receipt_waits_for_checkpoint(ctx):
    vk = _ctx_key(ctx)[3]
    _serve_with(ctx, "--checkpoint-interval", "3600",
                "--checkpoint-events", "100000")
    cid = _activity(ctx, 1)[0]
    rpath = os.path.join(ctx.tmp, "receipt.json")
    r = _prove(ctx, cid, rpath)
    out = r.stdout + r.stderr
    assert r.returncode != 0, "prove before any checkpoint covers the " \
        "case: %s" % out
    assert "checkpoint" in out.lower(), out
    assert not os.path.exists(rpath), "a receipt was written anyway"
    assert ctx.stop() == 0
    r = _prove(ctx, cid, rpath)
    assert r.returncode == 0, ("prove after the shutdown checkpoint",
                               r.stdout, r.stderr)
    code, out = _check(ctx, vk, rpath)
    assert code == 0, out


def _db_counts(db):
    import sqlite3
    con = sqlite3.connect(db)
    try:
        n = con.execute("SELECT count(*), max(seq) FROM events").fetchone()
        cp = con.execute("SELECT max(size) FROM checkpoints").fetchone()[0]
        bodies = [r[0] for r in con.execute(
            "SELECT body FROM events ORDER BY seq")]
        root = con.execute("SELECT root FROM checkpoints ORDER BY size "
                           "DESC LIMIT 1").fetchone()[0]
        return n[0], n[1], cp, bodies, bytes(root)
    finally:
        con.close()


def test_final_checkpoint_on_shutdown(ctx):
    _serve_with(ctx, "--checkpoint-interval", "3600",
                "--checkpoint-events", "100000")
    _exercise(ctx)
    code, out = _verify(ctx)
    assert code == 0, "verify on the live database: %s" % out
    assert ctx.stop() == 0, ctx.stderr_tail()
    n, maxseq, cp, bodies, root = _db_counts(ctx.db)
    assert n == maxseq and n >= 40, (n, maxseq)
    assert cp == n, "final checkpoint size %r, events %d" % (cp, n)
    assert _mth([_leaf_hash(b.encode()) for b in bodies]) == root
    with open(ctx.db + ".checkpoints") as f:
        last = json.loads(f.read().splitlines()[-1])
    assert last["size"] == n, last
    assert _note_ok(last["note"], _ctx_key(ctx))
    code, out = _verify(ctx)
    assert code == 0, out
    assert re.search(r"\b%d events\b" % n, out), out
    # a restart with nothing new signs nothing new
    ctx.start()
    assert ctx.stop() == 0
    assert _db_counts(ctx.db)[2] == n


def _backup(ctx):
    d = os.path.join(ctx.tmp, "backup")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(ctx.data):
        if f.startswith(os.path.basename(ctx.db)):
            shutil.copy2(os.path.join(ctx.data, f), d)
    return d


def _restore(ctx, d):
    base = os.path.basename(ctx.db)
    for f in os.listdir(ctx.data):
        if f.startswith(base):
            os.unlink(os.path.join(ctx.data, f))
    for f in os.listdir(d):
        shutil.copy2(os.path.join(d, f), ctx.data)


def test_tampering_after_checkpoint(ctx):
    import sqlite3
    _exercise(ctx)
    assert ctx.stop() == 0
    code, out = _verify(ctx)
    assert code == 0, out
    bk = _backup(ctx)
    table, seqs = _rows(ctx.db)
    n = len(seqs)

    # 1. edit one body and make its row hash match the new bytes
    k = _pick_middle(seqs)
    con = sqlite3.connect(ctx.db)
    with con:
        (body,) = con.execute("SELECT body FROM events WHERE seq = ?",
                              (k,)).fetchone()
        if '"data":{}' in body:
            forged = body.replace('"data":{}', '"data":{"x":1}', 1)
        else:
            forged = body.replace('"data":{', '"data":{"x":1,', 1)
        assert forged != body and json.loads(forged)["seq"] == k
        con.execute("UPDATE events SET body = ?, hash = ? WHERE seq = ?",
                    (forged, _leaf_hash(forged.encode()), k))
    con.close()
    code, out = _verify(ctx)
    assert code == 1, "verify passed after a rehashed edit: %s" % out
    assert "FAILED at seq %d" % k in out, out

    # 2. the last event deleted after a checkpoint covered it
    _restore(ctx, bk)
    con = sqlite3.connect(ctx.db)
    with con:
        con.execute("DELETE FROM events WHERE seq = ?", (n,))
    con.close()
    code, out = _verify(ctx)
    assert code == 1, "verify passed after truncation: %s" % out
    assert "truncated" in out, out

    # 3. the whole database and key replaced by a fresh one with the same
    #    origin; the checkpoint mirror of the old log is kept
    _restore(ctx, bk)
    origin = _ctx_key(ctx)[0]
    base = os.path.basename(ctx.db)
    for f in os.listdir(ctx.data):
        if f.startswith(base) and not f.endswith(".checkpoints"):
            os.unlink(os.path.join(ctx.data, f))
    # init refuses to start over a leftover checkpoint copy, so the
    # attacker moves it aside and puts it back afterwards
    mirror = ctx.db + ".checkpoints"
    os.rename(mirror, mirror + ".kept")
    r = run_cli(["init", "--db", ctx.db, "--org", DEMO_ORG, "--policy",
                 DEMO_POLICY, "--origin", origin])
    assert r.returncode == 0, (r.stdout, r.stderr)
    os.replace(mirror + ".kept", mirror)
    code, out = _verify(ctx)
    assert code == 1, "verify passed on a replaced log: %s" % out
    # the untouched backup still verifies (the failures are the edits)
    _restore(ctx, bk)
    code, out = _verify(ctx)
    assert code == 0, out


def _bundle_help_lists_bundle():
    r = run_cli(["audit", "export", "--help"])
    return "bundle" in r.stdout + r.stderr


def test_offline_bundle(ctx):
    if not _bundle_help_lists_bundle():
        print("SKIP: `audit export --format bundle` not available")
        return
    vk = _ctx_key(ctx)[3]
    _serve_with(ctx, "--checkpoint-interval", "1")
    _activity(ctx, 1)
    early = _wait_checkpoint(ctx)["note"]
    _activity(ctx, 1)
    assert ctx.stop() == 0
    # a fork: the log as it was, with one different event, signed with
    # the same key (a split view)
    fork = os.path.join(ctx.tmp, "fork")
    os.makedirs(fork)
    fdb = os.path.join(fork, "twokey.db")
    for f in os.listdir(ctx.data):
        if f.startswith(os.path.basename(ctx.db)) and \
                not f.endswith(".checkpoints"):
            shutil.copy2(os.path.join(ctx.data, f), fork)
    if os.path.basename(ctx.db) != "twokey.db":
        os.rename(os.path.join(fork, os.path.basename(ctx.db)), fdb)
    import sqlite3
    con = sqlite3.connect(fdb)
    nfork = con.execute("SELECT max(size) FROM checkpoints").fetchone()[0]
    con.close()
    # the real log goes on past the fork point
    ctx.start()
    _activity(ctx, 1)
    assert ctx.stop() == 0

    bpath = os.path.join(ctx.tmp, "bundle.jsonl")
    r = ctx.twokey("audit", "export", "--db", ctx.db, "--format", "bundle",
                   "--out", bpath)
    assert r.returncode == 0, (r.stdout, r.stderr)
    with open(bpath) as f:
        lines = [json.loads(x) for x in f.read().splitlines()]
    head = lines[0]
    assert head["format"] == "twokey-audit-export/1", head
    n = head["size"]
    # leaf and checkpoint lines (in either order: log.h lists leaves
    # first, the exporter writes checkpoints first)
    leaf_lines = [x for x in lines[1:] if "leaf" in x]
    cps = [x["checkpoint"] for x in lines[1:] if "checkpoint" in x]
    assert len(leaf_lines) + len(cps) == len(lines) - 1, lines
    assert [x["index"] for x in leaf_lines] == list(range(n))
    assert cps, "bundle has no checkpoints"
    # independently: the bundle's checkpoints match its leaves
    key = _parse_vkey(vk)
    leaves = [base64.b64decode(x["leaf"]) for x in leaf_lines]
    for c in cps:
        assert _note_ok(c, key), c
        _, size, root = _note_body(c)
        assert _mth([_leaf_hash(x) for x in leaves[:size]]) == root

    def verify(path, *extra):
        r = ctx.twokey("audit", "verify", "--offline", path, "--key", vk,
                       *extra)
        return r.returncode, r.stdout + r.stderr

    code, out = verify(bpath)
    assert code == 0, out
    epath = os.path.join(ctx.tmp, "early.note")
    with open(epath, "w") as f:
        f.write(early)
    code, out = verify(bpath, "--checkpoint", epath)
    assert code == 0, "bundle vs an earlier checkpoint: %s" % out
    # without the key: usage error; with another key: fails
    r = ctx.twokey("audit", "verify", "--offline", bpath)
    assert r.returncode == 2, (r.stdout, r.stderr)
    _, other = run_init(ctx, "other", origin=key[0])
    r = ctx.twokey("audit", "verify", "--offline", bpath, "--key", other)
    assert r.returncode == 1, ("bundle passed with another key",
                               r.stdout, r.stderr)

    # one leaf byte changed
    k = n // 2
    bad = [dict(x) for x in lines]
    (j,) = [j for j, x in enumerate(bad) if x.get("index") == k]
    leaf = bytearray(base64.b64decode(bad[j]["leaf"]))
    leaf[len(leaf) // 2] ^= 0x02
    bad[j]["leaf"] = base64.b64encode(bytes(leaf)).decode()
    tpath = os.path.join(ctx.tmp, "tampered.jsonl")
    with open(tpath, "w") as f:
        f.write("".join(json.dumps(x) + "\n" for x in bad))
    code, out = verify(tpath)
    assert code == 1, "bundle with an edited leaf passed: %s" % out
    # with only leaves and checkpoints, the verifier can name the range
    # between two checkpoints that holds the edit
    m = re.search(r"FAILED at seq (\d+)", out)
    assert m and int(m.group(1)) <= k + 1, (k + 1, out)
    m = re.search(r"events (\d+)\.\.(\d+)", out)
    assert m is None or int(m.group(1)) <= k + 1 <= int(m.group(2)), \
        (k + 1, out)

    # a tampered earlier checkpoint
    i = early.rfind("\n\n")
    lines_e = early[:i].split("\n")
    t_early = "\n".join([lines_e[0], str(int(lines_e[1]) + 1)] +
                        lines_e[2:]) + early[i:]
    with open(epath, "w") as f:
        f.write(t_early)
    code, out = verify(bpath, "--checkpoint", epath)
    assert code == 1, "tampered --checkpoint accepted: %s" % out

    # a validly signed checkpoint of a forked log (same key, same size,
    # another root) must not match this bundle
    r = run_cli(["policy", "load", "--db", fdb, DEMO_POLICY])
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = run_cli(["audit", "checkpoint", "--db", fdb])
    assert r.returncode == 0 and "size %d" % (nfork + 1) in r.stdout, \
        (r.stdout, r.stderr)
    con = sqlite3.connect(fdb)
    fnote = con.execute("SELECT note FROM checkpoints WHERE size = ?",
                        (nfork + 1,)).fetchone()[0]
    con.close()
    assert _note_ok(fnote, key), fnote
    assert nfork + 1 <= n, (nfork, n)
    with open(epath, "w") as f:
        f.write(fnote)
    code, out = verify(bpath, "--checkpoint", epath)
    assert code == 1, "a forked checkpoint matched the bundle: %s" % out
