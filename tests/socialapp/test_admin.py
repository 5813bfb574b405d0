"""Django admin for moderators: every list renders with filters and search, posts show posters."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from socialapp.models import Post
from tests.conftest import media_files
from tests.factories import CommentFactory, FollowFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory(username="moderator", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("model", ["user", "post", "comment", "follow"])
def test_changelists_render_with_search_and_filters(staff_client: Client, model: str) -> None:
    post = PostFactory(caption="findable caption")
    CommentFactory(post=post, text="findable comment")
    FollowFactory()
    response = staff_client.get(f"/admin/socialapp/{model}/", {"q": "findable" if model in {"post", "comment"} else ""})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="changelist-filter"' in html or model == "follow"
    if model in {"post", "comment"}:
        assert "findable" in html


def test_post_admin_shows_poster_thumbnails_and_readonly_audit_fields(staff_client: Client) -> None:
    post = PostFactory()
    listing = staff_client.get("/admin/socialapp/post/").content.decode()
    assert f'src="{post.poster.url}"' in listing
    page = staff_client.get(f"/admin/socialapp/post/{post.pk}/change/").content.decode()
    assert f'src="{post.poster.url}"' in page
    assert 'name="created_at"' not in page and 'name="author"' not in page  # read-only, not inputs
    assert 'name="caption"' in page


def test_admin_delete_removes_files(
    staff_client: Client, media_root: Any, django_capture_on_commit_callbacks: Any
) -> None:
    post = PostFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/socialapp/post/{post.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Post.objects.exists()
    assert media_files(media_root) == []


def test_admin_is_staff_only(client: Client) -> None:
    client.force_login(UserFactory())
    assert client.get("/admin/socialapp/post/").status_code == 302  # to the admin login
