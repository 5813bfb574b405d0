"""Quotas: the per-user hourly and daily caps, the per-post daily cap and the site-wide queue cap."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from remix.models import RemixJob
from socialapp.models import Post, User
from tests.conftest import client_for
from tests.factories import PostFactory, UserFactory
from tests.remix.conftest import opt_in

pytestmark = pytest.mark.django_db


def _request(api: APIClient, post: Post) -> Any:
    return api.post(f"/api/posts/{post.pk}/remixes/", {"prompt": "make it snow"}, format="json")


def _age(jobs: Any, hours: float) -> None:
    RemixJob.objects.filter(pk__in=[j.pk for j in jobs]).update(created_at=timezone.now() - timedelta(hours=hours))


def test_user_daily_cap_counts_the_last_24_hours(remixable_post: Post, viewer: User, settings: Any) -> None:
    settings.REMIX_RATE_LIMIT, settings.REMIX_USER_DAILY_LIMIT = 100, 3
    api = client_for(viewer)
    assert [_request(api, remixable_post).status_code for _ in range(3)] == [202, 202, 202]
    refused = _request(api, remixable_post)
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "rate_limited" and body["limit"] == "user_daily"
    assert 0 < body["retry_after"] <= 24 * 3600 and refused["Retry-After"] == str(body["retry_after"])
    assert RemixJob.objects.filter(requester=viewer).count() == 3
    # A day later the oldest requests no longer count.
    _age(RemixJob.objects.filter(requester=viewer)[:2], hours=25)
    assert _request(api, remixable_post).status_code == 202


def test_post_daily_cap_counts_everyone(remixable_post: Post, settings: Any) -> None:
    settings.REMIX_POST_DAILY_LIMIT = 2
    viewers = [client_for(UserFactory()) for _ in range(3)]
    assert [_request(api, remixable_post).status_code for api in viewers] == [202, 202, 429]
    assert _request(viewers[2], remixable_post).json()["limit"] == "post_daily"
    # Another post of the same creator has its own cap.
    other = PostFactory(author=remixable_post.author, allow_remix=True)
    assert _request(viewers[2], other).status_code == 202


def test_queue_cap_answers_429_queue_full_and_counts_only_queued_jobs(
    remixable_post: Post, viewer: User, settings: Any
) -> None:
    settings.REMIX_QUEUE_MAX = 2
    api = client_for(viewer)
    assert [_request(api, remixable_post).status_code for _ in range(2)] == [202, 202]
    full = _request(api, remixable_post)
    assert full.status_code == 429
    assert full.json()["code"] == "queue_full" and int(full["Retry-After"]) > 0
    assert RemixJob.objects.count() == 2
    # Jobs leaving the queue (running or finished) make room.
    RemixJob.objects.filter(pk=RemixJob.objects.order_by("pk").first().pk).update(status=RemixJob.Status.RUNNING)
    assert _request(api, remixable_post).status_code == 202


def test_browser_form_explains_the_queue_cap(remixable_post: Post, viewer: User, settings: Any, client: Any) -> None:
    settings.REMIX_QUEUE_MAX = 0
    client.force_login(viewer)
    response = client.post(f"/p/{remixable_post.pk}/remix/", {"prompt": "make it snow", "meme_text": ""})
    assert response.status_code == 429
    assert "Too many remixes are waiting right now" in response.content.decode()
    assert not RemixJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_post_daily_cap_is_exact_under_concurrent_requesters(settings: Any) -> None:
    """12 different users at once on a post capped at 4 a day: exactly 4 jobs."""
    settings.REMIX_POST_DAILY_LIMIT = 4
    creator = UserFactory()
    opt_in(creator)
    post = PostFactory(author=creator, allow_remix=True)
    users = [UserFactory() for _ in range(12)]
    barrier = threading.Barrier(len(users))
    statuses: list[int] = []

    def request(user: User) -> None:
        api = client_for(user)
        barrier.wait()
        try:
            statuses.append(_request(api, post).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202] * 4 + [429] * 8
    assert RemixJob.objects.filter(post=post).count() == 4


# --- throwaway accounts (the pen test's finding 7) --------------------------------------------------------------


def test_cancelled_requests_do_not_spend_a_posts_daily_cap(remixable_post: Post, settings: Any) -> None:
    """20 accounts requesting and cancelling pushed the post's cap so that even its creator got 429 for a day."""
    settings.REMIX_POST_DAILY_LIMIT = 3
    for _ in range(6):
        api = client_for(UserFactory())
        job = _request(api, remixable_post).json()
        assert api.post(f"/api/remixes/{job['id']}/cancel/").status_code == 200
    assert _request(client_for(UserFactory()), remixable_post).status_code == 202
    rejected = RemixJob.objects.create(
        post=remixable_post, requester=UserFactory(), prompt="x", seed=1, status=RemixJob.Status.REJECTED
    )
    assert rejected.pk and _request(client_for(UserFactory()), remixable_post).status_code == 202


