"""Widget routes (SPEC 4): config with the CORS origin whitelist and preflight, anonymous
session start with its exact per-IP limit, and the client IP rules for X-Forwarded-For."""

import gzip
import os

import pytest
import requests

from sbhelpers import REPO, as_text

pytestmark = pytest.mark.server

SHOP = "https://shop.example.com"


def make_widget(srv, origins=(SHOP,), otp=False, agent_name="Ayse Bot"):
    t = srv.create_tenant("widget-tenant")
    base = "/api/admin/tenants/%s" % t["id"]
    agent = srv.admin("POST", base + "/agents", json={"name": agent_name,
                                                     "webhookUrl": "https://bot.example.com/h"})
    assert agent.status_code == 201, agent.text
    body = {"name": "Shop chat", "greeting": "Merhaba!", "allowedOrigins": list(origins),
            "agentId": agent.json()["id"], "theme": {"color": "#123456"}}
    if otp:
        body.update(otpRequired=True, smsWebhookUrl="https://sms.example.com/send")
    w = srv.admin("POST", base + "/widgets", json=body)
    assert w.status_code == 201, w.text
    return w.json()["id"]


def test_config_for_an_allowed_origin(server):
    srv = server()
    wid = make_widget(srv)
    r = srv.get("/api/widget/%s/config" % wid, headers={"Origin": SHOP})
    assert r.status_code == 200, r.text
    assert r.json() == {"widgetId": wid, "name": "Shop chat", "greeting": "Merhaba!",
                        "theme": {"color": "#123456"}, "otpRequired": False, "agentName": "Ayse Bot"}
    assert r.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in r.headers["Vary"]


def test_config_refuses_other_origins_without_cors_headers(server):
    srv = server()
    wid = make_widget(srv)
    for origin in ("https://evil.example.com", "http://shop.example.com", SHOP + ":8443",
                   "https://shop.example.com.evil.net"):
        r = srv.get("/api/widget/%s/config" % wid, headers={"Origin": origin})
        assert r.status_code == 403, (origin, r.text)
        assert "Access-Control-Allow-Origin" not in r.headers, origin
    # no Origin and no Referer: a whitelist exists, so nothing matches
    assert srv.get("/api/widget/%s/config" % wid).status_code == 403


def test_referer_stands_in_for_origin(server):
    srv = server()
    wid = make_widget(srv)
    r = srv.get("/api/widget/%s/config" % wid, headers={"Referer": SHOP + "/checkout?x=1"})
    assert r.status_code == 200, r.text
    r = srv.get("/api/widget/%s/config" % wid, headers={"Referer": "https://evil.example.com/" + SHOP})
    assert r.status_code == 403


