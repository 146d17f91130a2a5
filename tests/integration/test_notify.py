"""test_notify.py - e-mail and SMS through a directory file's notify
section, against real servers on 127.0.0.1: the SMTP sink
(tests/servers/smtp_sink.js, npm smtp-server) and the SMS gateway
stand-in (tests/servers/sms_gateway.py). Each test runs the test-only
driver (TWOKEY_NOTIFY_DRIVER, tests/conn/notify_driver.c):
`notify_driver DIRECTORY.yaml CONTACT SUBJECT TEXT`.
"""

import json
import os
import subprocess
import sys
import time

import harness

sys.path.insert(0, os.path.join(harness.REPO, "tests", "servers"))

from sms_gateway import SmsGateway  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

DRIVER_TIMEOUT = 30.0


def driver_bin():
    b = os.environ.get("TWOKEY_NOTIFY_DRIVER")
    if not b:
        for mode in ("asan", "debug", "release"):
            cand = os.path.join(harness.REPO, "build", mode, "tests",
                                "notify_driver")
            if os.path.exists(cand):
                b = cand
                break
    if not b or not os.access(b, os.X_OK):
        raise harness.HarnessError(
            "notify_driver not found (set TWOKEY_NOTIFY_DRIVER or run "
            "`make MODE=asan build/asan/tests/notify_driver`): %r" % b)
    return b


def send(directory, contact, subject, text):
    """Runs the driver; returns (exit code, parsed stdout or None, stderr,
    seconds)."""
    t0 = time.time()
    r = subprocess.run([driver_bin(), directory, contact, subject, text],
                       capture_output=True, timeout=DRIVER_TIMEOUT)
    dt = time.time() - t0
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    try:
        parsed = json.loads(out) if out.strip() else None
    except ValueError:
        parsed = None
    return r.returncode, parsed, err, dt


