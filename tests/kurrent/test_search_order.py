"""Search order (relevance tiers, then recency), plans, capped totals and the index.

kurrent.search orders matches in tiers: every word in the name; every word in the name
or the tags; the rest. Inside a tier, the most recently changed first. Totals are exact
up to search.CAP; past it they are a lower bound, shown as "N+".
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection

from kurrent.models import RecordSearch
from kurrent.readmodel import projector, search
from kurrent.services import records

pytestmark = [pytest.mark.django_db, pytest.mark.readmodel]
URL = "/kurrent-db-demo/"


def _make(user: Any, name: str, data: dict | None = None, tags: tuple = (), public: bool = True):
    return records.create_record(
        user, name=name, data=data or {}, tags=list(tags), is_public=public
    )


def _ids(page: Any) -> list[str]:
    return [r.id for r in page.items]


def _all_pages(user: Any, query: str, size: int, **kw: Any) -> list[Any]:
    pages, number = [], 1
    while True:
        page = records.search_records(user, query, page=number, page_size=size, **kw)
        pages.append(page)
        if not page.has_next:
            return pages
        number += 1


@pytest.fixture
def fetches(monkeypatch: Any) -> list[tuple[str, bool]]:
    """(tier, walked) for each page read of a tier."""
    backend = search._Postgres if search.is_postgres() else search._SQLite
    fetch = backend.fetch
    seen: list[tuple[str, bool]] = []

    def spy(self: Any, tier: str, offset: int, limit: int, *, walk: bool) -> list[int]:
        seen.append((tier, walk))
        return fetch(self, tier, offset, limit, walk=walk)

    monkeypatch.setattr(backend, "fetch", spy)
    return seen


class TestTiers:
    def test_where_all_the_words_are_decides_before_recency(self, kdb, alice):
        in_name = _make(alice, "Gentoo krill feeding")  # the oldest
        name_and_tag = _make(alice, "Gentoo colony", tags=["krill"])
        one_in_data = _make(alice, "Gentoo survey", {"note": "krill swarm"})
        other_in_data = _make(alice, "Krill count", {"note": "gentoo nearby"})
        both_in_data = _make(alice, "Notes", {"a": "gentoo", "b": "krill"})  # the newest
        _make(alice, "Gentoo only")

        page = records.search_records(alice, "gentoo krill")

        assert _ids(page) == [
            in_name.id,
            name_and_tag.id,
            both_in_data.id,  # the data tier, newest first
            other_in_data.id,
            one_in_data.id,
        ]
        assert (page.total, page.total_exact) == (5, True)

    def test_inside_a_tier_recency_beats_how_often_a_word_occurs(self, kdb, alice):
        many = _make(alice, "Log", {"text": "skua skua skua skua", "more": ["skua", "skua"]})
        once = _make(alice, "Log", {"text": "one skua"})

        assert _ids(records.search_records(alice, "skua")) == [once.id, many.id]

        records.update_record(alice, many.id, expected_version=0, metadata={"seen": True})

        assert _ids(records.search_records(alice, "skua")) == [many.id, once.id]

    def test_a_prefix_counts_in_its_tier_too(self, kdb, alice):
        in_data = _make(alice, "Census", {"text": "petrels"})
        in_name = _make(alice, "Petrel nest")

        for typed in ("pe", "pet", "petr", "petre", "petrel"):
            assert _ids(records.search_records(alice, typed)) == [in_name.id, in_data.id], typed

    @pytest.mark.parametrize("size", [1, 2, 3, 4])
    def test_pages_run_across_tiers_without_gaps_or_repeats(self, kdb, alice, size):
        data = [_make(alice, f"Note {n}", {"text": "orca"}) for n in range(3)]
        tagged = _make(alice, "Sighting", tags=["orca"])
        named = [_make(alice, f"Orca {n}") for n in range(2)]
        expected = [r.id for r in (*named[::-1], tagged, *data[::-1])]

        pages = _all_pages(alice, "orca", size)

        assert [i for p in pages for i in _ids(p)] == expected
        assert {p.total for p in pages} == {6} and pages[-1].num_pages == len(pages)


class TestPlans:
    def test_a_tier_much_larger_than_the_page_is_walked_a_small_one_sorted(
        self, kdb, alice, fetches, monkeypatch
    ):
        monkeypatch.setattr(search, "WALK", 2)
        for n in range(7):
            _make(alice, f"Albatross {n}")
        rare = _make(alice, "Log", {"text": "albatross"})

        first = records.search_records(alice, "albatross", page_size=3)  # 7 matches > bound 4
        assert fetches == [("name", True)] and len(first.items) == 3
        fetches.clear()

        last = records.search_records(alice, "albatross", page=3, page_size=3)
        assert fetches == [("name", False), ("data", False)]
        assert _ids(last)[-1] == rare.id

    def test_both_plans_give_the_same_pages(self, kdb, alice, bob, monkeypatch):
        for n in range(9):
            _make(
                alice if n % 2 else bob, f"Seal {n}", tags=["seal"] if n % 3 else [], public=n != 4
            )
            _make(alice, f"Note {n}", {"text": "seal"}, public=n % 2 == 0)

        def order(walk: int) -> list[list[str]]:
            monkeypatch.setattr(search, "WALK", walk)
            return [
                [i for p in _all_pages(user, "seal", 4, **kw) for i in _ids(p)]
                for user in (alice, bob)
                for kw in ({}, {"tags": ["seal"]}, {"owner": "alice"})
            ]

        walked, sorted_ = order(1), order(10**6)

        assert walked == sorted_
        assert all(walked) and len(walked[0]) == 17  # alice: all but bob's private seal


class TestCappedTotals:
    def test_past_the_cap_the_total_is_a_lower_bound_and_pages_go_on(self, kdb, alice, monkeypatch):
        monkeypatch.setattr(search, "CAP", 3)
        made = [_make(alice, f"Krill {n}").id for n in range(7)]

        first = records.search_records(alice, "krill", page_size=2)
        assert (first.total, first.total_exact, first.has_next, first.num_pages) == (
            3,
            False,
            True,
            2,
        )
        pages = _all_pages(alice, "krill", 2)
        assert [i for p in pages for i in _ids(p)] == made[::-1]
        assert [(p.total, p.total_exact) for p in pages] == [
            (3, False),
            (4, False),  # counted to the end of the page asked for, and one more
            (6, False),
            (7, True),
        ]
        assert pages[-1].num_pages == 4 and not pages[-1].has_next

    def test_a_page_past_the_end_shows_the_last_one(self, kdb, alice, monkeypatch):
        monkeypatch.setattr(search, "CAP", 2)
        made = [_make(alice, f"Skua {n}").id for n in range(5)]

        page = records.search_records(alice, "skua", page=40, page_size=2)

        assert (page.page, page.total, page.total_exact) == (3, 5, True)
        assert _ids(page) == [made[0]]

    def test_the_results_show_n_plus_and_no_last_page(self, kdb, client, alice, monkeypatch):
        monkeypatch.setattr(search, "CAP", 10)
        for n in range(12):
            _make(alice, f"Petrel {n}")
        client.force_login(alice)

        body = client.get(URL, {"q": "petrel", "size": "10"}).content.decode()
        assert re.search(r">10\+ records</span> found · page 1\s*</p>", body)
        assert "Page 1</span>" in body and "Last »" not in body and 'rel="next"' in body

        last = client.get(URL, {"q": "petrel", "size": "10", "page": "2"}).content.decode()
        assert "12 records found · page 2 of 2" in last and "Page 2 of 2" in last


def _index() -> dict[str, list[tuple]]:
    """The search index by record id (rowids and primary keys change in a rebuild)."""
    if search.is_postgres():
        fields = ["env", "is_public", "owner_id", "updated_at"]
        fields += ["search_vector", "head_vector", "tags"]
        rows = RecordSearch.objects.values_list("record__record_id", *fields)
        return {"search": sorted(rows, key=str)}
    queries = {
        "fts": "SELECT r.record_id, f.name, f.tags, f.body FROM kurrent_record_fts f "
        "LEFT JOIN kurrent_streamrecord r ON r.id = f.rowid",
        "head": "SELECT r.record_id, f.name, f.tags FROM kurrent_record_head f "
        "LEFT JOIN kurrent_streamrecord r ON r.id = f.rowid",
    }
    with connection.cursor() as cursor:
        found = {}
        for name, sql in queries.items():
            cursor.execute(sql)
            found[name] = sorted(cursor.fetchall(), key=str)
        return found


class TestIndex:
    def test_it_holds_the_live_records_and_a_rebuild_ends_equal(self, kdb, alice, bob):
        kept = _make(alice, "Weddell seal", {"site": {"name": "Ross"}}, ("seal",))
        records.update_record(alice, kept.id, expected_version=0, name="Leopard seal", tags=["x"])
        records.update_record(alice, kept.id, expected_version=1, is_public=False)
        gone = _make(bob, "Gone seal")
        records.delete_record(bob, gone.id)
        _make(bob, "Other", {"a": ["deep", {"b": "text"}]})
        before = _index()

        projector.rebuild()

        assert _index() == before
        rows = next(iter(before.values()))
        assert len(rows) == 2 and None not in [row[0] for row in rows]  # no stale rows
        assert _ids(records.search_records(alice, "leopard")) == [kept.id]
        assert records.search_records(alice, "weddell").total == 0
        assert records.search_records(bob, "leopard").total == 0  # private now

    def test_visibility_and_owner_changes_reach_searches(self, kdb, alice, bob, carol):
        record = _make(alice, "Chinstrap rookery", tags=["colony"])
        assert _ids(records.search_records(carol, "chinstrap", tags=["colony"])) == [record.id]

        records.update_record(alice, record.id, expected_version=0, is_public=False)

        for kw in ({}, {"tags": ["colony"]}, {"owner": "alice"}):
            assert records.search_records(carol, "chinstrap", **kw).total == 0, kw
        assert _ids(records.search_records(alice, "chinstrap", owner="alice")) == [record.id]
