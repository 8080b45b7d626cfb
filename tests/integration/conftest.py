"""Fixtures of the switchboard black-box integration suite.

Run:  /usr/bin/python3 -m pytest tests/integration -q
Binary: $SWITCHBOARD_BIN, default <repo>/build/switchboard (tests that need it are marked
`server` and are skipped when the default binary does not exist; when SWITCHBOARD_BIN is set
and missing, they fail instead). Marker `slow` tags the timing tests (a few seconds each):
`-m "not slow"` leaves them out. SB_TEST_TIMEOUT (seconds, default 120) bounds each test.
"""

import os
import signal
import shutil

import pytest

import sbhelpers
from sbhelpers import ADMIN_TOKEN, RedisServer, ServerProcess, free_port


def pytest_configure(config):
    config.addinivalue_line("markers", "server: needs the switchboard binary (and redis-server)")
    config.addinivalue_line("markers", "slow: timing test that takes a few seconds")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "server" in getattr(item, "fixturenames", ()) or \
                "switchboard_bin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class _TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _per_test_timeout():
    """No test may hang the suite: SIGALRM after SB_TEST_TIMEOUT seconds (setup+call+teardown)."""
    seconds = int(os.environ.get("SB_TEST_TIMEOUT", "120"))

    def on_alarm(signum, frame):
        raise _TestTimeout("test took longer than %d s" % seconds)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def switchboard_bin():
    explicit = os.environ.get("SWITCHBOARD_BIN")
    path = explicit or sbhelpers.DEFAULT_BIN
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if explicit:
            pytest.fail("SWITCHBOARD_BIN=%s is not an executable file" % explicit)
        pytest.skip("switchboard binary not built (%s); set SWITCHBOARD_BIN" % path)
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def redis_bin():
    path = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not path:
        pytest.skip("redis-server not installed")
    return path


@pytest.fixture
def redis(tmp_path, redis_bin):
    """A private redis-server: .port, .url, .cmd(*args), .stop(), .start() (same port),
    .pause()/.resume() (SIGSTOP/SIGCONT), .dump_all()."""
    r = RedisServer(str(tmp_path / "redis"), binary=redis_bin)
    r.start()
    yield r
    r.stop()


@pytest.fixture
def server(request, tmp_path, switchboard_bin, redis):
    """Factory: server(*extra_args, redis=True, admin_token=ADMIN_TOKEN, env=None,
    wait_ready=True, expect_exit=0, threads=2, name=None) -> ServerProcess.

    redis=True uses the `redis` fixture (torn down after the servers), a RedisServer uses that
    one, None/False passes no --redis (embedded Redis). On teardown every started server gets
    SIGTERM and the test fails when it does not exit in 10 s, exits with another code than
    expect_exit, or left a sanitizer report in its output."""
    started = []
    default_redis = redis  # requested by this fixture so that it outlives every server

    def start(*extra, redis=True, admin_token=ADMIN_TOKEN, env=None, wait_ready=True,
              expect_exit=0, threads=2, name=None, ready_timeout=10.0):
        port = free_port()
        args = ["--listen", "127.0.0.1:%d" % port]
        if redis is True:
            redis = default_redis
        if redis:
            args += ["--redis", redis.url]
        if admin_token is not None:
            args += ["--admin-token", admin_token]
        if threads is not None:
            args += ["--threads", str(threads)]
        args += [str(a) for a in extra]
        workdir = str(tmp_path / (name or "server%d" % (len(started) + 1)))
        proc = ServerProcess(switchboard_bin, args, workdir, env=env, port=port,
                             expect_exit=expect_exit)
        started.append(proc)
        proc.start()
        if wait_ready:
            proc.wait_ready(ready_timeout)
        return proc

    yield start

    failed = any(getattr(request.node, "rep_" + w, None) is not None
                 and getattr(request.node, "rep_" + w).failed for w in ("setup", "call"))
    problems = []
    for proc in started:
        p = proc.stop()
        if p:
            problems.append("%s: %s" % (" ".join(proc.args), "\n".join(p)))
        elif failed:
            print("---- switchboard stderr (%s) ----\n%s" % (proc.workdir,
                                                          sbhelpers.tail(proc.stderr_path)))
            print("---- switchboard stdout ----\n%s" % sbhelpers.tail(proc.stdout_path, 2000))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def app(server):
    """A running switchboard with defaults (+ --threads 2, private Redis, admin token)."""
    return server()


@pytest.fixture
def admin_token():
    return ADMIN_TOKEN
