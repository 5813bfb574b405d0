"""Reading provenance back: what an image's content credentials and watermark say, for a viewer.

``remix.provenance`` writes and reads the raw facts (c2pa's own Reader, the watermark decoder);
this module decides what a caller is told, e.g. which remix a watermark points to only if the
caller may see that remix.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.files.storage import default_storage

from socialapp import selectors as social_selectors
from socialapp.models import User

from . import provenance
from .models import RemixResult


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of a JPEG, PNG or WebP image by its first bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _pointer(job_id: int | None, *, viewer: User | AnonymousUser) -> dict[str, Any] | None:
    """The remix a watermark names, if ``viewer`` may see it now; None otherwise. A remix that is hidden (consent
    off, held, taken down) or gone reads like no remix at all: saying "found, not visible to you" would confirm to
    anyone holding a copy that a hidden remix exists."""
    if job_id is None:
        return None
    result = RemixResult.objects.select_related("comment__post").filter(job_id=job_id).first()
    if result is None or not social_selectors.comment_is_visible(comment=result.comment, user=viewer):
        return None
    return {
        "visible": True,
        "job": job_id,
        "comment": result.comment_id,
        "post": result.comment.post_id,
        "post_url": f"/p/{result.comment.post_id}/#comment-{result.comment_id}",
    }


class TooLargeToDecode(Exception):
    """The image would cost more memory to decode than the site allows (a decompression bomb)."""

    sentence = "This image has too many pixels for its colour depth to be checked here."


def describe(data: bytes, *, viewer: User | AnonymousUser, mime_type: str = "image/jpeg") -> dict[str, Any]:
    """Everything the credentials endpoints answer about an image's bytes. Raises ``TooLargeToDecode`` (from the
    image's header, before any work) for one over the decode budget."""
    if not provenance.within_decode_budget(data):
        raise TooLargeToDecode
    facts = provenance.read_credentials(data, mime_type=mime_type)
    pointer = _pointer(facts.get("watermark_job_id"), viewer=viewer)
    job_id = pointer["job"] if pointer is not None else None
    return {
        "c2pa": {
            "present": facts.get("present", False),
            "state": facts.get("state"),
            "failures": facts.get("failures", []),
            "title": facts.get("title"),
            "claim_generator": facts.get("claim_generator"),
            "actions": facts.get("actions", []),
            "digital_source_type": facts.get("digital_source_type"),
            "software_agent": facts.get("software_agent"),
            "training_mining": facts.get("training_mining"),
            "ingredients": facts.get("ingredients", []),
            "source_url": facts.get("source_url"),
        },
        "iptc_digital_source_type": facts.get("iptc_digital_source_type"),
        # Face protection put the source's faces back over the edit (a custom action of our manifests).
        "face_protected": provenance.FACE_PROTECTED_ACTION in facts.get("actions", []),
        "ai_generated": bool(
            facts.get("digital_source_type") or facts.get("iptc_digital_source_type") or job_id is not None
        ),
        "watermark": {"found": job_id is not None, "remix": pointer},
    }


def describe_remix(result: RemixResult, *, viewer: User | AnonymousUser) -> dict[str, Any]:
    """The credentials of a remix comment's stored image."""
    with default_storage.open(str(result.image.name), "rb") as stored:
        data = stored.read()
    return {"comment": result.comment_id, "job": result.job_id, **describe(data, viewer=viewer)}
