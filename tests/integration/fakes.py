"""Local fake subscribers for the delivery-engine tests, and delivery helpers.

A FakeSubscriber is a threaded HTTP/1.1 (keep-alive) server on a free 127.0.0.1 port, plain or
TLS, that records every request (method, path, headers, raw body bytes, arrival time) and
answers according to a scripted behaviour:

    fake = FakeSubscriber(ok())                       # always 200
    fake = FakeSubscriber(fail_then_ok(1, 500))       # 500, then 200 (per webhook-id)
    fake = FakeSubscriber(hang(5.0, times=1))         # first request sleeps 5 s, then 200s
    fake = FakeSubscriber(status(410))
    fake = FakeSubscriber(retry_after(1))             # 429 + Retry-After: 1, then 200
    fake = FakeSubscriber(text("x" * 5000))           # plain text answer (commands)
    fake = FakeSubscriber(json_reply({"message": "done"}))
    fake = FakeSubscriber(ok(), tls=(certfile, keyfile))
    fake.url, fake.requests, fake.wait_for(n, timeout), fake.close()

`fake.behaviour` may be swapped while the server runs. The `fakes` fixture (import it into a
test module: `from fakes import fakes`) makes fakes that are closed after the test.
make_test_pki() writes a test CA and server certificates with the openssl CLI. Tenant wraps the
tenant-side delivery routes; assert_signed() checks X-Hub-Signature-256 and the Standard
Webhooks signatures independently of the server. ChatWidget and WidgetSession (at the end) set
up a tenant's widget and call its session routes, for the widget message and SSE tests. Only
the standard library, pytest and `requests` are used.
"""

import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

# --------------------------------------------------------------------------------------------
# recorded requests and scripted replies


class Recorded:
    """One request as the fake saw it."""

    def __init__(self, method, path, headers, body, t, wall, conn, index, nth):
        self.method = method
        self.path = path
        self.headers = headers  # http.client.HTTPMessage: case-insensitive .get()
        self.body = body        # raw bytes
        self.t = t              # time.monotonic() when the whole request had arrived
        self.wall = wall        # time.time() at the same moment
        self.conn = conn        # number of the TCP connection it came on (1, 2, ...)
        self.index = index      # 0-based position among all requests of this fake
        self.nth = nth          # 0-based position among requests with the same webhook-id
        self.answered_at = None  # time.monotonic() once the whole answer was written

    def header(self, name, default=None):
        return self.headers.get(name, default)

    @property
    def webhook_id(self):
        return self.headers.get("webhook-id")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Recorded %s %s id=%s t=%.3f body=%r>" % (
            self.method, self.path, self.webhook_id, self.t, self.body[:120])


class Reply:
    """What the fake answers. delay: seconds to wait before answering (cut short by close());
    drop: close the connection without answering."""

    def __init__(self, status=200, body=b"ok", headers=None, delay=0.0,
                 content_type="text/plain; charset=utf-8", drop=False):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.delay = delay
        self.content_type = content_type
        self.drop = drop


# behaviours: callables (recorded, fake) -> Reply

def ok(body="ok"):
    return lambda rec, fake: Reply(200, body)


def status(code, body=None, headers=None):
    body = body if body is not None else "status %d" % code
    return lambda rec, fake: Reply(code, body, headers)


def fail_then_ok(failures=1, code=500, body="boom", per_delivery=True):
    """`failures` answers with `code`, then 200. Counted per webhook-id when per_delivery
    (each delivery fails its first attempts), else over all requests of the fake."""
    def b(rec, fake):
        n = rec.nth if per_delivery else rec.index
        return Reply(code, body) if n < failures else Reply(200, "ok")
    return b


def always(code=500, body="boom"):
    return lambda rec, fake: Reply(code, body)


def hang(seconds=5.0, times=None, then=200):
    """Wait `seconds` before answering `then`; only the first `times` requests (per the whole
    fake) hang when times is given, the others answer at once."""
    def b(rec, fake):
        if times is None or rec.index < times:
            return Reply(then, "late", delay=seconds)
        return Reply(then, "ok")
    return b


def slow(seconds=1.0):
    return lambda rec, fake: Reply(200, "ok", delay=seconds)


