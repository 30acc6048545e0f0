"""Stream records as event streams: create, read, list, search, update, delete, history.

Each record is the KurrentDB stream `pool-<uuid>` (names in kurrent.events); its events
are its history and its version is the stream revision. Writes append one event with
the expected version (no-stream for a create, the version the user saw for a change),
then catch the read model up to the append's position so the writer sees the change
at once. Lists, searches and a record by id come from the read model; history, "as
at version n" and diffs fold the stream itself.

Permissions are checked here, not only in views: anyone signed in reads public
records and their own; editors create; only the owner or an admin changes or deletes.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from kurrentdbclient import KurrentDBClient, NewEvent, RecordedEvent, StreamState
from kurrentdbclient.exceptions import (
    NotFoundError,
    StreamIsDeletedError,
    WrongCurrentVersionError,
)

from kurrent import prepared, projector, search
from kurrent.config import active_environment
from kurrent.connection import connections, direct
from kurrent.domain import (
    MAX_METADATA_BYTES,
    MAX_TAGS,
    Entry,
    HistoryEntry,
    Record,
    State,
    clean_bool,
    clean_key,
    clean_name,
    clean_object,
    clean_tags,
    clean_version,
    decode_all,
    fold_all,
    fold_record,
    history,
    record_changes,
)
from kurrent.errors import Conflict, Forbidden, KurrentError, NotFound, ValidationError
from kurrent.events import (
    StreamCreated,
    StreamDeleted,
    StreamUpdated,
    decode_new,
    encode,
    event_id,
    object_id,
    record_stream,
)
from kurrent.models import StreamRecord
from kurrent.roles import can_read, can_write, is_admin

log = logging.getLogger("kurrent.streams")

__all__ = [
    "MAX_TAGS",
    "HistoryEntry",
    "Page",
    "Record",
    "create_record",
    "delete_record",
    "diff_versions",
    "get_record",
    "list_records",
    "record_at_version",
    "record_history",
    "search_records",
    "update_record",
]

MAX_PAGE_SIZE = 100
MAX_QUERY = 200


@dataclass(frozen=True)
class Page:
    """One page of results (records or entries), pages numbered from 1."""

    items: list
    page: int
    page_size: int
    total: int
    has_next: bool
    has_previous: bool
    num_pages: int
    # False: `total` is a lower bound ("1000+"); searches count matches up to a cap.
    total_exact: bool = True


# --- shared helpers (also used by kurrent.userdata) ------------------------------------------


def env_name(env: str | None) -> str:
    return env or active_environment()


def require_reader(actor: Any) -> None:
    if not can_read(actor):
        raise Forbidden("Sign in to read data.")


def require_writer(actor: Any) -> None:
    if not can_write(actor):
        raise Forbidden("Your role can read but not change data.")


def page_numbers(page: Any, page_size: Any) -> tuple[int, int]:
    try:
        number, size = int(page), int(page_size)
    except (TypeError, ValueError):
        raise ValidationError("page", "must be a whole number") from None
    if size < 1 or size > MAX_PAGE_SIZE:
        raise ValidationError("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
    return max(1, number), size


def make_page(items: list, number: int, size: int, total: int, exact: bool = True) -> Page:
    """One page of `total` items; not `exact`: at least `total`, and more after this page."""
    num_pages = max(1, math.ceil(total / size))
    if not exact:
        num_pages = max(number + 1, num_pages)  # the pages known to exist
    return Page(
        items=items,
        page=number,
        page_size=size,
        total=total,
        has_next=number < num_pages,
        has_previous=number > 1,
        num_pages=num_pages,
        total_exact=exact,
    )


def clamp_page(number: int, size: int, total: int) -> int:
    """Like Django's Paginator.get_page: a page past the end shows the last one."""
    return min(number, max(1, math.ceil(total / size)))


_append_to_stream = direct(KurrentDBClient.append_to_stream)


