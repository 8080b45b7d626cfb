"""The incoming "send" webhook (docs/incoming.md, seed 002, SPEC 9): a CRM or help desk POSTs
`{"action":"send", text, file_url?, file_name?, <one recipient>}` to the tenant's secret URL
`/api/incoming/{token}` and switchboard sends it through one of the tenant's WhatsApp accounts
(its `whatsapp` channel bindings; an account's phone is `config.displayPhone`).

Covered: each recipient kind (phone and jid open the number's conversation, with
dialog_created when it is new; chat_id and chat_name need an existing one and fix its account;
an ambiguous chat_name is 409, an unknown one 404); the account choice ("whatsapp account
phone", else the most recently created enabled account; disabled, unknown or no account); the
Cloud API requests (a text; a file downloaded from a local file server, uploaded to
`<graph base>/<phoneNumberId>/media` and sent by its media id as image, document or audio);
downloads that fail the message (over 2 MB, a web page, a status other than 200, no answer
within 10 s, a refused or blocked address) with the credits given back; credits (1 a message, 2
with a file and a text; 402 when the balance, less what queued messages hold, is short); the
account's incoming line (one send at a time, FIFO, a gap drawn from the window between sends,
across two instances sharing one Redis; operators' replies are not held up); disable, enable,
regenerate, purge; the activation log (the last 100, newest first, as a download); the URL's
rate limit; bad bodies (400 naming the member, the seed's envelope, nothing written); unknown
tokens (404 before the body is looked at); tenant isolation; the send records and what the
conversation and the subscribers see.

Black box against the real binary and a real redis-server: the Cloud API is a FakeSubscriber
(--graph-api-base, test_channels_outbound.Env), files come from a small threaded http.server
of this module, contacts write in through the signed WhatsApp webhook
(test_channels_inbound), results are read through the tenant API, the webhook's own routes, a
subscriber, and (for documented keys only) Redis."""

import hashlib
import http.server
import json
import re
import socket
import struct
import threading
import time
import zlib

import pytest

from fakes import Reply, fakes, items_of, ok, parse_rfc3339  # noqa: F401  (fakes: a fixture)
from fakes import SERVER_FLAGS, ChatWidget, Tenant
from sbhelpers import assert_problem, free_port, wait_until
from test_channels_inbound import (WA_APP_SECRET, WA_PHONE, WA_WABA, Bound, send_wa,
                                   wa_change, wa_payload, wa_text)
from test_channels_outbound import GRAPH_PREFIX, PACE_MS, WA_TOKEN, Env, jreply

pytestmark = pytest.mark.server

POLL = 8.0          # sends happen from the delivery engine: poll this long for outcomes
SETTLE = 1.0        # "nothing more happens": wait this long, then assert
SLACK = 0.05        # our reading of two arrival times on a busy machine

HOOK = "/api/incoming-webhook"
ACTIVATE = "/api/incoming/"
PREFIX = "wa_backend:"

PHONE_A = "+15550001111"           # displayPhone of the first account (WA_PHONE)
PHONE_B = "+15550002222"           # displayPhone of the second account
WA_PHONE_B = "106540352200002"
WA_WABA_B = "102290129300002"
UNKNOWN_ACCOUNT = "+15105566777"

PHONE_MSG = "'phone' must be + and 8 to 15 digits"
NO_ACCOUNT_MSG = "this workspace has no WhatsApp account enabled for the incoming webhook"
WEB_PAGE_MSG = "file_url returned a web page, not the file: use a direct download link"
TOO_BIG_MSG = "the file is larger than 2 MB"
MAX_FILE = 2 * 1024 * 1024
FINAL = ("sent", "failed", "expired", "purged")
HOLD = 600000       # an account window this wide keeps everything after the first send queued


# ---- files ----------------------------------------------------------------------------------

def png_bytes():
    """A valid 1x1 PNG."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + \
        chunk(b"IEND", b"")


PNG = png_bytes()
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x0f" + b"\xff\xfb\x90\x64" + b"\x00" * 400


class FileServer:
    """A threaded HTTP/1.1 file server on 127.0.0.1: add(path, body, content_type, status,
    length) -> URL. content_type None sends no Content-Type; length False sends no
    Content-Length (the body ends with the connection). Unknown paths answer 404. Every GET is
    recorded (hits(path))."""

    def __init__(self):
        self.files = {}
        self.requests = []
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                with owner._lock:
                    owner.requests.append(path)
                    f = owner.files.get(path)
                if f is None:
                    f = (404, "text/plain", b"no such file", True)
                code, ctype, body, length = f
                self.send_response(code)
                if ctype is not None:
                    self.send_header("Content-Type", ctype)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    for i in range(0, len(body), 65536):
                        self.wfile.write(body[i:i + 65536])
                    self.wfile.flush()
                except OSError:  # the downloader stopped reading (a file too large)
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def add(self, path, body, content_type="application/octet-stream", status=200, length=True):
        with self._lock:
            self.files[path] = (status, content_type, body, length)
        return self.url(path)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def hits(self, path=None):
        with self._lock:
            return [p for p in self.requests if path is None or p == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def files():
    srv = FileServer()
    yield srv
    srv.close()


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


# ---- the fake Cloud API ---------------------------------------------------------------------

def graph_ok(rec, fake):
    """Uploads answer a media id, sends a message id, both numbered by the request's index."""
    if rec.path.endswith("/media"):
        return jreply({"id": "media-%d" % rec.index})
    if rec.path.endswith("/messages"):
        return jreply({"messaging_product": "whatsapp", "contacts": [{"wa_id": "x"}],
                       "messages": [{"id": "wamid.OUT%d" % rec.index}]})
    return Reply(404, "no such fake route")


def is_send(rec):
    return rec.path.endswith("/messages")


def is_upload(rec):
    return rec.path.endswith("/media")


def digits(s):
    return re.sub(r"\D", "", s or "")


def multipart(rec):
    """{name: (bytes, {header: value})} of a multipart/form-data request."""
    ctype = rec.header("Content-Type") or ""
    assert ctype.lower().startswith("multipart/form-data"), "the upload is multipart: %r" % ctype
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    assert m, "multipart without a boundary: %r" % ctype
    sep = b"--" + m.group(1).encode()
    out = {}
    for part in rec.body.split(sep)[1:]:
        if part.startswith(b"--"):
            break
        part = part[2:] if part.startswith(b"\r\n") else part
        head, _, data = part.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        name = re.search(r'name="([^"]*)"', headers.get("content-disposition", ""))
        assert name, "a part without a name: %r" % headers
        out[name.group(1)] = (data, headers)
    return out


# ---- the tenant, its webhook and its accounts ------------------------------------------------

