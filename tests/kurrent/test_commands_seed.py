"""manage.py kurrent_seed: demo records and user data, written as real events."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from kurrent.core.events import STREAM_PREFIXES
from kurrent.models import RecordTag, StreamRecord, UserDataEntry
from kurrent.services import records
from kurrent.services.roles import EDITOR
from tests.conftest import point_env_at
from tests.kurrent.viewtools import closed_port_url

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("kurrent_seed", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def our_events(raw_client) -> list:
    return [
        e
        for e in raw_client.read_all(
            filter_include=STREAM_PREFIXES, filter_by_stream_name=True, filter_by_prefix=True
        )
        if not e.type.startswith("$")
    ]


class TestSeed:
    def test_records_updates_deletes_and_entries_are_events(self, kdb, raw_client):
        summary = seed("20", "--users", "2")
        # 20 records; every 4th from the 2nd updated (1, 5, 9, 13, 17); 9 and 19 deleted;
        # 2 entries per user plus one per 5 records.
        assert "20 record(s) created, 5 updated, 2 deleted, 8 user-data entries" in summary
        assert "2 user(s) (penguin1..penguin2)" in summary
        events = our_events(raw_client)
        types = [e.type for e in events]
        assert types.count("StreamCreated") == 20
        assert types.count("StreamUpdated") == 5
        assert types.count("StreamDeleted") == 2
        assert types.count("UserDataStored") == 8
        assert len(events) == 35

        rows = StreamRecord.objects.filter(env="dev")
        assert rows.count() == 20
        assert rows.filter(deleted=True).count() == 2
        assert UserDataEntry.objects.filter(env="dev").count() == 8
        assert rows.filter(is_public=True).count() == 13  # all but i % 3 == 0

    def test_users_are_editors_without_a_usable_password(self, kdb):
        seed("3", "--users", "2", "--user-prefix", "demo-p")
        for name in ("demo-p1", "demo-p2"):
            user = User.objects.get(username=name)
            assert not user.has_usable_password()
            assert user.groups.filter(name=EDITOR).exists()

    def test_history_names_the_owner(self, kdb):
        seed("2", "--users", "1")
        owner = User.objects.get(username="penguin1")
        updated = StreamRecord.objects.get(env="dev", version=1)
        history = records.record_history(owner, str(updated.record_id))
        assert [h.event_type for h in history] == ["StreamCreated", "StreamUpdated"]
        assert {h.actor for h in history} == {"penguin1"}

    def test_running_it_again_appends_nothing(self, kdb, raw_client):
        seed("12", "--users", "3")
        before = raw_client.get_commit_position()
        again = seed("12", "--users", "3")
        assert raw_client.get_commit_position() == before
        assert "0 record(s) created, 0 updated, 0 deleted, 0 user-data entries" in again
        assert "20 record(s) and entries were there from an earlier run" in again

    def test_a_bigger_run_adds_only_the_new_ones(self, kdb, raw_client):
        seed("4", "--users", "1")
        summary = seed("8", "--users", "1")
        assert "4 record(s) created" in summary
        assert StreamRecord.objects.filter(env="dev").count() == 8

    def test_zero_records_still_seeds_user_data(self, kdb):
        summary = seed("0", "--users", "1")
        assert "0 record(s) created" in summary
        assert UserDataEntry.objects.filter(env="dev").count() == 2

    def test_the_same_seed_gives_the_same_values(self, kdb, settings, tmp_path):
        seed("5", "--users", "1", "--seed", "7")
        first = sorted(StreamRecord.objects.filter(env="dev").values_list("name", "data"))
        RecordTag.objects.all().delete()  # the projector's order: tags, then records
        StreamRecord.objects.all().delete()
        User.objects.filter(username="penguin1").delete()
        seed("5", "--users", "1", "--seed", "7", "--user-prefix", "again")
        second = sorted(
            StreamRecord.objects.filter(env="dev", owner_name="again1").values_list("name", "data")
        )
        assert first == second


class TestRefusals:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["-1"], "COUNT must be between"),
            (["5", "--users", "0"], "--users must be between"),
            (["5", "--env", "mainnet"], "production: add --yes"),
        ],
    )
    def test_bad_arguments(self, kdb, raw_client, args, message):
        with pytest.raises(CommandError, match=message):
            seed(*args)
        assert our_events(raw_client) == []

    def test_node_down_stops_with_a_clear_message(self, kdb, settings):
        point_env_at(settings, "dev", closed_port_url())
        with pytest.raises(CommandError, match=r"Seeding stopped after 0 of \d+ writes"):
            seed("3")
