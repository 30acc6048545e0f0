"""prepared.writer_turn: writers of one SQLite file queue instead of polling its lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from kurrent import prepared

pytestmark = pytest.mark.skipif(prepared.fcntl is None, reason="flock() needs a POSIX system")


def _conn(vendor: str, name: str) -> SimpleNamespace:
    return SimpleNamespace(vendor=vendor, settings_dict={"NAME": name})


def test_only_sqlite_files_take_turns():
    assert prepared._database_file(_conn("sqlite", "/data/pool.sqlite3")) == "/data/pool.sqlite3"
    assert prepared._database_file(_conn("sqlite", "file:/data/p.db?mode=rw")) == "/data/p.db"
    assert prepared._database_file(_conn("sqlite", ":memory:")) is None
    memory = "file:memorydb_default?mode=memory&cache=shared"
    assert prepared._database_file(_conn("sqlite", memory)) is None
    assert prepared._database_file(_conn("postgresql", "test")) is None


def test_threads_take_turns_and_a_holder_may_reenter(tmp_path: Path):
    turn = prepared._Turn(str(tmp_path / "db-writer"))
    order: list[str] = []

    def second() -> None:
        with turn:
            order.append("second")

    with turn, turn:  # reentrant: the holder's nested transaction does not wait for itself
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.2)
        order.append("first")
    other.join(timeout=5)
    assert order == ["first", "second"]


def test_another_process_holding_the_turn_is_waited_for(tmp_path: Path):
    path = tmp_path / "db-writer"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "time.sleep(0.5)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with prepared._Turn(str(path)):
            waited = time.monotonic() - started
    finally:
        holder.wait(timeout=10)
    assert waited >= 0.3


def test_a_forked_child_starts_without_the_parents_turns(tmp_path: Path):
    """gunicorn forks its workers: a turn (and its lock) the parent held must not follow."""
    turn = prepared._Turn(str(tmp_path / "db-writer"))
    prepared._turns["parent"] = turn
    try:
        with turn:
            pid = os.fork()
            if pid == 0:  # the child: report through the exit code, never run pytest on
                os._exit(0 if not prepared._turns and not prepared._turns_lock.locked() else 1)
            _, status = os.waitpid(pid, 0)
    finally:
        prepared._turns.pop("parent", None)
    assert os.waitstatus_to_exitcode(status) == 0
