"""`manage.py kurrent_node` runs the embedded node in the foreground and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"listening at (kurrentdb://\S+)")


def start(db: Path, *extra: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KURRENT", "PYTEST_"))}
    env.update({"DEBUG": "true", "KURRENTDB_EMBEDDED_DB": str(db), "PYTHONUNBUFFERED": "1"})
    process = subprocess.Popen(
        [sys.executable, "manage.py", "kurrent_node", "--port", "0", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            match = READY.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(60) or not found:
        process.kill()
        pytest.fail("kurrent_node did not start:\n" + "\n".join(lines))
    return process, found[0], lines


def append_and_read(url: str, stream: str) -> int:
    client = KurrentDBClient(url)
    try:
        client.append_to_stream(
            stream,
            events=[NewEvent(type="Tested", data=b"{}")],
            current_version=StreamState.ANY,
            timeout=5,
        )
        return len(client.get_stream(stream, timeout=5))
    finally:
        client.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_node_serves_creates_its_data_folder_and_stops_on_signal(
    tmp_path: Path, signum: int
) -> None:
    db = tmp_path / "new" / "folder" / "node.sqlite3"
    process, url, lines = start(db)
    try:
        assert url.endswith("?Tls=false")
        stream = f"cmd-{uuid.uuid4()}"
        assert append_and_read(url, stream) == 1
        process.send_signal(signum)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert db.is_file()
    assert any("stopped" in line for line in lines)

    # Same data folder: the event is still there.
    process, url, _ = start(db)
    try:
        assert append_and_read(url, stream) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_port_in_use_is_one_clear_error(kurrent_node: object, tmp_path: Path) -> None:
    port = kurrent_node.port  # type: ignore[attr-defined]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KURRENT", "PYTEST_"))}
    env.update({"DEBUG": "true", "KURRENTDB_EMBEDDED_DB": str(tmp_path / "x.sqlite3")})
    result = subprocess.run(
        [sys.executable, "manage.py", "kurrent_node", "--port", str(port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "the embedded node did not start" in result.stderr
    assert "Traceback" not in result.stderr
