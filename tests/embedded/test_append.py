"""Appends: one event (Append) and many (BatchAppend), expected versions, idempotency, limits."""

from __future__ import annotations

import uuid

import grpc
import pytest
from kurrentdbclient import NewEvent, NewEvents, StreamState
from kurrentdbclient.exceptions import (
    FailedPreconditionError,
    GrpcError,
    MultiAppendToSameStreamError,
    NotFoundError,
    StreamIsDeletedError,
    StreamTombstonedError,
    WrongCurrentVersionError,
)
from kurrentdbclient.protos.v1 import shared_pb2, streams_pb2, streams_pb2_grpc

from .helpers import events

SINGLE_AND_BATCH = pytest.mark.parametrize("batch", [False, True], ids=["append", "batch"])


def append(client, stream, count, current_version, *, batch):
    """Append `count` events, through Append (one NewEvent per call) or BatchAppend."""
    new = events(count)
    if batch:
        return client.append_to_stream(stream, events=new, current_version=current_version)
    position = None
    for event in new:
        position = client.append_to_stream(stream, events=event, current_version=current_version)
        if isinstance(current_version, int):
            current_version += 1
    return position


@SINGLE_AND_BATCH
def test_append_returns_increasing_positions_and_gapless_revisions(client, stream, batch):
    first = append(client, stream, 1, StreamState.NO_STREAM, batch=batch)
    second = append(client, stream, 3, 0, batch=batch)

    recorded = client.get_stream(stream)
    assert [e.stream_position for e in recorded] == [0, 1, 2, 3]
    assert 0 < first < second
    assert recorded[-1].commit_position == second
    positions = [e.commit_position for e in recorded]
    assert positions == sorted(set(positions))


@SINGLE_AND_BATCH
@pytest.mark.parametrize(
    ("state", "ok"),
    [(StreamState.ANY, True), (StreamState.NO_STREAM, True), (StreamState.EXISTS, False)],
)
def test_stream_states_on_a_new_stream(client, stream, batch, state, ok):
    if ok:
        append(client, stream, 1, state, batch=batch)
        assert client.get_current_version(stream) == 0
    else:
        with pytest.raises(WrongCurrentVersionError) as caught:
            append(client, stream, 1, state, batch=batch)
        assert caught.value.actual_version is StreamState.NO_STREAM


@SINGLE_AND_BATCH
def test_stream_states_on_an_existing_stream(client, stream, batch):
    append(client, stream, 2, StreamState.NO_STREAM, batch=True)
    append(client, stream, 1, StreamState.ANY, batch=batch)
    append(client, stream, 1, StreamState.EXISTS, batch=batch)
    with pytest.raises(WrongCurrentVersionError) as caught:
        append(client, stream, 1, StreamState.NO_STREAM, batch=batch)
    assert caught.value.actual_version == 3
    assert client.get_current_version(stream) == 3


@SINGLE_AND_BATCH
def test_exact_version_must_be_the_last_revision(client, stream, batch):
    with pytest.raises(WrongCurrentVersionError) as caught:
        append(client, stream, 1, 0, batch=batch)
    assert caught.value.actual_version is StreamState.NO_STREAM
    append(client, stream, 3, StreamState.NO_STREAM, batch=True)
    for wrong in (0, 1, 3, 7):
        with pytest.raises(WrongCurrentVersionError) as caught:
            append(client, stream, 1, wrong, batch=batch)
        assert caught.value.actual_version == 2
    append(client, stream, 1, 2, batch=batch)
    assert client.get_current_version(stream) == 3


def test_data_and_metadata_round_trip_byte_for_byte(client, stream):
    binary = bytes(range(256))
    sent = [
        NewEvent(type="Json", data=b'{"a": [1, 2]}', metadata=b'{"actor": "x"}'),
        NewEvent(
            type="Blob", data=binary, metadata=b"\x00\xff", content_type="application/octet-stream"
        ),
        NewEvent(type="Empty", data=b""),
    ]
    client.append_to_stream(stream, events=sent, current_version=StreamState.NO_STREAM)

    got = client.get_stream(stream)
    assert [(e.id, e.type, e.data, e.metadata, e.content_type) for e in got] == [
        (e.id, e.type, e.data, e.metadata, e.content_type) for e in sent
    ]
    assert all(e.recorded_at is not None and e.recorded_at.tzinfo for e in got)


