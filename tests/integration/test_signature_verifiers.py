"""Delivery signatures checked with the verifiers subscribers really use (docs/deliveries.md,
"What a subscriber receives"): the npm libraries `standardwebhooks` (the Standard Webhooks
reference library) and `svix`, and X-Hub-Signature-256 with Node's own crypto.createHmac keyed
by the secret string, the way Meta's and seed 004's samples verify it. The verifiers run in
tests/integration/verifiers/verify.js, on the headers and exact body bytes a local fake
subscriber recorded.

Needs node and npm (CI installs them; scripts/setup.sh adds them when missing): without them
these tests fail, they are not skipped. The libraries are installed once per session with
`npm ci` from tests/integration/verifiers/package-lock.json when node_modules is missing or
older than the lock file.

Run: SWITCHBOARD_BIN=$PWD/build/switchboard /usr/bin/python3 -m pytest \
         tests/integration/test_signature_verifiers.py -q
"""

import base64
import json
import os
import shutil
import subprocess

import pytest

from fakes import SERVER_FLAGS, Tenant, fakes  # noqa: F401  (fakes: the fixture)

VERIFIERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verifiers")
LOCK = os.path.join(VERIFIERS_DIR, "package-lock.json")
MODULES = os.path.join(VERIFIERS_DIR, "node_modules")
# a body with multi-byte UTF-8, so that "the exact bytes" is more than ASCII
DATA = {"musteri": "Ayşe Yılmaz", "not": "çok güzel ✓ 🚀", "chat_id": -100123}


def _installed_at():
    """When node_modules was last installed (npm writes node_modules/.package-lock.json), or
    None when it is missing or lacks a library verify.js loads."""
    for lib in ("standardwebhooks", "svix"):
        if not os.path.isfile(os.path.join(MODULES, lib, "package.json")):
            return None
    hidden = os.path.join(MODULES, ".package-lock.json")
    return os.path.getmtime(hidden if os.path.exists(hidden) else MODULES)


