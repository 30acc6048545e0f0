"""Catch-up subscriptions to $all and to one stream: catch-up, caught-up, live, checkpoints."""

from __future__ import annotations

import threading
import uuid

import pytest
from kurrentdbclient import CaughtUp, Checkpoint, KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import StreamIsDeletedError

from .helpers import events

TIMEOUT = 20  # seconds; a stuck subscription fails the test instead of hanging it


def take_until(subscription, done) -> list:
    """Items of a subscription up to and including the first one for which `done` is true."""
    taken = []
    for item in subscription:
        taken.append(item)
        if done(item):
            break
    subscription.stop()
    return taken


def is_type(name):
    return lambda item: getattr(item, "type", None) == name


def test_subscribe_to_all_catches_up_then_goes_live(client, stream):
    start = client.get_commit_position(filter_exclude=())  # the last record before ours
    position = client.append_to_stream(
        stream, events=events(3), current_version=StreamState.NO_STREAM
    )
    subscription = client.subscribe_to_all(
        commit_position=start, include_caught_up=True, timeout=TIMEOUT
    )
    first = next(iter(subscription))
    assert (first.stream_name, first.stream_position) == (stream, 0)
    items = [first]
    for item in subscription:
        items.append(item)
        if isinstance(item, CaughtUp):
            client.append_to_stream(
                stream, events=NewEvent(type="Live", data=b"{}"), current_version=2
            )
        if getattr(item, "type", None) == "Live":
            break
    subscription.stop()
    mine = [i for i in items if not isinstance(i, CaughtUp) and i.stream_name == stream]
    assert [e.stream_position for e in mine] == [0, 1, 2, 3]
    caught_up = [i for i in items if isinstance(i, CaughtUp)]
    assert len(caught_up) == 1 and caught_up[0].commit_position >= position
    assert items.index(mine[2]) < items.index(caught_up[0]) < items.index(mine[3])


def test_subscribe_to_all_starts_after_the_given_position_and_from_end(client, stream):
    positions = [
        client.append_to_stream(stream, events=e, current_version=StreamState.ANY)
        for e in events(3)
    ]
    after = client.subscribe_to_all(
        commit_position=positions[0],
        timeout=TIMEOUT,
        filter_include=[stream],
        filter_by_stream_name=True,
    )
    assert [
        e.commit_position for e in take_until(after, lambda e: e.commit_position == positions[2])
    ] == positions[1:]

    from_end = client.subscribe_to_all(
        from_end=True,
        include_caught_up=True,
        timeout=TIMEOUT,
        filter_include=[stream],
        filter_by_stream_name=True,
    )
    caught_up = next(iter(from_end))
    assert isinstance(caught_up, CaughtUp)
    client.append_to_stream(stream, events=NewEvent(type="New", data=b"{}"), current_version=2)
    (new,) = take_until(from_end, is_type("New"))
    assert new.stream_position == 3


def test_events_written_during_catch_up_arrive_exactly_once_in_order(client, stream):
    start = client.get_commit_position(filter_exclude=())
    client.append_to_stream(stream, events=events(3000), current_version=StreamState.NO_STREAM)

    def write_more():
        for n in range(60):
            client.append_to_stream(stream, events=events(5), current_version=3000 + 5 * n - 1)

    writer = threading.Thread(target=write_more)
    subscription = client.subscribe_to_all(
        commit_position=start, timeout=60, filter_include=[stream], filter_by_stream_name=True
    )
    writer.start()
    got = take_until(subscription, lambda e: e.stream_position == 3299)
    writer.join()
    assert [e.stream_position for e in got] == list(range(3300))


