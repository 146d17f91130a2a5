"""test_console_signin.py - signing in to the web console over HTTP against
the real server: the sign-in form and its double-submit cookie, a right
password and code giving a Strict, HttpOnly session cookie and a signed-in
page, one generic 401 for a wrong password, code or login, the 429 after
five failures in a row, a POST without the CSRF token refused with 403 and
nothing changed, sign-out making the old cookie useless, idle expiry with
the test clock, a replayed code refused, API tokens not accepted by the
console, the `twokey account` commands (help, generated password, QR), and
the Secure flag when twokey serves TLS. Every refusal is checked in the
audit log (reason in the event, never on the page)."""

import base64
import hashlib
import hmac
import http.client
import os
import re
import ssl
import struct
import subprocess
import time
import urllib.parse

import harness

PASSWORD = "correct horse battery staple"
FAST = {"TWOKEY_TEST_FAST_HASH": "1"}  # test builds: cheap argon2id


# ---- helpers ---------------------------------------------------------------

class Browser:
    """A minimal cookie jar over http.client (no redirects followed)."""

    def __init__(self, port, tls_ca=None):
        self.port = port
        self.tls_ca = tls_ca
        self.cookies = {}

    def request(self, method, path, form=None, cookies=None,
                content_type="application/x-www-form-urlencoded"):
        if self.tls_ca:
            c = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=30,
                context=ssl.create_default_context(cafile=self.tls_ca))
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port,
                                           timeout=30)
        jar = dict(self.cookies if cookies is None else cookies)
        headers = {}
        if jar:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in jar.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = content_type
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            text = r.read().decode("utf-8", "replace")
            hdrs = r.getheaders()
        finally:
            c.close()
        set_cookies = {}
        for k, v in hdrs:
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                set_cookies[name.strip()] = v
                if cookies is None:
                    if re.search(r";\s*Max-Age=0", v, re.I) or value == "":
                        self.cookies.pop(name.strip(), None)
                    else:
                        self.cookies[name.strip()] = value
        return r.status, dict((k.lower(), v) for k, v in hdrs), \
            set_cookies, text


def hidden(html, name):
    m = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), html)
    assert m, "no hidden field %r in:\n%s" % (name, html[:2000])
    return m.group(1)


def setup_accounts(ctx, logins=("alice",)):
    """Password and sign-in factor for each login (server stopped meanwhile
    so only one process writes the log); returns {login: key}."""
    ctx.stop()
    keys = {}
    for u in logins:
        r = ctx.twokey("account", "password", "--db", ctx.db, "--stdin", u,
                       input=PASSWORD + "\n", env=FAST)
        assert r.returncode == 0, r.stderr
        r = ctx.twokey("account", "totp", "--db", ctx.db, u)
        assert r.returncode == 0, r.stderr
        uri = r.stdout.splitlines()[0]
        assert uri.startswith("otpauth://totp/twokey%20console:" + u), uri
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
        s = q["secret"][0]
        keys[u] = {"key": base64.b32decode(s + "=" * (-len(s) % 8)),
                   "last": -1}
    ctx.start()
    return keys


