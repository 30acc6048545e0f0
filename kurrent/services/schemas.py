"""JSON Schemas of the user-data types: the one in force, its history, replacing it, and
checking values against it (kurrent.core.schemas words the problems).

A type's schema is kept as events in a stream of its own, `schema-<type>` (names in
kurrent.core.events): each `SchemaReplaced` holds a whole schema, so the stream is its
history and its last event the schema in force. With no event yet, the schema we ship
is in force, as version 0; the first replacement is version 1 (stream revision 0). No
read-model table follows these streams: a write reads the stream's last event (one
short read), so every app process checks against the same version at once.

Entries are never rewritten when a schema changes: `notices` tells a page which entries
were stored before the schema in force, or do not match it, so they are shown with a
notice. Saving such an entry's value again checks it against the schema in force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kurrentdbclient import StreamState
from kurrentdbclient.exceptions import NotFoundError, StreamIsDeletedError, WrongCurrentVersionError

from kurrent.connection.manager import connections
from kurrent.core.domain import (
    ENTRY_TYPES,
    clean_entry_type,
    clean_key,
    clean_object,
    clean_version,
)
from kurrent.core.errors import (
    Conflict,
    Forbidden,
    KurrentBusy,
    KurrentUnavailable,
    NotConfigured,
    ValidationError,
)
from kurrent.core.events import SchemaReplaced, encode, parse_time, schema_stream
from kurrent.core.schemas import SHIPPED, problems, schema_problem
from kurrent.services.common import append, env_name, require_reader
from kurrent.services.roles import is_admin

MAX_SCHEMA_BYTES = 64 * 1024
MAX_PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class TypeSchema:
    """The schema of one type at one version (0: the shipped one, never replaced)."""

    entry_type: str
    schema: dict[str, Any]
    version: int
    replaced_at: datetime | None = None
    replaced_by: str = ""

    @property
    def shipped(self) -> bool:
        return self.version == 0

    @property
    def text(self) -> str:
        return json.dumps(self.schema, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Notice:
    """Why an entry is shown with a notice: stored before the schema in force, and
    what of it that schema refuses (empty: it still matches)."""

    schema: TypeSchema
    stored_before: bool
    problems: list[str]


def current_schema(entry_type: str, env: str | None = None) -> TypeSchema:
    """The schema in force for `entry_type` (read from its stream's last event)."""
    entry_type = clean_entry_type(entry_type)
    events = _read(env_name(env), entry_type, backwards=True, limit=1)
    if not events:
        return _shipped(entry_type)
    return _version(entry_type, events[0])


def schema_history(actor: Any, entry_type: str, env: str | None = None) -> list[TypeSchema]:
    """Every version of the type's schema, oldest (the shipped one, version 0) first."""
    require_reader(actor)
    entry_type = clean_entry_type(entry_type)
    events = _read(env_name(env), entry_type)
    return [_shipped(entry_type), *(_version(entry_type, e) for e in events)]


def all_current(env: str | None = None) -> list[TypeSchema]:
    return [current_schema(t, env) for t in ENTRY_TYPES]


def replace_schema(
    actor: Any,
    entry_type: str,
    schema: dict | str,
    *,
    expected_version: int,
    idempotency_key: str | None = None,
    env: str | None = None,
) -> TypeSchema:
    """Admins only: make `schema` the type's schema (SchemaReplaced), expecting the
    version the admin saw; Conflict carrying the schema in force if it moved on.
    A schema that is no valid JSON Schema is a ValidationError on `schema`."""
    if not is_admin(actor):
        raise Forbidden("Only an admin may replace a schema.")
    entry_type = clean_entry_type(entry_type)
    expected = clean_version("expected_version", expected_version)
    schema = clean_object("schema", schema, max_bytes=MAX_SCHEMA_BYTES)
    problem = schema_problem(schema)
    if problem:
        raise ValidationError("schema", problem)
    key = clean_key(idempotency_key)
    env = env_name(env)
    stream = schema_stream(entry_type)
    event = encode(
        SchemaReplaced(entry_type=entry_type, schema=schema),
        stream=stream,
        actor=actor,
        idempotency_key=key,
    )
    state = StreamState.NO_STREAM if expected == 0 else expected - 1
    try:
        append(env, stream, event, state)
    except WrongCurrentVersionError:
        now = current_schema(entry_type, env)
        raise Conflict(
            f"The {entry_type} schema was replaced meanwhile (it is now version "
            f"{now.version}). Nothing was saved: review it and try again.",
            now,
            now.version,
        ) from None
    return current_schema(entry_type, env)


def check_value(entry_type: str, value: Any, env: str | None = None) -> None:
    """Raise ValidationError on `value` naming each JSON path and rule the type's
    schema in force refuses (`page_size: must be at least 10`)."""
    found = problems(current_schema(entry_type, env).schema, value)
    if found:
        shown = found[:MAX_PROBLEMS_SHOWN]
        more = len(found) - len(shown)
        raise ValidationError("value", "; ".join(shown) + (f"; and {more} more" if more else ""))


def notices(entries: list[Any], env: str | None = None) -> dict[str, Notice]:
    """entry id -> Notice, for the entries stored before their type's schema in force
    was set or that it refuses. One read per type present; a type whose schema cannot
    be read now (KurrentDB down) gets no notices."""
    schemas: dict[str, TypeSchema | None] = {}
    found: dict[str, Notice] = {}
    for entry in entries:
        if entry.entry_type not in schemas:
            try:
                schemas[entry.entry_type] = current_schema(entry.entry_type, env)
            except (KurrentUnavailable, KurrentBusy, NotConfigured):
                schemas[entry.entry_type] = None  # the page still shows the entries
        schema = schemas[entry.entry_type]
        if schema is None:
            continue
        before = schema.replaced_at is not None and entry.updated_at < schema.replaced_at
        refused = problems(schema.schema, entry.value)
        if before or refused:
            found[entry.id] = Notice(schema, before, refused[:MAX_PROBLEMS_SHOWN])
    return found


def _shipped(entry_type: str) -> TypeSchema:
    return TypeSchema(entry_type, SHIPPED[entry_type], 0)


def _version(entry_type: str, recorded: Any) -> TypeSchema:
    """One SchemaReplaced as a TypeSchema; anything else in the stream (another
    program's write) is not a schema: the shipped one stands for it."""
    try:
        data = json.loads(recorded.data)
        meta = json.loads(recorded.metadata or b"{}")
    except (ValueError, UnicodeDecodeError):
        data, meta = None, {}
    schema = data.get("schema") if isinstance(data, dict) else None
    if recorded.type != "SchemaReplaced" or schema_problem(schema):
        schema = SHIPPED[entry_type]
    actor = meta.get("actor") if isinstance(meta, dict) else ""
    when = parse_time(meta.get("timestamp") if isinstance(meta, dict) else None)
    return TypeSchema(
        entry_type,
        schema,
        recorded.stream_position + 1,
        when or recorded.recorded_at,
        actor if isinstance(actor, str) else "",
    )


def _read(env: str, entry_type: str, **options: Any) -> tuple[Any, ...]:
    stream = schema_stream(entry_type)

    def read(client: Any, timeout: float) -> tuple[Any, ...]:
        return tuple(client.get_stream(stream, timeout=timeout, **options))

    try:
        return connections.call(env, "read_schema", read)
    except (NotFoundError, StreamIsDeletedError):
        return ()
