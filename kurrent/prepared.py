"""SQL statements for the hot paths, built once per model instead of once per call.

The ORM compiles every statement anew, and for one small row that costs ten times
the work itself (measured: 3.3 ms against 0.2 ms for the writer's transaction on
SQLite; 0.4 ms against 0.12 ms to fetch one row), which would make every create or
update through the services twice as slow as the KurrentDB append. These helpers
keep the ORM's own value conversion (`Field.get_db_prep_save` to write, but for
values it passes through unchanged; to read, the converters the ORM applies and
`Model.from_db`, so JSON, UUIDs and datetimes round-trip exactly as with the ORM)
and skip only the compilation. Used by the projector's batches and the writer's
shortcut.

Per statement, Django's own layers cost about what SQLite takes for a small insert:
the `django.db.connection` proxy looks the connection up in a context-local each
time (~4 us; these helpers take it once per call), its SQLite cursor rewrites every
statement's %s to ? with a regular expression (~30 us; `cursor()` keeps the
rewritten text), and `transaction.atomic()` keeps books around BEGIN and COMMIT
(`atomic()` sends just those, where it is safe). Whenever queries are being watched
(DEBUG, CaptureQueriesContext, an execute_wrapper), Django's own are used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

try:
    import fcntl
except ImportError:  # not POSIX: threads of one process still queue
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def db() -> Any:
    """The default database connection of this thread (not the proxy)."""
    return connections[DEFAULT_DB_ALIAS]


@contextlib.contextmanager
def cursor() -> Iterator[Any]:
    """A cursor for these statements: while no one watches queries (DEBUG, Django's
    CaptureQueriesContext, an execute_wrapper), one that runs them on the database's
    own cursor. Django's rewrites every SQLite statement from %s to ? with a regular
    expression (~30 us, as much as SQLite takes for a small insert); this one keeps
    the rewritten text, and Django's error translation and broken-transaction check."""
    conn = db()
    if conn.queries_logged or conn.execute_wrappers:
        with conn.cursor() as wrapper:
            yield wrapper
        return
    # What conn.cursor() does, but for wrapping the cursor.
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    with conn.wrap_database_errors:
        raw = conn.create_cursor()
    try:
        yield _Direct(conn, raw)
    finally:
        raw.close()


@contextlib.contextmanager
def atomic() -> Iterator[None]:
    """transaction.atomic(); or on SQLite, outside any atomic block and while no one
    watches queries, the BEGIN and COMMIT it would send, sent on the connection itself
    (without its bookkeeping: ~50 us). Django does not know of that transaction: only
    for blocks of this module's statements (no ORM, no nested atomic). On a SQLite
    file, the transaction waits for its turn first (writer_turn)."""
    conn = db()
    if conn.in_atomic_block:
        with transaction.atomic():
            yield
        return
    if conn.vendor != "sqlite" or conn.queries_logged or conn.execute_wrappers:
        with writer_turn(), transaction.atomic():
            yield
        return
    with writer_turn():
        conn.close_if_health_check_failed()
        conn.ensure_connection()
        sqlite = conn.connection
        mode = conn.transaction_mode
        with conn.wrap_database_errors:
            sqlite.execute("BEGIN" if mode is None else f"BEGIN {mode}")
        try:
            yield
            with conn.wrap_database_errors:
                sqlite.commit()
        except BaseException:
            if sqlite.in_transaction:  # never leave the connection inside our transaction
                with conn.wrap_database_errors:
                    sqlite.rollback()
            raise


