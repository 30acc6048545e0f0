"""Keep the read model in step with KurrentDB: once, or live until stopped."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kurrent.connection.config import active_environment, environments
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError
from kurrent.readmodel import projector


class Command(BaseCommand):
    help = (
        "Apply the events in KurrentDB's $all beyond the read model's checkpoint. "
        "--once (the default) catches up and exits; --live then follows new events "
        "with a catch-up subscription, reconnecting on failure, until Ctrl-C or SIGTERM."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="catch up and exit (default)")
        mode.add_argument("--live", action="store_true", help="keep following new events")
        parser.add_argument(
            "--env", choices=environments(), help="the environment (default: the active one)"
        )

    def handle(self, *args: Any, **options: Any) -> str:
        env = options["env"] or active_environment()
        if options["live"]:
            return self._live(env)
        started = time.monotonic()
        try:
            applied = projector.catch_up(env)
        except KurrentError as exc:
            raise CommandError(str(exc)) from None
        status = projector.checkpoint_position(env)
        return (
            f"{env}: applied {applied} event(s) in {time.monotonic() - started:.1f} s; "
            f"checkpoint at {status}."
        )

    def _live(self, env: str) -> str:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"Projector following {env} (Ctrl-C stops it).")
        self.stdout.flush()
        try:
            projector.run_live(env, stop)
        finally:
            connections.reset()  # close the channel now: a quick, clean exit
        return f"Projector for {env} stopped at checkpoint {projector.checkpoint_position(env)}."
