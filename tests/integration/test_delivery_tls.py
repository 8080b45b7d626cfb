"""HTTPS subscribers: certificates are verified against the system store plus --ca-file."""

import time

import pytest

from fakes import Tenant, assert_signed, fakes, make_test_pki, ok  # noqa: F401

BASE = ("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1,1,1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_test_pki(str(tmp_path_factory.mktemp("pki")))


def _send_one(sb, fake, url=None):
    t = Tenant(sb, "tls-co")
    url = url or fake.url
    t.subscribe({url: ["dialog_created"]})
    t.emit("dialog_created", {"index": 1})
    return t, url


def test_https_with_test_ca(server, fakes, pki):
    sb = server(*BASE, "--ca-file", pki["ca"])
    f = fakes(ok(), tls=(pki["server"], pki["server_key"]))
    t, _ = _send_one(sb, f)
    rec = f.wait_for(1, 10)[0]
    assert rec.json()["data"]["index"] == 1
    assert_signed(rec, t.secret()["secret"])
    att = t.wait_attempts(f.url, 1)
    assert att and att[0]["status"] == 200, att


def test_https_by_host_name(server, fakes, pki):
    sb = server(*BASE, "--ca-file", pki["ca"])
    f = fakes(ok(), tls=(pki["server"], pki["server_key"]))
    _send_one(sb, f, url=f.url_for("/hook", host="localhost"))
    assert f.wait_for(1, 10)[0].json()["event_type"] == "dialog_created"


def test_keep_alive_reuses_the_connection(server, fakes, pki):
    sb = server(*BASE, "--ca-file", pki["ca"], threads=1)
    f = fakes(ok(), tls=(pki["server"], pki["server_key"]))
    t = Tenant(sb, "tls-pool")
    t.subscribe({f.url: ["dialog_created"]})
    for i in range(5):
        t.emit("dialog_created", {"index": i})
        rec = f.wait_for(i + 1, 10)[-1]
        # The fake records a request before it answers; the next delivery must start after the
        # answer has reached switchboard, or a busy connection rightly makes the pool open another.
        deadline = time.monotonic() + 5
        while rec.answered_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
    assert f.connections < 5, "a keep-alive pool per origin: %d connections for 5 requests" % (
        f.connections,)


def _assert_refused(t, f, url):
    att = t.wait_attempts(url, 1)
    assert att, "the failed attempt is logged"
    assert att[0].get("status") in (None, 0), att
    err = (att[0].get("error") or "").lower()
    assert err, att
    assert any(w in err for w in ("tls", "ssl", "cert", "verif", "handshake", "x509")), \
        "the attempt error says it is a certificate problem: %r" % att[0]
    time.sleep(0.5)
    assert f.count() == 0, "no request may be sent over an unverified connection"
    assert f.connections >= 1, "it did try to connect"


def test_self_signed_certificate_is_refused(server, fakes, pki):
    sb = server(*BASE)  # the test CA is not trusted
    f = fakes(ok(), tls=(pki["self_signed"], pki["self_signed_key"]))
    t, url = _send_one(sb, f)
    _assert_refused(t, f, url)


def test_ca_signed_but_ca_not_given_is_refused(server, fakes, pki):
    sb = server(*BASE)
    f = fakes(ok(), tls=(pki["server"], pki["server_key"]))
    t, url = _send_one(sb, f)
    _assert_refused(t, f, url)


def test_wrong_host_certificate_is_refused(server, fakes, pki):
    sb = server(*BASE, "--ca-file", pki["ca"])
    f = fakes(ok(), tls=(pki["wrong_host"], pki["wrong_host_key"]))
    t, url = _send_one(sb, f)
    _assert_refused(t, f, url)


def test_missing_ca_file_stops_the_server(server, tmp_path):
    sb = server(*BASE, "--ca-file", str(tmp_path / "nope.pem"), wait_ready=False,
                expect_exit=None)
    code = sb.wait_exit(10)
    assert code == 2, "a missing --ca-file is a start-up error (exit 2), got %s" % (
        "still running" if code is None else code)
    assert "ca-file" in sb.stderr_text() + sb.stdout_text(), "the message names the flag"
