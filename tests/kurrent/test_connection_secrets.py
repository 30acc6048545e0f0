"""Credentials never appear in health output, logs, exception messages or status output.

Runs a TLS node with basic auth, so the password is really used on the wire.
"""

from __future__ import annotations

import io
import logging
import logging.config
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from kurrentdbclient import NewEvent, StreamState

from kurrent.connection.clients import scrub
from kurrent.connection.health import CONNECTED, DOWN
from kurrent.connection.manager import connections
from kurrent.core.errors import KurrentUnavailable
from kurrent.embedded import EmbeddedNode
from tests.conftest import point_env_at

SECRET = "Tls:pw@with/odd?chars#1"  # must survive the URL unharmed, and never be shown


@pytest.fixture
def tls_node() -> Iterator[EmbeddedNode]:
    node = EmbeddedNode(db=":memory:", port=0, insecure=False, users={"ops": SECRET}).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def mainnet(tls_node: EmbeddedNode, settings: Any, tmp_path: Any) -> Iterator[tuple[str, str]]:
    """mainnet on the TLS node; yields (host:port, CA file)."""
    settings.KURRENTDB_TIMEOUT_MS = 2000
    settings.KURRENTDB_MAX_RETRIES = 0
    settings.KURRENTDB_ENVIRONMENT = "mainnet"
    address = f"localhost:{tls_node.port}"  # the node's certificate names localhost
    assert tls_node.cert_path
    ca_file = str(tmp_path / "ca.pem")  # the node deletes its own copy when it stops
    shutil.copy(tls_node.cert_path, ca_file)
    point_env_at(
        settings,
        "mainnet",
        f"kurrentdb://{address}",
        username="ops",
        password=SECRET,
        ca_file=ca_file,
    )
    yield address, ca_file
    connections.reset()


def append() -> int:
    event = NewEvent(type="Tested", data=b"{}")
    return connections.call(
        "mainnet",
        "test-append",
        lambda c, t: c.append_to_stream(
            f"secret-{uuid.uuid4()}", events=[event], current_version=StreamState.ANY, timeout=t
        ),
    )


def status_output() -> str:
    out = io.StringIO()
    for args in ((), ("--json",)):
        try:
            call_command("kurrent_status", *args, stdout=out)
        except CommandError as exc:
            out.write(str(exc))
    return out.getvalue()


def test_tls_with_basic_auth_uses_the_password_verbatim(mainnet: tuple[str, str]) -> None:
    health = connections.health("mainnet")
    assert health.state == CONNECTED, health.last_error
    assert health.redacted_url == f"kurrentdb://***@{mainnet[0]}"
    assert health.is_production
    assert append() > 0


def test_no_password_in_health_logs_errors_or_status(
    mainnet: tuple[str, str],
    tls_node: EmbeddedNode,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    assert_no_secrets: Callable[..., None],
) -> None:
    address, ca_file = mainnet
    caplog.set_level(logging.DEBUG)
    seen: list[object] = []
    seen.append(connections.health("mainnet"))
    seen.append(connections.health_all())
    seen.append(status_output())
    append()

    # Wrong password: the node refuses, the message names the variables, not the values.
    point_env_at(settings, "mainnet", f"kurrentdb://{address}", username="ops", password=SECRET + "x",
                 ca_file=ca_file)  # fmt: skip
    with pytest.raises(KurrentUnavailable) as refused:
        append()
    assert "rejected the credentials" in str(refused.value)
    assert "KURRENTDB_MAINNET_PASSWORD" in str(refused.value)
    seen += [refused.value, refused.value.args, connections.health("mainnet"), status_output()]

    # Node gone.
    point_env_at(settings, "mainnet", f"kurrentdb://{address}", username="ops", password=SECRET,
                 ca_file=ca_file)  # fmt: skip
    tls_node.stop()
    with pytest.raises(KurrentUnavailable) as down:
        append()
    health = connections.health("mainnet")
    assert health.state == DOWN
    seen += [down.value, health, repr(health), status_output()]

    assert_no_secrets(*seen, caplog.text, secrets=(SECRET, SECRET + "x"))
    assert_no_secrets(*(str(s) for s in seen), secrets=(SECRET,))


def test_scrub_removes_every_configured_password(mainnet: tuple[str, str]) -> None:
    assert scrub(f"oops {SECRET} leaked") == "oops *** leaked"


def test_the_console_log_never_shows_a_configured_password(mainnet: tuple[str, str]) -> None:
    """A library that repeats a connection string in a message or a traceback: the
    console handler that settings.LOGGING configures prints *** instead."""
    from django.conf import settings as django_settings

    formatter = logging.config.dictConfigClass(django_settings.LOGGING).configure_formatter(
        django_settings.LOGGING["formatters"]["plain"]
    )
    try:
        raise ValueError(f"bad URL kurrentdb://ops:{SECRET}@{mainnet[0]}")
    except ValueError:
        record = logging.getLogger("kurrentdbclient").makeRecord(
            "kurrentdbclient", logging.ERROR, __file__, 1, "could not use %s", (SECRET,), None
        )
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "could not use ***" in line
    assert "ops:***@" in line  # the traceback too
    assert SECRET not in line
