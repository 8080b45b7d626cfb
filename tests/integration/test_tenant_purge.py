"""Deleting a tenant removes every key it has in Redis: its records at once (the DELETE), the
rest (conversations, messages, sessions, dedup claims, attempt logs) in the background, a bounded
SCAN step at a time, within seconds (docs/keys.md). Another tenant's keys are never touched."""
import time
import uuid

from sbhelpers import as_text, wait_until

SHOP = "https://shop.example.com"


def tenant_keys(redis, tid):
    out, cursor = [], "0"
    while True:
        cursor, batch = redis.cmd("SCAN", cursor, "MATCH", "sb:{t:%s}:*" % tid, "COUNT", 1000)
        out += [as_text(k) for k in batch]
        if as_text(cursor) == "0":
            return sorted(out)


def tenant_with_conversations(srv, name, n):
    """A tenant whose widget has n sessions, each with a conversation of two messages."""
    t = srv.create_tenant(name)
    base = "/api/admin/tenants/%s" % t["id"]
    agent = srv.admin("POST", base + "/agents", json={"name": "bot", "webhookUrl": "https://bot.example.com/h"})
    assert agent.status_code == 201, agent.text
    w = srv.admin("POST", base + "/widgets", json={"name": "chat", "allowedOrigins": [SHOP],
                                                   "agentId": agent.json()["id"]})
    assert w.status_code == 201, w.text
    wid = w.json()["id"]
    for i in range(n):
        r = srv.request("POST", "/api/widget/%s/session/start" % wid, headers={"Origin": SHOP})
        assert r.status_code == 201, r.text
        auth = {"Origin": SHOP, "Authorization": "Bearer " + r.json()["token"]}
        for text in ("hello %d" % i, "still there?"):
            r = srv.request("POST", "/api/widget/%s/messages" % wid, json={"text": text}, headers=auth)
            assert r.status_code == 201, r.text
    return t["id"]


def test_deleted_tenant_leaves_no_key_behind(server, redis):
    srv = server()
    gone = tenant_with_conversations(srv, "leaving", 5)
    kept = tenant_with_conversations(srv, "staying", 2)
    before = tenant_keys(redis, gone)
    assert any(":conv:" in k for k in before) and any(":session:" in k for k in before), before
    kept_before = tenant_keys(redis, kept)

    r = srv.admin("DELETE", "/api/admin/tenants/%s" % gone)
    assert r.status_code == 204, r.text
    assert wait_until(lambda: not tenant_keys(redis, gone), 10), tenant_keys(redis, gone)
    assert wait_until(lambda: int(redis.cmd("HLEN", "sb:purge")) == 0, 5)
    # the agent deliveries of the deleted tenant's messages come to nothing later either
    time.sleep(2.5)
    assert tenant_keys(redis, gone) == []
    assert tenant_keys(redis, kept) == kept_before
    r = srv.admin("GET", "/api/admin/tenants/%s" % gone)
    assert r.status_code == 404


def test_purge_goes_on_in_steps_and_survives_a_restart(server, redis):
    """Many keys: the removal takes several bounded steps, its SCAN cursor kept in Redis, so an
    instance that stops half-way leaves the rest to whichever instance runs next."""
    tid, other = str(uuid.uuid4()), str(uuid.uuid4())
    fill = ("for i = 1, tonumber(ARGV[2]) do redis.call('SET', 'sb:{t:' .. ARGV[1] .. '}:x:' .. i, i) end "
            "return 1")
    redis.cmd("EVAL", fill, 0, tid, 200000)
    redis.cmd("EVAL", fill, 0, other, 500)
    redis.cmd("HSET", "sb:purge", tid, "0")
    srv = server()
    assert wait_until(lambda: as_text(redis.cmd("HGET", "sb:purge", tid)) not in (None, "0"), 10), \
        "a first step ran and saved its cursor"
    srv.stop()
    left = int(redis.cmd("DBSIZE"))
    assert len(tenant_keys(redis, tid)) > 0, "stopped before the end (raise the key count)"
    server()
    assert wait_until(lambda: not tenant_keys(redis, tid), 15), len(tenant_keys(redis, tid))
    # then a whole pass that finds nothing, and the tenant leaves the purge hash
    assert wait_until(lambda: int(redis.cmd("HEXISTS", "sb:purge", tid)) == 0, 10)
    assert len(tenant_keys(redis, other)) == 500
    assert int(redis.cmd("DBSIZE")) < left


def test_a_pass_resumed_past_some_keys_is_followed_by_a_whole_pass(server, redis):
    """A cursor saved before a Redis restart may point past keys the new keyspace order puts
    before it. Here the cursor is forged: a cursor from part-way through a SCAN, saved as the
    purge position of a tenant whose keys were never looked at. The keys before it must go too."""
    tid = str(uuid.uuid4())
    for i in range(0, 6000, 500):
        args = []
        for j in range(i, i + 500):
            args += ["sb:{t:%s}:conv:%d" % (tid, j), "x"]
        redis.cmd("MSET", *args)
    redis.cmd("SET", "sb:other:key", "kept")
    cursor, _ = redis.cmd("SCAN", "0", "COUNT", 3000)
    assert as_text(cursor) != "0"
    redis.cmd("HSET", "sb:purge", tid, as_text(cursor))  # a bare cursor, as older versions saved it
    server()
    assert wait_until(lambda: int(redis.cmd("HLEN", "sb:purge")) == 0, 15), redis.cmd("HGETALL", "sb:purge")
    assert tenant_keys(redis, tid) == []
    assert as_text(redis.cmd("GET", "sb:other:key")) == "kept"
