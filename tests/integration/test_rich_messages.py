"""Rich messages (docs/messages.md, SPEC 6 "Rich messages"): text, buttons, cards and attachments,
checked once where a message is accepted (the model's own rules, then the limits of the
conversation's platform), stored in their normalized form and rendered by each channel in its own
way: Slack blocks, Telegram inline keyboards and media (one request per part), WhatsApp
interactive and media messages (one request per part), Teams hero cards, the widget.

Black box: messages go in through the conversation API, the widget's message route and a fake
agent's answers; the fake platforms (test_channels_outbound.Env, test_channels_teams.Connector)
record the request bodies switchboard sends; results are read back through the tenant API
(messages, attempt logs, dead letters), the widget's own reads and event subscribers."""

import json
import re
import time

import pytest

from fakes import ChatWidget, Reply, Tenant, fakes, items_of, ok  # noqa: F401  (fixture)
from sbhelpers import assert_problem, wait_until
from test_channels_inbound import (WA_PHONE, WA_WABA, send_slack, send_tg, send_wa, slack_flat,
                                   tg_update, wa_change, wa_payload, wa_text)
from test_channels_outbound import (GRAPH_PREFIX, SLACK_PREFIX, SLACK_TS, TG_PREFIX,  # noqa: F401
                                    TG_TOKEN, env, jreply, platform_ok)  # (env: a fixture)
from test_channels_teams import Connector

pytestmark = pytest.mark.server

POLL = 8.0
SETTLE = 1.0       # "nothing happened": wait this long, then assert absence
NO_RETRY = 2.5     # --retry-schedule 0,1,1,1 (+-20 %): a retry would have come by then

TG_CHAT = 4242001
WA_CUSTOMER = "905551112233"
SLACK_CHANNEL = "C0SB0001"

# ---- content used throughout -----------------------------------------------------------------

SIZE_BUTTONS = [{"title": "Small", "payload": "SIZE_S"},
                {"title": "Size guide", "url": "https://shop.example/sizes"}]
CARD = {"title": "Runner 2", "subtitle": "Light and fast",
        "imageUrl": "https://shop.example/r2.png", "itemUrl": "https://shop.example/r2",
        "buttons": [{"title": "Buy", "payload": "BUY_R2"}]}
IMAGE = {"url": "https://shop.example/r2-side.png", "name": "side.png", "contentType": "image/png"}
PDF = {"url": "https://shop.example/manual.pdf", "name": "manual.pdf",
       "contentType": "application/pdf"}


def pb(title, payload):
    return {"title": title, "payload": payload}


def link(title, url="https://shop.example/x"):
    return {"title": title, "url": url}


def postbacks(n, title="Option %d", payload="OPT_%d"):
    return [pb(title % i if "%" in title else title, payload % i) for i in range(n)]


# ---- helpers -------------------------------------------------------------------------------

def api_post(srv, key, cid, body):
    return srv.tenant_api(key, "/api/conversations/%s/messages" % cid, method="POST", json=body)


def api_messages(srv, key, cid):
    r = srv.tenant_api(key, "/api/conversations/%s/messages?pageSize=100" % cid)
    assert r.status_code == 200, "GET messages: %d %r" % (r.status_code, r.text[:300])
    return r.json()["items"]


def assert_created(r, what=""):
    assert r.status_code == 201, "%s: expected 201, got %d %r" % (what, r.status_code,
                                                                  r.text[:500])
    return r.json()


def assert_refused(r, field, *needles):
    """A 400 problem naming exactly `field`; the detail mentions each needle."""
    p = assert_problem(r, 400)
    assert p.get("field") == field, "expected field %r, got %r: %r" % (field, p.get("field"), p)
    for n in needles:
        assert n.lower() in (p.get("detail") or "").lower(), \
            "the detail should mention %r: %r" % (n, p)
    return p


def conv_of(bound, channel, timeout=POLL):
    """The bound tenant's conversation on `channel`, once the inbound message made it."""
    found = wait_until(lambda: [c for c in bound.conversations() if c["channel"] == channel],
                       timeout)
    assert len(found or []) == 1, "one %s conversation expected: %r" % (channel,
                                                                         bound.conversations())
    return found[0]


def wait_final(srv, key, cid, n=1, timeout=POLL):
    """The outbound messages of a platform conversation once n exist and none is queued."""
    def done():
        out = [m for m in api_messages(srv, key, cid) if m["direction"] == "out"]
        if len(out) >= n and all(m.get("status") in ("sent", "failed") for m in out):
            return out
        return None
    out = wait_until(done, timeout)
    assert out, "expected %d final outbound message(s): %r" % (
        n, [m for m in api_messages(srv, key, cid) if m["direction"] == "out"])
    return out


def widget_conv(srv, tenant=None, name="rich-co"):
    """A widget (of `tenant`, or a new one), a session and its conversation (one customer
    message). Returns (widget, session, conversation id)."""
    w = ChatWidget(srv, name, tenant=tenant)
    s = w.session()
    m = s.say("hello")
    return w, s, m["conversationId"]


def open_platform_convs(e, slack=True, telegram=True, whatsapp=True):
    """Bind the channels and open one conversation on each (the agent answers nothing)."""
    convs = {}
    if slack:
        e.b.slack()
        assert send_slack(e.srv, slack_flat(text="hi", channel=SLACK_CHANNEL)).status_code == 200
        convs["slack"] = conv_of(e.b, "slack")
    if telegram:
        e.b.telegram()
        assert send_tg(e.srv, tg_update(update_id=900001, text="hi",
                                        chat_id=TG_CHAT)).status_code == 200
        convs["telegram"] = conv_of(e.b, "telegram")
    if whatsapp:
        e.b.whatsapp()
        payload = wa_payload((WA_WABA, [wa_change(messages=[wa_text("wamid.OPEN", WA_CUSTOMER,
                                                                    "hi")])]))
        assert send_wa(e.srv, payload).status_code == 200
        convs["whatsapp"] = conv_of(e.b, "whatsapp")
    return convs


