"""Replies out through the platforms' send APIs: an agent's reply (or an operator's message) in a
Slack, Telegram or WhatsApp conversation is stored as an outbound message with
`"status":"queued"` and sent to the platform (a FakeSubscriber standing in for slack.com,
api.telegram.org and graph.facebook.com through --slack-api-base, --telegram-api-base and
--graph-api-base). The message becomes `sent` with the platform's message id, or `failed` with an
error; `message_sent` is emitted only once the platform accepted it. Sends of one chat leave in
order, one at a time, paced by the platform's limits (docs/channels.md "Platform send limits",
test_send_limits.py); a retry goes back to the head of the line.

Black box: the fake platform records what arrives; results are read through the tenant API
(messages, dead letters, attempt logs), the tenant's event subscription and Redis."""

import hashlib
import json
import time
import urllib.parse

import pytest

from fakes import (SERVER_FLAGS, ChatWidget, Reply, Tenant, fakes, items_of,  # noqa: F401
                   json_reply, ok, sequence)
from sbhelpers import wait_until
from test_channels_inbound import (TG_BOT, WA_PHONE, WA_WABA, Bound, send_slack, send_tg,
                                   send_wa, slack_event, slack_flat, tg_update, wa_change,
                                   wa_payload, wa_text)

pytestmark = pytest.mark.server

PACE_MS = 200
POLL = 8.0

SLACK_TOKEN = "xoxb-1"                 # Bound.slack()'s botToken
TG_TOKEN = TG_BOT + ":AAbbCC"           # Bound.telegram()'s botToken
WA_TOKEN = "wa-access-0001"             # Bound.whatsapp()'s accessToken

SLACK_PREFIX = "/slack/api"
TG_PREFIX = "/tg"
GRAPH_PREFIX = "/graph/v21.0"

SLACK_TS = "1700000000.0001"


# ---- the fake platform ----------------------------------------------------------------------

def jreply(obj, code=200, **kw):
    return Reply(code, json.dumps(obj).encode(), content_type="application/json", **kw)


def platform_ok(rec, fake):
    """Each platform's success answer, by path."""
    p = rec.path
    if p.startswith(SLACK_PREFIX):
        return jreply({"ok": True, "ts": SLACK_TS, "channel": "C0SB0001"})
    if p.startswith(TG_PREFIX):
        return jreply({"ok": True, "result": {"message_id": 321, "chat": {"id": 4242001}}})
    if p.startswith(GRAPH_PREFIX):
        return jreply({"messaging_product": "whatsapp", "contacts": [{"wa_id": "x"}],
                       "messages": [{"id": "wamid.X"}]})
    return Reply(404, "no such fake route")


def slack_error(err):
    return jreply({"ok": False, "error": err})