def code(ctx, f, step=None):
    """The next unused code of factor f at the server's clock."""
    now = (int(time.time()) + ctx.offset) // 30
    if step is None:
        step = max(now - 1, f["last"] + 1)
        assert step <= now + 1, "no unused TOTP step left"
        f["last"] = step
    h = hmac.new(f["key"], struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 0x0F
    v = struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF
    return "%06d" % (v % 1000000)


def login_form(b, path="/login"):
    st, _, sc, html = b.request("GET", path)
    assert st == 200, (st, html[:500])
    return hidden(html, "csrf"), html, sc


def sign_in(ctx, b, f, login="alice", password=PASSWORD, next_=None,
            expect=303):
    csrf, _, _ = login_form(b)
    form = {"csrf": csrf, "login": login, "password": password,
            "code": code(ctx, f)}
    if next_ is not None:
        form["next"] = next_
    st, h, sc, html = b.request("POST", "/login", form)
    assert st == expect, (st, h.get("location"), html[:1500])
    return st, h, sc, html


def events(ctx, kind):
    st, evs = ctx.api("ivan", "GET", "/v1/events?from=1&limit=1000")
    assert st == 200, evs
    return [e for e in evs["events"] if e["kind"] == kind]


def reasons(ctx):
    return [e["data"].get("reason") for e in events(ctx, "signin.failed")]


# ---- tests -----------------------------------------------------------------

def test_console_signin_flow(ctx):
    keys = setup_accounts(ctx)
    b = Browser(ctx.port)
    # not signed in: to the form, with the page to come back to
    st, h, _, _ = b.request("GET", "/cases/new")
    assert st == 303 and h["location"] == "/login?next=/cases/new", \
        (st, h.get("location"))
    csrf, html, sc = login_form(b, "/login?next=/cases/new")
    pre = sc.get("tk_pre", "")
    assert "HttpOnly" in pre and "SameSite=Strict" in pre, pre
    assert 'name="password"' in html and 'name="code"' in html
    assert hidden(html, "next") == "/cases/new"
    assert "Secure" not in pre
    # the console's headers
    st, h, _, _ = b.request("GET", "/login")
    assert "default-src 'self'" in h.get("content-security-policy", ""), h
    assert h.get("x-frame-options", "").upper() == "DENY", h

    st, h, sc, _ = sign_in(ctx, b, keys["alice"], next_="/cases/new")
    assert h["location"] == "/cases/new", h
    cookie = sc["tk_session"]
    token = b.cookies["tk_session"]
    assert len(token) == 43, token
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie, cookie
    assert "Secure" not in cookie and "Max-Age" not in cookie, cookie
    # signed in: a page with the user and a CSRF token for forms
    st, _, _, html = b.request("GET", "/queues")
    assert st == 200, (st, html[:800])
    assert "Alice" in html or "alice" in html
    assert 'action="/logout"' in html
    csrf = hidden(html, "csrf")
    assert len(csrf) == 43 and csrf != token
    # the session token is not in the log, the database holds its hash only
    assert token not in str(events(ctx, "signin"))
    assert len(events(ctx, "signin")) == 1
    # an API token does not open the console
    st, h, _, _ = Browser(ctx.port).request(
        "GET", "/queues", cookies={"tk_session": ctx.tokens["alice"]})
    assert st == 303 and h["location"].startswith("/login"), (st, h)

    # sign-out: CSRF needed; then the old cookie is useless
    st, _, _, html = b.request("POST", "/logout", {"csrf": "x" * 43})
    assert st == 403, st
    assert "reload the page" in html
    st, _, _, _ = b.request("GET", "/queues")
    assert st == 200, "a refused sign-out ended the session"
    st, h, sc, _ = b.request("POST", "/logout", {"csrf": csrf})
    assert st == 303 and h["location"] == "/login", (st, h)
    assert "Max-Age=0" in sc.get("tk_session", ""), sc
    st, h, _, _ = b.request("GET", "/queues",
                            cookies={"tk_session": token})
    assert st == 303 and h["location"].startswith("/login"), (st, h)
    assert len(events(ctx, "signout")) == 1


def test_console_signin_refusals(ctx):
    keys = setup_accounts(ctx)
    b = Browser(ctx.port)
    f = keys["alice"]
    csrf, _, _ = login_form(b)
    # wrong password, wrong code, unknown login: one 401 message
    pages = []
    for form in ({"login": "alice", "password": "wrong horse battery",
                  "code": code(ctx, f, step=0)},
                 {"login": "alice", "password": PASSWORD, "code": "000000"},
                 {"login": "mallory", "password": PASSWORD,
                  "code": "123456"}):
        form["csrf"] = csrf
        st, _, sc, html = b.request("POST", "/login", form)
        assert st == 401, (st, html[:500])
        assert "tk_session" not in sc
        m = re.search(r'role="alert"[^>]*>(.*?)</div>', html, re.S)
        assert m, html[:1500]
        pages.append(m.group(1))
        for leak in ("bad_password", "bad_code", "unknown",
                     "no such", "not staff"):
            assert leak not in m.group(1).lower(), m.group(1)
    assert pages[0] == pages[1] == pages[2], pages
    assert reasons(ctx) == ["bad_password", "bad_code", "unknown_login"], \
        reasons(ctx)

    # without the form's CSRF token (or without the cookie): 403
    st, _, sc, html = b.request("POST", "/login", {
        "login": "alice", "password": PASSWORD, "code": "000000"})
    assert st == 403 and "tk_session" not in sc, st
    st, _, sc, _ = b.request("POST", "/login", {
        "csrf": csrf, "login": "alice", "password": PASSWORD,
        "code": "000000"}, cookies={})
    assert st == 403 and "tk_session" not in sc, st
    assert len(events(ctx, "console.csrf_refused")) == 2

    # a code used once is refused the second time
    c = code(ctx, f)
    for want in (303, 401):
        b2 = Browser(ctx.port)
        csrf2, _, _ = login_form(b2)
        st, _, _, _ = b2.request("POST", "/login", {
            "csrf": csrf2, "login": "alice", "password": PASSWORD,
            "code": c})
        assert st == want, (want, st)

    # signed in: a POST without the session's CSRF token changes nothing
    ctx.advance(90)  # fresh TOTP steps
    sign_in(ctx, b, f)
    st, _, _, html = b.request("POST", "/cases/new", {
        "subject": "jsmith", "action": "password_reset",
        "channel": "phone", "ticket": "INC-1", "reason_code":
        "forgot_password", "justification": "x"})
    assert st == 403, (st, html[:500])
    assert "did not come from twokey" in html
    st, cases = ctx.api("alice", "GET", "/v1/cases?subject=jsmith")
    assert st == 200 and cases["count"] == 0, cases
    assert len(events(ctx, "console.csrf_refused")) == 3


def test_console_signin_lockout(ctx):
    keys = setup_accounts(ctx)
    b = Browser(ctx.port)
    f = keys["alice"]
    csrf, _, _ = login_form(b)
    for i in range(5):
        st, _, _, html = b.request("POST", "/login", {
            "csrf": csrf, "login": "alice", "password": "nope nope nope",
            "code": "000000"})
        assert st == (401 if i < 4 else 429), (i, st)
    assert "locked until" in html, html[:1500]
    # locked: the right password and code are refused too
    st, _, sc, html = b.request("POST", "/login", {
        "csrf": csrf, "login": "alice", "password": PASSWORD,
        "code": code(ctx, f)})
    assert st == 429 and "tk_session" not in sc, st
    locked = events(ctx, "signin.locked")
    assert len(locked) == 1 and locked[0]["alert"], locked
    assert "locked" in reasons(ctx)
    # 15 minutes later it works
    ctx.advance(15 * 60 + 30)
    sign_in(ctx, b, f)


def test_console_session_idle(ctx):
    ctx.serve_args += ["--session-idle", "600", "--session-max", "3600"]
    keys = setup_accounts(ctx)
    b = Browser(ctx.port)
    sign_in(ctx, b, keys["alice"])
    ctx.advance(9 * 60)
    assert b.request("GET", "/queues")[0] == 200
    ctx.advance(11 * 60)
    st, h, _, _ = b.request("GET", "/queues?state=open")
    assert st == 303 and h["location"].startswith("/login?next="), (st, h)
    assert "queues" in urllib.parse.unquote(h["location"])
    exp = events(ctx, "session.expired")
    assert len(exp) == 1 and exp[0]["data"]["reason"] == "idle", exp


def test_console_account_cli(ctx):
    for words in (["account", "password"], ["account", "totp"]):
        r = harness.run_cli(words + ["--help"])
        assert r.returncode == 0 and "usage: twokey " + " ".join(words) \
            in r.stdout, r.stdout
    r = harness.run_cli(["account", "password", "--db", ctx.db])
    assert r.returncode == 2, r.returncode
    ctx.stop()
    # a generated password, printed once on stdout, works
    r = ctx.twokey("account", "password", "--db", ctx.db, "bob", env=FAST)
    assert r.returncode == 0, r.stderr
    pw = r.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){3}", pw), pw
    assert pw not in r.stderr
    r = ctx.twokey("account", "totp", "--db", ctx.db, "bob")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("otpauth://totp/"), lines[0]
    assert any("\u2580" in ln or "\u2584" in ln or "\u2588" in ln
               for ln in lines[1:]), "no QR code drawn"
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(lines[0]).query)
    s = q["secret"][0]
    f = {"key": base64.b32decode(s + "=" * (-len(s) % 8)), "last": -1}
    # refusals: not staff, too short
    r = ctx.twokey("account", "password", "--db", ctx.db, "jsmith",
                   env=FAST)
    assert r.returncode == 1 and "not staff" in r.stderr, r.stderr
    r = ctx.twokey("account", "password", "--db", ctx.db, "--stdin", "bob",
                   input="short\n", env=FAST)
    assert r.returncode == 1 and "12" in r.stderr, r.stderr
    ctx.start()
    b = Browser(ctx.port)
    sign_in(ctx, b, f, login="bob", password=pw)
    # a password change ends the sessions
    ctx.stop()
    r = ctx.twokey("account", "password", "--db", ctx.db, "bob", env=FAST)
    assert r.returncode == 0, r.stderr
    ctx.start()
    b.port = ctx.port  # a restarted server listens on a new port
    st, h, _, _ = b.request("GET", "/queues")
    assert st == 303, st


