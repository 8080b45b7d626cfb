"""The API chat channel (seed 004; docs/apichat.md "The bot_url and the channel"): the partner's
front end posts its users' messages to the workspace's bot_url (`POST /api/apichat/{code}`, the
tenant's API key as the flow key); they become messages of an `apichat` conversation delivered to
the channel's agent; the agent's and operators' messages are POSTed to the workspace's verified
webhook as the seed's payloads (text, button_template, generic_template, image, audio, video,
file), signed X-Hub-Signature-256 with the verification key.

Black box: a fake front end (a FakeSubscriber that answers the hub_challenge and records the
message payloads) is set as the webhook through the partner API; a fake agent answers the
deliveries; results are read through the tenant API (conversations, messages), the fakes and,
for "nothing stored", Redis."""

import hashlib
import hmac
import json
import time
import urllib.parse

import pytest

from fakes import SERVER_FLAGS, Reply, Tenant, fakes, json_reply, ok, sequence  # noqa: F401
from sbhelpers import RawConn, assert_problem, req, wait_until
from test_apichat_partner import call, echo, mk_partner, set_hook
from test_channels_inbound import AGENT_SECRET, Bound, assert_nothing_stored

pytestmark = pytest.mark.server

POLL = 8.0
SETTLE = 1.0
MAX_BODY = 1 << 20  # --max-body default

VKEY = "Doğrulama-anahtarı-ğüşçö-🔑"  # a verification key with non-ASCII characters
THANKS = "Çok teşekkürler 🎉 — merci, señor"

CARDS = [{"title": "Runner 2", "subtitle": "Light and fast", "imageUrl": "https://shop.example/r2.png",
          "buttons": [{"title": "Buy", "payload": "BUY_R2"}]},
         {"title": "Runner 3", "subtitle": "Ağır ama sağlam", "imageUrl": "https://shop.example/r3.png",
          "itemUrl": "https://shop.example/r3", "buttons": [{"title": "Buy", "payload": "BUY_R3"}]}]


# ---- the seed's six bot_url bodies --------------------------------------------------------

def sender(sid="user-7781", name="Ayşe Kaya", email="", phone=""):
    return {"id": sid, "name": name, "email": email, "phone_number": phone, "type": "contact"}


def text_body(content="Merhaba", conv=123, who=None):
    return {"content": content, "message_type": "incoming", "sender": who or sender(),
            "conversation_id": conv, "event": "message_created"}


def postback_body(title="Size guide", payload="SIZE_GUIDE", conv=123, who=None):
    return {"content": title, "message_type": "incoming", "sender": who or sender(),
            "conversation_id": conv, "event": "message_postback",
            "submitted_values": [{"title": title, "payload": payload}]}


def media_body(file_type, url, conv=123, who=None):
    return {"content": "", "message_type": "incoming", "sender": who or sender(),
            "conversation_id": conv, "event": "message_created",
            "attachments": [{"file_type": file_type, "data_url": url}]}


MEDIA = [("image", "https://cdn.example/u/photo.jpg"), ("audio", "https://cdn.example/u/voice.ogg"),
         ("video", "https://cdn.example/u/clip.mp4"), ("file", "https://cdn.example/u/invoice.pdf")]


# ---- the fake front end -------------------------------------------------------------------

def is_message(rec):
    return rec.header("x-action") == "messages"


def front_end(then=None):
    """Answers the hub_* verification with the challenge, message payloads with `then` (200)."""
    verify = echo()

    def b(rec, fake):
        if not is_message(rec) and rec.body.startswith(b"hub_mode="):
            return verify(rec, fake)
        return then(rec, fake) if then else Reply(200, '{"ok":true}', content_type="application/json")
    return b


