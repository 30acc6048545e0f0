"""The model backend, with the signed-in user kept in this process for a moment.

Every signed-in request asks `get_user(id)`: one query for the user and, for role
checks, one for its groups. The status panel polls every few seconds from every
open dashboard, so those two queries are most of its cost. Here a user (with its
role names) is reused for at most `USER_CACHE_SECONDS`; saving the user or changing
its groups drops it at once in this process, and other processes see the change
within that time. Sessions are still checked against the password hash, so a
password change signs other sessions out as before (within the same moment).
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

USER_CACHE_SECONDS = 2.0

_lock = threading.Lock()
_cache: dict[Any, tuple[float, Any]] = {}


def forget(user_id: Any = None) -> None:
    """Drop one cached user, or all of them."""
    with _lock:
        if user_id is None:
            _cache.clear()
        else:
            _cache.pop(user_id, None)


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        now = time.monotonic()
        with _lock:
            hit = _cache.get(user_id)
        if hit is not None and now - hit[0] < USER_CACHE_SECONDS:
            # A copy per request: views may set attributes on request.user.
            return copy.copy(hit[1])
        user = super().get_user(user_id)
        if user is None:
            return None
        from kurrent.services import roles

        roles.is_admin(user)  # loads the role names onto the instance, reused by the copies
        with _lock:
            _cache[user_id] = (now, user)
        return copy.copy(user)


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    forget(instance.pk)


def _groups_changed(sender: Any, instance: Any, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if reverse:  # group.user_set changed: the users are in pk_set (or unknown, on clear)
        if pk_set:
            for pk in pk_set:
                forget(pk)
        else:
            forget()
    else:
        forget(instance.pk)


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="accounts-user-cache-save")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="accounts-user-cache-del")
    m2m_changed.connect(
        _groups_changed, sender=user_model.groups.through, dispatch_uid="accounts-user-cache-groups"
    )
