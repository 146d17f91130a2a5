"""test_witness.py - checkpoints leave the server (issue 3): pushed to
C2SP tlog-witnesses (tests/witness/witness.py, a witness written apart
from the C code) whose cosignatures are checked in Python and kept in the
database; a witness that is down, hangs, holds another key or saw another
branch of the log never blocks the server and is reported; checkpoints
and every committed audit event go to syslog (UDP and TCP listeners in
the test), in order, exactly as committed. Everything stays on
127.0.0.1."""

import base64
import hashlib
import json
import os
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time

from harness import REPO, free_port

WITNESS_PY = os.path.join(REPO, "tests", "witness", "witness.py")
DASH = "\u2014"


# ---- a witness process -------------------------------------------------

class WitnessProc:
    """tests/witness/witness.py on a free loopback port."""

    def __init__(self, log_vkey, *args):
        self.p = subprocess.Popen(
            [sys.executable, WITNESS_PY, "--log-key", log_vkey] +
            list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True)
        self.vkey = self.port = None
        deadline = time.time() + 20
        while time.time() < deadline and self.port is None:
            line = self.p.stdout.readline()
            if not line:
                break
            if line.startswith("vkey "):
                self.vkey = line.split()[1]
            elif line.startswith("listening "):
                self.port = int(line.split()[1])
        if self.port is None or self.vkey is None:
            self.close()
            raise AssertionError("test witness did not start")
        self.url = "http://127.0.0.1:%d" % self.port

    def spec(self, vkey=None):
        return "%s=%s" % (self.url, vkey or self.vkey)

    def state(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", "/state")
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        if self.p.stdout:
            self.p.stdout.close()


# ---- independent checks -------------------------------------------------

def _key_id(name, alg, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) +
                          pub).digest()[:4]


def _parse_vkey(s):
    name, hexid, b64 = s.strip().split("+", 2)
    raw = base64.b64decode(b64)
    assert len(raw) == 33, s
    assert _key_id(name, raw[0], raw[1:]).hex() == hexid.lower(), s
    return name, raw[0], raw[1:]


def _note_split(note):
    i = note.rfind("\n\n")
    return note[:i + 1], [x for x in note[i + 2:].split("\n") if x]


def _log_sig_ok(note, log_vkey):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import \
        Ed25519PublicKey
    name, alg, pub = _parse_vkey(log_vkey)
    assert alg == 1
    body, sigs = _note_split(note)
    for line in sigs:
        _dash, n, b64 = line.split(" ")
        sig = base64.b64decode(b64)
        if n == name and sig[:4] == _key_id(name, 1, pub):
            Ed25519PublicKey.from_public_bytes(pub).verify(
                sig[4:], body.encode())
            return True
    return False