def numbered_platform(rec, fake):
    """platform_ok, but Telegram's message_id is 500 + the request's index (tells parts apart)."""
    if rec.path.startswith(TG_PREFIX):
        return jreply({"ok": True, "result": {"message_id": 500 + rec.index,
                                              "chat": {"id": TG_CHAT}}})
    if rec.path.startswith(GRAPH_PREFIX):
        return jreply({"messaging_product": "whatsapp", "contacts": [{"wa_id": WA_CUSTOMER}],
                       "messages": [{"id": "wamid.OUT%d" % rec.index}]})
    return platform_ok(rec, fake)


def method_of(rec):
    return rec.path.rsplit("/", 1)[-1]


def tg_requests(fake):
    return fake.snapshot(lambda r: r.path.startswith(TG_PREFIX))


def wa_requests(fake):
    return fake.snapshot(lambda r: r.path.startswith(GRAPH_PREFIX))


def slack_requests(fake):
    return fake.snapshot(lambda r: r.path.startswith(SLACK_PREFIX))


# =============================================================================================
# 1. the model, stored in its normalized form


def test_rich_message_is_stored_normalized_and_emitted(server, fakes):  # noqa: F811
    srv = server("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1,1,1")
    sub = fakes(ok())
    w, s, cid = widget_conv(srv)
    Tenant(srv, key=w.key).subscribe({sub.url: ["message_sent"]})
    body = {"text": "Which size?",
            "buttons": SIZE_BUTTONS,
            "cards": [CARD, {"title": "Runner 3"}],
            "attachments": [IMAGE, PDF,
                            {"url": "https://shop.example/jingle.mp3", "contentType": "audio/mpeg"},
                            {"url": "https://shop.example/clip", "type": "video"},
                            {"url": "https://shop.example/blob"}]}
    m = assert_created(w.api("POST", "/api/conversations/%s/messages" % cid, json=body),
                       "rich operator message")
    want_buttons = [{"type": "postback", "title": "Small", "payload": "SIZE_S"},
                    {"type": "url", "title": "Size guide", "url": "https://shop.example/sizes"}]
    want_cards = [dict(CARD, buttons=[{"type": "postback", "title": "Buy", "payload": "BUY_R2"}]),
                  {"title": "Runner 3", "buttons": []}]
    want_atts = [dict(IMAGE, type="image"), dict(PDF, type="file"),
                 {"type": "audio", "url": "https://shop.example/jingle.mp3",
                  "contentType": "audio/mpeg"},
                 {"type": "video", "url": "https://shop.example/clip"},
                 {"type": "file", "url": "https://shop.example/blob"}]
    assert m["text"] == "Which size?" and m["direction"] == "out", m
    assert m["buttons"] == want_buttons, m["buttons"]
    assert m["cards"] == want_cards, m["cards"]
    assert m["attachments"] == want_atts, m["attachments"]
    assert "postback" not in m, m
    assert "status" not in m, "a widget message is final at once: %r" % m

    # the operator's read and the widget's read show the same stored message
    stored = [x for x in api_messages(srv, w.key, cid) if x["id"] == m["id"]]
    assert stored == [m], stored
    shown = [x for x in s.items() if x["id"] == m["id"]]
    assert len(shown) == 1, s.items()
    for k in ("text", "buttons", "cards", "attachments"):
        assert shown[0][k] == m[k], (k, shown[0])

    # message_sent carries the same content
    ev = sub.wait_for(1, POLL)[0].json()
    assert ev["event_type"] == "message_sent", ev
    d = ev["data"]
    assert d["seq"] == m["seq"] and d["message_id"] == m["id"], d
    assert d["text"] == "Which size?" and d["content_type"] == "messageText", d
    assert d["buttons"] == want_buttons and d["cards"] == want_cards, d
    assert d["attachments"] == want_atts, d

    # a plain message keeps the old shape: no buttons, cards or postback members
    plain = assert_created(w.api("POST", "/api/conversations/%s/messages" % cid,
                                 json={"text": "just text"}))
    assert plain["attachments"] == [], plain
    for k in ("buttons", "cards", "postback"):
        assert k not in plain, plain
    # attachments or cards alone make the text optional; their event says what they are
    only_card = assert_created(w.api("POST", "/api/conversations/%s/messages" % cid,
                                     json={"cards": [{"title": "Runner 4"}]}))
    assert only_card["cards"] == [{"title": "Runner 4", "buttons": []}], only_card
    evs = sub.wait_for(3, POLL)
    by_seq = {e.json()["data"]["seq"]: e.json()["data"] for e in evs}
    assert by_seq[only_card["seq"]]["content_type"] == "messageAttachment", by_seq


# =============================================================================================
# 2. the model's rules: 400 naming the field, nothing stored

TITLE_81 = "x" * 81
BAD_CONTENT = [
    ({"buttons": [pb("Yes", "Y")]}, "text"),
    ({"text": "Pick", "buttons": postbacks(11)}, "buttons"),
    ({"text": "Pick", "buttons": [{"title": "Both", "payload": "B", "url": "https://x.example/"}]},
     "buttons[0]"),
    ({"text": "Pick", "buttons": [pb("Fine", "F"), {"title": "Neither"}]}, "buttons[1]"),
    ({"text": "Pick", "buttons": [pb("", "E")]}, "buttons[0].title"),
    ({"text": "Pick", "buttons": [pb(TITLE_81, "L")]}, "buttons[0].title"),
    ({"text": "Pick", "buttons": [dict(pb("Odd", "O"), type="callback")]}, "buttons[0].type"),
    ({"text": "Pick", "buttons": [{"type": "url", "title": "No url", "payload": "P"}]},
     "buttons[0]"),
    ({"text": "Pick", "buttons": [link("Bad link", "javascript:alert(1)")]}, "buttons[0].url"),
    ({"text": "Pick", "buttons": [pb("P", "x" * 1001)]}, "buttons[0].payload"),
    ({"text": "Pick", "buttons": [link("Long link", "https://shop.example/" + "a" * 2028)]},
     "buttons[0].url"),
    ({"cards": [{"subtitle": "no title"}]}, "cards[0].title"),
    ({"cards": [dict(CARD, buttons=postbacks(4))]}, "cards[0].buttons"),
    ({"cards": [dict(CARD, imageUrl="javascript:x")]}, "cards[0].imageUrl"),
    ({"cards": [dict(CARD, subtitle="s" * 401)]}, "cards[0].subtitle"),
    ({"cards": [CARD] * 11}, "cards"),
    ({"attachments": [{"type": "sticker", "url": "https://shop.example/s.webp"}]},
     "attachments[0].type"),
    ({"text": "Pick", "buttons": [dict(pb("Yes", "Y"), color="red")]}, "buttons[0].color"),
    ({"cards": [dict(CARD, price=5)]}, "cards[0].price"),
    ({"attachments": [dict(IMAGE, size=5)]}, "attachments[0].size"),
    ({"attachments": [dict(IMAGE, name="ş" * 128)]}, "attachments[0].name"),
    ({"text": "Pick", "buttons": {"title": "Yes", "payload": "Y"}}, "buttons"),
    ({"text": "Pick", "buttons": "Yes"}, "buttons"),
    ({"text": "Pick", "buttons": [5]}, "buttons[0]"),
    ({"text": "Pick", "postback": {"payload": "Y"}}, "postback"),
]