def retry_after(seconds=1, times=1, per_delivery=True):
    """429 with Retry-After: seconds for the first `times` attempts, then 200."""
    def b(rec, fake):
        n = rec.nth if per_delivery else rec.index
        if n < times:
            return Reply(429, "slow down", {"Retry-After": str(seconds)})
        return Reply(200, "ok")
    return b


def redirect(location, code=302):
    return lambda rec, fake: Reply(code, "moved", {"Location": location})


def text(s, code=200):
    return lambda rec, fake: Reply(code, s)


def json_reply(obj, code=200):
    raw = json.dumps(obj).encode("utf-8")
    return lambda rec, fake: Reply(code, raw, content_type="application/json")


def sequence(*replies):
    """Answer replies[i] to the i-th request of the fake; the last one repeats."""
    def b(rec, fake):
        r = replies[min(rec.index, len(replies) - 1)]
        return r(rec, fake) if callable(r) else r
    return b


# --------------------------------------------------------------------------------------------
# the server


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection ends after this

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        fake = self.server.fake
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as e:
                fake._note_tls_error(e)
                raise
        super().setup()
        self.conn_no = self.server.fake._conn_number(self.request)

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        fake = self.server.fake
        body = self._read_body()
        rec = fake._record(self.command, self.path, self.headers, body, self.conn_no)
        try:
            reply = fake.behaviour(rec, fake)
        except Exception as e:  # a broken behaviour must show up, not hang the test
            reply = Reply(599, "fake behaviour raised %r" % e)
        if reply.delay:
            fake._closing.wait(reply.delay)
        if reply.drop or fake._closing.is_set():
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            self.wfile.flush()
            rec.answered_at = time.monotonic()
        except OSError:
            # the client gave up (timeout): nothing to answer to
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, fake, ssl_context, port=0):
        self.fake = fake
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        self.fake._accepted(sock)
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass  # client hang-ups and failed handshakes are expected in these tests


