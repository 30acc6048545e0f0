"""The one writer of the read model: a batch of events in, rows and the checkpoint out.

`apply_batch` runs in one database transaction that first locks the environment's
checkpoint row (SELECT ... FOR UPDATE; on SQLite the IMMEDIATE transaction takes the
write lock), drops the events at or before the position it finds, folds the rest into
the states of the rows they touch (loaded once per batch), writes those rows back in
bulk with the ORM, and moves the checkpoint past the batch. So several processes may
apply at once and none applies an event twice; a crash rolls back rows and checkpoint
together. Nothing else inserts, updates or deletes read-model rows (the search tables
are kept by database triggers on the record rows).

It survives any event. An event it cannot apply (malformed, not storable, against the
rules of its stream: see kurrent.core.shapes.PROBLEM_REASONS) is skipped: the checkpoint
moves past it, and it is counted per environment and reason and recorded as a
SkippedEvent row. Most such events are found before anything is written (the decoder
checks shapes, sizes and storable values); should the database still refuse a batch,
its events are applied again one at a time, each in a savepoint, and only those the
database refuses are skipped. A failure of the database itself (it is down, locked or
full) is not an event's fault: it is raised, the transaction rolls back, and the
caller tries again later.

A little over 500 lines on purpose: the transaction, the rules for skipping and the
fold into rows are the one writer, and read best as one module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from kurrentdbclient import RecordedEvent

from kurrent.connection import metrics
from kurrent.core.domain import Entry, Record, fold_entry, fold_record
from kurrent.core.events import (
    Envelope,
    StreamCreated,
    StreamDeleted,
    StreamName,
    StreamRestored,
    StreamUpdated,
    UserDataDeleted,
    UserDataRestored,
    UserDataStored,
    UserDataUpdated,
    UserErased,
    decode,
    parse_stream,
)
from kurrent.models import (
    Activity,
    ProjectionCheckpoint,
    RecordTag,
    SkippedEvent,
    StreamRecord,
    UserDataEntry,
)
from kurrent.readmodel.rows import (
    ENTRY_FIELDS,
    RECORD_FIELDS,
    entry_from_row,
    entry_row,
    record_from_row,
    record_row,
)

log = logging.getLogger("kurrent.projector")

# Test seam: called inside the transaction after the rows are written and before the
# checkpoint is saved. A failure there must roll both back.
before_checkpoint: Callable[[str, list[Envelope]], None] | None = None

# SQLite reports a locked, full or unreadable database with the same OperationalError
# class as a statement it refuses; these words mean the database, not the event.
_DATABASE_TROUBLE = ("locked", "busy", "disk", "full", "readonly", "read-only", "i/o", "open")


@dataclass
class Outcome:
    """What a batch did: events applied, events skipped (as rows to record)."""

    applied: int = 0
    skipped: list[SkippedEvent] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.applied += other.applied
        self.skipped += other.skipped


def lock(env: str) -> ProjectionCheckpoint:
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


class _BatchRefused(Exception):
    """The database refused a batch applied whole: roll back, apply it event by event."""


def apply_batch(env: str, events: list[RecordedEvent], after: int | None = None) -> int | None:
    """Apply events (in $all order) under the checkpoint lock; returns how many applied.

    `after`: the position the events follow (they are every event of ours after it,
    up to the last). If the checkpoint is short of it, nothing is applied and None is
    returned: the checkpoint was set back (a rebuild started) and moving it past these
    events would skip the ones in between; read again from the checkpoint instead."""
    try:
        with transaction.atomic():
            outcome = _apply_locked(env, events, after, one_by_one=False)
    except _BatchRefused as refused:
        log.warning(
            "projector %s: a batch of %d events failed (%s); applying them one at a time",
            env,
            len(events),
            _describe(refused.__cause__ or refused),
        )
        with transaction.atomic():
            outcome = _apply_locked(env, events, after, one_by_one=True)
    if outcome is None:
        return None
    for skipped in outcome.skipped:
        metrics.PROJECTOR_SKIPPED.labels(env=env, reason=skipped.reason).inc()
        log.warning(
            "projector %s: skipped %s %s@%d (position %d): %s: %s",
            env,
            skipped.event_type,
            skipped.stream_name,
            skipped.revision,
            skipped.position,
            skipped.reason,
            skipped.detail,
        )
    return outcome.applied


def _apply_locked(
    env: str, events: list[RecordedEvent], after: int | None, *, one_by_one: bool
) -> Outcome | None:
    """apply_batch's work inside its transaction. The first attempt applies the batch
    whole (no savepoint: most batches are fine); `one_by_one` gives each event its own
    savepoint, so that only the events the database refuses are skipped."""
    checkpoint = lock(env)
    if after is not None and checkpoint.position < after:
        return None
    fresh = [e for e in events if e.commit_position > checkpoint.position]
    if not fresh:
        return Outcome()
    envelopes = [_decode(e) for e in fresh if not e.type.startswith("$")]
    if one_by_one:
        outcome = _apply_each(env, envelopes)
    else:
        try:
            outcome = _Batch(env).run(envelopes)
        except Exception as exc:
            if _database_failed(exc):
                raise
            raise _BatchRefused from exc
    if before_checkpoint is not None:
        before_checkpoint(env, envelopes)
    if outcome.skipped:
        SkippedEvent.objects.bulk_create(outcome.skipped, ignore_conflicts=True)
    checkpoint.position = fresh[-1].commit_position
    checkpoint.events_applied += outcome.applied
    checkpoint.skipped_events += len(outcome.skipped)
    changed = ["position", "events_applied", "skipped_events", "updated_at"]
    if envelopes:
        checkpoint.last_event_at = envelopes[-1].recorded_at
        changed.append("last_event_at")
    checkpoint.save(update_fields=changed)
    return outcome


def _decode(recorded: RecordedEvent) -> Envelope:
    try:
        return decode(recorded)
    except Exception as exc:  # decode is meant never to raise: a bug, but not a stop
        log.exception("projector: decoding %s failed", recorded.id)
        return Envelope(
            event=None,
            event_type=str(recorded.type)[:100],
            stream_name=recorded.stream_name,
            revision=recorded.stream_position,
            commit_position=recorded.commit_position,
            event_id=str(recorded.id),
            recorded_at=datetime.now(UTC),
            problem=f"apply_failed: {type(exc).__name__}",
        )


def _apply_each(env: str, envelopes: list[Envelope]) -> Outcome:
    """The events one at a time, each in a savepoint; those refused are skipped."""
    outcome = Outcome()
    for envelope in envelopes:
        try:
            with transaction.atomic():
                outcome.add(_Batch(env).run([envelope]))
        except Exception as exc:
            if _database_failed(exc):
                raise
            if not isinstance(exc, DatabaseError):
                log.exception("projector %s: applying %s failed", env, envelope.event_id)
            reason = "database_rejected" if isinstance(exc, DatabaseError) else "apply_failed"
            outcome.skipped.append(_skipped(env, envelope, reason, _describe(exc)))
    return outcome


def _database_failed(exc: Exception) -> bool:
    """Whether `exc` says the database is unusable (as opposed to refusing one event)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if connection.vendor != "sqlite" or any(w in str(exc).lower() for w in _DATABASE_TROUBLE):
        return True
    try:  # SQLite refuses some values with an OperationalError: is it answering at all?
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return True
    return False


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


