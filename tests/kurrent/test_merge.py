"""kurrent.core.merge in memory: the three-way merge rules, as one story per case."""

from __future__ import annotations

from kurrent.core.merge import MISSING, choose, merge3, value_at

BASE = {"name": "Colony", "data": {"count": 3, "site": {"name": "Snow Hill", "lat": -64}}}


def test_parts_changed_on_one_side_take_that_side():
    theirs = {"name": "Colony", "data": {"count": 4, "site": {"name": "Snow Hill", "lat": -64}}}
    mine = {"name": "Colony A", "data": {"count": 3, "site": {"name": "Snow Hill", "lat": -65}}}
    merged = merge3(BASE, theirs, mine)
    assert merged.values == {
        "name": "Colony A",
        "data": {"count": 4, "site": {"name": "Snow Hill", "lat": -65}},
    }
    assert merged.clashes == []
    assert merged.theirs_taken == ["data.count"]
    assert merged.mine_kept == ["name", "data.site"]  # the highest part only one changed


def test_only_parts_changed_differently_on_both_sides_clash():
    theirs = {"name": "Colony B", "data": {"count": 4, "site": {"name": "Cape", "lat": -64}}}
    mine = {"name": "Colony B", "data": {"count": 5, "site": {"name": "Snow Hill", "lat": -64}}}
    merged = merge3(BASE, theirs, mine)
    assert [c.label for c in merged.clashes] == ["data.count"]
    assert (merged.clashes[0].theirs, merged.clashes[0].mine) == (4, 5)
    assert merged.values["data"] == {"count": 5, "site": {"name": "Cape", "lat": -64}}
    assert merged.values["name"] == "Colony B"  # the same change on both sides


def test_added_and_removed_keys_merge_too():
    theirs = {"data": {"count": 3, "site": BASE["data"]["site"], "new": 1}}
    mine = {"data": {"site": BASE["data"]["site"]}}  # the count removed
    merged = merge3({"data": BASE["data"]}, theirs, mine)
    assert merged.values == {"data": {"site": BASE["data"]["site"], "new": 1}}
    removed_vs_changed = merge3({"data": {"a": 1}}, {"data": {"a": 2}}, {"data": {}})
    assert removed_vs_changed.clashes[0].mine is MISSING


def test_true_is_not_one_and_lists_merge_whole():
    merged = merge3({"v": {"x": 1}}, {"v": {"x": 1}}, {"v": {"x": True}})
    assert merged.values == {"v": {"x": True}} and merged.mine_kept == ["v"]
    lists = merge3({"tags": ["a"]}, {"tags": ["a", "b"]}, {"tags": ["a", "c"]})
    assert [c.label for c in lists.clashes] == ["tags"]


def test_choosing_theirs_sets_the_part():
    values = {"data": {"count": 5, "site": "x"}}
    assert choose(values, ("data", "count"), 4) == {"data": {"count": 4, "site": "x"}}
    assert choose(values, ("data", "count"), MISSING) == {"data": {"site": "x"}}
    assert value_at(values, ("data", "site")) == "x"
    assert value_at(values, ("data", "nope")) is MISSING
