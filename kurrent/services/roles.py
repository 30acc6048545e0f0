"""Roles: three Django groups, created by a data migration.

viewer  reads public records and their own
editor  also creates and changes their own
admin   everything: others' data, switching environment, erasing a user, mainnet

A superuser counts as admin. Every service and view asks these predicates;
templates use them only to hide what the user cannot do.
"""

from __future__ import annotations

from typing import Any

VIEWER = "viewer"
EDITOR = "editor"
ADMIN = "admin"
ROLES = (VIEWER, EDITOR, ADMIN)


def _groups(user: Any) -> set[str]:
    cached = getattr(user, "_kurrent_role_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) if user.pk else set()
        user._kurrent_role_names = cached
    return cached


def can_read(user: Any) -> bool:
    """Any active signed-in user reads public data and their own."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def is_admin(user: Any) -> bool:
    return can_read(user) and (bool(user.is_superuser) or ADMIN in _groups(user))


def can_write(user: Any) -> bool:
    """May create records and change their own."""
    return is_admin(user) or (can_read(user) and EDITOR in _groups(user))


def role_name(user: Any) -> str:
    if is_admin(user):
        return ADMIN
    if can_write(user):
        return EDITOR
    return VIEWER
