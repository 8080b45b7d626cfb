"""Widgets, agents and channel bindings through the admin API."""

import pytest

from sbhelpers import assert_page, assert_problem

TENANTS = "/api/admin/tenants"
MISSING = "00000000-0000-4000-8000-000000000000"


def base(t):
    return "%s/%s" % (TENANTS, t["id"] if isinstance(t, dict) else t)


def mk_agent(app, t, **over):
    body = {"name": "bot", "webhookUrl": "https://agent.example.com/hook"}
    body.update(over)
    r = app.admin("POST", base(t) + "/agents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def mk_widget(app, t, **over):
    body = {"name": "site widget"}
    body.update(over)
    r = app.admin("POST", base(t) + "/widgets", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def mk_channel(app, t, agent, type_="slack", config=None):
    if config is None:
        config = {"teamId": "T0001", "signingSecret": "slack-signing-secret-1",
                  "botToken": "xoxb-bot-token-1"}
    r = app.admin("POST", base(t) + "/channels",
                  json={"type": type_, "agentId": agent["id"], "config": config})
    assert r.status_code == 201, r.text
    return r.json()


# ---- agents -------------------------------------------------------------------------------

def test_agent_crud(app):
    t = app.create_tenant("agents")
    r = app.admin("POST", base(t) + "/agents",
                  json={"name": "Support bot", "webhookUrl": "https://bot.example.com/in",
                        "secret": "agent-shared-secret-123"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["id"] and a["name"] == "Support bot"
    assert a["webhookUrl"] == "https://bot.example.com/in"
    assert a.get("secret") == "agent-shared-secret-123"

    r = app.admin("GET", base(t) + "/agents/" + a["id"])
    assert r.status_code == 200
    got = r.json()
    assert got["name"] == "Support bot" and got["webhookUrl"] == "https://bot.example.com/in"
    assert got.get("hasSecret") is True
    assert "secret" not in got
    assert "agent-shared-secret-123" not in r.text

    r = app.admin("GET", base(t) + "/agents")
    page = assert_page(r.json())
    assert [x["id"] for x in page["items"]] == [a["id"]]
    assert "agent-shared-secret-123" not in r.text

    r = app.admin("PUT", base(t) + "/agents/" + a["id"], json={"name": "Renamed bot"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed bot"
    assert r.json()["webhookUrl"] == "https://bot.example.com/in", "PUT merges"
    assert "agent-shared-secret-123" not in r.text

    assert app.admin("DELETE", base(t) + "/agents/" + a["id"]).status_code == 204
    assert_problem(app.admin("GET", base(t) + "/agents/" + a["id"]), 404)


def test_agent_secret_generated_when_absent(app):
    t = app.create_tenant("gen-secret")
    a = mk_agent(app, t)
    assert isinstance(a.get("secret"), str) and len(a["secret"]) >= 16
    r = app.admin("GET", base(t) + "/agents/" + a["id"])
    assert r.json().get("hasSecret") is True
    assert a["secret"] not in r.text
    b = mk_agent(app, t, name="bot2")
    assert b["secret"] != a["secret"]


@pytest.mark.parametrize("body,field", [
    ({"webhookUrl": "https://x.example.com"}, "name"),
    ({"name": 5, "webhookUrl": "https://x.example.com"}, "name"),
    ({"name": "a"}, "webhookUrl"),
    ({"name": "a", "webhookUrl": "ftp://x.example.com/"}, "webhookUrl"),
    ({"name": "a", "webhookUrl": "not a url"}, "webhookUrl"),
    ({"name": "a", "webhookUrl": 12}, "webhookUrl"),
    ({"name": "a", "webhookUrl": "https://x.example.com", "secret": 5}, "secret"),
])
def test_agent_validation(app, body, field):
    t = app.create_tenant("agent-val")
    assert_problem(app.admin("POST", base(t) + "/agents", json=body), 400, field=field)
    assert app.admin("GET", base(t) + "/agents").json()["totalCount"] == 0


# ---- widgets ------------------------------------------------------------------------------

def test_widget_crud(app):
    t = app.create_tenant("widgets")
    agent = mk_agent(app, t)
    body = {"name": "Main site", "greeting": "Hello! How can we help?",
            "allowedOrigins": ["https://www.example.com", "http://localhost:3000"],
            "otpRequired": True, "smsWebhookUrl": "https://sms.example.com/send",
            "agentId": agent["id"], "theme": {"color": "#112233", "position": "right"}}
    r = app.admin("POST", base(t) + "/widgets", json=body)
    assert r.status_code == 201, r.text
    w = r.json()
    assert w["id"]
    for k, v in body.items():
        assert w.get(k) == v, "field %s: sent %r, got %r" % (k, v, w.get(k))

    r = app.admin("GET", base(t) + "/widgets/" + w["id"])
    assert r.status_code == 200
    for k, v in body.items():
        assert r.json().get(k) == v

    page = assert_page(app.admin("GET", base(t) + "/widgets").json())
    assert [x["id"] for x in page["items"]] == [w["id"]]

    # PUT merges: greeting only
    r = app.admin("PUT", base(t) + "/widgets/" + w["id"], json={"greeting": "Hi again"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["greeting"] == "Hi again"
    assert got["name"] == "Main site"
    assert got["allowedOrigins"] == body["allowedOrigins"]
    assert got["agentId"] == agent["id"]
    assert got["theme"] == body["theme"]
    got = app.admin("GET", base(t) + "/widgets/" + w["id"]).json()
    assert got["greeting"] == "Hi again" and got["name"] == "Main site"

    assert app.admin("DELETE", base(t) + "/widgets/" + w["id"]).status_code == 204
    assert_problem(app.admin("GET", base(t) + "/widgets/" + w["id"]), 404)
    assert_problem(app.admin("PUT", base(t) + "/widgets/" + w["id"], json={"name": "z"}), 404)
    assert_problem(app.admin("DELETE", base(t) + "/widgets/" + w["id"]), 404)


def test_widget_defaults(app):
    t = app.create_tenant("defaults")
    w = mk_widget(app, t)
    assert w["name"] == "site widget"
    assert w.get("otpRequired") is False


@pytest.mark.parametrize("body,field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"name": 3}, "name"),
    ({"name": "w", "greeting": "g" * 2001}, "greeting"),
    ({"name": "w", "greeting": 5}, "greeting"),
    ({"name": "w", "allowedOrigins": "x"}, "allowedOrigins"),
    ({"name": "w", "allowedOrigins": "https://a.com"}, "allowedOrigins"),
    ({"name": "w", "allowedOrigins": ["https://a.com/path"]}, "allowedOrigins[0]"),
    ({"name": "w", "allowedOrigins": ["https://ok.com", "https://b.com:8443",
                                      "ftp://c.com"]}, "allowedOrigins[2]"),
    ({"name": "w", "allowedOrigins": ["https://ok.com", 5]}, "allowedOrigins[1]"),
    ({"name": "w", "allowedOrigins": ["*"]}, "allowedOrigins[0]"),
    ({"name": "w", "allowedOrigins": ["https://a.com?q=1"]}, "allowedOrigins[0]"),
    ({"name": "w", "allowedOrigins": ["https://a%d.com" % i for i in range(101)]},
     "allowedOrigins"),
    ({"name": "w", "otpRequired": "yes"}, "otpRequired"),
    ({"name": "w", "otpRequired": True}, "smsWebhookUrl"),
    ({"name": "w", "otpRequired": True, "smsWebhookUrl": "nope"}, "smsWebhookUrl"),
    ({"name": "w", "smsWebhookUrl": "javascript:alert(1)"}, "smsWebhookUrl"),
    ({"name": "w", "agentId": MISSING}, "agentId"),
    ({"name": "w", "agentId": 7}, "agentId"),
    ({"name": "w", "theme": "red"}, "theme"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_widget_validation(app, body, field):
    t = app.create_tenant("widget-val")
    assert_problem(app.admin("POST", base(t) + "/widgets", json=body), 400, field=field)
    assert app.admin("GET", base(t) + "/widgets").json()["totalCount"] == 0


def test_widget_with_100_origins_is_fine(app):
    t = app.create_tenant("many-origins")
    origins = ["https://a%d.example.com" % i for i in range(100)]
    w = mk_widget(app, t, allowedOrigins=origins)
    assert w["allowedOrigins"] == origins


def test_widget_agent_of_another_tenant_is_refused(app):
    t1 = app.create_tenant("one")
    t2 = app.create_tenant("two")
    foreign = mk_agent(app, t2)
    r = app.admin("POST", base(t1) + "/widgets", json={"name": "w", "agentId": foreign["id"]})
    assert_problem(r, 400, field="agentId")


def test_widget_put_validation_keeps_stored_widget(app):
    t = app.create_tenant("put-val")
    w = mk_widget(app, t, allowedOrigins=["https://a.com"])
    r = app.admin("PUT", base(t) + "/widgets/" + w["id"], json={"allowedOrigins": ["bad"]})
    assert_problem(r, 400, field="allowedOrigins[0]")
    assert app.admin("GET", base(t) + "/widgets/" + w["id"]).json()["allowedOrigins"] == \
        ["https://a.com"]


def test_widget_of_another_tenant_is_404(app):
    t1 = app.create_tenant("one")
    t2 = app.create_tenant("two")
    w = mk_widget(app, t1)
    assert_problem(app.admin("GET", base(t2) + "/widgets/" + w["id"]), 404)
    assert_problem(app.admin("DELETE", base(t2) + "/widgets/" + w["id"]), 404)
    assert app.admin("GET", base(t1) + "/widgets/" + w["id"]).status_code == 200


def test_deleting_agent_used_by_widget_is_409(app):
    t = app.create_tenant("refs")
    a = mk_agent(app, t)
    w = mk_widget(app, t, agentId=a["id"])
    assert_problem(app.admin("DELETE", base(t) + "/agents/" + a["id"]), 409)
    assert app.admin("GET", base(t) + "/agents/" + a["id"]).status_code == 200
    assert app.admin("DELETE", base(t) + "/widgets/" + w["id"]).status_code == 204
    assert app.admin("DELETE", base(t) + "/agents/" + a["id"]).status_code == 204


# ---- channels -----------------------------------------------------------------------------

def test_channel_crud_and_secrets(app):
    t = app.create_tenant("channels")
    a = mk_agent(app, t)
    cfg = {"teamId": "T0AB12", "signingSecret": "sig-secret-aaaa",
           "verificationToken": "verif-token-bbbb", "botToken": "xoxb-cccc"}
    r = app.admin("POST", base(t) + "/channels",
                  json={"type": "slack", "agentId": a["id"], "config": cfg})
    assert r.status_code == 201, r.text
    ch = r.json()
    assert ch["id"] and ch["type"] == "slack" and ch["agentId"] == a["id"]

    r = app.admin("GET", base(t) + "/channels/" + ch["id"])
    assert r.status_code == 200
    got = r.json()
    assert got["type"] == "slack" and got["agentId"] == a["id"]
    assert got["config"]["teamId"] == "T0AB12"
    assert sorted(got["secretsSet"]) == ["botToken", "signingSecret", "verificationToken"]
    for secret in ("sig-secret-aaaa", "verif-token-bbbb", "xoxb-cccc"):
        assert secret not in r.text, "secret %s returned by GET" % secret
    for k in ("signingSecret", "verificationToken", "botToken"):
        assert k not in got["config"]

    r = app.admin("GET", base(t) + "/channels")
    page = assert_page(r.json())
    assert [x["id"] for x in page["items"]] == [ch["id"]]
    for secret in ("sig-secret-aaaa", "verif-token-bbbb", "xoxb-cccc"):
        assert secret not in r.text

    # PUT merges inside config: add a rotated secret, keep the rest
    r = app.admin("PUT", base(t) + "/channels/" + ch["id"],
                  json={"config": {"signingSecretPrevious": "sig-secret-old"}})
    assert r.status_code == 200, r.text
    got = app.admin("GET", base(t) + "/channels/" + ch["id"]).json()
    assert got["config"]["teamId"] == "T0AB12"
    assert sorted(got["secretsSet"]) == ["botToken", "signingSecret", "signingSecretPrevious",
                                         "verificationToken"]
    assert "sig-secret-old" not in r.text

    assert app.admin("DELETE", base(t) + "/channels/" + ch["id"]).status_code == 204
    assert_problem(app.admin("GET", base(t) + "/channels/" + ch["id"]), 404)


@pytest.mark.parametrize("type_,config,secrets", [
    ("teams", {"appId": "app-123", "appPassword": "pw-xyz", "jwksUrl": "https://login.example.com/keys",
               "allowedServiceUrls": ["https://smba.example.net/"]}, ["appPassword"]),
    ("telegram", {"botId": "123456", "botToken": "123456:ABC", "secretToken": "tg-secret"},
     ["botToken", "secretToken"]),
    ("whatsapp", {"phoneNumberId": "1055", "wabaId": "77", "appSecret": "wa-app-secret",
                  "verifyToken": "wa-verify", "accessToken": "wa-access",
                  "displayPhone": "+15550001111"}, ["accessToken", "appSecret", "verifyToken"]),
])
def test_channel_types(app, type_, config, secrets):
    t = app.create_tenant("types")
    a = mk_agent(app, t)
    ch = mk_channel(app, t, a, type_, config)
    r = app.admin("GET", base(t) + "/channels/" + ch["id"])
    got = r.json()
    assert got["type"] == type_
    assert sorted(got["secretsSet"]) == secrets
    for s in secrets:
        assert config[s] not in r.text


@pytest.mark.parametrize("body,field", [
    ({"type": "fax", "config": {"teamId": "T1"}}, "type"),
    ({"config": {"teamId": "T1"}}, "type"),
    ({"type": 1, "config": {"teamId": "T1"}}, "type"),
    ({"type": "slack", "config": {}}, "config.teamId"),
    ({"type": "slack", "config": {"signingSecret": "s"}}, "config.teamId"),
    ({"type": "slack", "config": {"teamId": 5}}, "config.teamId"),
    ({"type": "slack", "config": {"teamId": "T1", "signingSecert": "typo"}},
     "config.signingSecert"),
    ({"type": "slack", "config": "teamId=T1"}, "config"),
    ({"type": "teams", "config": {"appPassword": "x"}}, "config.appId"),
    ({"type": "teams", "config": {"appId": "a", "allowedServiceUrls": "https://x"}},
     "config.allowedServiceUrls"),
    ({"type": "telegram", "config": {"botToken": "x"}}, "config.botId"),
    ({"type": "whatsapp", "config": {"wabaId": "x"}}, "config.phoneNumberId"),
    ({"type": "whatsapp", "config": {"phoneNumberId": "1", "appSecrets": "x"}},
     "config.appSecrets"),
    # index fields: no newline may smuggle a second field (another platform's binding) in
    ({"type": "whatsapp", "config": {"phoneNumberId": "1", "wabaId": "77\nslack:T1"}},
     "config.wabaId"),
    ({"type": "telegram", "config": {"botId": "42\nslack:T1"}}, "config.botId"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_channel_validation(app, body, field):
    t = app.create_tenant("chan-val")
    a = mk_agent(app, t)
    b = dict(body)
    b["agentId"] = a["id"]
    assert_problem(app.admin("POST", base(t) + "/channels", json=b), 400, field=field)
    assert app.admin("GET", base(t) + "/channels").json()["totalCount"] == 0


@pytest.mark.parametrize("agent_id", [None, MISSING, 42])
def test_channel_agent_must_exist(app, agent_id):
    t = app.create_tenant("chan-agent")
    body = {"type": "slack", "config": {"teamId": "T77"}}
    if agent_id is not None:
        body["agentId"] = agent_id
    assert_problem(app.admin("POST", base(t) + "/channels", json=body), 400, field="agentId")


def test_duplicate_platform_id_is_409(app):
    t1 = app.create_tenant("one")
    t2 = app.create_tenant("two")
    a1, a2 = mk_agent(app, t1), mk_agent(app, t2)
    mk_channel(app, t1, a1, "slack", {"teamId": "TDUP"})
    r = app.admin("POST", base(t2) + "/channels",
                  json={"type": "slack", "agentId": a2["id"], "config": {"teamId": "TDUP"}})
    assert_problem(r, 409)
    r = app.admin("POST", base(t1) + "/channels",
                  json={"type": "slack", "agentId": a1["id"], "config": {"teamId": "TDUP"}})
    assert_problem(r, 409)
    assert app.admin("GET", base(t2) + "/channels").json()["totalCount"] == 0
    # other ids and other platforms are unaffected
    mk_channel(app, t2, a2, "slack", {"teamId": "TOTHER"})
    mk_channel(app, t2, a2, "telegram", {"botId": "TDUP"})


def test_platform_id_is_free_again_after_delete(app):
    t1 = app.create_tenant("one")
    t2 = app.create_tenant("two")
    a1, a2 = mk_agent(app, t1), mk_agent(app, t2)
    ch = mk_channel(app, t1, a1, "telegram", {"botId": "999"})
    assert app.admin("DELETE", base(t1) + "/channels/" + ch["id"]).status_code == 204
    mk_channel(app, t2, a2, "telegram", {"botId": "999"})
    # deleting a whole tenant frees its bindings too
    assert app.admin("DELETE", base(t2)).status_code == 204
    t3 = app.create_tenant("three")
    mk_channel(app, t3, mk_agent(app, t3), "telegram", {"botId": "999"})


def test_channel_type_cannot_change(app):
    t = app.create_tenant("fixed-type")
    a = mk_agent(app, t)
    ch = mk_channel(app, t, a, "slack", {"teamId": "TFIX"})
    r = app.admin("PUT", base(t) + "/channels/" + ch["id"],
                  json={"type": "telegram", "config": {"botId": "1"}})
    assert 400 <= r.status_code < 500
    assert r.headers["Content-Type"].startswith("application/problem+json")
    got = app.admin("GET", base(t) + "/channels/" + ch["id"]).json()
    assert got["type"] == "slack" and got["config"]["teamId"] == "TFIX"


def test_channel_put_unknown_config_key_is_400(app):
    t = app.create_tenant("put-typo")
    a = mk_agent(app, t)
    ch = mk_channel(app, t, a)
    r = app.admin("PUT", base(t) + "/channels/" + ch["id"],
                  json={"config": {"botTokn": "x"}})
    assert_problem(r, 400, field="config.botTokn")


def test_deleting_agent_used_by_channel_is_409(app):
    t = app.create_tenant("chan-ref")
    a = mk_agent(app, t)
    ch = mk_channel(app, t, a, "slack", {"teamId": "TREF"})
    assert_problem(app.admin("DELETE", base(t) + "/agents/" + a["id"]), 409)
    assert app.admin("DELETE", base(t) + "/channels/" + ch["id"]).status_code == 204
    assert app.admin("DELETE", base(t) + "/agents/" + a["id"]).status_code == 204


# ---- unknown tenant / objects -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["widgets", "agents", "channels"])
def test_unknown_tenant_is_404(app, kind):
    body = {"widgets": {"name": "w"},
            "agents": {"name": "a", "webhookUrl": "https://x.example.com"},
            "channels": {"type": "slack", "agentId": MISSING, "config": {"teamId": "T1"}}}[kind]
    assert_problem(app.admin("POST", "%s/%s/%s" % (TENANTS, MISSING, kind), json=body), 404)
    assert_problem(app.admin("GET", "%s/%s/%s" % (TENANTS, MISSING, kind)), 404)
    assert_problem(app.admin("GET", "%s/%s/%s/%s" % (TENANTS, MISSING, kind, MISSING)), 404)


@pytest.mark.parametrize("kind", ["widgets", "agents", "channels"])
def test_unknown_object_is_404(app, kind):
    t = app.create_tenant("objects")
    assert_problem(app.admin("GET", "%s/%s/%s" % (base(t), kind, MISSING)), 404)
    assert_problem(app.admin("PUT", "%s/%s/%s" % (base(t), kind, MISSING), json={}), 404)
    assert_problem(app.admin("DELETE", "%s/%s/%s" % (base(t), kind, MISSING)), 404)


def test_deleting_tenant_removes_its_objects(app):
    t = app.create_tenant("doomed")
    a = mk_agent(app, t)
    w = mk_widget(app, t, agentId=a["id"])
    ch = mk_channel(app, t, a, "slack", {"teamId": "TDOOM"})
    assert app.admin("DELETE", base(t)).status_code == 204
    for path in ("/agents/" + a["id"], "/widgets/" + w["id"], "/channels/" + ch["id"]):
        assert_problem(app.admin("GET", base(t) + path), 404)


def test_resources_need_admin_token(app):
    t = app.create_tenant("guarded")
    for kind in ("widgets", "agents", "channels"):
        r = app.request("GET", "%s/%s" % (base(t), kind))
        assert_problem(r, 401)
        r = app.request("GET", "%s/%s" % (base(t), kind), headers={"X-API-Key": t["apiKey"]})
        assert_problem(r, 401)
