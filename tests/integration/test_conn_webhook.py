"""test_conn_webhook.py - the webhook connector (issue 4) against a sink
written here (a threaded http.server on a loopback port that records what
arrives and answers as told). Checked independently of the C code: the
X-Twokey-Signature verifies as v1=HMAC-SHA256(key, timestamp "." body)
with Python's hmac, the timestamp is fresh, the Idempotency-Key is sent,
the body holds the change and the secret only with send_secret (and only
for password_reset / secret_rotate); 2xx is done with the sink's message,
500 is failed with the sink's words, a secret echoed back is redacted, a
hanging sink is unknown within timeout + 2 s, nothing listening is failed,
and status() asks status_url with a signed GET."""

import calendar
import hashlib
import hmac
import http.server
import json
import shutil
import tempfile
import threading
import time
import urllib.parse

import conn_helpers
from harness import free_port

KEY = "whk-3f8e1c0a9b7d4e2f6a5c"


class Sink:
    """Records requests; answers with self.status / self.reply, or hangs
    while self.hang is set."""

    def __init__(self):
        self.seen = []
        self.status = 200
        self.reply = b'{"message": "reset queued as JOB-1234"}'
        self.ctype = "application/json"
        self.hang = threading.Event()
        self.release = threading.Event()
        self.done_keys = set()
        sink = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _record(self, body):
                sink.seen.append({"method": self.command, "path": self.path,
                                  "headers": dict(self.headers),
                                  "body": body, "at": time.time()})

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                self._record(body)
                if sink.hang.is_set():
                    sink.release.wait(30)
                    return
                self.send_response(sink.status)
                self.send_header("Content-Type", sink.ctype)
                self.send_header("Content-Length", str(len(sink.reply)))
                self.end_headers()
                self.wfile.write(sink.reply)

            def do_GET(self):
                self._record(b"")
                q = urllib.parse.parse_qs(
                    urllib.parse.urlparse(self.path).query)
                k = q.get("idempotency_key", [""])[0]
                st = "done" if k in sink.done_keys else "not_found"
                out = json.dumps({"status": st}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/hooks/twokey" % self.port
        self.t = threading.Thread(target=self.httpd.serve_forever,
                                  daemon=True)
        self.t.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class World:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="twokey-webhook-")
        self.sink = Sink()
        self.key_file = conn_helpers.secret_file(self.tmp, "hmac", KEY)

    def config(self, timeout_ms=5000, url=None, **opts):
        o = {"url": url or self.sink.url, "secret_file": self.key_file}
        o.update(opts)
        return {"name": "idp-hook", "kind": "webhook",
                "timeout_ms": timeout_ms,
                "can": ["password_reset", "secret_rotate", "disable",
                        "revoke_sessions", "group_add", "mfa_reset"],
                "options": o}

    def run(self, op, subject, *args, config=None, **kw):
        return conn_helpers.run(self.tmp, config or self.config(), op,
                                subject, *args, **kw)

    def close(self):
        self.sink.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def verify(req, key=KEY):
    """The receiver's check, as docs/connectors.md describes it."""
    h = {k.lower(): v for k, v in req["headers"].items()}
    ts = h["x-twokey-timestamp"]
    sig = h["x-twokey-signature"]
    assert sig.startswith("v1="), sig
    want = hmac.new(key.encode(), ts.encode() + b"." + req["body"],
                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig[3:], want), "signature does not verify"
    assert abs(int(ts) - time.time()) < 30, "stale timestamp %s" % ts
    return h


def test_webhook_signed_change(ctx):
    w = World()
    try:
        r = w.run("password_reset", "alice", "--secret", "Tmp-pass-77",
                  "--idem", "c_abc.3", "--case", "c_abc", "--params",
                  '{"reason":"forgot","ticket":"INC-9"}')
        assert r.outcome == "done", r
        assert r.message == "reset queued as JOB-1234", r
        assert len(w.sink.seen) == 1
        req = w.sink.seen[0]
        assert req["method"] == "POST" and req["path"] == "/hooks/twokey"
        h = verify(req)
        assert h["idempotency-key"] == "c_abc.3"
        assert h["content-type"] == "application/json"
        body = json.loads(req["body"])
        assert body["op"] == "password_reset"
        assert body["case"] == "c_abc"
        assert body["idempotency_key"] == "c_abc.3"
        assert body["subject"] == "alice"
        assert body["subject_kind"] == "person"
        assert body["params"] == {"reason": "forgot", "ticket": "INC-9"}
        assert "group" not in body
        assert "secret" not in body, "secret sent without send_secret"
        assert b"Tmp-pass-77" not in req["body"]
        assert abs(time.time() - calendar.timegm(time.strptime(
            body["sent_at"], "%Y-%m-%dT%H:%M:%SZ"))) < 30, body["sent_at"]
        # a wrong key does not verify
        try:
            verify(req, key=KEY + "x")
            raise AssertionError("a wrong key verified")
        except AssertionError as e:
            assert "does not verify" in str(e)
        # group operations carry the group
        r = w.run("group_add", "alice", "--group", "Finance Admins")
        assert r.outcome == "done", r
        body = json.loads(w.sink.seen[-1]["body"])
        assert body["group"] == "Finance Admins" and body["op"] == "group_add"
        verify(w.sink.seen[-1])
        # 204 without a body: "HTTP 204"
        w.sink.status, w.sink.reply = 204, b""
        r = w.run("revoke_sessions", "alice")
        assert r.outcome == "done" and r.message == "HTTP 204", r
    finally:
        w.close()


