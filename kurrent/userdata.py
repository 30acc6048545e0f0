"""User data: what a user keeps (profile, preferences, settings, data, custom), as streams.

Each entry is the stream `userdata-<user id>-<uuid>`, so every stream of one user
shares a prefix and can be found (and erased) with a server-side prefix filter.
Entries are public or private; a private entry is never returned to another user
who is not an admin, by any call here.

`erase_user` is the one way data leaves KurrentDB for good: it tombstones every
stream of the user (their entries and the stream records they own). Tombstone, not
delete + truncate: a tombstoned stream can never be read or written again (a retried
form cannot bring it back), its metadata goes with it, and the next scavenge of a
real KurrentDB drops the events from disk. A soft delete would leave the stream
re-creatable and its old events reachable by resetting its metadata. Then an
`UserErased` event tells the projector (now and in every rebuild) to drop the user's
read-model rows.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import Q
from kurrentdbclient import StreamState
from kurrentdbclient.exceptions import StreamIsDeletedError, WrongCurrentVersionError

from kurrent import prepared, projector
from kurrent.connection import connections
from kurrent.domain import (
    ENTRY_TYPES,
    Entry,
    clean_bool,
    clean_category,
    clean_entry_key,
    clean_entry_type,
    clean_key,
    clean_object,
    clean_tags,
    clean_version,
    fold_entry,
)
from kurrent.errors import Conflict, Forbidden, NotFound, ValidationError
from kurrent.events import (
    STREAM_PREFIXES,
    UserDataDeleted,
    UserDataStored,
    UserDataUpdated,
    UserErased,
    encode,
    erasure_stream,
    event_id,
    object_id,
    record_stream,
    userdata_prefix,
    userdata_stream,
)
from kurrent.models import StreamRecord, UserDataEntry
from kurrent.roles import is_admin
from kurrent.streams import (
    Page,
    append,
    append_and_apply,
    catch_up_quietly,
    clamp_page,
    current_from_stream,
    env_name,
    fold_written,
    make_page,
    max_data_bytes,
    may_change,
    may_read,
    page_numbers,
    parse_uuid,
    require_reader,
    require_writer,
    row_or_catch_up,
)

log = logging.getLogger("kurrent.userdata")

__all__ = [
    "ENTRY_TYPES",
    "Entry",
    "delete_entry",
    "erase_user",
    "get_entry",
    "list_entries",
    "public_directory",
    "store_entry",
    "update_entry",
]

MAX_QUERY = 200


def _entry_uuid(entry_id: Any) -> str:
    return parse_uuid(entry_id, "There is no such entry.")


def _row(env: str, entry_id: str) -> UserDataEntry | None:
    return prepared.fetch_one(UserDataEntry, {"env": env, "entry_id": entry_id})


def _after_write(
    env: str, new_event: Any, state: Entry | None, before: Entry | None, stream: str, event: Any
) -> Entry:
    """The entry as the writer should see it (as streams._after_write)."""
    if state is not None:
        return state
    expected = fold_written(fold_entry, before, stream, new_event, env, event)
    row = _row(env, expected.id)
    if row is not None and row.version >= expected.version:
        return projector.entry_from_row(row)
    return expected


def _stream_of(entry: Entry) -> str:
    return userdata_stream(entry.owner_id, entry.id)


def _current_from_stream(env: str, entry: Entry) -> Entry | None:
    return current_from_stream(env, _stream_of(entry), fold_entry)


def _conflict(env: str, entry: Entry) -> Conflict:
    current = _current_from_stream(env, entry)
    version = current.version if current else None
    return Conflict(
        f"This entry was changed elsewhere (it is now at version {version}). "
        "Nothing was saved: review the current values and try again.",
        current,
        version,
    )


# --- commands ------------------------------------------------------------------------------


def store_entry(
    actor: Any,
    *,
    entry_type: str,
    category: str,
    value: dict | str,
    tags: list[str] | str = (),
    is_public: bool = False,
    key: str = "",
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Entry:
    """Store a new entry of the actor's (UserDataStored, expected: no stream)."""
    require_writer(actor)
    env = env_name(env)
    ikey = clean_key(idempotency_key)
    entry_id = object_id("userdata", actor.pk, ikey)
    event = UserDataStored(
        entry_id=entry_id,
        owner_id=actor.pk,
        owner=actor.username,
        entry_type=clean_entry_type(entry_type),
        category=clean_category(category),
        value=clean_object("value", value, max_bytes=max_data_bytes()),
        tags=list(clean_tags(tags)),
        is_public=clean_bool("is_public", is_public),
        key=clean_entry_key(key),
    )
    stream = userdata_stream(actor.pk, entry_id)
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=ikey)
    try:
        state = append_and_apply(
            env, stream, new_event, StreamState.NO_STREAM, before=None, event=event
        )
    except WrongCurrentVersionError:
        raise Conflict("An entry with this id exists already.") from None
    return _after_write(env, new_event, state, None, stream, event)


