"""Full-text search over stream records (FTS5 on SQLite, tsvector on PostgreSQL).

Every test runs twice: with each tier's page sorted from its matches, and walked from
the recency index (kurrent.search picks one by size; both must give the same pages)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from kurrentdbclient import NewEvent, NewEvents, StreamState

from kurrent.core.errors import ValidationError
from kurrent.readmodel import projector, search
from kurrent.services import records

pytestmark = [pytest.mark.django_db, pytest.mark.readmodel, pytest.mark.usefixtures("plan")]


@pytest.fixture(params=["sort", "walk"])
def plan(request: Any, monkeypatch: Any) -> str:
    """Force one plan for every tier a search reads."""
    backend = search._Postgres if search.is_postgres() else search._SQLite
    fetch = backend.fetch
    forced = request.param == "walk"

    def forced_fetch(self: Any, tier: str, offset: int, limit: int, *, walk: bool) -> list[int]:
        return fetch(self, tier, offset, limit, walk=forced)

    monkeypatch.setattr(backend, "fetch", forced_fetch)
    return request.param


def _created(record_id: str, owner: Any) -> bytes:
    """A StreamCreated event as another process would append it."""
    body = {"record_id": record_id, "name": "Tie", "data": {}, "tags": [], "is_public": True}
    return json.dumps(
        {**body, "owner_id": owner.pk, "owner": owner.username, "metadata": {}}
    ).encode()


def _make(user, name, data=None, tags=(), public=True):
    return records.create_record(
        user, name=name, data=data or {}, tags=list(tags), is_public=public
    )


class TestRanking:
    def test_a_name_match_ranks_above_a_tag_match_above_a_data_match(self, kdb, alice):
        in_data = _make(alice, "Survey notes", {"text": "a gentoo was seen"})
        in_tags = _make(alice, "Colony list", tags=["gentoo"])
        in_name = _make(alice, "Gentoo rookery")
        _make(alice, "Unrelated", {"text": "adelie only"})

        page = records.search_records(alice, "gentoo")

        assert [r.id for r in page.items] == [in_name.id, in_tags.id, in_data.id]
        assert page.total == 3

    def test_equal_matches_come_most_recent_first(self, kdb, alice):
        older = _make(alice, "Krill count")
        newer = _make(alice, "Krill count")
        assert [r.id for r in records.search_records(alice, "krill").items] == [newer.id, older.id]

        records.update_record(alice, older.id, expected_version=0, metadata={"checked": True})

        assert [r.id for r in records.search_records(alice, "krill").items] == [older.id, newer.id]

    def test_records_changed_at_the_same_moment_come_newest_row_first(self, kdb, alice, raw_client):
        """One multi-stream append gives its events one timestamp: the tie goes to the
        row projected last (the higher id), as in lists."""
        ids = [str(uuid.uuid4()) for _ in range(3)]
        raw_client.multi_append_to_stream(
            [
                NewEvents(
                    stream_name=f"pool-{record_id}",
                    events=[NewEvent(type="StreamCreated", data=_created(record_id, alice))],
                    current_version=StreamState.NO_STREAM,
                )
                for record_id in ids
            ]
        )
        projector.catch_up()

        page = records.search_records(alice, "tie")

        assert len({r.updated_at for r in page.items}) == 1
        assert [r.id for r in page.items] == ids[::-1]
        assert [r.id for r in records.list_records(alice).items] == ids[::-1]

    def test_every_word_must_match_and_words_are_stemmed(self, kdb, alice):
        both = _make(alice, "Penguins diving deep", {"site": {"name": "Ross Sea"}})
        _make(alice, "Penguin walking")

        assert [r.id for r in records.search_records(alice, "penguin dive").items] == [both.id]
        assert records.search_records(alice, "penguins").total == 2
        assert [r.id for r in records.search_records(alice, "ross").items] == [both.id]

    def test_the_last_word_matches_as_a_prefix(self, kdb, alice):
        record = _make(alice, "Chinstrap colony")

        assert [r.id for r in records.search_records(alice, "chinst").items] == [record.id]
        assert records.search_records(alice, "chinst colony").total == 0  # only the last word
        assert records.search_records(alice, "colony chinst").total == 1

    def test_nested_text_values_are_searchable(self, kdb, alice):
        record = _make(alice, "Deep", {"a": [{"b": {"c": "bioluminescence"}}], "n": 123})

        assert [r.id for r in records.search_records(alice, "bioluminescence").items] == [record.id]
        assert [r.id for r in records.search_records(alice, "123").items] == [record.id]

    def test_operators_and_punctuation_are_plain_words(self, kdb, alice):
        record = _make(alice, "Skua NEAR nest")

        for query in (
            'skua"',
            "skua AND",
            "skua*",
            "NEAR(skua)",
            "skua -nest",
            "'skua'",
            "nest_skua",
        ):
            found = [r.id for r in records.search_records(alice, query).items]
            assert found == [record.id], query
        assert records.search_records(alice, '"" ** ::').total == 1  # no words: a plain list

    def test_stop_words_are_ignored_alike_on_both_databases(self, kdb, alice):
        record = _make(alice, "The colony at the point")

        assert [r.id for r in records.search_records(alice, "colony of the").items] == [record.id]
        assert [r.id for r in records.search_records(alice, "a point").items] == [record.id]

    def test_a_too_long_query_is_refused(self, kdb, alice):
        with pytest.raises(ValidationError) as info:
            records.search_records(alice, "x" * 201)
        assert info.value.field == "query"


class TestPagination:
    def test_pages_cover_every_match_once(self, kdb, alice):
        made = {_make(alice, f"Albatross sighting {n}").id for n in range(23)}
        _make(alice, "Petrel")

        pages = [
            records.search_records(alice, "albatross", page=n, page_size=10) for n in (1, 2, 3)
        ]

        assert [len(p.items) for p in pages] == [10, 10, 3]
        assert [(p.has_previous, p.has_next) for p in pages] == [
            (False, True),
            (True, True),
            (True, False),
        ]
        assert {p.total for p in pages} == {23} and {p.num_pages for p in pages} == {3}
        seen = [r.id for p in pages for r in p.items]
        assert len(seen) == len(set(seen)) and set(seen) == made
        past_the_end = records.search_records(alice, "albatross", page=9, page_size=10)
        assert past_the_end.page == 3 and len(past_the_end.items) == 3

    def test_lists_page_the_same_way(self, kdb, alice):
        made = [_make(alice, f"Item {n}").id for n in range(7)]

        first = records.list_records(alice, page=1, page_size=5)
        second = records.list_records(alice, page=2, page_size=5)

        assert [r.id for r in first.items + second.items] == made[::-1]
        assert (first.total, first.num_pages, second.has_next) == (7, 2, False)
        with pytest.raises(ValidationError) as info:
            records.list_records(alice, page_size=1000)
        assert info.value.field == "page_size"


class TestFilters:
    def test_tags_must_all_match(self, kdb, alice):
        both = _make(alice, "Seal survey", tags=["seal", "survey"])
        one = _make(alice, "Seal photo", tags=["seal"])

        assert {r.id for r in records.search_records(alice, "seal", tags=["seal"]).items} == {
            both.id,
            one.id,
        }
        assert [r.id for r in records.search_records(alice, "seal", tags="seal survey").items] == [
            both.id
        ]
        assert [r.id for r in records.list_records(alice, tags=["survey", "seal"]).items] == [
            both.id
        ]
        assert records.list_records(alice, tags=["nothing"]).total == 0

    def test_owner_filter(self, kdb, alice, bob):
        mine = _make(alice, "Orca pod")
        theirs = _make(bob, "Orca pod")

        assert [r.id for r in records.search_records(bob, "orca", owner="alice").items] == [mine.id]
        assert [r.id for r in records.list_records(alice, owner="bob").items] == [theirs.id]
        assert records.list_records(alice, owner="nobody").total == 0

    def test_updates_and_deletes_reach_the_index(self, kdb, alice):
        record = _make(alice, "Leopard seal")
        records.update_record(alice, record.id, expected_version=0, name="Weddell seal")

        assert records.search_records(alice, "leopard").total == 0
        assert records.search_records(alice, "weddell").total == 1

        records.delete_record(alice, record.id)

        assert records.search_records(alice, "weddell").total == 0
        assert records.list_records(alice).total == 0


class TestPrivacy:
    def test_no_list_or_search_shows_another_users_private_record(
        self, kdb, alice, bob, carol, admin_user
    ):
        private = _make(
            alice, "Secret nesting site", {"gps": "secret coordinates"}, ["secret"], False
        )
        public = _make(alice, "Public nesting site", {"gps": "published"}, ["secret"], True)
        bobs_private = _make(bob, "Bob's secret", tags=["secret"], public=False)

        def ids(page):
            return {r.id for r in page.items}

        for outsider, own in ((bob, {bobs_private.id}), (carol, set())):
            for page in (
                records.list_records(outsider),
                records.list_records(outsider, owner="alice"),
                records.list_records(outsider, tags=["secret"]),
                records.search_records(outsider, "secret"),
                records.search_records(outsider, "nesting"),
                records.search_records(outsider, "coordinates"),
                records.search_records(outsider, "secret", owner="alice"),
                records.search_records(outsider, "site", tags=["secret"]),
            ):
                assert private.id not in ids(page)
                assert page.total == len(page.items)  # totals do not count hidden records
            assert ids(records.list_records(outsider)) == {public.id} | own
        assert ids(records.search_records(alice, "secret")) == {private.id, public.id}
        assert ids(records.search_records(admin_user, "secret")) == {
            private.id,
            public.id,
            bobs_private.id,
        }
        assert ids(records.list_records(admin_user)) == {private.id, public.id, bobs_private.id}