def php_verify(rec, key):
    """The seed's PHP check, written out: 'sha256=' . hash_hmac('sha256', $payload, $key) over
    the raw body as received."""
    sign = "sha256=" + hmac.new(key.encode("utf-8"), rec.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(rec.header("X-Hub-Signature-256") or "", sign)


class ApiChat:
    """A workspace (Bound: tenant, agent fake) with an apichat channel, a partner and a verified
    webhook (a fake front end)."""

    def __init__(self, srv, fakes, name="apichat-co", vkey=VKEY, channel=True, hook=True):  # noqa: F811
        self.srv = srv
        self.b = Bound(srv, fakes, name=name)
        self.id, self.key = self.b.id, self.b.key
        self.partner = mk_partner(srv, [self.b.tenant], name=name + " partner")
        self.vkey = vkey
        self.front = fakes(front_end())
        self.channel = self.b.channel("apichat", {}) if channel else None
        self.code = None
        if hook:
            self.set_hook()

    def set_hook(self, url=None):
        r = set_hook(self.srv, self.partner["key"], self.b.tenant, url or self.front.url, self.vkey)
        assert r.status_code == 200, r.text
        self.bot_url = r.json()["data"]["bot_url"]
        self.path = urllib.parse.urlparse(self.bot_url).path
        self.code = self.path.rsplit("/", 1)[1]
        return r

    def delete_hook(self):
        r = call(self.srv, self.partner["key"], "DELETE", self.b.tenant)
        assert r.status_code == 200, r.text

    def post(self, body, key=None, how="bearer", path=None, headers=None):
        key = self.key if key is None else key
        h = {"Content-Type": "application/json"}
        if key is not False:
            if how == "bearer":
                h["Authorization"] = "Bearer " + key
            else:
                h["X-API-Key"] = key
        h.update(headers or {})
        data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False).encode()
        return self.srv.request("POST", path or self.path, data=data, headers=h)

    def send(self, body, **kw):
        r = self.post(body, **kw)
        assert r.status_code == 200, "bot_url: %d %r" % (r.status_code, r.text[:300])
        assert r.json() == {"status": "ok"}, r.text
        return r

    # reading back
    def messages_out(self, n, timeout=POLL):
        return self.front.wait_for(n, timeout, pred=is_message)

    def convs(self):
        return self.b.conversations()

    def wait_convs(self, n, timeout=POLL):
        got = wait_until(lambda: (lambda c: c if len(c) >= n else None)(self.convs()), timeout)
        assert got and len(got) == n, "expected %d conversation(s): %r" % (n, self.convs())
        return got

    def inbound(self, cid):
        return sorted([m for m in self.b.messages(cid) if m["direction"] == "in"], key=lambda m: m["seq"])

    def outbound(self, cid):
        return sorted([m for m in self.b.messages(cid) if m["direction"] == "out"], key=lambda m: m["seq"])

    def wait_final(self, cid, n, timeout=POLL):
        def done():
            out = self.outbound(cid)
            if len(out) >= n and all(m.get("status") in ("sent", "failed") for m in out):
                return out
            return None
        out = wait_until(done, timeout)
        assert out, "expected %d final outbound message(s): %r" % (n, self.outbound(cid))
        return out


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


@pytest.fixture
def chat(sb, fakes):  # noqa: F811
    return ApiChat(sb, fakes)


def received(agent, n, timeout=POLL):
    """The data of the first n message_received deliveries the agent got, by seq (deliveries of
    one conversation may arrive side by side)."""
    recs = agent.wait_for(n, timeout)
    out = []
    for r in recs[:n]:
        body = r.json()
        assert body["event_type"] == "message_received", body
        want = "sha256=" + hmac.new(AGENT_SECRET.encode(), r.body, hashlib.sha256).hexdigest()
        assert r.header("X-Hub-Signature-256") == want
        out.append(body["data"])
    return sorted(out, key=lambda d: (d["conversation_id"], d["seq"]))


def head(sender_id="user-7781", conv=123):
    return {"sender_id": sender_id, "conv_id": conv, "message_type": "outgoing", "private": False}


def assert_payload(rec, chat, want):
    """One webhook request: the exact seed payload, the headers, a signature the PHP check takes."""
    assert rec.method == "POST" and rec.path == "/hook", rec
    assert (rec.header("Content-Type") or "").split(";")[0].strip() == "application/json", dict(rec.headers)
    assert rec.header("x-flow-ns") == chat.id, dict(rec.headers)
    assert rec.header("x-action") == "messages", dict(rec.headers)
    assert php_verify(rec, chat.vkey), "X-Hub-Signature-256 %r does not verify" % rec.header("X-Hub-Signature-256")
    body = rec.json()
    assert body == want, body
    assert type(body["conv_id"]) is int, "conv_id is an integer: %r" % rec.body
    return body


# =============================================================================================
# inbound: the six bodies


