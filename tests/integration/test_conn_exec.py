"""test_conn_exec.py - the exec connector (issue 4) running small shell
scripts written here: the change arrives as JSON on stdin (the secret
only with send_secret), the environment is scrubbed (a variable of the
test's own environment never reaches the program; PATH=/usr/bin:/bin plus
the env option), no descriptor beyond 0-2 is inherited, exit 0 is done
with stdout's first line, exit 3 is failed naming the code and stderr's
last line, a chatty program cannot deadlock, a program that outlives the
timeout is unknown and is gone afterwards with its children (also one that
ignores SIGTERM), and unsafe programs are refused at open."""

import json
import os
import shutil
import stat
import tempfile
import time

import conn_helpers


class World:
    def __init__(self):
        # mkdtemp is 0700: the program's directory is not writable by others
        self.tmp = tempfile.mkdtemp(prefix="twokey-exec-")
        self.bin = os.path.join(self.tmp, "bin")
        os.mkdir(self.bin, 0o755)

    def script(self, name, text, mode=0o755):
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + text)
        os.chmod(path, mode)
        return path

    def config(self, program, timeout_ms=5000, **opts):
        o = {"program": program}
        o.update(opts)
        return {"name": "vendor-cli", "kind": "exec",
                "timeout_ms": timeout_ms,
                "can": ["password_reset", "disable", "secret_rotate"],
                "options": o}

    def run(self, config, op="disable", subject="alice", *args, **kw):
        return conn_helpers.run(self.tmp, config, op, subject, *args, **kw)

    def out(self, name):
        return os.path.join(self.tmp, name)

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_gone(pids, secs=3.0):
    end = time.time() + secs
    while time.time() < end:
        if all(_gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return all(_gone(p) for p in pids)


def test_exec_stdin_env_and_fds(ctx):
    w = World()
    try:
        prog = w.script("reset.sh", """cat > %s
env > %s
ls /proc/$$/fd > %s
echo "vendor reset ok: ticket V-77"
echo "second line"
""" % (w.out("stdin"), w.out("env"), w.out("fds")))
        leak = open(os.devnull)  # an extra descriptor in the caller
        try:
            r = w.run(w.config(prog, env="VENDOR_REGION=eu,MODE=prod",
                               args="--apply,--quiet"),
                      "password_reset", "alice", "--secret", "Tmp-pass-55",
                      "--idem", "c_x.1", "--params", '{"reason":"lost"}',
                      env={"TWOKEY_TEST_LEAK": "must-not-pass",
                           "HOME": "/root-of-caller"},
                      pass_fds=(leak.fileno(),))
            leaked_fd = str(leak.fileno())
        finally:
            leak.close()
        assert r.outcome == "done", r
        assert r.message == "vendor reset ok: ticket V-77", r
        body = json.loads(open(w.out("stdin")).read())
        assert body["op"] == "password_reset"
        assert body["subject"] == "alice"
        assert body["idempotency_key"] == "c_x.1"
        assert body["params"] == {"reason": "lost"}
        assert "secret" not in body, "secret passed without send_secret"
        env = dict(line.split("=", 1) for line in
                   open(w.out("env")).read().splitlines() if "=" in line)
        assert "TWOKEY_TEST_LEAK" not in env, env
        assert env.get("HOME") != "/root-of-caller", env
        assert env["PATH"] == "/usr/bin:/bin", env
        assert env["VENDOR_REGION"] == "eu" and env["MODE"] == "prod", env
        assert set(env) <= {"PATH", "VENDOR_REGION", "MODE", "PWD"}, env
        fds = open(w.out("fds")).read().split()
        assert leaked_fd not in fds, fds
        assert {"0", "1", "2"} <= set(fds), fds
        # with send_secret the program gets it on stdin
        r = w.run(w.config(prog, send_secret=True), "password_reset",
                  "alice", "--secret", "Tmp-pass-55")
        assert r.outcome == "done", r
        assert json.loads(open(w.out("stdin")).read())["secret"] == \
            "Tmp-pass-55"
    finally:
        w.close()


def test_exec_args_and_cwd(ctx):
    w = World()
    try:
        prog = w.script("args.sh", 'cat >/dev/null; echo "$#:$1:$2:$(pwd)"\n')
        r = w.run(w.config(prog, args="--apply,two words", cwd=w.bin))
        assert r.outcome == "done", r
        assert r.message == "2:--apply:two words:%s" % w.bin, r
        r = w.run(w.config(prog))
        assert r.outcome == "done" and r.message.startswith("0::"), r
    finally:
        w.close()


def test_exec_failure(ctx):
    w = World()
    try:
        prog = w.script("fail.sh", """cat >/dev/null
echo "starting" >&2
echo "boom" >&2
exit 3
""")
        r = w.run(w.config(prog))
        assert r.outcome == "failed", r
        assert "exited with status 3" in r.message, r
        assert r.message.endswith(": boom"), r
        quiet = w.script("quiet.sh", "exit 0\n")
        r = w.run(w.config(quiet))
        assert r.outcome == "done" and r.message == "exit 0", r
        # a program that echoes the secret on stderr does not leak it
        echo = w.script("echo.sh", "cat >&2; exit 1\n")
        r = w.run(w.config(echo, send_secret=True), "password_reset",
                  "alice", "--secret", "Tmp-pass-55")
        assert r.outcome == "failed", r
        assert "Tmp-pass-55" not in r.message and "[redacted]" in r.message
    finally:
        w.close()


def test_exec_chatty_child_no_deadlock(ctx):
    w = World()
    try:
        # 1 MiB on each of stdout and stderr, far past the pipe buffers,
        # before reading stdin
        prog = w.script("chatty.sh", """head -c 1048576 /dev/zero | tr '\\0' x
head -c 1048576 /dev/zero | tr '\\0' y >&2
cat >/dev/null
exit 0
""")
        r = w.run(w.config(prog, timeout_ms=20000))
        assert r.outcome == "done", r
        assert r.elapsed < 15, r.elapsed
        assert r.message.startswith("xxxx") and len(r.message) < 512, r
    finally:
        w.close()


def test_exec_timeout_kills_group(ctx):
    w = World()
    try:
        prog = w.script("hang.sh", """echo $$ > %s
sleep 60 &
echo $! > %s
wait
""" % (w.out("pid"), w.out("child")))
        r = w.run(w.config(prog, timeout_ms=1000))
        assert r.outcome == "unknown", r
        assert r.elapsed < 1 + 3, r.elapsed
        assert "may have made the change" in r.message, r
        pids = [int(open(w.out(n)).read()) for n in ("pid", "child")]
        assert _wait_gone(pids), "left running: %r" % pids
        # one that ignores SIGTERM gets SIGKILL 2 s later
        stubborn = w.script("stubborn.sh", """trap '' TERM
echo $$ > %s
sleep 60 &
echo $! > %s
wait
""" % (w.out("pid2"), w.out("child2")))
        r = w.run(w.config(stubborn, timeout_ms=1000))
        assert r.outcome == "unknown", r
        assert r.elapsed < 1 + 3, r.elapsed
        pids = [int(open(w.out(n)).read()) for n in ("pid2", "child2")]
        assert _wait_gone(pids), "left running: %r" % pids
        # killed by a signal of its own: unknown
        selfkill = w.script("selfkill.sh", "cat >/dev/null; kill -9 $$\n")
        r = w.run(w.config(selfkill))
        assert r.outcome == "unknown" and "signal 9" in r.message, r
    finally:
        w.close()


def test_exec_refused_at_open(ctx):
    w = World()
    try:
        ok = w.script("ok.sh", "exit 0\n")
        r = w.run(w.config("bin/ok.sh"))
        assert r.rc == 3 and "absolute path" in r.stderr, r
        ww = w.script("ww.sh", "exit 0\n", mode=0o777)
        os.chmod(ww, 0o777)  # past the umask
        r = w.run(w.config(ww))
        assert r.rc == 3 and "writable by group or others" in r.stderr, r
        gw = w.script("gw.sh", "exit 0\n")
        os.chmod(gw, 0o775)
        r = w.run(w.config(gw))
        assert r.rc == 3 and "writable by group or others" in r.stderr, r
        r = w.run(w.config(os.path.join(w.bin, "missing.sh")))
        assert r.rc == 3 and "No such file" in r.stderr, r
        noexec = w.script("noexec.sh", "exit 0\n", mode=0o644)
        r = w.run(w.config(noexec))
        # root may execute nothing without an x bit either
        assert r.rc == 3 and "not an executable" in r.stderr, r
        # a directory others can write to could swap the program
        os.chmod(w.bin, 0o777)
        os.chmod(w.bin, 0o777 & ~stat.S_ISVTX)
        r = w.run(w.config(ok))
        assert r.rc == 3 and "directory" in r.stderr, r
        os.chmod(w.bin, 0o755)
        r = w.run(w.config(ok, env="1BAD=x"))
        assert r.rc == 3 and "NAME=VALUE" in r.stderr, r
        r = w.run(w.config(ok, cwd="relative/dir"))
        assert r.rc == 3 and "cwd" in r.stderr, r
        r = w.run(w.config(ok))
        assert r.outcome == "done", r
    finally:
        w.close()
