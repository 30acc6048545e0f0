"""`python3 dev.py run`, the README's first command: stopping it stops everything it started.

Ctrl-C reaches every process of the terminal's group; `kill` and a closed terminal reach
dev.py alone, which must then stop the node, the projector and the web server itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.live import PYTHON, ROOT, free_port, wait_for_port

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stopping_dev_run_stops_the_node_the_projector_and_the_web_server(
    tmp_path: Path, signum: int
) -> None:
    web, node = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_", "KURRENTDB_", "DATABASE_", "DEBUG"))
    }
    env.update(
        DATA_DIR=str(tmp_path),
        KURRENTDB_EMBEDDED_PORT=str(node),
        DEV_RUN_ADDRESS=f"127.0.0.1:{web}",
    )
    log = tmp_path / "dev-run.log"
    run = subprocess.Popen(
        [PYTHON, "dev.py", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # our own group: the cleanup below can end every process
    )
    try:
        wait_for_port(web, 120, run)
        children = _children(run.pid)
        assert len(children) == 3, children  # node, projector, web server
        assert _listening(node)

        run.send_signal(signum)
        run.wait(30)
        deadline = time.monotonic() + 15
        while any(_running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in children if _running(pid)] == []
        assert not _listening(web) and not _listening(node)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(10)
    assert run.returncode == 0, log.read_text()[-3000:]
