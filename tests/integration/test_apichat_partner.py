"""The API chat partner API (SPEC 5.6, seed 004; docs/apichat.md): partner keys on the admin
API, partner authentication, and a workspace's API chat webhook (GET / POST with the hub_*
verification call / DELETE), checked against local fake front ends."""

import hashlib
import json
import os
import re
import subprocess
import time
import urllib.parse

import pytest

from fakes import Reply, fakes, hang, status, text  # noqa: F401  (fakes is a fixture)
from sbhelpers import REPO, RawConn, assert_page, assert_problem, free_port, req

PARTNERS = "/api/admin/partners"
MISSING = "00000000-0000-4000-8000-000000000000"
MAX_BODY = 1 << 20  # --max-body default (docs/configuration.md)
EMPTY = {"status": "ok", "data": {"webhook_url": "", "webhook_verification_key": "",
                                  "webhook_status": "", "bot_url": ""}}
CODE = re.compile(r"^[A-Za-z0-9_-]{22,}$")  # >= 128 bits of base64url

with open(os.path.join(REPO, "src", "store", "lua", "apichat_lookup.lua")) as _f:
    LOOKUP_LUA = _f.read()


# ---- helpers ------------------------------------------------------------------------------

def echo(suffix=""):
    """A front end that verifies: answers the form's hub_challenge (plus suffix)."""
    def b(rec, fake):
        form = urllib.parse.parse_qs(rec.body.decode(), keep_blank_values=True)
        return Reply(200, form.get("hub_challenge", [""])[0] + suffix)
    return b


def form_of(rec):
    return urllib.parse.parse_qs(rec.body.decode(), keep_blank_values=True, strict_parsing=True)


def path(ws):
    return "/api/partner/workspace/%s/apichat-webhook" % (ws["id"] if isinstance(ws, dict) else ws)


def call(srv, key, method, ws, body=None, data=None, headers=None, **kw):
    h = {"Authorization": "Bearer %s" % key} if key is not None else {}
    h.update(headers or {})
    if body is not None:
        return srv.request(method, path(ws), json=body, headers=h, **kw)
    return srv.request(method, path(ws), data=data, headers=h, **kw)


def mk_partner(srv, tenants, name="Partner Co"):
    r = srv.admin("POST", PARTNERS, json={"name": name, "tenantIds": [t["id"] for t in tenants]})
    assert r.status_code == 201, r.text
    return r.json()


def set_hook(srv, key, ws, url, vkey="VERIFICATION_TOKEN"):
    return call(srv, key, "POST", ws, {"webhook_url": url, "webhook_verification_key": vkey})


