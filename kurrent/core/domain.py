"""The event-sourced core: state as frozen dataclasses, one pure fold per stream kind,
and the input checks that run before anything is appended.

No Django here. The projector folds events into these states and writes them to the
read model; history and "as it was at version n" fold the KurrentDB stream itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from kurrent.core.errors import ValidationError
from kurrent.core.events import (
    Envelope,
    StreamCreated,
    StreamDeleted,
    StreamRestored,
    StreamUpdated,
    UserDataDeleted,
    UserDataRestored,
    UserDataStored,
    UserDataUpdated,
    decode,
)
from kurrent.core.shapes import ENTRY_FIELDS, RECORD_FIELDS, unstorable

MAX_NAME = 200
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_CATEGORY = 100
MAX_KEY = 200
MAX_METADATA_BYTES = 16 * 1024
MAX_IDEMPOTENCY_KEY = 200
TAG_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
ENTRY_TYPES = ("profile", "preferences", "settings", "data", "custom")


# --- state -------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A stream record as of `version` (the KurrentDB revision of the last event folded)."""

    id: str
    name: str
    data: dict
    tags: tuple[str, ...]
    owner: str
    owner_id: int
    is_public: bool
    metadata: dict
    version: int
    created_at: datetime
    updated_at: datetime
    deleted: bool = False
    env: str = "dev"
    last_event_id: str = ""


@dataclass(frozen=True)
class Entry:
    """One user-data entry as of `version`."""

    id: str
    owner: str
    owner_id: int
    entry_type: str
    category: str
    value: dict
    tags: tuple[str, ...]
    is_public: bool
    version: int
    created_at: datetime
    updated_at: datetime
    env: str = "dev"
    key: str = ""
    deleted: bool = False
    last_event_id: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    event_type: str
    actor: str
    recorded_at: datetime
    changes: dict  # field -> {"old": ..., "new": ...}
    event_id: str
    commit_position: int
    correlation_id: str = ""


# --- folds ---------------------------------------------------------------------------


def fold_record(state: Record | None, envelope: Envelope, *, env: str = "dev") -> Record | None:
    """Apply one event to a record's state. Pure: returns a new state (or the same one).

    Events we do not understand only move the version on, so the version always equals
    the stream's revision and an update with the version the user saw still works.
    """
    event = envelope.event
    at = envelope.recorded_at
    base = {"version": envelope.revision, "last_event_id": envelope.event_id}
    match event:
        case StreamCreated() if state is None:
            return Record(
                id=envelope.stream_name.partition("-")[2],
                name=event.name,
                data=event.data,
                tags=tuple(event.tags),
                owner=event.owner,
                owner_id=event.owner_id,
                is_public=event.is_public,
                metadata=event.metadata,
                created_at=at,
                updated_at=at,
                env=env,
                **base,
            )
        case StreamUpdated() if state is not None:
            changes = {k: tuple(v) if k == "tags" else v for k, v in event.changes.items()}
            return replace(state, **changes, updated_at=at, **base)
        case StreamDeleted() if state is not None:
            return replace(state, deleted=True, updated_at=at, **base)
        case StreamRestored() if state is not None:
            return replace(state, deleted=False, updated_at=at, **base)
        case _:
            return replace(state, **base) if state is not None else None


def fold_entry(state: Entry | None, envelope: Envelope, *, env: str = "dev") -> Entry | None:
    """Apply one event to a user-data entry's state (as fold_record)."""
    event = envelope.event
    at = envelope.recorded_at
    base = {"version": envelope.revision, "last_event_id": envelope.event_id}
    match event:
        case UserDataStored() if state is None:
            return Entry(
                id=_entry_id(envelope.stream_name),
                owner=event.owner,
                owner_id=event.owner_id,
                entry_type=event.entry_type,
                category=event.category,
                value=event.value,
                tags=tuple(event.tags),
                is_public=event.is_public,
                key=event.key,
                created_at=at,
                updated_at=at,
                env=env,
                **base,
            )
        case UserDataUpdated() if state is not None:
            changes = {k: tuple(v) if k == "tags" else v for k, v in event.changes.items()}
            return replace(state, **changes, updated_at=at, **base)
        case UserDataDeleted() if state is not None:
            return replace(state, deleted=True, updated_at=at, **base)
        case UserDataRestored() if state is not None:
            return replace(state, deleted=False, updated_at=at, **base)
        case _:
            return replace(state, **base) if state is not None else None


def _entry_id(stream_name: str) -> str:
    # userdata-<user id>-<uuid>: the uuid holds four dashes itself.
    return stream_name.split("-", 2)[2]


def decode_all(recorded: Iterable[Any]) -> list[Envelope]:
    """Decode a stream's recorded events, leaving out system events ($metadata, ...)."""
    return [decode(e) for e in recorded if not e.type.startswith("$")]


State = TypeVar("State", Record, Entry)


def fold_all(
    envelopes: Iterable[Envelope],
    *,
    env: str = "dev",
    fold: Callable[..., State | None] = fold_record,  # type: ignore[assignment]
) -> State | None:
    """A stream's state after all of `envelopes` (fold_record's or, given, fold_entry's)."""
    state: State | None = None
    for envelope in envelopes:
        state = fold(state, envelope, env=env)
    return state


def record_changes(before: Record | None, after: Record | None) -> dict[str, dict[str, Any]]:
    """field -> {"old", "new"} for the user-visible fields that differ."""
    return state_changes(before, after, RECORD_FIELDS)


