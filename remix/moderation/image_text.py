"""Text inside an image (a meme caption, a sign the model drew, words on an upload) through the prompt checks.

OCR (``ocr.py``: rapidocr's PP-OCR models, shipped in its wheel, on onnxruntime) reads the image; the text goes
through ``text.check_text``, every layer the prompts go through, as strictly as a prompt. Only a refusal flags the
image: a hold there means "a person should read it", which on OCR output (a half-read line, noise the model drew)
would hold every other remix. A reader that fails flags the image, so nothing unchecked is published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from . import ocr
from .text import REFUSE, check_text


@dataclass(frozen=True)
class ImageTextVerdict:
    flagged: bool
    text: str = ""
    category: str | None = None
    verdict: dict[str, Any] = field(default_factory=dict)
    ms: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "flagged": self.flagged,
            "text": self.text[:500],
            "category": self.category,
            "verdict": self.verdict,
            "ms": round(self.ms, 1),
            "error": self.error,
        }


def check_image_text(image: Image.Image) -> ImageTextVerdict:
    """Read the text in ``image`` and check it like a prompt. Never raises."""
    result = ocr.read_text(image)
    if result.error:
        return ImageTextVerdict(flagged=True, ms=result.ms, error=result.error)
    text = " ".join(result.text.split())
    if not text:
        return ImageTextVerdict(flagged=False, ms=result.ms)
    try:
        verdict = check_text(text)
    except Exception as exc:  # the text checks failing must hold, not publish
        return ImageTextVerdict(flagged=True, text=text, ms=result.ms, error=f"{exc.__class__.__name__}: {exc}")
    refused = verdict.decision == REFUSE
    return ImageTextVerdict(
        flagged=refused,
        text=text,
        category=verdict.category if refused else None,
        verdict=verdict.as_dict(),
        ms=result.ms,
    )