@pytest.mark.parametrize("body,field", BAD_CONTENT,
                         ids=["%02d-%s" % (i, f) for i, (_, f) in enumerate(BAD_CONTENT)])
def test_content_breaking_a_rule_is_400_naming_the_field(server, body, field):
    srv = server()
    w, s, cid = widget_conv(srv)
    before = api_messages(srv, w.key, cid)
    assert_refused(w.api("POST", "/api/conversations/%s/messages" % cid, json=body), field)
    assert api_messages(srv, w.key, cid) == before, "a refused message is not stored"
    assert len(s.items()) == len(before)


def test_unknown_top_level_member_is_refused(server):
    """docs/messages.md: "Members outside these are refused" (the API route also takes
    `sender`)."""
    srv = server()
    w, s, cid = widget_conv(srv)
    before = api_messages(srv, w.key, cid)
    assert_refused(w.api("POST", "/api/conversations/%s/messages" % cid,
                         json={"text": "Pick", "quickReplies": [pb("Yes", "Y")]}), "quickReplies")
    assert api_messages(srv, w.key, cid) == before, "a refused message is not stored"


def test_limits_of_the_model_are_inclusive(server):
    srv = server()
    w, s, cid = widget_conv(srv)
    body = {"text": "Pick",
            "buttons": postbacks(8, title="ğ" * 80, payload="P%d") +
            [link("Long link", "https://shop.example/" + "a" * 2027), pb("Last", "ş" * 1000)],
            "cards": [dict(CARD, title="ç" * 80, subtitle="ö" * 400,
                           buttons=postbacks(3))] * 10,
            "attachments": [dict(IMAGE, name="n" * 255, contentType="image/" + "p" * 121)] * 10}
    m = assert_created(w.api("POST", "/api/conversations/%s/messages" % cid, json=body),
                       "every list at its maximum, every string at its length")
    assert len(m["buttons"]) == 10 and len(m["cards"]) == 10 and len(m["attachments"]) == 10, m
    assert m["buttons"][0]["title"] == "ğ" * 80 and m["buttons"][9]["payload"] == "ş" * 1000
    assert len(m["buttons"][8]["url"]) == 2048, m["buttons"][8]
    assert m["cards"][0]["title"] == "ç" * 80 and len(m["cards"][0]["buttons"]) == 3


# =============================================================================================
# 3. the platforms' limits, checked at acceptance


def test_platform_limits_are_refused_at_acceptance_and_the_widget_takes_them(env):  # noqa: F811
    env.plat.behaviour = numbered_platform
    convs = open_platform_convs(env)
    env.b.agent.wait_for(3, POLL)
    _, ws, wcid = widget_conv(env.srv, tenant=env.b.tenant)
    key = env.b.key
    cases = [
        ("slack", {"text": "Pick", "buttons": [pb("s" * 76, "S")]}, "buttons[0].title", "Slack"),
        ("slack", {"cards": [dict(CARD, buttons=[pb("Fine", "F"), link("b" * 76)])]},
         "cards[0].buttons[1].title", "Slack"),
        ("telegram", {"text": "Pick", "buttons": [pb("Fine", "F"), pb("Long", "p" * 65)]},
         "buttons[1].payload", "Telegram"),
        ("telegram", {"text": "Pick", "buttons": [pb("Long", "ş" * 32 + "a")]},
         "buttons[0].payload", "Telegram"),
        ("telegram", {"cards": [dict(CARD, buttons=[pb("Long", "p" * 65)])]},
         "cards[0].buttons[0].payload", "Telegram"),
        ("whatsapp", {"text": "Pick", "buttons": [pb("Yes", "Y"), link("Site")]}, "buttons",
         "WhatsApp"),
        ("whatsapp", {"text": "Pick", "buttons": [link("Site"), link("Other")]}, "buttons",
         "WhatsApp"),
        ("whatsapp", {"text": "Pick", "buttons": [pb("One", "1"), pb("Two", "2"),
                                                  pb("t" * 21, "3")]},
         "buttons[2].title", "WhatsApp"),
        ("whatsapp", {"text": "Pick", "buttons": postbacks(3) + [pb("r" * 25, "R")] +
                      postbacks(1)}, "buttons[3].title", "WhatsApp"),
        ("whatsapp", {"text": "Pick", "buttons": [link("l" * 21)]}, "buttons[0].title",
         "WhatsApp"),
        ("whatsapp", {"text": "Pick", "buttons": [pb("One", "1"), pb("Two", "i" * 257)]},
         "buttons[1].payload", "WhatsApp"),
        ("whatsapp", {"text": "Pick", "buttons": postbacks(4) + [pb("Five", "i" * 201)]},
         "buttons[4].payload", "WhatsApp"),
        ("whatsapp", {"text": "x" * 1025, "buttons": [pb("Yes", "Y"), pb("No", "N")]}, "text",
         "WhatsApp"),
        ("whatsapp", {"cards": [dict(CARD, buttons=[pb("Buy", "B"), link("More")])]},
         "cards[0].buttons", "WhatsApp"),
    ]
    for channel, body, field, name in cases:
        cid = convs[channel]["id"]
        before = api_messages(env.srv, key, cid)
        r = api_post(env.srv, key, cid, body)
        try:
            assert_refused(r, field, name)
        except AssertionError as e:
            raise AssertionError("%s %s: %s" % (channel, json.dumps(body)[:120], e))
        assert api_messages(env.srv, key, cid) == before, "%s: a refused message is stored" % (
            channel,)
        # the widget shows all of it
        m = assert_created(api_post(env.srv, key, wcid, body), "widget: %s" % field)
        assert m["id"] in [x["id"] for x in ws.items()]
    assert env.plat.stays_at(0, SETTLE), "nothing refused is sent: %r" % env.plat.snapshot()
    platform_ids = {c["id"] for c in convs.values()}
    assert [e for e in env.sent_events() if e["data"]["conversation_id"] in platform_ids] == [], \
        "a refused message emits nothing"

    # at the limits: accepted, and sent
    accepted = [
        ("slack", {"text": "Pick", "buttons": [pb("s" * 75, "S"), link("👍" * 75)]}),
        ("telegram", {"text": "Pick", "buttons": [pb("Long", "p" * 64), pb("ş", "ş" * 32)]}),
        ("whatsapp", {"text": "x" * 1024, "buttons": [pb("t" * 20, "i" * 256), pb("No", "N")]}),
        ("whatsapp", {"text": "Pick", "buttons": postbacks(9, title="r" * 24) +
                      [pb("Last", "i" * 200)]}),
        ("whatsapp", {"text": "Pick", "buttons": [link("l" * 20)]}),
    ]
    for channel, body in accepted:
        m = assert_created(api_post(env.srv, key, convs[channel]["id"], body),
                           "%s at its limit" % channel)
        assert m.get("status") == "queued", m
    for channel, n in (("slack", 1), ("telegram", 1), ("whatsapp", 3)):
        out = wait_final(env.srv, key, convs[channel]["id"], n)
        assert [x["status"] for x in out] == ["sent"] * n, out
    assert len(slack_requests(env.plat)) == 1 and len(tg_requests(env.plat)) == 1
    assert len(wa_requests(env.plat)) == 3