@SINGLE_AND_BATCH
def test_retrying_with_the_same_ids_and_version_is_idempotent(client, stream, batch):
    sent = events(3)
    if batch:
        first = client.append_to_stream(stream, events=sent, current_version=StreamState.NO_STREAM)
        again = client.append_to_stream(stream, events=sent, current_version=StreamState.NO_STREAM)
    else:
        first = client.append_to_stream(
            stream, events=sent[0], current_version=StreamState.NO_STREAM
        )
        again = client.append_to_stream(
            stream, events=sent[0], current_version=StreamState.NO_STREAM
        )
    assert again == first
    assert len(client.get_stream(stream)) == (3 if batch else 1)


def test_retry_of_an_exact_version_append_returns_its_original_position(client, stream):
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    batch = events(2)
    position = client.append_to_stream(stream, events=batch, current_version=1)
    client.append_to_stream(stream, events=events(1), current_version=3)

    assert client.append_to_stream(stream, events=batch, current_version=1) == position
    assert client.append_to_stream(stream, events=batch[:1], current_version=1) < position
    assert client.get_current_version(stream) == 4


def test_retry_with_more_or_different_events_is_a_conflict(client, stream):
    batch = events(2)
    client.append_to_stream(stream, events=batch, current_version=StreamState.NO_STREAM)
    with pytest.raises(WrongCurrentVersionError) as caught:
        client.append_to_stream(
            stream, events=[*batch, *events(1)], current_version=StreamState.NO_STREAM
        )
    assert caught.value.actual_version == 1
    with pytest.raises(WrongCurrentVersionError):
        client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    assert len(client.get_stream(stream)) == 2


@pytest.mark.parametrize("state", [StreamState.ANY, StreamState.EXISTS])
def test_any_and_exists_retries_are_recognised_by_event_id(client, stream, state):
    batch = events(2)
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    first = client.append_to_stream(stream, events=batch, current_version=state)
    client.append_to_stream(stream, events=events(1), current_version=state)

    assert client.append_to_stream(stream, events=batch, current_version=state) == first
    # The first id is known but a later one is not: a conflict, nothing written.
    with pytest.raises(WrongCurrentVersionError):
        client.append_to_stream(stream, events=[batch[0], *events(1)], current_version=state)
    # The first id is new: an ordinary append, even if later ids are known.
    client.append_to_stream(stream, events=[*events(1), batch[0]], current_version=state)
    assert client.get_current_version(stream) == 5


def test_an_id_used_in_another_stream_is_not_a_duplicate(client, stream):
    shared = events(1)[0]
    client.append_to_stream(stream, events=shared, current_version=StreamState.ANY)
    client.append_to_stream(stream + "-other", events=shared, current_version=StreamState.ANY)
    assert client.get_stream(stream + "-other")[0].id == shared.id


def test_empty_append_checks_the_version_and_writes_nothing(client, stream):
    client.append_to_stream(stream, events=[], current_version=StreamState.NO_STREAM)
    with pytest.raises(NotFoundError):
        client.get_stream(stream)
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    position = client.append_to_stream(stream, events=[], current_version=0)
    assert position >= client.get_stream(stream)[0].commit_position
    with pytest.raises(WrongCurrentVersionError):
        client.append_to_stream(stream, events=[], current_version=5)


def test_appending_to_a_tombstoned_stream_fails_as_kurrentdb_does(client, stream):
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    client.tombstone_stream(stream, current_version=0)
    # One event travels through Append, whose deleted error is a plain failed precondition.
    with pytest.raises(FailedPreconditionError, match="is deleted"):
        client.append_to_stream(stream, events=events(1)[0], current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeletedError):
        client.append_to_stream(stream, events=events(2), current_version=StreamState.ANY)
    # Its metadata may still be written, as KurrentDB accepts it; reading it says deleted.
    client.set_stream_metadata(stream, metadata={"a": 1})
    with pytest.raises(StreamIsDeletedError):
        client.get_stream_metadata(stream)


