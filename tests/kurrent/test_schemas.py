"""JSON Schemas per user-data type (issue 14, point 2), against a real embedded node.

Every shipped schema refuses what it should with "<path>: <rule>" and appends nothing;
admins replace a schema as an event of its own stream; entries stored before keep
their values and get a notice.
"""

from __future__ import annotations

import json

import pytest

from kurrent.core.errors import Conflict, Forbidden, ValidationError
from kurrent.core.schemas import SHIPPED
from kurrent.services import schemas, userdata

pytestmark = [pytest.mark.django_db]

REFUSED = [
    # (type, value, the message)
    ("profile", {"display_name": ""}, "display_name: must be at least 1 character"),
    ("profile", {"display_name": "x" * 101}, "display_name: must be at most 100 characters"),
    ("profile", {"email": "not-an-address"}, "email: must be an email address"),
    (
        "profile",
        {"avatar_url": "javascript:alert(1)"},
        "avatar_url: must be an http:// or https://",
    ),
    ("profile", {"bio": 42}, "bio: must be text"),
    ("preferences", {"page_size": 5}, "page_size: must be at least 10"),
    ("preferences", {"page_size": 101}, "page_size: must be at most 100"),
    ("preferences", {"page_size": "20"}, "page_size: must be a whole number"),
    ("preferences", {"page_size": 20.5}, "page_size: must be a whole number"),
    ("preferences", {"theme": "blue"}, "theme: must be one of light, dark, system"),
    ("preferences", {"language": "english"}, "language: must be a BCP 47 language tag"),
    ("preferences", {"language": "en_US"}, "language: must be a BCP 47 language tag"),
    ("preferences", {"density": "huge"}, "density: must be one of comfortable, compact"),
    ("preferences", {"reduce_motion": "yes"}, "reduce_motion: must be true or false"),
    ("settings", {"email": "yes"}, "email: must be true or false"),
    ("settings", {"digest": "hourly"}, "digest: must be one of never, daily, weekly"),
    ("settings", {"session_minutes": 2}, "session_minutes: must be at least 5"),
    ("settings", {"session_minutes": 2000}, "session_minutes: must be at most 1440"),
]

ACCEPTED = [
    ("profile", {"display_name": "Pip", "email": "pip@example.org", "bio": "Gentoo."}),
    ("profile", {"avatar_url": "https://example.org/pip.png", "colony": "Snow Hill"}),
    ("preferences", {"theme": "system", "language": "pt-BR", "page_size": 10}),
    ("preferences", {"theme": "dark", "language": "zh-Hant-TW", "page_size": 100}),
    ("preferences", {"language": "en", "density": "compact", "anything": "else"}),
    ("settings", {"email": True, "push": False, "digest": "weekly", "session_minutes": 60}),
    ("data", {"sightings": [1, 2, 3], "nested": {"deep": None}}),
    ("custom", {"whatever": "free-form"}),
]


@pytest.mark.usefixtures("kdb")
class TestShippedSchemas:
    @pytest.mark.parametrize(("entry_type", "value", "message"), REFUSED)
    def test_it_names_the_path_and_the_rule_and_appends_nothing(
        self, alice, our_events, entry_type, value, message
    ):
        with pytest.raises(ValidationError) as info:
            userdata.store_user_data(alice, entry_type, "c", value)

        assert info.value.field == "value"
        assert message in info.value.message
        assert our_events() == []

    @pytest.mark.parametrize(("entry_type", "value"), ACCEPTED)
    def test_good_values_are_stored(self, alice, entry_type, value):
        assert userdata.store_user_data(alice, entry_type, "c", value).value == value

    def test_every_problem_is_named_at_once(self, alice):
        with pytest.raises(ValidationError) as info:
            userdata.store_user_data(alice, "preferences", "c", {"theme": "x", "page_size": 1})
        assert info.value.message == (
            "page_size: must be at least 10; theme: must be one of light, dark, system"
        )

    def test_an_update_is_checked_too(self, alice, our_events):
        entry = userdata.store_user_data(alice, "preferences", "c", {"page_size": 20})
        with pytest.raises(ValidationError) as info:
            userdata.update_entry(alice, entry.id, expected_version=0, value={"page_size": 0})
        assert "page_size: must be at least 10" in info.value.message
        with pytest.raises(ValidationError):
            userdata.store_user_data(
                alice, "preferences", "c", {"page_size": 1000}, expected_version=0
            )
        assert len(our_events()) == 1

    def test_the_shipped_schemas_are_version_0(self):
        for entry_type in ("profile", "preferences", "settings", "data", "custom"):
            current = schemas.current_schema(entry_type)
            assert (current.version, current.schema) == (0, SHIPPED[entry_type])


