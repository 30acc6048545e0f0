"""`manage.py kurrent_demo_user`: a demo admin login in DEBUG only."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from kurrent.services.roles import ADMIN, is_admin

LINE = re.compile(r"^Demo login: (\S+) / (\S+)$")

pytestmark = pytest.mark.django_db


def run() -> tuple[str, str]:
    out = io.StringIO()
    call_command("kurrent_demo_user", stdout=out)
    match = LINE.match(out.getvalue().strip())
    assert match, out.getvalue()
    return match.group(1), match.group(2)


def test_creates_an_admin_demo_login_and_prints_it(settings: Any) -> None:
    settings.DEBUG = True
    Group.objects.get_or_create(name=ADMIN)
    username, password = run()
    assert username == settings.DEMO_USERNAME == "demo"
    assert len(password) >= 12
    user = authenticate(username=username, password=password)
    assert user is not None
    assert user.is_superuser and user.is_staff and user.is_active
    assert user.groups.filter(name=ADMIN).exists()
    assert is_admin(user)


def test_running_again_resets_the_password(settings: Any) -> None:
    settings.DEBUG = True
    _, first = run()
    username, second = run()
    assert first != second
    assert authenticate(username=username, password=first) is None
    assert authenticate(username=username, password=second) is not None
    assert get_user_model().objects.filter(username=username).count() == 1


def test_without_an_admin_group_it_is_still_a_superuser(settings: Any) -> None:
    settings.DEBUG = True
    Group.objects.filter(name=ADMIN).delete()
    username, password = run()
    user = authenticate(username=username, password=password)
    assert user is not None and user.is_superuser and is_admin(user)


def test_custom_username(settings: Any) -> None:
    settings.DEBUG = True
    settings.DEMO_USERNAME = "penguin"
    username, password = run()
    assert username == "penguin"
    assert authenticate(username="penguin", password=password) is not None


def test_refused_outside_debug(settings: Any) -> None:
    settings.DEBUG = False
    out = io.StringIO()
    with pytest.raises(CommandError, match="only runs with DEBUG=true") as caught:
        call_command("kurrent_demo_user", stdout=out)
    assert caught.value.returncode == 1
    assert out.getvalue() == ""
    assert not get_user_model().objects.filter(username=settings.DEMO_USERNAME).exists()
