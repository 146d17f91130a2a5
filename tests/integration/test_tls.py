"""test_tls.py - `twokey serve --tls-cert FILE --tls-key FILE`: HTTPS served
by twokey itself (libmicrohttpd with GnuTLS), a certificate made here with
the openssl command line, and the errors a person gets when the files are
wrong."""

import http.client
import os
import ssl
import subprocess
import time

import harness


def make_cert(dirpath, name="server"):
    cert = os.path.join(dirpath, name + ".crt")
    key = os.path.join(dirpath, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def serve(ctx, *args):
    port = harness.free_port()
    err = open(os.path.join(ctx.data, "tls.stderr"), "wb")
    proc = subprocess.Popen(
        [harness.twokey_bin(), "serve", "--db", ctx.db, "--listen",
         "127.0.0.1:%d" % port, "--quiet"] + list(args),
        stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    err.close()
    return proc, port


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def https_get(port, cafile, path, timeout=5):
    sc = ssl.create_default_context(cafile=cafile)
    c = http.client.HTTPSConnection("127.0.0.1", port, context=sc,
                                    timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def wait_https(proc, port, cafile):
    deadline = time.time() + harness.START_TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("server exited with %d" % proc.returncode)
        try:
            return https_get(port, cafile, "/v1/health")
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    raise AssertionError("no HTTPS answer within the start timeout")


def test_tls_serves_https(ctx):
    ctx.stop()
    cert, key = make_cert(ctx.data)
    proc, port = serve(ctx, "--tls-cert", cert, "--tls-key", key)
    try:
        st, headers, body = wait_https(proc, port, cert)
        assert st == 200, (st, body)
        assert b'"ok"' in body or b"ok" in body, body
        assert headers.get("Strict-Transport-Security", "").startswith(
            "max-age="), headers
        # a token works over TLS as over plain HTTP
        sc = ssl.create_default_context(cafile=cert)
        c = http.client.HTTPSConnection("127.0.0.1", port, context=sc,
                                        timeout=5)
        c.request("GET", "/v1/me", headers={
            "Authorization": "Bearer " + ctx.tokens["alice"]})
        r = c.getresponse()
        me = r.read()
        c.close()
        assert r.status == 200 and b"alice" in me, (r.status, me)
        # plain HTTP to the TLS port gets no HTTP answer
        p = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            p.request("GET", "/v1/health")
            plain = p.getresponse().status
        except (OSError, http.client.HTTPException):
            plain = None
        finally:
            p.close()
        assert plain is None or plain >= 400, plain
    finally:
        stop(proc)


def test_tls_errors_are_clear(ctx):
    ctx.stop()
    cert, key = make_cert(ctx.data)
    _, other_key = make_cert(ctx.data, "other")
    # one without the other
    r = harness.run_cli(["serve", "--db", ctx.db, "--listen",
                         "127.0.0.1:%d" % harness.free_port(),
                         "--tls-cert", cert])
    assert r.returncode != 0
    assert "--tls-cert and --tls-key go together" in r.stderr, r.stderr
    # a missing file names the file
    missing = os.path.join(ctx.data, "nope.key")
    r = harness.run_cli(["serve", "--db", ctx.db, "--listen",
                         "127.0.0.1:%d" % harness.free_port(),
                         "--tls-cert", cert, "--tls-key", missing])
    assert r.returncode != 0
    assert "cannot open TLS key" in r.stderr and missing in r.stderr, \
        r.stderr
    # not PEM
    junk = os.path.join(ctx.data, "junk.pem")
    with open(junk, "w") as f:
        f.write("hello\n")
    r = harness.run_cli(["serve", "--db", ctx.db, "--listen",
                         "127.0.0.1:%d" % harness.free_port(),
                         "--tls-cert", junk, "--tls-key", key])
    assert r.returncode != 0
    assert "is not PEM" in r.stderr, r.stderr
    # a key that does not match the certificate: refused at start
    r = harness.run_cli(["serve", "--db", ctx.db, "--listen",
                         "127.0.0.1:%d" % harness.free_port(),
                         "--tls-cert", cert, "--tls-key", other_key])
    assert r.returncode != 0
    assert "TLS certificate and key" in r.stderr, r.stderr