def test_multi_append_writes_several_streams_atomically(client, stream):
    other = stream + "-b"
    client.append_to_stream(other, events=events(1), current_version=StreamState.NO_STREAM)
    position = client.multi_append_to_stream(
        [
            NewEvents(stream_name=stream, events=events(2), current_version=StreamState.NO_STREAM),
            NewEvents(
                stream_name=other, events=events(1, metadata=b'{"k": "v"}'), current_version=0
            ),
        ]
    )
    assert client.get_stream(other)[-1].commit_position == position
    assert [e.stream_position for e in client.get_stream(stream)] == [0, 1]

    with pytest.raises(WrongCurrentVersionError):
        client.multi_append_to_stream(
            [
                NewEvents(stream_name=stream, events=events(1), current_version=1),
                NewEvents(stream_name=other, events=events(1), current_version=0),
            ]
        )
    assert client.get_current_version(stream) == 1  # the good half was not written
    with pytest.raises(MultiAppendToSameStreamError):
        client.multi_append_to_stream(
            [
                NewEvents(stream_name=stream, events=events(1), current_version=StreamState.ANY),
                NewEvents(stream_name=stream, events=events(1), current_version=StreamState.ANY),
            ]
        )
    client.tombstone_stream(other, current_version=StreamState.ANY)
    with pytest.raises(StreamTombstonedError):
        client.multi_append_to_stream(
            NewEvents(stream_name=other, events=events(1), current_version=StreamState.ANY)
        )


def test_an_event_over_the_size_limit_is_refused_and_the_node_carries_on(stream):
    from kurrentdbclient import KurrentDBClient

    from kurrent.embedded import EmbeddedNode

    with EmbeddedNode(max_event_bytes=1000) as small:
        db = KurrentDBClient(small.url)
        too_big = NewEvent(type="Big", data=b"x" * 1001)
        for events_ in (too_big, [too_big]):
            with pytest.raises(GrpcError) as caught:
                db.append_to_stream(stream, events=events_, current_version=StreamState.ANY)
            assert "exceeds Maximum Append Event Size of 1000" in str(caught.value)
        db.append_to_stream(
            stream,
            events=NewEvent(type="Ok", data=b"x" * 900),
            current_version=StreamState.NO_STREAM,
        )
        assert [e.type for e in db.get_stream(stream)] == ["Ok"]
        db.close()


def test_malformed_requests_get_invalid_argument(node, client, stream):
    channel = grpc.insecure_channel(f"127.0.0.1:{node.port}")
    stub = streams_pb2_grpc.StreamsStub(channel)
    options = streams_pb2.AppendReq.Options(
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()),
        any=shared_pb2.Empty(),
    )
    no_type = streams_pb2.AppendReq.ProposedMessage(
        id=shared_pb2.UUID(string=str(uuid.uuid4())), metadata={"content-type": "application/json"}
    )
    bad_id = streams_pb2.AppendReq.ProposedMessage(
        id=shared_pb2.UUID(string="not-a-uuid"),
        metadata={"type": "T", "content-type": "application/json"},
    )
    cases = [
        (
            [
                streams_pb2.AppendReq(options=options),
                streams_pb2.AppendReq(proposed_message=no_type),
            ],
            "Required Metadata Property 'type' is missing",
        ),
        (
            [
                streams_pb2.AppendReq(options=options),
                streams_pb2.AppendReq(proposed_message=bad_id),
            ],
            "not a valid event id",
        ),
        ([], "no options"),
    ]
    for requests, message in cases:
        with pytest.raises(grpc.RpcError) as caught:
            stub.Append(iter(requests))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in caught.value.details()
    channel.close()
    # Nothing was written, and the node still serves.
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    assert len(client.get_stream(stream)) == 1
