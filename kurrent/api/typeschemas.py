"""/api/v1/schemas: the JSON Schema of each user-data type (kurrent.services.schemas), its
history, and for admins replacing it (If-Match: the version in force)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Body, Router

from kurrent.api.access import current_env, ensure_writable
from kurrent.api.auth import actor
from kurrent.api.conditions import (
    clean_idempotency_key,
    idempotent,
    required_version,
    set_etag,
    stale,
)
from kurrent.api.records import CHANGE, READ, IdempotencyKey, IfMatch
from kurrent.core.errors import Conflict, Forbidden
from kurrent.services import roles, schemas
from kurrent.services.common import require_reader

router = Router(tags=["user data"])


def _json(found: Any) -> dict[str, Any]:
    return {
        "entry_type": found.entry_type,
        "version": found.version,
        "schema": found.schema,
        "shipped": found.shipped,
        "replaced_at": found.replaced_at.isoformat() if found.replaced_at else None,
        "replaced_by": found.replaced_by,
    }


@router.get("/schemas", response={200: list[dict[str, Any]], **READ}, summary="Every schema")
def all_schemas(request: HttpRequest) -> Any:
    """The schema in force of every user-data type."""
    require_reader(actor(request))
    return [_json(found) for found in schemas.all_current(current_env())]


@router.get("/schemas/{entry_type}", response={200: dict[str, Any], **READ}, summary="A schema")
def one_schema(request: HttpRequest, entry_type: str, response: HttpResponse) -> Any:
    """The schema in force for one type, its version as ETag."""
    require_reader(actor(request))
    found = schemas.current_schema(entry_type, current_env())
    set_etag(response, found.version)
    return _json(found)


@router.get(
    "/schemas/{entry_type}/history",
    response={200: list[dict[str, Any]], **READ},
    summary="A schema's versions",
)
def schema_history(request: HttpRequest, entry_type: str) -> Any:
    """Every version of the type's schema, the shipped one (version 0) first."""
    found = schemas.schema_history(actor(request), entry_type, current_env())
    return [_json(item) for item in found]


@router.put(
    "/schemas/{entry_type}", response={200: dict[str, Any], **CHANGE}, summary="Replace a schema"
)
def replace_schema(
    request: HttpRequest,
    entry_type: str,
    response: HttpResponse,
    payload: dict[str, Any] = Body(..., description="the JSON Schema (draft 2020-12)"),
    if_match: str | None = IfMatch,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """Admins: make the body (a JSON Schema) the type's schema, if the one in force is
    still the version in If-Match. Entries stored before keep their values."""
    user, env = actor(request), current_env()
    if not roles.is_admin(user):
        raise Forbidden("Only an admin may replace a schema.")
    expected = required_version(if_match)
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key):
        try:
            found = schemas.replace_schema(
                user, entry_type, payload, expected_version=expected, idempotency_key=key, env=env
            )
        except Conflict as exc:
            raise stale(exc, _json) from None
    set_etag(response, found.version)
    return _json(found)
