"""Graceful shutdown: SIGTERM/SIGINT stop accepting, finish in-flight requests (bounded) and
exit 0."""

import json
import signal
import socket
import time

import pytest

from sbhelpers import ADMIN_TOKEN, PeerClosed, RawConn, req

pytestmark = pytest.mark.slow


def assert_new_connections_refused(port):
    """After SIGTERM a new connection is refused, or accepted and closed without being served."""
    try:
        c = RawConn(port, timeout=2)
    except (ConnectionRefusedError, ConnectionResetError):
        return
    except socket.timeout:
        pytest.fail("connect() hung after SIGTERM")
    try:
        try:
            c.send(req("GET", "/healthz"))
        except (BrokenPipeError, ConnectionResetError):
            return
        try:
            r = c.read_response(timeout=2)
        except PeerClosed:
            return
        except TimeoutError:
            pytest.fail("a new connection after SIGTERM was neither refused nor closed")
        assert r.status == 503, "a new connection after SIGTERM was served: %r" % r
        assert c.wait_closed(2)
    finally:
        c.close()


def test_sigterm_finishes_in_flight_request(server):
    srv = server()
    body = json.dumps({"name": "in-flight tenant"}).encode()
    half = len(body) // 2
    c = srv.raw(timeout=10)
    try:
        c.send(req("POST", "/api/admin/tenants",
                   [("Authorization", "Bearer " + ADMIN_TOKEN),
                    ("Content-Length", str(len(body)))]) + body[:half])
        time.sleep(0.2)
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert srv.running(), "server exited with a request in flight"
        assert_new_connections_refused(srv.port)
        c.send(body[half:])
        r = c.read_response(timeout=5)
        assert r.status == 201, r
        assert r.json()["name"] == "in-flight tenant"
    finally:
        c.close()
    code = srv.wait_exit(5)
    assert code is not None, "server still running 5 s after the in-flight request finished"
    assert code == 0


def test_sigterm_with_idle_keep_alive_connection_exits_promptly(server):
    srv = server()
    with srv.raw() as c:
        c.send(req("GET", "/healthz"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        code = srv.wait_exit(5)
        assert code is not None, "idle keep-alive connection kept the server alive"
        assert code == 0
        assert time.monotonic() - t0 < 3
        assert c.wait_closed(1)


def test_sigint_exits_0(server):
    srv = server()
    assert srv.get("/healthz").status_code == 200
    srv.signal(signal.SIGINT)
    assert srv.wait_exit(5) == 0


def test_sigterm_when_idle_exits_0_quickly(server):
    srv = server()
    srv.create_tenant("x")
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(5) == 0
    assert time.monotonic() - t0 < 3


def test_shutdown_timeout_bounds_a_stuck_request(server):
    srv = server("--shutdown-timeout-ms", "1000", expect_exit=None)
    with srv.raw() as c:
        c.send(b"POST /api/admin/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               + ADMIN_TOKEN.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"name\":")
        time.sleep(0.2)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        code = srv.wait_exit(5)
        assert code is not None, "a never-finished request held the server past the bound"
        assert time.monotonic() - t0 < 4.0
        assert c.wait_closed(1)
