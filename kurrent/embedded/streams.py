"""The v1 Streams service: Append, BatchAppend, Read (+ subscriptions), Delete, Tombstone.

Handlers are coroutines on the node's event loop. What blocks (SQLite) runs on the worker
threads of `io`: appends (whose group commit needs several callers in flight at once) and reads
in chunks. Short stream reads, the most common call (a stream's version, its metadata), run
inline: a few indexed queries cost less than the hop to a thread and back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from functools import partial
from itertools import islice
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2
from kurrentdbclient.protos.v1 import shared_pb2, status_pb2, streams_pb2

from . import errors, subscriptions
from .hub import Hub
from .records import (
    LINK_TYPE,
    MAX_REVISION,
    ProposedEvent,
    StoreClosed,
    StoredEvent,
    StreamDeletedError,
    StreamNotFound,
    WrongExpectedVersion,
)
from .storage import StorageFailure, Store
from .wire import (
    BadRequest,
    EventTooLarge,
    MissingMetadata,
    encode_event_response,
    expected_revision,
    not_found_response,
    proposed_event,
    record_filter,
    serialize,
    stream_name,
)

log = logging.getLogger(__name__)
ReadReq = streams_pb2.ReadReq
LIVE_CACHE_SIZE = 4096
INLINE_READ = 64  # stream reads of at most this many events run on the loop
SERVICE = "event_store.client.streams.Streams"


def add_to_server(servicer: StreamsServicer, server: grpc.Server) -> None:
    """Register like the generated code, but let Read yield pre-encoded bytes."""
    requests = {
        "Read": streams_pb2.ReadReq,
        "Append": streams_pb2.AppendReq,
        "Delete": streams_pb2.DeleteReq,
        "Tombstone": streams_pb2.TombstoneReq,
        "BatchAppend": streams_pb2.BatchAppendReq,
    }
    kinds = {
        "Read": grpc.unary_stream_rpc_method_handler,
        "Append": grpc.stream_unary_rpc_method_handler,
        "Delete": grpc.unary_unary_rpc_method_handler,
        "Tombstone": grpc.unary_unary_rpc_method_handler,
        "BatchAppend": grpc.stream_stream_rpc_method_handler,
    }
    handlers = {
        name: kinds[name](
            getattr(servicer, name),
            request_deserializer=requests[name].FromString,
            response_serializer=serialize,
        )
        for name in requests
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


async def refuse_bad_request(context, error: BadRequest) -> None:
    if isinstance(error, MissingMetadata):
        await errors.missing_metadata(context, error.name)
    if isinstance(error, EventTooLarge):
        await errors.event_too_large(context, error.event_id, error.size, error.limit)
    await errors.bad_request(context, str(error))


async def refuse_unavailable(context, error: Exception) -> None:
    log.warning("refusing a call: %s", error)
    await errors.not_ready(context)


class StreamsServicer:
    def __init__(self, store: Store, hub: Hub, pool: Executor, *, max_event_bytes: int) -> None:
        self.store = store
        self.hub = hub
        self.pool = pool
        self.max_event_bytes = max_event_bytes
        self._live_cache: dict[int, bytes] = {}
        self._live_lock = threading.Lock()

    def io(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run a blocking store call on a worker thread."""
        return asyncio.get_running_loop().run_in_executor(self.pool, partial(fn, *args))

    # -- Append (one request stream, one response) --------------------------------------------

    async def Append(self, request_iterator, context):
        options = None
        events: list[ProposedEvent] = []
        try:
            async for request in request_iterator:
                if request.WhichOneof("content") == "options":
                    options = request.options
                else:
                    events.append(proposed_event(request.proposed_message, self.max_event_bytes))
            if options is None:
                raise BadRequest("The append request has no options")
            stream = stream_name(options.stream_identifier)
        except BadRequest as error:
            await refuse_bad_request(context, error)
        expected = expected_revision(options)
        try:
            result = await self.io(self.store.append, stream, expected, events)
        except WrongExpectedVersion as error:
            wrong = streams_pb2.AppendResp.WrongExpectedVersion()
            if error.current < 0:
                wrong.current_no_stream.SetInParent()
            else:
                wrong.current_revision = error.current
            _set_expected(wrong, expected)
            return streams_pb2.AppendResp(wrong_expected_version=wrong)
        except StreamDeletedError:
            await errors.stream_deleted(context, stream)
        except (StoreClosed, StorageFailure) as error:
            await refuse_unavailable(context, error)
        success = streams_pb2.AppendResp.Success()
        if result.revision < 0:
            success.no_stream.SetInParent()
        else:
            success.current_revision = result.revision
        success.position.commit_position = result.position
        success.position.prepare_position = result.position
        return streams_pb2.AppendResp(success=success)

    # -- BatchAppend (bidi: one response per final request of a correlation id) ----------------

    async def BatchAppend(self, request_iterator, context):
        pending: dict[bytes, tuple[streams_pb2.BatchAppendReq.Options | None, list]] = {}
        async for request in request_iterator:
            key = request.correlation_id.SerializeToString()
            options, events = pending.setdefault(key, (None, []))
            if request.HasField("options"):
                options = request.options
                pending[key] = (options, events)
            try:
                events.extend(
                    proposed_event(message, self.max_event_bytes)
                    for message in request.proposed_messages
                )
            except BadRequest as error:
                await refuse_bad_request(context, error)
            if request.is_final:
                del pending[key]
                yield await self._batch_append(request.correlation_id, options, events, context)

    async def _batch_append(self, correlation_id, options, events, context):
        if options is None:
            await errors.bad_request(context, "The batch has no options")
        try:
            stream = stream_name(options.stream_identifier)
        except BadRequest as error:
            await refuse_bad_request(context, error)
        expected = expected_revision(options)
        response = streams_pb2.BatchAppendResp(
            correlation_id=correlation_id, stream_identifier=options.stream_identifier
        )
        _set_batch_expected(response, expected)
        try:
            result = await self.io(self.store.append, stream, expected, events)
        except WrongExpectedVersion as error:
            detail = shared_pb2.WrongExpectedVersion()
            if error.current < 0:
                detail.current_no_stream.SetInParent()
            else:
                detail.current_stream_revision = error.current
            _set_batch_expected(detail, expected, wev=True)
            response.error.CopyFrom(batch_error(6, "WrongExpectedVersion", detail))
            return response
        except StreamDeletedError:
            detail = shared_pb2.StreamDeleted(stream_identifier=options.stream_identifier)
            response.error.CopyFrom(batch_error(5, "StreamDeleted", detail))
            return response
        except (StoreClosed, StorageFailure) as error:
            await refuse_unavailable(context, error)
        if result.revision < 0:
            response.success.no_stream.SetInParent()
        else:
            response.success.current_revision = result.revision
        response.success.position.commit_position = result.position
        response.success.position.prepare_position = result.position
        return response

    # -- Read -------------------------------------------------------------------------------

    async def Read(self, request: streams_pb2.ReadReq, context) -> AsyncIterator:
        options = request.options
        try:
            record_filter_ = record_filter(options)
            is_stream = options.WhichOneof("stream_option") == "stream"
            stream = stream_name(options.stream.stream_identifier) if is_stream else None
        except BadRequest as error:
            await refuse_bad_request(context, error)
        try:
            if options.WhichOneof("count_option") == "subscription":
                hub = self.hub
                if hub.open >= hub.limit:
                    await errors.too_many_subscriptions(context, hub.limit)
                hub.open += 1
                try:
                    if stream is not None:
                        responses = subscriptions.stream_subscription(
                            self, stream, options, context
                        )
                    else:
                        responses = subscriptions.all_subscription(
                            self, options, record_filter_, context
                        )
                    async for response in responses:
                        yield response
                finally:
                    hub.open -= 1
            elif stream is not None:
                async for response in self._read_stream(stream, options, context):
                    yield response
            else:
                async for response in self._read_all(options, record_filter_, context):
                    yield response
        except StoreClosed as error:
            await refuse_unavailable(context, error)

    async def _read_stream(self, stream: str, options: ReadReq.Options, context):
        count = options.count
        inline = count <= INLINE_READ
        try:
            if inline:
                view = self.store.stream_view(stream)
            else:
                view = await self.io(self.store.stream_view, stream)
        except StreamNotFound:
            yield not_found_response(stream)
            return
        except StreamDeletedError:
            await errors.stream_deleted(context, stream)
        backwards = options.read_direction == ReadReq.Options.Backwards
        which = options.stream.WhichOneof("revision_option")
        if which == "revision":
            revision = options.stream.revision
        elif which == "end":
            if not backwards:
                return
            revision = None
        else:  # start
            if backwards:
                return
            revision = None
        if count <= 0:
            return
        records = self.store.read_stream(view, revision, backwards)
        resolve = options.resolve_links
        responses = (
            response
            for response in (self.response(record, resolve) for record in records)
            if response is not None
        )
        if inline:
            for response in islice(responses, count):
                yield response
            return
        async for response in self._pump(responses, count):
            yield response

    async def _read_all(self, options: ReadReq.Options, record_filter_, context):
        backwards = options.read_direction == ReadReq.Options.Backwards
        which = options.all.WhichOneof("all_option")
        if which == "position":
            position = options.all.position.commit_position
            store = self.store
            if 0 < position < store.last_position and not await self.io(
                store.is_record_position, position
            ):
                await errors.invalid_position(context, filtered=record_filter_ is not None)
        elif (which == "end") != backwards:  # forwards from the end, backwards from the start
            return
        else:
            position = None
        count = options.count
        if count <= 0:
            return
        resolve = options.resolve_links
        records = self.store.read_all(position, backwards)
        if record_filter_ is not None:
            records = filter(record_filter_, records)
        responses = (
            response
            for response in (self.response(record, resolve) for record in records)
            if response is not None
        )
        async for response in self._pump(responses, count):
            yield response

    async def _pump(self, responses, count: int) -> AsyncIterator[bytes]:
        """Up to `count` responses, produced a chunk at a time on a worker thread."""
        while count > 0:
            chunk = await self.io(_take, responses, min(count, subscriptions.CHUNK))
            for response in chunk:
                yield response
            if len(chunk) < min(count, subscriptions.CHUNK):
                return
            count -= len(chunk)

    def response(self, record: StoredEvent, resolve_links: bool) -> bytes | None:
        """The serialized ReadResp of a record; None for a link whose target cannot be shown."""
        if resolve_links and record.type == LINK_TYPE:
            target = self.store.resolve_link(record)
            return None if target is None else encode_event_response(record, target)
        return encode_event_response(record)

    def live_response(self, record: StoredEvent, resolve_links: bool) -> bytes | None:
        """Like `response`, but shared by every subscriber that receives this live record."""
        if resolve_links and record.type == LINK_TYPE:
            return self.response(record, True)
        encoded = self._live_cache.get(record.position)
        if encoded is None:
            encoded = encode_event_response(record)
            with self._live_lock:
                cache = self._live_cache
                cache[record.position] = encoded
                if len(cache) > LIVE_CACHE_SIZE:
                    for position in sorted(cache)[: LIVE_CACHE_SIZE // 2]:
                        del cache[position]
        return encoded

    # -- Delete / Tombstone -----------------------------------------------------------------

    async def Delete(self, request: streams_pb2.DeleteReq, context):
        position = await self._delete(request.options, context, tombstone=False)
        response = streams_pb2.DeleteResp()
        response.position.commit_position = position
        response.position.prepare_position = position
        return response

    async def Tombstone(self, request: streams_pb2.TombstoneReq, context):
        position = await self._delete(request.options, context, tombstone=True)
        response = streams_pb2.TombstoneResp()
        response.position.commit_position = position
        response.position.prepare_position = position
        return response

    async def _delete(self, options, context, *, tombstone: bool) -> int:
        try:
            stream = stream_name(options.stream_identifier)
        except BadRequest as error:
            await refuse_bad_request(context, error)
        expected = expected_revision(options)
        try:
            if tombstone:
                return await self.io(self.store.tombstone, stream, expected)
            return await self.io(self.store.delete, stream, expected)
        except WrongExpectedVersion as error:
            await errors.wrong_expected_version(context, "Delete", stream, expected, error.current)
        except StreamDeletedError:
            await errors.stream_deleted(context, stream)
        except (StoreClosed, StorageFailure) as error:
            await refuse_unavailable(context, error)
        raise AssertionError("unreachable")


def _take(iterator, limit: int) -> list:
    return list(islice(iterator, limit))


def batch_error(code: int, message: str, detail) -> status_pb2.Status:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return status_pb2.Status(code=code, message=message, details=packed)


def _set_expected(wrong: streams_pb2.AppendResp.WrongExpectedVersion, expected: int) -> None:
    if expected >= 0:
        wrong.expected_revision = expected
    elif expected == -1:
        wrong.expected_no_stream.SetInParent()
    elif expected == -4:
        wrong.expected_stream_exists.SetInParent()
    else:
        wrong.expected_any.SetInParent()


def _set_batch_expected(message, expected: int, *, wev: bool = False) -> None:
    if expected >= 0:
        setattr(message, "expected_stream_position" if wev else "stream_position", expected)
        return
    name = {-1: "no_stream", -4: "stream_exists"}.get(expected, "any")
    field = getattr(message, f"expected_{name}" if wev else name)
    field.CopyFrom(empty_pb2.Empty())


__all__ = ["MAX_REVISION", "StreamsServicer"]
