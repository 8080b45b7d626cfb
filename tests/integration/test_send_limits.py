"""Platform send limits (docs/channels.md "Platform send limits", "Order and pacing"): a platform
conversation's replies leave one at a time and in order on their chat's own line, about one a
second (Telegram, Slack, WhatsApp), while the chats of one account only share the account's
rate (Telegram 30/s, or a binding's sendLimits); a platform's "too many requests" (HTTP 429 with
Retry-After, Telegram's parameters.retry_after, WhatsApp's 130429 and 131056, Slack's
ratelimited) delays that chat's line, or the account's when the limit is the account's, by what
the platform asked, without failing the message or using up its retries; order per chat holds
across a crash of the sending instance.

Black box: a FakeSubscriber stands in for the platforms (test_channels_outbound.Env) and records
when each request arrives; results are read through the tenant API."""

import hashlib
import os
import signal
import time

import pytest

from fakes import SERVER_FLAGS, Reply, fakes, items_of  # noqa: F401
from sbhelpers import wait_until
from test_channels_inbound import (TG_BOT, WA_WABA, Bound, assert_status, send_slack, send_tg,
                                   send_wa, slack_flat, tg_update, wa_change, wa_payload, wa_text)
from test_channels_outbound import (GRAPH_PREFIX, SLACK_PREFIX, TG_PREFIX, Env, jreply,
                                    platform_ok)

pytestmark = pytest.mark.server

POLL = 10.0
SLACK = 0.05  # our reading of two arrival times on a busy machine


def tg_chat(rec):
    return str(rec.json().get("chat_id"))


def gaps(recs):
    return [b.t - a.t for a, b in zip(recs, recs[1:])]


def fmt(xs):
    return ["%.3f" % x for x in xs]


class Chats:
    """Conversations of one platform binding, by chat id."""

    def __init__(self, env):
        self.env = env
        self.by_chat = {}

    def wait(self, n):
        got = wait_until(lambda: len(self.env.b.conversations()) >= n, POLL)
        assert got, "expected %d conversations: %r" % (n, self.env.b.conversations())
        self.by_chat = {str(c["chatId"]): c["id"] for c in self.env.b.conversations()}
        return self

    def reply(self, chat, text):
        return self.env.operator(self.by_chat[str(chat)], text)


def telegram_chats(env, n, first=5100001):
    for i in range(n):
        r = send_tg(env.srv, tg_update(update_id=300001 + i, chat_id=first + i, text="merhaba"))
        assert r.status_code == 200, r.text
    return Chats(env).wait(n), [str(first + i) for i in range(n)]


def wa_chats(env, n, first=905551000001):
    for i in range(n):
        payload = wa_payload((WA_WABA, [wa_change(messages=[wa_text("wamid.L%d" % i, str(first + i),
                                                                    "selam")])]))
        assert send_wa(env.srv, payload).status_code == 200
    return Chats(env).wait(n), [str(first + i) for i in range(n)]


def slack_chats(env, channels):
    for i, ch in enumerate(channels):
        r = send_slack(env.srv, slack_flat(text="hi", channel=ch, event_ts="1700000100.%06d" % i))
        assert r.status_code == 200, r.text
    return Chats(env).wait(len(channels))


def tg_flood(retry_after):
    return jreply({"ok": False, "error_code": 429,
                   "description": "Too Many Requests: retry after %d" % retry_after,
                   "parameters": {"retry_after": retry_after}}, code=429)


def first_n_for(fail, n, reply):
    """The platform's answer: `reply` for the first n requests that match fail(rec), else ok."""
    seen = {"n": 0}

    def b(rec, fake):
        if fail(rec) and seen["n"] < n:
            seen["n"] += 1
            return reply
        return platform_ok(rec, fake)
    return b


def attempts(env, ch):
    """The attempt log of a binding's sends (its endpoint: docs/channels.md)."""
    ep = hashlib.sha1(("send:%s:%s" % (env.b.id, ch["id"])).encode()).hexdigest()[:16]
    r = env.tenant.call("GET", "/api/webhooks/endpoints/%s/attempts" % ep)
    assert r.status_code == 200, r.text
    return items_of(r.json())


