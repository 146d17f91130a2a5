"""test_oidc.py - the console's OpenID Connect client (web/oidc.c, issue 5)
against a real provider: tests/servers/oidc_provider.js (oidc-provider,
installed by `scripts/deps.sh servers`) on a loopback port. No browser:
tests/conn/oidc_driver calls tk_oidc_begin and tk_oidc_finish, and this
file plays the browser with plain HTTP (cookies, redirects, the provider's
login form) up to the redirect to twokey's callback, whose code and state
it hands to the driver.

Asserted: a login returns the configured claim (RS256, confidential
client with client_secret_basic; ES256, public client with PKCE only);
the request carries S256 PKCE, state and nonce; a replayed state, a wrong
binding and a provider error are refused with a clear message; fresh=1
sends prompt=login&max_age=0, makes the provider ask again, and refuses
an authentication older than five minutes; a wrong client secret, an
issuer that does not match discovery and a provider that is down are
errors a person can act on."""

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import conn_helpers
import harness
from harness import REPO, free_port

SERVERS = os.path.join(REPO, "tests", "servers")
CLIENT_ID = "twokey-console"
SECRET = "oidc-test-secret-7d41"
ACCOUNTS = {
    "carol": {"password": "carol-pw",
              "claims": {"preferred_username": "carol",
                         "email": "carol@example.com", "name": "Carol"}},
    "dave": {"password": "dave-pw",
             "claims": {"preferred_username": "dave",
                        "email": "dave@example.com"}},
}


def driver_bin():
    d = os.environ.get("TWOKEY_OIDC_DRIVER")
    if not d:
        d = os.path.join(os.path.dirname(harness.twokey_bin()), "tests",
                         "oidc_driver")
    if not os.access(d, os.X_OK):
        raise harness.HarnessError(
            "oidc_driver not found (set TWOKEY_OIDC_DRIVER or build "
            "build/MODE/tests/oidc_driver): %r" % d)
    return d


