"""The one command pipeline of both kinds of data (stream records and user-data entries).

Every write goes: load the current state from the read model (catching up if it is
behind the version the user saw), check the actor may do it, reconcile with the stream
when the read model still lags, append one event with the expected version, then catch
the read model up to the append's position through the projector, so the writer sees
the change at once. A kind supplies its names, its fold and its events; the services in
kurrent.services.records and .userdata clean the fields and build the events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kurrentdbclient import NewEvent, StreamState
from kurrentdbclient.exceptions import WrongCurrentVersionError

from kurrent.core.domain import Entry, Record, decode_all, fold_all, fold_entry, fold_record
from kurrent.core.errors import Conflict, Forbidden, NotFound, Private, ValidationError
from kurrent.core.events import (
    StreamDeleted,
    StreamRestored,
    StreamUpdated,
    UserDataDeleted,
    UserDataRestored,
    UserDataUpdated,
    decode_new,
    encode,
    event_id,
    parse_stream,
    record_stream,
    userdata_stream,
)
from kurrent.models import StreamRecord, UserDataEntry
from kurrent.readmodel.rows import entry_from_row, record_from_row
from kurrent.readmodel.visibility import may_change, may_see
from kurrent.services.common import append, catch_up_quietly, read_stream


@dataclass(frozen=True)
class Kind:
    """What the pipeline needs to know of one kind of data."""

    noun: str  # in messages: "record", "entry"
    model: Any
    id_field: str
    from_row: Callable[[Any], Any]
    fold: Callable[..., Any]
    stream_of: Callable[[Any], str]  # a state's stream name
    updated: Callable[[str, dict[str, Any]], Any]  # (id, changes) -> the update event
    deleted: Callable[[str], Any]  # id -> the delete event
    restored: Callable[[str], Any]  # id -> the restore event


RECORDS = Kind(
    noun="record",
    model=StreamRecord,
    id_field="record_id",
    from_row=record_from_row,
    fold=fold_record,
    stream_of=lambda state: record_stream(state.id),
    updated=lambda object_id, changes: StreamUpdated(record_id=object_id, changes=changes),
    deleted=lambda object_id: StreamDeleted(record_id=object_id),
    restored=lambda object_id: StreamRestored(record_id=object_id),
)
ENTRIES = Kind(
    noun="entry",
    model=UserDataEntry,
    id_field="entry_id",
    from_row=entry_from_row,
    fold=fold_entry,
    stream_of=lambda state: userdata_stream(state.owner_id, state.id),
    updated=lambda object_id, changes: UserDataUpdated(entry_id=object_id, changes=changes),
    deleted=lambda object_id: UserDataDeleted(entry_id=object_id),
    restored=lambda object_id: UserDataRestored(entry_id=object_id),
)


def fetch(kind: Kind, env: str, object_id: str) -> Any:
    """The state the read model holds, or None.

    (env, id) is unique, so the row is read without `.first()`'s ORDER BY: compiling
    that ordering was a third of the time of an API GET of one record."""
    rows = kind.model.objects.filter(env=env, **{kind.id_field: object_id})[:1]
    row = next(iter(rows), None)
    return None if row is None else kind.from_row(row)


def load(kind: Kind, env: str, object_id: str, min_version: int = 0) -> Any:
    """The state from the read model; if it is missing or older than `min_version`,
    after catching up first."""
    state = fetch(kind, env, object_id)
    if (state is None or state.version < min_version) and catch_up_quietly(env):
        state = fetch(kind, env, object_id)
    return state


def readable(kind: Kind, actor: Any, env: str, object_id: str) -> Any:
    """The live state `actor` may see; NotFound or Forbidden otherwise."""
    state = load(kind, env, object_id)
    if state is None or state.deleted:
        raise NotFound(f"There is no such {kind.noun}.")
    if not may_see(actor, state):
        raise Private(f"There is no such {kind.noun}.")
    return state


def from_stream(kind: Kind, env: str, stream: str) -> Any:
    """The state folded from the stream itself (the truth when the read model lags);
    None if the stream never existed or was erased."""
    try:
        events = read_stream(env, stream, f"There is no such {kind.noun}.")
    except NotFound:
        return None
    return fold_all(decode_all(events), env=env, fold=kind.fold)


def create(kind: Kind, actor: Any, env: str, stream: str, event: Any, key: str | None) -> Any:
    """Append the create event to a new stream (expected: no stream) and return the
    state. A resubmitted form (same key, so the same stream and event id) appends
    nothing and returns what the first one made."""
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=key)
    try:
        position = append(env, stream, new_event, StreamState.NO_STREAM)
    except WrongCurrentVersionError:
        current = from_stream(kind, env, stream)
        raise Conflict(
            f"A {kind.noun} with this id exists already (the form was submitted with "
            f"another {kind.noun}'s key).",
            current,
            current.version if current else None,
        ) from None
    return _saved(kind, env, stream, new_event, position, None, event)


def update(
    kind: Kind,
    actor: Any,
    env: str,
    object_id: str,
    *,
    expected: int,
    wanted: dict[str, Any],
    key: str | None,
) -> Any:
    """Append the update event with the fields of `wanted` that differ, expecting
    `expected`. If the stream moved on since, raise Conflict carrying its current state
    and version; nothing is appended. Nothing changed: nothing is appended."""
    state = _changeable(kind, actor, env, object_id, expected, "change")
    if state.version < expected:  # the read model is behind and could not catch up
        state = from_stream(kind, env, kind.stream_of(state)) or state
    if state.deleted:
        raise NotFound(f"This {kind.noun} was deleted.")
    changes = {k: v for k, v in wanted.items() if v != getattr(state, k)}
    if not changes and state.version == expected:
        return state
    stream = kind.stream_of(state)
    event = kind.updated(object_id, {k: list(v) if k == "tags" else v for k, v in changes.items()})
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=key)
    try:
        position = append(env, stream, new_event, expected)
    except WrongCurrentVersionError:
        raise conflict(kind, env, stream) from None
    if state.version != expected:
        # KurrentDB took it as a retry of an earlier write (same event id): show it now.
        catch_up_quietly(env, position)
        return readable(kind, actor, env, object_id)
    return _saved(kind, env, stream, new_event, position, state, event)


def delete(
    kind: Kind,
    actor: Any,
    env: str,
    object_id: str,
    *,
    expected: int | None,
    key: str | None,
) -> None:
    """Append the delete event, expecting `expected` (None: the version the read model
    holds). The data leaves lists and searches; its history stays."""
    state = _changeable(kind, actor, env, object_id, expected or 0, "delete")
    stream = kind.stream_of(state)
    if state.deleted:
        if key and state.last_event_id == str(event_id(stream, key)):
            return  # this very delete, submitted again
        raise NotFound(f"This {kind.noun} was deleted.")
    new_event = encode(kind.deleted(object_id), stream=stream, actor=actor, idempotency_key=key)
    try:
        position = append(env, stream, new_event, state.version if expected is None else expected)
    except WrongCurrentVersionError:
        raise conflict(kind, env, stream) from None
    catch_up_quietly(env, position)


def restore(
    kind: Kind,
    actor: Any,
    env: str,
    object_id: str,
    *,
    expected: int | None,
    key: str | None,
    wanted: dict[str, Any] | None = None,
) -> Any:
    """Append the restore event to a deleted record or entry (the owner or an admin),
    expecting `expected` (None: the version the read model holds), and return the state.
    `wanted`: field changes appended with it, atomically (an update event after the
    restore), so a store to a deleted entry's address brings it back with new values.
    Not deleted: NotFound-free, a ValidationError says so; a resubmitted restore (same
    key) returns the state it made."""
    state = _changeable(kind, actor, env, object_id, expected or 0, "restore")
    if state.version < (expected or 0):
        state = from_stream(kind, env, kind.stream_of(state)) or state
    stream = kind.stream_of(state)
    if not state.deleted:
        if key and state.last_event_id in {str(event_id(stream, key, i)) for i in (0, 1)}:
            return state  # this very restore, submitted again
        raise ValidationError("deleted", f"this {kind.noun} is not deleted")
    events = [encode(kind.restored(object_id), stream=stream, actor=actor, idempotency_key=key)]
    changes = {k: v for k, v in (wanted or {}).items() if v != getattr(state, k)}
    if changes:
        plain = {k: list(v) if k == "tags" else v for k, v in changes.items()}
        update = kind.updated(object_id, plain)
        events.append(encode(update, stream=stream, actor=actor, idempotency_key=key, index=1))
    try:
        position = append(env, stream, events, state.version if expected is None else expected)
    except WrongCurrentVersionError:
        raise conflict(kind, env, stream) from None
    catch_up_quietly(env, position)
    after = fetch(kind, env, object_id)
    if after is None or after.version < state.version + len(events):
        after = from_stream(kind, env, stream) or after
    return after


def conflict(kind: Kind, env: str, stream: str) -> Conflict:
    current = from_stream(kind, env, stream)
    version = current.version if current else None
    return Conflict(
        f"This {kind.noun} was changed by someone else (it is now at version {version}). "
        "Nothing was saved: review the current values and try again.",
        current,
        version,
    )


def _changeable(
    kind: Kind, actor: Any, env: str, object_id: str, min_version: int, verb: str
) -> Any:
    state = load(kind, env, object_id, min_version)
    if state is None:
        raise NotFound(f"There is no such {kind.noun}.")
    if not may_change(actor, state):
        if not may_see(actor, state):  # someone else's private one: as if it did not exist
            raise Private(f"There is no such {kind.noun}.")
        raise Forbidden(f"Only the owner or an admin may {verb} this {kind.noun}.")
    return state


def _saved(
    kind: Kind,
    env: str,
    stream: str,
    new_event: NewEvent,
    position: int,
    before: Record | Entry | None,
    event: Any,
) -> Any:
    """The state after our append at `position`, as the writer should see it: from the
    read model once it has caught up, else folded from what we know was appended."""
    catch_up_quietly(env, position)
    revision = before.version + 1 if before is not None else 0
    state = fetch(kind, env, parse_stream(stream).object_id)
    if state is not None and state.version >= revision:
        return state
    envelope = decode_new(
        new_event, stream=stream, revision=revision, position=position, event=event
    )
    return kind.fold(before, envelope, env=env)