class _Turn:
    """Whose turn it is to write one SQLite file: a lock of this process's threads, then
    an exclusive flock() on a file beside the database, shared by every process (taken
    by the thread holding the first, so each process waits in it at most once).
    Reentrant. Opened afresh in a forked child (a flock belongs to its open file)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.fd: int | None = None
        self.depth = 0

    def __enter__(self) -> None:
        self.lock.acquire()
        try:
            if self.depth == 0 and self._file() >= 0:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.lock.release()
            raise
        self.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        try:
            if self.depth == 0 and self.fd is not None and self.fd >= 0:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.lock.release()

    def _file(self) -> int:
        """The lock file's descriptor, or -1 when threads alone take turns (no flock() on
        this system, or the file cannot be opened)."""
        if self.fd is None:
            self.fd = -1
            if fcntl is not None:
                try:
                    self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                except OSError as exc:
                    log.warning(
                        "no writer lock file %s (%s): only threads take turns", self.path, exc
                    )
        return self.fd


_turns: dict[str, _Turn] = {}
_turns_lock = threading.Lock()


def _forget_turns() -> None:
    """In a forked child: none of the parent's turns or locks (another thread of the
    parent may have held one at the fork)."""
    global _turns_lock
    _turns.clear()
    _turns_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_turns)


def _database_file(conn: Any) -> str | None:
    name = str(conn.settings_dict.get("NAME") or "")
    if conn.vendor != "sqlite" or not name or name == ":memory:" or "mode=memory" in name:
        return None
    return name.removeprefix("file:").split("?", 1)[0]


@contextlib.contextmanager
def writer_turn() -> Iterator[None]:
    """On a SQLite database file: wait until no other thread or process of ours is
    writing it, then write (a no-op on PostgreSQL and in-memory databases).

    SQLite lets one writer in at a time and makes the others poll, sleeping 1, 2, 5,
    ... up to 100 ms between tries: at 10 concurrent creates some waited 400 ms for a
    lock that is held about a millisecond at a time. Queued here, they are woken as
    soon as it is free. Writes that do not take it (the ORM's, other programs') still
    work: SQLite's own locking stays the rule."""
    path = _database_file(db())
    if path is None:
        yield
        return
    key = path + "-writer"
    turn = _turns.get(key)
    if turn is None or turn.pid != os.getpid():
        with _turns_lock:
            turn = _turns.get(key)
            if turn is None or turn.pid != os.getpid():
                turn = _turns[key] = _Turn(key)
    with turn:
        yield


class _Direct:
    def __init__(self, conn: Any, cursor: Any) -> None:
        self._conn = conn
        self._cursor = cursor
        self._sqlite = conn.vendor == "sqlite"

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        conn = self._conn
        if conn.needs_rollback:
            conn.validate_no_broken_transaction()
        with conn.wrap_database_errors:
            if self._sqlite:  # the sqlite3 cursor itself, not Django's rewriting subclass
                sqlite3.Cursor.execute(self._cursor, _qmark(sql), params)
            else:
                self._cursor.execute(sql, params)

    def fetchone(self) -> Any:
        with self._conn.wrap_database_errors:
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        with self._conn.wrap_database_errors:
            return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


@lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    """As Django's SQLite cursor rewrites a statement with %s parameters."""
    return re.sub(r"(?<!%)%s", "?", sql).replace("%%", "%")