def test_stream_subscription_from_start_revision_and_end(client, stream):
    client.append_to_stream(stream, events=events(4), current_version=StreamState.NO_STREAM)
    whole = client.subscribe_to_stream(stream, include_caught_up=True, timeout=TIMEOUT)
    got = take_until(whole, lambda i: isinstance(i, CaughtUp))
    assert [e.stream_position for e in got[:-1]] == [0, 1, 2, 3]
    assert got[-1].stream_position == 3

    after_one = client.subscribe_to_stream(stream, stream_position=1, timeout=TIMEOUT)
    assert [e.stream_position for e in take_until(after_one, lambda e: e.stream_position == 3)] == [
        2,
        3,
    ]

    at_end = client.subscribe_to_stream(
        stream, from_end=True, include_caught_up=True, timeout=TIMEOUT
    )
    assert isinstance(next(iter(at_end)), CaughtUp)
    client.append_to_stream(stream, events=events(1, "Later"), current_version=3)
    client.append_to_stream(
        stream + "-other", events=events(1, "Later"), current_version=StreamState.ANY
    )
    (later,) = take_until(at_end, is_type("Later"))
    assert (later.stream_name, later.stream_position) == (stream, 4)


def test_stream_subscription_to_a_missing_stream_waits_for_it(client, stream):
    subscription = client.subscribe_to_stream(stream, include_caught_up=True, timeout=TIMEOUT)
    caught_up = next(iter(subscription))
    assert isinstance(caught_up, CaughtUp)
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    assert [
        e.stream_position for e in take_until(subscription, lambda e: e.stream_position == 1)
    ] == [0, 1]


def test_stream_subscription_sees_appends_after_a_soft_delete(client, stream):
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    subscription = client.subscribe_to_stream(stream, timeout=TIMEOUT)
    assert [e.stream_position for e in take_until_n(subscription, 2)] == [0, 1]
    client.delete_stream(stream, current_version=1)
    client.append_to_stream(
        stream, events=events(1, "Again"), current_version=StreamState.NO_STREAM
    )
    (again,) = take_until(subscription, is_type("Again"))
    assert again.stream_position == 2


def take_until_n(subscription, count: int) -> list:
    taken = []
    for item in subscription:
        taken.append(item)
        if len(taken) == count:
            return taken
    return taken


def test_tombstone_ends_a_live_stream_subscription(client, stream):
    client.append_to_stream(stream, events=events(1), current_version=StreamState.NO_STREAM)
    subscription = client.subscribe_to_stream(stream, timeout=TIMEOUT)
    iterator = iter(subscription)
    assert next(iterator).stream_position == 0
    client.tombstone_stream(stream, current_version=0)
    assert next(iterator).type == "$streamDeleted"
    with pytest.raises(StreamIsDeletedError):
        next(iterator)
    with pytest.raises(StreamIsDeletedError):
        client.subscribe_to_stream(stream, timeout=TIMEOUT)


def test_filtered_subscription_sends_checkpoints(client, stream):
    """Checkpoints come every window x multiplier records considered, matching or not."""
    before = client.get_commit_position(filter_exclude=())
    noise = stream + "-noise"
    client.append_to_stream(noise, events=events(25), current_version=StreamState.NO_STREAM)
    subscription = client.subscribe_to_all(
        commit_position=before,
        filter_include=[stream + "$"],
        filter_by_stream_name=True,
        include_checkpoints=True,
        include_caught_up=True,
        window_size=5,
        checkpoint_interval_multiplier=2,
        timeout=TIMEOUT,
    )
    catch_up = take_until(
        subscription_iter := iter(subscription), lambda i: isinstance(i, CaughtUp)
    )
    checkpoints = [i for i in catch_up if isinstance(i, Checkpoint)]
    considered = [
        e.commit_position for e in client.read_all(commit_position=before, filter_exclude=())
    ][1:]  # a forwards read includes the record at its position; a subscription does not
    # One every 10 records considered, then one at the end of the catch-up.
    assert [c.commit_position for c in checkpoints] == [*considered[9::10], considered[-1]]
    assert catch_up[-1].commit_position == considered[-1]
    del subscription_iter

    live = client.subscribe_to_all(
        from_end=True,
        filter_include=[stream + "$"],
        filter_by_stream_name=True,
        include_checkpoints=True,
        window_size=5,
        checkpoint_interval_multiplier=2,
        timeout=TIMEOUT,
    )
    positions = [
        client.append_to_stream(noise, events=e, current_version=StreamState.ANY)
        for e in events(10)
    ]
    client.append_to_stream(stream, events=events(1, "Match"), current_version=StreamState.ANY)
    got = take_until(live, is_type("Match"))
    assert isinstance(got[0], Checkpoint) and got[0].commit_position == positions[-1]
    assert len(got) == 2


