"""The projector: our events in $all -> the read model, through its one writer.

Every way of running it reads our events from $all after the environment's checkpoint
and hands them to `apply.apply_batch`, which applies each batch in one transaction with
the checkpoint (see kurrent.readmodel.apply):

- `catch_up(env, until_position)`: inline after a write, so the writer sees its own
  change at once, and `manage.py kurrent_projector --once`;
- `run_live(env)`: a catch-up subscription to $all, filtered server-side on our stream
  prefixes, that reconnects on failure (`manage.py kurrent_projector --live`);
- `rebuild(env)`: empty the environment's tables and replay from the start.

Any number of these may run at once, in any number of processes: the checkpoint row is
the lock, and a batch whose events the checkpoint has passed applies nothing.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from kurrentdbclient import KurrentDBClient, RecordedEvent
from kurrentdbclient.exceptions import KurrentDBClientError

from kurrent.connection import allreads
from kurrent.connection.clients import direct
from kurrent.connection.config import active_environment
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError
from kurrent.core.events import STREAM_PREFIXES
from kurrent.models import (
    Activity,
    ProjectionCheckpoint,
    RecordSearch,
    RecordTag,
    SkippedEvent,
    StreamRecord,
    UserDataEntry,
)
from kurrent.readmodel.apply import apply_batch, lock
from kurrent.readmodel.heartbeat import Beats

log = logging.getLogger("kurrent.projector")

_read_all = direct(KurrentDBClient.read_all)

BATCH_SIZE = 500
# A catch-up that applies this many events refreshes the planner's statistics.
ANALYZE_AFTER = 20_000


def _env(env: str | None) -> str:
    return env or active_environment()


def read_after(env: str, position: int, limit: int) -> list[RecordedEvent]:
    """Up to `limit` events of our streams after `position`.

    One bounded gRPC call, so it runs on the calling thread (`inline`): a writer
    catching up to its own append spares a thread hop."""
    return connections.call(
        env,
        "projector_read",
        lambda client, timeout: allreads.read_after(
            client, timeout, position, STREAM_PREFIXES, limit, read_all=_read_all
        ),
        inline=True,
    )


def head(env: str) -> RecordedEvent | None:
    """The newest event of our streams in $all."""
    return connections.call(
        env,
        "projector_head",
        lambda client, timeout: allreads.newest(client, timeout, STREAM_PREFIXES),
    )


def checkpoint_position(env: str | None = None) -> int:
    position = ProjectionCheckpoint.objects.filter(env=_env(env)).values_list("position", flat=True)
    return next(iter(position), 0)


# --- catching up ---------------------------------------------------------------------------

# One catch-up per environment at a time in this process: threads that wrote at about
# the same moment wait for the one reading $all, whose batch most likely holds their
# events too, instead of each reading and queueing for the database's write lock.
_catching_up: dict[str, threading.Lock] = {}
_catching_up_guard = threading.Lock()


def _turn(env: str) -> threading.Lock:
    with _catching_up_guard:
        return _catching_up.setdefault(env, threading.Lock())


def catch_up(
    env: str | None = None,
    until_position: int | None = None,
    progress: Callable[[list[RecordedEvent], int], None] | None = None,
) -> int:
    """Apply what $all holds beyond the checkpoint; returns the number of events applied.

    With `until_position`, stop as soon as the checkpoint has reached it (a writer
    waiting for its own append); without, read until nothing new comes back.
    `progress(events, applied)` is called after every batch (the live projector beats).
    """
    env = _env(env)
    position = checkpoint_position(env)
    if until_position is not None and position >= until_position:
        return 0
    turn = _turn(env)
    if not turn.acquire(blocking=False):
        turn.acquire()
        position = checkpoint_position(env)  # the thread we waited for caught up
        if until_position is not None and position >= until_position:
            turn.release()
            return 0
    try:
        applied = _run_batches(env, until_position, BATCH_SIZE, progress, after=position)
    finally:
        turn.release()
    if applied >= ANALYZE_AFTER:
        refresh_statistics()
    return applied


def _run_batches(
    env: str,
    until_position: int | None,
    size: int,
    progress: Callable[[list[RecordedEvent], int], None] | None,
    *,
    after: int | None = None,
) -> int:
    """Read and apply batches from the checkpoint on (`after`: its position, if just
    read); while a full batch is applied, the next one is already being read."""
    applied = 0
    after = checkpoint_position(env) if after is None else after
    events = read_after(env, after, size)
    pool: ThreadPoolExecutor | None = None
    try:
        while events:
            ahead = None
            last = events[-1].commit_position
            if len(events) == size and (until_position is None or last < until_position):
                pool = pool or ThreadPoolExecutor(1, thread_name_prefix="projector-read")
                ahead = pool.submit(read_after, env, last, size)
            done = apply_batch(env, events, after)
            if done is None:  # the checkpoint was set back: read on from there
                if ahead is not None:
                    ahead.cancel()
                after = checkpoint_position(env)
                events = read_after(env, after, size)
                continue
            applied += done
            if progress is not None:
                progress(events, applied)
            if until_position is not None and last >= until_position:
                break
            if ahead is not None:
                after, events = last, ahead.result()
            else:
                after = checkpoint_position(env)
                events = read_after(env, after, size)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return applied


def wait_until(env: str | None, position: int, timeout: float = 5.0) -> bool:
    """Block until the checkpoint reaches `position` (for callers that rely on the live
    projector rather than catching up themselves)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if checkpoint_position(env) >= position:
            return True
        time.sleep(0.05)
    return False


