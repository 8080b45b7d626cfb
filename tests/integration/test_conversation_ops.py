"""Conversation operations (docs/conversations.md): the idle-timeout close and commands whose
answer is stored as an internal note. Black box against a real server and Redis: conversations
are opened through the web widget, results read through the tenant API, the widget's own reads
and a subscriber."""

import time

import pytest

from fakes import SERVER_FLAGS, ChatWidget, Tenant, fakes, json_reply, ok, status, text  # noqa: F401

pytestmark = pytest.mark.server


def conv_of(widget, sess):
    r = widget.api("GET", "/api/conversations?pageSize=100")
    assert r.status_code == 200, r.text
    items = [c for c in r.json()["items"] if c["chatId"] == sess.id]
    assert len(items) == 1, r.json()
    return items[0]


def wait_status(widget, sess, want, timeout):
    deadline = time.monotonic() + timeout
    while True:
        c = conv_of(widget, sess)
        if c["status"] == want or time.monotonic() >= deadline:
            return c
        time.sleep(0.1)


def events_of(fake, name):
    return [r.json() for r in fake.snapshot() if r.json().get("event_type") == name]


# ---- idle-timeout close ----------------------------------------------------------------------

def test_idle_conversation_is_closed_with_reason_and_reopened_by_a_new_message(server, fakes):  # noqa: F811
    srv = server(*SERVER_FLAGS, "--conversation-idle-ms", "1500")
    sub = fakes(ok())
    w = ChatWidget(srv)
    Tenant(srv, key=w.key).subscribe({sub.url: ["dialog_created", "dialog_closed", "dialog_reopened"]})
    sess = w.session()
    sess.say("hello")
    c = conv_of(w, sess)
    assert c["status"] == "open"
    # activity keeps it open: a message 1 s later restarts the idle clock
    time.sleep(1.0)
    sess.say("still here")
    time.sleep(0.8)
    assert conv_of(w, sess)["status"] == "open", "a conversation with recent activity stays open"
    c = wait_status(w, sess, "closed", 5.0)
    assert c["status"] == "closed" and c["closedAt"], c
    sub.wait_for(2, 5)
    closed = events_of(sub, "dialog_closed")
    assert len(closed) == 1, sub.snapshot()
    d = closed[0]["data"]
    assert d["conversation_id"] == c["id"] and d["status"] == "closed" and d["reason"] == "idle", d
    # closed once: later sweeps change nothing
    time.sleep(1.5)
    assert len(events_of(sub, "dialog_closed")) == 1
    # a customer message reopens it
    sess.say("back again")
    assert conv_of(w, sess)["status"] == "open"
    sub.wait_for(3, 5)
    reopened = events_of(sub, "dialog_reopened")
    assert len(reopened) == 1 and reopened[0]["data"]["seq"] > d["seq"], sub.snapshot()


def test_idle_close_is_off_with_zero(server, redis):
    srv = server(*SERVER_FLAGS, "--conversation-idle-ms", "0")
    w = ChatWidget(srv)
    sess = w.session()
    sess.say("hello")
    time.sleep(2.0)
    assert conv_of(w, sess)["status"] == "open"


def test_api_close_removes_the_conversation_from_the_idle_sweep(server, fakes, redis):  # noqa: F811
    srv = server(*SERVER_FLAGS, "--conversation-idle-ms", "1000")
    sub = fakes(ok())
    w = ChatWidget(srv)
    Tenant(srv, key=w.key).subscribe({sub.url: ["dialog_closed"]})
    sess = w.session()
    sess.say("hello")
    c = conv_of(w, sess)
    r = w.api("POST", "/api/conversations/%s/close" % c["id"])
    assert r.status_code == 200, r.text
    assert int(redis.cmd("ZCARD", "sb:convs:idle")) == 0
    time.sleep(2.0)
    got = events_of(sub, "dialog_closed")
    assert len(got) == 1 and "reason" not in got[0]["data"], got


# ---- commands as internal notes --------------------------------------------------------------

