"""Face protection on a real photo with a face: scikit-image's public-domain astronaut portrait (Eileen Collins,
NASA), OpenCV's bundled cascades and NudeNet's face classes, and the real worker with the tiny pipeline."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageOps
from skimage import data as skimage_data

from remix import consent, policy
from remix.faces import Box, detect_faces, face_mask, protect_faces
from remix.models import ConsentChange, RemixResult
from remix.provenance import FACE_PROTECTED_ACTION, FACE_PROTECTED_DESCRIPTION
from socialapp.demo_media import make_photo
from socialapp.models import Post, User
from tests.conftest import client_for, wait_for
from tests.factories import PostFactory
from tests.remix.conftest import opt_in

# Where the frontal cascade finds the astronaut's face on the 512 × 512 original (x, y, w, h).
ASTRONAUT_FACE = (177, 66, 95, 95)


def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


def jpeg_bytes(image: Image.Image, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def iou(a: Box, b: Box) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def region(image: Image.Image, box: Box) -> np.ndarray:
    x, y, w, h = box
    return np.asarray(image.convert("RGB"), dtype=np.float64)[y : y + h, x : x + w]


def mean_abs_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two pixel arrays, as a fraction of full scale (0..1)."""
    return float(np.abs(a - b).mean() / 255)


def inner(box: Box, share: float = 0.8) -> Box:
    """The central ``share`` of a box (the face itself, clear of the box's corners)."""
    x, y, w, h = box
    dw, dh = round(w * (1 - share) / 2), round(h * (1 - share) / 2)
    return (x + dw, y + dh, w - 2 * dw, h - 2 * dh)


def edited_astronaut() -> Image.Image:
    """A stand-in for an AI edit: the astronaut inverted and colour-rotated, so every pixel differs a lot."""
    inverted = np.asarray(ImageOps.invert(astronaut()))
    return Image.fromarray(np.ascontiguousarray(inverted[:, :, [1, 2, 0]]))


# --- detection ------------------------------------------------------------------------------------------------------


def test_the_astronauts_face_is_found_where_it_is() -> None:
    faces = detect_faces(astronaut())
    assert len(faces) == 1
    # Frontal cascade and NudeNet's FACE_FEMALE box, merged: it covers the face the cascade finds.
    assert iou(faces[0], ASTRONAUT_FACE) > 0.6, faces
    x, y, w, h = faces[0]
    fx, fy, fw, fh = ASTRONAUT_FACE
    assert x <= fx + 5 and y <= fy + 5 and x + w >= fx + fw - 5 and y + h >= fy + fh - 5


def test_faces_are_found_in_a_large_photo_in_its_own_pixels() -> None:
    big = astronaut().resize((1536, 1536), Image.Resampling.LANCZOS)
    (face,) = detect_faces(big)
    assert iou(face, tuple(3 * v for v in ASTRONAUT_FACE)) > 0.6, face  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket"])
def test_photos_without_people_have_no_faces(name: str) -> None:
    assert detect_faces(Image.fromarray(getattr(skimage_data, name)())) == []


def test_demo_media_has_no_faces(tmp_path: Any) -> None:
    with Image.open(make_photo(tmp_path / "p.jpg", size=(640, 480), scene="city")) as photo:
        assert detect_faces(photo) == []


# --- restoring ------------------------------------------------------------------------------------------------------


def test_protect_faces_restores_the_face_and_keeps_the_edit_elsewhere() -> None:
    source, edited = astronaut(), edited_astronaut()
    faces = detect_faces(source)
    protected = protect_faces(edited, source, faces)
    assert protected.size == edited.size

    # The whole detected box is inside the solid part of the ellipse: exactly the source there.
    assert mean_abs_error(region(protected, faces[0]), region(source, faces[0])) < 2 / 255
    assert mean_abs_error(region(protected, faces[0]), region(edited, faces[0])) > 0.3

    # Away from the face (beyond the ellipse and its soft rim), the edit is untouched.
    mask = face_mask(source.size, faces)
    outside = mask == 0
    assert outside.mean() > 0.8
    protected_px, edited_px = np.asarray(protected), np.asarray(edited)
    assert np.array_equal(protected_px[outside], edited_px[outside])
    # And the rim is a blend: between the two, not a hard seam.
    rim = (mask > 0.1) & (mask < 0.9)
    assert rim.any()
    source_px = np.asarray(source, dtype=np.float64)
    rim_to_source = np.abs(protected_px[rim] - source_px[rim]).mean()
    rim_to_edit = np.abs(protected_px[rim] - edited_px[rim].astype(np.float64)).mean()
    assert rim_to_source > 5 and rim_to_edit > 5


def test_protect_faces_maps_boxes_to_an_edited_image_of_another_size() -> None:
    source = astronaut()
    faces = detect_faces(source)
    edited = edited_astronaut().resize((256, 256), Image.Resampling.LANCZOS)
    protected = protect_faces(edited, source, faces)
    assert protected.size == (256, 256)
    half = tuple(round(v / 2) for v in inner(faces[0]))
    reference = source.resize((256, 256), Image.Resampling.LANCZOS)
    assert mean_abs_error(region(protected, half), region(reference, half)) < 2 / 255  # type: ignore[arg-type]
    assert np.array_equal(np.asarray(protected)[:20, :20], np.asarray(edited)[:20, :20])


