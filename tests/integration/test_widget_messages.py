"""Widget session routes (docs/widget.md "Session routes", "Agents"): Bearer session tokens and
their lifetimes, posting and listing messages, CORS, the conversation's events to subscribers,
the agent round trip, and the tenant's native conversation API (/api/conversations)."""

import base64
import hashlib
import hmac
import json
import re
import time
import uuid

import pytest
import requests

from fakes import (SERVER_FLAGS, WIDGET_ORIGIN, ChatWidget, Reply, Tenant,  # noqa: F401
                   assert_signed, fakes, json_reply, ok, parse_rfc3339, secret_key,
                   signature_entries, text)
from sbhelpers import PeerClosed, assert_page, assert_problem, req, wait_until

pytestmark = pytest.mark.server

FOREIGN = "https://evil.example.com"
PHONE = "+905551234567"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
MSG_KEYS = ("id", "conversationId", "seq", "direction", "sender", "text", "attachments",
            "createdAt")
ROUTES = (("POST", "/messages"), ("GET", "/messages"), ("GET", "/events"))
CONV_EVENTS = ["dialog_created", "message_received", "message_sent", "dialog_closed",
               "dialog_reopened"]
MAX_BODY = 1 << 20  # --max-body default


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


# ---- helpers ------------------------------------------------------------------------------

def call(srv, w, method, rest, headers, query=""):
    """One session-route request. The body of an event stream (200 on /events) is not read, so
    a stream that is (wrongly) opened never hangs the test; any other answer is read whole."""
    with requests.Session() as s:
        s.trust_env = False
        kw = {"json": {"text": "hello"}} if method == "POST" else {}
        r = s.request(method, srv.url + w.path(rest) + query, headers=headers, stream=True,
                      timeout=(3, 5), allow_redirects=False, **kw)
        if not (rest == "/events" and r.status_code == 200):
            r.content  # noqa: B018 - reads the finite answer before the connection goes
        r.close()
        return r


def assert_401(r, what):
    assert r.status_code == 401, "%s: expected 401, got %d %r" % (what, r.status_code,
                                                                  r.text[:300])
    assert_problem(r, 401)
    www = r.headers.get("WWW-Authenticate", "")
    assert www.split(" ")[0].lower() == "bearer", "%s: WWW-Authenticate %r" % (what, www)
    assert r.headers.get("Access-Control-Allow-Origin") == WIDGET_ORIGIN, \
        "%s: the page of an allowed origin may read the 401" % what


def project(m):
    return {k: m.get(k) for k in MSG_KEYS}


def assert_message(m, s, text=None, direction="in"):
    for k in MSG_KEYS:
        assert k in m, "message lacks %r: %r" % (k, m)
    assert UUID_RE.match(m["id"]) and UUID_RE.match(m["conversationId"]), m
    assert isinstance(m["seq"], int) and not isinstance(m["seq"], bool) and m["seq"] > 0, m
    assert m["direction"] == direction, m
    assert TS_RE.match(m["createdAt"]), "createdAt %r" % m["createdAt"]
    assert abs(parse_rfc3339(m["createdAt"]).timestamp() - time.time()) < 30, m
    assert isinstance(m["attachments"], list), m
    if direction == "in":
        assert m["sender"] == {"type": "customer", "id": s.id}, m
    if text is not None:
        assert m["text"] == text, m


def session_pttl(redis, w, token):
    key = "sb:{t:%s}:session:%s" % (w.tenant["id"], hashlib.sha256(token.encode()).hexdigest())
    return int(redis.cmd("PTTL", key))


def verify(srv, w, sid, code):
    return srv.request("POST", w.path("/session/otp-verify"), json={"sessionId": sid, "code": code},
                       headers={"Origin": WIDGET_ORIGIN})


def otp_session(srv, w, sms, n=1):
    s = w.session({"mode": "otp", "phone": PHONE})
    body = sms.wait_for(n, 10)[n - 1].json()
    assert body["sessionId"] == s.id, body
    return s, body


def conversation(w, cid):
    r = w.api("GET", "/api/conversations/" + cid)
    assert r.status_code == 200, "GET conversation: %d %r" % (r.status_code, r.text[:300])
    return r.json()


def assert_conversation(c, w, s, status):
    for k in ("id", "channel", "channelId", "chatId", "status", "seq", "createdAt", "updatedAt",
              "agentId"):
        assert k in c, "conversation lacks %r: %r" % (k, c)
    assert UUID_RE.match(c["id"]), c
    assert c["channel"] == "widget" and c["channelId"] == w.id and c["chatId"] == s.id, c
    assert c["status"] == status, c
    assert isinstance(c["seq"], int) and c["seq"] > 0, c
    parse_rfc3339(c["createdAt"])
    parse_rfc3339(c["updatedAt"])


