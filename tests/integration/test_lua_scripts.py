"""The Redis Lua scripts alone (docs/scripts.md): every script scripts/embed_lua.py assembles from
src/store/lua loads on a real redis-server, a few run with EVAL on hand-made keys give the
answers their headers document, and the embed tool refuses a library piece nobody uses, a
`uses:` name that does not exist, and a script the build does not list."""

import hashlib
import os
import re
import shutil
import subprocess
import sys

import pytest

from sbhelpers import REPO, RedisError

EMBED = os.path.join(REPO, "scripts", "embed_lua.py")
LUA_DIR = os.path.join(REPO, "src", "store", "lua")
NAMES = sorted(f[:-4] for f in os.listdir(LUA_DIR) if f.endswith(".lua"))
PIECES = sorted(f[:-4] for f in os.listdir(os.path.join(LUA_DIR, "lib")) if f.endswith(".lua"))


def embed(*args, lua_dir=None):
    cmd = [sys.executable, EMBED] + (["--dir", lua_dir] if lua_dir else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def assembled(tmp_path_factory):
    out = tmp_path_factory.mktemp("lua")
    r = embed("dump", str(out))
    assert r.returncode == 0, r.stderr
    return {n: (out / (n + ".lua")).read_text() for n in NAMES}


def show(name):
    r = embed("show", name)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("name", NAMES)
def test_script_loads(redis, assembled, name):
    src = assembled[name]
    # The SHA-1 Redis answers is the one sb_scripts_init computes from the same text.
    assert redis.cmd("SCRIPT", "LOAD", src).decode() == hashlib.sha1(src.encode()).hexdigest()


@pytest.mark.parametrize("piece", PIECES)
def test_library_piece_compiles_alone(redis, piece):
    with open(os.path.join(LUA_DIR, "lib", piece + ".lua")) as f:
        redis.cmd("SCRIPT", "LOAD", f.read())


def test_show_prints_what_dump_writes(assembled):
    assert show("session_start") == assembled["session_start"]
    assert show("binding_get") == assembled["binding_get"]


def test_comments_are_not_sent(assembled):
    for name, src in assembled.items():
        assert not re.search(r"^\s*--", src, re.M), name
        assert "\n\n" not in src, name


def test_pieces_are_pasted_in_order(assembled):
    """widget_message: emit, conv, ratelimit, widget, session, widget_auth, then its body."""
    src = assembled["widget_message"]
    at = [src.index(s) for s in ("local function sb_emit(", "local function conv_data(",
                                 "local function rl_now(", "local function widget_gate(",
                                 "local function sess_get(", "local function widget_auth(",
                                 "local cx = cjson.decode(ARGV[1])")]
    assert at == sorted(at)


def test_ratelimit_admits_limit_then_refuses(redis, assembled):
    src = assembled["ratelimit"]
    key = "sb:rate:test:1.2.3.4"
    for n in range(1, 4):
        ok, count, reset = redis.cmd("EVAL", src, 1, key, 60000, 3)
        assert (ok, count) == (1, n)
        assert 0 < reset <= 60000
    ok, count, reset = redis.cmd("EVAL", src, 1, key, 60000, 3)
    assert (ok, count) == (0, 3)
    assert 0 < reset <= 60000
    assert 0 < redis.cmd("PTTL", key) <= 60000
    # Another subject has its own window.
    assert redis.cmd("EVAL", src, 1, "sb:rate:test:5.6.7.8", 60000, 3)[:2] == [1, 1]


def test_binding_get(redis, assembled):
    src = assembled["binding_get"]
    idx = "sb:idx:channels"
    assert redis.cmd("EVAL", src, 1, idx, "slack:T1") is None
    redis.cmd("HSET", idx, "slack:T1", "t1:ch1")
    redis.cmd("HSET", "sb:{t:t1}:tenant", "status", "active")
    redis.cmd("HSET", "sb:{t:t1}:channels", "ch1", '{"id":"ch1"}')
    assert redis.cmd("EVAL", src, 1, idx, "slack:T1") == [b"t1", b"ch1", b'{"id":"ch1"}']
    redis.cmd("HSET", "sb:{t:t1}:tenant", "status", "suspended")
    assert redis.cmd("EVAL", src, 1, idx, "slack:T1") is None


def test_raw_file_runs_as_is(redis):
    """A script without library pieces or batch frame runs straight from its file, comments and
    all (what `redis-cli --eval src/store/lua/binding_get.lua ...` does)."""
    with open(os.path.join(LUA_DIR, "binding_get.lua")) as f:
        assert redis.cmd("EVAL", f.read(), 1, "sb:idx:channels", "slack:T9") is None


def test_batched_inbound_accept(redis, assembled):
    """Two calls in one run (1 key each; each call's arguments preceded by their count): the
    second claims one event again and one new."""
    src = assembled["inbound_accept"]
    stream = "sb:q:in"
    call1 = ["3", "60", "sb:{t:t1}:seen:c:e1", '{"n":1}']
    call2 = ["5", "60", "sb:{t:t1}:seen:c:e1", '{"n":1}', "sb:{t:t1}:seen:c:e2", '{"n":2}']
    assert redis.cmd("EVAL", src, 2, stream, stream, *call1, *call2) == [1, 1]
    assert redis.cmd("XLEN", stream) == 2


def test_apichat_accept_judges_then_queues(redis, assembled):
    """The proof and the queueing in one call: a held proof claims and queues; a wrong key,
    another workspace's code, a removed webhook or a suspended workspace queue nothing and claim
    nothing."""
    src = assembled["apichat_accept"]
    idx, keys, ten, hook, stream = ("sb:idx:apichat", "sb:{t:t1}:apikeys:byhash", "sb:{t:t1}:tenant",
                                    "sb:{t:t1}:apichat", "sb:q:in:apichat-test")
    redis.cmd("HSET", idx, "CODE1", "t1", "CODE2", "t2")
    redis.cmd("HSET", keys, "h1", "k1")
    redis.cmd("HSET", ten, "status", "active")
    redis.cmd("HSET", hook, "code", "CODE1", "status", "verified")

    def call(code, digest, claim="sb:{t:t1}:seen:c:x"):
        args = ["6", code, digest, "t1", "60", claim, '{"n":1}']
        return redis.cmd("EVAL", src, 5, idx, keys, ten, hook, stream, *args)[0]

    assert call("CODE1", "nokey", "sb:{t:t1}:seen:c:a") == "NOKEY"
    assert call("CODE2", "h1", "sb:{t:t1}:seen:c:a") == "NOKEY"
    assert call("NONE", "h1", "sb:{t:t1}:seen:c:a") == "NOCODE"
    redis.cmd("HSET", ten, "status", "suspended")
    assert call("CODE1", "h1", "sb:{t:t1}:seen:c:a") == "SUSPENDED"
    assert redis.cmd("EXISTS", "sb:{t:t1}:seen:c:a") == 0
    assert redis.cmd("XLEN", stream) == 0
    redis.cmd("HSET", ten, "status", "active")
    assert call("CODE1", "h1", "sb:{t:t1}:seen:c:a") == 1
    assert call("CODE1", "h1", "sb:{t:t1}:seen:c:a") == 0  # a retry: claimed already
    assert redis.cmd("XLEN", stream) == 1
    redis.cmd("DEL", hook)  # what apichat_delete does
    assert call("CODE1", "h1", "sb:{t:t1}:seen:c:b") == "NOCODE"
    assert redis.cmd("XLEN", stream) == 1


def test_incoming_line_expires_its_old_messages_and_paces_the_rest(redis, assembled):
    """An account's incoming line (docs/incoming.md): a message queued past its retention is
    dropped at the head of the line (its message and record 'expired', its credits back at once),
    the next one goes out, and the line's gap is drawn from the account's window."""
    import datetime
    src = assembled["pace_tick"]
    tp = "sb:{t:t1}:"
    line = "{t:t1}:send:c1:~in"
    now = 1764850000123
    redis.cmd("ZADD", tp + "conv:cv1:msgs", 5, '{"seq":5,"text":"a","status":"queued"}')
    redis.cmd("ZADD", tp + "conv:cv1:msgs", 6, '{"seq":6,"text":"b","status":"queued"}')
    redis.cmd("HSET", tp + "inwh:held", "m1", 2, "m2", 1)
    redis.cmd("HSET", tp + "credits", "balance", 10, "held", 3, "used", 0)
    redis.cmd("HSET", tp + "inwh:s:m1", "status", "queued")
    redis.cmd("HSET", tp + "inwh", "gmin", 100, "gmax", 200)
    old = '{"k":"send","pf":"whatsapp","iw":"m1","cr":2,"xa":%d,"cid":"cv1","seq":5}' % (now - 1)
    new = '{"k":"send","pf":"whatsapp","iw":"m2","cr":1,"xa":%d,"cid":"cv1","seq":6}' % (now + 10 ** 6)
    redis.cmd("RPUSH", "sb:pace:" + line + ":q", old, new)
    redis.cmd("ZADD", "sb:pace:due", 0, line)
    fresh = "sb:q:test-fresh"
    assert redis.cmd("EVAL", src, 2, "sb:pace:due", fresh, now, "sb:pace:", 16, "whatsapp:80:0:80", 1000) == 1
    out = redis.cmd("XRANGE", fresh, "-", "+")
    assert len(out) == 1 and out[0][1][1].decode() == new, out
    msg = redis.cmd("ZRANGEBYSCORE", tp + "conv:cv1:msgs", 5, 5)[0].decode()
    assert msg.startswith('{"seq":5,"text":"a","status":"expired","error":"expired: '), msg
    rfc = datetime.datetime.fromtimestamp(now / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now % 1000)
    assert redis.cmd("HGET", tp + "inwh:s:m1", "status") == b"expired"
    assert redis.cmd("HGET", tp + "inwh:s:m1", "updatedAt").decode() == rfc
    assert redis.cmd("HMGET", tp + "credits", "balance", "held", "used") == [b"12", b"1", b"0"]
    assert redis.cmd("HEXISTS", tp + "inwh:held", "m1") == 0
    left, gap = redis.cmd("GET", "sb:pace:" + line + ":sent").decode().split()
    assert int(left) == now and 100 <= int(gap) <= 200, (left, gap)


def test_incoming_activation_is_stored_by_the_queue_unless_purged_meanwhile(redis, assembled):
    """The incoming webhook's two steps (docs/incoming.md "The two steps"): inwh_accept holds the
    credits and queues an item, which answers for the send record meanwhile; inwh_store (the
    inbound lease holder) makes it the conversation's message on the account's line and writes
    its record, index and log entries. An item whose account was purged between the steps is
    settled as purged with its credits back, and opens nothing."""
    import json
    tp = "sb:{t:t1}:"
    stream, lease = "sb:q:test-in", "sb:q:test-in:lease"
    redis.cmd("XGROUP", "CREATE", stream, "sb", "$", "MKSTREAM")
    redis.cmd("SET", lease, "me")
    redis.cmd("HSET", tp + "tenant", "id", "t1")
    redis.cmd("HSET", tp + "channels", "c1", json.dumps(
        {"type": "whatsapp", "agentId": "a1", "createdAt": "2026-01-01T00:00:00.000Z",
         "config": {"displayPhone": "+1 555 0100"}}))
    redis.cmd("HSET", "sb:idx:inwh", "th1", "t1")
    redis.cmd("HSET", tp + "inwh", "th", "th1", "enabled", "1")
    redis.cmd("HSET", tp + "credits", "balance", 10, "held", 0, "used", 0)
    cx = json.dumps({"now": 1764850000123, "ts": "2025-12-04 12:06:40",
                     "rfc": "2025-12-04T12:06:40.123Z", "eid": "e" * 32, "inst": "i1"})

    def accept(mid, phone):
        # one call of the batch frame: its argument count, then its arguments
        (st, answer, _), = redis.cmd("EVAL", assembled["inwh_accept"], 1, stream, 12, "th1",
                                     "127.0.0.1", "{}", "", "phone", phone, "", mid, 1, "hello", "", "")
        assert st == 200 and mid in answer.decode(), answer
        entries = redis.cmd("XREADGROUP", "GROUP", "sb", "me", "COUNT", 1, "STREAMS", stream, ">")
        eid, fields = entries[0][1][0]
        item = fields[1].decode()
        assert item.startswith('{"k":"iw",'), item
        return eid.decode(), item

    def store(eid, item, cid):
        return redis.cmd("EVAL", assembled["inwh_store"], 2, stream, lease, cx, eid, "me", item, cid,
                         '{"type":"integration","id":"incoming-webhook"}',
                         '"id":"m","direction":"out","text":"hello"', '"message_id":"m"')

    def record(mid):
        r = redis.cmd("EVAL", assembled["inwh_sends"], 0, "t1", mid)
        return {r[i].decode(): r[i + 1].decode() for i in range(0, len(r), 2)}

    # accepted: the credits held by the queue item, which is the record meanwhile
    eid, item = accept("m1", "15550001")
    assert redis.cmd("HMGET", tp + "credits", "balance", "held") == [b"9", b"1"]
    assert redis.cmd("HGET", tp + "inwh:q", "m1").decode() == item
    assert redis.cmd("EXISTS", tp + "inwh:s:m1", tp + "inwh:held", tp + "inwh:sends", tp + "inwh:alog") == 0
    r = record("m1")
    assert r["messageId"] == "wa_backend:m1" and r["status"] == "queued" and r["to"] == "+15550001", r
    assert r["accountPhone"] == "+15550100" and r["channelId"] == "c1" and r["credits"] == "1", r
    assert "seq" not in r and "conversationId" not in r, r
    assert redis.cmd("EXISTS", tp + "convx:whatsapp:c1:15550001") == 0
    # another consumer may not store it
    assert redis.cmd("EVAL", assembled["inwh_store"], 2, stream, lease, cx, eid, "other", item, "cv1",
                     "{}", '"id":"m"', '"message_id":"m"') == [b"NOTOWNER"]
    ok, cid, seq = store(eid, item, "cv1")
    assert ok == b"OK" and cid == b"cv1" and seq > 0, (ok, cid, seq)
    assert redis.cmd("HMGET", tp + "inwh:s:m1", "conversationId", "seq") == [b"cv1", str(seq).encode()]
    assert dict(record("m1"), conversationId=None, seq=None) == dict(r, conversationId=None, seq=None)
    assert redis.cmd("HEXISTS", tp + "inwh:q", "m1") == 0
    assert redis.cmd("HGET", tp + "inwh:held", "m1") == b"1"
    assert redis.cmd("ZRANGE", tp + "inwh:sends", 0, -1) == [b"m1"]
    log, = redis.cmd("ZRANGE", tp + "inwh:alog", 0, -1)
    order, entry = log.decode().split(" ", 1)
    assert len(order) == 18 and order.isdigit(), order
    assert json.loads(entry)["answer"] == {"status": "success", "data": {"message_id": "wa_backend:m1"}}
    q = redis.cmd("LRANGE", "sb:pace:{t:t1}:send:c1:~in:q", 0, -1)
    assert len(q) == 1 and json.loads(q[0])["iw"] == "m1", q
    assert redis.cmd("XLEN", stream) == 0, "acknowledged and deleted"
    assert store(eid, item, "cv1") == [b"DUP"], "a taken-over entry is stored once"

    # accepted, then the account purged before the queue stored it
    eid, item = accept("m2", "15550002")
    assert redis.cmd("HMGET", tp + "credits", "balance", "held") == [b"8", b"2"]
    r = redis.cmd("EVAL", assembled["inwh_admin"], 0, "t1", "purge", "", "", cx, "{}")
    assert r[0] == b"OK", r
    assert store(eid, item, "cv2") == [b"DROPPED", b"purged"]
    assert redis.cmd("HGET", tp + "inwh:s:m2", "status") == b"purged"
    assert redis.cmd("EXISTS", tp + "convx:whatsapp:c1:15550002") == 0, "no conversation opened"
    # m1 was on the line: purged too; both refunded
    assert redis.cmd("HMGET", tp + "credits", "balance", "held", "used") == [b"10", b"0", b"0"]
    assert redis.cmd("XLEN", stream) == 0

    # after the purge, new activations go through again
    eid, item = accept("m3", "15550003")
    assert store(eid, item, "cv3")[0] == b"OK"


def test_batched_session_start_unknown_widget(redis, assembled):
    src = assembled["session_start"]
    args = ["8", "w_none", "", "60000", "5", "tokhash", "sess1", "3600000", "conv1"]
    assert redis.cmd("EVAL", src, 4, "sb:idx:widgets", "sb:rate:s:a", "sb:idx:widgets", "sb:rate:s:b",
                     *args, *args) == [b"NOWIDGET", b"NOWIDGET"]


def test_script_error_is_redis_error(redis, assembled):
    # A wrong key type fails the call with Redis's error, as documented in lib/ratelimit.lua.
    redis.cmd("HSET", "sb:rate:test:h", "f", "v")
    with pytest.raises(RedisError, match="WRONGTYPE"):
        redis.cmd("EVAL", assembled["ratelimit"], 1, "sb:rate:test:h", 60000, 3)


def test_check_passes():
    r = embed("check")
    assert r.returncode == 0, r.stderr


def test_every_script_is_in_the_build():
    """src/store/meson.build lists exactly the files of src/store/lua and lua/lib (the build
    itself also refuses a script file it is not given)."""
    with open(os.path.join(REPO, "src", "store", "meson.build")) as f:
        build = f.read()
    assert sorted(re.findall(r"'lua/(\w+)\.lua'", build)) == NAMES
    assert sorted(re.findall(r"'lua/lib/(\w+)\.lua'", build)) == PIECES


@pytest.fixture
def lua_copy(tmp_path):
    d = tmp_path / "lua"
    shutil.copytree(LUA_DIR, d)
    return d


def test_check_refuses_unused_piece(lua_copy):
    (lua_copy / "lib" / "orphan.lua").write_text("-- nobody uses me\nlocal function orphan() end\n")
    r = embed("check", lua_dir=str(lua_copy))
    assert r.returncode == 1
    assert "used by no script: orphan" in r.stderr


def test_check_refuses_unknown_piece(lua_copy):
    p = lua_copy / "auth_key.lua"
    p.write_text("-- uses: nosuch\n" + p.read_text())
    r = embed("check", lua_dir=str(lua_copy))
    assert r.returncode == 1
    assert "uses `nosuch`, which is not in lib/" in r.stderr


def test_check_refuses_piece_before_its_prerequisite(lua_copy):
    p = lua_copy / "conv_close.lua"
    p.write_text(p.read_text().replace("-- uses: emit proactive conv", "-- uses: proactive conv emit"))
    r = embed("check", lua_dir=str(lua_copy))
    assert r.returncode == 1
    assert "`conv` calls `emit`" in r.stderr


def test_check_refuses_late_directive(lua_copy):
    p = lua_copy / "auth_key.lua"
    p.write_text(p.read_text() + "-- uses: emit\n")
    r = embed("check", lua_dir=str(lua_copy))
    assert r.returncode == 1
    assert "after the first line of code" in r.stderr


def test_build_refuses_unlisted_script(lua_copy, tmp_path):
    (lua_copy / "extra.lua").write_text("return 1\n")
    given = [str(lua_copy / (n + ".lua")) for n in NAMES]
    r = embed("c", str(tmp_path / "out.c"), *given)
    assert r.returncode == 1
    assert "not listed in the build (src/store/meson.build): extra.lua" in r.stderr
    r = embed("c", str(tmp_path / "out.c"), *given, str(lua_copy / "extra.lua"))
    assert r.returncode == 0, r.stderr
