"""The admins' raw event browser: any stream, or $all, one page at a time.

The one place the dashboard reads KurrentDB events directly instead of the
read model: it shows what is really stored, system streams included on request.
Reads go through `connections.call`, so they are bounded by the environment's
timeout and counted in its metrics.

Paging uses cursors, not offsets: a commit position in $all, a revision in a
stream. "after"/"before" a cursor excludes the event at the cursor whatever
the server's inclusive/exclusive convention. A page is newest first by default
(`newest_first`): the same reads with first/last and after/before swapped, the
page turned round; "next" then goes to older events.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import QueryDict
from kurrentdbclient import KurrentDBClient, RecordedEvent
from kurrentdbclient.client import DEFAULT_EXCLUDE_FILTER
from kurrentdbclient.exceptions import (
    InvalidCommitPositionError,
    NotFoundError,
    StreamIsDeletedError,
    StreamTombstonedError,
    UnknownError,
)

from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError, StreamUnreadable

ALL = "$all"
# A type filter or hidden system streams may skip events the server returns;
# stop scanning after this many so one page can never read the whole log.
SCAN_LIMIT = 5000
TEXT_PREVIEW_BYTES = 64 * 1024
MAX_POSITION = 2**64  # $all's commit positions are unsigned 64-bit numbers
MAX_REVISION = 2**63 - 1  # a stream's revisions are below (2^63 - 1 marks a tombstone)


class BrowseError(Exception):
    """A message for the admin: no such stream, deleted stream."""


@dataclass(frozen=True)
class RawEvent:
    id: str
    type: str
    stream: str
    revision: int
    position: int
    recorded_at: datetime | None
    content_type: str
    data: str  # pretty JSON when it parses, else the text (or a note for binary)
    metadata: str
    data_raw: str  # as stored (the text, or the same note for binary)
    metadata_raw: str
    is_json: bool
    is_system: bool

    @property
    def cursor(self) -> int:
        return self.position


@dataclass(frozen=True)
class BrowsePage:
    stream: str  # "" for $all
    events: list[RawEvent]  # in the order shown
    has_previous: bool
    has_next: bool
    scanned_out: bool  # the scan limit was reached before the page filled
    newest_first: bool = False

    @property
    def first_cursor(self) -> int | None:
        return self._cursor(self.events[0]) if self.events else None

    @property
    def last_cursor(self) -> int | None:
        return self._cursor(self.events[-1]) if self.events else None

    def _cursor(self, event: RawEvent) -> int:
        return event.revision if self.stream else event.position


def _decode(raw: bytes, content_type: str) -> tuple[str, bool, str]:
    """(pretty text, whether it is JSON, the text as stored)."""
    if not raw:
        return "", False, ""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        note = f"({len(raw)} bytes of binary data, {content_type or 'no content type'})"
        return note, False, note
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False), True, text
    except ValueError:
        if len(text) > TEXT_PREVIEW_BYTES:
            text = text[:TEXT_PREVIEW_BYTES] + "\n… (cut)"
        return text, False, text


def _raw(event: RecordedEvent) -> RawEvent:
    data, is_json, data_raw = _decode(event.data, event.content_type)
    metadata, _, metadata_raw = _decode(event.metadata, "")
    return RawEvent(
        id=str(event.id),
        type=event.type,
        stream=event.stream_name,
        revision=event.stream_position,
        position=event.commit_position or 0,
        recorded_at=event.recorded_at,
        content_type=event.content_type,
        data=data,
        metadata=metadata,
        data_raw=data_raw,
        metadata_raw=metadata_raw,
        is_json=is_json,
        is_system=event.type.startswith("$") or event.stream_name.startswith("$"),
    )


_FLIPPED = {"first": "last", "last": "first", "after": "before", "before": "after"}


def browse(
    env: str,
    *,
    stream: str = "",
    event_type: str = "",
    show_system: bool = False,
    size: int = 20,
    go: str = "first",
    pos: int | None = None,
    newest_first: bool = False,
) -> BrowsePage:
    """One page of raw events, in the order shown. `go` is first | last | after |
    before (with `pos`), in that order: newest first, "first" is the newest page and
    "after" a cursor means older than it.
    """
    kwargs = {"stream": stream, "event_type": event_type, "show_system": show_system}
    if go in ("after", "before") and pos is None:
        go = "first"
    if not newest_first:
        return _browse(env, size=size, go=go, pos=pos, **kwargs)
    page = _browse(env, size=size, go=_FLIPPED.get(go, "last"), pos=pos, **kwargs)
    return BrowsePage(
        stream=page.stream,
        events=page.events[::-1],
        has_previous=page.has_next,
        has_next=page.has_previous,
        scanned_out=page.scanned_out,
        newest_first=True,
    )


def _browse(
    env: str,
    *,
    stream: str = "",
    event_type: str = "",
    show_system: bool = False,
    size: int = 20,
    go: str = "first",
    pos: int | None = None,
) -> BrowsePage:
    """One page of raw events, oldest first. `go` is first | last | after | before (with `pos`).

    Raises BrowseError for a missing or deleted stream, and KurrentUnavailable
    (from connections.call) when the node does not answer.
    """
    stream = "" if stream in ("", ALL) else stream
    if go in ("after", "before") and pos is None:
        go = "first"
    if pos is not None and not 0 <= pos < (MAX_REVISION if stream else MAX_POSITION):
        where = f"revision {pos} in “{stream}”" if stream else f"position {pos} in $all"
        raise BrowseError(f"There is no {where}.")
    backwards = go in ("last", "before")

    def matches(event: RecordedEvent) -> bool:
        if event_type and event.type != event_type:
            return False
        if not show_system and not stream and event.stream_name.startswith("$"):
            return False
        if go == "after" and _cursor_of(event) <= pos:  # type: ignore[operator]
            return False
        return not (go == "before" and _cursor_of(event) >= pos)  # type: ignore[operator]

    def _cursor_of(event: RecordedEvent) -> int:
        return event.stream_position if stream else (event.commit_position or 0)

    def read(client: KurrentDBClient, timeout: float) -> tuple[list[RecordedEvent], bool]:
        if stream:
            response = client.read_stream(
                stream,
                stream_position=pos if go in ("after", "before") else None,
                backwards=backwards,
                limit=SCAN_LIMIT,
                timeout=timeout,
            )
        else:
            if event_type:
                filters: dict[str, Any] = {"filter_include": (re.escape(event_type),)}
            elif show_system:
                filters = {"filter_exclude": ()}
            else:
                filters = {"filter_exclude": DEFAULT_EXCLUDE_FILTER}
            response = client.read_all(
                commit_position=pos if go in ("after", "before") else None,
                backwards=backwards,
                limit=SCAN_LIMIT,
                timeout=timeout,
                **filters,
            )
        found: list[RecordedEvent] = []
        scanned = 0
        with response:
            for event in response:
                scanned += 1
                if matches(event):
                    found.append(event)
                    if len(found) > size:
                        break
        return found, scanned >= SCAN_LIMIT and len(found) <= size

    try:
        # A user's long read: one of KURRENTDB_MAX_CONCURRENT_STREAMS, KurrentBusy at once
        # when all are taken.
        with connections.stream_slot(env):
            found, scanned_out = connections.call(env, "browse", read, retries=1)
    except (InvalidCommitPositionError, UnknownError) as exc:
        # KurrentDB (24.10+) refuses to read $all from a position where no event starts,
        # e.g. a hand-edited ?pos=: a wrong request, not a broken node.
        if "InvalidPosition" not in str(exc):
            raise
        raise BrowseError(f"There is no event at position {pos} in $all.") from None
    except (NotFoundError, StreamIsDeletedError, StreamTombstonedError) as exc:
        if isinstance(exc, NotFoundError):
            raise BrowseError(f"There is no stream named “{stream}”.") from None
        raise BrowseError(f"The stream “{stream}” has been deleted.") from None
    except KurrentError:
        raise
    except Exception as exc:  # the client failed on what this page holds
        raise StreamUnreadable(
            f"KurrentDB answered with events this app cannot read ({type(exc).__name__})."
        ) from exc

    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()
    events = [_raw(event) for event in found]
    if go == "first":
        has_previous, has_next = False, more
    elif go == "last":
        has_previous, has_next = more, False
    elif go == "after":
        has_previous, has_next = True, more
    else:  # before
        has_previous, has_next = more, True
    return BrowsePage(
        stream=stream,
        events=events,
        has_previous=has_previous and bool(events),
        has_next=has_next and bool(events),
        scanned_out=scanned_out,
    )


def paging_links(base: dict[str, Any], page: BrowsePage) -> dict[str, str]:
    """Query strings for first / previous / next / last, keeping the filters."""

    def qs(**extra: Any) -> str:
        query = QueryDict(mutable=True)
        for key, value in {**base, **extra}.items():
            if value not in (None, ""):
                query[key] = str(value)
        return query.urlencode()

    links = {"first": qs(go="first"), "last": qs(go="last")}
    if page.has_previous and page.first_cursor is not None:
        links["previous"] = qs(go="before", pos=page.first_cursor)
    if page.has_next and page.last_cursor is not None:
        links["next"] = qs(go="after", pos=page.last_cursor)
    return links
