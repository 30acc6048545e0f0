"""Stream records as event streams: create, read, list, search, update, delete, history.

Each record is the KurrentDB stream `pool-<uuid>` (names in kurrent.core.events); its events
are its history and its version is the stream revision. Writes go through the command
pipeline (kurrent.services.pipeline); lists, searches and a record by id come from the
read model; history, "as at version n" and diffs fold the stream itself.

Permissions are checked here, not only in views: anyone signed in reads public
records and their own; editors create; only the owner or an admin changes or deletes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef

from kurrent.core.domain import (
    MAX_METADATA_BYTES,
    MAX_TAGS,
    HistoryEntry,
    Record,
    clean_bool,
    clean_key,
    clean_name,
    clean_object,
    clean_tags,
    clean_version,
    decode_all,
    fold_all,
    history,
    record_changes,
)
from kurrent.core.errors import NotFound, Private, ValidationError
from kurrent.core.events import StreamCreated, object_id, record_stream
from kurrent.models import StreamRecord
from kurrent.readmodel import search
from kurrent.readmodel.rows import record_from_row
from kurrent.readmodel.visibility import may_see, viewer_id
from kurrent.services import pipeline
from kurrent.services.common import (
    MAX_QUERY,
    Page,
    clamp_page,
    env_name,
    make_page,
    max_data_bytes,
    page_numbers,
    parse_uuid,
    read_stream,
    require_reader,
    require_writer,
    user_id_by_name,
)
from kurrent.services.pipeline import RECORDS

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
    "owner_suggestions",
    "record_at_version",
    "record_history",
    "restore_record",
    "search_records",
    "update_record",
]
ID_MATCHES = 20  # records a query naming an id (or its first 8 digits) shows at most
OWNER_SUGGESTIONS = 10


def _record_uuid(record_id: Any) -> str:
    return parse_uuid(record_id, "There is no such record.")


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
    fields = {
        "name": clean_name(name),
        "data": clean_object("data", data, max_bytes=max_data_bytes()),
        "tags": list(clean_tags(tags)),
        "is_public": clean_bool("is_public", is_public),
        "metadata": clean_object("metadata", metadata or {}, max_bytes=MAX_METADATA_BYTES),
    }
    key = clean_key(idempotency_key)
    record_id = object_id("record", actor.pk, key)
    event = StreamCreated(record_id=record_id, owner_id=actor.pk, owner=actor.username, **fields)
    return pipeline.create(RECORDS, actor, env_name(env), record_stream(record_id), event, key)


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
    return pipeline.update(
        RECORDS, actor, env_name(env), record_id, expected=expected, wanted=wanted, key=key
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
    record_id = _record_uuid(record_id)
    expected = (
        None if expected_version is None else clean_version("expected_version", expected_version)
    )
    key = clean_key(idempotency_key)
    pipeline.delete(RECORDS, actor, env_name(env), record_id, expected=expected, key=key)


def restore_record(
    actor: Any,
    record_id: str,
    *,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> Record:
    """Bring a deleted record back as it was when deleted (StreamRestored): its owner or
    an admin. It shows in lists and searches again; the restore is in its history.
    Without `expected_version`, the version in the read model is expected."""
    require_writer(actor)
    record_id = _record_uuid(record_id)
    expected = (
        None if expected_version is None else clean_version("expected_version", expected_version)
    )
    key = clean_key(idempotency_key)
    return pipeline.restore(RECORDS, actor, env_name(env), record_id, expected=expected, key=key)


# --- queries -------------------------------------------------------------------------------------


def get_record(actor: Any, record_id: str, env: str | None = None) -> Record:
    """The record with its current version, from the read model."""
    require_reader(actor)
    return pipeline.readable(RECORDS, actor, env_name(env), _record_uuid(record_id))


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
    qs = StreamRecord.objects.for_env(env).live().visible_to(actor).with_tags(clean_tags(tags))
    if owner:
        qs = qs.filter(owner_id=user_id_by_name(owner))
    total = qs.count()
    number = clamp_page(number, size, total)
    rows = qs.order_by("-updated_at", "-id")[(number - 1) * size : number * size]
    return make_page([record_from_row(r) for r in rows], number, size, total)


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
    by_id = _records_by_id(actor, env, query or "", owner=owner, tags=tags)
    if by_id:
        return make_page(by_id, 1, len(by_id), len(by_id))
    words = search.terms(query or "")
    if not words:
        return list_records(actor, owner=owner, tags=tags, page=page, page_size=page_size, env=env)
    number, size = page_numbers(page, page_size)
    filters = search.Filters(
        env=env,
        viewer_id=viewer_id(actor),
        owner_id=user_id_by_name(owner) if owner else None,
        tags=clean_tags(tags),
    )
    found = search.search(words, filters, offset=(number - 1) * size, limit=size)
    if found.total and not found.pks:  # past the end: the total is exact there
        number = clamp_page(number, size, found.total)
        found = search.search(words, filters, offset=(number - 1) * size, limit=size)
    rows = StreamRecord.objects.in_bulk(found.pks)
    items = [record_from_row(rows[pk]) for pk in found.pks if pk in rows]
    return make_page(items, number, size, found.total, exact=found.exact)


def _records_by_id(
    actor: Any, env: str, query: str, *, owner: str | None, tags: list[str] | str
) -> list[Record]:
    """The records a query names by id, whole or by its first 8+ hex digits (as the
    pages show it): at most ID_MATCHES, visible to the actor, within the filters."""
    bounds = search.id_range(query)
    if bounds is None:
        return []
    qs = StreamRecord.objects.for_env(env).live().visible_to(actor).with_tags(clean_tags(tags))
    qs = qs.filter(record_id__gte=bounds[0], record_id__lte=bounds[1])
    if owner:
        qs = qs.filter(owner_id=user_id_by_name(owner))
    rows = qs.order_by("-updated_at", "-id")[:ID_MATCHES]
    return [record_from_row(r) for r in rows]


def owner_suggestions(actor: Any, typed: str, env: str | None = None) -> list[str]:
    """Names of owners of records the actor may see, beginning with `typed` in any case
    (for the owner filter's suggestions); at most OWNER_SUGGESTIONS, sorted."""
    require_reader(actor)
    env = env_name(env)
    typed = (typed or "").strip()[:MAX_QUERY]
    if not typed:
        return []
    owns = (
        StreamRecord.objects.for_env(env).live().visible_to(actor).filter(owner_id=OuterRef("pk"))
    )
    users = get_user_model().objects.filter(username__istartswith=typed).filter(Exists(owns))
    return list(users.order_by("username").values_list("username", flat=True)[:OWNER_SUGGESTIONS])


def record_history(actor: Any, record_id: str, env: str | None = None) -> list[HistoryEntry]:
    """Every event of the record, oldest first, with actor, time and what changed.

    Read from KurrentDB, so it stays readable after a delete (to those allowed)."""
    require_reader(actor)
    env = env_name(env)
    envelopes = _readable_stream(actor, env, _record_uuid(record_id))
    return history(envelopes, env=env)


def _readable_stream(actor: Any, env: str, record_id: str) -> list[Any]:
    recorded = read_stream(
        env, record_stream(record_id), "There is no such record.", user_read=True
    )
    envelopes = decode_all(recorded)
    current = fold_all(envelopes, env=env)
    if current is None:
        raise NotFound("There is no such record.")
    if not may_see(actor, current):
        raise Private("There is no such record.")
    return envelopes


def record_at_version(actor: Any, record_id: str, version: int, env: str | None = None) -> Record:
    """The record as it was right after the event at `version`."""
    require_reader(actor)
    env = env_name(env)
    version = clean_version("version", version)
    envelopes = _readable_stream(actor, env, _record_uuid(record_id))
    state = fold_all([e for e in envelopes if e.revision <= version], env=env)
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
    old = fold_all([e for e in envelopes if e.revision <= start], env=env)
    new = fold_all([e for e in envelopes if e.revision <= end], env=env)
    return record_changes(old, new)
