"""The role groups (viewer, editor, admin) and the model permissions each holds.

The permissions matter for Django admin only: the dashboard asks
`kurrent.services.roles`, and the services enforce ownership whatever the permission.
"""

from __future__ import annotations

from typing import Any

from kurrent.services.roles import ADMIN, EDITOR, VIEWER

# app_label -> codename prefixes per role. A permission that does not exist
# (yet) is skipped, so this holds for any set of read-model tables.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    VIEWER: {"kurrent": ("view",)},
    EDITOR: {"kurrent": ("view", "add", "change", "delete")},
    ADMIN: {
        "kurrent": ("view", "add", "change", "delete"),
        "auth": ("view",),
        "accounts": ("view", "delete"),
    },
}


def apply_role_groups(group_model: Any, permission_model: Any) -> None:
    """Create the three groups and set their permissions (idempotent)."""
    for role, apps in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for app_label, actions in apps.items():
            for perm in permission_model.objects.filter(content_type__app_label=app_label):
                if perm.codename.split("_", 1)[0] in actions:
                    wanted.append(perm)
        group.permissions.add(*wanted)


def sync_role_groups(sender: Any = None, **kwargs: Any) -> None:
    """post_migrate receiver: top the groups up with permissions of new models."""
    apps = kwargs.get("apps")
    if apps is None:
        return
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:
        return
    apply_role_groups(group_model, permission_model)