def append(env: str, stream: str, event: NewEvent, expected: int | StreamState) -> int:
    """Append one event with an expected version; returns its commit position.

    Retrying is safe: the event id is fixed before the first attempt, and KurrentDB
    answers a re-sent id at the same expected version with the original position.
    """
    return connections.call(
        env,
        "append",
        lambda client, timeout: _append_to_stream(
            client, stream, events=event, current_version=expected, timeout=timeout
        ),
        inline=True,
    )


def append_and_apply(
    env: str,
    stream: str,
    new_event: NewEvent,
    expected: int | StreamState,
    *,
    before: Any,
    event: Any,
) -> Any | None:
    """Append one event (as `append`, raising what it raises) and make it visible in
    the read model before returning. `before` is the state the write was based on,
    at version `expected` (None for a create); `event` the domain event `new_event`
    was encoded from.

    The shortcut applies just that event onto the row it was based on; otherwise the
    projector catches up to the append's position (see projector.apply_written).
    Returns the new state when the shortcut applied it."""
    position = append(env, stream, new_event, expected)
    try:
        state = projector.apply_written(
            env, new_event, stream=stream, before=before, position=position, event=event
        )
    except DatabaseError as exc:
        log.warning("read model of %s: applying a write failed: %s", env, exc)
        state = None
    if state is None:
        catch_up_quietly(env, position)
    return state


def read_stream(env: str, stream: str) -> tuple[RecordedEvent, ...]:
    """Every event of one stream; NotFound if it never existed or was erased."""
    try:
        return connections.call(
            env, "read_stream", lambda client, timeout: client.get_stream(stream, timeout=timeout)
        )
    except (NotFoundError, StreamIsDeletedError):
        raise NotFound("There is no such record.") from None


def catch_up_quietly(env: str, position: int) -> None:
    """Catch the read model up to a write; a failure only delays the read model (the live
    projector or the next write will apply it), so it is logged, not raised."""
    try:
        projector.catch_up(env, until_position=position)
    except (KurrentError, DatabaseError) as exc:
        log.warning("read model of %s not caught up after a write: %s", env, exc)


