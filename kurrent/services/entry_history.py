"""An entry's history, past versions and diffs, read from its stream (as records' are),
so they stay readable after a delete, to those allowed to see the entry."""

from __future__ import annotations

from typing import Any

from kurrent.core.domain import (
    Entry,
    HistoryEntry,
    clean_version,
    decode_all,
    entry_changes,
    fold_all,
    fold_entry,
    history,
)
from kurrent.core.errors import Forbidden, NotFound, ValidationError
from kurrent.core.events import userdata_stream
from kurrent.models import UserDataEntry
from kurrent.readmodel.visibility import may_see
from kurrent.services.common import (
    catch_up_quietly,
    env_name,
    parse_uuid,
    read_stream,
    require_reader,
)


def _entry_uuid(entry_id: Any) -> str:
    return parse_uuid(entry_id, "There is no such entry.")


def entry_history(actor: Any, entry_id: str, env: str | None = None) -> list[HistoryEntry]:
    """Every event of the entry, oldest first, with actor, time and what changed; read
    from its stream, so it stays readable after a delete (to those allowed)."""
    require_reader(actor)
    env = env_name(env)
    envelopes = _readable_stream(actor, env, _entry_uuid(entry_id))
    return history(envelopes, env=env, fold=fold_entry, changes=entry_changes)


def entry_at_version(actor: Any, entry_id: str, version: int, env: str | None = None) -> Entry:
    """The entry as it was right after the event at `version`."""
    require_reader(actor)
    env = env_name(env)
    version = clean_version("version", version)
    envelopes = _readable_stream(actor, env, _entry_uuid(entry_id))
    state = fold_all([e for e in envelopes if e.revision <= version], env=env, fold=fold_entry)
    if state is None or version > envelopes[-1].revision:
        raise ValidationError("version", f"this entry has versions 0 to {envelopes[-1].revision}")
    return state


def diff_entry_versions(
    actor: Any, entry_id: str, from_version: int, to_version: int, env: str | None = None
) -> dict[str, dict[str, Any]]:
    """field -> {"old", "new"} between two versions of the entry."""
    require_reader(actor)
    env = env_name(env)
    start = clean_version("from_version", from_version)
    end = clean_version("to_version", to_version)
    envelopes = _readable_stream(actor, env, _entry_uuid(entry_id))
    last = envelopes[-1].revision
    for field_name, value in (("from_version", start), ("to_version", end)):
        if value > last:
            raise ValidationError(field_name, f"this entry has versions 0 to {last}")
    old = fold_all([e for e in envelopes if e.revision <= start], env=env, fold=fold_entry)
    new = fold_all([e for e in envelopes if e.revision <= end], env=env, fold=fold_entry)
    return entry_changes(old, new)


def _readable_stream(actor: Any, env: str, entry_id: str) -> list[Any]:
    row = UserDataEntry.objects.filter(env=env, entry_id=entry_id).first()
    if row is None:
        catch_up_quietly(env)
        row = UserDataEntry.objects.filter(env=env, entry_id=entry_id).first()
    if row is None:
        raise NotFound("There is no such entry.")
    stream = userdata_stream(row.owner_id, entry_id)
    envelopes = decode_all(read_stream(env, stream, "There is no such entry."))
    current = fold_all(envelopes, env=env, fold=fold_entry)
    if current is None:
        raise NotFound("There is no such entry.")
    if not may_see(actor, current):
        raise Forbidden("This entry is private.")
    return envelopes
