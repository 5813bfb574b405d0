"""Remix jobs: creating, cancelling, and every status transition of the ``RemixJob`` row.

The status machine: ``queued → running → succeeded | failed | cancelled | rejected | held``.
Terminal states never change (``held`` is resolved by a moderator). Every transition here is a
conditional update or happens under the row's lock, so a redelivered message, a sweeper and a
consent change can race without breaking it.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from socialapp.models import Post, User
from socialapp.throttling import retry_sentence

from .memes import MemeTextInvalid, parse_meme_text
from .models import CreatorSettings, RemixJob
from .policy import Denial, remix_denied_reason

logger = logging.getLogger(__name__)

MAX_PROMPT = 500


class RemixNotAllowed(Exception):
    def __init__(self, reason: Denial) -> None:
        super().__init__(reason)
        self.reason = reason


class RemixRequestInvalid(Exception):
    """Bad input: ``.field`` and ``.detail`` say what and why."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


class PromptRejected(Exception):
    """Prompt moderation refused the prompt (or meme text): ``category`` and a ``sentence`` for people."""

    def __init__(self, category: str, sentence: str, field: str = "prompt") -> None:
        super().__init__(category)
        self.category = category
        self.sentence = sentence
        self.field = field


class RateLimited(Exception):
    """A quota is used up: ``limit`` says which (``hourly``, ``user_daily``, ``post_daily``)."""

    def __init__(self, retry_after: int, limit: str = "hourly") -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after
        self.limit = limit


class AccountTooNew(Exception):
    """The requester's account is younger than REMIX_MIN_ACCOUNT_AGE_SECONDS; ``retry_after`` says for how long."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    @property
    def sentence(self) -> str:
        wait = retry_sentence(self.retry_after)
        return f"New accounts can remix other people's posts after a while: try again in {wait}."


class QueueFull(Exception):
    """Too many jobs are waiting site-wide (REMIX_QUEUE_MAX): the request is refused, not queued."""

    retry_after = 30


class CannotCancel(Exception):
    pass


@dataclass(frozen=True)
class JobRequest:
    prompt: str
    frame_time: float | None = None
    meme_text: str = ""
    seed: int | None = None
    client_request_id: str | None = None


@dataclass(frozen=True)
class _ValidRequest:
    prompt: str
    frame_time: float | None
    meme_text: str
    seed: int
    client_request_id: str | None


def _validate(post: Post, request: JobRequest) -> _ValidRequest:
    prompt = " ".join(request.prompt.split())
    if not 1 <= len(prompt) <= MAX_PROMPT:
        raise RemixRequestInvalid("prompt", f"Describe the edit in 1 to {MAX_PROMPT} characters.")
    frame_time = request.frame_time
    if frame_time is not None:
        if post.media_type != Post.MediaType.VIDEO:
            raise RemixRequestInvalid("frame_time", "Only videos have frames to choose from.")
        if not 0 <= frame_time <= (post.duration or 0):
            raise RemixRequestInvalid("frame_time", f"Choose a time between 0 and {post.duration or 0:.1f} seconds.")
    try:
        top, bottom = parse_meme_text(request.meme_text or "")
    except MemeTextInvalid as exc:
        raise RemixRequestInvalid("meme_text", exc.detail) from None
    meme_text = f"{top}|{bottom}" if bottom else top
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    if not 0 <= seed < 2**63:
        raise RemixRequestInvalid("seed", "The seed must be a non-negative 63-bit integer.")
    return _ValidRequest(prompt, frame_time, meme_text, seed, request.client_request_id or None)


def remix_job_create(*, post: Post, requester: User, request: JobRequest) -> tuple[RemixJob, bool]:
    """Validate, check consent, moderate the prompt and meme text, check the requester's quota, create
    the job and enqueue it on commit.

    Returns ``(job, created)``; a repeated ``client_request_id`` returns the first job unchanged
    (``created`` False). Raises ``RemixRequestInvalid``, ``RemixNotAllowed``, ``PromptRejected``
    (recorded in the audit log; no job), ``AccountTooNew`` (a throwaway account: younger than
    REMIX_MIN_ACCOUNT_AGE_SECONDS, except on its own posts), ``RateLimited`` (hourly and daily per-user caps,
    daily per-post cap) or ``QueueFull`` (site-wide queue depth). The per-user and per-post caps are exact
    under concurrency: those rows are locked while counting. An allowed prompt is recorded in the
    audit log with the job it became, in the job's transaction. The idempotency key is the requester's per post.
    """
    from .moderation import prompts  # it imports this module (PromptRejected)

    if request.client_request_id:
        existing = _same_request(post=post, requester=requester, key=request.client_request_id)
        if existing is not None:
            return existing, False
    valid = _validate(post, request)
    reason = remix_denied_reason(viewer=requester, post=post)
    if reason is not None:
        raise RemixNotAllowed(reason)
    _check_account_age(post=post, requester=requester)
    verdict = prompts.moderate_request(prompt=valid.prompt, meme_text=valid.meme_text, requester=requester, post=post)
    try:
        with transaction.atomic():
            # Serialize this requester's requests, then this post's: the counts and the insert see
            # the same world. (Consent changes lock creator settings → post; nothing locks a post and
            # then a user, so this order cannot deadlock with them.)
            # Lock 1 first, as consent changes and attach take it (without creating it: no row, no change).
            CreatorSettings.objects.select_for_update().filter(user_id=post.author_id).first()
            User.objects.select_for_update().filter(pk=requester.pk).first()
            locked = Post.objects.select_for_update().filter(pk=post.pk).first()
            # Again, under the locks: a consent change committed since the check above is seen here.
            reason = remix_denied_reason(viewer=requester, post=locked) if locked is not None else Denial.POST_DISABLED
            if reason is not None:
                raise RemixNotAllowed(reason)
            _check_quotas(post=post, requester=requester)
            job = RemixJob.objects.create(
                post=post,
                requester=requester,
                prompt=valid.prompt,
                meme_text=valid.meme_text,
                frame_time=valid.frame_time,
                seed=valid.seed,
                client_request_id=valid.client_request_id,
                **(
                    {"status": RemixJob.Status.HELD, "moderation": {"stage": "prompt", **verdict.as_dict()}}
                    if verdict.held
                    else {"enqueued_at": timezone.now()}
                ),
            )
            if verdict.held:
                # Not enqueued: a moderator's approval queues it (remix.review.held_remix_approve).
                prompts.record_prompt_held(job=job, requester=requester, post=post, verdict=verdict)
            else:
                prompts.record_prompt_allowed(job=job, requester=requester, post=post)
                transaction.on_commit(functools.partial(enqueue, job.pk), robust=True)
    except IntegrityError:
        # A concurrent retry with the same client_request_id won the insert: answer with its job.
        existing = _same_request(post=post, requester=requester, key=request.client_request_id)
        if existing is None:
            raise
        return existing, False
    logger.info("remix job %s %s: post %s by user %s", job.pk, job.status, post.pk, requester.pk)
    return job, True


def _same_request(*, post: Post, requester: User, key: str | None) -> RemixJob | None:
    if not key:
        return None
    return RemixJob.objects.filter(requester=requester, post=post, client_request_id=key).first()


def _check_account_age(*, post: Post, requester: User) -> None:
    """Throwaway accounts wait before they may remix others' posts: a fresh account cannot step around a block
    or spend a post's daily cap. A creator may always remix their own post."""
    if requester.pk == post.author_id:
        return
    minimum = timedelta(seconds=max(0, int(settings.REMIX_MIN_ACCOUNT_AGE_SECONDS)))
    old_enough_at = requester.date_joined + minimum
    if old_enough_at > timezone.now():
        raise AccountTooNew(_retry_after(requester.date_joined, minimum))


