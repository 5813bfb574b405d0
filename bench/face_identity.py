"""False-match and miss rates of ``remix.moderation.face_identity.identity_check`` on real photos.

    .venv/bin/python bench/face_identity.py [--insightface PATH] [--sweep] [--verbose]

Real photos of real people that ship inside PyPI packages (or are public domain, in tests/remix/photos):

- scikit-image 0.26 (installed): ``astronaut()`` (Eileen Collins, NASA, public domain) and ``camera()``
  (a cameraman, CC0 by the photographer Lav Varshney);
- ``tests/remix/photos/grace_hopper.jpg`` (Grace Hopper, US Navy, public domain; from matplotlib's wheel);
- insightface 2.1's wheel (``insightface/data/images``, code MIT, photos without a stated licence: used
  here, never committed), when ``--insightface`` names the wheel, an unpacked copy, or ``installed``
  (the package located without importing it): ``t1.jpg`` (six people around a table: each face is cut
  out into a photo of its own, the other faces in the cut blurred away) and ``Tom_Hanks_54745.png``
  (a 112x112 aligned face, padded so the detector sees a whole head). ``pip download --no-deps -d DIR
  insightface==2.1`` fetches the wheel.

Pairs (source photo, AI-edit output), each through the same decision as ``identity_check``:

- same person: each photo against nine restyled copies (colour grade, hue shift, blur, JPEG q25, 8°
  rotation at 0.8 scale, OpenCV stylization, a cartoon filter, greyscale, and a combination): must not
  be flagged. The miss rate is the share that is flagged (the same person not recognised: a false hold);
- different people: each person's photo as the source against every other person's photo, original and
  restyled, as the output: must be flagged. The false-match rate is the share that is not flagged
  (the other person taken for the source's: a face swap that goes through);
- face swaps: every person's face warped onto every other person's face in their photo, colour-matched
  and blended: must be flagged;
- insertions: every person's face pasted into scikit-image's photos without people (coffee, rocket,
  a cat): must be flagged; those photos against restyled copies of themselves: must not be.

Descriptors are computed once per image (the detector is deterministic), then every pair is decided by
``face_identity.unmatched_faces`` as ``identity_check`` decides; the same-person pairs also run through
``identity_check`` itself, which gives the median time per check and is compared with the cached verdicts.
Not a test; CPU only.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import itertools
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from remix.moderation import face_identity as fi  # noqa: E402

PHOTOS = ROOT / "tests" / "remix" / "photos"
Array = np.ndarray


# --- photos -------------------------------------------------------------------------------------------


def _rgb(data: bytes | Path) -> Array:
    opened = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    return np.ascontiguousarray(np.asarray(opened.convert("RGB")))


def _insightface_images(where: str | None) -> dict[str, bytes]:
    """insightface's bundled sample photos, by file name, from a wheel, an unpacked folder or the install."""
    if not where:
        return {}
    names = ("t1.jpg", "Tom_Hanks_54745.png")
    if where == "installed":
        spec = importlib.util.find_spec("insightface")  # locates the package; imports nothing
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("--insightface installed: the insightface package is not installed")
        where = next(iter(spec.submodule_search_locations))
    path = Path(where)
    if path.is_file():
        with zipfile.ZipFile(path) as wheel:
            return {name: wheel.read(f"insightface/data/images/{name}") for name in names}
    folder = path / "data" / "images" if (path / "data" / "images").is_dir() else path / "insightface/data/images"
    return {name: (folder / name).read_bytes() for name in names}


def _blur_other_faces(photo: Array, keep_center: tuple[float, float]) -> Array:
    """``photo`` with every detected face but the one around ``keep_center`` blurred beyond recognition."""
    out = photo.copy()
    for face in fi._detect(photo, min_score=0.2, min_size=8):
        x, y, w, h = face.box
        if x <= keep_center[0] <= x + w and y <= keep_center[1] <= y + h:
            continue
        x0, y0 = max(0, int(x - 0.3 * w)), max(0, int(y - 0.3 * h))
        x1, y1 = min(out.shape[1], int(x + 1.3 * w)), min(out.shape[0], int(y + 1.3 * h))
        out[y0:y1, x0:x1] = cv2.GaussianBlur(out[y0:y1, x0:x1], (0, 0), 25)
    return out