@cache
def _fields(model: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(model._meta.get_field(name) for name in names)


def fields(model: Any, names: Sequence[str]) -> tuple[Any, ...]:
    """The model's fields of these names."""
    return _fields(model, tuple(names))


@cache
def _insert_sql(model: Any, names: tuple[str, ...], vendor: str, returning: bool) -> str:
    q = db().ops.quote_name
    columns = ", ".join(q(f.column) for f in _fields(model, names))
    marks = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {q(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    if returning:
        sql += f" RETURNING {q(model._meta.pk.column)}"
    return sql


@lru_cache(maxsize=1024)  # the writer updates only the changed columns: a few sets of them
def _update_sql(model: Any, names: tuple[str, ...], where: tuple[str, ...], vendor: str) -> str:
    q = db().ops.quote_name
    sets = ", ".join(f"{q(f.column)} = %s" for f in _fields(model, names))
    conditions = " AND ".join(f"{q(f.column)} = %s" for f in _fields(model, where))
    return f"UPDATE {q(model._meta.db_table)} SET {sets} WHERE {conditions}"  # noqa: S608


def _values(conn: Any, model: Any, names: tuple[str, ...], obj: Any) -> list[Any]:
    return [_prep(conn, field, getattr(obj, field.attname)) for field in _fields(model, names)]


# Field classes whose get_db_prep_save returns a value of these exact types unchanged
# (to_python passes it through; no backend adapts it): ~2 us a field saved.
_AS_IS: dict[type, tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.BooleanField: (bool,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
}


# The last datetime converted, and to what: one event's time fills several columns
# (created_at, updated_at, the Activity row's recorded_at), at ~10 us a conversion.
_last_datetime: tuple[Any, Any, datetime, Any] | None = None


def _prep(conn: Any, field: Any, value: Any) -> Any:
    """`field.get_db_prep_save(value, conn)`, remembering the last datetime's."""
    global _last_datetime
    if type(value) in _AS_IS.get(type(field), ()):
        return value
    if type(value) is not datetime:
        return field.get_db_prep_save(value, conn)
    last = _last_datetime
    if last is not None and last[0] is conn and last[1] is type(field) and last[2] is value:
        return last[3]
    prepped = field.get_db_prep_save(value, conn)
    _last_datetime = (conn, type(field), value, prepped)
    return prepped


def values(model: Any, obj: Any, names: Sequence[str]) -> list[Any]:
    """`obj`'s values of the fields `names` of `model`, as the ORM sends them."""
    return _values(db(), model, tuple(names), obj)


def _conditions(conn: Any, model: Any, where: dict[str, Any]) -> list[Any]:
    keys = tuple(where)
    return [
        field.get_db_prep_value(where[name], conn)
        for name, field in zip(keys, _fields(model, keys), strict=True)
    ]


def update_statement(
    obj: Any, names: Sequence[str], where: dict[str, Any], *, model: Any = None
) -> tuple[str, list[Any]]:
    """The UPDATE of the rows matching `where` (field -> value) with `obj`'s values of
    `names`, and its parameters."""
    conn, model, names = db(), model or type(obj), tuple(names)
    sql = _update_sql(model, names, tuple(where), conn.vendor)
    return sql, [*_values(conn, model, names, obj), *_conditions(conn, model, where)]


def insert_many(model: Any, objs: Sequence[Any], names: Sequence[str]) -> None:
    """INSERT several instances, without fetching their keys."""
    if not objs:
        return
    conn, names = db(), tuple(names)
    sql = _insert_sql(model, names, conn.vendor, False)
    with conn.cursor() as cursor:
        cursor.executemany(sql, [_values(conn, model, names, obj) for obj in objs])


def update_many(model: Any, objs: Sequence[Any], names: Sequence[str]) -> None:
    """UPDATE several instances by primary key with their values of `names`."""
    if not objs:
        return
    conn, names = db(), tuple(names)
    pk = model._meta.pk
    sql = _update_sql(model, names, (pk.name,), conn.vendor)
    with conn.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [*_values(conn, model, names, obj), pk.get_db_prep_value(obj.pk, conn)]
                for obj in objs
            ],
        )


# Per database connection (connections are per thread): model, key fields -> the SELECT,
# the field names, and the converters the ORM applies to each column that has any.
_Plan = tuple[str, list[str], list[tuple[int, Any, list[Callable[..., Any]]]]]
_plans: WeakKeyDictionary[Any, dict[tuple[Any, tuple[str, ...]], _Plan]] = WeakKeyDictionary()


def _select_plan(conn: Any, model: Any, keys: tuple[str, ...]) -> _Plan:
    plans = _plans.get(conn)
    if plans is None:
        plans = _plans[conn] = {}
    plan = plans.get((model, keys))
    if plan is None:
        q = conn.ops.quote_name
        fields = model._meta.concrete_fields
        table = model._meta.db_table
        columns = ", ".join(q(f.column) for f in fields)
        conditions = " AND ".join(f"{q(f.column)} = %s" for f in _fields(model, keys))
        sql = f"SELECT {columns} FROM {q(table)} WHERE {conditions}"  # noqa: S608
        converters = []
        for n, field in enumerate(fields):
            col = field.get_col(table)
            found = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
            if found:
                converters.append((n, col, found))
        plan = plans[(model, keys)] = (sql, [f.attname for f in fields], converters)
    return plan


def fetch_one(model: Any, where: dict[str, Any]) -> Any | None:
    """The instance matching `where` (field -> value; a unique key), or None: what the
    ORM would load (its converters, `Model.from_db`), without a queryset."""
    conn = db()
    sql, names, converters = _select_plan(conn, model, tuple(where))
    with cursor() as statements:
        statements.execute(sql, _conditions(conn, model, where))
        found = statements.fetchone()
    if found is None:
        return None
    values = list(found)
    for n, col, column_converters in converters:
        for converter in column_converters:
            values[n] = converter(values[n], col, conn)
    return model.from_db(DEFAULT_DB_ALIAS, names, values)
