"""test_conn_scim.py - the scim connector (issue 4) against a real SCIM 2.0
server: tests/servers/scim_server.js (scimmy + scimmy-routers on express,
installed by `scripts/deps.sh servers`) on a loopback port. What the
server stored is read through its /_test side-door, not through the
connector: disable / reactivate flip `active`, a password reset stores
the new password, group add / remove change the members, an unknown user
or a filter-injection subject changes nothing, the server's 400 / 500
detail reaches the message, a PATCH that never gets an answer is unknown
within the timeout, and a down server or a wrong token is a failure."""

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse

import conn_helpers
from harness import REPO, free_port

SERVERS = os.path.join(REPO, "tests", "servers")
TOKEN = "scim-test-token-5f2a9c"
SEED = {
    "users": [
        {"userName": "alice", "name": {"givenName": "Alice",
                                       "familyName": "Archer"},
         "active": True, "password": "Old-pass-1"},
        {"userName": "bob", "active": True},
    ],
    "groups": [
        {"displayName": "Finance Admins", "members": ["bob"]},
    ],
}


class ScimServer:
    """scim_server.js on a free loopback port; stop() always."""

    def __init__(self, tmp, seed=None):
        if not os.path.isdir(os.path.join(SERVERS, "node_modules")):
            raise AssertionError("tests/servers/node_modules is missing: "
                                 "run scripts/deps.sh servers")
        node = shutil.which("node")
        assert node, "node is not installed: run scripts/deps.sh servers"
        seed_path = os.path.join(tmp, "seed.json")
        with open(seed_path, "w") as f:
            json.dump(seed if seed is not None else SEED, f)
        env = dict(os.environ)
        env["SCIM_TOKEN"] = TOKEN
        self.port = None
        for _ in range(3):
            port = free_port()
            self.p = subprocess.Popen(
                [node, os.path.join(SERVERS, "scim_server.js"), str(port),
                 seed_path], stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, text=True)
            line = self.p.stdout.readline()
            if line.startswith("listening "):
                self.port = port
                break
            self.stop()
        if self.port is None:
            raise AssertionError("scim_server.js did not start: %r" % line)
        self.url = "http://127.0.0.1:%d/scim/v2" % self.port

    def side(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            hdrs = {"Content-Type": "application/json"} if body else {}
            c.request(method, path, body=json.dumps(body) if body else None,
                      headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return r.status, json.loads(data) if data else None
        finally:
            c.close()

    def user(self, name):
        st, u = self.side("GET", "/_test/users/" + urllib.parse.quote(name))
        assert st == 200, (st, u)
        return u

    def group(self, name):
        st, g = self.side("GET", "/_test/groups/" + urllib.parse.quote(name))
        assert st == 200, (st, g)
        return g

    def fault(self, **f):
        st, _ = self.side("POST", "/_test/fault", f or {})
        assert st == 200

    def requests(self):
        return self.side("GET", "/_test/requests")[1]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        if self.p.stdout:
            self.p.stdout.close()


class World:
    def __init__(self, seed=None):
        self.tmp = tempfile.mkdtemp(prefix="twokey-scim-")
        self.srv = None
        try:
            self.srv = ScimServer(self.tmp, seed)
            self.token_file = conn_helpers.secret_file(self.tmp, "token",
                                                       TOKEN)
        except BaseException:
            self.close()
            raise

    def config(self, url=None, token_file=None, timeout_ms=5000,
               can=None, **opts):
        o = {"url": url or self.srv.url,
             "token_file": token_file or self.token_file}
        o.update(opts)
        return {"name": "idp-scim", "kind": "scim", "timeout_ms": timeout_ms,
                "can": can or ["password_reset", "unlock", "reactivate",
                               "disable", "group_add", "group_remove"],
                "options": o}

    def run(self, op, subject, *args, config=None, **kw):
        return conn_helpers.run(self.tmp, config or self.config(), op,
                                subject, *args, **kw)

    def close(self):
        if self.srv:
            self.srv.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def test_scim_disable_then_reactivate(ctx):
    w = World()
    try:
        assert w.srv.user("alice")["active"] is True
        r = w.run("disable", "alice")
        assert r.outcome == "done", r
        assert "alice" in r.message and "disabled" in r.message, r
        assert w.srv.user("alice")["active"] is False
        assert w.srv.user("bob")["active"] is True  # nobody else
        patches = [q for q in w.srv.requests() if q["method"] == "PATCH"]
        assert len(patches) == 1, patches
        body = patches[0]["body"]
        assert body["schemas"] == [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"], body
        assert body["Operations"] == [
            {"op": "replace", "path": "active", "value": False}], body
        assert patches[0]["url"].endswith(w.srv.user("alice")["id"])
        # status() reads the user back: disabled is done, reactivate not
        assert w.run("disable", "alice", "--status").outcome == "done"
        assert w.run("reactivate", "alice", "--status").outcome == "failed"
        r = w.run("reactivate", "alice")
        assert r.outcome == "done", r
        assert w.srv.user("alice")["active"] is True
        r = w.run("unlock", "alice")
        assert r.outcome == "done" and "unlocked" in r.message, r
        assert w.run("reactivate", "alice", "--status").outcome == "done"
        # the password survived the active PATCHes
        assert w.srv.user("alice")["password"] == "Old-pass-1"
    finally:
        w.close()


REACT_SEED = {
    "users": [{"userName": "kim", "active": False},
              {"userName": "lee", "active": False},
              {"userName": "bob", "active": True}],
    "groups": [{"displayName": "staff", "members": ["kim", "lee", "bob"]},
               {"displayName": "vpn-users", "members": ["kim", "lee", "bob"]},
               {"displayName": "payroll", "members": ["bob"]}],
}


def test_scim_reactivate_keeps_only_approved_groups(ctx):
    # invariant 11: a restored account does not silently regain old
    # entitlements; params.keep_groups names what the case approved
    w = World(seed=REACT_SEED)
    try:
        kim = w.srv.user("kim")["id"]
        lee = w.srv.user("lee")["id"]
        bob = w.srv.user("bob")["id"]

        def members(g):
            return [m["value"] for m in w.srv.group(g).get("members", [])]

        n = len(w.srv.requests())
        r = w.run("reactivate", "kim", "--params", '{"keep_groups":"staff"}')
        assert r.outcome == "done", r
        assert "groups removed: vpn-users" in r.message, r
        assert "kept: staff" in r.message, r
        assert w.srv.user("kim")["active"] is True
        assert kim in members("staff") and kim not in members("vpn-users")
        # the group removal went before the user was enabled
        patches = [q for q in w.srv.requests()[n:] if q["method"] == "PATCH"]
        assert [p["url"].split("/")[-2] for p in patches] == \
            ["Groups", "Users"], patches
        assert patches[0]["body"]["Operations"] == [
            {"op": "remove", "path": 'members[value eq "%s"]' % kim}], patches
        # without keep_groups: member of none
        r = w.run("reactivate", "lee")
        assert r.outcome == "done" and "kept: none" in r.message, r
        assert "staff" in r.message and "vpn-users" in r.message, r
        assert w.srv.user("lee")["active"] is True
        assert lee not in members("staff") and lee not in members("vpn-users")
        # nobody else was touched
        assert bob in members("staff") and bob in members("vpn-users")
        assert members("payroll") == [bob]
        # a kept group the user is not in is not added (never grants)
        r = w.run("reactivate", "kim", "--params",
                  '{"keep_groups":"Staff, payroll"}')
        assert r.outcome == "done", r
        assert "groups removed: none" in r.message, r
        assert "not a member of payroll" in r.message, r
        assert "not added" in r.message and "role_grant" in r.message, r
        assert kim not in members("payroll") and kim in members("staff")
        # a malformed keep_groups: nothing is sent
        n = len(w.srv.requests())
        r = w.run("reactivate", "kim", "--params", '{"keep_groups":7}')
        assert r.outcome == "failed" and "nothing was sent" in r.message, r
        assert len(w.srv.requests()) == n
    finally:
        w.close()


def test_scim_reactivate_group_removal_fails_stays_inactive(ctx):
    w = World(seed=REACT_SEED)
    try:
        kim = w.srv.user("kim")["id"]
        w.srv.fault(method="PATCH", status=500, detail="group store down",
                    times=1)
        r = w.run("reactivate", "kim")
        assert r.outcome == "failed", r
        assert "group store down" in r.message, r
        assert "not reactivated" in r.message, r
        assert w.srv.user("kim")["active"] is False
        # a PATCH that gets no answer: unknown, and still inactive
        w.srv.fault(method="PATCH", hang=True, times=1)
        r = w.run("reactivate", "kim", config=w.config(timeout_ms=1500))
        assert r.outcome == "unknown", r
        assert w.srv.user("kim")["active"] is False
        w.srv.fault()
        # the group listing refused (the user lookup passes): nothing
        # changed at all
        n = len(w.srv.requests())
        w.srv.fault(method="GET", status=500, detail="no listing", skip=1,
                    times=1)
        r = w.run("reactivate", "kim")
        assert r.outcome == "failed", r
        assert "list the groups" in r.message and "no listing" in \
            r.message and "nothing was changed" in r.message, r
        assert not [q for q in w.srv.requests()[n:]
                    if q["method"] == "PATCH"]
        w.srv.fault()
        assert w.srv.user("kim")["active"] is False
        r = w.run("reactivate", "kim")
        assert r.outcome == "done", r
        assert w.srv.user("kim")["active"] is True
        for g in ("staff", "vpn-users"):
            assert kim not in [m["value"] for m in
                               w.srv.group(g).get("members", [])]
    finally:
        w.close()


def test_scim_password_reset(ctx):
    w = World()
    try:
        secret = 'Tmp-"q\\9$-pw'  # quotes and backslashes, JSON-escaped
        r = w.run("password_reset", "alice", "--secret", secret)
        assert r.outcome == "done", r
        assert w.srv.user("alice")["password"] == secret
        assert secret not in r.message and secret not in r.stderr
        # SCIM cannot say "must change at first use": the message says so
        assert "must-change" in r.message, r
        # status cannot tell for a password
        assert w.run("password_reset", "alice", "--status").outcome == \
            "unknown"
        # no secret, nothing sent
        n = len(w.srv.requests())
        r = w.run("password_reset", "alice")
        assert r.outcome == "failed" and "nothing was sent" in r.message, r
        assert len(w.srv.requests()) == n
    finally:
        w.close()


def test_scim_group_add_remove(ctx):
    w = World()
    try:
        alice = w.srv.user("alice")["id"]
        bob = w.srv.user("bob")["id"]

        def members():
            return sorted(m["value"] for m in
                          w.srv.group("Finance Admins").get("members", []))

        assert members() == [bob]
        r = w.run("group_add", "alice", "--group", "Finance Admins")
        assert r.outcome == "done", r
        assert members() == sorted([alice, bob])
        assert w.run("group_add", "alice", "--group", "Finance Admins",
                     "--status").outcome == "done"
        r = w.run("group_remove", "alice", "--group", "Finance Admins")
        assert r.outcome == "done", r
        assert members() == [bob]
        assert w.run("group_remove", "alice", "--group", "Finance Admins",
                     "--status").outcome == "done"
        assert w.run("group_add", "alice", "--group", "Finance Admins",
                     "--status").outcome == "failed"
        r = w.run("group_add", "alice", "--group", "No Such Group")
        assert r.outcome == "failed" and "no group" in r.message, r
        assert members() == [bob]
    finally:
        w.close()


def test_scim_unknown_user_and_filter_injection(ctx):
    # one user only: an unescaped `"a" or userName pr or ""` filter would
    # match exactly her, and the connector would change the wrong person
    w = World(seed={"users": [{"userName": "alice", "active": True}]})
    try:
        r = w.run("disable", "nobody")
        assert r.outcome == "failed", r
        assert "no user" in r.message and "nobody" in r.message, r
        evil = 'a" or userName pr or "'
        r = w.run("disable", evil)
        assert r.outcome == "failed", r
        assert "nothing was changed" in r.message, r
        assert w.srv.user("alice")["active"] is True
        filters = [q["filter"] for q in w.srv.requests() if q["filter"]]
        # RFC 7644 3.4.2.2: the value is a JSON string
        assert filters[-1] == 'userName eq "a\\" or userName pr or \\""', \
            filters
        assert not [q for q in w.srv.requests() if q["method"] == "PATCH"]
    finally:
        w.close()


def test_scim_server_errors(ctx):
    w = World()
    try:
        w.srv.fault(method="PATCH", status=400, scimType="invalidValue",
                    detail="active cannot change for this user class")
        r = w.run("disable", "alice")
        assert r.outcome == "failed", r
        assert "400" in r.message and "invalidValue" in r.message, r
        assert "active cannot change for this user class" in r.message, r
        w.srv.fault(method="PATCH", status=500,
                    detail="directory backend unavailable")
        r = w.run("disable", "alice")
        assert r.outcome == "failed", r
        assert "500" in r.message, r
        assert "directory backend unavailable" in r.message, r
        w.srv.fault()
        assert w.srv.user("alice")["active"] is True
        # a password never shows up in a refusal
        w.srv.fault(method="PATCH", status=400, detail="nope")
        r = w.run("password_reset", "alice", "--secret", "Zz-91-secret")
        assert r.outcome == "failed" and "Zz-91-secret" not in r.message
    finally:
        w.close()


def test_scim_hang_is_unknown(ctx):
    w = World()
    try:
        w.srv.fault(method="PATCH", hang=True)
        r = w.run("disable", "alice", config=w.config(timeout_ms=1500))
        assert r.outcome == "unknown", r
        assert r.elapsed < 1.5 + 2, r.elapsed
        assert "may or may not" in r.message, r
        # a lookup that hangs changed nothing: failed, not unknown
        w.srv.fault(hang=True)
        r = w.run("disable", "alice", config=w.config(timeout_ms=1500))
        assert r.outcome == "failed", r
        assert r.elapsed < 1.5 + 2, r.elapsed
        assert "nothing was changed" in r.message, r
    finally:
        w.close()


def test_scim_down_and_wrong_token(ctx):
    w = World()
    try:
        down = "http://127.0.0.1:%d/scim/v2" % free_port()
        r = w.run("disable", "alice", config=w.config(url=down))
        assert r.outcome == "failed", r
        assert "could not be reached" in r.message, r
        bad = conn_helpers.secret_file(w.tmp, "bad", "not-the-token")
        r = w.run("disable", "alice", config=w.config(token_file=bad))
        assert r.outcome == "failed", r
        assert "401" in r.message, r
        assert w.srv.user("alice")["active"] is True
        # the token never appears in a message
        assert TOKEN not in r.message
    finally:
        w.close()


def test_scim_config_refusals(ctx):
    w = World()
    try:
        # mfa_reset needs a server-specific attribute path
        r = w.run("mfa_reset", "alice", config=w.config(can=["mfa_reset"]))
        assert r.rc == 3 and "mfa_patch_path" in r.stderr, r
        # a token file others can read is refused
        os.chmod(w.token_file, 0o644)
        r = w.run("disable", "alice")
        assert r.rc == 3 and "chmod 600" in r.stderr, r
        os.chmod(w.token_file, 0o600)
        r = w.run("disable", "alice", config=w.config(url="ftp://x/scim"))
        assert r.rc == 3 and "http://" in r.stderr, r
        # secret_rotate is not a SCIM operation
        r = w.run("secret_rotate", "alice",
                  config=w.config(can=["secret_rotate"]))
        assert r.rc == 3 and "cannot do secret_rotate" in r.stderr, r
        # nor credential_expire: SCIM cannot tell whether a temporary
        # password was changed, so it does not offer to expire one
        r = w.run("credential_expire", "alice",
                  config=w.config(can=["credential_expire"]))
        assert r.rc == 3 and "cannot do credential_expire" in r.stderr, r
        assert "remove it from" in r.stderr, r
    finally:
        w.close()
