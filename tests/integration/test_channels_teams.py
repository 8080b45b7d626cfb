"""Microsoft Teams (Bot Framework): inbound Activities on POST /api/webhooks/teams, verified by an
RS256 bearer token (JWT) against the channel's signing keys (inline `jwks`, a `jwksUrl`, or
--botframework-jwks-url), and replies out through the Bot Framework connector: an OAuth token
from --botframework-token-url, then POST <serviceUrl>/v3/conversations/<id>/activities.

Keys are generated here (cryptography), tokens are built and signed here; nothing is written to
disk. Results are read through the tenant API, the fake agent, fake key and connector servers
and Redis (nothing stored)."""

import base64
import concurrent.futures
import json
import time
import urllib.parse

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fakes import SERVER_FLAGS, Reply, Tenant, fakes, json_reply, ok  # noqa: F401
from sbhelpers import RawConn, free_port, req
from test_channels_inbound import (MAX_BODY, SETTLE, Bound, assert_agent_once, assert_conv,
                                   assert_customer_msg, assert_nothing_stored, assert_ok,
                                   assert_status, jbytes, only_message)

pytestmark = pytest.mark.server

TEAMS_PATH = "/api/webhooks/teams"
ISSUER = "https://api.botframework.com"
APP_ID = "5e1d6b3a-0c1f-4f8e-9c2a-7d1e2f3a4b5c"
APP_PASSWORD = "teams-app-password-0001"
MS_SERVICE_URL = "https://smba.trafficmanager.net/emea/"
CONV_ID = "a:conv1"
POLL = 8.0


# ---- keys and tokens ------------------------------------------------------------------------

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class Key:
    """An RSA key pair with its JWK."""

    def __init__(self, kid, bits=2048, endorsements=("msteams",)):
        self.kid = kid
        self.priv = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pub = self.priv.public_key().public_numbers()
        self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "n": b64u(_int_bytes(pub.n)),
                    "e": b64u(_int_bytes(pub.e))}
        if endorsements is not None:
            self.jwk["endorsements"] = list(endorsements)

    def sign(self, claims, kid=None, header=None):
        h = {"alg": "RS256", "kid": kid or self.kid, "typ": "JWT"}
        h.update(header or {})
        signing_input = (b64u(jbytes(h)) + "." + b64u(jbytes(claims))).encode()
        sig = self.priv.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64u(sig)


_KEYS = {}


def key(name, **kw):
    """Keys are made once per test session (RSA generation takes a moment)."""
    k = (name, tuple(sorted(kw.items())))
    if k not in _KEYS:
        _KEYS[k] = Key(name, **kw)
    return _KEYS[k]


def jwks(*keys):
    return {"keys": [k.jwk for k in keys]}


def claims(service_url=MS_SERVICE_URL, aud=APP_ID, iss=ISSUER, exp_in=600, nbf_in=-60, **extra):
    now = int(time.time())
    c = {"iss": iss, "aud": aud, "exp": now + exp_in, "nbf": now + nbf_in,
         "serviceurl": service_url}
    if service_url is None:
        del c["serviceurl"]
    c.update(extra)
    return c


def activity(aid="1700000000001", text="hello", service_url=MS_SERVICE_URL, conv=CONV_ID,
             app=APP_ID, type_="message", **extra):
    a = {"type": type_, "id": aid, "timestamp": "2026-11-21T10:00:00.000Z",
         "channelId": "msteams", "serviceUrl": service_url,
         "from": {"id": "29:user", "name": "Ayse"}, "conversation": {"id": conv},
         "recipient": {"id": "28:" + app, "name": "bot"}}
    if text is not None:
        a["text"] = text
    a.update(extra)
    return a


def send_teams(srv, obj, token=None, auth=None):
    body = obj if isinstance(obj, bytes) else jbytes(obj)
    h = {"Content-Type": "application/json"}
    if auth is not None:
        h["Authorization"] = auth
    elif token is not None:
        h["Authorization"] = "Bearer " + token
    return srv.request("POST", TEAMS_PATH, data=body, headers=h)


def good_token(service_url=MS_SERVICE_URL, k=None, **kw):
    return (k or key("kA")).sign(claims(service_url=service_url, **kw))


# ---- set-up ---------------------------------------------------------------------------------

@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


