"""Outcomes, retries, timeouts, endpoint disabling, dead letters and the SSRF guard
(docs/deliveries.md "Outcomes and retries", "Operations", "Flags").

The servers run with --retry-schedule 0,1,1,1: an attempt at once, then three retries about a
second apart (+-20 % jitter), then the dead-letter queue.
"""

import email.utils
import time

import pytest

from fakes import (SERVER_FLAGS, Reply, Tenant, always, assert_signed, endpoint_id,  # noqa: F401
                   fail_then_ok, fakes, hang, ok, redirect, retry_after, status, utc_rfc3339)


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


def _one_event_to(t, fake, event="dialog_created", data=None, extra=None):
    subs = {fake.url: [event]}
    subs.update(extra or {})
    t.subscribe(subs)
    res = t.emit(event, data if data is not None else {"index": 0})
    ids = [d["id"] for d in res["deliveries"] if d["url"] == fake.url]
    assert len(ids) == 1, res
    return ids[0]


def _status_of(a):
    s = a.get("status")
    return int(s) if isinstance(s, (int, float, str)) and str(s).isdigit() else s


# ---- retry of a 5xx -----------------------------------------------------------------------

def test_500_then_200_retries_with_same_id_and_body(sb, fakes):
    t = Tenant(sb, "retry-co")
    secret = t.secret()["secret"]
    f = fakes(fail_then_ok(1, 500))
    did = _one_event_to(t, f, data={"index": 1, "text": "tekrar"})
    first, second = f.wait_for(2, 10)[:2]
    assert first.header("webhook-id") == second.header("webhook-id") == did, \
        "the same webhook-id on every attempt of a delivery"
    assert first.body == second.body, "a retry sends the same body"
    assert int(second.header("webhook-timestamp")) >= int(first.header("webhook-timestamp"))
    for rec in (first, second):
        assert_signed(rec, secret)  # signed with the attempt's own timestamp
    gap = second.t - first.t
    assert 0.6 <= gap <= 3.0, "retry after ~1 s (schedule 0,1,...), got %.2f s" % gap
    assert f.stays_at(2, 1.5), "a delivery that succeeded is not sent again"

    att = t.wait_attempts(f.url, 2)
    assert len(att) == 2, att
    newest, oldest = att[0], att[1]
    assert _status_of(newest) == 200 and _status_of(oldest) == 500, \
        "attempts newest first: %r" % att
    for a in att:
        assert a["deliveryId"] == did and a["event"] == "dialog_created", a
        assert isinstance(a["latencyMs"], (int, float)) and a["latencyMs"] >= 0, a
        assert a.get("at"), a
    assert newest["attempt"] == 2 and oldest["attempt"] == 1, att
    assert "boom" in (oldest.get("response") or ""), "the response excerpt is kept: %r" % oldest

    ep = t.wait_endpoint(f.url, lambda e: e.get("lastStatus") == 200)
    assert ep is not None, t.endpoints()
    assert ep["id"] == endpoint_id(f.url)
    assert ep["enabled"] is True
    assert ep["lastStatus"] == 200
    assert ep["recent"]["success"] >= 1 and ep["recent"]["failure"] >= 1, ep
    assert ep.get("failingSince") in (None, ""), "a success ends the failing streak: %r" % ep
    assert ep.get("lastAttemptAt"), ep


def test_endpoints_list_is_an_array(sb, fakes):
    t = Tenant(sb, "ep-shape")
    f = fakes()
    _one_event_to(t, f)
    f.wait_for(1, 10)
    r = t.call("GET", "/api/webhooks/endpoints")
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, list), "contract: GET endpoints answers a JSON array: %r" % body
    e = [x for x in body if x["url"] == f.url][0]
    for k in ("id", "url", "enabled", "failingSince", "lastStatus", "lastAttemptAt", "recent"):
        assert k in e, "endpoint lacks %r: %r" % (k, e)


def test_unknown_endpoint_id_is_404(sb):
    t = Tenant(sb, "ep-404")
    r = t.call("GET", "/api/webhooks/endpoints/0123456789abcdef/attempts")
    assert r.status_code == 404, r.text
    r = t.call("POST", "/api/webhooks/endpoints/0123456789abcdef/enable")
    assert r.status_code == 404, r.text


