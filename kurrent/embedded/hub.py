"""The live fan-out: commits reach the subscriptions that want them, on the event loop.

An idle subscription must cost nothing: no thread, no timer, no wake-up. So the store announces
each commit once (from the writer's thread, via `call_soon_threadsafe`) and the hub, on the
loop, hands each record only to the subscriptions it concerns: a stream subscription is found
by its stream's name; a `$all` subscription's filter runs here, and its task is woken only when
a record passes or a checkpoint is due. Commits are announced in log order, so inboxes are too.

A subscription that does not keep up (its inbox passes `INBOX_LIMIT`) is dropped from the hub
and catches up from the database again, as KurrentDB's subscriptions fall behind and recover;
memory stays bounded whatever the consumers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .records import StoredEvent
from .storage import Store

log = logging.getLogger(__name__)
INBOX_LIMIT = 10_000


class Subscriber:
    """One subscription's side of the hub: an inbox of records (and, for `$all`, checkpoint
    positions as ints) and an event that is set when the inbox gets something."""

    __slots__ = ("accept", "counted", "event", "inbox", "interval", "overflowed", "stream")

    def __init__(
        self, stream: str | None, accept: Callable[[StoredEvent], bool] | None, interval: int
    ) -> None:
        self.stream = stream
        self.accept = accept
        self.interval = interval
        self.counted = 0
        self.inbox: list[StoredEvent | int] = []
        self.event = asyncio.Event()
        self.overflowed = False

    async def take(self) -> list[StoredEvent | int] | None:
        """What arrived since the last call (waits for something); None after an overflow."""
        while True:
            if self.inbox:
                items, self.inbox = self.inbox, []
                return items
            if self.overflowed:
                return None
            self.event.clear()
            await self.event.wait()


class Hub:
    """Registry of live subscriptions; `limit` caps how many may be open at once."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._store = store
        self._loop = loop
        self.limit = limit
        self.open = 0  # subscription calls in progress (catching up or live)
        self._by_stream: dict[str, set[Subscriber]] = {}
        self._all: set[Subscriber] = set()
        store.add_listener(self._committed)

    def close(self) -> None:
        self._store.remove_listener(self._committed)

    # -- registration (on the loop) --------------------------------------------------------------

    def subscribe(
        self,
        stream: str | None,
        accept: Callable[[StoredEvent], bool] | None = None,
        interval: int = 0,
    ) -> Subscriber:
        """Register before reading the store's head: every record after it then arrives."""
        subscriber = Subscriber(stream, accept, interval)
        if stream is None:
            self._all.add(subscriber)
        else:
            self._by_stream.setdefault(stream, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber.stream is None:
            self._all.discard(subscriber)
            return
        group = self._by_stream.get(subscriber.stream)
        if group is not None:
            group.discard(subscriber)
            if not group:
                del self._by_stream[subscriber.stream]

    # -- dispatch --------------------------------------------------------------------------------

    def _committed(self, records: list[StoredEvent]) -> None:
        """Store listener (writer thread): hand the commit over to the loop.

        With no subscription registered there is nothing to hand over, and no reason to wake
        the loop: a subscription registered after this check reads the store's head after
        the commit published it, so it catches these records up from the store.
        """
        if not self._by_stream and not self._all:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: the node is stopping
            self._loop.call_soon_threadsafe(self._dispatch, records)

    def _dispatch(self, records: list[StoredEvent]) -> None:
        by_stream = self._by_stream
        if by_stream:
            for record in records:
                group = by_stream.get(record.stream)
                if group:
                    for subscriber in tuple(group):
                        subscriber.inbox.append(record)
                        self._woken(subscriber)
        if not self._all:
            return
        count = len(records)
        # Subscriptions with the same filter share its function (wire.record_filter), so each
        # record is judged once per distinct filter, not once per subscription.
        verdicts: dict[Callable[[StoredEvent], bool], tuple[list[bool], bool]] = {}
        for subscriber in tuple(self._all):
            accept, interval, inbox = subscriber.accept, subscriber.interval, subscriber.inbox
            if accept is None:
                matched, any_matched = None, True
            else:
                found = verdicts.get(accept)
                if found is None:
                    judged = [accept(record) for record in records]
                    found = verdicts[accept] = (judged, any(judged))
                matched, any_matched = found
            if not any_matched:
                # Only checkpoints can be due: after the record that completes each interval.
                if interval:
                    first = interval - subscriber.counted - 1
                    if first < count:
                        inbox.extend(records[i].position for i in range(first, count, interval))
                        subscriber.counted = (count - 1 - first) % interval
                        self._woken(subscriber)
                    else:
                        subscriber.counted += count
                continue
            before = len(inbox)
            for index, record in enumerate(records):
                if matched is None or matched[index]:
                    inbox.append(record)
                if interval:
                    subscriber.counted += 1
                    if subscriber.counted >= interval:
                        subscriber.counted = 0
                        inbox.append(record.position)
            if len(inbox) != before:
                self._woken(subscriber)

    def _woken(self, subscriber: Subscriber) -> None:
        if len(subscriber.inbox) > INBOX_LIMIT:
            log.info("a subscription fell behind; it catches up from the database")
            subscriber.overflowed = True
            subscriber.inbox = []
            self.unsubscribe(subscriber)
        subscriber.event.set()
