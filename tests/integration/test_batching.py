"""Batched script calls (docs/architecture.md "Batched script calls"): the session starts and the
inbound accepts one loop thread makes during one loop iteration reach Redis as one script run
(or wait for the next while two runs are in flight), and each request still gets its own answer.

To put many requests into one iteration, the server (one loop thread) is stopped with SIGSTOP
while they are written on connections it has already accepted, then continued: its next poll
finds them all readable at once. The run count is read from /metrics."""

import hashlib
import signal
import time

import pytest

from fakes import SERVER_FLAGS, fakes  # noqa: F401  (fakes is a fixture)
from sbhelpers import RawConn, as_text, parse_metrics, req
from test_channels_inbound import TG_BOT, TG_PATH, TG_SECRET, Bound, jbytes, tg_update
from test_widget import SHOP, make_widget

pytestmark = pytest.mark.server


def batch_counters(srv):
    r = srv.get("/metrics")
    assert r.status_code == 200, r.text
    got = {name: value for name, _, value in parse_metrics(r.text)}
    return (got["switchboard_redis_script_batches_total"],
            got["switchboard_redis_script_batched_calls_total"])


def send_burst(srv, requests):
    """Sends every request (bytes) on its own connection while the server is stopped, so that
    one loop iteration serves them all; returns the connections, to read the answers from."""
    conns = [RawConn(srv.port) for _ in requests]
    for c in conns:  # accepted and read by the server before it stops
        c.send(req("GET", "/healthz"))
        assert c.read_response().status == 200
    srv.signal(signal.SIGSTOP)
    try:
        time.sleep(0.05)
        for c, r in zip(conns, requests):
            c.send(r)
        time.sleep(0.1)  # every request is in its socket's buffer
    finally:
        srv.signal(signal.SIGCONT)
    return conns


def read_all(conns):
    try:
        return [c.read_response(timeout=10) for c in conns]
    finally:
        for c in conns:
            c.close()


def burst(srv, requests):
    """send_burst and its answers: (responses in order, runs, calls) where runs and calls are
    what the batch counters grew by."""
    runs0, calls0 = batch_counters(srv)
    resps = read_all(send_burst(srv, requests))
    runs1, calls1 = batch_counters(srv)
    return resps, runs1 - runs0, calls1 - calls0


def start_req(wid, ip, origin=SHOP):
    return req("POST", "/api/widget/%s/session/start" % wid,
               headers=[("Origin", origin), ("X-Forwarded-For", ip),
                        ("Content-Type", "application/json")], body=b"{}")


def session_key(redis, wid, token):
    tid = as_text(redis.cmd("HGET", "sb:idx:widgets", wid)).split("|")[0]
    return "sb:{t:%s}:session:%s" % (tid, hashlib.sha256(token.encode()).hexdigest())


def test_one_run_serves_many_session_starts_each_with_its_own_answer(server, redis):
    srv = server("--threads", "1", "--trusted-proxies", "127.0.0.1")
    wid = make_widget(srv)
    unknown = "00000000-0000-4000-8000-000000000000"
    reqs = [start_req(wid, "203.0.113.%d" % i) for i in range(1, 21)]
    reqs.insert(7, start_req(unknown, "203.0.113.99"))
    reqs.insert(12, start_req(wid, "203.0.113.98", origin="https://evil.example.com"))
    resps, runs, calls = burst(srv, reqs)
    assert (runs, calls) == (1, 22), (runs, calls)

    assert resps[7].status == 404, resps[7]
    assert resps[12].status == 403, resps[12]
    started = [r for i, r in enumerate(resps) if i not in (7, 12)]
    assert [r.status for r in started] == [201] * 20, started
    bodies = [r.json() for r in started]
    assert len({b["token"] for b in bodies}) == 20 and len({b["sessionId"] for b in bodies}) == 20
    for r, b in zip(started, bodies):
        assert r.header("RateLimit-Remaining") == "59", r  # each address its own budget
        key = session_key(redis, wid, b["token"])
        assert as_text(redis.cmd("GET", key)).split("|")[0] == b["sessionId"]
        assert 7_100_000 < redis.cmd("PTTL", key) <= 7_200_000
    # a session made in the batch works on the session routes
    r = srv.request("GET", "/api/widget/%s/messages" % wid,
                    headers={"Origin": SHOP, "Authorization": "Bearer " + bodies[0]["token"]})
    assert r.status_code == 200, r.text


def test_an_error_in_one_call_fails_that_call_only(server, redis):
    srv = server("--threads", "1", "--trusted-proxies", "127.0.0.1")
    good = make_widget(srv)
    bad = make_widget(srv)
    # the bad widget's record is not JSON: its gate raises inside the script
    tid = as_text(redis.cmd("HGET", "sb:idx:widgets", bad)).split("|")[0]
    redis.cmd("HSET", "sb:idx:widgets", bad, tid)
    redis.cmd("HSET", "sb:{t:%s}:widgets" % tid, bad, "{not json")
    # and one address's rate-limit key is a hash: Redis refuses the script's SET ... GET
    redis.cmd("HSET", "sb:rate:session-start:198.51.100.60", "f", "v")
    reqs = [start_req(good, "198.51.100.%d" % i) for i in range(1, 11)]
    reqs.insert(4, start_req(bad, "198.51.100.50"))
    reqs.insert(8, start_req(good, "198.51.100.60"))
    resps, runs, calls = burst(srv, reqs)
    assert (runs, calls) == (1, 12), (runs, calls)
    assert resps[4].status == 503 and resps[8].status == 503, (resps[4], resps[8])
    assert [r.status for i, r in enumerate(resps) if i not in (4, 8)] == [201] * 10, resps
    log = srv.stderr_text() + srv.stdout_text()
    assert "redis error reply" in log and "WRONGTYPE" in log, log[-2000:]


