"""Inbound platform webhooks (docs/channels.md): Slack, Telegram and WhatsApp post their users'
messages to switchboard. Each handler parses, finds the binding, verifies the sender, claims the
platform's event id and enqueues (`sb:q:in`); the queued item becomes a conversation message
(docs/conversations.md) that is delivered, signed, to the channel's agent (docs/deliveries.md).

Black box: bodies are built as bytes, signed here with hmac/hashlib and sent exactly as signed;
results are read back through the tenant's conversation API (X-API-Key), the fake agent and,
for "nothing stored", Redis (`sb:q:in` and the tenant's `conv` keys)."""

import hashlib
import hmac
import json
import time
import urllib.parse

import pytest

from fakes import SERVER_FLAGS, Tenant, fakes, ok  # noqa: F401  (fakes is a fixture)
from sbhelpers import RawConn, as_text, req, wait_until

pytestmark = pytest.mark.server

MAX_BODY = 1 << 20          # --max-body default (docs/configuration.md)
POLL = 5.0                  # processing happens from a queue: poll this long for results
SETTLE = 1.0                # "nothing stored": wait this long, then assert absence

AGENT_SECRET = "agent-secret-0123456789"

SLACK_TEAM = "T0SB0001"
SLACK_SECRET = "slack-signing-secret-current-0001"
SLACK_OLD_SECRET = "slack-signing-secret-previous-0001"
SLACK_VTOKEN = "slack-verification-token-0001"

TG_BOT = "7001234567"
TG_SECRET = "tg-secret-token-0001"
TG_OLD_SECRET = "tg-secret-token-previous-0001"

WA_PHONE = "106540352242922"
WA_WABA = "102290129340398"
WA_APP_SECRET = "wa-app-secret-0001"
WA_OLD_APP_SECRET = "wa-app-secret-previous-0001"
WA_VERIFY = "wa-verify-token-0001"

SLACK_PATH = "/api/webhooks/slack"
TG_PATH = "/api/webhooks/telegram"
WA_PATH = "/api/webhooks/whatsapp"


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


# ---- signing ------------------------------------------------------------------------------

def slack_sig(secret, ts, body):
    base = b"v0:" + str(ts).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_headers(secret, body, ts=None, form=False, retry=None):
    ts = int(time.time()) if ts is None else ts
    h = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
         "X-Slack-Request-Timestamp": str(ts)}
    if secret is not None:
        h["X-Slack-Signature"] = slack_sig(secret, ts, body)
    if retry is not None:
        h["X-Slack-Retry-Num"] = str(retry)
        h["X-Slack-Retry-Reason"] = "http_timeout"
    return h


def wa_sig(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def jbytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# ---- bodies -------------------------------------------------------------------------------

def slack_flat(text="hello from slack", channel="C0SB0001", user="U0SB0001",
               event_ts="1700000000.000100", team=SLACK_TEAM, token=SLACK_VTOKEN):
    return {"token": token, "team_id": team, "channel_id": channel, "user_id": user,
            "text": text, "event_ts": event_ts}


def slack_event(text="hello events", channel="C0SB0002", user="U0SB0002",
                event_id="Ev0SB00001", ts="1700000001.000200", team=SLACK_TEAM, **extra):
    ev = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
          "channel_type": "channel"}
    ev.update(extra)
    return {"token": SLACK_VTOKEN, "team_id": team, "api_app_id": "A0SB0001",
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "event": ev}


def tg_update(update_id=100001, text="hello from telegram", chat_id=4242001, from_id=777001,
              username="ayse_k", key="message"):
    msg = {"message_id": 50 + update_id % 1000, "date": int(time.time()),
           "chat": {"id": chat_id, "type": "private", "username": username},
           "from": {"id": from_id, "is_bot": False, "first_name": "Ayse",
                    "username": username}}
    if text is not None:
        msg["text"] = text
    return {"update_id": update_id, key: msg}


def wa_text(mid, frm, body):
    return {"from": frm, "id": mid, "timestamp": str(int(time.time())), "type": "text",
            "text": {"body": body}}


def wa_status(mid, recipient, status="delivered"):
    return {"id": mid, "status": status, "timestamp": str(int(time.time())),
            "recipient_id": recipient}


def wa_change(messages=(), statuses=(), contacts=(), phone=WA_PHONE, metadata=True):
    value = {"messaging_product": "whatsapp"}
    if metadata:
        value["metadata"] = {"display_phone_number": "15550001111", "phone_number_id": phone}
    if contacts:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": wa} for wa, name in contacts]
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"field": "messages", "value": value}


def wa_payload(*entries):
    """entries: (entry id, [changes])."""
    return {"object": "whatsapp_business_account",
            "entry": [{"id": eid, "changes": list(changes)} for eid, changes in entries]}


# ---- sending ------------------------------------------------------------------------------

def post(srv, path, body, headers):
    return srv.request("POST", path, data=body, headers=headers)


def send_slack(srv, obj, secret=SLACK_SECRET, ts=None, retry=None, query=""):
    body = obj if isinstance(obj, bytes) else jbytes(obj)
    return post(srv, SLACK_PATH + query, body, slack_headers(secret, body, ts=ts, retry=retry))


def send_slack_form(srv, fields, secret=SLACK_SECRET):
    body = urllib.parse.urlencode(fields).encode()
    return post(srv, SLACK_PATH, body, slack_headers(secret, body, form=True))


def send_tg(srv, obj, token=TG_SECRET, bot=TG_BOT):
    body = obj if isinstance(obj, bytes) else jbytes(obj)
    h = {"Content-Type": "application/json"}
    if token is not None:
        h["X-Telegram-Bot-Api-Secret-Token"] = token
    return post(srv, TG_PATH + ("/" + bot if bot is not None else ""), body, h)


def send_wa(srv, obj, secret=WA_APP_SECRET):
    body = obj if isinstance(obj, bytes) else jbytes(obj)
    h = {"Content-Type": "application/json"}
    if secret is not None:
        h["X-Hub-Signature-256"] = wa_sig(secret, body)
    return post(srv, WA_PATH, body, h)


def wa_get(srv, mode="subscribe", token=WA_VERIFY, challenge="1158201444"):
    q = {}
    if mode is not None:
        q["hub.mode"] = mode
    if token is not None:
        q["hub.verify_token"] = token
    if challenge is not None:
        q["hub.challenge"] = challenge
    return srv.request("GET", WA_PATH + "?" + urllib.parse.urlencode(q))


# ---- set-up -------------------------------------------------------------------------------

