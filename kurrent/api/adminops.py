"""/api/v1/admin/…: for admins only, the raw event browser (any stream or $all) and
erasing a user's data for good, through the services the admin pages use."""

from __future__ import annotations

import json
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Header, Query, Router, Schema
from pydantic import Field

from kurrent.api.access import current_env
from kurrent.api.auth import actor
from kurrent.api.conditions import clean_idempotency_key, idempotent, with_query
from kurrent.api.problems import invalid
from kurrent.api.schemas import ProblemOut, Strict
from kurrent.api.tokens import user_by_name
from kurrent.core.errors import Forbidden, NotFound
from kurrent.services import rawevents, roles, userdata

router = Router(tags=["admin"])

ERRORS = {401: ProblemOut, 403: ProblemOut, 422: ProblemOut, 429: ProblemOut, 503: ProblemOut}


class RawEventOut(Schema):
    id: str
    type: str
    stream: str
    revision: int
    position: int
    recorded_at: str | None
    content_type: str
    data: Any = Field(description="the JSON it holds, else its text")
    metadata: Any
    is_system: bool


class EventPage(Schema):
    stream: str = Field(description='"" for $all')
    events: list[RawEventOut]
    has_previous: bool
    has_next: bool
    first_cursor: int | None
    last_cursor: int | None
    scanned_out: bool


class EraseIn(Strict):
    confirm: str = Field(max_length=150, description="the username again, to be sure")


class ErasedOut(Schema):
    username: str
    streams_erased: int


def _require_admin(request: HttpRequest) -> Any:
    user = actor(request)
    if not roles.is_admin(user):
        raise Forbidden("Admins only.")
    return user


def _json_or_text(text: str, is_json: bool) -> Any:
    if is_json:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _raw_event(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "stream": event.stream,
        "revision": event.revision,
        "position": event.position,
        "recorded_at": event.recorded_at.isoformat() if event.recorded_at else None,
        "content_type": event.content_type,
        "data": _json_or_text(event.data, event.is_json),
        "metadata": _json_or_text(event.metadata, bool(event.metadata)),
        "is_system": event.is_system,
    }


@router.get("/admin/events", response={200: EventPage, **ERRORS, 404: ProblemOut})
def raw_events(
    request: HttpRequest,
    response: HttpResponse,
    stream: str = Query("", max_length=200, description='a stream name; empty for "$all"'),
    type: str = Query("", max_length=100, description="only events of this type"),
    system: bool = Query(False, description="include system streams ($…)"),
    go: Literal["first", "last", "after", "before"] = Query("first"),
    pos: int | None = Query(None, ge=0, le=2**63 - 1, description="cursor for after/before"),
    size: int = Query(20, ge=1, le=100),
) -> Any:
    """Raw events as KurrentDB stores them, a page at a time, oldest first; follow the
    `Link` header (or `first_cursor` / `last_cursor` with `go=before` / `go=after`)."""
    _require_admin(request)
    try:
        page = rawevents.browse(
            current_env(),
            stream=stream.strip(),
            event_type=type.strip(),
            show_system=system,
            size=size,
            go=go,
            pos=pos,
        )
    except rawevents.BrowseError as exc:
        if "position" in str(exc):
            raise invalid("pos", str(exc)) from None
        raise NotFound(str(exc)) from None
    links = []
    if page.has_previous and page.first_cursor is not None:
        links.append(f'<{with_query(request, go="before", pos=page.first_cursor)}>; rel="prev"')
    if page.has_next and page.last_cursor is not None:
        links.append(f'<{with_query(request, go="after", pos=page.last_cursor)}>; rel="next"')
    if links:
        response["Link"] = ", ".join(links)
    return {
        "stream": page.stream,
        "events": [_raw_event(e) for e in page.events],
        "has_previous": page.has_previous,
        "has_next": page.has_next,
        "first_cursor": page.first_cursor,
        "last_cursor": page.last_cursor,
        "scanned_out": page.scanned_out,
    }


@router.post(
    "/admin/users/{username}/erase",
    response={200: ErasedOut, **ERRORS, 400: ProblemOut, 404: ProblemOut, 409: ProblemOut},
)
def erase_user(
    request: HttpRequest,
    username: str,
    payload: EraseIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Any:
    """Tombstone every stream of the user's (entries and records they own) and drop
    their read-model rows: for good. `confirm` must repeat the username."""
    user = _require_admin(request)
    owner = user_by_name(username)
    if payload.confirm != owner.get_username():
        raise invalid("confirm", "must repeat the username of the user to erase")
    key = clean_idempotency_key(idempotency_key)
    with idempotent(request, user, key):
        erased = userdata.erase_user(user, owner, env=current_env(), idempotency_key=key)
    return {"username": owner.get_username(), "streams_erased": erased}
