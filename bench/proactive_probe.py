#!/usr/bin/env python3
"""bench/proactive_probe.py — the client of bench/scenarios/60-proactive.sh (python3 stdlib only).

  proactive_probe.py run --port P --redis HOST:PORT --tenant TID --key API_KEY
                         --widget WID --agent AID [--widget WID --agent AID]...
                         [-n 10000] [--delay 5] [--conns 64] [--window 4]
                         [--timeout 60] [--grace 2] [--pid NAME=PID]... [--detail FILE]
                         [--progress-fd FD --progress-t0 EPOCH] [--no-pm]
  proactive_probe.py watch --redis HOST:PORT --pattern PATTERN --out FILE   (internal)

`run`, against one switchboard whose tenant exists, with G groups (G pairs of --widget and
--agent: a widget routed to its own agent). Conversation i belongs to group i*G/N. Then:
  1. creates one proactive message per group g: {"agentId": agent g, "trigger": {"type":
     "event", "event": "message_received", "delaySeconds": D + (G-1-g)}, "payload": {"text":
     "proactive"}} (POST /api/proactive-messages, X-API-Key); 404 there exits 4 (the feature is
     not built in). Triggers are per agent, so each conversation gets exactly one trigger;
  2. starts N widget sessions (POST /api/widget/{wid}/session/start, body {}, a different
     X-Forwarded-For of 10.0.0.0/8 each: the server must trust 127.0.0.1 as a proxy, or the
     per-IP limit of 60 starts a minute refuses);
  3. starts the watcher (a child process, `watch`): PSUBSCRIBE on the tenant's live channels
     (sb:{t:<tid>}:live:*, where every new message of a conversation is published) in the
     bench's Redis, arrival time of every message that carries "proactiveMessageId";
  4. sends each session's first message (POST /api/widget/{wid}/messages, Bearer token),
     pipelined over --conns keep-alive connections (--window in flight on each), group g
     starting g seconds after group 0. Its delay is g seconds shorter, so every group's due times
     fall into the same second even when the server takes longer than a second to take in all
     N messages (delaySeconds is whole seconds: each group must be sent within one second; a
     group that starts late is a warning, and shows in the due times' spread);
  5. waits until every firing was seen by the watcher (or the due set is empty and nothing
     moves, or --timeout seconds after the last due time), then --grace seconds more (a late
     duplicate), and reads every conversation's messages from Redis
     (ZRANGE sb:{t:<tid>}:conv:<cid>:msgs 0 -1: message JSON by seq).
Per conversation: due = createdAt of the customer message + its group's delay; fired = the
messages with its group's "proactiveMessageId" (exactly one wanted; another group's is counted
in foreign); lag = their createdAt - due. observed = the watcher's arrival time - due (when the
message became visible to a subscriber: an independent clock for the same thing, later than
createdAt by the time the firing script took).

Output: progress on stderr; one result line on stdout:
  proactive n=.. sessions=.. session_s=.. messages=.. send_s=.. send_per_s=.. post_p50_ms=..
    post_p99_ms=.. groups=.. group_late_ms=.. spread_ms=.. due_spread_ms=.. due_1s_max=.. scheduled=..
    fired=.. missing=.. dup=.. extra=.. early=.. foreign=..
    lag_p50_ms=.. lag_p99_ms=.. lag_max_ms=.. lag_min_ms=.. obs_n=.. obs_p50_ms=.. obs_p99_ms=..
    obs_max_ms=.. first_fired_ms=.. last_fired_ms=.. fire_per_s=.. fire_count=.. due_left=..
    wait_s=.. cpu_NAME=.. complete=0|1
(times relative to the first due time where they say _ms without being a latency; "-" where
nothing could be measured). --detail FILE writes one line per conversation:
  "cid group customer_createdAt_ms due_ms fired_createdAt_ms[,..] observed_ms[,..]"
Exit: 0 complete (all fired exactly once); 1 setup failure; 2 usage; 3 measured but
incomplete (refused requests, missing, duplicate or foreign firings); 4 POST /api/proactive-messages 404.
"""

