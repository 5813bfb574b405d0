"""The review desks: image moderation's decisions on uploads and remixes, and moderators' answers to them.

Uploads: ``upload_review`` runs the nudity detector on a new post's still (the photo, or the video's
poster frame) before the post exists; a flagged post is created ``pending`` (hidden from everyone but
its author and staff) and waits in the admin's queue, where ``post_review_approve`` publishes it and
``post_review_reject`` deletes it with its files.

Remixes: the worker checks every finished image (``remix.worker.moderate_output``) and attaches a
flagged one as a ``held`` job whose comment nobody sees; ``held_remix_approve`` shows it (the creator
is told as for any remix), ``held_remix_reject`` deletes the comment and image.

Every decision is written to the audit log, the detector's ones with what it saw.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from PIL import Image

from socialapp import services as social_services
from socialapp.extensions import UploadReview
from socialapp.models import Comment, Notification, Post, User

from . import audit
from .consent import lock_creator
from .models import ModerationRule, RemixJob, RemixResult
from .moderation import image_text
from .moderation.images import check_image_bytes
from .policy import remix_denied_reason

logger = logging.getLogger(__name__)

REJECTED_BY_MODERATOR = "rejected_by_moderator"
POST_HELD_TEXT = "Your post is hidden until a moderator reviews it."


def _category(moderation: dict[str, Any]) -> str:
    if moderation.get("category"):
        return str(moderation["category"])
    if moderation.get("matched"):
        return str(ModerationRule.Category.SEXUAL)
    text = moderation.get("image_text") or {}
    if text.get("flagged") and text.get("category"):
        return str(text["category"])
    if (moderation.get("identity") or {}).get("flagged"):
        return str(ModerationRule.Category.REAL_PERSONS)
    return ""


def _found(moderation: dict[str, Any]) -> str:
    """What the checks flagged, in a few words for a summary."""
    found = []
    if moderation.get("error"):
        found.append("the image check failed")
    classes = sorted({str(label.get("class")) for label in moderation.get("matched") or []})
    if classes:
        found.append(f"the detector found {', '.join(classes)}")
    identity = moderation.get("identity") or {}
    if identity.get("flagged"):
        found.append(identity.get("error") or f"{len(identity.get('unmatched') or [])} face(s) not in the source")
    text = moderation.get("image_text") or {}
    if text.get("flagged"):
        found.append(text.get("error") or f"text in the image refused ({text.get('category')})")
    return "; ".join(found) or "held for review"


def _detail(moderation: dict[str, Any]) -> dict[str, Any]:
    keys = ("labels", "matched", "classes", "threshold", "error", "identity", "image_text", "reasons")
    return {key: moderation.get(key) for key in keys}


# --- uploads ------------------------------------------------------------------------------------


def upload_review(*, poster: bytes) -> UploadReview:
    """Upload moderation of a new post's still (JPEG bytes): nudity, and text in the image read by OCR and checked
    like a prompt. Never raises: a detector failure holds the post."""
    verdict = check_image_bytes(poster)
    try:
        with Image.open(io.BytesIO(poster)) as still:
            text = image_text.check_image_text(still.convert("RGB"))
    except (OSError, ValueError) as exc:
        text = image_text.ImageTextVerdict(flagged=True, error=f"{exc.__class__.__name__}: {exc}")
    moderation = {**verdict.as_dict(), "image_text": text.as_dict()}
    return UploadReview(hold=verdict.flagged or text.flagged, moderation=moderation)


def upload_reviewed(*, post: Post, review: UploadReview | None) -> None:
    """A post was created with ``review`` (in its transaction): audit the detector's decision, and tell the
    author when the post is hidden. ``None``: the upload was not checked; nothing to record."""
    if review is None:
        return
    moderation = review.moderation or {}
    if not review.hold:
        audit.record(
            audit.Action.UPLOAD_PASSED,
            summary=f"Post {post.pk} by @{post.author.get_username()} passed the upload check",
            subject=post.author,
            post=post,
            detail=_detail(moderation),
        )
        return
    audit.record(
        audit.Action.UPLOAD_FLAGGED,
        summary=f"Post {post.pk} by @{post.author.get_username()} hidden pending review: {_found(moderation)}",
        subject=post.author,
        post=post,
        category=_category(moderation),
        detail=_detail(moderation),
    )
    social_services.notify(recipient=post.author, kind=Notification.Kind.POST_HELD, post=post, text=POST_HELD_TEXT)


def post_review_approve(*, post: Post, moderator: User) -> bool:
    """Publish a post hidden pending review. Locks the post; returns False (changing nothing) unless it is
    still pending (another moderator may have decided first)."""
    with transaction.atomic():
        locked = Post.objects.select_for_update().select_related("author").filter(pk=post.pk).first()
        if locked is None or locked.review_state != Post.Review.PENDING:
            return False
        locked.review_state = Post.Review.PUBLISHED
        locked.save(update_fields=["review_state", "updated_at"])
        audit.record(
            audit.Action.UPLOAD_APPROVED,
            summary=f"Post {locked.pk} by @{locked.author.get_username()} approved and published",
            actor=moderator,
            subject=locked.author,
            post=locked,
            detail=_detail(locked.moderation or {}),
        )
        social_services.notify(
            recipient=locked.author,
            kind=Notification.Kind.POST_APPROVED,
            post=locked,
            text="A moderator reviewed your post: it is visible to everyone now.",
        )
    post.review_state = Post.Review.PUBLISHED
    return True


def post_review_reject(*, post: Post, moderator: User) -> bool:
    """Delete a post hidden pending review, with its comments and files (files go on commit). Locks the post;
    returns False (changing nothing) unless it is still pending."""
    with transaction.atomic():
        locked = Post.objects.select_for_update().select_related("author").filter(pk=post.pk).first()
        if locked is None or locked.review_state != Post.Review.PENDING:
            return False
        author = locked.author
        audit.record(
            audit.Action.UPLOAD_REJECTED,
            summary=f"Post {locked.pk} by @{author.get_username()} rejected and removed",
            actor=moderator,
            subject=author,
            post=locked,
            category=_category(locked.moderation or {}),
            detail={**_detail(locked.moderation or {}), "caption": locked.caption[:200]},
        )
        what = locked.get_media_type_display().lower()
        caption = f" “{locked.caption[:80]}”" if locked.caption else ""
        # No post link: the notification's post foreign key would cascade it away with the post.
        social_services.notify(
            recipient=author,
            kind=Notification.Kind.POST_REJECTED,
            text=f"A moderator reviewed your {what}{caption} and removed it: it breaks the content rules.",
        )
        social_services.post_remove(post=locked)
    return True


# --- remixes ------------------------------------------------------------------------------------


def output_reviewed(*, job: RemixJob, post: Post, comment: Comment, held: bool) -> None:
    """The worker attached ``job``'s remix (in its transaction, under its locks): audit the detector's decision
    and, for a remix that is shown, tell the creator."""
    moderation = job.moderation or {}
    if held:
        why = "every remix is held" if moderation.get("hold_all") and not moderation.get("flagged") else None
        audit.record(
            audit.Action.OUTPUT_HELD,
            summary=f"Remix {job.pk} of post {post.pk} held for review: {why or _found(moderation)}",
            subject=job.requester,
            post=post,
            job=job,
            comment=comment,
            category=_category(moderation),
            detail={**_detail(moderation), "prompt": job.prompt[:200]},
        )
        return
    audit.record(
        audit.Action.OUTPUT_PASSED,
        summary=f"Remix {job.pk} of post {post.pk} passed the image check",
        subject=job.requester,
        post=post,
        job=job,
        comment=comment,
        detail=_detail(moderation),
    )
    notify_remixed(job=job, post=post, comment=comment)


def notify_remixed(*, job: RemixJob, post: Post, comment: Comment) -> None:
    """Tell the creator about a remix of their post that is now shown."""
    social_services.notify(
        recipient=post.author,
        actor=job.requester,
        kind=Notification.Kind.REMIXED,
        post=post,
        comment=comment,
        text=f"{job.requester.username} made an AI remix of your post: “{job.prompt[:120]}”",
    )


def _lock_held(job: RemixJob) -> tuple[RemixJob, Post] | None:
    """Take the locks in the order consent changes and the worker's attach take them (creator, post, job);
    the job and its post, or None when the job is gone or no longer held."""
    current = RemixJob.objects.select_related("post__author").filter(pk=job.pk).first()
    if current is None:
        return None
    lock_creator(current.post.author)
    post = Post.objects.select_for_update().select_related("author").filter(pk=current.post_id).first()
    if post is None:
        return None
    locked = RemixJob.objects.select_for_update().select_related("requester").filter(pk=job.pk).first()
    if locked is None or locked.status != RemixJob.Status.HELD:
        return None
    return locked, post


def held_before_running(job: RemixJob) -> bool:
    """Whether a held job was held by prompt moderation before it ran (no image yet), not by output moderation."""
    return (job.moderation or {}).get("stage") == "prompt"


def _approve_request(held: RemixJob, post: Post, moderator: User) -> None:
    """A request held before it ran goes into the queue (consent is checked again when the worker claims it)."""
    from .jobs import enqueue

    held.status = RemixJob.Status.QUEUED
    held.enqueued_at = timezone.now()
    held.reviewed_by, held.reviewed_at = moderator, timezone.now()
    held.save(update_fields=["status", "enqueued_at", "reviewed_by", "reviewed_at"])
    audit.record(
        audit.Action.PROMPT_APPROVED,
        summary=f"Held request {held.pk} on post {post.pk} approved and queued",
        actor=moderator,
        subject=held.requester,
        post=post,
        job=held,
        category=str((held.moderation or {}).get("category") or ""),
        severe=False,
        detail={"prompt": held.prompt[:200], "meme_text": held.meme_text},
    )
    transaction.on_commit(lambda: enqueue(held.pk), robust=True)


def held_remix_approve(*, job: RemixJob, moderator: User) -> bool:
    """Approve a held job. Held before it ran (prompt moderation): it is queued and runs. Held after (output
    moderation): the job becomes ``succeeded`` and its comment appears where consent allows (a creator who has
    since turned remixes off still does not see it, nor hears of it: the comment filter and this check apply the
    same rule). Returns False (changing nothing) unless the job is still held."""
    with transaction.atomic():
        locked = _lock_held(job)
        if locked is None:
            return False
        held, post = locked
        if held_before_running(held):
            _approve_request(held, post, moderator)
            job.status = RemixJob.Status.QUEUED
            return True
        held.status = RemixJob.Status.SUCCEEDED
        held.reviewed_by, held.reviewed_at = moderator, timezone.now()
        held.save(update_fields=["status", "reviewed_by", "reviewed_at"])
        result = RemixResult.objects.select_related("comment").filter(job=held).first()
        audit.record(
            audit.Action.OUTPUT_APPROVED,
            summary=f"Held remix {held.pk} of post {post.pk} approved",
            actor=moderator,
            subject=held.requester,
            post=post,
            job=held,
            comment=result.comment_id if result is not None else None,
            detail=_detail(held.moderation or {}),
        )
        if result is not None and remix_denied_reason(viewer=held.requester, post=post) is None:
            notify_remixed(job=held, post=post, comment=result.comment)
    job.status = RemixJob.Status.SUCCEEDED
    return True


def held_remix_reject(*, job: RemixJob, moderator: User, note: str = "") -> bool:
    """Reject a held remix: its comment and result are deleted (the image file goes once that commits), the job
    becomes ``rejected`` (``rejected_by_moderator``) and its requester is told. Returns False (changing
    nothing) unless the job is still held."""
    with transaction.atomic():
        locked = _lock_held(job)
        if locked is None:
            return False
        held, post = locked
        result = RemixResult.objects.select_related("comment").filter(job=held).first()
        comment_id = result.comment_id if result is not None else None
        before_running = held_before_running(held)
        audit.record(
            audit.Action.PROMPT_DISALLOWED if before_running else audit.Action.OUTPUT_REJECTED,
            summary=f"Held {'request' if before_running else 'remix'} {held.pk} of post {post.pk} rejected"
            + ("" if before_running else " and deleted"),
            actor=moderator,
            subject=held.requester,
            post=post,
            job=held,
            comment=comment_id,
            category=_category(held.moderation or {}),
            detail={
                **_detail(held.moderation or {}),
                "note": note[:300],
                "prompt": held.prompt[:200],
                "image": result.image.name if result is not None else None,
            },
        )
        if result is not None:
            # Not socialapp's comment_remove: that records a creator's or admin's deletion of a shown remix;
            # this one was never shown, and OUTPUT_REJECTED above is its record. The result goes with the
            # comment (cascade), and its file once this commits (remix.results).
            result.comment.delete()
        held.status = RemixJob.Status.REJECTED
        held.error_code = REJECTED_BY_MODERATOR
        held.error_detail = "A moderator reviewed this remix and did not allow it."
        held.reviewed_by, held.reviewed_at = moderator, timezone.now()
        held.save(update_fields=["status", "error_code", "error_detail", "reviewed_by", "reviewed_at"])
        social_services.notify(
            recipient=held.requester,
            kind=Notification.Kind.REMIX_REJECTED,
            post=post,
            text=(
                f"A moderator did not allow your AI remix request “{held.prompt[:120]}”; it will not run."
                if before_running
                else f"A moderator did not allow your AI remix “{held.prompt[:120]}”; it was deleted."
            ),
        )
    job.status = RemixJob.Status.REJECTED
    return True
