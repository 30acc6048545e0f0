"""A fuzz run driven by the OpenAPI schema (schemathesis): every operation of /api/v1/ gets
generated requests, valid and not, sent through the real WSGI app to a real embedded node.

For every answer: no 5xx, the status is one the schema lists, the body matches the
schema for that status (problems included) in the content type it declares, and an
answer that refused the request (4xx) appended no event to KurrentDB.

Bounded: FUZZ_EXAMPLES examples per operation (default 10) and hypothesis' deadline off;
the whole run takes well under a minute on the development machine.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kurrent.api import tokens
from kurrent.api.main import api
from kurrent.core.events import STREAM_PREFIXES
from tests.kurrent.viewtools import entry, record

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

pytestmark = [pytest.mark.django_db]


def _our_event_count(raw_client: Any) -> int:
    return len(
        list(
            raw_client.read_all(
                filter_include=STREAM_PREFIXES, filter_by_stream_name=True, filter_by_prefix=True
            )
        )
    )


# What the current test made, for the path parameters below (drawn while it runs).
KNOWN: dict[str, list[Any]] = {}


@pytest.fixture
def fuzz_world(kdb: Any, raw_client: Any, alice: Any, admin_user: Any, settings: Any) -> Any:
    """Something to find: a public record of the admin's, a private one of alice's, an
    entry of each; and the WSGI app as a server runs it."""
    public = record(admin_user, name="Fuzzed public", is_public=True)
    private = record(alice, name="Fuzzed private")
    entry(alice, is_public=True)
    entry(admin_user)
    KNOWN.update(
        record_id=[public.id, private.id],
        username=["alice", "admin"],
        entry_type=["profile", "profile"],
        category=["contact", "contact"],
    )
    settings.ALLOWED_HOSTS = ["localhost"]  # the host schemathesis' WSGI client sends
    # Django's test client keeps the test's database connection across requests by not
    # letting request_started/finished close it; the WSGI handler needs the same.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield {
        "secret": tokens.create_token(admin_user, name="fuzz", scope="read-write").secret,
        "raw_client": raw_client,
    }
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    KNOWN.clear()


schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = WSGIHandler()


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """As generated, or aimed at things that exist, so more than 404 is reached."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.sampled_from([None, 0, 1]).map(lambda index: _known(path_parameters, index))


def _known(generated: dict[str, Any], index: int | None) -> dict[str, Any]:
    if index is None:
        return generated
    real = {name: values[index] for name, values in KNOWN.items()}
    real.update(name=("dev", "mainnet")[index], version=index)
    return {name: real.get(name, value) for name, value in generated.items()}


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_by_its_schema(case: Any, fuzz_world: dict[str, Any]) -> None:
    raw_client = fuzz_world["raw_client"]
    before = _our_event_count(raw_client)
    response = case.call(headers={"Authorization": f"Bearer {fuzz_world['secret']}"})
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        after = _our_event_count(raw_client)
        assert after == before, (
            f"{case.method} {case.formatted_path} was refused ({response.status_code}) "
            f"but appended {after - before} event(s)"
        )
