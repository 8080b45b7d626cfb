"""Proactive messages (docs/proactive.md, SPEC 10): the tenant routes under
/api/proactive-messages (CRUD shapes, pagination, every refusal), the triggers (event with
delay and unlessReplied, idle, schedule at / cron in a time zone), what a firing sends (the
conversation's message, the widget's stream, message_sent, a platform's send API), PUT / DELETE
acting on pending firings, the manual firing, and crash safety with several instances.

Black box against the real binary and a real redis-server: conversations are opened through the
web widget (or a fake Telegram), results read through the tenant API, the widget's own routes,
a subscriber, and (for the documented scheduler keys only) Redis. The agents are fakes that
answer without a reply, so every agent message in a conversation is a proactive one."""

import datetime
import os
import re
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest

from fakes import (SERVER_FLAGS, ChatWidget, Tenant, WidgetSession, fakes, ok,  # noqa: F401
                   parse_rfc3339)
from sbhelpers import as_text, assert_page, assert_problem
from test_widget_sse import sse  # noqa: F401

pytestmark = pytest.mark.server

BASE = "/api/proactive-messages"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
DTO_KEYS = ("id", "agentId", "trigger", "payload", "enabled", "createdAt", "updatedAt",
            "lastFiredAt", "fireCount", "nextFireAt")
TEXT = "Can I help you with anything?"
EVENT_T = {"type": "event", "event": "dialog_created", "delaySeconds": 30, "unlessReplied": False}
FAR = {"type": "event", "event": "dialog_created", "delaySeconds": 86400}  # never fires in a test


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


# ---- helpers ------------------------------------------------------------------------------

def shop(srv, fakes, name="pm-co", tenant=None):  # noqa: F811
    """A tenant (new, or the given one) with a widget routed to a new agent (a fake answering
    "ok": a success without a reply)."""
    return ChatWidget(srv, name, agent_url=fakes(ok()).url, tenant=tenant)


def aid(w):
    return w.agent["id"]


def pm_api(w, method, path="", json=None, srv=None, **kw):
    return w.api(method, BASE + path, json=json, srv=srv, **kw)


def create_pm(w, trigger, payload=None, agent_id=None, srv=None, **extra):
    body = {"agentId": agent_id or aid(w), "trigger": trigger,
            "payload": payload if payload is not None else {"text": TEXT}}
    body.update(extra)
    r = pm_api(w, "POST", json=body, srv=srv)
    assert r.status_code == 201, "POST %s: %d %r" % (BASE, r.status_code, r.text[:500])
    return r.json()


def get_pm(w, pmid, srv=None):
    r = pm_api(w, "GET", "/" + pmid, srv=srv)
    assert r.status_code == 200, "GET pm: %d %r" % (r.status_code, r.text[:300])
    return r.json()


def put_pm(w, pmid, body, srv=None):
    r = pm_api(w, "PUT", "/" + pmid, json=body, srv=srv)
    assert r.status_code == 200, "PUT pm %r: %d %r" % (body, r.status_code, r.text[:300])
    return r.json()


def fire(w, pmid, cid, srv=None):
    return pm_api(w, "POST", "/%s/fire" % pmid, json={"conversationId": cid}, srv=srv)


def ts(s):
    return parse_rfc3339(s).timestamp()


def rfc3339_ms(t):
    """t (unix s) as RFC 3339 UTC with milliseconds (truncated to the millisecond)."""
    ms = int(t * 1000)
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def assert_dto(d):
    for k in DTO_KEYS:
        assert k in d, "ProactiveMessageDto lacks %r: %r" % (k, d)
    assert UUID_RE.match(d["id"]) and UUID_RE.match(d["agentId"]), d
    assert isinstance(d["trigger"], dict) and isinstance(d["trigger"].get("type"), str), d
    assert isinstance(d["payload"], dict), d
    assert isinstance(d["enabled"], bool), d
    for k in ("createdAt", "updatedAt"):
        assert isinstance(d[k], str) and TS_RE.match(d[k]), "%s %r" % (k, d[k])
    for k in ("lastFiredAt", "nextFireAt"):
        assert d[k] is None or (isinstance(d[k], str) and TS_RE.match(d[k])), "%s %r" % (k, d[k])
    assert isinstance(d["fireCount"], int) and not isinstance(d["fireCount"], bool), d
    assert d["fireCount"] >= 0, d
    return d


def conv_msgs(w, cid, srv=None):
    r = w.api("GET", "/api/conversations/%s/messages?pageSize=100" % cid, srv=srv)
    assert r.status_code == 200, "GET messages: %d %r" % (r.status_code, r.text[:300])
    return r.json()["items"]


def pm_msgs(w, cid, pmid=None, srv=None):
    """The conversation's agent messages (the fake agents never reply, so these are the
    proactive ones) and any message that names a proactive message; with pmid, those of it."""
    out = [m for m in conv_msgs(w, cid, srv)
           if (m.get("sender") or {}).get("type") == "agent" or m.get("proactiveMessageId")]
    if pmid is not None:
        out = [m for m in out if m.get("proactiveMessageId") == pmid]
    return out


def wait_pm(w, cid, n, timeout, pmid=None, srv=None):
    deadline = time.monotonic() + timeout
    while True:
        got = pm_msgs(w, cid, pmid, srv)
        if len(got) >= n or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    assert len(got) >= n, "expected %d proactive message(s) in %s within %.1f s, got %r" % (
        n, cid, timeout, conv_msgs(w, cid, srv))
    return got


def sleep_until(t):
    time.sleep(max(0.0, t - time.time()))


def assert_proactive(m, w, pm, cid, text=TEXT):
    assert m.get("proactiveMessageId") == pm["id"], "proactiveMessageId: %r" % m
    assert m["sender"] == {"type": "agent", "id": pm["agentId"]}, m
    assert m["direction"] == "out", m
    assert m["conversationId"] == cid, m
    assert m["text"] == text, m
    assert UUID_RE.match(m["id"]) and isinstance(m["seq"], int), m
    assert TS_RE.match(m["createdAt"]), m


def operator_reply(w, cid, text="an operator here", srv=None):
    r = w.api("POST", "/api/conversations/%s/messages" % cid, json={"text": text}, srv=srv)
    assert r.status_code == 201, "operator reply: %d %r" % (r.status_code, r.text[:300])
    return r.json()


def close(w, cid):
    r = w.api("POST", "/api/conversations/%s/close" % cid)
    assert r.status_code == 200, "close: %d %r" % (r.status_code, r.text[:300])


def opened(w, text="hello", srv=None):
    """A new widget session with its first message: (session, message, conversation id)."""
    s = w.session(srv=srv)
    m = s.say(text, srv=srv)
    return s, m, m["conversationId"]


# cron, brute force (zones without daylight saving only), for the expected nextFireAt
DOW = {n: i for i, n in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
MONTHS = {n: i + 1 for i, n in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                           "AUG", "SEP", "OCT", "NOV", "DEC"))}


