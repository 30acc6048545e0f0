"""Small helpers shared by the embedded node's tests."""

from __future__ import annotations

from kurrentdbclient import NewEvent


def events(count: int, type_: str = "Tested", **kwargs) -> list[NewEvent]:
    """`count` new JSON events numbered 0..count-1 in their data."""
    return [NewEvent(type=type_, data=f'{{"n": {n}}}'.encode(), **kwargs) for n in range(count)]
