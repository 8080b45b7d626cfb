"""OTP widget sessions (SPEC 4): the code goes out through the tenant's SMS webhook as a signed
delivery; verification is limited to 5 attempts per 15 minutes per session and per IP, the
right code included; codes are single-use; a verified session lives 8 hours."""

import hashlib

import pytest

from fakes import assert_signed, fakes, ok  # noqa: F401

pytestmark = pytest.mark.server

SHOP = "https://shop.example.com"
PHONE = "+905551234567"


def otp_widget(srv, sms_url):
    t = srv.create_tenant("otp-tenant")
    r = srv.admin("POST", "/api/admin/tenants/%s/widgets" % t["id"],
                  json={"name": "OTP chat", "allowedOrigins": [SHOP], "otpRequired": True,
                        "smsWebhookUrl": sms_url})
    assert r.status_code == 201, r.text
    return t, r.json()["id"]


def start(srv, wid, body=None, **headers):
    headers.setdefault("Origin", SHOP)
    return srv.request("POST", "/api/widget/%s/session/start" % wid,
                       json=body if body is not None else {"mode": "otp", "phone": PHONE},
                       headers=headers)


def verify(srv, wid, sid, code, **headers):
    headers.setdefault("Origin", SHOP)
    return srv.request("POST", "/api/widget/%s/session/otp-verify" % wid,
                       json={"sessionId": sid, "code": code}, headers=headers)


@pytest.fixture
def otp(server, fakes):  # noqa: F811
    sms = fakes(ok())
    srv = server("--allow-private-targets", "127.0.0.0/8", "--trusted-proxies", "127.0.0.1")
    t, wid = otp_widget(srv, sms.url)
    return srv, t, wid, sms


def sms_code(sms, n):
    rec = sms.wait_for(n, 10)[n - 1]
    body = rec.json()
    assert body["to"] == PHONE and body["code"] in body["message"]
    assert len(body["code"]) == 6 and body["code"].isdigit()
    return body, rec


def test_code_is_sent_and_verifies_once(otp, redis):
    srv, t, wid, sms = otp
    r = start(srv, wid)
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["mode"] == "otp" and s["verified"] is False
    body, rec = sms_code(sms, 1)
    assert body["sessionId"] == s["sessionId"] and body["widgetId"] == wid
    # the SMS is a signed delivery like any other
    secret = srv.tenant_api(t["apiKey"], "/api/webhooks/secret").json()["secret"]
    assert_signed(rec, secret)
    # the session holds the code only as a hash
    dump = redis.dump_all()
    sess_keys = [k for k in dump if b":session:" in (k if isinstance(k, bytes) else k.encode())]
    assert len(sess_keys) == 1
    assert body["code"] not in repr(dump[sess_keys[0]]), "the code is stored in clear"

    r = verify(srv, wid, s["sessionId"], body["code"])
    assert r.status_code == 200, r.text
    assert r.json()["verified"] is True and r.json()["sessionId"] == s["sessionId"]
    assert r.headers["Access-Control-Allow-Origin"] == SHOP
    # 8 h from verification
    h = hashlib.sha256(s["token"].encode()).hexdigest()
    key = [k for k in redis.cmd("KEYS", "sb:*:session:" + h)][0]
    assert 8 * 3600 * 1000 - 10_000 < int(redis.cmd("PTTL", key)) <= 8 * 3600 * 1000
    # single use
    r = verify(srv, wid, s["sessionId"], body["code"])
    assert r.status_code == 401, r.text


def test_wrong_codes_count_down_then_lock_even_the_right_code(otp):
    srv, t, wid, sms = otp
    s = start(srv, wid).json()
    body, _ = sms_code(sms, 1)
    wrong = "000000" if body["code"] != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        r = verify(srv, wid, s["sessionId"], wrong)
        assert r.status_code == 401, r.text
        assert r.json()["attemptsLeft"] == left, r.text
    r = verify(srv, wid, s["sessionId"], body["code"])
    assert r.status_code == 429, "locked for the rest of the window, right code or not: " + r.text
    assert int(r.headers["Retry-After"]) > 0


def test_per_ip_limit_spans_sessions(otp):
    srv, t, wid, sms = otp
    ip = {"X-Forwarded-For": "203.0.113.9"}
    sessions = [start(srv, wid, **ip).json() for _ in range(2)]
    codes = []
    for i in range(5):
        r = verify(srv, wid, sessions[i % 2]["sessionId"], "999999", **ip)
        codes.append(r.status_code)
    assert codes == [401] * 5, codes
    # a sixth attempt from that address is refused whatever the session
    assert verify(srv, wid, sessions[0]["sessionId"], "999999", **ip).status_code == 429
    # another address still may try
    assert verify(srv, wid, sessions[1]["sessionId"], "999999",
                  **{"X-Forwarded-For": "203.0.113.10"}).status_code == 401


@pytest.mark.parametrize("body,field", [
    ({"mode": "otp"}, "phone"),
    ({"mode": "otp", "phone": "05551234567"}, "phone"),
    ({"mode": "otp", "phone": "+0123456789"}, "phone"),
    ({"mode": "otp", "phone": "+90 555 123"}, "phone"),
    ({"mode": "otp", "phone": 905551234567}, "phone"),
])
def test_bad_phone_is_400(otp, body, field):
    srv, t, wid, sms = otp
    r = start(srv, wid, body)
    assert r.status_code == 400 and r.json()["field"] == field, r.text


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", ""])
def test_code_of_wrong_shape_is_400(otp, code):
    srv, t, wid, sms = otp
    s = start(srv, wid).json()
    r = verify(srv, wid, s["sessionId"], code)
    assert r.status_code == 400 and r.json()["field"] == "code", r.text


def test_unknown_session_is_401(otp):
    srv, t, wid, sms = otp
    r = verify(srv, wid, "00000000-0000-4000-8000-000000000000", "123456")
    assert r.status_code == 401
    r = srv.request("POST", "/api/widget/%s/session/otp-verify" % wid, json={"code": "123456"},
                    headers={"Origin": SHOP})
    assert r.status_code == 400 and r.json()["field"] == "sessionId"
    assert r.headers.get("Access-Control-Allow-Origin") == SHOP
    # the same bad body from a page the widget does not allow: the whitelist answers first
    r = srv.request("POST", "/api/widget/%s/session/otp-verify" % wid, json={"code": "123456"},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers


def test_widget_without_sms_webhook_cannot_do_otp(server):
    srv = server()
    t = srv.create_tenant("no-sms")
    w = srv.admin("POST", "/api/admin/tenants/%s/widgets" % t["id"], json={"name": "plain"}).json()
    r = start(srv, w["id"], Origin="https://any.example")
    assert r.status_code == 409 and r.json()["field"] == "mode", r.text
