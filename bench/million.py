#!/usr/bin/env python3
"""million.py - server memory with one million cases stored.

Creating a million cases through the API takes too long for a benchmark,
so this script makes one real case through the API (open, approve,
execute), then clones its stored record into 1,000,000 rows with fresh
ids straight into the cases table (closed cases: the scheduler does not
scan them). It then starts the server on that database and reports its
RSS idle and its peak RSS after a wrk run of GETs over random stored ids.
The audit chain of this database is not meant to verify (the cloned rows
have no events); it is a memory benchmark only.

Usage: bench/million.py BUILD_DIR [COUNT]   (loopback only; ~1-2 min)
"""

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def api(url, token, method, path, body=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def start(tk, db, port):
    p = subprocess.Popen([tk, "serve", "--db", db, "--listen",
                          "127.0.0.1:%d" % port, "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/v1/health" % port,
                                   timeout=1)
            return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise SystemExit("server did not start")


def main():
    build = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
    tk = os.path.join(build, "twokey")
    tmp = tempfile.mkdtemp(prefix="twokey-million-")
    db = os.path.join(tmp, "t.db")
    demo = os.path.join(REPO, "examples", "demo")
    subprocess.run([tk, "init", "--db", db, "--org", demo + "/org.yaml",
                    "--policy", demo + "/policy.yaml"], check=True,
                   stdout=subprocess.DEVNULL)
    tok = {u: subprocess.run([tk, "token", "issue", "--db", db, u],
                             check=True, capture_output=True,
                             text=True).stdout.strip()
           for u in ("alice", "bob", "erin")}
    port = random.randint(20000, 60000)
    url = "http://127.0.0.1:%d" % port
    p = start(tk, db, port)
    try:
        c = api(url, tok["alice"], "POST", "/v1/cases",
                {"subject": "jsmith", "action": "password_reset",
                 "channel": "phone"})
        api(url, tok["bob"], "POST", "/v1/cases/%s/approvals" % c["id"],
            {"decision": "approve"})
        api(url, tok["erin"], "POST", "/v1/cases/%s/execute" % c["id"],
            {"note": "reset in the directory", "revoked": ["sessions"]})
    finally:
        p.terminate()
        p.wait(timeout=30)

    con = sqlite3.connect(db)
    row = con.execute("SELECT subject, family, state, updated, record FROM "
                      "cases WHERE id = ?", (c["id"],)).fetchone()
    rec = json.loads(row[4])
    ids = []
    t0 = time.time()
    con.execute("BEGIN")
    batch = []
    for i in range(count):
        cid = "c_%016x" % (0x1000000000000000 + i)
        rec["id"] = cid
        batch.append((cid, row[0], row[1], row[2], row[3], json.dumps(rec)))
        if len(batch) == 10000:
            con.executemany("INSERT INTO cases (id, subject, family, state, "
                            "updated, record) VALUES (?,?,?,?,?,?)", batch)
            batch = []
        if i % 997 == 0:
            ids.append(cid)
    if batch:
        con.executemany("INSERT INTO cases (id, subject, family, state, "
                        "updated, record) VALUES (?,?,?,?,?,?)", batch)
    con.commit()
    con.close()
    fill = time.time() - t0
    size_mb = os.path.getsize(db) / 1e6
    with open(os.path.join(tmp, "ids.txt"), "w") as f:
        f.write("\n".join(ids) + "\n")

    p = start(tk, db, port)
    try:
        time.sleep(2)
        idle = rss_kb(p.pid, "VmRSS")
        out = subprocess.run(
            ["timeout", "40", "wrk", "-t2", "-c64", "-d10s", "--latency",
             "-s", os.path.join(REPO, "bench", "wrk", "get_cases.lua"), url,
             "--", os.path.join(tmp, "ids.txt"), tok["alice"]],
            capture_output=True, text=True).stdout
        peak = rss_kb(p.pid, "VmHWM")
        rps = [l.split()[1] for l in out.splitlines()
               if l.startswith("Requests/sec:")]
        p99 = [l.split()[1] for l in out.splitlines()
               if l.strip().startswith("99%")]
    finally:
        p.terminate()
        p.wait(timeout=30)
    print("million: %d cases stored (db %.0f MB, filled in %.0f s)"
          % (count + 1, size_mb, fill))
    print("million: server RSS idle %.1f MB, peak after 10 s of GETs over "
          "%d ids %.1f MB; GET %s req/s, p99 %s"
          % (idle / 1024, len(ids), peak / 1024,
             rps[0] if rps else "?", p99[0] if p99 else "?"))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