def test_endpoints_of_other_tenants_are_invisible(sb, fakes):
    a, b = Tenant(sb, "ep-a"), Tenant(sb, "ep-b")
    f = fakes()
    _one_event_to(a, f)
    f.wait_for(1, 10)
    a.wait_attempts(f.url, 1)
    assert b.endpoint(f.url) is None
    r = b.call("GET", "/api/webhooks/endpoints/%s/attempts" % endpoint_id(f.url))
    assert r.status_code == 404 or r.json() in ([], {"items": []}) or \
        not r.json().get("items"), "tenant B must not read tenant A's attempt log: %r" % r.text


# ---- 429 and Retry-After ------------------------------------------------------------------

@pytest.mark.parametrize("seconds", [1, 2])
def test_429_honours_retry_after(sb, fakes, seconds):
    t = Tenant(sb, "ratelimited")
    f = fakes(retry_after(seconds))
    _one_event_to(t, f)
    first, second = f.wait_for(2, seconds + 6)[:2]
    gap = second.t - first.t
    assert gap >= seconds - 0.05, \
        "Retry-After: %d must delay the retry at least that long, got %.2f s" % (seconds, gap)
    assert gap <= seconds + 3, "retry too late: %.2f s" % gap
    assert first.header("webhook-id") == second.header("webhook-id")
    att = t.wait_attempts(f.url, 2)
    assert sorted(_status_of(a) for a in att) == [200, 429], att


def test_503_retry_after_http_date(sb, fakes):
    def b(rec, fake):
        if rec.nth == 0:
            when = email.utils.formatdate(time.time() + 3, usegmt=True)
            return Reply(503, "maintenance", {"Retry-After": when})
        return Reply(200, "ok")
    t = Tenant(sb, "date-retry")
    f = fakes(b)
    _one_event_to(t, f)
    first, second = f.wait_for(2, 10)[:2]
    gap = second.t - first.t
    # the date has a 1 s resolution: now + 3 s, truncated, is at least 2 s away
    assert gap >= 1.9, "Retry-After as an HTTP date is honoured, got %.2f s" % gap
    assert gap <= 6, gap


# ---- timeouts -----------------------------------------------------------------------------

def test_hanging_endpoint_is_cut_at_3s_and_retried(sb, fakes):
    t = Tenant(sb, "hang-co")
    f = fakes(hang(5.0, times=1))
    _one_event_to(t, f)
    first, second = f.wait_for(2, 10)[:2]
    gap = second.t - first.t
    # cut at the default 3 s limit, retried ~1 s later, well before the 5 s answer would come
    assert 2.7 <= gap <= 5.0, "attempt deadline ~3 s then retry, got %.2f s" % gap
    assert first.header("webhook-id") == second.header("webhook-id")
    att = t.wait_attempts(f.url, 2)
    oldest = att[-1]
    err = (oldest.get("error") or "").lower()
    assert "timeout" in err or "timed out" in err, \
        "the attempt log says it timed out: %r" % oldest
    assert oldest.get("latencyMs") is None or 2500 <= oldest["latencyMs"] <= 4500, oldest
    assert _status_of(att[0]) == 200


def test_subscription_timeout_ms_allows_slower_endpoints(sb, fakes):
    t = Tenant(sb, "slow-ok")
    f = fakes(hang(4.0, times=1))
    t.subscribe({f.url: {"events": ["dialog_created"], "timeoutMs": 6000}})
    t.emit("dialog_created", {"index": 0})
    f.wait_for(1, 5)
    att = t.wait_attempts(f.url, 1, timeout=8)
    assert att and _status_of(att[0]) == 200, \
        "timeoutMs 6000 lets a 4 s answer succeed: %r" % att
    assert f.stays_at(1, 1.5), "no retry after a success"


