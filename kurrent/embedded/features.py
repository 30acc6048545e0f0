"""The ServerFeatures service: which server version this is and which methods it offers.

Clients ask at connect time (`GetSupportedMethods`) and pick their calls from the answer: the
Node.js client uses BatchAppend and the v2 multi-stream append only when they are listed, and
takes a server that does not answer for one older than 21.10. So the list names exactly the
methods the node serves; everything else answers UNIMPLEMENTED. (The persistent-subscription
calls listed are the ones the node answers without holding groups: see persistent.py.)

kurrentdbclient ships no serverfeatures.proto, so its two messages are declared here from the
clients' proto (`event_store.client.server_features`), field numbers included.
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from kurrentdbclient.protos.v1 import shared_pb2

from . import persistent

SERVICE = "event_store.client.server_features.ServerFeatures"
# The KurrentDB release whose behaviour the node follows: v2 AppendSession came with 25.1.
SERVER_VERSION = "25.1.0"
# (service, method, features). KurrentDB lists names in lower case; clients compare them so.
SUPPORTED: list[tuple[str, str, list[str]]] = [
    ("event_store.client.streams.Streams", "Read", []),
    ("event_store.client.streams.Streams", "Append", []),
    ("event_store.client.streams.Streams", "BatchAppend", []),
    ("event_store.client.streams.Streams", "Delete", []),
    ("event_store.client.streams.Streams", "Tombstone", []),
    ("kurrentdb.protocol.v2.streams.StreamsService", "AppendSession", []),
    ("event_store.client.gossip.Gossip", "Read", []),
    *((persistent.SERVICE, name, persistent.FEATURES) for name in persistent.ANSWERED),
    (SERVICE, "GetSupportedMethods", []),
]


def _messages() -> tuple[type, type]:
    file = descriptor_pb2.FileDescriptorProto(
        name="kurrent_embedded/serverfeatures.proto",
        package="event_store.client.server_features",
        syntax="proto3",
    )
    methods = file.message_type.add(name="SupportedMethods")
    methods.field.add(
        name="methods",
        number=1,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name=".event_store.client.server_features.SupportedMethod",
    )
    methods.field.add(
        name="event_store_server_version",
        number=2,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    )
    method = file.message_type.add(name="SupportedMethod")
    for number, name in enumerate(("method_name", "service_name"), start=1):
        method.field.add(
            name=name,
            number=number,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        )
    method.field.add(
        name="features",
        number=3,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    package = "event_store.client.server_features."
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(package + "SupportedMethods")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName(package + "SupportedMethod")),
    )


SupportedMethods, SupportedMethod = _messages()


def supported_methods() -> SupportedMethods:
    answer = SupportedMethods(event_store_server_version=SERVER_VERSION)
    for service, method, features in SUPPORTED:
        answer.methods.append(
            SupportedMethod(
                method_name=method.lower(), service_name=service.lower(), features=features
            )
        )
    return answer


class ServerFeaturesServicer:
    def __init__(self) -> None:
        self._answer = supported_methods().SerializeToString()

    async def GetSupportedMethods(self, request: shared_pb2.Empty, context) -> bytes:
        return self._answer


def handlers(servicer: ServerFeaturesServicer):

    method = grpc.unary_unary_rpc_method_handler(
        servicer.GetSupportedMethods,
        request_deserializer=shared_pb2.Empty.FromString,
        response_serializer=lambda answer: answer,
    )
    return grpc.method_handlers_generic_handler(SERVICE, {"GetSupportedMethods": method})
