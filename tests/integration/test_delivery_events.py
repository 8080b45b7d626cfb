"""What a subscriber receives: the test event, envelopes (seed 001 / olay), signatures, and the
delivery metrics (docs/deliveries.md)."""

import datetime
import re
import socket
import time

import pytest

from fakes import (SERVER_FLAGS, Tenant, assert_signed, fakes, parse_rfc3339,  # noqa: F401
                   signature_entries)
from sbhelpers import assert_problem, parse_metrics

INSTANCE = "inst-test-4242"


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS, "--instance-id", INSTANCE)


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def test_test_event_goes_to_subscribed_urls_only(sb, fakes):
    t = Tenant(sb, "events-co")
    a, b, c = fakes(), fakes(), fakes()
    t.subscribe({a.url: ["dialog_created", "message_received"],
                 b.url: ["message_sent"],
                 c.url: ["dialog_created", "/mark"]})
    res = t.emit("dialog_created", {"chat_id": -100123, "index": 1})
    deliveries = res["deliveries"]
    assert sorted(d["url"] for d in deliveries) == sorted([a.url, c.url]), res
    assert all(d.get("id") for d in deliveries), res
    ids = {d["url"]: d["id"] for d in deliveries}
    ra = a.wait_for(1, 10)[0]
    rc = c.wait_for(1, 10)[0]
    assert ra.header("webhook-id") == ids[a.url], "webhook-id is the delivery id"
    assert rc.header("webhook-id") == ids[c.url]
    assert ids[a.url] != ids[c.url], "each subscriber gets its own delivery"
    time.sleep(0.5)
    assert b.count() == 0, "a URL subscribed to other events gets nothing"
    assert a.count() == 1 and c.count() == 1, "one event, one request per subscriber"


