"""Selectors: every read of the social core that applies a rule (visibility, ordering, counts)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from . import extensions
from .models import Comment, Follow, Notification, Post, User


def post_list_visible_to(*, user: User | AnonymousUser) -> QuerySet[Post]:
    """Posts ``user`` may see, newest first, with what a feed item shows already joined.

    Published posts are public; a post hidden pending review (upload moderation) is seen only by
    its author and staff. The feed, post pages, comments, user pages and the remix policy all read
    this one queryset, so a hidden post is nowhere else (nor remixable by others).
    """
    posts = Post.objects.select_related("author", "author__profile").order_by("-created_at", "-id")
    if user.is_staff:
        return posts
    # A deactivated (banned) account's posts are nobody's to see but staff's, and so not remixable either.
    posts = posts.filter(author__is_active=True)
    # "Published, or mine", written as "not (unpublished and not mine)": the same rows (both columns
    # are NOT NULL, and a review state added later stays hidden), but with no equality on the
    # review_state index at the top. SQLite keeps no statistics, so given one it collects every
    # published post through that index and sorts them all for one page; given none it reads the
    # created_at index in feed order and stops after a page, however many posts there are.
    # PostgreSQL normalises both forms to the same plan.
    hidden = ~Q(review_state=Post.Review.PUBLISHED)
    if user.is_authenticated:
        hidden &= ~Q(author_id=user.pk)
    return posts.exclude(hidden)


def media_visible_to(*, name: str, user: User | AnonymousUser) -> bool:
    """Whether the stored file ``name`` may be handed to ``user`` now: a post's media or poster while the post is
    visible to them (``post_list_visible_to``), or a file of the feature app's while it says so (a remix image while
    its comment is shown). A file that no object owns is never served."""
    is_file_of = Q(media=name) | Q(poster=name)
    if post_list_visible_to(user=user).filter(is_file_of).exists():
        return True  # the common case, in one query
    if Post.objects.filter(is_file_of).exists():
        return False  # a post's file, hidden from this viewer
    extension = extensions.get()
    return extension is not None and extension.media_visible(name=name, viewer=user)


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
        Comment.objects.filter(post=post, author__is_active=True)
        .select_related("author", "author__profile")
        .order_by("created_at", "id")
    )
    extension = extensions.get()
    return extension.visible_comments(comments, viewer=user) if extension is not None else comments


def comment_is_visible(*, comment: Comment, user: User | AnonymousUser) -> bool:
    """Whether ``comment`` is shown to ``user`` now (its post is visible to them and its comment list
    would include it)."""
    visible_posts = post_list_visible_to(user=user).values("pk")
    return comment_list_for(post=comment.post, user=user).filter(pk=comment.pk, post__in=visible_posts).exists()


def notifications_for(*, user: User) -> QuerySet[Notification]:
    """``user``'s notifications, newest first."""
    return Notification.objects.filter(recipient=user).select_related("actor", "post").order_by("-created_at", "-id")


def _count_of(model: type[Follow] | type[Post], field: str, **only: object) -> Coalesce:
    rows = model.objects.filter(**{field: OuterRef("pk")}, **only).order_by().values(field)
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
        # Posts everyone can see (one pending review counts once a moderator approves it).
        posts_count=_count_of(Post, "author", review_state=Post.Review.PUBLISHED),
    )
    if viewer.is_authenticated:
        users = users.annotate(viewer_follows=Exists(Follow.objects.filter(follower=viewer, followee=OuterRef("pk"))))
    return users.get(username=username)
