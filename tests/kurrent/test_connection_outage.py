"""A node that stops, hangs or comes back: down within the timeout, fail fast, recover alone.

Each test runs its own node (not the session's) and its own ConnectionManager with a
short backoff, pointed at the `test` environment.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState

from kurrent.connection import metrics
from kurrent.connection.clients import direct
from kurrent.connection.health import CONNECTED, DOWN, Health
from kurrent.connection.manager import ConnectionManager
from kurrent.core.errors import KurrentUnavailable
from kurrent.embedded import EmbeddedNode, NodeProcess
from tests.conftest import point_env_at

TIMEOUT_S = 1.0
# The contract is "never longer than the timeout"; the slack covers thread scheduling
# on a loaded machine, not the client's retries.
SLACK_S = 1.0


@pytest.fixture
def manager(settings: Any) -> Iterator[ConnectionManager]:
    settings.KURRENTDB_TIMEOUT_MS = int(TIMEOUT_S * 1000)
    settings.KURRENTDB_SYNC_INTERVAL_MS = 100
    settings.KURRENTDB_MAX_RETRIES = 1
    manager = ConnectionManager(backoff_base_s=0.05, backoff_cap_s=0.3)
    yield manager
    manager.reset()


_APPEND = direct(KurrentDBClient.append_to_stream)


def append(manager: ConnectionManager, stream: str, inline: bool = False) -> int:
    """Append through a worker thread, or `inline` on the caller's (as the services do)."""
    event = NewEvent(type="Tested", data=b"{}")
    return manager.call(
        "test",
        "test-append",
        lambda c, t: _APPEND(c, stream, events=[event], current_version=StreamState.ANY, timeout=t),
        inline=inline,
    )


def wait_for(manager: ConnectionManager, state: str, within_s: float = 30.0) -> Health:
    """Poll health() until it reports `state` (health re-probes every 100 ms here)."""
    deadline = time.monotonic() + within_s
    health = manager.health("test")
    while health.state != state and time.monotonic() < deadline:
        time.sleep(0.05)
        health = manager.health("test")
    return health


