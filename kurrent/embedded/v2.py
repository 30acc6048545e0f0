"""The v2 StreamsService: AppendSession (`multi_append_to_stream`), one atomic multi-stream write.

Errors use gRPC rich status with the v2 error details, as protocol §2.3 describes.
AppendRecords (server 26.1+) is refused with UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import Executor

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status
from kurrentdbclient.protos.v2.streams import errors_pb2
from kurrentdbclient.protos.v2.streams import streams_pb2 as v2
from kurrentdbclient.protos.v2.streams import streams_pb2_grpc as v2_grpc

from . import errors
from .records import ANY, ProposedEvent, StoreClosed, StreamDeletedError, WrongExpectedVersion
from .storage import StorageFailure, Store

FORMAT_NAMES = {
    v2.SCHEMA_FORMAT_JSON: "Json",
    v2.SCHEMA_FORMAT_PROTOBUF: "Protobuf",
    v2.SCHEMA_FORMAT_AVRO: "Avro",
    v2.SCHEMA_FORMAT_BYTES: "Bytes",
}


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, detail=None) -> None:
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail


async def _abort(context, refused: _Refused) -> None:
    status = status_pb2.Status(code=refused.code.value[0], message=refused.message)
    if refused.detail is not None:
        packed = any_pb2.Any()
        packed.Pack(refused.detail)
        status.details.append(packed)
    rich = rpc_status.to_status(status)
    context.set_trailing_metadata(rich.trailing_metadata)
    await context.abort(rich.code, rich.details)


def _value(value) -> object:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {key: _value(item) for key, item in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    if kind == "null_value":
        return None
    return getattr(value, kind) if kind else None


def _event(stream: str, record: v2.AppendRecord, max_event_bytes: int) -> ProposedEvent:
    record_id = record.record_id if record.HasField("record_id") else str(uuid.uuid4())
    try:
        record_id = str(uuid.UUID(record_id))
    except ValueError as error:
        message = f"'{record_id}' is not a valid record id"
        raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, message) from error
    name = record.schema.name
    if not name:
        raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "The record's schema name is empty")
    properties = {key: _value(value) for key, value in record.properties.items()}
    properties["$schema.name"] = name
    properties["$schema.format"] = FORMAT_NAMES.get(record.schema.format, "Bytes")
    metadata = json.dumps(properties).encode()
    size = len(name.encode()) + len(record.data) + len(metadata)
    if size > max_event_bytes:
        detail = errors_pb2.AppendRecordSizeExceededErrorDetails(
            stream=stream, record_id=record_id, size=size, max_size=max_event_bytes
        )
        message = (
            f"The size of record {record_id} ({size} bytes) exceeds the maximum allowed"
            f" size of {max_event_bytes} bytes"
        )
        raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, message, detail)
    is_json = record.schema.format == v2.SCHEMA_FORMAT_JSON
    return ProposedEvent(record_id, name, is_json, record.data, metadata)


class V2StreamsServicer(v2_grpc.StreamsServiceServicer):
    def __init__(self, store: Store, pool: Executor, *, max_event_bytes: int) -> None:
        self.store = store
        self.pool = pool
        self.max_event_bytes = max_event_bytes

    async def AppendSession(self, request_iterator, context):
        try:
            requests = await self._collect(request_iterator)
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(self.pool, self._append, requests)
        except _Refused as refused:
            await _abort(context, refused)
        except (StoreClosed, StorageFailure):
            await errors.not_ready(context)
        response = v2.AppendSessionResponse(position=max(r.position for r in results))
        for (stream, _, _), result in zip(requests, results, strict=True):
            response.output.append(
                v2.AppendResponse(
                    stream=stream, stream_revision=result.revision, position=result.position
                )
            )
        return response

    async def _collect(self, request_iterator) -> list[tuple[str, int, list[ProposedEvent]]]:
        requests = []
        seen: set[str] = set()
        async for request in request_iterator:
            stream = request.stream
            if not stream:
                raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "The stream name is empty")
            if stream.casefold() in seen:
                raise _Refused(
                    grpc.StatusCode.ABORTED,
                    f"Stream '{stream}' is already in the append session.",
                    errors_pb2.StreamAlreadyInAppendSessionErrorDetails(stream=stream),
                )
            seen.add(stream.casefold())
            expected = request.expected_revision if request.HasField("expected_revision") else ANY
            events = [_event(stream, record, self.max_event_bytes) for record in request.records]
            requests.append((stream, expected, events))
        if not requests:
            raise _Refused(grpc.StatusCode.FAILED_PRECONDITION, "No append requests were sent.")
        return requests

    def _append(self, requests):
        try:
            return self.store.append_many(requests)
        except WrongExpectedVersion as error:
            message = (
                f"Append failed due to a revision conflict on stream '{error.stream}'."
                f" Expected revision: {error.expected}. Actual revision: {error.current}."
            )
            detail = errors_pb2.StreamRevisionConflictErrorDetails(
                stream=error.stream,
                expected_revision=error.expected,
                actual_revision=error.current,
            )
            raise _Refused(grpc.StatusCode.FAILED_PRECONDITION, message, detail) from error
        except StreamDeletedError as error:
            detail = errors_pb2.StreamTombstonedErrorDetails(stream=error.stream)
            message = f"Stream '{error.stream}' has been tombstoned."
            raise _Refused(grpc.StatusCode.FAILED_PRECONDITION, message, detail) from error

    async def AppendRecords(self, request, context):
        await errors.unimplemented(context, "AppendRecords (server 26.1+) is")
