"""smtp_sink.py - starts and stops tests/servers/smtp_sink.js (an SMTP
server from the npm package smtp-server that keeps every message it
accepts) for twokey's tests. Standard library only.

    with SmtpSink() as s:            # listening when this returns
        s.port, s.url                # "smtp://127.0.0.1:PORT"
        ... send mail ...
        s.messages()                 # [{"from", "to", "user", "data",
                                     #   "headers": {name: value},
                                     #   "subject", "body", "message"}]
        s.wait_messages(1)           # the same, once there are n

SmtpSink(port=None, user=None, password=None, starttls=False,
reject=None): port defaults to a free loopback port; user/password make
AUTH required; starttls offers STARTTLS (self-signed); reject answers 550
to that recipient. The node process is killed on exit, even when the
body of the with-statement raised or the sink failed to start. Node
modules are installed with `npm ci` in tests/servers when missing.
"""

import email
import email.policy
import json
import os
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "smtp_sink.js")
START_TIMEOUT = 15.0


class SinkError(Exception):
    """The sink itself could not be set up (not a test assertion)."""


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def ensure_node_modules():
    """Runs `npm ci` in tests/servers when smtp-server is not installed."""
    if os.path.isdir(os.path.join(HERE, "node_modules", "smtp-server")):
        return
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SinkError("npm ci in %s failed:\n%s%s"
                        % (HERE, r.stdout, r.stderr))


def parse_message(raw):
    """A raw RFC 5322 message as a dict: headers (decoded), subject and the
    decoded text body (line breaks as \\n)."""
    raw = raw.replace("\r\n", "\n")  # wire CRLF to Python's line ends
    msg = email.message_from_bytes(raw.encode("utf-8"),
                                   policy=email.policy.default)
    headers = {}
    for k, v in msg.items():
        headers[k] = str(v)
    body = msg.get_content() if not msg.is_multipart() else None
    return {"headers": headers, "subject": headers.get("Subject"),
            "body": body, "message": msg}


class SmtpSink:
    def __init__(self, port=None, user=None, password=None, starttls=False,
                 reject=None):
        self.port = port or _free_port()
        self.url = "smtp://127.0.0.1:%d" % self.port
        self.user = user
        self.password = password
        self.starttls = starttls
        self.reject = reject
        self.proc = None
        self.tmp = None
        self.out = None
        self._log = None

    # ---- life cycle ----------------------------------------------------

    def start(self):
        ensure_node_modules()
        self.tmp = tempfile.mkdtemp(prefix="twokey-smtp-")
        self.out = os.path.join(self.tmp, "messages.jsonl")
        env = dict(os.environ)
        for k in ("SMTP_SINK_USER", "SMTP_SINK_PASSWORD",
                  "SMTP_SINK_STARTTLS", "SMTP_SINK_REJECT"):
            env.pop(k, None)
        if self.user is not None:
            env["SMTP_SINK_USER"] = self.user
            env["SMTP_SINK_PASSWORD"] = self.password or ""
        if self.starttls:
            env["SMTP_SINK_STARTTLS"] = "1"
        if self.reject:
            env["SMTP_SINK_REJECT"] = self.reject
        self._log = open(os.path.join(self.tmp, "sink.log"), "wb")
        self.proc = subprocess.Popen(
            ["node", SCRIPT, str(self.port), self.out], cwd=HERE, env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SinkError("smtp_sink.js exited with %s:\n%s"
                                % (self.proc.returncode, self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise SinkError("smtp_sink.js did not accept connections on port "
                        "%d within %ds:\n%s"
                        % (self.port, START_TIMEOUT, self.log()))

    def stop(self):
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self):
        self.stop()
        if self.tmp is not None:
            for f in os.listdir(self.tmp):
                os.unlink(os.path.join(self.tmp, f))
            os.rmdir(self.tmp)
            self.tmp = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- what arrived --------------------------------------------------

    def log(self):
        try:
            with open(os.path.join(self.tmp, "sink.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except (OSError, TypeError):
            return ""

    def messages(self):
        """Every message accepted so far, oldest first."""
        res = []
        try:
            with open(self.out, "r", encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return res
        for line in lines:
            if not line.strip():
                continue
            rec = json.loads(line)
            rec.update(parse_message(rec["data"]))
            res.append(rec)
        return res

    def wait_messages(self, n=1, timeout=10.0):
        """The messages once there are at least n; raises on timeout."""
        deadline = time.time() + timeout
        while True:
            m = self.messages()
            if len(m) >= n or time.time() >= deadline:
                if len(m) < n:
                    raise AssertionError("%d message(s) arrived at the "
                                         "SMTP sink, expected %d"
                                         % (len(m), n))
                return m
            time.sleep(0.05)