def test_a_hanging_endpoint_does_not_hold_up_others(sb, fakes):
    t = Tenant(sb, "starve-co")
    stuck, witness = fakes(hang(5.0)), fakes()
    t.subscribe({stuck.url: ["message_received"], witness.url: ["dialog_created"]})
    for i in range(10):
        t.emit("message_received", {"index": i})
    time.sleep(0.3)
    for i in range(3):
        sent = time.monotonic()
        t.emit("dialog_created", {"index": i})
        rec = witness.wait_for(i + 1, 5)[i]
        assert rec.t - sent < 1.0, \
            "a fresh event for a healthy endpoint waited %.2f s behind a hanging one" % (
                rec.t - sent)


# ---- final failures -----------------------------------------------------------------------

def test_404_is_final_and_dead_lettered(sb, fakes):
    t = Tenant(sb, "final-co")
    f = fakes(status(404, "no such hook"))
    did = _one_event_to(t, f, data={"index": 4})
    f.wait_for(1, 10)
    assert f.stays_at(1, 2.5), "a 404 is not retried"
    dls = t.wait_dead_letters(1, pred=lambda d: d["url"] == f.url)
    assert len(dls) == 1, t.dead_letters()
    d = dls[0]
    for k in ("id", "endpointId", "url", "event", "error", "attempts", "failedAt"):
        assert k in d, "dead letter lacks %r: %r" % (k, d)
    assert d["endpointId"] == endpoint_id(f.url)
    assert d["event"] == "dialog_created"
    assert d["attempts"] == 1
    assert "404" in str(d["error"]), d
    att = t.attempts(f.url)
    assert len(att) == 1 and _status_of(att[0]) == 404 and att[0]["deliveryId"] == did, att
    ep = t.endpoint(f.url)
    assert ep["enabled"] is True, "a 404 does not disable the endpoint"


def test_retries_exhausted_end_in_the_dead_letter_queue(sb, fakes):
    t = Tenant(sb, "exhausted")
    f = fakes(always(503))
    _one_event_to(t, f)
    got = f.wait_for(4, 10)
    assert len({r.header("webhook-id") for r in got}) == 1
    assert f.stays_at(4, 2.0), "schedule 0,1,1,1 means exactly 4 attempts"
    dls = t.wait_dead_letters(1, pred=lambda d: d["url"] == f.url)
    assert len(dls) == 1 and dls[0]["attempts"] == 4, dls


def test_410_disables_the_endpoint_and_enable_restores_it(sb, fakes):
    t = Tenant(sb, "gone-co")
    gone, witness = fakes(status(410)), fakes()
    t.subscribe({gone.url: ["dialog_created"], witness.url: ["dialog_created"]})
    t.emit("dialog_created", {"index": 1})
    gone.wait_for(1, 10)
    ep = t.wait_endpoint(gone.url, lambda e: e["enabled"] is False)
    assert ep is not None and ep["enabled"] is False, "410 disables the endpoint: %r" % ep
    assert gone.stays_at(1, 1.5), "410 is final: no retry"

    t.emit("dialog_created", {"index": 2})
    witness.wait_for(2, 10)
    assert gone.stays_at(1, 1.5), "a disabled endpoint gets nothing"
    dls = t.wait_dead_letters(2, pred=lambda d: d["url"] == gone.url, timeout=5)
    assert any("endpoint disabled" in str(d["error"]) for d in dls), \
        "the event for the disabled endpoint is dead-lettered as 'endpoint disabled': %r" % dls

    r = t.call("POST", "/api/webhooks/endpoints/%s/enable" % endpoint_id(gone.url))
    assert r.status_code == 200, r.text
    enabled = r.json()
    assert enabled["enabled"] is True, enabled
    assert t.endpoint(gone.url)["enabled"] is True
    gone.behaviour = ok()
    t.emit("dialog_created", {"index": 3})
    got = gone.wait_for(2, 10)
    assert got[-1].json()["data"]["index"] == 3, "after enable, new events arrive again"
    listed = t.endpoint(gone.url)
    for k in ("url", "failingSince", "lastStatus", "recent"):
        assert k in enabled, "enable answers the endpoint (%r missing): %r (listed as %r)" % (
            k, enabled, listed)