def bind_teams(b, **over):
    cfg = {"appId": APP_ID, "appPassword": APP_PASSWORD, "jwks": jwks(key("kA"))}
    cfg.update(over)
    return b.channel("teams", {k: v for k, v in cfg.items() if v is not None})


# =============================================================================================
# accepted

def test_valid_activity_is_stored_and_reaches_the_agent(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    ch = bind_teams(b)
    r = send_teams(sb, activity(aid="1700000000001", text="hello"), good_token())
    assert_ok(r, "valid activity")
    conv, m = only_message(b)
    assert_conv(conv, "teams", ch["id"], CONV_ID)
    assert_customer_msg(m, "hello", "29:user", name="Ayse")
    assert m["platformMessageId"] == "1700000000001", m
    assert_agent_once(b, conv, "hello")


def test_same_activity_id_is_stored_once(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    for _ in range(3):
        assert_ok(send_teams(sb, activity(aid="dup-1", text="three times"), good_token()))
    got = b.wait_messages(1)
    (conv, msgs), = got.values()
    assert [m["text"] for m in msgs] == ["three times"]
    b.agent.wait_for(1, POLL)
    assert b.agent.stays_at(1, 1.0), b.agent.snapshot()


def test_expiry_within_the_skew_is_accepted(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    tok = key("kA").sign(claims(exp_in=-120, nbf_in=-900))
    assert_ok(send_teams(sb, activity(aid="skew-1", text="late but fine"), tok))
    only_message(b)


def test_not_before_within_the_skew_is_accepted(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    tok = key("kA").sign(claims(nbf_in=120))
    assert_ok(send_teams(sb, activity(aid="skew-2", text="early but fine"), tok))
    only_message(b)


def test_audience_list_naming_the_app_is_accepted(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    tok = key("kA").sign(claims(aud=["api://other", APP_ID]))
    assert_ok(send_teams(sb, activity(aid="aud-1"), tok))
    only_message(b)


def test_non_message_activity_is_acknowledged_only(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    a = activity(aid="cu-1", type_="conversationUpdate", text=None,
                 membersAdded=[{"id": "28:" + APP_ID}])
    assert_ok(send_teams(sb, a, good_token()), "conversationUpdate")
    assert_nothing_stored(b, redis)


def test_allowed_service_url_list_admits_a_listed_origin(sb, fakes):  # noqa: F811
    b = Bound(sb, fakes)
    port = free_port()
    svc = "http://127.0.0.1:%d/amer/" % port
    bind_teams(b, allowedServiceUrls=["http://127.0.0.1:%d" % port])
    assert_ok(send_teams(sb, activity(aid="al-1", service_url=svc), good_token(svc)))
    only_message(b)


# =============================================================================================
# refused: nothing stored

def _bad_token(case):
    k = key("kA")
    if case == "expired":
        return k.sign(claims(exp_in=-400, nbf_in=-1000))
    if case == "not_yet":
        return k.sign(claims(nbf_in=400))
    if case == "no_exp":
        c = claims()
        del c["exp"]
        return k.sign(c)
    if case == "wrong_audience":
        return k.sign(claims(aud="another-app-id"))
    if case == "wrong_issuer":
        return k.sign(claims(iss="https://sts.windows.net/evil/"))
    if case == "unknown_kid":
        return key("kX").sign(claims())
    if case == "forged_signature":  # another key, presenting kA's kid
        return key("kX").sign(claims(), kid="kA")
    if case == "tampered_payload":
        h, p, s = k.sign(claims()).split(".")
        c = claims(aud=APP_ID)
        c["exp"] += 3600
        return "%s.%s.%s" % (h, b64u(jbytes(c)), s)
    if case == "alg_none":
        h = b64u(jbytes({"alg": "none", "kid": "kA", "typ": "JWT"}))
        return "%s.%s." % (h, b64u(jbytes(claims())))
    if case == "hs256":
        import hashlib
        import hmac
        h = b64u(jbytes({"alg": "HS256", "kid": "kA", "typ": "JWT"}))
        p = b64u(jbytes(claims()))
        mac = hmac.new(k.jwk["n"].encode(), ("%s.%s" % (h, p)).encode(), hashlib.sha256)
        return "%s.%s.%s" % (h, p, b64u(mac.digest()))
    if case == "weak_key":  # a 1024-bit key in the set is not used
        return key("kWeak", bits=1024).sign(claims())
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["expired", "not_yet", "no_exp", "wrong_audience",
                                  "wrong_issuer", "unknown_kid", "forged_signature",
                                  "tampered_payload", "alg_none", "hs256", "weak_key"])
def test_bad_token_is_401(sb, fakes, redis, case):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b, jwks=jwks(key("kA"), key("kWeak", bits=1024)))
    r = send_teams(sb, activity(aid="bad-" + case), _bad_token(case))
    assert_status(r, 401, secrets=(APP_PASSWORD,))
    assert_nothing_stored(b, redis)


@pytest.mark.parametrize("auth", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==",
                                  "Bearer garbage", "Bearer a.b.c", "Bearer " + "x" * 12000],
                         ids=["missing", "empty", "bearer", "bearer_space", "basic", "garbage",
                              "three_parts", "huge"])
def test_missing_or_garbage_authorization_is_401(sb, fakes, redis, auth):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    body = jbytes(activity(aid="auth-1"))
    h = {"Content-Type": "application/json"}
    if auth is not None:
        h["Authorization"] = auth
    r = sb.request("POST", TEAMS_PATH, data=body, headers=h)
    assert_status(r, 401)
    assert_nothing_stored(b, redis)


def test_key_without_msteams_endorsement_is_403(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    skype = key("kSkype", endorsements=("skype", "webchat"))
    bare = key("kBare", endorsements=None)
    bind_teams(b, jwks=jwks(key("kA"), skype, bare))
    assert_status(send_teams(sb, activity(aid="end-1"), skype.sign(claims())), 403)
    assert_status(send_teams(sb, activity(aid="end-2"), bare.sign(claims())), 403)
    assert_nothing_stored(b, redis)


@pytest.mark.parametrize("claim", ["https://smba.trafficmanager.net/amer/", None],
                         ids=["different", "missing"])
def test_serviceurl_claim_must_match_the_activity(sb, fakes, redis, claim):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    tok = key("kA").sign(claims(service_url=claim))
    assert_status(send_teams(sb, activity(aid="svc-1"), tok), 403)
    assert_nothing_stored(b, redis)


@pytest.mark.parametrize("svc,allowed", [
    ("https://evil.example.com/", None),
    ("http://smba.trafficmanager.net/emea/", None),          # https only
    ("https://botframework.com.evil.example/", None),
    ("http://127.0.0.1:9/teams/", ["http://127.0.0.1:10"]),  # a different port
    ("https://smba.trafficmanager.net/emea/", ["http://127.0.0.1:10"]),  # the list replaces
])
def test_service_url_not_allow_listed_is_403(sb, fakes, redis, svc, allowed):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b, allowedServiceUrls=allowed)
    r = send_teams(sb, activity(aid="allow-1", service_url=svc), good_token(svc))
    assert_status(r, 403)
    assert_nothing_stored(b, redis)


def test_unknown_app_is_401(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    other = "0b0b0b0b-1111-2222-3333-444444444444"
    tok = key("kA").sign(claims(aud=other))
    assert_status(send_teams(sb, activity(aid="nob-1", app=other), tok), 401)
    assert_nothing_stored(b, redis)


# =============================================================================================
# signing keys from a URL

def test_key_rollover_refetches_the_jwks_url(server, fakes, redis):  # noqa: F811
    srv = server(*SERVER_FLAGS, threads=1)  # one loop: one key cache
    keys = fakes(json_reply(jwks(key("kA"))), path="/keys")
    b = Bound(srv, fakes)
    bind_teams(b, jwks=None, jwksUrl=keys.url)
    assert_ok(send_teams(srv, activity(aid="roll-1", text="with A"), good_token()))
    b.wait_messages(1)
    assert keys.count() == 1, keys.snapshot()
    assert keys.snapshot()[0].method == "GET", keys.snapshot()
    keys.behaviour = json_reply(jwks(key("kB")))
    time.sleep(1.2)
    tok = key("kB").sign(claims())
    assert_ok(send_teams(srv, activity(aid="roll-2", text="with B"), tok), "rolled-over key")
    b.wait_messages(2)
    assert keys.count() == 2, "an unknown kid fetches the keys again: %r" % keys.snapshot()
    # a known kid is served from the cache
    assert_ok(send_teams(srv, activity(aid="roll-3", text="B again"), tok))
    b.wait_messages(3)
    assert keys.count() == 2, keys.snapshot()


def test_concurrent_requests_share_one_key_fetch(server, fakes, redis):  # noqa: F811
    """Requests arriving while the keys are fetched wait for that fetch: a burst (valid tokens
    on a cold cache, then forged key ids) never turns into one fetch per request."""
    srv = server(*SERVER_FLAGS, threads=1)  # one loop: one key cache
    body = json.dumps(jwks(key("kA")))
    keys = fakes(lambda rec, fake: Reply(200, body, content_type="application/json", delay=0.5),
                 path="/keys")
    b = Bound(srv, fakes)
    bind_teams(b, jwks=None, jwksUrl=keys.url)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: send_teams(srv, activity(aid="burst-%d" % i), good_token()),
                            range(8)))
    for r in got:
        assert_ok(r)
    b.wait_messages(8)
    assert keys.count() == 1, "one fetch for the whole burst: %r" % keys.snapshot()
    time.sleep(1.2)
    forged = key("kX")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: send_teams(srv, activity(aid="forged-%d" % i),
                                                 forged.sign(claims())), range(8)))
    assert [r.status_code for r in got] == [401] * 8
    assert keys.count() == 2, "unknown key ids: one refetch: %r" % keys.snapshot()


