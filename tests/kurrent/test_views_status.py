from __future__ import annotations

import re
import time

import pytest

from kurrent.connection import metrics
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentError
from kurrent.ops.monitor import monitor
from kurrent.readmodel import heartbeat
from kurrent.web import context as web
from tests.conftest import point_env_at
from tests.kurrent.viewtools import HX, closed_port_url, is_fragment, record, status_card

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/status/"


class TestStatus:
    def test_it_sends_anonymous_users_to_login(self, client):
        assert client.get(URL).status_code == 302

    def test_a_signed_out_poll_redirects_the_whole_page(self, client):
        # Following a 302 would swap the login page into the panel.
        response = client.get(URL, HTTP_HX_CURRENT_URL="http://testserver/kurrent-db-demo/", **HX)
        assert response.status_code == 200
        assert response["HX-Redirect"] == "/accounts/login/?next=%2Fkurrent-db-demo%2F"

    @pytest.mark.parametrize("who", ["carol", "alice", "admin_user"])
    def test_htmx_gets_the_panel_fragment(self, client, who, request):
        client.force_login(request.getfixturevalue(who))
        response = client.get(URL, **HX)
        assert response.status_code == 200
        assert is_fragment(response)
        body = response.content.decode()
        assert 'class="status-grid"' in body
        assert 'id="status-dev"' in body and 'id="status-mainnet"' in body
        # The fragment is the panel's content only: the polling container stays put.
        assert 'id="status-panel"' not in body

    def test_a_plain_request_gets_a_full_page_that_polls(self, client, carol):
        client.force_login(carol)
        response = client.get(URL)
        assert response.status_code == 200
        body = response.content.decode()
        assert "<html" in body
        assert 'id="status-panel"' in body and 'hx-get="/kurrent-db-demo/status/"' in body

    def test_it_reports_connected_with_node_details(self, client, carol):
        heartbeat.beat("dev", following=True, position=0)  # a live projector follows dev
        client.force_login(carol)
        body = client.get(URL, **HX).content.decode()
        dev = status_card(body, "dev")
        assert 'data-state="connected"' in dev
        assert "Connected" in dev
        assert "leader" in dev
        assert "in sync" in dev  # projector lag

    def test_not_configured_environments_say_so(self, client, carol):
        client.force_login(carol)
        body = client.get(URL, **HX).content.decode()
        staging = status_card(body, "staging")
        assert "Not configured" in staging
        assert "KURRENTDB_STAGING_URL is empty" in staging

    def test_mainnet_carries_the_production_badge(self, client, carol):
        client.force_login(carol)
        body = client.get(URL, **HX).content.decode()
        mainnet = status_card(body, "mainnet")
        assert "badge-prod" in mainnet

    def test_a_stopped_node_shows_down(self, client, carol, settings):
        settings.KURRENTDB_TIMEOUT_MS = 500
        point_env_at(settings, "staging", closed_port_url())
        client.force_login(carol)
        response = client.get(URL, **HX)
        assert response.status_code == 200
        staging = status_card(response.content.decode(), "staging")
        assert 'data-state="down"' in staging
        assert "Down" in staging
        assert "not answering" in staging or "no answer" in staging

    def test_it_counts_recent_calls(self, client, carol):
        client.force_login(carol)
        client.get(URL, **HX)
        body = client.get(URL, **HX).content.decode()
        counts = re.search(r"(\d+) calls?, (\d+) errors?", status_card(body, "dev"))
        assert counts is not None
        assert int(counts[1]) >= 1  # at least the health probe


class TestRecentCounts:
    """Calls and errors "in the last minutes", from prometheus counters that only grow."""

    def test_it_counts_the_calls_between_samples(self, alice):
        counts = web._RecentCounts()
        first = counts.take("dev", now=1000.0)
        assert first.window_s == 0  # first look: everything since the process started
        record(alice)
        record(alice)
        later = counts.take("dev", now=1010.0)
        assert later.window_s == 10
        assert later.calls >= 2  # two appends (and whatever reads they needed)
        assert later.errors == 0

    def test_old_samples_leave_the_window(self, alice):
        counts = web._RecentCounts()
        counts.take("dev", now=0.0)
        record(alice)
        counts.take("dev", now=100.0)
        much_later = counts.take("dev", now=100.0 + web.RECENT_WINDOW_S + 1)
        # The sample from t=0 fell out: only what happened after t=100 counts.
        assert much_later.calls == 0
        assert much_later.window_s == web.RECENT_WINDOW_S

    def test_errors_are_counted(self, settings):
        counts = web._RecentCounts()
        counts.take("staging", now=0.0)
        settings.KURRENTDB_TIMEOUT_MS = 500
        point_env_at(settings, "staging", closed_port_url())
        with pytest.raises(KurrentError):
            connections.call(
                "staging", "probe", lambda client, timeout: client.read_gossip(timeout=timeout)
            )
        assert counts.take("staging", now=5.0).errors >= 1


class TestLagReadingCache:
    """The lag is read at most once per sync interval per process (kurrent.ops.monitor)."""

    def _calls(self):
        return sum(s.calls for s in metrics.operation_stats("dev"))

    def test_polls_within_the_interval_ask_kurrentdb_once(self, alice):
        record(alice)
        first = monitor.get()["dev"].sync
        before = self._calls()
        again = monitor.get()["dev"].sync
        assert again is first and first is not None
        assert self._calls() == before

    def test_it_asks_again_after_the_interval(self, alice, settings):
        settings.KURRENTDB_SYNC_INTERVAL_MS = 100
        record(alice)
        first = monitor.get()["dev"].sync
        time.sleep(0.15)  # past the 0.1 s interval
        assert monitor.get()["dev"].sync is not first


class TestPanelFreshness:
    """The panel is rendered for every poll (only the lag reading is kept, for one sync
    interval): a new health reading shows on the next poll."""

    def test_a_new_reading_shows_on_the_next_poll(self, client, carol, settings):
        client.force_login(carol)
        staging = status_card(client.get(URL, **HX).content.decode(), "staging")
        assert "Not configured" in staging
        settings.KURRENTDB_TIMEOUT_MS = 500
        point_env_at(settings, "staging", closed_port_url())
        staging = status_card(client.get(URL, **HX).content.decode(), "staging")
        assert 'data-state="down"' in staging

    def test_each_poll_counts_the_calls_made_since(self, client, carol, alice):
        client.force_login(carol)
        calls = re.compile(r"(\d+) calls?,")
        before = int(calls.search(status_card(client.get(URL, **HX).content.decode(), "dev"))[1])
        record(alice)
        after = int(calls.search(status_card(client.get(URL, **HX).content.decode(), "dev"))[1])
        assert after > before

    def test_the_dashboard_embeds_the_same_panel(self, client, carol):
        client.force_login(carol)
        panel = client.get(URL, **HX).content.decode()
        page = client.get("/kurrent-db-demo/").content.decode()
        for env in ("staging", "test", "mainnet"):  # not configured: nothing moves
            assert status_card(panel, env) == status_card(page, env)
        assert 'data-state="connected"' in status_card(page, "dev")


class TestCallTotals:
    def test_they_sum_the_operation_stats(self, alice):
        record(alice)
        totals = metrics.call_totals()
        stats = metrics.operation_stats("dev")
        assert totals["dev"] == (sum(s.calls for s in stats), sum(s.errors for s in stats))
        assert totals["dev"][0] >= 1
