"""Helpers for the switchboard black-box integration suite.

Only the Python standard library and `requests` are used. Everything here talks to the server
and to Redis over sockets, the way a client would.
"""

import json
import os
import select
import signal
import socket
import subprocess
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_BIN = os.path.join(REPO, "build", "switchboard")

ADMIN_TOKEN = "test-admin-token-0123456789"

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


# --------------------------------------------------------------------------------------------
# ports and processes


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, limit=4000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def children_of(pid):
    """Direct children of pid (from /proc), so that leftovers can be ended one by one."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parens
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) > 1 and rest[1] == str(pid):
            out.append(int(name))
    return out


def processes_mentioning(text):
    """PIDs of processes whose command line or working directory mentions `text`."""
    out = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % name)
        except OSError:
            cwd = ""
        if text in cmd or cwd.startswith(text):
            # zombies have an empty cmdline; those are gone for our purpose
            out.append(int(name))
    return out


def as_text(v):
    """A Redis reply value as str (redis_cmd gives bytes for bulk strings); None stays None."""
    return v.decode() if isinstance(v, bytes) else v


def wait_until(predicate, timeout, interval=0.1):
    """Poll predicate until it returns a truthy value or timeout passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Redis: a raw RESP client and a redis-server we start ourselves


class RedisError(Exception):
    pass


def _resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _RespReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RedisError("unexpected RESP reply %r" % line)


def redis_cmd(port, *args, timeout=5.0, host="127.0.0.1", unix_path=None):
    """Send one command to Redis over a fresh connection and return the decoded reply."""
    if unix_path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = unix_path
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr = (host, port)
    sock.settimeout(timeout)
    try:
        sock.connect(addr)
        sock.sendall(_resp_encode(args))
        return _RespReader(sock).read()
    finally:
        sock.close()


