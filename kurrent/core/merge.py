"""Three-way merge of an edit that met a conflict: the version the user saw (base), the
version stored now (theirs) and what the user submitted (mine).

Field by field, and inside JSON objects key by key (at any depth): a part only one side
changed takes that side's value; a part both sides changed to the same value takes it;
a part both changed differently is a conflict, left at the user's value until they
choose. Lists and other values are merged whole. Free of Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


@dataclass(frozen=True)
class Clash:
    """One part both sides changed differently. `path`: the field, then JSON keys."""

    path: tuple[str, ...]
    base: Any
    theirs: Any
    mine: Any

    @property
    def label(self) -> str:
        return ".".join(self.path)


@dataclass
class Merged:
    """The merged values (field -> value; a clash holds the user's value) and what
    became of each changed part."""

    values: dict[str, Any]
    clashes: list[Clash] = field(default_factory=list)
    theirs_taken: list[str] = field(default_factory=list)  # parts only they changed
    mine_kept: list[str] = field(default_factory=list)  # parts only the user changed


def merge3(base: dict[str, Any], theirs: dict[str, Any], mine: dict[str, Any]) -> Merged:
    """Merge the fields of `mine` (field -> value; base and theirs hold the same fields)."""
    result = Merged(values={})
    for name, value in mine.items():
        merged = _merge(
            (name,), base.get(name, MISSING), theirs.get(name, MISSING), value, result, top=True
        )
        result.values[name] = merged
    return result


def _merge(
    path: tuple[str, ...], base: Any, theirs: Any, mine: Any, result: Merged, top: bool = False
) -> Any:
    label = ".".join(path)
    if _same(mine, theirs):
        return mine
    if _same(mine, base):
        result.theirs_taken.append(label)
        return theirs
    if _same(theirs, base):
        result.mine_kept.append(label)
        return mine
    if all(isinstance(v, dict) for v in (base, theirs, mine)):
        merged: dict[str, Any] = {}
        for key in _keys(base, theirs, mine):
            value = _merge(
                (*path, key),
                base.get(key, MISSING),
                theirs.get(key, MISSING),
                mine.get(key, MISSING),
                result,
            )
            if value is not MISSING:
                merged[key] = value
        return merged
    result.clashes.append(Clash(path, base, theirs, mine))
    return mine


def _keys(*objects: dict[str, Any]) -> list[str]:
    """Every key of the objects, in the order they first appear (mine's order last)."""
    seen: dict[str, None] = {}
    for obj in (objects[2], objects[1], objects[0]):
        for key in obj:
            seen.setdefault(key, None)
    return list(seen)


def _same(a: Any, b: Any) -> bool:
    # JSON's true is not 1 (Python says True == 1): compare types of scalars too.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a is b if a is MISSING or b is MISSING else a == b


def choose(values: dict[str, Any], path: tuple[str, ...], theirs_value: Any) -> dict[str, Any]:
    """`values` with the part at `path` set to `theirs_value` (MISSING: removed)."""
    if len(path) == 1:
        out = dict(values)
        if theirs_value is MISSING:
            out.pop(path[0], None)
        else:
            out[path[0]] = theirs_value
        return out
    head, rest = path[0], path[1:]
    inner = values.get(head)
    inner = dict(inner) if isinstance(inner, dict) else {}
    return {**values, head: choose(inner, rest, theirs_value)}


def value_at(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The part of `values` at `path`, MISSING if there is none."""
    current: Any = values
    for key in path:
        if not isinstance(current, dict) or key not in current:
            return MISSING
        current = current[key]
    return current
