"""harness.py - fixtures for twokey's integration tests.

Every test gets a fresh `Context`: its own data folder in a temporary
directory, a database made by `twokey init` with the demo org and policy,
an API token per demo staff member, and a running `twokey serve` on a free
loopback port whose clock can be moved forward through the test hook
TWOKEY_TEST_CLOCK_FILE (a file holding seconds added to the real clock).

Standard library only.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEMO_ORG = os.path.join(REPO, "examples", "demo", "org.yaml")
DEMO_POLICY = os.path.join(REPO, "examples", "demo", "policy.yaml")

STAFF = ["alice", "bob", "erin", "carol", "dave", "frank", "grace",
         "henry", "ivan", "olivia"]

START_TIMEOUT = 20.0   # seconds for the server to answer /v1/health
REQUEST_TIMEOUT = 30.0  # seconds per HTTP request
CLI_TIMEOUT = 60.0

HOUR = 3600
MINUTE = 60


class HarnessError(Exception):
    """The fixture itself could not be set up (not a test assertion)."""


def twokey_bin():
    b = os.environ.get("TWOKEY_BIN")
    if not b:
        for mode in ("asan", "debug", "release"):
            cand = os.path.join(REPO, "build", mode, "twokey")
            if os.path.exists(cand):
                b = cand
                break
    if not b or not os.access(b, os.X_OK):
        raise HarnessError("twokey binary not found (set TWOKEY_BIN or "
                           "run `make MODE=asan build`): %r" % b)
    return b


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def run_cli(args, env=None, input=None, timeout=CLI_TIMEOUT, cwd=None):
    """Runs the twokey CLI; returns CompletedProcess with text output."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([twokey_bin()] + [str(a) for a in args],
                          input=input, capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=cwd or REPO)


def parse_token(stdout):
    """The token printed by `twokey token issue`: a `tk_` word, or the last
    word of the output."""
    m = re.findall(r"\btk_[A-Za-z0-9_\-]+", stdout)
    if m:
        return m[-1]
    words = stdout.split()
    if not words:
        raise HarnessError("`twokey token issue` printed nothing")
    return words[-1]


def parse_time(s):
    """RFC 3339 UTC ("2026-11-23T09:30:00Z") to a Unix timestamp."""
    assert isinstance(s, str) and s, "expected a timestamp, got %r" % (s,)
    s2 = s.replace("Z", "+00:00")
    if "." in s2:  # fractional seconds
        head, tail = s2.split(".", 1)
        tz = tail[tail.index("+"):] if "+" in tail else ""
        s2 = head + tz
    return datetime.datetime.fromisoformat(s2).timestamp()


_template_cache = {}


def _build_db(dirpath, org, policy, users):
    db = os.path.join(dirpath, "twokey.db")
    r = run_cli(["init", "--db", db, "--org", org, "--policy", policy])
    if r.returncode != 0:
        raise HarnessError("twokey init failed (%d): %s%s"
                           % (r.returncode, r.stdout, r.stderr))
    tokens = {}
    for u in users:
        r = run_cli(["token", "issue", "--db", db, u])
        if r.returncode != 0:
            raise HarnessError("twokey token issue %s failed (%d): %s%s"
                               % (u, r.returncode, r.stdout, r.stderr))
        tokens[u] = parse_token(r.stdout)
    return db, tokens