def assert_all_sent(env, chats, n_per_chat=1):
    for cid in chats.by_chat.values():
        out = env.wait_out(cid, n_per_chat, timeout=POLL)
        assert all(m.get("status") == "sent" and not m.get("error") for m in out), out


@pytest.fixture
def env(server, fakes):  # noqa: F811
    return Env(server, fakes, subscribe=False)


# =============================================================================================
# order and pacing

def test_a_busy_chat_is_paced_and_does_not_hold_up_another(env):
    """Telegram: about 1 message/s in one chat. Five replies in chat A leave in order, >= ~1 s
    apart; chat B's reply, written after them, leaves at once."""
    env.b.telegram()
    chats, (a, b) = telegram_chats(env, 2)
    sent = ["A%d" % i for i in range(5)]
    for t in sent:
        chats.reply(a, t)
    chats.reply(b, "B0")
    recs = env.plat.wait_for(6, POLL)
    got_a = [r for r in recs if tg_chat(r) == a]
    got_b = [r for r in recs if tg_chat(r) == b]
    assert [r.json()["text"] for r in got_a] == sent, "a chat's replies keep their order"
    assert min(gaps(got_a)) >= 1.0 - SLACK, "one chat: about 1 message/s: %s" % fmt(gaps(got_a))
    assert max(gaps(got_a)) < 2.0, "a chat's line drains at its rate: %s" % fmt(gaps(got_a))
    assert len(got_b) == 1 and got_b[0].t - got_a[0].t < 0.8, \
        "chat B is not held behind chat A's line (B at +%.3f s)" % (got_b[0].t - got_a[0].t)
    assert_all_sent(env, chats, 1)
    assert env.plat.stays_at(6, 0.5)


def test_the_account_rate_holds_across_chats_in_order(env):
    """A binding's sendLimits.perAccountPerSecond 2: six replies to six chats leave 0.5 s
    apart, in the order they were written (the chats take turns, none is starved)."""
    env.b.telegram(sendLimits={"perAccountPerSecond": 2})
    chats, ids = telegram_chats(env, 6)
    for c in ids:
        chats.reply(c, "to " + c)
        time.sleep(0.02)
    recs = env.plat.wait_for(6, POLL)
    assert [tg_chat(r) for r in recs] == ids, "the account's slots go in the order written"
    span = recs[-1].t - recs[0].t
    assert span >= 2.5 - SLACK, "six sends at 2/s take >= 2.5 s, took %.3f s" % span
    assert min(gaps(recs)) >= 0.5 - SLACK, fmt(gaps(recs))
    assert span < 4.5, "and not much longer: %.3f s" % span
    assert_all_sent(env, chats)


def test_pace_ms_does_not_pace_platform_sends(server, fakes):  # noqa: F811
    """--pace-ms governs paced subscriptions only: with 3000 ms, three replies to three chats of
    one bot still leave within a fraction of a second."""
    env = Env(server, fakes, "--pace-ms", "3000", subscribe=False)
    env.b.telegram()
    chats, ids = telegram_chats(env, 3)
    for c in ids:
        chats.reply(c, "quick " + c)
    recs = env.plat.wait_for(3, POLL)
    assert recs[-1].t - recs[0].t < 1.0, fmt(gaps(recs))


# =============================================================================================
# the platform says "too many requests"

