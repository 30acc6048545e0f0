"""Erasing a user's data for good (admins only).

`erase_user` is the one way data leaves KurrentDB for good: it tombstones every
stream of the user (their entries and the stream records they own). Tombstone, not
delete + truncate: a tombstoned stream can never be read or written again (a retried
form cannot bring it back), its metadata goes with it, and the next scavenge of a
real KurrentDB drops the events from disk. A soft delete would leave the stream
re-creatable and its old events reachable by resetting its metadata. Then an
`UserErased` event tells the projector (now and in every rebuild) to drop the user's
read-model rows. The user may store again afterwards: an entry address whose stream
was tombstoned moves to its next generation (kurrent.services.userdata).
"""

from __future__ import annotations

import logging
from typing import Any

from kurrentdbclient import StreamState
from kurrentdbclient.exceptions import StreamIsDeletedError

from kurrent.connection.manager import connections
from kurrent.core.errors import Forbidden, ValidationError
from kurrent.core.events import (
    STREAM_PREFIXES,
    UserErased,
    encode,
    erasure_stream,
    record_stream,
    userdata_prefix,
)
from kurrent.models import StreamRecord
from kurrent.services.common import append, catch_up_quietly, env_name
from kurrent.services.roles import is_admin

log = logging.getLogger("kurrent.userdata")


def erase_user(
    actor: Any, user: Any, env: str | None = None, *, idempotency_key: str | None = None
) -> int:
    """Admin only: tombstone every stream `user` stored (entries and owned stream records),
    then append UserErased so the read model (and every rebuild) drops their rows.
    Returns the number of streams tombstoned by this call."""
    if not is_admin(actor):
        raise Forbidden("Only an admin may erase a user's data.")
    if getattr(user, "pk", None) is None:
        raise ValidationError("user", "must be an existing user")
    env = env_name(env)
    # The stream records they own, as the read model has them. Quietly: an event the
    # client cannot take (another user's broken stream) must not stop an erasure.
    catch_up_quietly(env)
    streams = set(_user_streams(env, user.pk))
    erased = 0
    for stream in sorted(streams):
        if _tombstone(env, stream):
            erased += 1
    marker = encode(
        UserErased(user_id=user.pk),
        stream=erasure_stream(user.pk),
        actor=actor,
        idempotency_key=idempotency_key,
    )
    position = append(env, erasure_stream(user.pk), marker, StreamState.ANY)
    catch_up_quietly(env, position)  # else the live projector drops their rows
    log.info("erased %d stream(s) of user %s in %s", erased, user.pk, env)
    return erased


def _user_streams(env: str, user_id: int) -> list[str]:
    """Every stream of the user: user-data streams found in $all by prefix (so none is
    missed even if the read model lost it), plus the stream records they own."""
    prefix = userdata_prefix(user_id)
    assert prefix.startswith(STREAM_PREFIXES)

    def read(client: Any, timeout: float) -> set[str]:
        return {
            e.stream_name
            for e in client.read_all(
                filter_include=(prefix,),
                filter_by_stream_name=True,
                filter_by_prefix=True,
                timeout=timeout,
            )
        }

    with connections.stream_slot(env):
        names = connections.call(env, "erase_scan", read)
    owned = StreamRecord.objects.filter(env=env, owner_id=user_id).values_list(
        "record_id", flat=True
    )
    return [*names, *(record_stream(r) for r in owned)]


def _tombstone(env: str, stream: str) -> bool:
    try:
        connections.call(
            env,
            "tombstone",
            lambda client, timeout: client.tombstone_stream(
                stream, current_version=StreamState.ANY, timeout=timeout
            ),
        )
    except StreamIsDeletedError:
        return False  # already erased
    return True
