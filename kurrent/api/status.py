"""/api/v1/environments, /api/v1/activity and /api/v1/me: what the status panel and the
activity feed show, from the same readings (kurrent.web.context, kurrent.readmodel)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from kurrent.api.access import current_env
from kurrent.api.auth import actor
from kurrent.api.schemas import ActivityPage, EnvironmentOut, MeOut, ProblemOut
from kurrent.connection import config
from kurrent.core.errors import NotFound
from kurrent.readmodel import activity
from kurrent.services import roles
from kurrent.services.common import require_reader
from kurrent.web import context

router = Router(tags=["status"])

READ = {401: ProblemOut, 422: ProblemOut, 429: ProblemOut}
ACTIVITY_MAX = 200


def _lag(sync: Any) -> dict[str, Any] | None:
    if sync is None:
        return None
    return {
        "checkpoint_position": sync.checkpoint_position,
        "head_position": sync.head_position,
        "events_behind": sync.events_behind,
        "events_behind_capped": sync.events_behind_capped,
        "seconds_behind": sync.seconds_behind,
        "skipped_events": sync.skipped_events,
        "caught_up": sync.caught_up,
    }


def _environment(name: str, health: Any, who: Any) -> dict[str, Any]:
    """`node_address` (an internal host and port) for admins only (issue 12, point 5)."""
    return {
        "name": name,
        "active": name == config.active_environment(),
        "is_production": health.is_production,
        "state": health.state,
        "reason": health.reason,
        "latency_ms": health.latency_ms,
        "node_state": health.node_state,
        "node_address": health.node_address if roles.is_admin(who) else None,
        "commit_position": health.commit_position,
        "last_error": health.last_error,
        "last_success_at": health.last_success_at,
        "checked_at": health.checked_at,
        "lag": _lag(context.sync_or_none(name, health)),
    }


@router.get("/environments", response={200: list[EnvironmentOut], **READ}, summary="Health")
def environments(request: HttpRequest) -> Any:
    """health and sync status: every environment's state, latency, node and the read
    model's lag, as the status panel shows them (probed at most once per sync interval).
    Never a 503: an environment that is down says so in its `state`."""
    who = actor(request)
    require_reader(who)
    return [_environment(name, health, who) for name, health in context.health_all().items()]


@router.get(
    "/environments/{name}",
    response={200: EnvironmentOut, 404: ProblemOut, **READ},
    summary="One environment's health",
)
def environment(request: HttpRequest, name: str) -> Any:
    who = actor(request)
    require_reader(who)
    if name not in config.environments():
        raise NotFound(f"There is no environment {name[:40]!r}.")
    return _environment(name, context.health(name), who)


@router.get("/activity", response={200: ActivityPage, **READ}, summary="Activity")
def activity_feed(
    request: HttpRequest,
    after: int | None = Query(None, ge=0, le=2**63 - 1, description="a `cursor` from before"),
    limit: int = Query(50, ge=1, le=ACTIVITY_MAX),
) -> Any:
    """The newest events you may see. Without `after`: the newest `limit`, newest first.
    With `after`: the events since that cursor, oldest first, `limit` at most
    (`has_more` says to ask again with the new `cursor`)."""
    user = actor(request)
    require_reader(user)
    env = current_env()
    if after is None:
        items = activity.recent_events(env, limit=limit, actor=user)
        cursor = items[0].position if items else 0
        has_more = False
    else:
        found = activity.events_after(env, after, limit=limit + 1, actor=user)
        has_more = len(found) > limit
        items = found[:limit]
        cursor = items[-1].position if items else after
    return {
        "items": [
            {
                "position": item.position,
                "event_type": item.event_type,
                "kind": item.kind,
                "object_id": item.object_id,
                "title": item.title,
                "actor": item.actor,
                "recorded_at": item.recorded_at,
                "stream_name": item.stream_name,
            }
            for item in items
        ],
        "cursor": cursor,
        "has_more": has_more,
    }


@router.get("/me", response={200: MeOut, **READ}, summary="Who am I")
def me(request: HttpRequest) -> Any:
    """The user, role and token this request acts as."""
    user = actor(request)
    token = getattr(request, "api_token", None)
    return {
        "username": user.get_username(),
        "role": roles.role_name(user),
        "auth": "token" if token is not None else "session",
        "token_name": token.name if token is not None else None,
        "token_scope": token.scope if token is not None else None,
        "environment": current_env(),
    }
