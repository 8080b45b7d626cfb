"""HTTP-level regression tests of the security review (docs/security.md): the Host rule of
RFC 9112, the total deadline and minimum rate of request bodies, and the cap on open
connections per client address."""

import time

import pytest
import requests

from sbhelpers import PeerClosed, RawConn, req, wait_until

pytestmark = pytest.mark.server

BODY_FLAGS = ("--body-timeout-ms", "1000", "--body-min-rate", "100", "--body-max-ms", "3000")


def exchange(srv, data, timeout=5.0):
    c = RawConn(srv.port, timeout=timeout)
    try:
        c.send(data)
        r = c.read_response(timeout=timeout)
        closed = c.wait_closed(2.0)
        return r, closed
    finally:
        c.close()


# ---- Host -----------------------------------------------------------------------------------

def test_http11_without_host_is_400_and_closed(app):
    r, closed = exchange(app, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert r.status == 400 and "Host" in r.json()["detail"], r
    assert closed, "the connection is closed after the 400"


def test_two_host_headers_are_400(app):
    r, closed = exchange(app, b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert r.status == 400 and "more than one Host" in r.json()["detail"], r
    assert closed


def test_http10_without_host_is_served(app):
    r, _ = exchange(app, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert r.status == 200, r


def test_one_host_header_is_served_on_keep_alive(app):
    with app.raw() as c:
        for _ in range(3):
            c.send(req("GET", "/healthz"))
            assert c.read_response().status == 200


# ---- slow bodies ----------------------------------------------------------------------------

def head(n):
    return (b"POST /api/admin/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % n)


def trickle(srv, start, piece, gap, times):
    """Send the request head `start`, then `piece` every `gap` seconds (at most `times`
    pieces) until the server closes; returns (what it answered, seconds)."""
    c = RawConn(srv.port, timeout=10)
    t0 = time.monotonic()
    c.send(start)
    try:
        for _ in range(times):
            c.send(piece)
            time.sleep(gap)
            if not c.is_open():
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    c.wait_closed(2.0)
    got = c.buf
    c.close()
    return got, time.monotonic() - t0


def test_a_trickled_body_is_cut_with_408(server):
    """A body trickling a byte every 0.4 s moved the deadline on every byte and was never cut."""
    srv = server(*BODY_FLAGS)
    got, took = trickle(srv, head(200), b" ", 0.4, 40)  # 200 bytes at 2.5 B/s would take 80 s
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert b"too slowly" in got
    # 1 s, plus 10 ms per byte received (~3 bytes by then), plus the 250 ms sweep
    assert 0.8 < took < 4.0, "cut after %.1f s" % took


def test_a_body_above_the_minimum_rate_may_take_longer_than_the_base_timeout(server):
    srv = server(*BODY_FLAGS)
    body = b'{"name":"slow but steady"}' + b" " * 374  # 400 bytes: 1 s + 4 s allowed, 3 s cap
    c = RawConn(srv.port, timeout=10)
    c.send(head(len(body)))
    t0 = time.monotonic()
    for i in range(0, len(body), 40):  # 40 bytes every 0.2 s = 200 B/s, above 100 B/s
        c.send(body[i:i + 40])
        time.sleep(0.2)
    r = c.read_response(timeout=5)
    c.close()
    assert time.monotonic() - t0 > 1.5, "the test must outlast --body-timeout-ms"
    assert r.status == 401, r  # it reached the handler (no admin token sent)


def test_a_trickled_chunked_body_is_cut_with_408(server):
    srv = server(*BODY_FLAGS)
    start = (b"POST /api/admin/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n")
    got, took = trickle(srv, start, b"1\r\n \r\n", 0.4, 40)  # a one-byte chunk every 0.4 s
    assert got.startswith(b"HTTP/1.1 408") and b"too slowly" in got, got[:200]
    assert 0.8 < took < 4.0, "cut after %.1f s" % took


def test_a_received_body_leaves_the_connection_to_the_idle_timeout(server):
    """Once a body is in, its deadline is gone: the keep-alive connection outlives it."""
    srv = server(*BODY_FLAGS, "--idle-timeout-ms", "10000")
    with srv.raw() as c:
        c.send(req("POST", "/api/admin/tenants", headers=[("Content-Type", "application/json")],
                   body=b'{"name":"x"}'))
        assert c.read_response().status == 401
        time.sleep(1.6)  # past --body-timeout-ms (1 s) and a sweep
        c.send(req("GET", "/healthz"))
        assert c.read_response().status == 200


def test_body_max_caps_a_fast_enough_body(server):
    srv = server("--body-timeout-ms", "1000", "--body-min-rate", "100", "--body-max-ms", "1500")
    # 100 bytes every 0.1 s = 1,000 B/s, but 5,000 bytes take 5 s
    got, took = trickle(srv, head(5000), b" " * 100, 0.1, 30)
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert 1.3 < took < 3.0, "cut after %.1f s, not at --body-max-ms" % took


# ---- connections per client -----------------------------------------------------------------

def served(srv, timeout=3.0):
    """A new connection on which /healthz is answered 200. A connection the test (or the
    readiness probe) has just closed still counts until the server has seen it go, a moment
    later, so a refusal is retried until `timeout`; a count that never comes down still fails."""
    deadline = time.monotonic() + timeout
    while True:
        c = RawConn(srv.port)
        try:
            c.send(req("GET", "/healthz"))
            if c.read_response().status == 200:
                return c
        except (PeerClosed, OSError):
            pass
        c.close()
        assert time.monotonic() < deadline, "no connection served within %.0f s" % timeout
        time.sleep(0.05)


def held_connections(srv, n):
    return [served(srv) for _ in range(n)]


def refused(srv):
    c = RawConn(srv.port)
    try:
        if not c.wait_closed(1.0):
            try:
                c.send(req("GET", "/healthz"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            c.wait_closed(3.0)
        return c.buf
    finally:
        c.close()


def metrics_text(srv):
    try:
        r = srv.get("/metrics", timeout=2)
    except requests.RequestException:
        return None
    return r.text if r.status_code == 200 else None


def test_connections_per_client_are_capped(server):
    # four loops: the count must hold across them (SO_REUSEPORT spreads the connections)
    srv = server("--max-connections-per-ip", "3", threads=4)
    held = held_connections(srv, 3)
    try:
        for _ in range(4):
            got = refused(srv)
            assert got.startswith(b"HTTP/1.1 503"), got[:200]
            assert b"from this client" in got
        held.pop().close()
        held += held_connections(srv, 1)  # a place is free again
        assert refused(srv).startswith(b"HTTP/1.1 503")
        # the others are still served
        held[0].send(req("GET", "/healthz"))
        assert held[0].read_response().status == 200
    finally:
        for c in held:
            c.close()
    # every close was counted down: the full budget is back
    for c in held_connections(srv, 3):
        c.close()
    text = wait_until(lambda: metrics_text(srv), 3.0)
    assert text, "/metrics not served once the connections were closed"
    m = [ln for ln in text.splitlines() if ln.startswith("switchboard_http_connections_refused_total")]
    assert m and float(m[0].split()[-1]) >= 5, m


def test_trusted_proxies_are_exempt_from_the_cap(server):
    srv = server("--max-connections-per-ip", "2", "--trusted-proxies", "127.0.0.1/32")
    held = held_connections(srv, 5)
    for c in held:
        c.close()