def close_conversation(w, cid):
    r = w.api("POST", "/api/conversations/%s/close" % cid)
    assert r.status_code == 200, "close: %d %r" % (r.status_code, r.text[:300])
    c = r.json()
    assert c["id"] == cid and c["status"] == "closed", c
    return c


def ids_of(page):
    return [x["id"] for x in page["items"]]


# ---- Bearer authentication ----------------------------------------------------------------

def test_session_routes_refuse_missing_unknown_and_foreign_tokens(sb):
    w = ChatWidget(sb, "auth-co")
    sibling = ChatWidget(sb, tenant=w.tenant)   # another widget of the same tenant
    stranger = ChatWidget(sb, "auth-stranger")  # a widget of another tenant
    mine = w.session()
    tokens = {
        "no Authorization": None,
        "garbage token": "not-a-token",
        "well-formed unknown token": base64.urlsafe_b64encode(b"\x07" * 32).decode().rstrip("="),
        "token of another widget": sibling.session().token,
        "token of another tenant's widget": stranger.session().token,
    }
    for method, rest in ROUTES:
        for what, tok in tokens.items():
            h = {"Origin": WIDGET_ORIGIN}
            if tok is not None:
                h["Authorization"] = "Bearer " + tok
            assert_401(call(sb, w, method, rest, h), "%s %s, %s" % (method, rest, what))
        for auth in ("Basic " + mine.token, "Bearer", "Bearer ", mine.token):
            h = {"Origin": WIDGET_ORIGIN, "Authorization": auth}
            assert_401(call(sb, w, method, rest, h), "%s %s, Authorization %r" % (
                method, rest, auth[:12]))
    # nothing above was stored, and the right token works
    r = mine.messages()
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []


def test_access_token_query_is_for_the_event_stream_only(sb):
    w = ChatWidget(sb)
    s = w.session()
    h = {"Origin": WIDGET_ORIGIN}
    for method in ("POST", "GET"):
        assert_401(call(sb, w, method, "/messages", h, "?access_token=" + s.token),
                   "%s /messages with ?access_token=" % method)
    assert s.items() == []


def test_anonymous_session_key_lives_two_hours(sb, redis):
    w = ChatWidget(sb)
    t0 = time.time()
    s = w.session()
    ttl = session_pttl(redis, w, s.token)
    assert 7_190_000 < ttl <= 7_200_000, ttl
    assert abs(parse_rfc3339(s.data["expiresAt"]).timestamp() - (t0 + 7200)) < 10, s.data
    assert s.messages().status_code == 200


@pytest.mark.slow
def test_expired_session_is_401(server, redis):
    srv = server(*SERVER_FLAGS, "--widget-session-ttl", "2")
    w = ChatWidget(srv)
    t0 = time.time()
    s = w.session()
    ttl = session_pttl(redis, w, s.token)
    assert 0 < ttl <= 2000, "--widget-session-ttl 2 gives the key a 2 s TTL, got %d ms" % ttl
    assert abs(parse_rfc3339(s.data["expiresAt"]).timestamp() - (t0 + 2)) < 3, s.data
    s.say("still alive")
    assert call(srv, w, "GET", "/events", s.headers()).status_code == 200
    assert wait_until(lambda: session_pttl(redis, w, s.token) == -2, 6), "the key never expired"
    for method, rest in ROUTES:
        assert_401(call(srv, w, method, rest, s.headers()), "%s %s after expiry" % (method, rest))


@pytest.mark.parametrize("flags,ttl", [((), 28800), (("--widget-verified-ttl", "60"), 60)],
                         ids=["default", "flag"])
def test_verified_otp_session_ttl(server, redis, fakes, flags, ttl):  # noqa: F811
    sms = fakes(ok())
    srv = server(*SERVER_FLAGS, *flags)
    w = ChatWidget(srv, "otp-ttl", otpRequired=True, smsWebhookUrl=sms.url)
    s, body = otp_session(srv, w, sms)
    assert 0 < session_pttl(redis, w, s.token) <= 15 * 60 * 1000, "pending OTP session: 15 min"
    t0 = time.time()
    r = verify(srv, w, s.id, body["code"])
    assert r.status_code == 200, r.text
    got = session_pttl(redis, w, s.token)
    assert ttl * 1000 - 10_000 < got <= ttl * 1000, "verified TTL %d s expected, PTTL %d ms" % (
        ttl, got)
    assert abs(parse_rfc3339(r.json()["expiresAt"]).timestamp() - (t0 + ttl)) < 10, r.json()
    m = s.say("verified now")
    assert_message(m, s, "verified now")


