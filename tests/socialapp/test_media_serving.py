"""The media gate: files are served with their own type, nosniff and a sandbox, never as HTML or SVG, and only to
whoever may see the object they belong to, from the moment that changes (the pen test's finding 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from remix import consent, reports
from socialapp import services
from socialapp.models import Post
from tests.conftest import web_client
from tests.factories import PostFactory, UserFactory
from tests.remix.conftest import opt_in
from tests.remix.remixes import finished_remix

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(media_root: Path) -> Post:
    return PostFactory()


def test_a_posts_files_are_served_with_type_nosniff_sandbox_and_private_caching(post: Post) -> None:
    for name in (post.media.name, post.poster.name):
        response = Client().get(f"/media/{name}")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        # Browsers ask again every time (a 304 after the check): no cache keeps a copy past a revocation.
        assert response["Cache-Control"] == "private, no-cache"
        assert "public" not in response["Cache-Control"] and "immutable" not in response["Cache-Control"]


def test_media_urls_point_at_the_gate(post: Post) -> None:
    assert post.media.url == f"/media/{post.media.name}"
    assert Client().get(f"/api/posts/{post.pk}/").json()["media_url"].endswith(f"/media/{post.media.name}")


def test_a_post_held_for_review_is_not_served_until_published(post: Post) -> None:
    staff = UserFactory(is_staff=True)
    url = f"/media/{post.media.name}"
    Post.objects.filter(pk=post.pk).update(review_state=Post.Review.PENDING)
    assert web_client(None).get(url).status_code == 404
    assert web_client(UserFactory()).get(url).status_code == 404
    assert web_client(post.author).get(url).status_code == 200  # its author sees it, as on the post page
    assert web_client(staff).get(url).status_code == 200  # and the moderators
    Post.objects.filter(pk=post.pk).update(review_state=Post.Review.PUBLISHED)
    assert web_client(None).get(url).status_code == 200


def test_a_remix_hidden_by_consent_is_not_served_and_comes_back(media_root: Path) -> None:
    creator, requester = UserFactory(), UserFactory()
    opt_in(creator)
    post = PostFactory(author=creator, allow_remix=True)
    result = finished_remix(post, requester)
    url = f"/media/{result.image.name}"
    assert web_client(None).get(url).status_code == 200
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=False)
    assert web_client(None).get(url).status_code == 404
    assert web_client(requester).get(url).status_code == 404
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True)
    assert web_client(None).get(url).status_code == 200
    consent.remix_block(creator=creator, blocked=requester, actor=creator)
    assert web_client(None).get(url).status_code == 404


def test_a_taken_down_remix_is_gone_at_once(media_root: Path) -> None:
    creator, requester, moderator = UserFactory(), UserFactory(), UserFactory(is_staff=True, is_superuser=True)
    opt_in(creator)
    result = finished_remix(PostFactory(author=creator, allow_remix=True), requester)
    url = f"/media/{result.image.name}"
    assert web_client(None).get(url).status_code == 200
    reports.remix_takedown(job=result.job, moderator=moderator, reason_text="abuse")
    assert web_client(None).get(url).status_code == 404
    assert web_client(moderator).get(url).status_code == 404  # the file itself is gone


def test_a_deactivated_authors_media_are_not_served(post: Post) -> None:
    services.user_set_active(user=post.author, active=False)
    assert web_client(None).get(f"/media/{post.media.name}").status_code == 404
    services.user_set_active(user=post.author, active=True)
    assert web_client(None).get(f"/media/{post.media.name}").status_code == 200


def test_a_revalidation_is_answered_only_after_the_check(post: Post) -> None:
    url = f"/media/{post.media.name}"
    etag = Client().get(url)["ETag"]
    assert Client().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    Post.objects.filter(pk=post.pk).update(review_state=Post.Review.PENDING)
    assert Client().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404


@pytest.fixture
def files(media_root: Path) -> Path:
    (media_root / "posts").mkdir(exist_ok=True)
    (media_root / "posts" / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"0123456789" * 10)
    (media_root / "posts" / "evil.html").write_text("<script>alert(1)</script>")
    (media_root / "posts" / "evil.svg").write_text("<svg onload=alert(1)></svg>")
    (media_root / "posts" / "noext").write_text("<html></html>")
    return media_root


@pytest.mark.parametrize(
    "path",
    [
        "posts/a.jpg",  # on disk, but no object owns it
        "posts/evil.html",
        "posts/evil.svg",
        "posts/noext",
        "../settings.py",
        "posts/../posts/a.jpg",
        "posts//a.jpg",
        "posts/missing.jpg",
    ],
)
def test_anything_else_is_404(client: Client, files: Path, path: str) -> None:
    response = client.get(f"/media/{path}")
    assert response.status_code == 404
    assert b"<script>" not in response.content


@pytest.mark.parametrize(
    ("header", "status", "content_range"),
    [
        ("bytes=0-9", 206, "bytes 0-9/{size}"),
        ("bytes=-3", 206, "bytes {last3}-{end}/{size}"),
        ("bytes=999999-", 416, "bytes */{size}"),
        ("bytes=" + "9" * 5000 + "-", None, None),  # was a 500: int() of 5000 digits
        ("bytes=-" + "9" * 5000, None, None),
        ("bytes=1-" + "9" * 19, None, None),
    ],
)
def test_byte_ranges(client: Client, post: Post, header: str, status: int | None, content_range: str | None) -> None:
    size = post.size_bytes
    response = client.get(f"/media/{post.media.name}", HTTP_RANGE=header)
    if status is None:  # not a range we read: the whole file
        assert response.status_code == 200 and "Content-Range" not in response
        return
    assert response.status_code == status
    assert response["Content-Range"] == content_range.format(size=size, last3=size - 3, end=size - 1)
    assert response["X-Content-Type-Options"] == "nosniff"


def test_media_is_read_only(client: Client, post: Post) -> None:
    assert client.post(f"/media/{post.media.name}").status_code == 405


def test_accel_delivery_hands_the_file_to_the_proxy_after_the_check(post: Post, settings: Any) -> None:
    settings.MEDIA_DELIVERY = "accel"
    response = Client().get(f"/media/{post.media.name}")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/_protected_media/{post.media.name}"
    Post.objects.filter(pk=post.pk).update(review_state=Post.Review.PENDING)
    refused = Client().get(f"/media/{post.media.name}")
    assert refused.status_code == 404 and "X-Accel-Redirect" not in refused


def test_redirect_delivery_sends_the_storages_signed_url_after_the_check(post: Post, settings: Any) -> None:
    """With S3 (querystring_auth), the gate redirects to a presigned URL that expires; here a stand-in storage
    whose own URLs look like that."""
    settings.MEDIA_DELIVERY = "redirect"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "socialapp.storage.GatedStorage",
            "OPTIONS": {"backend": "tests.socialapp.test_media_serving.SignedStorage", "options": {}},
        },
    }
    response = Client().get(f"/media/{post.media.name}")
    assert response.status_code == 302
    assert response["Location"].startswith(f"https://bucket.example/{post.media.name}?X-Amz-Expires=60")
    assert response["Cache-Control"] == "private, no-store"
    Post.objects.filter(pk=post.pk).update(review_state=Post.Review.PENDING)
    assert Client().get(f"/media/{post.media.name}").status_code == 404


class SignedStorage:
    """A stand-in for S3Storage: the files are local (MEDIA_ROOT), the URLs look presigned."""

    def __new__(cls, **options: Any) -> Any:
        from django.core.files.storage import FileSystemStorage

        class _Signed(FileSystemStorage):
            def url(self, name: str | None) -> str:
                return f"https://bucket.example/{name}?X-Amz-Expires=60&X-Amz-Signature=abc"

        return _Signed(**options)
