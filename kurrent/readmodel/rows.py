"""Domain states to read-model rows and back (the only place that maps one to the other)."""

from __future__ import annotations

from kurrent.core.domain import Entry, Record, text_values
from kurrent.models import StreamRecord, UserDataEntry

# The columns a change of state may touch (besides the keys env and record_id/entry_id).
RECORD_FIELDS = (
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
)
ENTRY_FIELDS = (
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
)


def record_row(state: Record, position: int, row: StreamRecord | None) -> StreamRecord:
    """`row` (or a new one) holding `state`, last changed by the event at `position`."""
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


def entry_row(state: Entry, position: int, row: UserDataEntry | None) -> UserDataEntry:
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