def people(insightface: str | None) -> dict[str, Array]:
    """One photo per person, each showing that person's face only."""
    from skimage import data

    found = {
        "Eileen Collins (skimage astronaut)": np.ascontiguousarray(data.astronaut()),
        "cameraman (skimage camera)": np.ascontiguousarray(np.stack([data.camera()] * 3, axis=-1)),
        "Grace Hopper (tests/remix/photos)": _rgb(PHOTOS / "grace_hopper.jpg"),
    }
    bundled = _insightface_images(insightface)
    if "Tom_Hanks_54745.png" in bundled:
        crop = _rgb(bundled["Tom_Hanks_54745.png"])
        found["Tom Hanks (insightface)"] = cv2.copyMakeBorder(crop, 56, 56, 56, 56, cv2.BORDER_REPLICATE)
    if "t1.jpg" in bundled:
        group = _rgb(bundled["t1.jpg"])
        faces = sorted((f for f in fi._detect(group, min_score=0.8, min_size=60)), key=lambda f: f.box[0])
        for number, face in enumerate(faces, 1):
            x, y, w, h = face.box
            cx, cy, half = x + w / 2, y + h / 2, 1.4 * max(w, h)
            x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
            x1, y1 = int(min(group.shape[1], cx + half)), int(min(group.shape[0], cy + half))
            crop = np.ascontiguousarray(group[y0:y1, x0:x1])
            found[f"t1.jpg person {number} (insightface)"] = _blur_other_faces(crop, (cx - x0, cy - y0))
    return found


def no_face_photos() -> dict[str, Array]:
    from skimage import data

    return {name: np.ascontiguousarray(getattr(data, name)()[..., :3]) for name in ("coffee", "rocket", "chelsea")}


# --- restyles: what an AI edit of the same person might do -------------------------------------------


def _jpeg(rgb: Array, quality: int) -> Array:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return _rgb(buffer.getvalue())


def _rotate(rgb: Array, degrees: float, scale: float) -> Array:
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
    return cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def _grade(rgb: Array) -> Array:
    return np.clip(rgb.astype(np.float32) * np.array([1.15, 0.95, 0.75]) + 10, 0, 255).astype(np.uint8)


def _hue(rgb: Array) -> Array:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 25) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _cartoon(rgb: Array) -> Array:
    smooth = cv2.bilateralFilter(cv2.bilateralFilter(rgb, 9, 75, 75), 9, 75, 75)
    gray = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 5)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 5)
    flat = (smooth // 40) * 40 + 20
    return cv2.bitwise_and(flat, flat, mask=edges)


def _stylize(rgb: Array) -> Array:
    return cv2.stylization(rgb, sigma_s=60, sigma_r=0.45)


RESTYLES: dict[str, Callable[[Array], Array]] = {
    "colour grade": _grade,
    "hue shift": _hue,
    "blur": lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 2.0),
    "jpeg q25": lambda rgb: _jpeg(rgb, 25),
    "rotate 8° scale 0.8": lambda rgb: _rotate(rgb, 8, 0.8),
    "stylization": _stylize,
    "cartoon": _cartoon,
    "greyscale": lambda rgb: cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB),
    "combined": lambda rgb: _jpeg(_grade(_stylize(_rotate(rgb, -5, 1.1))), 40),
}


# --- face swaps and insertions -------------------------------------------------------------------------


def _ellipse_mask(shape: tuple[int, ...], face: fi.Face, grow: float = 1.0) -> Array:
    """A feathered ellipse over ``face`` (1 inside, fading to 0), float32 HxWx1."""
    x, y, w, h = face.box
    mask = np.zeros(shape[:2], dtype=np.float32)
    center = (round(x + w / 2), round(y + h * 0.55))
    cv2.ellipse(mask, center, (round(w * 0.5 * grow), round(h * 0.6 * grow)), 0, 0, 360, 1.0, -1)
    feathered = cv2.GaussianBlur(mask, (0, 0), max(2.0, w * 0.08))
    return feathered[..., None]


