"""How far the read model is behind KurrentDB, per environment (the status panel's lag)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count

from kurrent.connection.config import active_environment
from kurrent.models import ProjectionCheckpoint, SkippedEvent, StreamRecord, UserDataEntry
from kurrent.readmodel.projector import head, read_after

# sync_status reads at most this many pending events (whole events, up to 256 KiB each).
EVENTS_BEHIND_CAP = 200


@dataclass(frozen=True)
class SyncStatus:
    """The read model against KurrentDB, for the status panel."""

    env: str
    checkpoint_position: int
    head_position: int  # commit position of the newest event of ours in $all
    events_behind: int  # capped at EVENTS_BEHIND_CAP (then `events_behind_capped`)
    seconds_behind: float  # age of the oldest event not applied yet; 0 when caught up
    skipped_events: int
    events_applied: int = 0
    last_event_at: datetime | None = None
    events_behind_capped: bool = False

    @property
    def caught_up(self) -> bool:
        return self.events_behind == 0


def sync_status(env: str | None = None) -> SyncStatus:
    """Checkpoint against the head of $all (our streams). Raises KurrentUnavailable when
    KurrentDB cannot be asked."""
    env = env or active_environment()
    row = ProjectionCheckpoint.objects.filter(env=env).first()
    position = row.position if row else 0
    newest = head(env)
    head_position = newest.commit_position if newest else 0
    behind, seconds, capped = 0, 0.0, False
    if head_position > position:
        pending = [
            e for e in read_after(env, position, EVENTS_BEHIND_CAP) if not e.type.startswith("$")
        ]
        behind = len(pending)
        capped = behind >= EVENTS_BEHIND_CAP
        if pending and pending[0].recorded_at is not None:
            seconds = max(0.0, (datetime.now(UTC) - pending[0].recorded_at).total_seconds())
    return SyncStatus(
        env=env,
        checkpoint_position=position,
        head_position=head_position,
        events_behind=behind,
        seconds_behind=round(seconds, 3),
        skipped_events=row.skipped_events if row else 0,
        events_applied=row.events_applied if row else 0,
        last_event_at=row.last_event_at if row else None,
        events_behind_capped=capped,
    )


@dataclass(frozen=True)
class SkippedSummary:
    """The events the projector skipped in one environment: how many by reason, the newest."""

    env: str
    by_reason: list[tuple[str, int]]
    newest: list[SkippedEvent]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.by_reason)


def skipped_events(env: str, limit: int = 20) -> SkippedSummary:
    """For admins: what the projector could not apply in `env`, and why."""
    rows = SkippedEvent.objects.filter(env=env)
    counts = rows.values("reason").annotate(n=Count("id")).order_by("-n", "reason")
    return SkippedSummary(
        env=env,
        by_reason=[(c["reason"], c["n"]) for c in counts],
        newest=list(rows.order_by("-position")[:limit]),
    )


@dataclass(frozen=True)
class Sizes:
    """How much an environment's read model holds, to compare the environments at a glance."""

    records: int  # stream records not deleted
    entries: int  # user data entries not deleted
    events: int  # events applied since the last rebuild


def sizes(env: str) -> Sizes:
    """Three counts of the read model of `env` (two index-only counts and the checkpoint)."""
    events = ProjectionCheckpoint.objects.filter(env=env).values_list("events_applied", flat=True)
    return Sizes(
        records=StreamRecord.objects.filter(env=env).live().count(),
        entries=UserDataEntry.objects.filter(env=env).live().count(),
        events=next(iter(events), 0),
    )