def _cosig_ok(line, body, witness_vkey):
    """Checks a cosignature/v1 line over a checkpoint body with the
    witness's key, by hand (C2SP tlog-cosignature); returns its time."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import \
        Ed25519PublicKey
    name, alg, pub = _parse_vkey(witness_vkey)
    assert alg == 4, witness_vkey
    dash, n, b64 = line.split(" ")
    assert dash == DASH and n == name, line
    blob = base64.b64decode(b64, validate=True)
    assert len(blob) == 4 + 8 + 64, len(blob)
    assert blob[:4] == _key_id(name, 4, pub), "key id"
    ts = struct.unpack(">Q", blob[4:12])[0]
    msg = b"cosignature/v1\ntime %d\n" % ts + body.encode()
    Ed25519PublicKey.from_public_bytes(pub).verify(blob[12:], msg)
    return ts


def _log_vkey(ctx):
    r = ctx.twokey("audit", "key", "--db", ctx.db)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout.strip().splitlines()[0]


def _serve(ctx, *args):
    ctx.serve_args = ["--checkpoint-interval", "1"] + list(args)
    ctx.restart()


def _activity(ctx, n=2, tag=0):
    for i in range(n):
        c = ctx.open_case("alice", "jsmith", "password_reset",
                          ticket="INC-%d" % (tag * 100 + i))
        ctx.decide("alice", c["id"], expect=None)   # refused: invariant 1
        ctx.decide("bob", c["id"], expect=None)
        st, b = ctx.api("alice", "POST", "/v1/cases/%s/cancel" % c["id"],
                        {"reason": "test done"})
        assert st == 200, (st, b)


def _log_size(ctx):
    st, b = ctx.api("ivan", "GET", "/v1/audit/events?from=0&limit=1")
    assert st == 200, (st, b)
    return b["size"]


def _wait(pred, timeout=20, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("%s not reached within %ds (last %r)"
                         % (what, timeout, last))


def _checkpoint(ctx):
    st, cp = ctx.api("ivan", "GET", "/v1/audit/checkpoint")
    assert st == 200, (st, cp)
    return cp


def _cosigned(ctx, size=None):
    """The checkpoint once it covers the log (or size) and is cosigned."""
    def ok():
        cp = _checkpoint(ctx)
        want = size if size is not None else _log_size(ctx)
        if cp["size"] >= want and cp.get("cosignatures"):
            return cp
        return None
    return _wait(ok, what="a cosigned checkpoint")


def _db_cosigs(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT size, witness, line FROM cosignatures "
                           "ORDER BY size").fetchall()
    finally:
        con.close()


def _stderr(ctx):
    with open(ctx.stderr_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


# ---- witnesses ------------------------------------------------------------

def test_witness_cosigns_each_checkpoint(ctx):
    lk = _log_vkey(ctx)
    w = WitnessProc(lk)
    try:
        _serve(ctx, "--witness", w.spec())
        _activity(ctx, 2, 1)
        cp = _cosigned(ctx)
        assert _log_sig_ok(cp["note"], lk), cp
        body, _ = _note_split(cp["note"])
        assert body.split("\n")[1] == str(cp["size"]), (body, cp)
        (line,) = cp["cosignatures"]
        ts = _cosig_ok(line, body, w.vkey)
        assert abs(ts - time.time()) < 300, ts
        rows = _db_cosigs(ctx.db)
        assert (cp["size"], w.vkey, line) in rows, rows
        assert w.state()["state"][lk.split("+")[0]]["size"] == cp["size"]
        first = cp["size"]

        # the next checkpoint goes from the size the witness holds, with
        # a consistency proof it checks itself
        _activity(ctx, 1, 2)
        cp2 = _cosigned(ctx, first + 1)
        assert cp2["size"] > first, (cp2, first)
        body2, _ = _note_split(cp2["note"])
        _cosig_ok(cp2["cosignatures"][0], body2, w.vkey)
        reqs = [r for r in w.state()["requests"] if r["status"] == 200]
        assert any(r["old"] == "old %d" % first for r in reqs), reqs
        assert len(_db_cosigs(ctx.db)) >= 2

        # a restart remembers what was cosigned; the log still verifies
        assert ctx.stop() == 0
        r = ctx.twokey("audit", "verify", "--db", ctx.db)
        assert r.returncode == 0, r.stdout + r.stderr
        ctx.start()
        cp3 = _checkpoint(ctx)
        assert cp3.get("cosignatures"), cp3
    finally:
        w.close()


def test_witness_down_or_hanging_never_blocks(ctx):
    lk = _log_vkey(ctx)
    w = WitnessProc(lk)
    # a port with nobody listening, and one that accepts and never answers
    dead = free_port()
    hang = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    try:
        _serve(ctx, "--witness", "http://127.0.0.1:%d=%s" % (dead, w.vkey),
               "--witness", "http://127.0.0.1:%d/=%s" % (
                   hang.getsockname()[1], _other_vkey(w, "witness.test/hang")))
        t0 = time.time()
        for i in range(4):
            s = time.time()
            _activity(ctx, 1, 10 + i)
            assert time.time() - s < 5, "requests waited on a witness"
            time.sleep(1)
        # checkpoints are still signed and cover the log
        size = _log_size(ctx)
        cp = _wait(lambda: (lambda c: c if c["size"] >= size else None)(
            _checkpoint(ctx)), what="checkpoint despite dead witnesses")
        assert _log_sig_ok(cp["note"], lk)
        assert not cp.get("cosignatures"), cp
        err = _wait(lambda: (lambda e: e if "cannot reach the witness" in e
                             and str(dead) in e else None)(_stderr(ctx)),
                    what="the dead witness reported")
        # each problem is written once, not every second
        n = err.count("127.0.0.1:%d: cannot reach" % dead)
        assert n == 1, err
        t1 = time.time()
        assert ctx.stop() == 0
        assert time.time() - t1 < 9, "shutdown waited on a witness"
        assert time.time() - t0 < 60
        assert _db_cosigs(ctx.db) == []
    finally:
        hang.close()
        w.close()


def _other_vkey(w, name):
    """A cosignature/v1 key that is not w's: a fresh Ed25519 key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import \
        Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat)
    pub = Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    return "%s+%s+%s" % (name, _key_id(name, 4, pub).hex(),
                         base64.b64encode(b"\x04" + pub).decode())


