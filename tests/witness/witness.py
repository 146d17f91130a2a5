#!/usr/bin/env python3
"""witness.py - a small C2SP tlog-witness for twokey's tests.

Implements `POST /add-checkpoint` (https://c2sp.org/tlog-witness) for the
logs whose verifier keys it is given, independently of twokey's C code:

  - 404 for an unknown origin, 403 when no signature by a trusted log key
    verifies (Ed25519, signed-note key ids), 400 for a malformed body or
    an old size larger than the checkpoint's;
  - 409 Conflict with its own size as `text/x.tlog.size` when the old size
    is not the size it holds, and 409 when the sizes match but the roots
    differ;
  - 422 when the RFC 9162 2.1.4.2 consistency proof from the size and root
    it holds does not verify;
  - otherwise it keeps the new size and root and answers 200 with one
    cosignature/v1 line: "— <name> base64(keyid || timestamp(8, big
    endian) || Ed25519 signature)" over "cosignature/v1\\ntime <ts>\\n"
    followed by the checkpoint body.

Check, update and answer happen under one lock, as the spec asks.
`GET /state` returns what it holds and every request it answered (JSON),
for tests. On start it prints, each on its own line and flushed:

  vkey <name>+<hex id>+<base64(0x04 || public key)>
  listening <port>

Usage: witness.py --log-key VKEY [--log-key VKEY]... [--name NAME]
       [--port N] [--seed ORIGIN:SIZE:BASE64ROOT] [--seed-key HEX32]
       [--cosign-name NAME]
`--seed` starts it as if it had already cosigned that tree (to play a
witness that saw another branch of the log); `--cosign-name` signs with a
key under another name than it announces (a misbehaving witness).
Loopback only: it binds 127.0.0.1. Python 3 and `cryptography`.
"""

import argparse
import base64
import hashlib
import json
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat)

DASH = "\u2014"
BODY_MAX = 1 << 20


def key_id(name, alg, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]


def vkey_string(name, alg, pub):
    return "%s+%s+%s" % (name, key_id(name, alg, pub).hex(),
                         base64.b64encode(bytes([alg]) + pub).decode())


