"""Remix fixtures: creators who opted in and their posts (models and the worker: tests/conftest.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from remix import consent
from socialapp.models import Post, User
from tests.conftest import client_for
from tests.factories import PostFactory, UserFactory


def opt_in(creator: User, *, audience: str = "everyone") -> None:
    """The creator turns remixing on for their account (and the given audience)."""
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True, audience=audience)


@pytest.fixture
def creator(db: None) -> User:
    return UserFactory(username="creator")


@pytest.fixture
def viewer(db: None) -> User:
    return UserFactory(username="viewer")


@pytest.fixture
def remixable_post(creator: User) -> Post:
    """A photo post whose creator opted in (account and post)."""
    opt_in(creator)
    post = PostFactory(author=creator)
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    post.refresh_from_db()
    return post


@pytest.fixture
def viewer_api(viewer: User) -> APIClient:
    return client_for(viewer)


@pytest.fixture
def rule_sets(db: None) -> None:
    """The seeded default rules and every lexicon (a transactional test elsewhere may have flushed the migrated
    rows, so they are put back from the modules the migrations read)."""
    from remix.models import ModerationRule
    from remix.moderation import lexicon
    from remix.moderation.default_rules import default_rules

    ModerationRule.objects.bulk_create(
        [ModerationRule(category=c, kind=k, pattern=p, note=n) for c, k, p, n in default_rules()], ignore_conflicts=True
    )
    lexicon.load(ModerationRule)
