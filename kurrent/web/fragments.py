"""The web layer's only cache of rendered HTML: three fragments of the dashboard.

The record list (partials/record_results.html, also the search's htmx answer) and the
activity feed (activity.html#activity-feed) are most of a dashboard's cost (two to three
queries and ~40 rows of template), and the same until the read model changes. The status
panel (status.html#status-panel) is what every open dashboard polls, and the same for
every viewer until a reading changes. Each is kept because it more than doubles a figure
of bench/http.py (in-process CPU per request, kept vs rendered each time: dashboard
29-36 -> 13-14 ms, search 15 -> 3-4 ms, status poll 3.6 -> 1.6 ms).

Key contract. An entry is found under

    (name, env, viewer, query, script prefix)      and is valid for one generation

    name        which fragment: "record-results", "activity-feed" or "status-panel"
    env         the environment shown
    viewer      (user id, role name): which rows the viewer may see (their own private
                records, every one for admins) and what the empty list offers; () for
                the status panel, which shows every viewer the same
    query       the list's normalized query values (search, tag, owner, page, size) and
                the request's query string, which the list's reload link repeats; the
                feed's length and poll period; () for the status panel
    generation  for the status panel, the readings it shows (each environment's health
                but for when it was made, projector lag, call and error counts and their
                window) and when the probed ones were checked. For the read-model
                fragments, read_model_generation(env): the checkpoint's position and
                event count. The projector's batch apply is the read model's one writer
                and moves them in the same transaction as the rows, for every batch: a
                user's own write (the service catches up through it), the live
                projector's, a rebuild's (which first sets them back)

What an entry may hold: HTML rendered from the partial with only the values above in
its context. Never a CSRF token, an idempotency key, a message, a relative time (times
are absolute <time data-ago> elements that static/js/base.js words as "42 s ago"), or
anything else of one request. Entries live at most TTL_S, which bounds what the
generation does not see (a user renamed). Per process; nothing is shared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from threading import Lock
from typing import Any

from django.urls import get_script_prefix

from kurrent.models import ProjectionCheckpoint

TTL_S = 5.0
MAX_ENTRIES = 512  # per process; the oldest half goes when it is full

_entries: dict[tuple[Any, ...], tuple[float, tuple[Any, ...], str]] = {}
_lock = Lock()


def read_model_generation(env: str) -> tuple[Any, ...]:
    """What changes whenever the read model of `env` changes, in one cheap query (the
    checkpoint row, by its unique env; on a cached list this query is most of the cost)."""
    rows = ProjectionCheckpoint.objects.filter(env=env).values_list("position", "events_applied")
    return tuple(next(iter(rows), (0, 0)))


def fragment(
    name: str,
    env: str,
    viewer: tuple[Any, ...],
    query: tuple[Any, ...],
    generation: tuple[Any, ...],
    render: Callable[[], str],
) -> str:
    """The fragment under this key (module docstring), rendered by `render()` when there
    is no entry of this generation younger than TTL_S."""
    key = (name, env, viewer, query, get_script_prefix())
    now = time.monotonic()
    found = _entries.get(key)
    if found is not None and found[1] == generation and now - found[0] < TTL_S:
        return found[2]
    html = render()
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            for old in list(_entries)[: MAX_ENTRIES // 2]:
                del _entries[old]
        _entries.pop(key, None)
        _entries[key] = (now, generation, html)
    return html


def clear() -> None:
    """Forget every entry (tests: ids and positions repeat from one test to the next)."""
    with _lock:
        _entries.clear()
