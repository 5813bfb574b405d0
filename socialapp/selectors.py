"""Selectors: every read of the social core that applies a rule (visibility, ordering, counts)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from . import extensions
from .models import Comment, Follow, Notification, Post, User


def post_list_visible_to(*, user: User | AnonymousUser) -> QuerySet[Post]:
    """Posts ``user`` may see, newest first, with what a feed item shows already joined.

    Every post is public today; hiding (moderation) narrows this one queryset.
    """
    return Post.objects.select_related("author", "author__profile").order_by("-created_at", "-id")


def feed_for(*, user: User | AnonymousUser, following_only: bool = False, author: str | None = None) -> QuerySet[Post]:
    """The feed: every visible post, or only those of accounts ``user`` follows, or one author's."""
    posts = post_list_visible_to(user=user)
    if following_only and user.is_authenticated:
        posts = posts.filter(author__follower_set__follower=user)
    elif following_only:
        posts = posts.none()
    if author is not None:
        posts = posts.filter(author__username=author)
    return posts


def comment_list_for(*, post: Post, user: User | AnonymousUser) -> QuerySet[Comment]:
    """Comments under ``post`` that ``user`` may see, oldest first (remixes only while consented)."""
    comments = (
        Comment.objects.filter(post=post).select_related("author", "author__profile").order_by("created_at", "id")
    )
    extension = extensions.get()
    return extension.visible_comments(comments, viewer=user) if extension is not None else comments


def comment_is_visible(*, comment: Comment, user: User | AnonymousUser) -> bool:
    """Whether ``comment`` is shown to ``user`` now (its post's comment list would include it)."""
    return comment_list_for(post=comment.post, user=user).filter(pk=comment.pk).exists()


def notifications_for(*, user: User) -> QuerySet[Notification]:
    """``user``'s notifications, newest first."""
    return Notification.objects.filter(recipient=user).select_related("actor", "post").order_by("-created_at", "-id")


def _count_of(model: type[Follow] | type[Post], field: str) -> Coalesce:
    rows = model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")), 0)


def user_with_counts(*, username: str, viewer: User | AnonymousUser) -> User:
    """A user by name with follower/following/post counts, and whether ``viewer`` follows them.

    Raises ``User.DoesNotExist``.
    """
    users = User.objects.filter(is_active=True).select_related("profile")
    # Correlated subqueries, not joins: three joined counts multiply each other's rows.
    users = users.annotate(
        followers_count=_count_of(Follow, "followee"),
        following_count=_count_of(Follow, "follower"),
        posts_count=_count_of(Post, "author"),
    )
    if viewer.is_authenticated:
        users = users.annotate(viewer_follows=Exists(Follow.objects.filter(follower=viewer, followee=OuterRef("pk"))))
    return users.get(username=username)
