"""The events we write to KurrentDB: their types, JSON shapes, metadata and stream names.

Stream names are chosen here and nowhere else:

    pool-<record uuid>                  one stream record (the seed's "Stream")
    userdata-<user id>-<entry uuid>     one user-data entry of that user
    erasure-<user id>                   the admin's "erase this user" marker
    schema-<entry type>                 the JSON Schema of a user-data type, by version

Each name starts with a category and a dash, so KurrentDB's category tooling and
the projector's server-side stream-prefix filter (`STREAM_PREFIXES`) work.

Event data is a JSON object (content type application/json). Metadata carries who
did it, when, a correlation id and the schema version; never secrets. Event ids
derive from an idempotency key (uuid5), so a retried write appends once: KurrentDB
treats a re-sent event id at the same expected version as already written.

This module is free of Django.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from kurrentdbclient import NewEvent, RecordedEvent

from kurrent.core.shapes import Problem, build, unstorable

SCHEMA_VERSION = 1
CONTENT_TYPE = "application/json"

RECORD_CATEGORY = "pool"
USERDATA_CATEGORY = "userdata"
ERASURE_CATEGORY = "erasure"
# Not in STREAM_PREFIXES: no read-model table follows schemas; the services read the
# stream itself (its last event is the schema in force, its events the history).
SCHEMA_CATEGORY = "schema"
# Server-side stream-name prefix filter of the projector's reads and subscription.
STREAM_PREFIXES: tuple[str, ...] = (
    f"{RECORD_CATEGORY}-",
    f"{USERDATA_CATEGORY}-",
    f"{ERASURE_CATEGORY}-",
)

# Namespace of our uuid5 ids (event ids, and record/entry ids derived from a key).
NAMESPACE = uuid.UUID("6f1f4bb4-3d5c-4d7e-9a4f-7c0f3c2b9e51")


# --- stream names --------------------------------------------------------------


def record_stream(record_id: str | uuid.UUID) -> str:
    return f"{RECORD_CATEGORY}-{record_id}"


def userdata_stream(user_id: int, entry_id: str | uuid.UUID) -> str:
    return f"{USERDATA_CATEGORY}-{user_id}-{entry_id}"


def userdata_prefix(user_id: int) -> str:
    """The prefix of every user-data stream of one user ("userdata-7-" never matches user 77)."""
    return f"{USERDATA_CATEGORY}-{user_id}-"


def erasure_stream(user_id: int) -> str:
    return f"{ERASURE_CATEGORY}-{user_id}"


def schema_stream(entry_type: str) -> str:
    return f"{SCHEMA_CATEGORY}-{entry_type}"


@dataclass(frozen=True)
class StreamName:
    """A parsed stream name of ours: kind is "record", "userdata" or "erasure"."""

    kind: str
    object_id: str  # record or entry uuid text, or the user id for an erasure
    user_id: int | None = None


def parse_stream(name: str) -> StreamName | None:
    """Parse one of our stream names; None for anything else (or a malformed one)."""
    category, _, rest = name.partition("-")
    if category == RECORD_CATEGORY:
        record_id = _uuid_text(rest)
        return StreamName("record", record_id) if record_id else None
    if category == USERDATA_CATEGORY:
        user, _, entry = rest.partition("-")
        entry_id = _uuid_text(entry)
        if user.isdigit() and entry_id:
            return StreamName("userdata", entry_id, int(user))
        return None
    if category == ERASURE_CATEGORY and rest.isdigit():
        return StreamName("erasure", rest, int(rest))
    return None


def _uuid_text(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


# --- ids -------------------------------------------------------------------------


def event_id(
    stream: str, idempotency_key: str | None, index: int = 0, content: str = ""
) -> uuid.UUID:
    """The id of the index-th event of one write: uuid5(namespace, stream + key), else random.

    `content`, what the form submitted (content_digest), binds the id to it: the same key
    with the same content is the same event (KurrentDB appends it once), the same key
    with other content (the user went Back, changed the form and sent it again) is
    another event, which the services tell apart by the key's digest in the metadata."""
    if not idempotency_key:
        return uuid.uuid4()
    if content:
        return uuid.uuid5(NAMESPACE, f"event|{stream}|{idempotency_key}|{index}|{content}")
    return uuid.uuid5(NAMESPACE, f"event|{stream}|{idempotency_key}|{index}")


