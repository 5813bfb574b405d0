"""Remix results as others see them: the comment payload, the label, and their files' lifetime."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete

from .models import RemixResult

AI_LABEL = "AI-generated"


def payload(result: RemixResult, *, request: Any) -> dict[str, Any]:
    """The ``remix`` field of a remix comment in the API."""
    return {
        "job": result.job_id,
        "image_url": _absolute(request, result.image.url),
        "ai_label": AI_LABEL,
        "credentials_url": _absolute(request, f"/api/comments/{result.comment_id}/credentials/"),
        "prompt": result.job.prompt,
        "source_post": result.job.post_id,
        "frame_time": result.job.frame_time,
    }


def _absolute(request: Any, url: str) -> str:
    return request.build_absolute_uri(url) if request is not None else url


def _delete_image_on_commit(sender: type[RemixResult], instance: RemixResult, **kwargs: Any) -> None:
    # A result goes with its comment, its job or its post (cascades included); its file goes once
    # that deletion has committed. A file cleanup, not a business rule, so a signal is the right hook.
    name = instance.image.name
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


def connect_file_cleanup() -> None:
    post_delete.connect(_delete_image_on_commit, sender=RemixResult, dispatch_uid="remix-result-file")
