"""No stale figure passes for a fresh one (issue 16, point 2): the lag is "in sync" only
while a live projector beats and the reading is recent; else "unknown", and why. Cards
show the environment's size; admins get "check now" on a card that is down."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client

from kurrent.connection.manager import connections
from kurrent.models import ProjectorHeartbeat
from kurrent.readmodel import heartbeat, projector
from kurrent.readmodel.status import SyncStatus
from tests.conftest import point_env_at
from tests.kurrent.viewtools import HX, closed_port_url, entry, record, status_card
from tests.live import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/status/"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def sync(behind: int = 0) -> SyncStatus:
    return SyncStatus(
        env="dev",
        checkpoint_position=10,
        head_position=10 + behind,
        events_behind=behind,
        seconds_behind=2.0 if behind else 0.0,
        skipped_events=0,
    )


def beat_row(seconds_ago: float, following: bool = True, problem: str = "") -> ProjectorHeartbeat:
    return ProjectorHeartbeat(
        env="dev",
        beat_at=NOW - timedelta(seconds=seconds_ago),
        following=following,
        problem=problem,
    )


class TestJudge:
    """kurrent.readmodel.heartbeat.judge, with the default 5 s interval (stale after 15 s)."""

    def test_a_recent_beat_and_reading_give_the_lag(self):
        assert heartbeat.judge(sync(0), NOW, beat_row(1), now=NOW).state == "in sync"
        behind = heartbeat.judge(sync(3), NOW, beat_row(1), now=NOW)
        assert (behind.state, behind.events_behind) == ("behind", 3)

    def test_no_heartbeat_at_all_is_unknown_no_projector(self):
        lag = heartbeat.judge(sync(0), NOW, None, now=NOW)
        assert (lag.state, lag.why, lag.heartbeat_at) == ("unknown", "no projector running", None)

    def test_an_old_heartbeat_is_unknown_no_projector_even_when_the_reading_says_in_sync(self):
        lag = heartbeat.judge(sync(0), NOW, beat_row(16), now=NOW)
        assert (lag.state, lag.why) == ("unknown", "no projector running")
        assert lag.heartbeat_at == NOW - timedelta(seconds=16)
        assert heartbeat.judge(sync(0), NOW, beat_row(14), now=NOW).state == "in sync"

    def test_an_old_reading_is_unknown_too_old(self):
        lag = heartbeat.judge(sync(0), NOW - timedelta(seconds=16), beat_row(1), now=NOW)
        assert (lag.state, lag.why) == ("unknown", "reading too old")

    def test_a_reconnecting_projector_is_unknown_and_says_why(self):
        lag = heartbeat.judge(sync(0), NOW, beat_row(1, False, "node down"), now=NOW)
        assert (lag.state, lag.why, lag.problem) == (
            "unknown",
            "the projector is reconnecting",
            "node down",
        )

    def test_no_reading_is_unknown_with_the_error(self):
        lag = heartbeat.judge(None, None, beat_row(1), error="the node did not answer", now=NOW)
        assert (lag.state, lag.why) == ("unknown", "the node did not answer")

    def test_the_threshold_follows_the_sync_interval(self, settings):
        settings.KURRENTDB_SYNC_INTERVAL_MS = 500
        assert heartbeat.stale_after_s() == 1.5
        assert heartbeat.judge(sync(0), NOW, beat_row(2), now=NOW).state == "unknown"


@pytest.mark.readmodel
class TestBeat:
    def test_beat_writes_one_row_per_environment_and_updates_it(self):
        assert heartbeat.beat("dev", following=True, position=5)
        first = ProjectorHeartbeat.objects.get(env="dev")
        assert heartbeat.beat("dev", following=False, position=9, problem="x" * 400)
        row = ProjectorHeartbeat.objects.get(env="dev")
        assert ProjectorHeartbeat.objects.count() == 1
        assert (row.following, row.position, len(row.problem)) == (False, 9, 300)
        assert row.beat_at >= first.beat_at and row.process

    def test_beats_are_throttled_to_the_beat_interval(self):
        beats = heartbeat.Beats("dev")
        beats.maybe(following=True, position=1)
        beats.maybe(following=True, position=2)  # within the interval: not written
        assert ProjectorHeartbeat.objects.get(env="dev").position == 1
        beats.now(following=True, position=3)
        assert ProjectorHeartbeat.objects.get(env="dev").position == 3


@pytest.mark.readmodel
@pytest.mark.django_db(transaction=True)
def test_the_live_projector_beats_while_it_follows_and_stops_when_stopped(settings):
    settings.KURRENTDB_SYNC_INTERVAL_MS = 400  # beats every 0.2 s, stale after 1.2 s
    stop = threading.Event()

    def live() -> None:
        try:
            projector.run_live("dev", stop, idle_timeout=0.05)
        finally:
            connection.close()

    thread = threading.Thread(target=live)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not ProjectorHeartbeat.objects.filter(env="dev", following=True).exists():
            assert time.monotonic() < deadline, "no heartbeat within 10 s"
            time.sleep(0.05)
        first = ProjectorHeartbeat.objects.get(env="dev").beat_at
        time.sleep(0.6)
        assert ProjectorHeartbeat.objects.get(env="dev").beat_at > first  # it keeps beating
    finally:
        stop.set()
        thread.join(10)
    last = ProjectorHeartbeat.objects.get(env="dev").beat_at
    time.sleep(0.5)
    assert ProjectorHeartbeat.objects.get(env="dev").beat_at == last  # stopped: no beat


class TestCards:
    def test_without_a_projector_the_card_says_unknown_not_in_sync(self, client, carol):
        client.force_login(carol)
        dev = status_card(client.get(URL, **HX).content.decode(), "dev")
        assert 'data-lag="unknown"' in dev and "no projector running" in dev
        assert "in sync" not in dev

    def test_with_a_recent_beat_it_says_in_sync_and_when_it_was_read(self, client, carol):
        heartbeat.beat("dev", following=True, position=0)
        client.force_login(carol)
        dev = status_card(client.get(URL, **HX).content.decode(), "dev")
        assert 'data-lag="in sync"' in dev
        assert "· read <time" in dev  # the reading's age, worded by the browser

    def test_an_old_beat_names_when_the_projector_last_beat(self, client, carol):
        heartbeat.beat("dev", following=True, position=0)
        ProjectorHeartbeat.objects.update(beat_at=datetime.now(UTC) - timedelta(minutes=5))
        client.force_login(carol)
        dev = status_card(client.get(URL, **HX).content.decode(), "dev")
        assert "no projector running" in dev and "last heartbeat <time" in dev

    def test_the_card_shows_the_environments_size(self, client, alice):
        record(alice, name="One")
        record(alice, name="Two")
        entry(alice)
        client.force_login(alice)
        dev = status_card(client.get(URL, **HX).content.decode(), "dev")
        assert '<span data-size="records">2 records</span>' in dev
        assert '<span data-size="entries">1 entry</span>' in dev
        assert '<span data-size="events">3 events</span>' in dev
        staging = status_card(client.get(URL, **HX).content.decode(), "staging")
        assert "data-size" not in staging  # not configured: nothing to count


class TestCheckNow:
    @pytest.fixture
    def staging_down(self, settings):
        settings.KURRENTDB_TIMEOUT_MS = 500
        point_env_at(settings, "staging", closed_port_url())

    def test_admins_get_the_button_on_a_down_card_only(self, client, admin_user, staging_down):
        client.force_login(admin_user)
        body = client.get(URL, **HX).content.decode()
        staging = status_card(body, "staging")
        assert 'data-state="down"' in staging
        assert 'action="/kurrent-db-demo/status/staging/check/"' in staging
        assert 'name="csrfmiddlewaretoken"' in staging
        assert "Check now" not in status_card(body, "dev")

    def test_others_get_no_button_and_may_not_post(self, client, alice, staging_down):
        client.force_login(alice)
        assert "Check now" not in client.get(URL, **HX).content.decode()
        assert client.post("/kurrent-db-demo/status/staging/check/").status_code == 403

    def test_it_needs_post_a_known_environment_and_csrf(self, admin_user, staging_down):
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(admin_user)
        assert strict.post("/kurrent-db-demo/status/staging/check/").status_code == 403
        lax = Client()
        lax.force_login(admin_user)
        assert lax.get("/kurrent-db-demo/status/staging/check/").status_code == 405
        assert lax.post("/kurrent-db-demo/status/nowhere/check/").status_code == 404

    def test_check_now_probes_past_the_backoff(self, client, admin_user, settings):
        from kurrent.embedded import EmbeddedNode

        settings.KURRENTDB_TIMEOUT_MS = 500
        port = free_port()
        point_env_at(settings, "staging", f"kurrentdb://127.0.0.1:{port}?Tls=false")
        client.force_login(admin_user)
        assert 'data-state="down"' in status_card(client.get(URL, **HX).content.decode(), "staging")
        node = EmbeddedNode(db=":memory:", host="127.0.0.1", port=port, insecure=True).start()
        try:
            # The node answers now; the backoff alone would wait an hour for the next try.
            connections._envs["staging"].down_until = time.monotonic() + 3600
            stale = status_card(client.get(URL, **HX).content.decode(), "staging")
            assert 'data-state="down"' in stale
            response = client.post("/kurrent-db-demo/status/staging/check/", **HX)
            assert response.status_code == 200
            staging = status_card(response.content.decode(), "staging")
            assert 'data-state="connected"' in staging
            plain = client.post("/kurrent-db-demo/status/staging/check/")
            assert (plain.status_code, plain["Location"]) == (302, URL)
        finally:
            connections.reset()
            node.stop()
