"""`python3 dev.py run --environments dev,staging,test` (issue 16, point 4): a node per
environment in its own data folder, all projected; `kurrent_seed --env` seeds one of
them; a node that dies is said to have died and is started again, and the run goes on."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.live import PYTHON, ROOT, free_port, wait_for_port
from tests.test_dev_run import _children

pytestmark = pytest.mark.slow


def free_ports(count: int) -> int:
    """A first port such that it and the `count - 1` after it are free."""
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                socks.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no run of free ports")


def health(web: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/kurrent/health", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as error:  # 503: the body is the same JSON
        return json.loads(error.read())


def wait_until(check: Any, timeout: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def states(web: int) -> dict[str, str]:
    return {env: body["state"] for env, body in health(web)["environments"].items()}


def node_pid(run_pid: int, port: int) -> int | None:
    for pid in _children(run_pid):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"kurrent_node" in argv and str(port).encode() in argv:
                return pid
    return None


def test_three_environments_run_each_on_its_node_and_a_dead_node_comes_back(tmp_path):
    web, base = free_port(), free_ports(4)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_", "KURRENTDB_", "DATABASE_", "DEBUG", "DEV_RUN"))
    }
    env.update(
        DATA_DIR=str(tmp_path),
        KURRENTDB_EMBEDDED_PORT=str(base),
        KURRENTDB_SYNC_INTERVAL="500",
        DEV_RUN_ADDRESS=f"127.0.0.1:{web}",
        DEV_RUN_RESTART_DELAY="2",
    )
    log = tmp_path / "dev-run.log"
    run = subprocess.Popen(
        [PYTHON, "dev.py", "run", "--environments", "staging,test"],  # dev is always one
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(web, 120, run)
        up = {"dev": "connected", "staging": "connected", "test": "connected"}
        wait_until(lambda: states(web) == {**up, "mainnet": "not configured"}, 30, "all up", log)
        assert (tmp_path / "nodes" / "staging" / "events.sqlite3").is_file()
        assert (tmp_path / "nodes" / "test" / "events.sqlite3").is_file()
        assert "projector (live: dev, staging, test)" in log.read_text()

        # kurrent_seed puts demo data into staging only, as the cards' sizes show.
        seed_env = {
            **env,
            "DEBUG": "true",
            "KURRENTDB_STAGING_URL": f"kurrentdb://127.0.0.1:{base + 1}?Tls=false",
        }
        subprocess.run(
            [PYTHON, "manage.py", "kurrent_seed", "4", "--env", "staging", "--no-progress"],
            cwd=ROOT,
            env=seed_env,
            check=True,
            capture_output=True,
            timeout=120,
        )

        def sizes() -> dict[str, int] | None:
            envs = health(web)["environments"]
            found = {e: (envs[e]["size"] or {}).get("records", -1) for e in up}
            return found if found["staging"] > 0 else None

        found = wait_until(sizes, 15, "staging's records on its card", log)
        assert found["dev"] == 0 and found["test"] == 0

        # The staging node dies: only staging goes down, the run says so and restarts it.
        pid = node_pid(run.pid, base + 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: states(web)["staging"] == "down", 15, "staging down", log)
        assert states(web)["dev"] == "connected" and states(web)["test"] == "connected"
        wait_until(lambda: "the staging node (port" in log.read_text(), 10, "the notice", log)
        wait_until(lambda: states(web)["staging"] == "connected", 30, "staging back", log)
        assert run.poll() is None  # the run went on
        assert node_pid(run.pid, base + 1) not in (None, pid)
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, log.read_text()[-3000:]


def test_an_unknown_environment_is_refused_before_anything_starts(tmp_path):
    result = subprocess.run(
        [PYTHON, "dev.py", "run", "--environments", "dev,prod"],
        cwd=ROOT,
        env={**os.environ, "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no environment named prod" in result.stderr