class RedisServer:
    """A redis-server on a fixed 127.0.0.1 port, stoppable and restartable on the same port."""

    def __init__(self, workdir, port=None, binary="redis-server"):
        self.workdir = workdir
        self.port = port or free_port()
        self.binary = binary
        self.proc = None
        self.starts = 0
        os.makedirs(workdir, exist_ok=True)

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        assert self.proc is None or self.proc.poll() is not None, "redis already running"
        self.starts += 1
        log = open(os.path.join(self.workdir, "redis-%d.log" % self.starts), "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1",
             "--port", str(self.port), "--dir", self.workdir, "--daemonize", "no"],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited early: %s" % tail(log.name))
            try:
                if redis_cmd(self.port, "PING", timeout=0.5) == "PONG":
                    return self
            except (OSError, RedisError):
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING on port %d" % self.port)

    def stop(self, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def pause(self):
        """Freeze redis (SIGSTOP): connections stay open but nothing is answered."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def cmd(self, *args, timeout=5.0):
        return redis_cmd(self.port, *args, timeout=timeout)

    def dump_all(self):
        """Every key with its value(s) as bytes, for 'is this secret stored anywhere' checks."""
        out = {}
        for key in self.cmd("KEYS", "*") or []:
            kind = self.cmd("TYPE", key)
            if kind == "string":
                vals = [self.cmd("GET", key)]
            elif kind == "hash":
                vals = self.cmd("HGETALL", key)
            elif kind == "set":
                vals = self.cmd("SMEMBERS", key)
            elif kind == "zset":
                vals = self.cmd("ZRANGE", key, "0", "-1", "WITHSCORES")
            elif kind == "list":
                vals = self.cmd("LRANGE", key, "0", "-1")
            elif kind == "stream":
                vals = []
                for entry in self.cmd("XRANGE", key, "-", "+") or []:
                    vals.append(entry[0])
                    vals.extend(entry[1])
            else:
                vals = []
            out[key] = [v for v in _flatten(vals) if v is not None]
        return out


def _flatten(v):
    if isinstance(v, list):
        for x in v:
            yield from _flatten(x)
    elif isinstance(v, str):
        yield v.encode()
    elif isinstance(v, int):
        yield str(v).encode()
    else:
        yield v


# --------------------------------------------------------------------------------------------
# HTTP through requests


def http(method, url, timeout=10, **kw):
    """One request on a fresh connection (closed afterwards); proxies from the env ignored."""
    with requests.Session() as s:
        s.trust_env = False
        return s.request(method, url, timeout=timeout, allow_redirects=False, **kw)


def admin_headers(token=ADMIN_TOKEN, **extra):
    h = {"Authorization": "Bearer %s" % token}
    h.update(extra)
    return h


def assert_problem(resp, status, field=None, no_field=False):
    """Assert an RFC 9457 problem response; returns the parsed body."""
    assert resp.status_code == status, "expected %d, got %d: %r" % (
        status, resp.status_code, resp.text[:500])
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/problem+json", \
        "problem responses must be application/problem+json, got %r" % ctype
    body = resp.json()
    assert isinstance(body, dict), body
    for k in ("type", "title", "status", "detail"):
        assert k in body, "problem body lacks %r: %r" % (k, body)
    assert body["status"] == status, body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str), body
    assert resp.headers.get("X-Request-Id"), "error responses carry X-Request-Id too"
    if field is not None:
        assert body.get("field") == field, "expected field %r, got %r (%r)" % (
            field, body.get("field"), body)
    if no_field:
        assert "field" not in body, "a syntax error names no field: %r" % body
    return body


def assert_page(body):
    for k in ("items", "pageNumber", "totalPages", "totalCount", "hasPreviousPage",
              "hasNextPage"):
        assert k in body, "pagination envelope lacks %r: %r" % (k, body)
    assert isinstance(body["items"], list)
    return body


# --------------------------------------------------------------------------------------------
# raw sockets


class RawResponse:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), in order
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<RawResponse %s %d %r body=%r>" % (self.version, self.status, self.headers,
                                                    self.body[:200])


class PeerClosed(Exception):
    """The peer closed (or reset) the connection before a complete response arrived."""

    def __init__(self, msg, partial=b""):
        super().__init__(msg)
        self.partial = partial


class RawConn:
    """A plain TCP connection with a small HTTP/1.x response parser."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, connect=True):
        self.host, self.port = host, port
        self.buf = b""
        self.eof = False
        self.sock = None
        if connect:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _recv(self, deadline):
        """Read more bytes into buf; False on EOF/reset; raises TimeoutError at deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from server before the deadline")
        r, _, _ = select.select([self.sock], [], [], remaining)
        if not r:
            raise TimeoutError("no data from server before the deadline")
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_response(self, timeout=5.0, head=False):
        """Parse one response. Raises PeerClosed on EOF and TimeoutError on timeout."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._recv(deadline):
                raise PeerClosed("connection closed before a response header", self.buf)
        head_bytes, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError("bad status line %r" % lines[0])
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        resp = RawResponse(version, status, reason, headers, b"")
        self.buf = rest
        if head or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if "chunked" in te:
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    if not self._recv(deadline):
                        raise PeerClosed("closed inside a chunk size", self.buf)
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until an empty line
                    while True:
                        while b"\r\n" not in self.buf:
                            if not self._recv(deadline):
                                raise PeerClosed("closed inside trailers", self.buf)
                        line, self.buf = self.buf.split(b"\r\n", 1)
                        if line == b"":
                            break
                    break
                while len(self.buf) < size + 2:
                    if not self._recv(deadline):
                        raise PeerClosed("closed inside a chunk", self.buf)
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
            resp.body = body
        elif cl is not None:
            n = int(cl)
            while len(self.buf) < n:
                if not self._recv(deadline):
                    raise PeerClosed("closed before the whole body (%d/%d)" % (
                        len(self.buf), n), self.buf)
            resp.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            # body delimited by the end of the connection
            while self._recv(deadline):
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def read_responses(self, n, timeout=5.0, head=False):
        deadline = time.monotonic() + timeout
        out = []
        for _ in range(n):
            out.append(self.read_response(max(0.01, deadline - time.monotonic()), head=head))
        return out

    def wait_closed(self, timeout):
        """True when the peer closes (EOF or reset) within timeout; data read meanwhile is kept
        in self.buf."""
        deadline = time.monotonic() + timeout
        try:
            while self._recv(deadline):
                pass
        except TimeoutError:
            return False
        return True

    def is_open(self, wait=0.0):
        """True when no EOF/reset shows up within `wait` seconds (data is buffered, not lost)."""
        return not self.wait_closed(wait) if wait > 0 else not self._closed_now()

    def _closed_now(self):
        if self.eof:
            return True
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r:
            return False
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = True
            return True
        except BlockingIOError:
            return False
        if not chunk:
            self.eof = True
            return True
        self.buf += chunk
        return self._closed_now()


def raw_exchange(port, data, n=1, timeout=5.0, head=False):
    """Send `data` on a fresh connection, read n responses; returns (responses, conn)."""
    conn = RawConn(port, timeout=timeout)
    conn.send(data)
    return conn.read_responses(n, timeout=timeout, head=head), conn


def req(method, path, headers=(), body=b"", version="HTTP/1.1", host="localhost"):
    """Build the bytes of one request. headers: iterable of (name, value)."""
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s %s" % (method, path, version)]
    names = {k.lower() for k, _ in headers}
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body, size):
    if isinstance(body, str):
        body = body.encode()
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out + b"0\r\n\r\n"


