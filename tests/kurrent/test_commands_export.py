"""manage.py kurrent_export: an environment's streams (or a selection) to JSON Lines."""

from __future__ import annotations

import base64
import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from kurrentdbclient import NewEvent, StreamState

from kurrent.core.events import STREAM_PREFIXES
from kurrent.services import records, userdata
from tests.conftest import point_env_at
from tests.kurrent.viewtools import closed_port_url, entry, record

pytestmark = pytest.mark.django_db


def export(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("kurrent_export", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def stored(raw_client, prefixes=STREAM_PREFIXES) -> list:
    return [
        e
        for e in raw_client.read_all(
            filter_include=prefixes, filter_by_stream_name=True, filter_by_prefix=True
        )
        if not e.type.startswith("$")
    ]


@pytest.fixture
def data(kdb, alice, bob):
    first = record(alice, name="Emperor census", is_public=True)
    records.update_record(alice, first.id, expected_version=0, name="Emperor census 2026")
    second = record(bob, name="Gentoo <b>count</b>", data={"ünï": "cødé ✓", "n": 1.5})
    records.delete_record(bob, second.id, expected_version=0)
    entry(alice)
    return {"first": first, "second": second}


class TestExportAll:
    def test_every_event_of_ours_in_commit_order(self, data, raw_client, tmp_path):
        raw_client.append_to_stream(
            "elsewhere-1", events=[NewEvent(type="X", data=b"{}")], current_version=StreamState.ANY
        )
        path = tmp_path / "all.jsonl"
        out, _ = export(str(path))
        lines = read_lines(path)
        events = stored(raw_client)
        assert len(lines) == len(events) == 5
        assert [line["event_id"] for line in lines] == [str(e.id) for e in events]
        assert [line["commit_position"] for line in lines] == sorted(
            line["commit_position"] for line in lines
        )
        assert not any(line["stream"].startswith("elsewhere-") for line in lines)
        assert "Exported 5 event(s) of 3 stream(s)" in out
        assert "from dev to" in out

    def test_each_line_has_the_event_as_stored(self, data, raw_client, tmp_path):
        path = tmp_path / "all.jsonl"
        export(str(path))
        by_id = {str(e.id): e for e in stored(raw_client)}
        for line in read_lines(path):
            event = by_id[line["event_id"]]
            assert line["stream"] == event.stream_name
            assert line["revision"] == event.stream_position
            assert line["type"] == event.type
            assert line["content_type"] == "application/json"
            assert json.loads(event.data) == line["data"]
            assert json.loads(event.metadata) == line["metadata"]
            assert line["recorded_at"].startswith("20")
        created = next(line for line in read_lines(path) if "Gentoo" in str(line["data"]))
        assert created["data"]["data"] == {"ünï": "cødé ✓", "n": 1.5}

    def test_unicode_is_written_as_utf8_text(self, data, tmp_path):
        path = tmp_path / "all.jsonl"
        export(str(path))
        assert "cødé ✓" in path.read_text(encoding="utf-8")

    def test_to_standard_output_with_the_summary_on_stderr(self, data):
        out, err = export("-")
        assert len(out.splitlines()) == 5
        assert all(json.loads(line)["event_id"] for line in out.splitlines())
        assert "Exported 5 event(s)" in err

    def test_an_empty_environment_gives_an_empty_file(self, kdb, tmp_path):
        path = tmp_path / "empty.jsonl"
        out, _ = export(str(path))
        assert path.read_text() == ""
        assert "Exported 0 event(s) of 0 stream(s)" in out


class TestSelection:
    def test_one_stream(self, data, tmp_path):
        path = tmp_path / "one.jsonl"
        out, _ = export(str(path), "--stream", f"pool-{data['first'].id}")
        lines = read_lines(path)
        assert [(line["revision"], line["type"]) for line in lines] == [
            (0, "StreamCreated"),
            (1, "StreamUpdated"),
        ]
        assert "1 stream(s)" in out

    def test_a_category(self, data, tmp_path):
        path = tmp_path / "pool.jsonl"
        export(str(path), "--category", "pool")
        assert {line["stream"].split("-")[0] for line in read_lines(path)} == {"pool"}
        assert len(read_lines(path)) == 4

    def test_a_prefix(self, data, alice, tmp_path):
        path = tmp_path / "alice.jsonl"
        export(str(path), "--prefix", f"userdata-{alice.pk}-")
        lines = read_lines(path)
        assert len(lines) == 1
        assert lines[0]["type"] == "UserDataStored"

    def test_a_stream_that_does_not_exist(self, kdb, tmp_path):
        path = tmp_path / "none.jsonl"
        with pytest.raises(CommandError, match="There is no stream 'pool-nope' in dev"):
            export(str(path), "--stream", "pool-nope")
        assert not path.exists()

    @pytest.mark.parametrize(
        "args", [["--prefix", "$"], ["--stream", "$all"], ["--category", "$ce"]]
    )
    def test_system_streams_are_refused(self, kdb, tmp_path, args):
        with pytest.raises(CommandError, match="system stream"):
            export(str(tmp_path / "x.jsonl"), *args)

    def test_streams_and_prefixes_do_not_mix(self, kdb, tmp_path):
        with pytest.raises(CommandError, match="not both"):
            export(str(tmp_path / "x.jsonl"), "--stream", "pool-1", "--category", "pool")


class TestWhatReadersCannotSee:
    def test_erased_users_streams_are_left_out(self, data, alice, admin_user, raw_client, tmp_path):
        userdata.erase_user(admin_user, alice)
        path = tmp_path / "after-erase.jsonl"
        out, _ = export(str(path))
        lines = read_lines(path)
        assert not any(line["stream"] == f"pool-{data['first'].id}" for line in lines)
        assert not any(line["stream"].startswith(f"userdata-{alice.pk}-") for line in lines)
        assert any(line["type"] == "UserErased" for line in lines)
        assert any(line["stream"] == f"pool-{data['second'].id}" for line in lines)  # bob's
        assert "Skipped 3 event(s) of erased or deleted streams" in out

    def test_bytes_that_are_not_compact_json_are_kept_exactly(self, kdb, raw_client, tmp_path):
        blobs = {
            "binary": (b"\x00\xff\x10 not json", "application/octet-stream"),
            "spaced": (b'{"a": 1}', "application/json"),
        }
        for name, (payload, content_type) in blobs.items():
            raw_client.append_to_stream(
                f"misc-{name}",
                events=[
                    NewEvent(
                        type="Blob",
                        data=payload,
                        metadata=b"\x01meta",
                        content_type=content_type,
                        id=uuid.uuid4(),
                    )
                ],
                current_version=StreamState.NO_STREAM,
            )
        path = tmp_path / "misc.jsonl"
        export(str(path), "--prefix", "misc-")
        lines = {line["stream"]: line for line in read_lines(path)}
        for name, (payload, content_type) in blobs.items():
            line = lines[f"misc-{name}"]
            assert "data" not in line
            assert base64.b64decode(line["data_base64"]) == payload
            assert base64.b64decode(line["metadata_base64"]) == b"\x01meta"
            assert line["content_type"] == content_type


class TestHostileEvents:
    def test_events_no_json_line_can_hold_are_exported_as_stored(self, kdb, raw_client, tmp_path):
        """Another program's NaN, 1e400 or lone surrogate: strict JSON lines, bytes kept."""
        payloads = [b'{"x": NaN}', b'{"x": 1e400}', b'{"x": "\\ud800"}', b"\xff not utf-8"]
        for payload in payloads:
            raw_client.append_to_stream(
                f"pool-{uuid.uuid4()}",
                events=[NewEvent(type="StreamCreated", data=payload)],
                current_version=StreamState.NO_STREAM,
            )
        path = tmp_path / "hostile.jsonl"
        out, _ = export(str(path))

        def strict(text: str) -> dict:
            return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in a line"))

        lines = [strict(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert [base64.b64decode(line["data_base64"]) for line in lines] == payloads
        assert "4 event(s)" in out


class TestFailures:
    def test_node_down_writes_no_file(self, kdb, settings, tmp_path):
        point_env_at(settings, "dev", closed_port_url())
        path = tmp_path / "down.jsonl"
        with pytest.raises(CommandError, match="unavailable"):
            export(str(path))
        assert list(tmp_path.iterdir()) == []

    def test_a_missing_folder(self, kdb, tmp_path):
        with pytest.raises(CommandError, match="does not exist"):
            export(str(tmp_path / "no" / "such.jsonl"))
