"""The status pictures: the per-process history behind the sparklines, the SVG
coordinates and their sentences, and the cards and status page that show them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from kurrent.connection import metrics
from kurrent.connection.history import SLOT_S, SLOTS, WINDOW_S, History, history
from kurrent.connection.manager import connections
from kurrent.web import charts, sparkline
from tests.kurrent.viewtools import HX, record, status_card

URL = "/kurrent-db-demo/status/"
NOW = 10_000.0


class TestHistory:
    def test_probes_fall_into_half_minute_slots_oldest_first(self):
        h = History()
        h.record_probe("dev", 3.0, now=NOW - WINDOW_S + 1)  # first slot
        h.record_probe("dev", 5.0, now=NOW - 1)  # last slot
        h.record_probe("dev", 9.0, now=NOW - 2)  # last slot: the slowest counts
        h.record_probe("dev", None, now=NOW - 40)  # failed: no latency
        h.record_probe("dev", 1.0, now=NOW - WINDOW_S - 60)  # too old

        series = h.series("dev", now=NOW)

        assert len(series.latency_ms) == SLOTS == 30
        assert series.latency_ms[0] == 3.0
        assert series.latency_ms[-1] == 9.0
        assert series.latency_ms[1:-1] == (None,) * (SLOTS - 2)

    def test_calls_per_slot_are_differences_of_the_counters(self):
        h = History()
        for i, (calls, errors) in enumerate([(100, 1), (110, 1), (125, 4)]):
            h.sample_totals(now=NOW - 2 * SLOT_S + i * SLOT_S, totals={"dev": (calls, errors)})

        series = h.series("dev", now=NOW)

        assert series.calls[-2:] == (10, 15)
        assert series.errors[-2:] == (0, 3)
        assert series.calls[0] is None  # nobody sampled then: unknown, not zero

    def test_the_slot_in_which_sampling_began_counts_from_its_first_sample(self):
        h = History()
        h.sample_totals(now=NOW - 20, totals={"dev": (7, 1)})
        h.sample_totals(now=NOW, totals={"dev": (12, 1)})

        series = h.series("dev", now=NOW)

        assert series.calls[-1] == 5 and series.errors[-1] == 0
        assert series.calls[-2] is None

    def test_a_slot_with_no_sample_near_it_is_unknown(self):
        h = History()
        h.sample_totals(now=NOW - 10 * SLOT_S, totals={"dev": (1, 0)})
        h.sample_totals(now=NOW, totals={"dev": (50, 0)})

        series = h.series("dev", now=NOW)

        assert series.calls[-1] is None  # 49 calls, but not known to be in that slot
        assert series.calls[-10] == 0  # the slot that starts at the old sample: none yet
        assert series.calls[-9] is None

    def test_other_environments_are_kept_apart(self):
        h = History()
        h.record_probe("staging", 2.0, now=NOW - 1)
        assert h.series("dev", now=NOW).latency_ms == (None,) * SLOTS


class TestSparkline:
    def test_a_line_spans_the_box_with_the_top_value_at_the_top(self):
        drawn = sparkline.line([0, 5, 10], top=10, width=120, height=28)
        assert drawn.segments == ("2.0,26.0 60.0,14.0 118.0,2.0",)
        assert drawn.dots == ()

    def test_gaps_break_the_line_and_lone_values_are_dots(self):
        drawn = sparkline.line([1, None, 2, 3, None], top=3, width=120, height=28)
        assert len(drawn.segments) == 1
        assert drawn.dots == ((2.0, 18.0),)

    def test_bars_are_side_by_side_the_tallest_full_height(self):
        drawn = sparkline.bars([0, 4, 2], ["a", "b", "c"], width=62, height=24)
        assert [b.height for b in drawn] == [0.0, 20.0, 10.0]
        assert [b.x for b in drawn] == [2.0, 21.3, 40.7]

    def test_the_sentences_say_what_the_picture_shows(self):
        text = sparkline.summary("Probe latency", [None, 2.0, 4.5], lambda v: f"{v} ms")
        assert text == (
            "Probe latency, the last 15 minutes: latest 4.5 ms, lowest 2.0 ms, "
            "highest 4.5 ms (2 of 3 half-minutes measured)."
        )
        assert sparkline.count_summary("Calls", [None, 3, 7]) == (
            "Calls, the last 15 minutes: 10 in all, at most 7 in a half-minute."
        )
        assert "no readings yet" in sparkline.summary("X", [None], str)
        assert sparkline.count_summary("Errors", [0, 2], window=None) == (
            "Errors: 2 in all, at most 2 in a half-minute."
        )


class TestQuantiles:
    def test_quantiles_are_interpolated_inside_their_bucket(self):
        buckets = [(0.001, 0.0), (0.002, 50.0), (0.004, 100.0), (float("inf"), 100.0)]
        assert metrics._estimate_ms(list(buckets), 0.5) == pytest.approx(2.0)
        assert metrics._estimate_ms(list(buckets), 0.95) == pytest.approx(3.8)
        assert metrics._estimate_ms([], 0.5) is None


@pytest.mark.django_db
@pytest.mark.usefixtures("kdb")
class TestOnThePages:
    @pytest.fixture(autouse=True)
    def _fresh_history(self):
        history.clear()
        yield
        history.clear()

    def test_every_card_has_two_sparklines_with_text_alternatives(self, client, carol):
        connections.health("dev")
        client.force_login(carol)

        body = client.get(URL, **HX).content.decode()

        dev = status_card(body, "dev")
        assert dev.count("<svg") == 2
        assert 'role="img"' in dev and 'aria-labelledby="spark-dev-latency"' in dev
        title = re.search(r'<title id="spark-dev-latency">([^<]*)</title>', dev).group(1)
        assert title.startswith("Probe latency, the last 15 minutes: latest ")
        assert "Calls, the last 15 minutes:" in dev

    def test_a_new_probe_redraws_the_line_on_the_next_poll(self, client, carol):
        client.force_login(carol)
        first = status_card(client.get(URL, **HX).content.decode(), "dev")
        # Slower than any real probe (they time out after seconds), so it is the slot's
        # reading even when the machine is loaded and the polls probe again meanwhile.
        history.record_probe("dev", 98_765.0)

        second = status_card(client.get(URL, **HX).content.decode(), "dev")

        assert "latest 98765 ms" in second and "latest 98765 ms" not in first

    def test_the_status_page_shows_operation_latency_and_events_per_minute(self, client, alice):
        record(alice, "Counted")
        client.force_login(alice)

        body = client.get(URL).content.decode()

        details = body[body.index('id="details-dev"') :]
        assert re.search(r"<code>append</code></th><td class=\"num\">\d+</td>", details)
        assert "p50" in details and "p95" in details
        assert 'data-chart="events"' in details
        assert re.search(r"Events per minute in dev, the last 60 minutes: \d+ in all", details)

    def test_the_details_poll_gets_the_details_only(self, client, carol):
        client.force_login(carol)
        response = client.get(URL, {"part": "details"}, **HX)
        body = response.content.decode()
        assert 'id="details-dev"' in body and "<html" not in body
        assert 'class="status-grid"' not in body


@pytest.mark.django_db
@pytest.mark.usefixtures("kdb")
def test_events_per_minute_counts_the_applied_events(alice):
    record(alice, "One")
    record(alice, "Two")

    chart = charts.events_per_minute("dev")

    assert chart.total >= 2
    assert len(chart.bars) == charts.EVENT_MINUTES
    later = charts.events_per_minute("dev", now=datetime.now(UTC) + timedelta(hours=2))
    assert later.total == 0