def update_entry(
    actor: Any,
    entry_id: str,
    *,
    expected_version: int,
    value: dict | str | None = None,
    tags: list[str] | str | None = None,
    is_public: bool | None = None,
    category: str | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Entry:
    """Append UserDataUpdated (changed fields only) expecting `expected_version`."""
    require_writer(actor)
    env = env_name(env)
    entry_id = _entry_uuid(entry_id)
    expected = clean_version("expected_version", expected_version)
    wanted: dict[str, Any] = {}
    if value is not None:
        wanted["value"] = clean_object("value", value, max_bytes=max_data_bytes())
    if tags is not None:
        wanted["tags"] = clean_tags(tags)
    if is_public is not None:
        wanted["is_public"] = clean_bool("is_public", is_public)
    if category is not None:
        wanted["category"] = clean_category(category)
    ikey = clean_key(idempotency_key)
    row = row_or_catch_up(_row, env, entry_id, expected)
    if row is None:
        raise NotFound("There is no such entry.")
    state = projector.entry_from_row(row)
    if not may_change(actor, state):
        raise Forbidden("Only the owner or an admin may change this entry.")
    if state.version < expected:
        state = _current_from_stream(env, state) or state
    if state.deleted:
        raise NotFound("This entry was deleted.")
    changes = {k: v for k, v in wanted.items() if v != getattr(state, k)}
    if not changes and state.version == expected:
        return state
    stream = _stream_of(state)
    event = UserDataUpdated(
        entry_id=entry_id,
        changes={k: list(v) if k == "tags" else v for k, v in changes.items()},
    )
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=ikey)
    try:
        if state.version == expected:
            after = append_and_apply(env, stream, new_event, expected, before=state, event=event)
            return _after_write(env, new_event, after, state, stream, event)
        position = append(env, stream, new_event, expected)
    except WrongCurrentVersionError:
        raise _conflict(env, state) from None
    catch_up_quietly(env, position)  # a retry KurrentDB recognised: show the entry
    return get_entry(actor, entry_id, env=env)