def test_teams_shows_at_most_six_buttons(server, fakes):  # noqa: F811
    c = Connector(server, fakes)
    c.inbound("rich-lim-1", "hello")
    cid = conv_of(c.b, "teams")["id"]
    before = api_messages(c.srv, c.b.key, cid)
    assert_refused(api_post(c.srv, c.b.key, cid, {"text": "Pick", "buttons": postbacks(7)}),
                   "buttons", "Teams")
    assert api_messages(c.srv, c.b.key, cid) == before
    time.sleep(SETTLE)
    assert c.activity_requests() == [], "nothing refused is sent"
    m = assert_created(api_post(c.srv, c.b.key, cid, {"text": "Pick", "buttons": postbacks(6)}))
    _, out = c.wait_out(1)
    assert [x["status"] for x in out] == ["sent"] and out[0]["id"] == m["id"], out
    act, = c.activity_requests()
    hero = act.json()["attachments"][0]["content"]
    assert len(hero["buttons"]) == 6, act.json()


# =============================================================================================
# 4. rendering, as the platforms receive it


def test_slack_renders_blocks_with_the_text_as_fallback(env):  # noqa: F811
    convs = open_platform_convs(env, telegram=False, whatsapp=False)
    cid = convs["slack"]["id"]
    env.b.agent.wait_for(1, POLL)
    body = {"text": "Which size?", "buttons": SIZE_BUTTONS, "attachments": [IMAGE, PDF],
            "cards": [CARD]}
    m = assert_created(api_post(env.srv, env.b.key, cid, body))
    rec, = env.plat.wait_for(1, POLL)
    assert rec.path == SLACK_PREFIX + "/chat.postMessage", rec
    sent = rec.json()
    assert sent["channel"] == SLACK_CHANNEL, sent
    # the notification text: the message's text and each attachment's link, nothing else
    assert sent["text"].startswith("Which size?"), sent["text"]
    for a in (IMAGE, PDF):
        assert a["url"] in sent["text"], sent["text"]
    assert "SIZE_S" not in sent["text"] and "Runner 2" not in sent["text"], sent["text"]
    blocks = sent["blocks"]
    assert blocks[0] == {"type": "section",
                         "text": {"type": "plain_text", "text": "Which size?"}}, blocks[0]
    actions = blocks[1]
    assert actions["type"] == "actions", blocks
    els = actions["elements"]
    assert [e["type"] for e in els] == ["button", "button"], els
    assert els[0]["text"] == {"type": "plain_text", "text": "Small"}, els[0]
    assert els[0]["value"] == "SIZE_S" and "url" not in els[0], els[0]
    assert els[1]["text"] == {"type": "plain_text", "text": "Size guide"}, els[1]
    assert els[1]["url"] == "https://shop.example/sizes" and "value" not in els[1], els[1]
    assert [e["action_id"] for e in els] == ["sb_b0", "sb_b1"], els
    image = blocks[2]
    assert image["type"] == "image" and image["image_url"] == IMAGE["url"], image
    assert isinstance(image.get("alt_text"), str) and image["alt_text"], image
    pdf = blocks[3]
    assert pdf["type"] == "section", pdf
    assert pdf["text"]["text"] == "manual.pdf: " + PDF["url"], pdf
    card = blocks[4]
    assert card["type"] == "section", blocks
    for part in ("Runner 2", "Light and fast", "https://shop.example/r2"):
        assert part in card["text"]["text"], card
    assert card["accessory"]["type"] == "image", card
    assert card["accessory"]["image_url"] == CARD["imageUrl"], card
    card_actions = blocks[5]
    assert card_actions["type"] == "actions", blocks
    assert [(e["text"]["text"], e.get("value"), e["action_id"])
            for e in card_actions["elements"]] == [("Buy", "BUY_R2", "sb_c0_0")], card_actions
    assert len(blocks) == 6, blocks
    out, = wait_final(env.srv, env.b.key, cid)
    assert out["id"] == m["id"] and out["status"] == "sent", out
    assert out["platformMessageId"] == SLACK_TS, out
    assert env.plat.stays_at(1, 0.5), "Slack takes it in one request"

    # a plain message is sent as before: no blocks
    assert_created(api_post(env.srv, env.b.key, cid, {"text": "plain again"}))
    rec = env.plat.wait_for(2, POLL)[1]
    assert rec.json() == {"channel": SLACK_CHANNEL, "text": "plain again"}, rec.json()

    # a long text: sections of at most 3,000 characters (not bytes), then the buttons
    long_text = "é" * 3500
    assert_created(api_post(env.srv, env.b.key, cid, {"text": long_text,
                                                      "buttons": [pb("Ok", "OK")]}))
    sent = env.plat.wait_for(3, POLL)[2].json()
    assert sent["text"] == long_text, len(sent["text"])
    blocks = sent["blocks"]
    assert [b["type"] for b in blocks] == ["section", "section", "actions"], blocks
    assert blocks[0]["text"]["text"] == "é" * 3000 and blocks[1]["text"]["text"] == "é" * 500


