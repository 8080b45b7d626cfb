"""Limits and hostile clients: header size, body size, malformed requests, unknown routes and
methods, slowloris and idle timeouts, the connection cap."""

import json
import time

import pytest

from sbhelpers import (ADMIN_TOKEN, PeerClosed, RawConn, assert_problem, chunked, parse_metrics,
                       req, wait_until)

AUTH = ("Authorization", "Bearer " + ADMIN_TOKEN)


def problem_of(raw):
    assert (raw.header("Content-Type") or "").split(";")[0].strip() == "application/problem+json"
    body = raw.json()
    for k in ("type", "title", "status", "detail"):
        assert k in body, body
    assert body["status"] == raw.status
    return body


# ---- header size --------------------------------------------------------------------------

def test_header_block_over_16k_gets_431(app):
    data = req("GET", "/healthz", [("X-Big", "a" * (17 * 1024))])
    with app.raw() as c:
        c.send(data)
        r = c.read_response()
    assert r.status == 431, r


def test_many_headers_over_16k_get_431(app):
    headers = [("X-Filler-%03d" % i, "b" * 100) for i in range(200)]  # ~22 KiB
    with app.raw() as c:
        c.send(req("GET", "/healthz", headers))
        r = c.read_response()
    assert r.status == 431, r


def test_header_block_of_8k_is_fine(app):
    r = app.get("/healthz", headers={"X-Big": "c" * 8000})
    assert r.status_code == 200


def test_server_still_serves_after_431(app):
    with app.raw() as c:
        c.send(req("GET", "/healthz", [("X-Big", "a" * (20 * 1024))]))
        assert c.read_response().status == 431
    assert app.get("/healthz").status_code == 200


# ---- body size ----------------------------------------------------------------------------

@pytest.fixture
def small_body_app(server):
    return server("--max-body", "1024")


def big_tenant_body(n):
    body = json.dumps({"name": "x" * n})
    return body


def test_body_over_max_body_with_content_length_gets_413(small_body_app):
    body = big_tenant_body(2000)
    with small_body_app.raw() as c:
        c.send(req("POST", "/api/admin/tenants", [AUTH, ("X-Request-Id", "big-cl")], body=body))
        r = c.read_response()
    assert r.status == 413, r
    problem_of(r)
    assert r.header("X-Request-Id") == "big-cl"


def test_body_over_max_body_chunked_gets_413(small_body_app):
    body = big_tenant_body(2000).encode()
    with small_body_app.raw() as c:
        c.send(req("POST", "/api/admin/tenants", [AUTH, ("Transfer-Encoding", "chunked")])
               + chunked(body, 300))
        r = c.read_response()
    assert r.status == 413, r
    problem_of(r)


def test_huge_content_length_is_refused_without_waiting_for_the_body(small_body_app):
    with small_body_app.raw() as c:
        c.send(b"POST /api/admin/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               + ADMIN_TOKEN.encode() + b"\r\nContent-Length: 10000000000\r\n\r\n")
        r = c.read_response(timeout=3)
    assert r.status == 413, r


def test_body_under_max_body_is_fine(small_body_app):
    r = small_body_app.admin("POST", "/api/admin/tenants", data=big_tenant_body(500))
    assert r.status_code != 413
    assert r.status_code in (201, 400), r.text  # 400 would only be a name-length rule


def test_nothing_created_by_a_413(small_body_app):
    r = small_body_app.admin("POST", "/api/admin/tenants", data=big_tenant_body(5000))
    assert r.status_code == 413
    lst = small_body_app.admin("GET", "/api/admin/tenants")
    assert lst.status_code == 200
    assert lst.json()["totalCount"] == 0


# ---- malformed requests -------------------------------------------------------------------

@pytest.mark.parametrize("garbage", [
    b"THIS IS NOT HTTP\r\n\r\n",
    b"\x00\x01\x02\x03\x04garbage\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost localhost\r\n\r\n",          # header without a colon
    b"GET /healthz HTTX/1.1\r\nHost: x\r\n\r\n",                  # bad protocol
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/admin/tenants HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",               # smuggling shape
])
def test_malformed_request_gets_400_and_close(app, garbage):
    with app.raw() as c:
        c.send(garbage)
        try:
            r = c.read_response()
        except PeerClosed:
            pytest.fail("connection closed without a 400 response for %r" % garbage)
        assert r.status == 400, r
        assert c.wait_closed(3), "connection left open after a malformed request"
    assert app.get("/healthz").status_code == 200


def test_bad_chunk_encoding_gets_400(app):
    with app.raw() as c:
        c.send(req("POST", "/api/admin/tenants", [AUTH, ("Transfer-Encoding", "chunked")])
               + b"zz\r\nhello\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        assert c.wait_closed(3)


# ---- routes and methods -------------------------------------------------------------------

def test_unknown_route_is_404_problem(app):
    r = app.get("/definitely/not/here", headers={"X-Request-Id": "nf-1"})
    body = assert_problem(r, 404)
    assert r.headers["X-Request-Id"] == "nf-1"
    assert body["title"]


def test_unknown_api_route_is_404_problem(app):
    r = app.admin("GET", "/api/admin/nothing-here")
    assert_problem(r, 404)


@pytest.mark.parametrize("method", ["DELETE", "POST", "PUT", "PATCH"])
def test_wrong_method_is_405_with_allow(app, method):
    r = app.request(method, "/healthz")
    assert r.status_code == 405
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",")]
    assert "GET" in allow, r.headers
    assert method not in allow
    assert_problem(r, 405)


