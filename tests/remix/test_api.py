"""The remix API: consent settings and ledger, the request endpoint's answers, idempotency, the quota."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from remix.models import ConsentChange, RemixJob
from socialapp.models import Post, User
from tests.conftest import client_for
from tests.factories import FollowFactory, PostFactory, UserFactory, jpeg_upload
from tests.remix.conftest import opt_in
from tests.remix.remixes import finished_remix

pytestmark = pytest.mark.django_db


def _request(api: APIClient, post: Post, **body: Any) -> Any:
    return api.post(f"/api/posts/{post.pk}/remixes/", {"prompt": "make it snow", **body}, format="json")


def test_settings_defaults_are_opt_in(user_api: APIClient) -> None:
    assert user_api.get("/api/me/remix-settings/").json() == {
        "allow_remix": False,
        "audience": "everyone",
        "new_posts_allow_remix": False,
        "protect_face": False,
    }


def test_settings_patch_writes_the_ledger_and_apply_to_existing_posts(user: User, user_api: APIClient) -> None:
    posts = [PostFactory(author=user) for _ in range(3)]
    response = user_api.patch(
        "/api/me/remix-settings/",
        {"allow_remix": True, "new_posts_allow_remix": True, "apply_to_existing_posts": True},
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "allow_remix": True,
        "audience": "everyone",
        "new_posts_allow_remix": True,
        "protect_face": False,
    }
    assert all(Post.objects.get(pk=p.pk).allow_remix for p in posts)
    ledger = user_api.get("/api/me/remix-settings/ledger/").json()["results"]
    assert [(row["field"], row["old_value"], row["new_value"]) for row in ledger] == [
        ("posts.allow_remix", "3 posts", "on"),
        ("new_posts_allow_remix", "off", "on"),
        ("allow_remix", "off", "on"),
    ]
    assert all(row["actor"] == user.username for row in ledger)
    # New uploads now start remixable.
    new = user_api.post("/api/posts/", {"media": jpeg_upload()}, format="multipart").json()
    assert new["allow_remix"] is True
    # Setting the same values again records nothing.
    user_api.patch("/api/me/remix-settings/", {"allow_remix": True}, format="json")
    assert ConsentChange.objects.filter(creator=user).count() == 3


def test_post_toggle_through_the_post_api_goes_through_consent(user: User, user_api: APIClient) -> None:
    post = PostFactory(author=user)
    user_api.patch(f"/api/posts/{post.pk}/", {"allow_remix": True}, format="json")
    change = ConsentChange.objects.get(creator=user)
    assert (change.field, change.post_ref, change.old_value, change.new_value) == (
        "post.allow_remix",
        post.pk,
        "off",
        "on",
    )


@pytest.mark.parametrize("value", [{"audience": "friends"}, {"allow_remix": "maybe"}])
def test_settings_reject_bad_values(user_api: APIClient, value: dict[str, str]) -> None:
    response = user_api.patch("/api/me/remix-settings/", value, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("never_opted_in", "account_disabled"),
        ("post_off", "post_disabled"),
        ("audience_following", "audience"),
    ],
)
def test_each_denial_is_403_with_its_reason_and_no_job(setup: str, reason: str) -> None:
    creator, viewer = UserFactory(), UserFactory()
    if setup != "never_opted_in":
        opt_in(creator, audience="following" if setup == "audience_following" else "everyone")
    post = PostFactory(author=creator, allow_remix=setup != "post_off")
    response = _request(client_for(viewer), post)
    assert response.status_code == 403
    assert response.json()["code"] == "remix_not_allowed" and response.json()["reason"] == reason
    assert response.json()["detail"]
    assert not RemixJob.objects.exists()
    post_body = client_for(viewer).get(f"/api/posts/{post.pk}/").json()
    assert post_body["remix_allowed"] is False and post_body["remix_denied_reason"] == reason


def test_allowed_request_is_202_and_the_post_says_allowed(remixable_post: Post, viewer_api: APIClient) -> None:
    assert viewer_api.get(f"/api/posts/{remixable_post.pk}/").json()["remix_allowed"] is True
    response = _request(viewer_api, remixable_post, seed=42, meme_text=" top | bottom ")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["progress"] == 0 and body["error"] is None
    assert body["seed"] == 42 and body["meme_text"] == "top|bottom" and body["post"] == remixable_post.pk
    assert response["Location"] == f"/api/remixes/{body['id']}/"
    assert viewer_api.get("/api/me/remixes/").json()["results"][0]["id"] == body["id"]


def test_audience_following_admits_whom_the_creator_follows(creator: User, viewer: User, viewer_api: APIClient) -> None:
    opt_in(creator, audience="following")
    post = PostFactory(author=creator, allow_remix=True)
    assert _request(viewer_api, post).status_code == 403
    FollowFactory(follower=creator, followee=viewer)
    assert _request(viewer_api, post).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 501}, "prompt"),
        ({"frame_time": 1.0}, "frame_time"),  # a photo has no frames
        ({"meme_text": "a|b|c"}, "meme_text"),
        ({"seed": -1}, "seed"),
        ({"prompt": None}, "prompt"),
    ],
)
def test_bad_requests_are_400_with_the_field(
    remixable_post: Post, viewer_api: APIClient, body: dict[str, Any], field: str
) -> None:
    response = viewer_api.post(f"/api/posts/{remixable_post.pk}/remixes/", {"prompt": "ok", **body}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid" and field in response.json()["errors"]
    assert not RemixJob.objects.exists()


def test_missing_post_is_404(viewer_api: APIClient) -> None:
    assert viewer_api.post("/api/posts/999/remixes/", {"prompt": "x"}, format="json").status_code == 404


def test_client_request_id_makes_retries_idempotent(remixable_post: Post, viewer_api: APIClient) -> None:
    first = _request(viewer_api, remixable_post, client_request_id="abc-123")
    again = _request(viewer_api, remixable_post, client_request_id="abc-123")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert RemixJob.objects.count() == 1
    other = _request(viewer_api, remixable_post, client_request_id="abc-124")
    assert other.json()["id"] != first.json()["id"]


def test_rate_limit_answers_429(remixable_post: Post, viewer_api: APIClient, settings: Any) -> None:
    settings.REMIX_RATE_LIMIT = 2
    assert [_request(viewer_api, remixable_post).status_code for _ in range(3)] == [202, 202, 429]
    limited = _request(viewer_api, remixable_post)
    assert limited.json()["code"] == "rate_limited" and limited.json()["retry_after"] > 0


@pytest.mark.django_db(transaction=True)
def test_rate_limit_is_exact_under_20_concurrent_requests(settings: Any) -> None:
    """20 requests at once from one user with a quota of 5: exactly 5 jobs, 15 answers of 429."""
    settings.REMIX_RATE_LIMIT = 5
    creator, viewer = UserFactory(), UserFactory()
    opt_in(creator)
    post = PostFactory(author=creator, allow_remix=True)
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def request() -> None:
        api = client_for(viewer)
        barrier.wait()
        try:
            statuses.append(_request(api, post).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202] * 5 + [429] * 15
    assert RemixJob.objects.filter(requester=viewer).count() == 5


def test_job_is_visible_to_requester_creator_and_staff_only(remixable_post: Post, viewer_api: APIClient) -> None:
    job_id = _request(viewer_api, remixable_post).json()["id"]
    assert viewer_api.get(f"/api/remixes/{job_id}/").status_code == 200
    assert client_for(remixable_post.author).get(f"/api/remixes/{job_id}/").status_code == 200
    assert client_for(UserFactory(is_staff=True)).get(f"/api/remixes/{job_id}/").status_code == 200
    assert client_for(UserFactory()).get(f"/api/remixes/{job_id}/").status_code == 404


def test_cancel_by_requester_or_creator(remixable_post: Post, viewer_api: APIClient) -> None:
    first = _request(viewer_api, remixable_post).json()["id"]
    second = _request(viewer_api, remixable_post).json()["id"]
    stranger = client_for(UserFactory())
    assert stranger.post(f"/api/remixes/{first}/cancel/").status_code == 404
    response = viewer_api.post(f"/api/remixes/{first}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["error"]["code"] == "cancelled_by_user"
    assert viewer_api.post(f"/api/remixes/{first}/cancel/").status_code == 200  # idempotent
    creator_api = client_for(remixable_post.author)
    assert creator_api.post(f"/api/remixes/{second}/cancel/").json()["status"] == "cancelled"


def test_account_off_cancels_queued_jobs_and_hides_remixes_until_back_on(
    remixable_post: Post, creator: User, viewer: User, viewer_api: APIClient
) -> None:
    remix = finished_remix(remixable_post, viewer).comment
    job_id = _request(viewer_api, remixable_post).json()["id"]
    creator_api = client_for(creator)

    def shown() -> list[int]:
        return [c["id"] for c in viewer_api.get(f"/api/posts/{remixable_post.pk}/comments/").json()["results"]]

    assert remix.pk in shown()
    creator_api.patch("/api/me/remix-settings/", {"allow_remix": False}, format="json")
    assert RemixJob.objects.get(pk=job_id).status == "cancelled"
    assert remix.pk not in shown()
    assert viewer_api.get(f"/api/comments/{remix.pk}/").status_code == 404
    assert ConsentChange.objects.get(field="allow_remix", new_value="off").cancelled_jobs == 1
    creator_api.patch("/api/me/remix-settings/", {"allow_remix": True}, format="json")
    assert remix.pk in shown()
    # The creator may delete a remix on their post even while it is hidden.
    creator_api.patch("/api/me/remix-settings/", {"allow_remix": False}, format="json")
    assert creator_api.delete(f"/api/comments/{remix.pk}/").status_code == 204
    assert client_for(UserFactory()).delete(f"/api/comments/{remix.pk}/").status_code == 404


def test_feed_query_count_stays_flat_with_remix_fields(
    api: APIClient, user_api: APIClient, django_assert_max_num_queries: Any
) -> None:
    for _ in range(3):
        PostFactory(author=UserFactory())
    with django_assert_max_num_queries(10) as few:
        user_api.get("/api/posts/")
    for _ in range(10):
        PostFactory(author=UserFactory())
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(user_api.get("/api/posts/").json()["results"]) == 13
