"""ServerFeatures (issue 13, point 1) and errors exactly as KurrentDB sends them (point 2).

Errors are checked on the wire with raw stubs, because clients other than kurrentdbclient map
them by the `exception` trailer and read details such as `stream-name` from it; the Python
client's exception types are checked beside them.
"""

from __future__ import annotations

import base64

import grpc
import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.common import handle_rpc_error
from kurrentdbclient.exceptions import (
    AccessDeniedError,
    FailedPreconditionError,
    StreamIsDeletedError,
    UnauthenticatedError,
)
from kurrentdbclient.protos.v1 import (
    persistent_pb2,
    persistent_pb2_grpc,
    shared_pb2,
    streams_pb2,
    streams_pb2_grpc,
)

from kurrent.embedded import EmbeddedNode
from kurrent.embedded.features import SERVICE, SupportedMethods
from kurrent.embedded.storage import StorageFailure

from .helpers import events

GET_SUPPORTED = f"/{SERVICE}/GetSupportedMethods"
PERSISTENT = "event_store.client.persistent_subscriptions.persistentsubscriptions"


def supported(channel: grpc.Channel, metadata=()) -> SupportedMethods:
    call = channel.unary_unary(
        GET_SUPPORTED,
        request_serializer=shared_pb2.Empty.SerializeToString,
        response_deserializer=SupportedMethods.FromString,
    )
    return call(shared_pb2.Empty(), metadata=metadata, timeout=10)


@pytest.fixture
def channel(node):
    with grpc.insecure_channel(f"127.0.0.1:{node.port}") as opened:
        yield opened


def trailers(error: grpc.RpcError) -> dict[str, str]:
    return dict(error.trailing_metadata() or ())


def test_server_features_lists_what_the_node_serves(channel):
    answer = supported(channel)
    assert answer.event_store_server_version == "25.1.0"
    paths = {f"/{m.service_name}/{m.method_name}" for m in answer.methods}
    assert paths == {
        "/event_store.client.streams.streams/read",
        "/event_store.client.streams.streams/append",
        "/event_store.client.streams.streams/batchappend",
        "/event_store.client.streams.streams/delete",
        "/event_store.client.streams.streams/tombstone",
        "/kurrentdb.protocol.v2.streams.streamsservice/appendsession",
        "/event_store.client.gossip.gossip/read",
        "/event_store.client.server_features.serverfeatures/getsupportedmethods",
        *(
            f"/{PERSISTENT}/{name}"
            for name in ("list", "getinfo", "replayparked", "restartsubsystem")
        ),
    }
    features = {
        m.method_name: list(m.features) for m in answer.methods if m.service_name == PERSISTENT
    }
    assert len(features) == 4
    assert all(listed == ["stream", "all"] for listed in features.values())


