"""Finished remixes for tests where the worker is not what is tested (tests/remix/test_end_to_end.py runs
the real one): the job row, the remix comment and its result with a small stored image, as ``attach``
leaves them."""

from __future__ import annotations

import io
import secrets

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from remix.models import RemixJob, RemixResult
from socialapp.models import Comment, Post, User


def finished_remix(post: Post, requester: User, prompt: str = "make it a watercolour") -> RemixResult:
    job = RemixJob.objects.create(
        post=post, requester=requester, prompt=prompt, seed=1, status=RemixJob.Status.SUCCEEDED, progress=1.0
    )
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buffer, "JPEG")
    name = default_storage.save(f"remixes/{secrets.token_urlsafe(8)}.jpg", ContentFile(buffer.getvalue()))
    comment = Comment.objects.create(post=post, author=requester, kind=Comment.Kind.REMIX, text=prompt)
    return RemixResult.objects.create(job=job, comment=comment, image=name, width=64, height=48)


def active_job(post: Post, requester: User, status: str = RemixJob.Status.QUEUED) -> RemixJob:
    return RemixJob.objects.create(post=post, requester=requester, prompt="queued edit", seed=1, status=status)