def test_the_creator_is_never_capped_on_their_own_post(remixable_post: Post, settings: Any) -> None:
    settings.REMIX_POST_DAILY_LIMIT = 2
    others = [client_for(UserFactory()) for _ in range(3)]
    assert [_request(api, remixable_post).status_code for api in others] == [202, 202, 429]
    creator = client_for(remixable_post.author)
    assert [_request(creator, remixable_post).status_code for _ in range(3)] == [202, 202, 202]
    # ...and their own requests do not use up the cap others share.
    RemixJob.objects.exclude(requester=remixable_post.author).delete()
    assert _request(others[2], remixable_post).status_code == 202


def test_new_accounts_must_wait_before_remixing_others_posts(remixable_post: Post, settings: Any) -> None:
    settings.REMIX_MIN_ACCOUNT_AGE_SECONDS = 86400
    newcomer = UserFactory()
    refused = _request(client_for(newcomer), remixable_post)
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "account_too_new" and 86000 < body["retry_after"] <= 86400
    assert "New accounts can remix" in body["detail"] and refused["Retry-After"] == str(body["retry_after"])
    assert not RemixJob.objects.exists()
    User.objects.filter(pk=newcomer.pk).update(date_joined=timezone.now() - timedelta(days=1, minutes=1))
    assert _request(client_for(newcomer), remixable_post).status_code == 202


def test_a_blocked_users_fresh_account_is_refused(remixable_post: Post, settings: Any) -> None:
    from remix import consent

    settings.REMIX_MIN_ACCOUNT_AGE_SECONDS = 86400
    creator = remixable_post.author
    pest = UserFactory(username="pest")
    User.objects.filter(pk=pest.pk).update(date_joined=timezone.now() - timedelta(days=30))
    consent.remix_block(creator=creator, blocked=pest, actor=creator)
    assert _request(client_for(pest), remixable_post).json()["reason"] == "blocked"
    throwaway = UserFactory(username="pest2")
    assert _request(client_for(throwaway), remixable_post).json()["code"] == "account_too_new"


def test_a_new_creator_may_remix_their_own_post(settings: Any) -> None:
    settings.REMIX_MIN_ACCOUNT_AGE_SECONDS = 86400
    creator = UserFactory()
    opt_in(creator)
    post = PostFactory(author=creator, allow_remix=True)
    assert _request(client_for(creator), post).status_code == 202


def test_the_browser_form_explains_the_account_age(remixable_post: Post, settings: Any, client: Any) -> None:
    settings.REMIX_MIN_ACCOUNT_AGE_SECONDS = 3600
    client.force_login(UserFactory())
    response = client.post(f"/p/{remixable_post.pk}/remix/", {"prompt": "make it snow", "meme_text": ""})
    assert response.status_code == 403
    assert "New accounts can remix other people&#x27;s posts after a while" in response.content.decode()