def test_telegram_sends_one_request_per_part_in_order(env):  # noqa: F811
    env.plat.behaviour = numbered_platform
    convs = open_platform_convs(env, slack=False, whatsapp=False)
    cid = convs["telegram"]["id"]
    env.b.agent.wait_for(1, POLL)
    body = {"text": "Which size?", "buttons": SIZE_BUTTONS, "attachments": [IMAGE, PDF],
            "cards": [CARD]}
    m = assert_created(api_post(env.srv, env.b.key, cid, body))
    recs = env.plat.wait_for(4, POLL)
    base = "%s/bot%s/" % (TG_PREFIX, TG_TOKEN)
    assert [r.path for r in recs] == [base + x for x in ("sendMessage", "sendPhoto",
                                                         "sendDocument", "sendPhoto")], recs
    chat = str(TG_CHAT)
    assert recs[0].json() == {
        "chat_id": chat, "text": "Which size?",
        "reply_markup": {"inline_keyboard": [
            [{"text": "Small", "callback_data": "SIZE_S"}],
            [{"text": "Size guide", "url": "https://shop.example/sizes"}]]}}, recs[0].json()
    assert recs[1].json() == {"chat_id": chat, "photo": IMAGE["url"], "caption": "side.png"}, \
        recs[1].json()
    assert recs[2].json() == {"chat_id": chat, "document": PDF["url"],
                              "caption": "manual.pdf"}, recs[2].json()
    card = recs[3].json()
    assert card["photo"] == CARD["imageUrl"], card
    assert "Runner 2" in card["caption"] and "Light and fast" in card["caption"], card
    assert card["reply_markup"] == {"inline_keyboard": [
        [{"text": "Buy", "callback_data": "BUY_R2"}],
        [{"text": "Open", "url": "https://shop.example/r2"}]]}, card
    out, = wait_final(env.srv, env.b.key, cid)
    assert out["id"] == m["id"] and out["status"] == "sent", out
    first_id = str(500 + recs[0].index)
    assert out["platformMessageId"] == first_id, "the first part's id: %r" % out
    ev, = [e for e in env.sent_events() if e["data"]["seq"] == m["seq"]] or [None]
    assert ev is not None, env.sent_events()
    assert ev["data"]["platform_message_id"] == first_id, ev
    assert env.plat.stays_at(4, 0.8), "each part once: %r" % env.plat.snapshot()
    assert len(env.sent_events()) == 1, "one message, one message_sent"
    log = send_attempts(env, m["id"])
    assert len(log) == 1, "one attempt log line for the message's four parts: %r" % log

    # a card without an image is a text with its keyboard
    assert_created(api_post(env.srv, env.b.key, cid, {"cards": [{"title": "Plain card",
                                                                 "itemUrl": CARD["itemUrl"]}]}))
    rec = env.plat.wait_for(5, POLL)[4]
    assert rec.path == base + "sendMessage", rec
    assert rec.json()["text"].startswith("Plain card"), rec.json()
    assert rec.json()["reply_markup"] == {"inline_keyboard": [
        [{"text": "Open", "url": CARD["itemUrl"]}]]}, rec.json()


def test_whatsapp_renders_interactive_and_media_messages(env):  # noqa: F811
    env.plat.behaviour = numbered_platform
    convs = open_platform_convs(env, slack=False, telegram=False)
    cid = convs["whatsapp"]["id"]
    env.b.agent.wait_for(1, POLL)
    posts = [
        {"text": "Three?", "buttons": [pb("One", "1"), pb("Two", "2"), pb("Three", "3")]},
        {"text": "Five?", "buttons": postbacks(5)},
        {"text": "Read on", "buttons": [link("Size guide", "https://shop.example/sizes")]},
        {"attachments": [IMAGE, PDF]},
    ]
    for body in posts:
        assert_created(api_post(env.srv, env.b.key, cid, body))
    recs = env.plat.wait_for(5, POLL)
    assert all(r.path == "%s/%s/messages" % (GRAPH_PREFIX, WA_PHONE) for r in recs), recs
    bodies = [r.json() for r in recs]
    for b in bodies:
        assert b["messaging_product"] == "whatsapp" and b["to"] == WA_CUSTOMER, b

    three = bodies[0]
    assert three["type"] == "interactive", three
    i = three["interactive"]
    assert i["type"] == "button" and i["body"] == {"text": "Three?"}, i
    assert i["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "1", "title": "One"}},
        {"type": "reply", "reply": {"id": "2", "title": "Two"}},
        {"type": "reply", "reply": {"id": "3", "title": "Three"}}], i

    five = bodies[1]["interactive"]
    assert five["type"] == "list" and five["body"] == {"text": "Five?"}, five
    assert five["action"]["button"] == "Choose", five
    sections = five["action"]["sections"]
    assert len(sections) == 1, five
    assert [(r["id"], r["title"]) for r in sections[0]["rows"]] == \
        [("OPT_%d" % k, "Option %d" % k) for k in range(5)], five

    cta = bodies[2]["interactive"]
    assert cta["type"] == "cta_url" and cta["body"] == {"text": "Read on"}, cta
    assert cta["action"]["name"] == "cta_url", cta
    assert cta["action"]["parameters"] == {"display_text": "Size guide",
                                           "url": "https://shop.example/sizes"}, cta

    image, doc = bodies[3], bodies[4]
    assert image["type"] == "image" and image["image"]["link"] == IMAGE["url"], image
    assert doc["type"] == "document" and doc["document"]["link"] == PDF["url"], doc
    assert doc["document"]["filename"] == "manual.pdf", doc

    out = wait_final(env.srv, env.b.key, cid, 4)
    assert [x["status"] for x in out] == ["sent"] * 4, out
    assert out[3]["platformMessageId"] == "wamid.OUT%d" % recs[3].index, \
        "the first part's id: %r" % out[3]
    assert env.plat.stays_at(5, 0.5), env.plat.snapshot()

    # cards: interactive with the image as the header, or an image with a caption
    r3 = {"title": "Runner 3", "subtitle": "Cushioned", "imageUrl": "https://shop.example/r3.png"}
    assert_created(api_post(env.srv, env.b.key, cid, {"cards": [CARD, r3]}))
    with_buttons, image_card = [r.json() for r in env.plat.wait_for(7, POLL)[5:]]
    i = with_buttons["interactive"]
    assert with_buttons["type"] == "interactive" and i["type"] == "button", with_buttons
    assert i["header"] == {"type": "image", "image": {"link": CARD["imageUrl"]}}, i
    for part in ("Runner 2", "Light and fast", CARD["itemUrl"]):
        assert part in i["body"]["text"], i
    assert i["action"]["buttons"] == [{"type": "reply", "reply": {"id": "BUY_R2",
                                                                  "title": "Buy"}}], i
    assert image_card["type"] == "image", image_card
    assert image_card["image"]["link"] == "https://shop.example/r3.png", image_card
    assert "Runner 3" in image_card["image"]["caption"], image_card
    assert "Cushioned" in image_card["image"]["caption"], image_card


