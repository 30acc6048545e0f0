"""Crash safety (kill -9 during writes) and concurrent writers on one stream."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import KurrentDBClientError, WrongCurrentVersionError

from kurrent.embedded import NodeProcess

BATCH = 10


@pytest.mark.slow
def test_kill_9_during_writes_loses_no_acknowledged_event_and_leaves_no_half_batch(tmp_path):
    db = str(tmp_path / "crash.sqlite3")
    node = NodeProcess(db=db).start()
    acknowledged: list[tuple[str, str]] = []  # (stream, batch id)
    stop = threading.Event()

    def writer(worker: int) -> None:
        client = KurrentDBClient(node.url)
        stream = f"crash-{worker}"
        try:
            while not stop.is_set():
                batch = uuid.uuid4().hex
                new = [
                    NewEvent(type="Crashed", data=json.dumps({"batch": batch, "i": i}).encode())
                    for i in range(BATCH)
                ]
                client.append_to_stream(stream, events=new, current_version=StreamState.ANY)
                acknowledged.append((stream, batch))
        except KurrentDBClientError:
            pass  # the node died under us
        finally:
            client.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    node.kill()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) >= 60

    with NodeProcess(db=db) as restarted:
        client = KurrentDBClient(restarted.url)
        stored: dict[str, list[str]] = {}
        for worker in range(3):
            recorded = client.get_stream(f"crash-{worker}")
            assert [e.stream_position for e in recorded] == list(range(len(recorded)))
            for event in recorded:
                stored.setdefault(json.loads(event.data)["batch"], []).append(event.stream_name)
        # Every acknowledged batch is there, and every batch there is whole.
        for stream, batch in acknowledged:
            assert stored.get(batch) == [stream] * BATCH
        assert all(len(streams) == BATCH for streams in stored.values())
        positions = [e.commit_position for e in client.read_all()]
        assert positions == sorted(set(positions))
        client.close()


def test_eight_writers_with_expected_versions_one_winner_per_version(node, stream):
    """Each writer reads the version, appends expecting it, and retries on conflict."""
    target = 120
    wins: dict[int, list[int]] = {}
    lock = threading.Lock()

    def writer(worker: int) -> None:
        client = KurrentDBClient(node.url)
        while True:
            current = client.get_current_version(stream)
            expected = -1 if current is StreamState.NO_STREAM else current
            if expected + 1 >= target:
                break
            event = NewEvent(
                type="Raced", data=json.dumps({"worker": worker, "expected": expected}).encode()
            )
            try:
                client.append_to_stream(stream, events=event, current_version=current)
            except WrongCurrentVersionError:
                continue
            with lock:
                wins.setdefault(expected, []).append(worker)
        client.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    client = KurrentDBClient(node.url)
    recorded = client.get_stream(stream)
    client.close()
    assert [e.stream_position for e in recorded] == list(range(target))
    assert sorted(wins) == list(range(-1, target - 1))
    assert all(len(workers) == 1 for workers in wins.values())
    # The event at each revision is the one its single winner wrote for that version.
    for event in recorded:
        data = json.loads(event.data)
        assert data["expected"] == event.stream_position - 1
        assert wins[data["expected"]] == [data["worker"]]
    assert len({w for workers in wins.values() for w in workers}) > 1  # they really raced
