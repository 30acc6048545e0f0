"""Services the node does not offer answer UNIMPLEMENTED at once, with a clear message."""

from __future__ import annotations

import grpc
from kurrentdbclient.protos.v1 import projections_pb2
from kurrentdbclient.protos.v2.streams import streams_pb2 as v2_streams_pb2

# (service descriptor, methods to refuse or None for all, feature named in the message)
# (Persistent subscriptions have their own servicer: persistent.py.)
REFUSED = [
    (projections_pb2.DESCRIPTOR.services_by_name["Projections"], None, "Projections are"),
]
V2_STREAMS = v2_streams_pb2.DESCRIPTOR.services_by_name["StreamsService"]


def refusing_handler(service, feature: str, methods: set[str] | None = None):
    """A generic handler answering UNIMPLEMENTED for the given methods of `service`."""
    details = f"{feature} not supported by the embedded node"
    handlers = {}
    for method in service.methods:
        if methods is not None and method.name not in methods:
            continue
        handlers[method.name] = _refuse(method, details)
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _refuse(method, details: str) -> grpc.RpcMethodHandler:
    async def unary(request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, details)

    async def streaming(request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, details)
        yield  # pragma: no cover - makes this a generator

    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(streaming)
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(unary)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(streaming)
    return grpc.unary_unary_rpc_method_handler(unary)


def refusing_handlers() -> list:
    return [refusing_handler(service, feature) for service, _, feature in REFUSED]
