"""The projector: our events in $all -> read-model rows, checkpointed per environment.

Each batch of events is applied in one database transaction that also moves the
environment's checkpoint (the $all commit position of the last event applied). The
batch first locks the checkpoint row (SELECT ... FOR UPDATE; on SQLite the IMMEDIATE
transaction takes the write lock) and drops the events at or before the position it
finds, so several processes may project at once and none applies an event twice; a
crash rolls the rows back with the checkpoint. The rows also remember the stream
revision they reflect, and an event at or below it is ignored: a second guard.

Three ways to run:
- `catch_up(env, until_position)`: inline after a write (the writer sees it at once),
  and `manage.py kurrent_projector --once`;
- `run_live(env)`: a catch-up subscription to $all, filtered server-side on our
  stream prefixes, that reconnects on failure (`manage.py kurrent_projector --live`);
- `rebuild(env)`: empty the environment's tables and replay from the start.

Events of our streams that we do not understand (unknown type, malformed data, an
update before a create) are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from kurrentdbclient import NewEvent, RecordedEvent
from kurrentdbclient.exceptions import KurrentDBClientError

from kurrent import allreads, prepared
from kurrent.config import active_environment
from kurrent.connection import connections
from kurrent.domain import Entry, Record, fold_entry, fold_record, text_values
from kurrent.errors import KurrentError
from kurrent.events import (
    STREAM_PREFIXES,
    Envelope,
    StreamCreated,
    StreamDeleted,
    StreamName,
    StreamUpdated,
    UserDataDeleted,
    UserDataStored,
    UserDataUpdated,
    UserErased,
    decode,
    decode_new,
    parse_stream,
)
from kurrent.models import (
    Activity,
    ProjectionCheckpoint,
    RecordSearch,
    RecordTag,
    StreamRecord,
    UserDataEntry,
)

log = logging.getLogger("kurrent.projector")

BATCH_SIZE = 500
# A catch-up that applies this many events refreshes the planner's statistics.
ANALYZE_AFTER = 20_000
# sync_status reads at most this many pending events (whole events, up to 256 KiB each).
EVENTS_BEHIND_CAP = 200
# Test seam: called inside the transaction after the rows are written and before the
# checkpoint is saved. A failure there must roll both back.
_before_checkpoint: Callable[[str, list[Envelope]], None] | None = None


@dataclass(frozen=True)
class SyncStatus:
    """The read model against KurrentDB, for the status panel."""

    env: str
    checkpoint_position: int
    head_position: int  # commit position of the newest event of ours in $all
    events_behind: int  # capped at EVENTS_BEHIND_CAP (then `events_behind_capped`)
    seconds_behind: float  # age of the oldest event not applied yet; 0 when caught up
    skipped_events: int
    events_applied: int = 0
    last_event_at: datetime | None = None
    events_behind_capped: bool = False

    @property
    def caught_up(self) -> bool:
        return self.events_behind == 0


@dataclass(frozen=True)
class ActivityItem:
    position: int
    env: str
    event_type: str
    kind: str  # "record" | "userdata" | "erasure"
    object_id: str
    title: str
    actor: str
    recorded_at: datetime
    is_public: bool
    owner_id: int | None
    stream_name: str


def _env(env: str | None) -> str:
    return env or active_environment()


# --- reading $all ------------------------------------------------------------------------


def _read_after(env: str, position: int, limit: int) -> list[RecordedEvent]:
    """Up to `limit` events of our streams after `position`."""
    return connections.call(
        env,
        "projector_read",
        lambda client, timeout: allreads.read_after(
            client, timeout, position, STREAM_PREFIXES, limit
        ),
    )


def _head(env: str) -> RecordedEvent | None:
    return connections.call(
        env,
        "projector_head",
        lambda client, timeout: allreads.newest(client, timeout, STREAM_PREFIXES),
    )


# --- checkpoint ----------------------------------------------------------------------------


def checkpoint_position(env: str | None = None) -> int:
    env = _env(env)
    position = ProjectionCheckpoint.objects.filter(env=env).values_list("position", flat=True)
    return next(iter(position), 0)


# --- applying ------------------------------------------------------------------------------


def _apply_batch(env: str, events: list[RecordedEvent], after: int | None = None) -> int | None:
    """Apply events (in $all order) under the checkpoint lock; returns how many applied.

    `after`: the position the events follow (they are every event of ours after it,
    up to the last). If the checkpoint is short of it, nothing is applied and None is
    returned: the checkpoint was set back (a rebuild started) and moving it past these
    events would skip the ones in between; read again from the checkpoint instead."""
    outermost = not connection.in_atomic_block
    with prepared.writer_turn() if outermost else nullcontext(), transaction.atomic():
        _relaxed_commit(outermost)
        checkpoint = _lock(env)
        if after is not None and checkpoint.position < after:
            return None
        fresh = [e for e in events if e.commit_position > checkpoint.position]
        if not fresh:
            return 0
        envelopes = [decode(e) for e in fresh if not e.type.startswith("$")]
        applied, skipped = _Batch(env).run(envelopes)
        if _before_checkpoint is not None:
            _before_checkpoint(env, envelopes)
        checkpoint.position = fresh[-1].commit_position
        checkpoint.events_applied += applied
        checkpoint.skipped_events += skipped
        if envelopes:
            checkpoint.last_event_at = envelopes[-1].recorded_at
        checkpoint.save()
    if skipped:
        log.info("projector %s: skipped %d event(s) it does not understand", env, skipped)
    return applied


class _Batch:
    """Folds a batch of events into states loaded once, then writes them back in bulk."""

    def __init__(self, env: str) -> None:
        self.env = env
        self._reset()

    def _reset(self) -> None:
        """Forget loaded rows and pending writes (after they are flushed)."""
        self.records: dict[str, Record | None] = {}
        self.entries: dict[str, Entry | None] = {}
        self.record_rows: dict[str, StreamRecord] = {}
        self.entry_rows: dict[str, UserDataEntry] = {}
        self.activity: list[_ActivityRow] = []
        self.positions: dict[str, int] = {}

    def run(self, envelopes: list[Envelope]) -> tuple[int, int]:
        """Apply the batch; returns (applied, skipped)."""
        applied = skipped = 0
        segment: list[Envelope] = []
        for envelope in envelopes:
            parsed = parse_stream(envelope.stream_name)
            event = envelope.event
            if (
                isinstance(event, UserErased)
                and parsed is not None
                and parsed.kind == "erasure"
                and parsed.user_id == event.user_id
            ):
                # Write what came before, drop the user's rows, then go on afresh.
                done, missed = self._segment(segment)
                applied, skipped, segment = applied + done + 1, skipped + missed, []
                _erase_rows(self.env, event.user_id, envelope.commit_position)
                self.activity.append(_activity(self.env, envelope, "erasure", None))
                self._flush_activity()
                self._reset()
            else:
                segment.append(envelope)
        done, missed = self._segment(segment)
        return applied + done, skipped + missed

    def _segment(self, envelopes: list[Envelope]) -> tuple[int, int]:
        if not envelopes:
            return 0, 0
        self._load(envelopes)
        applied = skipped = 0
        for envelope in envelopes:
            # None: the writer applied it already (apply_written); it counts as applied.
            if self._apply(envelope) is False:
                skipped += 1
            else:
                applied += 1
        self._flush()
        return applied, skipped

    def _load(self, envelopes: list[Envelope]) -> None:
        """Load the rows these events touch, one query per kind."""
        record_ids, entry_ids = set(), set()
        for envelope in envelopes:
            parsed = parse_stream(envelope.stream_name)
            if parsed is None or parsed.kind == "erasure":
                continue
            (record_ids if parsed.kind == "record" else entry_ids).add(parsed.object_id)
        record_ids -= self.records.keys()
        entry_ids -= self.entries.keys()
        if record_ids:
            for row in StreamRecord.objects.filter(env=self.env, record_id__in=record_ids):
                self.record_rows[str(row.record_id)] = row
                self.records[str(row.record_id)] = record_from_row(row)
        if entry_ids:
            for row in UserDataEntry.objects.filter(env=self.env, entry_id__in=entry_ids):
                self.entry_rows[str(row.entry_id)] = row
                self.entries[str(row.entry_id)] = entry_from_row(row)

    def _apply(self, envelope: Envelope) -> bool | None:
        """Fold one event: True applied, False skipped (not understood), None already applied."""
        parsed = parse_stream(envelope.stream_name)
        if parsed is None or envelope.event is None:
            self._advance(parsed, envelope)
            return False
        if parsed.kind not in _KINDS:
            return False  # an erasure stream holding something else
        kind = _KINDS[parsed.kind]
        states = self.records if parsed.kind == "record" else self.entries
        state = states.get(parsed.object_id)
        if state is not None and envelope.revision <= state.version:
            return None  # already applied (the row is ahead of the checkpoint)
        if not kind.applies(state, envelope.event, parsed.user_id):
            self._advance(parsed, envelope)
            return False
        new = kind.fold(state, envelope, env_name=self.env)
        states[parsed.object_id] = new
        self.positions[parsed.object_id] = envelope.commit_position
        self.activity.append(_activity(self.env, envelope, parsed.kind, new))
        return True

    def _advance(self, parsed: Any, envelope: Envelope) -> None:
        """An event we skip still moves its row's version to the stream's revision."""
        if parsed is None:
            return
        states = self.records if parsed.kind == "record" else self.entries
        state = states.get(parsed.object_id) if parsed.kind != "erasure" else None
        if state is not None and envelope.revision > state.version:
            states[parsed.object_id] = replace(state, version=envelope.revision)
            self.positions[parsed.object_id] = envelope.commit_position

    def _flush(self) -> None:
        self._flush_records()
        self._flush_entries()
        self._flush_activity()

    def _flush_records(self) -> None:
        new_rows, changed_rows, retag = [], [], []
        visibility: dict[bool, list[str]] = {True: [], False: []}
        for record_id, state in self.records.items():
            if state is None or record_id not in self.positions:
                continue
            row = self.record_rows.get(record_id)
            if row is not None and row.is_public != state.is_public:
                visibility[state.is_public].append(record_id)
            tags_changed = row is None or tuple(row.tags) != state.tags
            row = _record_row(state, self.positions[record_id], row)
            (changed_rows if row.pk else new_rows).append(row)
            if tags_changed:
                retag.append(row)
        if new_rows:
            prepared.insert_many(StreamRecord, new_rows, ["env", "record_id", *RECORD_ROW_FIELDS])
            keys = StreamRecord.objects.filter(
                env=self.env, record_id__in=[r.record_id for r in new_rows]
            ).values_list("record_id", "pk")
            pks = {str(record_id): pk for record_id, pk in keys}
            for row in new_rows:
                row.pk = pks[str(row.record_id)]
        prepared.update_many(StreamRecord, changed_rows, RECORD_ROW_FIELDS)
        if retag:
            changed_pks = {r.pk for r in changed_rows}
            stale = [r.pk for r in retag if r.pk in changed_pks]
            if stale:
                RecordTag.objects.filter(record_id__in=stale).delete()
            tags = [RecordTag(record_id=r.pk, tag=t) for r in retag for t in r.tags]
            prepared.insert_many(RecordTag, tags, ["record", "tag"])
        for public, ids in visibility.items():
            if ids:
                Activity.objects.filter(env=self.env, kind="record", object_id__in=ids).update(
                    is_public=public
                )
        self.record_rows.update({str(r.record_id): r for r in (*new_rows, *changed_rows)})

    def _flush_entries(self) -> None:
        new_rows, changed_rows = [], []
        visibility: dict[bool, list[str]] = {True: [], False: []}
        for entry_id, state in self.entries.items():
            if state is None or entry_id not in self.positions:
                continue
            row = self.entry_rows.get(entry_id)
            if row is not None and row.is_public != state.is_public:
                visibility[state.is_public].append(entry_id)
            row = _entry_row(state, self.positions[entry_id], row)
            (changed_rows if row.pk else new_rows).append(row)
        prepared.insert_many(UserDataEntry, new_rows, ["env", "entry_id", *ENTRY_ROW_FIELDS])
        prepared.update_many(UserDataEntry, changed_rows, ENTRY_ROW_FIELDS)
        if new_rows:
            # Later events of this batch update these rows by primary key.
            keys = UserDataEntry.objects.filter(
                env=self.env, entry_id__in=[r.entry_id for r in new_rows]
            ).values_list("entry_id", "pk")
            pks = {str(entry_id): pk for entry_id, pk in keys}
            for row in new_rows:
                row.pk = pks[str(row.entry_id)]
        for public, ids in visibility.items():
            if ids:
                Activity.objects.filter(env=self.env, kind="userdata", object_id__in=ids).update(
                    is_public=public
                )
        self.entry_rows.update({str(r.entry_id): r for r in (*new_rows, *changed_rows)})

    def _flush_activity(self) -> None:
        # An item shows as its object is now: made public later in the batch, it is public.
        for item in self.activity:
            states = {"record": self.records, "userdata": self.entries}.get(item.kind)
            state = states.get(item.object_id) if states is not None else None
            if state is not None:
                item.is_public = state.is_public
        prepared.insert_many(Activity, self.activity, ACTIVITY_FIELDS)
        self.activity = []


def _record_applies(state: Record | None, event: Any) -> bool:
    if isinstance(event, StreamCreated):
        return state is None
    return isinstance(event, StreamUpdated | StreamDeleted) and state is not None


def _entry_applies(state: Entry | None, event: Any, stream_user: int | None) -> bool:
    if isinstance(event, UserDataStored):
        # The stream name says whose entry it is; an event claiming another owner is bogus.
        return state is None and event.owner_id == stream_user
    return isinstance(event, UserDataUpdated | UserDataDeleted) and state is not None


@dataclass
class _ActivityRow:
    """The values of one Activity row (model instances cost more than the write)."""

    env: str
    position: int
    stream_name: str
    event_type: str
    kind: str
    object_id: str
    title: str
    actor_name: str
    owner_id: int | None
    is_public: bool
    recorded_at: datetime


def _activity(
    env: str, envelope: Envelope, kind: str, state: Record | Entry | None
) -> _ActivityRow:
    if isinstance(state, Record):
        title, owner_id, public = state.name, state.owner_id, state.is_public
    elif isinstance(state, Entry):
        title = f"{state.entry_type}: {state.category}"
        owner_id, public = state.owner_id, state.is_public
    else:
        title, owner_id, public = "", None, False
    parsed = parse_stream(envelope.stream_name)
    return _ActivityRow(
        env=env,
        position=envelope.commit_position,
        stream_name=envelope.stream_name[:200],
        event_type=envelope.event_type[:100],
        kind=kind,
        object_id=parsed.object_id if parsed else "",
        title=title[:200],
        actor_name=envelope.meta.actor[:150],
        owner_id=owner_id,
        is_public=public,
        recorded_at=envelope.recorded_at,
    )


@dataclass(frozen=True)
class _Kind:
    model: Any
    id_field: str
    fold: Callable[..., Any]
    applies: Callable[[Any, Any, int | None], bool]
    to_row: Callable[[Any, int, Any], Any]
    fields: list[str]


ACTIVITY_FIELDS = [
    "env",
    "position",
    "stream_name",
    "event_type",
    "kind",
    "object_id",
    "title",
    "actor_name",
    "owner_id",
    "is_public",
    "recorded_at",
]
RECORD_ROW_FIELDS = [
    "name",
    "data",
    "tags",
    "owner",
    "owner_name",
    "is_public",
    "metadata",
    "version",
    "created_at",
    "updated_at",
    "deleted",
    "last_event_id",
    "position",
    "data_text",
]
ENTRY_ROW_FIELDS = [
    "owner",
    "owner_name",
    "entry_type",
    "category",
    "key",
    "value",
    "tags",
    "is_public",
    "version",
    "created_at",
    "updated_at",
    "deleted",
    "last_event_id",
    "position",
    "search_text",
]


def _record_row(state: Record, position: int, row: StreamRecord | None) -> StreamRecord:
    row = row or StreamRecord(env=state.env, record_id=state.id)
    row.name = state.name
    row.data = state.data
    row.tags = list(state.tags)
    row.owner_id = state.owner_id
    row.owner_name = state.owner[:150]
    row.is_public = state.is_public
    row.metadata = state.metadata
    row.version = state.version
    row.created_at = state.created_at
    row.updated_at = state.updated_at
    row.deleted = state.deleted
    row.last_event_id = state.last_event_id
    row.position = position
    row.data_text = text_values(state.data)
    return row


def record_from_row(row: StreamRecord) -> Record:
    return Record(
        id=str(row.record_id),
        name=row.name,
        data=row.data,
        tags=tuple(row.tags),
        owner=row.owner_name,
        owner_id=row.owner_id,
        is_public=row.is_public,
        metadata=row.metadata,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted=row.deleted,
        env=row.env,
        last_event_id=row.last_event_id,
    )


def _entry_row(state: Entry, position: int, row: UserDataEntry | None) -> UserDataEntry:
    row = row or UserDataEntry(env=state.env, entry_id=state.id)
    row.owner_id = state.owner_id
    row.owner_name = state.owner[:150]
    row.entry_type = state.entry_type
    row.category = state.category
    row.key = state.key
    row.value = state.value
    row.tags = list(state.tags)
    row.is_public = state.is_public
    row.version = state.version
    row.created_at = state.created_at
    row.updated_at = state.updated_at
    row.deleted = state.deleted
    row.last_event_id = state.last_event_id
    row.position = position
    row.search_text = " ".join(
        [state.category, *state.tags, state.key, text_values(state.value)]
    ).lower()[:100_000]
    return row


def entry_from_row(row: UserDataEntry) -> Entry:
    return Entry(
        id=str(row.entry_id),
        owner=row.owner_name,
        owner_id=row.owner_id,
        entry_type=row.entry_type,
        category=row.category,
        value=row.value,
        tags=tuple(row.tags),
        is_public=row.is_public,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        env=row.env,
        key=row.key,
        deleted=row.deleted,
        last_event_id=row.last_event_id,
    )


_KINDS = {
    "record": _Kind(
        model=StreamRecord,
        id_field="record_id",
        fold=fold_record,
        applies=lambda state, event, user: _record_applies(state, event),
        to_row=_record_row,
        fields=RECORD_ROW_FIELDS,
    ),
    "userdata": _Kind(
        model=UserDataEntry,
        id_field="entry_id",
        fold=fold_entry,
        applies=_entry_applies,
        to_row=_entry_row,
        fields=ENTRY_ROW_FIELDS,
    ),
}


def _delete_where(model: Any, where: str, params: list[Any]) -> None:
    """A plain DELETE: no row-by-row cascade collection (a rebuild drops 100,000s)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE {where}", params)  # noqa: S608


