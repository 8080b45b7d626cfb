"""Admin API: authentication, request-body validation, tenant lifecycle and pagination."""

import re

import pytest

from sbhelpers import ADMIN_TOKEN, assert_page, assert_problem

TENANTS = "/api/admin/tenants"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:00)$")


# ---- authentication -----------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Bearer " + ADMIN_TOKEN + "x"},
    {"Authorization": "Bearer " + ADMIN_TOKEN[:-1]},
    {"Authorization": "Basic " + ADMIN_TOKEN},
    {"Authorization": ADMIN_TOKEN},
    {"Authorization": "Bearer"},
    {"X-API-Key": ADMIN_TOKEN},
], ids=["none", "wrong", "longer", "shorter", "basic", "no-scheme", "empty-bearer", "api-key"])
def test_admin_without_the_right_token_is_401(app, headers):
    r = app.request("GET", TENANTS, headers=headers)
    assert_problem(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers


def test_admin_401_on_writes_creates_nothing(app):
    r = app.request("POST", TENANTS, json={"name": "intruder"},
                    headers={"Authorization": "Bearer nope"})
    assert_problem(r, 401)
    lst = app.admin("GET", TENANTS)
    assert lst.status_code == 200
    assert lst.json()["totalCount"] == 0


def test_admin_with_right_token_works(app):
    r = app.admin("GET", TENANTS)
    assert r.status_code == 200
    assert_page(r.json())


def test_bearer_scheme_is_case_insensitive(app):
    r = app.request("GET", TENANTS, headers={"Authorization": "bearer " + ADMIN_TOKEN})
    assert r.status_code == 200


def test_without_admin_token_configured_admin_is_403(server):
    srv = server(admin_token=None)
    for h in ({}, {"Authorization": "Bearer anything"}, {"Authorization": "Bearer "}):
        r = srv.request("GET", TENANTS, headers=h)
        assert_problem(r, 403)
    assert srv.get("/healthz").status_code == 200


# ---- body validation ----------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b"{",
    b'{"name": "x",}',
    b"{'name': 'x'}",
    b'{"name": "x"} trailing',
    b"nul\x00l",
], ids=["truncated", "trailing-comma", "single-quotes", "trailing-garbage", "nul"])
def test_invalid_json_is_400_without_field(app, body):
    r = app.admin("POST", TENANTS, data=body)
    assert_problem(r, 400, no_field=True)


@pytest.mark.parametrize("body", [b"[]", b'[{"name":"x"}]', b'"name"', b"42", b"null", b"true"],
                         ids=["array", "array-of-object", "string", "number", "null", "true"])
def test_non_object_json_is_400(app, body):
    r = app.admin("POST", TENANTS, data=body)
    assert_problem(r, 400)


def test_empty_body_is_400(app):
    r = app.admin("POST", TENANTS, data=b"")
    assert_problem(r, 400)


@pytest.mark.parametrize("body", [
    b'{"name": 5}', b'{"name": null}', b'{"name": ["a"]}', b'{"name": {"x": 1}}',
    b'{"name": true}', b"{}", b'{"nom": "x"}',
], ids=["int", "null", "array", "object", "bool", "missing", "misspelt"])
def test_bad_name_is_400_naming_name(app, body):
    r = app.admin("POST", TENANTS, data=body)
    assert_problem(r, 400, field="name")


@pytest.mark.parametrize("body", [
    b'{"name": "\xff\xfe"}',
    b'{"name": "caf\xc3"}',
    b'{"name": "\xed\xa0\x80"}',           # UTF-16 surrogate encoded in UTF-8
    b'{"name": "\xc0\xaf"}',               # overlong
], ids=["ff-fe", "truncated-seq", "surrogate", "overlong"])
def test_invalid_utf8_is_400(app, body):
    r = app.admin("POST", TENANTS, data=body)
    assert_problem(r, 400)
    assert app.admin("GET", TENANTS).json()["totalCount"] == 0