class Provider:
    """oidc_provider.js on a free loopback port; stop() always."""

    def __init__(self, tmp, alg="RS256", secret=SECRET, port=None,
                 redirect_uri=None, kid="k1"):
        node = shutil.which("node")
        assert node, "node is not installed: run scripts/deps.sh servers"
        if not os.path.isdir(os.path.join(SERVERS, "node_modules",
                                          "oidc-provider")):
            raise AssertionError("tests/servers/node_modules/oidc-provider "
                                 "is missing: run scripts/deps.sh servers")
        self.p = None
        self.port = None
        self.redirect_uri = redirect_uri or \
            "http://127.0.0.1:%d/sso/callback" % free_port()
        line = ""
        want = port
        for _ in range(3):
            port = want or free_port()
            cfg = {"port": port, "issuer": "http://127.0.0.1:%d" % port,
                   "client_id": CLIENT_ID, "redirect_uri": self.redirect_uri,
                   "alg": alg, "kid": kid, "accounts": ACCOUNTS}
            if secret is not None:
                cfg["client_secret"] = secret
            path = os.path.join(tmp, "provider.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            self.p = subprocess.Popen(
                [node, os.path.join(SERVERS, "oidc_provider.js"), path],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, text=True, cwd=SERVERS)
            line = self.p.stdout.readline()
            if line.startswith("listening "):
                self.port = port
                break
            self.stop()
        if self.port is None:
            raise AssertionError("oidc_provider.js did not start: %r" % line)
        self.issuer = "http://127.0.0.1:%d" % self.port

    def auth_requests(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", "/_test/requests")
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def stop(self):
        if self.p is None:
            return
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        if self.p.stdout:
            self.p.stdout.close()
        self.p = None


class Browser:
    """Just enough of a browser for the provider: a cookie store (name ->
    value, path-less: one provider on one host), redirects followed by
    hand, the login form posted."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.prompts = []   # the prompt of each login page shown

    def request(self, method, url, body=None):
        u = urllib.parse.urlsplit(url)
        assert u.hostname == "127.0.0.1" and u.port == self.port, url
        path = u.path + ("?" + u.query if u.query else "")
        h = {}
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in
                                    self.cookies.items())
        if body is not None:
            body = urllib.parse.urlencode(body)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read().decode("utf-8", "replace")
            for k, v in r.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    val = rest.split(";", 1)[0]
                    if "expires=thu, 01 jan 1970" in v.lower() or val == "":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = val
            loc = r.getheader("Location")
            return r.status, loc, data
        finally:
            c.close()

    def login(self, url, redirect_uri, user="carol", password=None,
              auth_age=None, abort=False):
        """Follows url through the provider (logging in as user when it
        asks) to the redirect to redirect_uri; returns that redirect's
        query parameters."""
        base = "http://127.0.0.1:%d" % self.port
        for _ in range(12):
            st, loc, body = self.request("GET", url)
            if st == 200 and "/interaction/" in url:
                m = re.search(r'name="prompt" content="([^"]*)"', body)
                self.prompts.append(m.group(1) if m else None)
                if abort:
                    st, loc, body = self.request("GET", url + "/abort")
                else:
                    form = {"login": user,
                            "password": password or
                            ACCOUNTS[user]["password"]}
                    if auth_age is not None:
                        form["auth_age"] = str(auth_age)
                    st, loc, body = self.request("POST", url + "/login",
                                                 form)
            assert st in (302, 303) and loc, \
                "provider answered %s at %s: %s" % (st, url, body[:300])
            loc = urllib.parse.urljoin(url if url.startswith("http")
                                       else base, loc)
            if loc.startswith(redirect_uri):
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
                return {k: v[0] for k, v in q.items()}
            url = loc
        raise AssertionError("too many redirects at the provider")


class Driver:
    """oidc_driver with a configuration file; one JSON line in, one out."""

    def __init__(self, tmp, cfg_text, skew=None):
        self.path = os.path.join(tmp, "oidc.yaml")
        with open(self.path, "w") as f:
            f.write(cfg_text)
        args = [driver_bin(), self.path]
        if skew is not None:
            args += ["--skew", str(skew)]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def call(self, obj):
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line, "oidc_driver died: %s" % self.p.stderr.read()
        return json.loads(line)

    def begin(self, fresh=False, nxt="/queues"):
        return self.call({"begin": {"fresh": fresh, "next": nxt}})

    def finish(self, **kw):
        return self.call(kw)

    def close(self):
        """Ends the driver; asserts a clean exit (sanitizers report
        through the exit code and stderr)."""
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                rc = self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
                raise AssertionError("oidc_driver did not exit")
        else:
            rc = self.p.returncode
        err = self.p.stderr.read()
        self.p.stdout.close()
        self.p.stderr.close()
        assert rc == 0, "oidc_driver exited %s: %s" % (rc, err)


class World:
    def __init__(self, alg="RS256", secret=SECRET, secret_in_file=None,
                 claim=None, issuer=None, skew=None):
        self.tmp = tempfile.mkdtemp(prefix="twokey-oidc-")
        self.prov = self.drv = None
        try:
            self.prov = Provider(self.tmp, alg=alg, secret=secret)
            cfg = ("issuer: %s\nclient_id: %s\nredirect_uri: %s\n"
                   % (issuer or self.prov.issuer, CLIENT_ID,
                      self.prov.redirect_uri))
            if secret is not None:
                cfg += "client_secret_file: %s\n" % conn_helpers.secret_file(
                    self.tmp, "client.secret", secret_in_file or secret)
            if claim:
                cfg += "claim: %s\n" % claim
            self.drv = Driver(self.tmp, cfg, skew=skew)
            self.browser = Browser(self.prov.port)
        except BaseException:
            self.close()
            raise

    def login(self, fresh=False, nxt="/queues", **kw):
        """begin, the provider round trip; returns (begin, callback)."""
        b = self.drv.begin(fresh=fresh, nxt=nxt)
        assert b["ok"], b
        cb = self.browser.login(b["url"], self.prov.redirect_uri, **kw)
        return b, cb

    def close(self):
        try:
            if self.drv:
                self.drv.close()
        finally:
            if self.prov:
                self.prov.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)


def _refused(r, words):
    assert r["ok"] is False, "expected a refusal, got %r" % (r,)
    assert words in r["message"], r
    assert r["status"] == "unauthenticated", r


def test_oidc_login_rs256_and_replay(ctx):
    w = World()
    try:
        t0 = int(time.time())
        b, cb = w.login(nxt="/cases/7")
        # the authorization request twokey built
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(b["url"]).query)
        q = {k: v[0] for k, v in q.items()}
        assert b["url"].startswith(w.prov.issuer + "/auth?"), b
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
        assert q["redirect_uri"] == w.prov.redirect_uri
        assert q["scope"] == "openid profile"
        assert q["code_challenge_method"] == "S256"
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", q["code_challenge"]), q
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", q["state"]), q
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", q["nonce"]), q
        assert "prompt" not in q and "max_age" not in q, q
        assert len(b["binding"]) >= 22 and b["binding"] not in b["url"]
        assert w.browser.prompts == ["login"]
        assert cb["state"] == q["state"] and cb.get("code"), cb
        # the provider saw the same request
        seen = w.prov.auth_requests()
        assert seen and seen[0]["code_challenge"] == q["code_challenge"]

        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        assert r["ok"], r
        assert r["login"] == "carol" and r["next"] == "/cases/7", r
        assert r["fresh"] is False
        assert t0 - 5 <= r["auth_time"] <= int(time.time()) + 5, r

        # the same callback again: the login in flight is used up
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        _refused(r, "unknown, already used")
        # a state that was never issued
        r = w.drv.finish(state="A" * 22, code=cb["code"],
                         binding=b["binding"])
        _refused(r, "unknown, already used")
    finally:
        w.close()


def test_oidc_wrong_binding(ctx):
    w = World()
    try:
        b, cb = w.login()
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding="x" + b["binding"][1:])
        _refused(r, "another browser")
        # used up by the failed attempt, even with the right binding now
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        _refused(r, "unknown, already used")
        # and no binding at all
        b, cb = w.login()
        r = w.drv.finish(state=cb["state"], code=cb["code"])
        _refused(r, "another browser")
    finally:
        w.close()


def test_oidc_es256_public_client_other_claim(ctx):
    w = World(alg="ES256", secret=None, claim="email")
    try:
        b, cb = w.login(user="dave")
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        assert r["ok"], r
        assert r["login"] == "dave@example.com", r
        # another browser (no session at the provider) in the same
        # twokey: the cached discovery and keys are used again
        w.browser = Browser(w.prov.port)
        b, cb = w.login()
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        assert r["ok"] and r["login"] == "carol@example.com", r
    finally:
        w.close()


def test_oidc_fresh_checks_auth_time(ctx):
    w = World()
    try:
        # a first login leaves a session at the provider
        b, cb = w.login()
        assert w.drv.finish(state=cb["state"], code=cb["code"],
                            binding=b["binding"])["ok"]
        # without fresh, the provider does not ask again
        b, cb = w.login()
        assert w.browser.prompts == ["login"], w.browser.prompts
        assert w.drv.finish(state=cb["state"], code=cb["code"],
                            binding=b["binding"])["ok"]
        # fresh: prompt=login&max_age=0, and the provider asks again
        b, cb = w.login(fresh=True, nxt="/cases/9")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(b["url"]).query)
        assert q["prompt"] == ["login"] and q["max_age"] == ["0"], q
        assert w.browser.prompts == ["login", "login"], w.browser.prompts
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        assert r["ok"] and r["fresh"] is True and r["next"] == "/cases/9", r
        assert abs(r["auth_time"] - time.time()) < 30, r
        # fresh, but the provider reports an authentication 400 s old
        b, cb = w.login(fresh=True, auth_age=400)
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        _refused(r, "auth_time is too old")
        # the same old authentication is fine for a plain login
        b, cb = w.login(fresh=False)
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        assert r["ok"] and r["fresh"] is False, r
    finally:
        w.close()


def test_oidc_provider_error_and_bad_secret(ctx):
    w = World()
    try:
        b, cb = w.login(abort=True)
        assert cb.get("error") == "access_denied", cb
        r = w.drv.finish(state=cb["state"], error=cb["error"],
                         binding=b["binding"])
        _refused(r, "did not sign you in (access_denied)")
    finally:
        w.close()
    w = World(secret_in_file="not-the-secret")
    try:
        b, cb = w.login()
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        _refused(r, "refused to exchange the sign-in code (HTTP 401, "
                 "invalid_client")
        assert "not-the-secret" not in r["message"]
    finally:
        w.close()


def test_oidc_discovery_errors(ctx):
    tmp = tempfile.mkdtemp(prefix="twokey-oidc-")
    prov = None
    try:
        prov = Provider(tmp)
        # an issuer that differs from what the provider says (trailing /)
        d = Driver(tmp, "issuer: %s/\nclient_id: %s\nredirect_uri: %s\n"
                   % (prov.issuer, CLIENT_ID, prov.redirect_uri))
        try:
            r = d.begin()
            assert r["ok"] is False and "calls itself" in r["message"], r
        finally:
            d.close()
        # nothing listening: a quick, clear failure
        d = Driver(tmp, "issuer: http://127.0.0.1:%d\nclient_id: x\n"
                   "redirect_uri: %s\n" % (free_port(), prov.redirect_uri))
        try:
            t0 = time.monotonic()
            r = d.begin()
            assert r["ok"] is False and "did not answer" in r["message"], r
            assert time.monotonic() - t0 < 12
        finally:
            d.close()
        # a bad configuration file never starts
        p = subprocess.run([driver_bin(), os.path.join(tmp, "none.yaml")],
                           capture_output=True, text=True, timeout=30,
                           input="")
        assert p.returncode == 3 and "cannot open OIDC file" in p.stdout, p
    finally:
        if prov:
            prov.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_oidc_key_rotation(ctx):
    """A provider that rotates its signing key (new kid): twokey refetches
    the JWKS on the unknown kid, but at most once a minute."""
    w = World()
    try:
        b, cb = w.login()
        assert w.drv.finish(state=cb["state"], code=cb["code"],
                            binding=b["binding"])["ok"]
        # the same provider restarted with a new key under a new kid
        port, redirect = w.prov.port, w.prov.redirect_uri
        w.prov.stop()
        w.prov = Provider(w.tmp, port=port, redirect_uri=redirect,
                          kid="k2")
        w.browser = Browser(port)
        # the keys were fetched moments ago: no refetch yet
        b, cb = w.login()
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        _refused(r, 'key "k2", which the provider does not publish')
        # a minute later (the driver's clock moved) the kid is looked up
        assert w.drv.call({"skew": 61})["ok"]
        w.browser = Browser(port)
        b, cb = w.login()
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        assert r["ok"] and r["login"] == "carol", r
    finally:
        w.close()


def test_oidc_in_flight_table_is_bounded(ctx):
    """Logins begun from several threads at once all get their own state;
    past 1024 logins in flight the oldest is forgotten, not the newest."""
    w = World()
    try:
        b_old = w.drv.begin()
        assert b_old["ok"], b_old
        r = w.drv.call({"flood": 1100, "threads": 4})
        assert r == {"ok": True, "distinct": 1100}, r
        b_new, cb_new = w.login()
        cb_old = w.browser.login(b_old["url"], w.prov.redirect_uri)
        r = w.drv.finish(state=cb_old["state"], code=cb_old["code"],
                         binding=b_old["binding"])
        _refused(r, "unknown, already used or too old")
        r = w.drv.finish(state=cb_new["state"], code=cb_new["code"],
                         binding=b_new["binding"])
        assert r["ok"] and r["login"] == "carol", r
    finally:
        w.close()
