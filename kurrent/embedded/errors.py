"""Every error the node sends, exactly as KurrentDB sends it: status code, message, trailers.

KurrentDB builds its errors in `Services/Transport/Grpc/RpcExceptions.cs` and attaches an
`exception` trailer naming the kind (`access-denied`, `stream-deleted`, ...) plus details such as
`stream-name`. Clients map errors by that trailer: the Node.js client turns PERMISSION_DENIED into
AccessDeniedError only when `exception: access-denied` is there, and reads `stream-name` from a
stream-deleted error (it fails without it). The Python client reads the details text. So every
abort goes through this module, and each helper says which RpcExceptions method it mirrors.

Trailer values must be printable ASCII; a stream name that is not is sent percent-encoded.
"""

from __future__ import annotations

from typing import NoReturn
from urllib.parse import quote

import grpc
from grpc import aio

Trailers = list[tuple[str, str]]


def ascii_value(text: str) -> str:
    """`text` as a legal metadata value: printable ASCII as it is, anything else %-encoded."""
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe="".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%"))


async def abort(
    context: aio.ServicerContext, code: grpc.StatusCode, message: str, trailers: Trailers = ()
) -> NoReturn:
    if trailers:
        context.set_trailing_metadata(tuple(trailers))
    await context.abort(code, message)
    raise AssertionError("unreachable")  # context.abort raises


def deleted_message(stream: str) -> str:
    return f"Event stream '{stream}' is deleted."


async def stream_deleted(context: aio.ServicerContext, stream: str) -> NoReturn:
    """RpcExceptions.StreamDeleted."""
    trailers = [("exception", "stream-deleted"), ("stream-name", ascii_value(stream))]
    await abort(context, grpc.StatusCode.FAILED_PRECONDITION, deleted_message(stream), trailers)


async def wrong_expected_version(
    context: aio.ServicerContext, operation: str, stream: str, expected: int, actual: int
) -> NoReturn:
    """RpcExceptions.WrongExpectedVersion (Delete and Tombstone use the `Delete` operation)."""
    message = (
        f"{operation} failed due to WrongExpectedVersion. Stream: {stream},"
        f" Expected version: {expected}, Actual version: {actual}"
    )
    trailers = [
        ("exception", "wrong-expected-version"),
        ("stream-name", ascii_value(stream)),
        ("expected-version", str(expected)),
        ("actual-version", str(actual)),
    ]
    await abort(context, grpc.StatusCode.FAILED_PRECONDITION, message, trailers)


async def access_denied(context: aio.ServicerContext) -> NoReturn:
    """RpcExceptions.AccessDenied."""
    trailers = [("exception", "access-denied")]
    await abort(context, grpc.StatusCode.PERMISSION_DENIED, "Access Denied", trailers)


async def unauthenticated(context: aio.ServicerContext) -> NoReturn:
    """What KurrentDB's authentication middleware answers to credentials it does not accept."""
    await abort(context, grpc.StatusCode.UNAUTHENTICATED, "Unauthenticated")


async def missing_metadata(context: aio.ServicerContext, name: str) -> NoReturn:
    """RpcExceptions.RequiredMetadataPropertyMissing."""
    trailers = [
        ("exception", "missing-required-metadata-property"),
        ("required-metadata-properties", "type,content-type"),
    ]
    message = f"Required Metadata Property '{name}' is missing"
    await abort(context, grpc.StatusCode.INVALID_ARGUMENT, message, trailers)


async def event_too_large(
    context: aio.ServicerContext, event_id: str, size: int, limit: int
) -> NoReturn:
    """RpcExceptions.MaxAppendEventSizeExceeded."""
    trailers = [
        ("exception", "maximum-append-event-size-exceeded"),
        ("maximum-append-event-size", str(limit)),
    ]
    message = (
        f"Event with Id: {event_id}, Size: {size}, exceeds Maximum Append Event Size of {limit}."
    )
    await abort(context, grpc.StatusCode.INVALID_ARGUMENT, message, trailers)


async def bad_request(context: aio.ServicerContext, message: str) -> NoReturn:
    """A malformed request (KurrentDB has no trailer for these)."""
    await abort(context, grpc.StatusCode.INVALID_ARGUMENT, message)


async def not_ready(context: aio.ServicerContext) -> NoReturn:
    """RpcExceptions.ServerNotReady: the node is stopping or its storage refused a commit."""
    await abort(context, grpc.StatusCode.UNAVAILABLE, "Server Is Not Ready")


async def invalid_position(context: aio.ServicerContext, *, filtered: bool) -> NoReturn:
    """A `$all` read from a position where no record starts, as KurrentDB 24.10 answers it."""
    kind = "FilteredReadAllResult" if filtered else "ReadAllResult"
    await abort(context, grpc.StatusCode.UNKNOWN, f"Unexpected {kind}: InvalidPosition")


async def invalid_subscription_position(context: aio.ServicerContext) -> NoReturn:
    """RpcExceptions.InvalidPositionException: a `$all` subscription from such a position."""
    await abort(
        context, grpc.StatusCode.INVALID_ARGUMENT, "Trying to read from an invalid position."
    )


async def too_many_subscriptions(context: aio.ServicerContext, limit: int) -> NoReturn:
    """The node's own limit on open subscriptions (KurrentDB has none to mirror)."""
    message = f"Maximum subscriptions reached: the node serves at most {limit} at once"
    await abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, message)


async def unimplemented(context: aio.ServicerContext, feature: str) -> NoReturn:
    await abort(
        context, grpc.StatusCode.UNIMPLEMENTED, f"{feature} not supported by the embedded node"
    )