def test_telegram_retry_after_delays_the_chat_only(env):
    """A 429 with parameters.retry_after 2: the message goes again >= 2 s later and is sent,
    not failed; the other chat's reply does not wait for it."""
    ch = env.b.telegram()
    chats, (a, b) = telegram_chats(env, 2)
    env.plat.behaviour = first_n_for(lambda r: tg_chat(r) == a, 1, tg_flood(2))
    chats.reply(a, "flooded")
    env.plat.wait_for(1, POLL)
    chats.reply(b, "unaffected")
    recs = env.plat.wait_for(3, POLL)
    got_a = [r for r in recs if tg_chat(r) == a]
    got_b = [r for r in recs if tg_chat(r) == b]
    assert len(got_a) == 2 and len(got_b) == 1, recs
    assert got_a[1].t - got_a[0].t >= 2.0 - SLACK, "retry_after is honoured: %s" % fmt(gaps(got_a))
    assert got_a[1].t - got_a[0].t < 3.5
    assert got_b[0].t < got_a[1].t, "the other chat is not held by this chat's wait"
    assert_all_sent(env, chats)
    assert items_of(env.tenant.dead_letters()) == []
    log = wait_until(lambda: len(attempts(env, ch)) >= 3 and attempts(env, ch), POLL)
    waits = [x for x in log if x.get("status") == 429]
    assert len(waits) == 1 and "retry after 2 s" in (waits[0].get("error") or ""), log


def test_rate_limit_waits_do_not_use_up_the_retries(env):
    """--retry-schedule 0,1,1,1 allows four attempts; four 429s followed by an acceptance still
    end in "sent": a wait the platform asked for is not a failure."""
    env.b.telegram()
    chats, (a,) = telegram_chats(env, 1)
    env.plat.behaviour = first_n_for(lambda r: True, 4, tg_flood(1))
    chats.reply(a, "patience")
    recs = env.plat.wait_for(5, POLL + 5)
    assert [r.json()["text"] for r in recs] == ["patience"] * 5
    assert min(gaps(recs)) >= 1.0 - SLACK, fmt(gaps(recs))
    m, = env.wait_out(chats.by_chat[a])
    assert m.get("status") == "sent" and not m.get("error"), m
    assert env.plat.stays_at(5, 0.5)


def test_whatsapp_throughput_limit_holds_the_whole_number(env):
    """130429 is the business number's throughput: the message goes again a second later, and a
    reply to another customer of the same number written meanwhile waits with it."""
    env.b.whatsapp()
    chats, (a, b) = wa_chats(env, 2)
    throttled = jreply({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                                  "code": 130429, "fbtrace_id": "AbC"}}, code=400)
    env.plat.behaviour = first_n_for(lambda r: r.json().get("to") == a, 1, throttled)
    chats.reply(a, "throttled")
    first = env.plat.wait_for(1, POLL)[0]
    time.sleep(0.1)  # the 130429 has been answered and recorded
    chats.reply(b, "same number")
    recs = env.plat.wait_for(3, POLL)
    by = {}
    for r in recs:
        by.setdefault(r.json()["to"], []).append(r)
    assert len(by[a]) == 2 and len(by[b]) == 1, recs
    assert by[a][1].t - first.t >= 1.0 - SLACK, "130429: the number waits a second"
    assert by[b][0].t - first.t >= 1.0 - SLACK, \
        "the other chat of the number waits too (+%.3f s)" % (by[b][0].t - first.t)
    assert_all_sent(env, chats)


def test_whatsapp_pair_rate_limit_holds_only_that_chat(env):
    """131056 is the pair rate limit (one business number, one customer): that chat waits (here
    the Retry-After of the answer), the number's other chats do not."""
    env.b.whatsapp()
    chats, (a, b) = wa_chats(env, 2, first=905552000001)
    pair = jreply({"error": {"message": "(#131056) (Business Account, Consumer Account) pair rate "
                                        "limit hit", "code": 131056}}, code=400,
                  headers={"Retry-After": "2"})
    env.plat.behaviour = first_n_for(lambda r: r.json().get("to") == a, 1, pair)
    chats.reply(a, "too fast")
    first = env.plat.wait_for(1, POLL)[0]
    time.sleep(0.1)
    chats.reply(b, "other customer")
    recs = env.plat.wait_for(3, POLL)
    by = {}
    for r in recs:
        by.setdefault(r.json()["to"], []).append(r)
    assert by[b][0].t - first.t < 1.0, "another customer of the number is not held"
    assert by[a][1].t - first.t >= 2.0 - SLACK, "the pair waits what the platform asked"
    assert_all_sent(env, chats)


