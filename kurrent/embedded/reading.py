"""The read side of the node's database: stream and `$all` reads, link resolution, and the
records after a position (from the in-memory ring when it still holds them).

A mixin of `Store`, kept apart so that each module stays readable; it uses the store's pool of
read-only connections (`reader`), its ring and its last published position.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from bisect import bisect_right
from collections.abc import Iterator

from .readable import StreamView, read_head
from .readable import stream_view as stream_view_of
from .records import StoreClosed, StoredEvent, StoreError

SELECT = (
    "SELECT position, stream, revision, event_id, type, is_json, data, metadata, created"
    " FROM records "
)
BATCH = 512  # rows fetched per query by readers


class Reads:
    """Reads of `Store` (which sets the attributes declared here)."""

    path: str
    changed: threading.Condition
    _closed: bool
    _last_position: int
    _pool: list[sqlite3.Connection]
    _pool_lock: threading.Lock
    _ring: list[StoredEvent]

    def _connect(self, *, cache_kib: int, readonly: bool = False) -> sqlite3.Connection:
        raise NotImplementedError

    def is_record_position(self, position: int) -> bool:
        """True when a record starts at `position`."""
        with self.changed:
            ring = self._ring
            if ring and ring[0].position <= position:
                index = bisect_right(ring, position, key=_position) - 1
                return index >= 0 and ring[index].position == position
        rows = self._query("SELECT 1 FROM records WHERE position = ?", (position,))
        return bool(rows)

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
        """The visible part of a stream (protocol §3.7); raises StreamDeletedError / StreamNotFound."""
        with self.reader() as conn:
            conn.execute("BEGIN")
            try:
                return stream_view_of(conn, stream, self._last_position)
            finally:
                conn.execute("COMMIT")

    def stream_last_revision(self, stream: str) -> int:
        """Last revision of a stream as committed (-1 for none), ignoring metadata."""
        with self.reader() as conn:
            return read_head(conn, stream)[0]

    def read_stream(
        self, view: StreamView, revision: int | None, backwards: bool, upto: int | None = None
    ) -> Iterator[StoredEvent]:
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
                        yield StoredEvent(*row)
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
                        yield StoredEvent(*row)
                if len(rows) < BATCH:
                    return
                cursor = rows[-1][2] + 1

    def read_all(
        self, position: int | None, backwards: bool, upto: int | None = None
    ) -> Iterator[StoredEvent]:
        """Records of the log: forwards from `position` inclusive, backwards before it."""
        end = self._last_position if upto is None else upto
        if backwards:
            below = end + 1 if position is None else min(position, end + 1)
            while True:
                rows = self._query(
                    SELECT + "WHERE position < ? ORDER BY position DESC LIMIT ?", (below, BATCH)
                )
                for row in rows:
                    yield StoredEvent(*row)
                if len(rows) < BATCH:
                    return
                below = rows[-1][0]
        else:
            after = (position or 1) - 1
            while after < end:
                rows = self._query(
                    SELECT + "WHERE position > ? AND position <= ? ORDER BY position LIMIT ?",
                    (after, end, BATCH),
                )
                for row in rows:
                    yield StoredEvent(*row)
                if len(rows) < BATCH:
                    return
                after = rows[-1][0]

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self.reader() as conn:
            return conn.execute(sql, params).fetchall()

    def resolve_link(self, link: StoredEvent) -> StoredEvent | None:
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
        return StoredEvent(*rows[0])

    # -- live fan-out ------------------------------------------------------------------------

    def records_after(self, position: int, limit: int = BATCH) -> list[StoredEvent]:
        """Committed records after `position`, from the ring when it still holds them."""
        with self.changed:
            ring = self._ring
            if ring and ring[0].position <= position + 1:
                index = bisect_right(ring, position, key=_position)
                return ring[index : index + limit]
            end = self._last_position
        return [
            StoredEvent(*row)
            for row in self._query(
                SELECT + "WHERE position > ? AND position <= ? ORDER BY position LIMIT ?",
                (position, end, limit),
            )
        ]


def _position(record: StoredEvent) -> int:
    return record.position
