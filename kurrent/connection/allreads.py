"""Reading $all filtered on stream-name prefixes (the projector and kurrent_export).

The functions take the client and timeout that `connections.call` hands over, so each
caller keeps its own operation name (metrics count them apart)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kurrentdbclient import RecordedEvent


def read_after(
    client: Any,
    timeout: float,
    after: int,
    prefixes: tuple[str, ...],
    limit: int,
    *,
    read_all: Callable[..., Any] | None = None,
) -> list[RecordedEvent]:
    """Up to `limit` events of the prefixed streams after the commit position `after`.

    `read_all`: the client's method to use (the unwrapped one for an inline call)."""
    events = (read_all or type(client).read_all)(
        client,
        commit_position=after or None,
        filter_include=prefixes,
        filter_by_stream_name=True,
        filter_by_prefix=True,
        limit=limit + 1,
        timeout=timeout,
    )
    # A forward read from a position includes the event at it.
    return [e for e in events if e.commit_position > after][:limit]


def newest(client: Any, timeout: float, prefixes: tuple[str, ...]) -> RecordedEvent | None:
    """The newest event of the prefixed streams, if any."""
    found = list(
        client.read_all(
            backwards=True,
            filter_include=prefixes,
            filter_by_stream_name=True,
            filter_by_prefix=True,
            limit=1,
            timeout=timeout,
        )
    )
    return found[0] if found else None