def _erase_rows(env: str, user_id: int, before_position: int) -> None:
    """Drop the read-model rows of one user written before the erasure (in the transaction).

    Rows changed after it (the user started afresh) stay, whatever order the writer's
    shortcut and the projector applied things in."""
    records = StreamRecord._meta.db_table
    where = "env = %s AND owner_id = %s AND position < %s"
    params = [env, user_id, before_position]
    _delete_where(RecordTag, f"record_id IN (SELECT id FROM {records} WHERE {where})", params)  # noqa: S608
    _delete_where(StreamRecord, where, params)
    _delete_where(UserDataEntry, where, params)
    _delete_where(Activity, where, params)


# --- the writer's shortcut -------------------------------------------------------------------


def apply_written(
    env: str | None,
    new_event: NewEvent,
    *,
    stream: str,
    before: Record | Entry | None,
    position: int,
    event: Any = None,
) -> Record | Entry | None:
    """The writer's shortcut: apply the event it just appended, without reading $all.

    `before` is the state the write was based on (None for a create); the event's
    revision is the one after it; `event` is the domain event `new_event` was encoded
    from, if at hand (its data is then not parsed again). In one transaction, under
    the checkpoint lock, the row moves from exactly that version to the next
    (compare-and-swap on `version`), so every earlier event of the stream is applied
    already and nothing is applied twice; and only while the checkpoint is short of
    `position` (else the projector applied the event first). The checkpoint does not
    move: when the projector meets the event in $all, the row's version tells it the
    event is in. Returns the new state, or None when the shortcut does not apply (the
    caller then catches up the ordinary way).
    """
    env = _env(env)
    revision = before.version + 1 if before is not None else 0
    envelope = decode_new(
        new_event, stream=stream, revision=revision, position=position, event=event
    )
    parsed = parse_stream(stream)
    if parsed is None or parsed.kind not in _KINDS or envelope.event is None:
        return None
    kind = _KINDS[parsed.kind]
    if not kind.applies(before, envelope.event, parsed.user_id):
        return None
    after = kind.fold(before, envelope, env_name=env)
    row = kind.to_row(after, position, SimpleNamespace(env=env, **{kind.id_field: after.id}))
    writer = _Writer(
        env, kind, parsed, before, after, row, _activity(env, envelope, parsed.kind, after)
    )
    conn = prepared.db()
    outermost = not conn.in_atomic_block
    try:
        if outermost and conn.vendor == "postgresql" and writer.run_in_one(conn, position, True):
            return after  # one statement is a transaction: no BEGIN and COMMIT round trips
        with prepared.atomic():
            applied = writer.write(conn, position, outermost)
        if not applied and not _has_checkpoint(env):
            with transaction.atomic():
                _lock(env)  # an environment's first write: create its checkpoint
                applied = writer.write(conn, position, outermost)
    except IntegrityError:
        return None  # a concurrent writer of the same (retried) event got there first
    return after if applied else None