def write_dir(ctx, text, name="directory.yaml"):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def secret_file(ctx, name, value):
    path = os.path.join(ctx.tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return path


def notify_dir(ctx, smtp=None, sms=None, extra=""):
    """A directory file with just a notify section."""
    s = "version: 1\nnotify:\n  public_url: https://twokey.example.com\n" \
        "  timeout: 5s\n"
    if smtp:
        s += "  smtp: {%s}\n" % ", ".join("%s: %s" % (k, json.dumps(v))
                                          for k, v in smtp.items())
    if sms:
        s += "  sms: {%s}\n" % ", ".join("%s: %s" % (k, json.dumps(v))
                                         for k, v in sms.items())
    return write_dir(ctx, s + extra)


def smtp_cfg(sink, **kw):
    d = {"url": sink.url, "from": "twokey@example.com"}
    d.update(kw)
    return d


SUBJECT = "Passwort zur\u00fcckgesetzt \u2713 \u2014 J\u00fcrgen"
TEXT = ("Gr\u00fc\u00dfe J\u00fcrgen,\n\n"
        "Ihr tempor\u00e4res Passwort: Kx7=q9 \n"
        ".a line starting with a dot\n"
        "\u65e5\u672c\u8a9e and an emoji \U0001f511, then a long line "
        + "x" * 150 + "\nend")


# ---- e-mail -------------------------------------------------------------

def test_mail_arrives_utf8(ctx):
    with SmtpSink() as sink:
        d = notify_dir(ctx, smtp=smtp_cfg(sink))
        rc, out, err, _ = send(d, "jsmith@example.com", SUBJECT, TEXT)
        assert rc == 0, (rc, out, err)
        assert out == {"sent": True}, out
        msgs = sink.wait_messages(1)
        assert len(msgs) == 1, msgs
        m = msgs[0]
        assert m["from"] == "twokey@example.com", m["from"]
        assert m["to"] == ["jsmith@example.com"], m["to"]
        h = m["headers"]
        assert h["To"] == "jsmith@example.com", h
        assert h["From"] == "twokey@example.com", h
        assert m["subject"] == SUBJECT, m["subject"]
        assert m["message"].get_content_type() == "text/plain", h
        assert m["message"].get_content_charset() == "utf-8", h
        assert "\r\nContent-Type: text/plain; charset=utf-8\r\n" in \
            m["data"], m["data"]
        assert h["MIME-Version"] == "1.0", h
        assert h["Date"] and h["Message-ID"].endswith("@example.com>"), h
        # the decoded body is the text, line for line, every character
        assert m["body"] == TEXT + "\n", repr(m["body"])
        # and the wire form stayed 7-bit with short lines
        for line in m["data"].split("\r\n"):
            assert len(line) <= 998
            assert all(ord(c) < 128 for c in line), line


def test_mail_ascii_plain(ctx):
    with SmtpSink() as sink:
        d = notify_dir(ctx, smtp=smtp_cfg(sink))
        text = "Hello,\nyour case c_1 is on hold until 10:00 UTC.\n"
        rc, out, err, _ = send(d, "Jsmith@Example.com", "Case on hold", text)
        assert rc == 0, (rc, out, err)
        m = sink.wait_messages(1)[0]
        assert m["to"] == ["Jsmith@Example.com"], m["to"]
        assert m["headers"]["Content-Transfer-Encoding"] == "7bit"
        assert m["subject"] == "Case on hold"
        assert m["body"] == text, repr(m["body"])


def test_mail_auth(ctx):
    with SmtpSink(user="twokey", password="s3cret pass") as sink:
        good = secret_file(ctx, "smtp.pw", "s3cret pass")
        d = notify_dir(ctx, smtp=smtp_cfg(sink, user="twokey",
                                          password_file=good))
        rc, out, err, _ = send(d, "a@example.com", "s", "with auth")
        assert rc == 0, (rc, out, err)
        m = sink.wait_messages(1)[0]
        assert m["user"] == "twokey", m
        assert m["body"] == "with auth\n"
        # a wrong password: refused with the server's words, not sent
        bad = secret_file(ctx, "smtp-bad.pw", "wrong")
        d = notify_dir(ctx, smtp=smtp_cfg(sink, user="twokey",
                                          password_file=bad))
        rc, out, err, _ = send(d, "a@example.com", "s", "not this one")
        assert rc == 1, (rc, out, err)
        assert out["sent"] is False
        assert "535" in out["message"], out
        assert "wrong" not in out["message"] and "wrong" not in err
        assert "not this one" not in out["message"]
        # without AUTH the sink refuses too
        d = notify_dir(ctx, smtp=smtp_cfg(sink))
        rc, out, err, _ = send(d, "a@example.com", "s", "no auth")
        assert rc == 1, (rc, out, err)
        assert len(sink.messages()) == 1
        # a password file others can read is refused before connecting
        os.chmod(good, 0o644)
        d = notify_dir(ctx, smtp=smtp_cfg(sink, user="twokey",
                                          password_file=good))
        rc, out, err, _ = send(d, "a@example.com", "s", "t")
        assert rc == 1 and "chmod 600" in out["message"], out


def test_mail_recipient_rejected(ctx):
    with SmtpSink(reject="gone@example.com") as sink:
        d = notify_dir(ctx, smtp=smtp_cfg(sink))
        rc, out, err, _ = send(d, "gone@example.com", "s",
                               "temporary password hunter2")
        assert rc == 1, (rc, out, err)
        msg = out["message"]
        assert sink.url in msg, msg
        assert "550" in msg and "no such mailbox" in msg, msg
        assert "hunter2" not in msg and "hunter2" not in err
        assert sink.messages() == []


def test_mail_starttls_required(ctx):
    # starttls: true and a server that does not offer STARTTLS: nothing
    # is sent in clear
    with SmtpSink() as sink:
        d = notify_dir(ctx, smtp=smtp_cfg(sink, starttls=True))
        rc, out, err, _ = send(d, "a@example.com", "s", "secret hunter2")
        assert rc == 1, (rc, out, err)
        assert "STARTTLS" in out["message"] or "TLS" in out["message"], out
        assert "hunter2" not in out["message"]
        assert sink.messages() == []
    # offered, but with a certificate nobody vouches for: refused too
    with SmtpSink(starttls=True) as sink:
        d = notify_dir(ctx, smtp=smtp_cfg(sink, starttls=True))
        rc, out, err, _ = send(d, "a@example.com", "s", "secret hunter2")
        assert rc == 1, (rc, out, err)
        assert "certificate" in out["message"].lower() or \
            "ssl" in out["message"].lower(), out
        assert sink.messages() == []


def test_smtp_down(ctx):
    port = harness.free_port()
    d = notify_dir(ctx, smtp={"url": "smtp://127.0.0.1:%d" % port,
                              "from": "twokey@example.com"})
    rc, out, err, dt = send(d, "a@example.com", "s",
                            "temporary password hunter2")
    assert rc == 1, (rc, out, err)
    assert dt < 5.0, "took %.1fs to notice nothing listens" % dt
    msg = out["message"]
    assert out["status"] == "internal", out
    assert "smtp://127.0.0.1:%d" % port in msg, msg
    assert "connect" in msg.lower(), msg
    assert "hunter2" not in msg and "hunter2" not in err


def test_injection_refused(ctx):
    with SmtpSink() as sink:
        d = notify_dir(ctx, smtp=smtp_cfg(sink))
        cases = [
            ("a@example.com\r\nBcc: evil@example.net", "s", "line break"),
            ("a@example.com\nBcc: evil@example.net", "s", "line break"),
            ("a@example.com", "hi\r\nBcc: evil@example.net",
             "subject contains a line break"),
            ("a@example.com", "hi\nX-Evil: 1", "subject contains a line"),
            ("Boss <a@example.com>", "s", "not one plain address"),
            ("a@example.com,evil@example.net", "s", "not one plain"),
        ]
        for contact, subject, words in cases:
            rc, out, err, _ = send(d, contact, subject, "t")
            assert rc == 1, (contact, subject, rc, out, err)
            assert out["status"] == "invalid_request", out
            assert words in out["message"], (words, out)
            assert "evil" not in out["message"], out
        # nothing reached the server
        assert sink.messages() == []


# ---- SMS ----------------------------------------------------------------

def test_sms_arrives_with_token(ctx):
    with SmsGateway(token="gw-t0ken") as g:
        tok = secret_file(ctx, "sms.token", "gw-t0ken")
        d = notify_dir(ctx, sms={"url": g.url, "token_file": tok})
        text = "twokey: code 123456 \u2713 \"quoted\"\nline two"
        rc, out, err, _ = send(d, "+1 (555) 010-0100", "ignored", text)
        assert rc == 0, (rc, out, err)
        msgs = g.messages()
        assert len(msgs) == 1, msgs
        m = msgs[0]
        assert m["status"] == 200
        assert m["authorization"] == "Bearer gw-t0ken", m
        assert m["headers"]["Content-Type"] == "application/json", m
        assert m["json"] == {"to": "+15550100100", "text": text}, m
        # without the token file: the gateway's 401 comes back
        d = notify_dir(ctx, sms={"url": g.url})
        rc, out, err, _ = send(d, "+15550100100", "s", "no token")
        assert rc == 1, (rc, out, err)
        assert "401" in out["message"], out
        assert g.messages()[-1]["authorization"] is None


def test_sms_gateway_500(ctx):
    with SmsGateway(fail_status=500, echo=True) as g:
        d = notify_dir(ctx, sms={"url": g.url})
        secret = "temporary password Zq8-hunter2-Lp"
        rc, out, err, dt = send(d, "555 0100", "s", secret)
        assert rc == 1, (rc, out, err)
        msg = out["message"]
        assert "500" in msg and g.url in msg, msg
        assert "broken today" in msg, msg  # an excerpt of the answer
        # the gateway echoed the text; the error does not repeat it
        assert "hunter2" not in msg and "hunter2" not in err, msg
        assert len(msg) < 512
        assert len(g.messages()) == 1


def test_sms_gateway_escaped_echo_withheld(ctx):
    """A gateway echoing its JSON request escapes the message's line
    breaks, so the exact cut cannot find it: the answer is withheld."""
    with SmsGateway(fail_status=500, echo=True) as g:
        d = notify_dir(ctx, sms={"url": g.url})
        rc, out, err, dt = send(d, "555 0100", "s",
                                "Your password:\n  Zq8-hunter2-Lp\nChange it")
        assert rc == 1, (rc, out, err)
        msg = out["message"]
        assert "500" in msg and "withheld" in msg, msg
        assert "hunter2" not in msg and "hunter2" not in err, msg


def test_sms_gateway_down(ctx):
    port = harness.free_port()
    d = notify_dir(ctx, sms={"url": "http://127.0.0.1:%d/send" % port})
    rc, out, err, dt = send(d, "+15550100", "s", "t")
    assert rc == 1, (rc, out, err)
    assert dt < 5.0, dt
    assert "http://127.0.0.1:%d/send" % port in out["message"], out


# ---- choosing the channel -----------------------------------------------

def test_channel_not_configured(ctx):
    with SmsGateway() as g:
        d = notify_dir(ctx, sms={"url": g.url})
        rc, out, err, _ = send(d, "a@example.com", "s", "t")
        assert rc == 1, (rc, out, err)
        assert "no smtp in the directory file's notify section" in \
            out["message"], out
        assert g.messages() == []
    with SmtpSink() as sink:
        d = notify_dir(ctx, smtp=smtp_cfg(sink))
        rc, out, err, _ = send(d, "+44 20 7946 0000", "s", "t")
        assert rc == 1, (rc, out, err)
        assert "no sms in the directory file's notify section" in \
            out["message"], out
        rc, out, err, _ = send(d, "the help desk", "s", "t")
        assert rc == 1 and "neither an e-mail address" in out["message"]
        assert sink.messages() == []


# ---- the directory file's errors through the driver -----------------------

def test_directory_errors(ctx):
    cases = [
        ("version: 1\nnotify:\n  smtp: {url: \"smtp://127.0.0.1:25\", "
         "from: a@example.com, tls: true}\n", "3:59",
         "unknown key \"tls\" in notify.smtp"),
        ("version: 1\nnotify:\n  smtp: {url: \"http://127.0.0.1:25\", "
         "from: a@example.com}\n", "3:15", "smtp,smtps"),
        ("version: 1\nconnectors:\n  - name: corp\n    kind: ldap\n"
         "    can: [unlock]\nroutes:\n  - {ops: [unlock], connector: crop}\n",
         "7:32", "route names connector \"crop\""),
        ("version: 1\nconnectors:\n  - name: corp\n    kind: ldap\n"
         "    can: [unlock]\n    timeout: 5\n", "6:14",
         "500ms, 5s or 2m"),
        ("version: 1\nconnectors:\n  - name: corp\n    kind: ldap\n"
         "    can: [unlock]\n    bind_password: hunter2\n", "6:5",
         "bind_password_file"),
        ("version: 1\nnotify:\n  sms: {url: \"http://127.0.0.1/\"}\n"
         "  sms: {url: \"http://127.0.0.1/\"}\n", "4:3", "appears twice"),
    ]
    for i, (text, at, words) in enumerate(cases):
        d = write_dir(ctx, text, "bad%d.yaml" % i)
        rc, out, err, _ = send(d, "a@example.com", "s", "t")
        assert rc == 3, (i, rc, out, err)
        assert "%s:%s: " % (d, at) in err, (i, at, err)
        assert words in err, (i, words, err)
        assert "hunter2" not in err
    rc, out, err, _ = send(os.path.join(ctx.tmp, "missing.yaml"),
                           "a@example.com", "s", "t")
    assert rc == 3 and "cannot open directory file" in err, err
