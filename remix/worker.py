"""What a GPU worker does with one job id: claim, re-check consent, edit, re-check, attach.

The Celery task (``remix.tasks.run_remix_job``) only calls ``run_job``. Each step works on the
``RemixJob`` row, so the same message delivered twice, a consent change mid-diffusion or the
post's deletion all end in a well-defined state, and a job yields at most one comment.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from enum import StrEnum
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image

from socialapp import services as social_services
from socialapp.models import Comment, Notification, Post
from socialapp.uploads import MediaRejected, extract_frame

from . import jobs, provenance
from .consent import CONSENT_REVOKED, lock_creator
from .memes import draw_meme_text
from .models import RemixJob, RemixResult
from .pipeline import EditInterrupted, ModelUnavailable, get_pipeline
from .policy import DENIAL_SENTENCES, remix_denied_reason

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
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


def finish_image(image: Image.Image, *, meme_text: str) -> Image.Image:
    """The image people see: at least REMIX_OUTPUT_MIN_SIDE on its long side, meme text drawn on top."""
    image = image.convert("RGB")
    long_side = max(image.size)
    if long_side < settings.REMIX_OUTPUT_MIN_SIDE:
        scale = settings.REMIX_OUTPUT_MIN_SIDE / long_side
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
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


def remix_facts(job: RemixJob, *, model_id: str, model_revision: str) -> provenance.RemixFacts:
    """What the signed manifest says about this remix: its job, its model, its source post and frame."""
    post = job.post
    frame = f", frame at {job.frame_time:g} s" if job.frame_time is not None else ""
    return provenance.RemixFacts(
        job_id=job.pk,
        model_id=model_id,
        model_revision=model_revision,
        source_post_url=f"{settings.SITE_URL.rstrip('/')}/p/{post.pk}/",
        source_title=f"Post {post.pk} by @{post.author.username}{frame}",
        prompt=job.prompt,
    )


def attach(job_id: int, *, claim_token: str, image: bytes, width: int, height: int) -> Outcome:
    """Re-check consent under the toggles' locks and attach the labelled comment, exactly once."""
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
                RemixJob.Status.SUCCEEDED,
                1.0,
                timezone.now(),
                None,
            )
            job.save(update_fields=["status", "progress", "finished_at", "lease_expires_at"])
            social_services.notify(
                recipient=post.author,
                actor=job.requester,
                kind=Notification.Kind.REMIXED,
                post=post,
                comment=comment,
                text=f"{job.requester.username} made an AI remix of your post: “{job.prompt[:120]}”",
            )
            name = ""  # kept: it belongs to the comment now
            return Outcome.SUCCEEDED
    finally:
        if name:
            default_storage.delete(name)


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
    RemixJob.objects.filter(pk=job_id, claim_token=token).update(model_seconds=result.model_seconds, params=params)
    image = finish_image(result.image, meme_text=job.meme_text)
    facts = remix_facts(job, model_id=pipeline.model_id, model_revision=pipeline.revision)
    try:
        # Watermark, IPTC source type and a signed C2PA manifest: never published without them.
        signed = provenance.sign_remix(image=image, source=source, facts=facts, source_manifest_jpeg=_original(job))
    except provenance.ProvenanceUnavailable as exc:
        jobs.fail(job_id, code="provenance_unavailable", detail=exc.detail, claim_token=token)
        return Outcome.FAILED
    outcome = attach(job_id, claim_token=token, image=signed, width=image.width, height=image.height)
    logger.info("remix job %s: %s (model %.2f s)", job_id, outcome, result.model_seconds)
    return outcome