def server_ssl_context(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


class FakeSubscriber:
    """A recording HTTP(S) server on 127.0.0.1. tls: None, an ssl.SSLContext or (cert, key);
    port: 0 for a free one (or a given port, e.g. to come back after close())."""

    def __init__(self, behaviour=None, tls=None, path="/hook", port=0):
        self.behaviour = behaviour or ok()
        if isinstance(tls, (tuple, list)):
            tls = server_ssl_context(*tls)
        self.tls = tls
        self.path = path
        self.requests = []
        self.tls_errors = []
        self.connections = 0
        self._socks = []
        self._conn_ids = {}
        self._per_id = {}
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._srv = _Server(self, tls, port)
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # addresses -------------------------------------------------------------------------
    @property
    def base(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    @property
    def url(self):
        return self.base + self.path

    def url_for(self, path, host="127.0.0.1"):
        return "%s://%s:%d%s" % ("https" if self.tls else "http", host, self.port, path)

    # recording (called from handler threads) -------------------------------------------
    def _accepted(self, sock):
        with self._cond:
            self.connections += 1
            self._socks.append(sock)
            self._conn_ids[id(sock)] = self.connections

    def _conn_number(self, sock):
        with self._cond:
            return self._conn_ids.get(id(sock), self.connections)

    def _note_tls_error(self, e):
        with self._cond:
            self.tls_errors.append(repr(e))
            self._cond.notify_all()

    def _record(self, method, path, headers, body, conn):
        t, wall = time.monotonic(), time.time()
        with self._cond:
            wid = headers.get("webhook-id")
            nth = 0
            if wid is not None:
                nth = self._per_id.get(wid, 0)
                self._per_id[wid] = nth + 1
            rec = Recorded(method, path, headers, body, t, wall, conn, len(self.requests), nth)
            self.requests.append(rec)
            self._cond.notify_all()
        return rec

    # waiting ---------------------------------------------------------------------------
    def snapshot(self, pred=None):
        with self._cond:
            return [r for r in self.requests if pred is None or pred(r)]

    def count(self, pred=None):
        return len(self.snapshot(pred))

    def wait_for(self, n, timeout=10.0, pred=None):
        """The matching requests once there are at least n; AssertionError at timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if pred is None or pred(r)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "fake %s: expected %d request(s) within %.1f s, got %d: %r" % (
                            self.url, n, timeout, len(got), got[-5:]))
                self._cond.wait(min(left, 0.2))

    def wait_tls_error(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.tls_errors and time.monotonic() < deadline:
                self._cond.wait(0.1)
            return list(self.tls_errors)

    def stays_at(self, n, seconds, pred=None):
        """True when the number of matching requests is still n after `seconds`."""
        time.sleep(seconds)
        return self.count(pred) == n

    def by_id(self):
        out = {}
        for r in self.snapshot():
            out.setdefault(r.webhook_id, []).append(r)
        return out

    # lifecycle -------------------------------------------------------------------------
    def close(self):
        self._closing.set()
        self._srv.shutdown()
        self._srv.server_close()
        with self._cond:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------
# test certificates (openssl CLI)


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))


def make_test_pki(directory):
    """A test CA, a server certificate for 127.0.0.1/localhost signed by it, a self-signed
    certificate for 127.0.0.1/localhost and a CA-signed certificate for another host name.
    Returns a dict of file paths: ca, server, server_key, self_signed, self_signed_key,
    wrong_host, wrong_host_key."""
    os.makedirs(directory, exist_ok=True)
    d = directory

    def path(name):
        return os.path.join(d, name)

    days = "30"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", days,
             "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=switchboard test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=d)

    def leaf(name, cn, san, self_signed=False):
        ext = path(name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=%s\n" % san)
        if self_signed:
            _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", days,
                     "-keyout", name + ".key", "-out", name + ".pem", "-subj", "/CN=" + cn,
                     "-addext", "subjectAltName=" + san,
                     "-addext", "extendedKeyUsage=serverAuth", cwd=d)
            return
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
                 "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", days, "-sha256", "-extfile", ext,
                 "-out", name + ".pem", cwd=d)

    leaf("server", "localhost", "IP:127.0.0.1,DNS:localhost")
    leaf("selfsigned", "localhost", "IP:127.0.0.1,DNS:localhost", self_signed=True)
    leaf("wronghost", "wrong.example", "DNS:wrong.example")
    return {
        "ca": path("ca.pem"),
        "server": path("server.pem"), "server_key": path("server.key"),
        "self_signed": path("selfsigned.pem"), "self_signed_key": path("selfsigned.key"),
        "wrong_host": path("wronghost.pem"), "wrong_host_key": path("wronghost.key"),
    }


# --------------------------------------------------------------------------------------------
# contract helpers: signatures, envelopes, the tenant-side delivery API

SERVER_FLAGS = ("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1,1,1")

EVENTS = ("dialog_created", "dialog_reopened", "dialog_closed", "message_received",
          "message_sent", "message_intercepted", "yeni_chat", "yeni_ticket", "chat_kapandi",
          "ticket_cozuldu", "memnuniyet_puan", "operator_cevrimdisi", "endpoint_disabled")


def endpoint_id(url):
    """The contract's endpoint id: first 16 hex characters of SHA-256(URL)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def secret_key(secret):
    """HMAC key bytes of a `whsec_...` secret (Standard Webhooks)."""
    assert secret.startswith("whsec_"), secret
    raw = secret[len("whsec_"):]
    return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)


def std_signature(secret, wid, ts, body):
    mac = hmac.new(secret_key(secret), b"%s.%s.%s" % (wid.encode(), ts.encode(), body),
                   hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def hub_signature(secret, body):
    """X-Hub-Signature-256 as a Meta-style verifier checks it: keyed by the secret string as
    GET /api/webhooks/secret shows it ("whsec_..." included), not by its decoded bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_entries(rec):
    """The base64 parts of a `webhook-signature: v1,<a> v1,<b>` header, in order."""
    raw = rec.header("webhook-signature") or ""
    out = []
    for part in raw.split():
        version, _, sig = part.partition(",")
        assert version == "v1", "unexpected signature entry %r in %r" % (part, raw)
        out.append(sig)
    return out


def assert_signed(rec, secret, previous=None):
    """Check X-Hub-Signature-256 and the Standard Webhooks trio of one received request against
    the current secret (and, when given, a second v1 entry with the previous one)."""
    wid = rec.header("webhook-id")
    ts = rec.header("webhook-timestamp")
    assert wid, "webhook-id missing: %r" % dict(rec.headers)
    assert ts and ts.isdigit(), "webhook-timestamp must be unix seconds: %r" % ts
    assert abs(int(ts) - rec.wall) < 10, "webhook-timestamp %s is not this attempt's time" % ts
    assert rec.header("X-Hub-Signature-256") == hub_signature(secret, rec.body), \
        "X-Hub-Signature-256 does not verify with the current secret: %r" % (
            rec.header("X-Hub-Signature-256"),)
    sigs = signature_entries(rec)
    want_cur = std_signature(secret, wid, ts, rec.body)
    assert want_cur in sigs, "no v1 signature verifies with the current secret: %r" % sigs
    if previous is None:
        assert len(sigs) == 1, "one secret, one signature expected: %r" % sigs
    else:
        want_prev = std_signature(previous, wid, ts, rec.body)
        assert len(sigs) == 2, "after a rotation two v1 signatures are expected: %r" % sigs
        assert want_prev in sigs, "no v1 signature verifies with the previous secret: %r" % sigs
        assert sigs[0] == want_cur, "the current secret's signature comes first: %r" % sigs


def items_of(body):
    """A list whether the server answered a plain array or the pagination envelope."""
    if isinstance(body, dict) and "items" in body:
        return body["items"]
    return body


def utc_rfc3339(ts=None):
    ts = time.time() if ts is None else ts
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


class Tenant:
    """A tenant of a running switchboard and the delivery routes it can call."""

    def __init__(self, srv, name="deliveries", key=None):
        self.srv = srv
        if key is None:
            t = srv.create_tenant(name)
            self.id, key = t["id"], t["apiKey"]
        self.key = key

    def call(self, method, path, json=None, timeout=10, **kw):
        headers = {"X-API-Key": self.key}
        headers.update(kw.pop("headers", {}) or {})
        return self.srv.request(method, path, json=json, headers=headers, timeout=timeout, **kw)

    def on(self, srv):
        """The same tenant (same key) through another switchboard instance."""
        return Tenant(srv, key=self.key)

    def subscribe(self, mapping):
        r = self.call("PUT", "/api/webhooks/subscriptions", json=mapping)
        assert r.status_code in (200, 204), "PUT subscriptions: %d %r" % (
            r.status_code, r.text[:500])
        return r

    def subscriptions(self):
        r = self.call("GET", "/api/webhooks/subscriptions")
        assert r.status_code == 200, r.text
        return r.json()

    def secret(self):
        r = self.call("GET", "/api/webhooks/secret")
        assert r.status_code == 200, "GET secret: %d %r" % (r.status_code, r.text[:300])
        return r.json()

    def rotate(self):
        r = self.call("POST", "/api/webhooks/secret/rotate")
        assert r.status_code == 200, "rotate: %d %r" % (r.status_code, r.text[:300])
        return r.json()

    def emit(self, event="dialog_created", data=None):
        r = self.call("POST", "/api/webhooks/test", json={"event": event, "data": data or {}})
        assert r.status_code == 202, "POST /api/webhooks/test: %d %r" % (
            r.status_code, r.text[:500])
        return r.json()

    def command(self, command, args=None, data=None, timeout=10):
        body = {"command": command}
        if args is not None:
            body["args"] = args
        if data is not None:
            body["data"] = data
        return self.call("POST", "/api/commands", json=body, timeout=timeout)

    def endpoints(self):
        r = self.call("GET", "/api/webhooks/endpoints")
        assert r.status_code == 200, r.text
        return items_of(r.json())

    def endpoint(self, url):
        for e in self.endpoints():
            if e.get("url") == url:
                return e
        return None

    def attempts(self, url):
        r = self.call("GET", "/api/webhooks/endpoints/%s/attempts" % endpoint_id(url))
        assert r.status_code == 200, "attempts: %d %r" % (r.status_code, r.text[:300])
        return items_of(r.json())

    def wait_attempts(self, url, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            got = self.attempts(url)
            if len(got) >= n or time.monotonic() >= deadline:
                return got
            time.sleep(0.1)

    def dead_letters(self, page_size=100):
        r = self.call("GET", "/api/webhooks/dead-letters?page=1&pageSize=%d" % page_size)
        assert r.status_code == 200, "dead letters: %d %r" % (r.status_code, r.text[:300])
        return r.json()

    def wait_dead_letters(self, n, timeout=10.0, pred=None):
        deadline = time.monotonic() + timeout
        while True:
            got = [d for d in items_of(self.dead_letters()) if pred is None or pred(d)]
            if len(got) >= n or time.monotonic() >= deadline:
                return got
            time.sleep(0.1)

    def wait_endpoint(self, url, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            e = self.endpoint(url)
            if (e is not None and pred(e)) or time.monotonic() >= deadline:
                return e
            time.sleep(0.1)


@pytest.fixture
def fakes():
    """Factory fixture: fakes(behaviour=None, tls=None, path="/hook") -> FakeSubscriber; every
    fake made is closed after the test. Import it into a test module to use it."""
    made = []

    def make(behaviour=None, **kw):
        f = FakeSubscriber(behaviour or ok(), **kw)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


# --------------------------------------------------------------------------------------------
# widget sessions (docs/widget.md "Session routes"): a tenant with a widget and its session
# routes, shared by test_widget_messages.py and test_widget_sse.py

WIDGET_ORIGIN = "https://shop.example.com"


class ChatWidget:
    """A tenant (created, or the given create_tenant() dict) with one widget; with agent_url, the
    widget routes to a new agent of that tenant (agent_secret: its secret, else generated).
    .id, .tenant, .key (tenant API key), .agent (the POST answer, with its secret) or None."""

    def __init__(self, srv, name="widget-co", origins=(WIDGET_ORIGIN,), agent_url=None,
                 agent_secret=None, tenant=None, **fields):
        self.srv = srv
        self.tenant = tenant or srv.create_tenant(name)
        self.key = self.tenant["apiKey"]
        self.origin = origins[0] if origins else "https://any.example"
        self.agent = None
        base = "/api/admin/tenants/%s" % self.tenant["id"]
        body = {"name": "Shop chat", "allowedOrigins": list(origins)}
        if agent_url:
            a = {"name": "Bot", "webhookUrl": agent_url}
            if agent_secret:
                a["secret"] = agent_secret
            r = srv.admin("POST", base + "/agents", json=a)
            assert r.status_code == 201, "create agent: %d %r" % (r.status_code, r.text[:300])
            self.agent = r.json()
            body["agentId"] = self.agent["id"]
        body.update(fields)
        r = srv.admin("POST", base + "/widgets", json=body)
        assert r.status_code == 201, "create widget: %d %r" % (r.status_code, r.text[:300])
        self.id = r.json()["id"]

    def path(self, rest):
        return "/api/widget/%s%s" % (self.id, rest)

    def start(self, body=None, srv=None, **headers):
        headers.setdefault("Origin", self.origin)
        return (srv or self.srv).request("POST", self.path("/session/start"),
                                         json=body if body is not None else {}, headers=headers)

    def session(self, body=None, srv=None):
        r = self.start(body, srv)
        assert r.status_code == 201, "session/start: %d %r" % (r.status_code, r.text[:300])
        return WidgetSession(self, r.json())

    def api(self, method, path, json=None, srv=None, **kw):
        """A call of the tenant's native API (X-API-Key)."""
        headers = {"X-API-Key": self.key}
        headers.update(kw.pop("headers", {}) or {})
        return (srv or self.srv).request(method, path, json=json, headers=headers, **kw)


class WidgetSession:
    """A started widget session: .id, .token, .data (the session/start answer)."""

    def __init__(self, widget, data):
        self.widget = widget
        self.data = data
        self.id = data["sessionId"]
        self.token = data["token"]

    def headers(self, **extra):
        h = {"Authorization": "Bearer " + self.token, "Origin": self.widget.origin}
        h.update(extra)
        return h

    def post(self, body=None, srv=None, headers=None, **kw):
        """POST messages: body is a dict (sent as JSON) or str/bytes (sent as is)."""
        h = self.headers(**(headers or {}))
        srv = srv or self.widget.srv
        if isinstance(body, (str, bytes)):
            h.setdefault("Content-Type", "application/json")
            return srv.request("POST", self.widget.path("/messages"), data=body, headers=h, **kw)
        return srv.request("POST", self.widget.path("/messages"), json=body, headers=h, **kw)

    def say(self, text, srv=None):
        r = self.post({"text": text}, srv=srv)
        assert r.status_code == 201, "POST messages: %d %r" % (r.status_code, r.text[:300])
        return r.json()

    def messages(self, query="", srv=None, headers=None):
        h = self.headers(**(headers or {}))
        return (srv or self.widget.srv).request(
            "GET", self.widget.path("/messages") + (("?" + query) if query else ""), headers=h)

    def items(self, query="", srv=None):
        r = self.messages(query, srv=srv)
        assert r.status_code == 200, "GET messages: %d %r" % (r.status_code, r.text[:300])
        return r.json()["items"]
