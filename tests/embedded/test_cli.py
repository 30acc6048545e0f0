"""`python -m kurrent.embedded`: help, argument errors, signals, durability across restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kurrentdbclient import KurrentDBClient, StreamState

from kurrent.embedded import EmbeddedNode, NodeProcess

from .helpers import events

ROOT = Path(__file__).resolve().parents[2]
FLAGS = [
    "--host",
    "--port",
    "--db",
    "--insecure",
    "--cert",
    "--key",
    "--user",
    "--data-dir",
    "--max-event-bytes",
]


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "kurrent.embedded", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_help_documents_every_flag():
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in FLAGS:
        assert flag in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "http"],
        ["--port", "70000"],
        ["--user", "nopassword"],
        ["--max-event-bytes", "0"],
        ["--cert", "c.pem"],
        ["--bogus"],
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_port_in_use_gives_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--insecure", "--port", str(port))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_node_process_reports_a_node_that_cannot_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        node = NodeProcess(port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="cannot listen"):
            node.start()


def test_sigterm_stops_cleanly_and_the_data_survives_a_restart(tmp_path):
    db = str(tmp_path / "node.sqlite3")
    node = NodeProcess(db=db).start()
    assert (
        node.output[-1]
        == f"KurrentDB-compatible node listening on 127.0.0.1:{node.port} (insecure)"
    )
    client = KurrentDBClient(node.url)
    position = client.append_to_stream(
        "kept", events=events(3), current_version=StreamState.NO_STREAM
    )
    client.close()
    assert node.stop() == 0
    wal = Path(db + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # the database was closed cleanly

    node = NodeProcess(db=db).start()
    client = KurrentDBClient(node.url)
    assert [e.stream_position for e in client.get_stream("kept")] == [0, 1, 2]
    assert client.get_commit_position() == position
    assert client.append_to_stream("kept", events=events(1), current_version=2) > position
    client.close()
    node.popen.send_signal(signal.SIGINT)
    assert node.popen.wait(15) == 0


def test_tls_mode_generates_a_certificate_and_prints_its_path(tmp_path):
    with NodeProcess(db=str(tmp_path / "db.sqlite3"), insecure=False, users={"ops": "pw"}) as node:
        assert node.output[-1].endswith("(tls)")
        assert node.cert_path == str(tmp_path / "node-cert.pem")
        assert node.url == f"kurrentdb://ops:pw@localhost:{node.port}"
        client = KurrentDBClient(node.url, root_certificates=node.root_certificates)
        client.append_to_stream("secure", events=events(1), current_version=StreamState.NO_STREAM)
        assert client.get_current_version("secure") == 0
        client.close()


@pytest.mark.parametrize(
    ("host", "insecure", "users", "expected"),
    [
        ("0.0.0.0", True, None, "kurrentdb://127.0.0.1:2113?Tls=false"),  # noqa: S104
        ("::", False, None, "kurrentdb://admin:changeit@localhost:2113"),
        ("127.0.0.1", False, {"ops": "pw"}, "kurrentdb://ops:pw@localhost:2113"),
        ("node.example", False, None, "kurrentdb://admin:changeit@node.example:2113"),
        ("::1", True, None, "kurrentdb://[::1]:2113?Tls=false"),
        ("fd00::5", False, None, "kurrentdb://admin:changeit@[fd00::5]:2113"),
    ],
)
def test_node_process_gives_the_same_url_as_the_node_it_runs(host, insecure, users, expected):
    """Built before start (nothing listens): a wildcard becomes loopback, TLS names localhost."""
    settings = {"host": host, "port": 2113, "insecure": insecure, "users": users}
    assert NodeProcess(**settings).url == expected
    assert EmbeddedNode(**settings).url == expected


def test_a_node_on_ipv6_loopback_gives_a_url_the_client_can_use():
    with EmbeddedNode(db=":memory:", host="::1", port=0, insecure=True) as node:
        assert node.url == f"kurrentdb://[::1]:{node.port}?Tls=false"
        client = KurrentDBClient(node.url)
        client.append_to_stream("v6", events=events(1), current_version=StreamState.NO_STREAM)
        assert client.get_current_version("v6") == 0
        client.close()
