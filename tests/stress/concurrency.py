#!/usr/bin/env python3
"""concurrency.py - the server under concurrent mixed load, for a
ThreadSanitizer build (`make tsan`, part of `make test`).

Eight client threads open, approve (including refused self-approvals),
read, execute and cancel cases while an admin reloads the policy and the
scheduler sweeps every second. Passes when the server reports no data race
(ThreadSanitizer prints "WARNING: ThreadSanitizer" and exits non-zero),
shuts down cleanly, every answer was an expected status (no 500), and the
audit chain verifies afterwards.

Usage: concurrency.py TWOKEY_BINARY
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
DEMO = os.path.join(REPO, "examples", "demo")
SUBJECTS = ["jsmith", "pwhite", "henry", "carol", "dave", "frank", "grace",
            "ivan"]
USERS = ["alice", "bob", "erin", "ivan", "olivia"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    tk = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="twokey-stress-")
    failures = []
    try:
        db = os.path.join(tmp, "t.db")
        subprocess.run([tk, "init", "--db", db, "--org", DEMO + "/org.yaml",
                        "--policy", DEMO + "/policy.yaml"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tok = {u: subprocess.run([tk, "token", "issue", "--db", db, u],
                                 check=True, capture_output=True,
                                 text=True).stdout.strip() for u in USERS}
        port = free_port()
        url = "http://127.0.0.1:%d" % port
        err = open(os.path.join(tmp, "server.err"), "w+")
        srv = subprocess.Popen([tk, "serve", "--db", db, "--listen",
                                "127.0.0.1:%d" % port, "--quiet",
                                "--sweep-interval", "1"],
                               stdout=subprocess.DEVNULL, stderr=err)
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        policy = open(DEMO + "/policy.yaml", "rb").read()
        bad = []

        def api(user, method, path, body=None, raw=None, ctype=None):
            data = raw if raw is not None else (
                json.dumps(body).encode() if body is not None else None)
            req = urllib.request.Request(url + path, method=method,
                                         data=data, headers={
                                             "Authorization": "Bearer " +
                                             tok[user],
                                             "Content-Type": ctype or
                                             "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code >= 500:
                    bad.append("%s %s -> %d" % (method, path, e.code))
                return e.code, None

        ids = []
        lock = threading.Lock()

        def worker(seed):
            rnd = random.Random(seed)
            for i in range(30):
                st, c = api("alice", "POST", "/v1/cases", {
                    "subject": rnd.choice(SUBJECTS),
                    "action": "password_reset", "channel": "phone",
                    "ticket": "T-1", "reason_code": "forgot_password"})
                if st == 201:
                    with lock:
                        ids.append(c["id"])
                    api("alice", "POST", "/v1/cases/%s/approvals" % c["id"],
                        {"decision": "approve"})
                    api("bob", "POST", "/v1/cases/%s/approvals" % c["id"],
                        {"decision": "approve"})
                with lock:
                    cid = rnd.choice(ids) if ids else None
                if cid:
                    api("ivan", "GET", "/v1/cases/" + cid)
                    api("erin", "POST", "/v1/cases/%s/execute" % cid,
                        {"note": "done in the directory"})
                    api("alice", "POST", "/v1/cases/%s/cancel" % cid,
                        {"reason": "duplicate"})
                    api("ivan", "GET", "/v1/cases?state=open")
                if i % 10 == 0:
                    api("olivia", "PUT", "/v1/policy", raw=policy,
                        ctype="application/yaml")

        threads = [threading.Thread(target=worker, args=(k,))
                   for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        srv.terminate()
        rc = srv.wait(timeout=120)
        err.seek(0)
        log = err.read()
        if "ThreadSanitizer" in log or "AddressSanitizer" in log:
            failures.append("sanitizer report:\n" + log[:6000])
        if rc != 0:
            failures.append("server exited %d on SIGTERM" % rc)
        if bad:
            failures.append("server errors: %s" % bad[:10])
        if len(ids) < 8:
            failures.append("only %d cases opened" % len(ids))
        v = subprocess.run([tk, "audit", "verify", "--db", db],
                           capture_output=True, text=True)
        if v.returncode != 0:
            failures.append("audit verify: " + v.stdout + v.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL concurrency: " + f)
    print("concurrency: %d passed, %d failed" % (0 if failures else 1,
                                                  1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
