"""SQL statements for the hot paths, built once per model instead of once per call.

The ORM compiles every statement anew, and for one small row that costs ten times
the work itself (measured: 3.3 ms against 0.2 ms for the writer's transaction on
SQLite; 0.4 ms against 0.12 ms to fetch one row), which would make every create or
update through the services twice as slow as the KurrentDB append. These helpers
keep the ORM's own value conversion (`Field.get_db_prep_save`, and `Model.objects.raw`
to read, so JSON, UUIDs and datetimes round-trip exactly as with the ORM) and skip
only the compilation. Used by the projector's batches and the writer's shortcut.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection


@cache
def _fields(model: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(model._meta.get_field(name) for name in names)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _insert_sql(model: Any, names: tuple[str, ...], vendor: str, returning: bool) -> str:
    columns = ", ".join(_q(f.column) for f in _fields(model, names))
    marks = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {_q(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    if returning:
        sql += f" RETURNING {_q(model._meta.pk.column)}"
    return sql


@cache
def _update_sql(model: Any, names: tuple[str, ...], where: tuple[str, ...], vendor: str) -> str:
    sets = ", ".join(f"{_q(f.column)} = %s" for f in _fields(model, names))
    conditions = " AND ".join(f"{_q(f.column)} = %s" for f in _fields(model, where))
    return f"UPDATE {_q(model._meta.db_table)} SET {sets} WHERE {conditions}"  # noqa: S608


def _values(model: Any, names: tuple[str, ...], obj: Any) -> list[Any]:
    return [
        field.get_db_prep_save(getattr(obj, field.attname), connection)
        for field in _fields(model, names)
    ]


def insert(obj: Any, names: Sequence[str]) -> int:
    """INSERT one model instance (the given fields); sets and returns its primary key."""
    model, names = type(obj), tuple(names)
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_sql(model, names, connection.vendor, True), _values(model, names, obj)
        )
        obj.pk = cursor.fetchone()[0]
    return obj.pk


def insert_many(model: Any, objs: Sequence[Any], names: Sequence[str]) -> None:
    """INSERT several instances, without fetching their keys."""
    if not objs:
        return
    names = tuple(names)
    sql = _insert_sql(model, names, connection.vendor, False)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [_values(model, names, obj) for obj in objs])


def update(obj: Any, names: Sequence[str], where: dict[str, Any]) -> int:
    """UPDATE the rows matching `where` (field -> value) with `obj`'s values of `names`;
    returns how many rows changed (a compare-and-swap checks for exactly one)."""
    model, names = type(obj), tuple(names)
    keys = tuple(where)
    conditions = [
        field.get_db_prep_value(where[name], connection)
        for name, field in zip(keys, _fields(model, keys), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            _update_sql(model, names, keys, connection.vendor),
            [*_values(model, names, obj), *conditions],
        )
        return cursor.rowcount


def update_many(model: Any, objs: Sequence[Any], names: Sequence[str]) -> None:
    """UPDATE several instances by primary key with their values of `names`."""
    if not objs:
        return
    names = tuple(names)
    pk = model._meta.pk
    sql = _update_sql(model, names, (pk.name,), connection.vendor)
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [*_values(model, names, obj), pk.get_db_prep_value(obj.pk, connection)]
                for obj in objs
            ],
        )


@cache
def _select_sql(model: Any, where: tuple[str, ...], vendor: str) -> str:
    conditions = " AND ".join(f"{_q(f.column)} = %s" for f in _fields(model, where))
    return f"SELECT * FROM {_q(model._meta.db_table)} WHERE {conditions}"  # noqa: S608


def fetch_one(model: Any, where: dict[str, Any]) -> Any | None:
    """The instance matching `where` (field -> value; a unique key), or None."""
    keys = tuple(where)
    params = [
        field.get_db_prep_value(where[name], connection)
        for name, field in zip(keys, _fields(model, keys), strict=True)
    ]
    found = list(model.objects.raw(_select_sql(model, keys, connection.vendor), params))
    return found[0] if found else None