def test_every_listed_method_answers_and_unlisted_ones_are_unimplemented(channel, stream):
    """Call each listed method with an empty request: none may answer UNIMPLEMENTED."""
    for method in supported(channel).methods:
        service = {m.lower(): m for m in _service_names()}[method.service_name]
        name = _method_names()[service][method.method_name]
        path = f"/{service}/{name}"
        call = channel.stream_stream(path, request_serializer=bytes, response_deserializer=bytes)
        try:
            list(call(iter([b""]), timeout=5))
        except grpc.RpcError as error:
            assert error.code() != grpc.StatusCode.UNIMPLEMENTED, path
    persistent = persistent_pb2_grpc.PersistentSubscriptionsStub(channel)
    refused = [
        (persistent.Create, persistent_pb2.CreateReq()),
        (persistent.Update, persistent_pb2.UpdateReq()),
        (persistent.Delete, persistent_pb2.DeleteReq()),
    ]
    for call, request in refused:
        with pytest.raises(grpc.RpcError) as raised:
            call(request, timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "not supported by the embedded node" in raised.value.details()


def _service_names() -> list[str]:
    return list(_method_names())


def _method_names() -> dict[str, dict[str, str]]:
    return {
        "event_store.client.streams.Streams": {
            n.lower(): n for n in ("Read", "Append", "BatchAppend", "Delete", "Tombstone")
        },
        "kurrentdb.protocol.v2.streams.StreamsService": {"appendsession": "AppendSession"},
        "event_store.client.gossip.Gossip": {"read": "Read"},
        SERVICE: {"getsupportedmethods": "GetSupportedMethods"},
        "event_store.client.persistent_subscriptions.PersistentSubscriptions": {
            n.lower(): n for n in ("List", "GetInfo", "ReplayParked", "RestartSubsystem")
        },
    }


def test_stream_deleted_errors_carry_the_exception_trailer(client, channel, stream):
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    client.tombstone_stream(stream, current_version=StreamState.ANY)
    stub = streams_pb2_grpc.StreamsStub(channel)
    read = streams_pb2.ReadReq.Options(count=10, uuid_option={"string": shared_pb2.Empty()})
    read.stream.stream_identifier.stream_name = stream.encode()
    read.stream.start.SetInParent()
    read.no_filter.SetInParent()
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.Read(streams_pb2.ReadReq(options=read), timeout=5))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details() == f"Event stream '{stream}' is deleted."
    assert trailers(raised.value) == {"exception": "stream-deleted", "stream-name": stream}
    delete = streams_pb2.DeleteReq.Options(any=shared_pb2.Empty())
    delete.stream_identifier.stream_name = stream.encode()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Delete(streams_pb2.DeleteReq(options=delete), timeout=5)
    assert trailers(raised.value)["exception"] == "stream-deleted"
    with pytest.raises(FailedPreconditionError):  # Append: a plain failed precondition
        client.append_to_stream(stream, events=events(1)[0], current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeletedError):
        client.get_stream(stream)


def test_a_non_ascii_stream_name_is_percent_encoded_in_the_trailer(client, channel):
    stream = "tést-ünïcode-stream"
    client.append_to_stream(stream, events=events(1), current_version=StreamState.ANY)
    client.tombstone_stream(stream, current_version=StreamState.ANY)
    stub = streams_pb2_grpc.StreamsStub(channel)
    delete = streams_pb2.DeleteReq.Options(any=shared_pb2.Empty())
    delete.stream_identifier.stream_name = stream.encode()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Delete(streams_pb2.DeleteReq(options=delete), timeout=5)
    assert trailers(raised.value)["stream-name"] == "t%C3%A9st-%C3%BCn%C3%AFcode-stream"


def test_wrong_expected_version_on_delete_carries_versions(client, channel, stream):
    client.append_to_stream(stream, events=events(3), current_version=StreamState.NO_STREAM)
    stub = streams_pb2_grpc.StreamsStub(channel)
    delete = streams_pb2.DeleteReq.Options(revision=7)
    delete.stream_identifier.stream_name = stream.encode()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Delete(streams_pb2.DeleteReq(options=delete), timeout=5)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details() == (
        f"Delete failed due to WrongExpectedVersion. Stream: {stream},"
        " Expected version: 7, Actual version: 2"
    )
    assert trailers(raised.value) == {
        "exception": "wrong-expected-version",
        "stream-name": stream,
        "expected-version": "7",
        "actual-version": "2",
    }


def _append(stub, stream: str, message: streams_pb2.AppendReq.ProposedMessage):
    options = streams_pb2.AppendReq.Options(any=shared_pb2.Empty())
    options.stream_identifier.stream_name = stream.encode()
    requests = [
        streams_pb2.AppendReq(options=options),
        streams_pb2.AppendReq(proposed_message=message),
    ]
    return stub.Append(iter(requests), timeout=5)


