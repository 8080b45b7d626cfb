"""Command line, environment twins and the --config file."""

import json
import os
import signal
import subprocess

import pytest

from sbhelpers import ADMIN_TOKEN, free_port


def run(binary, *args, env=None, cwd=None, timeout=5):
    """Run switchboard to completion; a process that does not exit in time is ended (its own
    process group: an embedded redis-server child goes too) and the test fails."""
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("SWITCHBOARD_") and k != "SWITCHBOARD_BIN":
            del e[k]
    if env:
        e.update(env)
    p = subprocess.Popen([binary] + list(args), env=e, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
        pytest.fail("`switchboard %s` did not exit within %d s" % (" ".join(args), timeout))
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


# harmless values for the flags a test does not exercise, so that a server that wrongly
# starts neither binds a public port nor spawns an embedded Redis
def safe(args):
    extra = []
    if "--listen" not in args:
        extra += ["--listen", "127.0.0.1:%d" % free_port()]
    if "--redis" not in args:
        extra += ["--redis", "redis://127.0.0.1:%d" % free_port()]
    return extra + list(args)


def text(p):
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def test_help(switchboard_bin, tmp_path):
    p = run(switchboard_bin, "--help", cwd=tmp_path)
    assert p.returncode == 0, text(p)
    out = p.stdout.decode()
    for flag in ("--listen", "--redis", "--max-body", "--threads", "--admin-token",
                 "--header-timeout-ms", "--redis-timeout-ms"):
        assert flag in out, "--help (stdout) does not list %s" % flag


def test_version(switchboard_bin, tmp_path):
    p = run(switchboard_bin, "--version", cwd=tmp_path)
    assert p.returncode == 0, text(p)
    assert p.stdout.strip(), "--version printed nothing on stdout"


@pytest.mark.parametrize("args,named", [
    (["--bogus"], "--bogus"),
    (["--threads", "abc"], "--threads"),
    (["--threads", "0"], "--threads"),
    (["--threads", "257"], "--threads"),
    (["--max-body", "lots"], "--max-body"),
    (["--listen", "nowhere"], "--listen"),
    (["--header-timeout-ms", "-5"], "--header-timeout-ms"),
    (["--log-level", "chatty"], "--log-level"),
], ids=lambda v: "_".join(v) if isinstance(v, list) else None)
def test_bad_flags_stop_with_code_2(switchboard_bin, tmp_path, args, named):
    p = run(switchboard_bin, *safe(args), cwd=tmp_path)
    assert p.returncode == 2, "exit %s for %r: %s" % (p.returncode, args, text(p))
    assert named in p.stderr.decode("utf-8", "replace"), \
        "the message on stderr must name %s: %r" % (named, text(p))


def test_missing_flag_value_stops(switchboard_bin, tmp_path):
    p = run(switchboard_bin, *safe([]), "--threads", cwd=tmp_path)
    assert p.returncode == 2, text(p)
    assert "--threads" in text(p)


def test_bad_env_value_stops_naming_it(switchboard_bin, tmp_path):
    p = run(switchboard_bin, *safe([]), env={"SWITCHBOARD_THREADS": "abc"}, cwd=tmp_path)
    assert p.returncode == 2, text(p)
    assert "SWITCHBOARD_THREADS" in text(p) or "threads" in text(p)


def test_unknown_config_file_key_stops(switchboard_bin, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"threads": 2, "max-bodee": 5}))
    p = run(switchboard_bin, *safe(["--config", str(cfg)]), cwd=tmp_path)
    assert p.returncode == 2, text(p)
    assert "max-bodee" in text(p)


def test_unreadable_config_file_stops(switchboard_bin, tmp_path):
    p = run(switchboard_bin, *safe(["--config", str(tmp_path / "missing.json")]), cwd=tmp_path)
    assert p.returncode != 0
    assert "missing.json" in text(p) or "--config" in text(p)


def _post(srv, n):
    return srv.admin("POST", "/api/admin/tenants", data=json.dumps({"name": "x" * n}))


def test_env_twin_max_body(server):
    srv = server(env={"SWITCHBOARD_MAX_BODY": "1024"})
    assert _post(srv, 2000).status_code == 413
    assert _post(srv, 100).status_code == 201


def test_config_file_max_body(server, tmp_path):
    cfg = tmp_path / "sb.json"
    cfg.write_text(json.dumps({"max-body": 1024}))
    srv = server("--config", str(cfg))
    assert _post(srv, 2000).status_code == 413
    assert _post(srv, 100).status_code == 201


def test_precedence_flag_over_env_over_file(server, tmp_path):
    cfg = tmp_path / "sb.json"
    cfg.write_text(json.dumps({"max-body": 100000}))
    srv = server("--config", str(cfg), env={"SWITCHBOARD_MAX_BODY": "1024"}, name="env-wins")
    assert _post(srv, 2000).status_code == 413, "environment must beat the config file"
    srv2 = server("--config", str(cfg), "--max-body", "100000",
                  env={"SWITCHBOARD_MAX_BODY": "1024"}, name="flag-wins")
    assert _post(srv2, 2000).status_code != 413, "the command line must beat the environment"


def test_env_twin_admin_token(server):
    srv = server(admin_token=None, env={"SWITCHBOARD_ADMIN_TOKEN": ADMIN_TOKEN})
    assert srv.admin("GET", "/api/admin/tenants").status_code == 200
