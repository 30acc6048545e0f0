"""SQLite storage of the embedded node: one append-only log, KurrentDB's stream rules.

Writes go through group commit: every caller queues its operation, and whichever caller holds
the commit lock runs all queued operations in one SQLite transaction (one fsync), each inside a
savepoint so one refused operation does not undo the others. Readers use a small pool of
read-only connections (WAL gives them consistent snapshots). The newest records are also kept
in a bounded in-memory ring from which live subscriptions are served.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .records import (
    ANY,
    EXISTS,
    MAX_REVISION,
    METADATA_TYPE,
    NO_STREAM,
    TOMBSTONE_TYPE,
    AppendResult,
    ProposedEvent,
    Record,
    StoreClosed,
    StoreError,
    StreamDeleted,
    WrongExpectedVersion,
    is_metastream,
    metastream_of,
)

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    revision INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    is_json INTEGER NOT NULL,
    data BLOB NOT NULL,
    metadata BLOB NOT NULL,
    created INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_stream_revision ON records (stream, revision);
DROP INDEX IF EXISTS records_event_id;
"""
INSERT = (
    "INSERT INTO records (position, stream, revision, event_id, type, is_json, data, metadata,"
    " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT = (
    "SELECT position, stream, revision, event_id, type, is_json, data, metadata, created"
    " FROM records "
)
SOFT_DELETE_DATA = b'{"$tb":9223372036854775807}'
BATCH = 512  # rows fetched per query by readers
HEAD_CACHE_SIZE = 50_000
# ANY/EXISTS retries are recognised among this many recent writes, as KurrentDB does with its
# cache of recent commits (an index of every event id would double the cost of each commit).
RECENT_IDS = 50_000
CHECKPOINT_SECONDS = 1.0
RING_MAX_RECORDS = 20_000
RING_MAX_BYTES = 16 * 1024 * 1024


class StreamNotFound(StoreError):
    """A stream read found no visible stream (never written, metadata only, or soft-deleted)."""


class StorageFailure(StoreError):
    """SQLite refused the commit (disk full, I/O error); nothing of the batch was written."""


def now_ticks() -> int:
    return time.time_ns() // 100


def parse_metadata(data: bytes, is_json: bool) -> dict[str, Any]:
    """Stream metadata is the JSON object of the last metastream event; anything else is {}."""
    if not is_json:
        return {}
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _int_value(meta: dict[str, Any], key: str) -> int | None:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


class _Head:
    """What the writer needs to know about one stream."""

    __slots__ = ("last", "meta", "tombstoned")

    def __init__(self, last: int = -1, tombstoned: bool = False, meta: dict | None = None):
        self.last = last  # last revision, -1 when the stream has no events
        self.tombstoned = tombstoned
        self.meta = meta  # metastreams only: the parsed data of their last event

    def copy(self) -> _Head:
        return _Head(self.last, self.tombstoned, self.meta)