def test_manual_disable(sb, fakes):
    t = Tenant(sb, "manual-off")
    f, witness = fakes(), fakes()
    t.subscribe({f.url: ["dialog_created"], witness.url: ["dialog_created"]})
    t.emit("dialog_created", {"index": 1})
    f.wait_for(1, 10)
    r = t.call("POST", "/api/webhooks/endpoints/%s/disable" % endpoint_id(f.url))
    assert r.status_code == 200 and r.json()["enabled"] is False, r.text
    t.emit("dialog_created", {"index": 2})
    witness.wait_for(2, 10)
    assert f.stays_at(1, 1.0)


def test_3xx_is_a_failure_and_not_followed(sb, fakes):
    t = Tenant(sb, "redirect-co")
    target = fakes()
    f = fakes(redirect(target.url, 302))
    _one_event_to(t, f)
    got = f.wait_for(2, 10)
    assert got[0].header("webhook-id") == got[1].header("webhook-id"), \
        "a 3xx is retried like a 5xx"
    assert target.count() == 0, "redirects are never followed"
    att = t.wait_attempts(f.url, 2)
    assert _status_of(att[-1]) == 302, att


def test_network_error_is_retried(sb, fakes):
    """Connection refused (nobody listens), then the subscriber comes back: the retry of the
    same delivery gets through."""
    t = Tenant(sb, "refused-co")
    gone = fakes(ok())
    url, port = gone.url, gone.port
    gone.close()  # nobody listens on the port any more
    t.subscribe({url: ["dialog_created"]})
    did = t.emit("dialog_created", {"index": 0})["deliveries"][0]["id"]
    att = t.wait_attempts(url, 1)
    assert att and att[0].get("error"), "a refused connection is logged with an error: %r" % att
    assert att[0].get("status") in (None, 0), att
    back = fakes(ok(), port=port)
    rec = back.wait_for(1, 10)[0]
    assert rec.header("webhook-id") == did


# ---- dead letters: replay and recover ------------------------------------------------------

def test_dead_letter_replay_keeps_the_webhook_id(sb, fakes):
    t = Tenant(sb, "replay-co")
    f = fakes(status(400, "bad"))
    did = _one_event_to(t, f, data={"index": 9})
    f.wait_for(1, 10)
    dls = t.wait_dead_letters(1, pred=lambda d: d["url"] == f.url)
    assert dls, t.dead_letters()
    page = t.dead_letters()
    for k in ("items", "pageNumber", "totalPages", "totalCount"):
        assert k in page, "dead letters use the pagination envelope: %r" % page
    f.behaviour = ok()
    r = t.call("POST", "/api/webhooks/dead-letters/%s/replay" % dls[0]["id"])
    assert r.status_code == 202, r.text
    again = f.wait_for(2, 10)[1]
    assert again.header("webhook-id") == did, "a replay is the same delivery for the subscriber"
    assert again.body == f.requests[0].body
    assert_signed(again, t.secret()["secret"])


def test_replay_unknown_dead_letter_is_404(sb):
    t = Tenant(sb, "replay-404")
    r = t.call("POST", "/api/webhooks/dead-letters/does-not-exist/replay")
    assert r.status_code == 404, r.text


def test_recover_a_time_range(sb, fakes):
    t = Tenant(sb, "recover-co")
    f = fakes(status(422, "nope"))
    t.subscribe({f.url: ["message_received"]})
    since = utc_rfc3339(time.time() - 60)
    ids = set()
    for i in range(3):
        res = t.emit("message_received", {"index": i})
        ids.add(res["deliveries"][0]["id"])
    f.wait_for(3, 10)
    dls = t.wait_dead_letters(3, pred=lambda d: d["url"] == f.url)
    assert len(dls) == 3, dls
    until = utc_rfc3339(time.time() + 60)
    ep = endpoint_id(f.url)

    r = t.call("POST", "/api/webhooks/endpoints/%s/recover" % ep,
               json={"since": utc_rfc3339(time.time() - 7200),
                     "until": utc_rfc3339(time.time() - 3600)})
    assert r.status_code == 202 and r.json() == {"replayed": 0}, r.text
    assert f.stays_at(3, 0.5)

    f.behaviour = ok()
    r = t.call("POST", "/api/webhooks/endpoints/%s/recover" % ep,
               json={"since": since, "until": until})
    assert r.status_code == 202, r.text
    assert r.json() == {"replayed": 3}, r.text
    got = f.wait_for(6, 10)
    assert {x.header("webhook-id") for x in got[3:]} == ids, "recovered with their own ids"


