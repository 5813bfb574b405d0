"""Who may remix what: the one rule, in one place.

A viewer may remix a post iff the creator's account switch is on AND the post's toggle is on AND
the creator has not blocked the viewer from remixing AND the audience admits the viewer (the
creator always may) AND the post is visible to the viewer.
The API (post fields and the request endpoint), the worker (at claim and before attaching), the
comment filter and the templates all ask this module; nothing else decides.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from socialapp import selectors as social_selectors
from socialapp.models import Follow, Post, User

from .models import CreatorSettings, RemixBlock


class Denial(StrEnum):
    """Stable reason codes (API, templates, job errors)."""

    ACCOUNT_DISABLED = "account_disabled"
    POST_DISABLED = "post_disabled"
    AUDIENCE = "audience"
    BLOCKED = "blocked"
    # Not a consent decision: an anonymous viewer must log in first.
    LOGIN_REQUIRED = "login_required"


# What a person reads next to the Remix button.
DENIAL_SENTENCES = {
    Denial.ACCOUNT_DISABLED: "The creator has turned off AI remixes of their content.",
    Denial.POST_DISABLED: "The creator has turned off AI remixes for this post.",
    Denial.AUDIENCE: "The creator allows AI remixes only from accounts they follow.",
    Denial.BLOCKED: "The creator doesn't allow you to remix their content.",
    Denial.LOGIN_REQUIRED: "Log in to make an AI remix.",
}


def account_default() -> bool:
    """The master switch of a creator who never chose (site setting REMIX_ACCOUNT_DEFAULT, off)."""
    return bool(settings.REMIX_ACCOUNT_DEFAULT)


def settings_of(creator: User) -> CreatorSettings:
    """The creator's settings, or an unsaved row holding the site defaults."""
    try:
        return CreatorSettings.objects.get(user=creator)
    except CreatorSettings.DoesNotExist:
        return CreatorSettings(user=creator, allow_remix=account_default())


def decide(
    *,
    creator_settings: CreatorSettings,
    post_allows: bool,
    viewer_is_creator: bool,
    creator_follows_viewer: bool,
    viewer_is_blocked: bool = False,
) -> Denial | None:
    """The rule on already-loaded facts; ``None`` means allowed. The order fixes which reason is given:
    what holds for everyone (account, post) first, then what concerns this viewer (a block outranks
    the audience: following a blocked account does not let it in)."""
    if not creator_settings.allow_remix:
        return Denial.ACCOUNT_DISABLED
    if not post_allows:
        return Denial.POST_DISABLED
    if viewer_is_blocked and not viewer_is_creator:
        return Denial.BLOCKED
    if (
        creator_settings.audience == CreatorSettings.Audience.FOLLOWING
        and not viewer_is_creator
        and not creator_follows_viewer
    ):
        return Denial.AUDIENCE
    return None


def remix_denied_reason(*, viewer: User | AnonymousUser, post: Post) -> Denial | None:
    """Why ``viewer`` may not remix ``post`` now, or ``None`` if they may. Reads fresh rows, in one query."""
    if not viewer.is_authenticated or not viewer.is_active:  # a deactivated account cannot sign in either
        return Denial.LOGIN_REQUIRED
    visible = social_selectors.post_list_visible_to(user=viewer).filter(pk=post.pk)
    facts = _creator_facts(creator_ids=[post.author_id], viewer=viewer, post_visible=Exists(visible)).first()
    if facts is None or not facts["post_visible"]:
        return Denial.POST_DISABLED  # not visible to this viewer (or gone): nothing to remix
    return decide(
        creator_settings=_settings_from(facts),
        post_allows=post.allow_remix,
        viewer_is_creator=viewer.pk == post.author_id,
        creator_follows_viewer=facts["follows_viewer"],
        viewer_is_blocked=facts["blocks_viewer"],
    )


def may_remix(*, viewer: User | AnonymousUser, post: Post) -> bool:
    return remix_denied_reason(viewer=viewer, post=post) is None