def _retry_after(created: datetime | None, window: timedelta) -> int:
    return max(int(((created or timezone.now()) + window - timezone.now()).total_seconds()) + 1, 1)


def _check_quotas(*, post: Post, requester: User) -> None:
    """Raise ``RateLimited`` or ``QueueFull`` when a cap is reached. Call with the requester and post locked."""
    now = timezone.now()
    day = timedelta(days=1)
    caps = [
        (
            "hourly",
            RemixJob.objects.filter(requester=requester),
            settings.REMIX_RATE_LIMIT,
            timedelta(seconds=settings.REMIX_RATE_WINDOW_SECONDS),
        ),
        ("user_daily", RemixJob.objects.filter(requester=requester), settings.REMIX_USER_DAILY_LIMIT, day),
    ]
    if requester.pk != post.author_id:
        # The post's cap is shared by everyone else, so it counts only remixes that were made or are on their way:
        # requests cancelled or refused by a moderator cost the GPU little and must not let a few accounts use the
        # cap up for all. The creator's own requests neither count toward it nor are held to it.
        spent = RemixJob.objects.filter(post=post).exclude(requester_id=post.author_id)
        spent = spent.exclude(status__in=[RemixJob.Status.CANCELLED, RemixJob.Status.REJECTED])
        caps.append(("post_daily", spent, settings.REMIX_POST_DAILY_LIMIT, day))
    for limit, jobs, cap, window in caps:
        recent = jobs.filter(created_at__gte=now - window)
        if recent.count() >= cap:
            oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
            raise RateLimited(_retry_after(oldest, window), limit=limit)
    # Site-wide and unlocked: a bound on the queue's depth, exact to within concurrent requests.
    if RemixJob.objects.filter(status=RemixJob.Status.QUEUED).count() >= settings.REMIX_QUEUE_MAX:
        raise QueueFull


