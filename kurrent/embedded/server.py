"""EmbeddedNode: the storage plus the gRPC services, on an asyncio event loop in one thread.

The gRPC server is `grpc.aio`: every call is a coroutine on the loop, so an open subscription
holds no thread (a thread-per-call server froze once its pool was taken by idle
subscriptions). Blocking work (SQLite) runs on a small pool of worker threads (`io_threads`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from grpc import aio
from kurrentdbclient.protos.v1 import gossip_pb2_grpc
from kurrentdbclient.protos.v2.streams import streams_pb2_grpc as v2_streams_pb2_grpc

from . import features, persistent
from .auth import BasicAuthInterceptor
from .gossip import GossipServicer
from .hub import Hub
from .storage import Store
from .streams import StreamsServicer
from .streams import add_to_server as add_streams_to_server
from .tls import ensure_self_signed
from .unimplemented import refusing_handlers
from .v2 import V2StreamsServicer

log = logging.getLogger(__name__)

DEFAULT_USERS = {"admin": "changeit", "ops": "changeit"}
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_SUBSCRIPTIONS = 10_000
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - recognised, not bound by default


class NodeError(Exception):
    """The node cannot start (bad settings, port in use); the message is one line."""


class EmbeddedNode:
    """A KurrentDB-compatible node serving gRPC in this process (background threads)."""

    def __init__(
        self,
        db: str = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        insecure: bool = True,
        users: dict[str, str] | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        data_dir: str | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        *,
        advertise_host: str | None = None,
        io_threads: int = 8,
        max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
        durable: bool = True,
    ) -> None:
        if max_event_bytes < 1:
            raise NodeError("max_event_bytes must be at least 1")
        if max_subscriptions < 0 or io_threads < 1:
            raise NodeError("max_subscriptions must be at least 0 and io_threads at least 1")
        if (cert_file is None) != (key_file is None):
            raise NodeError("give both a certificate and a key file, or neither")
        self.db = str(db)
        self.host = host
        self.port = int(port)
        self.insecure = insecure
        self.users = dict(DEFAULT_USERS if users is None else users)
        if not insecure and not self.users:
            raise NodeError("a TLS node needs at least one user")
        self.cert_file = cert_file
        self.key_file = key_file
        self.data_dir = data_dir
        self.max_event_bytes = max_event_bytes
        self.advertise_host = advertise_host
        self.io_threads = io_threads
        self.max_subscriptions = max_subscriptions
        self.durable = durable
        self.cert_path: str | None = None
        self.root_certificates: bytes | None = None
        self.store: Store | None = None
        self.hub: Hub | None = None
        self._server: aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._tempdir: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> EmbeddedNode:
        if self._server is not None:
            return self
        credentials = None if self.insecure else self._tls_credentials()
        if self.db != ":memory:":
            Path(self.db).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.store = Store(self.db, durable=self.durable)
        except Exception as error:
            self._cleanup()
            raise NodeError(f"cannot open the database {self.db}: {error}") from error
        self._pool = ThreadPoolExecutor(self.io_threads, thread_name_prefix="kurrent-node-io")
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run_loop, name="kurrent-node-loop", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(credentials), loop).result()
        except BaseException:
            self._stop_loop()
            self.store.close()
            self.store = None
            self._cleanup()
            raise
        log.info("KurrentDB-compatible node listening on %s:%s", self.host, self.port)
        return self

    def _run_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        if self.hub is not None:
            self.hub.close()
            self.hub = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    async def _serve(self, credentials: grpc.ServerCredentials | None) -> None:
        receive_limit = max(64 * 1024 * 1024, 4 * self.max_event_bytes + 1024 * 1024)
        options = [
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", receive_limit),
            ("grpc.max_send_message_length", -1),
            # Accept client keepalive pings (KeepAliveInterval) instead of answering GOAWAY.
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 1000),
        ]
        interceptors = [] if self.insecure else [BasicAuthInterceptor(self.users)]
        server = aio.server(interceptors=interceptors, options=options)
        assert self.store is not None and self._pool is not None
        self.hub = Hub(self.store, asyncio.get_running_loop(), self.max_subscriptions)
        streams = StreamsServicer(
            self.store, self.hub, self._pool, max_event_bytes=self.max_event_bytes
        )
        add_streams_to_server(streams, server)
        v2 = V2StreamsServicer(self.store, self._pool, max_event_bytes=self.max_event_bytes)
        v2_streams_pb2_grpc.add_StreamsServiceServicer_to_server(v2, server)
        server.add_generic_rpc_handlers((features.handlers(features.ServerFeaturesServicer()),))
        persistent.add_to_server(server)
        server.add_generic_rpc_handlers(refusing_handlers())
        bind_host = "[::]" if self.host in WILDCARDS else self.host
        if ":" in bind_host and not bind_host.startswith("["):
            bind_host = f"[{bind_host}]"
        address = f"{bind_host}:{self.port}"
        _check_free(bind_host.strip("[]"), self.port, address)
        try:
            if credentials is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, credentials)
        except RuntimeError as error:
            raise NodeError(f"cannot listen on {address}: {error}") from error
        if not port:
            raise NodeError(f"cannot listen on {address}: address in use or not available")
        self.port = port
        if self.host in ("127.0.0.1", "localhost"):
            self._also_bind_ipv6_loopback(server, port, credentials)
        gossip = GossipServicer(self.public_host, port)
        gossip_pb2_grpc.add_GossipServicer_to_server(gossip, server)
        await server.start()
        self._server = server

    @staticmethod
    def _also_bind_ipv6_loopback(server, port: int, credentials) -> None:
        """`localhost` may resolve to ::1 first; serve there too when it is free."""
        try:
            _check_free("::1", port, f"[::1]:{port}")
        except NodeError:
            return
        try:
            if credentials is None:
                server.add_insecure_port(f"[::1]:{port}")
            else:
                server.add_secure_port(f"[::1]:{port}", credentials)
        except RuntimeError:
            log.info("not serving on [::1]:%s", port)

    def _tls_credentials(self) -> grpc.ServerCredentials:
        if self.cert_file and self.key_file:
            cert_path, key_path = Path(self.cert_file), Path(self.key_file)
        else:
            folder = self.data_dir
            if folder is None and self.db != ":memory:":
                folder = str(Path(self.db).expanduser().resolve().parent)
            if folder is None:
                folder = self._tempdir = tempfile.mkdtemp(prefix="kurrent-node-tls-")
            cert_path, key_path = ensure_self_signed(folder, self.public_host)
        try:
            chain, key = cert_path.read_bytes(), key_path.read_bytes()
        except OSError as error:
            raise NodeError(f"cannot read the certificate or key: {error}") from error
        self.cert_path = str(cert_path)
        self.root_certificates = chain
        return grpc.ssl_server_credentials([(key, chain)])

    def stop(self, grace: float = 1.0) -> None:
        """Stop serving (open calls are cancelled after `grace` seconds), then close the db."""
        server, self._server = self._server, None
        loop = self._loop
        if server is not None and loop is not None:
            asyncio.run_coroutine_threadsafe(server.stop(grace), loop).result(grace + 10)
        self._stop_loop()
        if self.store is not None:
            self.store.close()
            self.store = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> EmbeddedNode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def public_host(self) -> str:
        """The host clients should use (and gossip advertises)."""
        return self.advertise_host or client_host(self.host, insecure=self.insecure)

    @property
    def url(self) -> str:
        return connection_url(self.public_host, self.port, insecure=self.insecure, users=self.users)

    @property
    def running(self) -> bool:
        return self._server is not None


def _check_free(host: str, port: int, address: str) -> None:
    """Fail with one clear line when the port is taken (grpc would log a multi-line error)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise NodeError(f"cannot listen on {address}: {error.strerror}") from error
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as error:
                raise NodeError(f"cannot listen on {address}: {error.strerror}") from error


def client_host(host: str, *, insecure: bool) -> str:
    """The address a client on this machine uses for a node listening on `host`."""
    if host in WILDCARDS:
        return "127.0.0.1" if insecure else "localhost"
    return host


def connection_url(host: str, port: int, *, insecure: bool, users: dict[str, str]) -> str:
    """A kurrentdbclient connection string for the node (TLS: the first user's credentials).

    The client does not percent-decode user info, so credentials go in as they are.
    """
    ipv6 = ":" in host and not host.startswith("[")
    bracketed = f"[{host}]" if ipv6 else host
    if insecure:
        return f"kurrentdb://{bracketed}:{port}?Tls=false"
    user, password = next(iter(users.items()))
    tls_host = "localhost" if host in ("127.0.0.1", "::1") else bracketed
    return f"kurrentdb://{user}:{password}@{tls_host}:{port}"