def test_escaped_unicode_name_round_trips(app):
    r = app.admin("POST", TENANTS, data='{"name": "Caf\\u00e9 \\ud83d\\ude00 \u00fc"}'.encode())
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Caf\u00e9 \U0001F600 \u00fc"
    got = app.admin("GET", TENANTS + "/" + r.json()["id"]).json()
    assert got["name"] == "Caf\u00e9 \U0001F600 \u00fc"


def test_deeply_nested_json_is_400_not_a_crash(app):
    body = b"[" * 100000 + b"]" * 100000
    r = app.admin("POST", TENANTS, data=body)
    assert r.status_code == 400
    body = b'{"name":"x","theme":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"
    r = app.admin("POST", TENANTS, data=body)
    assert r.status_code in (201, 400)
    assert app.get("/healthz").status_code == 200


# ---- tenant lifecycle ---------------------------------------------------------------------

def test_tenant_lifecycle(app):
    r = app.admin("POST", TENANTS, json={"name": "Acme Corp"})
    assert r.status_code == 201, r.text
    t = r.json()
    for k in ("id", "name", "status", "apiKey", "apiKeyId", "apiSecret", "createdAt",
              "updatedAt"):
        assert k in t, "201 body lacks %r: %r" % (k, t)
    assert UUID.match(t["id"]), t["id"]
    assert t["name"] == "Acme Corp"
    assert t["status"] == "active"
    assert re.match(r"^sbk_%s_[A-Za-z0-9_-]{43}$" % re.escape(t["id"]), t["apiKey"]), t["apiKey"]
    assert isinstance(t["apiSecret"], str) and t["apiSecret"]
    assert RFC3339.match(t["createdAt"]) and RFC3339.match(t["updatedAt"]), t

    r = app.admin("GET", TENANTS + "/" + t["id"])
    assert r.status_code == 200
    got = r.json()
    assert got["id"] == t["id"] and got["name"] == "Acme Corp" and got["status"] == "active"
    assert got["createdAt"] == t["createdAt"]
    for k in ("apiKey", "apiSecret", "key"):
        assert k not in got, "GET tenant shows %s" % k
    assert t["apiKey"] not in r.text and t["apiSecret"] not in r.text

    r = app.admin("GET", TENANTS)
    assert r.status_code == 200
    page = assert_page(r.json())
    assert [x["id"] for x in page["items"]] == [t["id"]]
    assert t["apiKey"] not in r.text and t["apiSecret"] not in r.text

    r = app.admin("PUT", TENANTS + "/" + t["id"], json={"name": "Acme Renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Acme Renamed"
    assert r.json()["status"] == "active"
    got = app.admin("GET", TENANTS + "/" + t["id"]).json()
    assert got["name"] == "Acme Renamed"
    assert got["status"] == "active"

    r = app.admin("DELETE", TENANTS + "/" + t["id"])
    assert r.status_code == 204
    assert r.content == b""
    assert_problem(app.admin("GET", TENANTS + "/" + t["id"]), 404)
    assert_problem(app.admin("PUT", TENANTS + "/" + t["id"], json={"name": "zombie"}), 404)
    assert_problem(app.admin("DELETE", TENANTS + "/" + t["id"]), 404)
    assert app.admin("GET", TENANTS).json()["totalCount"] == 0


def test_put_status_suspended_and_back(app):
    t = app.create_tenant("toggle")
    r = app.admin("PUT", TENANTS + "/" + t["id"], json={"status": "suspended"})
    assert r.status_code == 200
    assert r.json()["status"] == "suspended"
    assert r.json()["name"] == "toggle"
    r = app.admin("PUT", TENANTS + "/" + t["id"], json={"status": "active"})
    assert r.json()["status"] == "active"


@pytest.mark.parametrize("body,field", [
    ({"status": "deleted"}, "status"),
    ({"status": 1}, "status"),
    ({"name": 7}, "name"),
    ({"name": None}, "name"),
])
def test_put_tenant_validation(app, body, field):
    t = app.create_tenant("validate-me")
    r = app.admin("PUT", TENANTS + "/" + t["id"], json=body)
    assert_problem(r, 400, field=field)
    got = app.admin("GET", TENANTS + "/" + t["id"]).json()
    assert got["name"] == "validate-me" and got["status"] == "active"


@pytest.mark.parametrize("tid", ["00000000-0000-4000-8000-000000000000", "not-a-uuid"])
def test_unknown_tenant_is_404(app, tid):
    assert_problem(app.admin("GET", TENANTS + "/" + tid), 404)
    assert_problem(app.admin("DELETE", TENANTS + "/" + tid), 404)


def test_pagination_envelope(app):
    a = app.create_tenant("first")
    b = app.create_tenant("second")
    r = app.admin("GET", TENANTS + "?pageSize=1")
    assert r.status_code == 200
    p = assert_page(r.json())
    assert p["pageNumber"] == 1
    assert p["totalPages"] == 2
    assert p["totalCount"] == 2
    assert p["hasNextPage"] is True
    assert p["hasPreviousPage"] is False
    assert len(p["items"]) == 1
    first = p["items"][0]["id"]

    p = app.admin("GET", TENANTS + "?pageSize=1&page=2").json()
    assert p["pageNumber"] == 2
    assert p["hasNextPage"] is False
    assert p["hasPreviousPage"] is True
    assert len(p["items"]) == 1
    assert {first, p["items"][0]["id"]} == {a["id"], b["id"]}, "each tenant on one page"

    p = app.admin("GET", TENANTS).json()
    assert p["pageNumber"] == 1 and p["totalPages"] == 1 and p["totalCount"] == 2
    assert sorted(x["id"] for x in p["items"]) == sorted([a["id"], b["id"]])
    assert p["hasNextPage"] is False and p["hasPreviousPage"] is False


def test_lists_are_in_creation_order(app):
    """'Items are ordered by creation time, oldest first', also for objects created within the
    same millisecond (one client creating them one after the other)."""
    made = [app.create_tenant("order-%02d" % i)["id"] for i in range(30)]
    got = [x["id"] for x in app.admin("GET", TENANTS + "?pageSize=100").json()["items"]]
    assert got == made, "tenant list is not in creation order"
    pages = []
    for n in (1, 2, 3):
        pages += [x["id"] for x in app.admin(
            "GET", TENANTS + "?pageSize=10&page=%d" % n).json()["items"]]
    assert pages == made, "pages are not in creation order"
    tid = made[0]
    agents = []
    for i in range(10):
        r = app.admin("POST", TENANTS + "/" + tid + "/agents",
                      json={"name": "a%d" % i, "webhookUrl": "https://a.example.com/"})
        assert r.status_code == 201
        agents.append(r.json()["id"])
    got = [x["id"] for x in app.admin("GET", TENANTS + "/" + tid + "/agents").json()["items"]]
    assert got == agents, "agent list is not in creation order"


def test_default_page_size_is_20(app):
    for i in range(21):
        app.create_tenant("t%02d" % i)
    p = app.admin("GET", TENANTS).json()
    assert len(p["items"]) == 20
    assert p["totalCount"] == 21 and p["totalPages"] == 2 and p["hasNextPage"] is True
    first = {x["name"] for x in p["items"]}
    p = app.admin("GET", TENANTS + "?page=2").json()
    assert p["pageNumber"] == 2 and len(p["items"]) == 1
    assert first | {p["items"][0]["name"]} == {"t%02d" % i for i in range(21)}
    p = app.admin("GET", TENANTS + "?pageSize=100").json()
    assert len(p["items"]) == 21


@pytest.mark.parametrize("query,field", [
    ("pageSize=0", "pageSize"),
    ("pageSize=101", "pageSize"),
    ("pageSize=-1", "pageSize"),
    ("pageSize=abc", "pageSize"),
    ("page=0", "page"),
    ("page=-3", "page"),
    ("page=x", "page"),
])
def test_pagination_out_of_range_is_400(app, query, field):
    r = app.admin("GET", TENANTS + "?" + query)
    assert_problem(r, 400, field=field)


def test_empty_list(app):
    p = app.admin("GET", TENANTS).json()
    assert p["items"] == [] and p["totalCount"] == 0
    assert p["hasNextPage"] is False and p["hasPreviousPage"] is False
