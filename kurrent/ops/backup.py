"""Backup and restore of event streams as JSON Lines (`kurrent_export`, `kurrent_import`).

One line per event, in $all order (or stream order for `--stream`):

    {"stream": "pool-…", "revision": 0, "event_id": "…", "type": "StreamCreated",
     "content_type": "application/json", "data": {…}, "metadata": {…},
     "recorded_at": "2026-…+00:00", "commit_position": 1234}

`data` and `metadata` hold the JSON value when the stored bytes are exactly its compact
encoding (every event we write); other bytes go to `data_base64` / `metadata_base64`,
so an import writes back byte for byte what was exported. Empty metadata is `null`.

Export skips what a reader of the stream could not see any more: events of erased
(tombstoned) or deleted streams and truncated revisions, which `$all` still holds until
a scavenge, and system events (types starting with `$`).

Import first checks every line (so a bad file changes nothing and the error names the
line), then appends stream by stream with each event's id and the revision it had,
expecting the revision before it. KurrentDB treats a re-sent event id at the same
expected revision as already written, so importing a file twice appends nothing the
second time, and an interrupted import resumes where it stopped. A stream erased in the
target stays erased: its events are skipped and counted.

Export and import stay in one module (a little over 500 lines): they share the line
format, and reading one beside the other is how a change to it stays symmetric.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from kurrentdbclient import NewEvent, RecordedEvent, StreamState
from kurrentdbclient.exceptions import (
    NotFoundError,
    StreamIsDeletedError,
    WrongCurrentVersionError,
)
from tqdm import tqdm

from kurrent.connection import allreads
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError
from kurrent.core.events import STREAM_PREFIXES

PAGE_SIZE = 1000
BATCH_EVENTS = 100  # events per append, at most
BATCH_BYTES = 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_REVISION = 2**63 - 2  # 2^63-1 is the tombstone's revision
CONTENT_TYPES = ("application/json", "application/octet-stream")
REQUIRED = ("stream", "revision", "event_id", "type")
OPTIONAL = (
    "content_type",
    "data",
    "data_base64",
    "metadata",
    "metadata_base64",
    "recorded_at",
    "commit_position",
)

Progress = Callable[[int], None]


def progress_bar(total: int | None, *, desc: str, unit: str, file: Any, enabled: bool) -> tqdm:
    """A tqdm bar on `file` (the command's stderr), off when asked or when not a terminal."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=file,
        disable=None if enabled else True,  # None: only on a terminal
        dynamic_ncols=True,
        leave=False,
    )


class BackupError(Exception):
    """A problem with the file or the selection, in words for the person running the command."""


