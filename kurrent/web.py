"""Request-level glue between the dashboard and the services.

Which environment a request works on (admins may switch, in the session),
whether writes can be submitted right now and why not, and the environment
health the status panel shows. No KurrentDB calls of its own beyond
`connections.health*`, which report what the connection manager knows.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import Any

from django.db import connection
from django.http import HttpRequest

from kurrent import config, formatting, metrics, projector, roles
from kurrent.connection import connections
from kurrent.models import Activity, ProjectionCheckpoint

SESSION_ENV_KEY = "kurrent_env"
WRITABLE_STATES = ("connected", "degraded")
RECENT_WINDOW_S = 300  # "calls and errors in the last 5 minutes"
NEW_EVENTS_CAP = 100  # "100+ new events": counting further helps nobody


def current_env(request: HttpRequest) -> str:
    """The environment this request shows: an admin's choice, else the active one."""
    chosen = request.session.get(SESSION_ENV_KEY) if hasattr(request, "session") else None
    if chosen in config.environments() and roles.is_admin(request.user):
        return chosen
    return config.active_environment()


def switch_env(request: HttpRequest, env: str) -> None:
    if env == config.active_environment():
        request.session.pop(SESSION_ENV_KEY, None)
    else:
        request.session[SESSION_ENV_KEY] = env


def health(env: str) -> Any:
    return connections.health(env)


def health_all() -> dict[str, Any]:
    return connections.health_all()


_sync_cache: dict[tuple[str, str], tuple[float, Any]] = {}
_sync_lock = Lock()


def sync_status(env: str) -> Any:
    """projector.sync_status, at most once per sync interval per environment.

    Every open dashboard polls the status panel; without this each poll would
    read the head of $all once per environment."""
    now = time.monotonic()
    profile = config.get_profile(env)
    key = (env, profile.url)  # another node behind the same name starts afresh
    with _sync_lock:
        cached = _sync_cache.get(key)
        if cached is not None and now - cached[0] < profile.sync_interval_s:
            return cached[1]
    status = projector.sync_status(env)
    with _sync_lock:
        _sync_cache[key] = (now, status)
    return status


def write_block_reason(env: str, user: Any, state: str | None = None) -> str:
    """Why this user cannot submit a write form on `env` now; "" when they can."""
    if not roles.can_write(user):
        return f"Your role ({roles.role_name(user)}) can read data but not change it."
    if env == config.PRODUCTION and not roles.is_admin(user):
        return "Only admins may change data on mainnet (production)."
    state = state or health(env).state
    if state in WRITABLE_STATES:
        return ""
    if state == "not configured":
        return (
            f"The {env} environment has no KurrentDB connection configured "
            f"({config.var(env, 'URL')} is empty), so nothing can be saved there."
        )
    if state == "disabled":
        return "KurrentDB is switched off (KURRENTDB_ENABLED=false), so nothing can be saved."
    return f"KurrentDB for {env} is unreachable right now, so nothing can be saved. Try again when it is back."


@dataclass(frozen=True)
class Recent:
    calls: int
    errors: int
    window_s: int  # how far back the counts reach; 0 means "since this process started"


class _RecentCounts:
    """Calls and errors over the last few minutes, from the cumulative counters.

    prometheus-client counters only grow, so we keep (time, calls, errors)
    samples taken whenever the status panel renders and subtract the oldest
    sample inside the window. Per process, like the counters themselves.
    """

    def __init__(self) -> None:
        self._samples: dict[str, deque[tuple[float, int, int]]] = {}
        self._lock = Lock()

    def take(
        self,
        env: str,
        now: float | None = None,
        totals: dict[str, tuple[int, int]] | None = None,
    ) -> Recent:
        """`totals`: metrics.call_totals(), when the caller takes several environments."""
        now = time.monotonic() if now is None else now
        calls, errors = (metrics.call_totals() if totals is None else totals).get(env, (0, 0))
        with self._lock:
            samples = self._samples.setdefault(env, deque())
            samples.append((now, calls, errors))
            while len(samples) > 1 and samples[1][0] <= now - RECENT_WINDOW_S:
                samples.popleft()
            first_t, first_calls, first_errors = samples[0]
        if first_t == now:
            # First look in this process: everything counted since it started.
            return Recent(calls, errors, 0)
        return Recent(
            calls - first_calls, errors - first_errors, int(min(RECENT_WINDOW_S, now - first_t))
        )


recent_counts = _RecentCounts()


# --- activity feed -----------------------------------------------------------------


