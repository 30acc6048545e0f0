"""The NinjaAPI behind /api/v1/: authentication, the rate limit, problem+json errors, the
OpenAPI schema (/api/v1/openapi.json) and its interactive docs (/api/v1/docs, swagger-ui
from django-ninja's own static files, no CDN).

Why django-ninja: our views are functions and our services take typed arguments; ninja
turns type-hinted functions into endpoints, validates with pydantic and derives the
OpenAPI 3 schema from the same hints. DRF with drf-spectacular would add serializers and
class-based views beside the services for the same result (README.md, "JSON API").
"""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from ninja import NinjaAPI

from kurrent.api import adminops, problems, records, status, typeschemas, userdata
from kurrent.api.auth import BearerToken, PerTokenThrottle, SessionWithCsrf

DESCRIPTION = """\
Records, user data and status of the Penguin Pool's KurrentDB, through the same services
(permissions, validation, events, read model) as the dashboard.

Authenticate with `Authorization: Bearer <token>` (make one on the dashboard's API tokens
page) or, from a page of this site, with the session cookie and the `X-CSRFToken` header.
`ETag` is an item's version; updates and deletes need it back as `If-Match`. A POST may carry
an `Idempotency-Key`. Errors are RFC 9457 `application/problem+json` naming the field. Lists
page with cursors and `Link` headers.
"""


class PoolAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """ninja's schema, with every error answer typed `application/problem+json`
        (which is what they are) and the headers the endpoints set documented."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for code, answer in operation.get("responses", {}).items():
                    content = answer.get("content") or {}
                    if int(code) >= 400 and "application/json" in content:
                        answer["content"] = {problems.PROBLEM_JSON: content["application/json"]}
        return schema


api = PoolAPI(
    title="Penguin Pool KurrentDB API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    auth=[BearerToken(), SessionWithCsrf()],
    throttle=[PerTokenThrottle()],
    # swagger-ui's stylesheet draws its icons from data: URLs; nothing else is let in.
    docs_decorator=csp_update({"img-src": ["data:"]}),
)
problems.install(api)
api.add_router("", records.router)
api.add_router("", userdata.router)
api.add_router("", typeschemas.router)
api.add_router("", status.router)
api.add_router("", adminops.router)