# --- selection ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What to export: named streams, or streams whose names start with a prefix
    (a category `pool` is the prefix `pool-`). Empty: every stream of ours."""

    streams: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, streams: list[str] | None, prefixes: list[str] | None, categories: list[str] | None
    ) -> Selection:
        names = tuple(dict.fromkeys(s.strip() for s in streams or () if s.strip()))
        wanted = [p.strip() for p in prefixes or () if p.strip()]
        wanted += [f"{c.strip()}-" for c in categories or () if c.strip()]
        for name in (*names, *wanted):
            if name.startswith("$"):
                raise BackupError(f"{name!r} is a system stream name: only user streams export.")
        if names and wanted:
            raise BackupError("Choose streams or prefixes/categories, not both.")
        return cls(streams=names, prefixes=tuple(dict.fromkeys(wanted)))

    @property
    def filter_prefixes(self) -> tuple[str, ...]:
        return self.prefixes or STREAM_PREFIXES

    def describe(self) -> str:
        if self.streams:
            return f"{len(self.streams)} stream(s)"
        if self.prefixes:
            return "streams starting with " + ", ".join(repr(p) for p in self.prefixes)
        return "all of our streams (" + ", ".join(f"{p}*" for p in STREAM_PREFIXES) + ")"


# --- export --------------------------------------------------------------------------------------


@dataclass
class ExportSummary:
    events: int = 0
    streams: set[str] = field(default_factory=set)
    skipped_hidden: int = 0  # events of erased/deleted streams, or truncated revisions
    skipped_system: int = 0
    last_position: int = 0


def to_line(event: RecordedEvent) -> str:
    """One exported event as a JSON line (no newline)."""
    line: dict[str, Any] = {
        "stream": event.stream_name,
        "revision": event.stream_position,
        "event_id": str(event.id),
        "type": event.type,
        "content_type": event.content_type,
    }
    _put_bytes(line, "data", event.data, empty_as_null=False)
    _put_bytes(line, "metadata", event.metadata, empty_as_null=True)
    line["recorded_at"] = event.recorded_at.isoformat() if event.recorded_at else None
    line["commit_position"] = event.commit_position
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _put_bytes(line: dict[str, Any], name: str, raw: bytes, *, empty_as_null: bool) -> None:
    if not raw and empty_as_null:
        line[name] = None
        return
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        value = _NOT_JSON
    if value is not _NOT_JSON and _compact(value) == raw:
        line[name] = value  # _compact refused NaN, infinities and lone surrogates
    else:
        line[f"{name}_base64"] = base64.b64encode(raw).decode("ascii")


_NOT_JSON = object()


def _compact(value: Any) -> bytes | None:
    """The compact JSON of `value`; None for what a JSON line cannot hold as JSON (NaN,
    infinities, lone surrogates), which is then exported as the bytes stored."""
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except (ValueError, UnicodeEncodeError):
        return None


def head_position(env: str, selection: Selection) -> int:
    """The commit position of the newest selected event (for the progress bar)."""

    def read(client: Any, timeout: float) -> int:
        found = allreads.newest(client, timeout, selection.filter_prefixes)
        return found.commit_position if found else 0

    return connections.call(env, "export_head", read)


def export_events(
    env: str, selection: Selection, out: TextIO, progress: Progress | None = None
) -> ExportSummary:
    """Write the selected events of `env` to `out`, one JSON line each.

    `progress(n)` is called with the commit position reached ($all) or the number of
    events written (named streams)."""
    summary = ExportSummary()
    # A long read: it holds one of KURRENTDB_MAX_CONCURRENT_STREAMS (KurrentBusy when all
    # are taken), as the event browser and record histories do.
    with connections.stream_slot(env):
        _export(env, selection, out, progress, summary)
    return summary


def _export(
    env: str,
    selection: Selection,
    out: TextIO,
    progress: Progress | None,
    summary: ExportSummary,
) -> None:
    visible = _Visibility(env)
    events = _named_streams(env, selection.streams) if selection.streams else None
    if events is None:
        events = _all_events(env, selection.filter_prefixes)
    for event in events:
        summary.last_position = max(summary.last_position, event.commit_position or 0)
        if event.type.startswith("$"):
            summary.skipped_system += 1
        elif not visible.shows(event):
            summary.skipped_hidden += 1
        else:
            out.write(to_line(event))
            out.write("\n")
            summary.events += 1
            summary.streams.add(event.stream_name)
        if progress is not None:
            progress(summary.events if selection.streams else summary.last_position)


def _all_events(env: str, prefixes: tuple[str, ...]) -> Iterator[RecordedEvent]:
    position = 0
    while True:
        page = connections.call(
            env,
            "export_read",
            lambda client, timeout, after=position: allreads.read_after(
                client, timeout, after, prefixes, PAGE_SIZE
            ),
        )
        if not page:
            return
        yield from page
        position = page[-1].commit_position


def _named_streams(env: str, names: tuple[str, ...]) -> Iterator[RecordedEvent]:
    for name in names:
        revision: int | None = None
        while True:
            try:
                page = connections.call(
                    env,
                    "export_read",
                    lambda client, timeout, name=name, start=revision: client.get_stream(
                        name, stream_position=start, limit=PAGE_SIZE, timeout=timeout
                    ),
                )
            except NotFoundError:
                raise BackupError(f"There is no stream {name!r} in {env}.") from None
            except StreamIsDeletedError:
                raise BackupError(
                    f"The stream {name!r} was erased (tombstoned) in {env}."
                ) from None
            yield from page
            if len(page) < PAGE_SIZE:
                break
            revision = page[-1].stream_position + 1


class _Visibility:
    """Which revisions of a stream a reader can still see, asked once per stream."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.first: dict[str, int | None] = {}

    def shows(self, event: RecordedEvent) -> bool:
        name = event.stream_name
        if name not in self.first:
            self.first[name] = self._first_visible(name)
        first = self.first[name]
        return first is not None and event.stream_position >= first

    def _first_visible(self, name: str) -> int | None:
        try:
            found = connections.call(
                self.env,
                "export_check",
                lambda client, timeout: client.get_stream(name, limit=1, timeout=timeout),
            )
        except (NotFoundError, StreamIsDeletedError):
            return None
        return found[0].stream_position if found else None


# --- import: reading and checking the file --------------------------------------------------------