import argparse
import json
import math
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone


PROGRESS = None    # --progress-fd: a copy of every progress line, in bench/lib.sh's log format
PROGRESS_T0 = 0.0  # --progress-t0: the epoch second the bench started (its log counts from it)


def log(msg):
    sys.stderr.write("[probe %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()
    if PROGRESS is not None:
        try:
            os.write(PROGRESS, ("[bench %4ds] proactive: %s\n" % (int(time.time() - PROGRESS_T0), msg)).encode())
        except OSError:
            pass


def die(msg, code=1):
    log("ERROR: " + msg)
    sys.exit(code)


# ----------------------------------------------------------------------------------------------
# HTTP/1.1: pipelined keep-alive client
# ----------------------------------------------------------------------------------------------
def build_request(method, path, body, headers=()):
    b = body.encode() if isinstance(body, str) else body
    head = ["%s %s HTTP/1.1" % (method, path), "Host: bench", "Content-Type: application/json",
            "Content-Length: %d" % len(b)]
    head.extend(headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + b


class Conn:
    __slots__ = ("sock", "todo", "pos", "inflight", "out", "inbuf", "dead")

    def __init__(self, port, todo):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.todo = todo          # request indices this connection sends, in order
        self.pos = 0              # next of them to send
        self.inflight = []        # indices sent, not answered yet (FIFO)
        self.out = b""
        self.inbuf = b""
        self.dead = False


def parse_responses(c, on_resp):
    """Take the complete responses out of c.inbuf; on_resp(status, body) for each."""
    buf = c.inbuf
    pos = 0
    n = len(buf)
    while True:
        he = buf.find(b"\r\n\r\n", pos)
        if he < 0:
            break
        head = buf[pos:he]
        status = int(head[9:12])
        hl = head.lower()
        i = hl.find(b"\r\ncontent-length:")
        if i >= 0:
            j = hl.find(b"\r\n", i + 2)
            clen = int(hl[i + 17:j if j >= 0 else len(hl)].strip())
            if he + 4 + clen > n:
                break
            body = buf[he + 4:he + 4 + clen]
            pos = he + 4 + clen
        elif b"\r\ntransfer-encoding: chunked" in hl:
            p = he + 4
            parts = []
            complete = False
            while True:
                le = buf.find(b"\r\n", p)
                if le < 0:
                    break
                size = int(buf[p:le].split(b";")[0], 16)
                if size == 0:
                    te = buf.find(b"\r\n\r\n", le)
                    if te < 0 and buf[le:le + 4] != b"\r\n\r\n":
                        break
                    pos = (le + 4) if buf[le:le + 4] == b"\r\n\r\n" else te + 4
                    complete = True
                    break
                if le + 2 + size + 2 > n:
                    break
                parts.append(buf[le + 2:le + 2 + size])
                p = le + 2 + size + 2
            if not complete:
                break
            body = b"".join(parts)
        else:
            body = b""
            pos = he + 4
        on_resp(status, body)
    c.inbuf = buf[pos:]


def pipeline(port, reqs, conns, window, label):
    """Send the raw requests reqs over `conns` keep-alive connections, `window` in flight on each.
    Returns (status[], body[], sent_ns[], done_ns[]); status 0 = no answer (connection lost)."""
    n = len(reqs)
    conns = max(1, min(conns, n))
    status = [0] * n
    bodies = [b""] * n
    sent = [0] * n
    done = [0] * n
    sel = selectors.DefaultSelector()
    cs = []
    for k in range(conns):
        c = Conn(port, list(range(k, n, conns)))
        cs.append(c)
        sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    left = n
    t0 = time.monotonic()

    def fill(c):
        now = time.time_ns()
        while len(c.inflight) < window and c.pos < len(c.todo):
            i = c.todo[c.pos]
            c.pos += 1
            c.inflight.append(i)
            sent[i] = now
            c.out += reqs[i]

    for c in cs:
        fill(c)
    while left > 0:
        if time.monotonic() - t0 > 120:
            log("%s: no answer to %d requests within 120 s" % (label, left))
            break
        events = sel.select(timeout=1.0)
        for key, mask in events:
            c = key.data
            if c.dead:
                continue
            if mask & selectors.EVENT_READ:
                try:
                    data = c.sock.recv(1 << 18)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    c.dead = True
                    left -= len(c.inflight) + (len(c.todo) - c.pos)
                    log("%s: a connection was closed with %d requests unanswered" % (label, len(c.inflight) + len(c.todo) - c.pos))
                    sel.unregister(c.sock)
                    c.sock.close()
                    continue
                if data:
                    c.inbuf += data
                    now = time.time_ns()

                    def on_resp(st, body, c=c, now=now):
                        nonlocal left
                        i = c.inflight.pop(0)
                        status[i] = st
                        bodies[i] = body
                        done[i] = now
                        left -= 1

                    parse_responses(c, on_resp)
                    fill(c)
            if c.out:
                try:
                    w = c.sock.send(c.out)
                    c.out = c.out[w:]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    pass
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0)
            if key.events != want:
                sel.modify(c.sock, want, c)
    for c in cs:
        if not c.dead:
            c.sock.close()
    sel.close()
    return status, bodies, sent, done


def http_one(port, method, path, body, headers=(), timeout=10):
    """One request on its own connection -> (status, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(build_request(method, path, body, list(headers) + ["Connection: close"]))
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    he = data.find(b"\r\n\r\n")
    if he < 0:
        return 0, data
    st = int(data[9:12])
    head = data[:he].lower()
    body = data[he + 4:]
    if b"transfer-encoding: chunked" in head:
        out, p = b"", 0
        while True:
            le = body.find(b"\r\n", p)
            if le < 0:
                break
            size = int(body[p:le].split(b";")[0], 16)
            if size == 0:
                break
            out += body[le + 2:le + 2 + size]
            p = le + 2 + size + 2
        body = out
    return st, body


# ----------------------------------------------------------------------------------------------
# Redis (RESP2), minimal
# ----------------------------------------------------------------------------------------------
def resp_cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class RespReader:
    """Incremental RESP2 parser over a growing buffer."""

    def __init__(self):
        self.buf = b""
        self.pos = 0

    def feed(self, data):
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += data

    class Incomplete(Exception):
        pass

    def _line(self, p):
        e = self.buf.find(b"\r\n", p)
        if e < 0:
            raise RespReader.Incomplete()
        return self.buf[p:e], e + 2

    def _value(self, p):
        line, p = self._line(p)
        t = line[:1]
        if t == b"+":
            return line[1:], p
        if t == b"-":
            return RuntimeError(line[1:].decode(errors="replace")), p
        if t == b":":
            return int(line[1:]), p
        if t == b"$":
            ln = int(line[1:])
            if ln < 0:
                return None, p
            if p + ln + 2 > len(self.buf):
                raise RespReader.Incomplete()
            return self.buf[p:p + ln], p + ln + 2
        if t == b"*":
            ln = int(line[1:])
            if ln < 0:
                return None, p
            arr = []
            for _ in range(ln):
                v, p = self._value(p)
                arr.append(v)
            return arr, p
        raise RuntimeError("bad RESP type %r" % t)

    def next(self):
        """One complete value, or raise Incomplete."""
        v, p = self._value(self.pos)
        self.pos = p
        return v


class Redis:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.reader = RespReader()

    def _read(self, count):
        out = []
        while len(out) < count:
            try:
                out.append(self.reader.next())
                continue
            except RespReader.Incomplete:
                pass
            d = self.sock.recv(1 << 20)
            if not d:
                raise RuntimeError("redis closed the connection")
            self.reader.feed(d)
        return out

    def cmd(self, *args):
        self.sock.sendall(resp_cmd(*args))
        v = self._read(1)[0]
        if isinstance(v, RuntimeError):
            raise v
        return v

    def many(self, cmds, chunk=1000):
        """Pipelined commands -> replies in order."""
        out = []
        for k in range(0, len(cmds), chunk):
            part = cmds[k:k + chunk]
            self.sock.sendall(b"".join(resp_cmd(*c) for c in part))
            out.extend(self._read(len(part)))
        return out

    def close(self):
        self.sock.close()


def parse_hostport(s):
    h, _, p = s.rpartition(":")
    return (h or "127.0.0.1"), int(p)


# ----------------------------------------------------------------------------------------------
# watch: the pub/sub watcher (child process)
# ----------------------------------------------------------------------------------------------
CID_RE = re.compile(rb'"conversationId":"([^"]+)"')


def cmd_watch(a):
    host, port = parse_hostport(a.redis)
    sock = socket.create_connection((host, port))
    sock.sendall(resp_cmd("PSUBSCRIBE", a.pattern))
    reader = RespReader()
    seen = []  # (arrival ns, cid)
    cids = set()  # conversations seen with a proactive message (reported: duplicates do not count)
    ready = False
    stop = False
    last_report = 0.0
    reported = -1
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    while not stop:
        for key, _ in sel.select(timeout=0.1):
            if key.fileobj is sys.stdin:
                line = sys.stdin.readline()
                if not line or line.strip() == "stop":
                    stop = True
                continue
            d = sock.recv(1 << 20)
            if not d:
                stop = True
                break
            now = time.time_ns()
            reader.feed(d)
            while True:
                try:
                    v = reader.next()
                except RespReader.Incomplete:
                    break
                if not isinstance(v, list) or not v:
                    continue
                kind = v[0]
                if kind == b"psubscribe" and not ready:
                    ready = True
                    sys.stdout.write("ready\n")
                    sys.stdout.flush()
                elif kind == b"pmessage" and len(v) == 4:
                    payload = v[3]
                    if b'"proactiveMessageId"' in payload:
                        m = CID_RE.search(payload)
                        cid = m.group(1).decode() if m else v[2].decode().rsplit(":", 1)[-1]
                        seen.append((now, cid))
                        cids.add(cid)
        t = time.monotonic()
        if len(cids) != reported and t - last_report >= 0.1:
            sys.stdout.write("n %d\n" % len(cids))
            sys.stdout.flush()
            reported = len(cids)
            last_report = t
    with open(a.out, "w") as f:
        for ns, cid in seen:
            f.write("%d %s\n" % (ns, cid))
    sys.stdout.write("done %d\n" % len(cids))
    sys.stdout.flush()
    return 0


# ----------------------------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------------------------
def rfc_ms(s):
    """'2026-11-21T10:00:00.123Z' -> ms since the epoch."""
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.fromisoformat(s).timestamp() * 1000.0


def pct(sorted_vals, q):
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(q * len(sorted_vals)) - 1))
    return sorted_vals[k]


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    return ("%." + str(nd) + "f") % v


def proc_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        rest = s[s.rindex(")") + 2:].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, ValueError, IndexError):
        return None


def cmd_run(a):
    n, D = a.n, a.delay
    rhost, rport = parse_hostport(a.redis)
    pids = {}
    for kv in a.pid or []:
        name, _, p = kv.partition("=")
        if p.isdigit():
            pids[name] = int(p)
    tp = "sb:{t:%s}:" % a.tenant
    key_hdr = "X-API-Key: " + a.key

    # 1. the proactive messages: one per group (agent), group g's delay D + (G-1-g) s
    G = len(a.widget)
    if G < 1 or len(a.agent) != G:
        die("give as many --agent as --widget (one group each)", 2)
    delays = [D + (G - 1 - g) for g in range(G)]
    pmids = []
    for g in range(G if not a.schedule else 0):  # --schedule: created after the first messages
        body = json.dumps({"agentId": a.agent[g],
                           "trigger": {"type": "event", "event": "message_received", "delaySeconds": delays[g]},
                           "payload": {"text": "proactive"}}, separators=(",", ":"))
        st, rb = (201, b'{"id":null}') if a.no_pm else http_one(a.port, "POST", "/api/proactive-messages", body, [key_hdr])
        if st == 404:
            die("POST /api/proactive-messages answered 404: the feature is not in this build", 4)
        if st != 201:
            die("POST /api/proactive-messages answered %d: %s" % (st, rb[:300].decode(errors="replace")))
        pmids.append(json.loads(rb).get("id"))
        log("group %d: proactive message %s, message_received + %d s, agent %s" % (g, pmids[-1], delays[g], a.agent[g]))
    # conversation i belongs to group i * G // n (contiguous slices)
    group_of = [i * G // n for i in range(n)]

    # 2. sessions
    reqs = [build_request("POST", "/api/widget/%s/session/start" % a.widget[group_of[i]], "{}",
                          ["X-Forwarded-For: 10.%d.%d.%d" % (((i + 1) >> 16) & 255, ((i + 1) >> 8) & 255, (i + 1) & 255)])
            for i in range(n)]
    t0 = time.monotonic()
    sst, sbody, _, _ = pipeline(a.port, reqs, a.conns, a.window, "session/start")
    session_s = time.monotonic() - t0
    tokens = []
    bad = {}
    for st, b in zip(sst, sbody):
        if st == 201:
            tokens.append(json.loads(b)["token"])
        else:
            tokens.append(None)
            bad[st] = bad.get(st, 0) + 1
    ok = n - sum(bad.values())
    log("%d/%d sessions in %.2f s (%.0f/s)%s" % (ok, n, session_s, n / session_s if session_s else 0,
                                                 ", refused: %s" % bad if bad else ""))
    if ok < n:
        die("%d session starts did not answer 201 (%s): is --trusted-proxies 127.0.0.1/32 set?" % (n - ok, bad))

    # 3. the watcher
    wout = (a.detail or os.path.join(tempfile.gettempdir(), "pm-watch-%d" % os.getpid())) + ".watch"
    watcher = subprocess.Popen([sys.executable, os.path.abspath(__file__), "watch", "--redis", a.redis,
                                "--pattern", tp + "live:*", "--out", wout],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    line = watcher.stdout.readline()
    if line.strip() != "ready":
        die("the pub/sub watcher did not start (%r)" % line)
    os.set_blocking(watcher.stdout.fileno(), False)
    wbuf = ""
    wcount = 0

    def watcher_poll():
        nonlocal wbuf, wcount
        try:
            d = watcher.stdout.read()
        except (BlockingIOError, TypeError):
            d = None
        if d:
            wbuf += d
            *lines, wbuf = wbuf.split("\n")
            for ln in lines:
                if ln.startswith("n ") or ln.startswith("done "):
                    wcount = int(ln.split()[1])
        return wcount

    # 4. the first messages: group g starts g seconds after group 0 (its delay is g seconds
    # shorter), so every group's due times fall into the same second.
    convs = {}  # cid -> (customer createdAt ms, delay ms, proactive message id, group)
    bad = {}
    lat = []
    send_s = 0.0
    late = 0.0
    tg0 = time.monotonic()
    for g in range(G):
        idx = [i for i in range(n) if group_of[i] == g]
        wait = tg0 + g - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif g:
            late = max(late, -wait)
            log("WARNING: group %d starts %.0f ms late: group %d took more than 1 s to send" % (g, -wait * 1000, g - 1))
        reqs = [build_request("POST", "/api/widget/%s/messages" % a.widget[g], '{"text":"hello %d"}' % i,
                              ["Authorization: Bearer " + tokens[i]]) for i in idx]
        t0 = time.monotonic()
        mst, mbody, msent, mdone = pipeline(a.port, reqs, a.conns, a.window, "messages")
        gs = time.monotonic() - t0
        send_s += gs
        okg = 0
        for st, b in zip(mst, mbody):
            if st == 201:
                m = json.loads(b)
                convs[m["conversationId"]] = (rfc_ms(m["createdAt"]), delays[g] * 1000, pmids[g] if pmids else None, g)
                okg += 1
            else:
                bad[st] = bad.get(st, 0) + 1
        lat.extend((d - s) / 1e6 for st, s, d in zip(mst, msent, mdone) if st == 201)
        log("group %d: %d/%d first messages in %.2f s (%.0f/s)" % (g, okg, len(idx), gs, len(idx) / gs if gs else 0))
    lat.sort()
    if not convs:
        die("no first message answered 201 (%s)" % bad)
    if a.schedule:  # one schedule trigger per group, all at the same whole second
        at = (time.time_ns() // 1000000 // 1000 + a.schedule) * 1000
        at_s = datetime.fromtimestamp(at / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for g in range(G):
            body = json.dumps({"agentId": a.agent[g], "trigger": {"type": "schedule", "at": at_s},
                               "payload": {"text": "proactive"}}, separators=(",", ":"))
            st, rb = http_one(a.port, "POST", "/api/proactive-messages", body, [key_hdr])
            if st == 404:
                die("POST /api/proactive-messages answered 404: the feature is not in this build", 4)
            if st != 201:
                die("POST /api/proactive-messages answered %d: %s" % (st, rb[:300].decode(errors="replace")))
            pmids.append(json.loads(rb).get("id"))
            log("group %d: proactive message %s, schedule at %s, agent %s" % (g, pmids[-1], at_s, a.agent[g]))
        convs = {cid: (c0, at - c0, pmids[g], g) for cid, (c0, _, _, g) in convs.items()}
    created = [v[0] for v in convs.values()]
    dues = sorted(v[0] + v[1] for v in convs.values())
    spread = max(created) - min(created)
    first_due, last_due = dues[0], dues[-1]
    due_spread = last_due - first_due
    rd = Redis(rhost, rport)
    scheduled = rd.cmd("ZCARD", "sb:pm:due")
    log("%d/%d first messages, %.0f/s while sending; events' createdAt spread %d ms, due times spread %d ms; %s firings scheduled%s"
        % (len(convs), n, len(convs) / send_s if send_s else 0, spread, due_spread, scheduled,
           ", refused: %s" % bad if bad else ""))
    if a.no_pm:  # --no-pm: the send figures only
        print("proactive n=%d sessions=%d session_s=%.2f messages=%d send_s=%.2f post_p50_ms=%s post_p99_ms=%s spread_ms=%d due_spread_ms=%d"
              % (n, ok, session_s, len(convs), send_s, fmt(pct(lat, 0.5)), fmt(pct(lat, 0.99)), spread, due_spread))
        watcher.stdin.write("stop\n")
        watcher.stdin.flush()
        watcher.wait(timeout=10)
        return 0
    if first_due <= max(created):
        log("WARNING: the first due time came %d ms before the last message: firings began before the sending ended"
            % (max(created) - first_due))

    # 5. wait for the firings
    def now_ms():
        return time.time_ns() // 1000000

    while now_ms() < first_due - 50:
        time.sleep(min(0.2, max(0.0, (first_due - 50 - now_ms()) / 1000)))
        watcher_poll()
    ticks0 = {k: proc_ticks(p) for k, p in pids.items()}
    tw0 = time.monotonic()
    deadline = last_due + a.timeout * 1000
    last_change = time.monotonic()
    prev = -1
    due_left = None
    last_zcard = 0.0
    fallback_t = 0.0
    fallback_n = 0
    reason = "timeout"
    while True:
        c = watcher_poll()
        t = time.monotonic()
        if c != prev:
            prev = c
            last_change = t
        if c >= len(convs):
            reason = "all seen"
            break
        if t - last_zcard >= 0.5:
            last_zcard = t
            due_left = rd.cmd("ZCARD", "sb:pm:due")
        past = now_ms() > last_due + 500
        if past and due_left == 0 and c > 0 and t - last_change >= 2.0:
            reason = "due set empty, nothing new for 2 s"
            break
        # Nothing on the live channels: count in the conversations themselves (every 2 s).
        if past and c == 0 and now_ms() > last_due + 3000 and t - fallback_t >= 2.0:
            fallback_t = t
            k = count_fired(rd, tp, convs)
            if k != fallback_n:
                fallback_n = k
                last_change = t
            if k >= len(convs):
                reason = "all fired (read from Redis; nothing seen on the live channels)"
                break
            if due_left == 0 and t - last_change >= 3.0:
                reason = "due set empty, nothing new for 3 s"
                break
        if now_ms() > deadline:
            break
        time.sleep(0.05)
    wait_s = time.monotonic() - tw0
    ticks1 = {k: proc_ticks(p) for k, p in pids.items()}
    log("waited %.1f s after the first due time: %s (watcher saw %d)" % (wait_s, reason, prev))
    time.sleep(a.grace)

    watcher.stdin.write("stop\n")
    watcher.stdin.flush()
    try:
        watcher.wait(timeout=10)
    except subprocess.TimeoutExpired:
        watcher.kill()
    observed = {}
    try:
        with open(wout) as f:
            for ln in f:
                ns, cid = ln.split()
                observed.setdefault(cid, []).append(int(ns) / 1e6)
        os.unlink(wout)
    except OSError:
        pass

    # 6. read every conversation
    cids = list(convs)
    replies = rd.many([("ZRANGE", tp + "conv:" + cid + ":msgs", 0, -1) for cid in cids])
    due_left = rd.cmd("ZCARD", "sb:pm:due")
    rd.close()
    lags, obs, fired_at = [], [], []
    fired = missing = dup = extra = early = foreign = 0
    detail = []
    for cid, msgs in zip(cids, replies):
        cust = None
        c0, dms, pmid, g = convs[cid]
        pms = []
        for raw in msgs or []:
            try:
                m = json.loads(raw)
            except ValueError:
                continue
            if m.get("proactiveMessageId"):
                if m["proactiveMessageId"] == pmid:
                    pms.append(rfc_ms(m["createdAt"]))
                else:
                    foreign += 1  # another group's message: its agent's trigger reached this one
            elif cust is None and m.get("direction") == "in":
                cust = rfc_ms(m["createdAt"])
        if cust is None:
            cust = c0
        due = cust + dms
        if not pms:
            missing += 1
        else:
            fired += 1
            if len(pms) > 1:
                dup += 1
                extra += len(pms) - 1
            first = min(pms)
            lags.append(first - due)
            fired_at.extend(pms)
            if first < due:
                early += 1
        ob = sorted(observed.get(cid, []))
        if ob:
            obs.append(ob[0] - due)
        if a.detail:
            detail.append("%s %d %d %d %s %s" % (cid, g, cust, due, ",".join(str(x) for x in pms) or "-",
                                              ",".join("%.1f" % x for x in ob) or "-"))
    if a.detail:
        with open(a.detail, "w") as f:
            f.write("\n".join(detail) + "\n")
    lags.sort()
    obs.sort()

    counts = []
    for pmid in pmids:
        st, rb = http_one(a.port, "GET", "/api/proactive-messages/%s" % pmid, "", [key_hdr])
        try:
            counts.append(int(json.loads(rb).get("fireCount")) if st == 200 else None)
        except (ValueError, TypeError):
            counts.append(None)
    fire_count = str(sum(counts)) if None not in counts else "-"

    cpu = {}
    w = wait_s if wait_s > 0 else 1
    hz = os.sysconf("SC_CLK_TCK")
    for k in pids:
        if ticks0.get(k) is not None and ticks1.get(k) is not None:
            cpu[k] = 100.0 * (ticks1[k] - ticks0[k]) / hz / w

    first_f = (min(fired_at) - first_due) if fired_at else None
    last_f = (max(fired_at) - first_due) if fired_at else None
    fire_rate = (len(fired_at) / ((max(fired_at) - first_due) / 1000.0)) if fired_at and max(fired_at) > first_due else None
    # The densest second: most due times inside any 1,000 ms window.
    dense, lo = 0, 0
    for hi in range(len(dues)):
        while dues[hi] - dues[lo] >= 1000:
            lo += 1
        dense = max(dense, hi - lo + 1)
    complete = int(len(convs) == n and fired == n and dup == 0 and missing == 0 and foreign == 0)
    out = {
        "n": n, "sessions": len(tokens), "session_s": "%.2f" % session_s,
        "messages": len(convs), "send_s": "%.2f" % send_s, "send_per_s": "%.0f" % (len(convs) / send_s if send_s else 0),
        "post_p50_ms": fmt(pct(lat, 0.50)), "post_p99_ms": fmt(pct(lat, 0.99)),
        "groups": G, "group_late_ms": "%.0f" % (late * 1000),
        "spread_ms": "%.0f" % spread, "due_spread_ms": "%.0f" % due_spread, "due_1s_max": dense, "scheduled": scheduled,
        "fired": fired, "missing": missing + (n - len(convs)), "dup": dup, "extra": extra, "early": early, "foreign": foreign,
        "lag_p50_ms": fmt(pct(lags, 0.50), 0), "lag_p99_ms": fmt(pct(lags, 0.99), 0),
        "lag_max_ms": fmt(lags[-1] if lags else None, 0), "lag_min_ms": fmt(lags[0] if lags else None, 0),
        "obs_n": len(obs), "obs_p50_ms": fmt(pct(obs, 0.50), 0), "obs_p99_ms": fmt(pct(obs, 0.99), 0),
        "obs_max_ms": fmt(obs[-1] if obs else None, 0),
        "first_fired_ms": fmt(first_f, 0), "last_fired_ms": fmt(last_f, 0), "fire_per_s": fmt(fire_rate, 0),
        "fire_count": fire_count, "due_left": due_left, "wait_s": "%.1f" % wait_s,
    }
    for k, v in cpu.items():
        out["cpu_" + k] = "%.0f" % v
    out["complete"] = complete
    print("proactive " + " ".join("%s=%s" % (k, v) for k, v in out.items()))
    sys.stdout.flush()
    return 0 if complete else 3


def count_fired(rd, tp, convs):
    cids = list(convs)
    replies = rd.many([("ZRANGE", tp + "conv:" + cid + ":msgs", 0, -1) for cid in cids])
    k = 0
    for cid, msgs in zip(cids, replies):
        needle = ('"proactiveMessageId":"%s"' % convs[cid][2]).encode()
        if msgs and any(needle in m for m in msgs):
            k += 1
    return k


def main():
    p = argparse.ArgumentParser(description="proactive scheduler bench client (bench/scenarios/60-proactive.sh)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--redis", required=True, help="HOST:PORT of the server's Redis")
    r.add_argument("--tenant", required=True)
    r.add_argument("--widget", action="append", required=True, help="one per group (repeat)")
    r.add_argument("--agent", action="append", required=True, help="one per group, the widget's agent")
    r.add_argument("--key", required=True, help="the tenant's API key")
    r.add_argument("-n", type=int, default=10000)
    r.add_argument("--delay", type=int, default=5, help="delaySeconds of the last group's trigger")
    r.add_argument("--schedule", type=int, default=0,
                   help="instead of event triggers: schedule triggers at this many whole seconds after the first messages")
    r.add_argument("--conns", type=int, default=64)
    r.add_argument("--window", type=int, default=4, help="requests in flight per connection")
    r.add_argument("--timeout", type=float, default=60, help="seconds after the last due time")
    r.add_argument("--grace", type=float, default=2, help="seconds to wait for late duplicates")
    r.add_argument("--pid", action="append", help="NAME=PID: CPU over the firing window")
    r.add_argument("--detail")
    r.add_argument("--progress-fd", type=int, help="also write the progress lines to this fd (bench/lib.sh format)")
    r.add_argument("--progress-t0", type=float, default=0, help="the bench's start, epoch seconds")
    r.add_argument("--no-pm", action="store_true", help="no proactive message: sessions and messages only (a test of the client)")
    w = sub.add_parser("watch")
    w.add_argument("--redis", required=True)
    w.add_argument("--pattern", required=True)
    w.add_argument("--out", required=True)
    a = p.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if a.cmd == "watch":
        return cmd_watch(a)
    global PROGRESS, PROGRESS_T0
    if a.progress_fd is not None:
        PROGRESS, PROGRESS_T0 = a.progress_fd, a.progress_t0 or time.time()
    return cmd_run(a)


if __name__ == "__main__":
    sys.exit(main())
