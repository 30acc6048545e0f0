"""The README's manage.py commands on a fresh clone: no .env, no DEBUG, no SECRET_KEY.

Commands that sign nothing run with a key made for their process only; serving and
`check` still stop without SECRET_KEY (no default secret outside DEBUG).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kurrent.embedded import EmbeddedNode

ROOT = Path(__file__).resolve().parents[2]
NO_SECRET = "SECRET_KEY is not set: required when DEBUG is off"


def fresh_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KURRENT", "DEBUG", "SECRET_KEY", "DATABASE_URL", "PYTEST_"))
    }
    env.update(DATA_DIR=str(data_dir), KURRENTDB_EMBEDDED_PORT=str(port))
    env["STATIC_ROOT"] = str(data_dir / "static")
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def node() -> EmbeddedNode:
    node = EmbeddedNode(db=":memory:", host="127.0.0.1", port=0, insecure=True).start()
    yield node
    node.stop()


def test_the_readme_commands_work_without_debug_or_a_secret(tmp_path, node):
    env = fresh_env(tmp_path, node.port)
    export = str(tmp_path / "backup.jsonl")
    outputs = {}
    for command in (
        ("migrate", "--no-input", "-v", "0"),
        ("kurrent_status",),
        ("kurrent_seed", "3", "--no-progress"),
        ("kurrent_export", export),
        ("kurrent_import", export),
        ("kurrent_projector", "--once"),
        ("kurrent_rebuild",),
        ("collectstatic", "--no-input", "-v", "0"),
    ):
        result = manage(env, *command)
        assert result.returncode == 0, (command, result.stderr)
        assert "Configuration error" not in result.stderr
        outputs[command[0]] = result.stdout
    assert "3 record(s) created" in outputs["kurrent_seed"]
    assert "0 event(s) appended, 10 already there" in outputs["kurrent_import"]


@pytest.mark.parametrize("command", [("check",), ("runserver", "127.0.0.1:0", "--noreload")])
def test_serving_and_check_still_need_a_secret(tmp_path, command):
    result = manage(fresh_env(tmp_path, 1), *command)
    assert result.returncode == 2
    assert result.stderr.startswith(f"Configuration error: {NO_SECRET}")


def test_the_wsgi_app_still_needs_a_secret(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import penguinpool.wsgi"],
        cwd=ROOT,
        env={**fresh_env(tmp_path, 1), "DJANGO_SETTINGS_MODULE": "penguinpool.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert NO_SECRET in result.stderr
