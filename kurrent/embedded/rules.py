"""KurrentDB's stream rules for writes (protocol §3.2-3.6), staged in a transaction object.

A `Txn` sees the committed state through its store (cached stream heads, recent event ids) plus
what earlier operations of the same commit staged. Refusals are raised as StoreError subclasses
before anything is staged; the store inserts `txn.records` and publishes `txn.heads`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .records import (
    ANY,
    EXISTS,
    MAX_REVISION,
    METADATA_TYPE,
    NO_STREAM,
    RECORD_OVERHEAD,
    TOMBSTONE_TYPE,
    AppendResult,
    ProposedEvent,
    StoredEvent,
    StreamDeletedError,
    WrongExpectedVersion,
    is_metastream,
    metastream_of,
    record_size,
)

if TYPE_CHECKING:
    from .storage import Store

SOFT_DELETE_DATA = b'{"$tb":9223372036854775807}'


def now_ticks() -> int:
    return time.time_ns() // 100


# System metadata keys that KurrentDB reads as 64-bit integers, with the least each may be.
# `StreamMetadata.FromJson` throws on any other value (a float, a string, NaN, 1e400, a number
# past Int64, zero or less), and the index reader then treats the WHOLE metadata as empty.
INTEGER_KEYS = {"$maxCount": 1, "$maxAge": 1, "$tb": 0, "$cacheControl": 1}
INT64_MAX = 2**63 - 1


def parse_metadata(data: bytes, is_json: bool) -> dict[str, Any]:
    """Stream metadata is the JSON object of the last metastream event, as KurrentDB reads it:
    not JSON, unparsable, not an object, or with a system key of the wrong type or range
    counts as no metadata at all ({}), so it can never fail an append or a read."""
    if not is_json:
        return {}
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(value, dict):
        return {}
    for key, least in INTEGER_KEYS.items():
        if key not in value:
            continue
        number = value[key]
        if type(number) is not int or not least <= number <= INT64_MAX:
            return {}
    return value


def int_value(meta: dict[str, Any], key: str) -> int | None:
    """A system key of metadata from `parse_metadata` (an int in range), or None."""
    value = meta.get(key)
    return value if type(value) is int else None


class Head:
    """What the writer needs to know about one stream."""

    __slots__ = ("last", "meta", "tombstoned")

    def __init__(self, last: int = -1, tombstoned: bool = False, meta: dict | None = None):
        self.last = last  # last revision, -1 when the stream has no events
        self.tombstoned = tombstoned
        self.meta = meta  # metastreams only: the parsed data of their last event

    def copy(self) -> Head:
        return Head(self.last, self.tombstoned, self.meta)


class Txn:
    """The staged effect of queued operations; merged into its parent or the store on success."""

    def __init__(self, store: Store, parent: Txn | None = None) -> None:
        self.store = store
        self.parent = parent
        self.heads: dict[str, Head] = {}
        self.records: list[StoredEvent] = []
        self.ids: dict[tuple[str, str], tuple[int, int]] = {}
        self.next_position = parent.next_position if parent else store.next_position
        self.last_position = parent.last_position if parent else store.last_position
        self.now = parent.now if parent else now_ticks()

    def child(self) -> Txn:
        return Txn(self.store, self)

    def merge(self, child: Txn) -> None:
        self.heads.update(child.heads)
        self.records.extend(child.records)
        self.ids.update(child.ids)
        self.next_position = child.next_position
        self.last_position = child.last_position

    def find_id(self, stream: str, event_id: str) -> tuple[int, int] | None:
        """(revision, position) of a recent event with this id in this stream."""
        key = (stream, event_id)
        txn: Txn | None = self
        while txn is not None:
            found = txn.ids.get(key)
            if found is not None:
                return found
            txn = txn.parent
        return self.store._recent_ids.get(key)

    def head(self, stream: str) -> Head:
        head = self.heads.get(stream)
        if head is None:
            source = self.parent.head(stream) if self.parent else self.store._load_head(stream)
            head = self.heads[stream] = source.copy()
        return head

    # -- stream state (protocol §3.2) -------------------------------------------------------

    def metadata(self, stream: str) -> dict[str, Any]:
        return self.head(metastream_of(stream)).meta or {}

    def state(self, stream: str) -> tuple[str, int]:
        """("N"|"M"|"E"|"S"|"T", last revision)."""
        head = self.head(stream)
        if is_metastream(stream):
            # Even a tombstoned stream's metadata may be written (KurrentDB accepts it); only
            # reading it says the stream is deleted.
            return ("E" if head.last >= 0 else "N"), head.last
        if head.tombstoned:
            return "T", head.last
        meta_head = self.head(metastream_of(stream))
        if int_value(meta_head.meta or {}, "$tb") == MAX_REVISION:
            return "S", head.last
        if head.last >= 0:
            return "E", head.last
        return ("M" if meta_head.last >= 0 else "N"), head.last

    # -- writes ----------------------------------------------------------------------------

    def write(self, stream: str, revision: int, event: ProposedEvent) -> StoredEvent:
        record = StoredEvent(
            self.next_position,
            stream,
            revision,
            event.event_id,
            event.type,
            event.is_json,
            event.data,
            event.metadata,
            self.now,
        )
        self.next_position += record_size(record)
        self.last_position = record.position
        self.records.append(record)
        self.ids[(stream, event.event_id)] = (revision, record.position)
        head = self.head(stream)
        if revision == MAX_REVISION:
            head.tombstoned = True
        else:
            head.last = revision
            if is_metastream(stream):
                head.meta = parse_metadata(event.data, event.is_json)
        return record

    def _write_many(self, stream: str, first: int, events: Sequence[ProposedEvent]) -> StoredEvent:
        """Append events at revisions first, first+1, ...; returns the last record."""
        if is_metastream(stream) or len(events) == 1:
            for offset, event in enumerate(events):
                record = self.write(stream, first + offset, event)
            return record
        position, now, ids = self.next_position, self.now, self.ids
        records = []
        overhead = RECORD_OVERHEAD + len(stream.encode())
        for n, e in enumerate(events):
            record = StoredEvent(position, stream, first + n, e[0], e[1], e[2], e[3], e[4], now)
            records.append(record)
            ids[(stream, record.event_id)] = (record.revision, position)
            position += overhead + len(e[1].encode()) + len(e[3]) + len(e[4])
        self.records.extend(records)
        self.next_position = position
        self.last_position = records[-1].position
        self.head(stream).last = records[-1].revision
        return records[-1]

    def write_metadata(self, stream: str, meta: dict[str, Any] | bytes) -> StoredEvent:
        data = meta if isinstance(meta, bytes) else json.dumps(meta, separators=(",", ":"))
        event = ProposedEvent(
            str(uuid.uuid4()),
            METADATA_TYPE,
            True,
            data if isinstance(data, bytes) else data.encode(),
            b"",
        )
        metastream = metastream_of(stream)
        return self.write(metastream, self.head(metastream).last + 1, event)

    def append(self, stream: str, expected: int, events: Sequence[ProposedEvent]) -> AppendResult:
        kind, last = self.state(stream)
        if kind == "T":
            raise StreamDeletedError(stream)
        undelete = kind == "S"
        if expected in (ANY, EXISTS):
            if expected == EXISTS and kind == "N":
                raise WrongExpectedVersion(stream, expected, -1)
            if expected == EXISTS and kind == "S":
                raise StreamDeletedError(stream)
            retried = self._weak_retry(stream, expected, events, last)
            if retried:
                return retried
        elif expected == NO_STREAM:
            if kind in ("E", "S"):
                retried = self._strong_retry(stream, expected, events, last)
                if retried:
                    return retried
                if kind == "E":
                    raise WrongExpectedVersion(stream, expected, last)
        else:  # an exact revision
            if kind in ("N", "M"):
                raise WrongExpectedVersion(stream, expected, -1)
            if expected != last:
                retried = self._strong_retry(stream, expected, events, last)
                if retried:
                    return retried
                raise WrongExpectedVersion(stream, expected, last)
        if not events:
            return AppendResult(last, self.last_position)
        base_deleted = is_metastream(stream) and self.state(stream[2:])[0] == "S"
        record = self._write_many(stream, last + 1, events)
        if undelete:
            meta = dict(self.metadata(stream))
            meta["$tb"] = last + 1
            self.write_metadata(stream, meta)
        elif base_deleted and self.state(stream[2:])[0] == "S":
            pass  # the caller re-wrote a soft delete
        elif base_deleted:
            # Writing metadata of a soft-deleted stream undeletes it, hiding its old events.
            base = stream[2:]
            meta = dict(self.metadata(base))
            meta["$tb"] = self.head(base).last + 1
            self.write_metadata(base, meta)
        return AppendResult(record.revision, record.position)

    def _strong_retry(
        self, stream: str, expected: int, events: Sequence[ProposedEvent], last: int
    ) -> AppendResult | None:
        """A retry of an append made with revision `expected`: same ids at the next revisions."""
        if not events or expected >= last:
            return None
        rows = self.store._writer.execute(
            "SELECT event_id, revision, position FROM records"
            " WHERE stream = ? AND revision > ? AND revision <= ? ORDER BY revision",
            (stream, expected, expected + len(events)),
        ).fetchall()
        if not rows or rows[0][0] != events[0].event_id:
            return None
        if len(rows) != len(events) or any(
            row[0] != event.event_id for row, event in zip(rows, events, strict=False)
        ):
            raise WrongExpectedVersion(stream, expected, last)
        return AppendResult(rows[-1][1], rows[-1][2])

    def _weak_retry(
        self, stream: str, expected: int, events: Sequence[ProposedEvent], last: int
    ) -> AppendResult | None:
        """A retry of an ANY/EXISTS append: its event ids are already in this stream."""
        if not events:
            return None
        found = None
        for index, event in enumerate(events):
            row = self.find_id(stream, event.event_id)
            if row is None:
                if index == 0:
                    return None
                raise WrongExpectedVersion(stream, expected, last)
            found = row
        assert found is not None
        return AppendResult(found[0], found[1])

    def soft_delete(self, stream: str, expected: int) -> int:
        kind, last = self.state(stream)
        if kind == "T":
            raise StreamDeletedError(stream)
        if kind == "N":
            raise WrongExpectedVersion(stream, expected, -1)
        self._check_delete(stream, expected, kind, last)
        return self.write_metadata(stream, SOFT_DELETE_DATA).position

    def tombstone(self, stream: str, expected: int) -> int:
        kind, last = self.state(stream)
        if kind == "T":
            raise StreamDeletedError(stream)
        if kind == "N" and expected in (EXISTS,):
            raise WrongExpectedVersion(stream, expected, -1)
        self._check_delete(stream, expected, kind, last)
        event = ProposedEvent(str(uuid.uuid4()), TOMBSTONE_TYPE, False, b"", b"")
        return self.write(stream, MAX_REVISION, event).position

    @staticmethod
    def _check_delete(stream: str, expected: int, kind: str, last: int) -> None:
        if expected == NO_STREAM and kind == "E":
            raise WrongExpectedVersion(stream, expected, last)
        if expected == EXISTS and kind == "S":
            raise StreamDeletedError(stream)
        if expected >= 0 and (kind in ("N", "M") or expected != last):
            raise WrongExpectedVersion(stream, expected, -1 if kind in ("N", "M") else last)