def content_digest(content: Any) -> str:
    """A short digest of what a form submitted (JSON values; sets and tuples as lists)."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=_plain_list)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def key_digest(idempotency_key: str | None) -> str:
    """What an event's metadata keeps of the form's idempotency key ("form"): enough to
    tell that two events came from one form, not the key itself."""
    if not idempotency_key:
        return ""
    return hashlib.sha256(f"form|{idempotency_key}".encode()).hexdigest()[:32]


def _plain_list(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def entry_address_id(owner_id: int, entry_type: str, category: str, generation: int = 0) -> str:
    """The id of the entry (user, type, category) names: the same address always names
    the same stream, so two stores to it meet in one stream and KurrentDB's expected
    version keeps them from making two entries. `generation` moves on only past a stream
    an erasure tombstoned (it can never be written again)."""
    return str(uuid.uuid5(NAMESPACE, f"entry|{owner_id}|{entry_type}|{category}|{generation}"))


def object_id(kind: str, owner_id: int, idempotency_key: str | None) -> str:
    """A new record/entry id. With a key it is derived from it, so a retried create
    targets the same stream (and KurrentDB sees the same event id there)."""
    if not idempotency_key:
        return str(uuid.uuid4())
    return str(uuid.uuid5(NAMESPACE, f"{kind}|{owner_id}|{idempotency_key}"))


# --- correlation id --------------------------------------------------------------

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kurrent_correlation_id", default=None
)


@contextlib.contextmanager
def correlation(correlation_id: str) -> Iterator[None]:
    """Tag every event written inside the block with this correlation id (e.g. the request id)."""
    token = _correlation.set(str(correlation_id)[:100])
    try:
        yield
    finally:
        _correlation.reset(token)


def current_correlation_id() -> str:
    return _correlation.get() or str(uuid.uuid4())


# --- event types -----------------------------------------------------------------


@dataclass(frozen=True)
class StreamCreated:
    record_id: str
    name: str
    data: dict[str, Any]
    tags: list[str]
    owner_id: int
    owner: str
    is_public: bool
    metadata: dict[str, Any]


@dataclass(frozen=True)
class StreamUpdated:
    """Only the fields that changed, with their new values (the fold knows the old ones)."""

    record_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class StreamDeleted:
    record_id: str


@dataclass(frozen=True)
class StreamRestored:
    """A deleted record is back, as it was when deleted (its history says so)."""

    record_id: str


@dataclass(frozen=True)
class UserDataStored:
    entry_id: str
    owner_id: int
    owner: str
    entry_type: str
    category: str
    value: dict[str, Any]
    tags: list[str]
    is_public: bool
    key: str = ""


@dataclass(frozen=True)
class UserDataUpdated:
    entry_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class UserDataDeleted:
    entry_id: str


@dataclass(frozen=True)
class UserDataRestored:
    """A deleted entry is back, as it was when deleted."""

    entry_id: str


@dataclass(frozen=True)
class UserErased:
    """An admin erased everything this user stored; the read model drops their rows.

    Replays meet it after the user's (tombstoned) events, so a rebuild drops them too."""

    user_id: int


@dataclass(frozen=True)
class SchemaReplaced:
    """An admin replaced the JSON Schema of a user-data type (the whole schema)."""

    entry_type: str
    schema: dict[str, Any]


DomainEvent = (
    StreamCreated
    | StreamUpdated
    | StreamDeleted
    | StreamRestored
    | UserDataStored
    | UserDataUpdated
    | UserDataDeleted
    | UserDataRestored
    | UserErased
)
EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        StreamCreated,
        StreamUpdated,
        StreamDeleted,
        StreamRestored,
        UserDataStored,
        UserDataUpdated,
        UserDataDeleted,
        UserDataRestored,
        UserErased,
    )
}


# --- metadata --------------------------------------------------------------------


@dataclass(frozen=True)
class EventMeta:
    actor: str = ""
    actor_id: int | None = None
    timestamp: str = ""
    correlation_id: str = ""
    schema_version: int = SCHEMA_VERSION
    form: str = ""  # key_digest of the idempotency key of the form that wrote it


def _meta_json(actor: Any, form: str = "") -> bytes:
    """Flat string values: what KurrentDB's v2 append API accepts as event properties.
    `$correlationId` is KurrentDB's own key (its by-correlation-id projection reads it)."""
    actor_id = getattr(actor, "pk", None)
    meta = {
        "actor": str(getattr(actor, "username", "") or ""),
        "actor_id": "" if actor_id is None else str(actor_id),
        "timestamp": datetime.now(UTC).isoformat(),
        "$correlationId": current_correlation_id(),
        "schema_version": str(SCHEMA_VERSION),
    }
    if form:
        meta["form"] = form  # key_digest of the form's idempotency key
    return json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()


def _parse_meta(raw: bytes) -> EventMeta:
    try:
        meta = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        return EventMeta()
    if not isinstance(meta, dict):
        return EventMeta()
    actor_id = _int_or_none(meta.get("actor_id"))
    version = _int_or_none(meta.get("schema_version"))
    return EventMeta(
        actor=_plain_text(meta.get("actor"))[:150],
        actor_id=actor_id,
        timestamp=_plain_text(meta.get("timestamp"))[:64],
        correlation_id=_plain_text(meta.get("$correlationId"))[:100],
        schema_version=SCHEMA_VERSION if version is None else version,
        form=_plain_text(meta.get("form"))[:64],
    )


def _plain_text(value: Any) -> str:
    """Metadata text as any database stores it: no NUL, no lone surrogates (another
    program's metadata is not checked before it is written)."""
    text = str(value or "").replace("\x00", "")
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# --- encode / decode -------------------------------------------------------------


