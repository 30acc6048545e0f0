"""The event-sourced core in memory: event shapes, stream names, ids, and the folds.

No database and no node: these are the pure functions the projector and the
history views share.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from kurrentdbclient import RecordedEvent

from kurrent.core import domain, events
from kurrent.core.errors import ValidationError

ALICE = SimpleNamespace(username="alice", pk=7)


def _recorded(new_event, stream: str, revision: int, position: int) -> RecordedEvent:
    return RecordedEvent(
        type=new_event.type,
        data=new_event.data,
        metadata=new_event.metadata,
        content_type=new_event.content_type,
        id=new_event.id,
        stream_name=stream,
        stream_position=revision,
        commit_position=position,
        prepare_position=position,
        recorded_at=datetime(2030, 1, 1, tzinfo=UTC),
    )


def test_a_records_life_folds_into_its_state():
    record_id = str(uuid.uuid4())
    stream = events.record_stream(record_id)
    # Alice creates the record...
    created = events.StreamCreated(
        record_id=record_id,
        name="Census",
        data={"count": 1},
        tags=["a"],
        owner_id=7,
        owner="alice",
        is_public=False,
        metadata={},
    )
    # ...renames it and makes it public, then someone else's tool appends an event we do
    # not know, and finally she deletes it.
    updated = events.StreamUpdated(
        record_id=record_id, changes={"name": "Census 2", "is_public": True}
    )
    deleted = events.StreamDeleted(record_id=record_id)
    new_events = [
        events.encode(created, stream=stream, actor=ALICE, idempotency_key="k1"),
        events.encode(updated, stream=stream, actor=ALICE, idempotency_key="k2"),
    ]
    foreign = RecordedEvent(
        type="Audited",
        data=b"{}",
        metadata=b"",
        content_type="application/json",
        id=uuid.uuid4(),
        stream_name=stream,
        stream_position=2,
        commit_position=30,
        prepare_position=30,
    )
    recorded = [_recorded(e, stream, n, 10 * (n + 1)) for n, e in enumerate(new_events)]
    recorded.append(foreign)
    recorded.append(
        _recorded(
            events.encode(deleted, stream=stream, actor=ALICE, idempotency_key=None), stream, 3, 40
        )
    )

    envelopes = domain.decode_all(recorded)
    states = []
    state = None
    for envelope in envelopes:
        state = domain.fold_record(state, envelope)
        states.append(state)

    assert [s.version for s in states] == [0, 1, 2, 3]
    assert (states[0].name, states[0].is_public, states[0].owner) == ("Census", False, "alice")
    assert (states[1].name, states[1].is_public, states[1].data) == ("Census 2", True, {"count": 1})
    assert states[2].name == "Census 2" and envelopes[2].event is None  # unknown: version only
    assert states[3].deleted is True
    history = domain.history(envelopes)
    assert [h.event_type for h in history] == [
        "StreamCreated",
        "StreamUpdated",
        "Audited",
        "StreamDeleted",
    ]
    assert history[1].changes == {
        "name": {"old": "Census", "new": "Census 2"},
        "is_public": {"old": False, "new": True},
    }
    assert history[2].changes == {} and history[2].actor == ""
    assert history[0].actor == "alice"
    assert domain.diff(states[0], states[3]) == {
        "name": {"old": "Census", "new": "Census 2"},
        "is_public": {"old": False, "new": True},
        "deleted": {"old": False, "new": True},
    }


def test_event_ids_come_from_the_key_and_the_stream():
    a = events.event_id("pool-1", "key")
    assert a == events.event_id("pool-1", "key")
    assert a != events.event_id("pool-2", "key")
    assert a != events.event_id("pool-1", "other")
    assert events.event_id("pool-1", None) != events.event_id("pool-1", None)  # random
    assert events.object_id("record", 1, "k") == events.object_id("record", 1, "k")
    assert events.object_id("record", 1, "k") != events.object_id("record", 2, "k")


def test_metadata_is_flat_text_without_secrets():
    with events.correlation("req-42"):
        new = events.encode(
            events.StreamDeleted(record_id="x"), stream="pool-x", actor=ALICE, idempotency_key=None
        )
    meta = json.loads(new.metadata)
    assert set(meta) == {"actor", "actor_id", "timestamp", "$correlationId", "schema_version"}
    assert all(isinstance(v, str) for v in meta.values())  # KurrentDB v2 properties
    assert meta["$correlationId"] == "req-42" and meta["actor_id"] == "7"
    assert new.content_type == "application/json"


def test_stream_names_parse_back():
    entry = str(uuid.uuid4())
    assert events.parse_stream(events.userdata_stream(12, entry)) == events.StreamName(
        "userdata", entry, 12
    )
    assert events.parse_stream(events.erasure_stream(12)).user_id == 12
    assert events.userdata_prefix(1) == "userdata-1-"
    for other in ("pool-", "pool-nope", "userdata-x-" + entry, "orders-1", "$$pool-1", "erasure-x"):
        assert events.parse_stream(other) is None


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("StreamCreated", b'{"name": "x"}'),  # fields missing
        ("StreamCreated", b"[1]"),
        ("StreamCreated", b"\xff"),
        ("StreamUpdated", b'{"record_id": "r", "changes": {"owner_id": 3}}'),  # not changeable
        ("StreamUpdated", b'{"record_id": "r", "changes": {"name": ""}}'),
        ("StreamUpdated", b'{"record_id": "r", "changes": {"tags": [1]}}'),
        ("UserErased", b'{"user_id": true}'),
        (
            "UserDataStored",
            b'{"entry_id": "e", "owner_id": 1, "owner": "a", "entry_type": "'
            + b"x" * 30
            + b'", "category": "c", "value": {}, "tags": [], "is_public": false}',
        ),
        ("StreamDeleted", b'{"record_id": "nul\\u0000"}'),
    ],
)
def test_malformed_events_decode_to_nothing(event_type, data):
    recorded = RecordedEvent(
        type=event_type,
        data=data,
        metadata=b"not json",
        content_type="application/json",
        id=uuid.uuid4(),
        stream_name="pool-x",
        stream_position=0,
        commit_position=1,
        prepare_position=1,
    )
    envelope = events.decode(recorded)
    assert envelope.event is None
    assert envelope.meta == events.EventMeta()


def test_input_checks_name_the_field():
    assert domain.clean_tags("a, b  c,a") == ("a", "b", "c")
    assert domain.clean_object("data", '{"a": 1}', max_bytes=100) == {"a": 1}
    assert domain.clean_bool("is_public", "on") is True
    with pytest.raises(ValidationError) as info:
        domain.clean_object("value", "x" * 10, max_bytes=5)
    assert info.value.field == "value"
    deep: dict = {}
    for _ in range(5000):
        deep = {"x": deep}
    for value in (deep, "[" * 5000 + "]" * 5000):
        with pytest.raises(ValidationError) as info:
            domain.clean_object("data", value, max_bytes=10**9)
        assert info.value.field == "data"
    with pytest.raises(ValidationError) as info:
        domain.clean_version("expected_version", "three")
    assert info.value.field == "expected_version"
    with pytest.raises(ValidationError) as info:
        domain.clean_entry_type("secret")
    assert info.value.field == "entry_type"


def test_text_values_walks_nested_json():
    text = domain.text_values({"a": "one", "b": [{"c": "two"}, 3, None, True], "d": {"e": "three"}})
    assert text == "one two three"
