"""User data: what a user keeps (profile, preferences, settings, data, custom), as streams.

Each entry is the stream `userdata-<user id>-<uuid>`, so every stream of one user
shares a prefix and can be found (and erased) with a server-side prefix filter.
Entries are public or private; a private entry is never returned to another user
who is not an admin, by any call here.

As in the original store, (user, type, category) names one entry (its address):
`store_user_data`, `get_user_data(user, type)` (its categories), `get_user_entry`,
`update_user_data`, `delete_user_data`, `restore_user_data`. The entry's uuid derives
from its address (`entry_address_id`), so two stores to one address meet in one stream
and KurrentDB's expected version lets only one create it; the read model's unique
constraint on live rows (migration 0012) holds the same rule. Type and category are
therefore fixed once stored. The by-id calls (`get_entry`, `update_entry`, ...) serve
the dashboard's pages, which link entries by id.

History, versions and diffs of an entry are in kurrent.services.entry_history, erasing
a user's data for good in kurrent.services.erasure; both are re-exported here. (Over
500 lines: the calls by address and by id share their cleaning and rules.)
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from kurrentdbclient.exceptions import FailedPreconditionError, StreamIsDeletedError

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
from kurrent.core.errors import AlreadySubmitted, Conflict, Forbidden, NotFound, ValidationError
from kurrent.core.events import (
    UserDataStored,
    entry_address_id,
    event_id,
    userdata_stream,
)
from kurrent.models import UserDataEntry
from kurrent.readmodel.rows import entry_from_row
from kurrent.services import pipeline, schemas
from kurrent.services.common import (
    MAX_QUERY,
    Page,
    clamp_page,
    env_name,
    make_page,
    max_data_bytes,
    page_numbers,
    parse_uuid,
    require_reader,
    require_writer,
)
from kurrent.services.entry_history import diff_entry_versions, entry_at_version, entry_history
from kurrent.services.erasure import erase_user
from kurrent.services.pipeline import ENTRIES
from kurrent.services.roles import is_admin

__all__ = [
    "ENTRY_TYPES",
    "Entry",
    "delete_entry",
    "delete_user_data",
    "diff_entry_versions",
    "entry_at_version",
    "entry_history",
    "erase_user",
    "get_entry",
    "get_user_data",
    "get_user_entry",
    "list_entries",
    "public_directory",
    "restore_entry",
    "restore_user_data",
    "store_entry",
    "store_user_data",
    "update_entry",
    "update_user_data",
]

# Streams of one address an erasure may have tombstoned before a store finds a free one.
MAX_GENERATIONS = 100


def _entry_uuid(entry_id: Any) -> str:
    return parse_uuid(entry_id, "There is no such entry.")


# --- commands ------------------------------------------------------------------------------


def store_user_data(
    actor: Any,
    entry_type: str,
    category: str,
    data: dict | str,
    is_public: bool | None = None,
    *,
    user: Any = None,
    tags: list[str] | str | None = None,
    key: str = "",
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Entry:
    """Store `data` as the entry (user, type, category) names (the original
    storeUserData); `user` defaults to the actor, another user's only for an admin.

    No entry there: it is created (UserDataStored, expected: no stream). A deleted one
    there: it comes back with these values (UserDataRestored and UserDataUpdated in one
    append). A live one there: it is updated, expecting `expected_version`, the version
    the caller saw; without one the caller saw none, so Conflict carries the entry now
    stored (nothing is appended, never a second entry). `is_public` and `tags` left
    None keep what the entry has (new: private, no tags). A new or changed value must
    match the type's JSON Schema in force (kurrent.services.schemas): else a
    ValidationError on `value` names each JSON path and rule."""
    require_writer(actor)
    owner = _owner(actor, user)
    entry_type = clean_entry_type(entry_type)
    category = clean_category(category)
    value = clean_object("value", data, max_bytes=max_data_bytes())
    wanted: dict[str, Any] = {"value": value}
    if tags is not None:
        wanted["tags"] = clean_tags(tags)
    if is_public is not None:
        wanted["is_public"] = clean_bool("is_public", is_public)
    key = clean_entry_key(key)
    expected = (
        None if expected_version is None else clean_version("expected_version", expected_version)
    )
    ikey = clean_key(idempotency_key)
    env = env_name(env)
    current = _at_address(env, owner.pk, entry_type, category)
    if current is None or current.value != value:
        schemas.check_value(entry_type, value, env)
    if current is None:
        return _create_at_address(actor, owner, env, entry_type, category, wanted, key, ikey)
    return _store_over(actor, env, current, wanted, expected, ikey)


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
    """The dashboard's store form: a new entry at (actor, type, category). One stored
    there already: Conflict carrying it (store_user_data with no version seen)."""
    return store_user_data(
        actor,
        entry_type,
        category,
        value,
        is_public,
        tags=tags,
        key=key,
        idempotency_key=idempotency_key,
        env=env,
    )


def _owner(actor: Any, user: Any) -> Any:
    if user is None or getattr(user, "pk", None) == actor.pk:
        return actor
    if getattr(user, "pk", None) is None:
        raise ValidationError("user", "must be an existing user")
    if not is_admin(actor):
        raise Forbidden("Only an admin may store data for another user.")
    return user


def _at_address(env: str, owner_id: int, entry_type: str, category: str) -> Entry | None:
    """The entry at the address as the read model has it: the live one, else the
    newest deleted one, else None."""
    row = (
        UserDataEntry.objects.filter(
            env=env, owner_id=owner_id, entry_type=entry_type, category=category
        )
        .order_by("deleted", "-updated_at", "-id")
        .first()
    )
    return None if row is None else entry_from_row(row)


def _create_at_address(
    actor: Any,
    owner: Any,
    env: str,
    entry_type: str,
    category: str,
    wanted: dict[str, Any],
    key: str,
    ikey: str | None,
) -> Entry:
    """Create the address's stream; if it exists (the read model lags, or another
    store won the race), store over what it holds; tombstoned by an erasure: the
    next generation's stream."""
    for generation in range(MAX_GENERATIONS):
        entry_id = entry_address_id(owner.pk, entry_type, category, generation)
        stream = userdata_stream(owner.pk, entry_id)
        event = UserDataStored(
            entry_id=entry_id,
            owner_id=owner.pk,
            owner=owner.username,
            entry_type=entry_type,
            category=category,
            value=wanted["value"],
            tags=list(wanted.get("tags", ())),
            is_public=wanted.get("is_public", False),
            key=key,
        )
        try:
            return pipeline.create(ENTRIES, actor, env, stream, event, ikey)
        except (StreamIsDeletedError, FailedPreconditionError) as exc:
            if _tombstoned(exc):
                continue
            raise
        except Conflict as exc:
            if exc.current is None:
                raise
            return _store_over(actor, env, exc.current, wanted, None, ikey)
    raise Conflict(f"No free stream is left for {entry_type}/{category}.")