def refresh_statistics() -> None:
    """Let the query planner see the read model's new size (after a rebuild or a big
    catch-up): without it PostgreSQL planned searches over 100,000 fresh rows as if the
    table were empty and took 430 ms instead of tens. VACUUM too when allowed (outside
    a transaction), to drop the dead rows a rebuild leaves."""
    models = (StreamRecord, RecordSearch, RecordTag, UserDataEntry, Activity)
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            verb = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
            cursor.execute(f"{verb} {', '.join(tables)}")
        elif connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(f"ANALYZE {table}")


# --- rebuilding ----------------------------------------------------------------------------


def rebuild(env: str | None = None, progress: Callable[[int, int, int], None] | None = None) -> int:
    """Empty the environment's read model and replay $all from the start.

    `progress(position, head_position, events_applied)` is called after every batch.
    Returns the number of events applied. Other projectors may run meanwhile: the
    checkpoint lock keeps them from applying anything twice, and whoever finds the
    checkpoint set back reads on from it. Lists are incomplete until it ends.
    """
    env = _env(env)
    newest = head(env)
    head_position = newest.commit_position if newest else 0
    reset(env)

    def report(events: list[RecordedEvent], applied: int) -> None:
        if progress is not None:
            last = events[-1].commit_position
            progress(last, max(head_position, last), applied)

    applied = _run_batches(env, None, BATCH_SIZE * 2, report)
    refresh_statistics()
    return applied


def reset(env: str) -> None:
    """Empty the environment's read model and set its checkpoint back to the start, in
    one transaction (a rebuild's first step)."""
    with transaction.atomic():
        checkpoint = lock(env)
        RecordTag.objects.filter(record__env=env).delete()
        for model in (StreamRecord, UserDataEntry, Activity, SkippedEvent):
            model.objects.filter(env=env).delete()
        checkpoint.position = 0
        checkpoint.events_applied = 0
        checkpoint.skipped_events = 0
        checkpoint.last_event_at = None
        checkpoint.save()


# --- following live ------------------------------------------------------------------------


# The reconnect pause: doubled after each failure from the first to the cap, and reset
# once a subscription is confirmed, so an outage after a good spell is retried quickly.
# The cap is the sync interval (at most PAUSE_CAP_S): a node that is back is followed
# again about as soon as the cards show it connected.
PAUSE_FIRST_S = 0.5
PAUSE_CAP_S = 30.0


def pause_cap_s() -> float:
    return min(PAUSE_CAP_S, settings.KURRENTDB_SYNC_INTERVAL_MS / 1000)