class Bound:
    """A tenant with one agent (a FakeSubscriber) and channels bound to it."""

    def __init__(self, srv, fakes, name="channels-co"):  # noqa: F811
        self.srv = srv
        self.tenant = srv.create_tenant(name)
        self.id = self.tenant["id"]
        self.key = self.tenant["apiKey"]
        self.agent = fakes(ok())  # plain "ok": a success without a reply
        r = srv.admin("POST", self.base + "/agents",
                      json={"name": "Bot", "webhookUrl": self.agent.url, "secret": AGENT_SECRET})
        assert r.status_code == 201, "create agent: %d %r" % (r.status_code, r.text[:300])
        self.agent_id = r.json()["id"]
        self.channels = {}

    @property
    def base(self):
        return "/api/admin/tenants/%s" % self.id

    def channel(self, type_, config, label=None):
        r = self.srv.admin("POST", self.base + "/channels",
                           json={"type": type_, "agentId": self.agent_id, "config": config})
        assert r.status_code == 201, "create %s channel: %d %r" % (type_, r.status_code,
                                                                  r.text[:300])
        ch = r.json()
        self.channels[label or type_] = ch
        return ch

    def slack(self, **over):
        cfg = {"teamId": SLACK_TEAM, "signingSecret": SLACK_SECRET, "botToken": "xoxb-1"}
        cfg.update(over)
        return self.channel("slack", {k: v for k, v in cfg.items() if v is not None})

    def telegram(self, **over):
        cfg = {"botId": TG_BOT, "botToken": TG_BOT + ":AAbbCC", "secretToken": TG_SECRET}
        cfg.update(over)
        return self.channel("telegram", {k: v for k, v in cfg.items() if v is not None})

    def whatsapp(self, label=None, **over):
        cfg = {"phoneNumberId": WA_PHONE, "wabaId": WA_WABA, "appSecret": WA_APP_SECRET,
               "verifyToken": WA_VERIFY, "accessToken": "wa-access-0001"}
        cfg.update(over)
        return self.channel("whatsapp", {k: v for k, v in cfg.items() if v is not None}, label)

    # reading back ----------------------------------------------------------------------
    def conversations(self):
        r = self.srv.tenant_api(self.key, "/api/conversations?pageSize=100")
        assert r.status_code == 200, "GET conversations: %d %r" % (r.status_code, r.text[:300])
        return r.json()["items"]

    def messages(self, cid):
        r = self.srv.tenant_api(self.key, "/api/conversations/%s/messages?pageSize=100" % cid)
        assert r.status_code == 200, "GET messages: %d %r" % (r.status_code, r.text[:300])
        return r.json()["items"]

    def inbound(self):
        """{conversation id: (conversation, [inbound messages])}."""
        out = {}
        for c in self.conversations():
            out[c["id"]] = (c, [m for m in self.messages(c["id"]) if m.get("direction") == "in"])
        return out

    def count(self):
        return sum(len(ms) for _, ms in self.inbound().values())

    def wait_messages(self, n, timeout=POLL):
        """Poll until at least n inbound messages exist; then assert exactly n after a short
        settle (a duplicate would show up late, from the queue)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.count()
            if got >= n or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        assert got >= n, "expected %d inbound message(s) within %.0f s, got %d" % (
            n, timeout, got)
        time.sleep(0.5)
        got = self.inbound()
        total = sum(len(ms) for _, ms in got.values())
        assert total == n, "expected exactly %d message(s), got %d: %r" % (n, total, got)
        return got


def only_message(bound):
    got = bound.wait_messages(1)
    assert len(got) == 1, got
    (conv, msgs), = got.values()
    return conv, msgs[0]


def assert_ok(r, what=""):
    assert r.status_code == 200, "%s: expected 200, got %d %r" % (what, r.status_code,
                                                                  r.text[:300])
    assert r.json() == {"status": "ok"}, "%s: %r" % (what, r.text[:300])


def assert_status(r, code, field=None, secrets=()):
    """code; for 400 with field: the answer names it (`field` of the problem, or the text);
    secrets: strings that must never be echoed."""
    assert r.status_code == code, "expected %d, got %d %r" % (code, r.status_code,
                                                              r.text[:300])
    for s in secrets:
        assert s not in r.text, "answer echoes %r: %r" % (s, r.text[:300])
    if field is not None:
        ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype == "application/problem+json":
            f = r.json().get("field")
            assert isinstance(f, str) and field in f, \
                "400 must name %r, problem field is %r: %r" % (field, f, r.text[:300])
        else:
            assert field in r.text, "400 must name %r: %r" % (field, r.text[:300])


def assert_nothing_stored(bound, redis, settle=SETTLE):
    time.sleep(settle)
    assert bound.conversations() == [], "no conversation may be stored"
    assert int(redis.cmd("XLEN", "sb:q:in")) == 0, \
        "nothing may be queued: %r" % redis.cmd("XRANGE", "sb:q:in", "-", "+")
    keys = redis.cmd("KEYS", "sb:{t:%s}:conv*" % bound.id) or []
    assert keys == [], "conversation keys written: %r" % keys
    claims = redis.cmd("KEYS", "sb:{t:%s}:seen:*" % bound.id) or []
    assert claims == [], "no dedup claim may exist without its message: %r" % claims
    assert bound.agent.count() == 0, "the agent must not be called: %r" % bound.agent.snapshot()


def assert_agent_once(bound, conv, text):
    """The agent got exactly one signed message_received for this message."""
    rec = bound.agent.wait_for(1, 10)[0]
    assert rec.method == "POST"
    want = "sha256=" + hmac.new(AGENT_SECRET.encode(), rec.body, hashlib.sha256).hexdigest()
    assert rec.header("X-Hub-Signature-256") == want, \
        "agent delivery not signed with the agent's secret: %r" % dict(rec.headers)
    body = rec.json()
    assert body["event_type"] == "message_received", body
    d = body["data"]
    assert d["text"] == text, d
    assert d["conversation_id"] == conv["id"], d
    assert d["channel"] == conv["channel"] and d["chat_id"] == conv["chatId"], d
    assert bound.agent.stays_at(1, 1.0), "the agent is called exactly once: %r" % (
        bound.agent.snapshot(),)
    return d


def assert_conv(conv, channel, channel_id, chat_id):
    assert conv["channel"] == channel, conv
    assert conv["channelId"] == channel_id, conv
    assert conv["chatId"] == chat_id, conv
    assert conv["status"] == "open", conv


def assert_customer_msg(m, text, sender_id, name=None):
    assert m["direction"] == "in" and m["text"] == text, m
    assert m["sender"]["type"] == "customer" and m["sender"]["id"] == sender_id, m
    if name is not None:
        assert m["sender"].get("name") == name, m
    assert isinstance(m.get("platformMessageId"), str) and m["platformMessageId"], \
        "a platform message carries platformMessageId: %r" % m


# =============================================================================================
# Slack

def test_slack_flat_json_is_stored_and_reaches_the_agent_once(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.slack()
    assert_ok(send_slack(sb, slack_flat(text="hello from slack")), "flat JSON")
    conv, m = only_message(b)
    assert_conv(conv, "slack", ch["id"], "C0SB0001")
    assert_customer_msg(m, "hello from slack", "U0SB0001")
    assert m["conversationId"] == conv["id"], m
    assert_agent_once(b, conv, "hello from slack")


def test_slack_flat_form_encoded_body(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.slack()
    text = "form body & symbols = ok ü"
    assert_ok(send_slack_form(sb, slack_flat(text=text, channel="C0FORM01", user="U0FORM01")),
              "form body")
    conv, m = only_message(b)
    assert_conv(conv, "slack", ch["id"], "C0FORM01")
    assert_customer_msg(m, text, "U0FORM01")
    assert_agent_once(b, conv, text)


def test_slack_events_api_message(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.slack()
    assert_ok(send_slack(sb, slack_event(text="events api hello", channel="C0EV0001",
                                         user="U0EV0001")), "event_callback")
    conv, m = only_message(b)
    assert_conv(conv, "slack", ch["id"], "C0EV0001")
    assert_customer_msg(m, "events api hello", "U0EV0001")
    assert_agent_once(b, conv, "events api hello")


def test_http_only_instance_queues_and_a_working_instance_stores(server, fakes, redis):  # noqa: F811
    """--process-queues 0 (docs/deploy.md "An HTTP tier"): the instance accepts, claims and
    queues, but stores nothing and calls no agent; an instance with the default 1 on the same
    Redis then turns the queued message into the conversation message and the agent's call."""
    front = server(*SERVER_FLAGS, "--process-queues", "0")
    b = Bound(front, fakes)
    ch = b.slack()
    assert_ok(send_slack(front, slack_event(text="queued by the front", channel="C0TIER01",
                                            user="U0TIER01", event_id="Ev0TIER0001")), "front")
    assert_ok(send_slack(front, slack_event(text="queued by the front", channel="C0TIER01",
                                            user="U0TIER01", event_id="Ev0TIER0001"), retry=1),
              "front, Slack's retry")
    time.sleep(SETTLE * 2)
    assert int(redis.cmd("XLEN", "sb:q:in")) == 1, "the message waits in the queue, once"
    assert b.conversations() == [], "an HTTP-only instance stores no conversation"
    assert b.agent.count() == 0, "an HTTP-only instance calls no agent"

    server(*SERVER_FLAGS)  # a working instance, same Redis
    conv, m = only_message(b)
    assert_conv(conv, "slack", ch["id"], "C0TIER01")
    assert_customer_msg(m, "queued by the front", "U0TIER01")
    assert_agent_once(b, conv, "queued by the front")


