"""/api/v1/records: stream records, through kurrent.services.records as the pages use it.

The original store's createStream, getStream, updateStream and deleteStream are POST,
GET, PATCH and DELETE here; lists and searches come from the read model, history, past
versions and diffs from the record's KurrentDB stream.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Header, Query, Router, Status

from kurrent.api.access import current_env, ensure_writable, visible
from kurrent.api.auth import actor
from kurrent.api.conditions import (
    clean_idempotency_key,
    decode_cursor,
    idempotent,
    optional_version,
    page_links,
    required_version,
    set_etag,
    stale,
)
from kurrent.api.schemas import (
    DiffOut,
    HistoryOut,
    ProblemOut,
    RecordIn,
    RecordOut,
    RecordPage,
    RecordPatch,
    StaleOut,
    history_json,
    record_json,
)
from kurrent.core.errors import Conflict
from kurrent.services import records

router = Router(tags=["records"])

MISSING = "There is no such record."
READ = {401: ProblemOut, 404: ProblemOut, 422: ProblemOut, 429: ProblemOut, 503: ProblemOut}
LIST = {k: v for k, v in READ.items() if k != 404}
WRITE = {**READ, 400: ProblemOut, 403: ProblemOut, 409: ProblemOut}
CHANGE = {**WRITE, 412: StaleOut, 428: ProblemOut}

IfMatch = Header(None, alias="If-Match", description='the ETag you read, e.g. "3"')
IdempotencyKey = Header(
    None, alias="Idempotency-Key", description="1-200 visible ASCII characters, new per write"
)
Limit = Query(20, ge=1, le=100, description="items per page")
Cursor = Query(None, max_length=200, description="the `next` or `previous` of a page")


def _replayed(response: HttpResponse, replay: bool) -> None:
    if replay:
        response["Idempotent-Replayed"] = "true"


def _page(request: HttpRequest, response: HttpResponse, page: Any) -> dict[str, Any]:
    following, preceding, link = page_links(request, page)
    if link:
        response["Link"] = link
    return {
        "items": [record_json(r) for r in page.items],
        "total": page.total,
        "total_exact": page.total_exact,
        "next": following,
        "previous": preceding,
    }


@router.post("/records", response={201: RecordOut, **WRITE}, summary="Create a record")
def create_record(
    request: HttpRequest,
    payload: RecordIn,
    response: HttpResponse,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """createStream. Answers 201 with `Location` and `ETag`; the same Idempotency-Key
    and body again answers the same record (`Idempotent-Replayed: true`), appending
    nothing."""
    user, env = actor(request), current_env()
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key) as replay:
        record = records.create_record(
            user,
            name=payload.name,
            data=payload.data,
            tags=payload.tags,
            is_public=payload.is_public,
            metadata=payload.metadata,
            idempotency_key=key,
            env=env,
        )
    set_etag(response, record.version)
    response["Location"] = f"/api/v1/records/{record.id}"
    _replayed(response, replay)
    return Status(201, record_json(record))


@router.get("/records", response={200: RecordPage, **LIST}, summary="List records")
def list_records(
    request: HttpRequest,
    response: HttpResponse,
    owner: str | None = Query(None, max_length=150, description="a username"),
    tag: list[str] = Query([], description="repeat for several: all must match"),
    limit: int = Limit,
    cursor: str | None = Cursor,
) -> Any:
    """The records you may see, most recently changed first."""
    page = records.list_records(
        actor(request),
        owner=owner,
        tags=tag,
        page=decode_cursor(cursor),
        page_size=limit,
        env=current_env(),
    )
    return _page(request, response, page)


@router.get("/records/search", response={200: RecordPage, **LIST}, summary="Search records")
def search_records(
    request: HttpRequest,
    response: HttpResponse,
    q: str = Query(..., max_length=200, description="words; the last one may be a prefix"),
    owner: str | None = Query(None, max_length=150),
    tag: list[str] = Query([]),
    limit: int = Limit,
    cursor: str | None = Cursor,
) -> Any:
    """Full-text search over names, tags and the text inside `data`, best match first."""
    page = records.search_records(
        actor(request),
        q,
        owner=owner,
        tags=tag,
        page=decode_cursor(cursor),
        page_size=limit,
        env=current_env(),
    )
    return _page(request, response, page)


@router.get("/records/{record_id}", response={200: RecordOut, **READ}, summary="Get a record")
def get_record(request: HttpRequest, record_id: str, response: HttpResponse) -> Any:
    """getStream: the record with its version (also as `ETag`)."""
    user = actor(request)
    record = visible(lambda: records.get_record(user, record_id, env=current_env()), MISSING)
    set_etag(response, record.version)
    return record_json(record)


@router.patch("/records/{record_id}", response={200: RecordOut, **CHANGE}, summary="Update")
def update_record(
    request: HttpRequest,
    record_id: str,
    payload: RecordPatch,
    response: HttpResponse,
    if_match: str | None = IfMatch,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """updateStream: change the fields given, if the record is still at the version in
    If-Match (required: 428 without it; 412 with the current version and values)."""
    user, env = actor(request), current_env()
    visible(lambda: records.get_record(user, record_id, env=env), MISSING)
    expected = required_version(if_match)
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    changes = payload.model_dump(exclude_none=True)
    with idempotent(request, user, key) as replay:
        try:
            record = records.update_record(
                user, record_id, expected_version=expected, idempotency_key=key, env=env, **changes
            )
        except Conflict as exc:
            raise stale(exc, record_json) from None
    set_etag(response, record.version)
    _replayed(response, replay)
    return record_json(record)


@router.delete("/records/{record_id}", response={204: None, **CHANGE}, summary="Delete")
def delete_record(
    request: HttpRequest,
    record_id: str,
    if_match: str | None = IfMatch,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """deleteStream: a StreamDeleted event; the record leaves lists, its history stays."""
    user, env = actor(request), current_env()
    visible(lambda: records.get_record(user, record_id, env=env), MISSING)
    expected = required_version(if_match)
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key):
        try:
            records.delete_record(
                user, record_id, expected_version=expected, idempotency_key=key, env=env
            )
        except Conflict as exc:
            raise stale(exc, record_json) from None
    return Status(204, None)


@router.post("/records/{record_id}/restore", response={200: RecordOut, **CHANGE}, summary="Restore")
def restore_record(
    request: HttpRequest,
    record_id: str,
    response: HttpResponse,
    if_match: str | None = IfMatch,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """Bring a deleted record back as it was when deleted (StreamRestored): its owner or
    an admin. If-Match is optional here: the version of the delete."""
    user, env = actor(request), current_env()
    # A deleted record is seen through its history (404 for someone else's private one).
    visible(lambda: records.record_history(user, record_id, env=env), MISSING)
    expected = optional_version(if_match)
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key) as replay:
        try:
            record = records.restore_record(
                user, record_id, expected_version=expected, idempotency_key=key, env=env
            )
        except Conflict as exc:
            raise stale(exc, record_json) from None
    set_etag(response, record.version)
    _replayed(response, replay)
    return record_json(record)


@router.get(
    "/records/{record_id}/history", response={200: list[HistoryOut], **READ}, summary="History"
)
def record_history(request: HttpRequest, record_id: str) -> Any:
    """Every event of the record, oldest first: who, when, what changed. Readable after
    a delete."""
    user = actor(request)
    items = visible(lambda: records.record_history(user, record_id, env=current_env()), MISSING)
    return [history_json(item) for item in items]


@router.get(
    "/records/{record_id}/versions/{version}",
    response={200: RecordOut, **READ},
    summary="A past version",
)
def record_version(request: HttpRequest, record_id: str, version: int) -> Any:
    """The record as it was right after the event at `version`."""
    user = actor(request)
    record = visible(
        lambda: records.record_at_version(user, record_id, version, env=current_env()), MISSING
    )
    return record_json(record)


@router.get("/records/{record_id}/diff", response={200: DiffOut, **READ}, summary="A diff")
def record_diff(
    request: HttpRequest,
    record_id: str,
    from_version: int = Query(..., ge=0),
    to_version: int = Query(..., ge=0),
) -> Any:
    """What changed between two versions, field by field."""
    user = actor(request)
    changes = visible(
        lambda: records.diff_versions(user, record_id, from_version, to_version, env=current_env()),
        MISSING,
    )
    return {"from_version": from_version, "to_version": to_version, "changes": changes}
