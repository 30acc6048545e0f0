"""Append the events of a kurrent_export file to an environment, then catch the read model up."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from kurrent.connection.config import PRODUCTION, active_environment, environments
from kurrent.core.errors import KurrentError
from kurrent.ops import backup
from kurrent.readmodel import projector


class Command(BaseCommand):
    help = (
        "Append the events of a JSON Lines file written by kurrent_export to an environment, "
        "keeping their event ids and revisions: running it twice appends nothing new, and an "
        "interrupted import resumes. Every line is checked before anything is written. "
        "Afterwards the read model is caught up."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", help="a file written by kurrent_export")
        parser.add_argument("--env", choices=environments(), help="default: the active one")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file only, write nothing"
        )
        parser.add_argument(
            "--yes", action="store_true", help=f"confirm an import into {PRODUCTION} (production)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        env = options["env"] or active_environment()
        path = options["input"]
        if env == PRODUCTION and not options["yes"] and not options["dry_run"]:
            raise CommandError(
                f"{env} is production: add --yes to import into it (or --dry-run to check "
                "the file).",
                returncode=2,
            )
        started = time.monotonic()
        try:
            with open(path, encoding="utf-8") as handle:
                check = backup.check_file(handle)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.", returncode=2) from None
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path} is not UTF-8 text (byte {exc.start}); nothing was imported.", returncode=1
            ) from None
        except backup.BackupError as exc:
            raise CommandError(f"{path}, {exc}. Nothing was imported.", returncode=1) from None
        if options["dry_run"]:
            self.stdout.write(
                f"{path} is valid: {check.events} event(s) of {check.streams} stream(s). "
                "Nothing was imported (--dry-run)."
            )
            return

        summary = backup.ImportSummary()
        bar = backup.progress_bar(
            check.events,
            desc=f"import {env}",
            unit="event",
            file=getattr(self.stderr, "_out", sys.stderr),
            enabled=not options["no_progress"],
        )
        try:
            with bar, open(path, encoding="utf-8") as handle:
                backup.import_events(env, handle, progress=bar.update, summary=summary)
        except backup.ImportStopped as exc:
            raise CommandError(
                f"Import stopped at {exc}. {_counts(exc.summary)} before it stopped; run the "
                "same command again to resume (events already written are recognised by "
                "their ids).",
                returncode=1,
            ) from None

        caught_up = ""
        try:
            applied = projector.catch_up(env)
        except (KurrentError, DatabaseError) as exc:
            caught_up = f" The read model is not caught up yet ({exc}); the projector will do it."
        else:
            caught_up = f" The read model is caught up ({applied} event(s) processed)."
        self.stdout.write(
            f"Imported {path} into {env}: {_counts(summary)}, in {len(summary.streams)} "
            f"stream(s), in {time.monotonic() - started:.1f} s.{caught_up}"
        )


def _counts(summary: backup.ImportSummary) -> str:
    text = f"{summary.appended} event(s) appended, {summary.present} already there"
    if summary.skipped_erased:
        text += f", {summary.skipped_erased} skipped (their stream is erased here)"
    return text