@pytest.mark.usefixtures("kdb")
class TestReplacingASchema:
    STRICT = {"type": "object", "required": ["theme"], "properties": {"theme": {"enum": ["dark"]}}}

    def test_only_admins_replace_a_schema(self, alice, our_events, raw_client):
        with pytest.raises(Forbidden):
            schemas.replace_schema(alice, "preferences", self.STRICT, expected_version=0)
        assert schemas.current_schema("preferences").version == 0

    def test_a_replacement_is_an_event_of_the_types_stream(self, admin_user, raw_client):
        replaced = schemas.replace_schema(
            admin_user, "preferences", json.dumps(self.STRICT), expected_version=0
        )

        assert (replaced.version, replaced.schema, replaced.replaced_by) == (
            1,
            self.STRICT,
            "admin",
        )
        events = raw_client.get_stream("schema-preferences")
        assert [e.type for e in events] == ["SchemaReplaced"]
        assert json.loads(events[0].data) == {"entry_type": "preferences", "schema": self.STRICT}
        again = schemas.replace_schema(
            admin_user, "preferences", {"type": "object"}, expected_version=1
        )
        history = schemas.schema_history(admin_user, "preferences")
        assert [v.version for v in history] == [0, 1, 2]
        assert history[0].schema == SHIPPED["preferences"] and history[2] == again

    def test_a_stale_version_is_a_conflict(self, admin_user, raw_client):
        schemas.replace_schema(admin_user, "settings", self.STRICT, expected_version=0)
        with pytest.raises(Conflict) as info:
            schemas.replace_schema(admin_user, "settings", {"type": "object"}, expected_version=0)
        assert info.value.current_version == 1
        assert len(raw_client.get_stream("schema-settings")) == 1

    @pytest.mark.parametrize(
        ("schema", "message"),
        [
            ('{"type": "nonsense"}', "is not a valid JSON Schema"),
            ('{"minimum": "ten"}', "is not a valid JSON Schema"),
            ("[1, 2]", "must be a JSON object"),
            ("{not json", "is not valid JSON"),
        ],
    )
    def test_a_broken_schema_is_refused(self, admin_user, our_events, schema, message):
        with pytest.raises(ValidationError) as info:
            schemas.replace_schema(admin_user, "profile", schema, expected_version=0)
        assert info.value.field == "schema" and message in info.value.message
        assert schemas.current_schema("profile").version == 0

    def test_entries_stored_before_keep_their_values_and_get_a_notice(self, alice, admin_user):
        old = userdata.store_user_data(alice, "preferences", "display", {"theme": "light"})
        fits = userdata.store_user_data(alice, "preferences", "fits", {"theme": "dark"})

        schemas.replace_schema(admin_user, "preferences", self.STRICT, expected_version=0)

        # Never hidden, never rewritten.
        assert userdata.get_user_data(alice, alice, "preferences") == {
            "display": old,
            "fits": fits,
        }
        notices = schemas.notices([old, fits])
        assert notices[old.id].stored_before and notices[old.id].schema.version == 1
        assert notices[old.id].problems == ["theme: must be one of dark"]
        assert notices[fits.id].stored_before and notices[fits.id].problems == []
        # Its visibility still changes; a new value meets the schema in force.
        flipped = userdata.update_entry(alice, old.id, expected_version=0, is_public=True)
        assert flipped.value == {"theme": "light"} and flipped.is_public
        with pytest.raises(ValidationError) as info:
            userdata.update_entry(alice, old.id, expected_version=1, value={"theme": "system"})
        assert info.value.message == "theme: must be one of dark"
        with pytest.raises(ValidationError) as info:
            userdata.store_user_data(alice, "preferences", "new", {})
        assert info.value.message == "theme: is required"
        new = userdata.store_user_data(alice, "preferences", "new", {"theme": "dark"})
        assert new.id not in schemas.notices([new])