def test_slack_429_retry_after_delays_that_channel(env):
    """Slack answers 429 with Retry-After (and "error":"ratelimited"): that channel's reply goes
    again after it; another channel's reply leaves meanwhile."""
    env.b.slack()
    chats = slack_chats(env, ["C0LIM0001", "C0LIM0002"])
    limited = jreply({"ok": False, "error": "ratelimited"}, code=429, headers={"Retry-After": "2"})
    env.plat.behaviour = first_n_for(lambda r: r.json().get("channel") == "C0LIM0001", 1, limited)
    chats.reply("C0LIM0001", "later")
    first = env.plat.wait_for(1, POLL)[0]
    chats.reply("C0LIM0002", "now")
    recs = env.plat.wait_for(3, POLL)
    one = [r for r in recs if r.json()["channel"] == "C0LIM0001"]
    two = [r for r in recs if r.json()["channel"] == "C0LIM0002"]
    assert len(one) == 2 and len(two) == 1, recs
    assert one[1].t - first.t >= 2.0 - SLACK, "Retry-After is honoured"
    assert two[0].t < one[1].t, "the other channel does not wait"
    assert_all_sent(env, chats)


# =============================================================================================
# the binding's override

def test_send_limits_override_is_validated(server, fakes):  # noqa: F811
    srv = server(*SERVER_FLAGS)
    b = Bound(srv, fakes)
    base = {"botId": TG_BOT, "botToken": TG_BOT + ":AAbbCC", "secretToken": "s"}
    for bad, field in [({"perChatPerSecond": "fast"}, "config.sendLimits.perChatPerSecond"),
                       ({"perChatPerSecond": 0}, "config.sendLimits.perChatPerSecond"),
                       ({"perAccountPerSecond": 5000}, "config.sendLimits.perAccountPerSecond"),
                       ({"burst": 2}, "config.sendLimits.burst"),
                       ([1], "config.sendLimits")]:
        r = srv.admin("POST", b.base + "/channels",
                      json={"type": "telegram", "agentId": b.agent_id,
                            "config": dict(base, sendLimits=bad)})
        assert_status(r, 400, field)
    ch = b.telegram(sendLimits={"perChatPerSecond": 0.5})
    assert ch["config"].get("sendLimits") == {"perChatPerSecond": 0.5}, ch
    path = b.base + "/channels/" + ch["id"]
    r = srv.admin("PUT", path, json={"config": {"sendLimits": {"perChatPerSecond": -2}}})
    assert_status(r, 400, "config.sendLimits.perChatPerSecond")
    r = srv.admin("PUT", path, json={"config": {"sendLimits": {"perAccountPerSecond": 3}}})
    assert r.status_code == 200, r.text
    assert r.json()["config"].get("sendLimits") == {"perAccountPerSecond": 3}, r.json()
    r = srv.admin("PUT", path, json={"config": {"sendLimits": None}})
    assert r.status_code == 200, r.text
    assert "sendLimits" not in r.json()["config"], r.json()


# =============================================================================================
# a crash mid-send

