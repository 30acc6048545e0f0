"""Start-up with bad settings: `manage.py check` prints one line naming the variable, exits 2.

Also: .env.example lists every variable that settings.py reads, and works as it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pw-Zq8-never-shown"


def run_check(
    extra: dict[str, str], *, debug: bool = True, command: tuple[str, ...] = ("check",)
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KURRENT", "DEBUG", "SECRET_KEY", "DATABASE_URL", "PYTEST_"))
    }
    if debug:
        env["DEBUG"] = "true"
    env.update(extra)
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("extra", "debug", "message"),
    [
        ({}, False, "SECRET_KEY is not set: required when DEBUG is off"),
        ({"KURRENTDB_TIMEOUT": "5s"}, True, "KURRENTDB_TIMEOUT='5s' is not a whole number."),
        ({"KURRENTDB_ENVIRONMENT": "prod"}, True, "KURRENTDB_ENVIRONMENT='prod' is not one of"),
        ({"KURRENTDB_ENABLED": "maybe"}, True, "KURRENTDB_ENABLED='maybe' is not a boolean"),
        (
            {"KURRENTDB_STAGING_URL": f"http://ops:{SECRET}@db:2113"},
            True,
            "KURRENTDB_STAGING_URL has http://",
        ),
        (
            {
                "KURRENTDB_MAINNET_URL": "kurrentdb://db:2113",
                "KURRENTDB_MAINNET_USERNAME": "ops",
                "KURRENTDB_MAINNET_PASSWORD": SECRET,
                "KURRENTDB_MAINNET_CA_FILE": "/no/such/ca.pem",
            },
            True,
            "KURRENTDB_MAINNET_CA_FILE=/no/such/ca.pem does not exist",
        ),
        ({"KURRENTDB_TEST_PASSWORD": SECRET}, True, "KURRENTDB_TEST_PASSWORD is set but"),
    ],
)
def test_bad_setting_stops_start_up_with_one_line(
    extra: dict[str, str], debug: bool, message: str
) -> None:
    result = run_check(extra, debug=debug)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Configuration error: {message}")
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_runserver_with_its_autoreloader_stops_with_one_line_too() -> None:
    result = run_check(
        {"KURRENTDB_STAGING_URL": f"esdb+discover://ops:{SECRET}@a:2113,b:2113"},
        command=("runserver", "127.0.0.1:0"),
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "Configuration error: KURRENTDB_STAGING_URL: esdb+discover:// takes one host only, "
        "the cluster's DNS name."
    )


def setting_names() -> set[str]:
    source = (ROOT / "penguinpool" / "settings.py").read_text()
    names = set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    if re.search(r'f"KURRENTDB_\{name\.upper\(\)\}_URL"', source):
        for env in ("DEV", "STAGING", "TEST", "MAINNET"):
            names |= {f"KURRENTDB_{env}_{s}" for s in ("URL", "USERNAME", "PASSWORD", "CA_FILE")}
    return names


def example_entries() -> dict[str, str]:
    """Variable -> the comment line just above it, for each entry of .env.example."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    entries = {}
    for i, line in enumerate(lines):
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=", line)
        if match:
            above = lines[i - 1] if i else ""
            entries[match.group(1)] = above
    return entries


def test_env_example_lists_every_setting_with_a_comment() -> None:
    names = setting_names()
    assert {"SECRET_KEY", "KURRENTDB_TIMEOUT", "KURRENTDB_MAINNET_CA_FILE"} <= names
    entries = example_entries()
    missing = names - set(entries)
    assert not missing, f".env.example lacks {sorted(missing)}"
    unknown = set(entries) - names
    assert not unknown, f".env.example lists variables settings.py never reads: {sorted(unknown)}"
    for name, above in entries.items():
        assert above.startswith("# ") and len(above) > 6, f"{name} has no comment line above it"


def test_env_example_as_it_is_passes_the_checks() -> None:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            name, _, value = line.partition("=")
            values[name] = value
    result = run_check(values, debug=False)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