def _cancel_active(jobs: QuerySet[RemixJob], *, code: str, detail: str) -> int:
    """Cancel the queued or running jobs among ``jobs`` (a conditional update: a job that finished meanwhile is left
    as it is); how many. A running job notices at its next progress check and stops."""
    return jobs.filter(status__in=RemixJob.ACTIVE).update(
        status=RemixJob.Status.CANCELLED,
        error_code=code,
        error_detail=detail,
        finished_at=timezone.now(),
        lease_expires_at=None,
    )


def remix_job_cancel_by_moderator(*, job: RemixJob, moderator: User) -> bool:
    """A moderator stops a queued or running job (admin). False when it was no longer active. Audited."""
    from . import audit

    updated = _cancel_active(
        RemixJob.objects.filter(pk=job.pk), code="cancelled_by_moderator", detail="Cancelled by a moderator."
    )
    if updated:
        audit.record(
            audit.Action.JOB_CANCELLED,
            actor=moderator,
            subject=job.requester,
            post=job.post_id,
            job=job,
            summary=f"Remix job {job.pk} cancelled by @{moderator.get_username()}",
        )
    return bool(updated)


def remix_job_rerun(*, job: RemixJob, moderator: User) -> RemixJob:
    """A new job with ``job``'s parameters, in the original requester's name, only if that requester may ask for it
    now: ``remix_job_create``'s checks (consent, account, prompt moderation, quotas) decide, and raise as for the
    requester. Audited as ``job.rerun`` with the new job."""
    from . import audit

    new_job, _ = remix_job_create(
        post=job.post,
        requester=job.requester,
        request=JobRequest(prompt=job.prompt, frame_time=job.frame_time, meme_text=job.meme_text, seed=job.seed),
    )
    audit.record(
        audit.Action.JOB_RERUN,
        actor=moderator,
        subject=job.requester,
        post=job.post_id,
        job=new_job,
        summary=f"Remix job {job.pk} re-run by @{moderator.get_username()} as job {new_job.pk}",
        detail={"original_job": job.pk},
    )
    return new_job


def cancel_requested_by(*, requester: User) -> int:
    """Cancel every queued or running job ``requester`` asked for (their account was deactivated)."""
    return _cancel_active(
        RemixJob.objects.filter(requester=requester),
        code="account_deactivated",
        detail="The account that asked for this remix was deactivated.",
    )


def remix_job_cancel(*, job: RemixJob, actor: User) -> RemixJob:
    """Cancel a queued or running job; the requester or the post's creator may. Idempotent on cancelled."""
    if actor.pk not in (job.requester_id, job.post.author_id):
        raise PermissionError
    updated = _cancel_active(
        RemixJob.objects.filter(pk=job.pk),
        code="cancelled_by_user",
        detail="Cancelled by the requester." if actor.pk == job.requester_id else "Cancelled by the creator.",
    )
    job.refresh_from_db()
    if not updated and job.status != RemixJob.Status.CANCELLED:
        raise CannotCancel(job.status)
    return job


# The stages of ``RemixJob.timings`` (milliseconds, wall clock) in the order a job goes through them, as the worker
# records them and the admin shows them.
STAGES = {
    "claim": "lock the row, check attempts and consent, take the lease",
    "load_source": "read the photo or extract the video frame",
    "faces": "find the faces to protect (creators who protect their face)",
    "fit": "resize the still to the model's working size",
    "batch_wait": "ready, waiting for the batch to form (companions, REMIX_BATCH_WAIT_MS)",
    "model": "the denoising loop (shared by the batch), without the progress callbacks",
    "progress": "the progress callbacks during the loop: each step checks every job, writes progress and lease",
    "finish": "scale up, restore protected faces, draw meme text",
    "moderation": "the nudity detector on the finished image",
    "provenance": "watermark, IPTC label, C2PA manifest signing, JPEG encoding",
    "attach": "store the file; under the consent locks re-check and write comment, result and job",
    "total": "the job's wall time in this delivery, from its claim to its final write",
    "outside_model": "total - model - batch_wait: what this job cost around the model",
}


# --- transitions used by the worker ---------------------------------------------------------------


def lease_until() -> datetime:
    return timezone.now() + timedelta(seconds=settings.REMIX_JOB_LEASE_SECONDS)


def new_claim_token() -> str:
    return uuid.uuid4().hex