def test_witness_with_another_key_is_refused(ctx):
    lk = _log_vkey(ctx)
    w = WitnessProc(lk)
    # signs under another name than the one it is known by
    w2 = WitnessProc(lk, "--name", "witness.test/w2", "--cosign-name",
                     "witness.test/w3")
    try:
        wrong = _other_vkey(w, "witness.test/w1")  # same name, other key
        _serve(ctx, "--witness", w.spec(wrong), "--witness", w2.spec())
        _activity(ctx, 2, 3)
        size = _log_size(ctx)
        _wait(lambda: _checkpoint(ctx)["size"] >= size, what="checkpoint")
        # the witnesses did cosign (200) but nothing was kept
        _wait(lambda: any(r["status"] == 200 for r in w.state()["requests"])
              and any(r["status"] == 200 for r in w2.state()["requests"]),
              what="both witnesses answered")
        err = _wait(lambda: (lambda e: e if e.count("no valid cosignature")
                             >= 2 else None)(_stderr(ctx)),
                    what="both refusals reported")
        assert "witness.test/w1" in err and "witness.test/w2" in err, err
        assert not _checkpoint(ctx).get("cosignatures")
        assert _db_cosigs(ctx.db) == []
    finally:
        w.close()
        w2.close()


def test_witness_that_saw_another_branch(ctx):
    """A witness that cosigned a larger tree of this log (rollback) gets
    409 and stays at its size; one that cosigned another root at a
    smaller size refuses our consistency proof with 422. Both are
    reported and neither cosignature exists."""
    lk = _log_vkey(ctx)
    origin = lk.split("+")[0]
    fake = base64.b64encode(hashlib.sha256(b"another branch").digest())
    big = WitnessProc(lk, "--name", "witness.test/big", "--seed",
                      "%s:%d:%s" % (origin, 100000, fake.decode()))
    small = WitnessProc(lk, "--name", "witness.test/small", "--seed",
                        "%s:%d:%s" % (origin, 2, fake.decode()))
    good = WitnessProc(lk, "--name", "witness.test/good")
    try:
        _serve(ctx, "--witness", big.spec(), "--witness", small.spec(),
               "--witness", good.spec())
        _activity(ctx, 2, 4)
        cp = _cosigned(ctx)
        # only the honest witness's line
        assert len(cp["cosignatures"]) == 1, cp
        assert "witness.test/good" in cp["cosignatures"][0]
        err = _wait(lambda: (lambda e: e if "rolled back or forked" in e and
                             "422" in e else None)(_stderr(ctx)),
                    what="both conflicts reported")
        assert re.search(r"witness\.test/big .*100000", err), err
        assert re.search(r"witness\.test/small .*422", err), err
        sb = [r["status"] for r in big.state()["requests"]]
        ss = [r["status"] for r in small.state()["requests"]]
        assert 409 in sb and 200 not in sb, sb
        assert 409 in ss and 422 in ss and 200 not in ss, ss
        assert big.state()["state"][origin]["size"] == 100000
        assert small.state()["state"][origin]["size"] == 2
        witnesses = {r[1] for r in _db_cosigs(ctx.db)}
        assert witnesses == {good.vkey}, witnesses
    finally:
        big.close()
        small.close()
        good.close()


