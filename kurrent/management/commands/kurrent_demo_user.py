"""Create or reset the demo login (development only) and print its password."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from kurrent.services.roles import ADMIN


class Command(BaseCommand):
    help = (
        "DEBUG only: create or reset the demo login (DEMO_USERNAME) as an admin with a new "
        "random password, printed as 'Demo login: <user> / <password>'."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "kurrent_demo_user only runs with DEBUG=true: a demo login has no place in production.",
                returncode=1,
            )
        username = settings.DEMO_USERNAME
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_active = True
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        admins = Group.objects.filter(name=ADMIN).first()
        if admins is not None:
            user.groups.add(admins)
        self.stdout.write(f"Demo login: {username} / {password}")
