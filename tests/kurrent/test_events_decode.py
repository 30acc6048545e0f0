"""Decoding another program's events: each one we cannot apply says why (a reason of
PROBLEM_REASONS and a detail), and the form checks refuse the same values up front."""

from __future__ import annotations

import uuid

import pytest
from kurrentdbclient import RecordedEvent

from kurrent.core.domain import clean_object
from kurrent.core.errors import ValidationError
from kurrent.core.events import decode
from kurrent.core.shapes import PROBLEM_REASONS, unstorable

RECORD = b'"record_id": "r", "tags": [], "owner_id": 1, "owner": "o", "is_public": true'


def _recorded(event_type: str, data: bytes, metadata: bytes = b"") -> RecordedEvent:
    return RecordedEvent(
        type=event_type,
        data=data,
        metadata=metadata,
        content_type="application/json",
        id=uuid.uuid4(),
        stream_name=f"pool-{uuid.uuid4()}",
        stream_position=0,
        commit_position=100,
        prepare_position=100,
        recorded_at=None,
    )


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [
        (
            b"{" + RECORD + b', "name": "n", "data": {"x": NaN}, "metadata": {}}',
            "unstorable_value",
            "NaN",
        ),
        (
            b"{" + RECORD + b', "name": "n", "data": {"x": 1e400}, "metadata": {}}',
            "unstorable_value",
            "finite",
        ),
        (
            b"{" + RECORD + b', "name": "\\ud800", "data": {}, "metadata": {}}',
            "unstorable_value",
            "surrogate",
        ),
        (
            b"{" + RECORD + b', "name": "n", "data": {"x": "\\u0000"}, "metadata": {}}',
            "unstorable_value",
            "NUL",
        ),
        (
            b"{" + RECORD + b', "name": "n", "data": {"x": 1' + b"0" * 400 + b'}, "metadata": {}}',
            "unstorable_value",
            "beyond",
        ),
        (b"\xff\xfe\xfa", "malformed_json", "UTF-8"),
        (b"{nope", "malformed_json", ""),
        (b"[1, 2]", "not_an_object", "list"),
        (
            b"{" + RECORD + b', "name": 7, "data": {}, "metadata": {}}',
            "wrong_shape",
            "name must be text",
        ),
        (
            b"{" + RECORD + b', "name": "' + b"x" * 201 + b'", "data": {}, "metadata": {}}',
            "out_of_range",
            "name",
        ),
    ],
)
def test_a_malformed_event_says_why(data: bytes, reason: str, detail: str) -> None:
    envelope = decode(_recorded("StreamCreated", data))

    assert envelope.event is None
    assert envelope.problem.startswith(f"{reason}: ") and detail in envelope.problem
    assert reason in PROBLEM_REASONS


def test_an_unknown_type_and_a_newer_schema_say_why() -> None:
    assert decode(_recorded("Painted", b"{}")).problem == "unknown_type: Painted"
    newer = decode(_recorded("StreamDeleted", b'{"record_id": "r"}', b'{"schema_version": "9"}'))
    assert newer.event is None and newer.problem.startswith("unsupported_schema_version")


def test_metadata_no_database_stores_is_cleaned_not_fatal() -> None:
    meta = b'{"actor": "a\\ud800\\u0000b", "timestamp": "0001-01-01T00:00:00+01:00"}'
    envelope = decode(_recorded("StreamDeleted", b'{"record_id": "r"}', meta))

    assert envelope.event is not None and envelope.meta.actor == "a?b"
    assert envelope.recorded_at.year == 1970  # an unusable time falls back


@pytest.mark.parametrize("text", ['{"x": NaN}', '{"x": "\\ud800"}', '{"x": 1e400}'])
def test_the_forms_refuse_what_the_projector_would_skip(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        clean_object("data", text, max_bytes=10_000)
    assert raised.value.field == "data"
    assert unstorable({"ok": ["text", 1.5, 10**300, None]}) is None
