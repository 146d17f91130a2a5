"""test_console_sso.py - the console's single sign-on front door
(web/console.c: /login/sso, /sso/callback, /sso/continue) over HTTP against
a real provider (tests/servers/oidc_provider.js, as in test_oidc.py) and the
real server started with --oidc.

Asserted: a fresh login (re-authentication) ends on a /sso/continue?t=...
link that only the browser which went through the provider can use. The
same link opened in another browser (say, sent to a colleague by someone
who signed in to the provider as themselves) signs nobody in and sets no
session cookie: otherwise anyone could sign a victim's browser in as
themselves (login CSRF) or swap the victim's session for their own. The
browser that started the login still finishes it and is signed in. A fresh
login's auth_time must not be older than the request that asked for it
(web/oidc.c, through tests/conn/oidc_driver as in test_oidc.py)."""

import os
import re
import urllib.parse

import conn_helpers
from test_console_signin import Browser
from test_oidc import CLIENT_ID, SECRET, Browser as ProviderBrowser, Provider


def _start(ctx):
    prov = Provider(ctx.tmp)
    cfg = os.path.join(ctx.tmp, "oidc.yaml")
    with open(cfg, "w") as f:
        f.write("issuer: %s\nclient_id: %s\nredirect_uri: %s\n"
                "client_secret_file: %s\n"
                % (prov.issuer, CLIENT_ID, prov.redirect_uri,
                   conn_helpers.secret_file(ctx.tmp, "client.secret",
                                            SECRET)))
    ctx.serve_args += ["--oidc", cfg]
    ctx.restart()
    return prov


def _fresh_ticket(ctx, prov, b):
    """A fresh SSO login by browser b up to the callback's page; returns
    the /sso/continue link that page moves on to."""
    st, h, _, body = b.request("GET", "/login/sso?fresh=1&next=/queues")
    assert st == 302, (st, body[:500])
    assert "tk_oidc" in b.cookies, b.cookies
    cb = ProviderBrowser(prov.port).login(h["location"], prov.redirect_uri,
                                          user="carol")
    st, _, _, page = b.request("GET", "/sso/callback?" +
                               urllib.parse.urlencode(cb))
    assert st == 200, (st, page[:1500])
    m = re.search(r'content="0;url=(/sso/continue\?t=[A-Za-z0-9_-]+)"',
                  page)
    assert m, page[:1500]
    return m.group(1)


def test_sso_continue_only_in_the_browser_that_logged_in(ctx):
    prov = _start(ctx)
    try:
        mine = Browser(ctx.port)
        link = _fresh_ticket(ctx, prov, mine)

        # another browser (no cookies of this login) opens the link
        other = Browser(ctx.port)
        st, h, sc, page = other.request("GET", link)
        assert st == 401, (st, h.get("location"), page[:800])
        assert "tk_session" not in other.cookies, sc
        assert not any(v.startswith("tk_session=") and
                       not re.search(r"Max-Age=0", v)
                       for v in sc.values()), sc

        # the browser that went through the provider finishes it
        st, h, sc, page = mine.request("GET", link)
        assert st == 303 and h.get("location") == "/queues", \
            (st, h.get("location"), page[:800])
        assert "tk_session" in mine.cookies, sc
        st, _, _, page = mine.request("GET", "/queues")
        assert st == 200 and "carol" in page.lower(), (st, page[:800])

        # used once
        st, _, _, _ = mine.request("GET", link)
        assert st == 401
    finally:
        prov.stop()


def test_fresh_login_must_be_newer_than_its_request(ctx):
    """A re-authentication proves someone signed in at the provider after
    twokey asked: an auth_time from before the request (a provider that
    kept an earlier login despite prompt=login&max_age=0) is refused,
    however recent."""
    from test_oidc import World, _refused

    w = World()
    try:
        b, cb = w.login(fresh=True, auth_age=150)
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        _refused(r, "auth_time is too old")
        # a login made after the request still counts
        b, cb = w.login(fresh=True)
        r = w.drv.finish(state=cb["state"], code=cb["code"],
                         binding=b["binding"])
        assert r["ok"] and r["fresh"] is True, r
    finally:
        w.close()
