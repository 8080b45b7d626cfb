"""Crash safety and several instances on one Redis (SPEC 8: at-least-once, reclaimed after a
crash; one consumer group shared by all instances)."""

import os
import signal
import time

import pytest

from fakes import SERVER_FLAGS, Tenant, fakes, ok, slow  # noqa: F401


@pytest.mark.slow
def test_kill_9_mid_queue_loses_nothing(server, fakes):
    first = server(*SERVER_FLAGS, expect_exit=None, name="first")
    t = Tenant(first, "crash-co")
    f = fakes(slow(1.0))
    t.subscribe({f.url: {"events": ["message_received"], "timeoutMs": 5000}})
    for i in range(20):
        t.emit("message_received", {"index": i})
    f.wait_for(3, 15)  # deliveries are in flight (each answer takes 1 s)
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    first.wait_exit(5)

    def idx(r):
        return r.json()["data"]["index"]

    done_before = {idx(r) for r in f.snapshot()
                   if r.answered_at is not None and r.answered_at < killed_at}
    assert len(done_before) < 20, "the crash must happen mid-way (all 20 were answered)"

    time.sleep(0.3)  # whatever the dead process had written has reached the fake by now
    restarted_at = time.monotonic()  # later arrivals can only come from the new instance
    second = server(*SERVER_FLAGS, name="second")

    def delivered():
        after = {idx(r) for r in f.snapshot() if r.t >= restarted_at}
        return done_before | after

    deadline = time.monotonic() + 80
    while time.monotonic() < deadline and delivered() != set(range(20)):
        time.sleep(0.2)
    missing = sorted(set(range(20)) - delivered())
    assert not missing, \
        "events lost in the crash (neither answered before the kill nor sent by the new " \
        "instance): %s; %d requests seen, recovery took %.1f s" % (
            missing, f.count(), time.monotonic() - restarted_at)
    print("%d of 20 answered before the kill; the rest came within %.1f s of the restart" % (
        len(done_before), time.monotonic() - restarted_at))
    # every redelivery of a lost attempt carries its original webhook-id
    ids_by_index = {}
    for r in f.snapshot():
        ids_by_index.setdefault(idx(r), set()).add(r.header("webhook-id"))
    assert all(len(v) == 1 for v in ids_by_index.values()), \
        "a redelivered event keeps its webhook-id: %r" % ids_by_index
    assert second.running()


@pytest.mark.slow
def test_kill_9_while_a_paced_queue_drains(server, fakes):
    """Paced deliveries leave one at a time, so the kill lands with some answered, one in
    flight and the rest still queued: none of them may be lost."""
    flags = SERVER_FLAGS + ("--pace-ms", "400")
    first = server(*flags, expect_exit=None, name="first")
    t = Tenant(first, "crash-paced")
    f = fakes(slow(0.2))
    t.subscribe({f.url: {"events": ["message_sent"], "paced": True}})
    for i in range(20):
        t.emit("message_sent", {"index": i})
    f.wait_for(4, 15, pred=lambda r: r.answered_at is not None)
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    first.wait_exit(5)

    def idx(r):
        return r.json()["data"]["index"]

    done_before = {idx(r) for r in f.snapshot()
                   if r.answered_at is not None and r.answered_at < killed_at}
    assert 0 < len(done_before) < 20, done_before

    time.sleep(0.3)  # whatever the dead process had written has reached the fake by now
    restarted_at = time.monotonic()  # later arrivals can only come from the new instance
    server(*flags, name="second")

    def delivered():
        return done_before | {idx(r) for r in f.snapshot() if r.t >= restarted_at}

    deadline = time.monotonic() + 80
    while time.monotonic() < deadline and delivered() != set(range(20)):
        time.sleep(0.2)
    missing = sorted(set(range(20)) - delivered())
    assert not missing, "paced events lost in the crash: %s (%d requests seen)" % (
        missing, f.count())
    print("%d of 20 answered before the kill; the rest came within %.1f s of the restart" % (
        len(done_before), time.monotonic() - restarted_at))


@pytest.mark.slow
def test_two_instances_share_the_queue_exactly_once(server, fakes):
    a = server(*SERVER_FLAGS, name="a")
    b = server(*SERVER_FLAGS, name="b")
    ta = Tenant(a, "shared-co")
    tb = ta.on(b)
    f = fakes(ok())
    ta.subscribe({f.url: ["message_sent"]})
    assert tb.subscriptions() == {f.url: ["message_sent"]}, "both instances read the same store"
    for i in range(100):
        (ta if i % 2 == 0 else tb).emit("message_sent", {"index": i})
    got = f.wait_for(100, 30)
    time.sleep(1.0)
    got = f.snapshot()
    ids = [r.header("webhook-id") for r in got]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, "each webhook-id exactly once, duplicates: %r" % dupes[:10]
    assert sorted(r.json()["data"]["index"] for r in got) == list(range(100))
    assert len(got) == 100