# --------------------------------------------------------------------------------------------
# Prometheus text


def parse_metrics(text):
    """[(name, {label: value}, float)] for every sample line; asserts the lines are well formed."""
    import re
    sample = re.compile(
        r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
    label = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = sample.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        labels = {}
        if m.group(3):
            pos = 0
            s = m.group(3)
            while pos < len(s):
                lm = label.match(s, pos)
                assert lm, "bad labels in %r" % line
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        v = m.group(4)
        value = float("inf") if v == "+Inf" else float("-inf") if v == "-Inf" else float(v)
        out.append((m.group(1), labels, value))
    return out


# --------------------------------------------------------------------------------------------
# the switchboard process


class ServerProcess:
    """One switchboard process with its output captured to files in `workdir`."""

    def __init__(self, binary, args, workdir, env=None, port=None, expect_exit=0):
        self.binary = binary
        self.args = list(args)
        self.workdir = workdir
        self.port = port
        self.expect_exit = expect_exit
        # the switchboard settings of whoever runs the suite must not leak into the tests
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("SWITCHBOARD_") or k == "SWITCHBOARD_BIN"}
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if env:
            self.env.update(env)
        self.stdout_path = os.path.join(workdir, "stdout.log")
        self.stderr_path = os.path.join(workdir, "stderr.log")
        self.proc = None
        self.exit_code = None
        self.sigterm_at = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen([self.binary] + self.args, cwd=self.workdir,
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=self.env, start_new_session=True)
        finally:
            out.close()
            err.close()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError("switchboard exited during start (code %s)\nargs: %s\n"
                                     "stderr:\n%s\nstdout:\n%s" % (
                                         self.proc.returncode, self.args,
                                         tail(self.stderr_path), tail(self.stdout_path)))
            try:
                r = http("GET", self.url + "/readyz", timeout=1)
                if r.status_code == 200:
                    return self
                last = "readyz %d %r" % (r.status_code, r.text[:200])
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        raise AssertionError("switchboard not ready within %.0f s (last: %s)\nstderr:\n%s" % (
            timeout, last, tail(self.stderr_path)))

    # requests --------------------------------------------------------------------------
    def request(self, method, path, **kw):
        return http(method, self.url + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def admin(self, method, path, json=None, data=None, headers=None, token=ADMIN_TOKEN, **kw):
        h = admin_headers(token) if token is not None else {}
        if headers:
            h.update(headers)
        return self.request(method, path, json=json, data=data, headers=h, **kw)

    def tenant_api(self, key, path="/api/tenant", method="GET", **kw):
        h = {"X-API-Key": key} if key is not None else {}
        return self.request(method, path, headers=h, **kw)

    def create_tenant(self, name="acme"):
        r = self.admin("POST", "/api/admin/tenants", json={"name": name})
        assert r.status_code == 201, "create tenant: %d %r" % (r.status_code, r.text[:500])
        return r.json()

    def raw(self, timeout=5.0):
        return RawConn(self.port, timeout=timeout)

    # signals and exit ------------------------------------------------------------------
    def signal(self, sig=signal.SIGTERM):
        if self.running():
            if sig == signal.SIGTERM and self.sigterm_at is None:
                self.sigterm_at = time.monotonic()
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def stdout_text(self):
        return read_text(self.stdout_path)

    def stderr_text(self):
        return read_text(self.stderr_path)

    def sanitizer_reports(self):
        text = self.stderr_text() + self.stdout_text()
        return [m for m in SANITIZER_MARKERS if m in text]

    def stop(self, timeout=10.0):
        """SIGTERM, wait, and return a list of problems (empty when all is well)."""
        problems = []
        if self.proc is None:
            return problems
        if self.running():
            kids = children_of(self.proc.pid)
            self.signal(signal.SIGTERM)
            if self.wait_exit(timeout) is None:
                problems.append("switchboard did not exit within %.0f s of SIGTERM" % timeout)
                self.proc.kill()
                self.wait_exit(5)
                for k in kids:
                    try:
                        os.kill(k, signal.SIGKILL)
                    except OSError:
                        pass
        code = self.proc.returncode
        self.exit_code = code
        if self.expect_exit is not None and code != self.expect_exit and not problems:
            problems.append("switchboard exited with code %s (expected %s)" % (
                code, self.expect_exit))
        reports = self.sanitizer_reports()
        if reports:
            problems.append("sanitizer report in the server output (%s)" % ", ".join(reports))
        if problems:
            problems.append("stderr tail:\n" + tail(self.stderr_path, 8000))
        return problems
