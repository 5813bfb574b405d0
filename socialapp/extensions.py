"""Hooks through which a feature app (the remix feature) extends the social core.

``socialapp`` never imports ``remix``: the remix app registers one ``PostExtension`` in its
``AppConfig.ready()``, and socialapp's services, selectors and serializers call it. With no
extension registered, the social core behaves as a plain social app (nothing is remixable).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import QuerySet

    from .models import Comment, Post, User

    Viewer = User | AnonymousUser


class PostExtension(Protocol):
    def new_post_allow_remix(self, *, author: User) -> bool:
        """The per-post toggle a new upload gets when its creator did not choose one."""

    def set_post_allow_remix(self, *, post: Post, actor: User, value: bool) -> None:
        """Change a post's toggle (with whatever locking, ledger and cancelling that implies)."""

    def visible_comments(self, comments: QuerySet[Comment], *, viewer: Viewer) -> QuerySet[Comment]:
        """Narrow a comment queryset to what may be shown now (e.g. remixes whose consent is off)."""

    def post_states(self, posts: Iterable[Post], *, viewer: Viewer) -> dict[int, dict[str, Any]]:
        """Extra read-only fields per post id for ``viewer`` (computed in bulk, no query per post)."""

    def comment_payloads(self, comments: Iterable[Comment], *, request: Any) -> dict[int, dict[str, Any]]:
        """The ``remix`` payload per comment id for comments of kind ``remix``."""

    def media_visible(self, *, name: str, viewer: Viewer) -> bool:
        """Whether a stored file of the feature's (not a post's own) may be handed to ``viewer`` now."""

    def on_user_active_changed(self, *, user: User, active: bool, actor: User | None) -> None:
        """``user``'s account was deactivated or reactivated (inside its transaction): stop what they started."""

    def on_user_removed(self, *, user: User, actor: User | None) -> None:
        """``user``'s account is about to be deleted (inside its transaction)."""

    def on_unfollow(self, *, follower: User, followee: User) -> None:
        """``follower`` stopped following ``followee`` (an audience may have narrowed)."""

    def inspect_upload(self, *, data: bytes) -> UploadProvenance:
        """What an upload's own metadata says about its origin, read before re-encoding drops it."""

    def review_upload(self, *, poster: bytes) -> UploadReview:
        """Upload moderation of a new post's still (the photo or the video's poster frame), before it is saved."""

    def on_post_created(self, *, post: Post, review: UploadReview | None) -> None:
        """A post was created (inside its transaction): record its review, notify whom it concerns."""

    def on_comment_deleted(self, *, comment: Comment, actor: User | None) -> None:
        """A comment was deleted by ``actor`` (None: admin or cascade); e.g. a creator removing a remix."""


@dataclass(frozen=True)
class UploadProvenance:
    # Shown as the post's "AI info" label, e.g. {"source": "c2pa", "digital_source_type": "..."}; None: no label.
    ai_info: dict[str, Any] | None = None


@dataclass(frozen=True)
class UploadReview:
    # True: the post is created hidden (review_state "pending") until a moderator approves it.
    hold: bool = False
    # What the detector saw, stored on the post (Post.moderation) for the moderator.
    moderation: dict[str, Any] | None = None


_extension: PostExtension | None = None


def register(extension: PostExtension) -> None:
    global _extension
    _extension = extension


def get() -> PostExtension | None:
    return _extension
