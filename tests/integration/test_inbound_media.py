"""Inbound media and button clicks (docs/messages.md "Inbound: media and clicks", issue 17): what
a customer sends besides text through each platform's real webhook — WhatsApp and Telegram
files by their media id, Slack and Teams files by URL, a location as text, WhatsApp replies,
Telegram callback queries and Slack block_actions as postbacks — becomes a conversation message
with `attachments` / `postback`, and the agent's `message_received` carries them.

Black box: bodies are built and signed here as the platforms sign them (the same helpers as
test_channels_inbound.py and test_channels_teams.py); results are read back through the tenant's
conversation API and the fake agent."""

import json
import time
import urllib.parse

import pytest

from fakes import SERVER_FLAGS, fakes  # noqa: F401  (fakes is a fixture)
from test_channels_inbound import (SLACK_PATH, SLACK_SECRET, SLACK_TEAM, SLACK_VTOKEN, WA_WABA,
                                   Bound, assert_ok, assert_status, only_message, post,
                                   send_slack, send_tg, send_wa, slack_event, slack_headers,
                                   tg_update, wa_change, wa_payload)
from test_channels_teams import activity, bind_teams, good_token, send_teams

pytestmark = pytest.mark.server

AGENT_WAIT = 10.0


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


def delivered(bound):
    """The one message_received the agent got for the message (and no second one)."""
    rec = bound.agent.wait_for(1, AGENT_WAIT)[0]
    body = rec.json()
    assert body["event_type"] == "message_received", body
    assert bound.agent.stays_at(1, 1.0), "the agent is called once: %r" % (bound.agent.snapshot(),)
    return body["data"]


def assert_same_content(m, d):
    """The stored message and the event data carry the same content."""
    for k in ("text", "attachments", "postback"):
        assert m.get(k) == d.get(k), (k, m, d)


def wa_message(mid, frm, type_, member):
    return {"from": frm, "id": mid, "timestamp": str(int(time.time())), "type": type_,
            type_: member}


def send_wa_one(srv, msg, contacts=()):
    return send_wa(srv, wa_payload((WA_WABA, [wa_change(messages=[msg], contacts=contacts)])))


# =============================================================================================
# WhatsApp

