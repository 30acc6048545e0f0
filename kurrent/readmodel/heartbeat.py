"""The live projector's heartbeat per environment, and what a lag reading is worth with it.

A lag reading (kurrent.readmodel.status.sync_status: the checkpoint against the head of
$all) says "in sync" as soon as the inline catch-up after a user's own write has applied
it, whether or not anything follows what other programs write. So a lag is shown as "in
sync" or "N behind" only while a live projector has beaten recently (within
STALE_INTERVALS sync intervals) and the reading itself is that recent; otherwise it is
"unknown", with why in fixed words: no projector running, the projector reconnecting,
the reading too old, or the node not answering.

The heartbeat row (kurrent.models.ProjectorHeartbeat) is no part of the read model: no
event makes it, and only `beat` here writes it, from the live projector's threads.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, IntegrityError

from kurrent.models import ProjectorHeartbeat

if TYPE_CHECKING:
    from kurrent.readmodel.status import SyncStatus

# A heartbeat or a lag reading older than this many sync intervals is too old to trust.
STALE_INTERVALS = 3

IN_SYNC = "in sync"
BEHIND = "behind"
UNKNOWN = "unknown"

NO_PROJECTOR = "no projector running"
RECONNECTING = "the projector is reconnecting"
TOO_OLD = "reading too old"
NOT_MEASURED = "the node did not answer the projector's question"

_PROCESS = f"{socket.gethostname()}:{os.getpid()}"[:120]


def sync_interval_s() -> float:
    return settings.KURRENTDB_SYNC_INTERVAL_MS / 1000


def stale_after_s() -> float:
    """How old a heartbeat or a reading may be and still count."""
    return STALE_INTERVALS * sync_interval_s()


def beat_every_s() -> float:
    """How often a live projector beats: twice per sync interval, between 0.2 and 5 s."""
    return min(5.0, max(0.2, sync_interval_s() / 2))


def beat(env: str, *, following: bool, position: int, problem: str = "") -> bool:
    """Record that a live projector of this process works on `env` now. Never raises for
    the database's sake (the projector must go on): returns whether it was written."""
    fields = {
        "beat_at": datetime.now(UTC),
        "following": following,
        "position": position,
        "process": _PROCESS,
        "problem": problem[:300],
    }
    try:
        if ProjectorHeartbeat.objects.filter(env=env).update(**fields):
            return True
        try:
            ProjectorHeartbeat.objects.create(env=env, **fields)
        except IntegrityError:  # another projector created it meanwhile
            ProjectorHeartbeat.objects.filter(env=env).update(**fields)
        return True
    except DatabaseError:
        return False


class Beats:
    """A projector thread's heartbeat, at most once per `beat_every_s()`."""

    def __init__(self, env: str) -> None:
        self.env = env
        self._last = 0.0

    def maybe(self, *, following: bool, position: int, problem: str = "") -> None:
        now = time.monotonic()
        due = now - self._last >= beat_every_s()
        if due and beat(self.env, following=following, position=position, problem=problem):
            self._last = now

    def now(self, *, following: bool, position: int, problem: str = "") -> None:
        self._last = 0.0
        self.maybe(following=following, position=position, problem=problem)


def latest() -> dict[str, ProjectorHeartbeat]:
    """Every environment's last heartbeat, in one query."""
    return {row.env: row for row in ProjectorHeartbeat.objects.all()}


@dataclass(frozen=True)
class Lag:
    """A lag as people are shown it: in sync, N events behind, or unknown and why."""

    state: str  # IN_SYNC, BEHIND or UNKNOWN
    why: str | None = None  # for UNKNOWN: fixed words
    events_behind: int | None = None
    events_behind_capped: bool = False
    seconds_behind: float | None = None
    measured_at: datetime | None = None  # when the reading was taken
    heartbeat_at: datetime | None = None  # the projector's last beat
    problem: str | None = None  # the reconnecting projector's own words (no secrets)

    @property
    def known(self) -> bool:
        return self.state != UNKNOWN


def judge(
    sync: SyncStatus | None,
    measured_at: datetime | None,
    heartbeat: ProjectorHeartbeat | None,
    *,
    error: str | None = None,
    now: datetime | None = None,
) -> Lag:
    """The lag to show from a reading (`sync`, a SyncStatus or None, taken at
    `measured_at`) and the environment's last heartbeat."""
    now = now or datetime.now(UTC)
    stale = stale_after_s()
    beat_at = heartbeat.beat_at if heartbeat is not None else None
    base = {"measured_at": measured_at, "heartbeat_at": beat_at}
    if heartbeat is None or (now - heartbeat.beat_at).total_seconds() > stale:
        return Lag(UNKNOWN, NO_PROJECTOR, **base)
    if not heartbeat.following:
        return Lag(UNKNOWN, RECONNECTING, problem=heartbeat.problem or None, **base)
    if sync is None or measured_at is None:
        return Lag(UNKNOWN, error or NOT_MEASURED, **base)
    if (now - measured_at).total_seconds() > stale:
        return Lag(UNKNOWN, TOO_OLD, **base)
    behind = sync.events_behind
    return Lag(
        BEHIND if behind else IN_SYNC,
        events_behind=behind,
        events_behind_capped=sync.events_behind_capped,
        seconds_behind=sync.seconds_behind,
        **base,
    )
