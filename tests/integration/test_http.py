"""HTTP/1.1 connection handling: keep-alive, Connection: close, HTTP/1.0, pipelining, HEAD,
chunked request bodies and X-Request-Id."""

import json
import time

import pytest

from sbhelpers import ADMIN_TOKEN, RawConn, chunked, req

AUTH = ("Authorization", "Bearer " + ADMIN_TOKEN)


def test_keep_alive_serves_several_requests_on_one_connection(app):
    with app.raw() as c:
        for i in range(5):
            c.send(req("GET", "/healthz", [("X-Request-Id", "ka-%d" % i)]))
            r = c.read_response()
            assert r.status == 200
            assert r.json() == {"status": "ok"}
            assert r.header("X-Request-Id") == "ka-%d" % i
            assert (r.header("Connection") or "").lower() != "close"
        # and it is still open afterwards
        assert c.is_open(wait=0.3), "server closed a keep-alive connection after a response"
        c.send(req("GET", "/readyz"))
        assert c.read_response().status == 200


def test_connection_close_is_honoured(app):
    with app.raw() as c:
        c.send(req("GET", "/healthz", [("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "close"
        assert c.wait_closed(3), "server kept the connection open after Connection: close"


def test_http10_without_keep_alive_closes(app):
    with app.raw() as c:
        c.send(req("GET", "/healthz", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200
        assert r.json() == {"status": "ok"}
        assert c.wait_closed(3), "HTTP/1.0 request without keep-alive left the connection open"


def test_pipelined_requests_are_answered_in_order(app):
    data = (req("GET", "/healthz", [("X-Request-Id", "pipe-a")])
            + req("GET", "/nope", [("X-Request-Id", "pipe-b")])
            + req("GET", "/healthz", [("X-Request-Id", "pipe-c")]))
    with app.raw() as c:
        c.send(data)  # one sendall: all three arrive together
        rs = c.read_responses(3)
        assert [r.status for r in rs] == [200, 404, 200]
        assert [r.header("X-Request-Id") for r in rs] == ["pipe-a", "pipe-b", "pipe-c"]
        assert rs[0].json() == {"status": "ok"}
        assert rs[2].json() == {"status": "ok"}
        assert c.is_open(wait=0.2)


def test_pipelined_post_bodies_are_not_mixed_up(app):
    data = b"".join(
        req("POST", "/api/admin/tenants", [AUTH, ("X-Request-Id", "pp-%d" % i)],
            body=json.dumps({"name": "pipelined-%d" % i}))
        for i in range(3))
    with app.raw() as c:
        c.send(data)
        rs = c.read_responses(3)
    assert [r.status for r in rs] == [201, 201, 201]
    assert [r.json()["name"] for r in rs] == ["pipelined-0", "pipelined-1", "pipelined-2"]
    assert [r.header("X-Request-Id") for r in rs] == ["pp-0", "pp-1", "pp-2"]


def test_half_closed_client_gets_every_pipelined_answer(app):
    """A client that sends its requests and then shuts down its write side (printf | nc) still
    reads every answer, also of requests still waiting for Redis, and then sees the close."""
    import socket
    data = b"".join(
        req("POST", "/api/admin/tenants", [AUTH, ("X-Request-Id", "hc-%d" % i)],
            body=json.dumps({"name": "half-closed-%d" % i}))
        for i in range(3))
    with app.raw() as c:
        c.send(data)
        c.sock.shutdown(socket.SHUT_WR)
        rs = c.read_responses(3)
        assert [r.status for r in rs] == [201, 201, 201]
        assert [r.json()["name"] for r in rs] == ["half-closed-0", "half-closed-1", "half-closed-2"]
        assert c.wait_closed(3), "the connection stayed open after the half-closed client's answers"


def test_head_healthz_has_get_headers_and_no_body(app):
    with app.raw() as c:
        c.send(req("GET", "/healthz"))
        g = c.read_response()
        c.send(req("HEAD", "/healthz"))
        h = c.read_response(head=True)
        assert h.status == 200
        assert h.header("Content-Length") == g.header("Content-Length") == str(len(g.body))
        assert h.header("Content-Type") == g.header("Content-Type")
        # no body after the HEAD response: the next bytes on the wire are the next response
        c.send(req("GET", "/healthz", [("X-Request-Id", "after-head")]))
        nxt = c.read_response()
        assert nxt.status == 200, "bytes after a HEAD response: a body was sent"
        assert nxt.header("X-Request-Id") == "after-head"
        assert not c.buf


def test_head_and_get_pipelined(app):
    with app.raw() as c:
        c.send(req("HEAD", "/healthz", [("X-Request-Id", "h1")])
               + req("GET", "/healthz", [("X-Request-Id", "g1")]))
        h = c.read_response(head=True)
        g = c.read_response()
        assert (h.status, g.status) == (200, 200)
        assert h.header("X-Request-Id") == "h1"
        assert g.header("X-Request-Id") == "g1"
        assert g.json() == {"status": "ok"}


def test_chunked_request_body_is_accepted(app):
    body = json.dumps({"name": "chunky tenant"}).encode()
    data = req("POST", "/api/admin/tenants",
               [AUTH, ("Transfer-Encoding", "chunked"), ("Content-Type", "application/json")]
               ) + chunked(body, 5)
    with app.raw() as c:
        c.send(data)
        r = c.read_response()
        assert r.status == 201, r
        assert r.json()["name"] == "chunky tenant"


def test_chunked_body_sent_in_pieces(app):
    body = json.dumps({"name": "slow chunks"}).encode()
    head = req("POST", "/api/admin/tenants", [AUTH, ("Transfer-Encoding", "chunked")])
    enc = chunked(body, 4)
    with app.raw() as c:
        c.send(head)
        for i in range(0, len(enc), 7):
            c.send(enc[i:i + 7])
            time.sleep(0.01)
        r = c.read_response()
        assert r.status == 201, r
        assert r.json()["name"] == "slow chunks"


def test_body_without_content_type_is_accepted(app):
    data = req("POST", "/api/admin/tenants", [AUTH], body=json.dumps({"name": "no ctype"}))
    with app.raw() as c:
        c.send(data)
        r = c.read_response()
    assert r.status == 201, r


# ---- X-Request-Id ----------------------------------------------------------------------------

def test_request_id_is_echoed(app):
    r = app.get("/healthz", headers={"X-Request-Id": "my-req-123"})
    assert r.headers["X-Request-Id"] == "my-req-123"


def test_request_id_is_generated_when_absent(app):
    a = app.get("/healthz")
    b = app.get("/healthz")
    assert a.headers.get("X-Request-Id")
    assert b.headers.get("X-Request-Id")
    assert a.headers["X-Request-Id"] != b.headers["X-Request-Id"]


@pytest.mark.parametrize("method,path,headers,body,status", [
    ("GET", "/nope", {}, None, 404),
    ("DELETE", "/healthz", {}, None, 405),
    ("GET", "/api/admin/tenants", {}, None, 401),
    ("POST", "/api/admin/tenants", {"Authorization": "Bearer " + ADMIN_TOKEN}, b"{", 400),
    ("GET", "/api/tenant", {"X-API-Key": "garbage"}, None, 401),
])
def test_request_id_on_error_responses(app, method, path, headers, body, status):
    h = dict(headers)
    h["X-Request-Id"] = "err-id-1"
    r = app.request(method, path, headers=h, data=body)
    assert r.status_code == status
    assert r.headers.get("X-Request-Id") == "err-id-1"
    r = app.request(method, path, headers=headers, data=body)
    assert r.status_code == status
    assert r.headers.get("X-Request-Id"), "generated id missing on a %d" % status


def test_request_id_on_400_for_garbage(app):
    with app.raw() as c:
        c.send(b"THIS IS NOT HTTP\r\n\r\n")
        r = c.read_response()
    assert r.status == 400
    assert r.header("X-Request-Id"), "even a 400 for garbage carries an X-Request-Id"


@pytest.mark.parametrize("bad", ["a" * 129, "has space", "tab\there", "\u00e9t\u00e9"])
def test_invalid_request_id_is_replaced(app, bad):
    with app.raw() as c:
        c.send(req("GET", "/healthz").replace(
            b"\r\n\r\n", ("\r\nX-Request-Id: %s\r\n\r\n" % bad).encode("utf-8")))
        r = c.read_response()
    assert r.status == 200
    rid = r.header("X-Request-Id")
    assert rid and rid != bad.strip()
    assert " " not in rid and len(rid) <= 128


def test_request_id_of_128_chars_is_kept(app):
    rid = "x" * 128
    r = app.get("/healthz", headers={"X-Request-Id": rid})
    assert r.headers["X-Request-Id"] == rid


def test_query_string_does_not_break_routing(app):
    r = app.get("/healthz?foo=bar")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_server_survives_client_that_disconnects_mid_request(app):
    for _ in range(5):
        c = RawConn(app.port)
        c.send(b"POST /api/admin/tenants HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"na")
        c.close()
    for _ in range(5):
        c = RawConn(app.port)
        c.send(b"GET /heal")
        c.close()
    r = app.get("/healthz")
    assert r.status_code == 200


def test_expect_100_continue(app):
    """curl sends `Expect: 100-continue` for bodies over 1 KiB: the request must still work."""
    body = json.dumps({"name": "expecting"}).encode()
    with app.raw() as c:
        c.send(req("POST", "/api/admin/tenants",
                   [AUTH, ("Content-Length", str(len(body))), ("Expect", "100-continue")]))
        try:
            interim = c.read_response(timeout=1.0)
            assert interim.status == 100, interim
        except TimeoutError:
            pass  # a server may also just wait for the body
        c.send(body)
        r = c.read_response()
        assert r.status == 201, r
        assert r.json()["name"] == "expecting"


def test_concurrent_clients(app):
    import threading
    results = []

    def worker(i):
        try:
            r = app.admin("POST", "/api/admin/tenants", json={"name": "conc-%d" % i})
            results.append(r.status_code)
        except Exception as e:  # noqa: BLE001 - reported below
            results.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [201] * 40, results
    p = app.admin("GET", "/api/admin/tenants?pageSize=100").json()
    assert p["totalCount"] == 40
    assert len({x["id"] for x in p["items"]}) == 40


def test_many_requests_on_one_connection(app):
    with app.raw() as c:
        batch = b"".join(req("GET", "/healthz", [("X-Request-Id", "m-%d" % i)])
                         for i in range(100))
        c.send(batch)
        rs = c.read_responses(100, timeout=10)
    assert [r.header("X-Request-Id") for r in rs] == ["m-%d" % i for i in range(100)]
    assert all(r.status == 200 for r in rs)