class Hook:
    """A switchboard (test_channels_outbound.Env: the Cloud API is `plat`), a tenant with an
    agent, one WhatsApp account (PHONE_A, unless account=False) and a subscriber of
    message_sent and dialog_created; the webhook is created (GET) and, with fast, its window
    set to 0..0 ms so that tests that are not about pacing need not wait for it."""

    def __init__(self, server, fakes, *extra, fast=True, account=True, balance=None):  # noqa: F811
        self.server = server
        self.extra = extra
        self.env = Env(server, fakes, *extra, subscribe=False)
        self.srv, self.b, self.tenant = self.env.srv, self.env.b, self.env.tenant
        self.plat = self.env.plat
        self.plat.behaviour = graph_ok
        self.events = fakes(ok())
        self.tenant.subscribe({self.events.url: ["message_sent", "dialog_created"]})
        self.ch = self.b.whatsapp(displayPhone=PHONE_A) if account else None
        self.fakes = fakes
        self.conf = self.get()
        self.token = self.conf["token"]
        if fast:
            self.put({"pacing": {"minGapMs": 0, "maxGapMs": 0}})
        if balance is not None:
            set_balance(self.srv, self.b.id, balance)

    # more instances and accounts -----------------------------------------------------------
    def another_instance(self):
        """A second switchboard on the same Redis and the same fake Cloud API."""
        return self.server(*SERVER_FLAGS, "--pace-ms", PACE_MS,
                           "--graph-api-base", self.plat.base + GRAPH_PREFIX, *self.extra)

    def second_account(self):
        time.sleep(0.05)  # "the most recently created": a later createdAt
        return self.b.whatsapp(label="second", phoneNumberId=WA_PHONE_B, wabaId=WA_WABA_B,
                               verifyToken="wa-verify-token-0002", displayPhone=PHONE_B)

    # the management routes -----------------------------------------------------------------
    def call(self, method, path="", json=None, srv=None, **kw):
        return self.tenant.on(srv).call(method, HOOK + path, json=json, **kw) if srv else \
            self.tenant.call(method, HOOK + path, json=json, **kw)

    def get(self):
        r = self.call("GET")
        assert r.status_code == 200, "GET %s: %d %r" % (HOOK, r.status_code, r.text[:300])
        return r.json()

    def put(self, body):
        r = self.call("PUT", json=body)
        assert r.status_code == 200, "PUT %s %r: %d %r" % (HOOK, body, r.status_code,
                                                           r.text[:300])
        return r.json()

    def hold(self, channel_id=None):
        """The account's window so wide that after its next send everything stays queued."""
        cid = channel_id or self.ch["id"]
        return self.put({"accounts": {cid: {"minGapMs": HOLD, "maxGapMs": HOLD}}})

    def account(self, channel_id=None):
        cid = channel_id or self.ch["id"]
        got = [a for a in self.get()["accounts"] if a["channelId"] == cid]
        assert len(got) == 1, "account %s listed once: %r" % (cid, self.get()["accounts"])
        return got[0]

    # activations ---------------------------------------------------------------------------
    def activate(self, body, srv=None, token=None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (srv or self.srv).request("POST", ACTIVATE + (token or self.token), data=raw,
                                         headers={"Content-Type": "application/json"})

    def send(self, srv=None, **body):
        """A good activation (action "send" added): its message id (with the prefix)."""
        body = dict({"action": "send"}, **body)
        return assert_queued(self.activate(body, srv=srv))

    # send records --------------------------------------------------------------------------
    def sends(self, query=""):
        r = self.call("GET", "/sends" + (("?" + query) if query else ""))
        assert r.status_code == 200, "GET sends: %d %r" % (r.status_code, r.text[:300])
        return items_of(r.json())

    def record(self, mid):
        r = self.call("GET", "/sends/" + mid)
        assert r.status_code == 200, "GET sends/%s: %d %r" % (mid, r.status_code, r.text[:300])
        return r.json()

    def wait_record(self, mid, statuses=FINAL, timeout=POLL):
        deadline = time.monotonic() + timeout
        while True:
            rec = self.record(mid)
            if rec.get("status") in statuses or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        assert rec.get("status") in statuses, "send %s: expected %s within %.0f s, got %r" % (
            mid, "/".join(statuses), timeout, rec)
        return rec

    def wait_stored(self, mid, timeout=POLL):
        """The record once the queue's consumer stored the message (docs/incoming.md "The two
        steps"): before that its conversationId and seq are null."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self.record(mid)
            if rec.get("seq") is not None or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        assert isinstance(rec.get("seq"), int) and rec.get("conversationId"), \
            "send %s: not stored as a conversation message within %.0f s: %r" % (mid, timeout, rec)
        return rec

    def credits(self):
        r = self.srv.tenant_api(self.b.key, "/api/credits")
        assert r.status_code == 200, "GET /api/credits: %d %r" % (r.status_code, r.text[:300])
        return r.json()

    # conversations -------------------------------------------------------------------------
    def conv_by_chat(self, chat, channel_id=None):
        cid = channel_id or self.ch["id"]
        got = [c for c in self.b.conversations()
               if c["chatId"] == chat and c["channelId"] == cid]
        assert len(got) <= 1, "one conversation per number and account: %r" % got
        return got[0] if got else None

    def message(self, rec):
        """The conversation's message of a send record (by its seq)."""
        got = [m for m in self.b.messages(rec["conversationId"]) if m.get("seq") == rec["seq"]]
        assert len(got) == 1, "the record's seq %r names one message: %r" % (
            rec["seq"], self.b.messages(rec["conversationId"]))
        return got[0]

    def wa_inbound(self, frm, name, mid, phone_number_id=WA_PHONE, waba=WA_WABA, text="merhaba"):
        """A contact writes in (signed WhatsApp webhook); returns the conversation."""
        payload = wa_payload((waba, [wa_change(messages=[wa_text(mid, frm, text)],
                                               contacts=[(frm, name)], phone=phone_number_id)]))
        r = send_wa(self.srv, payload, secret=WA_APP_SECRET)
        assert r.status_code == 200, "inbound WhatsApp: %d %r" % (r.status_code, r.text[:300])
        conv = wait_until(lambda: [c for c in self.b.conversations() if c["chatId"] == frm],
                          POLL)
        assert conv, "the contact's conversation: %r" % self.b.conversations()
        return conv[0]

    def graph_sends(self, pred=None):
        return self.plat.snapshot(lambda r: is_send(r) and (pred is None or pred(r)))

    def event(self, kind, n=1, timeout=POLL):
        recs = self.events.wait_for(n, timeout, pred=lambda r: r.json()["event_type"] == kind)
        return [r.json()["data"] for r in recs]


def set_balance(srv, tid, balance, expect=200):
    r = srv.admin("PUT", "/api/admin/tenants/%s/credits" % tid, json={"balance": balance})
    assert r.status_code == expect, "PUT credits %r: %d %r" % (balance, r.status_code,
                                                               r.text[:300])
    return r.json() if expect == 200 else r


def assert_json(r):
    ctype = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
    assert ctype == "application/json", "answers are JSON, got %r: %r" % (ctype, r.text[:200])
    return r.json()


def assert_envelope(r, status, message=None, mentions=(), prefix=None):
    """The seed's refusal: exactly {"status": N, "data": {}, "message": "..."}."""
    assert r.status_code == status, "expected %d, got %d %r" % (status, r.status_code,
                                                                r.text[:300])
    body = assert_json(r)
    assert isinstance(body, dict) and sorted(body) == ["data", "message", "status"], \
        "the seed's envelope {status, data, message}: %r" % body
    assert body["status"] == status and body["data"] == {}, body
    msg = body["message"]
    assert isinstance(msg, str) and msg, body
    if message is not None:
        assert msg == message, "message %r, expected %r" % (msg, message)
    if prefix is not None:
        assert msg.startswith(prefix), "message %r should start with %r" % (msg, prefix)
    for m in mentions:
        assert m in msg, "the message should name %r: %r" % (m, msg)
    return body


def assert_queued(r):
    assert r.status_code == 200, "activation: expected 200, got %d %r" % (r.status_code,
                                                                          r.text[:300])
    body = assert_json(r)
    assert sorted(body) == ["data", "status"] and body["status"] == "success", body
    assert sorted(body["data"]) == ["message_id"], body
    mid = body["data"]["message_id"]
    assert isinstance(mid, str) and mid.startswith(PREFIX) and len(mid) > len(PREFIX), body
    return mid


def bare(mid):
    return mid[len(PREFIX):] if mid.startswith(PREFIX) else mid


def assert_record(rec, mid, status, chat=None, channel_id=None, account=None, credits=None):
    for k in ("messageId", "status", "conversationId", "seq", "to", "accountPhone",
              "channelId", "credits", "createdAt", "updatedAt"):
        assert k in rec, "the send record lacks %r: %r" % (k, rec)
    assert rec["messageId"] in (mid, bare(mid)), "record of %s: %r" % (mid, rec)
    assert rec["status"] == status, "expected %s: %r" % (status, rec)
    assert isinstance(rec["seq"], int), rec
    for k in ("createdAt", "updatedAt"):
        parse_rfc3339(rec[k])
    if chat is not None:
        assert digits(rec["to"]) == chat, "the record's `to` is the number %s: %r" % (chat, rec)
    if channel_id is not None:
        assert rec["channelId"] == channel_id, rec
    if account is not None:
        assert rec["accountPhone"] == account, rec
    if credits is not None:
        assert rec["credits"] == credits, rec
    if status == "sent":
        assert isinstance(rec.get("platformMessageId"), str) and rec["platformMessageId"], rec
    if status == "failed":
        assert isinstance(rec.get("error"), str) and rec["error"], rec
    return rec


def assert_integration_message(m, status, text=None):
    assert m["direction"] == "out", m
    assert m.get("sender", {}).get("type") == "integration", m
    assert m["sender"].get("id") == "incoming-webhook", m
    assert m.get("status") == status, "the conversation's message is %s: %r" % (status, m)
    if text is not None:
        assert m.get("text") == text, m


def text_body(to, text):
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "text", "text": {"body": text}}


def assert_nothing_written(hook, balance=None, convs=0, settle=0.3):
    """A refused activation holds no credits, creates no conversation, queues nothing (what it
    would write it writes before it answers: a short settle is enough)."""
    time.sleep(settle)
    assert hook.sends() == [], "no send record: %r" % hook.sends()
    assert len(hook.b.conversations()) == convs, "no conversation: %r" % hook.b.conversations()
    c = hook.credits()
    assert c["held"] == 0 and c["used"] == 0, "no credits held: %r" % c
    if balance is not None:
        assert c["balance"] == balance, "the balance is untouched: %r" % c
    assert hook.graph_sends() == [] and hook.plat.count(is_upload) == 0, \
        "nothing reached the Cloud API: %r" % hook.plat.snapshot()


@pytest.fixture
def hook(server, fakes):  # noqa: F811
    return Hook(server, fakes)


# =============================================================================================
# the webhook's settings

def test_webhook_is_created_on_first_use_with_the_documented_defaults(server, fakes, redis):  # noqa: F811
    h = Hook(server, fakes, fast=False)
    c = h.conf
    for k in ("url", "token", "enabled", "createdAt", "updatedAt", "rateLimit",
              "retentionHours", "pacing", "accounts"):
        assert k in c, "GET %s lacks %r: %r" % (HOOK, k, c)
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", c["token"]), "a URL-safe secret: %r" % c["token"]
    assert c["url"] == "%s/api/incoming/%s" % (h.srv.url, c["token"]), \
        "without --public-url the URL is the request's Host: %r" % c
    assert c["enabled"] is True, c
    assert c["rateLimit"] == {"perMinute": 600}, c
    assert c["retentionHours"] == 24, c
    assert c["pacing"] == {"minGapMs": 1500, "maxGapMs": 2500}, c
    parse_rfc3339(c["createdAt"])
    parse_rfc3339(c["updatedAt"])
    a, = c["accounts"]
    assert a["channelId"] == h.ch["id"] and a["phone"] == PHONE_A, a
    assert a["enabled"] is True and a["queued"] == 0, a
    assert a.get("minGapMs") in (None, 1500) and a.get("maxGapMs") in (None, 2500), \
        "an account without its own window has the default: %r" % a
    again = h.get()
    assert again["token"] == c["token"] and again["createdAt"] == c["createdAt"], \
        "created once: %r vs %r" % (again, c)
    assert h.call("GET", srv=h.another_instance()).json()["token"] == c["token"]
    assert redis.cmd("HGET", "sb:idx:inwh", hashlib.sha256(c["token"].encode()).hexdigest()) \
        == h.b.id.encode(), "sb:idx:inwh maps the token's SHA-256 to the tenant"


