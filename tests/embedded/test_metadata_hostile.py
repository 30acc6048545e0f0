"""Stream metadata of the wrong type, out of range or unparsable (issue 13, point 6).

KurrentDB reads `$maxCount`, `$maxAge`, `$tb` and `$cacheControl` as 64-bit integers; any other
value makes it read the whole metadata as empty. So such metadata never fails the stream's
appends or reads: its events are all visible, and the raw metadata reads back as written.
"""

from __future__ import annotations

import pytest
from kurrentdbclient import NewEvent, StreamState
from kurrentdbclient.exceptions import StreamIsDeletedError

from .helpers import events

HOSTILE = [
    b'{"$tb": 1e400}',
    b'{"$maxCount": NaN}',
    b'{"$maxCount": Infinity}',
    b'{"$maxCount": "2"}',
    b'{"$maxCount": 2.5}',
    b'{"$maxCount": 0}',
    b'{"$maxCount": -3}',
    b'{"$maxCount": true}',
    b'{"$maxAge": 99999999999999999999999}',
    b'{"$tb": -1}',
    b'{"$tb": 2, "$maxCount": "bad"}',  # one bad key voids the good ones too
    b'{"$cacheControl": []}',
    b'{"$maxCount": 1',  # unparsable
    b"[1, 2]",
    b'"just a string"',
    b"\xff\xfe",
]


def write_raw_metadata(client, stream: str, data: bytes, *, is_json: bool = True) -> None:
    content_type = "application/json" if is_json else "application/octet-stream"
    client.append_to_stream(
        "$$" + stream,
        events=NewEvent(type="$metadata", data=data, content_type=content_type),
        current_version=StreamState.ANY,
    )


@pytest.mark.parametrize("data", HOSTILE, ids=[d.decode("latin-1")[:30] for d in HOSTILE])
def test_hostile_metadata_is_ignored_and_never_fails_appends_or_reads(client, stream, data):
    client.append_to_stream(stream, events=events(3), current_version=StreamState.NO_STREAM)
    write_raw_metadata(client, stream, data)
    client.append_to_stream(stream, events=events(1), current_version=2)
    assert [e.stream_position for e in client.get_stream(stream)] == [0, 1, 2, 3]
    assert [e.stream_position for e in client.get_stream(stream, backwards=True)] == [3, 2, 1, 0]
    assert client.get_current_version(stream) == 3
    subscription = client.subscribe_to_stream(stream, timeout=10)
    got = []
    for event in subscription:
        got.append(event.stream_position)
        if len(got) == 4:
            break
    subscription.stop()
    assert got == [0, 1, 2, 3]
    client.delete_stream(stream, current_version=3)  # soft delete rewrites the metadata
    client.append_to_stream(stream, events=events(1), current_version=StreamState.ANY)
    assert [e.stream_position for e in client.get_stream(stream)] == [4]


def test_valid_metadata_still_applies(client, stream):
    client.append_to_stream(stream, events=events(5), current_version=StreamState.NO_STREAM)
    write_raw_metadata(client, stream, b'{"$maxCount": 2, "custom": NaN}')
    assert [e.stream_position for e in client.get_stream(stream)] == [3, 4]


def test_non_json_metadata_is_ignored(client, stream):
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    write_raw_metadata(client, stream, b'{"$maxCount": 1}', is_json=False)
    assert len(client.get_stream(stream)) == 2


def test_metadata_of_a_tombstoned_stream_may_be_set_but_not_read(client, stream):
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    client.tombstone_stream(stream, current_version=0)
    client.set_stream_metadata(stream, metadata={"$maxCount": 5, "note": "after"})
    with pytest.raises(StreamIsDeletedError):
        client.get_stream_metadata(stream)
    with pytest.raises(StreamIsDeletedError):
        client.get_stream(stream)