def test_webhook_send_secret(ctx):
    w = World()
    try:
        cfg = w.config(send_secret=True)
        r = w.run("password_reset", "alice", "--secret", "Tmp-pass-77",
                  config=cfg)
        assert r.outcome == "done", r
        body = json.loads(w.sink.seen[-1]["body"])
        assert body["secret"] == "Tmp-pass-77"
        verify(w.sink.seen[-1])
        r = w.run("secret_rotate", "svc-build", "--secret", "k3y-v2",
                  "--kind", "nhi", config=cfg)
        body = json.loads(w.sink.seen[-1]["body"])
        assert body["secret"] == "k3y-v2" and body["subject_kind"] == "nhi"
        # other operations never carry a secret, even if one is at hand
        r = w.run("disable", "alice", "--secret", "Tmp-pass-77", config=cfg)
        assert r.outcome == "done", r
        assert b"Tmp-pass-77" not in w.sink.seen[-1]["body"]
    finally:
        w.close()


def test_webhook_refusals(ctx):
    w = World()
    try:
        w.sink.status = 500
        w.sink.ctype = "text/plain"
        w.sink.reply = b"directory backend on fire\nline two"
        r = w.run("disable", "alice")
        assert r.outcome == "failed", r
        assert "500" in r.message, r
        assert "directory backend on fire" in r.message, r
        # a sink that echoes the secret never gets it into the message
        w.sink.status = 400
        w.sink.reply = b'{"error": "password Tmp-pass-77 too weak"}'
        r = w.run("password_reset", "alice", "--secret", "Tmp-pass-77",
                  config=w.config(send_secret=True))
        assert r.outcome == "failed", r
        assert "Tmp-pass-77" not in r.message and "[redacted]" in r.message
        assert "400" in r.message
        # a huge answer is cut, still one line of valid text
        w.sink.status = 502
        w.sink.reply = ("\u00e9" * 100000).encode()
        r = w.run("disable", "alice")
        assert r.outcome == "failed" and len(r.message) < 512, r
        assert r.message.endswith("..."), r
        # redirects are not followed
        w.sink.status, w.sink.reply = 302, b""
        r = w.run("disable", "alice")
        assert r.outcome == "failed" and "302" in r.message, r
    finally:
        w.close()


def test_webhook_hang_and_down(ctx):
    w = World()
    try:
        w.sink.hang.set()
        r = w.run("disable", "alice", config=w.config(timeout_ms=1500))
        assert r.outcome == "unknown", r
        assert r.elapsed < 1.5 + 2, r.elapsed
        assert len(w.sink.seen) == 1
        down = "http://127.0.0.1:%d/hook" % free_port()
        r = w.run("disable", "alice", config=w.config(url=down))
        assert r.outcome == "failed", r
        assert "nothing was sent" in r.message, r
    finally:
        w.close()


def test_webhook_status_url(ctx):
    w = World()
    try:
        status_url = "http://127.0.0.1:%d/hooks/status" % w.sink.port
        cfg = w.config(status_url=status_url)
        w.sink.done_keys.add("c_abc.1")
        r = w.run("disable", "alice", "--idem", "c_abc.1", "--status",
                  config=cfg)
        assert r.outcome == "done", r
        req = w.sink.seen[-1]
        assert req["method"] == "GET"
        assert req["path"] == "/hooks/status?idempotency_key=c_abc.1"
        h = verify(req)
        assert h["idempotency-key"] == "c_abc.1"
        r = w.run("disable", "alice", "--idem", "c_abc.2", "--status",
                  config=cfg)
        assert r.outcome == "failed", r
        # without status_url: unknown, nothing asked
        n = len(w.sink.seen)
        r = w.run("disable", "alice", "--status")
        assert r.outcome == "unknown" and "status_url" in r.message, r
        assert len(w.sink.seen) == n
    finally:
        w.close()


def test_webhook_config_refusals(ctx):
    w = World()
    try:
        short = conn_helpers.secret_file(w.tmp, "short", "abc")
        r = w.run("disable", "alice",
                  config=w.config(secret_file=short))
        assert r.rc == 3 and "shorter than 16" in r.stderr, r
        r = w.run("disable", "alice", config=w.config(send_secret="maybe"))
        assert r.rc == 3 and "send_secret" in r.stderr, r
        r = w.run("disable", "alice", config=w.config(url="file:///etc/x"))
        assert r.rc == 3 and "http://" in r.stderr, r
        assert not w.sink.seen
    finally:
        w.close()
