"""The consent rule, table-driven: account × post × audience × viewer relationship.

The rule exists twice — ``policy.decide`` on loaded rows and ``policy.consented_remix_q`` as a
query filter (hiding remix comments, finding jobs to cancel) — so every row checks both agree.
"""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import AnonymousUser

from remix import policy
from remix.models import CreatorSettings
from socialapp.models import Comment
from tests.factories import CommentFactory, FollowFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db

RELATIONSHIPS = ("creator", "followed_by_creator", "follows_creator_only", "stranger", "anonymous")


def expected(account: bool, post: bool, audience: str, relationship: str) -> str | None:
    if relationship == "anonymous":
        return "login_required"
    if not account:
        return "account_disabled"
    if not post:
        return "post_disabled"
    if audience == "following" and relationship not in ("creator", "followed_by_creator"):
        return "audience"
    return None


CASES = list(itertools.product([True, False], [True, False], ["everyone", "following"], RELATIONSHIPS))


@pytest.mark.parametrize(("account", "post_toggle", "audience", "relationship"), CASES, ids=str)
def test_policy_table(account: bool, post_toggle: bool, audience: str, relationship: str) -> None:
    creator = UserFactory(username="creator")
    CreatorSettings.objects.create(user=creator, allow_remix=account, audience=audience)
    post = PostFactory(author=creator, allow_remix=post_toggle)
    viewer = {
        "creator": creator,
        "followed_by_creator": UserFactory(username="friend"),
        "follows_creator_only": UserFactory(username="fan"),
        "stranger": UserFactory(username="stranger"),
        "anonymous": AnonymousUser(),
    }[relationship]
    if relationship == "followed_by_creator":
        FollowFactory(follower=creator, followee=viewer)
    if relationship == "follows_creator_only":
        FollowFactory(follower=viewer, followee=creator)

    want = expected(account, post_toggle, audience, relationship)
    assert policy.remix_denied_reason(viewer=viewer, post=post) == want
    assert policy.denied_reasons_for(viewer=viewer, posts=[post])[post.pk] == want
    assert policy.may_remix(viewer=viewer, post=post) is (want is None)

    if relationship != "anonymous":
        # The query form of the rule agrees: a remix by this viewer would be shown iff allowed.
        remix = CommentFactory(post=post, author=viewer, text="a remix")
        Comment.objects.filter(pk=remix.pk).update(kind=Comment.Kind.REMIX)
        shown = Comment.objects.filter(pk=remix.pk).filter(policy.consented_remix_q()).exists()
        assert shown is (want is None)


@pytest.mark.parametrize("site_default", [False, True])
def test_creator_without_settings_gets_the_site_default(settings: object, site_default: bool) -> None:
    settings.REMIX_ACCOUNT_DEFAULT = site_default  # type: ignore[attr-defined]
    post = PostFactory(allow_remix=True)
    viewer = UserFactory()
    want = None if site_default else "account_disabled"
    assert policy.remix_denied_reason(viewer=viewer, post=post) == want
    remix = CommentFactory(post=post, author=viewer)
    Comment.objects.filter(pk=remix.pk).update(kind=Comment.Kind.REMIX)
    assert Comment.objects.filter(pk=remix.pk).filter(policy.consented_remix_q()).exists() is (want is None)


def test_opt_in_by_default_nothing_is_remixable() -> None:
    post = PostFactory()
    assert post.allow_remix is False
    assert policy.remix_denied_reason(viewer=UserFactory(), post=post) == "account_disabled"


def test_bulk_reasons_use_a_fixed_number_of_queries(django_assert_max_num_queries: object) -> None:
    viewer = UserFactory()
    posts = [PostFactory(author=UserFactory()) for _ in range(8)]
    with django_assert_max_num_queries(2):  # type: ignore[operator]
        reasons = policy.denied_reasons_for(viewer=viewer, posts=posts)
    assert set(reasons.values()) == {"account_disabled"}