@dataclass
class _Writer:
    """The statements of the writer's shortcut for one event (see apply_written)."""

    env: str
    kind: _Kind
    stream: StreamName
    before: Record | Entry | None
    after: Record | Entry
    row: Any  # the row's new values by field name (a model instance costs more)
    activity: _ActivityRow

    def write(self, conn: Any, position: int, outermost: bool) -> bool:
        """In the transaction: the row, its tags, activity visibility and the Activity
        row; False when nothing was written (the row moved on, the projector was
        faster, or the environment has no checkpoint row)."""
        if conn.vendor == "postgresql":
            return self.run_in_one(conn, position, outermost)
        return self.run(conn, position)

    def run(self, conn: Any, position: int) -> bool:
        """Statement by statement, in process (SQLite: BEGIN IMMEDIATE took the lock)."""
        sql, params = self._row_write(conn, position)
        with prepared.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchone()
            if found is None:
                return False  # the row moved on, or the projector was faster
            for sql, params in self._rest(conn, found[0]):
                cursor.execute(sql, params)
        return True

    def run_in_one(self, conn: Any, position: int, outermost: bool) -> bool:
        """PostgreSQL: every statement in one, a round trip instead of one each (and in
        autocommit, a transaction of its own). The row write reads the checkpoint FOR
        UPDATE first (the projector's lock order: checkpoint, then rows); the others
        depend on the row write. `outermost`: our own transaction, whose commit need
        not wait for the WAL flush (as _relaxed_commit)."""
        q = conn.ops.quote_name
        checkpoint = q(ProjectionCheckpoint._meta.db_table)
        heads = [f"cp AS (SELECT position FROM {checkpoint} WHERE env = %s FOR UPDATE)"]  # noqa: S608
        params: list[Any] = [self.env]
        sql, values = self._row_write(conn, position)
        heads.append(f"w AS ({sql})")
        params += values
        for n, (sql, values) in enumerate(self._rest(conn, None)):
            heads.append(f"s{n} AS ({sql})")
            params += values
        relax = ", set_config('synchronous_commit', 'off', true)" if outermost else ""
        with prepared.cursor() as cursor:
            pk = q(self.kind.model._meta.pk.column)
            sql = f"WITH {', '.join(heads)} SELECT (SELECT {pk} FROM w){relax}"  # noqa: S608
            cursor.execute(sql, params)
            return cursor.fetchone()[0] is not None

    def _row_write(self, conn: Any, position: int) -> tuple[str, list[Any]]:
        """INSERT, or UPDATE from exactly the version before, of the row, while the
        checkpoint is short of `position`; RETURNING its id."""
        kind, model, env = self.kind, self.kind.model, self.env
        in_one = conn.vendor == "postgresql"
        guard = _checkpoint_guard(conn.vendor)
        guard_params = [position] if in_one else [env, position]
        if self.before is None:
            names = ["env", kind.id_field, *kind.fields]
            values = prepared.values(model, self.row, names)
            sql = _insert_guarded(model, tuple(names), conn.vendor)
            return sql, [*values, *guard_params]
        where = {"env": env, kind.id_field: self.stream.object_id, "version": self.before.version}
        sql, params = prepared.update_statement(self.row, self._changed(), where, model=model)
        pk = conn.ops.quote_name(model._meta.pk.column)
        return f"{sql} AND {guard} RETURNING {pk}", [*params, *guard_params]

    def _changed(self) -> list[str]:
        """The fields of the row that the event changes (the position always): the row
        is at the version before, so it holds what `before` gives. Fewer columns to
        convert and write, and the search index is left alone unless its text changed."""
        kind = self.kind
        old = kind.to_row(self.before, 0, SimpleNamespace(env=self.env, **{kind.id_field: ""}))
        return [
            name
            for name, field in zip(
                kind.fields, prepared.fields(kind.model, kind.fields), strict=True
            )
            if name == "position" or getattr(old, field.attname) != getattr(self.row, field.attname)
        ]

    def _rest(self, conn: Any, pk: int | None) -> list[tuple[str, list[Any]]]:
        """The statements after the row write: tags, activity visibility, the Activity
        row. With `pk`, plain ones; without, CTEs of run_in_one that use `w`."""
        before, after, env = self.before, self.after, self.env
        statements = []
        if self.stream.kind == "record" and (before is None or before.tags != after.tags):
            statements += _tag_writes(conn.vendor, pk, before is not None, list(after.tags))
        if before is not None and before.is_public != after.is_public:
            activity = conn.ops.quote_name(Activity._meta.db_table)
            sql = f"UPDATE {activity} SET is_public = %s WHERE env = %s AND kind = %s AND object_id = %s"  # noqa: S608
            if pk is None:
                sql += " AND EXISTS (SELECT 1 FROM w)"
            statements.append(
                (sql, [after.is_public, env, self.stream.kind, self.stream.object_id])
            )
        values = prepared.values(Activity, self.activity, ACTIVITY_FIELDS)
        statements.append((_activity_insert(conn.vendor, pk is None), values))
        return statements


