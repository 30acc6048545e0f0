"""`python -m kurrent.embedded`: run the embedded KurrentDB-compatible node."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .server import DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_SUBSCRIPTIONS, EmbeddedNode, NodeError

READY = "KurrentDB-compatible node listening on {host}:{port} ({mode})"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _user(value: str) -> tuple[str, str]:
    name, colon, password = value.partition(":")
    if not colon or not name or not password:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD, got {value!r}")
    return name, password


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return number


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m kurrent.embedded",
        description="Run a single-node KurrentDB-compatible gRPC server backed by SQLite.",
        epilog="When ready it prints: KurrentDB-compatible node listening on HOST:PORT "
        "(insecure|tls). SIGINT/SIGTERM stop it cleanly.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=2113,
        help="port to listen on (default 2113; 0 picks a free port)",
    )
    parser.add_argument(
        "--db",
        default=":memory:",
        help="SQLite database file (default :memory:, which keeps nothing)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="serve plaintext gRPC without authentication (connect with ?Tls=false)",
    )
    parser.add_argument(
        "--cert",
        help="TLS certificate chain (PEM); without --cert/--key a self-signed one is generated into the data folder",
    )
    parser.add_argument("--key", help="TLS private key (PEM), with --cert")
    parser.add_argument(
        "--user",
        action="append",
        type=_user,
        metavar="NAME:PASSWORD",
        help="a user allowed in over TLS (repeatable; default admin:changeit and ops:changeit)",
    )
    parser.add_argument(
        "--data-dir",
        help="folder for the generated certificate (default: the database's folder, or a temporary one)",
    )
    parser.add_argument(
        "--max-event-bytes",
        type=_positive,
        default=DEFAULT_MAX_EVENT_BYTES,
        help="largest event accepted, in bytes (default 16 MiB, as KurrentDB)",
    )
    parser.add_argument(
        "--advertise-host",
        help="address announced by gossip (default: --host, or localhost for a wildcard)",
    )
    parser.add_argument(
        "--max-subscriptions",
        type=_positive,
        default=DEFAULT_MAX_SUBSCRIPTIONS,
        help="catch-up subscriptions open at once; past it a new one gets RESOURCE_EXHAUSTED"
        f" (default {DEFAULT_MAX_SUBSCRIPTIONS:,})",
    )
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="do not fsync each commit (faster, loses the last writes on power loss)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level on stderr (default WARNING)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if (args.cert is None) != (args.key is None):
        print(
            "python -m kurrent.embedded: error: give both --cert and --key, or neither",
            file=sys.stderr,
        )
        return 2
    if args.insecure and args.cert:
        print(
            "python -m kurrent.embedded: error: --cert/--key make no sense with --insecure",
            file=sys.stderr,
        )
        return 2
    node = EmbeddedNode(
        db=args.db,
        host=args.host,
        port=args.port,
        insecure=args.insecure,
        users=dict(args.user) if args.user else None,
        cert_file=args.cert,
        key_file=args.key,
        data_dir=args.data_dir,
        max_event_bytes=args.max_event_bytes,
        advertise_host=args.advertise_host,
        max_subscriptions=args.max_subscriptions,
        durable=not args.no_fsync,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        node.start()
    except (NodeError, OSError) as error:
        print(f"python -m kurrent.embedded: error: {error}".splitlines()[0], file=sys.stderr)
        return 2
    if node.cert_path:
        print(f"TLS certificate: {node.cert_path}", flush=True)
    print(
        READY.format(host=args.host, port=node.port, mode="insecure" if args.insecure else "tls"),
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
