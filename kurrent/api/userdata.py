"""/api/v1/userdata and /api/v1/directory: user data by address (user, type, category),
through kurrent.services.userdata as the pages use it.

The original store's storeUserData, getUserData(user, type) and updateUserData are
POST /userdata, GET /userdata/{user}/{type} and PATCH /userdata/{user}/{type}/{category}.
A category holding "/" cannot be named in a path; the dashboard still reaches it by id.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from kurrent.api.access import current_env, ensure_writable
from kurrent.api.auth import actor
from kurrent.api.conditions import (
    clean_idempotency_key,
    decode_cursor,
    etag,
    idempotent,
    optional_version,
    page_links,
    required_version,
    set_etag,
    stale,
)
from kurrent.api.problems import Problem
from kurrent.api.records import CHANGE, LIST, READ, WRITE, IdempotencyKey, IfMatch, Limit
from kurrent.api.records import Cursor as PageCursor
from kurrent.api.schemas import EntryOut, ProblemOut, Strict, entry_json
from kurrent.api.tokens import user_by_name
from kurrent.core.domain import ENTRY_TYPES, MAX_CATEGORY, MAX_TAGS
from kurrent.core.errors import Conflict
from kurrent.services import userdata

router = Router(tags=["user data"])

ADDRESS = "/userdata/{username}/{entry_type}/{category}"


class EntryIn(Strict):
    user: str | None = Field(None, max_length=150, description="a username; admins only")
    entry_type: str = Field(description=" | ".join(ENTRY_TYPES))
    category: str = Field(min_length=1, max_length=MAX_CATEGORY + 50)
    value: dict[str, Any]
    tags: list[str] | None = Field(None, max_length=MAX_TAGS * 2)
    is_public: bool | None = None
    key: str = Field("", max_length=200)


class EntryPatch(Strict):
    """Only the fields given change."""

    value: dict[str, Any] | None = None
    tags: list[str] | None = Field(None, max_length=MAX_TAGS * 2)
    is_public: bool | None = None


class EntryPage(Schema):
    items: list[EntryOut]
    total: int
    next: str | None
    previous: str | None


def _location(entry: Any) -> str:
    return f"/api/v1/userdata/{entry.owner}/{entry.entry_type}/{entry.category}"


def _exists(exc: Conflict) -> Problem:
    """A store where an entry is already: 409 with that entry (change it with PATCH)."""
    headers = {"ETag": etag(exc.current_version)} if exc.current_version is not None else {}
    if exc.current is not None:
        headers["Location"] = _location(exc.current)
    return Problem(
        409,
        "conflict",
        str(exc),
        headers=headers,
        current_version=exc.current_version,
        current=entry_json(exc.current) if exc.current is not None else None,
    )


@router.post("/userdata", response={201: EntryOut, **WRITE}, summary="Store user data")
def store_user_data(
    request: HttpRequest,
    payload: EntryIn,
    response: HttpResponse,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """storeUserData: a new entry at (user, type, category), or a deleted one there back
    with these values. A live entry there is a 409 carrying it: change it with PATCH."""
    user, env = actor(request), current_env()
    owner = user_by_name(payload.user) if payload.user else user
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key) as replay:
        try:
            entry = userdata.store_user_data(
                user,
                payload.entry_type,
                payload.category,
                payload.value,
                payload.is_public,
                user=owner,
                tags=payload.tags,
                key=payload.key,
                idempotency_key=key,
                env=env,
            )
        except Conflict as exc:
            raise _exists(exc) from None
    set_etag(response, entry.version)
    response["Location"] = _location(entry)
    if replay:
        response["Idempotent-Replayed"] = "true"
    return Status(201, entry_json(entry))


@router.get(
    "/userdata/{username}",
    response={200: dict[str, list[EntryOut]], **READ},
    summary="A user's entries by type",
)
def list_user_data(request: HttpRequest, username: str) -> Any:
    """Every live entry of the user that you may see, by type, newest first."""
    owner = user_by_name(username)
    grouped = userdata.list_entries(actor(request), user=owner, env=current_env())
    return {kind: [entry_json(e) for e in entries] for kind, entries in grouped.items()}


@router.get(
    "/userdata/{username}/{entry_type}",
    response={200: dict[str, EntryOut], **READ},
    summary="getUserData(user, type)",
)
def get_user_data(request: HttpRequest, username: str, entry_type: str) -> Any:
    """The user's entries of one type that you may see, by category."""
    owner = user_by_name(username)
    found = userdata.get_user_data(actor(request), owner, entry_type, env=current_env())
    return {category: entry_json(entry) for category, entry in found.items()}