def _has_checkpoint(env: str) -> bool:
    return ProjectionCheckpoint.objects.filter(env=env).exists()


def _checkpoint_guard(vendor: str) -> str:
    """The condition that the checkpoint is short of the event's position (the
    projector has not applied it). PostgreSQL: from the locked `cp` of run_in_one."""
    if vendor == "postgresql":
        return "(SELECT position FROM cp) < %s"
    table = prepared.db().ops.quote_name(ProjectionCheckpoint._meta.db_table)
    return f"(SELECT position FROM {table} WHERE env = %s) < %s"  # noqa: S608


@cache
def _insert_guarded(model: Any, names: tuple[str, ...], vendor: str) -> str:
    q = prepared.db().ops.quote_name
    columns = ", ".join(q(model._meta.get_field(n).column) for n in names)
    marks = ", ".join(["%s"] * len(names))
    source = f"SELECT {marks} FROM cp WHERE cp.position < %s"  # noqa: S608
    if vendor != "postgresql":
        source = f"SELECT {marks} WHERE {_checkpoint_guard(vendor)}"
    pk = q(model._meta.pk.column)
    return f"INSERT INTO {q(model._meta.db_table)} ({columns}) {source} RETURNING {pk}"


@cache
def _activity_insert(vendor: str, in_one: bool) -> str:
    q = prepared.db().ops.quote_name
    columns = ", ".join(q(Activity._meta.get_field(n).column) for n in ACTIVITY_FIELDS)
    marks = ", ".join(["%s"] * len(ACTIVITY_FIELDS))
    source = f"SELECT {marks} FROM w" if in_one else f"VALUES ({marks})"  # noqa: S608
    return f"INSERT INTO {q(Activity._meta.db_table)} ({columns}) {source}"