def chat_texts(bound, n, timeout=30):
    """The inbound texts of the one conversation, by seq, once there are n."""
    got = bound.wait_messages(n, timeout=timeout)
    assert len(got) == 1, "one chat, one conversation: %r" % list(got)
    (_, msgs), = got.values()
    return [m["text"] for m in sorted(msgs, key=lambda m: m["seq"])]


def test_a_backlog_worked_by_several_instances_is_stored_in_arrival_order(server, fakes, redis):  # noqa: F811
    """docs/channels.md "Order": one consumer at a time stores inbound messages (a lease), so a
    chat's messages keep the order in which switchboard accepted them even when a backlog is
    worked off by several instances of several threads each."""
    front = server(*SERVER_FLAGS, "--process-queues", "0")
    b = Bound(front, fakes)
    b.slack()
    texts = ["message %03d" % i for i in range(90)]  # one page of messages
    for i, t in enumerate(texts):
        assert_ok(send_slack(front, slack_event(text=t, channel="C0ORDER1", user="U0ORDER1",
                                                event_id="Ev0ORD%04d" % i, ts="1700000100.%06d" % i)),
                  t)
    assert int(redis.cmd("XLEN", "sb:q:in")) == 90
    server(*SERVER_FLAGS, threads=2)
    server(*SERVER_FLAGS, threads=2)
    assert chat_texts(b, 90) == texts


def test_inbound_entries_of_a_vanished_consumer_are_taken_over_in_order(server, fakes, redis):  # noqa: F811
    """A holder of the inbound lease that vanished mid-batch: its entries stay pending under its
    name until the lease runs out; the next holder takes them over first, then the rest, in
    order, and each message is stored once."""
    front = server(*SERVER_FLAGS, "--process-queues", "0")
    b = Bound(front, fakes)
    b.slack()
    texts = ["turn %02d" % i for i in range(30)]
    for i, t in enumerate(texts):
        assert_ok(send_slack(front, slack_event(text=t, channel="C0TAKE01", user="U0TAKE01",
                                                event_id="Ev0TAK%04d" % i, ts="1700000200.%06d" % i)),
                  t)
    redis.cmd("XGROUP", "CREATE", "sb:q:in", "sb", "0", "MKSTREAM")
    taken = redis.cmd("XREADGROUP", "GROUP", "sb", "ghost", "COUNT", "10", "STREAMS", "sb:q:in", ">")
    assert len(taken[0][1]) == 10
    redis.cmd("SET", "sb:q:in:lease", "ghost", "PX", "2500")
    server(*SERVER_FLAGS)
    assert chat_texts(b, 30, timeout=20) == texts
    assert int(redis.cmd("XLEN", "sb:q:in")) == 0
    assert b.agent.wait_for(30, 10) and b.agent.stays_at(30, 1.0)


def test_a_stopping_holder_gives_the_inbound_lease_up(server, fakes, redis):  # noqa: F811
    """A clean shutdown (a rolling restart) hands the inbound queue on at once: the next
    holder does not wait for the lease to run out (5 s)."""
    a, b = server(*SERVER_FLAGS), server(*SERVER_FLAGS)
    bound = Bound(a, fakes)
    bound.slack()
    assert wait_until(lambda: redis.cmd("GET", "sb:q:in:lease") is not None, 5)
    holder_pid = int(as_text(redis.cmd("GET", "sb:q:in:lease")).split(":")[1])
    holder, other = (a, b) if a.pid == holder_pid else (b, a)
    assert holder.pid == holder_pid, "the lease names a running instance's consumer"
    assert holder.stop() == []
    bound.srv = other  # read back through the instance left
    assert_ok(send_slack(other, slack_event(text="after the handover", event_id="Ev0HAND001")),
              "after the handover")
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and bound.count() < 1:
        time.sleep(0.05)
    assert bound.count() == 1, "stored within 3 s of the holder's shutdown"
    assert int(as_text(redis.cmd("GET", "sb:q:in:lease")).split(":")[1]) == other.pid


