"""Services: every write of the social core goes through one of these functions.

Views (API and browser) validate input, call a service and render the result; no business
rule lives in a serializer, a model's ``save()`` or a signal.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.signals import post_delete as post_delete_signal
from django.utils import timezone

from . import extensions
from .models import Comment, Follow, Notification, Post, Profile, User
from .uploads import validated_upload

logger = logging.getLogger(__name__)


class UsernameTaken(Exception):
    """The username is already in use (compared case-insensitively)."""


def user_register(*, username: str, password: str, email: str = "") -> User:
    """Create an account and its profile.

    Raises ``UsernameTaken`` if the name exists in any letter case, and Django's
    ``ValidationError`` if the password fails the configured validators.
    """
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise UsernameTaken(username)
        user = User(username=username, email=email)
        validate_password(password, user=user)
        user.set_password(password)
        try:
            user.save()
        except IntegrityError as exc:  # a concurrent sign-up took the name between the check and the insert
            raise UsernameTaken(username) from exc
        Profile.objects.create(user=user)
    return user


@dataclass(frozen=True)
class IssuedToken:
    key: str  # shown to the client once; only its digest is stored
    expires_at: datetime | None


def api_token_issue(*, user: User) -> IssuedToken:
    """A new API token for one client of ``user`` (each client signs in for its own). Expires after REST_KNOX's
    TOKEN_TTL. At most API_TOKENS_PER_USER live at once: the oldest goes when a new one would be one too many."""
    from knox.models import AuthToken
    from knox.settings import knox_settings

    limit = knox_settings.TOKEN_LIMIT_PER_USER
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # serialises a user's sign-ins
        AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
        if limit:
            surplus = AuthToken.objects.filter(user=user).order_by("-created").values_list("pk", flat=True)[limit - 1 :]
            AuthToken.objects.filter(pk__in=list(surplus)).delete()
        token, key = AuthToken.objects.create(user=user)
    return IssuedToken(key=key, expires_at=token.expiry)


def api_token_revoke(*, token: object) -> None:
    """Revoke one token (the client that holds it signs out)."""
    from knox.models import AuthToken

    if isinstance(token, AuthToken):
        token.delete()


def api_tokens_revoke_all(*, user: User) -> int:
    """Revoke every API token of ``user`` (signed out everywhere); returns how many."""
    from knox.models import AuthToken

    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


def profile_update(*, user: User, display_name: str | None = None, bio: str | None = None) -> Profile:
    """Change what a user shows on their page; fields left ``None`` are kept."""
    profile, _ = Profile.objects.get_or_create(user=user)
    if display_name is not None:
        profile.display_name = display_name
    if bio is not None:
        profile.bio = bio
    profile.save()
    return profile


class CannotFollowSelf(Exception):
    """A user tried to follow themselves."""


def follow(*, follower: User, followee: User) -> bool:
    """Make ``follower`` follow ``followee``. Idempotent; returns True if a follow was created."""
    if follower.pk == followee.pk:
        raise CannotFollowSelf()
    _, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    return created


def unfollow(*, follower: User, followee: User) -> bool:
    """Stop following. Idempotent; returns True if a follow was removed.

    Unfollowing can narrow ``follower``'s remix audience, so the extension hears of it in the
    same transaction.
    """
    with transaction.atomic():
        deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
        extension = extensions.get()
        if deleted and extension is not None:
            extension.on_unfollow(follower=follower, followee=followee)
    return deleted > 0


def post_create(*, author: User, upload: UploadedFile, caption: str = "", allow_remix: bool | None = None) -> Post:
    """Validate an upload by its content, have its still reviewed, and create the post.

    Raises ``uploads.MediaRejected`` for bad media. Guarantees that on any failure no post
    row and no stored file remain: files are written before the row inside one transaction
    and deleted again if anything after them fails. Upload moderation (the extension's
    ``review_upload``, run on the poster frame before the transaction opens) may create the
    post hidden pending review (``review_state`` "pending"), never skip it.
    """
    if allow_remix is None:
        extension = extensions.get()
        allow_remix = extension.new_post_allow_remix(author=author) if extension is not None else False
    extension = extensions.get()
    origin = None
    if extension is not None and upload.size <= settings.MAX_IMAGE_BYTES:
        # Read the upload's own credentials before validation re-encodes them away.
        upload.seek(0)
        origin = extension.inspect_upload(data=upload.read())
        upload.seek(0)
    saved: list[str] = []
    try:
        with validated_upload(upload) as media:
            # The still people see first (the photo, or the video's poster frame), checked outside the
            # transaction: the detector takes tens of milliseconds and holds no lock.
            review = extension.review_upload(poster=media.poster_path.read_bytes()) if extension is not None else None
            with transaction.atomic():
                token = secrets.token_urlsafe(16)
                with media.media_path.open("rb") as fh:
                    media_name = default_storage.save(f"posts/{token}{media.media_ext}", File(fh))
                saved.append(media_name)
                with media.poster_path.open("rb") as fh:
                    poster_name = default_storage.save(f"posts/{token}-poster.jpg", File(fh))
                saved.append(poster_name)
                post = Post.objects.create(
                    author=author,
                    media_type=media.media_type,
                    media=media_name,
                    poster=poster_name,
                    media_content_type=media.content_type,
                    caption=caption,
                    duration=media.duration,
                    width=media.width,
                    height=media.height,
                    video_codec=media.video_codec,
                    size_bytes=media.size_bytes,
                    allow_remix=allow_remix,
                    ai_info=origin.ai_info if origin is not None else None,
                    review_state=Post.Review.PENDING if review is not None and review.hold else Post.Review.PUBLISHED,
                    moderation=review.moderation if review is not None else None,
                )
                if extension is not None:
                    extension.on_post_created(post=post, review=review)
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
    logger.info(
        "post %s created by %s (%s, %d bytes, %s)",
        *(post.pk, author.pk, post.media_type, post.size_bytes, post.review_state),
    )
    return post


def post_update(*, post: Post, actor: User, caption: str | None = None, allow_remix: bool | None = None) -> Post:
    """Change a post's caption or remix toggle. Only its author may; raises ``PermissionDenied``."""
    if post.author_id != actor.pk:
        raise PermissionDenied("Only the author can edit this post.")
    return post_change(post=post, actor=actor, caption=caption, allow_remix=allow_remix)


