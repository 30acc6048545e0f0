"""Positions as KurrentDB's (issue 13, point 5), a fresh log's system records (point 4), and
the checkpoint window of filtered `$all` subscriptions (point 3)."""

from __future__ import annotations

import grpc
import pytest
from kurrentdbclient import CaughtUp, Checkpoint, KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import GrpcError, InvalidCommitPositionError, UnknownError
from kurrentdbclient.protos.v1 import shared_pb2, streams_pb2, streams_pb2_grpc

from kurrent.embedded import EmbeddedNode

from .helpers import events

TIMEOUT = 20


def test_a_fresh_node_begins_with_system_events_that_default_filters_hide():
    with EmbeddedNode() as fresh:
        client = KurrentDBClient(fresh.url)
        everything = list(client.read_all(filter_exclude=()))
        assert len(everything) >= 5
        assert all(e.stream_name.startswith("$") and e.is_system_event for e in everything)
        assert {"$users", "$settings", "$epoch-information"} <= {e.stream_name for e in everything}
        assert list(client.read_all()) == []  # the client's default filter
        assert client.get_commit_position() == 0  # ... also for "the last event"
        assert client.get_commit_position(filter_exclude=()) == everything[-1].commit_position
        client.close()


def test_positions_grow_with_what_was_written_not_by_one(client, stream):
    first = client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    small = client.append_to_stream(stream, events=events(1), current_version=0)
    big = client.append_to_stream(stream, events=[_big()], current_version=1)
    after = client.append_to_stream(stream, events=events(1), current_version=2)
    assert small - first > 1
    assert after - big > 10_000  # the gap after a record is at least its size
    recorded = client.get_stream(stream)
    assert [e.commit_position for e in recorded] == [first, small, big, after]
    assert all(e.commit_position == e.prepare_position for e in recorded)


def _big() -> NewEvent:
    return NewEvent(type="Big", data=b'{"x": "' + b"y" * 10_000 + b'"}')


def test_reading_all_from_a_position_that_is_not_an_event_fails(client, stream):
    position = client.append_to_stream(
        stream, events=events(2), current_version=StreamState.NO_STREAM
    )
    first = client.get_stream(stream)[0].commit_position
    assert first < position
    with pytest.raises(InvalidCommitPositionError):  # filtered (the client's default)
        list(client.read_all(commit_position=first + 1))
    with pytest.raises(UnknownError, match="Unexpected ReadAllResult: InvalidPosition"):
        list(client.read_all(commit_position=first + 1, filter_exclude=()))
    with pytest.raises(GrpcError, match="invalid position"):
        subscription = client.subscribe_to_all(commit_position=first + 1, timeout=TIMEOUT)
        next(iter(subscription))


def test_reading_from_start_end_and_every_returned_position_works(client, stream):
    position = client.append_to_stream(
        stream, events=events(3), current_version=StreamState.NO_STREAM
    )
    recorded = client.get_stream(stream)
    assert next(iter(client.read_all(commit_position=position))).stream_name == stream
    assert list(client.read_all(commit_position=0, limit=1))  # start
    assert list(client.read_all(backwards=True, limit=1))  # end
    assert list(client.read_all(commit_position=position + 10**9)) == []  # past the end
    for event in recorded:
        got = list(client.read_all(commit_position=event.commit_position, limit=1))
        assert got[0].id == event.id
        subscription = client.subscribe_to_all(
            commit_position=event.commit_position,
            filter_include=[stream],
            filter_by_stream_name=True,
            include_caught_up=True,
            include_checkpoints=True,
            timeout=TIMEOUT,
        )
        items = []
        for item in subscription:
            items.append(item)
            if isinstance(item, CaughtUp):
                break
        subscription.stop()
        revisions = [i.stream_position for i in items if not isinstance(i, CaughtUp | Checkpoint)]
        assert revisions == list(range(event.stream_position + 1, 3))
        # A checkpoint's and a caught-up's position are positions to resume from.
        for marker in items:
            if isinstance(marker, CaughtUp | Checkpoint):
                assert list(client.read_all(commit_position=marker.commit_position, limit=1))


def _filtered_subscription(node, prefix: str, *, count_window: bool, multiplier: int):
    """A raw filtered $all subscription; kurrentdbclient always sends `max`, so `count` is
    sent by hand here (the Node.js client sends it)."""
    channel = grpc.insecure_channel(f"127.0.0.1:{node.port}")
    stub = streams_pb2_grpc.StreamsStub(channel)
    options = streams_pb2.ReadReq.Options(
        subscription=streams_pb2.ReadReq.Options.SubscriptionOptions(),
        uuid_option={"string": shared_pb2.Empty()},
    )
    options.all.start.SetInParent()
    options.filter.stream_identifier.prefix.append(prefix)
    if count_window:
        options.filter.count.SetInParent()
    else:
        options.filter.max = 10
    options.filter.checkpointIntervalMultiplier = multiplier
    return channel, stub.Read(streams_pb2.ReadReq(options=options), timeout=TIMEOUT)


@pytest.mark.parametrize(("count_window", "interval"), [(True, 64), (False, 20)])
def test_filtered_checkpoints_come_every_window_times_multiplier(
    node, client, stream, count_window, interval
):
    """With `count` the window is KurrentDB's 32; with `max` it is max."""
    client.append_to_stream(stream + "-noise", events=events(384), current_version=StreamState.ANY)
    channel, responses = _filtered_subscription(
        node, stream + "-none", count_window=count_window, multiplier=2
    )
    considered = len(list(client.read_all(filter_exclude=())))
    checkpoints = 0
    for response in responses:
        kind = response.WhichOneof("content")
        if kind == "caught_up":
            break
        checkpoints += kind == "checkpoint"
    responses.cancel()
    channel.close()
    assert checkpoints == considered // interval + 1  # ... and one at the end of the catch-up


def test_a_live_checkpoint_comes_even_when_the_record_completing_the_interval_matches(
    client, stream
):
    live = client.subscribe_to_all(
        from_end=True,
        filter_include=[stream + "$"],
        filter_by_stream_name=True,
        include_checkpoints=True,
        window_size=5,
        checkpoint_interval_multiplier=2,
        timeout=TIMEOUT,
    )
    client.append_to_stream(stream + "-noise", events=events(9), current_version=StreamState.ANY)
    position = client.append_to_stream(stream, events=events(1), current_version=StreamState.ANY)
    items = []
    for item in live:
        items.append(item)
        if isinstance(item, Checkpoint):
            break
    live.stop()
    assert [type(i).__name__ for i in items] == ["RecordedEvent", "Checkpoint"]
    assert items[0].commit_position == items[1].commit_position == position