def test_the_seed_bodies_reach_the_agent_and_are_stored(chat):
    who = sender(name="Ayşe Kaya", email="ayse@example.com", phone="+905551112233")
    chat.send(text_body("Merhaba, siparişim nerede? 📦", who=who))
    chat.send(postback_body("Size guide", "SIZE_GUIDE"))
    for ft, url in MEDIA:
        chat.send(media_body(ft, url))
    (conv,) = chat.wait_convs(1)
    assert conv["channel"] == "apichat" and conv["channelId"] == chat.channel["id"], conv
    assert conv["chatId"] == "123:user-7781", conv
    assert conv["status"] == "open"

    data = received(chat.b.agent, 6)
    assert all(d["conversation_id"] == conv["id"] and d["channel"] == "apichat" and
               d["chat_id"] == "123:user-7781" for d in data), data
    assert data[0]["text"] == "Merhaba, siparişim nerede? 📦"
    assert data[0]["content_type"] == "messageText" and data[0]["attachments"] == [], data[0]
    assert data[1]["content_type"] == "messagePostback", data[1]
    assert data[1]["postback"] == {"title": "Size guide", "payload": "SIZE_GUIDE"}, data[1]
    assert data[1]["text"] == "Size guide", data[1]
    for d, (ft, url) in zip(data[2:], MEDIA):
        assert d["content_type"] == "messageAttachment", d
        assert d["attachments"] == [{"type": ft, "url": url}], d
        assert not d.get("text"), d
    assert chat.b.agent.stays_at(6, SETTLE), "each message is delivered once"

    msgs = wait_until(lambda: (lambda m: m if len(m) == 6 else None)(chat.inbound(conv["id"])), POLL)
    assert msgs and len(msgs) == 6, chat.inbound(conv["id"])
    first = msgs[0]
    assert first["text"] == "Merhaba, siparişim nerede? 📦"
    assert first["sender"] == {"type": "customer", "id": "user-7781", "name": "Ayşe Kaya",
                               "email": "ayse@example.com", "phone": "+905551112233"}, first
    assert isinstance(first.get("platformMessageId"), str) and first["platformMessageId"], first
    # the seed's "" email and phone are no contact data: not kept
    assert msgs[1]["sender"] == {"type": "customer", "id": "user-7781", "name": "Ayşe Kaya"}, msgs[1]
    assert msgs[1]["postback"] == {"title": "Size guide", "payload": "SIZE_GUIDE"}, msgs[1]
    assert [m["attachments"] for m in msgs[2:]] == [[{"type": ft, "url": url}] for ft, url in MEDIA]


def test_x_api_key_is_a_flow_key_too(chat):
    chat.send(text_body("via X-API-Key"), how="x-api-key")
    # the Content-Type is not looked at: a front end that sends none (or another) is served
    chat.send(text_body("no content type"), headers={"Content-Type": "text/plain"})
    (conv,) = chat.wait_convs(1)
    received(chat.b.agent, 2)
    assert [m["text"] for m in chat.inbound(conv["id"])] == ["via X-API-Key", "no content type"]


def test_content_with_an_attachment_is_a_caption(chat):
    body = dict(media_body("image", "https://cdn.example/u/p.png"), content="bu benim faturam")
    chat.send(body)
    (d,) = received(chat.b.agent, 1)
    assert d["text"] == "bu benim faturam" and d["content_type"] == "messageText", d
    assert d["attachments"] == [{"type": "image", "url": "https://cdn.example/u/p.png"}], d
    # null content and null attachments are absent ones
    chat.send(dict(text_body("x"), content=None, attachments=[
        {"file_type": "file", "data_url": "http://cdn.example/f.txt"}]))
    chat.send(dict(text_body("no attachments"), attachments=None))
    data = received(chat.b.agent, 3)
    assert data[1]["attachments"] == [{"type": "file", "url": "http://cdn.example/f.txt"}], data[1]
    assert data[2]["text"] == "no attachments", data[2]


def test_conversation_id_and_sender_id_identify_the_chat(chat):
    chat.send(text_body("one", conv=123))
    chat.send(text_body("two", conv=123))                               # same pair
    chat.send(text_body("other sender", conv=123, who=sender("user-9")))
    chat.send(text_body("other conversation", conv=124))
    chat.send(text_body("integer id", conv=125, who=sender(42)))
    chat.send(text_body("string id", conv=125, who=sender("42")))         # the same chat as 42
    received(chat.b.agent, 6)
    by_chat = {c["chatId"]: c for c in chat.wait_convs(4)}
    assert set(by_chat) == {"123:user-7781", "123:user-9", "124:user-7781", "125:42"}, by_chat
    texts = {k: [m["text"] for m in chat.inbound(c["id"])] for k, c in by_chat.items()}
    assert texts == {"123:user-7781": ["one", "two"], "123:user-9": ["other sender"],
                     "124:user-7781": ["other conversation"], "125:42": ["integer id", "string id"]}, texts


def test_one_apichat_channel_per_workspace(chat):
    r = chat.srv.admin("POST", chat.b.base + "/channels",
                       json={"type": "apichat", "agentId": chat.b.agent_id, "config": {}})
    assert_problem(r, 409, field="config")
    base = chat.b.base + "/channels/" + chat.channel["id"]
    # the webhook is the partner API's: not a member of the config
    r = chat.srv.admin("PUT", base, json={"config": {"webhookUrl": "http://x.example/"}})
    assert_problem(r, 400, field="config.webhookUrl")
    # like every platform's, the send limits may be raised (API chat has no row of its own)
    r = chat.srv.admin("PUT", base, json={"config": {"sendLimits": {"perChatPerSecond": 20}}})
    assert r.status_code == 200, r.text
    assert r.json()["config"] == {"sendLimits": {"perChatPerSecond": 20}}, r.json()
    r = chat.srv.admin("PUT", base, json={"config": {"sendLimits": {"perChatPerSecond": 0}}})
    assert_problem(r, 400, field="config.sendLimits.perChatPerSecond")
    r = chat.srv.admin("PUT", base, json={"config": {"sendLimits": "fast"}})
    assert_problem(r, 400, field="config.sendLimits")


