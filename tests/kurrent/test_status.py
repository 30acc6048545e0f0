"""`manage.py kurrent_status` tells the truth for a running node, a stopped node, no URL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError

from kurrent.embedded import EmbeddedNode
from tests.conftest import point_env_at

ROOT = Path(__file__).resolve().parents[2]


def status(*args: str) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("kurrent_status", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue() + str(exc), exc.returncode
    return out.getvalue(), 0


def row(output: str, env: str) -> str:
    for line in output.splitlines():
        cells = line.lstrip("* ").split()
        if cells and cells[0] == env:
            return line
    raise AssertionError(f"no row for {env} in:\n{output}")


def test_running_node(kurrent_dev: Any) -> None:
    output, code = status()
    assert code == 0
    dev = row(output, "dev")
    assert dev.startswith("*")  # the active one
    assert " connected " in dev
    assert "leader" in dev
    assert f"127.0.0.1:{kurrent_dev.port}" in dev
    assert " ms " in dev
    assert "not configured" in row(output, "staging")
    assert "mainnet (production)" in row(output, "mainnet")


def test_running_node_as_json(kurrent_dev: Any) -> None:
    output, code = status("--json")
    assert code == 0
    report = json.loads(output)
    assert [r["env"] for r in report] == ["dev", "staging", "test", "mainnet"]
    dev = report[0]
    assert dev["active"] is True
    assert dev["state"] == "connected"
    assert dev["node_state"] == "leader"
    assert dev["url"] == kurrent_dev.url
    assert report[1]["state"] == "not configured"


def test_stopped_node_exits_1(settings: Any) -> None:
    settings.KURRENTDB_ENVIRONMENT = "test"
    settings.KURRENTDB_MAX_RETRIES = 0
    node = EmbeddedNode(db=":memory:", port=0, insecure=True).start()
    port = node.port
    point_env_at(settings, "test", node.url)
    assert status()[1] == 0
    node.stop()
    point_env_at(settings, "test", node.url)  # forget the cached "connected"
    output, code = status()
    assert code == 1
    line = row(output, "test")
    assert line.startswith("*")
    assert " down " in line
    assert f"127.0.0.1:{port}" in line
    assert "the node is not answering" in line
    assert "the active environment test is down" in output


def test_unconfigured_active_environment_exits_1(settings: Any) -> None:
    settings.KURRENTDB_ENVIRONMENT = "staging"
    point_env_at(settings, "staging", "")
    output, code = status()
    assert code == 1
    assert "not configured" in row(output, "staging")
    assert "KURRENTDB_STAGING_URL is empty" in row(output, "staging")
    assert "the active environment staging is not configured" in output


def test_an_inactive_environment_that_is_down_does_not_fail(
    kurrent_dev: Any, settings: Any
) -> None:
    settings.KURRENTDB_MAX_RETRIES = 0
    point_env_at(settings, "test", "kurrentdb://127.0.0.1:1?Tls=false")
    output, code = status()
    assert code == 0
    assert " down " in row(output, "test")
    assert " connected " in row(output, "dev")


def test_exit_code_of_the_real_command() -> None:
    active = "staging"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KURRENT", "PYTEST_"))}
    env.update({"DEBUG": "true", "KURRENTDB_ENVIRONMENT": active})
    result = subprocess.run(
        [sys.executable, "manage.py", "kurrent_status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "not configured" in row(result.stdout, active)
    assert f"the active environment {active} is not configured" in result.stderr