def _cron_field(spec, lo, hi, names=None):
    def num(x):
        return names[x.upper()] if names and x.upper() in names else int(x)
    vals = set()
    for part in spec.split(","):
        rng, _, step = part.partition("/")
        step = int(step) if step else 1
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            a, b = (num(x) for x in rng.split("-"))
        else:
            a = num(rng)
            b = hi if step > 1 else a
        vals.update(range(a, b + 1, step))
    return vals


def cron_next(expr, tz, after):
    """First whole minute strictly after `after` (unix s) matching expr in zone tz."""
    mi, ho, dom, mon, dow = expr.split()
    M, H = _cron_field(mi, 0, 59), _cron_field(ho, 0, 23)
    D, MO = _cron_field(dom, 1, 31), _cron_field(mon, 1, 12, MONTHS)
    W = {x % 7 for x in _cron_field(dow, 0, 7, DOW)}
    dom_r, dow_r = not dom.startswith("*"), not dow.startswith("*")
    zone = ZoneInfo(tz)
    t = (int(after) // 60 + 1) * 60
    for _ in range(9 * 1440):
        d = datetime.datetime.fromtimestamp(t, zone)
        wd = (d.weekday() + 1) % 7
        if dom_r and dow_r:
            day = d.day in D or wd in W
        else:
            day = (d.day in D) and (wd in W)
        if d.minute in M and d.hour in H and d.month in MO and day:
            return t
        t += 60
    raise AssertionError("no match for %r within 9 days" % expr)


# =============================================================================================
# CRUD shapes


def test_create_answers_201_location_and_the_dto(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    t0 = time.time()
    r = pm_api(w, "POST", json={"agentId": aid(w), "trigger": EVENT_T,
                                "payload": {"text": "Can I help?",
                                            "buttons": [{"title": "Yes", "payload": "yes"}]}})
    assert r.status_code == 201, r.text
    d = assert_dto(r.json())
    assert r.headers.get("Location") == BASE + "/" + d["id"], r.headers
    assert d["agentId"] == aid(w)
    assert d["trigger"] == EVENT_T, d
    assert d["payload"] == {"text": "Can I help?", "attachments": [],
                            "buttons": [{"type": "postback", "title": "Yes", "payload": "yes"}]}, d
    assert d["enabled"] is True, "enabled defaults to true"
    assert d["fireCount"] == 0 and d["lastFiredAt"] is None, d
    assert d["nextFireAt"] is None, "an event trigger has no nextFireAt"
    assert d["createdAt"] == d["updatedAt"], d
    assert abs(ts(d["createdAt"]) - t0) < 5, d
    # what the Location names answers the same Dto
    g = sb.request("GET", r.headers["Location"], headers={"X-API-Key": w.key})
    assert g.status_code == 200, g.text
    assert g.json() == d

    # defaults and other shapes are stored as given
    d2 = create_pm(w, {"type": "event", "event": "message_received", "delaySeconds": 5},
                   {"attachments": [{"url": "https://shop.example/a.pdf"}]}, enabled=False)
    assert_dto(d2)
    assert d2["id"] != d["id"]
    assert d2["enabled"] is False
    assert d2["trigger"] == {"type": "event", "event": "message_received", "delaySeconds": 5,
                             "unlessReplied": False}, "unlessReplied defaults to false: %r" % d2
    att = d2["payload"]["attachments"]
    assert len(att) == 1 and att[0]["url"] == "https://shop.example/a.pdf", d2
    assert att[0].get("type") == "file", "an attachment without type/contentType is a file"
    d3 = create_pm(w, {"type": "idle", "afterSeconds": 600, "maxFires": 3})
    assert d3["trigger"]["type"] == "idle" and d3["trigger"]["afterSeconds"] == 600, d3
    assert d3["trigger"]["maxFires"] == 3 and d3["nextFireAt"] is None, d3
    assert d3["payload"] == {"text": TEXT, "attachments": []}, d3
    assert get_pm(w, d3["id"]) == d3


VALID_TRIGGERS = [
    {"type": "event", "event": "dialog_created", "delaySeconds": 0, "unlessReplied": False},
    {"type": "event", "event": "dialog_reopened", "delaySeconds": 86400, "unlessReplied": True},
    {"type": "event", "event": "dialog_closed", "delaySeconds": 10, "unlessReplied": False},
    {"type": "event", "event": "message_received", "delaySeconds": 60, "unlessReplied": True},
    {"type": "idle", "afterSeconds": 1},
    {"type": "idle", "afterSeconds": 2592000, "maxFires": 1000},
    {"type": "idle", "afterSeconds": 30, "maxFires": 1},
]


def test_valid_triggers_at_their_bounds_are_stored(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    wrong = []
    for trigger in VALID_TRIGGERS:
        r = pm_api(w, "POST", json={"agentId": aid(w), "trigger": trigger,
                                    "payload": {"text": TEXT}})
        if r.status_code != 201:
            wrong.append((trigger, r.status_code, r.text[:200]))
            continue
        d = r.json()
        if any(d["trigger"].get(k) != v for k, v in trigger.items()) or \
                get_pm(w, d["id"])["trigger"] != d["trigger"]:
            wrong.append((trigger, d["trigger"]))
    assert not wrong, "valid triggers refused or changed: %r" % wrong


def test_list_pages_oldest_first_and_filters_by_agent(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    w2 = shop(sb, fakes, tenant=w.tenant)  # a second agent of the same tenant
    def make(ww, text):
        time.sleep(0.003)  # distinct createdAt milliseconds: "oldest first" is then one order
        return create_pm(ww, FAR, {"text": text})["id"]

    ids = [make(w, "m%d" % i) for i in range(5)]
    others = [make(w2, "o%d" % i) for i in range(2)]

    def page(query):
        r = pm_api(w, "GET", "?" + query)
        assert r.status_code == 200, "%s: %d %r" % (query, r.status_code, r.text[:300])
        return assert_page(r.json())

    want = [(1, ids[0:2], False, True), (2, ids[2:4], True, True), (3, ids[4:], True, False)]
    for n, expect, prev, nxt in want:
        p = page("agentId=%s&page=%d&pageSize=2" % (aid(w), n))
        assert [x["id"] for x in p["items"]] == expect, (n, p)
        assert p["pageNumber"] == n and p["totalPages"] == 3 and p["totalCount"] == 5, p
        assert p["hasPreviousPage"] is prev and p["hasNextPage"] is nxt, p
        for x in p["items"]:
            assert_dto(x)
            assert x["agentId"] == aid(w), x
    p = page("pageSize=2")
    assert p["items"][0] == get_pm(w, ids[0]), "list items are the Dtos"
    # defaults: page 1, 20 a page; every agent's messages without the filter
    p = page("")
    assert [x["id"] for x in p["items"]] == ids + others, p
    assert p["pageNumber"] == 1 and p["totalPages"] == 1 and p["totalCount"] == 7, p
    assert p["hasPreviousPage"] is False and p["hasNextPage"] is False, p
    p = page("agentId=" + aid(w2))
    assert [x["id"] for x in p["items"]] == others and p["totalCount"] == 2, p
    p = page("agentId=" + str(uuid.uuid4()))
    assert p["items"] == [] and p["totalCount"] == 0, p
    # pages stay stable while messages are added
    make(w, "late")
    p = page("agentId=%s&page=1&pageSize=2" % aid(w))
    assert [x["id"] for x in p["items"]] == ids[0:2] and p["totalCount"] == 6, p
    p = page("pageSize=100")
    assert p["totalCount"] == 8 and len(p["items"]) == 8, p


def test_list_paging_out_of_range_is_400(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    create_pm(w, FAR)
    wrong = []
    for query, field in (("pageSize=0", "pageSize"), ("pageSize=101", "pageSize"),
                         ("pageSize=-1", "pageSize"), ("pageSize=x", "pageSize"),
                         ("page=0", "page"), ("page=-3", "page"), ("page=abc", "page")):
        r = pm_api(w, "GET", "?" + query)
        try:
            assert_problem(r, 400, field=field)
        except AssertionError as e:
            wrong.append((query, str(e)[:200]))
    assert not wrong, wrong


def test_put_changes_only_the_given_members(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    w2 = shop(sb, fakes, tenant=w.tenant)
    pm = create_pm(w, EVENT_T, {"text": "first"})
    time.sleep(0.05)
    d = put_pm(w, pm["id"], {"enabled": False})
    assert_dto(d)
    assert d["enabled"] is False and d["id"] == pm["id"], d
    for k in ("agentId", "trigger", "payload", "createdAt", "fireCount", "lastFiredAt"):
        assert d[k] == pm[k], "PUT {enabled} changed %s: %r -> %r" % (k, pm[k], d[k])
    assert ts(d["updatedAt"]) > ts(pm["updatedAt"]), (pm["updatedAt"], d["updatedAt"])
    assert get_pm(w, pm["id"]) == d

    time.sleep(0.05)
    d2 = put_pm(w, pm["id"], {"payload": {"text": "second"}})
    assert d2["payload"] == {"text": "second", "attachments": []}, d2
    assert d2["enabled"] is False and d2["trigger"] == EVENT_T, d2
    assert d2["createdAt"] == pm["createdAt"] and ts(d2["updatedAt"]) > ts(d["updatedAt"]), d2

    d3 = put_pm(w, pm["id"], {"trigger": {"type": "idle", "afterSeconds": 60}, "enabled": True})
    assert d3["trigger"]["type"] == "idle" and d3["trigger"]["afterSeconds"] == 60, d3
    assert "event" not in d3["trigger"] and "delaySeconds" not in d3["trigger"], \
        "a new trigger replaces the old one: %r" % d3
    assert d3["enabled"] is True and d3["payload"] == d2["payload"], d3

    d4 = put_pm(w, pm["id"], {"agentId": aid(w2)})
    assert d4["agentId"] == aid(w2), d4
    r = pm_api(w, "GET", "?agentId=" + aid(w2))
    assert [x["id"] for x in r.json()["items"]] == [pm["id"]], r.text
    r = pm_api(w, "GET", "?agentId=" + aid(w))
    assert r.json()["items"] == [], r.text

    # refused PUTs change nothing
    stranger = shop(sb, fakes, "pm-stranger")
    bad = [
        ({"agentId": "not-a-uuid"}, "agentId"),
        ({"agentId": aid(stranger)}, "agentId"),
        ({"trigger": {"type": "event", "event": "dialog_created", "delaySeconds": -1}},
         "trigger.delaySeconds"),
        ({"trigger": {"type": "idle", "afterSeconds": 0}}, "trigger.afterSeconds"),
        ({"payload": {"text": ""}}, "payload.text"),
        ({"enabled": "no"}, "enabled"),
        ({"color": "red"}, "color"),
    ]
    for body, field in bad:
        assert_problem(pm_api(w, "PUT", "/" + pm["id"], json=body), 400, field=field)
    for raw in ('{"enabled": ', "[]", '"x"'):
        r = w.api("PUT", BASE + "/" + pm["id"], data=raw,
                  headers={"Content-Type": "application/json"})
        assert_problem(r, 400)
    assert get_pm(w, pm["id"]) == d4


def test_delete_is_204_then_404_everywhere(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    s, m, cid = opened(w)
    pm = create_pm(w, FAR)
    keep = create_pm(w, FAR, {"text": "kept"})
    r = pm_api(w, "DELETE", "/" + pm["id"])
    assert r.status_code == 204, r.text
    assert r.content == b""
    for method, path, body in (("GET", "/" + pm["id"], None),
                               ("PUT", "/" + pm["id"], {"enabled": False}),
                               ("DELETE", "/" + pm["id"], None),
                               ("POST", "/%s/fire" % pm["id"], {"conversationId": cid})):
        assert_problem(pm_api(w, method, path, json=body), 404)
    p = pm_api(w, "GET", "").json()
    assert [x["id"] for x in p["items"]] == [keep["id"]] and p["totalCount"] == 1, p
    assert pm_msgs(w, cid) == [], "the refused firing sent nothing"


# =============================================================================================
# refusals


def test_message_id_that_is_not_a_guid_is_404(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    s, m, cid = opened(w)
    create_pm(w, FAR)
    for bad in ("abc", "123", "not-a-guid-at-all", "7d5e0f5e-9a0b-4c1d-8e2f-0a1b2c3d4e5",
                "7d5e0f5e9a0b4c1d8e2f"):
        for method, path, body in (("GET", "/" + bad, None),
                                   ("PUT", "/" + bad, {"enabled": False}),
                                   ("DELETE", "/" + bad, None),
                                   ("POST", "/%s/fire" % bad, {"conversationId": cid})):
            r = pm_api(w, method, path, json=body)
            assert r.status_code == 404, "%s %s: %d %r" % (method, path, r.status_code,
                                                            r.text[:200])
    assert pm_api(w, "GET").json()["totalCount"] == 1
    assert pm_msgs(w, cid) == []


def test_unknown_and_foreign_message_ids_are_404(sb, fakes):  # noqa: F811
    mine = shop(sb, fakes, "pm-mine")
    theirs = shop(sb, fakes, "pm-theirs")
    pm = create_pm(mine, FAR)
    _, _, their_cid = opened(theirs)
    for pmid in (pm["id"], str(uuid.uuid4())):
        for method, path, body in (("GET", "/" + pmid, None),
                                   ("PUT", "/" + pmid, {"enabled": False,
                                                        "payload": {"text": "hijacked"}}),
                                   ("DELETE", "/" + pmid, None),
                                   ("POST", "/%s/fire" % pmid, {"conversationId": their_cid})):
            assert_problem(pm_api(theirs, method, path, json=body), 404)
    assert get_pm(mine, pm["id"]) == pm, "another tenant's PUT / DELETE changed nothing"
    assert pm_api(theirs, "GET").json()["totalCount"] == 0, "another tenant lists nothing"
    assert pm_msgs(theirs, their_cid) == []


def test_agent_id_must_name_an_agent_of_the_tenant(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    stranger = shop(sb, fakes, "pm-stranger")
    cases = {"not a uuid": "not-a-uuid", "number": 42, "null": None, "unknown uuid":
             str(uuid.uuid4()), "another tenant's agent": aid(stranger), "empty": "",
             "the widget's id": w.id}
    for what, value in cases.items():
        r = pm_api(w, "POST", json={"agentId": value, "trigger": FAR, "payload": {"text": TEXT}})
        assert r.status_code == 400, "%s: %d %r" % (what, r.status_code, r.text[:200])
        assert_problem(r, 400, field="agentId")
    r = pm_api(w, "POST", json={"trigger": FAR, "payload": {"text": TEXT}})
    assert_problem(r, 400, field="agentId")
    assert pm_api(w, "GET").json()["totalCount"] == 0
    assert pm_api(stranger, "GET").json()["totalCount"] == 0


TRIGGER_ERRORS = [
    ("soon", "trigger"),
    ([], "trigger"),
    ({}, "trigger.type"),
    ({"type": "sometimes"}, "trigger.type"),
    ({"type": 3}, "trigger.type"),
    ({"type": "schedule", "at": "tomorrow"}, "trigger.at"),
    ({"type": "schedule", "at": "2030-13-40T25:00:00Z"}, "trigger.at"),
    ({"type": "schedule", "at": "2030-01-01T00:00:00"}, "trigger.at"),  # no offset
    ({"type": "schedule", "at": 1893456000}, "trigger.at"),
    ({"type": "schedule", "cron": "* * * *"}, "trigger.cron"),
    ({"type": "schedule", "cron": "* * * * * *"}, "trigger.cron"),
    ({"type": "schedule", "cron": "60 * * * *"}, "trigger.cron"),
    ({"type": "schedule", "cron": "* 24 * * *"}, "trigger.cron"),
    ({"type": "schedule", "cron": "* * 0 * *"}, "trigger.cron"),
    ({"type": "schedule", "cron": "* * * 13 *"}, "trigger.cron"),
    ({"type": "schedule", "cron": "* * * * 8"}, "trigger.cron"),
    ({"type": "schedule", "cron": "*/0 * * * *"}, "trigger.cron"),
    ({"type": "schedule", "cron": "every minute"}, "trigger.cron"),
    ({"type": "schedule", "cron": 5}, "trigger.cron"),
    ({"type": "schedule", "cron": "* * * * *", "timezone": "Mars/Olympus"}, "trigger.timezone"),
    ({"type": "schedule", "cron": "* * * * *", "timezone": "../../../etc/passwd"},
     "trigger.timezone"),
    ({"type": "schedule", "cron": "* * * * *", "timezone": 3}, "trigger.timezone"),
    ({"type": "event", "event": "dialog_exploded", "delaySeconds": 5}, "trigger.event"),
    ({"type": "event", "event": "message_sent", "delaySeconds": 5}, "trigger.event"),
    ({"type": "event", "delaySeconds": 5}, "trigger.event"),
    ({"type": "event", "event": "dialog_created", "delaySeconds": -1}, "trigger.delaySeconds"),
    ({"type": "event", "event": "dialog_created", "delaySeconds": 86401},
     "trigger.delaySeconds"),
    ({"type": "event", "event": "dialog_created", "delaySeconds": "5"}, "trigger.delaySeconds"),
    ({"type": "event", "event": "dialog_created", "delaySeconds": 5, "unlessReplied": "yes"},
     "trigger.unlessReplied"),
    ({"type": "idle", "afterSeconds": 0}, "trigger.afterSeconds"),
    ({"type": "idle", "afterSeconds": 2592001}, "trigger.afterSeconds"),
    ({"type": "idle"}, "trigger.afterSeconds"),
    ({"type": "idle", "afterSeconds": 60, "maxFires": 0}, "trigger.maxFires"),
    ({"type": "idle", "afterSeconds": 60, "maxFires": 1001}, "trigger.maxFires"),
    ({"type": "idle", "afterSeconds": 60, "color": "red"}, "trigger.color"),
]


def refusals(w, cases, body_of):
    """[(case, expected field, what came back)] for the cases not answered 400 + that field."""
    wrong = []
    for value, field in cases:
        r = pm_api(w, "POST", json=body_of(value))
        try:
            assert_problem(r, 400, field=field)
        except AssertionError:
            wrong.append((value if len(repr(value)) < 120 else repr(value)[:60] + "...", field,
                          r.status_code, r.text[:200]))
    return wrong


def test_bad_trigger_is_400_naming_the_field(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    wrong = refusals(w, TRIGGER_ERRORS, lambda t: {"agentId": aid(w), "trigger": t,
                                                   "payload": {"text": TEXT}})
    assert not wrong, "%d of %d bad triggers not refused as documented:\n%s" % (
        len(wrong), len(TRIGGER_ERRORS), "\n".join(map(repr, wrong)))
    assert pm_api(w, "GET").json()["totalCount"] == 0


def test_missing_trigger_payload_or_schedule_time_is_400(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    r = pm_api(w, "POST", json={"agentId": aid(w), "payload": {"text": TEXT}})
    assert_problem(r, 400, field="trigger")
    r = pm_api(w, "POST", json={"agentId": aid(w), "trigger": FAR})
    assert_problem(r, 400, field="payload")
    r = pm_api(w, "POST", json={"agentId": aid(w), "trigger": {"type": "schedule"},
                                "payload": {"text": TEXT}})
    body = assert_problem(r, 400)
    assert body.get("field") in ("trigger", "trigger.at", "trigger.cron"), body
    assert pm_api(w, "GET").json()["totalCount"] == 0


PAYLOAD_ERRORS = [
    ("hello", "payload"),
    ({}, "payload.text"),
    ({"text": ""}, "payload.text"),
    ({"text": "   "}, "payload.text"),
    ({"text": "x" * 4097}, "payload.text"),
    ({"text": 5}, "payload.text"),
    ({"buttons": [{"title": "Yes", "payload": "yes"}]}, "payload.text"),
    ({"text": "hi", "buttons": [{"title": "", "payload": "x"}]}, "payload.buttons[0].title"),
    ({"text": "hi", "buttons": [{"title": "A", "payload": "a"}, {"payload": "b"}]},
     "payload.buttons[1].title"),
    ({"attachments": [{"name": "a.pdf"}]}, "payload.attachments[0].url"),
    ({"attachments": [{"url": "ftp://files.example/a.pdf"}]}, "payload.attachments[0].url"),
    ({"text": "hi", "attachments": "a.png"}, "payload.attachments"),
    ({"text": "hi", "color": "red"}, "payload.color"),
]


def test_bad_payload_is_400_naming_the_field(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    wrong = refusals(w, PAYLOAD_ERRORS, lambda p: {"agentId": aid(w), "trigger": FAR,
                                                   "payload": p})
    assert not wrong, "%d of %d bad payloads not refused as documented:\n%s" % (
        len(wrong), len(PAYLOAD_ERRORS), "\n".join(map(repr, wrong)))
    assert pm_api(w, "GET").json()["totalCount"] == 0


def test_bad_body_is_400(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    for raw in ('{"agentId": ', "{'agentId': 1}", '{"agentId": "x",}', "\xff\xfe"):
        r = w.api("POST", BASE, data=raw.encode("latin-1"),
                  headers={"Content-Type": "application/json"})
        assert_problem(r, 400, no_field=True)
    for raw in ("[]", '"text"', "42", "null"):
        r = w.api("POST", BASE, data=raw, headers={"Content-Type": "application/json"})
        assert_problem(r, 400)
    good = {"agentId": aid(w), "trigger": FAR, "payload": {"text": TEXT}}
    assert_problem(pm_api(w, "POST", json=dict(good, enabled="yes")), 400, field="enabled")
    assert_problem(pm_api(w, "POST", json=dict(good, color="red")), 400, field="color")
    assert pm_api(w, "GET").json()["totalCount"] == 0


def test_routes_need_a_valid_api_key(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    _, _, cid = opened(w)
    pm = create_pm(w, FAR)
    fake_key = "sbk_%s_%s" % (w.tenant["id"], "A" * 43)
    routes = [("GET", BASE, None), ("POST", BASE, {"agentId": aid(w), "trigger": FAR,
                                                   "payload": {"text": TEXT}}),
              ("GET", BASE + "/" + pm["id"], None),
              ("PUT", BASE + "/" + pm["id"], {"enabled": False}),
              ("DELETE", BASE + "/" + pm["id"], None),
              ("POST", BASE + "/%s/fire" % pm["id"], {"conversationId": cid})]
    for method, path, body in routes:
        for key in (None, "nope", fake_key):
            h = {"X-API-Key": key} if key is not None else {}
            r = sb.request(method, path, json=body, headers=h)
            assert_problem(r, 401)
            assert (r.headers.get("WWW-Authenticate") or "").split(" ")[0] == "ApiKey", \
                (method, path, r.headers)
    assert get_pm(w, pm["id"]) == pm
    assert pm_api(w, "GET").json()["totalCount"] == 1
    assert pm_msgs(w, cid) == []


# =============================================================================================
# the manual firing


def test_manual_fire_adds_one_message_per_call(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    sub = fakes(ok())
    Tenant(sb, key=w.key).subscribe({sub.url: ["message_sent"]})
    s, m0, cid = opened(w)
    pm = create_pm(w, FAR, {"text": "Hand-picked offer"})
    r = fire(w, pm["id"], cid)
    assert r.status_code == 201, r.text
    m = r.json()
    assert_proactive(m, w, pm, cid, "Hand-picked offer")
    assert m["seq"] > m0["seq"], (m0, m)
    assert [x["id"] for x in conv_msgs(w, cid)] == [m0["id"], m["id"]]
    assert [x["id"] for x in s.items()] == [m0["id"], m["id"]], "the widget shows it"
    r2 = fire(w, pm["id"], cid)
    assert r2.status_code == 201, r2.text
    assert r2.json()["id"] != m["id"], "each call sends once"
    assert len(pm_msgs(w, cid, pm["id"])) == 2
    d = get_pm(w, pm["id"])
    assert d["fireCount"] == 2, d
    assert d["lastFiredAt"] is not None and abs(ts(d["lastFiredAt"]) - ts(r2.json()["createdAt"])) < 1, d
    evs = sub.wait_for(2, 5)
    data = sorted((e.json()["data"] for e in evs), key=lambda x: x["seq"])
    assert [x.get("proactive_message_id") for x in data] == [pm["id"]] * 2, data
    assert [x["seq"] for x in data] == [m["seq"], r2.json()["seq"]], data


def test_manual_fire_refusals(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    w2 = shop(sb, fakes, tenant=w.tenant)  # another agent of the tenant
    stranger = shop(sb, fakes, "pm-stranger")
    _, _, cid = opened(w)
    _, _, cid2 = opened(w2)
    _, _, foreign = opened(stranger)
    pm = create_pm(w, FAR)
    assert_problem(fire(w, pm["id"], foreign), 404)
    assert_problem(fire(w, pm["id"], str(uuid.uuid4())), 404)
    assert_problem(fire(w, pm["id"], cid2), 409)
    assert_problem(pm_api(w, "POST", "/%s/fire" % pm["id"], json={}), 400,
                   field="conversationId")
    assert_problem(pm_api(w, "POST", "/%s/fire" % pm["id"], json={"conversationId": 7}), 400,
                   field="conversationId")
    r = w.api("POST", BASE + "/%s/fire" % pm["id"], data='{"conversationId": ',
              headers={"Content-Type": "application/json"})
    assert_problem(r, 400, no_field=True)
    put_pm(w, pm["id"], {"enabled": False})
    assert_problem(fire(w, pm["id"], cid), 409)
    for c, ww in ((cid, w), (cid2, w2), (foreign, stranger)):
        assert pm_msgs(ww, c) == [], "a refused firing sent nothing"
    assert get_pm(w, pm["id"])["fireCount"] == 0
    put_pm(w, pm["id"], {"enabled": True})
    assert fire(w, pm["id"], cid).status_code == 201
    assert len(pm_msgs(w, cid)) == 1


# =============================================================================================
# event triggers


@pytest.mark.slow
@pytest.mark.parametrize("event", ["dialog_created", "message_received"])
def test_event_trigger_fires_once_across_three_instances(server, fakes, sse, event):  # noqa: F811
    a, b, c = (server(*SERVER_FLAGS, name=n) for n in ("a", "b", "c"))
    w = shop(a, fakes)
    sub = fakes(ok())
    Tenant(a, key=w.key).subscribe({sub.url: ["message_sent"]})
    pm = create_pm(w, {"type": "event", "event": event, "delaySeconds": 2},
                   {"text": "Need a hand?"}, srv=b)
    s = w.session(srv=c)
    st = sse(c, s)
    m0 = s.say("hello", srv=a)
    cid = m0["conversationId"]
    m, = wait_pm(w, cid, 1, 6, srv=b)
    assert_proactive(m, w, pm, cid, "Need a hand?")
    dt = ts(m["createdAt"]) - ts(m0["createdAt"])
    assert 1.8 <= dt <= 3.5, "fired %.2f s after the customer's message (delaySeconds 2)" % dt
    # the widget's stream (instance c) and its GET messages see it
    got = [e["msg"] for e in st.messages(2, 5)]
    assert [x["id"] for x in got] == [m0["id"], m["id"]], got
    assert got[1].get("proactiveMessageId") == pm["id"] and got[1]["text"] == "Need a hand?", got
    assert [x["id"] for x in s.items(srv=a)] == [m0["id"], m["id"]]
    # a subscriber gets message_sent for it
    ev = sub.wait_for(1, 5)[0].json()
    assert ev["event_type"] == "message_sent", ev
    d = ev["data"]
    assert d.get("proactive_message_id") == pm["id"], d
    assert d["conversation_id"] == cid and d["seq"] == m["seq"], d
    # once, whatever instance ran it
    time.sleep(2.5)
    assert len(pm_msgs(w, cid, srv=c)) == 1, conv_msgs(w, cid)
    assert st.quiet(0.2) == []
    assert sub.count() == 1, sub.snapshot()
    dto = get_pm(w, pm["id"], srv=c)
    assert dto["fireCount"] == 1, dto
    assert dto["lastFiredAt"] and abs(ts(dto["lastFiredAt"]) - ts(m["createdAt"])) < 1, dto
    assert dto["nextFireAt"] is None, dto


@pytest.mark.slow
def test_unless_replied_is_cancelled_by_an_outbound_message(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    w2 = shop(sb, fakes, tenant=w.tenant)
    pm = create_pm(w, {"type": "event", "event": "message_received", "delaySeconds": 2,
                       "unlessReplied": True}, {"text": "Still there?"})
    pm2 = create_pm(w2, {"type": "event", "event": "message_received", "delaySeconds": 1,
                         "unlessReplied": False}, {"text": "Sent anyway"})
    _, m1, c1 = opened(w, "answered soon")          # an operator answers: cancelled
    s2, m2, c2 = opened(w, "first of two")          # two quick messages, no answer: one
    _, m3, c3 = opened(w, "nobody answers")         # no answer: fires
    _, m4, c4 = opened(w2, "answered, no unless")   # unlessReplied false: fires anyway
    time.sleep(0.3)
    s2.say("second of two")
    operator_reply(w, c1)
    operator_reply(w2, c4)
    got3, = wait_pm(w, c3, 1, 5)
    assert_proactive(got3, w, pm, c3, "Still there?")
    assert 1.8 <= ts(got3["createdAt"]) - ts(m3["createdAt"]) <= 3.5, (m3, got3)
    got2 = wait_pm(w, c2, 1, 3)
    assert 1.8 <= ts(got2[0]["createdAt"]) - ts(m2["createdAt"]) <= 3.5, (m2, got2)
    got4 = wait_pm(w2, c4, 1, 3)
    assert_proactive(got4[0], w2, pm2, c4, "Sent anyway")
    sleep_until(ts(m1["createdAt"]) + 4.0)
    assert pm_msgs(w, c1) == [], "an operator's reply cancels an unlessReplied firing"
    assert len(pm_msgs(w, c2)) == 1, \
        "two quick customer messages get one reminder, not two: %r" % pm_msgs(w, c2)
    assert len(pm_msgs(w, c3)) == 1 and len(pm_msgs(w2, c4)) == 1
    assert get_pm(w, pm["id"])["fireCount"] == 2


@pytest.mark.slow
def test_event_firings_follow_the_conversation_state(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)                     # dialog_created, 2 s
    w2 = shop(sb, fakes, tenant=w.tenant)   # dialog_closed 2 s, dialog_reopened 1 s
    created = create_pm(w, {"type": "event", "event": "dialog_created", "delaySeconds": 2},
                        {"text": "welcome"})
    closed = create_pm(w2, {"type": "event", "event": "dialog_closed", "delaySeconds": 2},
                       {"text": "how did we do?"})
    reopened = create_pm(w2, {"type": "event", "event": "dialog_reopened", "delaySeconds": 1},
                         {"text": "welcome back"})
    _, m_open, c_open = opened(w, "stays open")
    _, _, c_shut = opened(w, "closed at once")
    close(w, c_shut)                                  # dialog_created firing dropped
    _, _, c_bye = opened(w2, "bye")
    close(w2, c_bye)                                  # dialog_closed fires
    s_back, _, c_back = opened(w2, "bye for now")
    close(w2, c_back)
    time.sleep(0.3)
    s_back.say("actually, one more thing")            # reopened: closed firing dropped
    t_end = time.time() + 3.5
    got, = wait_pm(w, c_open, 1, 4)
    assert_proactive(got, w, created, c_open, "welcome")
    bye, = wait_pm(w2, c_bye, 1, 4)
    assert_proactive(bye, w2, closed, c_bye, "how did we do?")
    back, = wait_pm(w2, c_back, 1, 4)
    assert_proactive(back, w2, reopened, c_back, "welcome back")
    sleep_until(t_end)
    assert pm_msgs(w, c_shut) == [], "a dialog_created firing is dropped when it is closed"
    assert len(pm_msgs(w2, c_bye)) == 1, pm_msgs(w2, c_bye)
    assert [x["proactiveMessageId"] for x in pm_msgs(w2, c_back)] == [reopened["id"]], \
        "a dialog_closed firing is dropped when the conversation was reopened"
    assert len(pm_msgs(w, c_open)) == 1


# =============================================================================================
# idle triggers


@pytest.mark.slow
def test_idle_trigger_fires_once_per_quiet_period(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    w2 = shop(sb, fakes, tenant=w.tenant)
    pm = create_pm(w, {"type": "idle", "afterSeconds": 2}, {"text": "still there?"})
    once = create_pm(w2, {"type": "idle", "afterSeconds": 1, "maxFires": 1},
                     {"text": "only once"})
    s1, m1, c1 = opened(w, "quiet afterwards")
    _, m2, c2 = opened(w, "an operator answers")
    s3, m3, c3 = opened(w2, "bounded")
    time.sleep(1.2)
    op = operator_reply(w, c2)                     # pushes the firing in c2 back
    f1, = wait_pm(w, c1, 1, 3)
    assert_proactive(f1, w, pm, c1, "still there?")
    assert 1.8 <= ts(f1["createdAt"]) - ts(m1["createdAt"]) <= 3.5, (m1, f1)
    assert pm_msgs(w, c2) == [], "the operator's message pushed the idle firing back"
    f2, = wait_pm(w, c2, 1, 3)
    assert 1.8 <= ts(f2["createdAt"]) - ts(op["createdAt"]) <= 3.5, (op, f2)
    f3, = wait_pm(w2, c3, 1, 2)
    assert_proactive(f3, w2, once, c3, "only once")
    # not again on later passes of the same quiet period
    sleep_until(ts(f1["createdAt"]) + 3.0)
    assert len(pm_msgs(w, c1)) == 1, pm_msgs(w, c1)
    assert len(pm_msgs(w, c2)) == 1, pm_msgs(w, c2)
    # a customer message starts a new period: it fires again; maxFires 1 does not
    m1b = s1.say("back again")
    s3.say("back again too")
    got = wait_pm(w, c1, 2, 4)
    assert 1.8 <= ts(got[1]["createdAt"]) - ts(m1b["createdAt"]) <= 3.5, (m1b, got)
    time.sleep(0.5)
    assert len(pm_msgs(w, c1)) == 2
    assert len(pm_msgs(w2, c3)) == 1, "maxFires 1: one firing per conversation"
    assert get_pm(w2, once["id"])["fireCount"] == 1
    assert get_pm(w, pm["id"])["fireCount"] == 3


# =============================================================================================
# schedules


@pytest.mark.slow
def test_schedule_at_fires_into_the_agents_open_conversations(sb, fakes):  # noqa: F811
    wa = shop(sb, fakes)
    wb = shop(sb, fakes, tenant=wa.tenant)
    _, _, a1 = opened(wa, "one")
    _, _, a3 = opened(wa, "closed one")
    close(wa, a3)
    _, _, b1 = opened(wb, "other agent")
    at = time.time() + 2.0
    pm = create_pm(wa, {"type": "schedule", "at": rfc3339_ms(at)}, {"text": "Sale starts now"})
    assert pm["nextFireAt"] is not None and abs(ts(pm["nextFireAt"]) - at) < 0.002, pm
    assert abs(ts(pm["trigger"]["at"]) - at) < 0.002, pm
    _, _, a2 = opened(wa, "two, opened after the schedule was made")
    # a time in the past fires at once (into the other agent's conversation only)
    past = create_pm(wb, {"type": "schedule", "at": rfc3339_ms(time.time() - 60)},
                     {"text": "late news"})
    pb, = wait_pm(wb, b1, 1, 1.5)
    assert_proactive(pb, wb, past, b1, "late news")
    if time.time() < at - 0.2:
        assert pm_msgs(wa, a1) == [] and pm_msgs(wa, a2) == [], "not before `at`"
    got1, = wait_pm(wa, a1, 1, at - time.time() + 2.5)
    got2, = wait_pm(wa, a2, 1, 1.0)
    for m, cid in ((got1, a1), (got2, a2)):
        assert_proactive(m, wa, pm, cid, "Sale starts now")
        assert at - 0.05 <= ts(m["createdAt"]) <= at + 1.5, (at, m)
    _, _, a4 = opened(wa, "opened after it fired")
    d = get_pm(wa, pm["id"])
    assert d["nextFireAt"] is None, "a one-time schedule that fired has no nextFireAt: %r" % d
    assert d["fireCount"] == 2, "two open conversations of the agent: %r" % d
    assert d["lastFiredAt"] and ts(d["lastFiredAt"]) >= at - 0.05, d
    dp = get_pm(wb, past["id"])
    assert dp["fireCount"] == 1 and dp["nextFireAt"] is None, dp
    time.sleep(1.5)
    assert len(pm_msgs(wa, a1)) == 1 and len(pm_msgs(wa, a2)) == 1
    assert pm_msgs(wa, a3) == [], "a closed conversation gets nothing"
    assert pm_msgs(wa, a4) == [], "only conversations open when it fired"
    assert len(pm_msgs(wb, b1)) == 1, "another agent's conversation gets nothing of it"


CRONS = [
    ("* * * * *", "Europe/Istanbul"),
    ("*/20 * * * *", "UTC"),
    ("0 9 * * *", "Europe/Istanbul"),
    ("30 23 * * *", "Asia/Tokyo"),
    ("0 0 13 * FRI", "Asia/Tokyo"),        # both day fields restricted: either matches
    ("15 8 * JAN-DEC MON-FRI", "Asia/Kolkata"),
    ("30 12 * * 0", "UTC"),
    ("30 12 * * 7", "UTC"),
    ("5,35 */6 * * *", "Asia/Kathmandu"),  # +05:45
    ("45 10 * * *", None),                 # timezone defaults to UTC
]


def test_cron_schedule_shows_its_next_fire_at(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    wrong = []
    for cron, tz in CRONS:
        trigger = {"type": "schedule", "cron": cron}
        if tz:
            trigger["timezone"] = tz
        t0 = time.time()
        r = pm_api(w, "POST", json={"agentId": aid(w), "trigger": trigger,
                                    "payload": {"text": TEXT}})
        t1 = time.time()
        if r.status_code != 201:
            wrong.append((cron, tz, r.status_code, r.text[:200]))
            continue
        d = assert_dto(r.json())
        want = sorted({cron_next(cron, tz or "UTC", t) for t in (t0 - 0.5, t1 + 0.5)})
        nf = d["nextFireAt"]
        if nf is None or ts(nf) not in want:
            wrong.append((cron, tz, "nextFireAt %s, expected %s" % (
                nf, " or ".join(rfc3339_ms(x) for x in want))))
        if d["trigger"].get("cron") != cron or (tz and d["trigger"].get("timezone") != tz):
            wrong.append((cron, tz, "trigger stored as %r" % d["trigger"]))
        if d["fireCount"] != 0 or d["lastFiredAt"] is not None:
            wrong.append((cron, tz, d))
        if get_pm(w, d["id"])["nextFireAt"] != nf:
            wrong.append((cron, tz, "GET shows another nextFireAt"))
    assert not wrong, "cron schedules:\n%s" % "\n".join(map(repr, wrong))


def test_put_recomputes_next_fire_at(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    d = create_pm(w, {"type": "schedule", "cron": "* * * * *", "timezone": "Europe/Istanbul"})
    now = time.time()
    assert ts(d["nextFireAt"]) in (cron_next("* * * * *", "UTC", now - 1),
                                   cron_next("* * * * *", "UTC", now)), d
    d2 = put_pm(w, d["id"], {"trigger": {"type": "schedule", "cron": "0 9 * * *",
                                         "timezone": "Europe/Istanbul"}})
    assert ts(d2["nextFireAt"]) == cron_next("0 9 * * *", "Europe/Istanbul", time.time()), d2
    assert datetime.datetime.fromtimestamp(ts(d2["nextFireAt"]), datetime.timezone.utc).hour == 6
    at = time.time() + 3600
    d3 = put_pm(w, d["id"], {"trigger": {"type": "schedule", "at": rfc3339_ms(at)}})
    assert abs(ts(d3["nextFireAt"]) - at) < 0.002, d3
    d4 = put_pm(w, d["id"], {"trigger": FAR})
    assert d4["nextFireAt"] is None, "an event trigger has no nextFireAt: %r" % d4
    assert get_pm(w, d["id"]) == d4


@pytest.mark.slow
def test_cron_schedule_fires_at_the_minute(sb, fakes):  # noqa: F811
    """Waits for the next whole minute (up to 60 s)."""
    w = shop(sb, fakes)
    _, _, cid = opened(w)
    _, _, shut = opened(w, "closed")
    close(w, shut)
    pm = create_pm(w, {"type": "schedule", "cron": "* * * * *", "timezone": "Asia/Tokyo"},
                   {"text": "every minute"})
    nf = ts(pm["nextFireAt"])
    assert nf % 60 == 0 and time.time() - 1 < nf <= time.time() + 60, pm
    m, = wait_pm(w, cid, 1, nf - time.time() + 3)
    assert_proactive(m, w, pm, cid, "every minute")
    assert nf - 0.05 <= ts(m["createdAt"]) <= nf + 2, (pm["nextFireAt"], m)
    time.sleep(1.0)
    d = get_pm(w, pm["id"])
    assert d["fireCount"] == 1 and ts(d["lastFiredAt"]) >= nf - 0.05, d
    assert ts(d["nextFireAt"]) == nf + 60, "the next occurrence: %r" % d
    assert len(pm_msgs(w, cid)) == 1 and pm_msgs(w, shut) == []


# =============================================================================================
# PUT and DELETE acting on pending firings


def test_put_moves_a_pending_firing(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    pm = create_pm(w, {"type": "event", "event": "message_received", "delaySeconds": 30})
    _, m0, cid = opened(w)
    time.sleep(0.2)
    d = put_pm(w, pm["id"], {"trigger": {"type": "event", "event": "message_received",
                                         "delaySeconds": 1}})
    assert d["trigger"]["delaySeconds"] == 1, d
    m, = wait_pm(w, cid, 1, 3)
    assert_proactive(m, w, pm, cid)
    dt = ts(m["createdAt"]) - ts(m0["createdAt"])
    assert 0.8 <= dt <= 2.5, "fired %.2f s after the event; the new delay is 1 s" % dt
    time.sleep(0.5)
    assert len(pm_msgs(w, cid)) == 1


def test_disabling_stops_a_pending_firing(sb, fakes):  # noqa: F811
    w = shop(sb, fakes)
    pm = create_pm(w, {"type": "event", "event": "message_received", "delaySeconds": 1})
    _, m0, cid = opened(w)
    d = put_pm(w, pm["id"], {"enabled": False})
    assert d["enabled"] is False
    sleep_until(ts(m0["createdAt"]) + 2.5)
    assert pm_msgs(w, cid) == [], "a disabled message does not fire"
    assert get_pm(w, pm["id"])["fireCount"] == 0


def test_delete_stops_a_pending_firing(sb, fakes, redis):  # noqa: F811
    w = shop(sb, fakes)
    pm = create_pm(w, {"type": "event", "event": "message_received", "delaySeconds": 1})
    _, m0, cid = opened(w)

    def due_members():
        return [as_text(x) for x in redis.cmd("ZRANGE", "sb:pm:due", "0", "-1") or []
                if pm["id"] in as_text(x)]

    assert due_members(), "the firing is pending in sb:pm:due"
    r = pm_api(w, "DELETE", "/" + pm["id"])
    assert r.status_code == 204, r.text
    assert due_members() == [], "DELETE removes its pending firings"
    key = "sb:{t:%s}:pm:%s:due" % (w.tenant["id"], pm["id"])
    assert redis.cmd("EXISTS", key) == 0, key
    sleep_until(ts(m0["createdAt"]) + 2.5)
    assert pm_msgs(w, cid) == [], "nothing of a deleted message fires"


# =============================================================================================
# crash safety


@pytest.mark.slow
def test_kill_9_when_firings_fall_due_sends_each_exactly_once(server, fakes):  # noqa: F811
    flags = SERVER_FLAGS + ("--trusted-proxies", "127.0.0.1")
    a = server(*flags, name="a", expect_exit=None)
    b = server(*flags, name="b")
    w = shop(a, fakes, "pm-crash")
    n = 200
    ev = create_pm(w, {"type": "event", "event": "dialog_created", "delaySeconds": 3},
                   {"text": "event firing"})

    def open_one(i):
        srv = a if i % 2 == 0 else b
        r = w.start({}, srv=srv, **{"X-Forwarded-For": "10.77.%d.%d" % (i // 200, i % 200 + 1)})
        assert r.status_code == 201, "session/start %d: %d %r" % (i, r.status_code, r.text)
        return WidgetSession(w, r.json()).say("hi %d" % i, srv=srv)["conversationId"]

    t_start = time.time()
    with ThreadPoolExecutor(8) as ex:
        cids = list(ex.map(open_one, range(n)))
    assert len(set(cids)) == n
    at = time.time() + 1.0
    sch = create_pm(w, {"type": "schedule", "at": rfc3339_ms(at)}, {"text": "schedule firing"},
                    srv=b)
    sleep_until(at)  # the schedule's fan-out, and the event firings of the first conversations
    os.kill(a.pid, signal.SIGKILL)
    a.wait_exit(5)
    killed = time.time()
    c = server(*flags, name="c")

    def counts(cid):
        ms = pm_msgs(w, cid, srv=b)
        return (sum(1 for m in ms if m.get("proactiveMessageId") == ev["id"]),
                sum(1 for m in ms if m.get("proactiveMessageId") == sch["id"]), len(ms))

    def all_counts():
        with ThreadPoolExecutor(8) as ex:
            return dict(zip(cids, ex.map(counts, cids)))

    deadline = time.monotonic() + 30
    while True:
        got = all_counts()
        missing = [k for k, v in got.items() if v[0] < 1 or v[1] < 1]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    assert not missing, "%d of %d conversations lack a firing (event, schedule): %r" % (
        len(missing), n, [got[k] for k in missing[:10]])
    time.sleep(1.5)
    got = all_counts()
    wrong = {k: v for k, v in got.items() if v != (1, 1, 2)}
    assert not wrong, "each conversation gets exactly one of each firing: %d wrong, e.g. %r" % (
        len(wrong), list(wrong.values())[:10])
    assert get_pm(w, ev["id"], srv=c)["fireCount"] == n
    assert get_pm(w, sch["id"], srv=c)["fireCount"] == n
    print("conversations opened in %.1f s; all fired within %.1f s of the kill" % (
        at - 1.0 - t_start, time.time() - killed))


# =============================================================================================
# a platform conversation


def test_proactive_message_goes_out_through_the_platform_send_api(server, fakes):  # noqa: F811
    from test_channels_outbound import TG_PREFIX, TG_TOKEN, Env, assert_sent
    from test_channels_inbound import send_tg, tg_update
    env = Env(server, fakes)
    env.b.telegram()
    pm = env.tenant.call("POST", BASE, json={
        "agentId": env.b.agent_id, "payload": {"text": "Welcome to the shop"},
        "trigger": {"type": "event", "event": "dialog_created", "delaySeconds": 0}})
    assert pm.status_code == 201, pm.text
    pm = pm.json()
    assert send_tg(env.srv, tg_update(text="selam", chat_id=4242001)).status_code == 200
    rec = env.plat.wait_for(1, 8)[0]
    assert rec.path == "%s/bot%s/sendMessage" % (TG_PREFIX, TG_TOKEN), rec.path
    assert rec.json() == {"chat_id": "4242001", "text": "Welcome to the shop"}, rec.body
    conv = env.wait_conv()
    m, = env.wait_out(conv["id"])
    assert_sent(m, "321")
    assert m.get("proactiveMessageId") == pm["id"], m
    assert m["sender"] == {"type": "agent", "id": env.b.agent_id}, m
    d = env.events.wait_for(1, 8)[0].json()["data"]
    assert d.get("proactive_message_id") == pm["id"] and d["seq"] == m["seq"], d
    assert d.get("platform_message_id") == "321", d
    assert env.plat.stays_at(1, 1.0), env.plat.snapshot()