@pytest.fixture(scope="session")
def node():
    """The node binary, with verify.js's libraries installed (npm ci when needed). Fails, never
    skips, when node or npm is missing."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    missing = [n for n, b in (("node", node_bin), ("npm", npm_bin)) if not b]
    if missing:
        pytest.fail("%s not found on PATH: the signature verifier tests need Node.js and npm "
                    "(scripts/setup.sh installs them; CI has them)" % " and ".join(missing),
                    pytrace=False)
    at = _installed_at()
    if at is None or at < os.path.getmtime(LOCK):
        r = subprocess.run([npm_bin, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=VERIFIERS_DIR, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.fail("npm ci in tests/integration/verifiers failed (exit %d):\n%s\n%s" % (
                r.returncode, r.stdout[-3000:], r.stderr[-3000:]), pytrace=False)
        if _installed_at() is None:
            pytest.fail("npm ci in tests/integration/verifiers left no standardwebhooks/svix",
                        pytrace=False)
    return node_bin


def headers_of(rec):
    """The recorded request's headers as a dict; a header received twice is a test failure
    (a verifier would see only one of them)."""
    out = {}
    for name, value in rec.headers.items():
        assert name.lower() not in {k.lower() for k in out}, \
            "header %s received twice: %r" % (name, rec.headers.get_all(name))
        out[name] = value
    return out


def verify(node_bin, rec, secret, previous=None, tamper=False):
    """Runs verify.js on one recorded request: (exit code, its JSON result)."""
    req = {"secret": secret, "headers": headers_of(rec),
           "body": base64.b64encode(rec.body).decode("ascii"), "tamper": tamper}
    if previous is not None:
        req["previousSecret"] = previous
    r = subprocess.run([node_bin, os.path.join(VERIFIERS_DIR, "verify.js")],
                       input=json.dumps(req), cwd=VERIFIERS_DIR, capture_output=True,
                       text=True, timeout=60)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        pytest.fail("verify.js printed no JSON (exit %d):\nstdout: %s\nstderr: %s" % (
            r.returncode, r.stdout[-2000:], r.stderr[-2000:]), pytrace=False)
    return r.returncode, out


def failures(out):
    return "\n".join("  %s: expected %s: %s" % (c["name"], c["expect"], c.get("error", ""))
                     for c in out.get("checks", []) if not c["ok"]) or out.get("error", "")


def names(out, expect, ok=True):
    return {c["name"] for c in out["checks"] if c["expect"] == expect and c["ok"] == ok}


LIBS = ("standardwebhooks", "svix(webhook-*)", "svix(svix-*)")
ALL = LIBS + ("x-hub-signature-256",)


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


def deliver(tenant, fake, n, index):
    tenant.emit("message_received", dict(DATA, index=index))
    rec = fake.wait_for(n, 10)[n - 1]
    assert rec.json()["data"]["index"] == index, rec
    return rec


def test_npm_verifiers_accept_a_delivery_and_reject_tampering(sb, fakes, node):
    t = Tenant(sb, "verifiers-co")
    f = fakes()
    t.subscribe({f.url: ["message_received"]})
    rec = deliver(t, f, 1, 1)
    secret = t.secret()["secret"]
    assert secret.startswith("whsec_"), secret

    rc, out = verify(node, rec, secret, tamper=True)
    assert rc == 0 and out["ok"], "verify.js (exit %d):\n%s" % (rc, failures(out))
    accepted = names(out, "accept")
    for lib in ALL:
        assert lib + " / current secret" in accepted, out
    rejected = names(out, "reject")
    for lib in ALL:
        for what in ("one byte changed", "a space appended", "last byte dropped"):
            assert "%s / current secret / body %s" % (lib, what) in rejected, out
        assert lib + " / a wrong secret" in rejected, out
    assert "x-hub-signature-256 / decoded bytes of the secret (the former key)" in rejected, out

    # and verify.js does fail when the key is wrong: its exit code is what the checks rely on
    other = Tenant(sb, "verifiers-other").secret()["secret"]
    rc, out = verify(node, rec, other)
    assert rc == 1 and not out["ok"], "another tenant's secret must not verify: %r" % out
    assert names(out, "accept", ok=False) == {lib + " / current secret" for lib in ALL}, out


def test_npm_verifiers_after_rotation_old_secret_verifies_standard_webhooks_only(sb, fakes, node):
    t = Tenant(sb, "verifiers-rotate")
    f = fakes()
    t.subscribe({f.url: ["message_received"]})
    old = t.secret()["secret"]
    first = deliver(t, f, 1, 1)
    rc, out = verify(node, first, old)
    assert rc == 0 and out["ok"], "before the rotation (exit %d):\n%s" % (rc, failures(out))
    assert len(first.header("webhook-signature").split()) == 1, first.header("webhook-signature")

    rot = t.rotate()
    new = rot["secret"]
    assert new != old and t.secret()["secret"] == new, rot
    second = deliver(t, f, 2, 2)
    rc, out = verify(node, second, new, previous=old, tamper=True)
    assert rc == 0 and out["ok"], "after the rotation (exit %d):\n%s" % (rc, failures(out))
    accepted, rejected = names(out, "accept"), names(out, "reject")
    for lib in ALL:
        assert lib + " / current secret" in accepted, out
    for lib in LIBS:
        assert lib + " / previous secret" in accepted, out
        assert lib + " / previous secret / second entry alone" in accepted, out
        assert lib + " / previous secret / first entry alone" in rejected, out
        assert lib + " / current secret / first entry alone" in accepted, out
    assert "x-hub-signature-256 / previous secret" in rejected, \
        "X-Hub-Signature-256 is for the current secret only: %r" % out

    # the old secret alone (as a subscriber that has not switched yet holds it): the Standard
    # Webhooks libraries accept, X-Hub-Signature-256 does not
    rc, out = verify(node, second, old)
    assert rc == 1, out
    assert names(out, "accept") == {lib + " / current secret" for lib in LIBS}, out
    assert names(out, "accept", ok=False) == {"x-hub-signature-256 / current secret"}, out
