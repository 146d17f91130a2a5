"""sms_gateway.py - a stand-in SMS gateway for twokey's tests: a threaded
http.server on 127.0.0.1 that records every POST. Standard library only.

    with SmsGateway(token=None, fail_status=None) as g:
        g.url                        # "http://127.0.0.1:PORT/send"
        ... send SMS ...
        g.messages()                 # [{"path", "headers", "body", "json",
                                     #   "authorization", "status"}]

token: when set, a POST without "Authorization: Bearer TOKEN" is answered
401 (and still recorded, with status 401). fail_status: answer every POST
with that status and a JSON error body; with echo=True the error body
repeats the request, as a careless gateway might. A POST elsewhere than
/send is answered 404. Accepted messages get 200 {"id": "sms-N"}.
"""

import http.server
import json
import threading

MAX_BODY = 64 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server's name
        g = self.server.gateway
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            self._answer(413, {"error": "too large"})
            return
        body = self.rfile.read(n).decode("utf-8", "replace")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        auth = self.headers.get("Authorization")
        rec = {"path": self.path, "headers": dict(self.headers.items()),
               "body": body, "json": parsed, "authorization": auth}
        if self.path != "/send":
            status, ans = 404, {"error": "no such endpoint"}
        elif g.token is not None and auth != "Bearer " + g.token:
            status, ans = 401, {"error": "bad or missing bearer token"}
        elif g.fail_status is not None:
            status = g.fail_status
            ans = {"error": "the gateway is broken today"}
            if g.echo:
                ans["request"] = body
        elif not isinstance(parsed, dict) or \
                not isinstance(parsed.get("to"), str) or \
                not isinstance(parsed.get("text"), str):
            status, ans = 400, {"error": "want {\"to\", \"text\"}"}
        else:
            status = 200
            ans = {"id": "sms-%d" % (len(g._records) + 1)}
        rec["status"] = status
        with g._lock:
            g._records.append(rec)
        self._answer(status, ans)

    def do_GET(self):  # noqa: N802
        self._answer(405, {"error": "POST only"})


class SmsGateway:
    def __init__(self, token=None, fail_status=None, echo=False):
        self.token = token
        self.fail_status = fail_status
        self.echo = echo
        self._records = []
        self._lock = threading.Lock()
        self._srv = None
        self._thread = None
        self.port = None
        self.url = None

    def start(self):
        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                    _Handler)
        self._srv.daemon_threads = True
        self._srv.gateway = self
        self.port = self._srv.server_address[1]
        self.url = "http://127.0.0.1:%d/send" % self.port
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def close(self):
        srv, self._srv = self._srv, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()
        return False

    def messages(self):
        """Every POST so far (accepted or not), oldest first."""
        with self._lock:
            return [dict(r) for r in self._records]
