"""Who may see what: the one rule, in Python and as a query filter.

Anyone signed in sees public records and entries and their own; an admin sees
everything. Lists, search, activity, history and the admin all ask here.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from kurrent.services.roles import is_admin


def may_see(actor: Any, item: Any) -> bool:
    """Whether `actor` may see `item` (a Record, an Entry, or a row with is_public and
    owner_id)."""
    return bool(item.is_public) or _is_owner(actor, item.owner_id) or is_admin(actor)


def may_change(actor: Any, item: Any) -> bool:
    """Whether `actor` may change or delete `item`: its owner or an admin."""
    return _is_owner(actor, item.owner_id) or is_admin(actor)


def visible_filter(actor: Any) -> Q | None:
    """The rows `actor` may see, as a filter on is_public and owner_id (None: all)."""
    if actor is not None and is_admin(actor):
        return None
    pk = getattr(actor, "pk", None)
    return Q(is_public=True) if pk is None else Q(is_public=True) | Q(owner_id=pk)


def viewer_id(actor: Any) -> int | None:
    """For SQL written by hand (full-text search): the owner whose private rows the
    actor also sees, or None for an admin, who sees all."""
    return None if is_admin(actor) else getattr(actor, "pk", None)


def _is_owner(actor: Any, owner_id: Any) -> bool:
    pk = getattr(actor, "pk", None)
    return pk is not None and owner_id == pk