def test_url_is_under_the_public_url_when_set(server, fakes):  # noqa: F811
    h = Hook(server, fakes, "--public-url", "https://sb.example.com")
    assert h.conf["url"] == "https://sb.example.com/api/incoming/" + h.token, h.conf


def test_put_changes_the_settings_and_null_removes_an_account_window(hook):
    h = hook
    c = h.put({"rateLimit": {"perMinute": 120}, "retentionHours": 48,
               "pacing": {"minGapMs": 100, "maxGapMs": 200},
               "accounts": {h.ch["id"]: {"minGapMs": 10, "maxGapMs": 20}}})
    assert c["rateLimit"] == {"perMinute": 120} and c["retentionHours"] == 48, c
    assert c["pacing"] == {"minGapMs": 100, "maxGapMs": 200}, c
    a, = c["accounts"]
    assert (a["minGapMs"], a["maxGapMs"]) == (10, 20), "the account's own window: %r" % a
    assert h.get() == c, "GET shows what PUT answered"
    c = h.put({"accounts": {h.ch["id"]: None}})
    a, = c["accounts"]
    assert a.get("minGapMs") in (None, 100) and a.get("maxGapMs") in (None, 200), \
        "null removes the account's settings: the default applies again: %r" % a
    assert a["enabled"] is True, a
    c = h.put({"pacing": {"minGapMs": 0, "maxGapMs": 600000}})
    assert c["pacing"] == {"minGapMs": 0, "maxGapMs": 600000}, "0..600,000 ms: %r" % c


@pytest.mark.parametrize("body,member", [
    ({"rateLimit": {"perMinute": 0}}, "perMinute"),
    ({"rateLimit": {"perMinute": 1000001}}, "perMinute"),
    ({"rateLimit": {"perMinute": "10"}}, "perMinute"),
    ({"retentionHours": 0}, "retentionHours"),
    ({"retentionHours": 169}, "retentionHours"),
    ({"pacing": {"minGapMs": 600001, "maxGapMs": 600001}}, "minGapMs"),
    ({"pacing": {"minGapMs": -1, "maxGapMs": 10}}, "minGapMs"),
    ({"pacing": {"minGapMs": 500, "maxGapMs": 400}}, "GapMs"),
    ({"enabled": "yes"}, "enabled"),
], ids=["perMinute0", "perMinute-over", "perMinute-string", "retention0", "retention169",
        "gap-over", "gap-negative", "min-over-max", "enabled-string"])
def test_put_refuses_out_of_range_settings(hook, body, member):
    before = hook.get()
    r = hook.call("PUT", json=body)
    p = assert_problem(r, 400)
    where = (p.get("field") or "") + " " + p["detail"]
    assert member in where, "the 400 names %r: %r" % (member, p)
    assert hook.get() == before, "a refused PUT changes nothing"


def test_put_refuses_an_account_window_with_min_over_max(hook):
    r = hook.call("PUT", json={"accounts": {hook.ch["id"]: {"minGapMs": 900, "maxGapMs": 100}}})
    assert_problem(r, 400)


@pytest.mark.parametrize("method,path", [
    ("GET", HOOK), ("PUT", HOOK), ("POST", HOOK + "/regenerate"), ("GET", HOOK + "/sends"),
    ("GET", HOOK + "/sends/wa_backend:x"), ("GET", HOOK + "/log"), ("POST", HOOK + "/purge"),
    ("GET", "/api/credits")])
def test_management_routes_need_the_tenant_key(hook, method, path):
    r = hook.srv.request(method, path, json={})
    assert r.status_code == 401, "%s %s without X-API-Key: %d %r" % (method, path,
                                                                       r.status_code, r.text)
    r = hook.srv.request(method, path, json={}, headers={"X-API-Key": "sbk_nobody_" + "x" * 43})
    assert r.status_code == 401, "%s %s with an unknown key: %d %r" % (method, path,
                                                                         r.status_code, r.text)


def test_admin_sets_the_balance_and_the_tenant_reads_it(hook):
    assert hook.credits() == {"balance": None, "held": 0, "used": 0}, \
        "a balance never set is no quota"
    assert set_balance(hook.srv, hook.b.id, 7) == {"balance": 7, "held": 0, "used": 0}
    assert hook.credits() == {"balance": 7, "held": 0, "used": 0}
    assert set_balance(hook.srv, hook.b.id, 1000000000)["balance"] == 1000000000
    assert set_balance(hook.srv, hook.b.id, None)["balance"] is None
    assert hook.credits()["balance"] is None


@pytest.mark.parametrize("balance", [-1, 1000000001, "5", 1.5, True])
def test_admin_refuses_a_bad_balance(hook, balance):
    set_balance(hook.srv, hook.b.id, 3)
    set_balance(hook.srv, hook.b.id, balance, expect=400)
    assert hook.credits()["balance"] == 3, "a refused PUT changes nothing"


def test_admin_credits_need_the_admin_token_and_a_known_tenant(hook):
    r = hook.srv.admin("PUT", "/api/admin/tenants/%s/credits" % hook.b.id, json={"balance": 1},
                       token=None)
    assert r.status_code == 401, r.text
    r = hook.srv.request("PUT", "/api/admin/tenants/%s/credits" % hook.b.id,
                         json={"balance": 1}, headers={"X-API-Key": hook.b.key})
    assert r.status_code == 401, "a tenant key is no admin token: %d %r" % (r.status_code,
                                                                           r.text)
    r = hook.srv.admin("PUT", "/api/admin/tenants/00000000-0000-4000-8000-000000000000/credits",
                       json={"balance": 1})
    assert r.status_code == 404, r.text
    assert hook.credits()["balance"] is None


# =============================================================================================
# recipients

def test_phone_opens_a_conversation_with_dialog_created_and_sends_the_text(hook):
    h = hook
    mid = h.send(text="Your order has shipped", phone="+14151231234")
    rec = h.plat.wait_for(1, POLL, pred=is_send)[0]
    assert rec.path == "%s/%s/messages" % (GRAPH_PREFIX, WA_PHONE), rec
    assert rec.header("Authorization") == "Bearer " + WA_TOKEN, dict(rec.headers)
    assert rec.json() == text_body("14151231234", "Your order has shipped"), \
        "`to` is the number's digits without +: %r" % rec.body
    conv = h.conv_by_chat("14151231234")
    assert conv is not None, "the number's conversation is created: %r" % h.b.conversations()
    assert conv["channel"] == "whatsapp" and conv["channelId"] == h.ch["id"], conv
    created = h.event("dialog_created")
    assert created[0]["conversation_id"] == conv["id"], created
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", chat="14151231234", channel_id=h.ch["id"], account=PHONE_A)
    assert r["conversationId"] == conv["id"], r
    assert_integration_message(h.message(r), "sent", "Your order has shipped")


def test_phone_of_an_existing_conversation_reuses_it(hook):
    h = hook
    conv = h.wa_inbound("905551112233", "Zeynep", "wamid.IN1")
    h.event("dialog_created")
    mid = h.send(text="We got your message", phone="+905551112233")
    r = h.wait_record(mid)
    assert r["conversationId"] == conv["id"], "no new conversation: %r" % r
    assert len(h.b.conversations()) == 1, h.b.conversations()
    assert h.graph_sends()[0].json()["to"] == "905551112233"
    time.sleep(0.5)
    assert len([e for e in h.events.snapshot()
                if e.json()["event_type"] == "dialog_created"]) == 1, \
        "dialog_created only for a new conversation"
    assert_integration_message(h.message(r), "sent", "We got your message")


@pytest.mark.parametrize("suffix", ["@s.whatsapp.net", "@c.us"])
def test_jid_goes_to_the_conversation_of_that_number(hook, suffix):
    h = hook
    mid = h.send(text="hello jid", jid="905557654321" + suffix)
    rec = h.plat.wait_for(1, POLL, pred=is_send)[0]
    assert rec.json() == text_body("905557654321", "hello jid"), rec.body
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", chat="905557654321", channel_id=h.ch["id"])
    conv = h.conv_by_chat("905557654321")
    assert conv is not None and conv["id"] == r["conversationId"], (conv, r)
    assert h.event("dialog_created")[0]["conversation_id"] == conv["id"]


def test_second_activation_to_a_phone_joins_the_same_conversation(hook):
    h = hook
    a = h.wait_record(h.send(text="one", phone="+14155550100"))
    b = h.wait_record(h.send(text="two", jid="14155550100@s.whatsapp.net"))
    assert a["conversationId"] == b["conversationId"], (a, b)
    assert b["seq"] > a["seq"], (a, b)
    assert len(h.b.conversations()) == 1


def test_chat_id_sends_into_that_conversation_on_its_own_account(hook):
    h = hook
    conv = h.wa_inbound("905551112233", "Zeynep", "wamid.IN2")
    h.second_account()  # now the default, but a chat's account is fixed
    mid = h.send(text="by chat id", chat_id=conv["id"])
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", chat="905551112233", channel_id=h.ch["id"], account=PHONE_A)
    assert r["conversationId"] == conv["id"], r
    # "whatsapp account phone" is ignored next to chat_id, even one that names no account
    for phone in (PHONE_B, UNKNOWN_ACCOUNT):
        mid = h.send(text="still account A", chat_id=conv["id"],
                     **{"whatsapp account phone": phone})
        r = h.wait_record(mid)
        assert_record(r, mid, "sent", channel_id=h.ch["id"], account=PHONE_A)
    paths = {rec.path for rec in h.graph_sends()}
    assert paths == {"%s/%s/messages" % (GRAPH_PREFIX, WA_PHONE)}, paths