def _skipped(env: str, envelope: Envelope, reason: str, detail: str) -> SkippedEvent:
    return SkippedEvent(
        env=env,
        stream_name=envelope.stream_name[:200],
        revision=envelope.revision,
        position=envelope.commit_position,
        event_type=envelope.event_type[:100],
        event_id=envelope.event_id[:36],
        reason=reason,
        detail=detail[:2000],
        skipped_at=datetime.now(UTC),
    )


# --- folding a batch ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """What differs between records and entries as the batch folds and writes them."""

    model: Any
    id_field: str
    fold: Callable[..., Any]
    to_row: Callable[[Any, int, Any], Any]
    from_row: Callable[[Any], Any]
    fields: tuple[str, ...]
    creates: type
    changes: tuple[type, ...]


_KINDS = {
    "record": _Kind(
        StreamRecord,
        "record_id",
        fold_record,
        record_row,
        record_from_row,
        RECORD_FIELDS,
        StreamCreated,
        (StreamUpdated, StreamDeleted, StreamRestored),
    ),
    "userdata": _Kind(
        UserDataEntry,
        "entry_id",
        fold_entry,
        entry_row,
        entry_from_row,
        ENTRY_FIELDS,
        UserDataStored,
        (UserDataUpdated, UserDataDeleted, UserDataRestored),
    ),
}