def test_the_rate_limit_stays_exact_inside_a_run(server, redis):
    """70 starts from one address in one iteration: 64 calls fill a run, the rest go in a
    second; exactly 60 are admitted, in the order they arrived."""
    srv = server("--threads", "1", "--trusted-proxies", "127.0.0.1")
    wid = make_widget(srv)
    resps, runs, calls = burst(srv, [start_req(wid, "192.0.2.77") for _ in range(70)])
    assert (runs, calls) == (2, 70), (runs, calls)
    assert [r.status for r in resps] == [201] * 60 + [429] * 10, [r.status for r in resps]
    assert [r.header("RateLimit-Remaining") for r in resps[:60]] == [str(59 - i) for i in range(60)]
    assert len(as_text(redis.cmd("GET", "sb:rate:session-start:192.0.2.77")).split()) == 60


def test_calls_wait_while_two_runs_are_in_flight(server, redis):
    """Group commit: while two runs of the script are in flight on a loop's connection, the next
    calls wait and leave together, as one run, when one of them is answered."""
    srv = server("--threads", "1", "--trusted-proxies", "127.0.0.1", "--redis-timeout-ms", "10000")
    wid = make_widget(srv)
    runs0, calls0 = batch_counters(srv)
    redis.pause()  # no run is answered meanwhile
    try:
        groups = []
        for g in range(4):
            groups.append(send_burst(srv, [start_req(wid, "192.0.2.%d" % (10 * g + i))
                                           for i in range(3)]))
            time.sleep(0.2)  # served by the loop
        runs, calls = batch_counters(srv)
        assert (runs - runs0, calls - calls0) == (2, 6), "sent while Redis stood still"
    finally:
        redis.resume()
    resps = [r for conns in groups for r in read_all(conns)]
    assert [r.status for r in resps] == [201] * 12, resps
    runs, calls = batch_counters(srv)
    assert (runs - runs0, calls - calls0) == (3, 12), "the 6 held calls left as one run"
    assert len({r.json()["token"] for r in resps}) == 12


def test_held_calls_are_answered_when_redis_times_out(server, redis):
    """Runs in flight and the calls held behind them all get 503 when Redis stops answering;
    nothing hangs, and the next start after Redis is back succeeds."""
    srv = server("--threads", "1", "--trusted-proxies", "127.0.0.1", "--redis-timeout-ms", "1500")
    wid = make_widget(srv)
    redis.pause()
    try:
        groups = [send_burst(srv, [start_req(wid, "192.0.2.%d" % (10 * g + i)) for i in range(3)])
                  for g in range(3)]
        resps = [r for conns in groups for r in read_all(conns)]
    finally:
        redis.resume()
    assert [r.status for r in resps] == [503] * 9, resps
    deadline = time.monotonic() + 10
    while True:
        r = srv.request("POST", "/api/widget/%s/session/start" % wid,
                        headers={"Origin": SHOP, "X-Forwarded-For": "192.0.2.200"})
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 201, r.text


def test_a_flushed_script_cache_does_not_fail_a_run(server, redis):
    srv = server("--threads", "1", "--trusted-proxies", "127.0.0.1")
    wid = make_widget(srv)
    assert redis.cmd("SCRIPT", "FLUSH") in (b"OK", "OK")
    resps, runs, calls = burst(srv, [start_req(wid, "192.0.2.%d" % i) for i in range(1, 6)])
    assert (runs, calls) == (1, 5)
    assert [r.status for r in resps] == [201] * 5, resps
    stats = as_text(redis.cmd("INFO", "commandstats"))
    assert "cmdstat_eval:calls=" in stats, stats  # NOSCRIPT: the run was sent again as EVAL


def test_inbound_accepts_in_one_run_claim_each_event_once(server, fakes, redis):  # noqa: F811
    srv = server("--threads", "1", *SERVER_FLAGS)
    bound = Bound(srv, fakes)
    bound.telegram()
    updates = [tg_update(update_id=500 + i, text="message %d" % i, chat_id=4242100 + i)
               for i in range(4)]
    updates += [updates[1], updates[2], updates[1]]  # a platform retry, sent again at once
    reqs = [req("POST", TG_PATH + "/" + TG_BOT, headers=[("Content-Type", "application/json"),
                                         ("X-Telegram-Bot-Api-Secret-Token", TG_SECRET)],
                body=jbytes(u)) for u in updates]
    resps, runs, calls = burst(srv, reqs)
    assert (runs, calls) == (1, 7), (runs, calls)
    assert [r.status for r in resps] == [200] * 7, resps
    got = bound.wait_messages(4)
    texts = sorted(m["text"] for _, ms in got.values() for m in ms)
    assert texts == ["message %d" % i for i in range(4)], texts