@dataclass(frozen=True)
class FileEvent:
    line: int
    stream: str
    revision: int
    event: NewEvent

    @property
    def size(self) -> int:
        return len(self.event.data) + len(self.event.metadata) + len(self.stream) + 100


def parse_line(number: int, text: str) -> FileEvent:
    """One line of an export file, checked; BackupError names the line and the problem."""

    def bad(message: str) -> BackupError:
        return BackupError(f"line {number}: {message}")

    if len(text) > MAX_LINE_BYTES:
        raise bad(f"longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB")
    try:
        item = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise bad("not valid JSON (nested too deeply)") from None
    if not isinstance(item, dict):
        raise bad("expected a JSON object with stream, revision, event_id, type and data")
    missing = [k for k in REQUIRED if k not in item]
    if missing:
        raise bad("missing " + ", ".join(repr(k) for k in missing))
    unknown = sorted(set(item) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise bad("unknown field " + ", ".join(repr(k) for k in unknown))

    stream = item["stream"]
    if not isinstance(stream, str) or not stream.strip() or len(stream) > 1000:
        raise bad("'stream' must be a stream name (text, 1-1000 characters)")
    if stream.startswith("$"):
        raise bad(f"'stream' {stream[:60]!r} is a system stream; only user streams import")
    revision = item["revision"]
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise bad("'revision' must be a whole number")
    if not 0 <= revision <= MAX_REVISION:
        raise bad(f"'revision' must be between 0 and {MAX_REVISION}")
    try:
        event_id = uuid.UUID(str(item["event_id"]))
    except ValueError:
        raise bad("'event_id' must be a UUID") from None
    if not isinstance(item["event_id"], str):
        raise bad("'event_id' must be a UUID")
    event_type = item["type"]
    if not isinstance(event_type, str) or not event_type.strip() or len(event_type) > 500:
        raise bad("'type' must be an event type name (text, 1-500 characters)")
    if event_type.startswith("$"):
        raise bad(f"'type' {event_type[:60]!r} is a system event type")
    content_type = item.get("content_type", "application/json")
    if content_type not in CONTENT_TYPES:
        raise bad("'content_type' must be " + " or ".join(CONTENT_TYPES))
    data = _bytes_field(item, "data", bad, required=True)
    metadata = _bytes_field(item, "metadata", bad, required=False)
    if item.get("commit_position") is not None and (
        isinstance(item["commit_position"], bool) or not isinstance(item["commit_position"], int)
    ):
        raise bad("'commit_position' must be a whole number")
    if item.get("recorded_at") is not None and not isinstance(item["recorded_at"], str):
        raise bad("'recorded_at' must be text")
    return FileEvent(
        line=number,
        stream=stream,
        revision=revision,
        event=NewEvent(
            type=event_type,
            data=data,
            metadata=metadata,
            content_type=content_type,
            id=event_id,
        ),
    )


def _bytes_field(
    item: dict[str, Any], name: str, bad: Callable[[str], BackupError], *, required: bool
) -> bytes:
    encoded = f"{name}_base64"
    if name in item and encoded in item:
        raise bad(f"give {name!r} or {encoded!r}, not both")
    if encoded in item:
        if not isinstance(item[encoded], str):
            raise bad(f"{encoded!r} must be base64 text")
        try:
            return base64.b64decode(item[encoded], validate=True)
        except (binascii.Error, ValueError):
            raise bad(f"{encoded!r} is not valid base64") from None
    if name not in item:
        if required:
            raise bad(f"missing {name!r} (or {encoded!r})")
        return b""
    if item[name] is None and not required:
        return b""
    compact = _compact(item[name])
    if compact is None:
        raise bad(f"{name!r} holds NaN, an infinity or a lone surrogate: use {encoded!r}")
    return compact


@dataclass
class FileCheck:
    events: int = 0
    streams: int = 0


def check_file(lines: TextIO) -> FileCheck:
    """Read the whole file once and check it: every line, event ids unique, and each
    stream's revisions consecutive. Raises BackupError at the first problem."""
    seen_ids: dict[int, int] = {}
    last_revision: dict[str, tuple[int, int]] = {}
    result = FileCheck()
    for number, event in _events(lines):
        key = event.event.id.int
        if key in seen_ids:
            raise BackupError(
                f"line {number}: event_id {event.event.id} is also on line {seen_ids[key]}"
            )
        seen_ids[key] = number
        previous = last_revision.get(event.stream)
        if previous is not None and event.revision != previous[0] + 1:
            raise BackupError(
                f"line {number}: stream {event.stream!r} jumps from revision {previous[0]} "
                f"(line {previous[1]}) to {event.revision}; each stream's events must be "
                "complete and in order"
            )
        last_revision[event.stream] = (event.revision, number)
        result.events += 1
    result.streams = len(last_revision)
    return result


def _events(lines: TextIO) -> Iterator[tuple[int, FileEvent]]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        yield number, parse_line(number, text)


# --- import: appending -------------------------------------------------------------------------


@dataclass
class ImportSummary:
    appended: int = 0
    present: int = 0  # already in the environment with the same id (an earlier import)
    skipped_erased: int = 0  # their stream is tombstoned in the environment
    streams: set[str] = field(default_factory=set)
    last_line: int = 0


class ImportStopped(BackupError):
    """The import stopped part way; `summary` says what was done before."""

    def __init__(self, message: str, summary: ImportSummary) -> None:
        super().__init__(message)
        self.summary = summary


def import_events(
    env: str, lines: TextIO, progress: Progress | None = None, summary: ImportSummary | None = None
) -> ImportSummary:
    """Append the file's events to `env` (check the file with `check_file` first).

    Raises ImportStopped when an event cannot be written as it was (another event holds
    its revision, the stream is behind, or KurrentDB stopped answering)."""
    summary = summary or ImportSummary()
    target = _Targets(env)
    batch: list[FileEvent] = []
    for _number, event in _events(lines):
        if batch and (
            event.stream != batch[0].stream
            or len(batch) >= BATCH_EVENTS
            or sum(e.size for e in batch) + event.size > BATCH_BYTES
        ):
            _write(env, batch, target, summary)
            if progress is not None:
                progress(len(batch))
            batch = []
        batch.append(event)
    if batch:
        _write(env, batch, target, summary)
        if progress is not None:
            progress(len(batch))
    return summary


class _Targets:
    """The current revision of each stream in the target environment (-1: none; None: erased)."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.revisions: dict[str, int | None] = {}

    def revision(self, stream: str) -> int | None:
        if stream not in self.revisions:
            try:
                current = connections.call(
                    self.env,
                    "import_check",
                    lambda client, timeout: client.get_current_version(stream, timeout=timeout),
                )
            except StreamIsDeletedError:
                self.revisions[stream] = None
            else:
                self.revisions[stream] = -1 if current is StreamState.NO_STREAM else int(current)
        return self.revisions[stream]


def _write(env: str, batch: list[FileEvent], targets: _Targets, summary: ImportSummary) -> None:
    stream = batch[0].stream
    first = batch[0]
    try:
        current = targets.revision(stream)
        if current is None:
            summary.skipped_erased += len(batch)
            summary.last_line = batch[-1].line
            return
        if first.revision > current + 1:
            raise ImportStopped(
                f"line {first.line}: stream {stream!r} is at revision {current} in {env}, but "
                f"the file continues it at revision {first.revision}: events before it are "
                "missing (a partial export?)",
                summary,
            )
        present = [e for e in batch if e.revision <= current]
        new = [e for e in batch if e.revision > current]
        if present:
            # Re-sent ids at their original expected revision: KurrentDB checks they are
            # the same events and writes nothing; another event there is a conflict.
            _append(env, present, expected=present[0].revision - 1)
            summary.present += len(present)
        if new:
            _append(env, new, expected=current)
            summary.appended += len(new)
            targets.revisions[stream] = new[-1].revision
    except WrongCurrentVersionError:
        raise ImportStopped(
            f"line {first.line}: stream {stream!r} in {env} holds other events at the "
            f"revisions of lines {first.line}-{batch[-1].line} (it was written to since, or "
            "the file comes from another history); nothing more was imported",
            summary,
        ) from None
    except StreamIsDeletedError:
        targets.revisions[stream] = None
        summary.skipped_erased += len(batch)
    except KurrentError as exc:
        raise ImportStopped(f"line {first.line}: {exc}", summary) from None
    summary.streams.add(stream)
    summary.last_line = batch[-1].line


def _append(env: str, events: list[FileEvent], *, expected: int) -> int:
    state: int | StreamState = StreamState.NO_STREAM if expected < 0 else expected
    stream = events[0].stream
    payload = [e.event for e in events]
    return connections.call(
        env,
        "import_append",
        lambda client, timeout: client.append_to_stream(
            stream, events=payload, current_version=state, timeout=timeout
        ),
    )