def fail(
    job_id: int, *, code: str, detail: str, claim_token: str | None = None, record: dict[str, Any] | None = None
) -> bool:
    """Mark a non-terminal job failed with a stable error; False if it was already terminal (or re-claimed).

    ``record``: more of the row's fields to write in the same update (the worker's timings, parameters, ...).
    """
    jobs = RemixJob.objects.filter(pk=job_id).exclude(status__in=RemixJob.TERMINAL)
    if claim_token is not None:
        jobs = jobs.filter(claim_token=claim_token)
    updated = jobs.update(
        **(record or {}),
        status=RemixJob.Status.FAILED,
        error_code=code,
        error_detail=detail[:500],
        finished_at=timezone.now(),
        lease_expires_at=None,
    )
    if updated:
        logger.warning("remix job %s failed: %s (%s)", job_id, code, detail)
    return bool(updated)


def report_progress(job_id: int, *, claim_token: str, fraction: float, write: bool = True) -> bool:
    """Record progress and renew the lease; False when the job is no longer ours to run
    (cancelled, deleted with its post, or taken over after our lease expired).

    ``write=False`` only checks that the job is still ours (a read): the worker looks every 0.1 s, so a
    cancellation stops the diffusion at once, but writes a few times a second (a commit costs more).
    """
    ours = RemixJob.objects.filter(pk=job_id, status=RemixJob.Status.RUNNING, claim_token=claim_token)
    if not write:
        return ours.exists()
    return bool(ours.update(progress=min(max(fraction, 0.0), 1.0), lease_expires_at=lease_until()))


def enqueue(job_id: int) -> bool:
    """Send the job's message (after the commit that created it: a rolled-back request sends nothing). False when
    the broker could not be reached (after CELERY_TASK_PUBLISH_RETRY_POLICY's few quick tries): the row is committed
    and stays queued, and the sweeper sends it again after REMIX_REQUEUE_AFTER_SECONDS, so a request neither hangs
    nor fails after its job was accepted because the broker is restarting."""
    from .tasks import run_remix_job

    try:
        run_remix_job.delay(job_id)
    except Exception as exc:  # kombu/redis raise many types for a broker that is down
        logger.warning("remix job %s: the broker did not take its message (%r); the sweeper resends it", job_id, exc)
        return False
    return True


def requeue(job_ids: list[int]) -> int:
    """Send the jobs' messages again (the sweeper's recovery); the rows decide what happens."""
    for job_id in job_ids:
        RemixJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
        enqueue(job_id)
    return len(job_ids)


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux ``/proc``), so a reused pid is not mistaken for
    the process that held a claim; "" where there is no ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2 :].split()[19]  # field 22 (starttime), after "pid (comm) "


def holder_id() -> str:
    """Who is claiming: ``host:pid:process start:thread``, stored on the job as ``claimed_by``."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}:{threading.get_ident()}"


def holder_gone(claimed_by: str) -> bool:
    """Whether the worker that holds a claim is certainly not running the job any more, so a redelivered message
    may take it over before the lease runs out: a pool process killed on this host (Celery redelivers its message
    at once: reject_on_worker_lost), or this very thread (which is here, claiming, so not running it). A holder on
    another host cannot be seen from here: its lease (and the sweeper) decide."""
    host, _, rest = claimed_by.partition(":")
    pid_text, _, rest = rest.partition(":")
    started, _, thread = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return thread == str(threading.get_ident())
    if started:
        return _process_start(pid) != started  # gone, or the pid now belongs to another process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep_expired(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic sweeper: recover jobs whose worker vanished or whose message was lost.

    - running with an expired lease: failed after REMIX_MAX_DELIVERIES claims, else re-enqueued;
    - queued and not picked up for REMIX_REQUEUE_AFTER_SECONDS (message lost): re-enqueued.
    """
    now = now or timezone.now()
    running = RemixJob.objects.filter(status=RemixJob.Status.RUNNING)
    # A live lease whose holder is seen to be gone (a worker on this host killed, its message stuck unacknowledged
    # in the broker) counts as expired: no need to wait out the lease.
    orphaned = [
        pk for pk, holder in running.filter(lease_expires_at__gte=now).values_list("pk", "claimed_by")
        if holder and holder_gone(holder)
    ]  # fmt: skip
    expired = running.filter(Q(lease_expires_at__lt=now) | Q(pk__in=orphaned))
    exhausted = list(expired.filter(attempts__gte=settings.REMIX_MAX_DELIVERIES).values_list("pk", flat=True))
    for job_id in exhausted:
        fail(job_id, code="worker_lost", detail="The worker running this remix stopped too many times.")
    retry = list(expired.filter(attempts__lt=settings.REMIX_MAX_DELIVERIES).values_list("pk", flat=True))
    stale_before = now - timedelta(seconds=settings.REMIX_REQUEUE_AFTER_SECONDS)
    lost = list(
        RemixJob.objects.filter(status=RemixJob.Status.QUEUED, enqueued_at__lt=stale_before).values_list(
            "pk", flat=True
        )
    )
    requeue(retry + lost)
    return {"failed": len(exhausted), "requeued_running": len(retry), "requeued_queued": len(lost)}
