"""Output and upload moderation beyond nudity, on real photos: the worker's ``moderate_output`` holds a remix whose
output shows a face that is in no face of its source (a swap, an inserted person) or carries text the prompt checks
refuse, and passes the normal case; an upload with such text is hidden for review."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from remix import review, worker
from tests.remix.test_face_identity import restyle, swap_face

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())


def _hopper() -> np.ndarray:
    return np.asarray(Image.open(Path(__file__).with_name("photos") / "grace_hopper.jpg").convert("RGB"))


def _caption(image: Image.Image, text: str) -> Image.Image:
    """Meme-style white letters with a black outline across the bottom of ``image``."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    font = ImageFont.truetype(str(FONT), size=max(24, out.width // 12)) if FONT.exists() else ImageFont.load_default(40)
    width = draw.textlength(text, font=font)
    draw.text(
        ((out.width - width) / 2, out.height * 0.82), text, font=font, fill="white", stroke_width=3, stroke_fill="black"
    )
    return out


def test_a_face_swapped_output_is_held_and_the_restyled_one_is_not(rule_sets: None) -> None:
    source = _astronaut()
    swapped = Image.fromarray(swap_face(source, _hopper()))
    record, hold = worker.moderate_output(swapped, Image.fromarray(source))
    assert hold and record["reasons"] == ["face_identity"], record["reasons"]
    assert record["identity"]["flagged"] and record["identity"]["unmatched"]
    assert review._category(record) == "real_persons" and "not in the source" in review._found(record)

    record, hold = worker.moderate_output(Image.fromarray(restyle(source)), Image.fromarray(source))
    assert not hold and record["reasons"] == [], record
    assert record["identity"]["faces_output"] >= 1 and not record["identity"]["flagged"]


def test_text_the_prompt_checks_refuse_holds_an_output(rule_sets: None) -> None:
    source = Image.fromarray(_astronaut())
    record, hold = worker.moderate_output(_caption(source, "KILL YOURSELF"), source)
    assert hold and "text" in record["reasons"], record
    assert "kill yourself" in record["image_text"]["text"].lower()
    record, hold = worker.moderate_output(_caption(source, "BEST DAY EVER"), source)
    assert not hold and record["reasons"] == [], record
    assert "best day" in record["image_text"]["text"].lower()


def test_an_upload_with_abusive_text_is_held_for_review(rule_sets: None) -> None:
    def jpeg(image: Image.Image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=92)
        return buffer.getvalue()

    from skimage import data

    coffee = Image.fromarray(np.asarray(data.coffee()))
    held = review.upload_review(poster=jpeg(_caption(coffee, "NAZIS WERE RIGHT")))
    assert held.hold and held.moderation["image_text"]["flagged"], held.moderation
    passed = review.upload_review(poster=jpeg(_caption(coffee, "MONDAY COFFEE")))
    assert not passed.hold, passed.moderation
