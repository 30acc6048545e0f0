"""A thousand idle subscriptions at once, and a limit past which the node refuses at once
(issue 13, point 7). The node serves calls as coroutines, so open subscriptions hold no thread
and the node goes on answering everything else."""

from __future__ import annotations

import logging
import statistics
import threading
import time

import grpc
import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import GrpcError

from kurrent.embedded import EmbeddedNode, hub

from .helpers import events


def _append_latencies(client: KurrentDBClient, stream: str, count: int) -> list[float]:
    samples = []
    for n in range(count):
        started = time.perf_counter()
        client.append_to_stream(
            stream,
            events=NewEvent(type="Timed", data=b"{}"),
            current_version=StreamState.NO_STREAM if n == 0 else n - 1,
        )
        samples.append(time.perf_counter() - started)
    return samples


def test_a_thousand_idle_subscriptions_leave_the_node_answering(node, stream):
    clients = [KurrentDBClient(node.url) for _ in range(4)]
    subscriptions = []
    try:
        for n in range(1000):
            client = clients[n % 4]
            if n % 5 == 0:  # $all, filtered to a prefix nothing is written to
                subscriptions.append(
                    client.subscribe_to_all(
                        from_end=True,
                        filter_include=[f"{stream}-idle-"],
                        filter_by_stream_name=True,
                        timeout=120,
                    )
                )
            else:
                subscriptions.append(client.subscribe_to_stream(f"{stream}-idle-{n}", timeout=120))
        assert node.hub.open == 1000
        writer = KurrentDBClient(node.url)
        latencies = _append_latencies(writer, stream, 100)
        assert statistics.median(latencies) < 0.5  # answering, not frozen (timing: in bench)
        assert writer.get_current_version(stream) == 99
        # A live subscriber among them still gets what is written.
        live = clients[0].subscribe_to_stream(f"{stream}-idle-1", timeout=30)
        clients[1].append_to_stream(
            f"{stream}-idle-1", events=events(1), current_version=StreamState.NO_STREAM
        )
        assert next(iter(live)).stream_position == 0
        assert next(iter(subscriptions[1])).stream_position == 0
        live.stop()
        writer.close()
    finally:
        for subscription in subscriptions:
            subscription.stop()
        for client in clients:
            client.close()
    deadline = time.monotonic() + 20
    while node.hub.open and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.hub.open == 0  # cancelled subscriptions are gone from the hub


def test_past_the_limit_a_subscription_is_refused_at_once(stream):
    with EmbeddedNode(max_subscriptions=3) as small:
        client = KurrentDBClient(small.url)
        held = [client.subscribe_to_stream(f"{stream}-{n}", timeout=30) for n in range(3)]
        started = time.perf_counter()
        with pytest.raises(GrpcError) as raised:
            client.subscribe_to_all(timeout=30)
        assert time.perf_counter() - started < 2  # at once, including the client's one retry
        cause = raised.value.__cause__
        assert isinstance(cause, grpc.RpcError)
        assert cause.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "Maximum subscriptions reached" in cause.details()
        # Reads and appends still work; a freed place can be taken again.
        client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
        assert len(client.get_stream(stream)) == 1
        held.pop().stop()
        deadline = time.monotonic() + 10
        while small.hub.open >= 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        again = client.subscribe_to_stream(stream, timeout=30)
        assert next(iter(again)).stream_position == 0
        for subscription in [*held, again]:
            subscription.stop()
        client.close()


def test_a_slow_subscriber_falls_behind_and_catches_up_without_loss(
    node, stream, monkeypatch, caplog
):
    """A subscriber whose inbox overflows is dropped from the hub and catches up from the
    database: it still gets every event, in order, once."""
    monkeypatch.setattr(hub, "INBOX_LIMIT", 20)
    caplog.set_level(logging.INFO, logger="kurrent.embedded.hub")
    big = b'{"pad": "' + b"x" * 60_000 + b'"}'  # fill the transport's window, so the node waits
    client = KurrentDBClient(node.url)
    subscription = client.subscribe_to_stream(stream, timeout=60)
    got: list[int] = []
    done = threading.Event()

    def consume():
        for event in subscription:
            got.append(event.stream_position)
            if len(got) == 1:
                time.sleep(2)  # fall behind while the writer goes on
            if len(got) == 500:
                done.set()
                return

    reader = threading.Thread(target=consume)
    reader.start()
    for n in range(100):
        client.append_to_stream(
            stream,
            events=[NewEvent(type="Big", data=big) for _ in range(5)],
            current_version=StreamState.NO_STREAM if n == 0 else n * 5 - 1,
        )
    assert done.wait(60)
    reader.join(10)
    subscription.stop()
    assert got == list(range(500))
    assert any("fell behind" in r.getMessage() for r in caplog.records)
    client.close()