def test_chat_name_of_a_contact_who_wrote_in(hook):
    h = hook
    h.wa_inbound("905551112233", "Zeynep", "wamid.IN3")
    conv = h.wa_inbound("905559998877", "Mehmet Yilmaz", "wamid.IN4")
    mid = h.send(text="by name", chat_name="Mehmet Yilmaz")
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", chat="905559998877", channel_id=h.ch["id"])
    assert r["conversationId"] == conv["id"], r
    assert h.graph_sends()[0].json() == text_body("905559998877", "by name")
    assert_integration_message(h.message(r), "sent", "by name")


def test_chat_name_naming_several_chats_is_409(hook):
    h = hook
    for i, frm in enumerate(("905550000001", "905550000002", "905550000003")):
        h.wa_inbound(frm, "Ayse", "wamid.AY%d" % i)
    wait_until(lambda: len(h.b.conversations()) == 3, POLL)
    set_balance(h.srv, h.b.id, 5)
    r = h.activate({"action": "send", "text": "which one?", "chat_name": "Ayse"})
    body = assert_envelope(r, 409, prefix="3 chats are named ", mentions=("Ayse",))
    assert body["message"].endswith(": use chat_id or phone"), body
    time.sleep(SETTLE)
    assert h.sends() == [] and h.graph_sends() == [], "nothing queued"
    assert h.credits() == {"balance": 5, "held": 0, "used": 0}


def test_chat_name_naming_no_chat_is_404(hook):
    h = hook
    h.wa_inbound("905551112233", "Zeynep", "wamid.IN5")
    r = h.activate({"action": "send", "text": "anyone?", "chat_name": "Nobody Here"})
    assert_envelope(r, 404, prefix="no chat named ", mentions=("Nobody Here",))
    r = h.activate({"action": "send", "text": "anyone?", "chat_name": "zeynep"})
    assert_envelope(r, 404, prefix="no chat named "), "the exact display name"
    assert_nothing_written(h, convs=1)


def test_chat_id_unknown_or_not_whatsapp_is_404(hook):
    h = hook
    w = ChatWidget(h.srv, tenant=h.b.tenant)
    w.session().say("hello from the widget")
    widget_conv = wait_until(lambda: h.b.conversations(), POLL)
    assert widget_conv, "the widget conversation"
    for chat_id in (widget_conv[0]["id"], "00000000-0000-4000-8000-000000000000"):
        r = h.activate({"action": "send", "text": "x", "chat_id": chat_id})
        assert_envelope(r, 404, message="chat not found")
    assert_nothing_written(h, convs=1)


# =============================================================================================
# accounts

def test_default_account_is_the_most_recently_created_enabled_one(hook):
    h = hook
    second = h.second_account()
    mid = h.send(text="default", phone="+14151231234")
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", channel_id=second["id"], account=PHONE_B)
    rec, = h.graph_sends()
    assert rec.path == "%s/%s/messages" % (GRAPH_PREFIX, WA_PHONE_B), rec
    assert h.conv_by_chat("14151231234", second["id"]) is not None
    # disabled for the webhook: the default is the other one
    h.put({"accounts": {second["id"]: {"enabled": False}}})
    assert h.account(second["id"])["enabled"] is False
    mid = h.send(text="default again", phone="+14151231234")
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", channel_id=h.ch["id"], account=PHONE_A)
    assert h.conv_by_chat("14151231234", h.ch["id"]) is not None, \
        "a number has a conversation per account: %r" % h.b.conversations()


def test_account_phone_picks_the_account(hook):
    h = hook
    second = h.second_account()
    mid = h.send(text="from A", phone="+14151231234", **{"whatsapp account phone": PHONE_A})
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", channel_id=h.ch["id"], account=PHONE_A)
    mid = h.send(text="from B", phone="+14151231234", **{"whatsapp account phone": PHONE_B})
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", channel_id=second["id"], account=PHONE_B)
    paths = [rec.path for rec in h.graph_sends()]
    assert paths == ["%s/%s/messages" % (GRAPH_PREFIX, p) for p in (WA_PHONE, WA_PHONE_B)], paths
    convs = {c["channelId"] for c in h.b.conversations() if c["chatId"] == "14151231234"}
    assert convs == {h.ch["id"], second["id"]}, h.b.conversations()


def test_account_disabled_for_the_webhook_is_403(hook):
    h = hook
    second = h.second_account()
    h.put({"accounts": {second["id"]: {"enabled": False}}})
    r = h.activate({"action": "send", "text": "x", "phone": "+14151231234",
                    "whatsapp account phone": PHONE_B})
    assert_envelope(r, 403, message="the WhatsApp account %s is disabled for the incoming "
                                    "webhook" % PHONE_B)
    h.put({"accounts": {h.ch["id"]: {"enabled": False}}})
    r = h.activate({"action": "send", "text": "x", "phone": "+14151231234"})
    assert_envelope(r, 400, message=NO_ACCOUNT_MSG)
    assert_nothing_written(h)


def test_unknown_account_phone_is_400(hook):
    r = hook.activate({"action": "send", "text": "x", "phone": "+14151231234",
                       "whatsapp account phone": UNKNOWN_ACCOUNT})
    assert_envelope(r, 400, message="no WhatsApp account with phone %s" % UNKNOWN_ACCOUNT)
    assert_nothing_written(hook)


def test_a_tenant_without_whatsapp_accounts_is_400(server, fakes):  # noqa: F811
    h = Hook(server, fakes, account=False)
    assert h.conf["accounts"] == [], h.conf
    r = h.activate({"action": "send", "text": "x", "phone": "+14151231234"})
    assert_envelope(r, 400, message=NO_ACCOUNT_MSG)
    assert_nothing_written(h)


# =============================================================================================
# what a send leaves behind

