from __future__ import annotations

import pytest

from tests.kurrent.viewtools import entry, record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("kdb")]
URL = "/kurrent-db-demo/users/"


class TestUsers:
    def test_it_requires_login(self, client):
        assert client.get(URL).status_code == 302

    @pytest.mark.parametrize("who", ["carol", "alice"])
    def test_it_is_for_admins_only(self, client, who, request):
        client.force_login(request.getfixturevalue(who))
        assert client.get(URL).status_code == 403

    def test_it_lists_users_with_what_they_keep(self, client, alice, bob, carol, admin_user):
        entry(alice)
        record(alice)
        record(alice, name="Second")
        client.force_login(admin_user)
        response = client.get(URL)
        assert response.status_code == 200
        people = {p["user"].username: p for p in response.context["people"]}
        assert (people["alice"]["entries"], people["alice"]["records"]) == (1, 2)
        assert (people["bob"]["entries"], people["bob"]["records"]) == (0, 0)
        assert people["carol"]["role"] == "viewer" and people["admin"]["role"] == "admin"
        body = response.content.decode()
        assert f"/kurrent-db-demo/users/{alice.pk}/erase/" in body
        assert f"/kurrent-db-demo/users/{bob.pk}/erase/" not in body

    def test_the_nav_link_is_for_admins(self, client, alice, admin_user):
        client.force_login(alice)
        assert f'href="{URL}"' not in client.get("/kurrent-db-demo/").content.decode()
        client.force_login(admin_user)
        assert f'href="{URL}"' in client.get("/kurrent-db-demo/").content.decode()
