"""Consent changes: every write of a creator's remix consent, with its ledger entry and its effects.

Lock order (the worker's attach step takes the same, in the same order, so a toggle and an
attach can never interleave): 1. the creator's ``CreatorSettings`` row, 2. the post row,
3. the job rows. On SQLite, where ``select_for_update`` is a no-op, ``IMMEDIATE`` transactions
serialize every writer instead.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from socialapp.models import Post, User

from . import audit
from .models import ConsentChange, CreatorSettings, RemixBlock, RemixJob
from .policy import DENIAL_SENTENCES, Denial, account_default, consented_remix_q

logger = logging.getLogger(__name__)

CONSENT_REVOKED = "consent_revoked"


def lock_creator(creator: User) -> CreatorSettings:
    """Take lock 1 (the creator's settings row, created with the site defaults if missing).

    Must be called inside a transaction.
    """
    CreatorSettings.objects.get_or_create(user=creator, defaults={"allow_remix": account_default()})
    return CreatorSettings.objects.select_for_update().get(user=creator)


def record_change(
    *,
    actor: User | None,
    creator: User,
    field: str,
    old: object,
    new: object,
    post: Post | None = None,
    cancelled: int = 0,
    action: str = audit.Action.CONSENT_CHANGED,
    subject: User | None = None,
    detail: dict[str, object] | None = None,
) -> ConsentChange:
    """Write one ledger entry and its audit event (``action``; ``subject`` defaults to the creator)."""
    change = ConsentChange.objects.create(
        actor=actor,
        creator=creator,
        post=post,
        post_ref=post.pk if post is not None else None,
        field=field,
        old_value=_text(old),
        new_value=_text(new),
        cancelled_jobs=cancelled,
    )
    # The creator-facing ledger above, and the same fact in the site's one audit log.
    audit.record(
        action,
        actor=actor,
        subject=subject or creator,
        post=post,
        summary=f"{change.get_field_display()}: {change.old_value} → {change.new_value}",
        detail={
            "field": field,
            "old": change.old_value,
            "new": change.new_value,
            "cancelled_jobs": cancelled,
            **(detail or {}),
        },
    )
    return change


# ConsentChange.old_value / new_value hold 20 characters.
_VALUE_LENGTH = 20


def _text(value: object) -> str:
    text = ("on" if value else "off") if isinstance(value, bool) else str(value)
    return text if len(text) <= _VALUE_LENGTH else text[: _VALUE_LENGTH - 1] + "…"


def cancel_unconsented_jobs(*, creator: User, post: Post | None = None) -> int:
    """Cancel the creator's queued and running jobs whose requester is no longer consented.

    Call with lock 1 held. A running job notices at its next diffusion step and stops early.
    """
    jobs = RemixJob.objects.filter(post__author=creator, status__in=RemixJob.ACTIVE)
    if post is not None:
        jobs = jobs.filter(post=post)
    revoked = jobs.exclude(consented_remix_q(post_path="post", requester_path="requester"))
    cancelled = revoked.update(
        status=RemixJob.Status.CANCELLED,
        error_code=CONSENT_REVOKED,
        error_detail="The creator turned off AI remixes for this content.",
        finished_at=timezone.now(),
        lease_expires_at=None,
    )
    if cancelled:
        logger.info("consent change by creator %s cancelled %d remix jobs", creator.pk, cancelled)
    return cancelled


def creator_settings_update(
    *,
    creator: User,
    actor: User,
    allow_remix: bool | None = None,
    audience: str | None = None,
    new_posts_allow_remix: bool | None = None,
    protect_face: bool | None = None,
    apply_to_existing_posts: bool = False,
) -> CreatorSettings:
    """Change a creator's account-level consent; fields left ``None`` are kept.

    ``apply_to_existing_posts`` sets every existing post's toggle to ``new_posts_allow_remix`` (the
    value given, or the saved one) in the same step. Each change is written to the ledger; any
    change that narrows consent cancels the affected queued and running jobs at once.
    """
    with transaction.atomic():
        current = lock_creator(creator)
        changes = [
            (ConsentChange.Field.ALLOW_REMIX, "allow_remix", allow_remix),
            (ConsentChange.Field.AUDIENCE, "audience", audience),
            (ConsentChange.Field.NEW_POSTS_ALLOW_REMIX, "new_posts_allow_remix", new_posts_allow_remix),
            (ConsentChange.Field.PROTECT_FACE, "protect_face", protect_face),
        ]
        pending: list[tuple[str, object, object]] = []
        for field, attribute, value in changes:
            old = getattr(current, attribute)
            if value is not None and value != old:
                setattr(current, attribute, value)
                pending.append((field, old, value))
        current.save()
        if apply_to_existing_posts:
            value = current.new_posts_allow_remix
            # Lock 2 for every post of this creator, then flip the ones that differ.
            changing = list(
                Post.objects.select_for_update()
                .filter(author=creator)
                .exclude(allow_remix=value)
                .values_list("pk", flat=True)
            )
            Post.objects.filter(pk__in=changing).update(allow_remix=value, updated_at=timezone.now())
            pending.append((ConsentChange.Field.ALL_POSTS_ALLOW_REMIX, f"{len(changing)} posts", value))
        cancelled = cancel_unconsented_jobs(creator=creator)
        # Recorded once the effects are known, so the last entry can say how many jobs it cancelled.
        for index, (changed, old, new) in enumerate(pending):
            last = index == len(pending) - 1
            record_change(
                actor=actor, creator=creator, field=changed, old=old, new=new, cancelled=cancelled if last else 0
            )
    return current


def post_allow_remix_set(*, post: Post, actor: User, value: bool) -> Post:
    """Turn one post's remix toggle on or off (the caller has checked that ``actor`` may)."""
    with transaction.atomic():
        lock_creator(post.author)
        locked = Post.objects.select_for_update().get(pk=post.pk)
        if locked.allow_remix != value:
            old = locked.allow_remix
            locked.allow_remix = value
            locked.save(update_fields=["allow_remix", "updated_at"])
            cancelled = cancel_unconsented_jobs(creator=post.author, post=locked)
            record_change(
                actor=actor,
                creator=post.author,
                field=ConsentChange.Field.POST_ALLOW_REMIX,
                old=old,
                new=value,
                post=locked,
                cancelled=cancelled,
            )
    post.allow_remix = value
    return post


