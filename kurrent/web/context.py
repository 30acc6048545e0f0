"""Request-level glue between the dashboard and the services.

Which environment a request works on (admins may switch, in the session),
whether writes can be submitted right now and why not, and the readings the
status panel shows. No KurrentDB calls of its own beyond `connections.health*`,
which report what the connection manager knows, and the projector's lag.

The only thing kept across requests here is data, never HTML: the samples behind
"calls in the last 5 minutes" (recent_counts). The readings the cards show are the
process's (kurrent.ops.monitor), with their ages.
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
from kurrent.ops.monitor import monitor
from kurrent.readmodel import activity
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


def forget_readings() -> None:
    """Drop this process's readings (tests; a process that repointed its environments)."""
    monitor.clear()


def check_now(env: str) -> None:
    """An admin's "check now" of `env`: probe it at once, past any backoff."""
    monitor.check_now(env)


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
    """The projector's lag reading on `env` (a SyncStatus), or None while the node does
    not answer; this process's reading (kurrent.ops.monitor), at most a sync interval old."""
    if health.state not in WRITABLE_STATES:
        return None
    return monitor.reading(env).sync


def status_cards(shown: str) -> list[dict[str, Any]]:
    """One card per environment for the status panel, from this process's readings
    (kurrent.ops.monitor): connection health, projector lag (or why it is unknown), the
    read model's size, recent calls, and whether it is the environment the pages show."""
    totals = metrics.call_totals()
    charts.note_totals(totals)
    return [
        {
            "env": env,
            "health": reading.health,
            "lag": reading.lag(),
            "sizes": reading.sizes,
            "recent": recent_counts.take(env, totals=totals),
            "shown": env == shown,
            "sparks": charts.card_sparks(env),
        }
        for env, reading in monitor.get().items()
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
