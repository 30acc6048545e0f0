"""manage.py kurrent_import: restore an export into an environment; twice appends nothing."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState

from kurrent.connection.manager import connections
from kurrent.embedded import EmbeddedNode
from kurrent.models import StreamRecord, UserDataEntry
from kurrent.services import records
from tests.conftest import point_env_at
from tests.kurrent.test_commands_export import export, stored
from tests.kurrent.viewtools import closed_port_url, entry, record

pytestmark = pytest.mark.django_db


def run_import(*args: str) -> str:
    out = io.StringIO()
    call_command("kurrent_import", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def as_stored(events) -> list[tuple]:
    return [
        (e.stream_name, e.stream_position, str(e.id), e.type, e.data, e.metadata, e.content_type)
        for e in events
    ]


def rows(env: str) -> list[tuple]:
    records = StreamRecord.objects.filter(env=env).order_by("record_id")
    entries = UserDataEntry.objects.filter(env=env).order_by("entry_id")
    return [
        *records.values_list(
            "record_id", "name", "data", "tags", "owner_id", "is_public", "version", "deleted"
        ),
        *entries.values_list("entry_id", "category", "value", "owner_id", "version", "deleted"),
    ]


@pytest.fixture
def other_node(settings) -> Iterator[Any]:
    """A second node, serving the `test` environment: "another environment"."""
    node = EmbeddedNode(db=":memory:", host="127.0.0.1", port=0, insecure=True).start()
    point_env_at(settings, "test", node.url)
    client = KurrentDBClient(uri=node.url)
    try:
        yield client
    finally:
        client.close()
        connections.reset()
        node.stop()


@pytest.fixture
def exported(kdb, alice, bob, tmp_path):
    first = record(alice, name="Emperor census", is_public=True)
    records.update_record(alice, first.id, expected_version=0, data={"count": 4})
    second = record(bob, name="Gentoo ✓", data={"ünï": "cødé"})
    records.delete_record(bob, second.id, expected_version=0)
    entry(alice)
    entry(bob, entry_type="preferences", category="display", value={"theme": "dark"})
    path = tmp_path / "backup.jsonl"
    export(str(path))
    return path


class TestRoundTrip:
    def test_into_another_environment_on_another_node(self, exported, raw_client, other_node, kdb):
        out = run_import(str(exported), "--env", "test")
        assert as_stored(stored(other_node)) == as_stored(stored(raw_client))
        assert "6 event(s) appended, 0 already there, in 4 stream(s)" in out
        assert "The read model is caught up (6 event(s) processed)" in out
        assert rows("test") == rows("dev")
        assert len(rows("test")) == 4

    def test_importing_twice_appends_nothing(self, exported, other_node):
        run_import(str(exported), "--env", "test")
        before = other_node.get_commit_position()
        out = run_import(str(exported), "--env", "test")
        assert other_node.get_commit_position() == before
        assert "0 event(s) appended, 6 already there" in out

    def test_into_its_own_environment_appends_nothing(self, exported, raw_client):
        before = raw_client.get_commit_position()
        out = run_import(str(exported))
        assert raw_client.get_commit_position() == before
        assert "0 event(s) appended, 6 already there" in out

    def test_an_interrupted_import_resumes(self, exported, raw_client, other_node, tmp_path):
        lines = exported.read_text(encoding="utf-8").splitlines(keepends=True)
        half = tmp_path / "half.jsonl"
        half.write_text("".join(lines[:3]), encoding="utf-8")
        run_import(str(half), "--env", "test")
        out = run_import(str(exported), "--env", "test")
        assert "3 event(s) appended, 3 already there" in out
        assert as_stored(stored(other_node)) == as_stored(stored(raw_client))

    def test_after_more_writes_only_the_new_events_are_appended(
        self, exported, alice, other_node, tmp_path
    ):
        run_import(str(exported), "--env", "test")
        record(alice, name="Written later")
        newer = tmp_path / "newer.jsonl"
        export(str(newer))
        out = run_import(str(newer), "--env", "test")
        assert "1 event(s) appended, 6 already there" in out

    def test_dry_run_writes_nothing(self, exported, other_node):
        out = run_import(str(exported), "--env", "test", "--dry-run")
        assert "is valid: 6 event(s) of 4 stream(s)" in out
        assert other_node.get_commit_position() == 0


def line(**changes: Any) -> str:
    base = {
        "stream": "pool-6c3e3a3c-6a55-4d3e-9d51-9f6b0e0e0001",
        "revision": 0,
        "event_id": str(uuid.uuid4()),
        "type": "Note",
        "data": {"a": 1},
    }
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


GOOD = line(stream="misc-a", revision=0)
BAD_LINES = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (line(stream=...), "missing 'stream'"),
    (line(data=...), "missing 'data'"),
    (line(colour="blue"), "unknown field 'colour'"),
    (line(stream=""), "'stream' must be a stream name"),
    (line(stream=7), "'stream' must be a stream name"),
    (line(stream="$all"), "system stream"),
    (line(type="$metadata"), "system event type"),
    (line(type=""), "'type' must be an event type name"),
    (line(revision=-1), "'revision' must be between"),
    (line(revision=True), "'revision' must be a whole number"),
    (line(revision="0"), "'revision' must be a whole number"),
    (line(revision=2**63 - 1), "'revision' must be between"),
    (line(event_id="not-a-uuid"), "'event_id' must be a UUID"),
    (line(event_id=12), "'event_id' must be a UUID"),
    (line(content_type="text/html"), "'content_type' must be"),
    (line(data_base64="AAAA"), "not both"),
    (line(data=..., data_base64="@@@"), "not valid base64"),
    (line(metadata_base64=5), "must be base64 text"),
    (line(commit_position="x"), "'commit_position' must be a whole number"),
    ("{" * 100000 + "}" * 100000, "not valid JSON"),
]


class TestValidation:
    @pytest.mark.parametrize(("bad", "message"), BAD_LINES)
    def test_a_bad_line_is_named_and_nothing_is_written(
        self, kdb, raw_client, tmp_path, bad, message
    ):
        path = tmp_path / "bad.jsonl"
        path.write_text(
            "\n".join([GOOD, line(stream="misc-b"), bad, line(stream="misc-c")]) + "\n",
            encoding="utf-8",
        )
        with pytest.raises(CommandError) as caught:
            run_import(str(path))
        assert "line 3:" in str(caught.value)
        assert message in str(caught.value)
        assert "Nothing was imported" in str(caught.value)
        assert raw_client.get_commit_position() == 0

    def test_a_duplicate_event_id_names_both_lines(self, kdb, raw_client, tmp_path):
        same = str(uuid.uuid4())
        path = tmp_path / "dup.jsonl"
        path.write_text(
            "\n".join([line(stream="misc-a", event_id=same), line(stream="misc-b", event_id=same)]),
            encoding="utf-8",
        )
        with pytest.raises(CommandError, match=r"line 2: event_id .* is also on line 1"):
            run_import(str(path))
        assert raw_client.get_commit_position() == 0

    def test_a_gap_in_a_stream_is_refused(self, kdb, raw_client, tmp_path):
        path = tmp_path / "gap.jsonl"
        path.write_text(
            "\n".join([line(stream="misc-a", revision=0), line(stream="misc-a", revision=2)]),
            encoding="utf-8",
        )
        with pytest.raises(CommandError, match="line 2: stream 'misc-a' jumps from revision 0"):
            run_import(str(path))
        assert raw_client.get_commit_position() == 0

    def test_not_utf8(self, kdb, tmp_path):
        path = tmp_path / "latin1.jsonl"
        path.write_bytes(GOOD.encode() + b"\n\xff\xfe\n")
        with pytest.raises(CommandError, match="not UTF-8"):
            run_import(str(path))

    def test_a_missing_file(self, kdb, tmp_path):
        with pytest.raises(CommandError, match="Cannot read"):
            run_import(str(tmp_path / "nope.jsonl"))

    def test_blank_lines_are_ignored(self, kdb, raw_client, tmp_path):
        path = tmp_path / "blank.jsonl"
        path.write_text(f"\n{GOOD}\n\n", encoding="utf-8")
        assert "1 event(s) appended" in run_import(str(path))

    def test_mainnet_needs_yes(self, kdb, tmp_path):
        path = tmp_path / "one.jsonl"
        path.write_text(GOOD, encoding="utf-8")
        with pytest.raises(CommandError, match="production: add --yes"):
            run_import(str(path), "--env", "mainnet")


class TestConflicts:
    def test_another_event_at_the_same_revision_stops_the_import(self, kdb, raw_client, tmp_path):
        raw_client.append_to_stream(
            "misc-b",
            events=[NewEvent(type="Other", data=b"{}")],
            current_version=StreamState.NO_STREAM,
        )
        path = tmp_path / "conflict.jsonl"
        path.write_text("\n".join([GOOD, line(stream="misc-b")]), encoding="utf-8")
        with pytest.raises(CommandError) as caught:
            run_import(str(path))
        message = str(caught.value)
        assert "Import stopped at line 2: stream 'misc-b'" in message
        assert "holds other events" in message
        assert "1 event(s) appended, 0 already there before it stopped" in message
        assert [e.type for e in raw_client.get_stream("misc-b")] == ["Other"]

    def test_a_stream_behind_the_file_is_refused(self, kdb, raw_client, tmp_path):
        path = tmp_path / "partial.jsonl"
        path.write_text(line(stream="misc-a", revision=3), encoding="utf-8")
        with pytest.raises(CommandError, match="line 1: stream 'misc-a' is at revision -1"):
            run_import(str(path))
        assert raw_client.get_commit_position() == 0

    def test_a_stream_erased_in_the_target_stays_erased(self, kdb, raw_client, tmp_path):
        raw_client.tombstone_stream("misc-b", current_version=StreamState.ANY)
        path = tmp_path / "erased.jsonl"
        path.write_text("\n".join([GOOD, line(stream="misc-b")]), encoding="utf-8")
        out = run_import(str(path))
        assert (
            "1 event(s) appended, 0 already there, 1 skipped (their stream is erased here)" in out
        )

    def test_node_down(self, kdb, settings, tmp_path):
        path = tmp_path / "one.jsonl"
        path.write_text(GOOD, encoding="utf-8")
        point_env_at(settings, "dev", closed_port_url())
        with pytest.raises(CommandError, match=r"Import stopped at line 1: .*unavailable"):
            run_import(str(path))