class Backoff:
    """The pause before the next reconnect. Jittered (0.5-1.0 x the pause) so that
    projectors that lost the same node do not all come back at the same instant."""

    def __init__(
        self,
        first: float = PAUSE_FIRST_S,
        cap: float = PAUSE_CAP_S,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.first = first
        self.cap = cap
        self._rand = rand or random.random
        self._pause = first

    def reset(self) -> None:
        """The connection works again: the next outage starts at the shortest pause."""
        self._pause = self.first

    def next(self) -> float:
        """The pause to wait now (at most `cap`); the one after it is twice as long."""
        pause = self._pause * (0.5 + 0.5 * self._rand())
        self._pause = min(self._pause * 2, self.cap)
        return pause


def run_live(
    env: str | None = None,
    stop_event: threading.Event | None = None,
    *,
    idle_timeout: float = 0.5,
) -> None:
    """Follow $all until `stop_event` is set, applying our events as they arrive.

    Catches up first, then holds a filtered catch-up subscription (one stream slot).
    On failure (node down, database locked, or a bug) it waits with a growing, jittered
    pause, catches up again and resubscribes; it never takes the process down with it.
    The pause starts again from the shortest as soon as a subscription is confirmed.
    All along it beats (kurrent.readmodel.heartbeat): following, or reconnecting and why.
    """
    env = _env(env)
    stop = stop_event or threading.Event()
    cap = pause_cap_s()
    backoff = Backoff(first=min(PAUSE_FIRST_S, cap), cap=cap)
    beats = Beats(env)
    position = 0

    def caught_up_to(events: list[RecordedEvent], applied: int) -> None:
        nonlocal position
        position = events[-1].commit_position
        beats.maybe(following=True, position=position)

    def subscribed() -> None:
        backoff.reset()
        beats.now(following=True, position=checkpoint_position(env))

    while not stop.is_set():
        try:
            catch_up(env, progress=caught_up_to)
            _follow(env, stop, idle_timeout, subscribed, beats=beats)
            continue  # it returns only once stopped
        except (KurrentError, KurrentDBClientError, DatabaseError) as exc:
            pause, problem = backoff.next(), _describe(exc)
            log.warning("projector %s: %s; retrying in %.1f s", env, problem, pause)
        except Exception:
            pause, problem = backoff.next(), "it failed (see the projector's log)"
            log.exception("projector %s failed; retrying in %.1f s", env, pause)
        # The pause is at most one sync interval, so this beat stays fresh through it.
        beats.now(following=False, position=position, problem=problem)
        stop.wait(pause)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KurrentError):
        return str(exc)
    return type(exc).__name__


_END = object()


def _follow(
    env: str,
    stop: threading.Event,
    idle_timeout: float,
    on_subscribed: Callable[[], None],
    *,
    beats: Beats | None = None,
) -> None:
    """Subscribe from the checkpoint and apply what arrives until stopped (returns) or
    the subscription fails (raises). `on_subscribed` is called once the node has
    confirmed the subscription; `beats`, while it follows."""
    with connections.stream_slot(env):
        position = checkpoint_position(env)
        client = connections.client(env)
        try:
            subscription = client.subscribe_to_all(
                commit_position=position or None,
                filter_include=STREAM_PREFIXES,
                filter_by_stream_name=True,
                filter_by_prefix=True,
                timeout=None,
            )
        except Exception as exc:
            raise connections.failed(env, "projector_subscribe", exc) from None
        connections.succeeded(env)
        on_subscribed()
        inbox: queue.Queue[Any] = queue.Queue(maxsize=BATCH_SIZE * 4)
        reader = threading.Thread(
            target=_pump, args=(subscription, inbox, stop), name=f"projector-{env}", daemon=True
        )
        reader.start()
        try:
            _drain(env, inbox, stop, idle_timeout, position, beats)
        finally:
            subscription.stop()
            reader.join(timeout=5)


def _pump(
    subscription: Iterable[RecordedEvent], inbox: queue.Queue[Any], stop: threading.Event
) -> None:
    """Reader thread: move events from the subscription to the inbox."""
    try:
        for event in subscription:
            while not stop.is_set():
                try:
                    inbox.put(event, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except BaseException as exc:
        inbox.put(exc)
        return
    inbox.put(_END)


def _drain(
    env: str,
    inbox: queue.Queue[Any],
    stop: threading.Event,
    idle_timeout: float,
    after: int,
    beats: Beats | None = None,
) -> None:
    """Apply what the reader delivers, as many events at a time as have arrived (up to
    BATCH_SIZE); `after` is the position the subscription started from. Events that a
    writer's inline catch-up applied first cost one look at the checkpoint."""
    while not stop.is_set():
        if beats is not None:
            beats.maybe(following=True, position=after)
        try:
            item = inbox.get(timeout=min(idle_timeout, 1.0))
        except queue.Empty:
            continue
        batch: list[RecordedEvent] = []
        while item is not _END and not isinstance(item, BaseException):
            batch.append(item)
            if len(batch) >= BATCH_SIZE:
                item = None
                break
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                item = None
                break
        if batch:
            after = _apply_following(env, batch, after)
        if item is _END:
            raise KurrentError("the subscription ended")
        if isinstance(item, KurrentDBClientError):
            raise connections.failed(env, "projector_subscription", item)
        if isinstance(item, BaseException):
            raise item


def _apply_following(env: str, events: list[RecordedEvent], after: int) -> int:
    """apply_batch; if the checkpoint turns out to be short of `after` (a rebuild set it
    back), catch up from it to the last of the events instead. Returns the position
    the next events follow."""
    if apply_batch(env, events, after) is None:
        catch_up(env, until_position=events[-1].commit_position)
    return events[-1].commit_position
