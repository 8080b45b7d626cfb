"""Event subscriptions and the webhook secret (docs/deliveries.md, seed 001).

Run: /usr/bin/python3 -m pytest tests/integration/test_delivery_*.py -q
"""

import datetime

import pytest

from fakes import SERVER_FLAGS, Tenant, parse_rfc3339, secret_key
from sbhelpers import assert_problem

SUBS = "/api/webhooks/subscriptions"

SEED = {
    "https://someapiserver.com/webhooks/test-hook1": [
        "dialog_created", "dialog_reopened", "dialog_closed", "message_received",
        "message_sent", "message_intercepted"],
    "https://someapiserver.com/webhooks/test-hook2": ["/mark", "/info", "/invoice", "/client"],
}


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


@pytest.fixture
def tenant(sb):
    return Tenant(sb, "subs-co")


# ---- subscriptions ------------------------------------------------------------------------

def test_get_before_any_put_is_empty(tenant):
    assert tenant.subscriptions() == {}


def test_put_get_round_trip_seed_object(tenant):
    tenant.subscribe(SEED)
    assert tenant.subscriptions() == SEED


def test_put_replaces_the_whole_set(tenant):
    tenant.subscribe(SEED)
    other = {"https://crm.example.com/hooks/events": ["dialog_closed", "yeni_chat"]}
    tenant.subscribe(other)
    assert tenant.subscriptions() == other, "PUT replaces, it does not merge"
    tenant.subscribe({})
    assert tenant.subscriptions() == {}, "PUT {} removes every subscription"


def test_object_values_and_put_of_get_is_a_no_op(tenant):
    body = {
        "https://crm.example.com/plain": ["dialog_created", "/mark"],
        "https://crm.example.com/olay": {"events": ["yeni_chat", "chat_kapandi"],
                                         "format": "olay"},
        "https://crm.example.com/slow": {"events": ["message_received"], "timeoutMs": 10000},
        "https://crm.example.com/paced": {"events": ["message_sent"], "paced": True},
    }
    tenant.subscribe(body)
    got = tenant.subscriptions()
    assert set(got) == set(body)
    assert got["https://crm.example.com/plain"] == ["dialog_created", "/mark"], \
        "subscriptions without options come back as plain arrays"
    for url in ("https://crm.example.com/olay", "https://crm.example.com/slow",
                "https://crm.example.com/paced"):
        assert isinstance(got[url], dict), "subscriptions with options come back as objects"
        assert got[url]["events"] == body[url]["events"]
    assert got["https://crm.example.com/olay"].get("format") == "olay"
    assert got["https://crm.example.com/slow"].get("timeoutMs") == 10000
    assert got["https://crm.example.com/paced"].get("paced") is True
    tenant.subscribe(got)
    assert tenant.subscriptions() == got, "a PUT of a GET's body is a no-op"


def test_subscriptions_are_per_tenant(sb):
    a, b = Tenant(sb, "subs-a"), Tenant(sb, "subs-b")
    a.subscribe(SEED)
    assert b.subscriptions() == {}
    b.subscribe({"https://b.example.com/h": ["dialog_closed"]})
    assert a.subscriptions() == SEED


U = "https://x.example/h"


@pytest.mark.parametrize("body,fields", [
    ({U: ["dialog_created", "no_such_event"]}, (U, U + "[1]")),
    ({U: ["dialog_created", "dialog_created"]}, (U, U + "[1]")),
    ({U: ["/Mark"]}, (U, U + "[0]")),
    ({U: ["/bad-name"]}, (U, U + "[0]")),
    ({U: ["/"]}, (U, U + "[0]")),
    ({U: ["/" + "a" * 33]}, (U, U + "[0]")),
    ({U: "dialog_created"}, (U,)),
    ({U: 5}, (U,)),
    ({U: None}, (U,)),
    ({U: [1]}, (U, U + "[0]")),
    ({"ftp://x.example/h": ["dialog_created"]}, ("ftp://x.example/h",)),
    ({"not a url": ["dialog_created"]}, ("not a url",)),
    ({"/relative/path": ["dialog_created"]}, ("/relative/path",)),
    ({U: {"events": ["dialog_created"], "format": "xml"}}, (U, U + ".format")),
    ({U: {"events": ["dialog_created"], "timeoutMs": 2999}}, (U, U + ".timeoutMs")),
    ({U: {"events": ["dialog_created"], "timeoutMs": 30001}}, (U, U + ".timeoutMs")),
    ({U: {"events": ["nope"]}}, (U, U + ".events[0]", U + "[0]")),
], ids=["unknown-event", "duplicate-event", "uppercase-command", "dash-command",
        "empty-command", "long-command", "string-value", "number-value", "null-value",
        "non-string-event", "ftp-url", "not-a-url", "relative-url", "bad-format",
        "timeout-too-small", "timeout-too-big", "object-unknown-event"])
