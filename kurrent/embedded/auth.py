"""Basic authentication for the TLS mode (protocol §5): a grpc server interceptor."""

from __future__ import annotations

import base64
import binascii
import hmac

import grpc
from google.protobuf import any_pb2
from grpc import aio
from kurrentdbclient.protos.v1 import shared_pb2, status_pb2, streams_pb2

from . import errors

ANONYMOUS_PREFIXES = (
    "/event_store.client.gossip.Gossip/",
    "/event_store.client.server_features.ServerFeatures/",
)
BATCH_APPEND = "/event_store.client.streams.Streams/BatchAppend"


def parse_basic(header: str) -> tuple[str, str] | None:
    """(user, password) from an `authorization: Basic ...` header, None if unparsable."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


class BasicAuthInterceptor(aio.ServerInterceptor):
    """Wrong credentials, or a bearer token (the node knows none): UNAUTHENTICATED on every
    RPC, before any handler runs. No credentials: only Gossip and ServerFeatures answer;
    everything else is access denied, as KurrentDB 24.10+ denies anonymous stream access."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = {name: password.encode() for name, password in users.items()}

    def authenticate(self, metadata) -> str | bool | None:
        """The user name, None for anonymous, False for credentials the node does not accept."""
        header = None
        for key, value in metadata or ():
            if key == "authorization":
                header = value.decode() if isinstance(value, bytes) else value
                break
        if header is None:
            return None
        scheme = header.partition(" ")[0].lower()
        if scheme == "bearer":
            return False  # no token issuer is configured: an unknown token is a wrong one
        parsed = parse_basic(header)
        if parsed is None:
            return None
        user, password = parsed
        known = self._users.get(user)
        # Compare even for unknown users, so timing does not reveal which names exist.
        ok = hmac.compare_digest(password.encode(), known if known is not None else b"\0")
        return user if ok and known is not None else False

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        user = self.authenticate(handler_call_details.invocation_metadata)
        if user is False:
            return _aborting(handler, errors.unauthenticated)
        method = handler_call_details.method
        if user is None and not method.startswith(ANONYMOUS_PREFIXES):
            if method == BATCH_APPEND:
                return _batch_access_denied(handler)
            return _aborting(handler, errors.access_denied)
        return handler


def _aborting(handler: grpc.RpcMethodHandler, refuse):
    async def unary(request, context):
        await refuse(context)

    async def streaming(request, context):
        await refuse(context)
        yield  # pragma: no cover - makes this a generator

    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(streaming, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(streaming, **kwargs)
    return grpc.unary_unary_rpc_method_handler(unary, **kwargs)


def _batch_access_denied(handler: grpc.RpcMethodHandler):
    """BatchAppend reports access denied inside its response, as KurrentDB does."""

    async def batch_append(request_iterator, context):
        async for request in request_iterator:
            if request.is_final:
                packed = any_pb2.Any()
                packed.Pack(shared_pb2.AccessDenied())
                yield streams_pb2.BatchAppendResp(
                    correlation_id=request.correlation_id,
                    stream_identifier=request.options.stream_identifier,
                    error=status_pb2.Status(code=7, message="AccessDenied", details=packed),
                )

    return grpc.stream_stream_rpc_method_handler(
        batch_append,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
