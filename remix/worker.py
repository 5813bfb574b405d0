"""What a GPU worker does with one job id: claim, re-check consent, edit, re-check, attach.

The Celery task (``remix.tasks.run_remix_job``) only calls ``run_job``. Each step works on the
``RemixJob`` row, so the same message delivered twice, a consent change mid-diffusion or the
post's deletion all end in a well-defined state, and a job yields at most one comment.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image

from socialapp.models import Comment, Post
from socialapp.uploads import MediaRejected, extract_frame

from . import faces, jobs, policy, provenance, review
from .consent import CONSENT_REVOKED, lock_creator
from .memes import draw_meme_text
from .models import RemixJob, RemixResult
from .moderation.images import check_image
from .pipeline import EditInterrupted, ModelUnavailable, get_pipeline
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


def _cancel_for_consent(job: RemixJob, reason: str) -> None:
    job.status = RemixJob.Status.CANCELLED
    job.error_code = CONSENT_REVOKED
    job.error_detail = DENIAL_SENTENCES.get(reason, "The creator no longer allows this remix.")  # type: ignore[call-overload]
    job.finished_at = timezone.now()
    job.lease_expires_at = None
    job.save(update_fields=["status", "error_code", "error_detail", "finished_at", "lease_expires_at"])


def claim(job_id: int) -> tuple[RemixJob, str] | Outcome:
    """Lock the row and take it: ``(job, claim_token)``, or the reason nothing is to be done."""
    with transaction.atomic():
        job = RemixJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return Outcome.GONE
        now = timezone.now()
        if job.is_terminal or job.status == RemixJob.Status.HELD:
            return Outcome.SKIPPED  # a redelivered message of a finished job: harmless
        if job.status == RemixJob.Status.RUNNING and job.lease_expires_at and job.lease_expires_at > now:
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


def _original(job: RemixJob) -> bytes | None:
    """A photo's original upload when it carried content credentials: kept as the remix's ingredient."""
    name = job.post.original.name
    if not name:
        return None
    with default_storage.open(name, "rb") as stored:
        return stored.read()


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
    )


def attach(job_id: int, *, claim_token: str, image: bytes, width: int, height: int, hold: bool = False) -> Outcome:
    """Re-check consent under the toggles' locks and attach the labelled comment, exactly once.

    ``hold``: output moderation wants a person to look first. The comment and result are attached the
    same way but the job goes to ``held``, where nobody sees them (remix comments show only for
    succeeded jobs) and the creator hears nothing until a moderator approves it (``remix.review``).
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
                _cancel_for_consent(job, reason)
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
            job.save(update_fields=["status", "progress", "finished_at", "lease_expires_at"])
            review.output_reviewed(job=job, post=post, comment=comment, held=hold)
            name = ""  # kept: it belongs to the comment now
            return Outcome.HELD if hold else Outcome.SUCCEEDED
    finally:
        if name:
            default_storage.delete(name)


def moderate_output(image: Image.Image) -> tuple[dict[str, Any], bool]:
    """What the detector says about the finished image (stored on the job) and whether to hold it."""
    verdict = check_image(image)
    hold_all = bool(settings.REMIX_HOLD_ALL_FOR_REVIEW)
    return {**verdict.as_dict(), "hold_all": hold_all}, verdict.flagged or hold_all


def run_job(job_id: int) -> Outcome:
    """Everything a worker does for one delivery of one job. Never raises for a job's own failure."""
    claimed = claim(job_id)
    if isinstance(claimed, Outcome):
        logger.info("remix job %s: %s at claim", job_id, claimed)
        return claimed
    job, token = claimed
    try:
        return _run_claimed(job, token)
    except Exception:
        # A bug in a step is this job's failure (with a code), not a crash loop of redeliveries.
        logger.exception("remix job %s: unexpected error", job_id)
        jobs.fail(job_id, code="internal_error", detail="Something went wrong making this remix.", claim_token=token)
        return Outcome.FAILED


def _run_claimed(job: RemixJob, token: str) -> Outcome:
    job_id = job.pk
    try:
        source = load_source(job)
    except (MediaRejected, OSError) as exc:
        jobs.fail(job_id, code="source_unreadable", detail="The post's media could not be read.", claim_token=token)
        logger.warning("remix job %s: source unreadable: %r", job_id, exc)
        return Outcome.FAILED
    protected: list[faces.Box] | None = None
    if policy.settings_of(job.post.author).protect_face:
        # Found on the source itself, before the model's resize: the creator's promise covers every face.
        try:
            started = time.perf_counter()
            protected = faces.detect_faces(source)
            logger.info(
                "remix job %s: %d face(s) to protect (%.0f ms)",
                job_id,
                len(protected),
                (time.perf_counter() - started) * 1000,
            )
        except Exception:
            logger.exception("remix job %s: face detection failed", job_id)
            jobs.fail(
                job_id,
                code="face_protection_failed",
                detail="The creator protects their face, and faces could not be checked.",
                claim_token=token,
            )
            return Outcome.FAILED
    try:
        pipeline = get_pipeline()
    except ModelUnavailable as exc:
        jobs.fail(job_id, code="model_unavailable", detail=exc.detail, claim_token=token)
        return Outcome.FAILED

    def on_progress(fraction: float) -> bool:
        return jobs.report_progress(job_id, claim_token=token, fraction=fraction * 0.95)

    fitted = pipeline.fit(source)
    RemixJob.objects.filter(pk=job_id, claim_token=token).update(
        model_id=pipeline.model_id, model_revision=pipeline.revision
    )
    try:
        result = pipeline.edit(fitted, prompt=job.prompt, seed=job.seed, on_progress=on_progress)
    except EditInterrupted:
        logger.info("remix job %s: stopped mid-diffusion (cancelled or taken over)", job_id)
        return Outcome.INTERRUPTED
    except SoftTimeLimitExceeded:
        jobs.fail(job_id, code="timeout", detail="The remix took too long.", claim_token=token)
        return Outcome.FAILED
    except Exception as exc:  # a model error is this job's failure, not the worker's
        logger.exception("remix job %s: the pipeline failed", job_id)
        jobs.fail(job_id, code="model_error", detail=f"The model failed: {exc.__class__.__name__}.", claim_token=token)
        return Outcome.FAILED
    params = {**result.params, "source_size": list(source.size)}
    if protected is not None:
        params["protected_faces"] = len(protected)
    RemixJob.objects.filter(pk=job_id, claim_token=token).update(model_seconds=result.model_seconds, params=params)
    image = finish_image(result.image, meme_text=job.meme_text, source=source, protected_faces=protected)
    # Output moderation on exactly the pixels people would see (faces restored, meme text drawn).
    moderation, hold = moderate_output(image)
    RemixJob.objects.filter(pk=job_id, claim_token=token).update(moderation=moderation)
    facts = remix_facts(
        job, model_id=pipeline.model_id, model_revision=pipeline.revision, protected_faces=len(protected or [])
    )
    try:
        # Watermark, IPTC source type and a signed C2PA manifest: never published without them.
        signed = provenance.sign_remix(image=image, source=source, facts=facts, source_manifest_jpeg=_original(job))
    except provenance.ProvenanceUnavailable as exc:
        jobs.fail(job_id, code="provenance_unavailable", detail=exc.detail, claim_token=token)
        return Outcome.FAILED
    outcome = attach(job_id, claim_token=token, image=signed, width=image.width, height=image.height, hold=hold)
    logger.info("remix job %s: %s (model %.2f s)", job_id, outcome, result.model_seconds)
    return outcome