class Env:
    """A switchboard whose platform API bases point at one fake, and a tenant (Bound) with an
    agent and an event subscriber (message_sent)."""

    def __init__(self, server, fakes, *extra, subscribe=True, threads=2):  # noqa: F811
        self.plat = fakes(platform_ok)
        base = self.plat.base
        self.srv = server(*SERVER_FLAGS, "--pace-ms", PACE_MS,
                          "--slack-api-base", base + SLACK_PREFIX,
                          "--telegram-api-base", base + TG_PREFIX,
                          "--graph-api-base", base + GRAPH_PREFIX,
                          "--botframework-token-url", base + "/oauth/token",
                          "--botframework-jwks-url", base + "/jwks", *extra, threads=threads)
        self.b = Bound(self.srv, fakes)
        self.tenant = Tenant(self.srv, key=self.b.key)
        self.events = fakes(ok())
        if subscribe:
            self.tenant.subscribe({self.events.url: ["message_sent"]})

    # ---- conversations
    def open_slack(self, text="hi", channel="C0SB0001", event_ts="1700000000.000100"):
        r = send_slack(self.srv, slack_flat(text=text, channel=channel, event_ts=event_ts))
        assert r.status_code == 200, r.text
        return self.wait_conv()

    def wait_conv(self, timeout=POLL):
        deadline = time.monotonic() + timeout
        while True:
            convs = self.b.conversations()
            if convs or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        assert len(convs) == 1, "one conversation expected: %r" % convs
        return convs[0]

    def operator(self, cid, text):
        r = self.srv.tenant_api(self.b.key, "/api/conversations/%s/messages" % cid,
                                method="POST", json={"text": text})
        assert r.status_code == 201, "operator reply: %d %r" % (r.status_code, r.text[:300])
        return r.json()

    # ---- messages
    def outbound(self, cid):
        return [m for m in self.b.messages(cid) if m.get("direction") == "out"]

    def wait_out(self, cid, n=1, final=True, timeout=POLL):
        """Poll until n outbound messages exist (and, with final, none is still queued)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.outbound(cid)
            done = len(out) >= n and (not final or all(m.get("status") in ("sent", "failed")
                                                       for m in out))
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        assert done, "expected %d final outbound message(s), got %r" % (n, out)
        return out

    def sent_events(self):
        return [r.json() for r in self.events.snapshot()
                if r.json().get("event_type") == "message_sent"]


@pytest.fixture
def env(server, fakes):  # noqa: F811
    return Env(server, fakes)


def texts(recs):
    return [r.json().get("text") for r in recs]


def assert_sent(m, pmid):
    assert m["direction"] == "out", m
    assert m.get("status") == "sent", "the platform accepted it: %r" % m
    assert m.get("platformMessageId") == pmid, m
    assert not m.get("error"), m


def assert_failed(m, *needles):
    assert m["direction"] == "out", m
    assert m.get("status") == "failed", "expected a failed send: %r" % m
    err = m.get("error")
    assert isinstance(err, str) and err, "a failed message carries an error: %r" % m
    for n in needles:
        assert n in err, "error should mention %r: %r" % (n, m)
    assert not m.get("platformMessageId"), m


# =============================================================================================
# each platform's send API

def test_slack_agent_reply_goes_out_once_and_message_sent_follows_acceptance(env):
    env.b.slack()
    env.b.agent.behaviour = json_reply({"reply": "Merhaba, nasil yardimci olabilirim?"})
    # the platform takes its time: meanwhile the message is queued and no event is emitted
    env.plat.behaviour = lambda rec, fake: jreply(
        {"ok": True, "ts": SLACK_TS, "channel": "C0SB0001"}, delay=1.0)
    assert send_slack(env.srv, slack_flat(text="yardim lazim")).status_code == 200
    rec = env.plat.wait_for(1, POLL)[0]
    conv = env.wait_conv()
    queued = env.outbound(conv["id"])
    assert len(queued) == 1 and queued[0].get("status") == "queued", queued
    assert env.sent_events() == [], "message_sent only after the platform accepted"

    assert rec.method == "POST" and rec.path == SLACK_PREFIX + "/chat.postMessage", rec
    assert rec.header("Authorization") == "Bearer " + SLACK_TOKEN, dict(rec.headers)
    ctype = (rec.header("Content-Type") or "").replace(" ", "").lower()
    assert ctype == "application/json;charset=utf-8", ctype
    assert rec.json() == {"channel": "C0SB0001", "text": "Merhaba, nasil yardimci olabilirim?"}

    m, = env.wait_out(conv["id"])
    assert_sent(m, SLACK_TS)
    assert m["text"] == "Merhaba, nasil yardimci olabilirim?"
    assert m["sender"]["type"] == "agent", m
    ev = env.events.wait_for(1, POLL)[0]
    assert ev.t >= rec.t + 0.9, "message_sent came before the platform answered"
    body = ev.json()
    assert body["event_type"] == "message_sent", body
    d = body["data"]
    assert d["platform_message_id"] == SLACK_TS, d
    assert d["seq"] == m["seq"] and d["conversation_id"] == conv["id"], (d, m)
    assert d.get("text") == m["text"], d
    # one customer message, one agent reply, one platform request, one event
    assert env.plat.stays_at(1, 1.0), env.plat.snapshot()
    assert env.events.count() == 1, env.events.snapshot()
    assert len(env.outbound(conv["id"])) == 1


def test_slack_replies_go_to_the_thread_of_the_latest_message(env):
    """A customer who writes in a thread is answered in that thread (chat.postMessage with
    thread_ts); once the latest message is in the channel itself, so is the reply. Operators'
    replies follow the same rule."""
    env.b.slack()
    env.b.agent.behaviour = json_reply({"reply": "bakiyorum"})
    thread = "1700000050.000100"
    r = send_slack(env.srv, slack_event(text="in a thread", channel="C0SB0001", event_id="EvTH00001",
                                        ts="1700000100.000200", thread_ts=thread))
    assert r.status_code == 200, r.text
    rec = env.plat.wait_for(1, POLL)[0]
    assert rec.json() == {"channel": "C0SB0001", "text": "bakiyorum", "thread_ts": thread}
    conv = env.wait_conv()
    env.wait_out(conv["id"], 1)
    env.operator(conv["id"], "an operator, in the thread too")
    rec = env.plat.wait_for(2, POLL)[1]
    assert rec.json() == {"channel": "C0SB0001", "text": "an operator, in the thread too",
                          "thread_ts": thread}
    env.wait_out(conv["id"], 2)

    # the seed's flat body names its thread the same way
    r = send_slack(env.srv, slack_flat(text="flat, threaded", channel="C0SB0001",
                                       event_ts="1700000150.000100") | {"thread_ts": "1700000140.000900"})
    assert r.status_code == 200, r.text
    rec = env.plat.wait_for(3, POLL)[2]
    assert rec.json() == {"channel": "C0SB0001", "text": "bakiyorum", "thread_ts": "1700000140.000900"}
    env.wait_out(conv["id"], 3)

    r = send_slack(env.srv, slack_event(text="in the channel", channel="C0SB0001", event_id="EvTH00002",
                                        ts="1700000200.000300"))
    assert r.status_code == 200, r.text
    rec = env.plat.wait_for(4, POLL)[3]
    assert rec.json() == {"channel": "C0SB0001", "text": "bakiyorum"}, "no thread_ts any more"
    env.wait_out(conv["id"], 4)
    env.operator(conv["id"], "and in the channel")
    rec = env.plat.wait_for(5, POLL)[4]
    assert rec.json() == {"channel": "C0SB0001", "text": "and in the channel"}

    # a thread_ts that is not a string is refused like any other wrong type
    r = send_slack(env.srv, slack_event(event_id="EvTH00003", thread_ts=1700000050.0001))
    assert r.status_code == 400 and r.json().get("field") == "event.thread_ts", r.text


def test_telegram_agent_reply_uses_send_message(env):
    env.b.telegram()
    env.b.agent.behaviour = json_reply({"message": "telegram reply"})  # `message` works too
    assert send_tg(env.srv, tg_update(text="selam", chat_id=4242001)).status_code == 200
    rec = env.plat.wait_for(1, POLL)[0]
    assert rec.method == "POST", rec
    # Telegram's path carries the token: /bot<token>/sendMessage
    assert rec.path == "%s/bot%s/sendMessage" % (TG_PREFIX, TG_TOKEN), \
        rec.path
    assert rec.json() == {"chat_id": "4242001", "text": "telegram reply"}, rec.body
    conv = env.wait_conv()
    m, = env.wait_out(conv["id"])
    assert_sent(m, "321")
    d = env.events.wait_for(1, POLL)[0].json()["data"]
    assert d["platform_message_id"] == "321" and d["seq"] == m["seq"], d
    assert env.plat.stays_at(1, 0.8)


def test_whatsapp_agent_reply_uses_the_cloud_api(env):
    env.b.whatsapp()
    reply = "whatsapp reply \u00e7\u011f\u00fc \U0001f44b"
    env.b.agent.behaviour = json_reply({"reply": reply})
    payload = wa_payload((WA_WABA, [wa_change(
        messages=[wa_text("wamid.IN1", "905551112233", "merhaba")],
        contacts=[("905551112233", "Zeynep")])]))
    assert send_wa(env.srv, payload).status_code == 200
    rec = env.plat.wait_for(1, POLL)[0]
    assert rec.method == "POST" and rec.path == "%s/%s/messages" % (GRAPH_PREFIX, WA_PHONE), rec
    assert rec.header("Authorization") == "Bearer " + WA_TOKEN, dict(rec.headers)
    assert (rec.header("Content-Type") or "").startswith("application/json"), dict(rec.headers)
    assert rec.json() == {"messaging_product": "whatsapp", "recipient_type": "individual",
                          "to": "905551112233", "type": "text",
                          "text": {"body": reply}}, rec.body
    conv = env.wait_conv()
    m, = env.wait_out(conv["id"])
    assert_sent(m, "wamid.X")
    d = env.events.wait_for(1, POLL)[0].json()["data"]
    assert d["platform_message_id"] == "wamid.X" and d["seq"] == m["seq"], d
    assert env.plat.stays_at(1, 0.8)


def test_operator_reply_is_queued_then_sent(env):
    env.b.slack()
    conv = env.open_slack(text="need a human", channel="C0OPS001")
    env.b.agent.wait_for(1, POLL)
    posted = env.operator(conv["id"], "an operator here")
    assert posted["direction"] == "out" and posted.get("status") == "queued", posted
    assert posted["text"] == "an operator here", posted
    rec = env.plat.wait_for(1, POLL)[0]
    assert rec.json() == {"channel": "C0OPS001", "text": "an operator here"}
    m, = env.wait_out(conv["id"])
    assert m["id"] == posted["id"] and m["seq"] == posted["seq"], (m, posted)
    assert_sent(m, SLACK_TS)
    d = env.events.wait_for(1, POLL)[0].json()["data"]
    assert d["seq"] == posted["seq"] and d["platform_message_id"] == SLACK_TS, d
    assert env.plat.stays_at(1, 0.5)


def test_widget_conversation_is_unaffected(env):
    """A widget conversation has no platform: the operator's message is final at once (no
    status) and message_sent is emitted at once; nothing reaches a platform."""
    w = ChatWidget(env.srv, tenant=env.b.tenant)
    s = w.session()
    s.say("hello from the widget")
    deadline = time.monotonic() + POLL
    while True:
        convs = env.b.conversations()
        if convs or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert len(convs) == 1, convs
    posted = env.operator(convs[0]["id"], "widget answer")
    assert "status" not in posted, posted
    ev = env.events.wait_for(1, POLL)[0].json()
    assert ev["data"]["seq"] == posted["seq"], ev
    assert "platform_message_id" not in ev["data"], ev
    assert env.plat.stays_at(0, 0.5), env.plat.snapshot()


# =============================================================================================
# failures

def test_slack_channel_not_found_is_final(env):
    env.b.slack()
    env.plat.behaviour = lambda rec, fake: slack_error("channel_not_found")
    conv = env.open_slack(channel="C0GONE01")
    env.b.agent.wait_for(1, POLL)
    env.operator(conv["id"], "into the void")
    env.plat.wait_for(1, POLL)
    m, = env.wait_out(conv["id"])
    assert_failed(m, "channel_not_found")
    # a retry would come ~1 s later (--retry-schedule 0,1,1,1)
    assert env.plat.stays_at(1, 2.0), "ok:false channel_not_found is not retried: %r" % (
        env.plat.snapshot(),)
    assert env.sent_events() == [], "a failed send emits no message_sent"
    dead = env.tenant.wait_dead_letters(1, 5)
    assert len(dead) == 1, dead
    assert "channel_not_found" in (dead[0].get("error") or ""), dead


def test_slack_ratelimited_is_retried(env):
    env.b.slack()
    env.plat.behaviour = sequence(slack_error("ratelimited"), platform_ok)
    conv = env.open_slack()
    env.b.agent.wait_for(1, POLL)
    env.operator(conv["id"], "try again")
    recs = env.plat.wait_for(2, POLL)
    assert texts(recs) == ["try again", "try again"], recs
    m, = env.wait_out(conv["id"])
    assert_sent(m, SLACK_TS)
    d = env.events.wait_for(1, POLL)[0].json()["data"]
    assert d["platform_message_id"] == SLACK_TS
    assert env.plat.stays_at(2, 0.8)
    assert len(env.sent_events()) == 1


@pytest.mark.parametrize("code", [500, 429])
def test_retryable_status_then_success(env, code):
    env.b.whatsapp()
    env.plat.behaviour = sequence(Reply(code, "busy", headers={"Retry-After": "1"}
                                        if code == 429 else None), platform_ok)
    env.b.agent.behaviour = json_reply({"reply": "after a retry"})
    payload = wa_payload((WA_WABA, [wa_change(messages=[wa_text("wamid.R1", "905550000001",
                                                                "hi")])]))
    assert send_wa(env.srv, payload).status_code == 200
    recs = env.plat.wait_for(2, POLL)
    assert [r.json()["text"]["body"] for r in recs] == ["after a retry"] * 2
    conv = env.wait_conv()
    m, = env.wait_out(conv["id"])
    assert_sent(m, "wamid.X")
    env.events.wait_for(1, POLL)
    assert env.plat.stays_at(2, 0.8)
    assert len(env.sent_events()) == 1


def test_final_400_fails_dead_letters_and_the_line_moves_on(env):
    env.b.slack()
    env.plat.behaviour = sequence(Reply(400, "bad request"), platform_ok)
    conv = env.open_slack()
    env.b.agent.wait_for(1, POLL)
    first = env.operator(conv["id"], "first, refused")
    second = env.operator(conv["id"], "second, fine")
    recs = env.plat.wait_for(2, POLL)
    assert texts(recs) == ["first, refused", "second, fine"], recs
    out = env.wait_out(conv["id"], 2)
    by_id = {m["id"]: m for m in out}
    assert_failed(by_id[first["id"]], "400")
    assert_sent(by_id[second["id"]], SLACK_TS)
    assert env.plat.stays_at(2, 1.5), "a 400 is final, not retried: %r" % env.plat.snapshot()
    dead = env.tenant.wait_dead_letters(1, 5)
    assert len(dead) == 1, dead
    evs = env.sent_events()
    assert [e["data"]["seq"] for e in evs] == [second["seq"]], evs


@pytest.mark.parametrize("code", [401, 403, 404])
def test_other_4xx_are_final(env, code):
    env.b.whatsapp()
    env.plat.behaviour = lambda rec, fake: jreply(
        {"error": {"message": "nope", "type": "OAuthException", "code": 190}}, code=code)
    env.b.agent.behaviour = json_reply({"reply": "refused reply"})
    payload = wa_payload((WA_WABA, [wa_change(messages=[wa_text("wamid.F%d" % code,
                                                                "905550000002", "hi")])]))
    assert send_wa(env.srv, payload).status_code == 200
    env.plat.wait_for(1, POLL)
    conv = env.wait_conv()
    m, = env.wait_out(conv["id"])
    assert_failed(m, str(code))
    assert env.plat.stays_at(1, 1.5), "HTTP %d is final: %r" % (code, env.plat.snapshot())
    assert env.sent_events() == []
    assert len(env.tenant.wait_dead_letters(1, 5)) == 1


def test_retries_exhausted_fail_the_message(env):
    env.b.telegram()
    env.plat.behaviour = lambda rec, fake: Reply(503, "down")
    assert send_tg(env.srv, tg_update(text="anyone?")).status_code == 200
    conv = env.wait_conv()
    env.b.agent.wait_for(1, POLL)
    env.operator(conv["id"], "doomed")
    # --retry-schedule 0,1,1,1: four attempts about a second apart
    m, = env.wait_out(conv["id"], timeout=10)
    assert_failed(m, "retries exhausted", "503")
    assert env.plat.count() == 4, env.plat.snapshot()
    assert env.sent_events() == []
    assert len(env.tenant.wait_dead_letters(1, 5)) == 1


def test_channel_without_bot_token_fails_without_calling_the_platform(env):
    env.b.slack(botToken=None)
    env.b.agent.behaviour = json_reply({"reply": "cannot be sent"})
    assert send_slack(env.srv, slack_flat(text="hello?")).status_code == 200
    conv = env.wait_conv()
    m, = env.wait_out(conv["id"])
    assert_failed(m, "botToken")
    assert m["text"] == "cannot be sent"
    assert env.plat.stays_at(0, 0.5), env.plat.snapshot()
    assert env.sent_events() == []


def test_telegram_bot_token_is_never_recorded(env, redis):
    """The token is part of Telegram's URL: attempt logs, dead letters and messages show
    `<base>/bot<token>/sendMessage`; the request alone carries it."""
    env.b.telegram()
    env.plat.behaviour = sequence(Reply(400, "Bad Request: chat not found"), platform_ok)
    assert send_tg(env.srv, tg_update(update_id=1, text="one")).status_code == 200
    conv = env.wait_conv()
    env.b.agent.wait_for(1, POLL)
    env.operator(conv["id"], "refused")
    env.operator(conv["id"], "accepted")
    recs = env.plat.wait_for(2, POLL)
    assert all(urllib.parse.unquote(r.path) == "%s/bot%s/sendMessage" % (TG_PREFIX, TG_TOKEN)
               for r in recs), recs
    out = env.wait_out(conv["id"], 2)
    assert [m.get("status") for m in out] == ["failed", "sent"], out

    secrets = (TG_TOKEN, urllib.parse.quote(TG_TOKEN, safe=""), "AAbbCC")
    dead = env.tenant.wait_dead_letters(1, 5)
    assert len(dead) == 1, dead
    shown = "%s%s/bot<token>/sendMessage" % (env.plat.base, TG_PREFIX)
    assert dead[0].get("url") == shown, dead
    ep = dead[0].get("endpointId")
    assert ep, dead
    attempts = items_of(env.tenant.call("GET", "/api/webhooks/endpoints/%s/attempts" % ep).json())
    assert len(attempts) >= 2, attempts
    records = {"dead letters": json.dumps(env.tenant.dead_letters()),
               "attempts": json.dumps(attempts),
               "messages": json.dumps(env.b.messages(conv["id"])),
               "endpoints": json.dumps(env.tenant.endpoints())}
    for what, text in records.items():
        for s in secrets:
            assert s not in text, "%s show the bot token %r: %s" % (what, s, text[:600])
    logs = env.srv.stdout_text() + env.srv.stderr_text()
    for s in secrets:
        assert s not in logs, "the server log shows the bot token %r" % s
    # Redis: only the channel binding itself may hold it
    for key, vals in redis.dump_all().items():
        name = key.decode() if isinstance(key, bytes) else key
        if name.endswith(":channels"):
            continue
        for v in vals:
            for s in secrets:
                assert s.encode() not in v, "Redis key %r holds the bot token: %r" % (key,
                                                                                     v[:300])


# =============================================================================================
# order and pacing

def test_replies_leave_in_order_and_paced(env):
    env.b.slack()
    conv = env.open_slack()
    env.b.agent.wait_for(1, POLL)
    sent = ["reply %d" % i for i in range(5)]
    for t in sent:
        env.operator(conv["id"], t)
    recs = env.plat.wait_for(5, POLL)
    assert texts(recs) == sent, "sends keep the order they were posted in: %r" % texts(recs)
    gaps = [b.t - a.t for a, b in zip(recs, recs[1:])]
    assert min(gaps) >= 0.8 * PACE_MS / 1000.0, "sends of one chat are paced: %r" % gaps
    out = env.wait_out(conv["id"], 5)
    assert [m["text"] for m in out] == sent
    assert all(m.get("status") == "sent" for m in out), out
    evs = env.events.wait_for(5, POLL)
    assert [e.json()["data"]["seq"] for e in evs] == [m["seq"] for m in out], evs


def test_a_retry_goes_back_to_the_head_of_the_line(env):
    env.b.slack()
    env.plat.behaviour = sequence(Reply(500, "boom"), platform_ok)
    conv = env.open_slack()
    env.b.agent.wait_for(1, POLL)
    sent = ["first", "second", "third"]
    for t in sent:
        env.operator(conv["id"], t)
    recs = env.plat.wait_for(4, POLL)
    assert texts(recs) == ["first", "first", "second", "third"], \
        "one send in flight per account; the retry goes first: %r" % texts(recs)
    gaps = [b.t - a.t for a, b in zip(recs, recs[1:])]
    assert gaps[0] >= 0.7, "the retry waits its turn (--retry-schedule 0,1,...): %r" % gaps
    assert min(gaps) >= 0.8 * PACE_MS / 1000.0, gaps
    out = env.wait_out(conv["id"], 3)
    assert [m["text"] for m in out] == sent and all(m["status"] == "sent" for m in out), out
    assert env.plat.stays_at(4, 0.5)


def test_two_accounts_do_not_wait_for_each_other(env):
    """Pacing is per sending account: a Slack send stuck on retries does not hold back a
    WhatsApp send of the same tenant."""
    env.b.slack()
    env.b.whatsapp()

    def beh(rec, fake):
        if rec.path.startswith(SLACK_PREFIX):
            return Reply(500, "slack down")
        return platform_ok(rec, fake)
    env.plat.behaviour = beh
    assert send_slack(env.srv, slack_flat(text="s")).status_code == 200
    payload = wa_payload((WA_WABA, [wa_change(messages=[wa_text("wamid.T1", "905550000009",
                                                                "w")])]))
    assert send_wa(env.srv, payload).status_code == 200
    env.b.agent.wait_for(2, POLL)
    convs = {c["channel"]: c for c in env.b.conversations()}
    env.operator(convs["slack"]["id"], "slack one")
    env.plat.wait_for(1, POLL, pred=lambda r: r.path.startswith(SLACK_PREFIX))
    env.operator(convs["whatsapp"]["id"], "wa one")
    wa = env.plat.wait_for(1, 2.0, pred=lambda r: r.path.startswith(GRAPH_PREFIX))
    assert wa[0].json()["text"]["body"] == "wa one"
    m, = env.wait_out(convs["whatsapp"]["id"], timeout=3)
    assert_sent(m, "wamid.X")



def test_replayed_send_dead_letter_is_sent_again(env):
    """POST /api/webhooks/dead-letters/{id}/replay (docs/deliveries.md): 202, queued again as
    a fresh delivery. For a platform send that means the platform gets it again."""
    env.b.slack()
    env.plat.behaviour = sequence(Reply(400, "bad"), platform_ok)
    conv = env.open_slack()
    env.b.agent.wait_for(1, POLL)
    env.operator(conv["id"], "replay me")
    m, = env.wait_out(conv["id"])
    assert_failed(m, "400")
    dead = env.tenant.wait_dead_letters(1, 5)
    assert len(dead) == 1, dead
    r = env.tenant.call("POST", "/api/webhooks/dead-letters/%s/replay" % dead[0]["id"])
    assert r.status_code == 202, r.text
    recs = env.plat.wait_for(2, 5.0)
    assert texts(recs) == ["replay me", "replay me"], recs
    deadline = time.monotonic() + POLL
    while True:
        m, = env.outbound(conv["id"])
        if m.get("status") == "sent" or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    assert_sent(m, SLACK_TS)
    d = env.events.wait_for(1, POLL)[0].json()["data"]
    assert d["seq"] == m["seq"] and d["platform_message_id"] == SLACK_TS, d


def test_send_endpoint_is_listed_and_recover_sends_again(env):
    """The sends of an account are an endpoint like a subscriber's: listed with their URL
    (credential-free) and attempts; recovering its failures over a time range queues them again
    into the account's line."""
    env.b.slack()
    env.plat.behaviour = sequence(Reply(400, "bad"), Reply(400, "bad"), platform_ok)
    conv = env.open_slack()
    env.b.agent.wait_for(1, POLL)
    env.operator(conv["id"], "one")
    env.operator(conv["id"], "two")
    out = env.wait_out(conv["id"], n=2)
    assert [m["status"] for m in out] == ["failed", "failed"], out
    url = env.plat.base + SLACK_PREFIX + "/chat.postMessage"
    eps = [e for e in env.tenant.endpoints() if e["url"] == url]
    assert len(eps) == 1, env.tenant.endpoints()
    ep = eps[0]
    assert ep["recent"]["failure"] == 2 and ep["lastStatus"] == 400, ep
    r = env.tenant.call("GET", "/api/webhooks/endpoints/%s/attempts" % ep["id"])
    assert r.status_code == 200 and len(items_of(r.json())) == 2, r.text
    dead = env.tenant.wait_dead_letters(2, 5)
    assert {d["endpointId"] for d in dead} == {ep["id"]}, dead
    r = env.tenant.call("POST", "/api/webhooks/endpoints/%s/recover" % ep["id"],
                        json={"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"})
    assert r.status_code == 202 and r.json() == {"replayed": 2}, r.text
    recs = env.plat.wait_for(4, 5.0)
    assert sorted(texts(recs[2:])) == ["one", "two"], recs
    assert recs[3].t - recs[2].t >= 0.8 * PACE_MS / 1000.0, "recovered sends keep the pace"
    # "failed" is final too: wait for the platform's acceptance to be written into both
    wait_until(lambda: all(m.get("status") == "sent" for m in env.outbound(conv["id"])), POLL)
    out = env.outbound(conv["id"])
    assert all(m["status"] == "sent" for m in out), out