def _refusal(kind: _Kind, state: Any, event: Any, stream: StreamName) -> str:
    """Why `event` cannot apply to `state`, as "reason: detail" ("": it can)."""
    if isinstance(event, kind.creates):
        if state is not None:
            return f"already_created: {stream.kind} {stream.object_id} exists already"
        if isinstance(event, UserDataStored) and event.owner_id != stream.user_id:
            return f"wrong_owner: owner {event.owner_id} in a stream of user {stream.user_id}"
        return ""
    if isinstance(event, kind.changes):
        if state is None:
            return f"not_created: {stream.kind} {stream.object_id} was never created"
        return ""
    return f"unknown_type: {type(event).__name__} does not belong in a {stream.kind} stream"


class _Batch:
    """Folds a batch of events into states loaded once, then writes them back in bulk."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.outcome = Outcome()
        self._reset()

    def _reset(self) -> None:
        """Forget loaded rows and pending writes (after they are written)."""
        self.states: dict[tuple[str, str], Any] = {}  # (kind, id) -> state now
        self.loaded: dict[tuple[str, str], Any] = {}  # (kind, id) -> (row, state as loaded)
        self.positions: dict[tuple[str, str], int] = {}  # changed: position of last event
        self.activity: list[Activity] = []

    def run(self, envelopes: list[Envelope]) -> Outcome:
        segment: list[Envelope] = []
        for envelope in envelopes:
            stream = parse_stream(envelope.stream_name)
            if stream is not None and stream.kind == "erasure":
                self._segment(segment)
                segment = []
                self._erasure(envelope, stream)
            else:
                segment.append(envelope)
        self._segment(segment)
        return self.outcome

    def _erasure(self, envelope: Envelope, stream: StreamName) -> None:
        """Drop the user's rows written before the erasure, then go on afresh."""
        event = envelope.event
        if not isinstance(event, UserErased):
            problem = envelope.problem or "unknown_type: not an erasure event"
            self._skip(envelope, problem)
        elif event.user_id != stream.user_id:
            self._skip(envelope, f"wrong_owner: user {event.user_id} in {envelope.stream_name}")
        else:
            _erase_rows(self.env, event.user_id, envelope.commit_position)
            self.activity.append(_activity(self.env, envelope, "erasure", None))
            self._write_activity()
            self.outcome.applied += 1
            self._reset()

    def _segment(self, envelopes: list[Envelope]) -> None:
        if not envelopes:
            return
        self._load(envelopes)
        for envelope in envelopes:
            self._apply(envelope)
        self._write()

    def _load(self, envelopes: list[Envelope]) -> None:
        """Load the rows these events touch, one query per kind."""
        wanted: dict[str, set[str]] = {"record": set(), "userdata": set()}
        for envelope in envelopes:
            stream = parse_stream(envelope.stream_name)
            if stream is not None and (stream.kind, stream.object_id) not in self.states:
                wanted[stream.kind].add(stream.object_id)
        for name, ids in wanted.items():
            if not ids:
                continue
            kind = _KINDS[name]
            rows = kind.model.objects.filter(env=self.env, **{f"{kind.id_field}__in": ids})
            for row in rows:
                key = (name, str(getattr(row, kind.id_field)))
                state = kind.from_row(row)
                self.states[key] = state
                self.loaded[key] = (row, state)

    def _apply(self, envelope: Envelope) -> None:
        stream = parse_stream(envelope.stream_name)
        if stream is None:
            self._skip(envelope, "wrong_stream: not a stream name of ours")
            return
        kind = _KINDS[stream.kind]
        key = (stream.kind, stream.object_id)
        state = self.states.get(key)
        if state is not None and envelope.revision <= state.version:
            self.outcome.applied += 1  # in the row already (restored from a backup, say)
            return
        event = envelope.event
        refusal = _refusal(kind, state, event, stream) if event is not None else envelope.problem
        if refusal:
            if state is not None:  # the row's version follows the stream's revision
                self.states[key] = replace(
                    state, version=envelope.revision, last_event_id=envelope.event_id
                )
                self.positions[key] = envelope.commit_position
            self._skip(envelope, refusal)
            return
        new = kind.fold(state, envelope, env=self.env)
        self.states[key] = new
        self.positions[key] = envelope.commit_position
        self.activity.append(_activity(self.env, envelope, stream.kind, new))
        self.outcome.applied += 1

    def _skip(self, envelope: Envelope, problem: str) -> None:
        reason, _, detail = problem.partition(": ")
        self.outcome.skipped.append(_skipped(self.env, envelope, reason, detail))

    def _write(self) -> None:
        for name, kind in _KINDS.items():
            self._write_kind(name, kind)
        self._write_activity()
        self.positions = {}

    def _write_kind(self, name: str, kind: _Kind) -> None:
        """The changed states of one kind: new rows inserted, changed ones updated (each
        with only the columns that changed, so the search index is left alone unless its
        text did), tags rewritten, and the activity of a changed visibility with them."""
        new_rows: list[Any] = []
        by_fields: dict[tuple[str, ...], list[Any]] = {}
        retag: list[Any] = []  # changed rows whose tags changed
        visibility: dict[bool, list[str]] = {True: [], False: []}
        for key, position in self.positions.items():
            if key[0] != name:
                continue
            row, before = self.loaded.get(key, (None, None))
            state = self.states[key]
            if row is None:
                row = kind.to_row(state, position, None)
                new_rows.append(row)
                self.loaded[key] = (row, state)
                continue
            old = {f: _column(row, f) for f in kind.fields}
            kind.to_row(state, position, row)
            changed = tuple(f for f in kind.fields if _column(row, f) != old[f])
            if changed:
                by_fields.setdefault(changed, []).append(row)
            if "tags" in changed and name == "record":
                retag.append(row)
            if before.is_public != state.is_public:
                visibility[state.is_public].append(key[1])
            self.loaded[key] = (row, state)
        if new_rows:
            kind.model.objects.bulk_create(new_rows)
        for fields, rows in by_fields.items():
            kind.model.objects.bulk_update(rows, fields)
        if name == "record" and (retag or new_rows):
            if retag:
                RecordTag.objects.filter(record_id__in=[row.pk for row in retag]).delete()
            RecordTag.objects.bulk_create(
                [RecordTag(record_id=r.pk, tag=tag) for r in (*new_rows, *retag) for tag in r.tags]
            )
        for public, ids in visibility.items():
            if ids:
                Activity.objects.filter(env=self.env, kind=name, object_id__in=ids).update(
                    is_public=public
                )

    def _write_activity(self) -> None:
        # An item shows as its object is now: made public later in the batch, it is public.
        for item in self.activity:
            state = self.states.get((item.kind, item.object_id))
            if state is not None:
                item.is_public = state.is_public
        Activity.objects.bulk_create(self.activity)
        self.activity = []


