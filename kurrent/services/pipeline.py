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
from kurrent.core.errors import (
    AlreadySubmitted,
    Conflict,
    Forbidden,
    NotFound,
    Private,
    ValidationError,
)
from kurrent.core.events import (
    StreamDeleted,
    StreamRestored,
    StreamUpdated,
    UserDataDeleted,
    UserDataRestored,
    UserDataUpdated,
    content_digest,
    decode_new,
    encode,
    event_fields,
    event_id,
    key_digest,
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


def _envelopes(kind: Kind, env: str, stream: str) -> list[Any]:
    """The stream's events, decoded ([] if it never existed or was erased)."""
    try:
        return decode_all(read_stream(env, stream, f"There is no such {kind.noun}."))
    except NotFound:
        return []


def newest_from_form(kind: Kind, env: str, stream: str, key: str | None) -> bool:
    """Whether the stream's newest event was written by the form whose key is `key`."""
    if not key:
        return False
    envelopes = _envelopes(kind, env, stream)
    return bool(envelopes) and _from_this_form(envelopes[-1], key)


def _from_this_form(envelope: Any, key: str | None) -> bool:
    """Whether `envelope` was written by the form whose idempotency key is `key`."""
    return bool(key) and envelope.meta.form == key_digest(key)


def create(kind: Kind, actor: Any, env: str, stream: str, event: Any, key: str | None) -> Any:
    """Append the create event to a new stream (expected: no stream) and return the
    state. A resubmitted form (same key and content, so the same stream and event id)
    appends nothing and returns what the first one made. The same key with other
    content (Back, changed, sent again) is AlreadySubmitted carrying what the first
    one saved: nothing is appended."""
    content = content_digest(event_fields(event))
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=key, content=content)
    try:
        position = append(env, stream, new_event, StreamState.NO_STREAM)
    except WrongCurrentVersionError:
        envelopes = _envelopes(kind, env, stream)
        current = fold_all(envelopes, env=env, fold=kind.fold)
        if envelopes and _from_this_form(envelopes[0], key):
            raise AlreadySubmitted(
                f"This form was submitted before with other values, and that first "
                f"submission is what was saved. Nothing was saved now: what you typed is "
                f"kept below, submit it again to save it as a new {kind.noun}.",
                current,
            ) from None
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
    and version; nothing is appended. Nothing changed: nothing is appended.

    The event id is bound to the key and to what was submitted (`expected`, `wanted`):
    the same form sent again appends nothing and answers what it saved. The same form
    sent again with other values, when the newest event is the one it saved before (the
    user saw that saved page, went Back and changed it), is applied as a new change
    against the version stored now; anyone else's change in between is a Conflict."""
    state = _changeable(kind, actor, env, object_id, expected, "change")
    if state.version < expected:  # the read model is behind and could not catch up
        state = from_stream(kind, env, kind.stream_of(state)) or state
    if state.deleted:
        raise NotFound(f"This {kind.noun} was deleted.")
    changes = {k: v for k, v in wanted.items() if v != getattr(state, k)}
    if not changes and state.version == expected:
        return state
    stream = kind.stream_of(state)
    content = content_digest({"expected": expected, "wanted": wanted})
    event = kind.updated(object_id, {k: list(v) if k == "tags" else v for k, v in changes.items()})
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=key, content=content)
    try:
        position = append(env, stream, new_event, expected)
    except WrongCurrentVersionError:
        return _resubmitted(kind, actor, env, object_id, stream, expected, wanted, key, content)
    if state.version != expected:
        # KurrentDB took it as a retry of an earlier write (same event id): show it now.
        catch_up_quietly(env, position)
        return readable(kind, actor, env, object_id)
    return _saved(kind, env, stream, new_event, position, state, event)


def _resubmitted(
    kind: Kind,
    actor: Any,
    env: str,
    object_id: str,
    stream: str,
    expected: int,
    wanted: dict[str, Any],
    key: str | None,
    content: str,
) -> Any:
    """An update whose expected version is gone: this form's own earlier submission
    (replayed, or applied again with its new values, see `update`), else a Conflict."""
    envelopes = _envelopes(kind, env, stream)
    later = [e for e in envelopes if e.revision > expected]
    ours = str(event_id(stream, key, 0, content)) if key else ""
    if ours and any(e.event_id == ours for e in later):
        catch_up_quietly(env)
        return readable(kind, actor, env, object_id)  # this very submission, sent again
    if not (later and _from_this_form(later[-1], key)):
        raise conflict(kind, env, stream)
    head = fold_all(envelopes, env=env, fold=kind.fold)
    if head is None or head.deleted:
        raise NotFound(f"This {kind.noun} was deleted.")
    changes = {k: v for k, v in wanted.items() if v != getattr(head, k)}
    if not changes:
        return head
    plain = {k: list(v) if k == "tags" else v for k, v in changes.items()}
    event = kind.updated(object_id, plain)
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=key, content=content)
    try:
        position = append(env, stream, new_event, head.version)
    except WrongCurrentVersionError:
        raise conflict(kind, env, stream) from None
    return _saved(kind, env, stream, new_event, position, head, event)


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
    content = content_digest({"expected": expected})
    if state.deleted:
        if key and state.last_event_id == str(event_id(stream, key, 0, content)):
            return  # this very delete, submitted again
        last = (_envelopes(kind, env, stream) or [None])[-1] if key else None
        if last is not None and last.event_type.endswith("Deleted") and _from_this_form(last, key):
            return  # deleted by this form already: the answer it had
        raise NotFound(f"This {kind.noun} was deleted.")
    new_event = encode(
        kind.deleted(object_id), stream=stream, actor=actor, idempotency_key=key, content=content
    )
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