def test_whatsapp_image_with_caption_retried_is_one_message(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp()
    msg = wa_message("wamid.MEDIA1", "905551110001", "image",
                     {"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc",
                      "caption": "is this one in stock?"})
    for _ in range(3):  # Meta retries until it gets a 200
        assert_ok(send_wa_one(sb, msg, contacts=[("905551110001", "Ayse")]))
        time.sleep(0.2)
    conv, m = only_message(b)
    want = [{"type": "image", "mediaId": "1479537139650973", "contentType": "image/jpeg"}]
    assert m["text"] == "is this one in stock?", m  # the caption is the text
    assert m["attachments"] == want, m
    assert m["platformMessageId"] == "wamid.MEDIA1", m
    assert m["sender"] == {"type": "customer", "id": "905551110001", "name": "Ayse"}, m
    d = delivered(b)
    assert d["conversation_id"] == conv["id"], d
    assert d["attachments"] == want and d["text"] == "is this one in stock?", d
    assert d["content_type"] == "messageText", d  # it has a text
    assert_same_content(m, d)


def test_whatsapp_document_without_caption_is_an_attachment_message(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp()
    assert_ok(send_wa_one(sb, wa_message("wamid.DOC1", "905551110002", "document",
                                         {"id": "880011", "mime_type": "application/pdf",
                                          "filename": "invoice-42.pdf", "sha256": "x"})))
    _, m = only_message(b)
    assert m["text"] is None, m
    assert m["attachments"] == [{"type": "file", "mediaId": "880011", "name": "invoice-42.pdf",
                                 "contentType": "application/pdf"}], m
    d = delivered(b)
    assert d["content_type"] == "messageAttachment", d
    assert_same_content(m, d)


@pytest.mark.parametrize("kind", ["button_reply", "list_reply", "template_button"])
def test_whatsapp_reply_is_a_postback(sb, fakes, kind):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp()
    if kind == "template_button":
        msg = wa_message("wamid.BTN1", "905551110003", "button",
                         {"payload": "SIZE_S", "text": "Small"})
    else:
        msg = wa_message("wamid.BTN1", "905551110003", "interactive",
                         {"type": kind, kind: {"id": "SIZE_S", "title": "Small"}})
        msg["context"] = {"from": "15550001111", "id": "wamid.OUR1"}
    assert_ok(send_wa_one(sb, msg))
    _, m = only_message(b)
    assert m["postback"] == {"title": "Small", "payload": "SIZE_S"}, m
    assert m["text"] == "Small", m  # a click reads as its button's title
    assert m["attachments"] == [], m
    d = delivered(b)
    assert d["content_type"] == "messagePostback", d
    assert_same_content(m, d)


def test_whatsapp_location_is_text_with_a_map_link(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp()
    assert_ok(send_wa_one(sb, wa_message("wamid.LOC1", "905551110004", "location",
                                         {"latitude": 41.0369, "longitude": 28.985,
                                          "name": "Taksim", "address": "Beyoglu, Istanbul"})))
    _, m = only_message(b)
    assert m["text"] == ("\U0001F4CD Taksim, Beyoglu, Istanbul "
                         "https://maps.google.com/?q=41.0369,28.985"), m
    assert m["attachments"] == [] and "postback" not in m, m
    assert delivered(b)["content_type"] == "messageText"


def test_whatsapp_bad_media_is_400_naming_the_member(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    b.whatsapp()
    r = send_wa_one(sb, wa_message("wamid.BAD1", "905551110005", "image",
                                   {"mime_type": "image/png"}))
    assert_status(r, 400, field="messages.image.id")
    time.sleep(0.5)
    assert b.conversations() == []


# =============================================================================================
# Telegram

def test_telegram_photo_with_caption_is_its_largest_size(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.telegram()
    upd = tg_update(update_id=300001, text=None)
    upd["message"]["photo"] = [
        {"file_id": "AgAD-small", "file_unique_id": "u1", "width": 90, "height": 67,
         "file_size": 1254},
        {"file_id": "AgAD-large", "file_unique_id": "u3", "width": 1280, "height": 960,
         "file_size": 98765},
        {"file_id": "AgAD-mid", "file_unique_id": "u2", "width": 320, "height": 240,
         "file_size": 9876}]
    upd["message"]["caption"] = "the red one"
    for _ in range(2):  # a retried update is the same message
        assert_ok(send_tg(sb, upd))
        time.sleep(0.2)
    conv, m = only_message(b)
    assert conv["chatId"] == "4242001", conv
    assert m["text"] == "the red one", m
    assert m["attachments"] == [{"type": "image", "mediaId": "AgAD-large"}], m
    d = delivered(b)
    assert_same_content(m, d)


def test_telegram_voice_note_is_audio(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.telegram()
    upd = tg_update(update_id=300002, text=None)
    upd["message"]["voice"] = {"file_id": "AwAD-voice", "file_unique_id": "v1", "duration": 3,
                               "mime_type": "audio/ogg", "file_size": 4000}
    assert_ok(send_tg(sb, upd))
    _, m = only_message(b)
    assert m["text"] is None, m
    assert m["attachments"] == [{"type": "audio", "mediaId": "AwAD-voice",
                                 "contentType": "audio/ogg"}], m
    assert delivered(b)["content_type"] == "messageAttachment"


def tg_callback(update_id, data, qid="4382bfdwdsb323b2d9"):
    keyboard = {"inline_keyboard": [[{"text": "Small", "callback_data": "SIZE_S"}],
                                    [{"text": "Large", "callback_data": "SIZE_L"}]]}
    return {"update_id": update_id, "callback_query": {
        "id": qid, "from": {"id": 777001, "is_bot": False, "first_name": "Ayse",
                            "username": "ayse_k"},
        "message": {"message_id": 99, "date": int(time.time()),
                    "chat": {"id": 4242001, "type": "private"}, "text": "Which size?",
                    "reply_markup": keyboard},
        "chat_instance": "-888", "data": data}}


def test_telegram_callback_query_is_a_postback_stored_once(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.telegram()
    for _ in range(3):
        assert_ok(send_tg(sb, tg_callback(300003, "SIZE_L")))
        time.sleep(0.2)
    conv, m = only_message(b)
    assert conv["chatId"] == "4242001", conv
    assert m["postback"] == {"title": "Large", "payload": "SIZE_L"}, m
    assert m["text"] == "Large", m
    assert m["sender"]["id"] == "777001" and m["sender"].get("name") == "ayse_k", m
    assert m["platformMessageId"] == "4382bfdwdsb323b2d9", m  # what answerCallbackQuery takes
    d = delivered(b)
    assert d["content_type"] == "messagePostback", d
    assert_same_content(m, d)


# =============================================================================================
# Slack

SLACK_FILE = {"id": "F0SB0001", "name": "receipt.png", "title": "receipt.png",
              "mimetype": "image/png", "filetype": "png", "mode": "hosted",
              "url_private": "https://files.slack.com/files-pri/T0SB0001-F0SB0001/receipt.png",
              "url_private_download": "https://files.slack.com/files-pri/T0SB0001-F0SB0001/"
                                      "download/receipt.png"}


def test_slack_file_share_retried_is_one_message(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    obj = slack_event(text="", event_id="Ev0FILE0001", files=[SLACK_FILE], upload=False)
    for retry in (None, 1):
        assert_ok(send_slack(sb, obj, retry=retry))
        time.sleep(0.2)
    _, m = only_message(b)
    assert m["text"] is None, m  # an empty text with files is no text
    assert m["attachments"] == [{"type": "image", "url": SLACK_FILE["url_private"],
                                 "name": "receipt.png", "contentType": "image/png"}], m
    d = delivered(b)
    assert d["content_type"] == "messageAttachment", d
    assert_same_content(m, d)


def test_slack_file_with_text_keeps_the_text(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    assert_ok(send_slack(sb, slack_event(text="here is my receipt", event_id="Ev0FILE0002",
                                         subtype="file_share", files=[SLACK_FILE])))
    _, m = only_message(b)
    assert m["text"] == "here is my receipt", m
    assert [a["url"] for a in m["attachments"]] == [SLACK_FILE["url_private"]], m


def slack_block_actions(value="SIZE_S", title="Small",
                        trigger="13345224609.738474920.8088930838d8"):
    return {"type": "block_actions", "token": SLACK_VTOKEN,
            "team": {"id": SLACK_TEAM, "domain": "switchboard"},
            "user": {"id": "U0SB0007", "username": "ayse", "name": "ayse", "team_id": SLACK_TEAM},
            "api_app_id": "A0SB0001",
            "container": {"type": "message", "message_ts": "1700000005.000100",
                          "channel_id": "C0SB0009", "is_ephemeral": False},
            "trigger_id": trigger,
            "channel": {"id": "C0SB0009", "name": "support"},
            "message": {"type": "message", "ts": "1700000005.000100", "text": "Which size?"},
            "response_url": "https://hooks.slack.com/actions/T0SB0001/1/x",
            "actions": [{"action_id": "sb_b0", "block_id": "b1", "type": "button",
                         "text": {"type": "plain_text", "text": title, "emoji": True},
                         "value": value, "action_ts": "1700000006.000200"}]}


def send_slack_payload(srv, payload):
    """As Slack posts an interactivity payload: one form field, signed like an event."""
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return post(srv, SLACK_PATH, body, slack_headers(SLACK_SECRET, body, form=True))


def test_slack_block_actions_click_is_a_postback_stored_once(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    for _ in range(2):
        assert_ok(send_slack_payload(sb, slack_block_actions()))
        time.sleep(0.2)
    conv, m = only_message(b)
    assert conv["channel"] == "slack" and conv["chatId"] == "C0SB0009", conv
    assert m["postback"] == {"title": "Small", "payload": "SIZE_S"}, m
    assert m["text"] == "Small", m
    assert m["sender"]["id"] == "U0SB0007", m
    d = delivered(b)
    assert d["content_type"] == "messagePostback", d
    assert_same_content(m, d)


def test_slack_link_button_click_is_acknowledged_only(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    p = slack_block_actions()
    p["actions"][0].pop("value")
    p["actions"][0]["url"] = "https://shop.example/sizes"
    assert_ok(send_slack_payload(sb, p))
    time.sleep(1.0)
    assert b.conversations() == []
    assert b.agent.count() == 0


def test_slack_unsigned_block_actions_is_401(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    body = urllib.parse.urlencode({"payload": json.dumps(slack_block_actions())}).encode()
    assert_status(post(sb, SLACK_PATH, body, slack_headers("not-the-secret", body, form=True)), 401)
    time.sleep(0.5)
    assert b.conversations() == []


def test_slack_bad_payload_is_400_naming_it(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    b.slack()
    p = slack_block_actions()
    p["actions"][0]["value"] = 42
    assert_status(send_slack_payload(sb, p), 400, field="payload.actions.value")
    body = urllib.parse.urlencode({"payload": "{not json"}).encode()
    assert_status(post(sb, SLACK_PATH, body, slack_headers(SLACK_SECRET, body, form=True)), 400,
                  field="payload")


# =============================================================================================
# Teams

def test_teams_image_attachment_is_stored_once(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    url = "https://smba.trafficmanager.net/emea/v3/attachments/0-weu-d1-abc/views/original"
    a = activity(aid="1700000000777", text=None,
                 attachments=[{"contentType": "image/*", "contentUrl": url},
                              {"contentType": "text/html",
                               "content": "<div><img src=\"%s\"></div>" % url}])
    for _ in range(2):  # the Bot Framework's retry carries the same activity id
        assert_ok(send_teams(sb, a, good_token()))
        time.sleep(0.2)
    _, m = only_message(b)
    assert m["text"] is None, m
    assert m["attachments"] == [{"type": "image", "url": url, "contentType": "image/*"}], m
    d = delivered(b)
    assert d["content_type"] == "messageAttachment", d
    assert_same_content(m, d)


def test_teams_file_with_text(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    a = activity(aid="1700000000778", text="the contract",
                 attachments=[{"contentType": "application/vnd.microsoft.teams.file.download.info",
                               "contentUrl": "https://contoso.sharepoint.com/personal/a/c.pdf",
                               "name": "contract.pdf",
                               "content": {"downloadUrl":
                                           "https://contoso.sharepoint.com/dl/c.pdf?t=1",
                                           "uniqueId": "u-1", "fileType": "pdf"}}])
    assert_ok(send_teams(sb, a, good_token()))
    _, m = only_message(b)
    assert m["text"] == "the contract", m
    assert m["attachments"] == [{"type": "file",
                                 "url": "https://contoso.sharepoint.com/dl/c.pdf?t=1",
                                 "name": "contract.pdf"}], m
    assert_same_content(m, delivered(b))
