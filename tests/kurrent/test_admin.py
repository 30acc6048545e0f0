from __future__ import annotations

import json

import pytest

from kurrent.models import StreamRecord, UserDataEntry
from kurrent.services import records
from tests.kurrent.viewtools import SCRIPT, entry, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
CHANGELIST = "/admin/kurrent/streamrecord/"


@pytest.fixture
def staff_admin(admin_user):
    admin_user.is_staff = True
    admin_user.save()
    return admin_user


def row(r):
    return StreamRecord.objects.get(env="dev", record_id=r.id)


def run_action(client, action, rows, **extra):
    data = {"action": action, "_selected_action": [str(x.pk) for x in rows], **extra}
    return client.post(CHANGELIST, data)


class TestAccess:
    def test_staff_editors_do_not_see_the_tables(self, client, alice):
        alice.is_staff = True
        alice.save()
        client.force_login(alice)
        assert client.get(CHANGELIST).status_code == 403

    def test_admins_see_the_tables(self, client, staff_admin, alice):
        record(alice, name="Listed")
        client.force_login(staff_admin)
        response = client.get(CHANGELIST)
        assert response.status_code == 200
        assert "Listed" in response.content.decode()


class TestChangelist:
    def test_search_filters_and_sorting(self, client, staff_admin, alice, bob):
        record(alice, name="Emperor", tags=["rare"], is_public=True)
        record(bob, name="Adelie", tags=["common"], data={"species": "adelie"})
        client.force_login(staff_admin)

        def listed(params):
            response = client.get(CHANGELIST, params)
            return [r.name for r in response.context["cl"].result_list]

        assert listed({"q": "emperor"}) == ["Emperor"]
        assert listed({"is_public__exact": "1"}) == ["Emperor"]
        assert listed({"tag": "common"}) == ["Adelie"]
        assert listed({"o": "1"}) == ["Adelie", "Emperor"]  # by name

    def test_the_delete_selected_action_is_gone(self, client, staff_admin, alice):
        record(alice)
        client.force_login(staff_admin)
        body = client.get(CHANGELIST).content.decode()
        assert 'value="delete_selected"' not in body
        assert 'value="delete_records"' in body


