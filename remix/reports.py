"""Reports of remixes, and takedowns: the trust-and-safety desk's writes.

Anyone signed in may report a remix they can see; moderators dismiss the report or take the remix
down. A takedown removes the remix comment, its result row and every stored file of the remix,
keeps the job (marked taken down) and the reports, tells the requester, and leaves an audit event
that says which files were deleted and how long after the takedown began they were gone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from socialapp import selectors as social_selectors
from socialapp import services as social_services
from socialapp.models import Comment, Notification, Post, User

from . import audit, consent
from .models import RemixJob, RemixReport, RemixResult

logger = logging.getLogger(__name__)

TAKEN_DOWN = "taken_down"
TAKEN_DOWN_SENTENCE = "A moderator took this remix down after a report."


class NotReportable(Exception):
    """The comment is not a remix the reporter can see (or no longer exists)."""


class InvalidReason(Exception):
    """The reason is not one of ``RemixReport.Reason``."""


def report_file(*, comment: Comment, reporter: User, reason: str, text: str = "") -> tuple[RemixReport, bool]:
    """``reporter`` reports the remix shown by ``comment``. Returns ``(report, created)``.

    Only a remix comment that ``reporter`` can see now may be reported (``NotReportable``
    otherwise); ``reason`` must be a ``RemixReport.Reason`` (``InvalidReason``). A second report
    by the same person while their first is still open returns the first one (``created`` False),
    also under a concurrent double submit (the open-report unique constraint decides).
    Audited as ``report.filed``.
    """
    if reason not in RemixReport.Reason.values:
        raise InvalidReason(reason)
    if comment.kind != Comment.Kind.REMIX or not social_selectors.comment_is_visible(comment=comment, user=reporter):
        raise NotReportable()
    result = RemixResult.objects.select_related("job").filter(comment_id=comment.pk).first()
    if result is None:
        raise NotReportable()
    job = result.job
    existing = RemixReport.objects.filter(job_ref=job.pk, reporter=reporter, status=RemixReport.Status.OPEN).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            report = RemixReport.objects.create(
                job=job,
                job_ref=job.pk,
                comment_ref=comment.pk,
                post_ref=comment.post_id,
                reporter=reporter,
                reason=reason,
                text=text.strip()[:1000],
            )
            audit.record(
                audit.Action.REPORT_FILED,
                actor=reporter,
                subject=comment.author,
                post=comment.post_id,
                job=job,
                comment=comment,
                category=reason,
                summary=f"Report on remix job {job.pk}: {report.get_reason_display()}",
                detail={"report": report.pk, "reason": reason, "text": report.text},
            )
    except IntegrityError:  # a concurrent identical submit won the race
        return RemixReport.objects.get(job_ref=job.pk, reporter=reporter, status=RemixReport.Status.OPEN), False
    logger.info("report %s filed on remix job %s (%s)", report.pk, job.pk, reason)
    return report, True


def report_dismiss(*, report: RemixReport, moderator: User) -> RemixReport:
    """Close an open report without action. Idempotent: a report no longer open is returned as it is.
    Audited as ``report.dismissed``."""
    with transaction.atomic():
        locked = RemixReport.objects.select_for_update().get(pk=report.pk)
        if locked.status != RemixReport.Status.OPEN:
            return locked
        locked.status = RemixReport.Status.DISMISSED
        locked.resolved_at = timezone.now()
        locked.resolved_by = moderator
        locked.save(update_fields=["status", "resolved_at", "resolved_by"])
        audit.record(
            audit.Action.REPORT_DISMISSED,
            actor=moderator,
            post=locked.post_ref,
            job=locked.job_ref,
            comment=locked.comment_ref,
            category=locked.reason,
            summary=f"Report {locked.pk} on remix job {locked.job_ref} dismissed",
            detail={"report": locked.pk, "reason": locked.reason},
        )
    return locked


def job_storage_paths(job: RemixJob) -> list[str]:
    """Every storage path written for this job: today the worker writes one file per job, the
    result image (``remix.worker.attach``). A step that stores more per job must add it here so a
    takedown deletes it too."""
    paths = list(RemixResult.objects.filter(job=job).values_list("image", flat=True))
    return [p for p in paths if p]


@dataclass
class Takedown:
    """What ``remix_takedown`` did. ``seconds`` (takedown call → every file gone) and ``files_gone``
    are filled in once the transaction has committed and the files were deleted."""

    job: RemixJob
    paths: list[str]
    comment_ref: int | None
    reports_resolved: int
    notified: bool
    already_taken_down: bool
    seconds: float | None = None
    files_gone: bool | None = None
    failed: list[str] = field(default_factory=list)


def remix_takedown(*, job: RemixJob, moderator: User, reason_text: str, report: RemixReport | None = None) -> Takedown:
    """Take a remix down: delete its comment and result, every stored file of it, mark the job
    (``taken_down_at``, error ``taken_down``), resolve every open report on it, notify the
    requester, and audit ``takedown``.

    Rows change in one transaction (locks in the consent order: creator settings, post, job, so an
    attach or a consent change cannot interleave). The files are deleted synchronously right after
    it commits; then each path is checked with ``storage.exists`` and the audit event records the
    paths and the seconds from this call to the files being gone. Called inside an outer
    transaction, that happens when the outermost one commits. Repeating a takedown only resolves
    reports still open.
    """
    started = time.monotonic()
    if report is not None and report.job_ref != job.pk:
        raise ValueError("the report is about another remix")
    with transaction.atomic():
        post = Post.objects.select_related("author").get(pk=job.post_id)
        consent.lock_creator(post.author)  # lock 1
        Post.objects.select_for_update().filter(pk=post.pk).first()  # lock 2
        job = RemixJob.objects.select_for_update().select_related("requester").get(pk=job.pk)  # lock 3
        already = job.taken_down_at is not None
        paths = job_storage_paths(job)
        result = RemixResult.objects.filter(job=job).first()
        comment_ref = result.comment_id if result is not None else None
        if comment_ref is not None:
            # Cascades to the result (whose own cleanup also schedules its file's deletion on commit).
            Comment.objects.filter(pk=comment_ref).delete()
        now = timezone.now()
        if not already:
            RemixJob.objects.filter(pk=job.pk).update(
                taken_down_at=now, error_code=TAKEN_DOWN, error_detail=TAKEN_DOWN_SENTENCE
            )
            job.taken_down_at, job.error_code, job.error_detail = now, TAKEN_DOWN, TAKEN_DOWN_SENTENCE
        open_reports = RemixReport.objects.filter(job_ref=job.pk, status=RemixReport.Status.OPEN)
        resolved = open_reports.update(status=RemixReport.Status.TAKEN_DOWN, resolved_at=now, resolved_by=moderator)
        notified = False
        if not already:
            reason = reason_text.strip() or "it breaks the site's rules"
            note = social_services.notify(
                recipient=job.requester,
                kind=Notification.Kind.REMIX_TAKEN_DOWN,
                post=post,
                text=f"Your AI remix of @{post.author.get_username()}'s post was taken down by a moderator: {reason}",
            )
            notified = note is not None
        takedown = Takedown(
            job=job,
            paths=paths,
            comment_ref=comment_ref,
            reports_resolved=resolved,
            notified=notified,
            already_taken_down=already,
        )
        reports = list(RemixReport.objects.filter(job_ref=job.pk).values_list("pk", flat=True))

        def files_then_audit() -> None:
            _delete_files(takedown, started=started)
            audit.record(
                audit.Action.TAKEDOWN,
                actor=moderator,
                subject=job.requester,
                post=post.pk,
                job=job.pk,
                comment=comment_ref,
                category=report.reason if report is not None else "",
                summary=(
                    f"Remix job {job.pk} taken down: {len(paths)} file(s) deleted"
                    + (f" in {takedown.seconds:.3f} s" if takedown.seconds is not None else "")
                ),
                detail={
                    "reason": reason_text,
                    "report": report.pk if report is not None else None,
                    "reports": reports,
                    "reports_resolved": resolved,
                    "storage_paths": paths,
                    "files_gone": takedown.files_gone,
                    "failed": takedown.failed,
                    "seconds_to_files_gone": takedown.seconds,
                    "already_taken_down": already,
                },
            )

        transaction.on_commit(files_then_audit)
    return takedown


def _delete_files(takedown: Takedown, *, started: float) -> None:
    """Delete every path, then prove each is gone; a storage error is recorded, never raised (the
    rows are already committed, and the audit event must still be written)."""
    failed: list[str] = []
    for name in takedown.paths:
        try:
            default_storage.delete(name)
            if default_storage.exists(name):
                failed.append(name)
        except Exception:  # any storage backend's error: logged and recorded
            logger.exception("takedown of remix job %s: could not delete %s", takedown.job.pk, name)
            failed.append(name)
    takedown.seconds = round(time.monotonic() - started, 6)
    takedown.files_gone = not failed
    takedown.failed = failed
    logger.info(
        "remix job %s taken down: %d file(s) gone %.4f s after the takedown began%s",
        takedown.job.pk,
        len(takedown.paths),
        takedown.seconds,
        f"; FAILED: {failed}" if failed else "",
    )