def _tag_writes(
    vendor: str, pk: int | None, changed: bool, tags: list[str]
) -> list[tuple[str, list[Any]]]:
    """The tag rows of a record: `tags` inserted; for a changed record, its other tags
    deleted (and those it kept left alone: the two statements never touch one row, as
    run_in_one needs). PostgreSQL: CTEs of run_in_one that use `w`."""
    q = prepared.db().ops.quote_name
    table = q(RecordTag._meta.db_table)
    record, tag = (q(RecordTag._meta.get_field(n).column) for n in ("record", "tag"))
    if vendor == "postgresql":
        pk_column = q(StreamRecord._meta.pk.column)
        add = f"INSERT INTO {table} ({record}, {tag}) SELECT w.{pk_column}, t.tag FROM w, unnest(%s::varchar[]) AS t(tag)"  # noqa: S608
        drop = f"DELETE FROM {table} USING w WHERE {table}.{record} = w.{pk_column} AND NOT ({table}.{tag} = ANY(%s::varchar[]))"  # noqa: S608
        values: Any = tags
    else:
        add = f"INSERT INTO {table} ({record}, {tag}) SELECT %s, value FROM json_each(%s)"  # noqa: S608
        drop = f"DELETE FROM {table} WHERE {record} = %s AND {tag} NOT IN (SELECT value FROM json_each(%s))"  # noqa: S608
        values = json.dumps(tags)
    params = [values] if vendor == "postgresql" else [pk, values]
    if not changed:
        return [(add, params)] if tags else []
    upsert = f"{add} WHERE true ON CONFLICT DO NOTHING"
    return [(drop, params), (upsert, params)] if tags else [(drop, params)]