def test_sends_of_a_deleted_tenant_are_dropped_without_a_trace(env, redis):
    """A send still in its account's line when the tenant is deleted is dropped at its next
    attempt: no request, no attempt log, no dead letter written for the deleted tenant."""
    ch = env.b.slack()
    env.plat.behaviour = lambda rec, fake: Reply(503, "down")
    conv = env.open_slack()
    env.b.agent.wait_for(1, POLL)
    env.operator(conv["id"], "first")  # retried on the schedule 0,1,1,1: holds the line
    env.operator(conv["id"], "second")
    env.plat.wait_for(1, POLL)
    ep = hashlib.sha1(("send:%s:%s" % (env.b.id, ch["id"])).encode()).hexdigest()[:16]
    log = "sb:{t:%s}:ep:%s:attempts" % (env.b.id, ep)
    assert wait_until(lambda: int(redis.cmd("LLEN", log)) == 1, 5), "the first attempt is logged"
    r = env.srv.admin("DELETE", "/api/admin/tenants/%s" % env.b.id)
    assert r.status_code in (200, 204), r.text
    time.sleep(3.5)  # the first's retries and the second's turn would have come
    assert env.plat.count() == 1, "nothing is sent for a deleted tenant: %r" % env.plat.snapshot()
    # nothing written for it either: the background purge removed the attempt log and the rest,
    # and no later attempt wrote a log or a dead letter again
    assert int(redis.cmd("EXISTS", log)) == 0
    assert int(redis.cmd("EXISTS", "sb:{t:%s}:dead" % env.b.id)) == 0
    assert redis.cmd("SCAN", "0", "MATCH", "sb:{t:%s}:*" % env.b.id, "COUNT", 100000)[1] == []
