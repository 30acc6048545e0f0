"""Making, judging and closing KurrentDB clients: the client URL and credentials, plain
words for what an error means, and secrets scrubbed from text. The connection manager
(kurrent.connection.manager) holds one such client per environment."""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import grpc
from kurrentdbclient import KurrentDBClient
from kurrentdbclient.exceptions import (
    CancelledError,
    DeadlineExceededError,
    DiscoveryFailedError,
    LeaderNotFoundError,
    NodeIsNotLeaderError,
    ServiceUnavailableError,
    SSLError,
    UnauthenticatedError,
    UnknownError,
)

from kurrent.connection.config import Profile, environments, get_profile, var

log = logging.getLogger("kurrent.connection")

T = TypeVar("T")


class ManagedClient(KurrentDBClient):
    """A KurrentDBClient that authenticates with the profile's credentials verbatim.

    kurrentdbclient takes user and password from the URL without unquoting them, so a
    password holding @ : / ? # would break the URL. The URL carries a quoted copy only
    to pass the client's checks; the call credentials use the real values.
    """

    def __init__(self, uri: str, *, credentials: tuple[str, str], **kwargs: Any) -> None:
        self._managed_credentials = credentials
        super().__init__(uri, **kwargs)

    def construct_call_credentials(
        self, username: str | None, password: str | None
    ) -> grpc.CallCredentials | None:
        user, secret = self._managed_credentials
        return super().construct_call_credentials(user or None, secret or None)


def direct(method: Callable[..., T]) -> Callable[..., T]:
    """A KurrentDBClient method without the client's own retry and reconnect wrappers
    (`@retrygrpc`, `@autoreconnect`), whose reconnecting has no deadline: for calls
    made with `inline=True`. Retrying and reconnecting are this module's job."""
    return inspect.unwrap(method)


def explain(exc: BaseException, profile: Profile) -> str | None:
    """Plain words for an error that means the node cannot serve us; None otherwise."""
    if isinstance(exc, SSLError):
        return f"the TLS handshake failed (check Tls in the URL and {var(profile.name, 'CA_FILE')})"
    if isinstance(exc, UnauthenticatedError):
        return (
            "the node rejected the credentials (check "
            f"{var(profile.name, 'USERNAME')} and {var(profile.name, 'PASSWORD')})"
        )
    if isinstance(exc, LeaderNotFoundError):
        return "the cluster has no leader"
    if isinstance(exc, DiscoveryFailedError):
        return "cluster discovery failed: no node answered gossip"
    if isinstance(exc, NodeIsNotLeaderError):
        return "the node is not the leader and the leader could not be reached"
    if isinstance(exc, DeadlineExceededError | TimeoutError):
        return f"no answer within {profile.timeout_s:g} s"
    if isinstance(exc, ServiceUnavailableError):
        return "the node is not answering (connection refused or dropped)"
    if isinstance(exc, CancelledError):
        # Also CancelledByClientError: we never cancel a call, but closing a client that
        # failed for one thread cancels the calls other threads still have on it.
        return "the connection was closed during the call"
    if isinstance(exc, UnknownError) and "stream removed" in str(exc).lower():
        # grpc reports some connections dropped mid-call as UNKNOWN (grpc/grpc#34076).
        return "the node is not answering (connection refused or dropped)"
    if (
        isinstance(exc, ValueError)
        and "closed" in str(exc).lower()
        and "channel" in str(exc).lower()
    ):
        return "the connection was closed during the call"
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        code = exc.code()
        if code == grpc.StatusCode.UNAVAILABLE:
            return "the node is not answering (connection refused or dropped)"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"no answer within {profile.timeout_s:g} s"
    return None


def new_client(profile: Profile) -> KurrentDBClient:
    root_certificates = None
    if profile.ca_file and profile.tls:
        with open(profile.ca_file, "rb") as handle:
            root_certificates = handle.read()
    try:
        return ManagedClient(
            _client_url(profile),
            credentials=(profile.username, profile.password),
            root_certificates=root_certificates,
        )
    except ValueError:
        # kurrentdbclient's ValueError repeats the URL, password included.
        raise ValueError(f"{var(profile.name, 'URL')} was refused by kurrentdbclient") from None


def _client_url(profile: Profile) -> str:
    """The client URL, with discovery bounded by our timeout unless the URL says otherwise.

    kurrentdbclient's defaults (10 attempts, 5 s gossip timeout each) would keep a
    worker busy for a minute when a cluster is unreachable; our own backoff retries.
    """
    parts = urlsplit(profile.client_url())
    query = parse_qsl(parts.query, keep_blank_values=True)
    given = {key.lower() for key, _ in query}
    if "maxdiscoverattempts" not in given:
        query.append(("MaxDiscoverAttempts", "1"))
    if "gossiptimeout" not in given:
        query.append(("GossipTimeout", str(max(1, math.ceil(profile.timeout_s)))))
    return urlunsplit(parts._replace(query=urlencode(query)))


def close_quietly(client: KurrentDBClient | None) -> None:
    if client is None:
        return
    try:
        client.close()
    except Exception:  # closing a broken channel must not hide the original problem
        log.debug("closing a KurrentDB client failed", exc_info=True)


def scrub(text: str, *profiles: Profile) -> str:
    """`text` with every password of `profiles` (default: all environments) replaced by ***."""
    if not profiles:
        profiles = tuple(_safe_profiles())
    for profile in profiles:
        for secret in profile.secrets():
            text = text.replace(secret, "***")
    return text


def _safe_profiles() -> Iterator[Profile]:
    for name in environments():
        with contextlib.suppress(Exception):
            yield get_profile(name)