# --- running ---------------------------------------------------------------------------------


def _relaxed_commit(outermost: bool) -> None:
    """PostgreSQL: do not wait for the WAL flush when committing read-model rows.

    They are derived data: a commit lost in a crash takes its checkpoint with it (or,
    for the writer's shortcut, leaves the row a revision behind), so the projector
    applies those events again. Only for a transaction of our own, never a caller's."""
    if outermost and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _lock(env: str) -> ProjectionCheckpoint:
    """Inside transaction.atomic(): the environment's checkpoint row, locked (created if
    need be; a savepoint keeps a concurrent creation from breaking the transaction)."""
    checkpoint = ProjectionCheckpoint.objects.select_for_update().filter(env=env).first()
    if checkpoint is None:
        try:
            with transaction.atomic():
                ProjectionCheckpoint.objects.create(env=env)
        except IntegrityError:
            pass
        checkpoint = ProjectionCheckpoint.objects.select_for_update().get(env=env)
    return checkpoint


def catch_up(env: str | None = None, until_position: int | None = None) -> int:
    """Apply what $all holds beyond the checkpoint; returns the number of events applied.

    With `until_position`, stop as soon as the checkpoint has reached it (a writer
    waiting for its own append); without, read until nothing new comes back.
    """
    env = _env(env)
    if until_position is not None and checkpoint_position(env) >= until_position:
        return 0
    applied = _run_batches(env, until_position, BATCH_SIZE, None)
    if applied >= ANALYZE_AFTER:
        refresh_statistics()
    return applied


def _run_batches(
    env: str,
    until_position: int | None,
    size: int,
    progress: Callable[[list[RecordedEvent], int], None] | None,
) -> int:
    """Read and apply batches from the checkpoint on; while a full batch is applied,
    the next one is already being read."""
    applied = 0
    after = checkpoint_position(env)
    events = _read_after(env, after, size)
    pool: ThreadPoolExecutor | None = None
    try:
        while events:
            ahead = None
            last = events[-1].commit_position
            if len(events) == size and (until_position is None or last < until_position):
                pool = pool or ThreadPoolExecutor(1, thread_name_prefix="projector-read")
                ahead = pool.submit(_read_after, env, last, size)
            done = _apply_batch(env, events, after)
            if done is None:  # the checkpoint was set back: read on from there
                if ahead is not None:
                    ahead.cancel()
                after = checkpoint_position(env)
                events = _read_after(env, after, size)
                continue
            applied += done
            if progress is not None:
                progress(events, applied)
            if until_position is not None and checkpoint_position(env) >= until_position:
                break
            if ahead is not None:
                after, events = last, ahead.result()
            else:
                after = checkpoint_position(env)
                events = _read_after(env, after, size)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return applied


def refresh_statistics() -> None:
    """Let the query planner see the read model's new size (after a rebuild or a big
    catch-up): without it PostgreSQL planned searches over 100,000 fresh rows as if the
    table were empty and took 430 ms instead of tens. VACUUM too when allowed (outside
    a transaction), to drop the dead rows a rebuild leaves."""
    models = (StreamRecord, RecordSearch, RecordTag, UserDataEntry, Activity)
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            verb = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
            cursor.execute(f"{verb} {', '.join(tables)}")
        elif connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(f"ANALYZE {table}")


def rebuild(env: str | None = None, progress: Callable[[int, int, int], None] | None = None) -> int:
    """Empty the environment's read model and replay $all from the start.

    `progress(position, head_position, events_applied)` is called after every batch.
    Returns the number of events applied. Other projectors may run meanwhile: the
    checkpoint lock keeps them from applying anything twice. Lists are incomplete
    until it ends (the tables are emptied first, in one transaction).
    """
    env = _env(env)
    head = _head(env)
    head_position = head.commit_position if head else 0
    _reset(env)

    def report(events: list[RecordedEvent], applied: int) -> None:
        if progress is not None:
            last = events[-1].commit_position
            progress(last, max(head_position, last), applied)

    applied = _run_batches(env, None, BATCH_SIZE * 2, report)
    refresh_statistics()
    return applied


def _reset(env: str) -> None:
    """Empty the environment's read model and set its checkpoint back to the start, in
    one transaction (a rebuild's first step)."""
    with transaction.atomic():
        checkpoint = _lock(env)
        records = StreamRecord._meta.db_table
        subquery = f"SELECT id FROM {records} WHERE env = %s"  # noqa: S608 (table names only)
        _delete_where(RecordTag, f"record_id IN ({subquery})", [env])
        for model in (StreamRecord, UserDataEntry, Activity):
            _delete_where(model, "env = %s", [env])
        checkpoint.position = 0
        checkpoint.events_applied = 0
        checkpoint.skipped_events = 0
        checkpoint.last_event_at = None
        checkpoint.save()


def run_live(
    env: str | None = None,
    stop_event: threading.Event | None = None,
    *,
    idle_timeout: float = 0.5,
) -> None:
    """Follow $all until `stop_event` is set, applying our events as they arrive.

    Catches up first, then holds a filtered catch-up subscription (one stream slot).
    On failure (node down, database locked, or a bug) it waits with a growing pause,
    catches up again and resubscribes; it never takes the process down with it.
    """
    env = _env(env)
    stop = stop_event or threading.Event()
    pause = 0.5
    while not stop.is_set():
        try:
            catch_up(env)
            _follow(env, stop, idle_timeout)
            pause = 0.5
        except (KurrentError, KurrentDBClientError, DatabaseError) as exc:
            log.warning("projector %s: %s; retrying in %.1f s", env, _describe(exc), pause)
        except Exception:
            log.exception("projector %s failed; retrying in %.1f s", env, pause)
        else:
            continue
        stop.wait(pause)
        pause = min(pause * 2, 30.0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KurrentError):
        return str(exc)
    return type(exc).__name__


_END = object()