def test_hotline_envelope_and_headers(sb, fakes):
    t = Tenant(sb, "envelope-co")
    sec = t.secret()
    f = fakes()
    t.subscribe({f.url: ["dialog_reopened"]})
    data = {"chat_id": -1002146012345, "thread_id": 5602541568, "title": "Some User Name",
            "frontend_topic_id": None, "department": "default", "text": "Merhaba dünya ✅",
            "index": 7}
    t.emit("dialog_reopened", data)
    rec = f.wait_for(1, 10)[0]
    assert rec.method == "POST"
    assert rec.path == "/hook"
    assert rec.header("Content-Type", "").split(";")[0].strip() == "application/json"
    assert (rec.header("User-Agent") or "").startswith("switchboard/"), rec.header("User-Agent")
    body = rec.json()
    assert set(body) == {"event_type", "timestamp", "instance_id", "data", "api_key"}, body
    assert body["event_type"] == "dialog_reopened"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body["timestamp"]), body["timestamp"]
    ts = datetime.datetime.strptime(body["timestamp"], "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    assert abs((ts - _utc_now()).total_seconds()) < 30, "timestamp is UTC now: %s" % ts
    assert body["instance_id"] == INSTANCE
    assert body["api_key"] == sec["apiKey"], "api_key is the secret API's apiKey"
    for k, v in data.items():
        assert body["data"].get(k) == v, "data.%s: %r" % (k, body["data"])
    assert_signed(rec, sec["secret"])


def test_instance_id_defaults_to_host_name(server, fakes):
    sb = server(*SERVER_FLAGS)
    t = Tenant(sb, "host-co")
    f = fakes()
    t.subscribe({f.url: ["dialog_created"]})
    t.emit("dialog_created", {"index": 1})
    assert f.wait_for(1, 10)[0].json()["instance_id"] == socket.gethostname()


def test_olay_envelope(sb, fakes):
    t = Tenant(sb, "olay-co")
    sec = t.secret()
    hot, olay = fakes(), fakes()
    t.subscribe({hot.url: ["yeni_chat"],
                 olay.url: {"events": ["yeni_chat"], "format": "olay"}})
    t.emit("yeni_chat", {"sohbet_id": "c-1", "musteri": "Ayşe", "index": 3})
    rec = olay.wait_for(1, 10)[0]
    body = rec.json()
    assert set(body) == {"olay", "zaman", "veri"}, body
    assert body["olay"] == "yeni_chat"
    zaman = parse_rfc3339(body["zaman"])
    assert zaman.tzinfo is not None, "zaman is RFC 3339 with an offset: %r" % body["zaman"]
    assert abs((zaman - _utc_now()).total_seconds()) < 30
    assert body["veri"].get("sohbet_id") == "c-1" and body["veri"].get("musteri") == "Ayşe"
    assert_signed(rec, sec["secret"])
    assert hot.wait_for(1, 10)[0].json()["event_type"] == "yeni_chat", \
        "the other subscriber keeps the default envelope"


def test_every_contract_event_can_be_emitted(sb, fakes):
    t = Tenant(sb, "all-events")
    f = fakes()
    events = ["dialog_created", "dialog_reopened", "dialog_closed", "message_received",
              "message_sent", "message_intercepted", "yeni_chat", "yeni_ticket",
              "chat_kapandi", "ticket_cozuldu", "memnuniyet_puan", "operator_cevrimdisi"]
    t.subscribe({f.url: events})
    for e in events:
        t.emit(e, {"e": e})
    got = f.wait_for(len(events), 15)
    assert sorted(r.json()["event_type"] for r in got) == sorted(events)


def test_test_event_validation(sb):
    t = Tenant(sb, "bad-test")
    p = assert_problem(t.call("POST", "/api/webhooks/test",
                              json={"event": "no_such_event", "data": {}}), 400)
    assert p.get("field") == "event", p
    assert_problem(t.call("POST", "/api/webhooks/test", json={"data": {}}), 400, field="event")


def test_test_event_without_subscribers(sb):
    t = Tenant(sb, "lonely")
    r = t.call("POST", "/api/webhooks/test", json={"event": "dialog_created", "data": {}})
    assert r.status_code == 202, r.text
    assert r.json() == {"deliveries": []}


def test_rotation_signs_with_new_and_old_secret(sb, fakes):
    t = Tenant(sb, "rotate-co")
    f = fakes()
    t.subscribe({f.url: ["message_received"]})
    old = t.secret()["secret"]
    t.emit("message_received", {"index": 0})
    first = f.wait_for(1, 10)[0]
    assert_signed(first, old)

    new = t.rotate()["secret"]
    t.emit("message_received", {"index": 1})
    second = f.wait_for(2, 10)[1]
    assert second.json()["data"]["index"] == 1
    sigs = signature_entries(second)
    assert len(sigs) == 2, "two v1 signatures while the old secret is valid: %r" % (
        second.header("webhook-signature"),)
    # each verified on its own: the first with the new secret, the second with the old one
    assert_signed(second, new, previous=old)


def test_two_tenants_do_not_see_each_others_events(sb, fakes):
    a, b = Tenant(sb, "iso-a"), Tenant(sb, "iso-b")
    fa, fb = fakes(), fakes()
    a.subscribe({fa.url: ["dialog_created"]})
    b.subscribe({fb.url: ["dialog_created"]})
    a.emit("dialog_created", {"who": "a"})
    rec = fa.wait_for(1, 10)[0]
    assert rec.json()["api_key"] == a.secret()["apiKey"]
    assert_signed(rec, a.secret()["secret"])
    time.sleep(0.5)
    assert fb.count() == 0


def test_keep_alive_reuses_the_connection(server, fakes):
    sb = server(*SERVER_FLAGS, threads=1)
    t = Tenant(sb, "pool-co")
    f = fakes()
    t.subscribe({f.url: ["dialog_created"]})
    for i in range(5):
        t.emit("dialog_created", {"index": i})
        f.wait_for(i + 1, 10)
    assert f.connections < 5, "keep-alive per origin: %d connections for 5 sequential " \
        "deliveries" % f.connections


def test_delivery_metrics(sb, fakes):
    t = Tenant(sb, "metrics-co")
    f = fakes()
    t.subscribe({f.url: ["dialog_created"]})
    t.emit("dialog_created", {"index": 1})
    f.wait_for(1, 10)

    def samples():
        r = sb.get("/metrics")
        assert r.status_code == 200
        return r.text, parse_metrics(r.text)

    deadline = time.monotonic() + 5
    while True:
        text, s = samples()
        ok_count = sum(v for n, l, v in s if n == "switchboard_deliveries_total"
                       and l.get("outcome") == "success")
        if ok_count >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ok_count >= 1, "switchboard_deliveries_total{outcome=\"success\"} after a delivery"
    names = {n for n, _, _ in s}
    assert "switchboard_deliveries_total" in names
    assert "switchboard_delivery_queue_depth" in names
    lanes = {l.get("lane") for n, l, _ in s if n == "switchboard_delivery_queue_depth"}
    assert lanes >= {"fresh", "retry", "delayed", "dead"}, lanes
    assert any(n.startswith("switchboard_delivery_attempt_duration_seconds") for n in names)
