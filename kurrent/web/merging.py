"""The edit pages' three-way merge after a conflict (records and entries).

When a save meets a newer version, the view merges the version the user saw, the one
stored now and what the user submitted (kurrent.core.merge) and shows the edit form
again filled with the merge, against the version stored now: nothing is saved until
the user presses Save. Each part both sides changed differently asks for a choice (a
radio pair posted as `merge_path` + `merge_choice_<n>`); on that save, "theirs" takes
the value of the version the form now expects, read again from the stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import QueryDict

from kurrent.core.merge import MISSING, Merged, choose, merge3, value_at


def fields_of(state: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """A record's or entry's editable fields as plain JSON values (tags as a list)."""
    return {n: list(getattr(state, n)) if n == "tags" else getattr(state, n) for n in names}


def merge(base: Any, current: Any, mine: dict[str, Any], names: tuple[str, ...]) -> Merged:
    return merge3(fields_of(base, names), fields_of(current, names), mine)


def form_data(post: QueryDict, merged: Merged, json_fields: tuple[str, ...]) -> QueryDict:
    """The posted form with the merged values in its fields (the caller moves it onto
    the current version)."""
    data = post.copy()
    for name, value in merged.values.items():
        if name == "tags":
            data[name] = ", ".join(value)
        elif name == "is_public":
            if value:
                data[name] = "on"
            else:
                data.pop(name, None)
        elif name in json_fields:
            data[name] = json.dumps(value, indent=2, ensure_ascii=False)
        else:
            data[name] = value
    for key in [k for k in data if k == "merge_path" or k.startswith("merge_choice_")]:
        data.pop(key)
    return data


def context(merged: Merged) -> dict[str, Any]:
    """What the template shows of a merge."""
    return {
        "clean": not merged.clashes,
        "theirs_taken": merged.theirs_taken,
        "mine_kept": merged.mine_kept,
        "clashes": [
            {
                "index": n,
                "label": clash.label,
                "path": json.dumps(list(clash.path)),
                "mine": _shown(clash.mine),
                "theirs": _shown(clash.theirs),
            }
            for n, clash in enumerate(merged.clashes)
        ],
    }


def apply_choices(
    post: QueryDict, values: dict[str, Any], stored: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """`values` (the cleaned form) with every part the user chose "theirs" for set to
    the value stored at the version the form expects (`stored()` reads its fields)."""
    chosen: list[tuple[str, ...]] = []
    for n, raw in enumerate(post.getlist("merge_path")):
        if post.get(f"merge_choice_{n}") != "theirs":
            continue
        try:
            path = tuple(json.loads(raw))
        except (ValueError, TypeError):
            continue
        if path and all(isinstance(p, str) for p in path) and path[0] in values:
            chosen.append(path)
    if not chosen:
        return values
    theirs = stored()
    for path in chosen:
        values = choose(values, path, value_at(theirs, path))
    return values


def _shown(value: Any) -> str:
    if value is MISSING:
        return "(removed)"
    return json.dumps(value, ensure_ascii=False)