def timed(fn: Callable[[], Any]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        fn()
    except BaseException as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


@pytest.mark.parametrize("inline", [False, True], ids=["worker-thread", "inline"])
def test_stopped_node_goes_down_fails_fast_and_recovers_on_the_same_port(
    manager: ConnectionManager, settings: Any, inline: bool
) -> None:
    node = EmbeddedNode(db=":memory:", port=0, insecure=True).start()
    port = node.port
    point_env_at(settings, "test", node.url)
    stream = f"outage-{uuid.uuid4()}"
    append(manager, stream, inline)
    assert manager.health("test").state == CONNECTED
    rejected = metrics.sample(
        "kurrent_call_errors_total", env="test", operation="test-append", error="rejected"
    )
    unavailable = metrics.sample(
        "kurrent_call_errors_total", env="test", operation="test-append", error="unavailable"
    )

    node.stop()
    try:
        error, elapsed = timed(lambda: append(manager, stream, inline))
        assert isinstance(error, KurrentUnavailable)
        assert str(error) == (
            f"KurrentDB test (127.0.0.1:{port}) is unavailable: "
            "the node is not answering (connection refused or dropped)."
        )
        assert elapsed < TIMEOUT_S + SLACK_S

        # While it backs off, callers are turned away without touching the network.
        error, _ = timed(lambda: append(manager, stream, inline))
        assert isinstance(error, KurrentUnavailable)
        assert "next try in" in str(error) or "reconnection is under way" in str(error)

        health = wait_for(manager, DOWN)
        assert health.state == DOWN
        assert not health.is_up
        assert health.last_error == "the node is not answering (connection refused or dropped)"
        assert health.last_success_at is not None
        assert health.reconnect_attempts >= 1
        assert metrics.sample("kurrent_up", env="test") == 0
        assert (
            metrics.sample(
                "kurrent_call_errors_total",
                env="test",
                operation="test-append",
                error="unavailable",
            )
            == unavailable + 1
        )
        assert (
            metrics.sample(
                "kurrent_call_errors_total", env="test", operation="test-append", error="rejected"
            )
            >= rejected + 1
        )
    finally:
        node = EmbeddedNode(db=":memory:", port=port, insecure=True).start()
    try:
        health = wait_for(manager, CONNECTED)
        assert health.state == CONNECTED
        assert health.reconnect_attempts == 0
        assert health.last_error is not None  # kept, to show what happened
        assert append(manager, f"outage-{uuid.uuid4()}", inline) >= 0
        assert metrics.sample("kurrent_up", env="test") == 1
    finally:
        node.stop()


@pytest.mark.parametrize("inline", [False, True], ids=["worker-thread", "inline"])
def test_a_hung_node_times_out_within_the_timeout_then_recovers(
    manager: ConnectionManager, settings: Any, inline: bool
) -> None:
    process = NodeProcess(db=":memory:", port=0, insecure=True).start()
    try:
        assert process.pid is not None
        point_env_at(settings, "test", process.url)
        append(manager, f"hung-{uuid.uuid4()}", inline)
        os.kill(process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            error, elapsed = timed(lambda: append(manager, f"hung-{uuid.uuid4()}", inline))
            assert isinstance(error, KurrentUnavailable)
            assert f"no answer within {TIMEOUT_S:g} s" in str(error)
            assert elapsed < TIMEOUT_S + SLACK_S

            error, elapsed = timed(lambda: manager.client("test").read_gossip(timeout=TIMEOUT_S))
            assert isinstance(error, KurrentUnavailable)

            health = wait_for(manager, DOWN)
            assert health.state == DOWN
            assert health.last_error is not None and "no answer within" in health.last_error
        finally:
            os.kill(process.pid, signal.SIGCONT)
        health = wait_for(manager, CONNECTED)
        assert health.state == CONNECTED
        assert append(manager, f"hung-{uuid.uuid4()}", inline) >= 0
    finally:
        process.kill()


def test_a_crashed_node_process_restarted_on_the_same_port_is_picked_up(
    manager: ConnectionManager, settings: Any, tmp_path: Any
) -> None:
    db = str(tmp_path / "node.sqlite3")
    process = NodeProcess(db=db, port=0, insecure=True).start()
    port = process.port
    point_env_at(settings, "test", process.url)
    stream = f"crash-{uuid.uuid4()}"
    append(manager, stream)
    process.kill()
    assert wait_for(manager, DOWN).state == DOWN
    process = NodeProcess(db=db, port=port, insecure=True).start()
    try:
        assert wait_for(manager, CONNECTED).state == CONNECTED
        events = manager.call("test", "test-read", lambda c, t: c.get_stream(stream, timeout=t))
        assert len(events) == 1  # the same data, read through a fresh client
    finally:
        process.stop()


_COMMIT_POSITION = direct(KurrentDBClient.get_commit_position)


@pytest.mark.parametrize("inline", [False, True], ids=["worker-thread", "inline"])
def test_a_read_whose_client_another_thread_closed_is_unavailable_not_a_client_error(
    manager: ConnectionManager, settings: Any, inline: bool
) -> None:
    """A thread whose call fails closes the shared client, which cancels the calls other
    threads still have on it; kurrentdbclient reports a cancelled read as
    CancelledByClientError. Seen in a fault test as a 500 from /kurrent/health (its
    projector-lag reading) after the node was killed."""
    process = NodeProcess(db=":memory:", port=0, insecure=True).start()
    try:
        assert process.pid is not None
        point_env_at(settings, "test", process.url)
        append(manager, f"closed-{uuid.uuid4()}", inline)
        client = manager.client("test")
        os.kill(process.pid, signal.SIGSTOP)  # the next call hangs until its client closes
        try:
            closer = threading.Timer(0.2, client.close)
            closer.start()
            error, elapsed = timed(
                lambda: manager.call(
                    "test", "test-read", lambda c, t: _COMMIT_POSITION(c, timeout=t), inline=inline
                )
            )
            closer.join()
            assert isinstance(error, KurrentUnavailable), repr(error)
            assert elapsed < TIMEOUT_S + SLACK_S
        finally:
            os.kill(process.pid, signal.SIGCONT)
        assert wait_for(manager, CONNECTED).state == CONNECTED
    finally:
        process.kill()
