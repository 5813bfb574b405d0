"""Queries per request on the web path, pinned: the feed, a post, its comments, a remix request and the
two pages that show them. Each count is a constant, the same with 10 items as with 30, so an N+1 (or
a needless query) fails here with the SQL in the message. Also: the feed's pages are index range
scans (no sort of every post), and its cursor holds across posts that share a timestamp.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from remix import consent
from remix.extension import RemixExtension, _shown_remix_counts
from remix.models import RemixBlock, RemixJob
from remix.policy import account_default
from socialapp import selectors, services
from socialapp.api.pagination import NewestFirstCursorPagination
from socialapp.models import Post, User
from tests.conftest import client_for
from tests.factories import FollowFactory, PostFactory, UserFactory
from tests.remix.conftest import opt_in
from tests.remix.remixes import finished_remix

pytestmark = pytest.mark.django_db

# API, token auth: the token (with its user), then what the endpoint reads.
FEED = 4  # token; the page of posts (authors and profiles joined); the creators' consent facts; remix counts
FEED_ANONYMOUS = 2  # the page; remix counts
POST_DETAIL = 4  # token; the post; its creator's consent facts; its remix count
POST_DETAIL_ANONYMOUS = 2  # the post; its remix count
COMMENTS = 3  # token; the post; the page of comments (authors, profiles, remix results and jobs joined)
COMMENTS_ANONYMOUS = 2
# token; the post; consent (one query: visibility, settings, follow, block); the moderation rules'
# fingerprint; in the job's transaction: lock the creator's settings, the requester and the post, consent again
# under those locks (one query), three quota COUNTs and the queue depth (remix.jobs), insert the job and its
# audit event (savepoint and release: the test's own transaction); the new job's result (none yet) for the answer.
REMIX_CREATE = 17
# Browser pages, session auth: session, user, then the page's reads and the unread-notifications badge.
FEED_PAGE = 4  # session; user; the page of posts; unread count
POST_PAGE = 6  # session; user; the post; its comments; unread count; the remix panel's consent (one query)


@pytest.fixture
def viewer() -> User:
    return UserFactory(username="viewer")


def _world(viewer: User, n: int) -> Post:
    """``n`` remixable posts by creators with every kind of consent, and ``n`` comments (a third of them
    remixes, some of those hidden) under the newest; returns that post."""
    everyone, following, blocking, off = (UserFactory() for _ in range(4))
    opt_in(everyone)
    opt_in(following, audience="following")
    opt_in(blocking)
    FollowFactory(follower=following, followee=viewer)
    RemixBlock.objects.create(creator=blocking, blocked=viewer)
    creators = [everyone, following, blocking, off]
    posts = []
    for i in range(n):
        post = PostFactory(author=creators[i % len(creators)])
        if creators[i % len(creators)] is not off:
            consent.post_allow_remix_set(post=post, actor=post.author, value=True)
        posts.append(post)
    target = posts[max(range(0, n, len(creators)))]  # the newest post of `everyone`
    for i in range(n):
        if i % 3 == 0:
            result = finished_remix(target, UserFactory())
            if i % 9 == 0:  # held for review: not shown
                RemixJob.objects.filter(pk=result.job_id).update(status=RemixJob.Status.HELD)
        else:
            services.comment_create(post=target, author=UserFactory(), text=f"comment {i}")
    return target


def _count(django_assert_num_queries: Any, expected: int, call: Any) -> Any:
    with django_assert_num_queries(expected):
        return call()


@pytest.mark.parametrize("n", [10, 30])
def test_api_query_counts_do_not_grow(viewer: User, n: int, django_assert_num_queries: Any, settings: Any) -> None:
    settings.REMIX_RATE_LIMIT = settings.REMIX_USER_DAILY_LIMIT = 10_000
    target = _world(viewer, n)
    api, anonymous = client_for(viewer), APIClient()
    api.get("/api/posts/")  # the moderation rules and other per-process caches are warm from here on

    feed = _count(django_assert_num_queries, FEED, lambda: api.get("/api/posts/"))
    assert len(feed.json()["results"]) == min(n, 20)
    assert {p["remix_count"] for p in feed.json()["results"]} != {0}
    anonymous_feed = _count(django_assert_num_queries, FEED_ANONYMOUS, lambda: anonymous.get("/api/posts/"))
    assert len(anonymous_feed.json()["results"]) == min(n, 20)
    if feed.json()["next"]:
        _count(django_assert_num_queries, FEED, lambda: api.get(feed.json()["next"]))

    detail = _count(django_assert_num_queries, POST_DETAIL, lambda: api.get(f"/api/posts/{target.pk}/"))
    assert detail.json()["remix_count"] == len(range(0, n, 3)) - len(range(0, n, 9))
    _count(django_assert_num_queries, POST_DETAIL_ANONYMOUS, lambda: anonymous.get(f"/api/posts/{target.pk}/"))

    comments = _count(django_assert_num_queries, COMMENTS, lambda: api.get(f"/api/posts/{target.pk}/comments/"))
    kinds = [c["kind"] for c in comments.json()["results"]]
    assert len(kinds) == min(n - len(range(0, n, 9)), 20) and "remix" in kinds
    _count(django_assert_num_queries, COMMENTS_ANONYMOUS, lambda: anonymous.get(f"/api/posts/{target.pk}/comments/"))

    api.post(f"/api/posts/{target.pk}/remixes/", {"prompt": "warm up"}, format="json")
    created = _count(
        django_assert_num_queries,
        REMIX_CREATE,
        lambda: api.post(f"/api/posts/{target.pk}/remixes/", {"prompt": "make it snow"}, format="json"),
    )
    assert created.status_code == 202


@pytest.mark.parametrize("n", [10, 30])
def test_page_query_counts_do_not_grow(viewer: User, n: int, django_assert_num_queries: Any) -> None:
    target = _world(viewer, n)
    browser = Client()
    browser.force_login(viewer)
    browser.get("/")
    feed = _count(django_assert_num_queries, FEED_PAGE, lambda: browser.get("/"))
    assert feed.status_code == 200
    page = _count(django_assert_num_queries, POST_PAGE, lambda: browser.get(f"/p/{target.pk}/"))
    assert page.status_code == 200 and b"comment--remix" in page.content


def test_feed_cursor_holds_across_posts_that_share_a_timestamp(api: APIClient) -> None:
    posts = [PostFactory() for _ in range(7)]
    Post.objects.update(created_at=timezone.now())  # a bulk import: one timestamp, order by id alone
    newest_first = sorted(p.pk for p in posts)[::-1]
    seen: list[int] = []
    url: str | None = "/api/posts/?page_size=3"
    while url:
        page = api.get(url).json()
        seen += [p["id"] for p in page["results"]]
        last = page
        url = page["next"]
    assert seen == newest_first
    back = api.get(last["previous"]).json()
    assert [p["id"] for p in back["results"]] == newest_first[3:6]


def test_feed_page_walks_older_posts_that_share_a_timestamp() -> None:
    posts = [PostFactory() for _ in range(25)]
    Post.objects.update(created_at=timezone.now())
    browser, url = Client(), "/"
    seen: list[int] = []
    while url:
        page = browser.get(url).context["page"]
        seen += [p.pk for p in page.posts]
        url = page.older_url and f"/{page.older_url}"
    assert seen == sorted((p.pk for p in posts), reverse=True)


@pytest.mark.parametrize("position", ["nonsense", "2026-13-01T00:00:00+00:00|4", "2026-01-01T00:00:00+00:00|x"])
def test_feed_rejects_a_forged_cursor(api: APIClient, position: str) -> None:
    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()
    response = api.get("/api/posts/", {"cursor": cursor})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def _sqlite_plan(queryset: Any) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan; PostgreSQL plans by its statistics")
@pytest.mark.parametrize("signed_in", [True, False])
def test_feed_pages_read_the_created_at_index_in_order(viewer: User, signed_in: bool) -> None:
    """SQLite keeps no statistics: given an equality on the review_state index it would fetch every
    published post and sort them for each page. The feed must instead walk the created_at index in
    feed order (no temporary sort) and, past the first page, seek to the cursor."""
    for _ in range(3):
        PostFactory()
    posts = selectors.feed_for(user=viewer if signed_in else AnonymousUser())
    pagination = NewestFirstCursorPagination()
    position = pagination._get_position_from_instance(posts[1], pagination.ordering)
    first = _sqlite_plan(posts[:21])
    later = _sqlite_plan(posts.filter(pagination._after(position, descending=True))[:21])
    for plan in (first, later):
        assert "socialapp_post_created_at" in plan and "TEMP B-TREE" not in plan, plan
    assert "(created_at<?)" in later, later


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan; PostgreSQL plans by its statistics")
def test_remix_counts_start_from_the_posts_asked_about(viewer: User) -> None:
    """Not from every succeeded job in the database (the status index), whatever SQLite guesses."""
    target = _world(viewer, 6)
    asked = list(Post.objects.values_list("pk", flat=True))
    plan = _sqlite_plan(_shown_remix_counts(account_default()).filter(post__in=asked))
    assert plan.splitlines()[0].startswith(("SEARCH socialapp_comment", "SEARCH socialapp_post")), plan
    assert "SCAN" not in plan, plan
    assert RemixExtension().post_states([target], viewer=viewer)[target.pk]["remix_count"] == 1