# =============================================================================================
# outbound: the agent's and operators' messages as the seed's webhook payloads


def test_agent_replies_are_the_seed_payloads_signed(chat):
    buttons = [{"title": "Evet", "payload": "YES"}, {"title": "Hayır", "payload": "NO"}]
    chat.b.agent.behaviour = sequence(
        json_reply({"reply": THANKS}),
        json_reply({"reply": {"text": "Devam edelim mi?", "buttons": buttons}}),
        json_reply({"reply": {"text": "Önerilerimiz", "cards": CARDS}}))
    for t in ("a", "b", "c"):
        chat.send(text_body(t))
        chat.b.agent.wait_for({"a": 1, "b": 2, "c": 3}[t], POLL)
        chat.messages_out({"a": 1, "b": 2, "c": 3}[t])  # one at a time: the order is fixed
    recs = chat.messages_out(3)
    assert_payload(recs[0], chat, dict(head(), text=THANKS, type="text"))
    # the raw body carries the characters themselves, signed as sent
    assert THANKS.encode("utf-8") in recs[0].body, recs[0].body
    assert_payload(recs[1], chat, dict(
        head(), text="Devam edelim mi?", type="text", content_type="button_template",
        content_attributes={"text": "Devam edelim mi?", "buttons": [
            {"type": "postback", "title": "Evet", "payload": "YES"},
            {"type": "postback", "title": "Hayır", "payload": "NO"}]}))
    assert_payload(recs[2], chat, dict(
        head(), text="Önerilerimiz", type="text", content_type="generic_template",
        content_attributes={"ratio": "horizontal", "items": [
            {"title": "Runner 2", "image_url": "https://shop.example/r2.png", "item_url": None,
             "subtitle": "Light and fast", "default_action": None,
             "buttons": [{"type": "postback", "title": "Buy", "payload": "BUY_R2"}]},
            {"title": "Runner 3", "image_url": "https://shop.example/r3.png",
             "item_url": "https://shop.example/r3", "subtitle": "Ağır ama sağlam", "default_action": None,
             "buttons": [{"type": "postback", "title": "Buy", "payload": "BUY_R3"}]}]}))
    assert chat.front.stays_at(3 + 1, SETTLE), "one request per reply (and the verification)"
    (conv,) = chat.convs()
    out = chat.wait_final(conv["id"], 3)
    assert [m["status"] for m in out] == ["sent"] * 3, out
    assert [m["sender"]["type"] for m in out] == ["agent"] * 3, out


def test_a_signature_over_other_bytes_or_keys_does_not_verify(chat):
    """The verifier itself: a changed byte or another key fails (so the check above means it)."""
    chat.b.agent.behaviour = json_reply({"reply": THANKS})
    chat.send(text_body("hi"))
    (rec,) = chat.messages_out(1)
    assert php_verify(rec, chat.vkey)

    class Tampered:
        body = rec.body.replace(b"outgoing", b"outgoinG")
        header = rec.header
    assert not php_verify(Tampered, chat.vkey)
    assert not php_verify(rec, "VERIFICATION_TOKEN")
    assert not php_verify(rec, chat.vkey.encode("utf-8").decode("latin-1"))


