"""The Redis store's script handling: a flushed script cache (SCRIPT FLUSH, or a failover to a
replica that never loaded the scripts) must not break requests: EVALSHA's NOSCRIPT is answered
by resending the call as EVAL."""

import pytest

pytestmark = pytest.mark.server


def test_requests_survive_a_script_flush(server, redis):
    srv = server("--threads", "1")
    t = srv.create_tenant("before-flush")
    assert srv.tenant_api(t["apiKey"]).status_code == 200  # auth_key script, by SHA

    assert redis.cmd("SCRIPT", "FLUSH") in (b"OK", "OK")

    # Every script-backed route still answers right after the flush.
    r = srv.tenant_api(t["apiKey"])
    assert r.status_code == 200, r.text
    r = srv.admin("POST", "/api/admin/tenants", json={"name": "after-flush"})
    assert r.status_code == 201, r.text
    r = srv.admin("GET", "/api/admin/tenants")
    assert r.status_code == 200 and r.json()["totalCount"] == 2, r.text
    # the NOSCRIPT answers were retried as EVAL (which also loads the script again)
    stats = redis.cmd("INFO", "commandstats")
    stats = stats.decode() if isinstance(stats, bytes) else stats
    assert "cmdstat_eval:calls=" in stats, stats
