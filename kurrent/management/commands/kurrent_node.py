"""Run the embedded KurrentDB-compatible node in the foreground (development)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Run the embedded KurrentDB-compatible node (insecure, for development) on "
        "KURRENTDB_EMBEDDED_HOST:KURRENTDB_EMBEDDED_PORT, keeping events in KURRENTDB_EMBEDDED_DB. "
        "Ctrl-C or SIGTERM stops it cleanly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.KURRENTDB_EMBEDDED_HOST)
        parser.add_argument("--port", type=int, default=settings.KURRENTDB_EMBEDDED_PORT)
        parser.add_argument(
            "--db", default=settings.KURRENTDB_EMBEDDED_DB, help='SQLite file, or ":memory:"'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from kurrent.embedded import EmbeddedNode, NodeError

        db = str(options["db"])
        if db != ":memory:":
            try:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CommandError(
                    f"cannot create the data folder for {db}: {exc.strerror}"
                ) from None
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        node = EmbeddedNode(db=db, host=options["host"], port=options["port"], insecure=True)
        try:
            node.start()
        except (NodeError, OSError) as exc:
            raise CommandError(
                f"the embedded node did not start: {exc} "
                "(is another node on that port? set KURRENTDB_EMBEDDED_PORT)"
            ) from None
        self.stdout.write(
            f"Embedded KurrentDB node listening at {node.url} (data: {db}). Ctrl-C stops it."
        )
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            node.stop()
        self.stdout.write("Embedded KurrentDB node stopped.")
