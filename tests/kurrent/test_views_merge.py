"""The three-way merge on the edit pages after a conflict (issue 14, point 5): records
and entries; saved only when the user says, against the version stored now."""

from __future__ import annotations

import json
import uuid

import pytest

from kurrent.services import records, userdata
from tests.kurrent.viewtools import HX, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def edit_url(record_id):
    return f"/kurrent-db-demo/records/{record_id}/edit/"


def record_form(version, *, name="Colony", data=None, tags="census", public=False, **extra):
    form = {
        "name": name,
        "data": json.dumps(data if data is not None else {}),
        "tags": tags,
        "expected_version": str(version),
        "idempotency_key": str(uuid.uuid4()),
    }
    if public:
        form["is_public"] = "on"
    form.update(extra)
    return form


def seed(alice):
    return record(alice, name="Colony", data={"count": 3, "site": "Snow Hill"}, tags=["census"])


class TestRecordMerge:
    def test_changes_to_different_keys_are_merged_ready_to_save(self, client, alice, our_events):
        r = seed(alice)
        records.update_record(
            alice, r.id, expected_version=0, data={"count": 4, "site": "Snow Hill"}
        )
        client.force_login(alice)

        # Alice edited version 0: she changed the site and the name, they the count.
        response = client.post(
            edit_url(r.id),
            record_form(0, name="Colony A", data={"count": 3, "site": "Cape Crozier"}),
            **HX,
        )

        body = response.content.decode()
        assert "Merged for you." in body
        assert "Taken from version 1: data.count" in body
        assert "Yours, kept: name, data.site" in body
        assert 'name="expected_version" value="1"' in body
        assert "&quot;count&quot;: 4" in body and "Cape Crozier" in body
        assert 'value="Colony A"' in body
        assert "merge_choice_" not in body
        assert len(our_events()) == 2  # nothing saved yet
        assert records.get_record(alice, r.id).data == {"count": 4, "site": "Snow Hill"}

    def test_saving_the_merge_appends_against_the_version_now(self, client, alice):
        r = seed(alice)
        records.update_record(
            alice, r.id, expected_version=0, data={"count": 4, "site": "Snow Hill"}
        )
        client.force_login(alice)
        merged = {"count": 4, "site": "Cape Crozier"}

        response = client.post(edit_url(r.id), record_form(1, name="Colony A", data=merged))

        assert response.status_code == 302
        saved = records.get_record(alice, r.id)
        assert (saved.version, saved.name, saved.data) == (2, "Colony A", merged)

    def test_only_keys_changed_on_both_sides_ask_for_a_choice(self, client, alice, our_events):
        r = seed(alice)
        records.update_record(
            alice, r.id, expected_version=0, data={"count": 4, "site": "Snow Hill"}, is_public=True
        )
        client.force_login(alice)

        response = client.post(
            edit_url(r.id), record_form(0, data={"count": 5, "site": "Cape Crozier"}), **HX
        )

        body = response.content.decode()
        assert "Merged where it could be." in body and "1 part changed on both sides" in body
        assert body.count('name="merge_path"') == 1
        assert 'value="[&quot;data&quot;, &quot;count&quot;]"' in body
        assert (
            "Keep yours: <code>5</code>" in body and "Take the stored one: <code>4</code>" in body
        )
        assert "Taken from version 1: is_public" in body
        assert len(our_events()) == 2

    def test_choosing_theirs_takes_the_stored_value(self, client, alice):
        r = seed(alice)
        records.update_record(
            alice, r.id, expected_version=0, data={"count": 4, "site": "Snow Hill"}
        )
        client.force_login(alice)
        form = record_form(
            1,
            data={"count": 5, "site": "Cape Crozier"},
            merge_path='["data", "count"]',
            merge_choice_0="theirs",
        )

        client.post(edit_url(r.id), form)

        assert records.get_record(alice, r.id).data == {"count": 4, "site": "Cape Crozier"}

    def test_a_forged_merge_path_changes_nothing_else(self, client, alice):
        r = seed(alice)
        client.force_login(alice)
        for n, path in enumerate(("not json", '["owner"]', "[1]", '"name"', "[]", "{}")):
            version = records.get_record(alice, r.id).version
            form = record_form(
                version,
                name=f"Mine {n}",
                data={"count": n},
                merge_path=path,
                merge_choice_0="theirs",
            )
            response = client.post(edit_url(r.id), form)
            assert response.status_code == 302, path
            saved = records.get_record(alice, r.id)
            assert (saved.name, saved.data, saved.owner) == (f"Mine {n}", {"count": n}, "alice")


class TestEntryMerge:
    def url(self, e):
        return f"/kurrent-db-demo/me/{e.id}/edit/"

    def form(self, version, value, **extra):
        return {
            "value": json.dumps(value),
            "tags": "",
            "expected_version": str(version),
            "idempotency_key": str(uuid.uuid4()),
            **extra,
        }

    def test_entries_merge_key_by_key(self, client, alice, our_events):
        e = userdata.store_user_data(
            alice, "preferences", "display", {"theme": "dark", "page_size": 20}
        )
        userdata.update_entry(
            alice, e.id, expected_version=0, value={"theme": "light", "page_size": 20}
        )
        client.force_login(alice)

        response = client.post(self.url(e), self.form(0, {"theme": "dark", "page_size": 50}), **HX)

        body = response.content.decode()
        assert "Merged for you." in body and "Taken from version 1: value.theme" in body
        assert (
            "&quot;theme&quot;: &quot;light&quot;" in body and "&quot;page_size&quot;: 50" in body
        )
        assert 'name="expected_version" value="1"' in body
        assert len(our_events()) == 2

    def test_a_clash_in_an_entry_asks_and_theirs_wins_when_chosen(self, client, alice):
        e = userdata.store_user_data(alice, "preferences", "display", {"theme": "dark"})
        userdata.update_entry(alice, e.id, expected_version=0, value={"theme": "light"})
        client.force_login(alice)

        body = client.post(self.url(e), self.form(0, {"theme": "system"}), **HX).content.decode()
        assert 'name="merge_choice_0"' in body

        form = self.form(
            1, {"theme": "system"}, merge_path='["value", "theme"]', merge_choice_0="theirs"
        )
        client.post(self.url(e), form)
        assert userdata.get_entry(alice, e.id).value == {"theme": "light"}