def test_unverified_otp_session_is_403(sb, fakes):  # noqa: F811
    sms = fakes(ok())
    w = ChatWidget(sb, "otp-403", otpRequired=True, smsWebhookUrl=sms.url)
    s, body = otp_session(sb, w, sms)
    for method, rest in ROUTES:
        r = call(sb, w, method, rest, s.headers())
        assert_problem(r, 403)
        assert r.headers.get("Access-Control-Allow-Origin") == WIDGET_ORIGIN, (method, rest)
    assert verify(sb, w, s.id, body["code"]).status_code == 200
    assert s.items() == [], "the refused POST stored nothing"
    s.say("now verified")


@pytest.mark.slow
def test_otp_code_ttl_flag(server, fakes):  # noqa: F811
    sms = fakes(ok())
    srv = server(*SERVER_FLAGS, "--otp-code-ttl", "1")
    w = ChatWidget(srv, "otp-code-ttl", otpRequired=True, smsWebhookUrl=sms.url)
    t0 = time.time()
    s, body = otp_session(srv, w, sms)
    assert abs(parse_rfc3339(body["expiresAt"]).timestamp() - (t0 + 1)) < 3, body
    time.sleep(max(0.0, t0 + 2.2 - time.time()))
    r = verify(srv, w, s.id, body["code"])
    assert r.status_code == 401, "a code past --otp-code-ttl: %d %r" % (r.status_code, r.text)


# ---- POST messages ------------------------------------------------------------------------

def test_post_messages_shape_and_sequence(sb):
    w = ChatWidget(sb)
    s = w.session()
    got = []
    for t in ("hello", "Merhaba dünya ✅", "  third, with spaces  "):
        r = s.post({"text": t})
        assert r.status_code == 201, r.text
        assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
        assert r.headers.get("Access-Control-Allow-Origin") == WIDGET_ORIGIN
        m = r.json()
        assert_message(m, s, t)
        assert m["attachments"] == []
        got.append(m)
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3, "seq strictly increasing: %r" % seqs
    assert len({m["conversationId"] for m in got}) == 1, "one conversation per session"
    assert len({m["id"] for m in got}) == 3
    assert [project(m) for m in s.items()] == [project(m) for m in got]
    # another session is another conversation, and sees none of these
    other = w.session()
    o = other.say("someone else")
    assert o["conversationId"] != got[0]["conversationId"]
    assert [m["id"] for m in other.items()] == [o["id"]]
    assert [m["id"] for m in s.items()] == [m["id"] for m in got]


def test_messages_are_limited_to_120_a_minute_per_session(sb):
    w = ChatWidget(sb)
    s, other = w.session(), w.session()
    for i in range(120):
        r = s.post({"text": "m%d" % i})
        assert r.status_code == 201, (i, r.text)
    assert r.headers.get("RateLimit-Limit") == "120"
    assert r.headers.get("RateLimit-Remaining") == "0"
    r = s.post({"text": "one too many"})
    assert_problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers.get("RateLimit-Remaining") == "0"
    assert r.headers.get("Access-Control-Allow-Origin") == WIDGET_ORIGIN
    first = s.items("limit=100")
    rest = s.items("limit=100&after=%d" % first[-1]["seq"])
    texts = [m["text"] for m in first + rest]
    assert texts == ["m%d" % i for i in range(120)], "exactly the 120 admitted messages, in order"
    assert other.post({"text": "a different session is not limited"}).status_code == 201


@pytest.mark.parametrize("text_value", ["x" * 4096, "ş" * 4096, "x"], ids=["4096-ascii",
                                                                          "4096-non-ascii", "1"])
def test_text_length_limit_is_inclusive_and_counts_characters(sb, text_value):
    s = ChatWidget(sb).session()
    r = s.post({"text": text_value})
    assert r.status_code == 201, "%d chars must be accepted: %r" % (len(text_value), r.text[:300])
    assert r.json()["text"] == text_value


ATT = {"url": "https://files.example.com/a.pdf", "name": "a.pdf", "contentType": "application/pdf"}


