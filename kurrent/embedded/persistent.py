"""Persistent subscriptions: the node holds no subscription groups, and says so over gRPC.

The node cannot create a group (Create, Update, Delete and Read answer UNIMPLEMENTED), so the
subsystem is always empty. Its read-only and admin calls are still answered, over gRPC, the way
KurrentDB answers them for a group that does not exist (`PersistentSubscriptions.Info.cs`,
`.ReplayParked.cs`, `.RestartSubsystem.cs`):

- List of every group: an empty list. List for one stream (or `$all`): NOT_FOUND, as KurrentDB
  answers for a stream without groups (kurrentdbclient turns that into an empty list).
- GetInfo and ReplayParked: NOT_FOUND `Subscription group G on stream S does not exist.`
  with the `persistent-subscription-does-not-exist` trailer.
- RestartSubsystem: OK (there is nothing to restart).

Why answer them at all: the Node.js client decides from ServerFeatures whether a method is
there over gRPC, and for these four falls back to KurrentDB's HTTP API on the same port when it
is not listed, which on a gRPC-only port ends in a transport error. Listed and answered, they
give the client's own typed results (`[]`, PersistentSubscriptionDoesNotExistError).
"""

from __future__ import annotations

from typing import NoReturn

import grpc
from grpc import aio
from kurrentdbclient.protos.v1 import persistent_pb2, persistent_pb2_grpc, shared_pb2

from . import errors

SERVICE = "event_store.client.persistent_subscriptions.PersistentSubscriptions"
ANSWERED = ("List", "GetInfo", "ReplayParked", "RestartSubsystem")
# KurrentDB's ServerFeatures gives every persistent-subscription method these two features.
FEATURES = ["stream", "all"]
NOT_OFFERED = "Persistent subscription groups are"


def _stream(options, field: str) -> str:
    """The stream an options message names: `$all`, or the identifier's name."""
    if options.WhichOneof("stream_option") == "all":
        return "$all"
    return getattr(options, field).stream_name.decode("utf-8", errors="replace")


async def does_not_exist(context: aio.ServicerContext, stream: str, group: str) -> NoReturn:
    """RpcExceptions.PersistentSubscriptionDoesNotExist."""
    trailers = [
        ("exception", "persistent-subscription-does-not-exist"),
        ("stream-name", errors.ascii_value(stream)),
        ("group-name", errors.ascii_value(group)),
    ]
    message = f"Subscription group {group} on stream {stream} does not exist."
    await errors.abort(context, grpc.StatusCode.NOT_FOUND, message, trailers)


class PersistentSubscriptionsServicer(persistent_pb2_grpc.PersistentSubscriptionsServicer):
    async def List(self, request: persistent_pb2.ListReq, context) -> persistent_pb2.ListResp:
        options = request.options
        if options.WhichOneof("list_option") == "list_for_stream":
            await does_not_exist(context, _stream(options.list_for_stream, "stream"), "")
        return persistent_pb2.ListResp()

    async def GetInfo(self, request: persistent_pb2.GetInfoReq, context) -> NoReturn:
        options = request.options
        await does_not_exist(context, _stream(options, "stream_identifier"), options.group_name)

    async def ReplayParked(self, request: persistent_pb2.ReplayParkedReq, context) -> NoReturn:
        options = request.options
        await does_not_exist(context, _stream(options, "stream_identifier"), options.group_name)

    async def RestartSubsystem(self, request: shared_pb2.Empty, context) -> shared_pb2.Empty:
        return shared_pb2.Empty()

    async def Create(self, request, context) -> NoReturn:
        await errors.unimplemented(context, NOT_OFFERED)

    async def Update(self, request, context) -> NoReturn:
        await errors.unimplemented(context, NOT_OFFERED)

    async def Delete(self, request, context) -> NoReturn:
        await errors.unimplemented(context, NOT_OFFERED)

    async def Read(self, request_iterator, context):
        await errors.unimplemented(context, NOT_OFFERED)
        yield  # pragma: no cover - makes this a generator


def add_to_server(server: aio.Server) -> None:
    persistent_pb2_grpc.add_PersistentSubscriptionsServicer_to_server(
        PersistentSubscriptionsServicer(), server
    )
