"""Every API operation × {owner, follower, other user, staff, anonymous}: who gets what.

The operations are read from the URL conf, so a new endpoint fails this test until its
row is added to ``EXPECTED``. A denied write must leave the object as it was.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image
from rest_framework.test import APIClient
from rest_framework.views import APIView

from remix import consent
from remix.models import CreatorSettings, RemixBlock, RemixJob, RemixResult
from socialapp import services
from socialapp.models import Comment, Follow, Notification, Post
from tests.conftest import client_for
from tests.factories import CommentFactory, FollowFactory, PostFactory, UserFactory, jpeg_upload

ROLES = ("owner", "follower", "other", "staff", "anonymous")
WRITE_METHODS = ("post", "put", "patch", "delete")


@dataclass
class World:
    clients: dict[str, APIClient]
    post: Post
    comment: Comment  # written by the follower under the owner's post
    job: RemixJob  # the follower's remix request on the owner's post
    remix: Comment  # the follower's finished remix under the owner's post
    notification: Notification  # the owner's (unread): "follower remixed your post"


@pytest.fixture
def world(db: None) -> World:
    owner = UserFactory(username="owner")
    follower = UserFactory(username="follower")
    other = UserFactory(username="other")
    staff = UserFactory(username="staff", is_staff=True)
    FollowFactory(follower=follower, followee=owner)
    post = PostFactory(author=owner, caption="the owner's post")
    comment = CommentFactory(post=post, author=follower, text="nice")
    # The owner opted in for accounts they follow, and follows the follower back.
    CreatorSettings.objects.create(user=owner, allow_remix=True, audience="following")
    FollowFactory(follower=owner, followee=follower)
    consent.post_allow_remix_set(post=post, actor=owner, value=True)
    job = RemixJob.objects.create(post=post, requester=follower, prompt="make it pop", seed=1)
    remix = _finished_remix(post, requester=follower)
    notification = services.notify(
        recipient=owner, actor=follower, kind=Notification.Kind.REMIXED, post=post, comment=remix, text="remixed"
    )
    assert notification is not None
    clients = {"owner": client_for(owner), "follower": client_for(follower), "other": client_for(other)}
    clients["staff"] = client_for(staff)
    clients["anonymous"] = APIClient()
    return World(clients=clients, post=post, comment=comment, job=job, remix=remix, notification=notification)


def _finished_remix(post: Post, *, requester: Any) -> Comment:
    """What the worker leaves for a succeeded job: the remix comment and its stored image."""
    job = RemixJob.objects.create(
        post=post, requester=requester, prompt="neon", seed=2, status=RemixJob.Status.SUCCEEDED, progress=1.0
    )
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buffer, "JPEG")
    name = default_storage.save("remixes/matrix.jpg", ContentFile(buffer.getvalue()))
    remix = Comment.objects.create(post=post, author=requester, kind=Comment.Kind.REMIX, text=job.prompt)
    RemixResult.objects.create(job=job, comment=remix, image=name, width=64, height=48)
    return remix


def _api_operations() -> list[tuple[str, str, type[APIView]]]:
    """(url name, method, view class) for every API route and every method its view implements."""
    found: list[tuple[str, str, type[APIView]]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and (prefix + str(pattern.pattern)).startswith("api/"):
                if pattern.name == "api-not-found":
                    continue  # the JSON 404 for any path under /api/ that names no endpoint: not an operation
                view_class = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
                assert view_class is not None, f"{pattern.name} is not a class-based API view"
                for method in ("get", "post", "put", "patch", "delete"):
                    if hasattr(view_class, method):
                        found.append((pattern.name, method, view_class))

    walk(get_resolver().url_patterns, "")
    return found


# (url name, method) → {role: expected status}; "*" is every role not listed.
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("api-register", "post"): {"*": 201},
    ("api-token", "post"): {"*": 400},  # wrong password for everyone: no account is special
    ("api-token-revoke", "delete"): {"anonymous": 401, "*": 204},
    ("api-token-refresh", "post"): {"anonymous": 401, "*": 200},
    ("api-me", "get"): {"anonymous": 401, "*": 200},
    ("api-me", "patch"): {"anonymous": 401, "*": 200},
    ("api-notifications", "get"): {"anonymous": 401, "*": 200},
    ("api-notification-read", "post"): {"anonymous": 401, "owner": 200, "*": 404},  # only one's own
    ("api-notifications-read-all", "post"): {"anonymous": 401, "*": 200},
    ("api-user", "get"): {"*": 200},
    ("api-follow", "post"): {"anonymous": 401, "owner": 400, "follower": 200, "*": 201},
    ("api-follow", "delete"): {"anonymous": 401, "*": 204},
    ("api-posts", "get"): {"*": 200},
    ("api-posts", "post"): {"anonymous": 401, "*": 201},
    ("api-post", "get"): {"*": 200},
    ("api-post", "patch"): {"anonymous": 401, "owner": 200, "*": 403},
    ("api-post", "delete"): {"anonymous": 401, "owner": 204, "*": 403},
    ("api-post-comments", "get"): {"*": 200},
    ("api-post-comments", "post"): {"anonymous": 401, "*": 201},
    ("api-comment", "get"): {"*": 200},
    ("api-comment", "delete"): {"anonymous": 401, "owner": 204, "follower": 204, "*": 403},
    ("api-remix-settings", "get"): {"anonymous": 401, "*": 200},
    ("api-remix-settings", "patch"): {"anonymous": 401, "*": 200},
    ("api-consent-ledger", "get"): {"anonymous": 401, "*": 200},
    ("api-remix-remove-all", "post"): {"anonymous": 401, "*": 200},  # each caller's own content
    ("api-remix-blocks", "get"): {"anonymous": 401, "*": 200},
    ("api-remix-blocks", "post"): {"anonymous": 401, "other": 400, "*": 201},  # blocks "other": not oneself
    ("api-remix-block", "delete"): {"anonymous": 401, "*": 204},  # idempotent
    ("api-comment-report", "post"): {"anonymous": 401, "*": 201},  # anyone who sees the remix may report it
    ("api-my-remixes", "get"): {"anonymous": 401, "*": 200},
    ("api-remix-create", "post"): {"anonymous": 401, "owner": 202, "follower": 202, "*": 403},
    ("api-remix", "get"): {"anonymous": 401, "other": 404, "*": 200},
    ("api-remix-cancel", "post"): {"anonymous": 401, "other": 404, "staff": 403, "*": 200},
    ("api-comment-credentials", "get"): {"*": 404},  # the world's comment is a text comment: no credentials
    ("api-credentials-verify", "post"): {"*": 200},  # anyone may check an image
    ("api-schema", "get"): {"*": 200},
    ("api-docs", "get"): {"*": 200},
}


def _url(name: str, world: World) -> str:
    urls = {
        "api-register": "/api/auth/register/",
        "api-token": "/api/auth/token/",
        "api-token-revoke": "/api/auth/token/revoke/",
        "api-token-refresh": "/api/auth/token/refresh/",
        "api-me": "/api/me/",
        "api-notifications": "/api/me/notifications/",
        "api-notification-read": f"/api/me/notifications/{world.notification.pk}/read/",
        "api-notifications-read-all": "/api/me/notifications/read-all/",
        "api-user": "/api/users/owner/",
        "api-follow": "/api/users/owner/follow/",
        "api-posts": "/api/posts/",
        "api-post": f"/api/posts/{world.post.pk}/",
        "api-post-comments": f"/api/posts/{world.post.pk}/comments/",
        "api-comment": f"/api/comments/{world.comment.pk}/",
        "api-remix-settings": "/api/me/remix-settings/",
        "api-consent-ledger": "/api/me/remix-settings/ledger/",
        "api-remix-remove-all": "/api/me/remix-settings/remove-all/",
        "api-remix-blocks": "/api/me/remix-blocks/",
        "api-remix-block": "/api/me/remix-blocks/other/",
        "api-comment-report": f"/api/comments/{world.remix.pk}/report/",
        "api-my-remixes": "/api/me/remixes/",
        "api-remix-create": f"/api/posts/{world.post.pk}/remixes/",
        "api-remix": f"/api/remixes/{world.job.pk}/",
        "api-remix-cancel": f"/api/remixes/{world.job.pk}/cancel/",
        "api-comment-credentials": f"/api/comments/{world.comment.pk}/credentials/",
        "api-credentials-verify": "/api/credentials/verify/",
        "api-schema": "/api/schema/",
        "api-docs": "/api/docs/",
    }
    return urls[name]


def _body(name: str, method: str, role: str) -> tuple[dict[str, Any], str | None]:
    if name == "api-register":
        return {"username": f"new-{role}", "password": "a long passphrase 42"}, "json"
    if name == "api-token":
        return {"username": "owner", "password": "not the password"}, "json"
    if name == "api-posts" and method == "post":
        return {"media": jpeg_upload(), "caption": f"by {role}"}, "multipart"
    if name == "api-post":
        return {"caption": f"edited by {role}"}, "json"
    if name == "api-post-comments":
        return {"text": f"comment by {role}"}, "json"
    if name == "api-credentials-verify":
        return {"image": jpeg_upload()}, "multipart"
    if name == "api-remix-create":
        return {"prompt": f"make it pop, says {role}"}, "json"
    if name == "api-remix-settings":
        return {"audience": "everyone"}, "json"
    if name == "api-me":
        return {"bio": f"bio of {role}"}, "json"
    if name == "api-remix-blocks" and method == "post":
        return {"username": "other"}, "json"
    if name == "api-comment-report":
        return {"reason": "spam", "text": f"reported by {role}"}, "json"
    return {}, None


def test_every_api_operation_has_an_expectation() -> None:
    operations = {(name, method) for name, method, _ in _api_operations()}
    assert operations == set(EXPECTED), "add the new operation's row to EXPECTED"


def _snapshot(world: World) -> tuple[Any, ...]:
    post = Post.objects.filter(pk=world.post.pk).values("caption", "allow_remix", "author_id").first()
    job = RemixJob.objects.filter(pk=world.job.pk).values("status", "requester_id", "prompt").first()
    jobs = RemixJob.objects.count()
    comments = Comment.objects.filter(pk__in=[world.comment.pk, world.remix.pk]).count()
    note = Notification.objects.filter(pk=world.notification.pk).values("read_at").first()
    remix_settings = list(CreatorSettings.objects.values_list("user_id", "allow_remix", "audience").order_by("user_id"))
    return post, comments, Follow.objects.count(), job, jobs, note, RemixBlock.objects.count(), remix_settings


@pytest.mark.parametrize(("operation", "role"), list(itertools.product(sorted(EXPECTED), ROLES)), ids=str)
def test_authorization_matrix(world: World, operation: tuple[str, str], role: str) -> None:
    name, method = operation
    expected = EXPECTED[operation].get(role, EXPECTED[operation].get("*"))
    body, fmt = _body(name, method, role)
    before = _snapshot(world)

    response = (
        getattr(world.clients[role], method)(_url(name, world), body, format=fmt)
        if fmt
        else getattr(world.clients[role], method)(_url(name, world))
    )

    assert response.status_code == expected, (role, name, method, response.status_code, response.content[:300])
    if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
        assert set(response.json()) >= {"code", "detail"}
    if response.status_code in (401, 403, 404) and method in WRITE_METHODS:
        assert _snapshot(world) == before, "a denied write changed something"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method", ["put"])
def test_unimplemented_methods_are_refused(world: World, role: str, method: str) -> None:
    for name in {name for name, _ in EXPECTED}:
        response = getattr(world.clients[role], method)(_url(name, world), {}, format="json")
        assert response.status_code in (401, 403, 405), (name, role, response.status_code)


@pytest.mark.parametrize("role", ["owner", "other", "anonymous"])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_missing_objects_are_404_for_everyone(world: World, role: str, method: str) -> None:
    """Another user's missing post and a missing post read the same: nothing leaks what exists."""
    missing = world.post.pk + 1000
    response = getattr(world.clients[role], method)(f"/api/posts/{missing}/", {}, format="json")
    assert response.status_code == (401 if role == "anonymous" and method != "get" else 404)


