"""Rebuild an environment's read model from the start of $all."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from kurrent.connection.config import active_environment, environments
from kurrent.core.errors import KurrentError
from kurrent.models import ProjectionCheckpoint
from kurrent.readmodel import projector


class Command(BaseCommand):
    help = (
        "Empty the read model of one environment and replay every event of ours in $all "
        "from the start (with a progress bar). Ends with the same tables as incremental "
        "projection; a live projector may keep running meanwhile."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--env", choices=environments(), help="the environment (default: the active one)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> str:
        env = options["env"] or active_environment()
        bar = tqdm(
            total=0,
            unit=" pos",
            desc=f"rebuilding {env}",
            disable=options["no_progress"] or options["verbosity"] == 0,
            file=self.stderr._out,
        )

        def progress(position: int, head: int, applied: int) -> None:
            bar.total = head
            bar.n = position
            bar.set_postfix(events=applied, refresh=False)
            bar.refresh()

        started = time.monotonic()
        try:
            applied = projector.rebuild(env, progress=progress)
        except KurrentError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        checkpoint = ProjectionCheckpoint.objects.get(env=env)
        return (
            f"Rebuilt {env}: {applied} event(s) applied, {checkpoint.skipped_events} skipped, "
            f"in {time.monotonic() - started:.1f} s; checkpoint at {checkpoint.position}."
        )
