"""Keep the read model in step with KurrentDB: once, or live until stopped.

By default every configured environment is projected (dev always is: with no URL it
uses the embedded node); `--env X`, repeatable, narrows it. Live, each environment
has its own thread and subscription, so one whose node is down or hangs never holds
up the others: it reconnects with its own backoff while they keep following.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from kurrent.connection.config import environments, get_profile, var
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError
from kurrent.readmodel import projector


def configured_environments() -> list[str]:
    """The environments that have a KurrentDB to follow, in the order dev, staging, test,
    mainnet (none while KURRENTDB_ENABLED is false)."""
    if not settings.KURRENTDB_ENABLED:
        return []
    return [name for name in environments() if get_profile(name).is_configured]


def follow(
    envs: Sequence[str],
    stop: threading.Event,
    *,
    idle_timeout: float = 0.5,
    run: Callable[..., None] | None = None,
) -> list[threading.Thread]:
    """Start one live projector thread per environment; returns them, running.

    Each thread runs `projector.run_live(env, stop)` (or `run`) and closes its own
    database connection when it ends, so a long-lived process leaks none.
    """
    target = run or projector.run_live

    def live(env: str) -> None:
        try:
            target(env, stop, idle_timeout=idle_timeout)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=live, args=(env,), name=f"projector-live-{env}", daemon=True)
        for env in envs
    ]
    for thread in threads:
        thread.start()
    return threads


@contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` while inside; the previous handlers come back after.
    Handlers can only be set from the main thread: elsewhere (a test), `stop` alone ends it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, lambda *_: stop.set())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Command(BaseCommand):
    help = (
        "Apply the events in KurrentDB's $all beyond the read model's checkpoint, for every "
        "configured environment (or those named by --env). --once (the default) catches up "
        "and exits; --live then follows new events with one catch-up subscription per "
        "environment, each reconnecting on its own, until Ctrl-C or SIGTERM."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="catch up and exit (default)")
        mode.add_argument("--live", action="store_true", help="keep following new events")
        parser.add_argument(
            "--env",
            action="append",
            choices=environments(),
            help="an environment to project; repeatable (default: every configured one)",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        envs = self._selected(options["env"])
        if options["live"]:
            return self._live(envs)
        return self._once(envs)

    def _selected(self, named: list[str] | None) -> list[str]:
        configured = configured_environments()
        if not named:
            return configured
        if not settings.KURRENTDB_ENABLED:
            raise CommandError("KurrentDB is switched off (KURRENTDB_ENABLED is false).")
        missing = [name for name in named if name not in configured]
        if missing:
            raise CommandError(
                "; ".join(f"{name} has no KurrentDB: set {var(name, 'URL')}" for name in missing)
                + "."
            )
        return list(dict.fromkeys(named))  # named order, each once

    def _once(self, envs: list[str]) -> str:
        if not envs:
            raise CommandError("No KurrentDB environment is configured: nothing to catch up.")
        lines, failed = [], []
        for env in envs:
            started = time.monotonic()
            try:
                applied = projector.catch_up(env)
            except KurrentError as exc:
                failed.append(f"{env}: {exc}")
                continue
            lines.append(
                f"{env}: applied {applied} event(s) in {time.monotonic() - started:.1f} s; "
                f"checkpoint at {projector.checkpoint_position(env)}."
            )
        if failed:
            for line in lines:
                self.stdout.write(line)
            raise CommandError(" ".join(failed))
        return "\n".join(lines)

    def _live(self, envs: list[str]) -> str:
        stop = threading.Event()
        with _stopping_on_signals(stop):
            if not envs:
                # Stay up, idle: a supervisor such as `dev.py run` takes an exit for a failure.
                self.stdout.write("No KurrentDB environment is configured: nothing to follow.")
                self.stdout.flush()
                while not stop.wait(0.5):
                    pass
                return "Projector stopped."
            self.stdout.write(f"Projector following {', '.join(envs)} (Ctrl-C stops it).")
            self.stdout.flush()
            threads = follow(envs, stop)
            try:
                while not stop.wait(0.5):
                    if not any(thread.is_alive() for thread in threads):
                        break
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=10)
                connections.reset()  # close the channels now: a quick, clean exit
        positions = "; ".join(f"{env} at {projector.checkpoint_position(env)}" for env in envs)
        return f"Projector stopped: {positions}."