@pytest.mark.slow
def test_chat_order_holds_across_a_crash(server, fakes):  # noqa: F811
    """The instance sending a chat's replies is killed with one send out: the line stays held
    (90 s) while the entry is taken over by another instance, which sends it again (at least
    once) and then the rest, in order; nothing is lost."""
    def slow_ok(rec, fake):
        r = platform_ok(rec, fake)
        r.delay = 0.4
        return r
    plat = fakes(slow_ok)
    base = plat.base
    flags = SERVER_FLAGS + ("--telegram-api-base", base + TG_PREFIX,
                            "--slack-api-base", base + SLACK_PREFIX,
                            "--graph-api-base", base + GRAPH_PREFIX)
    first = server(*flags, expect_exit=None, name="first")
    b = Bound(first, fakes)
    b.telegram()
    assert send_tg(first, tg_update(update_id=400001, chat_id=5200001, text="hi")).status_code == 200
    assert wait_until(lambda: b.conversations(), POLL)
    cid = b.conversations()[0]["id"]
    sent = ["c%d" % i for i in range(6)]
    for t in sent:
        r = first.tenant_api(b.key, "/api/conversations/%s/messages" % cid, method="POST",
                             json={"text": t})
        assert r.status_code == 201, r.text
    plat.wait_for(3, POLL)  # two answered, the third on its way
    os.kill(first.pid, signal.SIGKILL)
    first.wait_exit(5)
    time.sleep(0.3)
    second = server(*flags, name="second")

    def texts():
        return [r.json()["text"] for r in plat.snapshot()]
    assert wait_until(lambda: set(texts()) == set(sent), 40), \
        "every reply reaches the chat after the crash: %r" % texts()
    order = []
    for t in texts():
        if t not in order:
            order.append(t)
    assert order == sent, "the chat's replies keep their order across the crash: %r" % texts()
    got = texts()
    collapsed = [t for i, t in enumerate(got) if i == 0 or got[i - 1] != t]
    assert collapsed == sent, \
        "only the send that was out may go again, and before the next one: %r" % got

    def outbound():
        r = second.tenant_api(b.key, "/api/conversations/%s/messages?pageSize=100" % cid)
        assert r.status_code == 200, r.text
        return [m for m in r.json()["items"] if m.get("direction") == "out"]
    assert wait_until(lambda: all(m.get("status") == "sent" for m in outbound()), POLL), outbound()


def test_line_keys_share_the_tenant_slot(env, redis):
    """A chat's line, its hold and its account's rate live under the tenant's hash tag
    (docs/keys.md), next to its channel record."""
    env.b.telegram()
    chats, (a,) = telegram_chats(env, 1)
    chats.reply(a, "one")
    chats.reply(a, "two")
    env.plat.wait_for(1, POLL)
    keys = [k.decode() if isinstance(k, bytes) else k for k in redis.cmd("KEYS", "sb:pace:*")]
    mine = [k for k in keys if k != "sb:pace:due"]
    tag = "{t:%s}" % env.b.id
    assert mine and all(tag in k for k in mine), keys
    ch = env.b.channels["telegram"]["id"]
    assert "sb:pace:%s:send:%s:acct" % (tag, ch) in keys, keys
    assert "sb:pace:%s:send:%s:%s:q" % (tag, ch, a) in keys, keys
    env.plat.wait_for(2, POLL)


def test_a_line_of_the_account_wide_layout_still_drains(env, redis):
    """A send queued before the per-chat lines (key send:<tid>:<channelId>) is still sent, and
    its outcome releases its line at the --pace-ms gap as before (no 90 s hold left behind)."""
    ch = env.b.telegram()
    chats, (a,) = telegram_chats(env, 1)
    env.plat.behaviour = lambda rec, fake: Reply(503, "down")
    chats.reply(a, "from before")
    new = "{t:%s}:send:%s:%s" % (env.b.id, ch["id"], a)
    old = "send:%s:%s" % (env.b.id, ch["id"])
    assert wait_until(lambda: int(redis.cmd("LLEN", "sb:pace:%s:q" % new)) == 1, POLL), \
        "the retry waits at the head of its chat's line"
    moved = redis.cmd("EVAL", """
        local item = redis.call('LPOP', 'sb:pace:' .. ARGV[1] .. ':q')
        if not item then return 0 end
        redis.call('ZREM', 'sb:pace:due', ARGV[1])
        local d = cjson.decode(item)
        d.pk = ARGV[2]
        redis.call('RPUSH', 'sb:pace:' .. ARGV[2] .. ':q', cjson.encode(d))
        redis.call('ZADD', 'sb:pace:due', 0, ARGV[2])
        return 1""", "0", new, old)
    assert int(moved) == 1
    env.plat.behaviour = platform_ok
    m, = env.wait_out(chats.by_chat[a])
    assert m.get("status") == "sent", m
    ttl = int(redis.cmd("PTTL", "sb:pace:%s:next" % old))
    assert 0 < ttl <= 60000 + 300, "released at the --pace-ms gap, not held: PTTL %d" % ttl
