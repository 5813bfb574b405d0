"""Notifications: the in-app list with read/unread, in the API and on the page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from socialapp import services
from socialapp.models import Notification, Post, User
from tests.conftest import client_for
from tests.factories import PostFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice")


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory(username="bob")


@pytest.fixture
def post(alice: User) -> Post:
    return PostFactory(author=alice)


def _notify(recipient: User, actor: User | None, post: Post | None, text: str) -> Notification:
    note = services.notify(recipient=recipient, actor=actor, kind=Notification.Kind.REMIXED, post=post, text=text)
    assert note is not None
    return note


def test_list_newest_first_with_read_state(alice: User, bob: User, post: Post) -> None:
    first = _notify(alice, bob, post, "first")
    second = _notify(alice, None, None, "second, from the site")
    _notify(bob, alice, None, "not alice's")
    api = client_for(alice)
    body = api.get("/api/me/notifications/").json()
    assert [n["id"] for n in body["results"]] == [second.pk, first.pk]
    assert set(body) >= {"results", "next"}
    item = body["results"][1]
    assert item == {
        "id": first.pk,
        "kind": "remixed",
        "text": "first",
        "actor": {"id": bob.pk, "username": "bob", "display_name": item["actor"]["display_name"]},
        "post": post.pk,
        "comment": None,
        "created_at": item["created_at"],
        "read": False,
        "read_at": None,
    }
    assert body["results"][0]["actor"] is None
    assert api.get("/api/me/").json()["unread_notifications"] == 2


def test_mark_one_read_then_all(alice: User, bob: User, post: Post) -> None:
    notes = [_notify(alice, bob, post, f"note {n}") for n in range(3)]
    api = client_for(alice)
    response = api.post(f"/api/me/notifications/{notes[0].pk}/read/")
    assert response.status_code == 200 and response.json()["read"] is True
    read_at = response.json()["read_at"]
    assert api.post(f"/api/me/notifications/{notes[0].pk}/read/").json()["read_at"] == read_at  # idempotent
    unread = api.get("/api/me/notifications/?unread=true").json()["results"]
    assert [n["id"] for n in unread] == [notes[2].pk, notes[1].pk]
    assert api.get("/api/me/").json()["unread_notifications"] == 2

    assert api.post("/api/me/notifications/read-all/").json() == {"marked": 2, "unread_notifications": 0}
    assert api.get("/api/me/notifications/?unread=true").json()["results"] == []
    assert len(api.get("/api/me/notifications/").json()["results"]) == 3
    assert api.post("/api/me/notifications/read-all/").json()["marked"] == 0


def test_someone_elses_notification_is_404_and_stays_unread(alice: User, bob: User, post: Post) -> None:
    note = _notify(alice, bob, post, "for alice")
    response = client_for(bob).post(f"/api/me/notifications/{note.pk}/read/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert client_for(bob).post("/api/me/notifications/999999/read/").status_code == 404
    client_for(bob).post("/api/me/notifications/read-all/")
    assert Notification.objects.get(pk=note.pk).read_at is None
    assert APIClient().get("/api/me/notifications/").status_code == 401


def test_pages_are_cursor_paginated(alice: User, bob: User) -> None:
    notes = [_notify(alice, bob, None, f"n{n}") for n in range(5)]
    api = client_for(alice)
    first = api.get("/api/me/notifications/?page_size=2").json()
    assert [n["id"] for n in first["results"]] == [notes[4].pk, notes[3].pk]
    second = api.get(first["next"]).json()
    assert [n["id"] for n in second["results"]] == [notes[2].pk, notes[1].pk]


def test_list_query_count_does_not_grow(alice: User, bob: User, post: Post, django_assert_max_num_queries: Any) -> None:
    api = client_for(alice)
    _notify(alice, bob, post, "one")
    with django_assert_max_num_queries(4) as few:
        api.get("/api/me/notifications/")
    for n in range(10):
        _notify(alice, UserFactory(), post, f"more {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get("/api/me/notifications/").json()["results"]) == 11


# --- the page ---------------------------------------------------------------------------------


def _page(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_page_marks_unread_and_offers_mark_read(alice: User, bob: User, post: Post) -> None:
    old = _notify(alice, bob, post, "an old one")
    new = _notify(alice, bob, post, "a new one")
    services.notification_mark_read(user=alice, notification_id=old.pk)
    client = _page(alice)
    html = client.get("/notifications/").content.decode()
    assert html.count("notification--unread") == 1 and "Mark all read" in html
    assert f'name="id" value="{new.pk}"' in html and f'name="id" value="{old.pk}"' not in html
    assert '<span class="nav__badge">1<span class="visually-hidden"> unread</span></span>' in html
    # Opening the page does not mark anything read: only the buttons do.
    assert Notification.objects.get(pk=new.pk).read_at is None

    response = client.post("/notifications/", {"action": "read", "id": new.pk})
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    assert Notification.objects.get(pk=new.pk).read_at is not None
    html = client.get("/notifications/").content.decode()
    assert "notification--unread" not in html and "Mark all read" not in html and "nav__badge" not in html


def test_page_mark_all_read_and_refusals(alice: User, bob: User, post: Post) -> None:
    notes = [_notify(alice, bob, post, f"note {n}") for n in range(3)]
    bobs = _notify(bob, alice, None, "for bob")
    client = _page(alice)
    assert client.post("/notifications/", {"action": "read", "id": bobs.pk}).status_code == 404
    assert client.post("/notifications/", {"action": "read-all", "page": "2"})["Location"] == "/notifications/?page=2"
    assert not Notification.objects.filter(pk__in=[n.pk for n in notes], read_at__isnull=True).exists()
    assert Notification.objects.get(pk=bobs.pk).read_at is None
    assert client.post("/notifications/", {"action": "sideways"}).status_code == 302
    assert Client().post("/notifications/", {"action": "read-all"}).status_code == 302  # to the login page
    assert Notification.objects.get(pk=bobs.pk).read_at is None
