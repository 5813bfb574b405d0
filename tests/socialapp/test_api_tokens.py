"""API tokens: one per client, stored hashed, expiring, rotated, revoked on sign-out and on a password change (the pen
test's finding 13)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from socialapp.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def sign_in(user: User) -> dict[str, Any]:
    response = APIClient().post("/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return dict(response.json())


def as_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def dana() -> User:
    return UserFactory(username="dana")


def test_each_client_gets_its_own_token_which_expires(dana: User, settings: Any) -> None:
    phone, laptop = sign_in(dana), sign_in(dana)
    assert phone["token"] != laptop["token"]
    expires = dt.datetime.fromisoformat(phone["expires_at"].replace("Z", "+00:00"))
    assert timezone.now() + dt.timedelta(days=6) < expires <= timezone.now() + dt.timedelta(days=7)
    assert as_token(phone["token"]).get("/api/me/").status_code == 200
    AuthToken.objects.filter(user=dana).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    assert as_token(phone["token"]).get("/api/me/").status_code == 401


def test_tokens_are_stored_hashed(dana: User) -> None:
    key = sign_in(dana)["token"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        rows = [" ".join(str(value) for value in row) for row in cursor.fetchall()]
    assert rows and not any(key in row for row in rows)  # neither the key nor anything that contains it
    assert not any(key[15:] in row for row in rows)


def test_signing_out_revokes_only_this_clients_token(dana: User) -> None:
    phone, laptop = sign_in(dana)["token"], sign_in(dana)["token"]
    assert as_token(phone).delete("/api/auth/token/revoke/").status_code == 204
    assert as_token(phone).get("/api/me/").status_code == 401
    assert as_token(laptop).get("/api/me/").status_code == 200
    assert as_token(laptop).delete("/api/auth/token/revoke/?all=true").status_code == 204
    assert not AuthToken.objects.filter(user=dana).exists()


def test_a_token_can_be_rotated(dana: User) -> None:
    old = sign_in(dana)["token"]
    rotated = as_token(old).post("/api/auth/token/refresh/")
    assert rotated.status_code == 200
    new = rotated.json()["token"]
    assert new != old
    assert as_token(old).get("/api/me/").status_code == 401
    assert as_token(new).get("/api/me/").status_code == 200


def test_a_password_change_revokes_every_token(dana: User) -> None:
    key = sign_in(dana)["token"]
    dana.set_password("a brand new passphrase")
    dana.save()
    answer = as_token(key).get("/api/me/")
    assert answer.status_code == 401
    assert "password changed" in answer.json()["detail"]


def test_a_password_changed_in_admin_revokes_tokens_and_other_sessions(dana: User) -> None:
    key = sign_in(dana)["token"]
    browser = Client()
    browser.post("/login/", {"username": "dana", "password": PASSWORD})
    assert browser.get("/settings/").status_code == 200
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    changed = admin.post(
        f"/admin/socialapp/user/{dana.pk}/password/",
        {"password1": "another long passphrase", "password2": "another long passphrase", "usable_password": "true"},
    )
    assert changed.status_code == 302, changed.content.decode()[:500]
    assert as_token(key).get("/api/me/").status_code == 401
    assert browser.get("/settings/").status_code == 302  # the session ended too (Django's session hash)


def test_a_deactivated_account_loses_its_tokens(dana: User) -> None:
    from socialapp import services

    key = sign_in(dana)["token"]
    services.user_set_active(user=dana, active=False)
    assert as_token(key).get("/api/me/").status_code == 401
    assert not AuthToken.objects.filter(user=dana).exists()


def test_a_client_holds_at_most_the_configured_number_of_tokens(dana: User, settings: Any) -> None:
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 3}
    keys = [sign_in(dana)["token"] for _ in range(5)]
    assert AuthToken.objects.filter(user=dana).count() == 3
    assert [as_token(key).get("/api/me/").status_code for key in keys] == [401, 401, 200, 200, 200]
