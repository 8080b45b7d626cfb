"""Commands (seed 001 "Özel Komutlar", docs/deliveries.md "Commands"): POST /api/commands runs
a /command against its subscribers and returns the first 2xx answer."""

import time

import pytest

from fakes import (SERVER_FLAGS, Tenant, assert_signed, fakes, hang, json_reply,  # noqa: F401
                   status, text)
from sbhelpers import assert_problem


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS, "--instance-id", "cmd-instance")


@pytest.fixture
def marked(sb, fakes):
    t = Tenant(sb, "cmd-co")
    f = fakes(text("ok"))
    t.subscribe({f.url: ["/mark"]})
    return t, f


def _result(r):
    assert r.status_code == 200, "command: %d %r" % (r.status_code, r.text[:500])
    return r.json()


def test_plain_text_answer_is_the_result(marked):
    t, f = marked
    answer = "✅ Fatura №12345 oluşturuldu\nToplam: 1500\n*Link*: https://intranet.example.com/i/1"
    f.behaviour = text(answer)
    body = _result(t.command("/mark", "deal"))
    assert body == {"command": "/mark", "result": answer, "isError": False, "url": f.url}, body


def test_request_sent_to_the_subscriber(marked, sb):
    t, f = marked
    sec = t.secret()
    _result(t.command("/mark", "deal", data={"chat_id": -1002146012345, "topic_id": 5}))
    rec = f.wait_for(1, 5)[0]
    assert rec.method == "POST"
    body = rec.json()
    assert body["event_type"] == "/mark", body
    assert body["data"]["command_data"] == "deal", body
    assert body["data"].get("chat_id") == -1002146012345 and body["data"].get("topic_id") == 5
    assert body["api_key"] == sec["apiKey"]
    assert body["instance_id"] == "cmd-instance"
    assert set(body) == {"event_type", "timestamp", "instance_id", "data", "api_key"}, body
    assert_signed(rec, sec["secret"])


def test_json_message_is_the_result(marked):
    t, f = marked
    f.behaviour = json_reply({"message": "Anlaşma oluşturuldu: http://crm/deals/76238",
                              "status": "ok", "other": [1, 2]})
    body = _result(t.command("/mark", "deal"))
    assert body["result"] == "Anlaşma oluşturuldu: http://crm/deals/76238"
    assert body["isError"] is False


def test_json_error_is_an_error_result(marked):
    t, f = marked
    f.behaviour = json_reply({"error": "Kullanıcı 12345678 veritabanımızda bulunamadı"})
    body = _result(t.command("/mark", "deal"))
    assert body["result"] == "Kullanıcı 12345678 veritabanımızda bulunamadı"
    assert body["isError"] is True


def test_json_message_wins_over_error(marked):
    t, f = marked
    f.behaviour = json_reply({"error": "e", "message": "m"})
    body = _result(t.command("/mark", "deal"))
    assert body["result"] == "m" and body["isError"] is False, body


def test_long_answer_is_cut_at_4096_characters(marked):
    t, f = marked
    long = "".join(chr(ord("a") + i % 26) for i in range(5000))
    f.behaviour = text(long)
    body = _result(t.command("/mark", "deal"))
    assert body["result"] == long[:4096], len(body["result"])


def test_long_non_ascii_answer_is_cut_at_4096_characters(marked):
    t, f = marked
    long = "ş" * 3000 + "ğ" * 2000  # 5000 characters, 10000 bytes
    f.behaviour = text(long)
    body = _result(t.command("/mark", "deal"))
    assert body["result"] == long[:4096], (len(body["result"]), body["result"][-5:])


def test_hanging_subscriber_gives_504_within_3s(marked):
    t, f = marked
    f.behaviour = hang(5.0)
    start = time.monotonic()
    r = t.command("/mark", "deal", timeout=10)
    took = time.monotonic() - start
    assert r.status_code == 504, r.text
    assert 2.5 <= took <= 3.8, "the person waits at most ~3 s, took %.2f s" % took
    time.sleep(1.5)
    assert f.count() == 1, "commands are not retried"


def test_server_error_is_not_retried(marked):
    t, f = marked
    f.behaviour = status(500, "boom")
    r = t.command("/mark", "deal")
    assert r.status_code != 200 or r.json().get("isError") is True, \
        "a 500 answer is not a successful result: %r" % r.text
    assert f.stays_at(1, 2.0), "commands are not retried (a person is waiting)"


def test_no_subscriber_is_404(marked):
    t, f = marked
    assert_problem(t.command("/info", "x"), 404)
    assert f.count() == 0


def test_event_subscribers_do_not_get_commands(sb, fakes):
    t = Tenant(sb, "cmd-events")
    ev = fakes(text("should not be used"))
    t.subscribe({ev.url: ["dialog_created", "message_received"]})
    assert_problem(t.command("/mark", "deal"), 404)
    time.sleep(0.3)
    assert ev.count() == 0


def test_command_validation(marked):
    t, _ = marked
    r = t.call("POST", "/api/commands", json={"args": "deal"})
    assert_problem(r, 400, field="command")
    r = t.call("POST", "/api/commands", json={"command": "mark", "args": "deal"})
    assert_problem(r, 400, field="command")


def test_first_2xx_answer_wins(sb, fakes):
    t = Tenant(sb, "cmd-multi")
    bad = fakes(status(500, "down"))
    good = fakes(text("from the good one"))
    t.subscribe({bad.url: ["/invoice"], good.url: ["/invoice"]})
    body = _result(t.command("/invoice", "42"))
    assert body["result"] == "from the good one" and body["url"] == good.url, body
