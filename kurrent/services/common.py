"""What every service shares: roles, pages, ids, and the calls to KurrentDB."""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from kurrentdbclient import KurrentDBClient, NewEvent, RecordedEvent, StreamState
from kurrentdbclient.exceptions import KurrentDBClientError, NotFoundError, StreamIsDeletedError

from kurrent.connection.clients import direct
from kurrent.connection.config import active_environment
from kurrent.connection.manager import connections
from kurrent.core.errors import (
    Forbidden,
    KurrentError,
    NotFound,
    StreamUnreadable,
    ValidationError,
)
from kurrent.readmodel import projector
from kurrent.services.roles import can_read, can_write

log = logging.getLogger("kurrent.services")

MAX_PAGE_SIZE = 100
MAX_QUERY = 200  # characters of a search or filter query


@dataclass(frozen=True)
class Page:
    """One page of results (records or entries), pages numbered from 1."""

    items: list
    page: int
    page_size: int
    total: int
    has_next: bool
    has_previous: bool
    num_pages: int
    # False: `total` is a lower bound ("1000+"); searches count matches up to a cap.
    total_exact: bool = True


def env_name(env: str | None) -> str:
    return env or active_environment()


def require_reader(actor: Any) -> None:
    if not can_read(actor):
        raise Forbidden("Sign in to read data.")


def require_writer(actor: Any) -> None:
    if not can_write(actor):
        raise Forbidden("Your role can read but not change data.")


def page_numbers(page: Any, page_size: Any) -> tuple[int, int]:
    try:
        number, size = int(page), int(page_size)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError("page", "must be a whole number") from None
    if size < 1 or size > MAX_PAGE_SIZE:
        raise ValidationError("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
    return max(1, min(number, 10**9)), size


def make_page(items: list, number: int, size: int, total: int, exact: bool = True) -> Page:
    """One page of `total` items; not `exact`: at least `total`, and more after this page."""
    num_pages = max(1, math.ceil(total / size))
    if not exact:
        num_pages = max(number + 1, num_pages)  # the pages known to exist
    return Page(
        items=items,
        page=number,
        page_size=size,
        total=total,
        has_next=number < num_pages,
        has_previous=number > 1,
        num_pages=num_pages,
        total_exact=exact,
    )


def clamp_page(number: int, size: int, total: int) -> int:
    """Like Django's Paginator.get_page: a page past the end shows the last one."""
    return min(number, max(1, math.ceil(total / size)))


def parse_uuid(value: Any, missing: str) -> str:
    """`value` as a canonical UUID; anything else names nothing: NotFound(missing)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(missing) from None


def max_data_bytes() -> int:
    return settings.KURRENT_RECORD_MAX_DATA_BYTES


def user_id_by_name(username: str | None) -> int | None:
    if not username:
        return None
    """The user named so, in any case (the name as written wins over another case's)."""
    users = get_user_model().objects.filter(username__iexact=username)
    found = dict(users.values_list("username", "pk")[:10])
    if username in found:
        return found[username]
    return min(found.values(), default=-1)  # -1: no such user, so nothing matches


# --- KurrentDB ---------------------------------------------------------------------------

_append_to_stream = direct(KurrentDBClient.append_to_stream)


def append(
    env: str, stream: str, event: NewEvent | list[NewEvent], expected: int | StreamState
) -> int:
    """Append one event (or several, atomically) with an expected version; returns the
    commit position of the last.

    Retrying is safe: the event id is fixed before the first attempt, and KurrentDB
    answers a re-sent id at the same expected version with the original position.
    """
    return connections.call(
        env,
        "append",
        lambda client, timeout: _append_to_stream(
            client, stream, events=event, current_version=expected, timeout=timeout
        ),
        inline=True,
    )


def read_stream(
    env: str, stream: str, missing: str, *, user_read: bool = False
) -> tuple[RecordedEvent, ...]:
    """Every event of one stream; NotFound(missing) if it never existed or was erased.

    `user_read`: a read a user started (a history, a diff), which holds one of
    KURRENTDB_MAX_CONCURRENT_STREAMS for its length: KurrentBusy at once when all are
    taken. Any other error of the client on this stream (say an event larger than the
    client takes) is StreamUnreadable: this stream only, the environment is not down."""
    slot = connections.stream_slot(env) if user_read else contextlib.nullcontext()
    try:
        with slot:
            return connections.call(
                env,
                "read_stream",
                lambda client, timeout: client.get_stream(stream, timeout=timeout),
            )
    except (NotFoundError, StreamIsDeletedError):
        raise NotFound(missing) from None
    except KurrentError:
        raise
    except Exception as exc:  # the client failed on what this one stream holds
        log.warning("stream %s of %s cannot be read: %s", stream, env, type(exc).__name__)
        raise StreamUnreadable(f"The stream {stream} cannot be read right now.") from exc


def catch_up_quietly(env: str, position: int | None = None) -> bool:
    """Catch the read model up (to `position`, else to the end); False when it could not
    (the live projector or the next write will apply it, so it is logged, not raised)."""
    try:
        projector.catch_up(env, until_position=position)
    except (KurrentError, DatabaseError, KurrentDBClientError) as exc:
        # KurrentDBClientError: $all holds an event the client cannot take (too large,
        # say); the write itself is stored, and the page must not fail for it.
        log.warning("read model of %s not caught up: %s", env, exc)
        return False
    return True