def test_teams_renders_hero_cards_and_a_carousel(server, fakes):  # noqa: F811
    c = Connector(server, fakes)
    c.inbound("rich-render-1", "hello")
    cid = conv_of(c.b, "teams")["id"]
    assert_created(api_post(c.srv, c.b.key, cid, {"text": "Which size?", "buttons": SIZE_BUTTONS}))
    _, out = c.wait_out(1)
    assert [x["status"] for x in out] == ["sent"], out
    act, = c.activity_requests()
    a = act.json()
    assert a["type"] == "message" and a["text"] == "Which size?", a
    assert len(a["attachments"]) == 1, a
    hero = a["attachments"][0]
    assert hero["contentType"] == "application/vnd.microsoft.card.hero", hero
    assert hero["content"]["buttons"] == [
        {"type": "messageBack", "title": "Small", "displayText": "Small", "text": "SIZE_S"},
        {"type": "openUrl", "title": "Size guide", "value": "https://shop.example/sizes"}], hero
    assert "attachmentLayout" not in a, a

    second = {"title": "Runner 3", "subtitle": "Cushioned"}
    assert_created(api_post(c.srv, c.b.key, cid, {"text": "Our runners", "cards": [CARD, second]}))
    _, out = c.wait_out(2)
    assert [x["status"] for x in out] == ["sent", "sent"], out
    a = c.activity_requests()[1].json()
    assert a["text"] == "Our runners" and a.get("attachmentLayout") == "carousel", a
    heroes = a["attachments"]
    assert [h["contentType"] for h in heroes] == ["application/vnd.microsoft.card.hero"] * 2, a
    first = heroes[0]["content"]
    assert first["title"] == "Runner 2" and first["subtitle"] == "Light and fast", first
    assert first["images"] == [{"url": CARD["imageUrl"]}], first
    assert first["tap"] == {"type": "openUrl", "value": CARD["itemUrl"]}, first
    assert first["buttons"] == [{"type": "messageBack", "title": "Buy", "displayText": "Buy",
                                 "text": "BUY_R2"}], first
    assert heroes[1]["content"]["title"] == "Runner 3", heroes
    assert len(c.activity_requests()) == 2, "Teams takes a message in one activity"

    # files: a media attachment when the type is known, else a hero card with an "Open" link
    blob = {"url": "https://shop.example/blob", "name": "blob.bin"}
    assert_created(api_post(c.srv, c.b.key, cid, {"attachments": [PDF, blob]}))
    _, out = c.wait_out(3)
    assert [x["status"] for x in out] == ["sent"] * 3, out
    a = c.activity_requests()[2].json()
    assert a["attachments"][0] == {"contentType": "application/pdf", "contentUrl": PDF["url"],
                                   "name": "manual.pdf"}, a
    other = a["attachments"][1]
    assert other["contentType"] == "application/vnd.microsoft.card.hero", a
    assert other["content"]["buttons"] == [{"type": "openUrl", "title": "Open",
                                            "value": blob["url"]}], a
    assert "attachmentLayout" not in a, a


# =============================================================================================
# 5. parts and retries


def send_attempts(e, mid, prefix=TG_PREFIX):
    """The attempt log lines of message `mid`'s send (the account's endpoint)."""
    eps = [x for x in e.tenant.endpoints() if x["url"].startswith(e.plat.base + prefix)]
    assert len(eps) == 1, e.tenant.endpoints()
    r = e.tenant.call("GET", "/api/webhooks/endpoints/%s/attempts" % eps[0]["id"])
    assert r.status_code == 200, r.text
    return [a for a in items_of(r.json()) if mid in (a.get("deliveryId") or "")]


TG_FLOOD = Reply(429, json.dumps({"ok": False, "error_code": 429,
                                  "description": "Too Many Requests: retry after 1",
                                  "parameters": {"retry_after": 1}}).encode(),
                 headers={"Retry-After": "1"}, content_type="application/json")


@pytest.mark.parametrize("failure", [Reply(500, "boom"), TG_FLOOD], ids=["500", "429"])
def test_a_failed_part_is_retried_without_sending_the_earlier_ones_again(  # noqa: F811
        env, failure):
    failed = []

    def second_part_fails_once(rec, fake):
        if rec.path.endswith("/sendPhoto") and not failed:
            failed.append(rec.index)
            return failure
        return numbered_platform(rec, fake)
    env.plat.behaviour = second_part_fails_once
    convs = open_platform_convs(env, slack=False, whatsapp=False)
    cid = convs["telegram"]["id"]
    env.b.agent.wait_for(1, POLL)
    m = assert_created(api_post(env.srv, env.b.key, cid, {"text": "Which size?",
                                                          "buttons": SIZE_BUTTONS,
                                                          "attachments": [IMAGE, PDF]}))
    recs = env.plat.wait_for(4, POLL)
    assert [method_of(r) for r in recs] == ["sendMessage", "sendPhoto", "sendPhoto",
                                            "sendDocument"], recs
    assert recs[1].body == recs[2].body, "the retry sends the same part"
    assert recs[2].t - recs[1].t >= 0.7, "the retry waits its turn (--retry-schedule 0,1,...)"
    out, = wait_final(env.srv, env.b.key, cid)
    assert out["id"] == m["id"] and out["status"] == "sent", out
    assert out["platformMessageId"] == str(500 + recs[0].index), out
    assert env.plat.stays_at(4, 1.5), "no part is sent twice once accepted: %r" % (
        env.plat.snapshot(),)
    counts = {}
    for r in env.plat.snapshot():
        counts[(method_of(r), r.body)] = counts.get((method_of(r), r.body), 0) + 1
    assert sorted(counts.values()) == [1, 1, 2], counts
    assert len([e for e in env.sent_events() if e["data"]["seq"] == m["seq"]]) == 1
    # the attempt log: the failed attempt and the one that finished the message
    log = wait_until(lambda: len(send_attempts(env, m["id"])) >= 2 and send_attempts(env, m["id"]),
                     POLL) or send_attempts(env, m["id"])
    assert len(log) == 2, log


