"""What creators do about remixes of their content besides consent: delete one, or remove them all.

Blocking a user lives with the rest of consent (``remix.consent.remix_block``), since a block is a
consent rule; this module holds the clean-up actions and the hook socialapp calls when a remix
comment is deleted.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from socialapp import services as social_services
from socialapp.models import Comment, Notification, User

from . import audit, consent
from .models import ConsentChange, RemixJob, RemixReport, RemixResult

logger = logging.getLogger(__name__)


def remix_comment_deleted(*, comment: Comment, actor: User | None) -> None:
    """socialapp's ``on_comment_deleted`` hook, called in the deleting transaction just before the
    row goes (so what hangs off the comment can still be read).

    Every deletion is audited (``remix.deleted``); a remix deleted by the post's creator also tells its
    requester (``remix_removed``). One removed with no actor (admin) is audited without a notification
    (takedowns, which notify, go through ``remix.reports.remix_takedown``).

    Evidence waits for a moderator: a remix held for review cannot be deleted by anyone but a moderator, and one
    with an open report not by its own requester (raises ``PermissionDenied``, and nothing is deleted).
    """
    if comment.kind != Comment.Kind.REMIX:
        return
    post = comment.post
    result = RemixResult.objects.filter(comment_id=comment.pk).select_related("job").first()
    job = result.job if result is not None else None
    if actor is not None and job is not None:
        if job.status == RemixJob.Status.HELD:
            raise PermissionDenied("This remix is waiting for a moderator's review; it cannot be deleted until then.")
        reported = RemixReport.objects.filter(job_ref=job.pk, status=RemixReport.Status.OPEN).exists()
        if reported and actor.pk == comment.author_id:
            raise PermissionDenied("This remix was reported and is waiting for a moderator; it cannot be deleted now.")
    prompt = job.prompt if job is not None else comment.text
    by = "its requester" if actor is not None and actor.pk == comment.author_id else None
    by = by or (f"@{actor.get_username()}" if actor is not None else "an admin")
    audit.record(
        audit.Action.REMIX_DELETED,
        actor=actor,
        subject=comment.author,
        post=post,
        job=job,
        comment=comment,
        summary=f"Remix by @{comment.author.get_username()} on post {post.pk} deleted by {by}",
        detail={"prompt": prompt[:200], "image": result.image.name if result is not None else None},
    )
    if actor is not None and actor.pk == post.author_id:
        # No comment link: the comment is about to be gone (and would take the notification with it).
        social_services.notify(
            recipient=comment.author,
            actor=actor,
            kind=Notification.Kind.REMIX_REMOVED,
            post=post,
            text=f"@{actor.get_username()} removed your AI remix of their post: “{prompt[:120]}”",
        )


@dataclass(frozen=True)
class RemovedAll:
    """What ``remix_remove_all`` did."""

    removed_remixes: int
    cancelled_jobs: int
    notified: int
    account_was_on: bool


def remix_remove_all(*, creator: User, actor: User) -> RemovedAll:
    """Turn remixing off for the creator's account and remove every remix of their content, in one
    transaction.

    The account switch goes off through the ledger (which cancels queued and running jobs at once),
    every remix comment under the creator's posts is deleted with its result (image files go once
    the transaction commits), each requester is notified once, and one ``remixes.removed_all``
    audit event carries the counts. Lock 1 is held throughout, so no attach can land in between
    (the worker takes the same lock first and then finds consent off). Safe to repeat.
    """
    with transaction.atomic():
        current = consent.lock_creator(creator)
        account_was_on = current.allow_remix
        cancelled = 0
        if account_was_on:
            current.allow_remix = False
            current.save(update_fields=["allow_remix", "updated_at"])
            cancelled = consent.cancel_unconsented_jobs(creator=creator)
            consent.record_change(
                actor=actor,
                creator=creator,
                field=ConsentChange.Field.ALLOW_REMIX,
                old=True,
                new=False,
                cancelled=cancelled,
            )
        else:
            cancelled = consent.cancel_unconsented_jobs(creator=creator)  # none should be left; make sure

        remixes = list(
            Comment.objects.filter(post__author=creator, kind=Comment.Kind.REMIX)
            .select_related("author")
            .order_by("pk")
        )
        per_requester = Counter(c.author_id for c in remixes)
        requesters = {c.author_id: c.author for c in remixes}
        images = list(RemixResult.objects.filter(comment__in=remixes).values_list("image", flat=True))
        # Deleting the comments cascades to their results; each result's file is deleted on commit.
        Comment.objects.filter(pk__in=[c.pk for c in remixes]).delete()
        # Remixes held for review lost their comment and image above: close them, so a moderator's
        # later approval cannot turn them into successes with nothing to show.
        held = RemixJob.objects.filter(post__author=creator, status=RemixJob.Status.HELD).update(
            status=RemixJob.Status.REJECTED,
            error_code="removed_by_creator",
            error_detail="The creator removed every remix of their content.",
            finished_at=timezone.now(),
        )

        notified = 0
        for requester_id, count in per_requester.items():
            note = social_services.notify(
                recipient=requesters[requester_id],
                actor=actor,
                kind=Notification.Kind.REMIX_REMOVED,
                text=(
                    f"@{creator.get_username()} turned off AI remixes and removed every remix of their posts"
                    f" ({count} of yours)."
                ),
            )
            notified += note is not None

        consent.record_change(
            actor=actor,
            creator=creator,
            field=ConsentChange.Field.REMOVED_ALL,
            old=f"{len(remixes)} remixes",
            new="removed",
            cancelled=cancelled,
            action=audit.Action.REMIXES_REMOVED_ALL,
            detail={
                "removed_remixes": len(remixes),
                "requesters": len(per_requester),
                "notified": notified,
                "account_was_on": account_was_on,
                "held_jobs_closed": held,
                "images": images,
            },
        )
    logger.info("creator %s removed all remixes: %d comments, %d jobs cancelled", creator.pk, len(remixes), cancelled)
    return RemovedAll(
        removed_remixes=len(remixes), cancelled_jobs=cancelled, notified=notified, account_was_on=account_was_on
    )
