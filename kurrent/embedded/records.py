"""Plain data types shared by the storage and the gRPC servicers (no grpc, no sqlite)."""

from __future__ import annotations

from typing import NamedTuple

# Expected-state integers as KurrentDB writes them in error texts (revisions are >= 0).
NO_STREAM = -1
ANY = -2
EXISTS = -4
# Revision of a tombstone record, and the `$tb` value a soft delete writes.
MAX_REVISION = 2**63 - 1

METADATA_TYPE = "$metadata"
TOMBSTONE_TYPE = "$streamDeleted"
LINK_TYPE = "$>"


class StoredEvent(NamedTuple):
    """One record of the global log; the field order is the `records` table's column order."""

    position: int
    stream: str
    revision: int
    event_id: str
    type: str
    is_json: bool
    data: bytes
    metadata: bytes
    created: int  # 100 ns ticks since the Unix epoch, as KurrentDB sends it


# Bytes a record takes in the log besides its stream name, type, data and metadata (KurrentDB's
# prepare and commit records carry ids, flags, timestamps and lengths): positions are offsets.
RECORD_OVERHEAD = 96


def record_size(record: StoredEvent) -> int:
    """The record's length in the log: the next record's position is this one's plus it."""
    return (
        RECORD_OVERHEAD
        + len(record[1].encode())
        + len(record[4].encode())
        + len(record[6])
        + len(record[7])
    )


class ProposedEvent(NamedTuple):
    event_id: str
    type: str
    is_json: bool
    data: bytes
    metadata: bytes


class AppendResult(NamedTuple):
    revision: int  # last revision of the stream after the write (-1: still no events)
    position: int  # commit position of the last record written (or matched, for a retry)


class StoreError(Exception):
    """Base class of the storage's refusals; the servicers map them to wire errors."""


class WrongExpectedVersion(StoreError):
    def __init__(self, stream: str, expected: int, current: int) -> None:
        super().__init__(f"{stream}: expected {expected}, current {current}")
        self.stream = stream
        self.expected = expected
        self.current = current  # -1 when the stream has no events


class StreamDeletedError(StoreError):
    def __init__(self, stream: str) -> None:
        super().__init__(f"Event stream '{stream}' is deleted.")
        self.stream = stream


class StreamNotFound(StoreError):
    """A stream read found no visible stream (never written, metadata only, or soft-deleted)."""


class StoreClosed(StoreError):
    """The node is stopping."""


def metastream_of(stream: str) -> str:
    return "$$" + stream


def is_metastream(stream: str) -> bool:
    return stream.startswith("$$")