def test_send_record_message_and_message_sent_follow_the_send(hook):
    h = hook
    set_balance(h.srv, h.b.id, 10)
    h.plat.behaviour = lambda rec, fake: (jreply({"messages": [{"id": "wamid.SLOW"}]},
                                                 delay=1.0) if is_send(rec)
                                          else graph_ok(rec, fake))
    mid = h.send(text="status please", phone="+14151231234", crm_ticket="T-1")  # ignored member
    r = h.record(mid)
    assert r["status"] == "queued" and r["credits"] == 1, "queued at once: %r" % r
    assert "conversationId" in r and (r.get("seq") is None) == (r["conversationId"] is None), \
        "both null until stored, then both set: %r" % r
    r = h.wait_stored(mid)
    assert_record(r, mid, "queued", chat="14151231234", channel_id=h.ch["id"], account=PHONE_A,
                  credits=1)
    assert "platformMessageId" not in r or r["platformMessageId"] in (None, ""), r
    assert h.record(bare(mid))["status"] == "queued", "the id without the prefix works too"
    m = h.message(r)
    assert_integration_message(m, "queued", "status please")
    assert h.credits() == {"balance": 9, "held": 1, "used": 0}, "its cost is held"
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", credits=1)
    assert r["platformMessageId"] == "wamid.SLOW", r
    assert h.record(bare(mid)) == r
    m = h.message(r)
    assert_integration_message(m, "sent", "status please")
    assert m.get("platformMessageId") == "wamid.SLOW", m
    d = h.event("message_sent")[0]
    assert d["platform_message_id"] == "wamid.SLOW", d
    assert d["conversation_id"] == r["conversationId"] and d["seq"] == r["seq"], (d, r)
    assert h.credits() == {"balance": 9, "held": 0, "used": 1}, "the cost moved to used"
    r = h.call("GET", "/sends/wa_backend:00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404, r.text


def test_sends_are_listed_newest_first_and_paged(hook):
    h = hook
    mids = []
    for i in range(4):
        mids.append(h.send(text="n%d" % i, phone="+1415555%04d" % i))
        time.sleep(0.01)  # "newest first": distinct acceptance times
    # a send is listed once the queue stored it (docs/incoming.md "The two steps")
    for m in mids:
        h.wait_stored(m)
    got = [s["messageId"] for s in h.sends()]
    assert [bare(x) for x in got] == [bare(x) for x in reversed(mids)], \
        "newest first: %r vs %r" % (got, mids)
    page = h.sends("page=2&pageSize=3")
    assert [bare(s["messageId"]) for s in page] == [bare(mids[0])], page
    r = h.call("GET", "/sends?pageSize=101")
    assert r.status_code == 400, "pageSize 1..100: %d %r" % (r.status_code, r.text)


def test_platform_refusal_fails_the_message_and_gives_the_credits_back(hook):
    h = hook
    set_balance(h.srv, h.b.id, 5)
    h.plat.behaviour = lambda rec, fake: jreply(
        {"error": {"message": "(#131026) Message undeliverable", "code": 131026}}, code=400)
    mid = h.send(text="not on WhatsApp", phone="+14151231234")
    r = h.wait_record(mid)
    assert_record(r, mid, "failed", credits=1)
    assert "400" in r["error"] or "131026" in r["error"], "the platform's error: %r" % r
    m = h.message(r)
    assert_integration_message(m, "failed")
    assert m.get("error"), m
    assert h.credits() == {"balance": 5, "held": 0, "used": 0}, "the credit comes back"
    time.sleep(0.5)
    assert [e for e in h.events.snapshot() if e.json()["event_type"] == "message_sent"] == []


# =============================================================================================
# files

def upload_of(h, n=1):
    ups = h.plat.wait_for(n, POLL, pred=is_upload)
    up = ups[n - 1]
    assert up.method == "POST" and up.path == "%s/%s/media" % (GRAPH_PREFIX, WA_PHONE), up
    assert up.header("Authorization") == "Bearer " + WA_TOKEN, dict(up.headers)
    return up, multipart(up), "media-%d" % up.index


def test_png_is_uploaded_then_sent_as_an_image_with_its_caption(hook, files):
    h = hook
    url = files.add("/pics/shoe.png", PNG, "image/png")
    mid = h.send(text="Here is your shoe", phone="+14151231234", file_url=url,
                 file_name="shoe.png")
    up, parts, media = upload_of(h)
    assert sorted(parts) == ["file", "messaging_product", "type"], parts.keys()
    assert parts["messaging_product"][0] == b"whatsapp", parts["messaging_product"]
    assert parts["type"][0].decode().startswith("image/png"), parts["type"]
    assert parts["file"][0] == PNG, "the file's bytes are uploaded as downloaded"
    rec = h.plat.wait_for(1, POLL, pred=is_send)[0]
    assert rec.t >= up.t, "the upload comes first"
    body = rec.json()
    assert body["messaging_product"] == "whatsapp" and body["to"] == "14151231234", body
    assert body["type"] == "image", body
    assert body["image"] == {"id": media, "caption": "Here is your shoe"}, body
    r = h.wait_record(mid)
    assert_record(r, mid, "sent", credits=2)
    m = h.message(r)
    assert_integration_message(m, "sent", "Here is your shoe")
    att = m.get("attachments") or []
    assert len(att) == 1 and att[0].get("url") == url and att[0].get("name") == "shoe.png", m
    assert files.hits("/pics/shoe.png") == ["/pics/shoe.png"], "downloaded once"


def test_file_without_text_costs_one_credit_and_has_no_caption(hook, files):
    h = hook
    set_balance(h.srv, h.b.id, 3)
    url = files.add("/a.png", PNG, "image/png")
    mid = h.send(text="", phone="+14151231234", file_url=url, file_name="a.png")
    _, _, media = upload_of(h)
    body = h.plat.wait_for(1, POLL, pred=is_send)[0].json()
    assert body["type"] == "image" and body["image"].get("id") == media, body
    assert body["image"].get("caption") in (None, ""), "no text, no caption: %r" % body
    assert_record(h.wait_record(mid), mid, "sent", credits=1)
    assert h.credits() == {"balance": 2, "held": 0, "used": 1}


def test_png_served_as_octet_stream_is_known_by_its_first_bytes(hook, files):
    h = hook
    url = files.add("/download", PNG, "application/octet-stream") + "?id=1"
    h.send(text="pic", phone="+14151231234", file_url=url, file_name="photo")
    _, parts, media = upload_of(h)
    assert parts["type"][0].decode().startswith("image/png"), parts["type"]
    body = h.plat.wait_for(1, POLL, pred=is_send)[0].json()
    assert body["type"] == "image" and body["image"]["id"] == media, body


def test_png_without_content_type_is_known_by_its_first_bytes(hook, files):
    h = hook
    url = files.add("/raw", PNG, None)
    h.send(text="pic", phone="+14151231234", file_url=url, file_name="photo.png")
    upload_of(h)
    body = h.plat.wait_for(1, POLL, pred=is_send)[0].json()
    assert body["type"] == "image", body


def test_pdf_is_sent_as_a_document_with_its_filename(hook, files):
    h = hook
    url = files.add("/docs/inv-7.pdf", PDF, "application/pdf")
    mid = h.send(text="Your invoice", phone="+14151231234", file_url=url,
                 file_name="invoice-7.pdf")
    _, parts, media = upload_of(h)
    assert parts["file"][0] == PDF
    assert parts["type"][0].decode().startswith("application/pdf"), parts["type"]
    body = h.plat.wait_for(1, POLL, pred=is_send)[0].json()
    assert body["type"] == "document", body
    assert body["document"] == {"id": media, "caption": "Your invoice",
                                "filename": "invoice-7.pdf"}, body
    assert_record(h.wait_record(mid), mid, "sent", credits=2)


def test_audio_takes_no_caption_so_the_text_follows_it(hook, files):
    h = hook
    url = files.add("/voice.mp3", MP3, "audio/mpeg")
    mid = h.send(text="listen to this", phone="+14151231234", file_url=url,
                 file_name="voice.mp3")
    _, _, media = upload_of(h)
    audio, txt = h.plat.wait_for(2, POLL, pred=is_send)
    a = audio.json()
    assert a["type"] == "audio" and a["audio"] == {"id": media}, a
    assert txt.json() == text_body("14151231234", "listen to this"), txt.body
    assert_record(h.wait_record(mid), mid, "sent", credits=2)


MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200


@pytest.mark.parametrize("ctype,data,kind", [
    ("image/jpeg", JPEG, "image"),
    ("video/mp4", MP4, "video"),
    ("video/3gpp", MP4, "video"),
    ("audio/ogg", b"OggS" + b"\x00" * 200, "audio"),
    ("audio/amr", b"#!AMR\n" + b"\x00" * 200, "audio"),
    ("application/zip", b"PK\x03\x04" + b"\x00" * 200, "document"),
    ("text/plain", b"just some notes\n", "document"),
    ("application/octet-stream", JPEG, "image"),
    ("application/octet-stream", MP4, "video"),
    (None, PDF, "document"),
], ids=["jpeg", "mp4", "3gpp", "ogg", "amr", "zip", "text", "jpeg-bytes", "mp4-bytes",
        "pdf-bytes"])
def test_the_message_type_follows_the_files_type(hook, files, ctype, data, kind):
    h = hook
    url = files.add("/f", data, ctype)
    mid = h.send(text="caption", phone="+14151231234", file_url=url, file_name="upload.dat")
    _, parts, media = upload_of(h)
    assert parts["file"][0] == data
    sends = h.plat.wait_for(2 if kind == "audio" else 1, POLL, pred=is_send)
    body = sends[0].json()
    assert body["type"] == kind and body[kind]["id"] == media, body
    if kind == "document":
        assert body[kind].get("filename") == "upload.dat", body
    if kind in ("image", "video", "document"):
        assert body[kind].get("caption") == "caption", body
    else:
        assert "caption" not in body[kind], "an audio message takes no caption: %r" % body
        assert sends[1].json() == text_body("14151231234", "caption"), sends[1].body
    assert_record(h.wait_record(mid), mid, "sent")


def test_an_upload_refused_with_a_5xx_is_retried(hook, files):
    h = hook
    url = files.add("/u.png", PNG, "image/png")
    first = []

    def beh(rec, fake):
        if is_upload(rec) and not first:
            first.append(rec)
            return Reply(503, "try later")
        return graph_ok(rec, fake)
    h.plat.behaviour = beh
    mid = h.send(text="upload again", phone="+14151231234", file_url=url, file_name="u.png")
    _, _, media = upload_of(h, 2)
    body = h.plat.wait_for(1, POLL, pred=is_send)[0].json()
    assert body["image"]["id"] == media, "sent by the id of the upload that worked: %r" % body
    assert_record(h.wait_record(mid), mid, "sent")


def test_a_file_of_exactly_2_mb_is_sent(hook, files):
    h = hook
    data = b"\x00\x01\x02\x03" * (MAX_FILE // 4)
    url = files.add("/exact.bin", data)
    mid = h.send(text="big but fine", phone="+14151231234", file_url=url, file_name="exact.bin")
    _, parts, media = upload_of(h)
    assert len(parts["file"][0]) == MAX_FILE and parts["file"][0] == data
    body = h.plat.wait_for(1, POLL, pred=is_send)[0].json()
    assert body["type"] == "document" and body["document"]["id"] == media, body
    assert body["document"].get("filename") == "exact.bin", body
    assert_record(h.wait_record(mid), mid, "sent")


DOWNLOAD_FAILURES = {
    # name: (how the file is served, the record's error (exact, or a prefix ending in ": "))
    "over-2mb": (lambda fs: fs.add("/big.bin", b"\x00" * (MAX_FILE + 1)), TOO_BIG_MSG),
    "over-2mb-no-length": (lambda fs: fs.add("/big.bin", b"\x00" * (MAX_FILE + 1),
                                             length=False), TOO_BIG_MSG),
    "html-content-type": (lambda fs: fs.add("/share/abc", b"<div>Download</div>",
                                            "text/html; charset=utf-8"), WEB_PAGE_MSG),
    "html-doctype-bytes": (lambda fs: fs.add("/share/abc", b"<!DOCTYPE html><html><body>x",
                                             "application/octet-stream"), WEB_PAGE_MSG),
    "html-tag-bytes": (lambda fs: fs.add("/share/abc", b"<html><head></head></html>", None),
                       WEB_PAGE_MSG),
    "status-404": (lambda fs: fs.url("/missing.png"), "file_url answered 404"),
    "status-500": (lambda fs: fs.add("/broken.png", b"boom", "text/plain", status=500),
                   "file_url answered 500"),
    "refused": (lambda fs: "http://127.0.0.1:%d/x.png" % free_port(),
                "could not download file_url: "),
    "blocked": (lambda fs: "http://10.255.255.1/x.png", "could not download file_url: "),
}


def assert_download_failed(h, mid, want, fs=None):
    r = h.wait_record(mid, timeout=15)
    assert_record(r, mid, "failed", credits=2)
    if want.endswith(": "):
        assert r["error"].startswith(want) and len(r["error"]) > len(want), \
            "error %r should start with %r" % (r["error"], want)
    else:
        assert r["error"] == want, "error %r, expected %r" % (r["error"], want)
    m = h.message(r)
    assert_integration_message(m, "failed")
    assert want in (m.get("error") or ""), "the message carries the error: %r" % m
    assert h.credits() == {"balance": 10, "held": 0, "used": 0}, \
        "the credits come back at once: %r" % h.credits()
    n = len(fs.hits()) if fs is not None else 0
    time.sleep(1.5)  # a retry would come about a second later (--retry-schedule 0,1,1,1)
    assert fs is None or len(fs.hits()) == n <= 1, "a failed download is not retried: %r" % (
        fs.hits(),)
    assert h.plat.snapshot() == [], "nothing is uploaded or sent: %r" % h.plat.snapshot()
    assert h.record(mid)["status"] == "failed"
    return r


@pytest.mark.parametrize("case", sorted(DOWNLOAD_FAILURES))
def test_a_failed_download_fails_the_message_and_gives_the_credits_back(hook, files, case):
    h = hook
    set_balance(h.srv, h.b.id, 10)
    serve, want = DOWNLOAD_FAILURES[case]
    url = serve(files)
    mid = h.send(text="with a file", phone="+14151231234", file_url=url, file_name="x.png")
    # two credits held at acceptance, unless the download failed already (a refused connection
    # or a blocked address fails within milliseconds): then they are back
    c = h.credits()
    assert c in ({"balance": 8, "held": 2, "used": 0}, {"balance": 10, "held": 0, "used": 0}), c
    assert_download_failed(h, mid, want, files)


@pytest.mark.slow
def test_a_file_url_that_never_answers_fails_after_10_s(hook, silent_port):
    h = hook
    set_balance(h.srv, h.b.id, 10)
    t0 = time.monotonic()
    mid = h.send(text="with a file", phone="+14151231234",
                 file_url="http://127.0.0.1:%d/slow.pdf" % silent_port, file_name="slow.pdf")
    time.sleep(8.0)
    assert h.record(mid)["status"] == "queued", "still downloading within the 10 s deadline"
    assert_download_failed(h, mid, "could not download file_url: ")
    took = time.monotonic() - t0
    assert took < 20, "the 10 s deadline ends the download: %.1f s" % took


def test_a_retry_after_the_upload_reuses_the_media_id_without_downloading_again(hook, files):
    h = hook
    url = files.add("/r.png", PNG, "image/png")
    first = []

    def beh(rec, fake):
        if is_send(rec) and not first:
            first.append(rec)
            return Reply(500, "graph down")
        return graph_ok(rec, fake)
    h.plat.behaviour = beh
    mid = h.send(text="retry me", phone="+14151231234", file_url=url, file_name="r.png")
    _, _, media = upload_of(h)
    a, b = h.plat.wait_for(2, POLL, pred=is_send)
    assert a.json() == b.json(), "the retry sends the same message: %r / %r" % (a.body, b.body)
    assert b.json()["image"]["id"] == media, b.body
    assert_record(h.wait_record(mid), mid, "sent")
    assert h.plat.count(is_upload) == 1, "uploaded once: %r" % h.plat.snapshot()
    assert files.hits() == ["/r.png"], "downloaded once: %r" % files.hits()


# =============================================================================================
# credits

def test_credits_count_one_for_a_text_or_a_file_and_two_for_both(hook, files):
    h = hook
    set_balance(h.srv, h.b.id, 10)
    png = files.add("/c.png", PNG, "image/png")
    pdf = files.add("/c.pdf", PDF, "application/pdf")
    cases = [({"text": "only text"}, 1, 9),
             ({"text": "", "file_url": png, "file_name": "c.png"}, 1, 8),
             ({"text": "text and file", "file_url": pdf, "file_name": "c.pdf"}, 2, 6)]
    mids = []
    for i, (body, cost, balance) in enumerate(cases):
        mid = h.send(phone="+1415555%04d" % i, **body)
        c = h.credits()
        assert c["balance"] == balance and c["held"] + c["used"] == 10 - balance, \
            "after %r: %r" % (body, c)
        mids.append((mid, cost))
    for mid, cost in mids:
        assert_record(h.wait_record(mid), mid, "sent", credits=cost)
    assert h.credits() == {"balance": 6, "held": 0, "used": 4}


def test_quota_taken_by_queued_messages_is_402_and_nothing_is_queued(hook):
    h = hook
    h.hold()
    set_balance(h.srv, h.b.id, 3)
    first = h.send(text="goes out", phone="+14155550001")
    h.wait_record(first, ("sent",))
    queued = [h.send(text="waits %d" % i, phone="+1415555000%d" % (i + 2)) for i in range(2)]
    assert h.credits() == {"balance": 0, "held": 2, "used": 1}, h.credits()
    r = h.activate({"action": "send", "text": "one too many", "phone": "+14155550009"})
    assert_envelope(r, 402, message="not enough credits: 0 left, this message needs 1")
    time.sleep(SETTLE)
    assert len(h.sends()) == 3, "the refused one has no record: %r" % h.sends()
    assert h.conv_by_chat("14155550009") is None, "no conversation for the refused one"
    assert h.credits() == {"balance": 0, "held": 2, "used": 1}, h.credits()
    assert h.account()["queued"] == 2, h.account()
    assert [h.record(m)["status"] for m in queued] == ["queued", "queued"]
    # the admin sets what can still be spent; what queued messages hold stays held
    assert set_balance(h.srv, h.b.id, 1) == {"balance": 1, "held": 2, "used": 1}
    h.send(text="now it fits", phone="+14155550009")
    assert h.credits() == {"balance": 0, "held": 3, "used": 1}, h.credits()


def test_text_with_a_file_needs_two_credits(hook):
    h = hook
    set_balance(h.srv, h.b.id, 1)
    r = h.activate({"action": "send", "text": "and a file", "phone": "+14151231234",
                    "file_url": "https://files.example/a.pdf", "file_name": "a.pdf"})
    assert_envelope(r, 402, message="not enough credits: 1 left, this message needs 2")
    assert_nothing_written(h, balance=1)


def test_a_balance_of_zero_refuses_and_no_balance_is_no_quota(hook):
    h = hook
    set_balance(h.srv, h.b.id, 0)
    r = h.activate({"action": "send", "text": "x", "phone": "+14151231234"})
    assert_envelope(r, 402, message="not enough credits: 0 left, this message needs 1")
    set_balance(h.srv, h.b.id, None)
    mid = h.send(text="free", phone="+14151231234")
    assert_record(h.wait_record(mid), mid, "sent")
    assert h.credits()["balance"] is None, h.credits()


# =============================================================================================
# the incoming line: pacing and order

def paced_run(h, n, window):
    """n activations to different numbers, alternating between two instances; the sends as
    the fake Cloud API saw them and the numbers in activation order."""
    if window is not None:
        h.put({"pacing": {"minGapMs": window[0], "maxGapMs": window[1]}})
    second = h.another_instance()
    numbers = ["1415600%04d" % i for i in range(n)]
    for i, num in enumerate(numbers):
        h.send(text="paced %d" % i, phone="+" + num, srv=(h.srv, second)[i % 2])
    recs = h.plat.wait_for(n, POLL + n * (window or (1500, 2500))[1] / 1000.0, pred=is_send)
    return recs, numbers


def check_paced(recs, numbers, lo, hi):
    got = [r.json()["to"] for r in recs]
    assert got == numbers, "FIFO: the sends leave in activation order: %r" % got
    gaps = [b.t - a.t for a, b in zip(recs, recs[1:])]
    shown = ["%.3f" % g for g in gaps]
    assert min(gaps) >= lo - SLACK, "every gap at least minGapMs (%.3f s): %r" % (lo, shown)
    assert max(gaps) <= hi + 0.3, "no gap much over maxGapMs (%.3f s): %r" % (hi, shown)
    return gaps


@pytest.mark.slow
def test_the_incoming_line_paces_and_keeps_order_across_two_instances(server, fakes):  # noqa: F811
    h = Hook(server, fakes, fast=False)
    recs, numbers = paced_run(h, 20, (300, 500))
    gaps = check_paced(recs, numbers, 0.3, 0.5)
    mean = sum(gaps) / len(gaps)
    assert 0.3 <= mean <= 0.55, "mean gap within the window: %.3f" % mean
    assert h.plat.stays_at(20, 0.5, is_send), "nothing sent twice"


@pytest.mark.slow
def test_the_default_window_is_about_two_seconds_with_jitter(server, fakes):  # noqa: F811
    h = Hook(server, fakes, fast=False)
    recs, numbers = paced_run(h, 10, None)
    gaps = check_paced(recs, numbers, 1.5, 2.5)
    mean = sum(gaps) / len(gaps)
    assert 1.65 <= mean <= 2.4, "about 2 s: mean %.3f of %r" % (mean, gaps)
    spread = max(gaps) - min(gaps)
    assert spread > 0.1, "a random gap, not a fixed one: %r" % gaps


def test_an_account_window_replaces_the_default_for_that_account(hook):
    h = hook
    h.put({"pacing": {"minGapMs": HOLD, "maxGapMs": HOLD},
           "accounts": {h.ch["id"]: {"minGapMs": 0, "maxGapMs": 0}}})
    mids = [h.send(text="quick %d" % i, phone="+1415555%04d" % i) for i in range(3)]
    for mid in mids:
        h.wait_record(mid, ("sent",), timeout=5)


def test_operator_replies_are_not_held_up_by_the_webhook_backlog(hook):
    h = hook
    conv = h.wa_inbound("905551112233", "Zeynep", "wamid.IN9")
    h.hold()
    first = h.send(text="first", phone="+14155550001")
    h.wait_record(first, ("sent",))
    later = h.send(text="held", phone="+14155550002")
    h.wait_stored(later)  # it joins the account's line when the queue stores it
    assert h.account()["queued"] == 1, h.account()
    r = h.srv.tenant_api(h.b.key, "/api/conversations/%s/messages" % conv["id"], method="POST",
                         json={"text": "an operator answers"})
    assert r.status_code == 201, r.text
    got = h.plat.wait_for(2, 5.0, pred=is_send)
    assert got[1].json() == text_body("905551112233", "an operator answers"), got[1].body
    assert h.record(later)["status"] == "queued", "the webhook's backlog still waits"


# =============================================================================================
# disable, enable, regenerate, purge

def test_disabled_webhook_is_403_and_enabling_restores_it(hook):
    h = hook
    c = h.put({"enabled": False})
    assert c["enabled"] is False and h.get()["enabled"] is False, c
    r = h.activate({"action": "send", "text": "x", "phone": "+14151231234"})
    assert_envelope(r, 403, message="Webhook disabled")
    assert_nothing_written(h)
    assert h.put({"enabled": True})["enabled"] is True
    mid = h.send(text="back", phone="+14151231234")
    assert_record(h.wait_record(mid), mid, "sent")


def test_regenerate_gives_a_new_token_and_the_old_one_is_404(hook, redis):
    h = hook
    old = h.token
    r = h.call("POST", "/regenerate")
    assert r.status_code == 200, r.text
    c = r.json()
    new = c["token"]
    assert new != old and c["url"] == "%s/api/incoming/%s" % (h.srv.url, new), c
    assert h.get()["token"] == new
    r = h.activate({"action": "send", "text": "x", "phone": "+14151231234"}, token=old)
    assert_envelope(r, 404, message="Webhook not found")
    mid = assert_queued(h.activate({"action": "send", "text": "new", "phone": "+14151231234"},
                                   token=new))
    assert_record(h.wait_record(mid), mid, "sent")
    idx = redis.cmd("HGETALL", "sb:idx:inwh") or []
    hashes = {k.decode() for k in idx[0::2]}
    assert hashlib.sha256(new.encode()).hexdigest() in hashes, idx
    assert hashlib.sha256(old.encode()).hexdigest() not in hashes, "the old token is gone"


def test_disabling_without_purge_lets_the_queue_drain(hook):
    h = hook
    h.put({"pacing": {"minGapMs": 300, "maxGapMs": 300}})
    mids = [h.send(text="drain %d" % i, phone="+1415555%04d" % i) for i in range(3)]
    h.put({"enabled": False})
    for mid in mids:
        assert_record(h.wait_record(mid), mid, "sent")
    assert len(h.graph_sends()) == 3


def backlog(h, n=3, account=None):
    """One send out, n - 1 queued behind it (the account's window is held wide open)."""
    extra = {"whatsapp account phone": account} if account else {}
    mids = [h.send(text="b%d" % i, phone="+1415557%04d" % i, **extra) for i in range(n)]
    h.wait_record(mids[0], ("sent",))
    for mid in mids[1:]:
        assert h.wait_stored(mid)["status"] == "queued"  # on the account's line
    return mids


def assert_purged(h, mids):
    for mid in mids:
        r = h.record(mid)
        assert_record(r, mid, "purged")
        assert_integration_message(h.message(r), "purged")


def test_purge_drops_what_is_queued_and_gives_the_credits_back(hook):
    h = hook
    set_balance(h.srv, h.b.id, 10)
    h.hold()
    mids = backlog(h, 3)
    assert h.credits() == {"balance": 7, "held": 2, "used": 1}
    r = h.call("POST", "/purge", json={})
    assert r.status_code == 200 and r.json() == {"purged": 2, "refunded": 2}, r.text
    assert_purged(h, mids[1:])
    assert h.record(mids[0])["status"] == "sent", "a send already out stays sent"
    assert h.credits() == {"balance": 9, "held": 0, "used": 1}
    assert h.account()["queued"] == 0
    assert h.plat.stays_at(1, SETTLE, is_send), "the purged ones never go out"


def test_purge_of_one_account_leaves_the_others_queue(hook):
    h = hook
    second = h.second_account()
    h.hold()
    h.hold(second["id"])
    a = backlog(h, 2, account=PHONE_A)
    b = backlog(h, 2, account=PHONE_B)
    r = h.call("POST", "/purge", json={"channelId": h.ch["id"]})
    assert r.status_code == 200 and r.json() == {"purged": 1, "refunded": 1}, r.text
    assert_purged(h, a[1:])
    assert h.record(b[1])["status"] == "queued", "the other account's backlog stays"
    assert h.account(second["id"])["queued"] == 1


def test_disabling_the_webhook_with_purge_drops_its_queue(hook):
    h = hook
    set_balance(h.srv, h.b.id, 10)
    h.hold()
    mids = backlog(h, 3)
    c = h.put({"enabled": False, "purge": True})
    assert c["enabled"] is False, c
    assert_purged(h, mids[1:])
    assert h.credits() == {"balance": 9, "held": 0, "used": 1}


def test_disabling_an_account_with_purge_drops_only_its_queue(hook):
    h = hook
    second = h.second_account()
    h.hold()
    h.hold(second["id"])
    a = backlog(h, 2, account=PHONE_A)
    b = backlog(h, 2, account=PHONE_B)
    h.put({"accounts": {h.ch["id"]: {"enabled": False}}, "purge": True})
    assert_purged(h, a[1:])
    assert h.record(b[1])["status"] == "queued", "the other account keeps its backlog"


# =============================================================================================
# the activation log

def test_the_log_keeps_the_last_100_activations_newest_first(hook):
    h = hook
    sent = []
    for i in range(105):
        good = i % 25 == 0
        body = {"action": "send", "text": "log %d" % i, "n": i,
                "phone": "+1415558%04d" % i if good else "12345"}
        raw = json.dumps(body).encode()
        r = h.activate(raw)
        assert r.status_code == (200 if good else 400), (i, r.status_code, r.text)
        sent.append((raw, r))
    # an accepted activation is logged when the queue stores it, in its place by acceptance
    # (docs/incoming.md "The two steps"), however many refusals were logged meanwhile
    for raw, r in sent:
        if r.status_code == 200:
            h.wait_stored(r.json()["data"]["message_id"])
    r = h.call("GET", "/log")
    assert r.status_code == 200, r.text
    assert_json(r)
    cd = r.headers.get("Content-Disposition", "")
    assert cd == 'attachment; filename="incoming-webhook-log.json"', cd
    items = r.json()["items"]
    assert len(items) == 100, "the last 100: %d" % len(items)
    want = list(reversed(sent))[:100]
    for item, (raw, resp) in zip(items, want):
        for k in ("at", "ip", "status", "body", "answer"):
            assert k in item, "a log entry lacks %r: %r" % (k, item)
        assert item["body"] == raw.decode(), "newest first, the request's body: %r vs %r" % (
            item["body"], raw)
        assert item["status"] == resp.status_code, item
        ans = item["answer"]
        ans = json.loads(ans) if isinstance(ans, str) else ans
        assert ans == resp.json(), "the answer given: %r vs %r" % (ans, resp.text)
        assert item["ip"] == "127.0.0.1", item
        parse_rfc3339(item["at"])
    assert json.loads(items[0]["body"])["n"] == 104 and json.loads(items[-1]["body"])["n"] == 5


def test_the_log_holds_refusals_but_not_404s_and_cuts_bodies_at_4096_bytes(hook):
    h = hook
    long_raw = json.dumps({"action": "send", "text": "y" * 5000, "phone": "+14151231234"}).encode()
    r = h.activate(long_raw)
    assert_envelope(r, 400, mentions=("text",))
    h.put({"enabled": False})
    assert_envelope(h.activate({"action": "send", "text": "x", "phone": P}), 403)
    items = h.call("GET", "/log").json()["items"]
    assert [i["status"] for i in items] == [403, 400], items
    assert items[1]["body"] == long_raw[:4096].decode(), "the body's first 4,096 bytes"


# =============================================================================================
# the URL's rate limit

def test_rate_limit_is_429_with_retry_after_across_instances(hook):
    h = hook
    c = h.put({"rateLimit": {"perMinute": 3}})
    assert c["rateLimit"] == {"perMinute": 3}, c
    second = h.another_instance()
    srvs = (h.srv, second, h.srv)
    mids = [h.send(text="r%d" % i, phone="+1415559%04d" % i, srv=s) for i, s in enumerate(srvs)]
    r = h.activate({"action": "send", "text": "too many", "phone": "+14155599999"}, srv=second)
    assert_envelope(r, 429, message="Too many requests: at most 3 per minute")
    ra = r.headers.get("Retry-After", "")
    assert ra.isdigit() and 1 <= int(ra) <= 60, "Retry-After in seconds: %r" % ra
    r = h.activate({"action": "send", "text": "too many", "phone": "+14155599999"})
    assert_envelope(r, 429)
    for m in mids:
        h.wait_stored(m)
    time.sleep(0.3)
    assert sorted(bare(s["messageId"]) for s in h.sends()) == sorted(bare(m) for m in mids), \
        "nothing queued by a refused activation"
    assert h.conv_by_chat("14155599999") is None
    assert h.call("GET", "/log").json()["items"][0]["status"] == 429, "429s are logged"


# =============================================================================================
# bad bodies and unknown tokens

P = "+14151231234"
BAD_BODIES = {
    "not-json": (b"{nope", ()),
    "truncated": (b'{"action":"send","text":"x"', ()),
    "array": (b'[{"action":"send","text":"x","phone":"+14151231234"}]', ()),
    "string": (b'"send"', ()),
    "empty": (b"", ()),
    "action-missing": ({"text": "x", "phone": P}, ("action",)),
    "action-other": ({"action": "delete", "text": "x", "phone": P}, ("action",)),
    "action-not-string": ({"action": 1, "text": "x", "phone": P}, ("action",)),
    "text-missing": ({"action": "send", "phone": P}, ("text",)),
    "text-not-string": ({"action": "send", "text": 42, "phone": P}, ("text",)),
    "text-null": ({"action": "send", "text": None, "phone": P}, ("text",)),
    "text-empty-without-file": ({"action": "send", "text": "", "phone": P}, ("text",)),
    "text-over-4096": ({"action": "send", "text": "x" * 4097, "phone": P}, ("text",)),
    "file-url-without-file-name": ({"action": "send", "text": "x", "phone": P,
                                    "file_url": "https://files.example/a.png"}, ("file_name",)),
    "file-name-slash": ({"action": "send", "text": "x", "phone": P, "file_name": "a/b.png",
                         "file_url": "https://files.example/a.png"}, ("file_name",)),
    "file-name-backslash": ({"action": "send", "text": "x", "phone": P, "file_name": "a\\b.png",
                             "file_url": "https://files.example/a.png"}, ("file_name",)),
    "file-name-control": ({"action": "send", "text": "x", "phone": P, "file_name": "a\tb.png",
                           "file_url": "https://files.example/a.png"}, ("file_name",)),
    "file-name-empty": ({"action": "send", "text": "x", "phone": P, "file_name": "",
                         "file_url": "https://files.example/a.png"}, ("file_name",)),
    "file-name-241": ({"action": "send", "text": "x", "phone": P, "file_name": "a" * 241,
                       "file_url": "https://files.example/a.png"}, ("file_name",)),
    "file-url-ftp": ({"action": "send", "text": "x", "phone": P, "file_name": "a.png",
                      "file_url": "ftp://files.example/a.png"}, ("file_url",)),
    "file-url-relative": ({"action": "send", "text": "x", "phone": P, "file_name": "a.png",
                           "file_url": "/a.png"}, ("file_url",)),
    "file-url-not-string": ({"action": "send", "text": "x", "phone": P, "file_name": "a.png",
                             "file_url": 7}, ("file_url",)),
    "two-recipients": ({"action": "send", "text": "x", "phone": P,
                        "jid": "14151231234@s.whatsapp.net"}, ("phone", "jid")),
    "no-recipient": ({"action": "send", "text": "x"}, ("chat_id", "jid", "phone", "chat_name")),
    "phone-without-plus": ({"action": "send", "text": "x", "phone": "14151231234"}, PHONE_MSG),
    "phone-7-digits": ({"action": "send", "text": "x", "phone": "+1234567"}, PHONE_MSG),
    "phone-16-digits": ({"action": "send", "text": "x", "phone": "+1234567890123456"},
                        PHONE_MSG),
    "phone-spaces": ({"action": "send", "text": "x", "phone": "+1 415 123 1234"}, PHONE_MSG),
    "phone-letters": ({"action": "send", "text": "x", "phone": "+1415CALLNOW"}, PHONE_MSG),
    "phone-not-string": ({"action": "send", "text": "x", "phone": 14151231234}, ("phone",)),
    "jid-group": ({"action": "send", "text": "x", "jid": "120363025246125486@g.us"}, ("jid",)),
    "jid-no-domain": ({"action": "send", "text": "x", "jid": "14151231234"}, ("jid",)),
    "jid-letters": ({"action": "send", "text": "x", "jid": "bob@s.whatsapp.net"}, ("jid",)),
    "chat-id-not-string": ({"action": "send", "text": "x", "chat_id": 12}, ("chat_id",)),
    "chat-name-not-string": ({"action": "send", "text": "x", "chat_name": ["Ayse"]},
                             ("chat_name",)),
    "account-not-string": ({"action": "send", "text": "x", "phone": P,
                            "whatsapp account phone": 15550001111},
                           ("whatsapp account phone",)),
    "unknown-account": ({"action": "send", "text": "x", "phone": P,
                         "whatsapp account phone": UNKNOWN_ACCOUNT},
                        "no WhatsApp account with phone %s" % UNKNOWN_ACCOUNT),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_a_bad_body_is_400_naming_the_member_and_nothing_is_written(server, fakes, case):  # noqa: F811
    h = Hook(server, fakes, balance=100)
    body, want = BAD_BODIES[case]
    r = h.activate(body)
    if isinstance(want, str):
        assert_envelope(r, 400, message=want)
    else:
        assert_envelope(r, 400, mentions=want)
    assert_nothing_written(h, balance=100)
    items = h.call("GET", "/log").json()["items"]
    assert len(items) == 1 and items[0]["status"] == 400, "the refusal is logged: %r" % items


def test_a_malformed_queue_item_is_dropped_and_the_queue_goes_on(hook, redis):  # noqa: F811
    """An item of the inbound stream that says it is the webhook's but lacks what inwh_accept
    writes (a foreign writer, a bug) is acknowledged and dropped with an error log; it neither
    stops the queue nor settles anything."""
    h = hook
    first = h.send(text="before", phone="+14155510001")
    h.wait_stored(first)
    for junk in ('{"k":"iw"}', '{"k":"iw","t":"x","mid":"y","tx":"z"}', '{"k":"iw",nope'):
        redis.cmd("XADD", "sb:q:in", "*", "d", junk)
    after = h.send(text="after", phone="+14155510002")
    h.wait_stored(after)
    assert wait_until(lambda: redis.cmd("XLEN", "sb:q:in") == 0, POLL), "the junk is dropped"
    c = h.credits()
    assert c["held"] + c["used"] == 2, "only the two real messages hold credits: %r" % c


@pytest.mark.parametrize("body", [b"{nope", b"[]", b'{"action":"send","text":"x","phone":"+1"}',
                                  b'{"action":"send","text":"x","phone":"+14151231234"}'],
                         ids=["not-json", "array", "bad-phone", "good"])
def test_an_unknown_token_is_404_even_with_a_bad_body(hook, body):
    r = hook.activate(body, token="no-such-token-" + "0" * 30)
    assert_envelope(r, 404, message="Webhook not found")
    time.sleep(0.3)
    assert hook.call("GET", "/log").json()["items"] == [], "a 404 is not logged"
    assert hook.sends() == []


def test_the_longest_text_and_file_name_are_accepted(hook, files):
    h = hook
    text = "\u00fc" * 4096  # characters, not bytes
    mid = h.send(text=text, phone="+14151231234")
    assert_record(h.wait_record(mid), mid, "sent")
    assert h.graph_sends()[0].json()["text"]["body"] == text
    name = "n" * 236 + ".pdf"
    url = files.add("/long.pdf", PDF, "application/pdf")
    mid = h.send(text="", phone="+14151231234", file_url=url, file_name=name)
    assert_record(h.wait_record(mid), mid, "sent")
    body = h.graph_sends()[1].json()
    assert body["document"]["filename"] == name, body


def test_other_members_are_ignored(hook):
    mid = hook.send(text="with extras", phone="+14151231234", wa_backend_id=7,
                    meta={"crm": "x"}, callback_url="https://crm.example/cb")
    assert_record(hook.wait_record(mid), mid, "sent")
    assert hook.graph_sends()[0].json() == text_body("14151231234", "with extras")


# =============================================================================================
# tenants

def other_tenant(h):
    """A second tenant on the same switchboard with its own account and a contact, Mehmet."""
    b2 = Bound(h.srv, h.fakes, name="other-co")
    ch2 = b2.whatsapp(phoneNumberId="106540352200003", wabaId="102290129300003",
                      verifyToken="wa-verify-token-0003", displayPhone="+15550003333")
    payload = wa_payload(("102290129300003", [wa_change(
        messages=[wa_text("wamid.OT1", "905553334455", "selam")],
        contacts=[("905553334455", "Mehmet")], phone="106540352200003")]))
    assert send_wa(h.srv, payload).status_code == 200
    conv = wait_until(lambda: b2.conversations(), POLL)
    assert conv, "the other tenant's conversation"
    return b2, ch2, conv[0]


def test_another_tenants_chat_is_not_found(hook):
    h = hook
    b2, _, conv2 = other_tenant(h)
    r = h.activate({"action": "send", "text": "x", "chat_id": conv2["id"]})
    assert_envelope(r, 404, message="chat not found")
    r = h.activate({"action": "send", "text": "x", "chat_name": "Mehmet"})
    assert_envelope(r, 404, prefix="no chat named ")
    assert_nothing_written(h)
    out = [m for m in b2.messages(conv2["id"]) if m.get("direction") == "out"]
    assert out == [], "nothing reaches the other tenant's chat: %r" % out


def test_each_tenant_has_its_own_token_records_and_credits(hook):
    h = hook
    b2, ch2, _ = other_tenant(h)
    t2 = Tenant(h.srv, key=b2.key)
    r = t2.call("GET", HOOK)
    assert r.status_code == 200, r.text
    tok2 = r.json()["token"]
    assert tok2 != h.token, "one token per tenant"
    mid = h.send(text="tenant one", phone="+14151231234")
    h.wait_record(mid)
    r = t2.call("GET", HOOK + "/sends/" + mid)
    assert r.status_code == 404, "another tenant's record: %d %r" % (r.status_code, r.text)
    assert items_of(t2.call("GET", HOOK + "/sends").json()) == []
    mid2 = assert_queued(h.activate({"action": "send", "text": "tenant two",
                                     "phone": "+14151231234"}, token=tok2))
    r = h.call("GET", "/sends/" + mid2)
    assert r.status_code == 404, r.text
    rec = wait_until(lambda: [x for x in h.plat.snapshot(is_send)
                              if x.path == "%s/106540352200003/messages" % GRAPH_PREFIX], POLL)
    assert rec and rec[0].json()["text"]["body"] == "tenant two", h.plat.snapshot()
    assert h.put({"enabled": False})["enabled"] is False
    assert t2.call("GET", HOOK).json()["enabled"] is True, "settings are per tenant"
