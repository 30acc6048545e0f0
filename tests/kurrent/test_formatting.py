from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kurrent.web import formatting


def test_pretty_json_keeps_order_and_unicode():
    assert formatting.pretty_json({"b": 1, "a": "é"}) == '{\n  "b": 1,\n  "a": "é"\n}'


def test_compact_json_is_one_line():
    assert formatting.compact_json({"a": [1, 2], "b": None}) == '{"a":[1,2],"b":null}'


def test_preview_shortens_long_values():
    text = formatting.preview({"k": "x" * 200})
    assert len(text) == 80 and text.endswith("…")
    assert formatting.preview("short") == "short"


def test_utc_text_converts_any_zone():
    moment = datetime(2026, 1, 2, 12, 0, tzinfo=UTC).astimezone()
    assert formatting.utc_text(moment) == "2026-01-02 12:00:00 UTC"
    assert formatting.utc_text(None) == ""
    assert formatting.iso_utc(moment) == "2026-01-02T12:00:00Z"


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "just now"), (42, "42 s ago"), (300, "5 min ago"), (7200, "2 h ago"), (172800, "2 d ago")],
)
def test_ago(seconds, text):
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert formatting.ago(now - timedelta(seconds=seconds), now=now) == text


def test_ago_of_nothing_is_never():
    assert formatting.ago(None) == "never"


@pytest.mark.parametrize(
    "ms, text", [(None, "\u2013"), (0.42, "0.4 ms"), (9.95, "9.9 ms"), (12.4, "12 ms")]
)
def test_latency_text(ms, text):
    assert formatting.latency_text(ms) == text


@pytest.mark.parametrize(
    "state, label, css",
    [
        ("connected", "Connected", "state-connected"),
        ("not configured", "Not configured", "state-not-configured"),
        ("", "Unknown", "state-unknown"),
    ],
)
def test_state_label_and_class(state, label, css):
    assert formatting.state_label(state) == label
    assert formatting.state_class(state) == css


def test_line_diff_marks_changed_lines():
    marked = formatting.line_diff({"a": 1, "b": 2}, {"a": 1, "b": 3})
    assert ("del", '  "b": 2') in marked and ("add", '  "b": 3') in marked
    assert ("same", '  "a": 1,') in marked


def test_line_diff_of_a_new_field_is_all_added():
    assert formatting.line_diff(None, "x") == [("add", '"x"')]


@pytest.mark.parametrize(
    "seconds, text", [(0, "since start"), (40, "last 40 s"), (300, "last 5 min")]
)
def test_window_text(seconds, text):
    assert formatting.window_text(seconds) == text