def test_empty_whitelist_allows_every_origin(server):
    srv = server()
    wid = make_widget(srv, origins=())
    r = srv.get("/api/widget/%s/config" % wid, headers={"Origin": "https://anyone.example"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://anyone.example"


def test_preflight(server):
    srv = server()
    wid = make_widget(srv)
    for path in ("/config", "/session/start"):
        r = srv.request("OPTIONS", "/api/widget/%s%s" % (wid, path),
                        headers={"Origin": SHOP, "Access-Control-Request-Method": "POST",
                                 "Access-Control-Request-Headers": "content-type"})
        assert r.status_code == 204, (path, r.text)
        assert r.headers["Access-Control-Allow-Origin"] == SHOP
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "content-type" in r.headers["Access-Control-Allow-Headers"].lower()
        r = srv.request("OPTIONS", "/api/widget/%s%s" % (wid, path),
                        headers={"Origin": "https://evil.example.com"})
        assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers


def test_unknown_or_malformed_widget_is_404(server):
    srv = server()
    for wid in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        assert srv.get("/api/widget/%s/config" % wid, headers={"Origin": SHOP}).status_code == 404
        r = srv.request("POST", "/api/widget/%s/session/start" % wid, headers={"Origin": SHOP})
        assert r.status_code == 404


def test_anonymous_session_start(server, redis):
    srv = server()
    wid = make_widget(srv)
    r = srv.request("POST", "/api/widget/%s/session/start" % wid, headers={"Origin": SHOP}, json={})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["mode"] == "anonymous" and s["verified"] is False
    assert len(s["token"]) == 43 and s["expiresAt"].endswith("Z")
    assert r.headers["Access-Control-Allow-Origin"] == SHOP
    assert r.headers["RateLimit-Limit"] == "60" and r.headers["RateLimit-Remaining"] == "59"
    # stored only as its SHA-256, with a 2 h TTL
    import hashlib
    h = hashlib.sha256(s["token"].encode()).hexdigest()
    keys = [k.decode() if isinstance(k, bytes) else k for k in redis.cmd("KEYS", "sb:*:session:*")]
    assert len(keys) == 1 and keys[0].endswith(":session:" + h), keys
    ttl = int(redis.cmd("PTTL", keys[0]))
    assert 7_190_000 < ttl <= 7_200_000, ttl
    dump = repr(redis.dump_all())
    assert s["token"] not in dump, "the session token is stored in clear"


def test_session_start_refuses_a_foreign_origin_and_bad_bodies(server):
    srv = server()
    wid = make_widget(srv)
    url = "/api/widget/%s/session/start" % wid
    r = srv.request("POST", url, headers={"Origin": "https://evil.example.com"})
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers
    for body, field in (('{"mode":"vip"}', "mode"), ('{"mode":5}', "mode")):
        r = srv.request("POST", url, data=body, headers={"Origin": SHOP})
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    r = srv.request("POST", url, data="{bad json", headers={"Origin": SHOP})
    assert r.status_code == 400


def test_widget_changes_reach_the_public_routes(server):
    """The public routes read the widget's gate (tenant, OTP flag, agent, origins) from the widget
    index; an update of the widget rewrites it."""
    srv = server()
    wid = make_widget(srv)
    url = "/api/widget/%s/session/start" % wid
    other = "https://other.example.com"
    assert srv.request("POST", url, headers={"Origin": other}).status_code == 403
    tenants = srv.admin("GET", "/api/admin/tenants").json()
    tid = [t for t in tenants["items"] if t["name"] == "widget-tenant"][0]["id"]
    path = "/api/admin/tenants/%s/widgets/%s" % (tid, wid)
    w = srv.admin("GET", path).json()
    w["allowedOrigins"] = [SHOP, other]
    r = srv.admin("PUT", path, json=w)
    assert r.status_code == 200, r.text
    assert srv.request("POST", url, headers={"Origin": other}).status_code == 201
    w["otpRequired"], w["smsWebhookUrl"] = True, "https://sms.example.com/send"
    assert srv.admin("PUT", path, json=w).status_code == 200
    r = srv.request("POST", url, headers={"Origin": other})
    assert r.status_code == 400 and r.json()["field"] == "mode", r.text
    assert srv.admin("DELETE", path).status_code == 204
    assert srv.request("POST", url, headers={"Origin": other}).status_code == 404


def test_widget_index_entry_without_gate_still_works(server, redis):
    """An index entry holding only the tenant id (as written before the gate) is completed from
    the widget record: origins and the session still work."""
    srv = server()
    wid = make_widget(srv)
    gate = redis.cmd("HGET", "sb:idx:widgets", wid)
    gate = gate.decode() if isinstance(gate, bytes) else gate
    assert gate.split("|")[1:] == ["0", gate.split("|")[2], SHOP], gate
    redis.cmd("HSET", "sb:idx:widgets", wid, gate.split("|")[0])
    url = "/api/widget/%s/session/start" % wid
    assert srv.request("POST", url, headers={"Origin": "https://evil.example.com"}).status_code == 403
    r = srv.request("POST", url, headers={"Origin": SHOP})
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    r = srv.request("POST", "/api/widget/%s/messages" % wid, json={"text": "hello"},
                    headers={"Origin": SHOP, "Authorization": "Bearer " + tok})
    assert r.status_code == 201, r.text


def test_otp_widget_refuses_anonymous_sessions(server):
    srv = server()
    wid = make_widget(srv, otp=True)
    r = srv.request("POST", "/api/widget/%s/session/start" % wid, headers={"Origin": SHOP})
    assert r.status_code == 400 and r.json()["field"] == "mode", r.text


def _start(srv, wid, **headers):
    headers.setdefault("Origin", SHOP)
    return srv.request("POST", "/api/widget/%s/session/start" % wid, headers=headers)


def test_exactly_60_per_minute_per_ip_across_two_instances(server, redis):
    a = server("--trusted-proxies", "127.0.0.1")
    b = server("--trusted-proxies", "127.0.0.1")
    wid = make_widget(a)
    codes = [(_start(a if i % 2 else b, wid, **{"X-Forwarded-For": "203.0.113.7"})).status_code
             for i in range(80)]
    assert codes.count(201) == 60 and codes.count(429) == 20, codes
    r = _start(a, wid, **{"X-Forwarded-For": "203.0.113.7"})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit-Remaining"] == "0"
    assert r.headers["Access-Control-Allow-Origin"] == SHOP  # the browser can read the 429
    # the refusals left nothing behind: the key holds the 60 admission times, newest first
    times = [int(t) for t in as_text(redis.cmd("GET", "sb:rate:session-start:203.0.113.7")).split(" ")]
    assert len(times) == 60 and times == sorted(times, reverse=True), times
    assert 0 < redis.cmd("PTTL", "sb:rate:session-start:203.0.113.7") <= 60000
    # another client behind the same proxy has its own budget
    assert _start(b, wid, **{"X-Forwarded-For": "203.0.113.8"}).status_code == 201


def test_a_rate_limit_list_of_an_older_version_keeps_counting(server, redis):
    """A limiter key an older switchboard wrote (a list of admission times, newest first) is
    taken over in place: its times still count, its TTL is kept on a refusal."""
    srv = server("--trusted-proxies", "127.0.0.1")
    wid = make_widget(srv)
    sec, usec = (int(x) for x in redis.cmd("TIME"))
    now = sec * 1000 + usec // 1000
    # 58 admissions inside the window and one that has left it
    busy = "sb:rate:session-start:203.0.113.20"
    redis.cmd("RPUSH", busy, *[str(now - 500 * i) for i in range(58)] + [str(now - 61000)])
    redis.cmd("PEXPIRE", busy, 45000)
    xff = {"X-Forwarded-For": "203.0.113.20"}
    r1, r2, r3 = (_start(srv, wid, **xff) for _ in range(3))
    assert (r1.status_code, r2.status_code, r3.status_code) == (201, 201, 429)
    assert (r1.headers["RateLimit-Remaining"], r2.headers["RateLimit-Remaining"]) == ("1", "0")
    times = [int(t) for t in as_text(redis.cmd("GET", busy)).split(" ")]
    assert len(times) == 60 and times == sorted(times, reverse=True) and min(times) > now - 60000, times
    assert 45000 < redis.cmd("PTTL", busy) <= 60000
    # a full list: the first request is refused, and the times stay with the list's TTL
    full = "sb:rate:session-start:203.0.113.21"
    redis.cmd("RPUSH", full, *[str(now - 100 * i) for i in range(60)])
    redis.cmd("PEXPIRE", full, 30000)
    r = _start(srv, wid, **{"X-Forwarded-For": "203.0.113.21"})
    assert r.status_code == 429 and r.headers["RateLimit-Remaining"] == "0"
    assert len(as_text(redis.cmd("GET", full)).split(" ")) == 60
    assert 0 < redis.cmd("PTTL", full) <= 30000


def test_forwarded_for_is_ignored_from_an_untrusted_peer(server):
    srv = server()  # no --trusted-proxies
    wid = make_widget(srv)
    codes = [_start(srv, wid, **{"X-Forwarded-For": "198.51.100.%d" % i}).status_code
             for i in range(61)]
    assert codes.count(201) == 60 and codes[-1] == 429, "a spoofed XFF must not buy a new budget"


def test_rightmost_untrusted_forwarded_entry_is_the_client(server):
    srv = server("--trusted-proxies", "127.0.0.1,10.0.0.0/8")
    wid = make_widget(srv)
    # client-supplied junk on the left, then the real client, then our own proxy hop
    for i in range(60):
        r = _start(srv, wid, **{"X-Forwarded-For": "1.2.3.%d, 192.0.2.50, 10.1.1.1" % i})
        assert r.status_code == 201, (i, r.text)
    r = _start(srv, wid, **{"X-Forwarded-For": "9.9.9.9, 192.0.2.50, 10.1.1.1"})
    assert r.status_code == 429, "the client is 192.0.2.50 whatever it puts in front"


def _widget_js(srv, **headers):
    """GET /widget.js as sent (requests would otherwise undo the gzip)."""
    r = requests.get(srv.url + "/widget.js", headers=headers, stream=True, timeout=10)
    body = r.raw.read(decode_content=False)
    return r, body


def test_widget_script_is_sent_gzipped_to_clients_that_accept_it(app):
    with open(os.path.join(REPO, "web", "widget.js"), "rb") as f:
        plain = f.read()
    r, body = _widget_js(app, **{"Accept-Encoding": "gzip, deflate, br"})
    assert r.status_code == 200 and r.headers.get("Content-Encoding") == "gzip", r.headers
    assert gzip.decompress(body) == plain
    assert len(body) < len(plain) / 2, (len(body), len(plain))
    assert int(r.headers["Content-Length"]) == len(body)
    assert "Accept-Encoding" in r.headers.get("Vary", ""), r.headers
    gz_etag = r.headers["ETag"]

    for ae in ("identity", "gzip;q=0", "gzip;q=0, *;q=1", "deflate, br", "*;q=0"):
        r, body = _widget_js(app, **{"Accept-Encoding": ae})
        assert "Content-Encoding" not in r.headers and body == plain, ae
        assert "Accept-Encoding" in r.headers.get("Vary", ""), ae
        assert r.headers["ETag"] != gz_etag, "each representation has its own ETag"
    plain_etag = r.headers["ETag"]
    r, body = _widget_js(app, **{"Accept-Encoding": "br, *;q=0.5"})
    assert r.headers.get("Content-Encoding") == "gzip" and gzip.decompress(body) == plain

    # revalidation matches the representation asked for
    r, body = _widget_js(app, **{"Accept-Encoding": "gzip", "If-None-Match": gz_etag})
    assert r.status_code == 304 and body == b""
    r, body = _widget_js(app, **{"Accept-Encoding": "identity", "If-None-Match": gz_etag})
    assert r.status_code == 200 and body == plain
    r, body = _widget_js(app, **{"Accept-Encoding": "identity", "If-None-Match": plain_etag})
    assert r.status_code == 304