def _match_colour(patch: Array, reference: Array, mask: Array) -> Array:
    """``patch``'s colours shifted to ``reference``'s mean and spread inside ``mask`` (per Lab channel)."""
    inside = mask[..., 0] > 0.5
    src: Any = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref: Any = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    for c in range(3):
        s_mean, s_std = src[..., c][inside].mean(), src[..., c][inside].std() + 1e-3
        r_mean, r_std = ref[..., c][inside].mean(), ref[..., c][inside].std() + 1e-3
        src[..., c] = (src[..., c] - s_mean) * (r_std / s_std) + r_mean
    return cv2.cvtColor(np.clip(src, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def swap_face(target: Array, donor: Array) -> Array:
    """``donor``'s face warped onto ``target``'s face (eyes, nose and mouth on theirs), colour-matched
    and blended through a feathered ellipse: a face swap."""
    target_face = fi._detect(target, min_score=fi.SOURCE_SCORE, min_size=fi.MIN_FACE)[0]
    donor_face = fi._detect(donor, min_score=fi.SOURCE_SCORE, min_size=fi.MIN_FACE)[0]
    matrix, _ = cv2.estimateAffinePartial2D(
        np.asarray(donor_face.landmarks, dtype=np.float32),
        np.asarray(target_face.landmarks, dtype=np.float32),
        method=cv2.LMEDS,
    )
    warped = cv2.warpAffine(donor, matrix, (target.shape[1], target.shape[0]), borderMode=cv2.BORDER_REFLECT)
    mask = _ellipse_mask(target.shape, target_face)
    warped = _match_colour(warped, target, mask)
    return (target * (1 - mask) + warped * mask).round().astype(np.uint8)


def insert_face(background: Array, donor: Array, *, at: tuple[float, float] = (0.5, 0.4), side: int = 140) -> Array:
    """``donor``'s face (with some hair and chin around it) pasted into ``background``, ``side`` pixels
    wide, centred at ``at`` (shares of the background's width and height): an inserted person."""
    face = fi._detect(donor, min_score=fi.SOURCE_SCORE, min_size=fi.MIN_FACE)[0]
    x, y, w, h = face.box
    scale = side / w
    cx, cy = at[0] * background.shape[1], at[1] * background.shape[0]
    matrix = np.asarray([[scale, 0, cx - (x + w / 2) * scale], [0, scale, cy - (y + h / 2) * scale]], dtype=np.float32)
    warped = cv2.warpAffine(donor, matrix, (background.shape[1], background.shape[0]), borderMode=cv2.BORDER_REFLECT)
    placed = fi.Face(
        box=(round(cx - side / 2), round(cy - h * scale / 2), side, round(h * scale)), score=1.0, landmarks=()
    )
    mask = _ellipse_mask(background.shape, placed, grow=1.25)
    return (background * (1 - mask) + warped * mask).round().astype(np.uint8)


# --- the measurement ----------------------------------------------------------------------------------


class Cache:
    """Faces and descriptors per image, for the source role (SOURCE_SCORE) and the output role."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[list[fi.Face], Array]] = {}

    def analyse(self, key: str, rgb: Array) -> tuple[list[fi.Face], Array]:
        if key not in self._seen:
            self._seen[key] = fi.faces_and_descriptors(rgb, min_score=fi.SOURCE_SCORE)
        return self._seen[key]

    def flagged(
        self,
        source: tuple[str, Array],
        output: tuple[str, Array],
        threshold: float,
        output_score: float = fi.OUTPUT_SCORE,
    ) -> tuple[bool, int]:
        """(flagged, output faces) as identity_check decides, from cached descriptors."""
        _, source_vectors = self.analyse(*source)
        faces, vectors = self.analyse(*output)
        keep = [i for i, face in enumerate(faces) if face.score >= output_score]
        output_faces, output_vectors = [faces[i] for i in keep], vectors[keep]
        unmatched = fi.unmatched_faces(source_vectors, output_faces, output_vectors, threshold=threshold)
        return bool(unmatched), len(output_faces)


def build_pairs(persons: dict[str, Array], backgrounds: dict[str, Array]) -> dict[str, list[tuple[Any, ...]]]:
    """Named image pairs per kind: ((source key, source), (output key, output), expected flagged)."""
    images: dict[str, Array] = {}
    for name, photo in persons.items():
        images[name] = photo
        for restyle, fn in RESTYLES.items():
            images[f"{name} / {restyle}"] = np.ascontiguousarray(fn(photo))
    pairs: dict[str, list[tuple[Any, ...]]] = {"same": [], "different": [], "swap": [], "insert": [], "no face": []}
    for name in persons:
        for restyle in RESTYLES:
            key = f"{name} / {restyle}"
            pairs["same"].append(((name, images[name]), (key, images[key]), False))
    for a, b in itertools.permutations(persons, 2):
        for key in [b] + [f"{b} / {restyle}" for restyle in RESTYLES]:
            pairs["different"].append(((a, images[a]), (key, images[key]), True))
        swapped = swap_face(persons[a], persons[b])
        pairs["swap"].append(((a, images[a]), (f"{a} with {b}'s face", swapped), True))
    for bg_name, background in backgrounds.items():
        for name, photo in persons.items():
            inserted = insert_face(background, photo)
            pairs["insert"].append(((bg_name, background), (f"{bg_name} + {name}", inserted), True))
        for restyle, fn in RESTYLES.items():
            pairs["no face"].append(((bg_name, background), (f"{bg_name} / {restyle}", fn(background)), False))
    return pairs


def rates(
    cache: Cache, pairs: dict[str, list[tuple[Any, ...]]], threshold: float, output_score: float = fi.OUTPUT_SCORE
) -> dict[str, dict[str, Any]]:
    """Per kind: pairs, wrong (decided against expectation), of which no_face (no output face found)."""
    out = {}
    for kind, items in pairs.items():
        wrong, no_face, wrong_items = 0, 0, []
        for source, output, expected in items:
            flagged, faces = cache.flagged(source, output, threshold, output_score)
            if flagged != expected:
                wrong += 1
                no_face += faces == 0
                wrong_items.append(f"{source[0]} -> {output[0]}" + (" (no output face found)" if not faces else ""))
        out[kind] = {"pairs": len(items), "wrong": wrong, "no_face": no_face, "wrong_items": wrong_items}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--insightface", help="insightface's wheel, an unpacked copy, or 'installed' (more people)")
    parser.add_argument("--sweep", action="store_true", help="also print the rates over a range of thresholds")
    parser.add_argument("--verbose", action="store_true", help="list every wrongly decided pair")
    args = parser.parse_args()

    persons = people(args.insightface)
    backgrounds = no_face_photos()
    for name, photo in persons.items():
        faces = fi._detect(photo, min_score=fi.SOURCE_SCORE, min_size=fi.MIN_FACE)
        if len(faces) != 1:
            raise SystemExit(f"{name}: {len(faces)} faces detected, expected exactly one")
    print(f"people ({len(persons)}): " + "; ".join(persons))
    print(f"photos without people: {', '.join(backgrounds)}; restyles: {', '.join(RESTYLES)}")

    pairs = build_pairs(persons, backgrounds)
    cache = Cache()
    threshold = fi.THRESHOLD

    # identity_check itself on the same-person pairs: the time per check, and a check of the cached decisions.
    timings, disagreements = [], 0
    warm = Image.fromarray(next(iter(persons.values())))
    fi.identity_check(warm, warm)  # loads the models
    for (s_key, source), (o_key, output), _expected in pairs["same"]:
        verdict = fi.identity_check(Image.fromarray(source), Image.fromarray(output))
        timings.append(verdict.ms)
        disagreements += verdict.flagged != cache.flagged((s_key, source), (o_key, output), threshold)[0]

    result = rates(cache, pairs, threshold)
    distinct = len(persons) * (len(persons) - 1) // 2
    same, diff = result["same"], result["different"]
    identity_only = diff["wrong"] - diff["no_face"]
    print()
    print(f"threshold: similarity >= {threshold} (similarity = 1 - dlib's Euclidean distance)   model: {fi.MODEL}")
    print(
        f"same-person pairs:      {same['pairs']:4d}   miss rate (flagged): {same['wrong'] / same['pairs']:.1%}"
        f" ({same['wrong']})"
    )
    print(
        f"different-person pairs: {diff['pairs']:4d}   false-match rate (not flagged):"
        f" {diff['wrong'] / diff['pairs']:.1%}"
        f" ({diff['wrong']}): the other person matched {identity_only} ({identity_only / diff['pairs']:.1%}),"
        f" no output face found {diff['no_face']} ({diff['no_face'] / diff['pairs']:.1%})"
    )
    print(
        f"  ({distinct} pairs of distinct people, each way round, output original or one of {len(RESTYLES)} restyles)"
    )
    for kind, label in (("swap", "face swaps"), ("insert", "inserted faces"), ("no face", "no-face photos restyled")):
        r = result[kind]
        expected = "flagged" if kind != "no face" else "not flagged"
        print(f"{label + ':':24s}{r['pairs']:4d}   wrong (should be {expected}): {r['wrong']}")
    print(
        f"median time per identity_check: {statistics.median(timings):.0f} ms"
        f" (p90 {statistics.quantiles(timings, n=10)[-1]:.0f} ms, {len(timings)} checks);"
        f" cached decisions that differ from identity_check's: {disagreements}"
    )
    if args.verbose:
        for kind, r in result.items():
            for item in r["wrong_items"]:
                print(f"  wrong [{kind}] {item}")
    if args.sweep:
        for output_score in sorted({fi.OUTPUT_SCORE, 0.35, 0.5}):
            print(f"\noutput faces from detection score {output_score}:")
            print("  threshold  miss    false-match (matched / no face)  swaps missed  inserts missed")
            for t in np.arange(0.30, 0.505, 0.02):
                r = rates(cache, pairs, float(t), output_score)
                d = r["different"]
                print(
                    f"    {t:.2f}    {r['same']['wrong'] / r['same']['pairs']:5.1%}   {d['wrong'] / d['pairs']:5.1%}"
                    f" ({(d['wrong'] - d['no_face']) / d['pairs']:4.1%} / {d['no_face'] / d['pairs']:4.1%})"
                    f"          {r['swap']['wrong']:3d}           {r['insert']['wrong']:3d}"
                )
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    print(f"(bench ran {time.perf_counter() - started:.0f} s)")
    sys.exit(status)
