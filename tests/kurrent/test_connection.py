"""The managed connections against the session's embedded node (a real gRPC server)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import NotFoundError, WrongCurrentVersionError

from kurrent.connection import metrics
from kurrent.connection.clients import direct
from kurrent.connection.health import CONNECTED, DEGRADED, DISABLED, NOT_CONFIGURED, Health, judge
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentBusy, NotConfigured

pytestmark = pytest.mark.usefixtures("kurrent_dev")


def new_stream() -> str:
    return f"conntest-{uuid.uuid4()}"


def append(stream: str, expected: int | StreamState = StreamState.ANY) -> int:
    event = NewEvent(type="Tested", data=b"{}")
    return connections.call(
        "dev",
        "test-append",
        lambda client, timeout: client.append_to_stream(
            stream, events=[event], current_version=expected, timeout=timeout
        ),
    )


def test_health_when_connected(kurrent_node: Any) -> None:
    health = connections.health("dev")
    assert isinstance(health, Health)
    assert health.state == CONNECTED
    assert health.is_up
    assert health.latency_ms is not None and health.latency_ms > 0
    assert health.node_state == "leader"
    assert health.node_address == f"127.0.0.1:{kurrent_node.port}"
    assert health.commit_position is not None and health.commit_position >= 0
    assert health.last_success_at is not None
    assert health.last_error is None
    assert health.reconnect_attempts == 0
    assert health.is_production is False
    assert health.redacted_url == kurrent_node.url
    assert metrics.sample("kurrent_up", env="dev") == 1


def test_health_sees_new_commits_after_the_interval(settings: Any) -> None:
    before = connections.health("dev").commit_position
    position = append(new_stream())
    connections.reset()  # forget the cached health
    after = connections.health("dev").commit_position
    assert before is not None and after is not None
    assert after >= position > before


def test_call_passes_the_timeout_and_returns_the_result(settings: Any) -> None:
    settings.KURRENTDB_TIMEOUT_MS = 1500
    connections.reset()
    seen: list[float] = []

    def fn(client: KurrentDBClient, timeout: float) -> str:
        seen.append(timeout)
        assert isinstance(client, KurrentDBClient)
        return "result"

    assert connections.call(None, "test-noop", fn) == "result"
    assert len(seen) == 1
    assert 0 < seen[0] <= 1.5


def test_calls_append_and_read_through_the_shared_client() -> None:
    stream = new_stream()
    append(stream, StreamState.NO_STREAM)
    append(stream, 0)
    events = connections.call("dev", "test-read", lambda c, t: c.get_stream(stream, timeout=t))
    assert [e.stream_position for e in events] == [0, 1]
    assert connections.client("dev") is connections.client()


def test_domain_errors_pass_through_unchanged_and_keep_the_env_up() -> None:
    stream = new_stream()
    append(stream, StreamState.NO_STREAM)
    with pytest.raises(WrongCurrentVersionError):
        append(stream, StreamState.NO_STREAM)
    with pytest.raises(NotFoundError):
        connections.call("dev", "test-read", lambda c, t: c.get_stream(new_stream(), timeout=t))
    assert connections.health("dev").state == CONNECTED
    assert connections.call("dev", "test-read", lambda c, t: c.get_stream(stream, timeout=t))


def test_metrics_count_calls_errors_and_latency() -> None:
    def value(name: str, **labels: str) -> float:
        return metrics.sample(name, env="dev", operation="test-metrics", **labels)

    calls, errors = (
        value("kurrent_calls_total"),
        value("kurrent_call_errors_total", error="WrongCurrentVersionError"),
    )
    observed = value("kurrent_call_seconds_count")
    stream = new_stream()
    op = "test-metrics"
    for expected in (StreamState.NO_STREAM, 0, 0):  # the third one conflicts
        event = NewEvent(type="Tested", data=b"{}")
        with contextlib.suppress(WrongCurrentVersionError):
            connections.call(
                "dev",
                op,
                lambda c, t, v=expected, e=event: c.append_to_stream(
                    stream, events=[e], current_version=v, timeout=t
                ),
            )
    assert value("kurrent_calls_total") == calls + 3
    assert value("kurrent_call_errors_total", error="WrongCurrentVersionError") == errors + 1
    assert value("kurrent_call_seconds_count") == observed + 3
    stats = {s.operation: s for s in metrics.operation_stats("dev")}
    assert stats[op].calls >= 3
    assert stats[op].errors >= 1
    assert stats[op].mean_ms is not None and stats[op].mean_ms > 0
    assert stats[op].p95_ms is not None


def test_health_is_cached_one_probe_for_many_concurrent_callers(settings: Any) -> None:
    settings.KURRENTDB_SYNC_INTERVAL_MS = 60_000
    connections.reset()
    probes = metrics.sample("kurrent_calls_total", env="dev", operation="probe")
    results: list[Health] = []
    start = threading.Barrier(50)

    def ask() -> None:
        start.wait()
        results.append(connections.health("dev"))

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 50
    assert {h.state for h in results} == {CONNECTED}
    assert metrics.sample("kurrent_calls_total", env="dev", operation="probe") == probes + 1
    assert connections.health("dev") is results[0]


def test_concurrent_calls_share_one_client() -> None:
    stream = new_stream()
    errors: list[BaseException] = []
    clients: set[int] = set()

    def work() -> None:
        try:
            for _ in range(10):
                clients.add(id(connections.client("dev")))
                append(stream)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(clients) == 1
    events = connections.call("dev", "test-read", lambda c, t: c.get_stream(stream, timeout=t))
    assert len(events) == 80


def test_an_inline_call_runs_on_the_caller_once_a_client_is_connected() -> None:
    connections.reset()
    threads: list[threading.Thread] = []

    def where(client: Any, timeout: float) -> int:
        threads.append(threading.current_thread())
        return len(client.read_gossip(timeout=timeout))

    assert connections.call("dev", "test-gossip", where, inline=True) >= 1  # connects first
    assert connections.call("dev", "test-gossip", where, inline=True) >= 1
    assert connections.call("dev", "test-gossip", where) >= 1
    caller = threading.current_thread()
    assert [t is caller for t in threads] == [False, True, False]


def test_direct_methods_skip_the_clients_own_retries() -> None:
    append_direct = direct(KurrentDBClient.append_to_stream)
    assert not hasattr(append_direct, "__wrapped__")
    assert hasattr(KurrentDBClient.append_to_stream, "__wrapped__")
    stream = new_stream()
    event = NewEvent(type="Tested", data=b"{}")
    position = connections.call(
        "dev",
        "test-append",
        lambda c, t: append_direct(
            c, stream, events=event, current_version=StreamState.NO_STREAM, timeout=t
        ),
        inline=True,
    )
    events = connections.call("dev", "test-read", lambda c, t: c.get_stream(stream, timeout=t))
    assert [e.commit_position for e in events] == [position]


@pytest.mark.parametrize("env", ["staging", "test", "mainnet"])
def test_an_unconfigured_environment(env: str) -> None:
    health = connections.health(env)
    assert health.state == NOT_CONFIGURED
    assert not health.is_up
    assert health.redacted_url == ""
    with pytest.raises(NotConfigured, match=f"KURRENTDB_{env.upper()}_URL"):
        connections.call(env, "test-noop", lambda c, t: None)
    with pytest.raises(NotConfigured):
        connections.client(env)
    assert (
        metrics.sample(
            "kurrent_call_errors_total", env=env, operation="test-noop", error="not_configured"
        )
        >= 1
    )


def test_an_unknown_environment_is_not_configured() -> None:
    with pytest.raises(NotConfigured, match="no KurrentDB environment named 'prod'"):
        connections.call("prod", "test-noop", lambda c, t: None)


def test_disabled_switches_every_environment_off(settings: Any) -> None:
    settings.KURRENTDB_ENABLED = False
    connections.reset()
    report = connections.health_all()
    assert list(report) == ["dev", "staging", "test", "mainnet"]
    assert {h.state for h in report.values()} == {DISABLED}
    with pytest.raises(NotConfigured, match="KURRENTDB_ENABLED"):
        connections.call("dev", "test-noop", lambda c, t: None)


def test_health_all_lists_every_environment_in_order() -> None:
    report = connections.health_all()
    assert list(report) == ["dev", "staging", "test", "mainnet"]
    assert report["dev"].state == CONNECTED
    assert report["mainnet"].is_production
    assert report["staging"].state == NOT_CONFIGURED


def test_stream_slots_are_limited_and_freed(settings: Any) -> None:
    settings.KURRENTDB_MAX_CONCURRENT_STREAMS = 2
    connections.reset()
    busy = metrics.sample("kurrent_call_errors_total", env="dev", operation="stream", error="busy")
    with connections.stream_slot("dev"), connections.stream_slot("dev"):
        assert metrics.sample("kurrent_streams_open", env="dev") >= 2
        with (
            pytest.raises(KurrentBusy, match="KURRENTDB_MAX_CONCURRENT_STREAMS"),
            connections.stream_slot("dev"),
        ):
            pass
    with connections.stream_slot("dev"):
        stream = new_stream()
        append(stream)
        client = connections.client("dev")
        events = list(client.read_stream(stream, timeout=5))
        assert len(events) == 1
    assert (
        metrics.sample("kurrent_call_errors_total", env="dev", operation="stream", error="busy")
        == busy + 1
    )


def test_stream_slot_needs_a_configured_environment() -> None:
    with pytest.raises(NotConfigured), connections.stream_slot("staging"):
        pass


# --- judging a probe (pure function over gossip members) ---------------------------


def member(state: str, port: int = 2113) -> Any:
    from kurrentdbclient.gossip import ClusterMember

    return ClusterMember(state=state, address="10.0.0.1", port=port)


def test_judge_connected_leader() -> None:
    state, reason, chosen = judge(3.0, (member("NODE_STATE_LEADER"),), "10.0.0.1:2113", 5)
    assert (state, reason) == (CONNECTED, None)
    assert chosen is not None and chosen.state == "NODE_STATE_LEADER"


def test_judge_slow_probe_is_degraded() -> None:
    state, reason, _ = judge(1200.0, (member("NODE_STATE_LEADER"),), "10.0.0.1:2113", 5)
    assert state == DEGRADED and reason is not None and "slow" in reason


def test_judge_a_follower_or_no_leader_is_degraded() -> None:
    members = (member("NODE_STATE_FOLLOWER", 1), member("NODE_STATE_LEADER", 2))
    state, reason, chosen = judge(2.0, members, "10.0.0.1:1", 5)
    assert state == DEGRADED and "follower" in (reason or "")
    assert chosen is not None and chosen.port == 1
    state, reason, _ = judge(2.0, (member("NODE_STATE_FOLLOWER"),), "10.0.0.1:2113", 5)
    assert state == DEGRADED and reason == "the cluster reports no leader"