def test_default_jwks_url_is_used_without_channel_keys(server, fakes):  # noqa: F811
    keys = fakes(json_reply(jwks(key("kA"))), path="/v1/.well-known/keys")
    srv = server(*SERVER_FLAGS, "--botframework-jwks-url", keys.url)
    b = Bound(srv, fakes)
    bind_teams(b, jwks=None)
    assert_ok(send_teams(srv, activity(aid="def-1"), good_token()))
    only_message(b)
    assert keys.count() >= 1 and keys.snapshot()[0].path == "/v1/.well-known/keys"


def test_unreachable_jwks_is_503(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b, jwks=None, jwksUrl="http://127.0.0.1:%d/keys" % free_port())
    r = send_teams(sb, activity(aid="jw-1"), good_token())
    assert_status(r, 503)
    assert_nothing_stored(b, redis)


def test_jwks_url_answering_an_error_is_503(sb, fakes, redis):  # noqa: F811
    keys = fakes(lambda rec, fake: Reply(500, "down"), path="/keys")
    b = Bound(sb, fakes)
    bind_teams(b, jwks=None, jwksUrl=keys.url)
    assert_status(send_teams(sb, activity(aid="jw-2"), good_token()), 503)
    assert keys.count() >= 1
    assert_nothing_stored(b, redis)