def denied_reasons_for(*, viewer: User | AnonymousUser, posts: Iterable[Post]) -> dict[int, Denial | None]:
    """``remix_denied_reason`` for many posts (already known visible to ``viewer``) in one query, for lists."""
    posts = list(posts)
    if not viewer.is_authenticated:
        return {post.pk: Denial.LOGIN_REQUIRED for post in posts}
    creator_ids = {post.author_id for post in posts}
    if not creator_ids:
        return {}
    facts = {row["pk"]: row for row in _creator_facts(creator_ids=creator_ids, viewer=viewer)}
    default = CreatorSettings(allow_remix=account_default())  # for a creator who is gone
    creator_settings = {pk: _settings_from(row) for pk, row in facts.items()}
    return {
        post.pk: decide(
            creator_settings=creator_settings.get(post.author_id, default),
            post_allows=post.allow_remix,
            viewer_is_creator=viewer.pk == post.author_id,
            creator_follows_viewer=bool(facts.get(post.author_id, {}).get("follows_viewer")),
            viewer_is_blocked=bool(facts.get(post.author_id, {}).get("blocks_viewer")),
        )
        for post in posts
    }


def _creator_facts(*, creator_ids: Iterable[int], viewer: User, **extra: Exists) -> QuerySet[User, dict[str, Any]]:
    """One row per creator: their saved settings (a LEFT JOIN: NULLs when none are saved), whether
    they follow ``viewer`` and whether they block ``viewer`` — what ``decide`` needs, in one query."""
    return (
        User.objects.filter(pk__in=creator_ids)
        .annotate(
            follows_viewer=Exists(Follow.objects.filter(follower=OuterRef("pk"), followee_id=viewer.pk)),
            blocks_viewer=Exists(RemixBlock.objects.filter(creator=OuterRef("pk"), blocked_id=viewer.pk)),
            **extra,
        )
        .values(
            "pk",
            "follows_viewer",
            "blocks_viewer",
            *extra,
            saved=F("remix_settings__pk"),
            allow_remix=F("remix_settings__allow_remix"),
            audience=F("remix_settings__audience"),
        )
    )


def _settings_from(facts: dict[str, Any]) -> CreatorSettings:
    """The settings ``decide`` reads, from a ``_creator_facts`` row (the site defaults when none are saved)."""
    if facts["saved"] is None:
        return CreatorSettings(allow_remix=account_default())
    return CreatorSettings(allow_remix=facts["allow_remix"], audience=facts["audience"])


def consented_remix_q(*, post_path: str = "post", requester_path: str = "author") -> Q:
    """The rule as a query filter on rows that have a post and a requester (remix comments, jobs).

    True where the post's creator consents, now, to that requester's remix. Used to hide remix
    comments while consent is off (or while the creator blocks their requester) and to find the
    jobs a consent change cancels.
    """
    return _consented_remix_q(post_path, requester_path, account_default())


@functools.cache
def _consented_remix_q(post_path: str, requester_path: str, account_on_by_default: bool) -> Q:
    # Built once per process and shape: it sits in every comment list and remix count, and building
    # its five subqueries costs more than running them. A Q is never changed by the queries that use
    # it (they resolve copies), so one may be shared.
    creator = f"{post_path}__author"
    settings_rows = CreatorSettings.objects.filter(user=OuterRef(creator))
    if account_on_by_default:
        # No row means the site default (on): only a saved "off" switches the account off.
        account_on = Q(~Exists(settings_rows.filter(allow_remix=False)))
    else:
        account_on = Q(Exists(settings_rows.filter(allow_remix=True)))
    audience_everyone = Q(~Exists(settings_rows.filter(audience=CreatorSettings.Audience.FOLLOWING)))
    creator_follows = Q(Exists(Follow.objects.filter(follower=OuterRef(creator), followee=OuterRef(requester_path))))
    # A creator never blocks themselves (a constraint), so this cannot hide the creator's own remixes.
    not_blocked = Q(~Exists(RemixBlock.objects.filter(creator=OuterRef(creator), blocked=OuterRef(requester_path))))
    return (
        account_on
        & Q(**{f"{post_path}__allow_remix": True})
        & not_blocked
        & (audience_everyone | Q(**{creator: F(requester_path)}) | creator_follows)
    )