def delete_entry(
    actor: Any,
    entry_id: str,
    *,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> None:
    """Append UserDataDeleted; the entry leaves every listing."""
    require_writer(actor)
    env = env_name(env)
    entry_id = _entry_uuid(entry_id)
    expected = (
        None if expected_version is None else clean_version("expected_version", expected_version)
    )
    ikey = clean_key(idempotency_key)
    row = row_or_catch_up(_row, env, entry_id, expected or 0)
    if row is None:
        raise NotFound("There is no such entry.")
    state = projector.entry_from_row(row)
    if not may_change(actor, state):
        raise Forbidden("Only the owner or an admin may delete this entry.")
    stream = _stream_of(state)
    if state.deleted:
        if ikey and state.last_event_id == str(event_id(stream, ikey)):
            return None
        raise NotFound("This entry was deleted.")
    event = UserDataDeleted(entry_id=entry_id)
    new_event = encode(event, stream=stream, actor=actor, idempotency_key=ikey)
    version = state.version if expected is None else expected
    try:
        if version == state.version:
            append_and_apply(env, stream, new_event, version, before=state, event=event)
            return None
        position = append(env, stream, new_event, version)
    except WrongCurrentVersionError:
        raise _conflict(env, state) from None
    catch_up_quietly(env, position)  # a retry KurrentDB recognised: nothing new
    return None


# --- queries -------------------------------------------------------------------------------


def get_entry(actor: Any, entry_id: str, env: str | None = None) -> Entry:
    require_reader(actor)
    env = env_name(env)
    row = row_or_catch_up(_row, env, _entry_uuid(entry_id))
    if row is None or row.deleted:
        raise NotFound("There is no such entry.")
    entry = projector.entry_from_row(row)
    if not may_read(actor, entry):
        raise Forbidden("This entry is private.")
    return entry


def list_entries(
    actor: Any, *, user: Any = None, entry_type: str | None = None, env: str | None = None
) -> dict[str, list[Entry]]:
    """A user's entries (default: the actor's) by type, newest first; another user's
    private entries only for an admin."""
    require_reader(actor)
    env = env_name(env)
    owner = user if user is not None else actor
    qs = UserDataEntry.objects.filter(env=env, owner_id=owner.pk).live()
    if owner.pk != actor.pk and not is_admin(actor):
        qs = qs.filter(is_public=True)
    types = ENTRY_TYPES
    if entry_type:
        types = (clean_entry_type(entry_type),)
        qs = qs.filter(entry_type=entry_type)
    grouped: dict[str, list[Entry]] = {name: [] for name in types}
    for row in qs.order_by("-updated_at", "-id"):
        grouped[row.entry_type].append(projector.entry_from_row(row))
    return grouped


def public_directory(
    actor: Any,
    *,
    entry_type: str | None = None,
    query: str | None = None,
    page: int = 1,
    page_size: int = 20,
    env: str | None = None,
) -> Page:
    """Every user's public entries, newest first; `query` filters on category, tags,
    key and the text inside the value (each word must occur)."""
    require_reader(actor)
    env = env_name(env)
    number, size = page_numbers(page, page_size)
    qs = UserDataEntry.objects.filter(env=env, is_public=True).live()
    if entry_type:
        qs = qs.filter(entry_type=clean_entry_type(entry_type))
    if query:
        if not isinstance(query, str) or len(query) > MAX_QUERY:
            raise ValidationError("query", f"must be text of at most {MAX_QUERY} characters")
        condition = Q()
        for word in query.lower().split()[:12]:
            condition &= Q(search_text__contains=word)
        qs = qs.filter(condition)
    total = qs.count()
    number = clamp_page(number, size, total)
    rows = qs.order_by("-updated_at", "-id")[(number - 1) * size : number * size]
    return make_page([projector.entry_from_row(r) for r in rows], number, size, total)


# --- erasure -----------------------------------------------------------------------------


def erase_user(
    actor: Any, user: Any, env: str | None = None, *, idempotency_key: str | None = None
) -> int:
    """Admin only: tombstone every stream `user` stored (entries and owned stream records),
    then append UserErased so the read model (and every rebuild) drops their rows.
    Returns the number of streams tombstoned by this call."""
    if not is_admin(actor):
        raise Forbidden("Only an admin may erase a user's data.")
    if getattr(user, "pk", None) is None:
        raise ValidationError("user", "must be an existing user")
    env = env_name(env)
    projector.catch_up(env)
    streams = set(_user_streams(env, user.pk))
    erased = 0
    for stream in sorted(streams):
        if _tombstone(env, stream):
            erased += 1
    marker = encode(
        UserErased(user_id=user.pk),
        stream=erasure_stream(user.pk),
        actor=actor,
        idempotency_key=idempotency_key,
    )
    position = append(env, erasure_stream(user.pk), marker, StreamState.ANY)
    projector.catch_up(env, until_position=position)
    log.info("erased %d stream(s) of user %s in %s", erased, user.pk, env)
    return erased


def _user_streams(env: str, user_id: int) -> list[str]:
    """Every stream of the user: user-data streams found in $all by prefix (so none is
    missed even if the read model lost it), plus the stream records they own."""
    prefix = userdata_prefix(user_id)
    assert prefix.startswith(STREAM_PREFIXES)

    def read(client: Any, timeout: float) -> set[str]:
        return {
            e.stream_name
            for e in client.read_all(
                filter_include=(prefix,),
                filter_by_stream_name=True,
                filter_by_prefix=True,
                timeout=timeout,
            )
        }

    with connections.stream_slot(env):
        names = connections.call(env, "erase_scan", read)
    owned = StreamRecord.objects.filter(env=env, owner_id=user_id).values_list(
        "record_id", flat=True
    )
    return [*names, *(record_stream(r) for r in owned)]


def _tombstone(env: str, stream: str) -> bool:
    try:
        connections.call(
            env,
            "tombstone",
            lambda client, timeout: client.tombstone_stream(
                stream, current_version=StreamState.ANY, timeout=timeout
            ),
        )
    except StreamIsDeletedError:
        return False  # already erased
    return True
