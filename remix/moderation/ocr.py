"""Text in images: read what is written on an upload or a remix (meme captions included), so that text can go
through the same text moderation as prompts.

The reader is RapidOCR (``rapidocr`` on PyPI, Apache-2.0) on onnxruntime's CPU provider, with the PP-OCRv6
small detection and recognition models and PaddleOCR's mobile 0/180° line classifier, all three converted
from PaddleOCR (Apache-2.0) and shipped inside the rapidocr wheel. They are loaded by explicit path from the
installed package, so the library's download-on-missing code is never reached: a missing model file is an
error, never a download. The recognition model's alphabet covers Latin script (English and the Western and
Central European languages, accented letters included), Chinese (simplified and traditional), Japanese kana
and Greek letters; it has no Cyrillic, Arabic, Hebrew, Hangul, Devanagari or Thai, and such text is read as
nothing (it is not guessed at).

The engine is loaded once per process, on first use, and shared by every thread; calls run one at a time
(onnxruntime already spreads one call over the cores). This module imports only Pillow at import time, so
the web process can import it cheaply. ``read_text`` never raises: a failure gives a result with ``error``
set and no text, and the caller decides what an unread image means.

Known limit: in tightly set meme captions (the site's own, white capitals with a black outline) the reader
often drops the space between two words ("KILLALLHUMANS"); the letters are right. Match moderation terms
against the text with its whitespace removed as well as against the text itself.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

ENGINE = "rapidocr"
# The bundled models, inside the installed ``rapidocr`` package's ``models`` folder.
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
MODELS = "PP-OCRv6 small"

# Lines the recogniser is less sure of than this are dropped. Measured on synthetic captions over
# scikit-image photos: real text scored 0.92-1.0; noise on text-free photos 0.2-0.67 (one stray "8" at 0.89).
MIN_SCORE = 0.6
# Larger images are reduced to this long side first (Pillow's Lanczos), and the detector runs at that size,
# never enlarging smaller images. Measured on synthetic captions: words whose capitals are ~1% of the long side
# tall are all read at 1024 (96% at 768, 81% at 512; meme captions, several times larger, are read in full at
# 512). CPU per image (bench/ocr.py, 2 cores): ~0.6 s at 512, ~1.2-1.3 s at 1024 and above, where rapidocr's
# own sizing (short side raised to 736 px, long side up to 2000) takes ~0.85 s at 512 and ~4.5-5.5 s at 2048-4096.
MAX_SIDE = 1024
# Transparent areas are flattened onto mid grey rather than white or black, so that both dark and light
# text drawn on a transparent background stays visible to the reader.
TRANSPARENT_FILL = (128, 128, 128)

_engine: Any = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()


@dataclass(frozen=True)
class OcrResult:
    """What the reader found in one image."""

    # The lines' texts, one per line, in reading order (top to bottom, left to right within a row).
    text: str = ""
    # Each line kept: {"text", "score", "box": [x, y, w, h]} in the given image's own pixel coordinates.
    lines: list[dict[str, Any]] = field(default_factory=list)
    ms: float = 0.0
    # The reader and its models, e.g. "rapidocr 3.10.0 (PP-OCRv6 small)".
    engine: str = ENGINE
    # Set when the image could not be read (then ``text`` is empty); says why.
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, for storing next to a post's or a job's moderation result."""
        return {
            "text": self.text,
            "lines": self.lines,
            "ms": round(self.ms, 1),
            "engine": self.engine,
            "error": self.error,
        }


@functools.cache
def engine_version() -> str:
    try:
        return importlib.metadata.version("rapidocr")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def engine_name() -> str:
    return f"{ENGINE} {engine_version()} ({MODELS})"


def _model_paths() -> dict[str, Path]:
    import rapidocr

    folder = Path(rapidocr.__file__).resolve().parent / "models"
    paths = {"Det": folder / DET_MODEL, "Rec": folder / REC_MODEL, "Cls": folder / CLS_MODEL}
    missing = [path.name for path in paths.values() if not path.is_file()]
    if missing:
        # rapidocr would download these; this site never downloads a model at run time.
        raise FileNotFoundError(f"rapidocr's bundled models are missing: {', '.join(missing)}")
    return paths


def _build_engine() -> Any:
    from rapidocr import RapidOCR

    params: dict[str, Any] = {
        "Global.log_level": "warning",
        "Global.text_score": 0.0,  # every line comes back; MIN_SCORE is applied here
        "Det.limit_type": "max",
        "Det.limit_side_len": MAX_SIDE,
    }
    for task, path in _model_paths().items():
        params[f"{task}.model_path"] = str(path)
    engine = RapidOCR(params=params)
    # rapidocr loads each model on the first image that needs it; load all three now, so a broken install
    # fails here, once, and the first caller's timing is not the load's.
    for loader in ("_load_det_model", "_load_cls_model", "_load_rec_model"):
        load = getattr(engine, loader, None)
        if load is not None:
            load()
    return engine


