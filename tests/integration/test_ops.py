"""Operations routes (/healthz, /readyz, /metrics) and the JSON request log."""

import json

import pytest

from sbhelpers import ADMIN_TOKEN, parse_metrics, wait_until


def test_healthz(app):
    r = app.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["Content-Type"].startswith("application/json")


def test_readyz(app):
    r = app.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "redis": "up"}


def _metrics(app):
    r = app.get("/metrics")
    assert r.status_code == 200
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("text/plain"), ctype
    assert "version=0.0.4" in ctype, ctype
    return r.text, parse_metrics(r.text)


def test_metrics_is_prometheus_text(app):
    app.get("/healthz")
    app.get("/no-such-route-xyz")
    text, samples = _metrics(app)
    names = {n for n, _, _ in samples}
    for name in ("switchboard_http_requests_total", "switchboard_http_connections_open",
                 "switchboard_http_connections_refused_total", "switchboard_redis_errors_total",
                 "switchboard_redis_up", "switchboard_http_request_duration_seconds_bucket",
                 "switchboard_http_request_duration_seconds_sum",
                 "switchboard_http_request_duration_seconds_count"):
        assert name in names, "metric %s missing" % name
    assert "# TYPE switchboard_http_requests_total counter" in text
    assert "# TYPE switchboard_http_request_duration_seconds histogram" in text


def test_metrics_requests_total_has_route_method_status(app):
    for _ in range(3):
        assert app.get("/healthz").status_code == 200
    _, samples = _metrics(app)
    hz = [(l, v) for n, l, v in samples if n == "switchboard_http_requests_total"
          and l.get("route") == "/healthz"]
    assert hz, "no switchboard_http_requests_total{route=\"/healthz\"}"
    ok = [v for l, v in hz if l.get("method") == "GET" and l.get("status") == "200"]
    assert ok and sum(ok) >= 3, hz


def test_metrics_histogram_buckets(app):
    app.get("/healthz")
    _, samples = _metrics(app)
    buckets = [(l, v) for n, l, v in samples
               if n == "switchboard_http_request_duration_seconds_bucket"
               and l.get("route") == "/healthz"]
    assert buckets, "no latency buckets for /healthz"
    assert all("le" in l for l, _ in buckets)
    inf = [v for l, v in buckets if l["le"] == "+Inf"]
    assert inf and inf[0] >= 1
    count = [v for n, l, v in samples if n == "switchboard_http_request_duration_seconds_count"
             and l.get("route") == "/healthz"]
    assert count and count[0] == inf[0]
    # buckets are cumulative
    finite = sorted((float(l["le"]), v) for l, v in buckets if l["le"] != "+Inf")
    assert all(a[1] <= b[1] for a, b in zip(finite, finite[1:]))


def test_metrics_route_label_is_the_pattern(app):
    t = app.create_tenant("metrics-co")
    assert app.admin("GET", "/api/admin/tenants/" + t["id"]).status_code == 200
    for i in range(3):
        app.get("/random-404-path-%d" % i)
    text, samples = _metrics(app)
    routes = {l.get("route") for n, l, _ in samples if n == "switchboard_http_requests_total"}
    assert "/api/admin/tenants/{tenantId}" in routes, routes
    assert "unmatched" in routes, routes
    assert t["id"] not in text, "a tenant id leaked into a metric label"
    assert "random-404-path" not in text, "raw 404 paths must not become labels"


def test_metrics_connections_open_counts_an_open_connection(app):
    with app.raw() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
        _, samples = _metrics(app)
        vals = [v for n, _, v in samples if n == "switchboard_http_connections_open"]
        assert vals and sum(vals) >= 2, vals  # this one + the /metrics request itself


def test_metrics_redis_up_is_1_when_healthy(app):
    app.get("/readyz")
    _, samples = _metrics(app)
    vals = [v for n, _, v in samples if n == "switchboard_redis_up"]
    assert vals and all(v >= 1 for v in vals), vals


# ---- request log ---------------------------------------------------------------------------

def _log_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _lines_for(text, rid):
    return [o for o in _log_lines(text) if o.get("request_id") == rid]


def test_request_log_one_json_line_per_request(app):
    app.get("/healthz", headers={"X-Request-Id": "log-ok-1"})
    app.get("/not-there", headers={"X-Request-Id": "log-404-1"})
    app.admin("POST", "/api/admin/tenants", json={"name": "logged"},
              headers={"X-Request-Id": "log-post-1"})
    problems = app.stop()
    assert not problems, problems
    out = app.stdout_text()
    for rid, method, path, status in (("log-ok-1", "GET", "/healthz", 200),
                                      ("log-404-1", "GET", "/not-there", 404),
                                      ("log-post-1", "POST", "/api/admin/tenants", 201)):
        lines = _lines_for(out, rid)
        if not lines and _lines_for(app.stderr_text(), rid):
            pytest.fail("request log lines are written to stderr, not stdout")
        assert len(lines) == 1, "expected one log line for %s, got %r" % (rid, lines)
        line = lines[0]
        assert line.get("method") == method, line
        assert line.get("path") == path, line
        assert line.get("status") == status, line


def test_request_log_line_is_written_promptly(app):
    app.get("/healthz", headers={"X-Request-Id": "log-prompt-1"})
    found = wait_until(lambda: _lines_for(app.stdout_text(), "log-prompt-1"), 5, 0.1)
    assert found, "no log line on stdout 5 s after the request (stdout block-buffered?)"


def test_request_log_does_not_contain_secrets(app):
    t = app.create_tenant("secretive")
    app.tenant_api(t["apiKey"])
    app.admin("GET", "/api/admin/tenants")
    problems = app.stop()
    assert not problems, problems
    out = app.stdout_text() + app.stderr_text()
    assert t["apiKey"] not in out, "an API key was logged"
    assert t["apiSecret"] not in out, "an API secret was logged"
    assert ADMIN_TOKEN not in out, "the admin token was logged"