class Context:
    """One test's world: data folder, database, tokens and server."""

    def __init__(self, org=DEMO_ORG, policy=DEMO_POLICY, users=None,
                 start=True, serve_args=None):
        self.tmp = tempfile.mkdtemp(prefix="twokey-it-")
        self.proc = None
        # extra `twokey serve` arguments, e.g. ["--sweep-interval", "1"]
        self.serve_args = list(serve_args or [])
        self._stderr_f = None
        self.extra = []
        try:
            self._setup(org, policy, users, start)
        except BaseException:
            self.close()
            raise

    def _setup(self, org, policy, users, start):
        self.data = os.path.join(self.tmp, "data")
        os.makedirs(self.data)
        self.clock_file = os.path.join(self.data, "clock")
        self.offset = 0
        self._write_clock()
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(self.data, "server.stderr")
        self._stderr_f = None
        self.crashed = None     # description when the server died
        self.stop_codes = []    # exit codes of every stop()
        self.extra = []         # other Contexts made by the test
        users = list(users if users is not None else STAFF)
        key = (os.path.abspath(org), os.path.abspath(policy), tuple(users))
        if org == DEMO_ORG and policy == DEMO_POLICY:
            # init and token issue once per run; copy the files per test
            if key not in _template_cache:
                tdir = tempfile.mkdtemp(prefix="twokey-tmpl-")
                db, tokens = _build_db(tdir, org, policy, users)
                _template_cache[key] = (tdir, os.path.basename(db), tokens)
            tdir, dbname, tokens = _template_cache[key]
            for f in os.listdir(tdir):
                if f.startswith(dbname):
                    shutil.copy2(os.path.join(tdir, f),
                                 os.path.join(self.data, f))
            self.db = os.path.join(self.data, dbname)
            self.tokens = dict(tokens)
        else:
            self.db, self.tokens = _build_db(self.data, org, policy, users)
        if start:
            self.start()

    # ---- server -------------------------------------------------------

    def _write_clock(self):
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.offset)
        os.replace(tmp, self.clock_file)

    def advance(self, seconds):
        """Moves the server's clock forward by `seconds`."""
        self.offset += int(seconds)
        self._write_clock()

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            return
        env = dict(os.environ)
        env["TWOKEY_TEST_CLOCK_FILE"] = self.clock_file
        last = ""
        for _attempt in range(4):
            self.port = free_port()
            if self._stderr_f:
                self._stderr_f.close()
            self._stderr_f = open(self.stderr_path, "ab")
            self.proc = subprocess.Popen(
                [twokey_bin(), "serve", "--db", self.db, "--listen",
                 "127.0.0.1:%d" % self.port, "--quiet"] + self.serve_args,
                stdin=subprocess.DEVNULL, stdout=self._stderr_f,
                stderr=self._stderr_f, env=env, cwd=REPO)
            deadline = time.time() + START_TIMEOUT
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    st, _ = self.api(None, "GET", "/v1/health", timeout=2)
                    if st == 200:
                        return
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                self._kill()
                raise HarnessError("server did not answer /v1/health "
                                   "within %ds:\n%s"
                                   % (START_TIMEOUT, self.stderr_tail()))
            last = self.stderr_tail()
            if "in use" not in last.lower():
                break
        self.proc = None
        raise HarnessError("server did not start:\n" + last)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _kill(self):
        if self.proc is None:
            return None
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL after 10 s). Returns the
        exit code; a server that was already dead is noted in .crashed."""
        if self.proc is None:
            return None
        p = self.proc
        code = p.poll()
        if code is not None:
            if self.crashed is None:
                self.crashed = "server had exited with code %d" % code
        else:
            try:
                p.send_signal(signal.SIGTERM)
                code = p.wait(10)
            except subprocess.TimeoutExpired:
                code = self._kill()
                self.crashed = ("server did not stop within 10 s of "
                                "SIGTERM; killed")
        self.stop_codes.append(code)
        self.proc = None
        return code

    def restart(self):
        self.stop()
        self.start()

    def stderr_tail(self, lines=80):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(data.splitlines()[-lines:])

    def close(self, keep=False):
        for x in self.extra:
            x.close(keep=keep)
        self.stop()
        if self._stderr_f:
            self._stderr_f.close()
            self._stderr_f = None
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def sibling(self, **kw):
        """Another Context (e.g. with another org file) whose server the
        runner also checks and stops after the test."""
        x = Context(**kw)
        self.extra.append(x)
        return x

    # ---- clients ------------------------------------------------------

    def api(self, user, method, path, body=None, raw=None, headers=None,
            token=None, timeout=REQUEST_TIMEOUT):
        """One HTTP request. user: a staff login (its token is sent), or
        None for no token; token overrides. body: JSON-encoded; raw: bytes
        or str sent as is. Returns (status, parsed JSON or text)."""
        h = {}
        if token is None and user is not None:
            token = self.tokens[user]
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = None
        if raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
            h["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            self.last_headers = dict(r.getheaders())
            status = r.status
        finally:
            c.close()
        text = payload.decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def twokey(self, *args, env=None, input=None, timeout=CLI_TIMEOUT):
        """Runs the CLI (CompletedProcess with .returncode/.stdout/.stderr).
        TWOKEY_URL points at this server."""
        e = {"TWOKEY_URL": "http://127.0.0.1:%s" % self.port}
        if env:
            e.update(env)
        return run_cli(list(args), env=e, input=input, timeout=timeout)

    # ---- conveniences -------------------------------------------------

    def case(self, user, cid):
        st, c = self.api(user, "GET", "/v1/cases/" + cid)
        assert st == 200, "GET case %s as %s: %s %r" % (cid, user, st, c)
        return c

    def open_case(self, user, subject, action, expect=201, **fields):
        body = {"subject": subject, "action": action,
                "channel": fields.pop("channel", "phone")}
        body.update(fields)
        st, c = self.api(user, "POST", "/v1/cases", body)
        assert st == expect, ("open %s/%s as %s: expected %s, got %s %r"
                              % (action, subject, user, expect, st, c))
        return c

    def evidence(self, user, cid, method, contact=None, result="pass",
                 reference="verified", expect=201):
        body = {"method": method, "result": result, "reference": reference}
        if contact is not None:
            body["contact"] = contact
        st, c = self.api(user, "POST", "/v1/cases/%s/evidence" % cid, body)
        if expect is not None:
            assert st == expect, ("evidence %s by %s on %s: expected %s, "
                                  "got %s %r" % (method, user, cid, expect,
                                                 st, c))
        return st, c

    def enroll(self, subject, algorithm="sha1"):
        """Enrols a TOTP factor for subject with the CLI; keeps its seed
        (from the otpauth URI) so totp() can compute codes."""
        r = run_cli(["factor", "enroll", "--db", self.db, "--algorithm",
                     algorithm, subject])
        assert r.returncode == 0, "factor enroll: %s%s" % (r.stdout,
                                                          r.stderr)
        uri = r.stdout.splitlines()[0]
        assert uri.startswith("otpauth://totp/"), uri
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
        secret = q["secret"][0]
        pad = "=" * (-len(secret) % 8)
        if not hasattr(self, "factors"):
            self.factors = {}
        self.factors[subject] = {
            "key": base64.b32decode(secret.upper() + pad),
            "alg": q.get("algorithm", ["SHA1"])[0], "last": -1}
        return uri, r

    def totp(self, subject, step=None):
        """A code for subject's factor at the server's clock: the next
        step not used yet (the server refuses replays), within +-1."""
        f = self.factors[subject]
        now = (int(time.time()) + self.offset) // 30
        if step is None:
            step = max(now - 1, f["last"] + 1)
            assert step <= now + 1, "no unused TOTP step left in the window"
            f["last"] = step
        digest = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256}[f["alg"]]
        h = hmac.new(f["key"], struct.pack(">Q", step), digest).digest()
        o = h[-1] & 0x0F
        v = struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF
        return "%06d" % (v % 1000000)

    def totp_evidence(self, user, cid, subject, expect=201, code=None):
        st, c = self.api(user, "POST", "/v1/cases/%s/evidence" % cid,
                         {"method": "registered_factor",
                          "code": code or self.totp(subject)})
        if expect is not None:
            assert st == expect, ("TOTP evidence by %s on %s: expected %s, "
                                  "got %s %r" % (user, cid, expect, st, c))
        return st, c

    def decide(self, user, cid, decision="approve", comment="ok",
               expect=201):
        st, c = self.api(user, "POST", "/v1/cases/%s/approvals" % cid,
                         {"decision": decision, "comment": comment})
        if expect is not None:
            assert st == expect, ("%s by %s on %s: expected %s, got %s %r"
                                  % (decision, user, cid, expect, st, c))
        return st, c

    def execute(self, user, cid, note="done in the directory",
                revoked=("sessions", "tokens"), expect=200):
        st, c = self.api(user, "POST", "/v1/cases/%s/execute" % cid,
                         {"connector": "manual", "note": note,
                          "revoked": list(revoked)})
        if expect is not None:
            assert st == expect, ("execute by %s on %s: expected %s, got "
                                  "%s %r" % (user, cid, expect, st, c))
        return st, c


# ---- assertions ------------------------------------------------------

def expect_error(resp, status, code, invariant=None, what=""):
    """Asserts resp == (status, {"error": {"code": code, "message": ...}})
    and returns the error object."""
    st, body = resp
    assert st == status, ("%s: expected HTTP %s %s, got %s %r"
                          % (what, status, code, st, body))
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), \
        "%s: error body is not {\"error\": {...}}: %r" % (what, body)
    err = body["error"]
    assert err.get("code") == code, ("%s: expected code %s, got %r"
                                     % (what, code, err))
    msg = err.get("message")
    assert isinstance(msg, str) and len(msg.strip()) >= 10, \
        "%s: error message should tell a person what to do: %r" % (what, err)
    if invariant is not None:
        assert err.get("invariant") == invariant, \
            "%s: expected invariant %s, got %r" % (what, invariant, err)
    if code != "sod_violation":
        assert "invariant" not in err, \
            "%s: invariant only belongs on sod_violation: %r" % (what, err)
    return err


def events_of(case, kind=None, actor=None):
    evs = case.get("events")
    assert isinstance(evs, list), "case has no events list: %r" % (case,)
    out = []
    for e in evs:
        if kind is not None and e.get("kind") != kind:
            continue
        if actor is not None and e.get("actor") != actor:
            continue
        out.append(e)
    return out


def event_text(e):
    """Everything an event says, lower-cased, for loose matching."""
    return json.dumps(e, sort_keys=True).lower()


def missing_groups(case):
    m = case.get("missing")
    assert isinstance(m, list), "case has no missing list: %r" % (case,)
    return [x.get("group") for x in m]


def missing_of(case, group):
    return [x for x in case["missing"] if x.get("group") == group]


def assert_seq_increasing(case):
    seqs = [e.get("seq") for e in case["events"]]
    assert all(isinstance(s, int) for s in seqs), seqs
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), \
        "timeline not in strictly increasing seq order: %r" % seqs


def event_table(db):
    """(table, columns) of the audit event table in the SQLite file: the
    table with a `seq` and a `body` column."""
    import sqlite3
    con = sqlite3.connect(db)
    try:
        for (name,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"):
            cols = [r[1] for r in con.execute(
                "PRAGMA table_info(\"%s\")" % name)]
            if "seq" in cols and "body" in cols:
                return name, cols
    finally:
        con.close()
    raise HarnessError("no event table (seq, body) in %s" % db)


def clock_hook_works():
    """True when the server honours TWOKEY_TEST_CLOCK_FILE (builds with
    TK_TEST_HOOKS: MODE=asan or debug)."""
    ctx = Context()
    try:
        ctx.advance(30 * 24 * HOUR)
        st, c = ctx.api("alice", "POST", "/v1/cases",
                        {"subject": "jsmith", "action": "password_reset",
                         "channel": "phone"})
        if st != 201:
            return False
        return parse_time(c["created"]) > time.time() + 29 * 24 * HOUR
    finally:
        ctx.close()


def cleanup_templates():
    for tdir, _db, _tok in _template_cache.values():
        shutil.rmtree(tdir, ignore_errors=True)
    _template_cache.clear()