def test_slack_url_verification_answers_the_challenge(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = {"token": SLACK_VTOKEN, "challenge": challenge, "type": "url_verification"}
    r = send_slack(sb, body, query="?teamId=" + SLACK_TEAM)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert r.json() == {"challenge": challenge}
    # answered only after verification: a forged signature gets no challenge back
    r = send_slack(sb, body, secret="not-the-signing-secret", query="?teamId=" + SLACK_TEAM)
    assert_status(r, 401, secrets=(challenge, SLACK_SECRET))
    # and without ?teamId= there is no binding
    r = send_slack(sb, body)
    assert_status(r, 401, secrets=(challenge,))
    assert_nothing_stored(b, redis)


def _slack_bad_proof(case):
    body = jbytes(slack_flat(text="should not be stored"))
    now = int(time.time())
    h = slack_headers(SLACK_SECRET, body)
    if case == "forged":
        h["X-Slack-Signature"] = "v0=" + "0" * 64
    elif case == "wrong_secret":
        h = slack_headers("some-other-signing-secret", body)
    elif case == "tampered_body":
        body = jbytes(slack_flat(text="tampered after signing"))
    elif case == "stale_timestamp":
        h = slack_headers(SLACK_SECRET, body, ts=now - 301 - 30)
    elif case == "future_timestamp":
        h = slack_headers(SLACK_SECRET, body, ts=now + 301 + 30)
    elif case == "missing_signature":
        h = slack_headers(None, body)  # body token is right, but the binding has a secret
    elif case == "missing_timestamp":
        del h["X-Slack-Request-Timestamp"]
    elif case == "unknown_team":
        body = jbytes(slack_flat(team="T0UNKNOWN"))
        h = slack_headers(SLACK_SECRET, body)
    return body, h


@pytest.mark.parametrize("case", ["forged", "wrong_secret", "tampered_body", "stale_timestamp",
                                  "future_timestamp", "missing_signature", "missing_timestamp",
                                  "unknown_team"])
def test_slack_bad_proof_is_401_and_nothing_stored(sb, fakes, redis, case):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack(verificationToken=SLACK_VTOKEN)
    body, h = _slack_bad_proof(case)
    r = post(sb, SLACK_PATH, body, h)
    expected = slack_sig(SLACK_SECRET, h.get("X-Slack-Request-Timestamp", ""), body)
    assert_status(r, 401, secrets=(SLACK_SECRET, expected[3:]))
    assert_nothing_stored(b, redis)


def test_slack_previous_signing_secret_verifies(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.slack(signingSecretPrevious=SLACK_OLD_SECRET)
    assert_ok(send_slack(sb, slack_flat(text="signed with the old secret",
                                        event_ts="1700000000.000001"),
                         secret=SLACK_OLD_SECRET), "previous secret")
    assert_ok(send_slack(sb, slack_flat(text="signed with the new secret",
                                        event_ts="1700000000.000002")), "current secret")
    got = b.wait_messages(2)
    (conv, msgs), = got.values()
    assert_conv(conv, "slack", ch["id"], "C0SB0001")
    assert sorted(m["text"] for m in msgs) == ["signed with the new secret",
                                               "signed with the old secret"]
    # a third, unrelated secret still fails
    r = send_slack(sb, slack_flat(event_ts="1700000000.000003"), secret="neither-secret")
    assert_status(r, 401)
    assert b.count() == 2


def test_slack_rotation_by_put_takes_effect(sb, fakes):  # noqa: F811
    """PUT a new signing secret keeping the old one as previous: both verify (within the 1 s
    binding cache); a binding updated without the old one refuses it."""
    b = Bound(sb, fakes)
    ch = b.slack()
    path = b.base + "/channels/" + ch["id"]
    r = sb.admin("PUT", path, json={"config": {"signingSecret": "rotated-signing-secret",
                                               "signingSecretPrevious": SLACK_SECRET}})
    assert r.status_code == 200, r.text
    time.sleep(1.5)
    assert_ok(send_slack(sb, slack_flat(event_ts="1.1"), secret=SLACK_SECRET), "previous")
    assert_ok(send_slack(sb, slack_flat(event_ts="1.2"), secret="rotated-signing-secret"),
              "current")
    b.wait_messages(2)
    r = sb.admin("PUT", path, json={"config": {"signingSecretPrevious": "another-old-one"}})
    assert r.status_code == 200, r.text
    time.sleep(1.5)
    assert_status(send_slack(sb, slack_flat(event_ts="1.3"), secret=SLACK_SECRET), 401)
    assert_ok(send_slack(sb, slack_flat(event_ts="1.4"), secret="rotated-signing-secret"))
    b.wait_messages(3)


@pytest.mark.parametrize("token,expect", [(SLACK_VTOKEN, 200), ("wrong-token", 401),
                                          (None, 401)], ids=["right", "wrong", "missing"])
def test_slack_legacy_binding_is_verified_by_body_token(sb, fakes, redis,  # noqa: F811
                                                        token, expect):
    b = Bound(sb, fakes)
    ch = b.slack(signingSecret=None, verificationToken=SLACK_VTOKEN)
    body = slack_flat(text="legacy token")
    if token is None:
        del body["token"]
    else:
        body["token"] = token
    raw = jbytes(body)
    r = post(sb, SLACK_PATH, raw, {"Content-Type": "application/json"})  # no signature at all
    if expect == 200:
        assert_ok(r, "legacy token")
        conv, m = only_message(b)
        assert_conv(conv, "slack", ch["id"], "C0SB0001")
        assert_customer_msg(m, "legacy token", "U0SB0001")
    else:
        assert_status(r, 401, secrets=(SLACK_VTOKEN,))
        assert_nothing_stored(b, redis)


def test_slack_binding_without_any_secret_fails_closed(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack(signingSecret=None)
    r = send_slack(sb, slack_flat(token=""))
    assert_status(r, 401)
    r = post(sb, SLACK_PATH, jbytes(slack_flat(token="")), {"Content-Type": "application/json"})
    assert_status(r, 401)
    assert_nothing_stored(b, redis)


@pytest.mark.parametrize("kind", ["flat", "events"])
def test_slack_same_event_three_times_is_one_message(sb, fakes, kind):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    obj = slack_flat(text="only once") if kind == "flat" else slack_event(text="only once")
    for retry in (None, 1, 2):
        # each retry is signed afresh (new timestamp), as Slack does
        assert_ok(send_slack(sb, obj, retry=retry), "attempt %s" % retry)
        time.sleep(0.2)
    conv, m = only_message(b)
    assert m["text"] == "only once"
    assert_agent_once(b, conv, "only once")


def test_slack_distinct_events_of_one_channel_share_a_conversation(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.slack()
    assert_ok(send_slack(sb, slack_flat(text="first", event_ts="1700000000.1")))
    b.wait_messages(1)
    assert_ok(send_slack(sb, slack_event(text="second", channel="C0SB0001", event_id="EvSECOND")))
    b.wait_messages(2)
    assert_ok(send_slack(sb, slack_flat(text="elsewhere", channel="C0OTHER1",
                                        event_ts="1700000000.2")))
    got = b.wait_messages(3)
    by_chat = {c["chatId"]: [m["text"] for m in ms] for c, ms in got.values()}
    assert by_chat == {"C0SB0001": ["first", "second"], "C0OTHER1": ["elsewhere"]}, by_chat
    for c, _ in got.values():
        assert c["channel"] == "slack" and c["channelId"] == ch["id"], c
    b.agent.wait_for(3, 10)
    assert b.agent.stays_at(3, 1.0)


@pytest.mark.parametrize("case", ["bot_id", "subtype", "bot_subtype", "other_event_type"])
def test_slack_bot_and_subtype_events_are_acknowledged_not_stored(sb, fakes, redis,  # noqa: F811
                                                                  case):
    b = Bound(sb, fakes)
    b.slack()
    if case == "bot_id":
        obj = slack_event(text="our own reply", bot_id="B0SB0001")
    elif case == "subtype":
        obj = slack_event(text="edited", subtype="message_changed")
    elif case == "bot_subtype":
        obj = slack_event(text="bot says", subtype="bot_message", bot_id="B0SB0001")
        del obj["event"]["user"]
    else:
        obj = slack_event()
        obj["event"] = {"type": "reaction_added", "user": "U0SB0001", "reaction": "thumbsup",
                        "item": {"type": "message", "channel": "C0SB0002", "ts": "1.2"},
                        "event_ts": "1700000002.000300"}
    assert_ok(send_slack(sb, obj), case)
    time.sleep(SETTLE)
    assert b.conversations() == []
    assert b.agent.count() == 0


def test_slack_deleted_binding_is_401_within_the_cache_time(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.slack()
    assert_ok(send_slack(sb, slack_flat(text="before delete")))
    b.wait_messages(1)
    assert sb.admin("DELETE", b.base + "/channels/" + ch["id"]).status_code == 204
    time.sleep(1.5)  # --binding-cache-ms default 1000
    r = send_slack(sb, slack_flat(text="after delete", event_ts="1700000009.9"))
    assert_status(r, 401)
    time.sleep(SETTLE)
    assert b.count() == 1


# =============================================================================================
# Telegram

def test_telegram_bot_path_stores_the_message(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.telegram()
    assert_ok(send_tg(sb, tg_update(text="merhaba telegram")), "telegram")
    conv, m = only_message(b)
    assert_conv(conv, "telegram", ch["id"], "4242001")
    assert_customer_msg(m, "merhaba telegram", "777001", name="ayse_k")
    assert_agent_once(b, conv, "merhaba telegram")


def test_telegram_group_chat_id_is_kept_as_a_string(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.telegram()
    assert_ok(send_tg(sb, tg_update(chat_id=-1001234567890, text="group hello")))
    conv, m = only_message(b)
    assert_conv(conv, "telegram", ch["id"], "-1001234567890")


def test_telegram_plain_path_finds_the_binding_by_secret_token(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.telegram()
    assert_ok(send_tg(sb, tg_update(text="no bot id in the path"), bot=None), "plain path")
    conv, m = only_message(b)
    assert_conv(conv, "telegram", ch["id"], "4242001")
    assert_customer_msg(m, "no bot id in the path", "777001", name="ayse_k")
    assert_agent_once(b, conv, "no bot id in the path")


@pytest.mark.parametrize("path_kind", ["bot_path", "plain_path"])
def test_telegram_previous_secret_token_verifies(sb, fakes, path_kind):  # noqa: F811
    b = Bound(sb, fakes)
    b.telegram(secretTokenPrevious=TG_OLD_SECRET)
    bot = TG_BOT if path_kind == "bot_path" else None
    assert_ok(send_tg(sb, tg_update(update_id=1, text="old token"), token=TG_OLD_SECRET,
                      bot=bot))
    assert_ok(send_tg(sb, tg_update(update_id=2, text="new token"), bot=bot))
    got = b.wait_messages(2)
    (conv, msgs), = got.values()
    assert sorted(m["text"] for m in msgs) == ["new token", "old token"]


@pytest.mark.parametrize("case", ["wrong_token", "missing_token", "unknown_bot",
                                  "plain_wrong_token", "plain_missing_token"])
def test_telegram_bad_proof_is_401_and_nothing_stored(sb, fakes, redis, case):  # noqa: F811
    b = Bound(sb, fakes)
    b.telegram()
    kw = {"wrong_token": {"token": "not-the-secret"},
          "missing_token": {"token": None},
          "unknown_bot": {"bot": "999999"},
          "plain_wrong_token": {"token": "not-the-secret", "bot": None},
          "plain_missing_token": {"token": None, "bot": None}}[case]
    r = send_tg(sb, tg_update(), **kw)
    assert_status(r, 401, secrets=(TG_SECRET,))
    assert_nothing_stored(b, redis)


def test_telegram_same_update_three_times_is_one_message(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.telegram()
    upd = tg_update(update_id=555001, text="retried update")
    for i in range(3):
        assert_ok(send_tg(sb, upd, bot=TG_BOT if i != 1 else None), "attempt %d" % i)
        time.sleep(0.2)
    conv, m = only_message(b)
    assert m["text"] == "retried update"
    assert_agent_once(b, conv, "retried update")


@pytest.mark.parametrize("case", ["contact", "sticker", "edited_message", "no_message"])
def test_telegram_update_without_text_is_acknowledged_not_stored(sb, fakes, redis,  # noqa: F811
                                                                 case):
    """Kinds switchboard does not store (photos and files are media: test_inbound_media.py)."""
    b = Bound(sb, fakes)
    b.telegram()
    if case == "contact":
        upd = tg_update(text=None)
        upd["message"]["contact"] = {"phone_number": "+905551112233", "first_name": "Ada"}
    elif case == "sticker":
        upd = tg_update(text=None)
        upd["message"]["sticker"] = {"file_id": "CAAD1", "file_unique_id": "s1", "width": 512,
                                     "height": 512, "is_animated": False}
    elif case == "edited_message":
        upd = tg_update(text="edited text", key="edited_message")
    else:
        upd = {"update_id": 100001,
               "my_chat_member": {"chat": {"id": 4242001, "type": "private"},
                                  "from": {"id": 777001, "is_bot": False, "first_name": "A"},
                                  "date": int(time.time())}}
    assert_ok(send_tg(sb, upd), case)
    time.sleep(SETTLE)
    assert b.conversations() == []
    assert b.agent.count() == 0


# =============================================================================================
# WhatsApp

def test_whatsapp_get_verification_answers_the_challenge(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp()
    r = wa_get(sb, challenge="1158201444")
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "text/plain", r.headers
    assert r.text == "1158201444"


@pytest.mark.parametrize("case", ["wrong_token", "missing_token", "wrong_mode", "missing_mode",
                                  "no_binding"])
def test_whatsapp_get_verification_refused_is_403(sb, fakes, case):  # noqa: F811
    b = Bound(sb, fakes)
    if case != "no_binding":
        b.whatsapp()
    kw = {"wrong_token": {"token": "not-the-verify-token"},
          "missing_token": {"token": None},
          "wrong_mode": {"mode": "unsubscribe"},
          "missing_mode": {"mode": None},
          "no_binding": {}}[case]
    r = wa_get(sb, challenge="8877665544", **kw)
    assert_status(r, 403, secrets=("8877665544", WA_VERIFY))


def test_whatsapp_three_messages_in_two_entries_and_statuses(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.whatsapp()
    payload = wa_payload(
        (WA_WABA, [
            wa_change(messages=[wa_text("wamid.AAA1", "905551110001", "ilk mesaj"),
                                wa_text("wamid.BBB1", "905551110002", "hello from two")],
                      contacts=[("905551110001", "Ali"), ("905551110002", "Veli")]),
            wa_change(statuses=[wa_status("wamid.OUT1", "905551110001")]),
        ]),
        (WA_WABA, [
            wa_change(messages=[wa_text("wamid.AAA2", "905551110001", "ikinci mesaj")],
                      statuses=[wa_status("wamid.OUT2", "905551110002", "read")],
                      contacts=[("905551110001", "Ali")]),
        ]),
    )
    assert_ok(send_wa(sb, payload), "whatsapp")
    got = b.wait_messages(3)
    by_chat = {}
    for conv, msgs in got.values():
        assert conv["channel"] == "whatsapp" and conv["channelId"] == ch["id"], conv
        by_chat[conv["chatId"]] = msgs
    assert sorted(by_chat) == ["905551110001", "905551110002"], by_chat
    assert [m["text"] for m in by_chat["905551110001"]] == ["ilk mesaj", "ikinci mesaj"]
    assert [m["text"] for m in by_chat["905551110002"]] == ["hello from two"]
    assert_customer_msg(by_chat["905551110001"][0], "ilk mesaj", "905551110001", name="Ali")
    assert_customer_msg(by_chat["905551110002"][0], "hello from two", "905551110002",
                        name="Veli")
    recs = b.agent.wait_for(3, 10)
    assert b.agent.stays_at(3, 1.0), "one agent call per message: %r" % b.agent.snapshot()
    assert sorted(r.json()["data"]["text"] for r in recs) == ["hello from two", "ikinci mesaj",
                                                               "ilk mesaj"]


def test_whatsapp_payload_at_the_message_limit_is_stored_whole(sb, fakes, redis):  # noqa: F811
    """256 messages in one payload (the limit; its dedup claim and enqueue are one script call
    of 514 arguments) are all queued; one more is 400 and nothing of it is stored."""
    b = Bound(sb, fakes)
    b.whatsapp()
    msgs = [wa_text("wamid.LIM%03d" % i, "9055511%05d" % (i % 4), "message %d" % i)
            for i in range(256)]
    too_many = msgs + [wa_text("wamid.LIM256", "905551100000", "one too many")]
    r = send_wa(sb, wa_payload((WA_WABA, [wa_change(messages=[dict(m, id=m["id"] + "x")
                                                               for m in too_many])])))
    assert_status(r, 400, "entry")
    assert_ok(send_wa(sb, wa_payload((WA_WABA, [wa_change(messages=msgs)]))), "whatsapp")
    got = b.wait_messages(256, timeout=30)
    texts = sorted(m["text"] for _, ms in got.values() for m in ms)
    assert texts == sorted("message %d" % i for i in range(256))


def test_whatsapp_previous_app_secret_verifies(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp(appSecretPrevious=WA_OLD_APP_SECRET)
    p = wa_payload((WA_WABA, [wa_change(messages=[wa_text("wamid.OLD1", "905550000009",
                                                          "old secret")])]))
    assert_ok(send_wa(sb, p, secret=WA_OLD_APP_SECRET))
    conv, m = only_message(b)
    assert m["text"] == "old secret" and conv["chatId"] == "905550000009"


@pytest.mark.parametrize("case", ["forged", "wrong_secret", "missing", "tampered_body",
                                  "unknown_phone"])
def test_whatsapp_bad_signature_is_401_and_nothing_stored(sb, fakes, redis, case):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp()
    payload = wa_payload((WA_WABA, [wa_change(
        messages=[wa_text("wamid.BAD1", "905551119999", "forged")])]))
    body = jbytes(payload)
    h = {"Content-Type": "application/json", "X-Hub-Signature-256": wa_sig(WA_APP_SECRET, body)}
    if case == "forged":
        h["X-Hub-Signature-256"] = "sha256=" + "ab" * 32
    elif case == "wrong_secret":
        h["X-Hub-Signature-256"] = wa_sig("another-app-secret", body)
    elif case == "missing":
        del h["X-Hub-Signature-256"]
    elif case == "tampered_body":
        body = body.replace(b"forged", b"FORGED")
    else:
        payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "1999999"
        payload["entry"][0]["id"] = "1888888"
        body = jbytes(payload)
        h["X-Hub-Signature-256"] = wa_sig(WA_APP_SECRET, body)
    r = post(sb, WA_PATH, body, h)
    assert_status(r, 401, secrets=(WA_APP_SECRET, wa_sig(WA_APP_SECRET, body)[7:]))
    assert_nothing_stored(b, redis)


def test_whatsapp_same_message_id_is_not_duplicated(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp()
    msg = wa_text("wamid.DUP1", "905552220001", "sent twice")
    assert_ok(send_wa(sb, wa_payload((WA_WABA, [wa_change(messages=[msg])]))))
    b.wait_messages(1)
    # Meta retries the same message, once alone and once next to a new one
    assert_ok(send_wa(sb, wa_payload((WA_WABA, [wa_change(messages=[msg])]))))
    assert_ok(send_wa(sb, wa_payload((WA_WABA, [wa_change(
        messages=[msg, wa_text("wamid.NEW1", "905552220001", "new one")])]))))
    got = b.wait_messages(2)
    (conv, msgs), = got.values()
    assert [m["text"] for m in msgs] == ["sent twice", "new one"]
    b.agent.wait_for(2, 10)
    assert b.agent.stays_at(2, 1.0)


def test_whatsapp_seed_body_without_metadata_is_found_by_waba_id(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.whatsapp()
    payload = wa_payload((WA_WABA, [wa_change(
        messages=[wa_text("wamid.SEED1", "905553330001", "seed format")],
        contacts=[("905553330001", "Zeynep")], metadata=False)]))
    assert_ok(send_wa(sb, payload), "seed body")
    conv, m = only_message(b)
    assert_conv(conv, "whatsapp", ch["id"], "905553330001")
    assert_customer_msg(m, "seed format", "905553330001", name="Zeynep")
    assert_agent_once(b, conv, "seed format")


def test_whatsapp_non_text_messages_and_statuses_are_acknowledged_only(sb, fakes,  # noqa: F811
                                                                       redis):
    """A reaction and a delivery status are not messages (media are: test_inbound_media.py)."""
    b = Bound(sb, fakes)
    b.whatsapp()
    reaction = {"from": "905554440001", "id": "wamid.REA1", "timestamp": str(int(time.time())),
                "type": "reaction", "reaction": {"message_id": "wamid.OUT9", "emoji": "\U0001f44d"}}
    payload = wa_payload((WA_WABA, [wa_change(messages=[reaction]),
                                    wa_change(statuses=[wa_status("wamid.OUT9",
                                                                  "905554440001")])]))
    assert_ok(send_wa(sb, payload))
    time.sleep(SETTLE)
    assert b.conversations() == []
    assert b.agent.count() == 0


def test_whatsapp_only_the_verified_bindings_changes_are_kept(server, fakes):  # noqa: F811
    """A payload naming two bindings with different app secrets, signed with one of them: the
    other binding's change is dropped; signed with neither: 401."""
    srv = server(*SERVER_FLAGS)
    a = Bound(srv, fakes, "wa-one")
    a.whatsapp()
    other = Bound(srv, fakes, "wa-two")
    other.whatsapp(phoneNumberId="2002002002", wabaId="3003003003",
                   appSecret="second-app-secret", verifyToken="second-verify")
    payload = wa_payload(
        (WA_WABA, [wa_change(messages=[wa_text("wamid.MIX1", "905556660001", "for one")])]),
        ("3003003003", [wa_change(messages=[wa_text("wamid.MIX2", "905556660002", "for two")],
                                  phone="2002002002")]))
    assert_status(send_wa(srv, payload, secret="neither-secret"), 401)
    time.sleep(SETTLE)
    assert a.conversations() == [] and other.conversations() == []
    assert_ok(send_wa(srv, payload, secret=WA_APP_SECRET))
    conv, m = only_message(a)
    assert m["text"] == "for one" and conv["chatId"] == "905556660001"
    time.sleep(0.5)
    assert other.conversations() == [], "the unverified binding's change must be dropped"
    assert other.agent.count() == 0


# =============================================================================================
# Across platforms: claims, events, reopening

@pytest.mark.parametrize("route,ttl", [("slack", 24 * 3600), ("telegram_bot", 24 * 3600),
                                       ("whatsapp", 7 * 24 * 3600)])
def test_dedup_claim_lives_24h_or_7d_for_whatsapp(sb, fakes, redis, route, ttl):  # noqa: F811
    b = _bind_all(sb, fakes)
    assert_ok(_send_raw(sb, route, jbytes(_good(route))), route)
    b.wait_messages(1)
    claims = redis.cmd("KEYS", "sb:{t:%s}:seen:*" % b.id) or []
    assert len(claims) == 1, "one claim per accepted event: %r" % claims
    left = int(redis.cmd("TTL", claims[0]))
    assert ttl - 60 <= left <= ttl, "claim %r expires in %d s, expected %d" % (claims[0], left,
                                                                               ttl)


def test_inbound_message_emits_dialog_created_and_message_received(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = b.telegram()
    sub = fakes(ok())
    Tenant(sb, key=b.key).subscribe({sub.url: ["dialog_created", "message_received"]})
    assert_ok(send_tg(sb, tg_update(text="events please")))
    conv, m = only_message(b)
    recs = sub.wait_for(2, 10)
    assert sub.stays_at(2, 1.0), sub.snapshot()
    evs = {r.json()["event_type"]: r.json()["data"] for r in recs}
    assert sorted(evs) == ["dialog_created", "message_received"], evs
    for d in evs.values():
        assert d["conversation_id"] == conv["id"], d
    d = evs["message_received"]
    assert d["text"] == "events please" and d["channel"] == "telegram", d
    assert d["channel_id"] == ch["id"] and d["chat_id"] == "4242001", d
    assert d["seq"] == m["seq"], (d, m)
    assert evs["dialog_created"]["seq"] < d["seq"], evs


def test_message_to_a_closed_conversation_reopens_it(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    sub = fakes(ok())
    Tenant(sb, key=b.key).subscribe({sub.url: ["dialog_reopened"]})
    assert_ok(send_slack(sb, slack_flat(text="first", event_ts="1700000000.1")))
    conv, _ = only_message(b)
    r = sb.tenant_api(b.key, "/api/conversations/%s/close" % conv["id"], method="POST")
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    assert_ok(send_slack(sb, slack_flat(text="again", event_ts="1700000000.2")))
    got = b.wait_messages(2)
    assert list(got) == [conv["id"]], "the same conversation is reopened: %r" % got
    c, msgs = got[conv["id"]]
    assert c["status"] == "open", c
    assert [m["text"] for m in msgs] == ["first", "again"]
    ev = sub.wait_for(1, 10)[0].json()
    assert ev["event_type"] == "dialog_reopened" and ev["data"]["conversation_id"] == conv["id"]


# =============================================================================================
# Bad input, on every handler

def _good(route):
    if route == "slack":
        return slack_flat(text="fine")
    if route in ("telegram_bot", "telegram"):
        return tg_update(text="fine")
    return wa_payload((WA_WABA, [wa_change(messages=[wa_text("wamid.OK1", "9055", "fine")])]))


def _send_raw(srv, route, body):
    """Send body bytes on a route, with a valid proof for those very bytes."""
    if route == "slack":
        return post(srv, SLACK_PATH, body, slack_headers(SLACK_SECRET, body))
    if route == "telegram_bot":
        return send_tg(srv, body)
    if route == "telegram":
        return send_tg(srv, body, bot=None)
    return send_wa(srv, body)


def _bind_all(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    b.telegram()
    b.whatsapp()
    return b


ROUTES = ["slack", "telegram_bot", "telegram", "whatsapp"]


@pytest.mark.parametrize("route", ROUTES)
def test_good_body_is_accepted_on_every_route(sb, fakes, route):  # noqa: F811
    """The control for the bad-input tests below: the same set-up and proof are accepted."""
    b = _bind_all(sb, fakes)
    assert_ok(_send_raw(sb, route, jbytes(_good(route))), route)
    conv, m = only_message(b)
    assert m["text"] == "fine"


@pytest.mark.parametrize("shape", ["truncated", "not_json", "array", "string", "empty"])
@pytest.mark.parametrize("route", ROUTES)
def test_unparseable_body_is_400(sb, fakes, redis, route, shape):  # noqa: F811
    b = _bind_all(sb, fakes)
    good = jbytes(_good(route))
    body = {"truncated": good[:len(good) // 2], "not_json": b"hello world, not json",
            "array": b"[1,2,3]", "string": b'"just a string"', "empty": b""}[shape]
    if route == "slack" and shape == "not_json":
        body = b"{not json and = not a form"
    assert_status(_send_raw(sb, route, body), 400)
    assert_nothing_stored(b, redis, settle=0.5)


def _wrong_type(case):
    if case == "slack_team_id_number":
        o = slack_flat()
        o["team_id"] = 12345
        return "slack", o, "team_id"
    if case == "slack_events_team_id_number":
        o = slack_event()
        o["team_id"] = 12345
        return "slack", o, "team_id"
    if case == "slack_text_number":
        o = slack_flat()
        o["text"] = 42
        return "slack", o, "text"
    if case == "telegram_update_id_string":
        o = tg_update()
        o["update_id"] = "100001"
        return "telegram_bot", o, "update_id"
    if case == "telegram_plain_update_id_string":
        o = tg_update()
        o["update_id"] = "100001"
        return "telegram", o, "update_id"
    if case == "telegram_update_id_huge":  # no integer: never cast (UBSan would say so)
        o = tg_update()
        o["update_id"] = 1e300
        return "telegram_bot", o, "update_id"
    if case == "telegram_chat_id_huge":
        o = tg_update()
        o["message"]["chat"]["id"] = -1e300
        return "telegram_bot", o, "message.chat.id"
    if case == "whatsapp_entry_object":
        o = _good("whatsapp")
        o["entry"] = o["entry"][0]
        return "whatsapp", o, "entry"
    if case == "whatsapp_entry_string":
        o = _good("whatsapp")
        o["entry"] = "entries"
        return "whatsapp", o, "entry"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["slack_team_id_number", "slack_events_team_id_number",
                                  "slack_text_number", "telegram_update_id_string",
                                  "telegram_plain_update_id_string", "telegram_update_id_huge",
                                  "telegram_chat_id_huge", "whatsapp_entry_object",
                                  "whatsapp_entry_string"])
def test_wrong_type_is_400_naming_the_member(sb, fakes, redis, case):  # noqa: F811
    b = _bind_all(sb, fakes)
    route, obj, field = _wrong_type(case)
    assert_status(_send_raw(sb, route, jbytes(obj)), 400, field=field)
    assert_nothing_stored(b, redis, settle=0.5)


@pytest.mark.parametrize("route,field", [("slack", "channel_id"), ("telegram_bot", "update_id"),
                                         ("telegram", "update_id"), ("whatsapp", "entry")])
def test_missing_member_is_400_naming_it(sb, fakes, redis, route, field):  # noqa: F811
    b = _bind_all(sb, fakes)
    obj = _good(route)
    del obj[field]
    assert_status(_send_raw(sb, route, jbytes(obj)), 400, field=field)
    assert_nothing_stored(b, redis, settle=0.5)


def _blank(case):
    if case == "slack_flat_empty":
        return "slack", slack_flat(text="")
    if case == "slack_flat_blank":
        return "slack", slack_flat(text="   \t ")
    if case == "slack_events_blank":
        return "slack", slack_event(text="  ")
    if case == "telegram_empty":
        return "telegram_bot", tg_update(text="")
    if case == "telegram_blank":
        return "telegram", tg_update(text=" \n ")
    if case == "whatsapp_empty":
        return "whatsapp", wa_payload((WA_WABA, [wa_change(
            messages=[wa_text("wamid.E1", "9055", "")])]))
    if case == "whatsapp_blank":
        return "whatsapp", wa_payload((WA_WABA, [wa_change(
            messages=[wa_text("wamid.E2", "9055", "   ")])]))
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["slack_flat_empty", "slack_flat_blank", "slack_events_blank",
                                  "telegram_empty", "telegram_blank", "whatsapp_empty",
                                  "whatsapp_blank"])
def test_empty_or_blank_text_is_400(sb, fakes, redis, case):  # noqa: F811
    b = _bind_all(sb, fakes)
    route, obj = _blank(case)
    assert_status(_send_raw(sb, route, jbytes(obj)), 400, field="text")
    assert_nothing_stored(b, redis, settle=0.5)


def test_slack_form_body_with_blank_text_is_400(sb, fakes, redis):  # noqa: F811
    b = _bind_all(sb, fakes)
    body = urllib.parse.urlencode(slack_flat(text="  ")).encode()
    r = post(sb, SLACK_PATH, body, slack_headers(SLACK_SECRET, body, form=True))
    assert_status(r, 400, field="text")
    assert_nothing_stored(b, redis, settle=0.5)


@pytest.mark.parametrize("route", ROUTES)
def test_body_over_max_body_is_413(sb, fakes, redis, route):  # noqa: F811
    b = _bind_all(sb, fakes)
    good = _good(route)
    # a well-formed, validly signed body of exactly MAX_BODY + 1 bytes
    pad_key = "padding"
    base = jbytes(dict(good, **{pad_key: ""}))
    body = jbytes(dict(good, **{pad_key: "x" * (MAX_BODY + 1 - len(base))}))
    assert len(body) == MAX_BODY + 1
    path = {"slack": SLACK_PATH, "telegram_bot": TG_PATH + "/" + TG_BOT,
            "telegram": TG_PATH, "whatsapp": WA_PATH}[route]
    if route == "slack":
        headers = slack_headers(SLACK_SECRET, body)
    elif route.startswith("telegram"):
        headers = {"Content-Type": "application/json",
                   "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    else:
        headers = {"Content-Type": "application/json",
                   "X-Hub-Signature-256": wa_sig(WA_APP_SECRET, body)}
    conn = RawConn(sb.port, timeout=10)
    try:
        try:
            conn.send(req("POST", path, list(headers.items()), body=body))
        except OSError:
            pass  # the server may answer 413 and stop reading before the whole body is sent
        r = conn.read_response(timeout=10)
    finally:
        conn.close()
    assert r.status == 413, r
    assert_nothing_stored(b, redis, settle=0.5)
    # one byte less (exactly the limit) is fine
    body = jbytes(dict(good, **{pad_key: "x" * (MAX_BODY - len(base))}))
    assert len(body) == MAX_BODY
    assert_ok(_send_raw(sb, route, body), "a body of exactly --max-body")
