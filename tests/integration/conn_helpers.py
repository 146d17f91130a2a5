"""conn_helpers.py - shared by the connector tests (test_conn_*.py): runs
tests/conn/conn_driver (one connector operation outside the engine) with a
configuration written to a temporary file, and writes secret files the
way the connectors demand (mode 600). Standard library only."""

import json
import os
import subprocess
import tempfile
import time

import harness


def driver_bin():
    d = os.environ.get("TWOKEY_CONN_DRIVER")
    if not d:
        d = os.path.join(os.path.dirname(harness.twokey_bin()), "tests",
                         "conn_driver")
    if not os.access(d, os.X_OK):
        raise harness.HarnessError(
            "conn_driver not found (set TWOKEY_CONN_DRIVER or build "
            "build/MODE/tests/conn_driver): %r" % d)
    return d


class Result:
    def __init__(self, rc, out, err, elapsed):
        self.rc = rc
        self.stderr = err
        self.elapsed = elapsed
        self.outcome = self.message = None
        if out.strip():
            j = json.loads(out)
            self.outcome = j["outcome"]
            self.message = j["message"]

    def __repr__(self):
        return "Result(rc=%r, outcome=%r, message=%r, stderr=%r)" % (
            self.rc, self.outcome, self.message, self.stderr)


def run(tmpdir, config, op, subject, *args, env=None, timeout=60,
        pass_fds=()):
    """Runs conn_driver CONFIG op subject args...; returns a Result."""
    fd, path = tempfile.mkstemp(dir=tmpdir, suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(config, f)
    e = dict(os.environ)
    if env:
        e.update(env)
    t0 = time.monotonic()
    p = subprocess.run([driver_bin(), path, op, subject] + list(args),
                       capture_output=True, text=True, timeout=timeout,
                       env=e, pass_fds=pass_fds)
    r = Result(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)
    if r.rc in (0, 1, 2):
        assert r.outcome == {0: "done", 1: "failed", 2: "unknown"}[r.rc], r
    return r


def secret_file(tmpdir, name, value):
    path = os.path.join(tmpdir, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return path