def get_engine() -> Any:
    """The process's reader, loaded on first use (about half a second). Raises if it cannot be loaded."""
    global _engine
    if _engine is None:
        with _engine_lock:  # double-checked: two threads arriving at once load it once
            if _engine is None:
                _engine = _build_engine()
    return _engine


def _prepare(image: Image.Image) -> tuple[Image.Image, tuple[int, int]]:
    """An upright RGB copy of ``image``, at most ``MAX_SIDE`` on its long side, and the upright full size."""
    image.load()  # a truncated or corrupt file fails here, inside read_text's error handling
    upright = ImageOps.exif_transpose(image)  # as a browser shows it
    if upright.width == 0 or upright.height == 0:
        raise ValueError("the image is empty (zero width or height)")
    if upright.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in upright.info:
        rgba = upright.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, TRANSPARENT_FILL)
        rgb.paste(rgba, mask=rgba.getchannel("A"))
    else:
        rgb = upright.convert("RGB")
    if max(rgb.size) > MAX_SIDE:
        scale = MAX_SIDE / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return rgb, upright.size


def _reading_order(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows from top to bottom, lines left to right within a row (a row: vertical centres within half a line)."""
    rows: list[list[dict[str, Any]]] = []
    for line in sorted(lines, key=lambda item: (item["box"][1] + item["box"][3] / 2, item["box"][0])):
        _, y, _, h = line["box"]
        if rows:
            last = rows[-1][-1]
            last_centre = last["box"][1] + last["box"][3] / 2
            if abs((y + h / 2) - last_centre) <= min(h, last["box"][3]) / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda item: item["box"][0])]


def ocr_lines(image: Image.Image, *, size: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """Every line of text the reader finds in ``image`` scoring at least ``MIN_SCORE``, in reading order.

    Boxes are ``[x, y, w, h]`` in the pixel coordinates of ``size`` (default: ``image``'s own, as a browser
    shows it, EXIF rotation applied). Raises whatever the reader raises; ``read_text`` never raises.
    """
    import numpy as np

    rgb, upright_size = _prepare(image)
    width, height = size or upright_size
    sx, sy = width / rgb.width, height / rgb.height
    bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])  # rapidocr takes OpenCV's channel order
    engine = get_engine()
    with _run_lock:
        output = engine(bgr)
    boxes = getattr(output, "boxes", None)
    texts = getattr(output, "txts", None)
    scores = getattr(output, "scores", None)
    if boxes is None or texts is None or scores is None:
        return []
    lines = []
    for quad, text, score in zip(boxes, texts, scores, strict=True):
        text = " ".join(str(text).split())
        if not text or float(score) < MIN_SCORE:
            continue
        points = np.asarray(quad, dtype=float).reshape(-1, 2)
        left, top = max(0.0, points[:, 0].min()), max(0.0, points[:, 1].min())
        right, bottom = min(float(rgb.width), points[:, 0].max()), min(float(rgb.height), points[:, 1].max())
        box = [round(left * sx), round(top * sy), round((right - left) * sx), round((bottom - top) * sy)]
        lines.append({"text": text, "score": round(float(score), 4), "box": box})
    return _reading_order(lines)


def read_text(image: Image.Image, *, size: tuple[int, int] | None = None) -> OcrResult:
    """Read the text in ``image`` (any mode and size). Never raises.

    ``text`` is the kept lines joined by newlines in reading order, "" when there is none. On failure (not an
    image, a corrupt or empty one, a reader that cannot load) ``error`` says why and ``text`` is "".
    ``size``: the coordinates boxes are reported in, when ``image`` is a reduced decode of a larger one.
    """
    started = time.perf_counter()
    try:
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected a PIL image, got {type(image).__name__}")
        lines = ocr_lines(image, size=size)
    except Exception as exc:  # an odd upload or a broken install must not take the caller down
        logger.warning("reading text in an image failed", exc_info=True)
        return OcrResult(
            error=f"The text reader failed: {exc.__class__.__name__}: {exc}",
            ms=(time.perf_counter() - started) * 1000,
            engine=engine_name(),
        )
    return OcrResult(
        text="\n".join(line["text"] for line in lines),
        lines=lines,
        ms=(time.perf_counter() - started) * 1000,
        engine=engine_name(),
    )
