"""What the app knows of an environment's KurrentDB (Health), and the probe that finds out:
gossip and the commit position, judged connected, degraded (and why) or down."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from kurrentdbclient import KurrentDBClient
from kurrentdbclient.exceptions import (
    AccessDeniedError,
    CancelledError,
    DeadlineExceededError,
    DiscoveryFailedError,
    KurrentDBClientError,
    NodeIsNotLeaderError,
    ServiceUnavailableError,
    UnauthenticatedError,
)
from kurrentdbclient.gossip import (
    NODE_STATE_FOLLOWER,
    NODE_STATE_LEADER,
    NODE_STATE_REPLICA,
    ClusterMember,
)

CONNECTED = "connected"
DEGRADED = "degraded"
DOWN = "down"
DISABLED = "disabled"
NOT_CONFIGURED = "not configured"
STATES = (CONNECTED, DEGRADED, DOWN, DISABLED, NOT_CONFIGURED)

SLOW_PROBE_MS = 1000.0  # a probe slower than this (or half the timeout) is "degraded"
MIN_RPC_TIMEOUT_S = 0.01

NODE_STATE_WORDS = {
    NODE_STATE_LEADER: "leader",
    NODE_STATE_FOLLOWER: "follower",
    NODE_STATE_REPLICA: "read-only replica",
}


@dataclass(frozen=True)
class Health:
    """What the app knows about one environment's KurrentDB, safe to show anyone."""

    env: str
    state: str  # one of STATES
    latency_ms: float | None  # the last probe's round trip (gossip + commit position)
    node_state: str | None  # "leader", "follower", "read-only replica", "other"
    node_address: str | None  # host:port the node advertises
    last_error: str | None  # plain words, no secrets; kept after recovery
    last_success_at: datetime | None
    reconnect_attempts: int  # failed attempts since the environment last answered
    checked_at: datetime
    is_production: bool
    redacted_url: str
    commit_position: int | None = None
    reason: str | None = None  # why "degraded" (or "down"), in plain words
    uses_embedded: bool = False
    last_error_at: datetime | None = None

    @property
    def is_up(self) -> bool:
        return self.state in (CONNECTED, DEGRADED)


# Client errors that mean the node cannot serve us (kurrent.connection.clients.explain).
_UNREACHABLE = (
    CancelledError,
    DeadlineExceededError,
    DiscoveryFailedError,
    NodeIsNotLeaderError,
    ServiceUnavailableError,
    UnauthenticatedError,
)


def probe(
    client: KurrentDBClient, timeout: float
) -> tuple[tuple[ClusterMember, ...], int | None, float, str]:
    """The cheapest calls that prove the node serves: gossip, then the commit position."""
    started = time.perf_counter()
    members = tuple(client.read_gossip(timeout=timeout))
    remaining = max(MIN_RPC_TIMEOUT_S, timeout - (time.perf_counter() - started))
    try:
        position: int | None = client.get_commit_position(timeout=remaining)
    except AccessDeniedError:
        position = None  # the node answered; these credentials may not read $all
    except _UNREACHABLE:
        raise
    except KurrentDBClientError:
        # The node answered gossip, so it serves; the last event of $all is one the client
        # cannot take (larger than it receives, say). Not a reason to call the node down.
        position = None
    return members, position, time.perf_counter() - started, client.connection_target


def judge(
    latency_ms: float, members: tuple[ClusterMember, ...], target: str, timeout_s: float
) -> tuple[str, str | None, ClusterMember | None]:
    """connected or degraded (and why), and the gossip member we are talking to."""
    member = next((m for m in members if f"{m.address}:{m.port}" == target), None)
    if member is None and len(members) == 1:
        member = members[0]
    if member is None:
        member = next((m for m in members if m.state == NODE_STATE_LEADER), None)
    slow_ms = min(SLOW_PROBE_MS, timeout_s * 1000 / 2)
    if not any(m.state == NODE_STATE_LEADER for m in members):
        return DEGRADED, "the cluster reports no leader", member
    if member is not None and member.state != NODE_STATE_LEADER:
        return (
            DEGRADED,
            f"connected to a {NODE_STATE_WORDS.get(member.state, 'non-leader')} node, not the leader",
            member,
        )
    if latency_ms > slow_ms:
        return DEGRADED, f"slow: the probe took {latency_ms:.0f} ms (over {slow_ms:.0f} ms)", member
    return CONNECTED, None, member