def _tombstoned(exc: Exception) -> bool:
    """Whether an append failed because the stream was tombstoned. The client says so
    as StreamIsDeletedError after a batch append, but as a bare FailedPreconditionError
    ("Event stream ... is deleted.") after a single append, as KurrentDB answers it."""
    if isinstance(exc, StreamIsDeletedError):
        return True
    return type(exc) is FailedPreconditionError and "is deleted" in str(exc)


def _store_over(
    actor: Any,
    env: str,
    current: Entry,
    wanted: dict[str, Any],
    expected: int | None,
    ikey: str | None,
) -> Entry:
    stream = userdata_stream(current.owner_id, current.id)
    if ikey and (
        current.last_event_id in {str(event_id(stream, ikey, i)) for i in (0, 1)}
        or pipeline.newest_from_form(ENTRIES, env, stream, ikey)
    ):
        # This form's own earlier store: the same values again are its answer again;
        # other values must not be answered "Saved." over what the first one kept.
        if all(getattr(current, name) == value for name, value in wanted.items()):
            return pipeline.readable(ENTRIES, actor, env, current.id)
        raise AlreadySubmitted(
            "This form was submitted before with other values, and that first submission "
            "is what was saved. Nothing was saved now: what you typed is kept below; "
            "change the entry to save it.",
            current,
        )
    if current.deleted:
        return pipeline.restore(
            ENTRIES, actor, env, current.id, expected=expected, key=ikey, wanted=wanted
        )
    if expected is None:
        raise Conflict(
            f"There is a {current.entry_type}/{current.category} entry already (version "
            f"{current.version}); (user, type, category) names one entry. Nothing was "
            "saved: change that entry instead.",
            current,
            current.version,
        )
    return pipeline.update(
        ENTRIES, actor, env, current.id, expected=expected, wanted=wanted, key=ikey
    )


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
    if category is not None or value is not None:
        current = pipeline.load(ENTRIES, env_name(env), entry_id)
        if current is not None and category is not None:
            _same_category(current, clean_category(category))
        if current is not None and value is not None and wanted["value"] != current.value:
            # Only a changed value meets the schema in force: an entry stored before it
            # keeps its value through a change of tags or visibility.
            schemas.check_value(current.entry_type, wanted["value"], env)
    ikey = clean_key(idempotency_key)
    return pipeline.update(
        ENTRIES, actor, env_name(env), entry_id, expected=expected, wanted=wanted, key=ikey
    )


