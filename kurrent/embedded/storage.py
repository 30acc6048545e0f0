"""SQLite storage of the embedded node: one append-only log, group commit, reads, live fan-out.

Writes go through group commit: every caller queues its operation, and whichever caller holds
the commit lock runs all queued operations in one SQLite transaction (one fsync), each inside a
savepoint so one refused operation does not undo the others. Readers use a small pool of
read-only connections (WAL gives them consistent snapshots). The newest records are also kept
in a bounded in-memory ring, and each commit is announced to listeners (the live fan-out).

Positions are log offsets, as in KurrentDB: each record's position is the previous one's plus
the previous record's size (`records.record_size`), so they grow with what was written and
"position + 1" is never the next record. Readers page by keyset (`position > ?`), never by
position arithmetic.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .readable import read_head
from .reading import SELECT, Reads
from .records import (
    AppendResult,
    ProposedEvent,
    StoreClosed,
    StoredEvent,
    StoreError,
    is_metastream,
    record_size,
)
from .rules import Head, Txn, parse_metadata
from .seed import system_records

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
HEAD_CACHE_SIZE = 50_000
# ANY/EXISTS retries are recognised among this many recent writes, as KurrentDB does with its
# cache of recent commits (an index of every event id would double the cost of each commit).
RECENT_IDS = 50_000
CHECKPOINT_SECONDS = 1.0
RING_MAX_RECORDS = 20_000
RING_MAX_BYTES = 16 * 1024 * 1024
FIRST_POSITION = 128  # a KurrentDB chunk begins with a 128-byte header; no record is at 0


class StorageFailure(StoreError):
    """SQLite refused the commit (disk full, I/O error); nothing of the batch was written."""


def _write_error(error: Exception) -> StoreError:
    """What a failed write reports: a StoreError as it is, anything else logged and wrapped.

    Call it inside the `except` block, so that the log carries the traceback.
    """
    if isinstance(error, StoreError):
        return error
    log.exception("unexpected error in a write; it was rolled back")
    return StorageFailure(f"internal error: {error}")


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

    def __init__(self, fn: Callable[[Txn], Any]) -> None:
        self.fn = fn
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class Store(Reads):
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
        self._heads: OrderedDict[str, Head] = OrderedDict()
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self.changed = threading.Condition()
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []
        row = self._writer.execute(SELECT + "ORDER BY position DESC LIMIT 1").fetchone()
        if row is None:
            self._last_position = 0
            self._next_position = FIRST_POSITION
            self._seed()
        else:
            last = StoredEvent(*row)
            self._last_position: int = last.position
            self._next_position = last.position + record_size(last)
        self._ring: list[StoredEvent] = []
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

    def _seed(self) -> None:
        """A fresh log begins with the system records a new KurrentDB writes (protocol §3.9)."""
        records = system_records(self._next_position)
        self._writer.execute("BEGIN IMMEDIATE")
        self._writer.executemany(INSERT, records)
        self._writer.execute("COMMIT")
        self._last_position = records[-1].position
        self._next_position = records[-1].position + record_size(records[-1])

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
    def next_position(self) -> int:
        """Position the next record will get (writer only: under the commit lock)."""
        return self._next_position

    @property
    def closed(self) -> bool:
        return self._closed

    def add_listener(self, listener: Callable[[list[StoredEvent]], None]) -> None:
        """Call `listener(records)` after each commit, in log order, on the writer's thread."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[list[StoredEvent]], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

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

    def _submit(self, fn: Callable[[Txn], Any]) -> Any:
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
        txn = Txn(self)
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
                    op.error = _write_error(error)
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

    def _run_one(self, op: _Op, txn: Txn) -> None:
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
                op.error, op.result, op.done = _write_error(error), None, True
                return
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            op.error, op.result, op.done = StorageFailure(f"storage error: {error}"), None, True
            return
        self._publish(txn)
        op.done = True

    def _publish(self, txn: Txn) -> None:
        for name, head in txn.heads.items():
            self._heads[name] = head
            self._heads.move_to_end(name)
        while len(self._heads) > HEAD_CACHE_SIZE:
            self._heads.popitem(last=False)
        self._recent_ids.update(txn.ids.items())
        if not txn.records:
            return
        records = txn.records
        with self.changed:
            ring = self._ring
            ring.extend(records)
            self._last_position = records[-1].position
            self._next_position = txn.next_position
            # The ring is a contiguous stretch of the log, so its size is a difference of
            # positions (log offsets): no per-record sum on the write path.
            if len(ring) > RING_MAX_RECORDS or self._ring_bytes > RING_MAX_BYTES:
                self._trim_ring()
            self.changed.notify_all()
        for listener in self._listeners:
            try:
                listener(records)
            except Exception:
                log.exception("a commit listener failed")

    @property
    def _ring_bytes(self) -> int:
        """Bytes of log the ring holds (its records are contiguous, from ring[0] on)."""
        return self._next_position - self._ring[0].position if self._ring else 0

    def _trim_ring(self) -> None:
        keep = len(self._ring) // 2
        self._ring = self._ring[-keep:] if keep else []
        if self._ring_bytes > RING_MAX_BYTES:
            self._ring = []

    def _load_head(self, stream: str) -> Head:
        """Committed state of a stream (writer only: runs under the commit lock)."""
        head = self._heads.get(stream)
        if head is not None:
            self._heads.move_to_end(stream)
            return head
        last, tombstoned = read_head(self._writer, stream)
        meta = None
        if is_metastream(stream) and last >= 0:
            data, is_json = self._writer.execute(
                "SELECT data, is_json FROM records WHERE stream = ? AND revision = ?",
                (stream, last),
            ).fetchone()
            meta = parse_metadata(data, bool(is_json))
        head = self._heads[stream] = Head(last, tombstoned, meta)
        if len(self._heads) > HEAD_CACHE_SIZE:
            self._heads.popitem(last=False)
        return head