def test_invalid_proposed_events_are_refused_with_kurrentdb_trailers(stream):
    with (
        EmbeddedNode(max_event_bytes=100) as small,
        grpc.insecure_channel(f"127.0.0.1:{small.port}") as channel,
    ):
        stub = streams_pb2_grpc.StreamsStub(channel)
        untyped = streams_pb2.AppendReq.ProposedMessage(
            id={"string": "6b2b4b3f-0c5e-4c7a-9c7e-2b0c0f8f1a11"},
            metadata={"content-type": "application/json"},
            data=b"{}",
        )
        with pytest.raises(grpc.RpcError) as raised:
            _append(stub, stream, untyped)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.details() == "Required Metadata Property 'type' is missing"
        assert trailers(raised.value) == {
            "exception": "missing-required-metadata-property",
            "required-metadata-properties": "type,content-type",
        }
        large = streams_pb2.AppendReq.ProposedMessage(
            id={"string": "6b2b4b3f-0c5e-4c7a-9c7e-2b0c0f8f1a12"},
            metadata={"type": "T", "content-type": "application/json"},
            data=b"x" * 200,
        )
        with pytest.raises(grpc.RpcError) as raised:
            _append(stub, stream, large)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "exceeds Maximum Append Event Size of 100." in raised.value.details()
        assert trailers(raised.value)["exception"] == "maximum-append-event-size-exceeded"


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tls-errors")
    with EmbeddedNode(insecure=False, data_dir=str(data_dir)) as running:
        yield running


def _tls_channel(node: EmbeddedNode) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(root_certificates=node.root_certificates)
    return grpc.secure_channel(f"localhost:{node.port}", credentials)


def test_anonymous_calls_are_access_denied_with_the_trailer(tls_node, stream):
    with _tls_channel(tls_node) as channel:
        stub = streams_pb2_grpc.StreamsStub(channel)
        message = streams_pb2.AppendReq.ProposedMessage(
            id={"string": "6b2b4b3f-0c5e-4c7a-9c7e-2b0c0f8f1a13"},
            metadata={"type": "T", "content-type": "application/json"},
            data=b"{}",
        )
        with pytest.raises(grpc.RpcError) as raised:
            _append(stub, stream, message)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert raised.value.details() == "Access Denied"
        assert trailers(raised.value) == {"exception": "access-denied"}
        # Gossip and ServerFeatures answer anonymous callers, as KurrentDB's do.
        assert supported(channel).event_store_server_version
    assert isinstance(handle_rpc_error(raised.value), AccessDeniedError)


@pytest.mark.parametrize("token", ["Bearer some-token", "bearer eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_an_unknown_bearer_token_is_refused_not_taken_as_anonymous(tls_node, token):
    with _tls_channel(tls_node) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            supported(channel, metadata=[("authorization", token)])
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        basic = "Basic " + base64.b64encode(b"admin:changeit").decode()
        assert supported(channel, metadata=[("authorization", basic)]).methods


def test_the_python_client_sees_wrong_credentials_as_unauthenticated(tls_node):
    client = KurrentDBClient(
        f"kurrentdb://admin:nope@localhost:{tls_node.port}",
        root_certificates=tls_node.root_certificates,
    )
    with pytest.raises(UnauthenticatedError):
        client.append_to_stream(
            "x", events=NewEvent(type="T", data=b"{}"), current_version=StreamState.ANY
        )
    client.close()


def test_a_storage_failure_is_server_not_ready(stream, monkeypatch):
    """RpcExceptions.ServerNotReady: UNAVAILABLE, no trailer (the disk refused a commit)."""
    with EmbeddedNode() as failing, grpc.insecure_channel(f"127.0.0.1:{failing.port}") as channel:

        def refuse(*args, **kwargs):
            raise StorageFailure("storage error: disk I/O error")

        monkeypatch.setattr(failing.store, "append", refuse)
        message = streams_pb2.AppendReq.ProposedMessage(
            id={"string": "6b2b4b3f-0c5e-4c7a-9c7e-2b0c0f8f1a14"},
            metadata={"type": "T", "content-type": "application/json"},
            data=b"{}",
        )
        with pytest.raises(grpc.RpcError) as raised:
            _append(streams_pb2_grpc.StreamsStub(channel), stream, message)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert raised.value.details() == "Server Is Not Ready"
        assert "exception" not in trailers(raised.value)