def parse_vkey(s):
    name, hexid, b64 = s.split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 33:
        raise ValueError("verifier key is not 33 bytes")
    alg, pub = raw[0], raw[1:]
    if key_id(name, alg, pub).hex() != hexid.lower():
        raise ValueError("verifier key id does not match")
    return name, alg, pub


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 2.1.4.2."""
    if first > second:
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return False
    if not proof:
        return False
    if first & (first - 1) == 0:  # a power of two
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
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


class Witness:
    def __init__(self, name, logs, seed=None, cosign_name=None, key=None):
        self.name = name
        self.sign_name = cosign_name or name
        self.sk = Ed25519PrivateKey.from_private_bytes(key) if key else \
            Ed25519PrivateKey.generate()
        self.pub = self.sk.public_key().public_bytes(Encoding.Raw,
                                                     PublicFormat.Raw)
        self.logs = {}  # origin -> [(key name, key id, public key)]
        for vk in logs:
            n, alg, pub = parse_vkey(vk)
            if alg != 1:
                raise ValueError("log keys are Ed25519 (0x01)")
            self.logs.setdefault(n, []).append((n, key_id(n, 1, pub), pub))
        self.state = {}  # origin -> (size, root)
        if seed:
            origin, size, root = seed.rsplit(":", 2)
            self.state[origin] = (int(size), base64.b64decode(root))
        self.requests = []
        self.lock = threading.Lock()

    def vkey(self):
        return vkey_string(self.name, 4, self.pub)

    def cosign(self, body):
        ts = int(time.time())
        msg = b"cosignature/v1\ntime %d\n" % ts + body
        sig = self.sk.sign(msg)
        kid = key_id(self.sign_name, 4, self.pub)
        blob = kid + struct.pack(">Q", ts) + sig
        return "%s %s %s\n" % (DASH, self.sign_name,
                               base64.b64encode(blob).decode())

    def add_checkpoint(self, data):
        """Returns (status, content type, body bytes)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return 400, "text/plain", b"not UTF-8\n"
        head, sep, note = text.partition("\n\n")
        if not sep:
            return 400, "text/plain", b"no empty line\n"
        lines = head.split("\n")
        if not lines[0].startswith("old "):
            return 400, "text/plain", b"no old size line\n"
        try:
            old = int(lines[0][4:])
            proof = [base64.b64decode(x, validate=True) for x in lines[1:]]
        except ValueError:
            return 400, "text/plain", b"bad old size or proof line\n"
        if len(proof) > 63 or any(len(p) != 32 for p in proof):
            return 400, "text/plain", b"bad proof\n"
        # the note: text up to the last blank line, then signatures
        cut = note.rfind("\n\n")
        if cut < 0 or not note.endswith("\n"):
            return 400, "text/plain", b"not a signed note\n"
        body = note[:cut + 1]
        sigs = note[cut + 2:].split("\n")[:-1]
        blines = body.split("\n")
        if len(blines) < 4:
            return 400, "text/plain", b"not a checkpoint\n"
        origin = blines[0]
        try:
            size = int(blines[1])
            root = base64.b64decode(blines[2], validate=True)
        except ValueError:
            return 400, "text/plain", b"bad checkpoint\n"
        if origin not in self.logs:
            return 404, "text/plain", b"unknown log\n"
        ok = False
        for s in sigs:
            if not s.startswith(DASH + " "):
                return 400, "text/plain", b"bad signature line\n"
            parts = s[2:].split(" ")
            if len(parts) != 2:
                return 400, "text/plain", b"bad signature line\n"
            blob = base64.b64decode(parts[1])
            for (n, kid, pub) in self.logs[origin]:
                if parts[0] == n and blob[:4] == kid and len(blob) == 68:
                    try:
                        Ed25519PublicKey.from_public_bytes(pub).verify(
                            blob[4:], body.encode())
                        ok = True
                    except InvalidSignature:
                        return 403, "text/plain", b"bad log signature\n"
        if not ok:
            return 403, "text/plain", b"no trusted log signature\n"
        if old > size:
            return 400, "text/plain", b"old size larger than size\n"
        with self.lock:
            have_size, have_root = self.state.get(origin, (0, None))
            if old != have_size:
                return 409, "text/x.tlog.size", b"%d\n" % have_size
            if old == size:
                if have_root is not None and have_root != root:
                    return 409, "text/plain", b"another root for this size\n"
            elif old == 0:
                if proof:
                    return 422, "text/plain", b"proof from 0 must be empty\n"
            elif not verify_consistency(old, size, have_root, root, proof):
                return 422, "text/plain", b"consistency proof fails\n"
            self.state[origin] = (size, root)
            return 200, "text/plain", self.cosign(body.encode()).encode()


def make_handler(w):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_a):
            pass

        def _send(self, status, ctype, body):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            if self.path != "/add-checkpoint":
                self._send(404, "text/plain", b"not found\n")
                return
            n = int(self.headers.get("Content-Length") or 0)
            if n > BODY_MAX:
                self._send(400, "text/plain", b"too large\n")
                return
            data = self.rfile.read(n)
            status, ctype, body = w.add_checkpoint(data)
            with w.lock:
                first = data.split(b"\n", 1)[0].decode("utf-8", "replace")
                w.requests.append({"status": status, "old": first})
            self._send(status, ctype, body)

        def do_GET(self):
            if self.path != "/state":
                self._send(404, "text/plain", b"not found\n")
                return
            with w.lock:
                out = {"state": {o: {"size": s, "root": base64.b64encode(
                    r).decode() if r else None}
                    for o, (s, r) in w.state.items()},
                    "requests": list(w.requests)}
            self._send(200, "application/json", json.dumps(out).encode())

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log-key", action="append", required=True)
    ap.add_argument("--name", default="witness.test/w1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seed")
    ap.add_argument("--seed-key")
    ap.add_argument("--cosign-name")
    a = ap.parse_args()
    w = Witness(a.name, a.log_key, a.seed, a.cosign_name,
                bytes.fromhex(a.seed_key) if a.seed_key else None)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(w))
    srv.daemon_threads = True
    print("vkey " + w.vkey(), flush=True)
    print("listening %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