class TestChangeForm:
    def test_adding_goes_through_the_service(self, client, staff_admin):
        client.force_login(staff_admin)
        response = client.post(
            "/admin/kurrent/streamrecord/add/",
            {
                "env": "dev",
                "name": "From admin",
                "data_text": '{"a": 1}',
                "tags_text": "one, two",
                "idempotency_key": "admin-add-1",
            },
        )
        assert response.status_code == 302
        created = StreamRecord.objects.get(name="From admin")
        history = records.record_history(staff_admin, str(created.record_id))
        assert [h.event_type for h in history] == ["StreamCreated"]
        assert history[0].actor == "admin"
        assert created.tags == ["one", "two"]

    def test_changing_appends_an_event(self, client, staff_admin, alice):
        r = record(alice, name="Before")
        client.force_login(staff_admin)
        url = f"/admin/kurrent/streamrecord/{row(r).pk}/change/"
        page = client.get(url)
        assert page.status_code == 200
        assert "StreamCreated" in page.content.decode()  # the event history
        response = client.post(
            url,
            {
                "name": "After",
                "data_text": json.dumps(r.data),
                "tags_text": "census",
                "expected_version": "0",
                "idempotency_key": "admin-change-1",
            },
        )
        assert response.status_code == 302
        assert records.get_record(alice, r.id).name == "After"
        assert records.get_record(alice, r.id).version == 1

    def test_a_stale_form_is_a_conflict_error(self, client, staff_admin, alice):
        r = record(alice, name="Before")
        records.update_record(alice, r.id, expected_version=0, name="Meanwhile")
        client.force_login(staff_admin)
        response = client.post(
            f"/admin/kurrent/streamrecord/{row(r).pk}/change/",
            {"name": "Mine", "data_text": "{}", "tags_text": "", "expected_version": "0"},
        )
        assert response.status_code == 200
        assert "changed by someone else" in response.content.decode()
        assert records.get_record(alice, r.id).name == "Meanwhile"

    def test_bad_json_is_a_field_error(self, client, staff_admin, alice):
        r = record(alice)
        client.force_login(staff_admin)
        response = client.post(
            f"/admin/kurrent/streamrecord/{row(r).pk}/change/",
            {"name": "X", "data_text": "{oops", "tags_text": "", "expected_version": "0"},
        )
        assert response.status_code == 200
        assert "is not valid JSON" in response.content.decode()
        assert records.get_record(alice, r.id).version == 0

    def test_history_view_shows_the_events(self, client, staff_admin, alice):
        r = record(alice, name=SCRIPT)
        records.update_record(alice, r.id, expected_version=0, tags=["x"])
        client.force_login(staff_admin)
        response = client.get(f"/admin/kurrent/streamrecord/{row(r).pk}/history/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "StreamUpdated" in body and "StreamCreated" in body
        assert "<script>alert" not in body


class TestBulkActions:
    def test_delete_asks_first_then_appends_events(self, client, staff_admin, alice):
        a, b = record(alice, name="A"), record(alice, name="B")
        client.force_login(staff_admin)
        confirm = run_action(client, "delete_records", [row(a), row(b)])
        assert confirm.status_code == 200
        assert "Delete these records?" in confirm.content.decode()
        assert StreamRecord.objects.filter(deleted=False).count() == 2
        done = run_action(client, "delete_records", [row(a), row(b)], confirm="yes")
        assert done.status_code == 302
        assert StreamRecord.objects.filter(deleted=True).count() == 2
        assert records.record_history(alice, a.id)[-1].event_type == "StreamDeleted"

    def test_add_and_remove_a_tag(self, client, staff_admin, alice):
        a = record(alice, tags=["census"])
        client.force_login(staff_admin)
        page = run_action(client, "add_tag", [row(a)])
        assert 'name="tag"' in page.content.decode()
        run_action(client, "add_tag", [row(a)], confirm="yes", tag="rare")
        assert records.get_record(alice, a.id).tags == ("census", "rare")
        run_action(client, "remove_tag", [row(a)], confirm="yes", tag="census")
        assert records.get_record(alice, a.id).tags == ("rare",)

    def test_a_bad_tag_is_reported_and_changes_nothing(self, client, staff_admin, alice):
        a = record(alice, tags=["census"])
        client.force_login(staff_admin)
        response = run_action(client, "add_tag", [row(a)], confirm="yes", tag="Bad Tag!")
        assert response.status_code == 302
        assert records.get_record(alice, a.id).tags == ("census",)
        messages = [str(m) for m in response.wsgi_request._messages]
        assert any("is not a tag" in m for m in messages)

    def test_change_visibility(self, client, staff_admin, alice):
        a = record(alice, is_public=False)
        client.force_login(staff_admin)
        assert (
            "Make these records public?"
            in run_action(client, "make_public", [row(a)]).content.decode()
        )
        run_action(client, "make_public", [row(a)], confirm="yes")
        assert records.get_record(alice, a.id).is_public is True
        run_action(client, "make_private", [row(a)], confirm="yes")
        assert records.get_record(alice, a.id).is_public is False

    def test_user_data_actions_go_through_the_service(self, client, staff_admin, alice):
        e = entry(alice)
        client.force_login(staff_admin)
        entry_row = UserDataEntry.objects.get(entry_id=e.id)
        client.post(
            "/admin/kurrent/userdataentry/",
            {"action": "make_public", "_selected_action": [str(entry_row.pk)], "confirm": "yes"},
        )
        entry_row.refresh_from_db()
        assert entry_row.is_public is True and entry_row.version == 1