def test_validation_400_names_the_url(tenant, body, fields):
    tenant.subscribe({"https://keep.example/h": ["dialog_created"]})
    r = tenant.call("PUT", SUBS, json=body)
    p = assert_problem(r, 400)
    assert p.get("field") in fields, "field should name the URL key: %r" % p
    assert tenant.subscriptions() == {"https://keep.example/h": ["dialog_created"]}, \
        "a refused PUT changes nothing"


def test_validation_limits(tenant):
    many_urls = {"https://h%d.example/x" % i: ["dialog_created"] for i in range(101)}
    assert_problem(tenant.call("PUT", SUBS, json=many_urls), 400)
    ok_urls = {"https://h%d.example/x" % i: ["dialog_created"] for i in range(100)}
    tenant.subscribe(ok_urls)
    assert len(tenant.subscriptions()) == 100

    cmds = ["/c%d" % i for i in range(51)]
    p = assert_problem(tenant.call("PUT", SUBS, json={U: cmds}), 400)
    assert p.get("field", "").startswith(U), p
    tenant.subscribe({U: cmds[:50]})
    assert tenant.subscriptions() == {U: cmds[:50]}


def test_body_must_be_an_object(tenant):
    assert_problem(tenant.call("PUT", SUBS, json=["https://x.example/h"]), 400)
    assert_problem(tenant.call("PUT", SUBS, data=b"{not json", headers={
        "Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("method,path,body", [
    ("GET", SUBS, None),
    ("PUT", SUBS, SEED),
    ("GET", "/api/webhooks/secret", None),
    ("POST", "/api/webhooks/secret/rotate", None),
    ("POST", "/api/webhooks/test", {"event": "dialog_created", "data": {}}),
    ("POST", "/api/commands", {"command": "/mark", "args": "deal"}),
    ("GET", "/api/webhooks/endpoints", None),
    ("GET", "/api/webhooks/dead-letters", None),
])
def test_delivery_routes_need_the_tenant_key(sb, method, path, body):
    r = sb.request(method, path, json=body)
    assert_problem(r, 401)
    assert "apikey" in r.headers.get("WWW-Authenticate", "").lower(), r.headers
    r = sb.request(method, path, json=body,
                   headers={"X-API-Key": "sbk_nobody_" + "A" * 43})
    assert_problem(r, 401)
    # an admin token is not a tenant key
    r = sb.admin(method, path, json=body)
    assert r.status_code in (401, 403), r.status_code


# ---- webhook secret -----------------------------------------------------------------------

def test_secret_is_created_once_and_stable(tenant):
    s1 = tenant.secret()
    s2 = tenant.secret()
    assert set(s1) >= {"secret", "apiKey"}, s1
    assert s1["secret"] == s2["secret"] and s1["apiKey"] == s2["apiKey"]
    assert s1["secret"].startswith("whsec_")
    assert len(secret_key(s1["secret"])) >= 24, "the HMAC key should be at least 192 bits"
    assert isinstance(s1["apiKey"], str) and len(s1["apiKey"]) >= 12
    assert s1["apiKey"] != tenant.key, "the webhook api_key is not the tenant's API key"


def test_secrets_differ_between_tenants(sb):
    a, b = Tenant(sb, "sec-a"), Tenant(sb, "sec-b")
    sa, sb_ = a.secret(), b.secret()
    assert sa["secret"] != sb_["secret"] and sa["apiKey"] != sb_["apiKey"]


def test_rotate_returns_a_new_secret(tenant):
    old = tenant.secret()
    before = datetime.datetime.now(datetime.timezone.utc)
    rot = tenant.rotate()
    assert rot["secret"].startswith("whsec_") and rot["secret"] != old["secret"]
    secret_key(rot["secret"])
    assert rot["apiKey"] == old["apiKey"], "rotation changes the signing secret only"
    until = parse_rfc3339(rot["previousValidUntil"])
    delta = (until - before).total_seconds()
    assert 24 * 3600 - 120 <= delta <= 24 * 3600 + 120, \
        "the previous secret stays valid for 24 h: %r" % rot["previousValidUntil"]
    assert tenant.secret()["secret"] == rot["secret"], "GET shows the new secret"
    again = tenant.rotate()
    assert again["secret"] not in (rot["secret"], old["secret"])