# =============================================================================================
# 6. an agent's answer as a rich reply

PICK_REPLY = {"text": "Pick", "buttons": [pb("Red", "COLOR_RED"), link("Catalog",
                                                                        "https://shop.example/c")]}


def agent_by_text(rec, fake):
    """The tenant's agent: answers by what the customer wrote."""
    try:
        text = rec.json()["data"]["text"]
    except (ValueError, KeyError, TypeError):
        return Reply(400, "not a message_received envelope")
    answers = {
        "pick": {"reply": PICK_REPLY},
        "eleven": {"reply": {"text": "Too many", "buttons": postbacks(11)}},
        "mixed": {"reply": {"text": "Mixed", "buttons": postbacks(3) + [link("Site")]}},
        "plain": {"reply": "just text"},
        "card": {"message": {"cards": [CARD]}},
    }
    if text in answers:
        return Reply(200, json.dumps(answers[text]), content_type="application/json")
    return Reply(200, "ok")


def agent_calls(agent, text):
    return agent.snapshot(lambda r: r.json().get("data", {}).get("text") == text)


def refused_dead_letter(tenant, agent_url, n):
    dead = tenant.wait_dead_letters(n, POLL, pred=lambda d: d.get("url") == agent_url)
    assert len(dead) == n, tenant.dead_letters()
    return dead


def test_agent_rich_reply_is_stored_and_rendered_and_bad_ones_are_refused(env):  # noqa: F811
    env.b.agent.behaviour = agent_by_text
    env.plat.behaviour = numbered_platform
    env.b.telegram()
    env.b.whatsapp()
    agent = env.b.agent

    # a rich reply: stored with its buttons, sent with an inline keyboard
    assert send_tg(env.srv, tg_update(update_id=910001, text="pick",
                                      chat_id=TG_CHAT)).status_code == 200
    tg = conv_of(env.b, "telegram")
    out, = wait_final(env.srv, env.b.key, tg["id"])
    assert out["sender"]["type"] == "agent" and out["status"] == "sent", out
    assert out["text"] == "Pick", out
    assert out["buttons"] == [
        {"type": "postback", "title": "Red", "payload": "COLOR_RED"},
        {"type": "url", "title": "Catalog", "url": "https://shop.example/c"}], out
    rec, = tg_requests(env.plat)
    assert method_of(rec) == "sendMessage", rec
    assert rec.json()["reply_markup"] == {"inline_keyboard": [
        [{"text": "Red", "callback_data": "COLOR_RED"}],
        [{"text": "Catalog", "url": "https://shop.example/c"}]]}, rec.json()

    # a reply that breaks a rule of the model: not added, a final failure, not retried
    assert send_tg(env.srv, tg_update(update_id=910002, text="eleven",
                                      chat_id=TG_CHAT)).status_code == 200
    dead, = refused_dead_letter(env.tenant, agent.url, 1)
    assert re.search(r"reply refused \((reply\.)?buttons\)", dead.get("error") or ""), dead
    attempts = items_of(env.tenant.call(
        "GET", "/api/webhooks/endpoints/%s/attempts" % dead["endpointId"]).json())
    refused = [a for a in attempts if "reply refused" in (a.get("error") or "")]
    assert len(refused) == 1, attempts
    assert "buttons" in refused[0]["error"], refused

    # a reply the platform cannot show (WhatsApp: reply and link buttons mixed): the same
    payload = wa_payload((WA_WABA, [wa_change(messages=[wa_text("wamid.MIX1", WA_CUSTOMER,
                                                                "mixed")])]))
    assert send_wa(env.srv, payload).status_code == 200
    wa = conv_of(env.b, "whatsapp")
    dead = refused_dead_letter(env.tenant, agent.url, 2)
    errors = sorted(d.get("error") or "" for d in dead)
    wa_err = [e for e in errors if "WhatsApp" in e]
    assert len(wa_err) == 1 and re.search(r"reply refused \((reply\.)?buttons\)", wa_err[0]), \
        errors

    time.sleep(NO_RETRY)
    assert len(agent_calls(agent, "eleven")) == 1, "a refused reply is not retried"
    assert len(agent_calls(agent, "mixed")) == 1, "a refused reply is not retried"
    assert [m["text"] for m in api_messages(env.srv, env.b.key, tg["id"])
            if m["direction"] == "out"] == ["Pick"], "no reply was added"
    assert [m for m in api_messages(env.srv, env.b.key, wa["id"])
            if m["direction"] == "out"] == [], "no reply was added"
    assert wa_requests(env.plat) == [], "nothing was sent for the refused reply"
    assert len(tg_requests(env.plat)) == 1

    # a plain string reply works as before
    assert send_tg(env.srv, tg_update(update_id=910003, text="plain",
                                      chat_id=TG_CHAT)).status_code == 200
    out = wait_final(env.srv, env.b.key, tg["id"], 2)
    assert out[1]["text"] == "just text" and out[1]["status"] == "sent", out
    for k in ("buttons", "cards"):
        assert k not in out[1], out[1]
    rec = tg_requests(env.plat)[1]
    assert rec.json() == {"chat_id": str(TG_CHAT), "text": "just text"}, rec.json()


