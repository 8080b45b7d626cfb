"""Pacing (seed 002, docs/deliveries.md "Pacing"): a paced subscriber's deliveries leave at
least 0.8 x --pace-ms apart, in FIFO order, and a burst drains without losses. Platform sends are
not paced by --pace-ms but by each platform's limits (test_send_limits.py)."""

import pytest

from fakes import Tenant, fakes, ok  # noqa: F401

PACE_MS = 200
MIN_GAP = 0.8 * PACE_MS / 1000.0
# a little slack for our own clock reading: both arrival times are taken by the fake
SLACK = 0.01


@pytest.fixture
def sb(server):
    return server("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1,1,1",
                  "--pace-ms", str(PACE_MS))


def _paced(t, fake, n):
    t.subscribe({fake.url: {"events": ["message_sent"], "paced": True}})
    for i in range(n):
        t.emit("message_sent", {"index": i, "text": "mesaj %d" % i})


def _indexes(recs):
    return [r.json()["data"]["index"] for r in recs]


def test_paced_deliveries_are_spaced_and_fifo(sb, fakes):
    t = Tenant(sb, "paced-co")
    f = fakes(ok())
    _paced(t, f, 10)
    got = f.wait_for(10, 15)
    assert _indexes(got) == list(range(10)), "paced deliveries keep FIFO order"
    gaps = [b.t - a.t for a, b in zip(got, got[1:])]
    assert min(gaps) >= MIN_GAP - SLACK, \
        "gaps must be >= 0.8 x pace (%.3f s): %s" % (MIN_GAP, ["%.3f" % g for g in gaps])
    assert max(gaps) <= 1.25 * PACE_MS / 1000.0 + 0.4, \
        "a queued paced delivery leaves about one pace after the previous one: %s" % (
            ["%.3f" % g for g in gaps])
    assert f.stays_at(10, 0.5), "no duplicates"


def test_unpaced_subscriber_is_not_slowed(sb, fakes):
    t = Tenant(sb, "unpaced-co")
    paced, free = fakes(ok()), fakes(ok())
    t.subscribe({paced.url: {"events": ["message_sent"], "paced": True},
                 free.url: ["message_sent"]})
    for i in range(10):
        t.emit("message_sent", {"index": i})
    got = free.wait_for(10, 10)
    span = got[-1].t - got[0].t
    assert span < 9 * MIN_GAP, "an unpaced subscriber is not held by another's pacing " \
        "(10 deliveries over %.2f s)" % span
    paced.wait_for(10, 15)


@pytest.mark.slow
def test_paced_burst_of_50_drains_in_order(sb, fakes):
    t = Tenant(sb, "burst-co")
    f = fakes(ok())
    _paced(t, f, 50)
    got = f.wait_for(50, 40)
    idx = _indexes(got)
    assert sorted(idx) == list(range(50)), "nothing is dropped"
    assert idx == list(range(50)), "FIFO order"
    gaps = [b.t - a.t for a, b in zip(got, got[1:])]
    assert min(gaps) >= MIN_GAP - SLACK, "min gap %.3f s" % min(gaps)
    assert len({r.header("webhook-id") for r in got}) == 50
    assert f.stays_at(50, 0.5), "no duplicates"


def test_pacing_holds_across_instances(server, fakes):
    flags = ("--allow-private-targets", "127.0.0.0/8", "--retry-schedule", "0,1,1,1",
             "--pace-ms", str(PACE_MS))
    a = server(*flags, name="a")
    b = server(*flags, name="b")
    ta = Tenant(a, "paced-two")
    tb = ta.on(b)
    f = fakes(ok())
    ta.subscribe({f.url: {"events": ["message_sent"], "paced": True}})
    for i in range(10):
        (ta if i % 2 == 0 else tb).emit("message_sent", {"index": i})
    got = f.wait_for(10, 15)
    assert _indexes(got) == list(range(10)), "FIFO across instances"
    gaps = [y.t - x.t for x, y in zip(got, got[1:])]
    assert min(gaps) >= MIN_GAP - SLACK, \
        "the pacing clock is shared by the instances: %s" % (["%.3f" % g for g in gaps])
