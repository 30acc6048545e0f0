"""Search finds what people type: a word half typed whatever stemming does, a record's
id (whole or its first 8 digits), numbers inside data, the owner in any case, several
tags at once. On SQLite (FTS5) and PostgreSQL (`-m readmodel` runs there too)."""

from __future__ import annotations

import pytest

from kurrent.readmodel import search
from kurrent.readmodel.searchwords import fts_words
from kurrent.services import records
from tests.conftest import _user

pytestmark = [pytest.mark.django_db, pytest.mark.readmodel]


def _make(user, name, data=None, tags=(), public=True):
    return records.create_record(
        user, name=name, data=data or {}, tags=list(tags), is_public=public
    )


def found(actor, query, **filters) -> list[str]:
    return [r.id for r in records.search_records(actor, query, **filters).items]


class TestAWordBeingTyped:
    @pytest.mark.parametrize(
        "typed", ["b", "br", "brea", "break", "breaki", "breakin", "breaking", "sea ice breaki"]
    )
    def test_every_prefix_of_a_stemmed_word_finds_it(self, kdb, alice, typed):
        record = _make(alice, "Sea ice breaking up")
        _make(alice, "Seal colony")

        assert found(alice, typed) == [record.id]

    def test_a_prefix_in_the_data_or_tags_finds_it_too(self, kdb, alice):
        in_data = _make(alice, "Survey", {"note": "the floes were drifting apart"})
        in_tags = _make(alice, "Photo", tags=["nesting"])

        assert found(alice, "driftin") == [in_data.id]
        assert found(alice, "nestin") == [in_tags.id]

    def test_a_prefix_still_does_not_match_inside_a_word(self, kdb, alice):
        _make(alice, "Sea ice breaking up")

        assert found(alice, "reaki") == []
        assert found(alice, "breakix") == []

    def test_the_name_still_ranks_first(self, kdb, alice):
        in_data = _make(alice, "Survey", {"note": "ice breaking"})
        in_name = _make(alice, "Ice breaking")

        assert found(alice, "ice breaki") == [in_name.id, in_data.id]


class TestById:
    def test_a_whole_id_or_its_first_8_digits_finds_the_record(self, kdb, alice):
        record = _make(alice, "Krill swarm")
        _make(alice, "Other")

        assert found(alice, record.id) == [record.id]
        assert found(alice, record.id.upper()) == [record.id]
        assert found(alice, record.id.replace("-", "")) == [record.id]
        assert found(alice, record.id[:8]) == [record.id]
        assert found(alice, f"  {record.id[:13]} ") == [record.id]

    def test_an_id_of_a_record_the_viewer_may_not_see_finds_nothing(self, kdb, alice, bob):
        private = _make(alice, "Secret", public=False)

        assert found(bob, private.id) == []
        assert found(bob, private.id[:8]) == []
        assert found(alice, private.id[:8]) == [private.id]

    def test_short_or_malformed_ids_are_words(self, kdb, alice):
        assert search.id_range("abc1234") is None  # 7 digits
        assert search.id_range("0123-456789ab") is None  # dashes where no id has them
        assert search.id_range("penguins") is None
        low, high = search.id_range("DEADBEEF")
        assert str(low) == "deadbeef-0000-0000-0000-000000000000"
        assert str(high) == "deadbeef-ffff-ffff-ffff-ffffffffffff"


class TestNumbersInData:
    def test_whole_numbers_inside_data_are_found(self, kdb, alice):
        record = _make(alice, "Count", {"site": {"adults": 4217, "chicks": [12, 980]}})
        _make(alice, "Other", {"adults": 421})

        assert found(alice, "4217") == [record.id]
        assert found(alice, "980") == [record.id]
        assert found(alice, "count 12") == [record.id]
        assert found(alice, "true") == []  # booleans and nulls are not text

    def test_a_changed_number_is_found_by_its_new_value(self, kdb, alice):
        record = _make(alice, "Count", {"adults": 10})
        records.update_record(alice, record.id, expected_version=0, data={"adults": 77})

        assert found(alice, "77") == [record.id]
        assert found(alice, "10") == []


class TestOwnerAndTags:
    def test_the_owner_filter_ignores_case(self, kdb, alice, bob):
        mine = _make(alice, "Orca pod")
        _make(bob, "Orca pod")

        assert found(bob, "orca", owner="ALICE") == [mine.id]
        assert [r.id for r in records.list_records(bob, owner="Alice").items] == [mine.id]

    def test_the_name_as_written_wins_over_another_case(self, kdb, alice):
        upper = _user("Alice", "editor")
        theirs = _make(upper, "Orca pod")
        _make(alice, "Orca pod")

        assert found(alice, "orca", owner="Alice") == [theirs.id]

    def test_owner_suggestions_are_the_owners_the_viewer_can_see(self, kdb, alice, bob, carol):
        _make(alice, "Visible")
        _make(bob, "Hidden", public=False)
        _user("alfred", "editor")  # owns nothing

        assert records.owner_suggestions(carol, "AL") == ["alice"]
        assert records.owner_suggestions(carol, "b") == []
        assert records.owner_suggestions(bob, "b") == ["bob"]
        assert records.owner_suggestions(carol, "") == []

    def test_several_tags_all_must_match(self, kdb, alice):
        both = _make(alice, "Seal survey", tags=["seal", "survey", "2026"])
        _make(alice, "Seal photo", tags=["seal"])

        assert found(alice, "seal", tags="seal, survey") == [both.id]
        assert found(alice, "", tags="survey 2026 seal") == [both.id]
        assert found(alice, "seal", tags=["seal", "nothing"]) == []


class TestIndexedText:
    def test_words_of_four_letters_or_more_get_an_unstemmed_copy(self):
        assert fts_words("Sea ice breaking-up, breaking 42 abc1") == (
            "Sea ice breaking-up, breaking 42 abc1 breaking0"
        )
        assert fts_words("") == ""
        assert fts_words("ice 42") == "ice 42"
