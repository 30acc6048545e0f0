"""The strict checks of an event's JSON, written by us or by any other program.

An event another program appended to one of our streams may hold anything. These
checks turn its data into one of our event types or say exactly why not (a Problem
with a reason of PROBLEM_REASONS), before anything reaches the read model's database:
values no database stores, fields of the wrong type, texts beyond the columns' sizes.
The forms run `unstorable` too, so the app never writes what the projector would skip.
Free of Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The fields an update event may change, per kind.
RECORD_FIELDS = ("name", "data", "tags", "is_public", "metadata")
ENTRY_FIELDS = ("category", "value", "tags", "is_public")


class Problem(ValueError):
    """Why an event of ours cannot be applied: `reason` is one of PROBLEM_REASONS (the
    projector counts skipped events by it), the detail says exactly what."""

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in PROBLEM_REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


PROBLEM_REASONS = (
    "unknown_type",  # not one of EVENT_TYPES
    "malformed_json",  # not JSON, or not UTF-8
    "not_an_object",  # JSON, but not an object
    "unstorable_value",  # NaN, infinities, lone surrogates, NUL, numbers beyond a float
    "wrong_shape",  # a field missing or of the wrong type
    "out_of_range",  # a text too long or empty, an id out of range
    "unsupported_schema_version",  # written by a newer version of this app
    "not_created",  # an update or delete of a record or entry never created
    "already_created",  # a second create in one stream
    "wrong_owner",  # user data whose owner is not the stream's user
    "wrong_stream",  # a stream name of our categories that is not one of ours
    "database_rejected",  # the read model's database refused the row
    "apply_failed",  # our own code failed on it (a bug: see the log)
)
# Floats beyond this are infinite; integers beyond it cannot be turned into one.
_FLOAT_MAX = 1.7976931348623157e308


def unstorable(value: Any) -> str | None:
    """What in a JSON value no database can store or no client can read back, if
    anything: NaN and infinities (Python's json reads `NaN` and turns 1e400 into
    inf), lone surrogates (JSON's "\\ud800" escape: not encodable as UTF-8), NUL
    characters (PostgreSQL refuses them), integers beyond a float's range."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "a NUL character (\\u0000)"
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return "a lone surrogate (an escape such as \\ud800 that is half a character)"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return "a number that is not finite (NaN, Infinity or beyond 1.8e308)"
        elif isinstance(item, int):
            if abs(item) > _FLOAT_MAX:
                return "a number beyond 1.8e308"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


_SHAPES: dict[str, dict[str, type]] = {  # by event type name
    "StreamCreated": {
        "record_id": str,
        "name": str,
        "data": dict,
        "tags": list,
        "owner_id": int,
        "owner": str,
        "is_public": bool,
        "metadata": dict,
    },
    "StreamUpdated": {"record_id": str, "changes": dict},
    "StreamDeleted": {"record_id": str},
    "StreamRestored": {"record_id": str},
    "UserDataStored": {
        "entry_id": str,
        "owner_id": int,
        "owner": str,
        "entry_type": str,
        "category": str,
        "value": dict,
        "tags": list,
        "is_public": bool,
    },
    "UserDataUpdated": {"entry_id": str, "changes": dict},
    "UserDataDeleted": {"entry_id": str},
    "UserDataRestored": {"entry_id": str},
    "UserErased": {"user_id": int},
}
_CHANGE_SHAPES: dict[str, type] = {
    "name": str,
    "data": dict,
    "tags": list,
    "is_public": bool,
    "metadata": dict,
    "category": str,
    "value": dict,
}


def build(cls: type, data: Mapping[str, Any]) -> Any:
    """Check the JSON shape strictly: an event from another writer may be anything."""
    kwargs: dict[str, Any] = {}
    for name, kind in _SHAPES[cls.__name__].items():
        value = data.get(name)
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise Problem("wrong_shape", f"{name} must be {_KIND_NAMES[kind]}")
        kwargs[name] = value
    if cls.__name__ == "UserDataStored":
        key = data.get("key") or ""
        if not isinstance(key, str):
            raise Problem("wrong_shape", "key must be text")
        kwargs["key"] = key
    if "tags" in kwargs and not all(isinstance(t, str) for t in kwargs["tags"]):
        raise Problem("wrong_shape", "tags must be a list of text")
    if "changes" in kwargs:
        allowed = RECORD_FIELDS if cls.__name__ == "StreamUpdated" else ENTRY_FIELDS
        for name, value in kwargs["changes"].items():
            if name not in allowed:
                raise Problem("wrong_shape", f"changes.{name[:40]} is not a field")
            if not isinstance(value, _CHANGE_SHAPES[name]):
                raise Problem(
                    "wrong_shape", f"changes.{name} must be {_KIND_NAMES[_CHANGE_SHAPES[name]]}"
                )
            if name == "tags" and not all(isinstance(t, str) for t in value):
                raise Problem("wrong_shape", "changes.tags must be a list of text")
            _check_size(name, value)
    for name, value in kwargs.items():
        _check_size(name, value)
    return cls(**kwargs)


_KIND_NAMES = {
    str: "text",
    dict: "an object",
    list: "a list",
    bool: "true or false",
    int: "a whole number",
}


# Column sizes of the read model: an event from another writer that exceeds them is
# malformed (skipped), rather than an error that would stop the projector.
_TEXT_LIMITS = {"name": 200, "owner": 150, "category": 100, "entry_type": 20, "key": 200}


def _check_size(name: str, value: Any) -> None:
    limit = _TEXT_LIMITS.get(name)
    if limit is not None and not (0 < len(value) <= limit or (name == "key" and not value)):
        raise Problem("out_of_range", f"{name} must be 1 to {limit} characters (got {len(value)})")
    if name == "tags" and (len(value) > 100 or not all(0 < len(t) <= 40 for t in value)):
        raise Problem("out_of_range", "tags: at most 100, each 1 to 40 characters")
    if name in ("owner_id", "user_id") and not 0 <= value < 2**63:
        raise Problem("out_of_range", f"{name} must be from 0 to 2**63 - 1")
