"""The schema pages, schema errors on the store and edit forms, and the notice on
entries stored before a schema changed (issue 14, point 2)."""

from __future__ import annotations

import json
import uuid

import pytest

from kurrent.services import schemas, userdata
from tests.kurrent.viewtools import HX, is_fragment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]

LIST = "/kurrent-db-demo/schemas/"
STRICT = {"type": "object", "properties": {"theme": {"enum": ["dark"]}}}


def detail(entry_type):
    return f"/kurrent-db-demo/schemas/{entry_type}/"


def replace_form(schema, version=0):
    text = schema if isinstance(schema, str) else json.dumps(schema)
    return {"schema": text, "expected_version": str(version), "idempotency_key": str(uuid.uuid4())}


class TestSchemaPages:
    def test_the_list_shows_every_type_at_its_version(self, client, carol):
        client.force_login(carol)
        body = client.get(LIST).content.decode()
        for entry_type in ("profile", "preferences", "settings", "data", "custom"):
            assert f'href="{detail(entry_type)}"' in body
        assert "(shipped)" in body

    def test_a_viewer_reads_a_schema_but_gets_no_form(self, client, carol):
        client.force_login(carol)
        body = client.get(detail("preferences")).content.decode()
        assert "page_size" in body and "BCP 47" in body
        assert "Replace the schema" not in body
        assert client.get(detail("nope")).status_code == 404

    def test_an_admin_replaces_a_schema_and_it_has_a_history(self, client, admin_user):
        client.force_login(admin_user)
        assert "Replace the schema" in client.get(detail("settings")).content.decode()

        response = client.post(detail("settings") + "replace/", replace_form(STRICT))

        assert response.status_code == 302 and response["Location"] == detail("settings")
        assert schemas.current_schema("settings").schema == STRICT
        body = client.get(detail("settings"), follow=True).content.decode()
        assert "version 1" in body and "SchemaReplaced" in body and "shipped with the app" in body

    @pytest.mark.parametrize("who", ["alice", "carol"])
    def test_others_may_not_replace(self, client, who, request, raw_client):
        client.force_login(request.getfixturevalue(who))
        assert client.post(detail("settings") + "replace/", replace_form(STRICT)).status_code == 403
        assert schemas.current_schema("settings").version == 0

    def test_a_broken_schema_is_shown_on_the_form(self, client, admin_user):
        client.force_login(admin_user)
        url = detail("profile") + "replace/"
        plain = client.post(url, replace_form('{"type": "nonsense"}'))
        assert plain.status_code == 400
        assert "is not a valid JSON Schema" in plain.content.decode()
        fragment = client.post(url, replace_form("{oops"), **HX)
        assert fragment.status_code == 200 and is_fragment(fragment)
        assert "is not valid JSON" in fragment.content.decode()
        assert schemas.current_schema("profile").version == 0

    def test_a_stale_version_shows_the_conflict(self, client, admin_user):
        schemas.replace_schema(admin_user, "custom", STRICT, expected_version=0)
        client.force_login(admin_user)
        response = client.post(
            detail("custom") + "replace/", replace_form({"type": "object"}), **HX
        )
        body = response.content.decode()
        assert "replaced while you were editing it" in body
        assert 'name="expected_version" value="1"' in body
        assert schemas.current_schema("custom").schema == STRICT


class TestSchemaErrorsOnForms:
    def test_the_store_form_names_the_path_and_rule(self, client, alice):
        client.force_login(alice)
        form = {
            "entry_type": "preferences",
            "category": "display",
            "value": '{"page_size": 5}',
            "tags": "",
            "idempotency_key": str(uuid.uuid4()),
        }
        response = client.post("/kurrent-db-demo/me/new/", form, **HX)
        assert response.status_code == 200
        assert "page_size: must be at least 10" in response.content.decode()
        assert userdata.get_user_data(alice, alice, "preferences") == {}

    def test_a_second_store_to_one_address_points_at_the_entry(self, client, alice):
        first = userdata.store_user_data(alice, "profile", "about", {"bio": "hi"})
        client.force_login(alice)
        form = {
            "entry_type": "profile",
            "category": "about",
            "value": '{"bio": "again"}',
            "tags": "",
            "idempotency_key": str(uuid.uuid4()),
        }
        body = client.post("/kurrent-db-demo/me/new/", form, **HX).content.decode()
        assert "There is a profile/about entry already" in body
        assert f'href="/kurrent-db-demo/me/{first.id}/edit/"' in body
        assert len(userdata.get_user_data(alice, alice, "profile")) == 1

    def test_the_edit_form_names_the_path_and_rule(self, client, alice):
        e = userdata.store_user_data(alice, "settings", "mail", {"email": True})
        client.force_login(alice)
        form = {
            "value": '{"email": "often"}',
            "expected_version": "0",
            "idempotency_key": str(uuid.uuid4()),
        }
        response = client.post(f"/kurrent-db-demo/me/{e.id}/edit/", form, **HX)
        assert "email: must be true or false" in response.content.decode()
        assert userdata.get_entry(alice, e.id).value == {"email": True}


class TestNoticeOnOldEntries:
    def test_an_entry_stored_before_the_schema_changed_shows_a_notice(
        self, client, alice, admin_user
    ):
        old = userdata.store_user_data(alice, "preferences", "display", {"theme": "light"})
        schemas.replace_schema(admin_user, "preferences", STRICT, expected_version=0)
        client.force_login(alice)

        for url in (
            "/kurrent-db-demo/me/",
            f"/kurrent-db-demo/me/{old.id}/",
            f"/kurrent-db-demo/me/{old.id}/edit/",
        ):
            body = client.get(url).content.decode()
            assert "Stored before the preferences schema changed" in body, url
            assert "theme: must be one of dark" in body, url
            assert "light" in body, url  # shown as stored
        # The htmx card after a visibility toggle (a change after the schema's) still
        # says what the schema in force refuses.
        card = client.post(
            f"/kurrent-db-demo/me/{old.id}/visibility/",
            {"expected_version": "0", "is_public": "on"},
            **HX,
        ).content.decode()
        assert "does not match the preferences schema" in card
        assert "theme: must be one of dark" in card

    def test_the_directory_shows_the_notice_too(self, client, alice, bob, admin_user):
        userdata.store_user_data(alice, "preferences", "display", {"theme": "light"}, True)
        schemas.replace_schema(admin_user, "preferences", STRICT, expected_version=0)
        client.force_login(bob)
        body = client.get("/kurrent-db-demo/directory/").content.decode()
        assert "Stored before the preferences schema changed" in body
        assert "theme: must be one of dark" in body

    def test_admins_find_the_schemas_in_the_menu(self, client, alice, admin_user):
        client.force_login(admin_user)
        assert f'href="{LIST}"' in client.get("/kurrent-db-demo/").content.decode()

    def test_entries_that_fit_and_are_newer_show_none(self, client, alice):
        userdata.store_user_data(alice, "preferences", "display", {"theme": "light"})
        client.force_login(alice)
        assert "schema-notice" not in client.get("/kurrent-db-demo/me/").content.decode()
