"""Stream metadata ($maxCount, $maxAge, $tb), soft delete and tombstone, with expected versions."""

from __future__ import annotations

import time

import pytest
from kurrentdbclient import StreamState
from kurrentdbclient.exceptions import NotFoundError, StreamIsDeletedError, WrongCurrentVersionError

from .helpers import events

MAX = 2**63 - 1


def revisions(client, stream, **kwargs) -> list[int]:
    return [e.stream_position for e in client.get_stream(stream, **kwargs)]


def test_metadata_round_trips_with_its_own_versions(client, stream):
    assert client.get_stream_metadata(stream) == ({}, StreamState.NO_STREAM)
    client.set_stream_metadata(stream, metadata={"owner": "pip", "$maxCount": 50})
    assert client.get_stream_metadata(stream) == ({"owner": "pip", "$maxCount": 50}, 0)
    client.set_stream_metadata(stream, metadata={"owner": "emp"}, current_version=0)
    with pytest.raises(WrongCurrentVersionError):
        client.set_stream_metadata(stream, metadata={"x": 1}, current_version=0)
    assert client.get_stream_metadata(stream) == ({"owner": "emp"}, 1)
    # Metadata alone does not make the stream exist.
    with pytest.raises(NotFoundError):
        client.get_stream(stream)


def test_max_count_hides_older_events_from_stream_reads_only(client, stream):
    client.append_to_stream(stream, events=events(5), current_version=StreamState.NO_STREAM)
    client.set_stream_metadata(stream, metadata={"$maxCount": 2})
    assert revisions(client, stream) == [3, 4]
    assert revisions(client, stream, backwards=True) == [4, 3]
    assert revisions(client, stream, stream_position=1, limit=1) == [3]
    assert client.get_current_version(stream) == 4
    # Expected versions still count every event, and $all keeps them all.
    client.append_to_stream(stream, events=events(1), current_version=4)
    in_all = [e for e in client.read_all(filter_include=[stream], filter_by_stream_name=True)]
    assert len(in_all) == 6


def test_truncate_before_hides_lower_revisions(client, stream):
    client.append_to_stream(stream, events=events(5), current_version=StreamState.NO_STREAM)
    client.set_stream_metadata(stream, metadata={"$tb": 3})
    assert revisions(client, stream) == [3, 4]
    client.set_stream_metadata(stream, metadata={"$tb": 9})
    assert revisions(client, stream) == []  # everything hidden: empty, not "not found"
    assert client.get_stream_metadata(stream)[0] == {"$tb": 9}


def test_max_age_hides_old_events(client, stream):
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    client.set_stream_metadata(stream, metadata={"$maxAge": 1})
    assert revisions(client, stream) == [0, 1]
    time.sleep(1.2)
    client.append_to_stream(stream, events=events(1), current_version=1)
    assert revisions(client, stream) == [2]


def test_soft_delete_hides_the_stream_and_later_appends_continue_the_numbers(client, stream):
    client.append_to_stream(stream, events=events(3), current_version=StreamState.NO_STREAM)
    client.delete_stream(stream, current_version=2)
    with pytest.raises(NotFoundError):
        client.get_stream(stream)
    assert client.get_current_version(stream) is StreamState.NO_STREAM
    assert client.get_stream_metadata(stream) == ({"$tb": MAX}, 0)
    # Deleting again is allowed except with EXISTS.
    client.delete_stream(stream, current_version=StreamState.ANY)
    with pytest.raises(StreamIsDeletedError):
        client.delete_stream(stream, current_version=StreamState.EXISTS)

    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    assert revisions(client, stream) == [3, 4]
    assert client.get_stream_metadata(stream)[0] == {"$tb": 3}
    # $all still holds the old events.
    in_all = client.read_all(filter_include=[stream], filter_by_stream_name=True)
    assert [e.stream_position for e in in_all] == [0, 1, 2, 3, 4]


def test_soft_delete_expected_versions(client, stream):
    with pytest.raises(NotFoundError):
        client.delete_stream(stream, current_version=StreamState.ANY)
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    with pytest.raises(WrongCurrentVersionError) as caught:
        client.delete_stream(stream, current_version=0)
    assert caught.value.actual_version == 1
    with pytest.raises(WrongCurrentVersionError):
        client.delete_stream(stream, current_version=StreamState.NO_STREAM)
    client.delete_stream(stream, current_version=StreamState.EXISTS)


def test_setting_metadata_on_a_soft_deleted_stream_undeletes_it_with_old_events_hidden(
    client, stream
):
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    client.delete_stream(stream, current_version=1)
    client.set_stream_metadata(stream, metadata={"note": "back"})
    assert revisions(client, stream) == []
    assert client.get_stream_metadata(stream)[0] == {"note": "back", "$tb": 2}
    client.append_to_stream(stream, events=events(1), current_version=1)
    assert revisions(client, stream) == [2]


def test_tombstone_is_permanent(client, stream):
    client.append_to_stream(stream, events=events(2), current_version=StreamState.NO_STREAM)
    client.tombstone_stream(stream, current_version=1)
    with pytest.raises(StreamIsDeletedError):
        client.get_stream(stream)
    with pytest.raises(StreamIsDeletedError):
        client.get_stream_metadata(stream)
    with pytest.raises(StreamIsDeletedError):
        client.get_current_version(stream)
    for again in (client.tombstone_stream, client.delete_stream):
        with pytest.raises(StreamIsDeletedError):
            again(stream, current_version=StreamState.ANY)
    in_all = client.read_all(filter_include=[stream], filter_by_stream_name=True, filter_exclude=())
    assert [(e.type, e.stream_position) for e in in_all][-1] == ("$streamDeleted", MAX)


def test_tombstone_expected_versions(client, stream):
    client.tombstone_stream(stream, current_version=StreamState.NO_STREAM)  # allowed on nothing
    with pytest.raises(NotFoundError):
        client.tombstone_stream(stream + "-x", current_version=StreamState.EXISTS)
    with pytest.raises(NotFoundError):
        client.tombstone_stream(stream + "-x", current_version=0)
    client.append_to_stream(stream + "-y", events=events(2), current_version=StreamState.NO_STREAM)
    with pytest.raises(WrongCurrentVersionError) as caught:
        client.tombstone_stream(stream + "-y", current_version=StreamState.NO_STREAM)
    assert caught.value.actual_version == 1
    client.tombstone_stream(stream + "-y", current_version=StreamState.EXISTS)
