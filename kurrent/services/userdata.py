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
from kurrentdbclient.exceptions import StreamIsDeletedError

from kurrent.connection.manager import connections
from kurrent.core.domain import (
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
)
from kurrent.core.errors import Forbidden, ValidationError
from kurrent.core.events import (
    STREAM_PREFIXES,
    UserDataStored,
    UserErased,
    encode,
    erasure_stream,
    object_id,
    record_stream,
    userdata_prefix,
    userdata_stream,
)
from kurrent.models import StreamRecord, UserDataEntry
from kurrent.readmodel import projector
from kurrent.readmodel.rows import entry_from_row
from kurrent.services import pipeline
from kurrent.services.common import (
    MAX_QUERY,
    Page,
    append,
    clamp_page,
    env_name,
    make_page,
    max_data_bytes,
    page_numbers,
    parse_uuid,
    require_reader,
    require_writer,
)
from kurrent.services.pipeline import ENTRIES
from kurrent.services.roles import is_admin

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


def _entry_uuid(entry_id: Any) -> str:
    return parse_uuid(entry_id, "There is no such entry.")


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
    fields = {
        "entry_type": clean_entry_type(entry_type),
        "category": clean_category(category),
        "value": clean_object("value", value, max_bytes=max_data_bytes()),
        "tags": list(clean_tags(tags)),
        "is_public": clean_bool("is_public", is_public),
        "key": clean_entry_key(key),
    }
    ikey = clean_key(idempotency_key)
    entry_id = object_id("userdata", actor.pk, ikey)
    event = UserDataStored(entry_id=entry_id, owner_id=actor.pk, owner=actor.username, **fields)
    stream = userdata_stream(actor.pk, entry_id)
    return pipeline.create(ENTRIES, actor, env_name(env), stream, event, ikey)


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
    return pipeline.update(
        ENTRIES, actor, env_name(env), entry_id, expected=expected, wanted=wanted, key=ikey
    )


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
    entry_id = _entry_uuid(entry_id)
    expected = (
        None if expected_version is None else clean_version("expected_version", expected_version)
    )
    ikey = clean_key(idempotency_key)
    pipeline.delete(ENTRIES, actor, env_name(env), entry_id, expected=expected, key=ikey)


# --- queries -------------------------------------------------------------------------------


def get_entry(actor: Any, entry_id: str, env: str | None = None) -> Entry:
    require_reader(actor)
    return pipeline.readable(ENTRIES, actor, env_name(env), _entry_uuid(entry_id))


def list_entries(
    actor: Any, *, user: Any = None, entry_type: str | None = None, env: str | None = None
) -> dict[str, list[Entry]]:
    """A user's entries (default: the actor's) by type, newest first; another user's
    private entries only for an admin."""
    require_reader(actor)
    env = env_name(env)
    owner = user if user is not None else actor
    qs = UserDataEntry.objects.filter(env=env, owner_id=owner.pk).live().visible_to(actor)
    types = ENTRY_TYPES
    if entry_type:
        types = (clean_entry_type(entry_type),)
        qs = qs.filter(entry_type=entry_type)
    grouped: dict[str, list[Entry]] = {name: [] for name in types}
    for row in qs.order_by("-updated_at", "-id"):
        grouped[row.entry_type].append(entry_from_row(row))
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
    return make_page([entry_from_row(r) for r in rows], number, size, total)


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
    projector.catch_up(env)  # the stream records they own, as the read model has them
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