# =============================================================================================
# bad input

def test_truncated_json_is_400(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    body = jbytes(activity(aid="tr-1"))
    assert_status(send_teams(sb, body[:len(body) // 2], good_token()), 400)
    assert_nothing_stored(b, redis, settle=0.5)


@pytest.mark.parametrize("body", [b"[1,2,3]", b'"activity"', b"42", b"null"])
def test_body_not_an_object_is_400(sb, fakes, redis, body):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    assert_status(send_teams(sb, body, good_token()), 400)
    assert_nothing_stored(b, redis, settle=0.5)


@pytest.mark.parametrize("field", ["channelId", "serviceUrl", "recipient"])
def test_missing_member_is_400_naming_it(sb, fakes, redis, field):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    a = activity(aid="miss-" + field)
    del a[field]
    assert_status(send_teams(sb, a, good_token()), 400, field=field)
    assert_nothing_stored(b, redis, settle=0.5)


@pytest.mark.parametrize("text", ["", "   "], ids=["empty", "blank"])
def test_empty_text_is_400(sb, fakes, redis, text):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    assert_status(send_teams(sb, activity(aid="txt-1", text=text), good_token()), 400,
                  field="text")
    assert_nothing_stored(b, redis, settle=0.5)


def test_body_over_max_body_is_413(sb, fakes, redis):  # noqa: F811
    b = Bound(sb, fakes)
    bind_teams(b)
    base = jbytes(activity(aid="big-1", padding=""))
    body = jbytes(activity(aid="big-1", padding="x" * (MAX_BODY + 1 - len(base))))
    assert len(body) == MAX_BODY + 1
    headers = [("Content-Type", "application/json"), ("Authorization", "Bearer " + good_token())]
    conn = RawConn(sb.port, timeout=10)
    try:
        try:
            conn.send(req("POST", TEAMS_PATH, headers, body=body))
        except OSError:
            pass
        r = conn.read_response(timeout=10)
    finally:
        conn.close()
    assert r.status == 413, r
    assert_nothing_stored(b, redis, settle=0.5)


# =============================================================================================
# replies out through the Bot Framework connector

class Connector:
    """A fake Bot Framework: the OAuth token endpoint and a serviceUrl (allow-listed)."""

    def __init__(self, server, fakes, token_reply=None, threads=2):  # noqa: F811
        self.token_reply = token_reply or json_reply(
            {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
             "access_token": "tok-1"})
        self.fake = fakes(self.route)
        self.service_url = self.fake.base + "/amer/"
        self.srv = server(*SERVER_FLAGS, "--pace-ms", 200,
                          "--botframework-token-url", self.fake.base + "/oauth2/v2.0/token",
                          threads=threads)
        self.b = Bound(self.srv, fakes)
        self.ch = bind_teams(self.b, allowedServiceUrls=[self.fake.base])
        self.events = fakes(ok())
        Tenant(self.srv, key=self.b.key).subscribe({self.events.url: ["message_sent"]})
        self.n_activity = 0
        self.activity_reply = None

    def route(self, rec, fake):
        if rec.path.startswith("/oauth2/"):
            return self.token_reply(rec, fake)
        if rec.path.startswith("/amer/v3/conversations/") and self.activity_reply:
            return self.activity_reply(rec, fake)
        if rec.path.startswith("/amer/v3/conversations/"):
            self.n_activity += 1
            return Reply(201, jbytes({"id": "act-%d" % (8 + self.n_activity)}),
                         content_type="application/json")
        return Reply(404, "no such route")

    def token_requests(self):
        return self.fake.snapshot(lambda r: r.path.startswith("/oauth2/"))

    def activity_requests(self):
        return self.fake.snapshot(lambda r: r.path.startswith("/amer/"))

    def inbound(self, aid, text, conv=CONV_ID):
        r = send_teams(self.srv, activity(aid=aid, text=text, service_url=self.service_url,
                                          conv=conv), good_token(self.service_url))
        assert_ok(r, "inbound")

    def wait_out(self, n=1, timeout=POLL):
        deadline = time.monotonic() + timeout
        while True:
            convs = self.b.conversations()
            out = [m for m in self.b.messages(convs[0]["id"]) if m["direction"] == "out"] \
                if convs else []
            if (len(out) >= n and all(m.get("status") in ("sent", "failed") for m in out)) \
                    or time.monotonic() >= deadline:
                return convs, out
            time.sleep(0.1)


def test_agent_reply_goes_out_through_the_connector(server, fakes):  # noqa: F811
    c = Connector(server, fakes)
    c.b.agent.behaviour = json_reply({"reply": "teams reply"})
    c.inbound("out-1", "hello bot")
    convs, out = c.wait_out(1)
    assert len(out) == 1, out
    m = out[0]
    assert m.get("status") == "sent" and m.get("platformMessageId") == "act-9", m

    tok, = c.token_requests()
    assert tok.method == "POST", tok
    assert (tok.header("Content-Type") or "").startswith("application/x-www-form-urlencoded")
    form = urllib.parse.parse_qs(tok.body.decode(), strict_parsing=True)
    assert form == {"grant_type": ["client_credentials"], "client_id": [APP_ID],
                    "client_secret": [APP_PASSWORD],
                    "scope": ["https://api.botframework.com/.default"]}, form
    act, = c.activity_requests()
    assert act.t >= tok.t
    assert act.method == "POST"
    assert act.path == "/amer/v3/conversations/%s/activities" % urllib.parse.quote(
        CONV_ID, safe=""), act.path
    assert act.header("Authorization") == "Bearer tok-1", dict(act.headers)
    assert (act.header("Content-Type") or "").startswith("application/json")
    body = act.json()
    assert body.get("type") == "message" and body.get("text") == "teams reply", body
    ev = c.events.wait_for(1, POLL)[0].json()
    assert ev["data"]["platform_message_id"] == "act-9" and ev["data"]["seq"] == m["seq"], ev


@pytest.mark.parametrize("threads", [2, 4])
def test_later_replies_reuse_the_token(server, fakes, threads):  # noqa: F811
    """One token for the app while it is valid, whichever loop thread sends (--threads)."""
    c = Connector(server, fakes, threads=threads)
    c.b.agent.behaviour = json_reply({"reply": "first reply"})
    c.inbound("tk-1", "one")
    convs, out = c.wait_out(1)
    assert [m.get("status") for m in out] == ["sent"], out
    for i in range(3):
        r = c.srv.tenant_api(c.b.key, "/api/conversations/%s/messages" % convs[0]["id"],
                             method="POST", json={"text": "operator %d" % i})
        assert r.status_code == 201, r.text
    convs, out = c.wait_out(4)
    assert [m.get("status") for m in out] == ["sent"] * 4, out
    assert [a.json()["text"] for a in c.activity_requests()] == \
        ["first reply", "operator 0", "operator 1", "operator 2"]
    assert all(a.header("Authorization") == "Bearer tok-1" for a in c.activity_requests())
    assert len(c.token_requests()) == 1, "the token is cached: %r" % c.token_requests()


def test_token_endpoint_401_fails_the_message(server, fakes):  # noqa: F811
    c = Connector(server, fakes, token_reply=json_reply(
        {"error": "invalid_client", "error_description": "AADSTS7000215"}, code=401))
    c.b.agent.behaviour = json_reply({"reply": "never delivered"})
    c.inbound("bad-tok-1", "hello")
    convs, out = c.wait_out(1)
    assert len(out) == 1 and out[0].get("status") == "failed", out
    assert out[0].get("error"), out
    assert APP_PASSWORD not in json.dumps(out), out
    time.sleep(SETTLE)
    assert c.activity_requests() == [], "no activity without a token"
    assert len(c.token_requests()) == 1, "a 401 from the token endpoint is final"
    assert c.events.count() == 0


def test_conversation_id_is_percent_encoded_in_the_path(server, fakes):  # noqa: F811
    c = Connector(server, fakes)
    c.b.agent.behaviour = json_reply({"reply": "into the thread"})
    conv = "19:meeting_Zm9v@thread.v2;messageid=1700000000001"
    c.inbound("enc-1", "hello", conv=conv)
    convs, out = c.wait_out(1)
    assert convs[0]["chatId"] == conv, convs
    assert [m.get("status") for m in out] == ["sent"], out
    act, = c.activity_requests()
    assert act.path == "/amer/v3/conversations/%s/activities" % urllib.parse.quote(conv, safe=""), \
        act.path


def test_connector_401_fetches_a_new_token_and_retries(server, fakes):  # noqa: F811
    """A 401 from the connector (revoked or expired token) is retried with a fresh token."""
    c = Connector(server, fakes)
    tokens = iter(["tok-1", "tok-2", "tok-3"])
    c.token_reply = lambda rec, fake: Reply(
        200, jbytes({"token_type": "Bearer", "expires_in": 3600, "access_token": next(tokens)}),
        content_type="application/json")
    first = {"done": False}

    def once_401(rec, fake):
        if not first["done"]:
            first["done"] = True
            return Reply(401, "Authorization has been denied for this request.")
        return Reply(201, jbytes({"id": "act-after-401"}), content_type="application/json")
    c.activity_reply = once_401
    c.b.agent.behaviour = json_reply({"reply": "needs a fresh token"})
    c.inbound("re-401", "hello")
    convs, out = c.wait_out(1)
    assert [m.get("status") for m in out] == ["sent"], out
    assert out[0].get("platformMessageId") == "act-after-401", out
    acts = c.activity_requests()
    assert [a.header("Authorization") for a in acts] == ["Bearer tok-1", "Bearer tok-2"], acts
    assert len(c.token_requests()) == 2, c.token_requests()


def test_connector_400_is_final(server, fakes):  # noqa: F811
    c = Connector(server, fakes)
    c.activity_reply = lambda rec, fake: Reply(400, jbytes({"error": {"code": "BadArgument"}}),
                                               content_type="application/json")
    c.b.agent.behaviour = json_reply({"reply": "refused"})
    c.inbound("fin-400", "hello")
    convs, out = c.wait_out(1)
    assert len(out) == 1 and out[0].get("status") == "failed", out
    assert "400" in out[0].get("error", ""), out
    assert len(c.activity_requests()) == 1
    assert c.fake.stays_at(2, 1.5), "a 400 is not retried: %r" % c.fake.snapshot()
    assert c.events.count() == 0