def test_witness_and_syslog_usage(ctx):
    lk = _log_vkey(ctx)
    wk = _other_vkey(None, "witness.test/x")
    bad = [
        ["--witness", "http://127.0.0.1:1"],               # no key
        ["--witness", "http://127.0.0.1:1=" + lk],         # a log key
        ["--witness", "ftp://127.0.0.1:1=" + wk],          # not http
        ["--witness", "http://127.0.0.1:1/?a=" + wk],      # a query
        ["--syslog-format", "cef"],                        # no --syslog
        ["--syslog", "udp://127.0.0.1:1", "--syslog-format", "xml"],
        ["--syslog", "udp://127.0.0.1:1", "--syslog-from", "0"],
        ["--checkpoint-syslog", "smtp://127.0.0.1:1"],
    ]
    for args in bad:
        r = ctx.twokey("serve", "--db", ctx.db, "--listen",
                       "127.0.0.1:%d" % free_port(), *args, timeout=20)
        assert r.returncode == 2, (args, r.returncode, r.stderr[-400:])
    r = ctx.twokey("serve", "--help")
    for opt in ("--witness", "--checkpoint-syslog", "--syslog-format",
                "--syslog-from", "--checkpoint-file"):
        assert opt in r.stdout, opt


# ---- syslog ---------------------------------------------------------------

class UdpSink:
    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.msgs = []
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            try:
                data, _ = self.s.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            self.msgs.append(data.decode("utf-8"))

    def close(self):
        self.stop = True
        self.t.join(5)
        self.s.close()