def _same_category(current: Entry, category: str) -> None:
    """The category is half an entry's address: it stays what it was stored as."""
    if current.category != category:
        raise ValidationError(
            "category",
            "names the entry (with its type) and cannot be changed: store the value "
            "under the new category, then delete this entry",
        )


def update_user_data(
    actor: Any,
    user: Any,
    entry_type: str,
    category: str,
    data: dict | str,
    *,
    expected_version: int,
    tags: list[str] | str | None = None,
    is_public: bool | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Entry:
    """Change the value (and, given, tags and visibility) of the entry at (user, type,
    category), expecting `expected_version` (the original updateUserData). NotFound if
    no live entry is there; Conflict carrying the current entry if it moved on."""
    entry = get_user_entry(actor, user, entry_type, category, env=env)
    return update_entry(
        actor,
        entry.id,
        expected_version=expected_version,
        value=data,
        tags=tags,
        is_public=is_public,
        idempotency_key=idempotency_key,
        env=env,
    )


def delete_user_data(
    actor: Any,
    user: Any,
    entry_type: str,
    category: str,
    *,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> None:
    """Delete the entry at (user, type, category) (UserDataDeleted); its history stays."""
    entry = get_user_entry(actor, user, entry_type, category, env=env)
    delete_entry(
        actor,
        entry.id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        env=env,
    )


def restore_entry(
    actor: Any,
    entry_id: str,
    *,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Entry:
    """Bring a deleted entry back as it was (UserDataRestored): its owner or an admin.
    If another live entry holds its address meanwhile, nothing is appended."""
    require_writer(actor)
    env = env_name(env)
    entry_id = _entry_uuid(entry_id)
    expected = (
        None if expected_version is None else clean_version("expected_version", expected_version)
    )
    ikey = clean_key(idempotency_key)
    entry = pipeline.load(ENTRIES, env, entry_id)
    if entry is not None and entry.deleted:
        holder = _at_address(env, entry.owner_id, entry.entry_type, entry.category)
        if holder is not None and not holder.deleted and holder.id != entry.id:
            raise ValidationError(
                "category",
                f"another {entry.entry_type}/{entry.category} entry is stored now; "
                "delete it first to restore this one",
            )
    return pipeline.restore(ENTRIES, actor, env, entry_id, expected=expected, key=ikey)


def restore_user_data(
    actor: Any,
    user: Any,
    entry_type: str,
    category: str,
    *,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Entry:
    """Bring back the deleted entry at (user, type, category)."""
    require_reader(actor)
    entry = _at_address(
        env_name(env), _owner_id(user), clean_entry_type(entry_type), clean_category(category)
    )
    if entry is None or not entry.deleted:
        raise NotFound(f"There is no deleted {entry_type}/{category} entry.")
    if not entry.is_public and not (entry.owner_id == actor.pk or is_admin(actor)):
        raise NotFound(f"There is no deleted {entry_type}/{category} entry.")
    return restore_entry(
        actor,
        entry.id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        env=env,
    )


def _owner_id(user: Any) -> int:
    user_id = getattr(user, "pk", user)
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise ValidationError("user", "must be an existing user")
    return user_id


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


def get_user_data(
    actor: Any, user: Any, entry_type: str, env: str | None = None
) -> dict[str, Entry]:
    """The live entries of `user` (a user or their id) of one type, by category, as
    `actor` may see them (the original getUserData(userId, type)); sorted by category."""
    require_reader(actor)
    qs = (
        UserDataEntry.objects.filter(
            env=env_name(env), owner_id=_owner_id(user), entry_type=clean_entry_type(entry_type)
        )
        .live()
        .visible_to(actor)
        .order_by("category")
    )
    return {row.category: entry_from_row(row) for row in qs}


def get_user_entry(
    actor: Any, user: Any, entry_type: str, category: str, env: str | None = None
) -> Entry:
    """The live entry at (user, type, category); NotFound if there is none or `actor`
    may not see it (a private entry of another user looks like no entry)."""
    require_reader(actor)
    row = (
        UserDataEntry.objects.filter(
            env=env_name(env),
            owner_id=_owner_id(user),
            entry_type=clean_entry_type(entry_type),
            category=clean_category(category),
        )
        .live()
        .visible_to(actor)
        .first()
    )
    if row is None:
        raise NotFound(f"There is no {entry_type}/{category} entry.")
    return entry_from_row(row)


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
