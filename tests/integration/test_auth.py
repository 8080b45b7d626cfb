"""Tenant API keys: issue, use, list, revoke; tenant suspension and deletion; keys are stored
only as hashes."""

import base64
import secrets

import pytest

from sbhelpers import assert_page, assert_problem

TENANTS = "/api/admin/tenants"


def secret_of(key):
    """The random part of `sbk_<tenantId>_<43 base64url chars>` (which may itself contain '_')."""
    assert key.startswith("sbk_") and len(key) > 4 + 36 + 1 + 43 - 1, key
    return key[4 + 36 + 1:]


def assert_401_apikey(r):
    assert_problem(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("ApiKey"), r.headers


def test_key_from_tenant_creation_works(app):
    t = app.create_tenant("keyed")
    r = app.tenant_api(t["apiKey"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == t["id"]
    assert body["name"] == "keyed"
    assert body["status"] == "active"
    assert body["keyId"] == t["apiKeyId"]
    assert t["apiKey"] not in r.text


def test_key_lifecycle(app):
    t = app.create_tenant("lifecycle")
    k1 = t["apiKey"]

    r = app.admin("POST", "%s/%s/api-keys" % (TENANTS, t["id"]), json={"name": "second"})
    assert r.status_code == 201, r.text
    second = r.json()
    for f in ("id", "key", "name", "createdAt"):
        assert f in second, second
    assert second["name"] == "second"
    k2 = second["key"]
    assert k2 != k1 and k2.startswith("sbk_%s_" % t["id"])

    r2 = app.tenant_api(k2)
    assert r2.status_code == 200
    assert r2.json()["id"] == t["id"]
    assert r2.json()["keyId"] == second["id"]

    r = app.admin("GET", "%s/%s/api-keys" % (TENANTS, t["id"]))
    assert r.status_code == 200
    page = assert_page(r.json())
    ids = [k["id"] for k in page["items"]]
    assert sorted(ids) == sorted([t["apiKeyId"], second["id"]]), "both keys listed"
    for item in page["items"]:
        assert "key" not in item
        for f in ("id", "name", "createdAt", "prefix"):
            assert f in item, item
    assert k1 not in r.text and k2 not in r.text, "a key list shows a full key"
    # the prefix helps tell keys apart without giving them away
    prefixes = {k["id"]: k["prefix"] for k in page["items"]}
    for kid, key in ((second["id"], k2), (t["apiKeyId"], k1)):
        p = prefixes[kid]
        assert isinstance(p, str) and p and p in key, (p, key)
        shown = len(p) - (4 + 36 + 1) if p.startswith("sbk_") else len(p)
        assert shown <= 12, "prefix reveals too much of the key: %r" % p

    # revoke the first key: it stops at once, the second keeps working
    r = app.admin("DELETE", "%s/%s/api-keys/%s" % (TENANTS, t["id"], t["apiKeyId"]))
    assert r.status_code == 204
    assert_401_apikey(app.tenant_api(k1))
    assert app.tenant_api(k2).status_code == 200
    ids = [k["id"] for k in app.admin("GET", "%s/%s/api-keys" % (TENANTS, t["id"])).json()["items"]]
    assert ids == [second["id"]]
    assert_problem(app.admin("DELETE", "%s/%s/api-keys/%s" % (TENANTS, t["id"], t["apiKeyId"])),
                   404)

    # suspend -> 403, reactivate -> 200
    r = app.admin("PUT", "%s/%s" % (TENANTS, t["id"]), json={"status": "suspended"})
    assert r.status_code == 200
    assert_problem(app.tenant_api(k2), 403)
    r = app.admin("PUT", "%s/%s" % (TENANTS, t["id"]), json={"status": "active"})
    assert r.status_code == 200
    assert app.tenant_api(k2).status_code == 200

    # delete the tenant -> its keys are gone
    assert app.admin("DELETE", "%s/%s" % (TENANTS, t["id"])).status_code == 204
    assert_401_apikey(app.tenant_api(k2))
    assert_401_apikey(app.tenant_api(k1))


def test_revoked_key_is_refused_on_a_kept_alive_connection(app):
    """'Stops at once' also holds for a client that keeps one connection open."""
    t = app.create_tenant("kept-alive")
    with app.raw() as c:
        get = ("GET /api/tenant HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n\r\n" % t["apiKey"]).encode()
        c.send(get)
        assert c.read_response().status == 200
        assert app.admin("DELETE", "%s/%s/api-keys/%s" % (
            TENANTS, t["id"], t["apiKeyId"])).status_code == 204
        c.send(get)
        assert c.read_response().status == 401


def test_key_of_other_tenant_does_not_cross(app):
    a = app.create_tenant("a")
    b = app.create_tenant("b")
    assert app.tenant_api(a["apiKey"]).json()["id"] == a["id"]
    assert app.tenant_api(b["apiKey"]).json()["id"] == b["id"]
    # a's key id cannot be revoked through b
    r = app.admin("DELETE", "%s/%s/api-keys/%s" % (TENANTS, b["id"], a["apiKeyId"]))
    assert_problem(r, 404)
    assert app.tenant_api(a["apiKey"]).status_code == 200


def _forged_keys(t):
    rnd = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    real = t["apiKey"]
    sec = secret_of(real)
    flipped = real[:-43] + ("A" if sec[0] != "A" else "B") + sec[1:]
    other_tenant = "sbk_00000000-0000-4000-8000-000000000000_" + secret_of(real)
    return {
        "garbage": "garbage",
        "empty": "",
        "random-well-formed": "sbk_%s_%s" % (t["id"], rnd),
        "secret-char-flipped": flipped,
        "other-tenant-id": other_tenant,
        "truncated": real[:-1],
        "extended": real + "A",
        "prefix-only": "sbk_%s_" % t["id"],
    }


@pytest.mark.parametrize("kind", ["garbage", "empty", "random-well-formed", "secret-char-flipped",
                                  "other-tenant-id", "truncated", "extended", "prefix-only"])
def test_bad_keys_are_401(app, kind):
    t = app.create_tenant("target")
    key = _forged_keys(t)[kind]
    assert_401_apikey(app.tenant_api(key))


def test_missing_key_header_is_401(app):
    assert_401_apikey(app.tenant_api(None))


def test_admin_token_is_not_an_api_key(app, admin_token):
    app.create_tenant("x")
    assert_401_apikey(app.tenant_api(admin_token))
    r = app.request("GET", "/api/tenant", headers={"Authorization": "Bearer " + admin_token})
    assert r.status_code == 401


def test_api_keys_for_unknown_tenant_is_404(app):
    tid = "00000000-0000-4000-8000-000000000000"
    assert_problem(app.admin("POST", "%s/%s/api-keys" % (TENANTS, tid), json={}), 404)
    assert_problem(app.admin("GET", "%s/%s/api-keys" % (TENANTS, tid)), 404)


def test_create_key_with_empty_body_object(app):
    t = app.create_tenant("nameless-key")
    r = app.admin("POST", "%s/%s/api-keys" % (TENANTS, t["id"]), json={})
    assert r.status_code == 201, r.text
    assert app.tenant_api(r.json()["key"]).status_code == 200


def test_plaintext_keys_are_not_stored_in_redis(app, redis):
    t = app.create_tenant("hashed")
    r = app.admin("POST", "%s/%s/api-keys" % (TENANTS, t["id"]), json={"name": "k2"})
    assert r.status_code == 201
    k2 = r.json()["key"]
    assert app.tenant_api(t["apiKey"]).status_code == 200
    assert app.tenant_api(k2).status_code == 200

    dump = redis.dump_all()
    assert dump, "no keys in Redis at all: is the server using the test's Redis?"
    for key in (t["apiKey"], k2):
        secret_part = secret_of(key).encode()
        assert len(secret_part) == 43
        for rkey, values in dump.items():
            assert key.encode() not in rkey and secret_part not in rkey, \
                "plaintext key in Redis key name %r" % rkey
            for v in values:
                assert secret_part not in v, "plaintext key stored in Redis under %r" % rkey
