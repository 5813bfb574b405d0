"""Celery tasks of the remix feature (routed to the ``remix`` queue). Thin: the row decides."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

logger = logging.getLogger(__name__)


@shared_task(
    name="remix.tasks.run_remix_job",
    # At-least-once: acknowledged after it ran; a worker killed mid-job gets the message redelivered,
    # and the row's claim (lease, attempt count, REMIX_MAX_DELIVERIES) makes redelivery safe.
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.REMIX_JOB_TIME_LIMIT,
    time_limit=settings.REMIX_JOB_TIME_LIMIT + 30,
    ignore_result=True,
)
def run_remix_job(job_id: int) -> str:
    from .worker import run_job

    return str(run_job(job_id))


@shared_task(name="remix.tasks.sweep_expired_jobs", ignore_result=True)
def sweep_expired_jobs() -> dict[str, int]:
    """Periodic (celery beat): re-enqueue or fail jobs whose lease expired or whose message was lost."""
    from .jobs import sweep_expired

    counts = sweep_expired()
    if any(counts.values()):
        logger.warning("remix sweeper: %s", counts)
    return counts


@worker_process_init.connect
def _warm_pipeline(**kwargs: Any) -> None:
    """Load and warm up the model in each pool process as it starts (never in the forking parent: CUDA must
    not be initialised before fork), so the first job, and the first batch of each size, does not pay for it."""
    if not settings.REMIX_WARM_ON_START:
        return
    from .pipeline import ModelUnavailable, warm_pipeline

    try:
        warm_pipeline()
    except ModelUnavailable as exc:  # jobs will fail with model_unavailable; the worker stays up
        logger.error("remix model not loaded at worker start: %s", exc.detail)
    from .moderation import images

    try:  # the output moderation detector too (a failure here holds remixes for review, never skips)
        images.get_detector()
    except Exception:
        logger.exception("nudity detector not loaded at worker start")