def test_recover_validation(sb):
    t = Tenant(sb, "recover-bad")
    r = t.call("POST", "/api/webhooks/endpoints/%s/recover" % endpoint_id("https://x.example/"),
               json={"since": "yesterday", "until": "now"})
    assert r.status_code in (400, 404), r.text


# ---- disable after continuous failure ------------------------------------------------------

def test_disable_after_continuous_failure_emits_endpoint_disabled(server, fakes):
    sb = server("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1,1,1,1,1",
                "--disable-after-ms", "2000")
    t = Tenant(sb, "flaky-co")

    def behaviour(rec, fake):
        # event 1 is told to come back in 4 s, so it waits in the retry queue while event 0
        # keeps failing and gets the endpoint disabled
        if rec.json()["data"]["index"] == 1:
            return Reply(429, "later", {"Retry-After": "4"})
        return Reply(500, "boom")

    bad, watcher = fakes(behaviour), fakes()
    t.subscribe({bad.url: ["dialog_created"], watcher.url: ["endpoint_disabled"]})
    t.emit("dialog_created", {"index": 0})
    t.emit("dialog_created", {"index": 1})
    ep = t.wait_endpoint(bad.url, lambda e: e["enabled"] is False, timeout=12)
    assert ep is not None and ep["enabled"] is False, \
        "failing for > 2 s without a success disables the endpoint: %r" % ep
    n = bad.count()
    assert n >= 3, "it failed more than once before being disabled"
    rec = watcher.wait_for(1, 10)[0]
    body = rec.json()
    assert body["event_type"] == "endpoint_disabled", body
    assert bad.url in rec.body.decode() or endpoint_id(bad.url) in rec.body.decode(), \
        "the endpoint_disabled event says which endpoint: %r" % body
    assert_signed(rec, t.secret()["secret"])

    # the delivery still queued when the endpoint was disabled is dead-lettered as
    # "endpoint disabled", without another attempt
    dls = t.wait_dead_letters(2, pred=lambda d: d["url"] == bad.url, timeout=8)
    assert len(dls) == 2, dls
    assert any("endpoint disabled" in str(d["error"]) for d in dls), \
        "the queued delivery of a disabled endpoint is dead-lettered as 'endpoint " \
        "disabled': %r" % dls
    assert bad.count(lambda r: r.json()["data"]["index"] == 1) == 1, \
        "no attempt after the endpoint was disabled"
    assert watcher.count() == 1, "one endpoint_disabled event"
    n = bad.count()
    t.emit("dialog_created", {"index": 2})
    assert bad.stays_at(n, 1.5), "a disabled endpoint gets nothing"


# ---- SSRF guard ---------------------------------------------------------------------------

def test_private_targets_refused_without_the_flag(server, fakes):
    sb = server("--retry-schedule", "0,1,1,1")
    t = Tenant(sb, "ssrf-co")
    f = fakes()
    urls = [f.url, f.url_for("/hook", host="localhost")]
    t.subscribe({u: ["dialog_created"] for u in urls})  # accepted: checked at send time
    t.emit("dialog_created", {"index": 0})
    for u in urls:
        att = t.wait_attempts(u, 1)
        assert att, "a refused send is still an attempt in the log (%s)" % u
        err = (att[0].get("error") or "").lower()
        assert any(w in err for w in ("127.0.0.1", "private", "not allowed", "refused",
                                      "forbidden", "ssrf", "loopback", "blocked")), \
            "the attempt error says why: %r" % att[0]
    time.sleep(1.5)
    assert f.count() == 0 and f.connections == 0, "the subscriber must not even be connected to"