@pytest.mark.parametrize("body,field", [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": "   \t\n  "}, "text"),
    ({"text": 5}, "text"),
    ({"text": None}, "text"),
    ({"text": ["hi"]}, "text"),
    ({"text": {"t": "hi"}}, "text"),
    ({"text": True}, "text"),
    ({"text": "x" * 4097}, "text"),
    ({"text": "ş" * 4097}, "text"),
    ({"text": 5, "attachments": [ATT]}, "text"),
    ({"attachments": "a.pdf"}, "attachments"),
    ({"attachments": ATT}, "attachments"),
    ({"attachments": 3}, "attachments"),
    ({"attachments": [5]}, "attachments*"),
    ({"attachments": ["https://files.example.com/a.pdf"]}, "attachments*"),
    ({"attachments": [{}]}, "attachments*"),
    ({"attachments": [{"name": "a.pdf"}]}, "attachments*"),
    ({"attachments": [{"url": 5}]}, "attachments*"),
    ({"attachments": [{"url": "ftp://files.example.com/a.pdf"}]}, "attachments*"),
    ({"attachments": [{"url": "javascript:alert(1)"}]}, "attachments*"),
    ({"attachments": [{"url": "not a url"}]}, "attachments*"),
    ({"attachments": [dict(ATT, name=5)]}, "attachments*"),
    ({"attachments": [dict(ATT, contentType=["a"])]}, "attachments*"),
    ({"attachments": [ATT] * 11}, "attachments*"),
], ids=lambda v: None if isinstance(v, str) else json.dumps(v)[:40])
def test_invalid_message_is_400_naming_the_field(sb, body, field):
    s = ChatWidget(sb).session()
    r = s.post(body)
    p = assert_problem(r, 400)
    if field.endswith("*"):
        assert isinstance(p.get("field"), str) and p["field"].startswith(field[:-1]), \
            "expected a field under %r, got %r" % (field[:-1], p)
    else:
        assert p.get("field") == field, "expected field %r, got %r" % (field, p)
    assert r.headers.get("Access-Control-Allow-Origin") == WIDGET_ORIGIN
    assert s.items() == [], "a refused message is not stored"


@pytest.mark.parametrize("raw", ["{bad json", '{"text": "hi"', "", "[]", '"hello"', "null",
                                 '{"text": "hi"} trailing'])
def test_body_that_is_not_a_json_object_is_400(sb, raw):
    s = ChatWidget(sb).session()
    assert_problem(s.post(raw), 400)
    assert s.items() == []


def test_attachments(sb):
    s = ChatWidget(sb).session()
    r = s.post({"attachments": [ATT]})
    assert r.status_code == 201, "attachments make the text optional: %r" % r.text
    m = r.json()
    assert len(m["attachments"]) == 1
    assert {k: m["attachments"][0].get(k) for k in ATT} == ATT
    ten = [dict(ATT, url="http://files.example.com/%d.pdf" % i) for i in range(10)]
    r = s.post({"text": "ten files", "attachments": ten})
    assert r.status_code == 201, r.text
    assert [a["url"] for a in r.json()["attachments"]] == [a["url"] for a in ten]
    r = s.post({"attachments": [{"url": "https://files.example.com/only-url"}]})
    assert r.status_code == 201, "name and contentType are optional: %r" % r.text
    assert len(s.items()) == 3