def test_parts_go_in_order_one_per_request(chat, fakes):  # noqa: F811
    """Text with buttons, attachments and cards: the button_template, each attachment, then all
    cards in one generic_template (its text empty: the button_template carried it)."""
    chat.b.agent.behaviour = json_reply({"reply": {
        "text": "Hepsi burada", "buttons": [{"title": "Site", "url": "https://shop.example/"}],
        "attachments": [{"type": "image", "url": "https://shop.example/a.png"},
                        {"url": "https://shop.example/m.pdf", "contentType": "application/pdf"}],
        "cards": [{"title": "Only card"}]}})
    events = fakes(ok())
    Tenant(chat.srv, key=chat.key).subscribe({events.url: ["message_sent"]})
    chat.send(text_body("show me everything", conv=77, who=sender("u-77")))
    recs = chat.messages_out(4)
    h = head("u-77", 77)
    assert_payload(recs[0], chat, dict(
        h, text="Hepsi burada", type="text", content_type="button_template",
        content_attributes={"text": "Hepsi burada", "buttons": [
            {"type": "web_url", "title": "Site", "url": "https://shop.example/"}]}))
    assert_payload(recs[1], chat, dict(h, url="https://shop.example/a.png", type="image"))
    assert_payload(recs[2], chat, dict(h, url="https://shop.example/m.pdf", type="file"))
    assert_payload(recs[3], chat, dict(
        h, text="", type="text", content_type="generic_template",
        content_attributes={"ratio": "horizontal", "items": [
            {"title": "Only card", "image_url": None, "item_url": None, "subtitle": "",
             "default_action": None, "buttons": []}]}))
    assert chat.front.stays_at(5, SETTLE), chat.front.snapshot()
    (conv,) = chat.convs()
    (m,) = chat.wait_final(conv["id"], 1)
    assert m["status"] == "sent", m
    (ev,) = events.wait_for(1, POLL)
    assert ev.t >= recs[3].t, "message_sent once the last part was accepted"
    assert ev.json()["data"]["message_id"] == m["id"], ev.json()
    assert events.stays_at(1, 0.5)


def test_operator_media_message(chat):
    chat.send(text_body("need a human"))
    (conv,) = chat.wait_convs(1)
    chat.b.agent.wait_for(1, POLL)
    r = chat.srv.tenant_api(chat.key, "/api/conversations/%s/messages" % conv["id"], method="POST",
                            json={"attachments": [{"type": "image", "url": "https://ops.example/map.png"},
                                                  {"type": "audio", "url": "https://ops.example/a.mp3"},
                                                  {"type": "video", "url": "https://ops.example/v.mp4"},
                                                  {"type": "file", "url": "https://ops.example/f.zip"}]})
    assert r.status_code == 201, r.text
    assert r.json().get("status") == "queued", r.json()
    recs = chat.messages_out(4)
    for rec, (t, u) in zip(recs, [("image", "https://ops.example/map.png"), ("audio", "https://ops.example/a.mp3"),
                                  ("video", "https://ops.example/v.mp4"), ("file", "https://ops.example/f.zip")]):
        assert_payload(rec, chat, dict(head(), url=u, type=t))
    (m,) = chat.wait_final(conv["id"], 1)
    assert m["status"] == "sent" and m["id"] == r.json()["id"], m


def test_a_large_conversation_id_stays_an_integer(chat):
    big = 10 ** 15  # printed by a %g it would be 1e+15
    chat.b.agent.behaviour = json_reply({"reply": "ok"})
    chat.send(text_body("big", conv=big))
    (rec,) = chat.messages_out(1)
    assert b'"conv_id":%d' % big in rec.body, rec.body
    assert_payload(rec, chat, dict(head(conv=big), text="ok", type="text"))
    top = 2 ** 53
    chat.send(text_body("top", conv=top, who=sender("team:u-top")))  # a colon in the sender id
    recs = chat.messages_out(2)
    assert b'"conv_id":%d' % top in recs[1].body, recs[1].body
    assert recs[1].json()["sender_id"] == "team:u-top", recs[1].body
    assert {c["chatId"] for c in chat.convs()} == {"%d:user-7781" % big, "%d:team:u-top" % top}


def test_sends_follow_the_webhook_the_partner_sets_now(chat, fakes):  # noqa: F811
    """send_prepare reads the webhook at each send: a new URL and key apply to the next message;
    the webhook's JSON answer may name the message (message_id, or id)."""
    chat.front.behaviour = front_end(lambda rec, fake: Reply(200, '{"message_id":"m-0001"}',
                                                             content_type="application/json"))
    chat.b.agent.behaviour = json_reply({"reply": "to the first"})
    chat.send(text_body("hi"))
    (rec,) = chat.messages_out(1)
    assert php_verify(rec, VKEY)
    (conv,) = chat.convs()
    (m,) = chat.wait_final(conv["id"], 1)
    assert m["status"] == "sent" and m.get("platformMessageId") == "m-0001", m

    second = fakes(front_end(lambda rec, fake: Reply(200, '{"id":42}', content_type="application/json")),
                   path="/second")
    chat.vkey = "ikinci anahtar ✓"
    chat.set_hook(second.url)
    chat.b.agent.behaviour = json_reply({"reply": "to the second"})
    chat.send(text_body("again"))
    (rec2,) = second.wait_for(1, POLL, pred=is_message)
    assert rec2.path == "/second" and php_verify(rec2, "ikinci anahtar ✓"), rec2
    assert not php_verify(rec2, VKEY)
    assert rec2.json()["text"] == "to the second"
    assert chat.front.stays_at(2, SETTLE), "nothing more to the old URL"
    out = chat.wait_final(conv["id"], 2)
    assert out[1]["status"] == "sent" and out[1].get("platformMessageId") == "42", out