def _column(row: Any, name: str) -> Any:
    return getattr(row, "owner_id" if name == "owner" else name)


def _activity(env: str, envelope: Envelope, kind: str, state: Record | Entry | None) -> Activity:
    if isinstance(state, Record):
        title, owner_id, public = state.name, state.owner_id, state.is_public
    elif isinstance(state, Entry):
        title = f"{state.entry_type}: {state.category}"
        owner_id, public = state.owner_id, state.is_public
    else:
        title, owner_id, public = "", None, False
    stream = parse_stream(envelope.stream_name)
    return Activity(
        env=env,
        position=envelope.commit_position,
        stream_name=envelope.stream_name[:200],
        event_type=envelope.event_type[:100],
        kind=kind,
        object_id=stream.object_id if stream else "",
        title=title[:200],
        actor_name=envelope.meta.actor[:150],
        owner_id=owner_id,
        is_public=public,
        recorded_at=envelope.recorded_at,
    )


def _erase_rows(env: str, user_id: int, before_position: int) -> None:
    """Drop the read-model rows of one user written before the erasure (in the
    transaction). Rows changed after it (the user started afresh) stay."""
    mine = {"env": env, "owner_id": user_id, "position__lt": before_position}
    records = StreamRecord.objects.filter(**mine)
    RecordTag.objects.filter(record__in=records).delete()
    records.delete()
    UserDataEntry.objects.filter(**mine).delete()
    Activity.objects.filter(**mine).delete()
