"""The newest events as the activity feed shows them (from the read model only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kurrent.connection.config import active_environment
from kurrent.models import Activity
from kurrent.services.roles import is_admin


@dataclass(frozen=True)
class ActivityItem:
    position: int
    env: str
    event_type: str
    kind: str  # "record" | "userdata" | "erasure"
    object_id: str
    title: str
    actor: str
    recorded_at: datetime
    is_public: bool
    owner_id: int | None
    stream_name: str


def recent_events(
    env: str | None = None,
    limit: int = 20,
    after_position: int | None = None,
    *,
    actor: Any = None,
) -> list[ActivityItem]:
    """The newest applied events, newest first, of what `actor` may see (without an
    actor, of public records and entries only). Erasures only for admins."""
    qs = Activity.objects.filter(env=env or active_environment())
    if after_position is not None:
        qs = qs.filter(position__gt=after_position)
    if actor is None or not is_admin(actor):
        qs = qs.exclude(kind="erasure")
    qs = qs.visible_to(actor)
    rows = qs.order_by("-position")[: max(1, min(int(limit), 200))]
    return [_item(r) for r in rows]


def events_after(
    env: str | None, after_position: int, *, limit: int = 50, actor: Any = None
) -> list[ActivityItem]:
    """The applied events after `after_position`, oldest first, at most `limit` (at most
    201) of what `actor` may see: a reader that follows a cursor misses none."""
    qs = Activity.objects.filter(env=env or active_environment(), position__gt=after_position)
    if actor is None or not is_admin(actor):
        qs = qs.exclude(kind="erasure")
    rows = qs.visible_to(actor).order_by("position")[: max(1, min(int(limit), 201))]
    return [_item(r) for r in rows]


def _item(r: Activity) -> ActivityItem:
    return ActivityItem(
        position=r.position,
        env=r.env,
        event_type=r.event_type,
        kind=r.kind,
        object_id=r.object_id,
        title=r.title,
        actor=r.actor_name,
        recorded_at=r.recorded_at,
        is_public=r.is_public,
        owner_id=r.owner_id,
        stream_name=r.stream_name,
    )


TIMES_CAP = 20_000  # the events chart reads at most this many of the newest events


def recorded_since(env: str, since: datetime) -> tuple[list[datetime], bool]:
    """When the events of `env` applied since `since` were recorded, newest first, and
    whether there were more than TIMES_CAP (then only the newest are given).

    Read newest first by position (the unique (env, position) index), not filtered by
    time: recorded_at has no index, and events come in position order."""
    newest = Activity.objects.filter(env=env).order_by("-position")
    times: list[datetime] = []
    while len(times) <= TIMES_CAP:
        page = list(newest.values_list("recorded_at", flat=True)[len(times) : len(times) + 2000])
        inside = [moment for moment in page if moment >= since]
        times += inside
        if len(inside) < len(page) or len(page) < 2000:
            break
    return times[:TIMES_CAP], len(times) > TIMES_CAP
