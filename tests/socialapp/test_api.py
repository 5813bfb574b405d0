"""The REST API contract of DESIGN.md: auth, me, follows, posts, comments, errors, pagination."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from socialapp import demo_media
from socialapp.models import Comment, Follow, Post, User
from tests.conftest import client_for, media_files
from tests.factories import CommentFactory, PostFactory, UserFactory, jpeg_upload

pytestmark = pytest.mark.django_db

POST_FIELDS = {
    "id",
    "review_state",
    "author",
    "caption",
    "media_type",
    "media_url",
    "poster_url",
    "duration",
    "width",
    "height",
    "allow_remix",
    "remix_allowed",
    "remix_denied_reason",
    "remix_count",
    "ai_label",
    "ai_info",
    "comment_count",
    "created_at",
}


def test_register_then_token_then_me(api: APIClient) -> None:
    response = api.post("/api/auth/register/", {"username": "dana", "password": "a long passphrase"}, format="json")
    assert response.status_code == 201
    assert set(response.json()) == {"id", "username"}
    token = api.post("/api/auth/token/", {"username": "dana", "password": "a long passphrase"}, format="json")
    assert token.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    me = api.get("/api/me/").json()
    assert me["username"] == "dana" and me["id"] == response.json()["id"]
    assert User.objects.get(username="dana").profile is not None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"username": "Taken", "password": "a long passphrase"}, "username_taken"),
        ({"username": "fresh", "password": "password"}, "weak_password"),
        ({"username": "fresh", "password": "12345678901"}, "weak_password"),
        ({"username": "bad name!", "password": "a long passphrase"}, "invalid"),
        ({"username": "fresh"}, "invalid"),
        ({"username": "fresh", "password": "a long passphrase", "email": "not-an-email"}, "invalid"),
    ],
)
def test_register_rejects_with_a_code(api: APIClient, body: dict[str, str], code: str) -> None:
    UserFactory(username="taken")
    response = api.post("/api/auth/register/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not User.objects.filter(username="fresh").exists()


def test_token_with_wrong_password(api: APIClient) -> None:
    UserFactory(username="erin")
    response = api.post("/api/auth/token/", {"username": "erin", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


def test_bad_token_is_401_with_code(api: APIClient) -> None:
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api.get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_token_revoke_logs_the_client_out(user_api: APIClient) -> None:
    assert user_api.delete("/api/auth/token/revoke/").status_code == 204
    assert user_api.get("/api/me/").status_code == 401


def test_me_patch_updates_profile(user_api: APIClient) -> None:
    response = user_api.patch("/api/me/", {"display_name": "Dana D.", "bio": "hello"}, format="json")
    assert response.status_code == 200
    assert response.json()["display_name"] == "Dana D." and response.json()["bio"] == "hello"


def test_follow_and_unfollow(user: User, user_api: APIClient, api: APIClient) -> None:
    UserFactory(username="frank")
    assert user_api.post("/api/users/frank/follow/").status_code == 201
    assert user_api.post("/api/users/frank/follow/").status_code == 200  # idempotent
    assert Follow.objects.filter(follower=user, followee__username="frank").count() == 1
    profile = user_api.get("/api/users/frank/").json()
    assert profile["followers_count"] == 1 and profile["is_following"] is True
    assert api.get("/api/users/frank/").json()["is_following"] is False
    assert user_api.delete("/api/users/frank/follow/").status_code == 204
    assert user_api.delete("/api/users/frank/follow/").status_code == 204  # idempotent
    assert not Follow.objects.exists()
    assert user_api.post("/api/users/nobody/follow/").status_code == 404
    assert user_api.post(f"/api/users/{user.username}/follow/").json()["code"] == "cannot_follow_self"


def test_upload_photo_contract_and_media(user_api: APIClient, media_root: Path) -> None:
    response = user_api.post(
        "/api/posts/",
        {"media": jpeg_upload(size=(320, 200)), "caption": "hi", "allow_remix": "true"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == POST_FIELDS
    assert body["media_type"] == "image" and (body["width"], body["height"]) == (320, 200)
    assert body["duration"] is None and body["allow_remix"] is True
    assert body["author"]["username"]
    served = user_api.get(body["media_url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg" and served["X-Content-Type-Options"] == "nosniff"
    assert len(media_files(media_root)) == 2  # the photo and its poster


def test_upload_video_gets_poster_duration_and_size(user_api: APIClient, tmp_path: Path) -> None:
    video = demo_media.make_video(tmp_path / "clip.mp4", seconds=2, size=(320, 180), scene="ocean")
    upload = SimpleUploadedFile("clip.mp4", video.read_bytes(), content_type="application/octet-stream")
    response = user_api.post("/api/posts/", {"media": upload}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["media_type"] == "video" and (body["width"], body["height"]) == (320, 180)
    assert body["duration"] == pytest.approx(2.0, abs=0.1)
    assert body["allow_remix"] is False  # opt-in: nothing is remixable unless the creator says so
    poster = user_api.get(body["poster_url"])
    assert poster["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(b"".join(poster.streaming_content)))
    assert image.size == (320, 180)
    assert len(image.convert("L").getcolors(256) or []) > 10  # a real frame, not a blank placeholder
    video_response = user_api.get(body["media_url"], HTTP_RANGE="bytes=0-99")
    assert video_response.status_code == 206 and video_response["Content-Type"] == "video/mp4"
    assert len(video_response.content) == 100


def test_rejected_upload_is_400_invalid_media_and_leaves_nothing(user_api: APIClient, media_root: Path) -> None:
    fake = SimpleUploadedFile("clip.mp4", b"<html><script>alert(1)</script></html>", content_type="video/mp4")
    response = user_api.post("/api/posts/", {"media": fake, "caption": "x"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_media" and response.json()["detail"]
    assert not Post.objects.exists()
    assert media_files(media_root) == []


def test_upload_without_file_is_a_validation_error(user_api: APIClient) -> None:
    response = user_api.post("/api/posts/", {"caption": "no file"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "media" in response.json()["errors"]
    assert response.json()["detail"].startswith("media: ")


def test_declared_oversize_body_is_413_before_reading(user_api: APIClient, settings: pytest.FixtureRequest) -> None:
    settings.MAX_VIDEO_BYTES = settings.MAX_IMAGE_BYTES = 1000
    response = user_api.post("/api/posts/", {"media": jpeg_upload(size=(1200, 1200))}, format="multipart")
    assert response.status_code == 413
    assert response.json()["code"] == "invalid_media"


def test_feed_is_newest_first_and_cursor_paginated(api: APIClient) -> None:
    posts = [PostFactory(caption=f"post {i}") for i in range(5)]
    seen: list[int] = []
    url: str | None = "/api/posts/?page_size=2"
    while url:
        page = api.get(url).json()
        assert set(page) >= {"results", "next"}
        seen += [p["id"] for p in page["results"]]
        url = page["next"]
    assert seen == [p.pk for p in reversed(posts)]


def test_feed_filters_following_and_author(user: User, user_api: APIClient) -> None:
    followed, stranger = UserFactory(), UserFactory()
    mine = PostFactory(author=followed)
    PostFactory(author=stranger)
    user_api.post(f"/api/users/{followed.username}/follow/")
    following = user_api.get("/api/posts/?following=true").json()["results"]
    assert [p["id"] for p in following] == [mine.pk]
    by_author = user_api.get(f"/api/posts/?author={stranger.username}").json()["results"]
    assert [p["author"]["username"] for p in by_author] == [stranger.username]


def test_post_patch_and_delete_by_owner_removes_files(
    user: User, user_api: APIClient, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    post = PostFactory(author=user)
    CommentFactory(post=post)
    assert len(media_files(media_root)) == 2
    response = user_api.patch(f"/api/posts/{post.pk}/", {"caption": "edited", "allow_remix": True}, format="json")
    assert response.json()["caption"] == "edited" and response.json()["allow_remix"] is True
    with django_capture_on_commit_callbacks(execute=True):  # files go when the delete commits
        assert user_api.delete(f"/api/posts/{post.pk}/").status_code == 204
    assert not Post.objects.exists() and not Comment.objects.exists()
    assert media_files(media_root) == []


def test_comments_oldest_first_with_counts(user: User, user_api: APIClient) -> None:
    post = PostFactory()
    first = user_api.post(f"/api/posts/{post.pk}/comments/", {"text": "first!"}, format="json")
    assert first.status_code == 201
    assert set(first.json()) == {"id", "post", "author", "text", "kind", "created_at", "remix"}
    assert first.json()["kind"] == "text" and first.json()["remix"] is None
    user_api.post(f"/api/posts/{post.pk}/comments/", {"text": "second"}, format="json")
    listed = user_api.get(f"/api/posts/{post.pk}/comments/").json()["results"]
    assert [c["text"] for c in listed] == ["first!", "second"]
    assert user_api.get(f"/api/posts/{post.pk}/").json()["comment_count"] == 2
    user_api.delete(f"/api/comments/{first.json()['id']}/")
    assert user_api.get(f"/api/posts/{post.pk}/").json()["comment_count"] == 1


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_bad_comment_text(user_api: APIClient, text: str) -> None:
    post = PostFactory()
    response = user_api.post(f"/api/posts/{post.pk}/comments/", {"text": text}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_malformed_json_is_400_parse_error(user_api: APIClient) -> None:
    response = user_api.generic("PATCH", "/api/me/", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_feed_query_count_does_not_grow_with_posts(
    api: APIClient, user: User, django_assert_max_num_queries: object
) -> None:
    for _ in range(3):
        PostFactory(author=UserFactory())
    with django_assert_max_num_queries(3) as small:  # type: ignore[operator]
        api.get("/api/posts/")
    for _ in range(12):
        PostFactory(author=UserFactory())
    with django_assert_max_num_queries(len(small.captured_queries)):  # type: ignore[operator]
        assert len(api.get("/api/posts/").json()["results"]) == 15


def test_comment_list_query_count_does_not_grow(api: APIClient, django_assert_max_num_queries: object) -> None:
    post = PostFactory()
    for _ in range(10):
        CommentFactory(post=post, author=UserFactory())
    with django_assert_max_num_queries(3):  # type: ignore[operator]
        assert len(api.get(f"/api/posts/{post.pk}/comments/").json()["results"]) == 10


def test_schema_and_docs_are_served_offline(api: APIClient) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/auth/register/", "/api/auth/token/", "/api/me/", "/api/posts/", "/api/posts/{id}/comments/"):
        assert path in paths
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "http://" not in html.replace("http://testserver", "")


def test_healthz(client: object) -> None:
    response = client.get("/healthz")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_user_page_api_404(api: APIClient) -> None:
    assert api.get("/api/users/ghost/").status_code == 404


def test_any_user_can_use_a_second_client(user: User) -> None:
    """Token and session auth both work; session writes need CSRF."""
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(user)
    assert session.get("/api/me/").status_code == 200
    assert session.patch("/api/me/", {"bio": "x"}, format="json").status_code == 403  # no CSRF token
    assert client_for(user).patch("/api/me/", {"bio": "x"}, format="json").status_code == 200
