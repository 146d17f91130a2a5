#!/usr/bin/env python3
"""crash.py - the server killed with SIGKILL at random moments under a load
of concurrent case updates (issue 3), run on the ASan build by `make test`.

Each round starts `twokey serve` on the same database, lets worker threads
open cases, add evidence, approve, deny, execute and cancel (refusals
included: each is an event too) while a monitor thread fetches the signed
checkpoint as an outside monitor would, then SIGKILLs the server at a
random moment with requests in flight. After every kill:

- the database as the kill left it must hold every change the API
  acknowledged: each acknowledged request carries a unique marker (ticket,
  evidence reference, approval comment, execution note, cancel reason)
  that must be in the stored case, and every acknowledged request must
  have its event (case.opened, evidence.*, approval.added / case.denied,
  execution.attested, case.cancelled, refused) in the `events` table -
  counted per case, kind and actor, refused opens found by their ticket;
- no checkpoint (in the `checkpoints` table, in the PATH.checkpoints copy,
  or one a client was served) is over more events than are stored;
- `twokey audit verify` passes, holding the log to the checkpoint the
  monitor was last served (so a checkpoint signed over events that were
  later lost would show as truncated or rewritten);
- the next start succeeds.

At the end the server is started once more, acknowledged cases are read
back through the API, and it must stop cleanly on SIGTERM. Any sanitizer
report on the server's stderr, any 5xx answer and any failed request
before the kill is a failure.

Usage: crash.py TWOKEY_BINARY [--rounds N] [--seed S] [--keep]
Prints "crash: N rounds passed" or the failures; exits 1 on any failure.
"""

import argparse
import collections
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
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
USERS = ["alice", "bob", "erin", "carol", "dave", "frank", "grace", "henry",
         "ivan"]
# subject -> (kind, phone on file, e-mail on file)
SUBJECTS = {
    "jsmith": ("person", "+1 555 0101", "jsmith@example.com"),
    "pwhite": ("person", "+1 555 0102", "pwhite@example.com"),
    "radmin": ("person", "+1 555 0103", "radmin@example.com"),
    "svc-payments": ("nhi", None, "payments-owners@example.com"),
    "dave-admin": ("person", "+1 555 0205", "dave@example.com"),
    "henry": ("person", "+1 555 0208", "henry@example.com"),
    "grace": ("person", "+1 555 0207", "grace@example.com"),
    "ivan": ("person", "+1 555 0209", "ivan@example.com"),
    "carol": ("person", "+1 555 0204", "carol@example.com"),
    "erin": ("person", "+1 555 0203", "erin@example.com"),
}
PERSON_ACTIONS = ["password_reset", "password_reset", "password_reset",
                  "mfa_reset", "email_change", "reactivation"]
NHI_ACTIONS = ["api_key_reissue", "secret_rotation", "certificate_reissue"]
REASONS = {"password_reset": "forgot_password", "mfa_reset": "lost_device",
           "email_change": "locked_out", "reactivation": "returning_employee",
           "api_key_reissue": "rotation", "secret_rotation": "rotation",
           "certificate_reissue": "rotation"}
TERMINAL = {"executed", "review", "closed", "denied", "cancelled", "expired",
            "failed"}
# HTTP statuses of a refusal, which is committed as a `refused` event.
REFUSAL = {403, 409, 422}
# request kind -> the event kinds one acknowledged success writes
EVENT_OF = {"evidence": ("evidence.added", "evidence.failed"),
            "approve": ("approval.added", "case.denied"),
            "execute": ("execution.attested",),
            "cancel": ("case.cancelled",),
            "open": ("case.opened",)}
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error",
                   "Sanitizer")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Ack:
    """One request the API answered (acknowledged) before the kill."""
    __slots__ = ("op", "actor", "case", "status", "marker", "body")

    def __init__(self, op, actor, case, status, marker, body):
        self.op, self.actor, self.case = op, actor, case
        self.status, self.marker, self.body = status, marker, body

    def __repr__(self):
        return "%s by %s on %s -> %d (marker %s)" % (
            self.op, self.actor, self.case or "-", self.status, self.marker)


