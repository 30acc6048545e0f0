"""Request-level glue between the dashboard and the services.

Which environment a request works on (admins may switch, in the session),
whether writes can be submitted right now and why not, and the readings the
status panel shows. No KurrentDB calls of its own beyond `connections.health*`,
which report what the connection manager knows, and the projector's lag.

The only thing kept across requests here is data, never HTML: the projector's
lag per environment for one sync interval (sync_status) and the samples behind
"calls in the last 5 minutes" (recent_counts).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from threading import Lock
from typing import Any

from django.http import HttpRequest

from kurrent.connection import config, metrics
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError
from kurrent.readmodel import activity, status
from kurrent.services import roles
from kurrent.web import charts

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
    """Remember an admin's choice of environment (the default one is not stored)."""
    if env == config.active_environment():
        request.session.pop(SESSION_ENV_KEY, None)
    else:
        request.session[SESSION_ENV_KEY] = env


def health(env: str) -> Any:
    """What the connection manager last learned about `env` (no call of its own)."""
    return connections.health(env)


def health_all() -> dict[str, Any]:
    return connections.health_all()


_sync_cache: dict[tuple[str, str], tuple[float, Any]] = {}
_sync_lock = Lock()


def sync_status(env: str) -> Any:
    """status.sync_status, at most once per sync interval per environment.

    A cache of a data reading, not of HTML: every open dashboard polls the status
    panel, and without it each poll would read the head of $all once per
    environment. The key is (environment, its connection string), so another node
    behind the same name starts afresh; the value is the frozen SyncStatus, the
    same for every viewer. The panel around it is rendered for each request."""
    now = time.monotonic()
    profile = config.get_profile(env)
    key = (env, profile.url)  # another node behind the same name starts afresh
    with _sync_lock:
        cached = _sync_cache.get(key)
        if cached is not None and now - cached[0] < profile.sync_interval_s:
            return cached[1]
    reading = status.sync_status(env)
    with _sync_lock:
        _sync_cache[key] = (now, reading)
    return reading


def forget_readings() -> None:
    """Drop the cached lag readings (tests; a process that repointed its environments)."""
    with _sync_lock:
        _sync_cache.clear()


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


def sync_or_none(env: str, health: Any) -> Any:
    """The projector's lag on `env`, or None while it is unknown (the node does not answer)."""
    if health.state not in WRITABLE_STATES:
        return None
    try:
        return sync_status(env)
    except KurrentError:
        return None


def status_cards(shown: str) -> list[dict[str, Any]]:
    """One card per environment for the status panel: connection health, projector lag,
    recent calls, and whether it is the environment the pages show."""
    totals = metrics.call_totals()
    charts.note_totals(totals)
    return [
        {
            "env": env,
            "health": health,
            "sync": sync_or_none(env, health),
            "recent": recent_counts.take(env, totals=totals),
            "shown": env == shown,
            "sparks": charts.card_sparks(env),
        }
        for env, health in health_all().items()
    ]


# --- activity feed -----------------------------------------------------------------


def activity_for(user: Any, env: str, *, limit: int = 20) -> list[Any]:
    """The newest events of `env` this user may see, newest first.

    The feed names records, so a private record's title never reaches others
    (activity.recent_events filters by the actor)."""
    return activity.recent_events(env, limit=limit, actor=user)


def activity_count_after(user: Any, env: str, after: int) -> int:
    """How many visible events arrived after position `after` (capped)."""
    return len(activity.recent_events(env, limit=NEW_EVENTS_CAP, after_position=after, actor=user))
