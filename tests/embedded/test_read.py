"""Reads: one stream, $all with filters and positions, current version and commit position."""

from __future__ import annotations

import uuid

import pytest
from kurrentdbclient import NewEvent, StreamState
from kurrentdbclient.exceptions import NotFoundError

from .helpers import events


@pytest.fixture
def ten(client, stream):
    """A stream holding revisions 0..9."""
    client.append_to_stream(stream, events=events(10), current_version=StreamState.NO_STREAM)
    return stream


def revisions(recorded) -> list[int]:
    return [event.stream_position for event in recorded]


def test_read_stream_forwards_backwards_from_a_revision_with_a_limit(client, ten):
    assert revisions(client.get_stream(ten)) == list(range(10))
    assert revisions(client.get_stream(ten, backwards=True)) == list(range(9, -1, -1))
    assert revisions(client.get_stream(ten, stream_position=4)) == list(range(4, 10))
    assert revisions(client.get_stream(ten, stream_position=4, backwards=True)) == [4, 3, 2, 1, 0]
    assert revisions(client.get_stream(ten, limit=3)) == [0, 1, 2]
    assert revisions(client.get_stream(ten, stream_position=8, limit=5)) == [8, 9]
    assert revisions(client.get_stream(ten, backwards=True, limit=2)) == [9, 8]
    assert revisions(client.get_stream(ten, stream_position=10)) == []
    assert revisions(client.read_stream(ten, stream_position=2, limit=2)) == [2, 3]


def test_read_stream_sends_every_field(client, stream):
    event = NewEvent(type="Shaped", data=b'{"x": 1}', metadata=b'{"m": 2}')
    position = client.append_to_stream(stream, events=event, current_version=StreamState.NO_STREAM)
    (got,) = client.get_stream(stream)
    assert (got.id, got.type, got.stream_name, got.stream_position) == (
        event.id,
        "Shaped",
        stream,
        0,
    )
    assert got.commit_position == got.prepare_position == position
    assert got.content_type == "application/json"
    assert not got.is_system_event


def test_a_missing_stream_is_not_found(client, stream):
    with pytest.raises(NotFoundError):
        client.get_stream(stream)
    with pytest.raises(NotFoundError):
        next(iter(client.read_stream(stream)))
    assert client.get_current_version(stream) is StreamState.NO_STREAM


def test_a_long_stream_reads_completely_in_order(client, stream):
    client.append_to_stream(stream, events=events(1500), current_version=StreamState.NO_STREAM)
    assert revisions(client.get_stream(stream)) == list(range(1500))
    assert revisions(client.get_stream(stream, backwards=True))[:3] == [1499, 1498, 1497]
    assert len(client.get_stream(stream, stream_position=700, limit=600)) == 600


def test_get_current_version_and_commit_position(client, stream):
    client.append_to_stream(stream, events=events(3), current_version=StreamState.NO_STREAM)
    position = client.append_to_stream(stream, events=events(1), current_version=2)
    assert client.get_current_version(stream) == 3
    assert client.get_commit_position() == position
    # System records (here the $metadata of a soft delete) are not counted by default...
    client.delete_stream(stream, current_version=3)
    assert client.get_commit_position() == position
    # ...but they are with no filter.
    assert client.get_commit_position(filter_exclude=()) > position


def test_read_all_forwards_and_backwards_from_a_commit_position(client, stream):
    positions = [
        client.append_to_stream(stream, events=event, current_version=StreamState.ANY)
        for event in events(5)
    ]
    # Forwards from P includes the record at P; backwards from P excludes it.
    forwards = client.read_all(commit_position=positions[1], limit=3)
    assert [e.commit_position for e in forwards] == positions[1:4]
    backwards = client.read_all(commit_position=positions[3], backwards=True, limit=2)
    assert [e.commit_position for e in backwards] == [positions[2], positions[1]]
    assert [e.commit_position for e in client.read_all(backwards=True, limit=1)] == [positions[-1]]
    assert list(client.read_all(commit_position=positions[-1] + 1000)) == []
    everything = [e.commit_position for e in client.read_all()]
    assert everything == sorted(everything) and set(positions) <= set(everything)


def test_read_all_filters(client):
    tag = uuid.uuid4().hex[:8]
    client.append_to_stream(
        f"order{tag}-1", events=events(2, "OrderPlaced"), current_version=StreamState.ANY
    )
    client.append_to_stream(
        f"order{tag}-2", events=events(1, "OrderShipped"), current_version=StreamState.ANY
    )
    client.append_to_stream(
        f"user{tag}-1", events=events(1, f"Registered{tag}"), current_version=StreamState.ANY
    )
    client.set_stream_metadata(f"user{tag}-1", metadata={"$maxCount": 5})
    start = client.read_all(backwards=True, limit=20, filter_exclude=())
    first = min(e.commit_position for e in start)

    def streams(**kwargs):
        return [e.stream_name for e in client.read_all(commit_position=first, **kwargs)]

    def types(**kwargs):
        return [e.type for e in client.read_all(commit_position=first, **kwargs)]

    # Include by stream name: regex (unanchored search) and prefix.
    assert streams(filter_include=[f"order{tag}-.*"], filter_by_stream_name=True) == [
        f"order{tag}-1"
    ] * 2 + [f"order{tag}-2"]
    assert streams(
        filter_include=[f"user{tag}"], filter_by_stream_name=True, filter_by_prefix=True
    ) == [f"user{tag}-1"]
    # Include and exclude by event type.
    assert types(filter_include=[f"Registered{tag}"]) == [f"Registered{tag}"]
    assert types(filter_include=["Order.*"], limit=2) == ["OrderPlaced", "OrderPlaced"]
    assert f"Registered{tag}" not in types(filter_exclude=[f"Registered{tag}", r"\$.+"])
    # The default filter hides system events such as $metadata; no filter shows them.
    assert "$metadata" not in types()
    assert "$metadata" in types(filter_exclude=())
    assert streams(
        filter_include=[f"\\$\\$user{tag}-1"], filter_by_stream_name=True, filter_exclude=()
    ) == [f"$$user{tag}-1"]


def test_the_default_filter_follows_the_client_regex_exactly(client, stream):
    names = ["Result", "Results", "PersistentConfig1", "$"]
    for name in names:
        client.append_to_stream(
            stream, events=NewEvent(type=name, data=b"{}"), current_version=StreamState.ANY
        )
    first = client.get_stream(stream)[0].commit_position
    shown = [e.type for e in client.read_all(commit_position=first) if e.stream_name == stream]
    assert shown == ["Results", "$"]


def test_resolve_links(client, stream):
    target = stream + "-target"
    client.append_to_stream(target, events=events(3), current_version=StreamState.NO_STREAM)
    links = [
        NewEvent(type="$>", data=f"{n}@{target}".encode(), content_type="application/octet-stream")
        for n in (2, 0, 7)
    ]
    client.append_to_stream(stream, events=links, current_version=StreamState.NO_STREAM)

    raw = client.get_stream(stream)
    assert [e.type for e in raw] == ["$>"] * 3 and all(e.link is None for e in raw)
    resolved = client.get_stream(stream, resolve_links=True)
    # The link to a missing revision is dropped; the others carry the target and the link.
    assert [(e.stream_name, e.stream_position) for e in resolved] == [(target, 2), (target, 0)]
    assert [e.link.stream_position for e in resolved] == [0, 1]
    assert resolved[0].link.commit_position == raw[0].commit_position
    # Links to a deleted stream resolve to nothing.
    client.delete_stream(target, current_version=2)
    assert client.get_stream(stream, resolve_links=True) == ()
