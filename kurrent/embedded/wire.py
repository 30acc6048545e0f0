"""Conversions between protobuf messages of the v1 Streams API and the node's records."""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import Callable

from google.protobuf import timestamp_pb2
from kurrentdbclient.protos.v1 import shared_pb2, streams_pb2

from .records import ANY, EXISTS, NO_STREAM, ProposedEvent, StoredEvent

ReadResp = streams_pb2.ReadResp
RecordedEvent = streams_pb2.ReadResp.ReadEvent.RecordedEvent
ReadEvent = streams_pb2.ReadResp.ReadEvent
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
RecordFilter = Callable[[StoredEvent], bool]
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class BadRequest(Exception):
    """A request the node refuses with INVALID_ARGUMENT."""


class MissingMetadata(BadRequest):
    """A proposed event without `type` or `content-type` (KurrentDB names the property)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Required Metadata Property '{name}' is missing")
        self.name = name


class EventTooLarge(BadRequest):
    def __init__(self, event_id: str, size: int, limit: int) -> None:
        super().__init__(
            f"Event with Id: {event_id}, Size: {size}, exceeds Maximum Append Event Size"
            f" of {limit}."
        )
        self.event_id, self.size, self.limit = event_id, size, limit


def stream_name(identifier: shared_pb2.StreamIdentifier) -> str:
    try:
        name = identifier.stream_name.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("The stream name is not valid UTF-8") from error
    if not name:
        raise BadRequest("The stream name is empty")
    return name


def expected_revision(options) -> int:
    """The expected state of an Append/BatchAppend/Delete/Tombstone request as an integer."""
    for oneof in ("expected_stream_revision", "expected_stream_position"):
        try:
            which = options.WhichOneof(oneof)
        except ValueError:
            continue
        if which in ("revision", "stream_position"):
            return getattr(options, which)
        return {"no_stream": NO_STREAM, "stream_exists": EXISTS}.get(which or "any", ANY)
    return ANY


def proposed_event(message, max_event_bytes: int) -> ProposedEvent:
    """Validate one proposed message (Append and BatchAppend share the shape)."""
    metadata = message.metadata
    event_type = metadata.get("type")
    if event_type is None:
        raise MissingMetadata("type")
    content_type = metadata.get("content-type")
    if content_type is None:
        raise MissingMetadata("content-type")
    event_id = message.id.string
    if not event_id and message.id.HasField("structured"):
        structured = message.id.structured
        value = (structured.most_significant_bits % 2**64) << 64
        event_id = str(uuid.UUID(int=value | (structured.least_significant_bits % 2**64)))
    if not CANONICAL_UUID.fullmatch(event_id):
        try:
            event_id = str(uuid.UUID(event_id))
        except ValueError as error:
            raise BadRequest(f"'{event_id}' is not a valid event id") from error
    # Each read of a bytes field copies it: read data and custom metadata once.
    data, custom = message.data, message.custom_metadata
    size = len(event_type.encode()) + len(data) + len(custom)
    if size > max_event_bytes:
        raise EventTooLarge(event_id, size, max_event_bytes)
    return ProposedEvent(event_id, event_type, content_type == JSON, data, custom)


def recorded_event(record: StoredEvent) -> RecordedEvent:
    return RecordedEvent(
        id=shared_pb2.UUID(string=record.event_id),
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=record.stream.encode()),
        stream_revision=record.revision,
        prepare_position=record.position,
        commit_position=record.position,
        metadata={
            "type": record.type,
            "content-type": JSON if record.is_json else OCTET_STREAM,
            "created": str(record.created),
        },
        custom_metadata=record.metadata,
        data=record.data,
    )


def event_response(record: StoredEvent, target: StoredEvent | None = None) -> ReadResp:
    """A ReadResp carrying `record`; with a resolved link `record` is the link, `target` the event."""
    if target is None:
        return ReadResp(
            event=ReadEvent(event=recorded_event(record), commit_position=record.position)
        )
    return ReadResp(
        event=ReadEvent(
            event=recorded_event(target),
            link=recorded_event(record),
            commit_position=record.position,
        )
    )


def now_timestamp() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp


def checkpoint_response(position: int) -> ReadResp:
    return ReadResp(
        checkpoint=ReadResp.Checkpoint(
            commit_position=position, prepare_position=position, timestamp=now_timestamp()
        )
    )


def caught_up_response(*, revision: int | None = None, position: int | None = None) -> ReadResp:
    caught_up = ReadResp.CaughtUp(timestamp=now_timestamp())
    if revision is not None:
        caught_up.stream_revision = revision
    if position is not None:
        caught_up.position.commit_position = position
        caught_up.position.prepare_position = position
    return ReadResp(caught_up=caught_up)


def confirmation_response() -> ReadResp:
    return ReadResp(
        confirmation=ReadResp.SubscriptionConfirmation(subscription_id=str(uuid.uuid4()))
    )


def not_found_response(stream: str) -> ReadResp:
    return ReadResp(
        stream_not_found=ReadResp.StreamNotFound(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode())
        )
    )


def record_filter(options: streams_pb2.ReadReq.Options) -> RecordFilter | None:
    """The $all filter of a read or subscription (protocol §4.4), None for no filter."""
    if options.WhichOneof("filter_option") != "filter":
        return None
    filter_options = options.filter
    which = filter_options.WhichOneof("filter")
    if which is None:
        return None
    expression = getattr(filter_options, which)
    field = 1 if which == "stream_identifier" else 4  # StoredEvent.stream / StoredEvent.type
    return _compiled_filter(field, expression.regex, tuple(expression.prefix))


@functools.lru_cache(maxsize=1024)
def _compiled_filter(field: int, regex: str, prefixes: tuple[str, ...]) -> RecordFilter:
    """One function per distinct filter, so that the live fan-out can judge a record once for
    every subscription with the same filter (`hub.Hub._dispatch`)."""
    if regex:
        try:
            pattern = re.compile(regex)
        except re.error as error:
            raise BadRequest(f"Invalid filter regex: {error}") from error
        search = pattern.search
        return lambda record: search(record[field]) is not None
    if prefixes:
        return lambda record: record[field].startswith(prefixes)
    return lambda record: False


# KurrentDB's search window when a filter gives `count` instead of `max` (DefaultReadBatchSize).
COUNT_WINDOW = 32


def checkpoint_interval(options: streams_pb2.ReadReq.Options) -> int:
    """Records considered between checkpoints: the window (`max`, or 32 for `count`) times
    `checkpointIntervalMultiplier`, as Enumerator.AllSubscriptionFiltered counts them."""
    filter_options = options.filter
    which = filter_options.WhichOneof("window")
    window = filter_options.max if which == "max" and filter_options.max > 0 else COUNT_WINDOW
    return window * max(1, filter_options.checkpointIntervalMultiplier)


# -- hand-rolled encoding of ReadResp{event} -------------------------------------------------
# Building nested protobuf objects costs ~13 us per event in Python; concatenating the wire
# bytes costs a fraction of that. The layout follows streams.proto (field numbers in comments);
# tests compare the result with the protobuf library's own parse.


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes([n]) for n in range(0x80)]


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _map_entry(key: bytes, value: str) -> bytes:
    entry = key + _field(b"\x12", value.encode())
    return b"\x32" + _varint(len(entry)) + entry  # RecordedEvent.metadata = 6


_TYPE_KEY = b"\x0a\x04type"
_CONTENT_TYPE_JSON = _map_entry(b"\x0a\x0ccontent-type", JSON)
_CONTENT_TYPE_OCTET = _map_entry(b"\x0a\x0ccontent-type", OCTET_STREAM)
_CREATED_KEY = b"\x0a\x07created"


@functools.lru_cache(maxsize=4096)
def _stream_field(stream: str) -> bytes:
    return _field(b"\x12", _field(b"\x1a", stream.encode()))


@functools.lru_cache(maxsize=4096)
def _type_entry(event_type: str) -> bytes:
    return _map_entry(_TYPE_KEY, event_type)


def encode_recorded_event(record: StoredEvent) -> bytes:
    """RecordedEvent bytes: id=1, stream_identifier=2, revision=3, prepare=4, commit=5,
    metadata=6 (map), custom_metadata=7, data=8."""
    position = _varint(record[0])
    created = str(record[8]).encode()
    parts = [
        b"\x0a\x26\x12\x24",  # id (UUID{string=2}) of a 36-character uuid
        record[3].encode(),
        _stream_field(record[1]),
        b"\x18",
        _varint(record[2]),
        b"\x20",
        position,
        b"\x28",
        position,
        _type_entry(record[4]),
        _CONTENT_TYPE_JSON if record[5] else _CONTENT_TYPE_OCTET,
        b"\x32",
        _varint(len(created) + 11),
        _CREATED_KEY,
        b"\x12",
        _varint(len(created)),
        created,
    ]
    if record[7]:
        parts.append(_field(b"\x3a", record[7]))
    if record[6]:
        parts.append(_field(b"\x42", record[6]))
    return b"".join(parts)


def encode_event_response(record: StoredEvent, target: StoredEvent | None = None) -> bytes:
    """Serialized ReadResp{event=ReadEvent{event=1, link=2, commit_position=3}}."""
    if target is None:
        read_event = _field(b"\x0a", encode_recorded_event(record))
    else:
        read_event = _field(b"\x0a", encode_recorded_event(target)) + _field(
            b"\x12", encode_recorded_event(record)
        )
    read_event += b"\x18" + _varint(record[0])
    return _field(b"\x0a", read_event)


def serialize(message) -> bytes:
    """Response serializer that passes pre-encoded bytes through."""
    return message if type(message) is bytes else message.SerializeToString()