def test_a_part_that_fails_is_retried_from_that_part(chat):
    """A 500 on the second part: the retry sends that part again, not the first one."""
    seen = []

    def second_fails_once(rec, fake):
        seen.append(rec)
        return Reply(500, "busy") if len(seen) == 2 else Reply(200, "ok")
    chat.front.behaviour = front_end(second_fails_once)
    chat.b.agent.behaviour = json_reply({"reply": {
        "text": "three parts", "attachments": [{"type": "image", "url": "https://shop.example/1.png"},
                                               {"type": "video", "url": "https://shop.example/2.mp4"}]}})
    chat.send(text_body("go"))
    recs = chat.messages_out(4)
    assert [(r.json()["type"], r.json().get("text") or r.json().get("url")) for r in recs] == [
        ("text", "three parts"), ("image", "https://shop.example/1.png"),
        ("image", "https://shop.example/1.png"), ("video", "https://shop.example/2.mp4")], recs
    assert chat.front.stays_at(5, SETTLE)
    (conv,) = chat.convs()
    (m,) = chat.wait_final(conv["id"], 1)
    assert m["status"] == "sent", m


def test_a_400_from_the_webhook_is_final(chat):
    chat.front.behaviour = front_end(lambda rec, fake: Reply(400, "bad payload"))
    chat.b.agent.behaviour = json_reply({"reply": "refused"})
    chat.send(text_body("hi"))
    chat.messages_out(1)
    (conv,) = chat.convs()
    (m,) = chat.wait_final(conv["id"], 1)
    assert m["status"] == "failed" and "400" in (m.get("error") or ""), m
    assert chat.front.stays_at(2, 2.5), "a 400 is not retried"


# =============================================================================================
# refusals


BAD_BODIES = [
    ("conversation_id missing", lambda b: b.pop("conversation_id"), "conversation_id"),
    ("conversation_id a string", lambda b: b.update(conversation_id="123"), "conversation_id"),
    ("conversation_id negative", lambda b: b.update(conversation_id=-1), "conversation_id"),
    ("conversation_id fractional", lambda b: b.update(conversation_id=1.5), "conversation_id"),
    ("sender missing", lambda b: b.pop("sender"), "sender"),
    ("sender a string", lambda b: b.update(sender="user-1"), "sender"),
    ("sender.id an object", lambda b: b["sender"].update(id={"x": 1}), "sender.id"),
    ("sender.id missing", lambda b: b["sender"].pop("id"), "sender.id"),
    ("sender.id empty", lambda b: b["sender"].update(id=""), "sender.id"),
    ("sender.name a number", lambda b: b["sender"].update(name=5), "sender.name"),
    ("event unknown", lambda b: b.update(event="message_updated"), "event"),
    ("event missing", lambda b: b.pop("event"), "event"),
    ("message_type outgoing", lambda b: b.update(message_type="outgoing"), "message_type"),
    ("content not a string", lambda b: b.update(content=5), "content"),
    ("content too long", lambda b: b.update(content="x" * 4097), "content"),
    ("empty message", lambda b: b.update(content=""), "content"),
    ("blank message", lambda b: b.update(content="  \n"), "content"),
]


