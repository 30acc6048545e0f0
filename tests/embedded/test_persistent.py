"""Persistent subscriptions (issue 13, the Node.js client's list and info calls).

The node holds no subscription groups, but lists List, GetInfo, ReplayParked and
RestartSubsystem in ServerFeatures and answers them over gRPC as KurrentDB answers for groups
that do not exist, so clients get their own typed answers instead of falling back to HTTP.
Creating, changing or reading a group is refused at once with UNIMPLEMENTED.
"""

from __future__ import annotations

import grpc
import pytest
from kurrentdbclient.exceptions import GrpcError, NotFoundError
from kurrentdbclient.protos.v1 import persistent_pb2, persistent_pb2_grpc, shared_pb2

DOES_NOT_EXIST = "persistent-subscription-does-not-exist"


@pytest.fixture
def stub(node):
    with grpc.insecure_channel(f"127.0.0.1:{node.port}") as channel:
        yield persistent_pb2_grpc.PersistentSubscriptionsStub(channel)


def test_listing_every_group_gives_an_empty_list(client):
    assert client.list_subscriptions(timeout=10) == []


def test_listing_a_streams_groups_is_not_found_which_the_client_makes_empty(client, stub, stream):
    assert client.list_subscriptions_to_stream(stream, timeout=10) == []
    request = persistent_pb2.ListReq()
    request.options.list_for_stream.stream.stream_name = stream.encode()
    with pytest.raises(grpc.RpcError) as raised:
        stub.List(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == f"Subscription group  on stream {stream} does not exist."
    assert dict(raised.value.trailing_metadata()) == {
        "exception": DOES_NOT_EXIST,
        "stream-name": stream,
        "group-name": "",
    }
    request = persistent_pb2.ListReq()
    request.options.list_for_stream.all.SetInParent()
    with pytest.raises(grpc.RpcError) as raised:
        stub.List(request, timeout=10)
    assert raised.value.details() == "Subscription group  on stream $all does not exist."


def test_info_on_a_group_is_not_found_with_kurrentdbs_message_and_trailers(client, stub, stream):
    with pytest.raises(NotFoundError):
        client.get_subscription_info("group-a", stream_name=stream, timeout=10)
    with pytest.raises(NotFoundError):
        client.get_subscription_info("group-b", timeout=10)
    request = persistent_pb2.GetInfoReq()
    request.options.group_name = "group-c"
    request.options.stream_identifier.stream_name = stream.encode()
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetInfo(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert (
        raised.value.details() == f"Subscription group group-c on stream {stream} does not exist."
    )
    trailers = dict(raised.value.trailing_metadata())
    assert trailers == {"exception": DOES_NOT_EXIST, "stream-name": stream, "group-name": "group-c"}


def test_replaying_parked_events_of_a_group_is_not_found(client, stub):
    with pytest.raises(NotFoundError):
        client.replay_parked_events("group-d", timeout=10)
    request = persistent_pb2.ReplayParkedReq()
    request.options.group_name = "group-e"
    request.options.all.SetInParent()
    request.options.stop_at = 5
    with pytest.raises(grpc.RpcError) as raised:
        stub.ReplayParked(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert dict(raised.value.trailing_metadata())["group-name"] == "group-e"


def test_restarting_the_subsystem_succeeds(stub):
    assert stub.RestartSubsystem(shared_pb2.Empty(), timeout=10) == shared_pb2.Empty()


def test_groups_cannot_be_created_or_read(client, stream):
    calls = [
        lambda: client.create_subscription_to_stream("group", stream, timeout=10),
        lambda: client.create_subscription_to_all("group", timeout=10),
        lambda: client.delete_subscription("group", timeout=10),
        lambda: next(iter(client.read_subscription_to_all("group", timeout=10))),
    ]
    for call in calls:
        with pytest.raises(GrpcError) as caught:
            call()
        assert "Persistent subscription groups are not supported by the embedded node" in str(
            caught.value
        )
    with pytest.raises(NotFoundError):  # the client reads the group's info first
        client.update_subscription_to_all("group", timeout=10)