def _follow(env: str, stop: threading.Event, idle_timeout: float) -> None:
    with connections.stream_slot(env):
        position = checkpoint_position(env)
        client = connections.client(env)
        try:
            subscription = client.subscribe_to_all(
                commit_position=position or None,
                filter_include=STREAM_PREFIXES,
                filter_by_stream_name=True,
                filter_by_prefix=True,
                timeout=None,
            )
        except Exception as exc:
            raise connections.failed(env, "projector_subscribe", exc) from None
        connections.succeeded(env)
        inbox: queue.Queue[Any] = queue.Queue(maxsize=BATCH_SIZE * 4)
        reader = threading.Thread(
            target=_pump, args=(subscription, inbox, stop), name=f"projector-{env}", daemon=True
        )
        reader.start()
        try:
            _drain(env, inbox, stop, idle_timeout, position)
        finally:
            subscription.stop()
            reader.join(timeout=5)


def _pump(
    subscription: Iterable[RecordedEvent], inbox: queue.Queue[Any], stop: threading.Event
) -> None:
    """Reader thread: move events from the subscription to the inbox."""
    try:
        for event in subscription:
            while not stop.is_set():
                try:
                    inbox.put(event, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except BaseException as exc:
        inbox.put(exc)
        return
    inbox.put(_END)


SETTLE_AFTER_S = 0.5  # how long an event the live projector received may wait for its writer


def _drain(
    env: str, inbox: queue.Queue[Any], stop: threading.Event, idle_timeout: float, after: int
) -> None:
    """Apply what the reader delivers, a batch at a time; `after` is the position the
    subscription started from.

    Most events of a busy app are applied by the process that wrote them (apply_written),
    a moment after the subscription has delivered them here. Applying them here at once
    would do that work twice (the writer's shortcut then finds the checkpoint past its
    event and catches up instead), so received events wait, and are settled together
    when the oldest has waited SETTLE_AFTER_S or BATCH_SIZE are waiting: the checkpoint
    moves past those the writers applied; the rest keeps waiting, unless its oldest has
    waited SETTLE_AFTER_S (another program's write, a writer that failed): then it is
    applied here. Waiting is safe: after a restart the projector meets those events
    again and sees from the rows which ones are in."""
    waiting: list[RecordedEvent] = []
    arrived: list[float] = []
    while not stop.is_set():
        due = arrived[0] + SETTLE_AFTER_S if arrived else 0.0
        try:
            timeout = max(0.0, due - time.monotonic()) if waiting else idle_timeout
            item = inbox.get(timeout=min(timeout, idle_timeout))
        except queue.Empty:
            item = None
        while item is not None:
            if item is _END or isinstance(item, BaseException):
                _settle(env, waiting, apply_rest=True, after=after)
                if item is _END:
                    raise KurrentError("the subscription ended")
                if isinstance(item, KurrentDBClientError):
                    raise connections.failed(env, "projector_subscription", item)
                raise item
            waiting.append(item)
            arrived.append(time.monotonic())
            if len(waiting) >= BATCH_SIZE:
                break
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                item = None
        now = time.monotonic()
        if waiting and (len(waiting) >= BATCH_SIZE or now >= arrived[0] + SETTLE_AFTER_S):
            overdue = len(waiting) >= BATCH_SIZE
            while waiting:
                left = _settle(env, waiting, apply_rest=overdue, after=after)
                done = len(waiting) - len(left)
                if done:
                    after = waiting[done - 1].commit_position
                waiting, arrived = left, arrived[done:]
                overdue = bool(waiting) and now >= arrived[0] + SETTLE_AFTER_S
                if not overdue:
                    break
    _settle(env, waiting, apply_rest=True, after=after)


def _settle(
    env: str, events: list[RecordedEvent], *, apply_rest: bool, after: int
) -> list[RecordedEvent]:
    """Move the checkpoint past the events (in $all order, every event of ours after
    position `after`) up to the first one no row reflects yet: those the writers applied
    themselves (apply_written). Without decoding or loading anything: under the
    checkpoint lock, one query of the rows' versions and one UPDATE, where _apply_batch
    would come to the same end (nothing to apply, the checkpoint moved, the events
    counted as applied) at several times the cost. The events from the first one not
    applied on are applied the ordinary way with `apply_rest`, else returned (to wait
    for their writers a little longer). If the checkpoint is short of `after` (set
    back by a rebuild), it is caught up from there instead, never moved past the gap."""
    if not events:
        return []
    if _before_checkpoint is not None:  # a test's fault injection sees every batch
        _apply_following(env, events, after)
        return []
    conn = prepared.db()
    outermost = not conn.in_atomic_block
    with prepared.atomic():
        _relaxed_commit(outermost)
        position = _locked_position(conn, env)
        rest: list[RecordedEvent] = []
        if position is None or position < after:  # no checkpoint yet, or set back
            rest, apply_rest = events, True
        else:
            fresh = [e for e in events if e.commit_position > position]
            pending = _not_yet_applied(env, fresh)
            first = pending[0] if pending else None
            cut = next((i for i, e in enumerate(fresh) if e is first), len(fresh))
            settled, rest = fresh[:cut], fresh[cut:]
            ours = [e for e in settled if not e.type.startswith("$")]
            if settled:
                _move_checkpoint(
                    conn,
                    env,
                    settled[-1].commit_position,
                    applied=len(ours),
                    last_event_at=decode(ours[-1]).recorded_at if ours else None,
                )
                after = settled[-1].commit_position
            else:
                after = position
    if rest and apply_rest:
        _apply_following(env, rest, after if position is not None else None)
        return []
    return rest


def _apply_following(env: str, events: list[RecordedEvent], after: int | None) -> None:
    """_apply_batch; if the checkpoint turns out to be short of `after`, catch up from
    it to the last of the events instead."""
    if _apply_batch(env, events, after) is None:
        catch_up(env, until_position=events[-1].commit_position)


def _locked_position(conn: Any, env: str) -> int | None:
    """In a transaction: the checkpoint's position, its row locked (SQLite: the
    transaction's BEGIN IMMEDIATE took the lock); None if the row does not exist yet."""
    q = conn.ops.quote_name
    table = q(ProjectionCheckpoint._meta.db_table)
    lock = " FOR UPDATE" if conn.features.has_select_for_update else ""
    with prepared.cursor() as cursor:
        cursor.execute(f"SELECT {q('position')} FROM {table} WHERE {q('env')} = %s{lock}", [env])  # noqa: S608
        row = cursor.fetchone()
    return None if row is None else row[0]


def _move_checkpoint(
    conn: Any, env: str, position: int, *, applied: int, last_event_at: datetime | None
) -> None:
    """What _apply_batch's checkpoint.save() writes, for a batch applied by the writers."""
    q = conn.ops.quote_name
    table = q(ProjectionCheckpoint._meta.db_table)
    at_field, updated_field = prepared.fields(ProjectionCheckpoint, ["last_event_at", "updated_at"])
    sets = [f"{q('position')} = %s", f"{q('events_applied')} = {q('events_applied')} + %s"]
    params: list[Any] = [position, applied]
    if last_event_at is not None:
        sets.append(f"{q('last_event_at')} = %s")
        params.append(at_field.get_db_prep_save(last_event_at, conn))
    sets.append(f"{q('updated_at')} = %s")
    params += [updated_field.get_db_prep_save(datetime.now(UTC), conn), env]
    with prepared.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {q('env')} = %s", params)  # noqa: S608


# --- status and activity --------------------------------------------------------------------


def sync_status(env: str | None = None) -> SyncStatus:
    """Checkpoint against the head of $all (our streams). Raises KurrentUnavailable when
    KurrentDB cannot be asked."""
    env = _env(env)
    row = ProjectionCheckpoint.objects.filter(env=env).first()
    position = row.position if row else 0
    head = _head(env)
    head_position = head.commit_position if head else 0
    behind, seconds, capped = 0, 0.0, False
    if head_position > position:
        scanned = _read_after(env, position, EVENTS_BEHIND_CAP)
        pending = _not_yet_applied(env, scanned)
        behind = len(pending)
        capped = len(scanned) >= EVENTS_BEHIND_CAP
        if pending and pending[0].recorded_at is not None:
            seconds = max(0.0, (datetime.now(UTC) - pending[0].recorded_at).total_seconds())
    return SyncStatus(
        env=env,
        checkpoint_position=position,
        head_position=head_position,
        events_behind=behind,
        seconds_behind=round(seconds, 3),
        skipped_events=row.skipped_events if row else 0,
        events_applied=row.events_applied if row else 0,
        last_event_at=row.last_event_at if row else None,
        events_behind_capped=capped,
    )


def _not_yet_applied(env: str, events: list[RecordedEvent]) -> list[RecordedEvent]:
    """Events beyond the checkpoint that no row reflects yet (a writer's shortcut may have
    applied its own event before the projector moved the checkpoint past it)."""
    streams = [parse_stream(event.stream_name) for event in events]
    wanted: dict[str, set[str]] = {"record": set(), "userdata": set()}
    for parsed in streams:
        if parsed is not None and parsed.kind in wanted:
            wanted[parsed.kind].add(parsed.object_id)
    versions: dict[str, int] = {}
    for kind, ids in wanted.items():
        if ids:
            versions.update(_row_versions(env, _KINDS[kind], ids))
    pending = []
    for event, parsed in zip(events, streams, strict=True):
        applied_to = -1
        if parsed is not None and parsed.kind != "erasure":
            applied_to = versions.get(parsed.object_id, -1)
        if not event.type.startswith("$") and event.stream_position > applied_to:
            pending.append(event)
    return pending


def _row_versions(env: str, kind: _Kind, ids: set[str]) -> dict[str, int]:
    """The read-model version of each of these records or entries that has a row: one
    SQL statement, without the ORM's compiling (the live projector's every settle and
    every status reading run it)."""
    conn = prepared.db()
    model = kind.model
    field = model._meta.get_field(kind.id_field)
    by_key = {field.get_db_prep_value(i, conn): i for i in ids}
    q = conn.ops.quote_name
    marks = ", ".join(["%s"] * len(by_key))
    sql = (
        f"SELECT {q(field.column)}, {q('version')} FROM {q(model._meta.db_table)} "  # noqa: S608
        f"WHERE {q('env')} = %s AND {q(field.column)} IN ({marks})"
    )
    with prepared.cursor() as cursor:
        cursor.execute(sql, [env, *by_key])
        return {by_key[key]: version for key, version in cursor.fetchall()}


def recent_events(
    env: str | None = None,
    limit: int = 20,
    after_position: int | None = None,
    *,
    actor: Any = None,
) -> list[ActivityItem]:
    """The newest applied events, newest first (read model only).

    Without `actor` only events of public records and entries are returned; with an
    actor, also that user's own; an admin sees everything.
    """
    from kurrent.roles import is_admin

    env = _env(env)
    qs = Activity.objects.filter(env=env)
    if after_position is not None:
        qs = qs.filter(position__gt=after_position)
    if actor is None or not is_admin(actor):
        visible = {"is_public": True}
        qs = qs.exclude(kind="erasure")
        if actor is not None and getattr(actor, "pk", None) is not None:
            from django.db.models import Q

            qs = qs.filter(Q(**visible) | Q(owner_id=actor.pk))
        else:
            qs = qs.filter(**visible)
    rows = qs.order_by("-position")[: max(1, min(int(limit), 200))]
    return [
        ActivityItem(
            position=r.position,
            env=r.env,
            event_type=r.event_type,
            kind=r.kind,
            object_id=r.object_id,
            title=r.title,
            actor=r.actor_name,
            recorded_at=r.recorded_at,
            is_public=r.is_public,
            owner_id=r.owner_id,
            stream_name=r.stream_name,
        )
        for r in rows
    ]


def wait_until(env: str | None, position: int, timeout: float = 5.0) -> bool:
    """Block until the checkpoint reaches `position` (for callers that rely on the live
    projector rather than catching up themselves)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if checkpoint_position(env) >= position:
            return True
        time.sleep(0.05)
    return False