def follow_removed(*, creator: User, former_follow: User) -> int:
    """``creator`` stopped following someone: with audience "following" their jobs may lose consent."""
    with transaction.atomic():
        settings_row = lock_creator(creator)
        if settings_row.audience != CreatorSettings.Audience.FOLLOWING:
            return 0
        return cancel_unconsented_jobs(creator=creator)


class CannotBlockSelf(Exception):
    """A creator tried to block themselves from remixing their own content."""


def remix_block(*, creator: User, blocked: User, actor: User) -> bool:
    """``creator`` blocks ``blocked`` from remixing any of their content. Idempotent: returns True
    if a block was created.

    In the same transaction (lock 1 held, so no attach can slip in between) the blocked user's
    queued and running jobs on the creator's content are cancelled; their existing remix comments
    stop being shown (``policy.consented_remix_q``) until an unblock. Ledger + audit
    (``user.blocked``). Raises ``CannotBlockSelf``.
    """
    if creator.pk == blocked.pk:
        raise CannotBlockSelf()
    with transaction.atomic():
        lock_creator(creator)
        _, created = RemixBlock.objects.get_or_create(creator=creator, blocked=blocked)
        if not created:
            return False
        cancelled = RemixJob.objects.filter(post__author=creator, requester=blocked, status__in=RemixJob.ACTIVE).update(
            status=RemixJob.Status.CANCELLED,
            error_code=CONSENT_REVOKED,
            error_detail=DENIAL_SENTENCES[Denial.BLOCKED],
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        record_change(
            actor=actor,
            creator=creator,
            field=ConsentChange.Field.BLOCKED,
            old=f"@{blocked.get_username()}",
            new="blocked",
            cancelled=cancelled,
            action=audit.Action.USER_BLOCKED,
            subject=blocked,
            detail={"creator": creator.get_username(), "blocked": blocked.get_username()},
        )
    logger.info("creator %s blocked %s from remixing (%d jobs cancelled)", creator.pk, blocked.pk, cancelled)
    return True


def remix_unblock(*, creator: User, blocked: User, actor: User) -> bool:
    """Lift a block. Idempotent: returns True if a block was removed. The user's remix comments that
    the block hid are shown again (if the creator's other consent still admits them); jobs the block
    cancelled stay cancelled. Ledger + audit (``user.unblocked``)."""
    with transaction.atomic():
        lock_creator(creator)
        deleted, _ = RemixBlock.objects.filter(creator=creator, blocked=blocked).delete()
        if not deleted:
            return False
        record_change(
            actor=actor,
            creator=creator,
            field=ConsentChange.Field.UNBLOCKED,
            old=f"@{blocked.get_username()}",
            new="unblocked",
            action=audit.Action.USER_UNBLOCKED,
            subject=blocked,
            detail={"creator": creator.get_username(), "blocked": blocked.get_username()},
        )
    return True