def test_wrong_method_on_admin_collection_is_405(app):
    r = app.admin("DELETE", "/api/admin/tenants")
    assert r.status_code == 405
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",")]
    assert "GET" in allow and "POST" in allow, r.headers


# ---- timeouts -----------------------------------------------------------------------------

@pytest.mark.slow
def test_slowloris_is_cut_off_by_header_timeout(server):
    srv = server("--header-timeout-ms", "1000")
    msg = req("GET", "/healthz", [("X-Request-Id", "slowloris")])
    assert len(msg) * 0.3 > 10  # finishing would take well over 10 s
    c = srv.raw()
    t0 = time.monotonic()
    closed_at = None
    try:
        for i in range(len(msg)):
            try:
                c.send(msg[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            if c.wait_closed(0.3):
                closed_at = time.monotonic()
                break
            if time.monotonic() - t0 > 5:
                break  # already too late; no need to drip the rest
    finally:
        c.close()
    assert closed_at is not None, "slowloris client was allowed to finish its request"
    elapsed = closed_at - t0
    assert elapsed < 3.5, "slowloris connection closed only after %.1f s" % elapsed
    assert elapsed > 0.7, "closed after %.2f s, before the 1 s header timeout" % elapsed
    assert not c.buf.startswith(b"HTTP/1.1 200"), c.buf[:100]
    assert srv.get("/healthz").status_code == 200


@pytest.mark.slow
def test_header_timeout_spares_a_request_sent_in_two_parts(server):
    srv = server("--header-timeout-ms", "1000")
    with srv.raw() as c:
        msg = req("GET", "/healthz")
        c.send(msg[:10])
        time.sleep(0.5)
        c.send(msg[10:])
        assert c.read_response().status == 200


@pytest.mark.slow
def test_idle_keep_alive_connection_is_closed(server):
    srv = server("--idle-timeout-ms", "1500")
    with srv.raw() as c:
        c.send(req("GET", "/healthz"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.is_open(wait=0.5), "idle connection closed within 0.5 s"
        assert c.wait_closed(3.5), "idle keep-alive connection still open after 4 s"
        elapsed = time.monotonic() - t0
        assert 1.0 < elapsed < 4.0, elapsed


@pytest.mark.slow
def test_busy_keep_alive_connection_is_not_closed(server):
    srv = server("--idle-timeout-ms", "1500")
    with srv.raw() as c:
        for i in range(4):
            c.send(req("GET", "/healthz"))
            assert c.read_response().status == 200, "request %d" % i
            time.sleep(0.8)
        c.send(req("GET", "/healthz"))
        assert c.read_response().status == 200


# ---- connection cap -----------------------------------------------------------------------

@pytest.mark.slow
def test_max_connections(server):
    srv = server("--max-connections", "5")
    held = []
    try:
        for i in range(5):
            c = srv.raw()
            held.append(c)
            c.send(req("GET", "/healthz"))
            assert c.read_response().status == 200, "connection %d of 5" % (i + 1)

        sixth = RawConn(srv.port)
        try:
            # the refusal may come before any request; give it a moment, then ask
            if not sixth.wait_closed(1.0):
                try:
                    sixth.send(req("GET", "/healthz"))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                assert sixth.wait_closed(5), "6th connection neither refused nor closed"
            if sixth.buf:
                assert sixth.buf.startswith(b"HTTP/1.1 503") or \
                    sixth.buf.startswith(b"HTTP/1.0 503"), sixth.buf[:200]
        finally:
            sixth.close()

        # the held connections still work
        for c in held[2:]:
            c.send(req("GET", "/healthz"))
            assert c.read_response().status == 200
        for c in held[:2]:
            c.close()

        def serves():
            with RawConn(srv.port) as c:
                try:
                    c.send(req("GET", "/metrics", [("Connection", "close")]))
                    r = c.read_response()
                except (PeerClosed, OSError):
                    return None
                return r if r.status == 200 else None

        r = wait_until(serves, 5, 0.2)
        assert r, "server did not serve again after connections were closed"
        refused = [v for n, _, v in parse_metrics(r.body.decode())
                   if n == "switchboard_http_connections_refused_total"]
        assert refused and sum(refused) >= 1, "refused connection not counted"
    finally:
        for c in held:
            c.close()


def test_wrong_method_on_admin_item_is_405(app):
    t = app.create_tenant("method")
    r = app.admin("POST", "/api/admin/tenants/" + t["id"])
    assert r.status_code == 405
    allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "PUT", "DELETE"} <= allow, r.headers
    assert "POST" not in allow
