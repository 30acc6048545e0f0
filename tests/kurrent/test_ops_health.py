"""GET /kurrent/health: per-environment state, latency and projector lag; 200 or 503."""

from __future__ import annotations

import json
import time

import pytest
from kurrentdbclient import NewEvent, StreamState

from kurrent.connection import metrics
from kurrent.connection.manager import connections
from kurrent.ops import endpoints
from kurrent.ops import monitor as monitor_module
from kurrent.readmodel import heartbeat
from kurrent.services import records
from tests.conftest import point_env_at
from tests.kurrent.viewtools import closed_port_url

pytestmark = pytest.mark.django_db
URL = "/kurrent/health"


@pytest.fixture(autouse=True)
def fresh_snapshot():
    endpoints.snapshots.clear()
    yield
    endpoints.snapshots.clear()


def body(response):
    assert response["Content-Type"].startswith("application/json")
    return json.loads(response.content)


def foreign_event(raw_client, record_id="8b1d1e5e-8a52-4a39-9f37-2f0b7a43c001"):
    """A record created by another process: the read model has not applied it."""
    data = {
        "record_id": record_id,
        "name": "From elsewhere",
        "data": {},
        "tags": [],
        "owner_id": 1,
        "owner": "someone",
        "is_public": True,
        "metadata": {},
    }
    raw_client.append_to_stream(
        f"pool-{record_id}",
        events=[NewEvent(type="StreamCreated", data=json.dumps(data).encode())],
        current_version=StreamState.NO_STREAM,
    )


class TestHealthy:
    def test_anonymous_callers_get_200_and_every_environment(self, client, kdb):
        response = client.get(URL)
        assert response.status_code == 200
        data = body(response)
        assert data["status"] == "ok"
        assert data["active"] == "dev"
        assert list(data["environments"]) == ["dev", "staging", "test", "mainnet"]
        dev = data["environments"]["dev"]
        assert dev["state"] == "connected"
        assert dev["healthy"] is True
        assert dev["active"] is True
        assert dev["latency_ms"] > 0
        assert data["environments"]["staging"]["state"] == "not configured"
        assert data["environments"]["staging"]["healthy"] is False
        assert data["environments"]["mainnet"]["production"] is True
        assert response["Cache-Control"].startswith("max-age=0")

    def test_it_reports_the_projector_lag(self, client, kdb, alice):
        records.create_record(alice, name="Caught up", data={})
        heartbeat.beat("dev", following=True, position=0)
        lag = body(client.get(URL))["environments"]["dev"]["projector"]
        assert lag["lag"] == "in sync" and lag["why"] is None
        assert 0 <= lag["age_s"] < 5 and 0 <= lag["heartbeat_age_s"] < 5
        assert lag["events_behind"] == 0
        assert lag["head_position"] > 0
        assert lag["error"] is None

    def test_events_written_elsewhere_show_as_lag(self, client, kdb, raw_client):
        foreign_event(raw_client)
        heartbeat.beat("dev", following=True, position=0)
        lag = body(client.get(URL))["environments"]["dev"]["projector"]
        assert lag["lag"] == "behind"
        assert lag["events_behind"] == 1
        assert lag["head_position"] > lag["checkpoint_position"]

    def test_head_is_allowed_post_is_not(self, client, kdb):
        assert client.head(URL).status_code == 200
        assert client.post(URL).status_code == 405

    def test_it_needs_no_trailing_slash_and_no_login(self, client, kdb):
        response = client.get(URL, follow=False)
        assert response.status_code == 200
        assert "login" not in response.get("Location", "")


class TestUnhealthy:
    def test_active_environment_down_is_503(self, client, kdb, settings):
        point_env_at(settings, "dev", closed_port_url())
        response = client.get(URL)
        assert response.status_code == 503
        data = body(response)
        assert data["status"] == "unavailable"
        dev = data["environments"]["dev"]
        assert dev["state"] == "down"
        assert dev["healthy"] is False
        assert dev["reason"]
        assert dev["projector"]["lag"] == "unknown"
        assert dev["projector"]["events_behind"] is None

    def test_active_environment_not_configured_is_503(self, client, kdb, settings):
        settings.KURRENTDB_ENVIRONMENT = "staging"
        response = client.get(URL)
        assert response.status_code == 503
        data = body(response)
        assert data["active"] == "staging"
        assert data["environments"]["staging"]["state"] == "not configured"
        assert data["environments"]["dev"]["state"] == "connected"

    def test_switched_off_is_503(self, client, kdb, settings):
        settings.KURRENTDB_ENABLED = False
        response = client.get(URL)
        assert response.status_code == 503
        assert body(response)["environments"]["dev"]["state"] == "disabled"

    def test_a_down_environment_that_is_not_active_keeps_200(self, client, kdb, settings):
        point_env_at(settings, "test", closed_port_url())
        response = client.get(URL)
        assert response.status_code == 200
        assert body(response)["environments"]["test"]["state"] == "down"