def post_change(*, post: Post, actor: User, caption: str | None = None, allow_remix: bool | None = None) -> Post:
    """Change a post's caption or remix toggle with no permission check (the author through ``post_update``, a
    moderator in admin): a toggle change goes through the feature's consent service (locks, ledger naming
    ``actor``, cancelled jobs) whoever makes it."""
    with transaction.atomic():
        if caption is not None:
            post.caption = caption
            post.save(update_fields=["caption", "updated_at"])
        if allow_remix is not None:
            extension = extensions.get()
            if extension is not None:  # consent changes take the feature's locks and leave a ledger entry
                extension.set_post_allow_remix(post=post, actor=actor, value=allow_remix)
            else:
                post.allow_remix = allow_remix
                post.save(update_fields=["allow_remix", "updated_at"])
    post.refresh_from_db()
    return post


def _delete_post_files_on_commit(sender: type[Post], instance: Post, **kwargs: object) -> None:
    # Every way a post row goes (post_remove, a moderator's rejection, an account deleted in admin and the cascade
    # it starts) takes its files, once that deletion has committed: a rolled-back delete keeps them. A file
    # cleanup, not a business rule, so the model's own deletion signal is the hook (as for remix images).
    names = [instance.media.name, instance.poster.name]

    def delete() -> None:
        for name in names:
            if name:
                default_storage.delete(name)

    transaction.on_commit(delete)


def connect_file_cleanup() -> None:
    post_delete_signal.connect(_delete_post_files_on_commit, sender=Post, dispatch_uid="socialapp-post-files")