def test_read_only_fields_cannot_be_assigned(world: World) -> None:
    """Mass assignment: a PATCH naming read-only fields changes only what may be changed."""
    intruder = UserFactory(username="intruder")
    response = world.clients["owner"].patch(
        f"/api/posts/{world.post.pk}/",
        {
            "caption": "new caption",
            "author": intruder.pk,
            "id": 999,
            "media_type": "image",
            "media_url": "https://evil.example/x.mp4",
            "width": 1,
            "comment_count": 1000,
            "created_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 200
    post = Post.objects.get(pk=world.post.pk)
    assert (post.caption, post.author.username, post.width, post.comment_count) == ("new caption", "owner", 64, 1)
    assert post.created_at.year > 2000
    me = world.clients["other"].patch("/api/me/", {"username": "owner2", "is_staff": True, "id": 1}, format="json")
    assert me.status_code == 200
    assert me.json()["username"] == "other"
    assert not UserFactory._meta.model.objects.get(username="other").is_staff


# --- what lists and details never show ---------------------------------------------------------------------------


def _user(username: str) -> Any:
    from socialapp.models import User

    return User.objects.get(username=username)


def _secrets(world: World) -> tuple[dict[str, set[str]], list[str]]:
    """Objects some roles must never see, each carrying a unique marker in its text: marker → roles that may, and
    the URLs of their own details."""
    owner = world.post.author
    follower = world.comment.author
    other = _user("other")
    pending = PostFactory(author=owner, caption="SECRET-pending-post")
    Post.objects.filter(pk=pending.pk).update(review_state=Post.Review.PENDING)
    # A held remix: its job (and prompt) is its requester's and the post owner's to follow (status "held"); the
    # comment itself, with its image, is shown to nobody until a moderator approves it.
    held_job = RemixJob.objects.create(
        post=world.post, requester=follower, prompt="make it glow", seed=4, status=RemixJob.Status.HELD
    )
    held = Comment.objects.create(post=world.post, author=follower, kind=Comment.Kind.REMIX, text="SECRET-held-remix")
    RemixResult.objects.create(job=held_job, comment=held, image="remixes/held.jpg", width=64, height=48)
    request = RemixJob.objects.create(post=world.post, requester=other, prompt="SECRET-others-request", seed=5)
    services.notify(recipient=owner, actor=follower, kind=Notification.Kind.REMIXED, text="SECRET-owners-notification")
    details = [
        f"/api/posts/{pending.pk}/",
        f"/api/posts/{pending.pk}/comments/",
        f"/api/comments/{held.pk}/",
        f"/api/comments/{held.pk}/credentials/",
        f"/api/remixes/{held_job.pk}/",
        f"/api/remixes/{request.pk}/",
    ]
    return {
        "SECRET-pending-post": {"owner", "staff"},  # under review: its author and staff
        "SECRET-held-remix": set(),  # the held remix comment: shown nowhere in the API until approved
        "SECRET-others-request": {"other", "owner", "staff"},  # a request: its requester, the post's owner, staff
        "SECRET-owners-notification": {"owner"},
    }, details


@pytest.mark.parametrize("role", ROLES)
def test_lists_and_details_never_show_what_the_caller_may_not_see(world: World, role: str) -> None:
    """Every GET operation of the URL conf (lists and details, on the world's objects), read by each role: no
    answer carries an object that role may not see."""
    secrets, details = _secrets(world)
    reads = sorted({name for name, method, _ in _api_operations() if method == "get"} - {"api-schema", "api-docs"})
    assert len(reads) > 10
    leaks = []
    for url in [*(_url(name, world) for name in reads), *details]:
        body = world.clients[role].get(url).content.decode()
        leaks += [(url, marker) for marker, allowed in secrets.items() if role not in allowed and marker in body]
    assert leaks == []
    # The check sees a marker where one may be seen (so an empty answer would not pass it by accident).
    if role in ("owner", "staff"):
        assert "SECRET-pending-post" in world.clients[role].get("/api/posts/").content.decode()
    if role == "other":
        assert "SECRET-others-request" in world.clients[role].get("/api/me/remixes/").content.decode()
