"""The storage layer on its own: group commit under concurrency, atomicity, restart state."""

from __future__ import annotations

import itertools
import threading
import uuid

import pytest

from kurrent.embedded.records import (
    ANY,
    NO_STREAM,
    ProposedEvent,
    StreamNotFound,
    WrongExpectedVersion,
    record_size,
)
from kurrent.embedded.storage import StorageFailure, Store, _Op


def proposed(count: int) -> list[ProposedEvent]:
    return [ProposedEvent(str(uuid.uuid4()), "T", True, b"{}", b"") for _ in range(count)]


def user_records(store: Store) -> list:
    """The log without the system records a fresh store begins with."""
    return [r for r in store.read_all(None, False) if not r.stream.startswith("$")]


def test_a_fresh_log_begins_with_system_records_and_positions_are_offsets(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    seeded = list(store.read_all(None, False))
    assert seeded and all(r.stream.startswith("$") and r.type.startswith("$") for r in seeded)
    assert {"$users", "$settings", "$epoch-information"} <= {r.stream for r in seeded}
    assert seeded[0].position > 0
    result = store.append("s", NO_STREAM, proposed(2))
    records = list(store.read_all(None, False))
    for before, after in itertools.pairwise(records):
        assert after.position == before.position + record_size(before) > before.position + 1
    assert result.position == records[-1].position == store.last_position
    store.close()


def test_concurrent_writers_share_commits_without_losing_or_mixing_writes(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    batches = []
    original = store._run_batch

    def counting(batch):
        batches.append(len(batch))
        original(batch)

    store._run_batch = counting
    refused = []

    def writer(n: int) -> None:
        for i in range(40):
            store.append(f"w-{n}", ANY, proposed(3))
            try:  # every other call conflicts, and must not disturb the others in its batch
                store.append(f"w-{n}", NO_STREAM, proposed(1))
            except WrongExpectedVersion:
                refused.append(i)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(refused) == 8 * 40
    records = list(store.read_all(None, False))
    assert store.last_position == records[-1].position
    for before, after in itertools.pairwise(records):
        assert after.position == before.position + record_size(before)
    assert len(user_records(store)) == 8 * 40 * 3
    for n in range(8):
        view = store.stream_view(f"w-{n}")
        assert [r.revision for r in store.read_stream(view, None, False)] == list(range(120))
    assert max(batches) > 1  # some commits did carry several writers' work
    store.close()


def test_a_multi_stream_append_is_all_or_nothing(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    written = store.append("a", NO_STREAM, proposed(1)).position
    with pytest.raises(WrongExpectedVersion):
        store.append_many([("b", NO_STREAM, proposed(2)), ("a", NO_STREAM, proposed(1))])
    assert store.last_position == written
    assert store.stream_last_revision("b") == -1
    store.close()


def _append_then_fail(txn):
    txn.append("broken", NO_STREAM, proposed(1))
    raise ValueError("boom")


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-a-batch"])
def test_an_unexpected_error_in_a_write_is_logged_wrapped_and_rolled_back(tmp_path, caplog, alone):
    store = Store(tmp_path / "s.sqlite3")
    seeded = store.last_position
    failing = _Op(_append_then_fail)
    other = _Op(lambda txn: txn.append("fine", NO_STREAM, proposed(1)))
    with store._commit_lock:
        store._run_batch([failing] if alone else [failing, other])
    assert isinstance(failing.error, StorageFailure)
    assert str(failing.error) == "internal error: boom"
    assert failing.done and failing.result is None
    logged = [r for r in caplog.records if "unexpected error in a write" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    with pytest.raises(StreamNotFound):
        store.stream_view("broken")
    if alone:
        assert store.last_position == seeded
    else:
        assert other.error is None and other.done
        assert store.last_position == other.result.position > seeded
        assert [r.stream for r in user_records(store)] == ["fine"]
    store.close()


def test_state_survives_a_restart_including_recent_ids(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    events = proposed(2)
    first = store.append("x", ANY, events)
    last = store.append("x", ANY, proposed(1)).position
    store.close()

    store = Store(path)
    assert store.last_position == last
    assert store.append("x", ANY, events) == first  # a retry after a restart is recognised
    assert store.append("x", 2, proposed(1)).revision == 3
    store.close()


def test_a_stream_read_between_commit_and_publish_sees_the_committed_events(tmp_path):
    """The writer commits, then publishes the new last position. A read in between found
    the stream (its head is in the database) but bounded its records by the old last
    position: no events for an existing stream, which the client cannot take (its
    get_current_version raised StopIteration; seen once in the eight-writers test)."""
    store = Store(tmp_path / "s.sqlite3")
    store.append("s", NO_STREAM, proposed(1))
    committed, release = threading.Event(), threading.Event()
    publish = store._publish

    def held(txn):
        committed.set()
        release.wait(10)
        publish(txn)

    store._publish = held
    writer = threading.Thread(target=store.append, args=("fresh", NO_STREAM, proposed(2)))
    writer.start()
    try:
        assert committed.wait(10)
        view = store.stream_view("fresh")
        assert [r.revision for r in store.read_stream(view, None, False)] == [0, 1]
        assert [r.revision for r in store.read_stream(view, None, True)] == [1, 0]
    finally:
        release.set()
        writer.join(10)
    store.close()