def user_set_active(*, user: User, active: bool, actor: User | None = None) -> bool:
    """Deactivate (ban) or reactivate an account. Returns False when it already was so.

    A deactivated account cannot sign in; its sessions stop working at once (Django refuses inactive users), its
    API tokens are revoked, its posts and comments are hidden from everyone but staff (``selectors``), and the
    feature app stops what it started (its queued remix jobs are cancelled) in the same transaction.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active == active:
            user.is_active = active
            return False
        locked.is_active = active
        locked.save(update_fields=["is_active"])
        user.is_active = active
        extension = extensions.get()
        if not active:
            api_tokens_revoke_all(user=locked)
        if extension is not None:
            extension.on_user_active_changed(user=locked, active=active, actor=actor)
    logger.info("account %s %s by %s", user.pk, "reactivated" if active else "deactivated", actor.pk if actor else None)
    return True


def user_remove(*, user: User, actor: User | None = None) -> None:
    """Delete an account and everything of it: its posts (and their files, comments and remixes), its comments
    and remixes under others' posts (and their files), its jobs, follows and notifications. The feature app hears
    of it first (it keeps an audit record by id). Files go once the deletion commits."""
    with transaction.atomic():
        extension = extensions.get()
        if extension is not None:
            extension.on_user_removed(user=user, actor=actor)
        # Posts one at a time through post_remove: each takes the post's lock first, as a worker attaching to it does.
        for post in Post.objects.filter(author=user):
            post_remove(post=post)
        user.delete()


def post_delete(*, post: Post, actor: User) -> None:
    """Delete a post, its comments and its stored files. Only its author may; raises ``PermissionDenied``."""
    if post.author_id != actor.pk:
        raise PermissionDenied("Only the author can delete this post.")
    post_remove(post=post)


def post_remove(*, post: Post) -> None:
    """Delete a post, its comments and its stored files with no permission check (moderation, admin)."""
    with transaction.atomic():
        # The post's row first: a worker attaching a remix locks the post and then its job, so a delete that
        # removed the job rows before reaching the post could deadlock with it (PostgreSQL).
        Post.objects.select_for_update().filter(pk=post.pk).first()
        post.delete()  # its files go once this commits (connect_file_cleanup)


def comment_create(*, post: Post, author: User, text: str) -> Comment:
    """Add a text comment and keep the post's cached comment count in step."""
    with transaction.atomic():
        comment = Comment.objects.create(post=post, author=author, text=text)
        Post.objects.filter(pk=post.pk).update(comment_count=F("comment_count") + 1)
    return comment


def comment_delete(*, comment: Comment, actor: User) -> None:
    """Delete a comment. Its author or the post's author may; raises ``PermissionDenied``."""
    if actor.pk not in (comment.author_id, comment.post.author_id):
        raise PermissionDenied("Only the comment's author or the post's author can delete it.")
    comment_remove(comment=comment, actor=actor)


def comment_remove(*, comment: Comment, actor: User | None = None) -> None:
    """Delete a comment with no permission check (moderation, admin), keeping the count in step.

    The extension hears of it (``on_comment_deleted``) in the same transaction, just before the row
    goes, so it can still read what hangs off the comment (a remix's job and image) to record it.
    ``actor`` None: an admin or the system.
    """
    with transaction.atomic():
        extension = extensions.get()
        if extension is not None:
            extension.on_comment_deleted(comment=comment, actor=actor)
        comment.delete()
        if comment.kind == Comment.Kind.TEXT:
            Post.objects.filter(pk=comment.post_id, comment_count__gt=0).update(comment_count=F("comment_count") - 1)


def notify(
    *,
    recipient: User,
    kind: str,
    text: str,
    actor: User | None = None,
    post: Post | None = None,
    comment: Comment | None = None,
) -> Notification | None:
    """Add an in-app notification; nobody is notified of their own action (returns None then)."""
    if actor is not None and actor.pk == recipient.pk:
        return None
    return Notification.objects.create(
        recipient=recipient, actor=actor, kind=kind, text=text[:300], post=post, comment=comment
    )


def notifications_mark_read(*, user: User) -> int:
    """Mark all of ``user``'s notifications read; returns how many changed."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())


def notification_mark_read(*, user: User, notification_id: int) -> Notification:
    """Mark one of ``user``'s notifications read (idempotent: an already read one keeps its time).

    Raises ``Notification.DoesNotExist`` for an id that is not ``user``'s: another user's
    notification and a missing one read the same.
    """
    unread = Notification.objects.filter(pk=notification_id, recipient=user, read_at__isnull=True)
    unread.update(read_at=timezone.now())
    return Notification.objects.select_related("actor", "actor__profile").get(pk=notification_id, recipient=user)
