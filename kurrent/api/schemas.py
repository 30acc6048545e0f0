"""The API's request and response bodies (pydantic, via django-ninja), and the functions
that turn the services' frozen states into them.

Input schemas say what the OpenAPI schema promises a client (types, sizes); the services
still clean every value as they do for the forms, and their ValidationError names the
field in the 422. Limits here are never stricter than the services'.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from kurrent.core.domain import MAX_NAME, MAX_TAGS


class Strict(Schema):
    """Unknown fields are refused (a typo in a field name must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


# --- problems -----------------------------------------------------------------------------


class FieldError(Schema):
    field: str
    message: str


class ProblemOut(Schema):
    """RFC 9457 problem details (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    field: str | None = None
    errors: list[FieldError] | None = None


class StaleOut(ProblemOut):
    """A 412: the version and values as they are now."""

    current_version: int | None = None
    current: dict[str, Any] | None = None


# --- records ------------------------------------------------------------------------------


class RecordIn(Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME + 100)
    data: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS * 2)
    is_public: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecordPatch(Strict):
    """Only the fields given change; leave a field out (or null) to keep it."""

    name: str | None = Field(default=None, max_length=MAX_NAME + 100)
    data: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS * 2)
    is_public: bool | None = None
    metadata: dict[str, Any] | None = None


class RecordOut(Schema):
    id: str
    name: str
    data: dict[str, Any]
    tags: list[str]
    owner: str
    owner_id: int
    is_public: bool
    metadata: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    deleted: bool


class RecordPage(Schema):
    items: list[RecordOut]
    total: int
    total_exact: bool
    next: str | None = Field(description="cursor of the next page, or null")
    previous: str | None = Field(description="cursor of the previous page, or null")


class HistoryOut(Schema):
    version: int
    event_type: str
    actor: str
    recorded_at: datetime
    changes: dict[str, Any]
    event_id: str
    commit_position: int
    correlation_id: str


class DiffOut(Schema):
    from_version: int
    to_version: int
    changes: dict[str, Any] = Field(description='field -> {"old": …, "new": …}')


def record_json(record: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "data": record.data,
        "tags": list(record.tags),
        "owner": record.owner,
        "owner_id": record.owner_id,
        "is_public": record.is_public,
        "metadata": record.metadata,
        "version": record.version,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "deleted": record.deleted,
    }


def history_json(item: Any) -> dict[str, Any]:
    return {
        "version": item.version,
        "event_type": item.event_type,
        "actor": item.actor,
        "recorded_at": item.recorded_at,
        "changes": item.changes,
        "event_id": item.event_id,
        "commit_position": item.commit_position,
        "correlation_id": item.correlation_id,
    }


# --- user data ----------------------------------------------------------------------------


class EntryOut(Schema):
    id: str
    owner: str
    owner_id: int
    entry_type: str
    category: str
    key: str
    value: dict[str, Any]
    tags: list[str]
    is_public: bool
    version: int
    created_at: datetime
    updated_at: datetime
    deleted: bool


def entry_json(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.id,
        "owner": entry.owner,
        "owner_id": entry.owner_id,
        "entry_type": entry.entry_type,
        "category": entry.category,
        "key": entry.key,
        "value": entry.value,
        "tags": list(entry.tags),
        "is_public": entry.is_public,
        "version": entry.version,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "deleted": entry.deleted,
    }


# --- status ---------------------------------------------------------------------------------


class LagOut(Schema):
    checkpoint_position: int
    head_position: int
    events_behind: int
    events_behind_capped: bool
    seconds_behind: float
    skipped_events: int
    caught_up: bool


class EnvironmentOut(Schema):
    name: str
    active: bool
    is_production: bool
    state: str
    reason: str | None
    latency_ms: float | None
    node_state: str | None
    node_address: str | None
    commit_position: int | None
    last_error: str | None
    last_success_at: datetime | None
    checked_at: datetime
    lag: LagOut | None = Field(description="the read model's lag; null while unknown")


class ActivityOut(Schema):
    position: int
    event_type: str
    kind: str
    object_id: str
    title: str
    actor: str
    recorded_at: datetime
    stream_name: str


class ActivityPage(Schema):
    items: list[ActivityOut]
    cursor: int = Field(description="pass as `after` to get only what came later")
    has_more: bool


class MeOut(Schema):
    username: str
    role: str
    auth: str = Field(description='"token" or "session"')
    token_name: str | None
    token_scope: str | None
    environment: str