def make_cert(dirpath):
    cert = os.path.join(dirpath, "console.crt")
    key = os.path.join(dirpath, "console.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def test_console_cookie_secure_under_tls(ctx):
    keys = setup_accounts(ctx)
    ctx.stop()
    cert, key = make_cert(ctx.data)
    port = harness.free_port()
    log = open(os.path.join(ctx.data, "tls-console.stderr"), "wb")
    proc = subprocess.Popen(
        [harness.twokey_bin(), "serve", "--db", ctx.db, "--listen",
         "127.0.0.1:%d" % port, "--quiet", "--tls-cert", cert,
         "--tls-key", key], stdin=subprocess.DEVNULL, stdout=log,
        stderr=log, env=dict(os.environ,
                             TWOKEY_TEST_CLOCK_FILE=ctx.clock_file))
    log.close()
    try:
        b = Browser(port, tls_ca=cert)
        deadline = time.time() + 20
        while True:
            try:
                st, _, sc, html = b.request("GET", "/login")
                break
            except (OSError, http.client.HTTPException):
                assert proc.poll() is None, "TLS server exited"
                assert time.time() < deadline, "TLS server did not answer"
                time.sleep(0.1)
        assert st == 200, st
        assert "Secure" in sc["tk_pre"], sc
        form = {"csrf": hidden(html, "csrf"), "login": "alice",
                "password": PASSWORD, "code": code(ctx, keys["alice"])}
        st, _, sc, html = b.request("POST", "/login", form)
        assert st == 303, (st, html[:800])
        c = sc["tk_session"]
        for flag in ("Secure", "HttpOnly", "SameSite=Strict"):
            assert flag in c, c
        st, _, _, _ = b.request("GET", "/queues")
        assert st == 200, st
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_console_secure_cookies_behind_a_proxy(ctx):
    """--secure-cookies: twokey speaks plain HTTP to a TLS-terminating
    proxy, and the cookies it sets still carry Secure."""
    ctx.stop()
    ctx.serve_args = ["--secure-cookies"]
    ctx.start()
    b = Browser(ctx.port)
    st, _, sc, html = b.request("GET", "/login")
    assert st == 200, st
    assert "Secure" in sc["tk_pre"], sc
    ctx.stop()
    ctx.serve_args = []
    ctx.start()
    st, _, sc, html = Browser(ctx.port).request("GET", "/login")
    assert st == 200 and "Secure" not in sc["tk_pre"], sc
