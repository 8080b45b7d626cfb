"""Embedded Redis: without --redis the server runs a private redis-server in --data-dir, keeps
data across restarts (AOF), and takes the child down with it."""

import os
import socket
import stat

import pytest

from sbhelpers import children_of, processes_mentioning, wait_until

pytestmark = pytest.mark.slow


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for k in children_of(todo.pop()):
            out.append(k)
            todo.append(k)
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:].split()[0] != "Z"


def sockets_in(d):
    out = []
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            try:
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    out.append(p)
            except OSError:
                pass
    return out


def connectable(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_embedded_redis(server, tmp_path):
    data = str(tmp_path / "data")
    srv = server("--data-dir", data, redis=None, name="embedded1", ready_timeout=10)
    assert srv.get("/readyz").json() == {"status": "ready", "redis": "up"}
    t = srv.create_tenant("embedded-co")
    assert srv.tenant_api(t["apiKey"]).status_code == 200

    entries = os.listdir(data)
    assert any("appendonly" in e for e in entries), "no AOF in the data dir: %r" % entries
    socks = sockets_in(data)
    assert socks, "no Redis socket in the data dir: %r" % entries
    assert any(connectable(s) for s in socks)

    kids = [p for p in descendants(srv.pid) if "redis" in comm(p)]
    assert kids, "no redis-server child process"

    problems = srv.stop()
    assert not problems, problems
    assert wait_until(lambda: not any(alive(p) for p in kids), 5), \
        "redis-server child still running after the server exited"
    assert wait_until(lambda: not any(connectable(s) for s in socks), 5), \
        "Redis socket still accepts connections after the server exited"
    leftovers = [p for p in processes_mentioning(data) if alive(p)]
    assert not leftovers, "processes still using the data dir: %r" % leftovers

    # data survives a restart on the same data dir
    srv2 = server("--data-dir", data, redis=None, name="embedded2", ready_timeout=10)
    r = srv2.admin("GET", "/api/admin/tenants/" + t["id"])
    assert r.status_code == 200, "tenant lost across a restart (AOF): %s" % r.text
    assert srv2.tenant_api(t["apiKey"]).status_code == 200