def test_subscribe_to_all_with_event_type_filters_and_resolved_links(client, stream):
    tag = uuid.uuid4().hex[:8]
    start = client.get_commit_position(filter_exclude=())
    client.append_to_stream(
        stream,
        events=events(1, f"Wanted{tag}") + events(1, "Other"),
        current_version=StreamState.NO_STREAM,
    )
    link = NewEvent(type="$>", data=f"0@{stream}".encode(), content_type="application/octet-stream")
    client.append_to_stream(stream + "-links", events=link, current_version=StreamState.NO_STREAM)
    wanted = client.subscribe_to_all(
        commit_position=start, filter_include=[f"Wanted{tag}"], timeout=TIMEOUT
    )
    assert [e.type for e in take_until_n(wanted, 1)] == [f"Wanted{tag}"]
    wanted.stop()
    resolving = client.subscribe_to_all(
        commit_position=start, filter_include=[r"\$>"], resolve_links=True, timeout=TIMEOUT
    )
    (resolved,) = take_until_n(resolving, 1)
    resolving.stop()
    assert (resolved.type, resolved.link.stream_name) == (f"Wanted{tag}", stream + "-links")


def test_a_hundred_and_twenty_live_subscriptions_at_once(node, stream):
    client = KurrentDBClient(node.url)
    subscriptions = [client.subscribe_to_stream(stream, timeout=60) for _ in range(120)]
    # The node still answers ordinary calls while they are all open.
    client.append_to_stream(stream, events=events(3), current_version=StreamState.NO_STREAM)
    results = [None] * len(subscriptions)

    def drain(index):
        results[index] = [e.stream_position for e in take_until_n(subscriptions[index], 3)]

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(subscriptions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [[0, 1, 2]] * 120
    for subscription in subscriptions:
        subscription.stop()
    assert client.get_current_version(stream) == 2
    client.close()


def test_live_subscriptions_sharing_a_filter_each_get_their_events_and_checkpoints(client, stream):
    """The live fan-out judges a record once per distinct filter; every subscription still
    gets exactly its matches and its own checkpoints (window x multiplier, counted by it)."""
    noise = stream + "-noise"
    client.append_to_stream(noise, events=events(1), current_version=StreamState.NO_STREAM)

    def subscribe(window: int, pattern: str = stream + "$"):
        return client.subscribe_to_all(
            from_end=True,
            filter_include=[pattern],
            filter_by_stream_name=True,
            include_checkpoints=True,
            window_size=window,
            checkpoint_interval_multiplier=1,
            timeout=TIMEOUT,
        )

    same = [subscribe(4), subscribe(4), subscribe(6)]
    other = subscribe(4, noise + "$")
    for one in events(12):  # commits of one record, then one of nine
        client.append_to_stream(noise, events=one, current_version=StreamState.ANY)
    client.append_to_stream(noise, events=events(9), current_version=StreamState.ANY)
    positions = [e.commit_position for e in client.get_stream(noise)][1:]
    client.append_to_stream(stream, events=events(1, "Match"), current_version=StreamState.ANY)
    for subscription, window in zip(same, (4, 4, 6), strict=True):
        got = take_until(subscription, is_type("Match"))
        checkpoints = [i.commit_position for i in got if isinstance(i, Checkpoint)]
        assert checkpoints == positions[window - 1 :: window]
        assert [i.type for i in got if not isinstance(i, Checkpoint)] == ["Match"]
    got = []
    for item in other:
        if not isinstance(item, Checkpoint):
            got.append(item.commit_position)
        if len(got) == len(positions):
            break
    other.stop()
    assert got == positions