@router.get(ADDRESS, response={200: EntryOut, **READ}, summary="One entry")
def get_entry(
    request: HttpRequest, username: str, entry_type: str, category: str, response: HttpResponse
) -> Any:
    """The entry at (user, type, category), with its version as ETag."""
    owner = user_by_name(username)
    entry = userdata.get_user_entry(actor(request), owner, entry_type, category, env=current_env())
    set_etag(response, entry.version)
    return entry_json(entry)


@router.patch(ADDRESS, response={200: EntryOut, **CHANGE}, summary="updateUserData")
def update_entry(
    request: HttpRequest,
    username: str,
    entry_type: str,
    category: str,
    payload: EntryPatch,
    response: HttpResponse,
    if_match: str | None = IfMatch,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """Change the entry's value, tags or visibility, if it is still at the version in
    If-Match (required: 428 without it; 412 with the current version and values)."""
    user, env = actor(request), current_env()
    owner = user_by_name(username)
    userdata.get_user_entry(user, owner, entry_type, category, env=env)  # 404 if unseen
    expected = required_version(if_match)
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key) as replay:
        try:
            entry = userdata.update_user_data(
                user,
                owner,
                entry_type,
                category,
                payload.value,
                expected_version=expected,
                tags=payload.tags,
                is_public=payload.is_public,
                idempotency_key=key,
                env=env,
            )
        except Conflict as exc:
            raise stale(exc, entry_json) from None
    set_etag(response, entry.version)
    if replay:
        response["Idempotent-Replayed"] = "true"
    return entry_json(entry)


@router.delete(ADDRESS, response={204: None, **CHANGE}, summary="Delete an entry")
def delete_entry(
    request: HttpRequest,
    username: str,
    entry_type: str,
    category: str,
    if_match: str | None = IfMatch,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """A UserDataDeleted event: the entry leaves every listing; POST …/restore brings it
    back."""
    user, env = actor(request), current_env()
    owner = user_by_name(username)
    userdata.get_user_entry(user, owner, entry_type, category, env=env)
    expected = required_version(if_match)
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key):
        try:
            userdata.delete_user_data(
                user,
                owner,
                entry_type,
                category,
                expected_version=expected,
                idempotency_key=key,
                env=env,
            )
        except Conflict as exc:
            raise stale(exc, entry_json) from None
    return Status(204, None)


@router.post(ADDRESS + "/restore", response={200: EntryOut, **CHANGE}, summary="Restore an entry")
def restore_entry(
    request: HttpRequest,
    username: str,
    entry_type: str,
    category: str,
    response: HttpResponse,
    if_match: str | None = IfMatch,
    idempotency_key: str | None = IdempotencyKey,
) -> Any:
    """Bring the deleted entry at the address back as it was (If-Match optional: the
    version of the delete)."""
    user, env = actor(request), current_env()
    owner = user_by_name(username)
    expected = optional_version(if_match)
    ensure_writable(user, env)
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key) as replay:
        try:
            entry = userdata.restore_user_data(
                user,
                owner,
                entry_type,
                category,
                expected_version=expected,
                idempotency_key=key,
                env=env,
            )
        except Conflict as exc:
            raise stale(exc, entry_json) from None
    set_etag(response, entry.version)
    if replay:
        response["Idempotent-Replayed"] = "true"
    return entry_json(entry)


@router.get("/directory", response={200: EntryPage, **LIST}, summary="Public entries")
def directory(
    request: HttpRequest,
    response: HttpResponse,
    type: str | None = Query(None, description=" | ".join(ENTRY_TYPES)),
    q: str | None = Query(None, max_length=200, description="words that must all occur"),
    limit: int = Limit,
    cursor: str | None = PageCursor,
) -> Any:
    """Every user's public entries, newest first."""
    page = userdata.public_directory(
        actor(request),
        entry_type=type or None,
        query=q,
        page=decode_cursor(cursor),
        page_size=limit,
        env=current_env(),
    )
    following, preceding, link = page_links(request, page)
    if link:
        response["Link"] = link
    return {
        "items": [entry_json(e) for e in page.items],
        "total": page.total,
        "next": following,
        "previous": preceding,
    }


__all__ = ["ProblemOut", "router"]
