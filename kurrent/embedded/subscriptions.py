"""Catch-up subscriptions (protocol §4): catch up from the database, then follow live commits.

A subscription holds one grpc worker thread. It keeps a cursor (the last log position it has
considered) and asks the store for the records after it: from SQLite while catching up, from the
store's in-memory ring once live. Records are considered in log order exactly once, so events
committed during the catch-up are neither lost nor repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING

from kurrentdbclient.protos.v1 import streams_pb2

from .records import MAX_REVISION, StoreClosed, StreamDeleted, StreamNotFound
from .wire import (
    RecordFilter,
    abort_deleted,
    caught_up_response,
    checkpoint_interval,
    checkpoint_response,
    confirmation_response,
)

if TYPE_CHECKING:
    from .streams import StreamsServicer

POLL_SECONDS = 1.0
ReadResp = streams_pb2.ReadResp


def _live(servicer: StreamsServicer, cursor: int, context) -> Iterator[list]:
    """Batches of records committed after `cursor`, until the call ends or the node stops."""
    store = servicer.store
    wake = store.wake_all
    context.add_callback(wake)
    while context.is_active() and not store.closed:
        if not store.wait_beyond(cursor, POLL_SECONDS):
            continue
        records = store.records_after(cursor)
        if records:
            cursor = records[-1].position
            yield records
    if store.closed:
        raise StoreClosed("the node is stopping")


def all_subscription(
    servicer: StreamsServicer, options, record_filter: RecordFilter | None, context
) -> Iterator[ReadResp]:
    store = servicer.store
    resolve = options.resolve_links
    which = options.all.WhichOneof("all_option")
    if which == "position":
        cursor = options.all.position.commit_position
    elif which == "end":
        cursor = store.last_position
    else:
        cursor = 0
    interval = checkpoint_interval(options) if record_filter is not None else 0
    yield confirmation_response()
    if which == "end":
        yield caught_up_response(position=cursor if cursor > 0 else None)
    else:
        start = cursor
        head = store.last_position
        stored = store.read_all(cursor + 1, False, upto=head)
        last = yield from _deliver(
            stored, record_filter, lambda record: servicer.response(record, resolve), interval
        )
        if last is not None:
            cursor = last
        if interval and head > 0:
            yield checkpoint_response(cursor)
        scanned = cursor != start or start > 0
        yield caught_up_response(position=cursor if scanned else None)
    live = chain.from_iterable(_live(servicer, cursor, context))
    yield from _deliver(
        live, record_filter, lambda record: servicer.live_response(record, resolve), interval
    )


def _deliver(
    records: Iterable, record_filter: RecordFilter | None, respond: Callable, interval: int
) -> Generator[ReadResp, None, int | None]:
    """The responses to the records that pass the filter, and a checkpoint after every
    `interval` records considered (0: none); returns the position of the last record."""
    position = None
    counted = 0
    for record in records:
        position = record.position
        if record_filter is None or record_filter(record):
            response = respond(record)
            if response is not None:
                yield response
        if interval:
            counted += 1
            if counted >= interval:
                counted = 0
                yield checkpoint_response(position)
    return position


def stream_subscription(
    servicer: StreamsServicer, stream: str, options, context
) -> Iterator[ReadResp]:
    store = servicer.store
    resolve = options.resolve_links
    which = options.stream.WhichOneof("revision_option")
    head = store.last_position
    try:
        view = store.stream_view(stream)
    except StreamNotFound:
        view = None
    except StreamDeleted:
        abort_deleted(context, stream)
    if which == "revision":
        after = options.stream.revision
    elif which == "end":
        after = store.stream_last_revision(stream)
    else:
        after = -1
    yield confirmation_response()
    if which != "end" and view is not None:
        for record in store.read_stream(view, after + 1, False, upto=head):
            response = servicer.response(record, resolve)
            if response is not None:
                yield response
            after = record.revision
    yield caught_up_response(revision=after if after >= 0 else None)
    for records in _live(servicer, head, context):
        for record in records:
            if record.stream != stream or record.revision <= after:
                continue
            if record.revision == MAX_REVISION:
                yield servicer.response(record, False)
                abort_deleted(context, stream)
            response = servicer.live_response(record, resolve)
            if response is not None:
                yield response
            after = record.revision