class Round:
    """One server life: start, load, SIGKILL."""

    def __init__(self, tk, db, tok, n, rnd, cases, tmp):
        self.tk, self.db, self.tok, self.n = tk, db, tok, n
        self.rnd = rnd
        self.cases = cases        # shared across rounds: id -> subject
        self.tmp = tmp
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.acks = []
        self.problems = []
        self.statuses = collections.Counter()
        self.killed = threading.Event()
        self.notes = []           # checkpoints served to the monitor
        self.srv = None
        self.err_path = os.path.join(tmp, "server-%02d.err" % n)

    # -- the server ------------------------------------------------------
    def start(self):
        self.err = open(self.err_path, "w+")
        self.srv = subprocess.Popen(
            [self.tk, "serve", "--db", self.db, "--listen",
             "127.0.0.1:%d" % self.port, "--quiet",
             "--checkpoint-interval", "1", "--checkpoint-events", "50"],
            stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.srv.poll() is not None:
                return "server exited %d at start" % self.srv.returncode
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=1)
                return None
            except OSError:
                time.sleep(0.05)
        return "server did not answer /v1/health within 30 s"

    def stderr_text(self):
        self.err.flush()
        self.err.seek(0)
        return self.err.read()

    def stop_kill(self):
        if self.srv is not None and self.srv.poll() is None:
            self.srv.kill()
            self.srv.wait(timeout=30)

    # -- requests --------------------------------------------------------
    def api(self, user, method, path, body=None):
        """Returns (status, json or None); status None when no answer came
        back (connection refused or cut: not acknowledged)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, method=method,
                                     data=data, headers={
                                         "Authorization": "Bearer " +
                                         self.tok[user],
                                         "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            try:
                doc = json.loads(e.read())
            except (OSError, ValueError, http.client.HTTPException):
                return None, None  # cut in the middle of the answer
            return e.code, doc
        except (OSError, ValueError, http.client.HTTPException) as e:
            if not self.killed.is_set():
                with self.lock:
                    self.problems.append("%s %s by %s failed before the "
                                         "kill: %r" % (method, path, user, e))
            return None, None

    def note(self, op, actor, case, status, marker, doc):
        with self.lock:
            self.statuses["%s %d" % (op, status)] += 1
            if status >= 500:
                self.problems.append("%s by %s on %s -> %d: %s" % (
                    op, actor, case, status, json.dumps(doc)[:300]))
                return
            if 200 <= status < 300 or status in REFUSAL:
                self.acks.append(Ack(op, actor, case, status, marker, doc))

    def pick_case(self, rnd):
        with self.lock:
            if not self.cases:
                return None, None
            ids = list(self.cases)[-60:]
        cid = rnd.choice(ids)
        return cid, self.cases.get(cid)

    def track(self, cid, subject, doc):
        with self.lock:
            if doc and doc.get("state") in TERMINAL:
                self.cases.pop(cid, None)
            elif cid not in self.cases:
                self.cases[cid] = subject

    def worker(self, w):
        rnd = random.Random(self.rnd.random())
        i = 0
        while not self.killed.is_set():
            i += 1
            mark = "k%02dw%dn%d" % (self.n, w, i)
            r = rnd.random()
            cid, subject = self.pick_case(rnd)
            if cid is None or r < 0.22:
                self.open_case(rnd, mark)
            elif r < 0.45:
                kind, phone, mail = SUBJECTS[subject]
                if phone and rnd.random() < 0.5:
                    method, contact = "callback_on_file", phone
                else:
                    # out_of_band needs the subject to answer a link
                    method, contact = "manager_attestation", None
                actor = rnd.choice(["alice", "bob", "dave", "carol", "erin"])
                st, doc = self.api(actor, "POST", "/v1/cases/%s/evidence" %
                                   cid, {"method": method, "contact": contact,
                                         "result": "fail" if rnd.random() <
                                         0.05 else "pass",
                                         "reference": mark})
                if st is not None:
                    self.note("evidence", actor, cid, st, mark, doc)
                    if st == 201:
                        self.track(cid, subject, doc)
            elif r < 0.72:
                actor = rnd.choice(["bob", "carol", "dave", "frank", "erin",
                                    "grace", "alice"])
                deny = rnd.random() < 0.04
                st, doc = self.api(actor, "POST", "/v1/cases/%s/approvals" %
                                   cid, {"decision": "deny" if deny else
                                         "approve", "comment": mark})
                if st is not None:
                    self.note("approve", actor, cid, st, mark, doc)
                    if st == 201:
                        self.track(cid, subject, doc)
            elif r < 0.86:
                actor = rnd.choice(["erin", "frank", "dave", "bob"])
                st, doc = self.api(actor, "POST", "/v1/cases/%s/execute" %
                                   cid, {"note": mark,
                                         "revoked": ["sessions", "tokens"]})
                if st is not None:
                    self.note("execute", actor, cid, st, mark, doc)
                    if st == 200:
                        self.track(cid, subject, doc)
            elif r < 0.96:
                actor = rnd.choice(["alice", "bob", "dave"])
                st, doc = self.api(actor, "POST", "/v1/cases/%s/cancel" %
                                   cid, {"reason": mark})
                if st is not None:
                    self.note("cancel", actor, cid, st, mark, doc)
                    if st == 200:
                        self.track(cid, subject, doc)
            else:
                self.api("ivan", "GET", "/v1/cases/" + cid)

    def open_case(self, rnd, mark):
        actor = rnd.choice(["alice", "bob", "dave", "frank"])
        subject = rnd.choice(list(SUBJECTS))
        action = rnd.choice(NHI_ACTIONS if SUBJECTS[subject][0] == "nhi"
                            else PERSON_ACTIONS)
        st, doc = self.api(actor, "POST", "/v1/cases", {
            "subject": subject, "action": action, "channel": "phone",
            "ticket": mark, "reason_code": REASONS[action],
            "justification": "crash test " + mark})
        if st is None:
            return
        cid = doc.get("id") if st == 201 and doc else None
        if st == 201 and not cid:
            with self.lock:
                self.problems.append("open %s answered 201 without an id"
                                     % mark)
            return
        self.note("open", actor, cid, st, mark, doc)
        if cid:
            self.track(cid, subject, doc)

    def monitor(self):
        while not self.killed.is_set():
            st, doc = self.api("ivan", "GET", "/v1/audit/checkpoint")
            if st == 200 and doc and "note" in doc:
                with self.lock:
                    self.notes.append((int(doc["size"]), doc["note"]))
            elif st is not None and st != 404:
                with self.lock:
                    self.problems.append("GET /v1/audit/checkpoint -> %s"
                                         % st)
            time.sleep(0.1)

    def run_load(self, workers, seconds):
        threads = [threading.Thread(target=self.worker, args=(w,))
                   for w in range(workers)]
        threads.append(threading.Thread(target=self.monitor))
        for t in threads:
            t.start()
        time.sleep(seconds)
        alive = self.srv.poll() is None
        self.killed.set()
        if alive:
            self.srv.send_signal(signal.SIGKILL)
        self.srv.wait(timeout=30)
        for t in threads:
            t.join(timeout=60)
        if not alive:
            self.problems.append("server died on its own (exit %s) before "
                                 "the kill" % self.srv.returncode)
        if any(t.is_alive() for t in threads):
            self.problems.append("a client thread hung after the kill")


def read_db(db):
    """Reads the database as it is on disk (read-only)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        events = con.execute("SELECT seq, case_id, kind, actor, body FROM "
                             "events ORDER BY seq").fetchall()
        cases = {cid: json.loads(rec) for cid, rec in
                 con.execute("SELECT id, record FROM cases")}
        cps = con.execute("SELECT size FROM checkpoints").fetchall()
    finally:
        con.close()
    return events, cases, [s for (s,) in cps]