def test_no_faces_no_change() -> None:
    edited = edited_astronaut()
    assert np.array_equal(np.asarray(protect_faces(edited, astronaut(), [])), np.asarray(edited))


# --- through the real worker ----------------------------------------------------------------------------------------


@pytest.fixture
def astronaut_post(creator: User) -> Post:
    """The astronaut photo, posted by a creator who allows remixes and protects their face."""
    opt_in(creator)
    consent.creator_settings_update(creator=creator, actor=creator, protect_face=True)
    post = PostFactory(author=creator, upload=SimpleUploadedFile("astronaut.jpg", jpeg_bytes(astronaut())))
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    post.refresh_from_db()
    assert post.review_state == Post.Review.PUBLISHED  # a face is not nudity (default classes)
    return post


def _stored(name: str) -> Image.Image:
    with default_storage.open(name, "rb") as stored:
        return Image.open(io.BytesIO(stored.read())).convert("RGB")


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker_settings(REMIX_OUTPUT_MIN_SIDE=512)
def test_a_remix_keeps_the_protected_face_and_changes_the_rest(
    astronaut_post: Post, viewer: User, settings: Any, model: Any, celery_worker: None
) -> None:
    settings.REMIX_OUTPUT_MIN_SIDE = 512  # the display size: the tiny model's 64 px output is scaled up to it
    viewer_api = client_for(viewer)
    response = viewer_api.post(
        f"/api/posts/{astronaut_post.pk}/remixes/", {"prompt": "make it a watercolour", "seed": 11}, format="json"
    )
    assert response.status_code == 202, response.content
    job = wait_for(response.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.params["protected_faces"] >= 1
    assert job.moderation["flagged"] is False and job.moderation["labels"]  # the detector ran on the output

    source = _stored(astronaut_post.media.name)
    result = RemixResult.objects.get(job=job)
    remix = _stored(result.image.name)
    assert remix.size == source.size == (512, 512)
    (face,) = detect_faces(source)
    # Tolerance: the restored face then went through the invisible watermark and JPEG q90, which on this photo
    # move the face's pixels by about 7.5 and 3 levels on average (measured on the same image outside the worker).
    face_error = mean_abs_error(region(remix, inner(face)), region(source, inner(face)))
    assert face_error < 12 / 255, face_error
    # The background is the random-weight model's edit: nothing like the photo.
    corner = (0, 400, 112, 112)
    assert mean_abs_error(region(remix, corner), region(source, corner)) > 20 / 255

    body = viewer_api.get(f"/api/comments/{result.comment_id}/credentials/").json()
    assert body["c2pa"]["state"] == "trusted" and body["c2pa"]["failures"] == []
    assert FACE_PROTECTED_ACTION in body["c2pa"]["actions"]
    assert body["c2pa"]["actions"].index(FACE_PROTECTED_ACTION) > body["c2pa"]["actions"].index("c2pa.edited")
    assert body["face_protected"] is True
    panel = viewer_api.get(f"/c/{result.comment_id}/credentials/?partial=1").content.decode()
    assert FACE_PROTECTED_DESCRIPTION in panel


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker_settings(REMIX_OUTPUT_MIN_SIDE=512)
def test_without_face_protection_the_face_is_edited_too(
    astronaut_post: Post, creator: User, viewer: User, settings: Any, model: Any, celery_worker: None
) -> None:
    consent.creator_settings_update(creator=creator, actor=creator, protect_face=False)
    settings.REMIX_OUTPUT_MIN_SIDE = 512
    viewer_api = client_for(viewer)
    response = viewer_api.post(f"/api/posts/{astronaut_post.pk}/remixes/", {"prompt": "x", "seed": 11}, format="json")
    job = wait_for(response.json()["id"])
    assert job.status == "succeeded", job.error
    assert "protected_faces" not in job.params
    result = RemixResult.objects.get(job=job)
    source, remix = _stored(astronaut_post.media.name), _stored(result.image.name)
    assert mean_abs_error(region(remix, ASTRONAUT_FACE), region(source, ASTRONAUT_FACE)) > 20 / 255
    body = viewer_api.get(f"/api/comments/{result.comment_id}/credentials/").json()
    assert FACE_PROTECTED_ACTION not in body["c2pa"]["actions"] and body["face_protected"] is False


# --- the setting ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_settings_page_saves_protect_my_face(creator: User, client: Any) -> None:
    client.force_login(creator)
    page = client.get("/settings/").content.decode()
    assert "Protect my face" in page and 'name="protect_face"' in page and "checked" not in _checkbox(page)

    form = {"allow_remix": "on", "audience": "everyone", "protect_face": "on"}
    assert client.post("/settings/remix/", form).status_code == 302
    assert policy.settings_of(creator).protect_face is True
    assert "checked" in _checkbox(client.get("/settings/").content.decode())  # shown as saved
    ledger = ConsentChange.objects.filter(creator=creator, field=ConsentChange.Field.PROTECT_FACE).get()
    assert (ledger.old_value, ledger.new_value) == ("off", "on")

    del form["protect_face"]  # an unticked checkbox is absent from the POST
    client.post("/settings/remix/", form)
    assert policy.settings_of(creator).protect_face is False


def _checkbox(page: str) -> str:
    start = page.index('name="protect_face"')
    return page[page.rindex("<input", 0, start) : page.index(">", start)]