class _Txn:
    """The staged effect of queued operations; merged into its parent or the store on success."""

    def __init__(self, store: Store, parent: _Txn | None = None) -> None:
        self.store = store
        self.parent = parent
        self.heads: dict[str, _Head] = {}
        self.records: list[Record] = []
        self.ids: dict[tuple[str, str], tuple[int, int]] = {}
        self.next_position = parent.next_position if parent else store._last_position + 1
        self.now = parent.now if parent else now_ticks()

    def child(self) -> _Txn:
        return _Txn(self.store, self)

    def merge(self, child: _Txn) -> None:
        self.heads.update(child.heads)
        self.records.extend(child.records)
        self.ids.update(child.ids)
        self.next_position = child.next_position

    def find_id(self, stream: str, event_id: str) -> tuple[int, int] | None:
        """(revision, position) of a recent event with this id in this stream."""
        key = (stream, event_id)
        txn: _Txn | None = self
        while txn is not None:
            found = txn.ids.get(key)
            if found is not None:
                return found
            txn = txn.parent
        return self.store._recent_ids.get(key)

    def head(self, stream: str) -> _Head:
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
            if self.head(stream[2:]).tombstoned:
                return "T", head.last
            return ("E" if head.last >= 0 else "N"), head.last
        if head.tombstoned:
            return "T", head.last
        meta_head = self.head(metastream_of(stream))
        if _int_value(meta_head.meta or {}, "$tb") == MAX_REVISION:
            return "S", head.last
        if head.last >= 0:
            return "E", head.last
        return ("M" if meta_head.last >= 0 else "N"), head.last

    # -- writes ----------------------------------------------------------------------------

    def write(self, stream: str, revision: int, event: ProposedEvent) -> Record:
        record = Record(
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
        self.next_position += 1
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

    def _write_many(self, stream: str, first: int, events: Sequence[ProposedEvent]) -> Record:
        """Append events at revisions first, first+1, ...; returns the last record."""
        if is_metastream(stream) or len(events) == 1:
            for offset, event in enumerate(events):
                record = self.write(stream, first + offset, event)
            return record
        position, now, ids = self.next_position, self.now, self.ids
        records = [
            Record(position + n, stream, first + n, e[0], e[1], e[2], e[3], e[4], now)
            for n, e in enumerate(events)
        ]
        for record in records:
            ids[(stream, record.event_id)] = (record.revision, record.position)
        self.records.extend(records)
        self.next_position = position + len(records)
        self.head(stream).last = records[-1].revision
        return records[-1]

    def write_metadata(self, stream: str, meta: dict[str, Any] | bytes) -> Record:
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
            raise StreamDeleted(stream)
        undelete = kind == "S"
        if expected in (ANY, EXISTS):
            if expected == EXISTS and kind == "N":
                raise WrongExpectedVersion(stream, expected, -1)
            if expected == EXISTS and kind == "S":
                raise StreamDeleted(stream)
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
            return AppendResult(last, self.next_position - 1)
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
            raise StreamDeleted(stream)
        if kind == "N":
            raise WrongExpectedVersion(stream, expected, -1)
        self._check_delete(stream, expected, kind, last)
        return self.write_metadata(stream, SOFT_DELETE_DATA).position

    def tombstone(self, stream: str, expected: int) -> int:
        kind, last = self.state(stream)
        if kind == "T":
            raise StreamDeleted(stream)
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
            raise StreamDeleted(stream)
        if expected >= 0 and (kind in ("N", "M") or expected != last):
            raise WrongExpectedVersion(stream, expected, -1 if kind in ("N", "M") else last)


class _RecentIds:
    """The ids of at least the last `size` writes: two dict generations, no per-item eviction."""

    def __init__(self, size: int) -> None:
        self._half = max(1, size // 2)
        self._current: dict = {}
        self._previous: dict = {}

    def get(self, key):
        found = self._current.get(key)
        return self._previous.get(key) if found is None else found

    def update(self, items) -> None:
        current = self._current
        for key, value in items:
            current[key] = value
            if len(current) >= self._half:
                self._previous, self._current = current, {}
                current = self._current


class _Op:
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[_Txn], Any]) -> None:
        self.fn = fn
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class Store:
    """The node's database. Thread-safe; `close()` releases every connection."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, durable: bool = True):
        self._tempdir: str | None = None
        if path is None or str(path) == ":memory:":
            self._tempdir = tempfile.mkdtemp(prefix="kurrent-node-")
            path = os.path.join(self._tempdir, "node.sqlite3")
            durable = False
        self.path = str(path)
        self._durable = durable
        self._writer = self._connect(cache_kib=16 * 1024)
        self._writer.executescript(SCHEMA)
        # Checkpoints run in a background thread, not inside a writer's commit.
        self._writer.execute("PRAGMA wal_autocheckpoint = 0")
        self._closed = False
        self._closing = threading.Event()
        self._commit_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[_Op] = []
        self._heads: OrderedDict[str, _Head] = OrderedDict()
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self.changed = threading.Condition()
        row = self._writer.execute("SELECT max(position) FROM records").fetchone()
        self._last_position: int = row[0] or 0
        self._ring: list[Record] = []
        self._ring_first = self._last_position + 1  # position of _ring[0]
        self._ring_bytes = 0
        self._recent_ids = _RecentIds(RECENT_IDS)
        self._recent_ids.update(
            ((stream, event_id), (revision, position))
            for stream, event_id, revision, position in reversed(
                self._writer.execute(
                    "SELECT stream, event_id, revision, position FROM records"
                    " ORDER BY position DESC LIMIT ?",
                    (RECENT_IDS,),
                ).fetchall()
            )
        )
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="kurrent-node-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        conn = self._connect(cache_kib=256)
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as error:
                    log.warning("WAL checkpoint failed: %s", error)
        finally:
            conn.close()

    def _connect(self, *, cache_kib: int, readonly: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {'FULL' if self._durable else 'OFF'}")
        else:
            conn.execute("PRAGMA query_only = 1")
        conn.execute(f"PRAGMA cache_size = -{cache_kib}")
        return conn

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def last_position(self) -> int:
        """Position of the newest committed record (0 when the log is empty)."""
        return self._last_position

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self.changed:
            self._closed = True
            self._closing.set()
            self.changed.notify_all()
        self._checkpointer.join(5)
        with self._commit_lock:
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with contextlib.suppress(sqlite3.Error):
                self._writer.close()
            with self._pool_lock:
                for conn in self._pool:
                    conn.close()
                self._pool.clear()
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)

    # -- writes ----------------------------------------------------------------------------

    def append(self, stream: str, expected: int, events: Sequence[ProposedEvent]) -> AppendResult:
        return self._submit(lambda txn: txn.append(stream, expected, events))

    def append_many(
        self, requests: Sequence[tuple[str, int, Sequence[ProposedEvent]]]
    ) -> list[AppendResult]:
        """Several streams in one atomic write (all or nothing)."""
        return self._submit(
            lambda txn: [txn.append(stream, exp, events) for stream, exp, events in requests]
        )

    def delete(self, stream: str, expected: int) -> int:
        return self._submit(lambda txn: txn.soft_delete(stream, expected))

    def tombstone(self, stream: str, expected: int) -> int:
        return self._submit(lambda txn: txn.tombstone(stream, expected))

    def _submit(self, fn: Callable[[_Txn], Any]) -> Any:
        op = _Op(fn)
        with self._pending_lock:
            self._pending.append(op)
        with self._commit_lock:
            if not op.done:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._run_batch(batch)
        if op.error is not None:
            raise op.error
        return op.result

    def _run_batch(self, batch: list[_Op]) -> None:
        if self._closed:
            for op in batch:
                op.error, op.done = StoreClosed("the node is stopping"), True
            return
        conn = self._writer
        txn = _Txn(self)
        if len(batch) == 1:
            self._run_one(batch[0], txn)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                child = txn.child()
                conn.execute("SAVEPOINT op")
                try:
                    op.result = op.fn(child)
                    if child.records:
                        conn.executemany(INSERT, child.records)
                except Exception as error:
                    conn.execute("ROLLBACK TO op")
                    if not isinstance(error, StoreError):
                        log.exception("unexpected error in a write; it was rolled back")
                        error = StorageFailure(f"internal error: {error}")
                    op.error = error
                    op.result = None
                else:
                    txn.merge(child)
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            failure = StorageFailure(f"storage error: {error}")
            for op in batch:
                if op.error is None:
                    op.error, op.result = failure, None
                op.done = True
            return
        self._publish(txn)
        for op in batch:
            op.done = True

    def _run_one(self, op: _Op, txn: _Txn) -> None:
        """A batch of one operation needs no savepoint: on any error the transaction rolls back."""
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                op.result = op.fn(txn)
                if txn.records:
                    conn.executemany(INSERT, txn.records)
            except Exception as error:
                conn.execute("ROLLBACK")
                if not isinstance(error, StoreError):
                    log.exception("unexpected error in a write; it was rolled back")
                    error = StorageFailure(f"internal error: {error}")
                op.error, op.result, op.done = error, None, True
                return
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            op.error, op.result, op.done = StorageFailure(f"storage error: {error}"), None, True
            return
        self._publish(txn)
        op.done = True

    def _publish(self, txn: _Txn) -> None:
        for name, head in txn.heads.items():
            self._heads[name] = head
            self._heads.move_to_end(name)
        while len(self._heads) > HEAD_CACHE_SIZE:
            self._heads.popitem(last=False)
        self._recent_ids.update(txn.ids.items())
        if not txn.records:
            return
        with self.changed:
            self._ring.extend(txn.records)
            self._ring_bytes += sum(len(r.data) + len(r.metadata) + 200 for r in txn.records)
            self._last_position = txn.records[-1].position
            if len(self._ring) > RING_MAX_RECORDS or self._ring_bytes > RING_MAX_BYTES:
                self._trim_ring()
            self.changed.notify_all()

    def _trim_ring(self) -> None:
        keep = len(self._ring) // 2
        dropped = self._ring[:-keep] if keep else self._ring
        self._ring = self._ring[-keep:] if keep else []
        self._ring_bytes -= sum(len(r.data) + len(r.metadata) + 200 for r in dropped)
        self._ring_first = self._last_position + 1 - len(self._ring)
        if self._ring_bytes > RING_MAX_BYTES:
            self._ring, self._ring_bytes = [], 0
            self._ring_first = self._last_position + 1

    def _load_head(self, stream: str) -> _Head:
        """Committed state of a stream (writer only: runs under the commit lock)."""
        head = self._heads.get(stream)
        if head is not None:
            self._heads.move_to_end(stream)
            return head
        last, tombstoned = _read_head(self._writer, stream)
        meta = None
        if is_metastream(stream) and last >= 0:
            data, is_json = self._writer.execute(
                "SELECT data, is_json FROM records WHERE stream = ? AND revision = ?",
                (stream, last),
            ).fetchone()
            meta = parse_metadata(data, bool(is_json))
        head = self._heads[stream] = _Head(last, tombstoned, meta)
        if len(self._heads) > HEAD_CACHE_SIZE:
            self._heads.popitem(last=False)
        return head

    # -- reads -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StoreClosed("the node is stopping")
        with self._pool_lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._connect(cache_kib=2048, readonly=True)
        try:
            yield conn
        finally:
            with self._pool_lock:
                if self._closed or len(self._pool) >= 16:
                    conn.close()
                else:
                    self._pool.append(conn)

    def stream_view(self, stream: str) -> StreamView:
        """The visible part of a stream (protocol §3.7); raises StreamDeleted / StreamNotFound."""
        with self.reader() as conn:
            conn.execute("BEGIN")
            try:
                return _stream_view(conn, stream, self._last_position)
            finally:
                conn.execute("COMMIT")

    def stream_last_revision(self, stream: str) -> int:
        """Last revision of a stream as committed (-1 for none), ignoring metadata."""
        with self.reader() as conn:
            return _read_head(conn, stream)[0]

    def read_stream(
        self, view: StreamView, revision: int | None, backwards: bool, upto: int | None = None
    ) -> Iterator[Record]:
        """Visible events of a stream from `revision` (inclusive) in either direction.

        `upto` bounds records by position (subscriptions catch up to a known point).
        """
        upto = view.position_bound if upto is None else upto
        if backwards:
            cursor = view.last if revision is None else min(revision, view.last)
            while cursor >= view.low:
                rows = self._query(
                    SELECT + "WHERE stream = ? AND revision <= ?"
                    " AND revision >= ? AND position <= ? ORDER BY revision DESC LIMIT ?",
                    (view.stream, cursor, view.low, upto, BATCH),
                )
                for row in rows:
                    if row[8] >= view.min_created:
                        yield Record(*row)
                if len(rows) < BATCH:
                    return
                cursor = rows[-1][2] - 1
        else:
            cursor = max(revision or 0, view.low)
            while cursor <= view.last:
                rows = self._query(
                    SELECT + "WHERE stream = ? AND revision >= ?"
                    " AND revision <= ? AND position <= ? ORDER BY revision LIMIT ?",
                    (view.stream, cursor, view.last, upto, BATCH),
                )
                for row in rows:
                    if row[8] >= view.min_created:
                        yield Record(*row)
                if len(rows) < BATCH:
                    return
                cursor = rows[-1][2] + 1

    def read_all(
        self, position: int | None, backwards: bool, upto: int | None = None
    ) -> Iterator[Record]:
        """Records of the log: forwards from `position` inclusive, backwards before it."""
        end = self._last_position if upto is None else upto
        if backwards:
            cursor = end if position is None else min(position - 1, end)
            while cursor >= 1:
                rows = self._query(
                    SELECT + "WHERE position <= ? AND position > ? ORDER BY position DESC",
                    (cursor, cursor - BATCH),
                )
                for row in rows:
                    yield Record(*row)
                cursor -= BATCH
        else:
            cursor = max(position or 1, 1)
            while cursor <= end:
                stop = min(cursor + BATCH - 1, end)
                rows = self._query(
                    SELECT + "WHERE position >= ? AND position <= ? ORDER BY position",
                    (cursor, stop),
                )
                for row in rows:
                    yield Record(*row)
                cursor = stop + 1

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self.reader() as conn:
            return conn.execute(sql, params).fetchall()

    def resolve_link(self, link: Record) -> Record | None:
        """The visible target of a `$>` link event, or None."""
        try:
            text = link.data.decode()
            revision_text, _, stream = text.partition("@")
            revision = int(revision_text)
            view = self.stream_view(stream)
        except (UnicodeDecodeError, ValueError, StoreError):
            return None
        if revision < view.low or revision > view.last:
            return None
        rows = self._query(SELECT + "WHERE stream = ? AND revision = ?", (stream, revision))
        if not rows or rows[0][8] < view.min_created:
            return None
        return Record(*rows[0])

    # -- live fan-out ------------------------------------------------------------------------

    def wait_beyond(self, position: int, timeout: float) -> bool:
        """Block until a record after `position` is committed; False on timeout or close."""
        with self.changed:
            if self._last_position > position:
                return True
            if self._closed:
                return False
            self.changed.wait(timeout)
            return self._last_position > position and not self._closed

    def wake_all(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def records_after(self, position: int, limit: int = BATCH) -> list[Record]:
        """Committed records after `position`, from the ring when it still holds them."""
        with self.changed:
            index = position + 1 - self._ring_first
            if index >= 0:
                return self._ring[index : index + limit]
            end = self._last_position
        return [
            Record(*row)
            for row in self._query(
                SELECT + "WHERE position > ? AND position <= ? ORDER BY position",
                (position, min(position + limit, end)),
            )
        ]


class StreamView(tuple):
    """(stream, last, low, min_created, position_bound) of a readable stream."""

    __slots__ = ()

    def __new__(cls, stream: str, last: int, low: int, min_created: int, position_bound: int):
        return tuple.__new__(cls, (stream, last, low, min_created, position_bound))

    stream = property(lambda self: self[0])
    last = property(lambda self: self[1])  # last revision
    low = property(lambda self: self[2])  # lowest visible revision
    min_created = property(lambda self: self[3])  # events created before are hidden ($maxAge)
    position_bound = property(lambda self: self[4])


def _read_head(conn: sqlite3.Connection, stream: str) -> tuple[int, bool]:
    rows = conn.execute(
        "SELECT revision FROM records WHERE stream = ? ORDER BY revision DESC LIMIT 2", (stream,)
    ).fetchall()
    if rows and rows[0][0] == MAX_REVISION:
        return (rows[1][0] if len(rows) > 1 else -1), True
    return (rows[0][0] if rows else -1), False


def _stream_view(conn: sqlite3.Connection, stream: str, position_bound: int) -> StreamView:
    if is_metastream(stream) and _read_head(conn, stream[2:])[1]:
        raise StreamDeleted(stream)
    last, tombstoned = _read_head(conn, stream)
    if tombstoned:
        raise StreamDeleted(stream)
    meta: dict[str, Any] = {}
    if not is_metastream(stream):
        row = conn.execute(
            "SELECT data, is_json FROM records WHERE stream = ? ORDER BY revision DESC LIMIT 1",
            (metastream_of(stream),),
        ).fetchone()
        if row:
            meta = parse_metadata(row[0], bool(row[1]))
    if last < 0 or _int_value(meta, "$tb") == MAX_REVISION:
        raise StreamNotFound(stream)
    low = 0
    truncate_before = _int_value(meta, "$tb")
    if truncate_before is not None and truncate_before > 0:
        low = truncate_before
    max_count = _int_value(meta, "$maxCount")
    if max_count is not None and max_count >= 1:
        low = max(low, last - max_count + 1)
    if is_metastream(stream):
        low = last  # a metastream keeps only its newest event
    min_created = 0
    max_age = _int_value(meta, "$maxAge")
    if max_age is not None and max_age >= 1:
        min_created = now_ticks() - max_age * 10_000_000
    return StreamView(stream, last, low, min_created, position_bound)
