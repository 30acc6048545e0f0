"""JSON Schemas of the user-data types: the ones we ship, and checking a value against one.

Checked with the `jsonschema` library (Draft 2020-12, formats asserted). Every problem
is said as "<JSON path>: <rule>" (`page_size: must be at least 10`), the path in dotted
form with list indexes in brackets (`links[2].url`), `value` for the whole object. A
`pattern` or `format` rule says what is wanted through the subschema's `description`
when it has one ("must be a BCP 47 language tag such as en or pt-BR"), so an admin who
replaces a schema can word the messages too. Free of Django.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation

# A BCP 47 language tag (RFC 5646 langtag, and private use "x-..."), case-insensitive; the
# 4-8 letter primary subtags the grammar reserves (none is registered) are left out, so
# "english" is refused.
BCP47_PATTERN = (
    r"^(?:(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3})"
    r"(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-[Xx](?:-[A-Za-z0-9]{1,8})+)?|[Xx](?:-[A-Za-z0-9]{1,8})+)$"
)

_FREE_FORM: dict[str, Any] = {"type": "object"}

SHIPPED: dict[str, dict[str, Any]] = {
    "profile": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Profile",
        "type": "object",
        "properties": {
            "display_name": {"type": "string", "minLength": 1, "maxLength": 100},
            "email": {
                "type": "string",
                "format": "email",
                "maxLength": 254,
                "description": "an email address such as name@example.org",
            },
            "avatar_url": {
                "type": "string",
                "pattern": r"^https?://[^\s]+$",
                "maxLength": 2000,
                "description": "an http:// or https:// address",
            },
            "bio": {"type": "string", "maxLength": 2000},
            "colony": {"type": "string", "maxLength": 100},
        },
    },
    "preferences": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Preferences",
        "type": "object",
        "properties": {
            "theme": {"enum": ["light", "dark", "system"]},
            "language": {
                "type": "string",
                "pattern": BCP47_PATTERN,
                "description": "a BCP 47 language tag such as en or pt-BR",
            },
            "page_size": {"type": "integer", "minimum": 10, "maximum": 100},
            "density": {"enum": ["comfortable", "compact"]},
            "reduce_motion": {"type": "boolean"},
            "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        },
    },
    "settings": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Settings",
        "type": "object",
        "properties": {
            "email": {"type": "boolean"},
            "push": {"type": "boolean"},
            "digest": {"enum": ["never", "daily", "weekly"]},
            "two_factor": {"type": "boolean"},
            "session_minutes": {"type": "integer", "minimum": 5, "maximum": 1440},
        },
    },
    "data": _FREE_FORM,
    "custom": _FREE_FORM,
}

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a JSON Schema we can check values with, or None."""
    if not isinstance(schema, dict):
        return "must be a JSON object ({...})"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = _path(exc.absolute_path) if exc.absolute_path else "the schema"
        return f"is not a valid JSON Schema: {where}: {exc.message[:200]}"
    return None


def problems(schema: dict[str, Any], value: Any) -> list[str]:
    """Every way `value` breaks `schema`, as "<path>: <rule>", in path order."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.path)), e.message))
    return _unique(_say(error) for error in found)


def _say(error: SchemaViolation) -> str:
    path = list(error.absolute_path)
    rule = error.validator
    wanted = error.validator_value
    sub = error.schema if isinstance(error.schema, dict) else {}
    description = sub.get("description")
    if rule == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a field"
        return f"{_path([*path, missing])}: is required"
    if rule == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(sub.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        return f"{_path([*path, extra[0]]) if extra else _path(path)}: is not allowed here"
    where = _path(path)
    if rule == "minimum":
        return f"{where}: must be at least {wanted}"
    if rule == "maximum":
        return f"{where}: must be at most {wanted}"
    if rule == "exclusiveMinimum":
        return f"{where}: must be more than {wanted}"
    if rule == "exclusiveMaximum":
        return f"{where}: must be less than {wanted}"
    if rule == "minLength":
        return f"{where}: must be at least {wanted} character{'s' if wanted != 1 else ''}"
    if rule == "maxLength":
        return f"{where}: must be at most {wanted} characters"
    if rule == "minItems":
        return f"{where}: must have at least {wanted} item{'s' if wanted != 1 else ''}"
    if rule == "maxItems":
        return f"{where}: must have at most {wanted} items"
    if rule == "type":
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        return f"{where}: must be {' or '.join(_TYPE_NAMES.get(n, n) for n in names)}"
    if rule == "enum":
        return f"{where}: must be one of {', '.join(_shown(v) for v in wanted)}"
    if rule == "const":
        return f"{where}: must be {_shown(wanted)}"
    if rule in ("pattern", "format"):
        if description:
            return f"{where}: must be {description}"
        if rule == "format":
            return f"{where}: must be a valid {wanted}"
        return f"{where}: must match the pattern {wanted}"
    return f"{where}: {error.message[:200]}"


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "value"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _unique(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
