"""Catch-up subscriptions (protocol §4): catch up from the database, then follow live commits.

A subscription is a coroutine on the node's event loop, not a thread: an idle one is a
suspended task waiting on its hub inbox (see `hub.py`), so a thousand cost no more than their
memory. Catching up reads the database in chunks on a worker thread (`Scanner`), so a long
catch-up never stalls the loop.

Ordering: the subscription registers with the hub *before* it reads the store's head. Every
record after that head then reaches its inbox, and the catch-up reads up to the head; records
seen twice around the switch are dropped by position (or, for a stream, by revision). A
subscription whose inbox overflowed catches up again from where it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

from kurrentdbclient.protos.v1 import streams_pb2

from . import errors
from .hub import Subscriber
from .records import MAX_REVISION, StoredEvent, StreamDeletedError, StreamNotFound
from .wire import (
    RecordFilter,
    caught_up_response,
    checkpoint_interval,
    checkpoint_response,
    confirmation_response,
)

if TYPE_CHECKING:
    from .streams import StreamsServicer

ReadResp = streams_pb2.ReadResp
CHUNK = 512  # responses handed from a worker thread to the loop at a time
SCAN = 4096  # records a worker thread looks at before it hands back (to notice a cancel)


class Scanner:
    """Records → responses, a chunk per call (called on a worker thread, one call at a time).

    Counts every record considered and adds a checkpoint after each `interval` of them;
    `position` is the last record considered."""

    def __init__(
        self,
        records: Iterator[StoredEvent],
        accept: RecordFilter | None,
        respond: Callable[[StoredEvent], bytes | None],
        interval: int = 0,
    ) -> None:
        self.records = records
        self.accept = accept
        self.respond = respond
        self.interval = interval
        self.counted = 0
        self.position: int | None = None
        self.last: StoredEvent | None = None
        self.done = False

    def take(self, limit: int = CHUNK) -> list[bytes]:
        out: list[bytes] = []
        accept, respond, interval = self.accept, self.respond, self.interval
        for scanned, record in enumerate(self.records, start=1):
            self.position = record.position
            self.last = record
            if accept is None or accept(record):
                response = respond(record)
                if response is not None:
                    out.append(response)
            if interval:
                self.counted += 1
                if self.counted >= interval:
                    self.counted = 0
                    out.append(checkpoint_response(record.position).SerializeToString())
            if len(out) >= limit or scanned >= SCAN:
                return out
        self.done = True
        return out


async def _scan(servicer: StreamsServicer, scanner: Scanner) -> AsyncIterator[bytes]:
    while not scanner.done:
        for response in await servicer.io(scanner.take):
            yield response


def _valid_start(servicer: StreamsServicer, position: int) -> bool:
    store = servicer.store
    return position == 0 or position >= store.last_position or store.is_record_position(position)


async def all_subscription(
    servicer: StreamsServicer, options, record_filter: RecordFilter | None, context
) -> AsyncIterator[bytes | ReadResp]:
    store, hub = servicer.store, servicer.hub
    resolve = options.resolve_links
    which = options.all.WhichOneof("all_option")
    interval = checkpoint_interval(options) if record_filter is not None else 0
    subscriber = hub.subscribe(None, record_filter, interval)
    checkpointed = -1  # position of the last checkpoint sent
    try:
        head = store.last_position
        if which == "position":
            cursor = options.all.position.commit_position
            if not await servicer.io(_valid_start, servicer, cursor):
                yield confirmation_response()
                await errors.invalid_subscription_position(context)
        else:
            cursor = head if which == "end" else 0
        yield confirmation_response()
        if which == "end":
            yield caught_up_response(position=cursor if cursor > 0 else None)
        else:
            start = cursor
            scanner = Scanner(
                store.read_all(cursor + 1, False, upto=head),
                record_filter,
                lambda record: servicer.response(record, resolve),
                interval,
            )
            async for response in _scan(servicer, scanner):
                yield response
            if scanner.position is not None:
                cursor = scanner.position
            if interval and head > 0:
                checkpointed = cursor
                yield checkpoint_response(cursor)
            scanned = cursor != start or start > 0
            yield caught_up_response(position=cursor if scanned else None)
        while True:
            items = await subscriber.take()
            if items is None:  # fell behind: catch up from the database, then go on
                subscriber = hub.subscribe(None, record_filter, interval)
                head = store.last_position
                scanner = Scanner(
                    store.read_all(cursor + 1, False, upto=head),
                    record_filter,
                    lambda record: servicer.response(record, resolve),
                    interval,
                )
                async for response in _scan(servicer, scanner):
                    yield response
                cursor = max(cursor, scanner.position or cursor)
                continue
            for item in items:
                if type(item) is int:  # a checkpoint at the record that completed an interval
                    if item >= cursor and item > checkpointed:
                        cursor = checkpointed = item
                        yield checkpoint_response(item)
                    continue
                if item.position <= cursor:
                    continue
                cursor = item.position
                response = await _live_response(servicer, item, resolve)
                if response is not None:
                    yield response
    finally:
        hub.unsubscribe(subscriber)


async def _live_response(servicer: StreamsServicer, record: StoredEvent, resolve: bool):
    if resolve and record.type == "$>":
        return await servicer.io(servicer.response, record, True)
    return servicer.live_response(record, resolve)


async def stream_subscription(
    servicer: StreamsServicer, stream: str, options, context
) -> AsyncIterator[bytes | ReadResp]:
    store, hub = servicer.store, servicer.hub
    resolve = options.resolve_links
    which = options.stream.WhichOneof("revision_option")
    subscriber = hub.subscribe(stream)
    try:
        head = store.last_position
        try:
            view = await servicer.io(store.stream_view, stream)
        except StreamNotFound:
            view = None
        except StreamDeletedError:
            await errors.stream_deleted(context, stream)
        if which == "revision":
            after = options.stream.revision
        elif which == "end":
            after = await servicer.io(store.stream_last_revision, stream)
        else:
            after = -1
        yield confirmation_response()
        if which != "end" and view is not None:
            scanner = _stream_scanner(servicer, view, after, head, resolve)
            async for response in _scan(servicer, scanner):
                yield response
            after = max(after, _revision_of(scanner))
        yield caught_up_response(revision=after if after >= 0 else None)
        while True:
            items = await subscriber.take()
            if items is None:
                subscriber = hub.subscribe(stream)
                head = store.last_position
                try:
                    view = await servicer.io(store.stream_view, stream)
                except StreamNotFound:
                    continue
                except StreamDeletedError:
                    await errors.stream_deleted(context, stream)
                scanner = _stream_scanner(servicer, view, after, head, resolve)
                async for response in _scan(servicer, scanner):
                    yield response
                after = max(after, _revision_of(scanner))
                continue
            for record in items:
                if record.revision <= after:
                    continue
                if record.revision == MAX_REVISION:
                    yield servicer.response(record, False)
                    await errors.stream_deleted(context, stream)
                response = await _live_response(servicer, record, resolve)
                if response is not None:
                    yield response
                after = record.revision
    finally:
        hub.unsubscribe(subscriber)


def _stream_scanner(servicer, view, after: int, head: int, resolve: bool) -> Scanner:
    records = servicer.store.read_stream(view, after + 1, False, upto=head)
    return Scanner(records, None, lambda record: servicer.response(record, resolve))


def _revision_of(scanner: Scanner) -> int:
    """The revision of the last record a stream scanner read (-1 for none)."""
    record = scanner.last
    return -1 if record is None else record.revision


__all__ = ["Subscriber", "all_subscription", "stream_subscription"]