def check_durable(db, acks, notes):
    """Every acknowledged request is in the database; returns problems."""
    bad = []
    events, cases, cps = read_db(db)
    n = len(events)
    if n and events[-1][0] != n:
        bad.append("events: %d rows but last seq %d" % (n, events[-1][0]))
    have = collections.Counter((c, k, a) for _, c, k, a, _ in events)
    refused_open = set()
    for _, c, k, a, body in events:
        if k == "refused" and c == "":
            try:
                req = json.loads(body)["data"].get("request", {})
            except (ValueError, KeyError, AttributeError):
                continue
            refused_open.add((a, req.get("ticket")))
    want = collections.Counter()
    for ak in acks:
        if ak.op == "open":
            if ak.status in REFUSAL:
                if (ak.actor, ak.marker) not in refused_open:
                    bad.append("acknowledged refusal lost: %r: no refused "
                               "event with ticket %s" % (ak, ak.marker))
                continue
            rec = cases.get(ak.case)
            if rec is None:
                bad.append("acknowledged case lost: %r" % ak)
                continue
            if rec.get("ticket") != ak.marker:
                bad.append("case %s stored with ticket %r, acknowledged %r"
                           % (ak.case, rec.get("ticket"), ak.marker))
            want[(ak.case, EVENT_OF["open"], ak.actor)] += 1
            continue
        if ak.status in REFUSAL:
            want[(ak.case, ("refused",), ak.actor)] += 1
            continue
        rec = cases.get(ak.case)
        if rec is None:
            bad.append("acknowledged change on a lost case: %r" % ak)
            continue
        if ak.op == "evidence":
            ok = any(e.get("reference") == ak.marker and e.get("by") ==
                     ak.actor for e in rec.get("evidence") or [])
        elif ak.op == "approve":
            ok = any(e.get("comment") == ak.marker and e.get("by") ==
                     ak.actor for e in rec.get("approvals") or [])
        elif ak.op == "execute":
            ex = rec.get("execution") or {}
            ok = ex.get("note") == ak.marker and ex.get("by") == ak.actor
        else:  # cancel
            ok = rec.get("state") == "cancelled" and \
                (rec.get("ended") or {}).get("reason") == ak.marker
        if not ok:
            bad.append("acknowledged %s lost from the stored case: %r "
                       "(stored state %s)" % (ak.op, ak, rec.get("state")))
        want[(ak.case, EVENT_OF[ak.op], ak.actor)] += 1
    for (cid, kinds, actor), k in sorted(want.items()):
        got = sum(have[(cid, kd, actor)] for kd in kinds)
        if got < k:
            bad.append("case %s: %d acknowledged %s by %s, %d such events "
                       "stored" % (cid, k, "/".join(kinds), actor, got))
    for size in cps:
        if size > n:
            bad.append("checkpoints table holds a checkpoint of size %d "
                       "over %d stored events" % (size, n))
    mirror = db + ".checkpoints"
    if os.path.exists(mirror):
        with open(mirror, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    size = int(json.loads(line)["size"])
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line; audit verify judges it
                if size > n:
                    bad.append("%s holds a checkpoint of size %d over %d "
                               "stored events" % (mirror, size, n))
    for size, _ in notes:
        if size > n:
            bad.append("a client was served a checkpoint of size %d; only "
                       "%d events are stored" % (size, n))
    return bad, n


def verify(tk, db, note_file=None):
    cmd = [tk, "audit", "verify", "--db", db]
    if note_file:
        cmd += ["--checkpoint", note_file]
    v = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if v.returncode != 0:
        return "audit verify exited %d: %s%s" % (v.returncode, v.stdout,
                                                 v.stderr[:4000])
    if any(m in v.stderr for m in SANITIZER_MARKS):
        return "audit verify sanitizer report:\n" + v.stderr[:6000]
    return None


def final_check(tk, db, tok, all_acks, tmp, rnd):
    """Starts once more, reads acknowledged cases back through the API and
    stops the server with SIGTERM: it must exit 0 with no report."""
    bad = []
    r = Round(tk, db, tok, 99, rnd, {}, tmp)
    why = r.start()
    if why:
        r.stop_kill()
        return ["final start: " + why + "\n" + r.stderr_text()[:4000]]
    try:
        done = [a for a in all_acks if a.case and a.op != "open" and
                200 <= a.status < 300]
        for ak in rnd.sample(done, min(40, len(done))):
            st, doc = r.api("ivan", "GET", "/v1/cases/" + ak.case)
            if st != 200:
                bad.append("GET %s after the crashes -> %s" % (ak.case, st))
                continue
            kinds = EVENT_OF[ak.op]
            if not any(e.get("kind") in kinds and e.get("actor") == ak.actor
                       for e in doc.get("events") or []):
                bad.append("GET %s: no %s event by %s on the timeline" % (
                    ak.case, "/".join(kinds), ak.actor))
    finally:
        if r.srv.poll() is None:
            r.srv.terminate()
            try:
                rc = r.srv.wait(timeout=120)
            except subprocess.TimeoutExpired:
                r.srv.kill()
                r.srv.wait()
                rc = "timeout"
        else:
            rc = "died (%s)" % r.srv.returncode
    log = r.stderr_text()
    r.err.close()
    if any(m in log for m in SANITIZER_MARKS):
        bad.append("sanitizer report at the final shutdown:\n" + log[:6000])
    if rc != 0:
        bad.append("final server exited %s on SIGTERM: %s" % (rc, log[:2000]))
    why = verify(tk, db)
    if why:
        bad.append("after the final shutdown: " + why)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("twokey")
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workers", type=int, default=5)
    ap.add_argument("--keep", action="store_true",
                    help="keep the data folder")
    args = ap.parse_args()
    tk = os.path.abspath(args.twokey)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="twokey-crash-")
    failures = []
    passed = 0
    total_acks = 0
    statuses = collections.Counter()
    all_acks = []
    live = None
    t0 = time.monotonic()
    try:
        # Our own copy: a rebuild in the checkout during the run must not
        # swap the binary between rounds.
        shutil.copy2(tk, os.path.join(tmp, "twokey"))
        tk = os.path.join(tmp, "twokey")
        db = os.path.join(tmp, "t.db")
        subprocess.run([tk, "init", "--db", db, "--org", DEMO + "/org.yaml",
                        "--policy", DEMO + "/policy.yaml"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tok = {u: subprocess.run([tk, "token", "issue", "--db", db, u],
                                 check=True, capture_output=True,
                                 text=True).stdout.strip() for u in USERS}
        cases = {}
        for n in range(1, args.rounds + 1):
            r = Round(tk, db, tok, n, rnd, cases, tmp)
            live = r
            why = r.start()
            if why:
                r.stop_kill()
                failures.append("round %d: restart failed: %s\n%s" % (
                    n, why, r.stderr_text()[:4000]))
                break
            r.run_load(args.workers, rnd.uniform(0.2, 1.5))
            live = None
            bad = list(r.problems)
            log = r.stderr_text()
            r.err.close()
            if any(m in log for m in SANITIZER_MARKS):
                bad.append("sanitizer report:\n" + log[:6000])
            note_file = None
            if r.notes:
                note_file = os.path.join(tmp, "served-%02d.note" % n)
                with open(note_file, "w") as f:
                    f.write(max(r.notes)[1])
            dbad, nev = check_durable(db, r.acks, r.notes)
            bad += dbad
            why = verify(tk, db, note_file)
            if why:
                bad.append(why)
            statuses.update(r.statuses)
            total_acks += len(r.acks)
            all_acks += r.acks
            if bad:
                failures.append("round %d (%d acknowledged, %d events): %s"
                                % (n, len(r.acks), nev,
                                   "\n  ".join(bad[:20])))
                break
            passed += 1
        if not failures:
            failures += ["final: " + b for b in
                         final_check(tk, db, tok, all_acks, tmp, rnd)]
    finally:
        if live is not None:
            live.killed.set()
            live.stop_kill()
        if args.keep or failures:
            print("crash: data kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL crash: " + f)
    print("crash: seed %d, %d acknowledged requests (%s), %.0f s" % (
        seed, total_acks, ", ".join("%s: %d" % kv for kv in
                                    sorted(statuses.items())),
        time.monotonic() - t0))
    if failures:
        print("crash: %d rounds passed, failed in round %d" % (
            passed, passed + 1))
        return 1
    print("crash: %d rounds passed" % passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