@pytest.mark.parametrize("case,edit,field", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_text_bodies_are_400_naming_the_field(chat, redis, case, edit, field):
    body = text_body("should not be stored")
    edit(body)
    r = chat.post(body)
    p = assert_problem(r, 400, field=field)
    assert field in p["detail"] or case in ("empty message", "blank message"), p
    assert_nothing_stored(chat.b, redis)


BAD_OTHER = [
    ("submitted_values missing", lambda: {k: v for k, v in postback_body().items() if k != "submitted_values"},
     "submitted_values"),
    ("submitted_values empty", lambda: dict(postback_body(), submitted_values=[]), "submitted_values"),
    ("submitted_values an object", lambda: dict(postback_body(), submitted_values={"payload": "X"}),
     "submitted_values"),
    ("payload missing", lambda: dict(postback_body(), submitted_values=[{"title": "T"}]),
     "submitted_values[0].payload"),
    ("payload too long", lambda: postback_body(payload="p" * 1001), "submitted_values[0].payload"),
    ("title too long", lambda: postback_body(title="t" * 81), "submitted_values[0].title"),
    ("file_type sticker", lambda: media_body("sticker", "https://cdn.example/s.webp"), "attachments[0].file_type"),
    ("data_url ftp", lambda: media_body("image", "ftp://cdn.example/p.jpg"), "attachments[0].data_url"),
    ("data_url relative", lambda: media_body("image", "/p.jpg"), "attachments[0].data_url"),
    ("data_url missing", lambda: dict(media_body("image", "x"), attachments=[{"file_type": "image"}]),
     "attachments[0].data_url"),
    ("attachments an object", lambda: dict(media_body("image", "x"),
                                           attachments={"file_type": "image", "data_url": "https://a.example/"}),
     "attachments"),
    ("second attachment bad", lambda: dict(media_body("image", "x"), attachments=[
        {"file_type": "image", "data_url": "https://a.example/1.png"},
        {"file_type": "gif", "data_url": "https://a.example/2.gif"}]), "attachments[1].file_type"),
    ("eleven attachments", lambda: dict(media_body("image", "x"), attachments=[
        {"file_type": "image", "data_url": "https://a.example/%d.png" % i} for i in range(11)]), "attachments"),
]


@pytest.mark.parametrize("case,make,field", BAD_OTHER, ids=[c[0] for c in BAD_OTHER])
def test_bad_postback_and_media_bodies_are_400_naming_the_field(chat, redis, case, make, field):
    assert_problem(chat.post(make()), 400, field=field)
    assert_nothing_stored(chat.b, redis)


@pytest.mark.parametrize("raw", [b'{"content":', b"[1,2]", b"", b"null", b"\xff\xfe", b'"text"'])
def test_invalid_json_is_400(chat, redis, raw):
    assert_problem(chat.post(raw), 400)
    assert_nothing_stored(chat.b, redis)


def test_body_over_max_body_is_413(chat, redis):
    base = json.dumps(text_body("")).encode()
    body = json.dumps(text_body("x" * (MAX_BODY + 1 - len(base)))).encode()
    assert len(body) == MAX_BODY + 1
    conn = RawConn(chat.srv.port, timeout=10)
    try:
        try:
            conn.send(req("POST", chat.path, [("Authorization", "Bearer " + chat.key),
                                              ("Content-Type", "application/json")], body=body))
        except OSError:
            pass  # the server may answer and stop reading
        r = conn.read_response(timeout=10)
    finally:
        conn.close()
    assert r.status == 413, r
    assert_nothing_stored(chat.b, redis)


def test_keys_codes_and_workspaces_are_checked(sb, fakes, redis):  # noqa: F811
    chat = ApiChat(sb, fakes, name="one")
    other = ApiChat(sb, fakes, name="two")
    body = text_body("should not be stored")
    tid, secret = chat.key.split("_")[1], chat.key.split("_", 2)[2]
    forged = "sbk_%s_%s" % (tid, "A" * len(secret))
    for key, how in ((False, "bearer"), ("", "bearer"), ("garbage", "bearer"), (forged, "bearer"),
                     (chat.key + "x", "bearer"), (forged, "x-api-key"), (other.key, "bearer"),
                     (other.key, "x-api-key")):
        r = chat.post(body, key=key, how=how)
        assert_problem(r, 401)
        assert chat.key not in r.text
    # the admin token is no flow key
    assert_problem(chat.post(body, key="test-admin-token-0123456789"), 401)
    # a code nobody has, another workspace's code with this key
    assert_problem(chat.post(body, path="/api/apichat/" + "Q" * 32), 404)
    assert_problem(chat.post(body, path=other.path), 401)
    assert_nothing_stored(chat.b, redis)
    assert_nothing_stored(other.b, redis, settle=0)


def test_any_key_of_the_workspace_and_a_revoked_one(chat):
    base = "/api/admin/tenants/%s/api-keys" % chat.id
    r = chat.srv.admin("POST", base, json={"name": "front end"})
    assert r.status_code == 201, r.text
    second = r.json()
    chat.send(text_body("with the second key"), key=second["key"])
    assert chat.srv.admin("DELETE", "%s/%s" % (base, second["id"])).status_code == 204
    # refused by the script that queues (the channel is found): it claims nothing, so the same
    # Idempotency-Key with a valid key is a new message, not a duplicate
    h = {"Idempotency-Key": "after-revoke"}
    assert_problem(chat.post(text_body("revoked"), key=second["key"], headers=h), 401)
    chat.send(text_body("the first key still works"), headers=h)
    (conv,) = chat.wait_convs(1)
    received(chat.b.agent, 2)
    assert [m["text"] for m in chat.inbound(conv["id"])] == ["with the second key", "the first key still works"]


def test_removed_webhook_makes_the_bot_url_404_at_once(chat, redis):
    chat.delete_hook()
    assert_problem(chat.post(text_body("after delete")), 404)
    assert_nothing_stored(chat.b, redis)
    # a new webhook gets a new code; the old one stays gone
    old = chat.path
    chat.set_hook()
    assert chat.path != old
    assert_problem(chat.post(text_body("old code"), path=old), 404)
    chat.send(text_body("new code"))
    (conv,) = chat.wait_convs(1)
    assert [m["text"] for m in chat.inbound(conv["id"])] == ["new code"]


def test_no_apichat_channel_is_404(sb, fakes, redis):  # noqa: F811
    chat = ApiChat(sb, fakes, channel=False)
    assert_problem(chat.post(text_body("no channel")), 404)
    assert_nothing_stored(chat.b, redis)
    # once bound, the same bot_url works (the binding cache does not remember the miss for long)
    chat.channel = chat.b.channel("apichat", {})
    ok_ = wait_until(lambda: chat.post(text_body("bound now")).status_code == 200, 5, interval=0.5)
    assert ok_


def test_suspended_workspace_is_403(chat, redis):
    r = chat.srv.admin("PUT", "/api/admin/tenants/" + chat.id, json={"status": "suspended"})
    assert r.status_code == 200, r.text
    p = assert_problem(chat.post(text_body("suspended")), 403)
    assert "suspended" in p["detail"], p
    # a wrong key is still 401: the key is judged first
    assert_problem(chat.post(text_body("suspended"), key=chat.key + "x"), 401)
    time.sleep(SETTLE)
    chat.srv.admin("PUT", "/api/admin/tenants/" + chat.id, json={"status": "active"})
    assert_nothing_stored(chat.b, redis, settle=0)
    chat.send(text_body("active again"))


# =============================================================================================
# Idempotency-Key


def test_idempotency_key_makes_a_retry_a_no_op(chat):
    h = {"Idempotency-Key": "req-0001"}
    chat.send(text_body("once"), headers=h)
    chat.send(text_body("once"), headers=h)
    chat.send(text_body("twice"))
    chat.send(text_body("twice"))
    # the same key from another chat is another message
    chat.send(text_body("other chat", who=sender("user-2")), headers=h)
    # a long key is a key too (not silently ignored)
    long_key = {"Idempotency-Key": "k" * 300}
    chat.send(text_body("long key"), headers=long_key)
    chat.send(text_body("long key"), headers=long_key)
    received(chat.b.agent, 5)
    assert chat.b.agent.stays_at(5, SETTLE), chat.b.agent.snapshot()
    by_chat = {c["chatId"]: c for c in chat.wait_convs(2)}
    assert [m["text"] for m in chat.inbound(by_chat["123:user-7781"]["id"])] == \
        ["once", "twice", "twice", "long key"]
    assert [m["text"] for m in chat.inbound(by_chat["123:user-2"]["id"])] == ["other chat"]


# =============================================================================================
# retries and failures


def test_a_500_is_retried_and_the_order_kept(chat):
    seen = []

    def flaky(rec, fake):
        seen.append(rec)
        return Reply(500, "busy") if len(seen) == 1 else Reply(200, "ok")
    chat.front.behaviour = front_end(flaky)
    chat.send(text_body("hi"))
    (conv,) = chat.wait_convs(1)
    chat.b.agent.wait_for(1, POLL)
    for t in ("first", "second"):
        r = chat.srv.tenant_api(chat.key, "/api/conversations/%s/messages" % conv["id"], method="POST",
                                json={"text": t})
        assert r.status_code == 201, r.text
    recs = chat.messages_out(3, timeout=POLL)
    assert [x.json()["text"] for x in recs] == ["first", "first", "second"], recs
    for x in recs:
        assert php_verify(x, chat.vkey)
    assert chat.front.stays_at(4, SETTLE)
    out = chat.wait_final(conv["id"], 2)
    assert [(m["text"], m["status"]) for m in out] == [("first", "sent"), ("second", "sent")], out


def test_webhook_removed_after_queueing_fails_the_send(chat):
    gate = []

    def first_fails(rec, fake):
        gate.append(rec)
        return Reply(503, "later")
    chat.front.behaviour = front_end(first_fails)
    chat.send(text_body("hi"))
    (conv,) = chat.wait_convs(1)
    chat.b.agent.wait_for(1, POLL)
    r = chat.srv.tenant_api(chat.key, "/api/conversations/%s/messages" % conv["id"], method="POST",
                            json={"text": "into the void"})
    assert r.status_code == 201, r.text
    chat.messages_out(1)
    chat.delete_hook()  # before the retry (~1 s later)
    (m,) = chat.wait_final(conv["id"], 1, timeout=POLL)
    assert m["status"] == "failed", m
    assert "webhook" in (m.get("error") or ""), m
    assert chat.front.stays_at(2, 2.5), "no request after the webhook was removed: %r" % chat.front.snapshot()
    dead = Tenant(chat.srv, key=chat.key).wait_dead_letters(1, 5)
    assert dead and "webhook" in (dead[0].get("error") or ""), dead
