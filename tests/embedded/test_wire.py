"""The hand-rolled ReadResp encoding must equal what the protobuf library builds."""

from __future__ import annotations

import uuid

import pytest

from kurrent.embedded.records import MAX_REVISION, StoredEvent
from kurrent.embedded.wire import ReadResp, encode_event_response, event_response


def record(**fields) -> StoredEvent:
    values = {
        "position": 1,
        "stream": "s",
        "revision": 0,
        "event_id": str(uuid.uuid4()),
        "type": "T",
        "is_json": True,
        "data": b"{}",
        "metadata": b"",
        "created": 17_000_000_000_000_000,
    }
    return StoredEvent(**{**values, **fields})


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"position": 2**40, "revision": 300, "stream": "ünïcode-" + "x" * 300},
        {"is_json": False, "data": bytes(range(256)) * 600, "metadata": b"\x00meta"},
        {"data": b"", "metadata": b"", "type": "$streamDeleted", "revision": MAX_REVISION},
    ],
)
def test_encoding_matches_protobuf(shape):
    event = record(**shape)
    assert ReadResp.FromString(encode_event_response(event)) == event_response(event)


def test_encoding_of_a_resolved_link_matches_protobuf():
    target = record(position=5, stream="target", revision=3)
    link = record(position=9, type="$>", data=b"3@target", is_json=False)
    assert ReadResp.FromString(encode_event_response(link, target)) == event_response(link, target)
