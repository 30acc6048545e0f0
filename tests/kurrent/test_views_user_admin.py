from __future__ import annotations

import pytest

from kurrent.services import userdata
from tests.kurrent.viewtools import entry, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]


def data_url(user):
    return f"/kurrent-db-demo/users/{user.pk}/data/"


def erase_url(user):
    return f"/kurrent-db-demo/users/{user.pk}/erase/"


class TestUserData:
    @pytest.mark.parametrize("who", ["carol", "bob"])
    def test_it_is_for_admins_only(self, client, alice, who, request):
        client.force_login(request.getfixturevalue(who))
        assert client.get(data_url(alice)).status_code == 403
        assert client.get(erase_url(alice)).status_code == 403
        assert client.post(erase_url(alice), {"confirm_username": "alice"}).status_code == 403

    def test_admin_sees_private_entries(self, client, alice, admin_user):
        entry(alice, category="diary", value={"text": "private"})
        client.force_login(admin_user)
        body = client.get(data_url(alice)).content.decode()
        assert "diary" in body and "Erase all" in body

    def test_unknown_users_are_404(self, client, admin_user):
        client.force_login(admin_user)
        assert client.get("/kurrent-db-demo/users/999999/data/").status_code == 404


class TestUserErase:
    def test_it_needs_the_username_typed(self, client, alice, admin_user):
        entry(alice)
        client.force_login(admin_user)
        response = client.post(erase_url(alice), {"confirm_username": "alicex"})
        assert response.status_code == 400
        assert "Type the username" in response.content.decode()
        assert any(userdata.list_entries(alice).values())

    def test_it_erases_everything_the_user_owns(self, client, alice, bob, admin_user):
        entry(alice)
        entry(alice, entry_type="settings", category="alerts", value={"on": True})
        record(alice, name="Alice's record")
        entry(bob)
        client.force_login(admin_user)
        page = client.get(erase_url(alice))
        assert "Erase all of alice" in page.content.decode()
        response = client.post(erase_url(alice), {"confirm_username": "alice"})
        assert response.status_code == 302
        assert not any(userdata.list_entries(alice).values())
        assert any(userdata.list_entries(bob).values())
        followed = client.get(response["Location"]).content.decode()
        assert "Erased 3 streams of alice" in followed
