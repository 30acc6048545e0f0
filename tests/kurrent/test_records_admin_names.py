"""The admin names the read-model tables in proper English plurals."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def test_admin_index_uses_proper_plurals(client, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert "Activities" in page
    assert "User data entries" in page
    assert "Activitys" not in page
    assert "entrys" not in page