def test_agent_rich_reply_reaches_the_widget(server, fakes):  # noqa: F811
    agent = fakes(agent_by_text)
    srv = server("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1,1,1")
    w = ChatWidget(srv, "rich-agent", agent_url=agent.url)
    s = w.session()
    m = s.say("pick")
    got = wait_until(lambda: [x for x in s.items() if x["direction"] == "out"], POLL)
    assert got and len(got) == 1, s.items()
    rep = got[0]
    assert rep["text"] == "Pick" and rep["sender"]["type"] == "agent", rep
    assert rep["buttons"] == [
        {"type": "postback", "title": "Red", "payload": "COLOR_RED"},
        {"type": "url", "title": "Catalog", "url": "https://shop.example/c"}], rep
    assert rep["attachments"] == [] and rep["seq"] > m["seq"], rep
    # `message` takes an object too
    s.say("card")
    got = wait_until(lambda: [x for x in s.items() if x["direction"] == "out"][1:], POLL)
    assert got and got[0]["cards"] == [dict(CARD, buttons=[
        {"type": "postback", "title": "Buy", "payload": "BUY_R2"}])], s.items()
    # eleven buttons break the model's rule on the widget too
    s.say("eleven")
    t = Tenant(srv, key=w.key)
    dead, = refused_dead_letter(t, agent.url, 1)
    assert "reply refused" in dead["error"] and "buttons" in dead["error"], dead
    time.sleep(NO_RETRY)
    assert len(agent_calls(agent, "eleven")) == 1, "not retried"
    assert [x["text"] for x in s.items() if x["direction"] == "out"] == ["Pick", None]


# =============================================================================================
# 7. the widget's postback


def test_widget_postback_becomes_the_customers_message(server, fakes):  # noqa: F811
    agent = fakes(ok())
    srv = server("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1,1,1")
    w = ChatWidget(srv, "postback-co", agent_url=agent.url)
    s = w.session()
    r = s.post({"postback": {"title": "Yes", "payload": "Y"}})
    m = assert_created(r, "postback")
    assert m["direction"] == "in" and m["text"] == "Yes", m
    assert m["postback"] == {"title": "Yes", "payload": "Y"}, m
    assert m["attachments"] == [] and "buttons" not in m, m
    assert [x["id"] for x in s.items()] == [m["id"]]
    stored, = api_messages(srv, w.key, m["conversationId"])
    assert stored["postback"] == {"title": "Yes", "payload": "Y"}, stored

    rec = agent.wait_for(1, POLL)[0].json()
    assert rec["event_type"] == "message_received", rec
    d = rec["data"]
    assert d["message_id"] == m["id"] and d["text"] == "Yes", d
    assert d["postback"] == {"title": "Yes", "payload": "Y"}, d
    assert d["content_type"] == "messagePostback", d

    # a text next to the postback is the message's text
    m2 = assert_created(s.post({"text": "I choose yes", "postback": {"title": "Yes",
                                                                     "payload": "Y2"}}))
    assert m2["text"] == "I choose yes" and m2["postback"]["payload"] == "Y2", m2

    # a postback without a title needs no text either
    m3 = assert_created(s.post({"postback": {"payload": "NO_TITLE"}}))
    assert m3["postback"] == {"payload": "NO_TITLE"} and not m3.get("text"), m3

    # the customer sends no buttons or cards; a postback needs its payload
    n = len(s.items())
    for body, field in (({"text": "hi", "buttons": [pb("Yes", "Y")]}, "buttons"),
                        ({"text": "hi", "cards": [{"title": "Mine"}]}, "cards"),
                        ({"postback": {"title": "Yes"}}, "postback.payload"),
                        ({"postback": {"title": "Yes", "payload": ""}}, "postback.payload"),
                        ({"postback": "Y"}, "postback"),
                        ({"postback": {"title": "Yes", "payload": "Y", "extra": 1}},
                         "postback.extra"),
                        ({"postback": {"title": "t" * 81, "payload": "Y"}}, "postback.title")):
        assert_refused(s.post(body), field)
    assert len(s.items()) == n, "nothing refused is stored"


# =============================================================================================
# 8. text that is not ASCII goes through byte for byte

CAY = "çay☕"
THUMBS = "Evet 👍 çok güzel"


def test_emoji_and_accents_go_through_byte_exact(env):  # noqa: F811
    convs = open_platform_convs(env, whatsapp=False)
    env.b.agent.wait_for(2, POLL)
    tg_body = {"text": "Ne içersiniz? ☕",
               "buttons": [pb("Çay ☕", CAY), pb("Türk kahvesi", "kahve")]}
    sl_body = {"text": "Beğendiniz mi? 🎉",
               "buttons": [pb(THUMBS, "EVET_👍"),
                           link("Ayrıntılar ✨", "https://shop.example/detay")]}
    tm = assert_created(api_post(env.srv, env.b.key, convs["telegram"]["id"], tg_body))
    sm = assert_created(api_post(env.srv, env.b.key, convs["slack"]["id"], sl_body))
    assert tm["buttons"][0] == {"type": "postback", "title": "Çay ☕", "payload": CAY}, tm
    assert sm["buttons"][0] == {"type": "postback", "title": THUMBS, "payload": "EVET_👍"}, sm

    tg, = env.plat.wait_for(1, POLL, pred=lambda r: r.path.startswith(TG_PREFIX))
    kb = tg.json()["reply_markup"]["inline_keyboard"]
    assert kb[0] == [{"text": "Çay ☕", "callback_data": CAY}], kb
    assert tg.json()["text"] == "Ne içersiniz? ☕", tg.json()
    assert CAY.encode("utf-8") in tg.body, "callback_data is sent as UTF-8: %r" % tg.body

    sl, = env.plat.wait_for(1, POLL, pred=lambda r: r.path.startswith(SLACK_PREFIX))
    els = sl.json()["blocks"][1]["elements"]
    assert els[0]["text"]["text"] == THUMBS and els[0]["value"] == "EVET_👍", els
    assert els[1]["text"]["text"] == "Ayrıntılar ✨", els
    assert sl.json()["text"] == "Beğendiniz mi? 🎉", sl.json()
    assert THUMBS.encode("utf-8") in sl.body, "the title is sent as UTF-8: %r" % sl.body

    for channel in ("telegram", "slack"):
        out, = wait_final(env.srv, env.b.key, convs[channel]["id"])
        assert out["status"] == "sent", out
    stored, = [m for m in api_messages(env.srv, env.b.key, convs["telegram"]["id"])
               if m["direction"] == "out"]
    assert stored["buttons"][0]["payload"] == CAY, stored
