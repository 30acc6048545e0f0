"""What a stream read may see (protocol §3.2, §3.7), computed from one SQLite snapshot."""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from .records import MAX_REVISION, StreamDeletedError, StreamNotFound, is_metastream, metastream_of
from .rules import int_value, now_ticks, parse_metadata


class StreamView(NamedTuple):
    """The readable part of a stream, fixed when a read starts."""

    stream: str
    last: int  # last revision
    low: int  # lowest visible revision ($tb, $maxCount; a metastream keeps its newest only)
    min_created: int  # events created before this are hidden ($maxAge), in 100 ns ticks
    position_bound: int  # records after this log position are left to later reads


def read_head(conn: sqlite3.Connection, stream: str) -> tuple[int, bool]:
    rows = conn.execute(
        "SELECT revision FROM records WHERE stream = ? ORDER BY revision DESC LIMIT 2", (stream,)
    ).fetchall()
    if rows and rows[0][0] == MAX_REVISION:
        return (rows[1][0] if len(rows) > 1 else -1), True
    return (rows[0][0] if rows else -1), False


def stream_view(conn: sqlite3.Connection, stream: str, position_bound: int) -> StreamView:
    if is_metastream(stream) and read_head(conn, stream[2:])[1]:
        raise StreamDeletedError(stream)
    last, tombstoned = read_head(conn, stream)
    if tombstoned:
        raise StreamDeletedError(stream)
    meta: dict[str, Any] = {}
    if not is_metastream(stream):
        row = conn.execute(
            "SELECT data, is_json FROM records WHERE stream = ? ORDER BY revision DESC LIMIT 1",
            (metastream_of(stream),),
        ).fetchone()
        if row:
            meta = parse_metadata(row[0], bool(row[1]))
    if last < 0 or int_value(meta, "$tb") == MAX_REVISION:
        raise StreamNotFound(stream)
    low = 0
    truncate_before = int_value(meta, "$tb")
    if truncate_before is not None and truncate_before > 0:
        low = truncate_before
    max_count = int_value(meta, "$maxCount")
    if max_count is not None and max_count >= 1:
        low = max(low, last - max_count + 1)
    if is_metastream(stream):
        low = last  # a metastream keeps only its newest event
    min_created = 0
    max_age = int_value(meta, "$maxAge")
    if max_age is not None and max_age >= 1:
        min_created = now_ticks() - max_age * 10_000_000
    # The bound (the store's last published position) may lag this read's view of the
    # stream: the writer publishes just after it commits. Never hide the events the
    # view says are there.
    (last_position,) = conn.execute(
        "SELECT position FROM records WHERE stream = ? AND revision = ?", (stream, last)
    ).fetchone()
    return StreamView(stream, last, low, min_created, max(position_bound, last_position))
