#!/usr/bin/env python3
"""bench_ldap_reset.py - issue 4's end-to-end figure: an LDAP password
reset through the API on loopback, from POST /v1/cases to the answer of
POST /v1/cases/{id}/execute (executed), with holds off (the demo policy's
standard tier: one approval, no hold). Each round opens a case (alice),
approves it (carol) and executes it (frank) through the LDAP connector
against a real slapd with ppolicy; the temporary password goes to an SMTP
sink and the session revocation to a webhook receiver, as in production.

Usage: bench_ldap_reset.py TWOKEY_BIN [ROUNDS] [--json] [--npm-sink]
(--npm-sink: deliver to the tests' npm smtp-server, which adds its fixed
100 ms greeting delay to every reset)
Prints median, p90 and max in milliseconds."""

import http.client
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "servers"))

from slapd import Slapd, free_port  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402


class FastSmtp:
    """A minimal SMTP receiver (greets at once, accepts every message).
    The npm smtp-server used by the tests waits a fixed 100 ms before its
    greeting to catch early talkers, which would dominate the figure."""

    def __init__(self):
        import socketserver

        class H(socketserver.StreamRequestHandler):
            def handle(self):
                w = self.wfile.write
                w(b"220 bench ESMTP\r\n")
                data = False
                for line in self.rfile:
                    if data:
                        if line in (b".\r\n", b".\n"):
                            data = False
                            w(b"250 ok\r\n")
                        continue
                    cmd = line[:4].upper()
                    if cmd in (b"EHLO", b"HELO"):
                        w(b"250 bench\r\n")
                    elif cmd == b"DATA":
                        data = True
                        w(b"354 go\r\n")
                    elif cmd == b"QUIT":
                        w(b"221 bye\r\n")
                        return
                    else:
                        w(b"250 ok\r\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = "smtp://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


class Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"message":"revoked"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    binp = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 and \
        sys.argv[2].isdigit() else 200
    as_json = "--json" in sys.argv
    npm_sink = "--npm-sink" in sys.argv
    tmp = tempfile.mkdtemp(prefix="twokey-bench-ldap-")
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    proc = None
    try:
        with Slapd() as ldap, (SmtpSink() if npm_sink else FastSmtp()) as smtp:
            ldap.add_user("jsmith", "old-Passw0rd!")
            db = os.path.join(tmp, "twokey.db")
            subprocess.run([binp, "init", "--db", db, "--org",
                            os.path.join(REPO, "examples/demo/org.yaml"),
                            "--policy",
                            os.path.join(REPO, "examples/demo/policy.yaml")],
                           check=True, capture_output=True)
            tok = {}
            for u in ("alice", "carol", "frank"):
                tok[u] = subprocess.run(
                    [binp, "token", "issue", "--db", db, u], check=True,
                    capture_output=True, text=True).stdout.strip()
            pw = ldap.write_bind_password_file(os.path.join(tmp, "ldap.pw"))
            key = os.path.join(tmp, "hook.key")
            fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"0123456789abcdef0123456789abcdef\n")
            os.close(fd)
            directory = os.path.join(tmp, "directory.yaml")
            with open(directory, "w") as f:
                f.write("""version: 1
connectors:
  - name: corp-ldap
    kind: ldap
    can: [password_reset]
    timeout: 5s
    url: %s
    bind_dn: %s
    bind_password_file: %s
    base_dn: %s
  - name: idp-hook
    kind: webhook
    can: [revoke_sessions]
    timeout: 5s
    url: http://127.0.0.1:%d/hook
    secret_file: %s
routes:
  - {ops: [password_reset], connector: corp-ldap}
  - {ops: [revoke_sessions], connector: idp-hook}
notify:
  public_url: http://127.0.0.1:9
  smtp: {url: "%s", from: "twokey@example.com"}
""" % (ldap.url, ldap.bind_dn, pw, ldap.people, hook.server_address[1],
                    key, smtp.url))
            port = free_port()
            proc = subprocess.Popen([binp, "serve", "--db", db, "--listen",
                                     "127.0.0.1:%d" % port, "--quiet",
                                     "--directory", directory],
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            conn = None
            for _ in range(100):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port,
                                                      timeout=10)
                    conn.request("GET", "/v1/health")
                    conn.getresponse().read()
                    break
                except OSError:
                    time.sleep(0.05)

            def call(user, method, path, body):
                data = json.dumps(body).encode()
                conn.request(method, path, body=data, headers={
                    "Authorization": "Bearer " + tok[user],
                    "Content-Type": "application/json"})
                r = conn.getresponse()
                doc = json.loads(r.read())
                return r.status, doc

            times = []
            for i in range(rounds + 5):
                t0 = time.perf_counter()
                st, c = call("alice", "POST", "/v1/cases",
                             {"subject": "jsmith",
                              "action": "password_reset",
                              "channel": "phone", "ticket": "B-%d" % i})
                assert st == 201, c
                st, c = call("carol", "POST",
                             "/v1/cases/%s/approvals" % c["id"],
                             {"decision": "approve"})
                assert st == 201 and c["state"] == "ready", c
                st, c = call("frank", "POST",
                             "/v1/cases/%s/execute" % c["id"], {})
                t1 = time.perf_counter()
                assert st == 200 and c["state"] == "executed", c
                if i >= 5:          # warm-up rounds not counted
                    times.append((t1 - t0) * 1000.0)
            times.sort()
            res = {"rounds": rounds,
                   "median_ms": round(statistics.median(times), 2),
                   "p90_ms": round(times[int(len(times) * 0.9) - 1], 2),
                   "max_ms": round(times[-1], 2), "target_median_ms": 25}
            if as_json:
                print(json.dumps(res))
            else:
                print("ldap password reset, open -> executed: median %.2f ms,"
                      " p90 %.2f ms, max %.2f ms over %d rounds (target:"
                      " median < 25 ms)" % (res["median_ms"], res["p90_ms"],
                                            res["max_ms"], rounds))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        hook.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