class TestNoSecrets:
    def test_no_password_user_or_address_in_the_body(
        self, client, kdb, settings, assert_no_secrets
    ):
        secret = "s3cr3t-p@ss/word"
        url = closed_port_url().replace("?Tls=false", "")  # TLS: needs credentials
        point_env_at(settings, "staging", url, username="opsuser", password=secret)
        text = client.get(URL).content.decode()
        assert_no_secrets(text, secrets=(secret,))
        assert "opsuser" not in text
        port = url.rsplit(":", 1)[1]
        assert port not in text
        assert "127.0.0.1" not in text
        assert "kurrentdb://" not in text
        assert str(kdb.port) not in text


class TestCachedAnswers:
    """In a web server the monitor (kurrent.ops.monitor) refreshes the readings in the
    background; requests read them and never probe."""

    @pytest.fixture
    def running(self, settings, transactional_db):
        settings.KURRENTDB_SYNC_INTERVAL_MS = 200
        connections.reset()
        monitor_module.monitor.start()
        yield monitor_module.monitor
        monitor_module.monitor.stop()
        connections.reset()

    def test_requests_do_not_probe(self, client, kdb, settings, monkeypatch):
        monkeypatch.setattr(monitor_module.Monitor, "_next_in", lambda self, env: 3600.0)
        connections.reset()
        monitor_module.monitor.start()  # one round each, then asleep for an hour
        try:
            deadline = time.monotonic() + 10
            while "dev" not in monitor_module.monitor.peek() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert client.get(URL).status_code == 200
            probes = metrics.sample("kurrent_calls_total", env="dev", operation="probe")
            heads = metrics.sample("kurrent_calls_total", env="dev", operation="projector_head")
            kdb.stop()
            for _ in range(20):
                assert client.get(URL).status_code == 200  # the reading, not a probe
            assert metrics.sample("kurrent_calls_total", env="dev", operation="probe") == probes
            assert (
                metrics.sample("kurrent_calls_total", env="dev", operation="projector_head")
                == heads
            )
        finally:
            monitor_module.monitor.stop()
            connections.reset()

    def test_answers_carry_their_age_and_stay_younger_than_about_an_interval(
        self, client, kdb, running
    ):
        deadline = time.monotonic() + 3
        ages = []
        while time.monotonic() < deadline:
            ages.append(body(client.get(URL))["environments"]["dev"]["age_s"])
            time.sleep(0.05)
        assert max(ages) < 0.2 + 0.5, ages  # one interval, plus a probe and the round
        assert len(set(ages)) > 1  # the age is measured, not a constant

    def test_the_background_refresh_sees_the_node_go_down_and_requests_never_wait(
        self, client, kdb, running
    ):
        assert client.get(URL).status_code == 200
        kdb.stop()
        deadline = time.monotonic() + 15
        codes, slowest = [], 0.0
        while time.monotonic() < deadline:
            started = time.monotonic()
            codes.append(client.get(URL).status_code)
            slowest = max(slowest, time.monotonic() - started)
            if codes[-1] == 503:
                break
            time.sleep(0.05)
        assert codes[-1] == 503, codes
        assert set(codes) <= {200, 503}
        assert slowest < 0.5  # a request reads; the monitor's thread does the probing


class TestUnexpectedFailures:
    """Whatever fails inside, a load balancer gets JSON it can read, never a 500 page."""

    def test_a_lag_that_cannot_be_measured_is_named_and_health_still_answers(
        self, client, kdb, monkeypatch, caplog
    ):
        def broken(env):
            raise RuntimeError("projector exploded")

        monkeypatch.setattr(monitor_module.status, "sync_status", broken)
        response = client.get(URL)
        assert response.status_code == 200
        dev = body(response)["environments"]["dev"]
        assert dev["state"] == "connected"
        assert dev["projector"]["error"] == "the projector lag could not be measured"
        assert "projector exploded" in caplog.text  # logged for the operator, not shown

    def test_a_snapshot_that_cannot_be_taken_is_503_json(self, client, kdb, monkeypatch):
        def broken():
            raise RuntimeError("health exploded")

        monkeypatch.setattr(monitor_module.connections, "health_all", broken)
        response = client.get(URL)
        assert response.status_code == 503
        data = body(response)
        assert data["status"] == "unavailable"
        assert data["error"] == "the health check itself failed"
        assert "exploded" not in response.content.decode()


class TestBehindTls:
    def test_health_is_not_redirected_to_https(self, kdb, settings):
        from django.test import Client

        settings.SECURE_SSL_REDIRECT = True
        client = Client()  # its handler reads the settings on the first request
        assert client.get(URL).status_code == 200
        login = client.get("/accounts/login/")
        assert login.status_code == 301
        assert login["Location"].startswith("https://")


class TestAnsweredEarly:
    """kurrent.ops.endpoints.HealthMiddleware answers before sessions, the host check and CSRF."""

    def test_a_probe_by_ip_address_is_answered(self, client, kdb):
        # Load balancers often send their target's address as Host, which ALLOWED_HOSTS
        # does not list; every other URL still refuses it.
        assert client.get(URL, HTTP_HOST="10.1.2.3").status_code == 200
        assert client.get("/accounts/login/", HTTP_HOST="10.1.2.3").status_code == 400

    def test_other_paths_and_a_trailing_slash_go_through(self, client, kdb):
        assert client.get(URL + "/").status_code == 404
        assert client.get("/kurrent/healthz").status_code == 404