def activity_for(user: Any, env: str, *, limit: int = 20) -> list[Any]:
    """The newest events of `env` this user may see, newest first.

    The feed names records, so a private record's title never reaches others
    (projector.recent_events filters by the actor)."""
    return projector.recent_events(env, limit=limit, actor=user)


def activity_count_after(user: Any, env: str, after: int) -> int:
    """How many visible events arrived after position `after` (capped)."""
    return len(projector.recent_events(env, limit=NEW_EVENTS_CAP, after_position=after, actor=user))


# --- rendered fragments of the read model ------------------------------------------------

FRAGMENT_TTL_S = 5.0  # bounds what the generation cannot see (a user renamed, say)
FRAGMENT_MAX = 512  # entries per process; the oldest half goes when it is full


def read_model_generation(env: str) -> tuple[Any, ...]:
    """What changes whenever the read model of `env` changes, in one cheap query.

    The checkpoint moves with every batch the projector applies, but the writer's
    shortcut (projector.apply_written) leaves it alone and adds an Activity row at
    the new event's position instead, so the newest Activity row counts too. Its
    object id tells apart rows a rolled-back transaction left at the same position."""
    checkpoint = connection.ops.quote_name(ProjectionCheckpoint._meta.db_table)
    activity = connection.ops.quote_name(Activity._meta.db_table)
    newest = f"FROM {activity} WHERE env = %s ORDER BY position DESC LIMIT 1"
    sql = (
        f"SELECT (SELECT position FROM {checkpoint} WHERE env = %s),"  # noqa: S608 (table names)
        f" (SELECT position {newest}), (SELECT object_id {newest})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [env, env, env])
        return tuple(cursor.fetchone())


class FragmentCache:
    """Rendered HTML per process, reused while its key and generation are unchanged.

    The key names everything the fragment shows besides the read model (environment,
    user and role, query string, ...); the generation (read_model_generation) names
    the read model's state. Relative times are left as slots (fill_ago), so a reused
    fragment still says how long ago things happened as of this request."""

    def __init__(self, ttl_s: float = FRAGMENT_TTL_S, max_entries: int = FRAGMENT_MAX) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[tuple[Any, ...], tuple[float, tuple[Any, ...], str]] = {}
        self._lock = Lock()

    def get(self, key: tuple[Any, ...], generation: tuple[Any, ...]) -> str | None:
        found = self._entries.get(key)
        if found is None or found[1] != generation or time.monotonic() - found[0] >= self.ttl_s:
            return None
        return found[2]

    def put(self, key: tuple[Any, ...], generation: tuple[Any, ...], html: str) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                for old in list(self._entries)[: self.max_entries // 2]:
                    del self._entries[old]
            self._entries.pop(key, None)
            self._entries[key] = (time.monotonic(), generation, html)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


fragments = FragmentCache()
PAGES_MAX = 128  # whole pages are ~30 KB each
pages = FragmentCache(max_entries=PAGES_MAX)

# {{ moment|date:"U.u" }} inside this comment: a slot for formatting.ago(moment). HTML-escaped
# text can never contain "<!--", so nothing a user wrote can fill or forge a slot.
_AGO_OPEN, _AGO_CLOSE = "<!--ago:", "-->"
_AGO_STAMP = re.compile(r"(-?\d+)?\.?\d*")  # "U.u", or empty for "never"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fill_ago(html: str, now: datetime | None = None) -> str:
    """Put "42 s ago" (as of `now`) into every ago slot of a rendered fragment.

    Split on the slot's opening rather than one regex over the page: a dashboard is
    ~30 KB with ~40 slots, and str.split walks it far faster than re.sub."""
    if _AGO_OPEN not in html:
        return html
    now = now or datetime.now(UTC)
    texts: dict[str, str] = {}
    parts = html.split(_AGO_OPEN)
    out = [parts[0]]
    for part in parts[1:]:
        end = part.find(_AGO_CLOSE)
        stamp = part[:end] if end >= 0 else None
        if stamp is None or _AGO_STAMP.fullmatch(stamp) is None:
            out.append(_AGO_OPEN + part)  # not a slot of ours: leave it as it was
            continue
        if stamp not in texts:
            texts[stamp] = _ago_text(stamp, now)
        out.append(texts[stamp])
        out.append(part[end + len(_AGO_CLOSE) :])
    return "".join(out)


def _ago_text(stamp: str, now: datetime) -> str:
    seconds, _, micros = stamp.partition(".")
    if not seconds:
        return formatting.ago(None, now)
    moment = _EPOCH + timedelta(seconds=int(seconds), microseconds=int(micros or 0))
    return formatting.ago(moment, now)