def test_command_answer_is_stored_as_an_internal_note(server, fakes):  # noqa: F811
    srv = server(*SERVER_FLAGS)
    cmd = fakes(json_reply({"message": "deal marked *won*"}))
    w = ChatWidget(srv)
    Tenant(srv, key=w.key).subscribe({cmd.url: ["/mark"]})
    sess = w.session()
    sess.say("I want to buy")
    c = conv_of(w, sess)
    r = w.api("POST", "/api/conversations/%s/commands" % c["id"],
              json={"command": "/mark", "args": "deal", "data": {"by": "op-1"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["command"] == "/mark" and body["result"] == "deal marked *won*", body
    assert body["isError"] is False and body["url"] == cmd.url, body
    note = body["note"]
    assert note["direction"] == "internal" and note["text"] == "deal marked *won*", note
    assert note["sender"] == {"type": "command", "id": "/mark"}, note
    # the subscriber learned which conversation asked
    rec = cmd.wait_for(1, 5)[0].json()
    assert rec["data"]["conversation_id"] == c["id"] and rec["data"]["by"] == "op-1", rec
    assert rec["data"]["chat_id"] == sess.id and rec["data"]["channel"] == "widget", rec
    # operators see the note; the customer does not
    r = w.api("GET", "/api/conversations/%s/messages?pageSize=100" % c["id"])
    msgs = r.json()["items"]
    assert [m["text"] for m in msgs] == ["I want to buy", "deal marked *won*"], msgs
    assert msgs[1]["id"] == note["id"] and msgs[1]["seq"] > msgs[0]["seq"]
    assert [m["text"] for m in sess.items()] == ["I want to buy"], "the widget must not show notes"
    # an agent reply after the note: the customer reads it right after their own message
    r = w.api("POST", "/api/conversations/%s/messages" % c["id"], json={"text": "on it"})
    assert r.status_code == 201, r.text
    assert [m["text"] for m in sess.items()] == ["I want to buy", "on it"]
    first = sess.items()[0]["id"]
    assert [m["text"] for m in sess.items("after=" + first)] == ["on it"]


def test_command_error_answer_is_a_note_with_is_error(server, fakes):  # noqa: F811
    srv = server(*SERVER_FLAGS)
    cmd = fakes(json_reply({"error": "no deal found"}))
    w = ChatWidget(srv)
    Tenant(srv, key=w.key).subscribe({cmd.url: ["/mark"]})
    sess = w.session()
    sess.say("hi")
    c = conv_of(w, sess)
    r = w.api("POST", "/api/conversations/%s/commands" % c["id"], json={"command": "/mark"})
    assert r.status_code == 200, r.text
    assert r.json()["isError"] is True and r.json()["note"]["text"] == "no deal found", r.json()


@pytest.mark.parametrize("body,field", [
    ({}, "command"),
    ({"command": "mark"}, "command"),
    ({"command": "/Mark"}, "command"),
    ({"command": 5}, "command"),
    ({"command": "/mark", "args": 3}, "args"),
    ({"command": "/mark", "data": []}, "data"),
])
def test_command_bad_input_is_400_naming_the_field(server, body, field):
    srv = server(*SERVER_FLAGS)
    w = ChatWidget(srv)
    sess = w.session()
    sess.say("hi")
    c = conv_of(w, sess)
    r = w.api("POST", "/api/conversations/%s/commands" % c["id"], json=body)
    assert r.status_code == 400, r.text
    assert r.json().get("field") == field, r.text


def test_command_unknown_conversation_is_404_and_nobody_is_called(server, fakes):  # noqa: F811
    srv = server(*SERVER_FLAGS)
    cmd = fakes(text("done"))
    w = ChatWidget(srv)
    Tenant(srv, key=w.key).subscribe({cmd.url: ["/mark"]})
    for cid in ("7d5e0f5e-9a0b-4c1d-8e2f-0a1b2c3d4e5f", "not-a-uuid"):
        r = w.api("POST", "/api/conversations/%s/commands" % cid, json={"command": "/mark"})
        assert r.status_code == 404, r.text
    time.sleep(0.5)
    assert cmd.count() == 0


def test_command_without_subscriber_is_404_and_no_note(server):
    srv = server(*SERVER_FLAGS)
    w = ChatWidget(srv)
    sess = w.session()
    sess.say("hi")
    c = conv_of(w, sess)
    r = w.api("POST", "/api/conversations/%s/commands" % c["id"], json={"command": "/nobody"})
    assert r.status_code == 404, r.text
    msgs = w.api("GET", "/api/conversations/%s/messages" % c["id"]).json()["items"]
    assert [m["text"] for m in msgs] == ["hi"]


def test_command_failing_subscriber_is_not_a_note(server, fakes):  # noqa: F811
    srv = server(*SERVER_FLAGS)
    cmd = fakes(status(500))
    w = ChatWidget(srv)
    Tenant(srv, key=w.key).subscribe({cmd.url: ["/mark"]})
    sess = w.session()
    sess.say("hi")
    c = conv_of(w, sess)
    r = w.api("POST", "/api/conversations/%s/commands" % c["id"], json={"command": "/mark"})
    assert r.status_code in (502, 504), r.text
    msgs = w.api("GET", "/api/conversations/%s/messages" % c["id"]).json()["items"]
    assert [m["text"] for m in msgs] == ["hi"]