def parse_uuid(value: Any, missing: str) -> str:
    """`value` as a canonical UUID; anything else names nothing: NotFound(missing)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(missing) from None


Row = TypeVar("Row")


def row_or_catch_up(
    fetch: Callable[[str, str], Row | None], env: str, object_id: str, min_version: int = 0
) -> Row | None:
    """The read-model row `fetch(env, object_id)`; if it is missing or older than
    `min_version`, catch up first."""
    row = fetch(env, object_id)
    if row is None or row.version < min_version:  # type: ignore[attr-defined]
        try:
            projector.catch_up(env)
        except KurrentError:
            return row
        row = fetch(env, object_id)
    return row


def may_read(actor: Any, item: Record | Entry) -> bool:
    return item.is_public or item.owner_id == actor.pk or is_admin(actor)


def may_change(actor: Any, item: Record | Entry) -> bool:
    return item.owner_id == actor.pk or is_admin(actor)


def max_data_bytes() -> int:
    return settings.KURRENT_RECORD_MAX_DATA_BYTES


def current_from_stream(
    env: str, stream: str, fold: Callable[..., State | None] = fold_record
) -> State | None:
    """The state folded from the stream itself (the truth when the read model lags);
    None if the stream never existed or was erased."""
    try:
        return fold_all(decode_all(read_stream(env, stream)), env_name=env, fold=fold)
    except NotFound:
        return None


def fold_written(
    fold: Callable[..., State | None],
    state: State | None,
    stream: str,
    new_event: NewEvent,
    env: str,
    event: Any = None,
) -> State:
    """Fold our own event locally, as the projector will (used when the read model lags);
    `event` is the domain event `new_event` was encoded from."""
    revision = state.version + 1 if state else 0
    envelope = decode_new(new_event, stream=stream, revision=revision, position=0, event=event)
    result = fold(state, envelope, env_name=env)
    assert result is not None
    return result


def user_id_by_name(username: str | None) -> int | None:
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).values_list("pk", flat=True)
    return next(iter(user), -1)  # -1: no such user, so nothing matches


# --- record helpers ------------------------------------------------------------------------------


def _record_uuid(record_id: Any) -> str:
    return parse_uuid(record_id, "There is no such record.")


def _row(env: str, record_id: str) -> StreamRecord | None:
    return prepared.fetch_one(StreamRecord, {"env": env, "record_id": record_id})


def _current_from_stream(env: str, record_id: str) -> Record | None:
    return current_from_stream(env, record_stream(record_id))


def _after_write(
    env: str,
    record_id: str,
    new_event: NewEvent,
    state: Record | None,
    before: Record | None,
    event: Any,
) -> Record:
    """The record as the writer should see it: the state the shortcut applied, else from
    the read model once it has the write, else folded from what we know was appended."""
    if state is not None:
        return state
    expected = fold_written(fold_record, before, record_stream(record_id), new_event, env, event)
    row = _row(env, record_id)
    if row is not None and row.version >= expected.version:
        return projector.record_from_row(row)
    return expected


# --- commands ------------------------------------------------------------------------------------


def create_record(
    actor: Any,
    *,
    name: str,
    data: dict | str,
    tags: list[str] | str = (),
    is_public: bool = False,
    metadata: dict | str | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Record:
    """Append StreamCreated to a new stream (expected: no stream) and return the record.

    With an idempotency key the record id is derived from it, so a resubmitted form
    lands on the same stream with the same event id and appends nothing.
    """
    require_writer(actor)
    env = env_name(env)
    event = StreamCreated(
        record_id="",
        name=clean_name(name),
        data=clean_object("data", data, max_bytes=max_data_bytes()),
        tags=list(clean_tags(tags)),
        owner_id=actor.pk,
        owner=actor.username,
        is_public=clean_bool("is_public", is_public),
        metadata=clean_object("metadata", metadata or {}, max_bytes=MAX_METADATA_BYTES),
    )
    key = clean_key(idempotency_key)
    record_id = object_id("record", actor.pk, key)
    event = StreamCreated(**{**event.__dict__, "record_id": record_id})
    stream = record_stream(record_id)
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=key)
    try:
        state = append_and_apply(
            env, stream, new_event, StreamState.NO_STREAM, before=None, event=event
        )
    except WrongCurrentVersionError:
        current = _current_from_stream(env, record_id)
        raise Conflict(
            "A record with this id exists already (the form was submitted with another "
            "record's key).",
            current,
            current.version if current else None,
        ) from None
    return _after_write(env, record_id, new_event, state, None, event)


def update_record(
    actor: Any,
    record_id: str,
    *,
    expected_version: int,
    name: str | None = None,
    data: dict | str | None = None,
    tags: list[str] | str | None = None,
    is_public: bool | None = None,
    metadata: dict | str | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Record:
    """Append StreamUpdated (only the changed fields) expecting `expected_version`.

    If the record moved on since then, raise Conflict carrying the current record and
    version (read from its stream); nothing is appended. Nothing changed: nothing is
    appended and the record is returned as it is.
    """
    require_writer(actor)
    env = env_name(env)
    record_id = _record_uuid(record_id)
    expected = clean_version("expected_version", expected_version)
    wanted: dict[str, Any] = {}
    if name is not None:
        wanted["name"] = clean_name(name)
    if data is not None:
        wanted["data"] = clean_object("data", data, max_bytes=max_data_bytes())
    if tags is not None:
        wanted["tags"] = clean_tags(tags)
    if is_public is not None:
        wanted["is_public"] = clean_bool("is_public", is_public)
    if metadata is not None:
        wanted["metadata"] = clean_object("metadata", metadata, max_bytes=MAX_METADATA_BYTES)
    key = clean_key(idempotency_key)

    row = row_or_catch_up(_row, env, record_id, expected)
    if row is None:
        raise NotFound("There is no such record.")
    state = projector.record_from_row(row)
    if state.version < expected:
        # The read model is behind (it could not catch up): the stream is the truth.
        state = _current_from_stream(env, record_id) or state
    if not may_change(actor, state):
        raise Forbidden("Only the owner or an admin may change this record.")
    if state.deleted:
        raise NotFound("This record was deleted.")
    changes = {k: v for k, v in wanted.items() if v != getattr(state, k)}
    if not changes and state.version == expected:
        return state
    stream = record_stream(record_id)
    event = StreamUpdated(
        record_id=record_id,
        changes={k: list(v) if k == "tags" else v for k, v in changes.items()},
    )
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=key)
    try:
        if state.version == expected:
            after = append_and_apply(env, stream, new_event, expected, before=state, event=event)
            return _after_write(env, record_id, new_event, after, state, event)
        position = append(env, stream, new_event, expected)
    except WrongCurrentVersionError:
        raise _conflict(env, record_id) from None
    # KurrentDB accepted a retry of an earlier write (same event id): show the record.
    catch_up_quietly(env, position)
    return get_record(actor, record_id, env=env)


def _conflict(env: str, record_id: str) -> Conflict:
    current = _current_from_stream(env, record_id)
    version = current.version if current else None
    return Conflict(
        f"This record was changed by someone else (it is now at version {version}). "
        "Nothing was saved: review the current values and try again.",
        current,
        version,
    )


def delete_record(
    actor: Any,
    record_id: str,
    *,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> None:
    """Append StreamDeleted. The record leaves lists and searches; its history stays.

    Without `expected_version`, the version in the read model is expected.
    """
    require_writer(actor)
    env = env_name(env)
    record_id = _record_uuid(record_id)
    expected = (
        None if expected_version is None else clean_version("expected_version", expected_version)
    )
    key = clean_key(idempotency_key)
    row = row_or_catch_up(_row, env, record_id, expected or 0)
    if row is None:
        raise NotFound("There is no such record.")
    state = projector.record_from_row(row)
    if not may_change(actor, state):
        raise Forbidden("Only the owner or an admin may delete this record.")
    stream = record_stream(record_id)
    if state.deleted:
        if key and state.last_event_id == str(event_id(stream, key)):
            return None  # this very delete, submitted again
        raise NotFound("This record was deleted.")
    event = StreamDeleted(record_id=record_id)
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=key)
    version = state.version if expected is None else expected
    try:
        if version == state.version:
            append_and_apply(env, stream, new_event, version, before=state, event=event)
            return None
        position = append(env, stream, new_event, version)
    except WrongCurrentVersionError:
        raise _conflict(env, record_id) from None
    catch_up_quietly(env, position)  # a retry KurrentDB recognised: nothing new
    return None


# --- queries -------------------------------------------------------------------------------------


def get_record(actor: Any, record_id: str, env: str | None = None) -> Record:
    """The record with its current version, from the read model."""
    require_reader(actor)
    env = env_name(env)
    record_id = _record_uuid(record_id)
    row = row_or_catch_up(_row, env, record_id)
    if row is None or row.deleted:
        raise NotFound("There is no such record.")
    record = projector.record_from_row(row)
    if not may_read(actor, record):
        raise Forbidden("This record is private.")
    return record


def list_records(
    actor: Any,
    *,
    owner: str | None = None,
    tags: list[str] | str = (),
    page: int = 1,
    page_size: int = 20,
    env: str | None = None,
) -> Page:
    """Records the actor may see, most recently changed first; all `tags` must match."""
    require_reader(actor)
    env = env_name(env)
    number, size = page_numbers(page, page_size)
    qs = (
        StreamRecord.objects.for_env(env)
        .live()
        .visible_to(actor, admin=is_admin(actor))
        .with_tags(clean_tags(tags))
    )
    if owner:
        qs = qs.filter(owner_id=user_id_by_name(owner))
    total = qs.count()
    number = clamp_page(number, size, total)
    rows = qs.order_by("-updated_at", "-id")[(number - 1) * size : number * size]
    return make_page([projector.record_from_row(r) for r in rows], number, size, total)


def search_records(
    actor: Any,
    query: str,
    *,
    tags: list[str] | str = (),
    owner: str | None = None,
    page: int = 1,
    page_size: int = 20,
    env: str | None = None,
) -> Page:
    """Full-text search over name, tags and the text inside data; best match first, then
    the most recently changed. An empty query lists records as list_records does."""
    require_reader(actor)
    env = env_name(env)
    if query is not None and not isinstance(query, str):
        raise ValidationError("query", "must be text")
    if query and len(query) > MAX_QUERY:
        raise ValidationError("query", f"must be at most {MAX_QUERY} characters")
    words = search.terms(query or "")
    if not words:
        return list_records(actor, owner=owner, tags=tags, page=page, page_size=page_size, env=env)
    number, size = page_numbers(page, page_size)
    filters = search.Filters(
        env=env,
        viewer_id=None if is_admin(actor) else actor.pk,
        owner_id=user_id_by_name(owner) if owner else None,
        tags=clean_tags(tags),
    )
    found = search.search(words, filters, offset=(number - 1) * size, limit=size)
    if found.total and not found.pks:  # past the end: the total is exact there
        number = clamp_page(number, size, found.total)
        found = search.search(words, filters, offset=(number - 1) * size, limit=size)
    rows = StreamRecord.objects.in_bulk(found.pks)
    items = [projector.record_from_row(rows[pk]) for pk in found.pks if pk in rows]
    return make_page(items, number, size, found.total, exact=found.exact)


def record_history(actor: Any, record_id: str, env: str | None = None) -> list[HistoryEntry]:
    """Every event of the record, oldest first, with actor, time and what changed.

    Read from KurrentDB, so it stays readable after a delete (to those allowed)."""
    require_reader(actor)
    env = env_name(env)
    envelopes = _readable_stream(actor, env, _record_uuid(record_id))
    return history(envelopes, env_name=env)


def _readable_stream(actor: Any, env: str, record_id: str) -> list[Any]:
    envelopes = decode_all(read_stream(env, record_stream(record_id)))
    current = fold_all(envelopes, env_name=env)
    if current is None:
        raise NotFound("There is no such record.")
    if not may_read(actor, current):
        raise Forbidden("This record is private.")
    return envelopes


def record_at_version(actor: Any, record_id: str, version: int, env: str | None = None) -> Record:
    """The record as it was right after the event at `version`."""
    require_reader(actor)
    env = env_name(env)
    version = clean_version("version", version)
    envelopes = _readable_stream(actor, env, _record_uuid(record_id))
    state = fold_all([e for e in envelopes if e.revision <= version], env_name=env)
    if state is None or version > envelopes[-1].revision:
        raise ValidationError("version", f"this record has versions 0 to {envelopes[-1].revision}")
    return state


def diff_versions(
    actor: Any, record_id: str, from_version: int, to_version: int, env: str | None = None
) -> dict[str, dict[str, Any]]:
    """field -> {"old", "new"} between two versions of the record."""
    require_reader(actor)
    env = env_name(env)
    start = clean_version("from_version", from_version)
    end = clean_version("to_version", to_version)
    envelopes = _readable_stream(actor, env, _record_uuid(record_id))
    last = envelopes[-1].revision
    for field_name, value in (("from_version", start), ("to_version", end)):
        if value > last:
            raise ValidationError(field_name, f"this record has versions 0 to {last}")
    old = fold_all([e for e in envelopes if e.revision <= start], env_name=env)
    new = fold_all([e for e in envelopes if e.revision <= end], env_name=env)
    return record_changes(old, new)
