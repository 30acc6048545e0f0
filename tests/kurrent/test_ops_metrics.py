"""GET /metrics: Prometheus text, guarded by a bearer token; open without one only in DEBUG."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kurrent.ops import endpoints
from kurrent.services import records
from tests.conftest import point_env_at
from tests.kurrent.test_ops_health import foreign_event
from tests.kurrent.viewtools import closed_port_url

pytestmark = pytest.mark.django_db
URL = "/metrics"
TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def fresh_snapshot():
    endpoints.snapshots.clear()
    yield
    endpoints.snapshots.clear()


def samples(response) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} parsed with prometheus-client's own parser."""
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())))


class TestAccess:
    def test_outside_debug_without_a_token_it_is_refused(self, client, kdb, settings):
        settings.DEBUG = False
        settings.METRICS_TOKEN = ""
        response = client.get(URL)
        assert response.status_code == 403
        assert b"METRICS_TOKEN" in response.content
        assert b"kurrent_calls_total" not in response.content

    def test_in_debug_without_a_token_it_is_open(self, client, kdb, settings):
        settings.DEBUG = True
        settings.METRICS_TOKEN = ""
        assert client.get(URL).status_code == 200

    @pytest.mark.parametrize(
        "header",
        [
            None,
            "",
            f"Basic {TOKEN}",
            "Bearer wrong-token",
            f"Bearer {TOKEN}x",
            f"Bearer {TOKEN[:-1]}",
            "Bearer",
            f"Token {TOKEN}",
        ],
    )
    def test_with_a_token_set_other_credentials_get_401(self, client, kdb, settings, header):
        settings.DEBUG = True  # the token guards even in DEBUG once it is set
        settings.METRICS_TOKEN = TOKEN
        extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
        response = client.get(URL, **extra)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"kurrent_" not in response.content

    @pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
    def test_the_right_token_is_let_in(self, client, kdb, settings, scheme):
        settings.DEBUG = False
        settings.METRICS_TOKEN = TOKEN
        response = client.get(URL, HTTP_AUTHORIZATION=f"{scheme} {TOKEN}")
        assert response.status_code == 200
        assert response["Cache-Control"].startswith("max-age=0")

    def test_post_is_not_allowed(self, client, kdb, settings):
        settings.METRICS_TOKEN = TOKEN
        assert client.post(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def get():
        return samples(client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"))

    return get


class TestContent:
    def test_connection_and_operation_metrics(self, kdb, alice, scrape):
        records.create_record(alice, name="Counted", data={})
        found = scrape()
        assert value(found, "kurrent_calls_total", env="dev", operation="append") >= 1
        assert value(found, "kurrent_call_seconds_count", env="dev", operation="append") >= 1
        assert value(found, "kurrent_call_seconds_bucket", env="dev", operation="append", le="+Inf")
        assert value(found, "kurrent_health_state", env="dev", state="connected") == 1.0
        assert value(found, "kurrent_health_state", env="dev", state="down") == 0.0
        assert value(found, "kurrent_health_state", env="staging", state="not configured") == 1.0
        assert value(found, "kurrent_health_latency_seconds", env="dev") > 0

    def test_projector_metrics_show_the_lag(self, kdb, raw_client, scrape):
        foreign_event(raw_client)
        found = scrape()
        head = value(found, "kurrent_projector_head_position", env="dev")
        checkpoint = value(found, "kurrent_projector_checkpoint_position", env="dev")
        assert head > checkpoint
        assert value(found, "kurrent_projector_events_behind", env="dev") == 1.0
        assert value(found, "kurrent_projector_seconds_behind", env="dev") >= 0
        assert value(found, "kurrent_projector_skipped_events", env="dev") == 0.0
        assert value(found, "kurrent_projector_events_applied", env="dev") is not None

    def test_a_down_environment(self, kdb, settings, scrape):
        point_env_at(settings, "dev", closed_port_url())
        found = scrape()
        assert value(found, "kurrent_health_state", env="dev", state="down") == 1.0
        assert value(found, "kurrent_projector_events_behind", env="dev") is None
        assert (
            value(
                found,
                "kurrent_call_errors_total",
                env="dev",
                operation="probe",
                error="unavailable",
            )
            >= 1
        )

    def test_no_secrets(self, client, kdb, settings, assert_no_secrets):
        secret = "m3trics-p@ss:word"
        url = closed_port_url().replace("?Tls=false", "")
        point_env_at(settings, "staging", url, username="scraper", password=secret)
        settings.METRICS_TOKEN = TOKEN
        text = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
        assert "kurrent_health_state" in text
        assert_no_secrets(text, secrets=(secret, TOKEN))
        assert "scraper" not in text
        assert "127.0.0.1" not in text
