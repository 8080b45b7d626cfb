"""The widget's event stream (docs/widget.md "GET /api/widget/{widgetId}/events"): Server-Sent
Events with `id: <seq>` / `event: message`, across instances through Redis pub/sub, resumable
with Last-Event-ID (header or ?lastEventId=), heartbeats, hostile clients, and a Redis restart
under an open stream. Every read has a deadline, so no test can hang on a stream."""

import json
import os
import re
import socket
import struct
import threading
import time

import pytest
import requests

from fakes import SERVER_FLAGS, WIDGET_ORIGIN, ChatWidget, Reply, fakes  # noqa: F401
from sbhelpers import RawConn, req, wait_until

pytestmark = pytest.mark.server

FOREIGN = "https://evil.example.com"
MSG_KEYS = ("id", "conversationId", "seq", "direction", "sender", "text", "attachments",
            "createdAt")


def project(m):
    return {k: m.get(k) for k in MSG_KEYS}


class Stream:
    """A raw-socket SSE client. Sends the GET, reads the answer's head, then decodes the body
    (chunked or not) into SSE items as bytes arrive: {"type": "retry", "value"},
    {"type": "comment", "text"} and {"type": "event", "id", "event", "data"}; message events
    also get "msg" (the parsed data). Nothing blocks past the given timeouts."""

    def __init__(self, srv, widget, token=None, query=None, last_event_id=None,
                 origin=WIDGET_ORIGIN, timeout=5.0):
        path = widget.path("/events") + ("?" + query if query else "")
        headers = [("Accept", "text/event-stream")]
        if origin:
            headers.append(("Origin", origin))
        if token:
            headers.append(("Authorization", "Bearer " + token))
        if last_event_id is not None:
            headers.append(("Last-Event-ID", str(last_event_id)))
        self.conn = RawConn(srv.port, timeout=timeout)
        self.conn.send(req("GET", path, headers))
        self.head = self.conn.read_response(timeout=timeout, head=True)
        self.status = self.head.status
        self.chunked = "chunked" in (self.head.header("Transfer-Encoding") or "").lower()
        self.ended = False
        self.items = []   # parsed and not consumed yet
        self.seen = []    # every item parsed, for failure messages
        self.body = b""   # the decoded body so far
        self._text = b""  # decoded bytes not yet split into lines
        self._state, self._left = "size", 0
        self._event = {}
        self._error = None
        if self.status == 200:
            self._decode()

    # decoding --------------------------------------------------------------------------
    def _decode(self):
        buf = self.conn.buf
        if not self.chunked:
            self._add(buf)
            self.conn.buf = b""
            return
        while not self.ended:
            if self._state == "size":
                i = buf.find(b"\r\n")
                if i < 0:
                    break
                size = int(buf[:i].split(b";")[0].strip() or b"0", 16)
                buf = buf[i + 2:]
                if size == 0:
                    self.ended = True
                    break
                self._state, self._left = "data", size
            elif self._state == "data":
                if not buf:
                    break
                take, buf = buf[:self._left], buf[self._left:]
                self._add(take)
                self._left -= len(take)
                if self._left == 0:
                    self._state = "crlf"
            else:
                if len(buf) < 2:
                    break
                assert buf[:2] == b"\r\n", "bad chunk framing: %r" % buf[:40]
                buf, self._state = buf[2:], "size"
        self.conn.buf = buf

    def _add(self, data):
        self.body += data
        self._text += data
        while True:
            i = self._text.find(b"\n")
            if i < 0:
                return
            line, self._text = self._text[:i].rstrip(b"\r"), self._text[i + 1:]
            self._line(line.decode("utf-8"))

    def _emit(self, item):
        self.items.append(item)
        self.seen.append(item)

    def _line(self, line):
        if line == "":
            if "data" in self._event or "event" in self._event or "id" in self._event:
                ev = {"type": "event", "id": self._event.get("id"),
                      "event": self._event.get("event", "message"),
                      "data": "\n".join(self._event.get("data", []))}
                if ev["event"] == "message":
                    ev["msg"] = json.loads(ev["data"])
                self._emit(ev)
            self._event = {}
            return
        if line.startswith(":"):
            self._emit({"type": "comment", "text": line[1:].strip()})
            return
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "retry":
            self._emit({"type": "retry", "value": value})
        elif field == "data":
            self._event.setdefault("data", []).append(value)
        elif field in ("id", "event"):
            self._event[field] = value

    def _pump(self, deadline):
        """Read once (TimeoutError at the deadline); False once the peer has closed."""
        if not self.conn._recv(deadline):
            self.ended = True
            return False
        self._decode()
        return True

    # reading ---------------------------------------------------------------------------
    def next_item(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.items:
            if self.ended:
                raise AssertionError("the stream ended; last items: %r" % self.seen[-5:])
            try:
                self._pump(deadline)
            except TimeoutError:
                raise AssertionError("nothing new on the stream within %.1f s; last items: %r"
                                     % (timeout, self.seen[-5:])) from None
        return self.items.pop(0)

    def next_message(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            it = self.next_item(max(0.01, deadline - time.monotonic()))
            if it["type"] == "event" and it["event"] == "message":
                assert it["id"] == str(it["msg"]["seq"]), "id: is the message's seq: %r" % it
                return it

    def messages(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        return [self.next_message(max(0.01, deadline - time.monotonic())) for _ in range(n)]

    def quiet(self, seconds):
        """Message events that arrive within `seconds` (consumed); expected to be none."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            while self.items:
                it = self.items.pop(0)
                if it["type"] == "event" and it["event"] == "message":
                    got.append(it)
            if self.ended or time.monotonic() >= deadline:
                return got
            try:
                self._pump(deadline)
            except TimeoutError:
                pass

    def wait_open(self, timeout=5.0):
        """Consume up to the stream's opening `retry:` line; nothing but comments before it."""
        while True:
            it = self.next_item(timeout)
            if it["type"] == "retry":
                return it
            assert it["type"] == "comment", "the stream begins with retry:, got %r" % it

    def error(self, timeout=5.0):
        """The parsed body of a non-200 answer (Content-Length or chunked)."""
        deadline = time.monotonic() + timeout
        n = self.head.header("Content-Length")
        if n is not None:
            while len(self.conn.buf) < int(n) and self.conn._recv(deadline):
                pass
            data = self.conn.buf[:int(n)]
        else:
            self._decode()
            while not self.ended and self._pump(deadline):
                pass
            data = self.body
        return json.loads(data.decode("utf-8"))

    # closing ---------------------------------------------------------------------------
    def close(self):
        self.conn.close()

    def abort(self):
        """Close with a TCP reset, the way a crashed browser tab goes."""
        if self.conn.sock is not None:
            self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
        self.conn.close()


@pytest.fixture
def sse():
    """Factory: sse(srv, session, via="header"|"query"|None, last_event_id=None, query="",
    ready=True, origin=WIDGET_ORIGIN, token=None) -> Stream; with ready, asserts 200 and consumes
    the opening retry: line. Every stream is closed after the test."""
    made = []

    def open_(srv, s, via="header", last_event_id=None, query="", ready=True,
              origin=WIDGET_ORIGIN, token=None):
        token = token or s.token
        q = [query] if query else []
        if via == "query":
            q.insert(0, "access_token=" + token)
        st = Stream(srv, s.widget, token=token if via == "header" else None,
                    query="&".join(q) or None, last_event_id=last_event_id, origin=origin)
        made.append(st)
        if ready:
            assert st.status == 200, "GET events: %d %r" % (st.status, st.conn.buf[:300])
            st.wait_open()
        return st

    yield open_
    for st in made:
        st.close()


@pytest.fixture
def sb(server):
    return server(*SERVER_FLAGS)


def ids(events):
    return [e["id"] for e in events]


def seqs(msgs):
    return [str(m["seq"]) for m in msgs]


# ---- the answer ---------------------------------------------------------------------------

def test_stream_head_and_opening_retry(sb, sse):
    s = ChatWidget(sb).session()
    st = sse(sb, s, ready=False)
    assert st.status == 200, st.conn.buf[:300]
    ctype = (st.head.header("Content-Type") or "").split(";")[0].strip().lower()
    assert ctype == "text/event-stream", st.head
    assert st.chunked, "the stream is chunked: %r" % st.head
    assert st.head.header("Access-Control-Allow-Origin") == WIDGET_ORIGIN
    first = st.next_item(3)
    assert first == {"type": "retry", "value": "2000"}, first
    assert re.match(rb"retry: ?2000\r?\n", st.body), "the stream begins with retry: 2000: %r" % (
        st.body[:40],)
    assert st.quiet(0.5) == [], "no message without Last-Event-ID until one arrives"


def test_bearer_stream_gets_messages_posted_afterwards(sb, sse):
    s = ChatWidget(sb).session()
    before = s.say("before the stream")
    st = sse(sb, s)
    m1 = s.say("hello stream")
    ev = st.next_message(5)
    assert ev["event"] == "message" and ev["id"] == str(m1["seq"]), ev
    assert project(ev["msg"]) == project(m1), "data is the message JSON"
    m2 = s.say("second")
    assert ids([st.next_message(5)]) == seqs([m2])
    assert st.quiet(0.5) == []
    assert before["seq"] < m1["seq"]


def test_access_token_query_stream(sb, sse):
    w = ChatWidget(sb)
    s = w.session()
    st = sse(sb, s, via="query")
    m = s.say("via EventSource")
    ev = st.next_message(5)
    assert ev["id"] == str(m["seq"]) and project(ev["msg"]) == project(m)
    assert st.quiet(0.3) == []


def test_stream_needs_a_valid_token_and_origin(sb, sse):
    w = ChatWidget(sb)
    other = ChatWidget(sb, tenant=w.tenant)
    s = w.session()
    cases = [
        ("no token", dict(via=None)),
        ("garbage header", dict(via="header", token="garbage")),
        ("garbage query", dict(via="query", token="garbage")),
        ("other widget's token", dict(via="header", token=other.session().token)),
        ("other widget's token in the query", dict(via="query", token=other.session().token)),
    ]
    for what, kw in cases:
        st = sse(sb, s, ready=False, **kw)
        assert st.status == 401, "%s: %d" % (what, st.status)
        www = st.head.header("WWW-Authenticate") or ""
        assert www.split(" ")[0].lower() == "bearer", (what, www)
        ctype = (st.head.header("Content-Type") or "").split(";")[0].strip()
        assert ctype == "application/problem+json", (what, ctype)
        assert st.error()["status"] == 401
        assert st.head.header("Access-Control-Allow-Origin") == WIDGET_ORIGIN, what
    st = sse(sb, s, ready=False, origin=FOREIGN)
    assert st.status == 403 and st.head.header("Access-Control-Allow-Origin") is None
    # the refusals did not disturb a good stream
    good = sse(sb, s)
    m = s.say("still fine")
    assert ids([good.next_message(5)]) == seqs([m])


# ---- fan-out ------------------------------------------------------------------------------

def test_two_instances_share_the_stream(server, redis, sse):
    a = server(*SERVER_FLAGS)
    b = server(*SERVER_FLAGS)
    w = ChatWidget(a)
    s = w.session(srv=a)
    bystander = w.session(srv=b)
    on_b = sse(b, s)
    on_a = sse(a, s)
    quiet = sse(b, bystander)
    m1 = s.say("posted through A", srv=a)
    assert ids([on_b.next_message(5)]) == seqs([m1]), "a message reaches B's stream"
    assert ids([on_a.next_message(5)]) == seqs([m1])
    m2 = s.say("posted through B", srv=b)
    assert ids([on_a.next_message(5)]) == seqs([m2])
    assert ids([on_b.next_message(5)]) == seqs([m2])
    assert quiet.quiet(0.5) == [], "another session's stream gets nothing"
    assert on_a.quiet(0.2) == [] and on_b.quiet(0.2) == []


def test_agent_and_operator_replies_arrive(sb, sse, fakes):  # noqa: F811
    agent = fakes(lambda rec, fake: Reply(200, json.dumps({"reply": "pong"}),
                                          content_type="application/json"))
    w = ChatWidget(sb, "sse-replies", agent_url=agent.url)
    s = w.session()
    st = sse(sb, s)
    m = s.say("ping")
    ev = st.messages(2, 10)
    assert ev[0]["id"] == str(m["seq"]), ev
    reply = ev[1]["msg"]
    assert reply["direction"] == "out" and reply["text"] == "pong", reply
    assert reply["sender"]["type"] == "agent" and reply["sender"]["id"] == w.agent["id"], reply
    assert int(ev[1]["id"]) > m["seq"]
    r = w.api("POST", "/api/conversations/%s/messages" % m["conversationId"],
              json={"text": "operator here", "sender": {"type": "operator", "id": "op-1",
                                                        "name": "Ayse"}})
    assert r.status_code == 201, r.text
    op = r.json()
    ev = st.next_message(5)
    assert ev["id"] == str(op["seq"]) and project(ev["msg"]) == project(op), ev
    assert ev["msg"]["sender"]["type"] == "operator"
    assert st.quiet(0.5) == []


# ---- resuming -----------------------------------------------------------------------------

def test_last_event_id_header_resumes_without_gaps_or_duplicates(sb, sse):
    s = ChatWidget(sb).session()
    st = sse(sb, s)
    first = [s.say("a%d" % i) for i in range(3)]
    got = st.messages(3)
    assert ids(got) == seqs(first)
    st.close()
    later = [s.say("b%d" % i) for i in range(3)]
    st2 = sse(sb, s, last_event_id=got[-1]["id"])
    replay = st2.messages(3)
    assert ids(replay) == seqs(later), "exactly the missed messages, in order"
    assert [project(e["msg"]) for e in replay] == [project(m) for m in later]
    assert st2.quiet(0.5) == [], "nothing twice"
    live = s.say("live")
    assert ids([st2.next_message(5)]) == seqs([live])
    assert st2.quiet(0.3) == []


def test_last_event_id_query_resumes(sb, sse):
    s = ChatWidget(sb).session()
    msgs = [s.say("q%d" % i) for i in range(5)]
    st = sse(sb, s, query="lastEventId=%d" % msgs[1]["seq"])
    assert ids(st.messages(3)) == seqs(msgs[2:])
    assert st.quiet(0.3) == []
    st = sse(sb, s, via="query", query="lastEventId=%d" % msgs[3]["seq"])
    assert ids(st.messages(1)) == seqs(msgs[4:]), "with ?access_token= too"
    st = sse(sb, s, query="lastEventId=0")
    assert ids(st.messages(5)) == seqs(msgs), "from 0: everything"
    assert st.quiet(0.3) == []
    st = sse(sb, s, last_event_id=msgs[4]["seq"])
    assert st.quiet(0.3) == [], "up to date: nothing to replay"
    m = s.say("next")
    assert ids([st.next_message(5)]) == seqs([m])


def test_reconnecting_while_messages_arrive_loses_nothing(sb, sse):
    s = ChatWidget(sb).session()
    total = 40
    posted, errors = [], []
    st = sse(sb, s)  # opened before the first message, so nothing precedes it

    def poster():
        try:
            for i in range(total):
                r = s.post({"text": "r%02d" % i})
                if r.status_code != 201:
                    errors.append((r.status_code, r.text[:200]))
                    return
                posted.append(r.json())
                time.sleep(0.015)
        except Exception as e:  # surfaces in the main thread
            errors.append(repr(e))

    th = threading.Thread(target=poster, daemon=True)
    th.start()
    got = []
    deadline = time.monotonic() + 30
    while len(got) < total and time.monotonic() < deadline:
        for _ in range(6):  # a few events, then drop the connection and resume
            if len(got) >= total:
                break
            try:
                got.append(st.next_message(3))
            except AssertionError:
                break
        st.close()
        if len(got) < total:
            st = sse(sb, s, last_event_id=got[-1]["id"] if got else 0)
    th.join(15)
    assert not errors, errors
    assert len(posted) == total
    assert ids(got) == seqs(posted), "every message once, in order, across reconnections"


# ---- heartbeats, hostile clients ----------------------------------------------------------

def test_heartbeat_comment(server, sse):
    srv = server(*SERVER_FLAGS, "--sse-heartbeat-ms", "300")
    s = ChatWidget(srv).session()
    st = sse(srv, s)
    t0 = time.monotonic()
    pings = []
    while time.monotonic() - t0 < 1.6:
        it = st.next_item(1.0)
        assert it["type"] == "comment", "an idle stream carries only heartbeats: %r" % it
        pings.append((time.monotonic() - t0, it["text"]))
    assert pings and pings[0][0] <= 1.0, "first ': ping' within 1 s: %r" % pings
    assert all(p == "ping" for _, p in pings), pings
    assert len(pings) >= 3, "a ping every 300 ms: %r" % pings
    m = s.say("after pings")
    assert ids([st.next_message(5)]) == seqs([m])


def _fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def test_dropped_streams_leave_the_server_healthy(sb, sse):
    w = ChatWidget(sb)
    s = w.session()
    warm = [sse(sb, s) for _ in range(4)]  # every loop thread has served a stream
    m0 = s.say("warm-up")
    for st in warm:
        assert ids([st.next_message(5)]) == seqs([m0])
        st.close()
    time.sleep(0.3)
    base = _fds(sb.pid)

    streams = [sse(sb, s) for _ in range(25)]
    m = s.say("to 25 streams")
    for st in streams[::2]:
        assert ids([st.next_message(5)]) == seqs([m])
    for i, st in enumerate(streams):
        if i % 2:
            st.abort()
        else:
            st.close()
    for i in range(25):  # requests dropped before or right after the answer's head
        c = RawConn(sb.port)
        c.send(req("GET", w.path("/events"), [("Origin", WIDGET_ORIGIN),
                                              ("Authorization", "Bearer " + s.token)]))
        if i % 2:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    s.say("to nobody")
    assert sb.get("/healthz").status_code == 200
    fresh = sse(sb, s)
    m2 = s.say("after the drops")
    assert ids([fresh.next_message(5)]) == seqs([m2])
    fresh.close()
    if base is not None:
        assert wait_until(lambda: _fds(sb.pid) <= base + 4, 5), \
            "file descriptors of dropped streams not released: %d before, %d after" % (
                base, _fds(sb.pid))


@pytest.mark.slow
def test_stream_survives_a_redis_restart(server, redis, sse):
    srv = server(*SERVER_FLAGS, "--redis-timeout-ms", "500")
    s = ChatWidget(srv).session()
    st = sse(srv, s)
    m1 = s.say("before the restart")
    assert ids([st.next_message(5)]) == seqs([m1])

    redis.cmd("SAVE")  # the restarted redis loads this snapshot: tenant, widget, session
    redis.stop()
    time.sleep(0.5)
    redis.start()
    assert int(redis.cmd("DBSIZE")) > 0, "test setup: the snapshot was not loaded"

    def post():
        try:
            r = s.post({"text": "after the restart"}, timeout=3)
        except requests.RequestException:
            return None
        return r if r.status_code == 201 else None

    r = wait_until(post, 15, 0.2)
    assert r is not None, "the server did not take messages again within 15 s of the restart"
    m2 = r.json()
    ev = st.next_message(10)
    assert ev["id"] == str(m2["seq"]), "the old stream goes on from its last seq: %r" % ev
    m3 = s.say("and live again")
    assert ids([st.next_message(10)]) == seqs([m3])
    assert st.quiet(0.5) == []