def assert_error(r, code, field=None, contains=None):
    """The partner API's error envelope (docs/apichat.md)."""
    assert r.status_code == code, "expected %d, got %d: %r" % (code, r.status_code, r.text[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body["status"] == "error" and isinstance(body["message"], str) and body["message"], body
    assert set(body) <= {"status", "message", "field"}, body
    if field is not None:
        assert body.get("field") == field, body
    if contains is not None:
        assert contains in body["message"], body
    return body


def assert_webhook(r, url, vkey, base):
    """The seed's success body, exactly; returns the bot code."""
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    body = r.json()
    assert set(body) == {"status", "data"} and body["status"] == "ok", body
    d = body["data"]
    assert set(d) == {"webhook_url", "webhook_verification_key", "webhook_status", "bot_url"}, d
    assert d["webhook_url"] == url and d["webhook_verification_key"] == vkey, d
    assert d["webhook_status"] == "verified", d
    prefix = base + "/api/apichat/"
    assert d["bot_url"].startswith(prefix), d
    code = d["bot_url"][len(prefix):]
    assert CODE.match(code), d
    return code


def lookup(redis, code):
    return redis.cmd("EVAL", LOOKUP_LUA, "1", "sb:idx:apichat", code, "sb:{t:", "}:apichat", "}:tenant")


@pytest.fixture
def sb(server):
    return server("--allow-private-targets", "127.0.0.0/8")


@pytest.fixture
def world(sb):
    """Two tenants, a partner that reaches only the first."""
    t1, t2 = sb.create_tenant("ws-one"), sb.create_tenant("ws-two")
    p = mk_partner(sb, [t1])
    return sb, t1, t2, p


# ---- admin: partner keys ------------------------------------------------------------------

def test_partner_crud(sb, redis):
    t1, t2, t3 = (sb.create_tenant("t%d" % i) for i in range(3))
    r = sb.admin("POST", PARTNERS, json={"name": "Reseller", "tenantIds": [t2["id"], t1["id"]]})
    assert r.status_code == 201, r.text
    p = r.json()
    assert set(p) == {"id", "name", "tenantIds", "key", "createdAt", "updatedAt"}, p
    assert p["name"] == "Reseller" and p["tenantIds"] == [t2["id"], t1["id"]]
    assert re.match(r"^sbp_%s_[A-Za-z0-9_-]{43}$" % p["id"], p["key"]), p["key"]
    assert r.headers["Location"] == PARTNERS + "/" + p["id"]
    # the key is stored only as its SHA-256
    dump = redis.dump_all()
    blob = b"".join(b"".join(v) + (k if isinstance(k, bytes) else k.encode()) for k, v in dump.items())
    assert p["key"].encode() not in blob
    assert hashlib.sha256(p["key"].encode()).hexdigest().encode() in blob

    r = sb.admin("GET", PARTNERS + "/" + p["id"])
    assert r.status_code == 200, r.text
    got = r.json()
    assert "key" not in got and p["key"] not in r.text
    assert got == {k: v for k, v in p.items() if k != "key"}

    q = mk_partner(sb, [t3], name="Second")
    r = sb.admin("GET", PARTNERS)
    assert r.status_code == 200
    page = assert_page(r.json())
    assert [i["id"] for i in page["items"]] == [p["id"], q["id"]]
    assert page["totalCount"] == 2 and "key" not in page["items"][0]
    r = sb.admin("GET", PARTNERS + "?page=2&pageSize=1")
    assert [i["id"] for i in r.json()["items"]] == [q["id"]]

    # PUT replaces the name and/or the tenants
    r = sb.admin("PUT", PARTNERS + "/" + p["id"], json={"name": "Renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["tenantIds"] == [t2["id"], t1["id"]]
    r = sb.admin("PUT", PARTNERS + "/" + p["id"], json={"tenantIds": [t3["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["tenantIds"] == [t3["id"]]
    assert sb.admin("GET", PARTNERS + "/" + p["id"]).json()["tenantIds"] == [t3["id"]]
    # ... and with it what the key reaches
    assert call(sb, p["key"], "GET", t3).status_code == 200
    assert_error(call(sb, p["key"], "GET", t1), 403)

    r = sb.admin("DELETE", PARTNERS + "/" + p["id"])
    assert r.status_code == 204
    assert_problem(sb.admin("GET", PARTNERS + "/" + p["id"]), 404)
    assert_problem(sb.admin("DELETE", PARTNERS + "/" + p["id"]), 404)
    assert_problem(sb.admin("PUT", PARTNERS + "/" + p["id"], json={"name": "x"}), 404)
    assert_problem(sb.admin("GET", PARTNERS + "/not-a-uuid"), 404)
    assert [i["id"] for i in sb.admin("GET", PARTNERS).json()["items"]] == [q["id"]]
    # the key stopped at once
    assert_error(call(sb, p["key"], "GET", t3), 401)
    assert call(sb, q["key"], "GET", t3).status_code == 200


def test_partner_admin_needs_the_admin_token(sb):
    t = sb.create_tenant()
    for method, p in (("POST", PARTNERS), ("GET", PARTNERS), ("GET", PARTNERS + "/" + MISSING)):
        assert_problem(sb.admin(method, p, json={"name": "x", "tenantIds": [t["id"]]}, token=None), 401)
        assert_problem(sb.admin(method, p, json={"name": "x", "tenantIds": [t["id"]]}, token="wrong"), 401)


def test_partner_bad_bodies(sb):
    t1, t2 = sb.create_tenant("a"), sb.create_tenant("b")
    ok = [t1["id"]]
    many = [MISSING[:-4] + "%04x" % i for i in range(1001)]
    cases = [
        ({"tenantIds": ok}, "name"),
        ({"name": 5, "tenantIds": ok}, "name"),
        ({"name": "", "tenantIds": ok}, "name"),
        ({"name": "x" * 201, "tenantIds": ok}, "name"),
        ({"name": "x"}, "tenantIds"),
        ({"name": "x", "tenantIds": t1["id"]}, "tenantIds"),
        ({"name": "x", "tenantIds": None}, "tenantIds"),
        ({"name": "x", "tenantIds": []}, "tenantIds"),
        ({"name": "x", "tenantIds": many}, "tenantIds"),
        ({"name": "x", "tenantIds": [t1["id"], 7]}, "tenantIds[1]"),
        ({"name": "x", "tenantIds": [t1["id"], "not-a-uuid"]}, "tenantIds[1]"),
        ({"name": "x", "tenantIds": [t1["id"], t2["id"], t1["id"]]}, "tenantIds[2]"),
        ({"name": "x", "tenantIds": [t1["id"], t2["id"], t2["id"].upper()]}, "tenantIds[2]"),
        ({"name": "x", "tenantIds": [t1["id"], MISSING]}, "tenantIds[1]"),
        ({"name": "x", "tenantIds": ok, "key": "mine"}, "key"),
    ]
    for body, field in cases:
        assert_problem(sb.admin("POST", PARTNERS, json=body), 400, field=field)
    assert_problem(sb.admin("POST", PARTNERS, data=b"{\"name\":", headers={"Content-Type": "application/json"}),
                   400, no_field=True)
    assert_problem(sb.admin("POST", PARTNERS, json=[1]), 400)
    assert sb.admin("GET", PARTNERS).json()["totalCount"] == 0, "nothing was created"
    # 200 characters of a multi-byte script are fine; upper-case ids are the same tenants
    r = sb.admin("POST", PARTNERS, json={"name": "\u00e9" * 200, "tenantIds": [t1["id"].upper()]})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["tenantIds"] == [t1["id"]]
    # PUT: the same checks, and nothing changes on a refusal
    u = PARTNERS + "/" + p["id"]
    assert_problem(sb.admin("PUT", u, json={"tenantIds": [t2["id"], MISSING]}), 400, field="tenantIds[1]")
    assert_problem(sb.admin("PUT", u, json={"tenantIds": []}), 400, field="tenantIds")
    assert_problem(sb.admin("PUT", u, json={"name": ""}), 400, field="name")
    assert_problem(sb.admin("PUT", u, json={"nmae": "typo"}), 400, field="nmae")
    assert sb.admin("GET", u).json()["tenantIds"] == [t1["id"]]


# ---- partner authentication ---------------------------------------------------------------

def test_partner_key_scoping(world):
    sb, t1, t2, p = world
    assert call(sb, p["key"], "GET", t1).json() == EMPTY
    # upper-case workspace ids name the same tenant
    assert call(sb, p["key"], "GET", t1["id"].upper()).status_code == 200
    assert_error(call(sb, p["key"], "GET", t2), 403)
    assert_error(call(sb, p["key"], "GET", MISSING), 403)
    assert_error(call(sb, p["key"], "GET", "not-a-uuid"), 403)
    r = call(sb, None, "GET", t1)
    assert_error(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    forged = "sbp_%s_%s" % (p["id"], "A" * 43)
    for key in (forged, "garbage", t1["apiKey"], p["key"] + "x"):
        assert_error(call(sb, key, "GET", t1), 401)
    # a tenant API key is no partner key, nor the admin token
    assert_error(call(sb, "test-admin-token-0123456789", "GET", t1), 401)
    # a suspended workspace: 403, back when active again
    r = sb.admin("PUT", "/api/admin/tenants/" + t1["id"], json={"status": "suspended"})
    assert r.status_code == 200
    assert_error(call(sb, p["key"], "GET", t1), 403, contains="suspended")
    assert_error(set_hook(sb, p["key"], t1, "http://127.0.0.1:1/"), 403)
    sb.admin("PUT", "/api/admin/tenants/" + t1["id"], json={"status": "active"})
    assert call(sb, p["key"], "GET", t1).status_code == 200
    # POST and DELETE are scoped the same way
    assert_error(set_hook(sb, p["key"], t2, "http://127.0.0.1:1/"), 403)
    assert_error(call(sb, p["key"], "DELETE", t2), 403)


def test_revoked_partner_key(world):
    sb, t1, _, p = world
    assert call(sb, p["key"], "GET", t1).status_code == 200
    assert sb.admin("DELETE", PARTNERS + "/" + p["id"]).status_code == 204
    for method in ("GET", "DELETE"):
        assert_error(call(sb, p["key"], method, t1), 401)


# ---- the webhook: verification ------------------------------------------------------------

def test_verified_webhook_is_saved(world, fakes, redis):
    sb, t1, _, p = world
    fake = fakes(echo())
    r = set_hook(sb, p["key"], t1, fake.url)
    code = assert_webhook(r, fake.url, "VERIFICATION_TOKEN", sb.url)
    (rec,) = fake.wait_for(1)
    assert rec.method == "POST" and rec.path == "/hook"
    assert rec.header("Content-Type") == "application/x-www-form-urlencoded"
    form = form_of(rec)
    assert set(form) == {"hub_mode", "hub_verify_token", "hub_challenge"}, form
    assert form["hub_mode"] == ["subscribe"]
    assert form["hub_verify_token"] == ["VERIFICATION_TOKEN"]
    assert re.match(r"^[0-9a-f]{32}$", form["hub_challenge"][0]), form
    # GET shows it, on any loop
    for _ in range(4):
        assert assert_webhook(call(sb, p["key"], "GET", t1), fake.url, "VERIFICATION_TOKEN", sb.url) == code
    # the bot_url route's lookup finds it
    got = lookup(redis, code)
    assert [x.decode() for x in got] == [t1["id"], fake.url, "VERIFICATION_TOKEN", "verified", "active"]
    assert lookup(redis, code + "x") is None
    # each verification has a fresh challenge
    assert set_hook(sb, p["key"], t1, fake.url).status_code == 200
    recs = fake.wait_for(2)
    assert form_of(recs[0])["hub_challenge"] != form_of(recs[1])["hub_challenge"]


def test_verify_token_is_form_encoded(world, fakes):
    sb, t1, _, p = world
    fake = fakes(echo())
    vkey = "a b&c=d/\u00e9+%"
    assert_webhook(set_hook(sb, p["key"], t1, fake.url, vkey), fake.url, vkey, sb.url)
    assert form_of(fake.wait_for(1)[0])["hub_verify_token"] == [vkey]


@pytest.mark.parametrize("suffix", ["\n", "\r\n"])
def test_one_trailing_newline_is_accepted(world, fakes, suffix):
    sb, t1, _, p = world
    fake = fakes(echo(suffix))
    assert_webhook(set_hook(sb, p["key"], t1, fake.url), fake.url, "VERIFICATION_TOKEN", sb.url)


def test_replacing_keeps_the_code(world, fakes):
    sb, t1, _, p = world
    a, b = fakes(echo()), fakes(echo(), path="/other")
    code = assert_webhook(set_hook(sb, p["key"], t1, a.url, "k1"), a.url, "k1", sb.url)
    assert assert_webhook(set_hook(sb, p["key"], t1, b.url, "k2"), b.url, "k2", sb.url) == code
    assert assert_webhook(call(sb, p["key"], "GET", t1), b.url, "k2", sb.url) == code


def _refused_keeps_old(sb, p, t1, fakes, redis, behaviour, contains, extra=None):
    good = fakes(echo(), path="/good")
    code = assert_webhook(set_hook(sb, p["key"], t1, good.url, "old-key"), good.url, "old-key", sb.url)
    bad = fakes(behaviour, path="/bad")
    t0 = time.monotonic()
    r = set_hook(sb, p["key"], t1, bad.url, "new-key")
    took = time.monotonic() - t0
    body = assert_error(r, 422, contains=contains)
    assert body["message"].startswith("webhook verification failed: "), body
    assert bad.count() == 1
    if extra:
        extra(took)
    # nothing saved, the old webhook kept (on every loop), its code still found
    for _ in range(4):
        assert assert_webhook(call(sb, p["key"], "GET", t1), good.url, "old-key", sb.url) == code
    assert [x.decode() for x in lookup(redis, code)][:3] == [t1["id"], good.url, "old-key"]


@pytest.mark.parametrize("answer", ["wrong", "", "\n", "{challenge}\n\n", " {challenge}", "{challenge} ",
                                    "{challenge}{challenge}", "{short}"])
def test_wrong_body_is_refused(world, fakes, redis, answer):
    sb, t1, _, p = world

    def b(rec, fake):
        c = form_of(rec)["hub_challenge"][0]
        return Reply(200, answer.format(challenge=c, short=c[:-1]))
    _refused_keeps_old(sb, p, t1, fakes, redis, b, "not the hub_challenge")


@pytest.mark.parametrize("code", [500, 404, 403, 302])
def test_non_2xx_is_refused(world, fakes, redis, code):
    sb, t1, _, p = world

    def b(rec, fake):
        # the right body, with the wrong status
        return Reply(code, form_of(rec)["hub_challenge"][0], {"Location": "http://127.0.0.1:1/"})
    _refused_keeps_old(sb, p, t1, fakes, redis, b, "the URL answered %d" % code)


def test_other_2xx_with_the_challenge_is_accepted(world, fakes):
    sb, t1, _, p = world
    fake = fakes(lambda rec, f: Reply(202, form_of(rec)["hub_challenge"][0]))
    assert_webhook(set_hook(sb, p["key"], t1, fake.url), fake.url, "VERIFICATION_TOKEN", sb.url)


@pytest.mark.slow
def test_no_answer_within_3_s_is_refused(world, fakes, redis):
    sb, t1, _, p = world

    def took(t):
        assert 2.8 <= t <= 3.6, "refused after %.2f s, expected the 3 s limit" % t
    _refused_keeps_old(sb, p, t1, fakes, redis, hang(6.0), "within 3 s", took)


def test_connection_refused_and_ssrf_guard(world, fakes, redis):
    sb, t1, _, p = world
    good = fakes(echo())
    code = assert_webhook(set_hook(sb, p["key"], t1, good.url, "old"), good.url, "old", sb.url)
    closed = "http://127.0.0.1:%d/hook" % free_port()
    assert_error(set_hook(sb, p["key"], t1, closed), 422, contains="connect")
    # private, link-local and metadata addresses outside --allow-private-targets
    for url in ("http://10.255.255.1/hook", "http://169.254.169.254/latest", "http://[::1]:%d/" % good.port):
        t0 = time.monotonic()
        assert_error(set_hook(sb, p["key"], t1, url), 422, contains="not a public")
        assert time.monotonic() - t0 < 2.0
    assert_error(set_hook(sb, p["key"], t1, "http://name.invalid/hook"), 422)
    assert assert_webhook(call(sb, p["key"], "GET", t1), good.url, "old", sb.url) == code
    assert good.count() == 1


def test_ssrf_guard_without_allow_list(server, fakes):
    sb = server()  # no --allow-private-targets: loopback fakes are refused
    t = sb.create_tenant()
    p = mk_partner(sb, [t])
    fake = fakes(echo())
    assert_error(set_hook(sb, p["key"], t, fake.url), 422, contains="not a public")
    assert fake.count() == 0
    assert call(sb, p["key"], "GET", t).json() == EMPTY


# ---- the webhook: DELETE ------------------------------------------------------------------

def test_delete_webhook(world, fakes, redis):
    sb, t1, _, p = world
    fake = fakes(echo())
    code = assert_webhook(set_hook(sb, p["key"], t1, fake.url), fake.url, "VERIFICATION_TOKEN", sb.url)
    r = call(sb, p["key"], "DELETE", t1)
    assert r.status_code == 200 and r.json() == EMPTY, r.text
    for _ in range(4):
        assert call(sb, p["key"], "GET", t1).json() == EMPTY
    assert lookup(redis, code) is None
    assert redis.cmd("HGET", "sb:idx:apichat", code) is None
    # again: the same answer
    assert call(sb, p["key"], "DELETE", t1).json() == EMPTY
    # a new webhook after a DELETE gets a new bot code
    code2 = assert_webhook(set_hook(sb, p["key"], t1, fake.url), fake.url, "VERIFICATION_TOKEN", sb.url)
    assert code2 != code
    assert lookup(redis, code2)[0].decode() == t1["id"]


def test_deleted_tenant_loses_its_webhook(world, fakes, redis):
    sb, t1, t2, _ = world
    p = mk_partner(sb, [t1, t2], name="both")
    fake = fakes(echo())
    code = assert_webhook(set_hook(sb, p["key"], t1, fake.url), fake.url, "VERIFICATION_TOKEN", sb.url)
    assert sb.admin("DELETE", "/api/admin/tenants/" + t1["id"]).status_code == 204
    assert redis.cmd("HGET", "sb:idx:apichat", code) is None, "the bot code stops with the tenant"
    assert lookup(redis, code) is None
    assert_error(call(sb, p["key"], "GET", t1), 403)
    # the partner keeps its other tenant and just loses the deleted one
    assert call(sb, p["key"], "GET", t2).status_code == 200
    assert sb.admin("GET", PARTNERS + "/" + p["id"]).json()["tenantIds"] == [t2["id"]]
    listed = sb.admin("GET", PARTNERS).json()["items"]
    assert [i["tenantIds"] for i in listed if i["id"] == p["id"]] == [[t2["id"]]]


# ---- the webhook: bad bodies --------------------------------------------------------------

def test_bad_webhook_bodies(world, fakes, redis):
    sb, t1, _, p = world
    fake = fakes(echo())
    good = {"webhook_url": fake.url, "webhook_verification_key": "k"}
    cases = [
        ({"webhook_verification_key": "k"}, "webhook_url"),
        ({"webhook_url": fake.url}, "webhook_verification_key"),
        (dict(good, webhook_url=5), "webhook_url"),
        (dict(good, webhook_url=None), "webhook_url"),
        (dict(good, webhook_url="ftp://example.com/x"), "webhook_url"),
        (dict(good, webhook_url="not a url"), "webhook_url"),
        (dict(good, webhook_url="http://127.0.0.1/" + "a" * 2040), "webhook_url"),
        (dict(good, webhook_verification_key=""), "webhook_verification_key"),
        (dict(good, webhook_verification_key=12), "webhook_verification_key"),
        (dict(good, webhook_verification_key=["k"]), "webhook_verification_key"),
        (dict(good, webhook_verification_key="k" * 257), "webhook_verification_key"),
    ]
    for body, field in cases:
        assert_error(call(sb, p["key"], "POST", t1, body), 400, field=field)
    for raw in (b"{\"webhook_url\":", b"[1,2]", b"", b"\xff\xfe", b"null"):
        assert_error(call(sb, p["key"], "POST", t1, data=raw, headers={"Content-Type": "application/json"}), 400)
    assert fake.count() == 0, "no verification call for a refused body"
    assert call(sb, p["key"], "GET", t1).json() == EMPTY
    # the limits themselves are fine; other members are ignored
    url = fake.url + "?" + "a" * (2048 - len(fake.url) - 1)
    assert len(url) == 2048
    body = {"webhook_url": url, "webhook_verification_key": "\u00e9" * 256, "extra": 1}
    assert_webhook(call(sb, p["key"], "POST", t1, body), url, "\u00e9" * 256, sb.url)


def test_body_over_max_body_is_413(world, fakes):
    sb, t1, _, p = world
    fake = fakes(echo())
    base = json.dumps({"webhook_url": fake.url, "webhook_verification_key": "k", "pad": ""}).encode()
    body = json.dumps({"webhook_url": fake.url, "webhook_verification_key": "k",
                       "pad": "x" * (MAX_BODY + 1 - len(base))}).encode()
    assert len(body) == MAX_BODY + 1
    conn = RawConn(sb.port, timeout=10)
    try:
        try:
            conn.send(req("POST", path(t1), [("Authorization", "Bearer " + p["key"]),
                                             ("Content-Type", "application/json")], body=body))
        except OSError:
            pass  # the server may answer 413 and stop reading
        r = conn.read_response(timeout=10)
    finally:
        conn.close()
    assert r.status == 413, r
    assert fake.count() == 0
    assert call(sb, p["key"], "GET", t1).json() == EMPTY


# ---- bot_url's base -----------------------------------------------------------------------

def test_bot_url_follows_the_host_header(world, fakes):
    sb, t1, _, p = world
    fake = fakes(echo())
    code = assert_webhook(set_hook(sb, p["key"], t1, fake.url), fake.url, "VERIFICATION_TOKEN", sb.url)
    r = call(sb, p["key"], "GET", t1, headers={"Host": "gateway.example.com:8443"})
    assert r.json()["data"]["bot_url"] == "http://gateway.example.com:8443/api/apichat/" + code
    # a Host that is no host name falls back to the listening address
    r = call(sb, p["key"], "GET", t1, headers={"Host": "bad/host"})
    assert r.json()["data"]["bot_url"] == "%s/api/apichat/%s" % (sb.url, code)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_public_url(server, fakes, how):
    if how == "flag":
        sb = server("--allow-private-targets", "127.0.0.0/8", "--public-url", "https://bot.example.com/")
    else:
        sb = server("--allow-private-targets", "127.0.0.0/8",
                    env={"SWITCHBOARD_PUBLIC_URL": "https://bot.example.com/base"})
    base = "https://bot.example.com" + ("" if how == "flag" else "/base")
    t = sb.create_tenant()
    p = mk_partner(sb, [t])
    fake = fakes(echo())
    code = assert_webhook(set_hook(sb, p["key"], t, fake.url), fake.url, "VERIFICATION_TOKEN", base)
    r = call(sb, p["key"], "GET", t, headers={"Host": "elsewhere.example"})
    assert r.json()["data"]["bot_url"] == base + "/api/apichat/" + code


def test_public_url_must_be_http(switchboard_bin, tmp_path):
    p = subprocess.run([switchboard_bin, "--listen", "127.0.0.1:%d" % free_port(), "--redis",
                        "redis://127.0.0.1:%d" % free_port(), "--public-url", "ftp://bot.example.com"],
                       cwd=str(tmp_path), capture_output=True, timeout=10,
                       env={k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")})
    assert p.returncode == 2, p
    assert b"--public-url" in p.stderr + p.stdout


# ---- the scripts alone (a redis-server, no switchboard) -----------------------------------

def test_lookup_script_refuses_stale_entries(redis):
    tid = "11111111-1111-4111-8111-111111111111"
    redis.cmd("HSET", "sb:idx:apichat", "C1", tid)
    redis.cmd("HSET", "sb:{t:%s}:apichat" % tid, "code", "C1", "url", "http://u/", "key", "k", "status", "verified")
    redis.cmd("HSET", "sb:{t:%s}:tenant" % tid, "status", "suspended")
    assert [x.decode() for x in lookup(redis, "C1")] == [tid, "http://u/", "k", "verified", "suspended"]
    assert lookup(redis, "C2") is None
    redis.cmd("HSET", "sb:{t:%s}:apichat" % tid, "code", "C2")  # the index entry is stale now
    assert lookup(redis, "C1") is None
    redis.cmd("HSET", "sb:idx:apichat", "C2", tid)
    assert lookup(redis, "C2")[0].decode() == tid
    redis.cmd("DEL", "sb:{t:%s}:tenant" % tid)  # a deleted tenant's code finds nothing
    assert lookup(redis, "C2") is None


def test_partner_auth_script(redis):
    with open(os.path.join(REPO, "src", "store", "lua", "partner_auth.lua")) as f:
        lua = f.read()
    t1, t2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    redis.cmd("HSET", "sb:partner:P", "id", "P", "tenants", t1 + "," + t2, "t:" + t1, "1", "t:" + t2, "1")
    redis.cmd("HSET", "sb:idx:partnerkeys", "H", "P", "H2", "Q")
    redis.cmd("HSET", "sb:{t:%s}:tenant" % t1, "status", "active")

    def auth(h, ws):
        keys = ["sb:partner:P", "sb:idx:partnerkeys"] + (["sb:{t:%s}:tenant" % ws] if ws else [])
        r = redis.cmd("EVAL", lua, str(len(keys)), *keys, h, "P", ws)
        return [x.decode() if isinstance(x, bytes) else x for x in r]
    assert auth("H", t1) == ["OK", "active"]
    assert auth("H", "") == ["OK", ""]
    assert auth("nope", t1) == []
    assert auth("H2", t1) == [], "a key of another partner"
    assert auth("H", t2) == ["NOTYOURS"], "a member whose tenant record is gone"
    assert auth("H", "33333333-3333-4333-8333-333333333333") == ["NOTYOURS"]
