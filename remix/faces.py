"""Face protection: faces of a creator who asked for it are restored from the original in every remix.

A remix may change the scene, the style, the clothes; with "Protect my face" on, it may not change
the person's face. The worker finds faces on the source still, before the model sees it, and
blends the source's pixels back into the finished image through a feathered ellipse per face:
inside the ellipse the pixels are exactly the source's, and over a soft rim they fade into the edit.

Detection maximises recall, since a missed face is the failure that matters (a false one only
keeps a patch of the original): OpenCV's bundled Haar cascades (frontal, and profile in both
directions) plus the face classes of NudeNet's detector, which the moderation step loads anyway
and which finds tilted and partly turned faces the cascades miss. Overlapping boxes are merged.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

from .moderation import images as image_moderation

if TYPE_CHECKING:
    import cv2
    import numpy as np

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x, y, width, height in the image's pixels

# Detection runs on a copy with this long side: faces under about 5% of it (24 px) are not looked for,
# and the cascades' cost grows with the pixel count (three cascade passes plus NudeNet: about 0.3 s at this size
# on a quiet 2-core machine, 0.5–0.8 s on a busy one).
DETECT_SIDE = 480
_MIN_FACE = 24
_SCALE_FACTOR = 1.15
_MIN_NEIGHBORS = 5
_FRONTAL = "haarcascade_frontalface_default.xml"
_PROFILE = "haarcascade_profileface.xml"
NUDENET_FACE_CLASSES = frozenset({"FACE_FEMALE", "FACE_MALE"})
NUDENET_FACE_SCORE = 0.4
# Boxes overlapping by more than this share of the smaller one are the same face.
_SAME_FACE = 0.4

# The protected ellipse around a face box: its half-axes are the box's half-size plus these shares
# of the box (the cascades' boxes run from brow to mouth; this takes in forehead, chin and the box's
# corners), then the rim fades out over this share of the ellipse's size.
PAD_X = 0.25
PAD_Y = 0.35
FEATHER = 0.3

_local = threading.local()  # a CascadeClassifier is not to be shared between threads


def _cascades() -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier]:
    import cv2

    loaded = getattr(_local, "cascades", None)
    if loaded is None:
        frontal = cv2.CascadeClassifier(cv2.data.haarcascades + _FRONTAL)  # type: ignore[attr-defined]
        profile = cv2.CascadeClassifier(cv2.data.haarcascades + _PROFILE)  # type: ignore[attr-defined]
        if frontal.empty() or profile.empty():
            raise RuntimeError(f"OpenCV's Haar cascades could not be loaded from {cv2.data.haarcascades}")  # type: ignore[attr-defined]
        loaded = _local.cascades = (frontal, profile)
    return loaded


def _haar_faces(gray: np.ndarray) -> list[Box]:
    import cv2

    frontal, profile = _cascades()

    def run(cascade: cv2.CascadeClassifier, pixels: np.ndarray) -> list[Box]:
        found = cascade.detectMultiScale(
            pixels, scaleFactor=_SCALE_FACTOR, minNeighbors=_MIN_NEIGHBORS, minSize=(_MIN_FACE, _MIN_FACE)
        )
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]

    width = gray.shape[1]
    # The profile cascade knows faces turned one way only; the mirrored image gives the other way.
    mirrored = [(width - x - w, y, w, h) for x, y, w, h in run(profile, cv2.flip(gray, 1))]
    return run(frontal, gray) + run(profile, gray) + mirrored


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return (w * h) / max(1, min(a[2] * a[3], b[2] * b[3]))


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def merge_boxes(boxes: Sequence[Box]) -> list[Box]:
    """Merge boxes that overlap (detections of the same face by several detectors) into their union."""
    merged: list[Box] = []
    for box in sorted(boxes, key=lambda b: b[2] * b[3], reverse=True):
        for i, kept in enumerate(merged):
            if _overlap(box, kept) > _SAME_FACE:
                merged[i] = _union(box, kept)
                break
        else:
            merged.append(box)
    # A union can grow into another kept box: repeat until nothing overlaps.
    return merged if len(merged) == len(boxes) else merge_boxes(merged)


def detect_faces(image: Image.Image) -> list[Box]:
    """Faces in ``image`` as ``(x, y, w, h)`` boxes in its own pixels, left to right.

    Raises if a detector cannot run (missing cascade files, a broken model): the caller must not
    publish a remix it promised to protect.
    """
    import cv2
    import numpy as np

    rgb = image.convert("RGB")
    scale = min(1.0, DETECT_SIDE / max(rgb.size))
    if scale < 1.0:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BOX)
    gray = cv2.equalizeHist(cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2GRAY))
    found = _haar_faces(gray)
    found += [
        (label["box"][0], label["box"][1], label["box"][2], label["box"][3])
        for label in image_moderation.detect(rgb)
        if label["class"] in NUDENET_FACE_CLASSES and label["score"] >= NUDENET_FACE_SCORE
    ]
    boxes = [
        (round(x / scale), round(y / scale), round(w / scale), round(h / scale))
        for x, y, w, h in merge_boxes(found)
        if w > 0 and h > 0
    ]
    return sorted(boxes)


def face_mask(size: tuple[int, int], faces: Sequence[Box]) -> np.ndarray:
    """The blend weight (0..1, float32, ``size[1]`` × ``size[0]``) of the source at each pixel: exactly 1 in each
    face's ellipse, a smoothstep rim outside it, 0 elsewhere. Boxes are in ``size``'s pixels."""
    import numpy as np

    width, height = size
    mask = np.zeros((height, width), dtype=np.float32)
    outer = 1.0 + FEATHER
    for x, y, w, h in faces:
        cx, cy = x + w / 2, y + h / 2
        rx, ry = max(w * (0.5 + PAD_X), 0.5), max(h * (0.5 + PAD_Y), 0.5)
        # Only the ellipse's bounding window is computed.
        x0, x1 = max(0, math.floor(cx - rx * outer)), min(width, math.ceil(cx + rx * outer))
        y0, y1 = max(0, math.floor(cy - ry * outer)), min(height, math.ceil(cy + ry * outer))
        if x0 >= x1 or y0 >= y1:
            continue
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / rx
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy) / ry
        distance = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2)
        t = np.clip((outer - distance) / (outer - 1.0), 0.0, 1.0)
        weight = t * t * (3.0 - 2.0 * t)
        np.maximum(mask[y0:y1, x0:x1], weight, out=mask[y0:y1, x0:x1])
    return mask


def scale_boxes(faces: Sequence[Box], *, from_size: tuple[int, int], to_size: tuple[int, int]) -> list[Box]:
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return [(round(x * sx), round(y * sy), round(w * sx), round(h * sy)) for x, y, w, h in faces]


def protect_faces(edited: Image.Image, source: Image.Image, faces: Sequence[Box]) -> Image.Image:
    """``edited`` with each face of ``source`` (boxes in ``source``'s pixels) restored from ``source``.

    The source is scaled to the edited image's size (the model may have changed the size, and the
    aspect slightly: each axis is mapped on its own), and blended in through ``face_mask``. Returns
    ``edited`` (as RGB) unchanged when there are no faces.
    """
    import numpy as np

    edited = edited.convert("RGB")
    if not faces:
        return edited
    source = source.convert("RGB")
    scaled = source.resize(edited.size, Image.Resampling.LANCZOS) if source.size != edited.size else source
    mask = face_mask(edited.size, scale_boxes(faces, from_size=source.size, to_size=edited.size))[:, :, None]
    out = np.asarray(edited, dtype=np.float32) * (1.0 - mask) + np.asarray(scaled, dtype=np.float32) * mask
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")