def _raw_post(sb, s, body):
    head = req("POST", s.widget.path("/messages"),
               [("Authorization", "Bearer " + s.token), ("Origin", WIDGET_ORIGIN),
                ("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    with sb.raw(timeout=10) as c:
        c.send(head)
        try:  # a server may refuse on the Content-Length alone
            return c.read_response(timeout=0.5)
        except TimeoutError:
            pass
        except PeerClosed:
            pytest.fail("connection closed without an answer")
        try:
            c.sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return c.read_response(timeout=10)


def test_body_over_one_mib_is_413(sb):
    s = ChatWidget(sb).session()
    prefix, suffix = b'{"text":"', b'"}'
    fill = MAX_BODY - len(prefix) - len(suffix)
    at_limit = prefix + b"x" * fill + suffix
    assert len(at_limit) == MAX_BODY
    r = _raw_post(sb, s, at_limit)
    assert r.status == 400, "1 MiB is allowed by --max-body; the text is too long: %r" % r
    assert json.loads(r.body)["field"] == "text"
    over = prefix + b"x" * (fill + 1) + suffix
    r = _raw_post(sb, s, over)
    assert r.status == 413, r
    assert s.items() == []
    assert sb.get("/healthz").status_code == 200


# ---- GET messages -------------------------------------------------------------------------

def test_messages_before_and_after_the_first_one(sb):
    s = ChatWidget(sb).session()
    r = s.messages()
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["items"] == [] and b["hasMore"] is False, b
    assert b["conversationId"] is None or UUID_RE.match(b["conversationId"]), b
    m = s.say("first")
    if b["conversationId"] is not None:
        assert b["conversationId"] == m["conversationId"], "the id chosen at start is kept"
    b = s.messages().json()
    assert b["conversationId"] == m["conversationId"]
    assert [project(x) for x in b["items"]] == [project(m)] and b["hasMore"] is False


def test_after_a_seq_or_a_message_id(sb):
    s = ChatWidget(sb).session()
    msgs = [s.say("m%d" % i) for i in range(5)]
    ids = [m["id"] for m in msgs]
    assert [m["id"] for m in s.items("after=%d" % msgs[1]["seq"])] == ids[2:]
    assert [m["id"] for m in s.items("after=" + msgs[1]["id"])] == ids[2:]
    assert [m["id"] for m in s.items("after=0")] == ids
    for after in (str(msgs[4]["seq"]), msgs[4]["id"], str(msgs[4]["seq"] + 1000)):
        b = s.messages("after=" + after).json()
        assert b["items"] == [] and b["hasMore"] is False, (after, b)
    assert [m["id"] for m in s.items("after=%s&limit=2" % msgs[0]["id"])] == ids[1:3]


def test_after_an_unknown_message_id_is_400(sb):
    w = ChatWidget(sb)
    s = w.session()
    s.say("mine")
    foreign = w.session().say("not yours")
    for after in (str(uuid.uuid4()), foreign["id"], "not-a-seq-or-id"):
        assert_problem(s.messages("after=" + after), 400, field="after")


def test_limit_and_has_more(sb):
    s = ChatWidget(sb).session()
    msgs = [s.say("n%02d" % i) for i in range(55)]
    ids = [m["id"] for m in msgs]
    b = s.messages().json()
    assert ids_of(b) == ids[:50] and b["hasMore"] is True, "default limit 50, oldest first"
    b = s.messages("after=" + ids[49]).json()
    assert ids_of(b) == ids[50:] and b["hasMore"] is False
    b = s.messages("limit=100").json()
    assert ids_of(b) == ids and b["hasMore"] is False
    b = s.messages("limit=1").json()
    assert ids_of(b) == ids[:1] and b["hasMore"] is True
    walked, after = [], 0
    while True:
        b = s.messages("limit=20&after=%d" % after).json()
        walked += ids_of(b)
        if not b["hasMore"]:
            break
        after = b["items"][-1]["seq"]
        assert len(walked) < 100, "hasMore never ends"
    assert walked == ids
    for bad in ("0", "101", "x", "-5"):
        assert_problem(s.messages("limit=" + bad), 400, field="limit")


# ---- CORS ---------------------------------------------------------------------------------

def test_cors_on_session_routes(sb):
    w = ChatWidget(sb)
    s = w.session()
    for r in (s.post({"text": "hi"}), s.messages()):
        assert r.status_code in (200, 201), r.text
        assert r.headers.get("Access-Control-Allow-Origin") == WIDGET_ORIGIN
        assert "origin" in r.headers.get("Vary", "").lower()
        assert "x-request-id" in r.headers.get("Access-Control-Expose-Headers", "").lower()
    for method, rest in ROUTES:
        for h in (s.headers(Origin=FOREIGN),
                  {"Authorization": "Bearer " + s.token, "Referer": FOREIGN + "/shop"}):
            r = call(sb, w, method, rest, h)
            assert r.status_code == 403, (method, rest, h, r.status_code, r.text[:200])
            assert "Access-Control-Allow-Origin" not in r.headers, (method, rest)
    assert [m["text"] for m in s.items()] == ["hi"], "a refused POST stores nothing"
    # a Referer of an allowed page stands in for a missing Origin
    r = sb.request("GET", w.path("/messages"), headers={"Authorization": "Bearer " + s.token,
                                                       "Referer": WIDGET_ORIGIN + "/cart"})
    assert r.status_code == 200, r.text
    for rest, method in (("/messages", "POST"), ("/messages", "GET"), ("/events", "GET")):
        r = sb.request("OPTIONS", w.path(rest), headers={
            "Origin": WIDGET_ORIGIN, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, last-event-id"})
        assert r.status_code == 204, (rest, r.status_code, r.text)
        assert r.headers.get("Access-Control-Allow-Origin") == WIDGET_ORIGIN
        methods = {m.strip() for m in r.headers.get("Access-Control-Allow-Methods", "").split(",")}
        assert methods == {"GET", "POST", "OPTIONS"}, methods
        allowed = {h.strip().lower()
                   for h in r.headers.get("Access-Control-Allow-Headers", "").split(",")}
        assert {"authorization", "content-type", "last-event-id", "x-request-id"} <= allowed, \
            allowed
        assert r.headers.get("Access-Control-Max-Age") == "600"
        r = sb.request("OPTIONS", w.path(rest), headers={"Origin": FOREIGN,
                                                         "Access-Control-Request-Method": method})
        assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers, rest


# ---- events to the tenant's subscribers ---------------------------------------------------

def test_conversation_events_reach_subscribers(sb, fakes):  # noqa: F811
    f = fakes()
    w = ChatWidget(sb, "events-co")
    t = Tenant(sb, key=w.key)
    t.subscribe({f.url: CONV_EVENTS})
    secret = t.secret()["secret"]
    s = w.session()

    def of(name, n):
        recs = f.wait_for(n, 10, pred=lambda r: r.json().get("event_type") == name)
        return sorted((r.json()["data"] for r in recs), key=lambda d: d["seq"])

    m1 = s.say("first")
    m2 = s.say("second")
    cid = m1["conversationId"]
    created = of("dialog_created", 1)[0]
    received = of("message_received", 2)
    assert created["conversation_id"] == cid, created
    assert [d["seq"] for d in received] == [m1["seq"], m2["seq"]], \
        "a message keeps the seq of its message_received: %r" % received
    assert created["seq"] + 1 == m1["seq"], "dialog_created takes the seq before the message"
    for d, m in zip(received, (m1, m2)):
        assert d["conversation_id"] == cid and d["message_id"] == m["id"], d
        assert d["text"] == m["text"] and d["attachments"] == [], d
        assert d["channel"] == "widget" and d["channel_id"] == w.id and d["chat_id"] == s.id, d
        assert d["sender"] == {"type": "customer", "id": s.id}, d
        assert d["content_type"] == "messageText", d

    close_conversation(w, cid)
    closed = of("dialog_closed", 1)[0]
    assert closed["conversation_id"] == cid and closed["seq"] > m2["seq"], closed
    m3 = s.say("back again")
    assert m3["conversationId"] == cid, "a closed conversation is reopened, not replaced"
    reopened = of("dialog_reopened", 1)[0]
    third = of("message_received", 3)[2]
    assert reopened["conversation_id"] == cid, reopened
    assert closed["seq"] < reopened["seq"] < m3["seq"] == third["seq"], (closed, reopened, m3)
    assert conversation(w, cid)["status"] == "open"

    for r in f.snapshot():
        assert_signed(r, secret)
        assert r.json()["data"]["conversation_id"] == cid, r
    time.sleep(1.0)
    kinds = [r.json()["event_type"] for r in f.snapshot()]
    assert sorted(kinds) == sorted(["dialog_created", "message_received", "message_received",
                                    "dialog_closed", "dialog_reopened", "message_received"]), \
        "each event once, no message_sent without a reply: %r" % kinds
    seqs = [r.json()["data"]["seq"] for r in f.snapshot()]
    assert len(set(seqs)) == len(seqs), "every event of a conversation has its own seq: %r" % seqs


# ---- the widget's agent -------------------------------------------------------------------

AGENT_SECRETS = {
    "plain": "agent-secret-0123456789",
    "whsec": "whsec_" + base64.b64encode(bytes(range(1, 33))).decode(),
    "generated": None,
}


def agent_key(secret):
    return secret_key(secret) if secret.startswith("whsec_") else secret.encode()


def assert_agent_signed(rec, secret):
    key = agent_key(secret)
    # X-Hub-Signature-256: the secret string as given; Standard Webhooks: its key bytes
    want = "sha256=" + hmac.new(secret.encode(), rec.body, hashlib.sha256).hexdigest()
    assert rec.header("X-Hub-Signature-256") == want, \
        "X-Hub-Signature-256 is not HMAC-SHA256(agent secret, body): %r" % (
            rec.header("X-Hub-Signature-256"),)
    wid, ts = rec.header("webhook-id"), rec.header("webhook-timestamp")
    assert wid and ts and ts.isdigit(), dict(rec.headers)
    std = base64.b64encode(hmac.new(key, b"%s.%s.%s" % (wid.encode(), ts.encode(), rec.body),
                                    hashlib.sha256).digest()).decode()
    assert std in signature_entries(rec), "no webhook-signature verifies with the agent secret"


def replies(s):
    return [m for m in s.items() if m["direction"] == "out"]


def pong(rec, fake):
    return Reply(200, json.dumps({"reply": "pong"}), content_type="application/json")


@pytest.mark.parametrize("secret_kind,reply_key", [("plain", "reply"), ("whsec", "reply"),
                                                    ("generated", "message")])
def test_agent_gets_the_signed_message_and_its_reply_is_added_once(
        sb, fakes, secret_kind, reply_key):  # noqa: F811
    agent = fakes(json_reply({reply_key: "pong"}))
    sub = fakes()
    w = ChatWidget(sb, "agent-co", agent_url=agent.url, agent_secret=AGENT_SECRETS[secret_kind])
    secret = AGENT_SECRETS[secret_kind] or w.agent["secret"]
    t = Tenant(sb, key=w.key)
    t.subscribe({sub.url: ["message_sent"]})
    s = w.session()
    m = s.say("ping")

    rec = agent.wait_for(1, 10)[0]
    assert rec.method == "POST" and rec.path == "/hook"
    assert rec.header("Content-Type", "").split(";")[0].strip() == "application/json"
    assert_agent_signed(rec, secret)
    body = rec.json()
    assert set(body) >= {"event_type", "timestamp", "instance_id", "data", "api_key"}, body
    assert body["event_type"] == "message_received"
    d = body["data"]
    assert d["seq"] == m["seq"] and d["conversation_id"] == m["conversationId"], d
    assert d["channel"] == "widget" and d["channel_id"] == w.id and d["chat_id"] == s.id, d
    assert d["message_id"] == m["id"] and d["text"] == "ping" and d["attachments"] == [], d
    assert d["sender"] == {"type": "customer", "id": s.id}, d
    assert d["content_type"] == "messageText", d

    got = wait_until(lambda: replies(s), 10)
    assert len(got) == 1, got
    rep = got[0]
    assert rep["text"] == "pong" and rep["direction"] == "out", rep
    assert rep["sender"]["type"] == "agent" and rep["sender"]["id"] == w.agent["id"], rep
    assert rep["conversationId"] == m["conversationId"] and rep["seq"] > m["seq"], rep
    assert [x["id"] for x in s.items()] == [m["id"], rep["id"]], "oldest first"
    ev = sub.wait_for(1, 10)[0].json()
    assert ev["event_type"] == "message_sent", ev
    assert ev["data"]["seq"] == rep["seq"] and ev["data"]["conversation_id"] == m["conversationId"]
    # settles: one reply, and the agent is not sent its own reply
    time.sleep(1.5)
    assert len(replies(s)) == 1
    assert agent.count() == 1, agent.snapshot()


def test_agent_retry_adds_the_reply_once(server, fakes):  # noqa: F811
    def fail_then_pong(rec, fake):
        return Reply(500, "boom") if rec.nth == 0 else pong(rec, fake)

    agent = fakes(fail_then_pong)
    srv = server("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1")
    w = ChatWidget(srv, "agent-retry", agent_url=agent.url, agent_secret=AGENT_SECRETS["plain"])
    s = w.session()
    m = s.say("ping")
    first, second = agent.wait_for(2, 10)[:2]
    assert first.header("webhook-id") == second.header("webhook-id"), "one delivery, retried"
    assert first.body == second.body
    got = wait_until(lambda: replies(s), 10)
    assert [r["text"] for r in got] == ["pong"], got
    time.sleep(2.0)
    assert len(replies(s)) == 1, "exactly one reply: %r" % replies(s)
    assert agent.count() == 2
    assert [x["id"] for x in s.items()][0] == m["id"]


@pytest.mark.parametrize("answer", [
    text("pong"),
    json_reply({"reply": ""}),
    json_reply({"reply": 5}),
    json_reply({"status": "ok"}),
    json_reply(["pong"]),
], ids=["text", "empty-reply", "number-reply", "no-reply", "array"])
def test_agent_answer_without_a_reply_adds_nothing(sb, fakes, answer):  # noqa: F811
    agent = fakes(answer)
    w = ChatWidget(sb, "agent-quiet", agent_url=agent.url, agent_secret=AGENT_SECRETS["plain"])
    s = w.session()
    m = s.say("ping")
    agent.wait_for(1, 10)
    assert agent.stays_at(1, 2.0), "a 2xx is a success, not retried"
    assert [x["id"] for x in s.items()] == [m["id"]], "no reply message"
    assert sb.get("/healthz").status_code == 200
    assert s.say("again")["seq"] > m["seq"]


# ---- the tenant's native conversation API -------------------------------------------------

def test_native_conversation_list_filter_and_pages(sb):
    w = ChatWidget(sb, "native-co")
    sessions = [w.session() for _ in range(3)]
    w.session()  # a session that never writes has no conversation
    ChatWidget(sb, "native-other").session().say("another tenant")
    first = [s.say("hi from %d" % i) for i, s in enumerate(sessions)]
    cids = [m["conversationId"] for m in first]

    r = w.api("GET", "/api/conversations")
    assert r.status_code == 200, r.text
    p = assert_page(r.json())
    assert p["totalCount"] == 3 and sorted(ids_of(p)) == sorted(cids), p
    for c in p["items"]:
        s = sessions[cids.index(c["id"])]
        assert_conversation(c, w, s, "open")

    c = conversation(w, cids[0])
    assert_conversation(c, w, sessions[0], "open")
    assert c["seq"] >= first[0]["seq"], c

    close_conversation(w, cids[1])
    assert conversation(w, cids[1])["status"] == "closed"
    p = assert_page(w.api("GET", "/api/conversations?status=open").json())
    assert sorted(ids_of(p)) == sorted([cids[0], cids[2]]) and p["totalCount"] == 2, p
    p = assert_page(w.api("GET", "/api/conversations?status=closed").json())
    assert ids_of(p) == [cids[1]] and p["totalCount"] == 1, p

    seen = []
    for n in (1, 2, 3):
        p = assert_page(w.api("GET", "/api/conversations?pageSize=1&page=%d" % n).json())
        assert p["pageNumber"] == n and p["totalPages"] == 3 and p["totalCount"] == 3, p
        assert p["hasPreviousPage"] is (n > 1) and p["hasNextPage"] is (n < 3), p
        assert len(p["items"]) == 1
        seen += ids_of(p)
    assert sorted(seen) == sorted(cids), "each conversation on one page"
    for q, field in (("status=pending", "status"), ("pageSize=0", "pageSize"),
                     ("pageSize=101", "pageSize"), ("page=0", "page")):
        assert_problem(w.api("GET", "/api/conversations?" + q), 400, field=field)

    sessions[1].say("reopen please")
    assert conversation(w, cids[1])["status"] == "open"
    p = assert_page(w.api("GET", "/api/conversations?status=closed").json())
    assert p["items"] == [] and p["totalCount"] == 0, p


def test_native_unknown_conversation_is_404(sb):
    w = ChatWidget(sb, "native-404")
    mine = w.session().say("mine")["conversationId"]
    theirs = ChatWidget(sb, "native-404-other").session().say("theirs")["conversationId"]
    for cid in (str(uuid.uuid4()), "not-a-uuid", theirs):
        assert_problem(w.api("GET", "/api/conversations/" + cid), 404)
        assert_problem(w.api("GET", "/api/conversations/%s/messages" % cid), 404)
        assert_problem(w.api("POST", "/api/conversations/%s/messages" % cid,
                             json={"text": "x", "sender": {"type": "operator", "id": "op-1"}}),
                       404)
        assert_problem(w.api("POST", "/api/conversations/%s/close" % cid), 404)
    r = sb.request("GET", "/api/conversations/" + mine)
    assert r.status_code == 401, "the native API needs the tenant key"
    assert conversation(w, mine)["status"] == "open"


def test_operator_reply_reaches_the_widget(sb, fakes):  # noqa: F811
    sub = fakes()
    w = ChatWidget(sb, "operator-co")
    Tenant(sb, key=w.key).subscribe({sub.url: ["message_sent"]})
    s = w.session()
    m1 = s.say("I need help")
    cid = m1["conversationId"]
    r = w.api("POST", "/api/conversations/%s/messages" % cid,
              json={"text": "Merhaba, nasıl yardımcı olabilirim?",
                    "sender": {"type": "operator", "id": "op-1", "name": "Ayse"}})
    assert r.status_code == 201, r.text
    op = r.json()
    assert_message(op, s, "Merhaba, nasıl yardımcı olabilirim?", direction="out")
    assert op["sender"]["type"] == "operator" and op["sender"]["id"] == "op-1", op
    assert op["sender"].get("name", "Ayse") == "Ayse", op
    assert op["conversationId"] == cid and op["seq"] > m1["seq"], op

    assert [project(x) for x in s.items()] == [project(m1), project(op)]
    assert [x["id"] for x in s.items("after=%d" % m1["seq"])] == [op["id"]]
    ev = sub.wait_for(1, 10)[0].json()
    assert ev["event_type"] == "message_sent" and ev["data"]["seq"] == op["seq"], ev
    assert ev["data"]["conversation_id"] == cid, ev

    p = assert_page(w.api("GET", "/api/conversations/%s/messages" % cid).json())
    assert ids_of(p) == [m1["id"], op["id"]] and p["totalCount"] == 2, "oldest first: %r" % p
    p = assert_page(w.api("GET", "/api/conversations/%s/messages?pageSize=1&page=2" % cid).json())
    assert ids_of(p) == [op["id"]] and p["hasPreviousPage"] is True, p
    assert conversation(w, cid)["seq"] >= op["seq"]

    for bad in ({}, {"text": ""}, {"text": "   "}, {"text": 5}):
        body = dict(bad, sender={"type": "operator", "id": "op-1"})
        assert_problem(w.api("POST", "/api/conversations/%s/messages" % cid, json=body), 400,
                       field="text")
    assert len(s.items()) == 2