def entry_changes(before: Entry | None, after: Entry | None) -> dict[str, dict[str, Any]]:
    """As record_changes, for an entry's fields."""
    return state_changes(before, after, ENTRY_FIELDS)


def state_changes(before: Any, after: Any, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """field -> {"old", "new"} for the fields of `names` (and deletion) that differ."""
    changes: dict[str, dict[str, Any]] = {}
    for name in (*names, "deleted"):
        old = _plain(getattr(before, name)) if before is not None else None
        new = _plain(getattr(after, name)) if after is not None else None
        if before is None and name == "deleted":
            continue
        if old != new:
            changes[name] = {"old": old, "new": new}
    return changes


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def history(
    envelopes: Iterable[Envelope],
    *,
    env: str = "dev",
    fold: Callable[..., Any] = fold_record,
    changes: Callable[[Any, Any], dict[str, dict[str, Any]]] = record_changes,
) -> list[HistoryEntry]:
    """Every event of a record's (or, given fold_entry and entry_changes, an entry's)
    stream, oldest first, with what it changed."""
    entries: list[HistoryEntry] = []
    state: Any = None
    for envelope in envelopes:
        after = fold(state, envelope, env=env)
        entries.append(
            HistoryEntry(
                version=envelope.revision,
                event_type=envelope.event_type,
                actor=envelope.meta.actor,
                recorded_at=envelope.recorded_at,
                changes=changes(state, after) if envelope.event is not None else {},
                event_id=envelope.event_id,
                commit_position=envelope.commit_position,
                correlation_id=envelope.meta.correlation_id,
            )
        )
        state = after
    return entries


def diff(old: Record, new: Record) -> dict[str, dict[str, Any]]:
    return record_changes(old, new)


# --- input checks (raise ValidationError naming the field; nothing is appended) -------


def clean_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("name", "must be text")
    name = value.strip()
    if not name:
        raise ValidationError("name", "must not be empty")
    if len(name) > MAX_NAME:
        raise ValidationError("name", f"must be at most {MAX_NAME} characters (got {len(name)})")
    if any(ord(ch) < 32 for ch in name):
        raise ValidationError("name", "must not contain control characters")
    return name


def clean_object(field_name: str, value: Any, *, max_bytes: int) -> dict:
    """A JSON object given as a dict or as JSON text, at most max_bytes once encoded."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValidationError(field_name, f"is not valid JSON ({_short(exc)})") from None
    if not isinstance(value, dict):
        raise ValidationError(field_name, "must be a JSON object ({...})")
    found = unstorable(value)
    if found:
        raise ValidationError(field_name, f"must not contain {found}")
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(field_name, f"cannot be stored as JSON ({_short(exc)})") from None
    size = len(encoded.encode())
    if size > max_bytes:
        raise ValidationError(
            field_name, f"is too large: {size} bytes encoded, the limit is {max_bytes}"
        )
    # Round-trip so the state holds exactly what the event will hold (str keys, lists).
    return json.loads(encoded)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _short(exc: Exception) -> str:
    return str(exc).split("\n")[0][:120]


def clean_tags(value: Any) -> tuple[str, ...]:
    """Tags as a list or as comma/space separated text; lower-cased, de-duplicated."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = [t for t in re.split(r"[,\s]+", value) if t]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        raise ValidationError("tags", "must be a list of tags or comma-separated text")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError("tags", "every tag must be text")
        tag = item.strip().lower()
        if not TAG_RE.match(tag):
            raise ValidationError(
                "tags",
                f"{item[:50]!r} is not a tag: use 1-{MAX_TAG_LENGTH} of a-z, 0-9, '-' and '_'",
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError("tags", f"at most {MAX_TAGS} tags (got {len(tags)})")
    return tuple(tags)


def clean_bool(field_name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "on", "off", "1", "0"}:
        return value.strip().lower() in {"true", "on", "1"}
    raise ValidationError(field_name, "must be true or false")


def clean_version(field_name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(field_name, "must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(field_name, "must be a whole number") from None
    if number < 0:
        raise ValidationError(field_name, "must not be negative")
    if number >= 2**63 - 1:  # KurrentDB revisions are below 2^63-1 (the tombstone's)
        raise ValidationError(field_name, "is too large")
    return number


def clean_key(value: Any) -> str | None:
    """The idempotency key: optional, short text."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_IDEMPOTENCY_KEY:
        raise ValidationError(
            "idempotency_key", f"must be text of at most {MAX_IDEMPOTENCY_KEY} characters"
        )
    return value


def clean_entry_type(value: Any) -> str:
    if value not in ENTRY_TYPES:
        raise ValidationError("entry_type", f"must be one of {', '.join(ENTRY_TYPES)}")
    return value


def clean_category(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("category", "must not be empty")
    category = value.strip()
    if len(category) > MAX_CATEGORY:
        raise ValidationError("category", f"must be at most {MAX_CATEGORY} characters")
    if any(ord(ch) < 32 for ch in category):
        raise ValidationError("category", "must not contain control characters")
    return category


def clean_entry_key(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_KEY:
        raise ValidationError("key", f"must be text of at most {MAX_KEY} characters")
    return value.strip()


# --- search text ---------------------------------------------------------------------


def text_values(value: Any, *, limit: int = 200_000) -> str:
    """The text values inside a JSON document, space separated (what full-text search sees)."""
    parts: list[str] = []
    size = 0
    stack = [value]
    while stack and size < limit:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            size += len(item) + 1
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return " ".join(parts)[:limit]