def encode(
    event: DomainEvent | SchemaReplaced,
    *,
    stream: str,
    actor: Any,
    idempotency_key: str | None,
    index: int = 0,
    content: str = "",
) -> NewEvent:
    """The NewEvent to append for one domain event; `content` (content_digest of what the
    form submitted) binds its id to that content (event_id)."""
    return NewEvent(
        type=type(event).__name__,
        data=json.dumps(_fields_of(event), separators=(",", ":"), ensure_ascii=False).encode(),
        metadata=_meta_json(actor, key_digest(idempotency_key) if content else ""),
        content_type=CONTENT_TYPE,
        id=event_id(stream, idempotency_key, index, content),
    )


def event_fields(event: DomainEvent | SchemaReplaced) -> dict[str, Any]:
    """The event's fields as its JSON holds them (what a create's content digest covers)."""
    return _fields_of(event)


def _fields_of(event: DomainEvent | SchemaReplaced) -> dict[str, Any]:
    """The event's fields, not copied (asdict would copy every nested value; JSON
    encoding does not need it)."""
    return {f.name: getattr(event, f.name) for f in fields(event)}


@dataclass(frozen=True)
class Envelope:
    """A recorded event of ours, decoded. `event` is None when its type is unknown to us
    or its data is malformed (`problem` says why): folds and the projector skip it, and
    the projector counts and records it."""

    event: DomainEvent | None
    event_type: str
    stream_name: str
    revision: int
    commit_position: int
    event_id: str
    recorded_at: datetime
    meta: EventMeta = field(default_factory=EventMeta)
    # Why `event` is None: "<reason>: <detail>", the reason one of PROBLEM_REASONS.
    problem: str = ""


def decode(recorded: RecordedEvent) -> Envelope:
    """Decode a recorded event of one of our streams (unknown or malformed: event=None)."""
    return _envelope(
        recorded.type,
        recorded.data,
        recorded.metadata,
        stream=recorded.stream_name,
        revision=recorded.stream_position,
        position=recorded.commit_position,
        event_id=str(recorded.id),
        server_time=recorded.recorded_at,
    )


def decode_new(
    new_event: NewEvent,
    *,
    stream: str,
    revision: int,
    position: int,
    event: DomainEvent | None = None,
) -> Envelope:
    """The envelope of an event we just appended, exactly as `decode` will see it later.

    `event`, the domain event `new_event` was encoded from (with JSON values, as the
    clean_* checks leave them), spares parsing the data again: it gets the checks
    `decode` applies to what it parses."""
    return _envelope(
        new_event.type,
        new_event.data,
        new_event.metadata,
        stream=stream,
        revision=revision,
        position=position,
        event_id=str(new_event.id),
        server_time=None,
        decoded=event,
    )


def _envelope(
    event_type: str,
    data: bytes,
    metadata: bytes,
    *,
    stream: str,
    revision: int,
    position: int,
    event_id: str,
    server_time: datetime | None,
    decoded: DomainEvent | None = None,
) -> Envelope:
    meta = _parse_meta(metadata)
    # "When" is the writer's timestamp from the metadata, so the writer's own view and
    # every replay agree; events of other writers fall back to the server's time.
    when = _parse_time(meta.timestamp) or server_time or datetime.fromtimestamp(0, UTC)
    try:
        if meta.schema_version > SCHEMA_VERSION:
            raise Problem("unsupported_schema_version", f"schema version {meta.schema_version}")
        if decoded is not None and type(decoded).__name__ == event_type:
            event: DomainEvent | None = _checked(decoded, data)
        else:
            event = _decode_data(event_type, data)
        problem = ""
    except Problem as exc:
        event, problem = None, str(exc)
    return Envelope(
        event=event,
        event_type=event_type,
        stream_name=stream,
        revision=revision,
        commit_position=position,
        event_id=event_id,
        recorded_at=when,
        meta=meta,
        problem=problem,
    )


def parse_time(text: Any) -> datetime | None:
    """A metadata timestamp as an aware UTC datetime; None if it is not one."""
    return _parse_time(text) if isinstance(text, str) else None


def _parse_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        # Another writer's year 1 or 9999 in some offset cannot be turned into UTC.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _decode_data(event_type: str, raw: bytes) -> DomainEvent:
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise Problem("unknown_type", event_type[:100])
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise Problem("malformed_json", "the data is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise Problem("malformed_json", str(exc).split("\n")[0][:120]) from None
    if not isinstance(data, dict):
        raise Problem("not_an_object", f"the data is a JSON {type(data).__name__}")
    found = unstorable(data)
    if found:
        raise Problem("unstorable_value", f"the data holds {found}")
    return build(cls, data)


def _checked(event: DomainEvent, raw: bytes) -> DomainEvent:
    """A domain event of ours, as `_decode_data` would rebuild it from `raw`, its JSON
    (the writer checked its values with the same rules: `unstorable`)."""
    data = _fields_of(event)
    found = unstorable(data)
    if found:
        raise Problem("unstorable_value", f"the data holds {found}")
    return build(type(event), data)
