"""/api/v1/environments, /activity, /me, the admin endpoints, and the schema and docs."""

from __future__ import annotations

import pytest

from kurrent.core.events import record_stream
from kurrent.services import records
from tests.kurrent.viewtools import entry, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


class TestEnvironments:
    @pytest.mark.parametrize("who", ["carol", "alice", "admin_user"])
    def test_every_environment_with_state_latency_node_and_lag(self, who, request, api_as):
        r = api_as(request.getfixturevalue(who)).get("/api/v1/environments")
        assert r.status_code == 200
        by_name = {e["name"]: e for e in r.json()}
        assert list(by_name) == ["dev", "staging", "test", "mainnet"]
        dev = by_name["dev"]
        assert dev["active"] is True and dev["state"] == "connected"
        assert dev["latency_ms"] is not None and dev["node_state"] == "leader"
        assert dev["lag"]["caught_up"] is True
        assert by_name["staging"]["state"] == "not configured" and by_name["staging"]["lag"] is None
        assert by_name["mainnet"]["is_production"] is True

    def test_one_environment_and_an_unknown_one(self, carol, api_as):
        api = api_as(carol)
        assert api.get("/api/v1/environments/dev").json()["name"] == "dev"
        assert api.get("/api/v1/environments/moon").status_code == 404

    def test_no_credentials_are_shown(self, carol, api_as, settings, assert_no_secrets):
        from tests.conftest import point_env_at

        point_env_at(
            settings, "staging", "kurrentdb://127.0.0.1:1?Tls=false", password="s3cret-pw-x"
        )
        body = api_as(carol).get("/api/v1/environments").content.decode()
        assert_no_secrets(body, secrets=("s3cret-pw-x",))

    def test_it_requires_authentication(self, anonymous):
        assert anonymous.get("/api/v1/environments").status_code == 401


class TestActivity:
    def test_the_newest_events_then_only_what_came_after_the_cursor(self, alice, bob, api_as):
        first = record(alice, name="First", is_public=True)
        record(bob, name="Bob's secret", is_public=False)
        api = api_as(alice)
        feed = api.get("/api/v1/activity").json()
        assert [i["title"] for i in feed["items"]] == ["First"]
        cursor = feed["cursor"]
        assert api.get("/api/v1/activity", {"after": cursor}).json()["items"] == []
        records.update_record(alice, first.id, expected_version=0, name="Second")
        records.update_record(alice, first.id, expected_version=1, name="Third")
        later = api.get("/api/v1/activity", {"after": cursor, "limit": 1}).json()
        assert [i["title"] for i in later["items"]] == ["Second"] and later["has_more"] is True
        rest = api.get("/api/v1/activity", {"after": later["cursor"]}).json()
        assert [i["title"] for i in rest["items"]] == ["Third"] and rest["has_more"] is False

    def test_a_bad_cursor_is_named(self, alice, api_as):
        r = api_as(alice).get("/api/v1/activity", {"after": "yesterday"})
        assert r.status_code == 422 and r.json()["field"] == "after"


class TestMe:
    def test_it_says_who_and_how(self, carol, api_as):
        me = api_as(carol, "read").get("/api/v1/me").json()
        assert me == {
            "username": "carol",
            "role": "viewer",
            "auth": "token",
            "token_name": "carol test",
            "token_scope": "read",
            "environment": "dev",
        }


class TestAdmin:
    @pytest.mark.parametrize("who", ["alice", "carol"])
    def test_only_admins_browse_raw_events(self, who, request, api_as):
        assert api_as(request.getfixturevalue(who)).get("/api/v1/admin/events").status_code == 403

    def test_an_admin_reads_a_stream_and_all(self, alice, admin_user, api_as):
        r = record(alice, name="Raw", data={"k": "v"})
        record(alice, name="Another")
        api = api_as(admin_user)
        page = api.get("/api/v1/admin/events", {"stream": record_stream(r.id)}).json()
        assert [e["type"] for e in page["events"]] == ["StreamCreated"]
        assert page["events"][0]["data"]["data"] == {"k": "v"}
        everything = api.get("/api/v1/admin/events", {"size": 1}).json()
        assert len(everything["events"]) == 1 and everything["has_next"] is True
        missing = api.get("/api/v1/admin/events", {"stream": "pool-nothing"})
        assert missing.status_code == 404

    def test_erasing_a_user_needs_an_admin_and_the_name_again(
        self, alice, bob, admin_user, api_as, raw_client
    ):
        r = record(alice, name="Mine")
        entry(alice)
        url = "/api/v1/admin/users/alice/erase"
        assert api_as(bob).post(url, {"confirm": "alice"}).status_code == 403
        wrong = api_as(admin_user).post(url, {"confirm": "alic"})
        assert wrong.status_code == 422 and wrong.json()["field"] == "confirm"
        assert (
            api_as(admin_user).post("/api/v1/admin/users/zed/erase", {"confirm": "zed"}).status_code
            == 404
        )
        done = api_as(admin_user).post(url, {"confirm": "alice"})
        assert done.status_code == 200 and done.json() == {"username": "alice", "streams_erased": 2}
        assert api_as(admin_user).get(f"/api/v1/records/{r.id}").status_code == 404


class TestSchemaAndDocs:
    def test_the_openapi_schema_names_every_endpoint(self, anonymous):
        schema = anonymous.get("/api/v1/openapi.json").json()
        assert schema["openapi"].startswith("3.")
        paths = schema["paths"]
        for path in (
            "/api/v1/records",
            "/api/v1/records/{record_id}",
            "/api/v1/records/{record_id}/history",
            "/api/v1/environments",
            "/api/v1/activity",
        ):
            assert path in paths, path
        errors = paths["/api/v1/records/{record_id}"]["patch"]["responses"]
        assert "application/problem+json" in errors["412"]["content"]
        assert {"BearerToken", "SessionWithCsrf"} <= schema["components"]["securitySchemes"].keys()

    def test_the_docs_page_uses_only_our_own_files(self, anonymous):
        page = anonymous.get("/api/v1/docs")
        assert page.status_code == 200
        html = page.content.decode()
        assert "/static/ninja/swagger-ui-bundle.js" in html
        assert "cdn" not in html.lower() and "https://" not in html
        csp = page["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
