"""What a GPU worker does with one job id: claim, re-check consent, edit, re-check, attach.

The Celery task (``remix.tasks.run_remix_job``) only calls ``run_job``. Each step works on the
``RemixJob`` row, so the same message delivered twice, a consent change mid-diffusion or the
post's deletion all end in a well-defined state, and a job yields at most one comment.

Dynamic batching: the job a message names leads a batch. The worker claims up to REMIX_MAX_BATCH - 1
queued companions that can share its denoising loop (same bucket, steps and guidance), each by the
same ``claim`` (own token, attempt, lease, consent check), waiting at most REMIX_BATCH_WAIT_MS from the
lead's claim for them to appear. One ``edit_batch`` runs them all with their own prompts and seeds;
the progress callback checks each job every PROGRESS_CHECK_SECONDS (renewing its lease) and drops one that was
cancelled or lost its consent meanwhile. Everything after the model (finish, moderation, provenance,
attach with its consent re-check) is per job, and one job's failure is its own. The companions' own
messages later find them running under a live lease, or terminal, and skip.

Each delivery records wall milliseconds per stage on the job (``RemixJob.timings``, see
``remix.jobs.STAGES``), written in the same update as the final state.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.utils import timezone
from PIL import Image

from socialapp.models import Comment, Post
from socialapp.uploads import MediaRejected, extract_frame

from . import faces, jobs, policy, provenance, review
from .consent import CONSENT_REVOKED, lock_creator
from .memes import draw_meme_text
from .models import RemixJob, RemixResult
from .moderation import face_identity, image_text
from .moderation.images import check_image
from .pipeline import EditInterrupted, EditResult, ModelUnavailable, RemixPipeline, get_pipeline
from .policy import DENIAL_SENTENCES, remix_denied_reason

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    HELD = "held"  # attached, but hidden until a moderator approves it (output moderation)
    SKIPPED = "skipped"  # terminal, held, or running under another worker's live lease
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # cancelled (or taken away) while the model ran
    GONE = "gone"  # the job or its post was deleted


class StageTimer:
    """Wall milliseconds per stage of one job's delivery (``time.perf_counter``: costs microseconds per stage)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ms: dict[str, float] = {}
        self.batch: list[int] = []
        self._open: tuple[str, float] | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self._open = (name, started)
        try:
            yield
        finally:
            self._open = None
            self.add(name, (time.perf_counter() - started) * 1000)

    def add(self, name: str, ms: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + ms

    def as_dict(self) -> dict[str, Any]:
        """What ``RemixJob.timings`` holds: the stages so far (a stage still open counts up to now), ``total``,
        ``outside_model``, and the batch (``batch_size``, ``batch``: its job ids) once there is one."""
        now = time.perf_counter()
        ms = dict(self.ms)
        if self._open is not None:
            name, started = self._open
            ms[name] = ms.get(name, 0.0) + (now - started) * 1000
        total = (now - self.started) * 1000
        out: dict[str, Any] = {name: round(value, 2) for name, value in ms.items()}
        out["total"] = round(total, 2)
        out["outside_model"] = round(total - ms.get("model", 0.0) - ms.get("batch_wait", 0.0), 2)
        if self.batch:
            out["batch_size"], out["batch"] = len(self.batch), list(self.batch)
        return out


def _cancel_for_consent(job: RemixJob, reason: str, *, record: dict[str, Any] | None = None) -> None:
    job.status = RemixJob.Status.CANCELLED
    job.error_code = CONSENT_REVOKED
    job.error_detail = DENIAL_SENTENCES.get(reason, "The creator no longer allows this remix.")  # type: ignore[call-overload]
    job.finished_at = timezone.now()
    job.lease_expires_at = None
    for name, value in (record or {}).items():
        setattr(job, name, value)
    job.save(update_fields=["status", "error_code", "error_detail", "finished_at", "lease_expires_at", *(record or {})])


def claim(job_id: int, *, skip_locked: bool = False) -> tuple[RemixJob, str] | Outcome:
    """Lock the row and take it: ``(job, claim_token)``, or the reason nothing is to be done.

    ``skip_locked`` (a batch taking companions): a row another transaction holds is passed over
    (``SKIPPED``) instead of waited for. On SQLite, IMMEDIATE transactions serialize claims instead.
    """
    with transaction.atomic():
        # Only the job's row is locked (``of``): its post and users are read, as consent changes lock them.
        job = (
            RemixJob.objects.select_for_update(skip_locked=skip_locked, of=("self",))
            .select_related("post__author", "requester")
            .filter(pk=job_id)
            .first()
        )
        if job is None:
            return Outcome.SKIPPED if skip_locked else Outcome.GONE
        now = timezone.now()
        if job.is_terminal or job.status == RemixJob.Status.HELD:
            return Outcome.SKIPPED  # a redelivered message of a finished job: harmless
        if (
            job.status == RemixJob.Status.RUNNING
            and job.lease_expires_at
            and job.lease_expires_at > now
            and not jobs.holder_gone(job.claimed_by)
        ):
            return Outcome.SKIPPED  # another worker holds a live lease; the sweeper steps in if it dies
        if job.attempts >= settings.REMIX_MAX_DELIVERIES:
            job.status, job.finished_at, job.lease_expires_at = RemixJob.Status.FAILED, now, None
            job.error_code = "too_many_attempts"
            job.error_detail = f"The remix stopped its worker {job.attempts} times; it will not be tried again."
            job.save()
            return Outcome.FAILED
        reason = remix_denied_reason(viewer=job.requester, post=job.post)
        if reason is not None:
            _cancel_for_consent(job, reason)
            return Outcome.CANCELLED
        job.status = RemixJob.Status.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or now
        job.claim_token = jobs.new_claim_token()
        job.claimed_by = jobs.holder_id()
        job.lease_expires_at = jobs.lease_until()
        job.progress = 0.0
        job.save()
        return job, job.claim_token


def load_source(job: RemixJob) -> Image.Image:
    """The still to edit: the video frame at ``frame_time`` (default the poster frame) or the photo."""
    post = job.post
    name = str(post.media.name)
    with default_storage.open(name, "rb") as stored:
        if post.media_type == Post.MediaType.IMAGE:
            with Image.open(stored) as image:
                return image.convert("RGB")
        try:  # PyAV wants a path: local storage has one, remote storage is copied to a temp file first
            return extract_frame(default_storage.path(name), at=job.frame_time)
        except NotImplementedError:
            pass
        with tempfile.NamedTemporaryFile(suffix=Path(name).suffix, dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
            for chunk in stored.chunks():
                tmp.write(chunk)
            tmp.flush()
            return extract_frame(tmp.name, at=job.frame_time)


def finish_image(
    image: Image.Image,
    *,
    meme_text: str,
    source: Image.Image | None = None,
    protected_faces: list[faces.Box] | None = None,
) -> Image.Image:
    """The image people see: at least REMIX_OUTPUT_MIN_SIDE on its long side, ``protected_faces`` (boxes on
    ``source``) restored from ``source`` at that final size, then meme text drawn on top of everything."""
    image = image.convert("RGB")
    long_side = max(image.size)
    if long_side < settings.REMIX_OUTPUT_MIN_SIDE:
        scale = settings.REMIX_OUTPUT_MIN_SIDE / long_side
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    if protected_faces and source is not None:
        image = faces.protect_faces(image, source, protected_faces)
    if meme_text:
        image = draw_meme_text(image, meme_text)
    return image


def remix_facts(
    job: RemixJob, *, model_id: str, model_revision: str, protected_faces: int = 0
) -> provenance.RemixFacts:
    """What the signed manifest says about this remix: its job, its model, its source post and frame, and how
    many faces face protection restored."""
    post = job.post
    frame = f", frame at {job.frame_time:g} s" if job.frame_time is not None else ""
    return provenance.RemixFacts(
        job_id=job.pk,
        model_id=model_id,
        model_revision=model_revision,
        source_post_url=f"{settings.SITE_URL.rstrip('/')}/p/{post.pk}/",
        source_title=f"Post {post.pk} by @{post.author.username}{frame}",
        prompt=job.prompt,
        protected_faces=protected_faces,
        source_digital_source_type=(post.ai_info or {}).get("digital_source_type"),
    )


def attach(
    job_id: int,
    *,
    claim_token: str,
    image: bytes,
    width: int,
    height: int,
    hold: bool = False,
    record: dict[str, Any] | None = None,
    timer: StageTimer | None = None,
) -> Outcome:
    """Re-check consent under the toggles' locks and attach the labelled comment, exactly once.

    ``hold``: output moderation wants a person to look first. The comment and result are attached the
    same way but the job goes to ``held``, where nobody sees them (remix comments show only for
    succeeded jobs) and the creator hears nothing until a moderator approves it (``remix.review``).
    ``record`` (fields of the row: parameters, moderation, ...) and ``timer``'s timings are written in
    the same update as the final state (succeeded, held, or cancelled for consent).
    """
    name = default_storage.save(f"remixes/{secrets.token_urlsafe(16)}.jpg", ContentFile(image))
    try:
        with transaction.atomic():
            job = RemixJob.objects.select_related("post__author").filter(pk=job_id).first()
            if job is None:
                return Outcome.GONE
            lock_creator(job.post.author)  # lock 1, as consent changes take it
            post = Post.objects.select_for_update().filter(pk=job.post_id).first()  # lock 2
            if post is None:
                return Outcome.GONE
            job = RemixJob.objects.select_for_update().select_related("requester").get(pk=job_id)  # lock 3
            if job.status != RemixJob.Status.RUNNING or job.claim_token != claim_token:
                return Outcome.INTERRUPTED
            reason = remix_denied_reason(viewer=job.requester, post=post)
            if reason is not None:
                _cancel_for_consent(job, reason, record=_with_timings(record, timer))
                return Outcome.CANCELLED
            comment = Comment.objects.create(post=post, author=job.requester, kind=Comment.Kind.REMIX, text=job.prompt)
            # RemixResult.job is unique: a second attach of the same job fails here and rolls back.
            RemixResult.objects.create(job=job, comment=comment, image=name, width=width, height=height)
            job.status, job.progress, job.finished_at, job.lease_expires_at = (
                RemixJob.Status.HELD if hold else RemixJob.Status.SUCCEEDED,
                1.0,
                timezone.now(),
                None,
            )
            # The timings go in this very update, so ``attach`` is measured up to it (not its commit).
            extra = _with_timings(record, timer)
            for field_name, value in extra.items():
                setattr(job, field_name, value)
            job.save(update_fields=["status", "progress", "finished_at", "lease_expires_at", *extra])
            review.output_reviewed(job=job, post=post, comment=comment, held=hold)
            name = ""  # kept: it belongs to the comment now
            return Outcome.HELD if hold else Outcome.SUCCEEDED
    finally:
        if name:
            default_storage.delete(name)


def _with_timings(record: dict[str, Any] | None, timer: StageTimer | None) -> dict[str, Any]:
    return {**(record or {}), **({"timings": timer.as_dict()} if timer is not None else {})}


def moderate_output(image: Image.Image, source: Image.Image | None = None) -> tuple[dict[str, Any], bool]:
    """What output moderation says about the finished image (stored on the job) and whether to hold it: nudity
    (NudeNet), a face that matches no face of the source (a face swap, an inserted person), and text in the image
    read by OCR and checked like a prompt. Any one holds it; so does ``REMIX_HOLD_ALL_FOR_REVIEW``."""
    verdict = check_image(image)
    identity = face_identity.identity_check(source, image) if source is not None else None
    text = image_text.check_image_text(image)
    reasons = [
        name
        for name, flagged in (
            ("nudity", verdict.flagged),
            ("face_identity", identity is not None and identity.flagged),
            ("text", text.flagged),
        )
        if flagged
    ]
    hold_all = bool(settings.REMIX_HOLD_ALL_FOR_REVIEW)
    record = {
        **verdict.as_dict(),
        "hold_all": hold_all,
        "identity": identity.as_dict() if identity is not None else None,
        "image_text": text.as_dict(),
        "reasons": reasons,
    }
    return record, bool(reasons) or hold_all


# --- one delivery: a batch led by the job the message names ------------------------------------------------------


@dataclass(eq=False)
class _Item:
    """One claimed job of a batch and what the worker has made of it so far."""

    job: RemixJob
    token: str
    timer: StageTimer
    record: dict[str, Any] = field(default_factory=dict)  # row fields written with the final state
    source: Image.Image | None = None
    protected: list[faces.Box] | None = None
    fitted: Image.Image | None = None
    ready_at: float = 0.0  # perf_counter when prepared: from here until the model starts is batch_wait
    live: bool = True  # still ours while the model runs (the progress callback says)
    progress_written_at: float = float("-inf")  # perf_counter of the last progress (and lease) write
    progress_checked_at: float = float("-inf")  # perf_counter of the last look at the row (a write counts)
    outcome: Outcome | None = None

    @property
    def pk(self) -> int:
        return self.job.pk


def batch_key(pipeline: RemixPipeline, *, width: int, height: int) -> tuple[Any, ...]:
    """Jobs with equal keys can share one denoising loop: the bucket the model works at for a source of
    ``width``×``height`` (a post's size; a video's is its frame's), then the steps and guidance (``None``: the
    model's defaults, which every job runs today; a job that chose its own would carry them here)."""
    return (pipeline.bucket_for((max(1, width), max(1, height))), None, None)


# Progress and lease are written at most this often per job (the first step always). Between writes the row is
# read at most every PROGRESS_CHECK_SECONDS, so a cancellation (or a consent change: see jobs.cancel_jobs) stops
# the loop within that time, and a fast GPU (steps of ~15 ms) pays a query every few steps rather than every step.
# Browsers poll every 0.7 s; leases last minutes; attach re-checks consent under the row lock in any case.
PROGRESS_WRITE_SECONDS = 0.5
PROGRESS_CHECK_SECONDS = 0.1
# A companion that appears while the lead waits is seen within this many seconds.
COMPANION_POLL_SECONDS = 0.01


def max_batch() -> int:
    """How many jobs one delivery may run together (REMIX_MAX_BATCH; 1 turns batching off)."""
    return max(1, int(settings.REMIX_MAX_BATCH))


def run_job(job_id: int) -> Outcome:
    """Everything a worker does for one delivery of one job, and of the companions it batches with.
    Never raises for a job's own failure. Returns the outcome of ``job_id``."""
    timer = StageTimer()
    with timer.stage("claim"):
        claimed = claim(job_id)
    if isinstance(claimed, Outcome):
        logger.info("remix job %s: %s at claim", job_id, claimed)
        return claimed
    job, token = claimed
    lead = _Item(job, token, timer)
    batch = [lead]
    try:
        _run_batch(batch)
    except Exception:
        # A bug in a step is the failure (with a code) of the jobs it left unfinished, not a crash loop of
        # redeliveries.
        logger.exception("remix job %s: unexpected error", job_id)
        for item in batch:
            if item.outcome is None:
                _fail(item, code="internal_error", detail="Something went wrong making this remix.")
    for item in batch[1:]:
        logger.info("remix job %s (batched with %s): %s", item.pk, job_id, item.outcome)
    return lead.outcome or Outcome.FAILED


def _fail(item: _Item, *, code: str, detail: str) -> None:
    item.outcome = Outcome.FAILED
    record = {**item.record, "timings": item.timer.as_dict()}
    jobs.fail(item.pk, code=code, detail=detail, claim_token=item.token, record=record)


def _interrupted(item: _Item) -> None:
    """The job was taken from us (cancelled, consent revoked, re-claimed): keep what we measured, if still ours."""
    item.outcome = Outcome.INTERRUPTED
    RemixJob.objects.filter(pk=item.pk, claim_token=item.token).update(**item.record, timings=item.timer.as_dict())


def _run_batch(batch: list[_Item]) -> None:
    lead = batch[0]
    try:
        pipeline = get_pipeline()
    except ModelUnavailable as exc:
        # The detail names paths and hosts of this server: the log's, not the requester's, to read.
        logger.error("remix job %s: the model is unavailable: %s", lead.pk, exc.detail)
        _fail(lead, code="model_unavailable", detail="The remix model is not available right now; try again later.")
        return
    if not _prepare(lead, pipeline):
        return
    limit = max_batch()
    if limit > 1:
        _gather_companions(batch, pipeline, limit=limit)
    ready = [item for item in batch if item.outcome is None]
    batch_ids = [item.pk for item in ready]
    # Normally one group; a video frame whose real size disagrees with its post's lands in a group of its own.
    groups: dict[tuple[int, int], list[_Item]] = {}
    for item in ready:
        item.timer.batch = batch_ids
        assert item.fitted is not None
        groups.setdefault(item.fitted.size, []).append(item)
    for group in groups.values():
        for item, result in zip(group, _edit(group, pipeline), strict=True):
            if item.outcome is not None:
                continue
            if result is None:
                logger.info("remix job %s: stopped mid-diffusion (cancelled or taken over)", item.pk)
                _interrupted(item)
                continue
            try:
                item.outcome = _after_model(item, result, pipeline)
            except SoftTimeLimitExceeded:
                _fail(item, code="timeout", detail="The remix took too long.")
            except Exception:
                logger.exception("remix job %s: unexpected error", item.pk)
                _fail(item, code="internal_error", detail="Something went wrong making this remix.")


def _prepare(item: _Item, pipeline: RemixPipeline) -> bool:
    """Read the source, find protected faces, fit it to the model. False (the job failed) if it could not."""
    job, timer = item.job, item.timer
    try:
        with timer.stage("load_source"):
            item.source = load_source(job)
    except (MediaRejected, OSError) as exc:
        if not RemixJob.objects.filter(pk=job.pk).exists():  # the post (and with it the job) was deleted meanwhile
            item.outcome = Outcome.GONE
            logger.info("remix job %s: its post was deleted while the source was read", job.pk)
            return False
        _fail(item, code="source_unreadable", detail="The post's media could not be read.")
        logger.warning("remix job %s: source unreadable: %r", job.pk, exc)
        return False
    if policy.settings_of(job.post.author).protect_face:
        # Found on the source itself, before the model's resize: the creator's promise covers every face.
        try:
            with timer.stage("faces"):
                item.protected = faces.detect_faces(item.source)
        except Exception:
            logger.exception("remix job %s: face detection failed", job.pk)
            _fail(
                item,
                code="face_protection_failed",
                detail="The creator protects their face, and faces could not be checked.",
            )
            return False
    with timer.stage("fit"):
        item.fitted = pipeline.fit(item.source)
    item.record.update(model_id=pipeline.model_id, model_revision=pipeline.revision)
    item.ready_at = time.perf_counter()
    return True


def _gather_companions(batch: list[_Item], pipeline: RemixPipeline, *, limit: int) -> None:
    """Claim queued jobs that can share the lead's denoising loop, until the batch is full or REMIX_BATCH_WAIT_MS
    from the lead's claim has passed (the lead's own preparation counts toward the wait)."""
    lead = batch[0]
    post = lead.job.post
    key = batch_key(pipeline, width=post.width, height=post.height)
    deadline = lead.timer.started + max(0, int(settings.REMIX_BATCH_WAIT_MS)) / 1000
    passed_over: set[int] = {lead.pk}
    while True:
        wanted = limit - len([item for item in batch if item.outcome is None])
        for job_id in _compatible_queued(pipeline, key, exclude=passed_over, count=wanted):
            passed_over.add(job_id)
            timer = StageTimer()
            with timer.stage("claim"):
                claimed = claim(job_id, skip_locked=True)
            if isinstance(claimed, Outcome):
                continue  # taken by another worker, cancelled for consent, or out of attempts: not ours
            item = _Item(claimed[0], claimed[1], timer)
            batch.append(item)
            _prepare(item, pipeline)
        full = len([item for item in batch if item.outcome is None]) >= limit
        remaining = deadline - time.perf_counter()
        if full or remaining <= 0:
            return
        # Companions appear as requests commit; polling one indexed query every few ms is cheap.
        time.sleep(min(remaining, COMPANION_POLL_SECONDS))


def _compatible_queued(pipeline: RemixPipeline, key: tuple[Any, ...], *, exclude: set[int], count: int) -> list[int]:
    """Up to ``count`` queued jobs (oldest first) whose key is ``key``. Read without locks: ``claim`` decides."""
    if count <= 0:
        return []
    # The key is computed from the post's size, so look at a window of the queue's head, not all of it.
    rows = (
        RemixJob.objects.filter(status=RemixJob.Status.QUEUED)
        .exclude(pk__in=exclude)
        .order_by("created_at", "pk")
        .values_list("pk", "post__width", "post__height")[: max(32, 8 * count)]
    )
    found = [pk for pk, width, height in rows if batch_key(pipeline, width=width, height=height) == key]
    return found[:count]


def _edit(group: list[_Item], pipeline: RemixPipeline) -> list[EditResult | None]:
    """Run the model once for the group: a result per job, ``None`` for a job dropped on the way (cancelled,
    taken over) or failed here. Each job's row is read at most every PROGRESS_CHECK_SECONDS (at a step), and its
    progress and lease written every PROGRESS_WRITE_SECONDS."""
    model_started = time.perf_counter()
    for item in group:
        item.timer.add("batch_wait", (model_started - item.ready_at) * 1000)
    callbacks = 0.0

    def on_progress(fraction: float) -> list[bool]:
        nonlocal callbacks
        started = time.perf_counter()
        for item in group:
            if item.live:
                write = started - item.progress_written_at >= PROGRESS_WRITE_SECONDS
                if not write and started - item.progress_checked_at < PROGRESS_CHECK_SECONDS:
                    continue
                item.live = jobs.report_progress(item.pk, claim_token=item.token, fraction=fraction * 0.95, write=write)
                item.progress_checked_at = started
                if write:
                    item.progress_written_at = started
        callbacks += time.perf_counter() - started
        return [item.live for item in group]

    results: list[EditResult | None]
    try:
        results = pipeline.edit_batch(
            [item.fitted for item in group if item.fitted is not None],
            prompts=[item.job.prompt for item in group],
            seeds=[item.job.seed for item in group],
            on_progress=on_progress,
        )
    except EditInterrupted:
        results = [None] * len(group)
    except SoftTimeLimitExceeded:
        _model_time(group, model_started, callbacks)
        for item in group:
            _fail(item, code="timeout", detail="The remix took too long.")
        return [None] * len(group)
    except DatabaseError:
        # The database went away mid-diffusion (a progress check failed): not the model's fault, and nothing can be
        # recorded now. The task fails; the jobs stay running until their lease runs out, then the sweeper
        # sends them again.
        raise
    except Exception as exc:  # a model error is the batch's failure, not the worker's
        logger.exception("remix jobs %s: the pipeline failed", [item.pk for item in group])
        _model_time(group, model_started, callbacks)
        for item in group:
            _fail(item, code="model_error", detail=f"The model failed: {exc.__class__.__name__}.")
        return [None] * len(group)
    _model_time(group, model_started, callbacks)
    return results


def _model_time(group: list[_Item], started: float, callbacks: float) -> None:
    wall = (time.perf_counter() - started) * 1000
    for item in group:
        item.timer.add("model", wall - callbacks * 1000)
        item.timer.add("progress", callbacks * 1000)


def _after_model(item: _Item, result: EditResult, pipeline: RemixPipeline) -> Outcome:
    """Finish, moderate, sign and attach one job's edit."""
    job, timer, source = item.job, item.timer, item.source
    assert source is not None
    # batch_size: what the model ran (a compiled model pads a batch up to a warmed size); the jobs: timings.
    params = {**result.params, "source_size": list(source.size), "batch_size": result.batch_size}
    if item.protected is not None:
        params["protected_faces"] = len(item.protected)
    item.record.update(model_seconds=result.model_seconds, params=params)
    with timer.stage("finish"):
        image = finish_image(result.image, meme_text=job.meme_text, source=source, protected_faces=item.protected)
    facts = remix_facts(
        job, model_id=pipeline.model_id, model_revision=pipeline.revision, protected_faces=len(item.protected or [])
    )
    # Output moderation on exactly the pixels people would see (faces restored, meme text drawn).
    with timer.stage("moderation"):
        moderation, hold = moderate_output(image, source)
    item.record["moderation"] = moderation
    try:
        # Watermark, IPTC source type and a signed C2PA manifest: never published without them.
        with timer.stage("provenance"):
            signed = provenance.sign_remix(image=image, source=source, facts=facts)
    except provenance.ProvenanceUnavailable as exc:
        logger.error("remix job %s: no signing identity: %s", job.pk, exc.detail)  # it names files of this server
        _fail(item, code="provenance_unavailable", detail="The remix could not be signed, so it was not published.")
        return Outcome.FAILED
    with timer.stage("attach"):
        outcome = attach(
            job.pk,
            claim_token=item.token,
            image=signed,
            width=image.width,
            height=image.height,
            hold=hold,
            record=item.record,
            timer=timer,
        )
    if outcome is Outcome.INTERRUPTED:
        _interrupted(item)
    logger.info("remix job %s: %s (model %.2f s, batch of %d)", job.pk, outcome, result.model_seconds, len(timer.batch))
    return outcome
