"""The Gossip service: a single node that is always the leader."""

from __future__ import annotations

import time
import uuid

from kurrentdbclient.protos.v1 import gossip_pb2, gossip_pb2_grpc, shared_pb2


class GossipServicer(gossip_pb2_grpc.GossipServicer):
    def __init__(self, address: str, port: int) -> None:
        self.instance_id = str(uuid.uuid4())
        self.address = address
        self.port = port

    async def Read(self, request, context) -> gossip_pb2.ClusterInfo:
        member = gossip_pb2.MemberInfo(
            instance_id=shared_pb2.UUID(string=self.instance_id),
            time_stamp=time.time_ns() // 100,
            state=gossip_pb2.MemberInfo.VNodeState.Leader,
            is_alive=True,
            http_end_point=gossip_pb2.EndPoint(address=self.address, port=self.port),
        )
        return gossip_pb2.ClusterInfo(members=[member])