class TcpSink:
    """A collector reading RFC 6587 octet-counted messages."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(4)
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.msgs = []
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(0.2)
            buf = b""
            while not self.stop:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                buf += d
                while b" " in buf:
                    n, rest = buf.split(b" ", 1)
                    assert n.isdigit(), buf[:40]
                    if len(rest) < int(n):
                        break
                    self.msgs.append(rest[:int(n)].decode("utf-8"))
                    buf = rest[int(n):]
            c.close()

    def close(self):
        self.stop = True
        self.t.join(5)
        self.s.close()


RFC5424 = re.compile(r"^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) "
                     r"\[origin software=\"twokey\" swVersion=\"[^\"]*\"\] "
                     r"(.*)$", re.S)


def _parse(msg):
    m = RFC5424.match(msg)
    assert m, "not an RFC 5424 message from twokey: %r" % msg[:200]
    return {"pri": int(m.group(1)), "ts": m.group(2), "host": m.group(3),
            "app": m.group(4), "procid": m.group(5), "msgid": m.group(6),
            "msg": m.group(7)}


def _db_events(db):
    con = sqlite3.connect(db)
    try:
        return {seq: body for seq, body in con.execute(
            "SELECT seq, body FROM events ORDER BY seq")}
    finally:
        con.close()


def _db_checkpoints(db):
    con = sqlite3.connect(db)
    try:
        return {size: note for size, note in con.execute(
            "SELECT size, note FROM checkpoints")}
    finally:
        con.close()


def _cef_seq(msg):
    m = re.search(r"(?:^|\s)externalId=(\d+)(?:\s|$)", msg)
    assert m, msg
    return int(m.group(1))


def test_syslog_ships_committed_events_and_checkpoints(ctx):
    lk = _log_vkey(ctx)
    ev = UdpSink()
    cps = TcpSink()
    w = WitnessProc(lk)
    cpfile = os.path.join(ctx.data, "elsewhere.checkpoints")
    try:
        start = _log_size(ctx)
        _serve(ctx, "--syslog", "udp://127.0.0.1:%d" % ev.port,
               "--syslog-format", "cef",
               "--checkpoint-syslog", "tcp://127.0.0.1:%d" % cps.port,
               "--checkpoint-file", cpfile, "--witness", w.spec())
        start = _log_size(ctx)  # events before start are not shipped
        _activity(ctx, 3, 5)
        end = _log_size(ctx)
        _wait(lambda: len(ev.msgs) >= end - start, what="events shipped")
        time.sleep(1.5)
        parsed = [_parse(m) for m in ev.msgs]
        seqs = [_cef_seq(p["msg"]) for p in parsed]
        assert seqs == list(range(start + 1, start + 1 + len(seqs))), seqs
        assert seqs[-1] >= end, (seqs, end)
        assert all(p["msg"].startswith("CEF:0|twokey|twokey|")
                   for p in parsed)
        assert all(p["app"] == "twokey" for p in parsed)
        # a refusal: severity 4 (warning) or an alert, 2; facility 10
        kinds = [p["msgid"] for p in parsed]
        assert "refused" in kinds and "case.opened" in kinds, kinds
        for p in parsed:
            assert p["pri"] // 8 == 10, p
        # each shipped event is a committed row, in the same order
        st, evs = ctx.api("ivan", "GET", "/v1/events?from=%d&limit=1000"
                          % (start + 1))
        assert st == 200, evs
        by_seq = {e["seq"]: e["kind"] for e in evs["events"]}
        for s, k in zip(seqs, kinds):
            assert by_seq.get(s) == k, (s, k, by_seq.get(s))

        # checkpoints (over TCP) and the cosignature
        def cp_msgs():
            return [_parse(m) for m in list(cps.msgs)]
        got = _wait(lambda: (lambda ms: ms if any(
            m["msgid"] == "cosignature" for m in ms) else None)(cp_msgs()),
            what="checkpoint and cosignature in syslog")
        notes = [json.loads(m["msg"]) for m in got
                 if m["msgid"] == "checkpoint"]
        assert notes, got
        for n in notes:
            assert _log_sig_ok(n["note"], lk), n
            body, _ = _note_split(n["note"])
            assert body.split("\n")[1] == str(n["size"]), n
        cs = [json.loads(m["msg"]) for m in got
              if m["msgid"] == "cosignature"]
        signed = _db_checkpoints(ctx.db)
        for c in cs:
            # the first may be of the checkpoint signed before this start
            assert c["size"] in signed, (c, signed)
            _cosig_ok(c["cosignature"], _note_split(signed[c["size"]])[0],
                      w.vkey)
            assert c["witness"] == w.vkey
        for n in notes:
            assert signed.get(n["size"]) == n["note"], (n, signed)
        # the configured checkpoint file holds the same notes
        with open(cpfile) as f:
            filed = [json.loads(x) for x in f if x.strip()]
        assert [n["note"] for n in notes] == \
            [x["note"] for x in filed[:len(notes)]], (notes, filed)
        assert ctx.stop() == 0
        r = ctx.twokey("audit", "verify", "--db", ctx.db, "--mirror",
                       cpfile)
        assert r.returncode == 0, r.stdout + r.stderr

        # jsonl from seq 1: every committed event, byte for byte
        ev.msgs.clear()
        _serve(ctx, "--syslog", "udp://127.0.0.1:%d" % ev.port,
               "--syslog-format", "jsonl", "--syslog-from", "1")
        n = _log_size(ctx)
        _wait(lambda: len(ev.msgs) >= n, what="the whole log shipped")
        assert ctx.stop() == 0
        time.sleep(0.5)
        rows = _db_events(ctx.db)
        lines = [json.loads(_parse(m)["msg"]) for m in ev.msgs]
        assert [x["seq"] for x in lines] == list(range(1, len(lines) + 1))
        assert len(lines) == len(rows), (len(lines), len(rows))
        for x in lines:
            assert base64.b64decode(x["leaf"]).decode() == rows[x["seq"]]
    finally:
        ev.close()
        cps.close()
        w.close()


def test_syslog_collector_down_never_blocks(ctx):
    dead = free_port()
    _serve(ctx, "--syslog", "tcp://127.0.0.1:%d" % dead,
           "--checkpoint-syslog", "udp://127.0.0.1:%d" % dead)
    for i in range(3):
        s = time.time()
        _activity(ctx, 1, 20 + i)
        assert time.time() - s < 5
    size = _log_size(ctx)
    _wait(lambda: _checkpoint(ctx)["size"] >= size, what="checkpoint")
    t = time.time()
    assert ctx.stop() == 0
    assert time.time() - t < 9
