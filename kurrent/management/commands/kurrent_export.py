"""Export an environment's streams (all of ours, or a selection) to a JSON Lines file."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kurrent.connection.config import active_environment, environments
from kurrent.core.errors import KurrentError
from kurrent.ops import backup


class Command(BaseCommand):
    help = (
        "Write the events of an environment to a JSON Lines file (one event a line: stream, "
        "revision, event_id, type, data, metadata, recorded_at), for kurrent_import. "
        "By default every stream of ours (pool-, userdata-, erasure-); or pick with "
        "--stream, --prefix or --category. '-' writes to standard output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("output", help="file to write ('-' for standard output)")
        parser.add_argument("--env", choices=environments(), help="default: the active one")
        parser.add_argument(
            "--stream", action="append", metavar="NAME", help="one stream (repeatable)"
        )
        parser.add_argument(
            "--prefix", action="append", metavar="TEXT", help="streams starting with TEXT"
        )
        parser.add_argument(
            "--category",
            action="append",
            metavar="NAME",
            help="streams of a category, e.g. 'pool' for pool-<id>",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        env = options["env"] or active_environment()
        try:
            selection = backup.Selection.build(
                options["stream"], options["prefix"], options["category"]
            )
        except backup.BackupError as exc:
            raise CommandError(str(exc), returncode=2) from None
        output = options["output"]
        to_stdout = output == "-"
        report = self.stderr if to_stdout else self.stdout
        started = time.monotonic()
        try:
            total = None if selection.streams else backup.head_position(env, selection)
            with _target(output, getattr(self.stdout, "_out", sys.stdout)) as out:
                bar = backup.progress_bar(
                    total or None,
                    desc=f"export {env}",
                    unit="pos" if total else "event",
                    file=getattr(self.stderr, "_out", sys.stderr),
                    enabled=not options["no_progress"],
                )
                with bar:
                    summary = backup.export_events(
                        env, selection, out, progress=lambda n: bar.update(n - bar.n)
                    )
        except backup.BackupError as exc:
            raise CommandError(str(exc), returncode=1) from None
        except KurrentError as exc:
            raise CommandError(
                f"Export stopped, nothing was written: {exc}", returncode=1
            ) from None
        where = "standard output" if to_stdout else output
        skipped = ""
        if summary.skipped_hidden:
            skipped = (
                f" Skipped {summary.skipped_hidden} event(s) of erased or deleted streams "
                "(readers cannot see them any more)."
            )
        report.write(
            f"Exported {summary.events} event(s) of {len(summary.streams)} stream(s) "
            f"({selection.describe()}) from {env} to {where} in "
            f"{time.monotonic() - started:.1f} s.{skipped}"
        )


@contextlib.contextmanager
def _target(output: str, stdout: TextIO) -> Iterator[TextIO]:
    """Standard output, or a temporary file renamed over `output` only when complete."""
    if output == "-":
        yield stdout
        stdout.flush()
        return
    path = Path(output)
    if path.is_dir():
        raise backup.BackupError(f"{output} is a folder: name a file to write.")
    if not path.parent.exists():
        raise backup.BackupError(f"The folder {path.parent} does not exist.")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
