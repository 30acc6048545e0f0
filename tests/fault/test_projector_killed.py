"""The projector killed (SIGKILL) in the middle of a rebuild, then started again: the read
model it ends with equals the one a clean rebuild makes, row for row, search included."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

from kurrentdbclient import KurrentDBClient, StreamState

from kurrent.core.events import (
    StreamCreated,
    StreamDeleted,
    StreamUpdated,
    UserDataStored,
    UserDataUpdated,
    encode,
    record_stream,
    userdata_stream,
)

RECORDS = 300
UPDATES = 29  # per record: 300 x 30 = 9,000 record events, a dozen rebuild batches
ENTRIES = 60
WORDS = ("emperor", "gentoo", "colony", "census", "update")

DUMP = (
    f"WORDS = {WORDS!r}\n"
    + """
import json
from kurrent.readmodel import search
from kurrent.models import Activity, ProjectionCheckpoint, RecordTag, StreamRecord, UserDataEntry

def rows(qs, *fields):
    return sorted([list(map(str, r)) for r in qs.values_list(*fields)])

record_fields = [f.name for f in StreamRecord._meta.fields if f.name not in ("id", "search_vector")]
entry_fields = [f.name for f in UserDataEntry._meta.fields if f.name != "id"]
activity_fields = [f.name for f in Activity._meta.fields if f.name != "id"]
ids = dict(StreamRecord.objects.values_list("pk", "record_id"))
found = {}
for word in WORDS:
    result = search.search([word], search.Filters(env="dev", viewer_id=None), offset=0, limit=5000)
    found[word] = [result.total, result.exact, sorted(str(ids[pk]) for pk in result.pks)]
print(json.dumps({
    "records": rows(StreamRecord.objects.filter(env="dev"), *record_fields),
    "tags": rows(RecordTag.objects.filter(record__env="dev"), "record__record_id", "tag"),
    "entries": rows(UserDataEntry.objects.filter(env="dev"), *entry_fields),
    "activity": rows(Activity.objects.filter(env="dev"), *activity_fields),
    "checkpoint": rows(ProjectionCheckpoint.objects.filter(env="dev"),
                       "position", "events_applied", "skipped_events", "last_event_at"),
    "search": found,
}))
"""
)


def write_history(url: str) -> int:
    """Records with long histories, a few deleted, and user data; returns the head position."""
    client = KurrentDBClient(uri=url)
    try:
        for n in range(RECORDS):
            actor = SimpleNamespace(pk=n % 3 + 1, username=f"user{n % 3 + 1}")
            record_id = str(uuid.UUID(int=n + 1))
            stream = record_stream(record_id)
            created = StreamCreated(
                record_id=record_id,
                name=f"{('Emperor', 'Gentoo', 'Adelie')[n % 3]} colony census {n}",
                data={"count": n, "note": f"colony {n % 7}"},
                tags=["census", f"t{n % 5}"],
                owner_id=actor.pk,
                owner=actor.username,
                is_public=n % 2 == 0,
                metadata={},
            )
            events = [encode(created, stream=stream, actor=actor, idempotency_key=None)]
            for u in range(UPDATES):
                changes = {"data": {"count": n + u, "note": f"update {u}"}}
                if u % 10 == 3:
                    changes["tags"] = ["census", f"t{(n + u) % 5}"]
                if u % 10 == 7:
                    changes["is_public"] = (n + u) % 2 == 0
                events.append(
                    encode(
                        StreamUpdated(record_id=record_id, changes=changes),
                        stream=stream,
                        actor=actor,
                        idempotency_key=None,
                    )
                )
            if n % 25 == 0:
                events.append(
                    encode(
                        StreamDeleted(record_id=record_id),
                        stream=stream,
                        actor=actor,
                        idempotency_key=None,
                    )
                )
            client.append_to_stream(stream, events=events, current_version=StreamState.NO_STREAM)
        for n in range(ENTRIES):
            actor = SimpleNamespace(pk=n % 3 + 1, username=f"user{n % 3 + 1}")
            entry_id = str(uuid.UUID(int=10_000 + n))
            stream = userdata_stream(actor.pk, entry_id)
            stored = UserDataStored(
                entry_id=entry_id,
                owner_id=actor.pk,
                owner=actor.username,
                entry_type="data",
                category=f"sightings {n}",
                value={"count": n},
                tags=["field"],
                is_public=n % 2 == 1,
            )
            updated = UserDataUpdated(entry_id=entry_id, changes={"value": {"count": n * 2}})
            client.append_to_stream(
                stream,
                events=[
                    encode(stored, stream=stream, actor=actor, idempotency_key=None),
                    encode(updated, stream=stream, actor=actor, idempotency_key=None),
                ],
                current_version=StreamState.NO_STREAM,
            )
        return client.get_commit_position()
    finally:
        client.close()


def checkpoint(fs) -> int | None:
    found = fs.query("SELECT position FROM kurrent_projectioncheckpoint WHERE env='dev'")
    return found[0][0] if found else None


def test_projector_killed_mid_rebuild_then_restarted(fault_site):
    fs = fault_site
    node = fs.start_node()
    head = write_history(node.url)
    fs.site.python("from kurrent.readmodel import projector\nprojector.catch_up('dev')")
    assert checkpoint(fs) == head

    killed_at = None
    for _attempt in range(3):  # a loaded machine might finish a rebuild between two looks
        with fs.site.process(
            "from kurrent.readmodel import projector\nprojector.rebuild('dev')"
        ) as rebuild:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and rebuild.process.poll() is None:
                position = checkpoint(fs)
                if position is not None and 0 < position < head:
                    rebuild.kill()  # SIGKILL, mid-rebuild
                    killed_at = position
                    break
                time.sleep(0.005)
        if killed_at is not None:
            break
    assert killed_at is not None, "never caught the rebuild in the middle"
    assert 0 < checkpoint(fs) < head
    partial = json.loads(fs.site.python(DUMP))
    assert len(partial["activity"]) < RECORDS * (UPDATES + 1)

    # Started again: the projector resumes from the checkpoint the kill left.
    fs.site.python("from kurrent.readmodel import projector\nprojector.catch_up('dev')")
    resumed = json.loads(fs.site.python(DUMP))

    fs.site.python("from kurrent.readmodel import projector\nprojector.rebuild('dev')")
    clean = json.loads(fs.site.python(DUMP))

    assert len(clean["records"]) == RECORDS
    assert len(clean["entries"]) == ENTRIES
    assert clean["checkpoint"][0][0] == str(head)
    assert all(clean["search"][w][0] > 0 for w in ("emperor", "census"))
    for part in clean:
        assert resumed[part] == clean[part], f"{part} differs after the restart"
