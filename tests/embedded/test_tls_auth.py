"""TLS with a generated self-signed certificate, basic auth, gossip and discovery."""

from __future__ import annotations

import grpc
import pytest
from kurrentdbclient import KurrentDBClient, StreamState
from kurrentdbclient.common import handle_rpc_error
from kurrentdbclient.exceptions import (
    AccessDeniedError,
    GrpcError,
    ServiceUnavailableError,
    SSLError,
    UnauthenticatedError,
)
from kurrentdbclient.protos.v1 import gossip_pb2_grpc, shared_pb2, streams_pb2, streams_pb2_grpc

from kurrent.embedded import EmbeddedNode

from .helpers import events


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tls")
    with EmbeddedNode(
        insecure=False, users={"admin": "changeit", "pip": "s:cret"}, data_dir=str(data_dir)
    ) as node:
        yield node


def test_tls_node_serves_the_client_with_credentials(tls_node, stream):
    assert tls_node.url == f"kurrentdb://admin:changeit@localhost:{tls_node.port}"
    assert tls_node.root_certificates.startswith(b"-----BEGIN CERTIFICATE-----")
    client = KurrentDBClient(tls_node.url, root_certificates=tls_node.root_certificates)
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    assert len(client.get_stream(stream)) == 2
    client.close()
    # A password containing ":" works (split at the first colon); TlsCaFile in the URL works too.
    url = f"kurrentdb://pip:s:cret@127.0.0.1:{tls_node.port}?TlsCaFile={tls_node.cert_path}"
    other = KurrentDBClient(url)
    assert other.get_current_version(stream) == 1
    other.close()


@pytest.mark.parametrize("userinfo", ["admin:wrong", "nobody:changeit"])
def test_wrong_credentials_are_unauthenticated_everywhere(tls_node, userinfo):
    client = KurrentDBClient(
        f"kurrentdb://{userinfo}@localhost:{tls_node.port}",
        root_certificates=tls_node.root_certificates,
    )
    with pytest.raises(UnauthenticatedError):
        client.get_commit_position()
    with pytest.raises(UnauthenticatedError):
        client.append_to_stream("any", events=events(1), current_version=StreamState.ANY)
    with pytest.raises(UnauthenticatedError):
        client.read_gossip()
    client.close()
    with pytest.raises(UnauthenticatedError):
        KurrentDBClient(
            f"kurrentdb+discover://{userinfo}@localhost:{tls_node.port}",
            root_certificates=tls_node.root_certificates,
        )


def test_missing_credentials_are_denied_except_for_gossip(tls_node, stream):
    """The client never calls without credentials over TLS, so this uses its stubs directly."""
    channel = grpc.secure_channel(
        f"localhost:{tls_node.port}", grpc.ssl_channel_credentials(tls_node.root_certificates)
    )
    members = gossip_pb2_grpc.GossipStub(channel).Read(shared_pb2.Empty()).members
    assert [m.state for m in members] == [8]
    read = streams_pb2.ReadReq(
        options=streams_pb2.ReadReq.Options(
            stream=streams_pb2.ReadReq.Options.StreamOptions(
                stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()),
                start=shared_pb2.Empty(),
            ),
            count=1,
            no_filter=shared_pb2.Empty(),
        )
    )
    with pytest.raises(grpc.RpcError) as caught:
        list(streams_pb2_grpc.StreamsStub(channel).Read(read))
    assert isinstance(handle_rpc_error(caught.value), AccessDeniedError)
    channel.close()


def test_insecure_client_against_tls_and_untrusted_certificate(tls_node):
    plain = KurrentDBClient(
        f"kurrentdb://localhost:{tls_node.port}?Tls=false&MaxDiscoverAttempts=1"
    )
    with pytest.raises((ServiceUnavailableError, GrpcError)):
        plain.get_commit_position(timeout=5)
    plain.close()
    # No root certificates: the system store does not trust the node's certificate.
    untrusted = KurrentDBClient(f"kurrentdb://admin:changeit@127.0.0.1:{tls_node.port}")
    with pytest.raises(SSLError):
        untrusted.get_commit_position(timeout=5)
    untrusted.close()


def test_the_generated_certificate_is_reused_on_restart(tmp_path):
    with EmbeddedNode(insecure=False, data_dir=str(tmp_path)) as first:
        cert = first.root_certificates
    with EmbeddedNode(insecure=False, data_dir=str(tmp_path)) as second:
        assert second.root_certificates == cert
        assert second.cert_path == str(tmp_path / "node-cert.pem")
    assert oct((tmp_path / "node-key.pem").stat().st_mode & 0o777) == "0o600"


def test_gossip_and_discovery(node):
    client = KurrentDBClient(f"kurrentdb+discover://127.0.0.1:{node.port}?Tls=false")
    (member,) = client.read_gossip()
    assert (member.state, member.address, member.port) == (
        "NODE_STATE_LEADER",
        "127.0.0.1",
        node.port,
    )
    assert client.get_commit_position() >= 0
    client.close()


def test_persistent_subscription_groups_and_projections_are_refused_at_once(client):
    calls = [
        lambda: client.create_subscription_to_all("group", timeout=10),
        lambda: client.read_subscription_to_stream("group", "stream", timeout=10),
        lambda: client.create_projection(name="p", query="fromAll()", timeout=10),
        lambda: client.get_projection_state("p", timeout=10),
    ]
    for call in calls:
        with pytest.raises(GrpcError) as caught:
            call()
        assert "not supported by the embedded node" in str(caught.value)


def test_given_certificate_and_key_files_are_served(tmp_path, stream):
    from kurrent.embedded.tls import ensure_self_signed

    cert, key = ensure_self_signed(tmp_path / "pki", "localhost")
    with EmbeddedNode(insecure=False, cert_file=str(cert), key_file=str(key)) as node:
        assert node.cert_path == str(cert)
        client = KurrentDBClient(node.url, root_certificates=cert.read_bytes())
        client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
        assert client.get_current_version(stream) == 0
        client.close()
