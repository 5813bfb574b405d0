"""Provenance through the product: every remix the worker makes is watermarked, labelled in IPTC and
signed; the credentials endpoints read it back, also after its metadata is stripped; uploads that carry
AI credentials get the "AI info" label and pass their credentials on to remixes of them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from remix import consent, worker
from remix.models import RemixJob, RemixResult
from remix.provenance import DIGITAL_SOURCE_TYPE
from socialapp import services
from socialapp.models import Post, User
from tests.conftest import client_for
from tests.factories import UserFactory, jpeg_upload
from tests.remix.conftest import opt_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("model")]


@pytest.fixture(autouse=True)
def _display_size(model: Path, settings: Any) -> None:
    # Remixes at the production display size (the tiny model's 64 px output is scaled up to it), where the
    # watermark has room; other remix tests use 64 px to stay quick.
    settings.REMIX_OUTPUT_MIN_SIDE = 512


def _remix(post: Post, requester: User, prompt: str = "add a rainbow") -> RemixResult:
    job = RemixJob.objects.create(post=post, requester=requester, prompt=prompt, seed=5)
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED, RemixJob.objects.get(pk=job.pk).error
    return RemixResult.objects.select_related("comment").get(job=job)


def _bytes(result: RemixResult) -> bytes:
    with default_storage.open(result.image.name, "rb") as stored:
        return stored.read()


def _stripped(data: bytes, *, quality: int = 85) -> bytes:
    """What a screenshot-and-reupload does: pixels only, no metadata, re-encoded as JPEG."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = Image.frombytes("RGB", image.size, image.convert("RGB").tobytes())
    out = io.BytesIO()
    pixels.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _verify(api: APIClient, data: bytes, name: str = "check.jpg") -> Any:
    return api.post("/api/credentials/verify/", {"image": SimpleUploadedFile(name, data)}, format="multipart")


def test_a_remix_comment_has_signed_credentials_and_a_watermark(
    remixable_post: Post, viewer: User, viewer_api: APIClient
) -> None:
    result = _remix(remixable_post, viewer)
    comment = viewer_api.get(f"/api/posts/{remixable_post.pk}/comments/").json()["results"][-1]
    assert comment["remix"]["credentials_url"].endswith(f"/api/comments/{result.comment_id}/credentials/")

    body = viewer_api.get(f"/api/comments/{result.comment_id}/credentials/").json()
    c2pa = body["c2pa"]
    assert c2pa["present"] is True
    assert c2pa["state"] == "trusted"  # the test CA is configured as a trust anchor
    assert c2pa["failures"] == []
    assert {"c2pa.opened", "c2pa.edited", "c2pa.watermarked"} <= set(c2pa["actions"])
    assert c2pa["digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert c2pa["training_mining"] and set(c2pa["training_mining"].values()) == {"notAllowed"}
    assert c2pa["ingredients"] and c2pa["ingredients"][0]["relationship"] == "parentOf"
    assert c2pa["source_url"].endswith(f"/p/{remixable_post.pk}/")
    assert body["iptc_digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert body["ai_generated"] is True
    assert body["watermark"] == {
        "found": True,
        "remix": {
            "visible": True,
            "job": result.job_id,
            "comment": result.comment_id,
            "post": remixable_post.pk,
            "post_url": f"/p/{remixable_post.pk}/#comment-{result.comment_id}",
        },
    }


def test_verify_finds_a_stripped_and_reencoded_remix_by_its_watermark(
    remixable_post: Post, viewer: User, api: APIClient
) -> None:
    result = _remix(remixable_post, viewer)
    stripped = _stripped(_bytes(result), quality=85)
    assert b"c2pa" not in stripped and b"Iptc4xmpExt" not in stripped
    body = _verify(api, stripped).json()
    assert body["c2pa"]["present"] is False
    assert body["watermark"]["found"] is True
    assert body["watermark"]["remix"]["comment"] == result.comment_id
    assert body["ai_generated"] is True


def test_verify_reads_the_signed_file_itself(remixable_post: Post, viewer: User, api: APIClient) -> None:
    result = _remix(remixable_post, viewer)
    body = _verify(api, _bytes(result)).json()
    assert body["c2pa"]["present"] is True and body["c2pa"]["state"] in {"trusted", "valid"}
    assert body["watermark"]["remix"]["job"] == result.job_id


def test_verify_says_nothing_about_a_remix_the_caller_may_not_see(
    remixable_post: Post, creator: User, viewer: User
) -> None:
    result = _remix(remixable_post, viewer)
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=False)  # now hidden
    body = _verify(client_for(UserFactory()), _stripped(_bytes(result))).json()
    assert body["watermark"] == {"found": True, "remix": {"visible": False}}
    assert client_for(UserFactory()).get(f"/api/comments/{result.comment_id}/credentials/").status_code == 404


def test_a_clean_photo_has_no_credentials_and_no_watermark(api: APIClient) -> None:
    body = _verify(api, jpeg_upload(size=(640, 480)).read()).json()
    assert body["c2pa"]["present"] is False and body["watermark"] == {"found": False, "remix": None}
    assert body["ai_generated"] is False


@pytest.mark.parametrize(("data", "status"), [(b"", 400), (b"<svg onload=alert(1)>", 400), (b"GIF89a....", 400)])
def test_verify_rejects_what_is_not_an_image(api: APIClient, data: bytes, status: int) -> None:
    response = _verify(api, data)
    assert response.status_code == status
    assert response.json()["code"] in {"invalid_media", "invalid"}


def test_verify_too_large_is_413(api: APIClient, settings: Any) -> None:
    settings.MAX_IMAGE_BYTES = 1000
    response = _verify(api, jpeg_upload(size=(800, 800)).read())
    assert response.status_code == 413 and response.json()["code"] == "invalid_media"


def test_an_uploaded_ai_image_gets_the_label_and_its_credentials_become_an_ingredient(
    remixable_post: Post, viewer: User, creator: User, media_root: Path
) -> None:
    signed = _bytes(_remix(remixable_post, viewer, prompt="first generation"))
    reuploader = UserFactory(username="reuploader")
    opt_in(reuploader)
    post = services.post_create(
        author=reuploader, upload=SimpleUploadedFile("ai.jpg", signed), caption="found this", allow_remix=True
    )
    assert post.ai_info is not None and post.ai_info["source"] == "c2pa"
    assert post.ai_info["digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert post.original.name.endswith(".original")
    assert client_for(viewer).get(f"/api/posts/{post.pk}/").json()["ai_label"] == "AI info"
    assert client_for(viewer).get(f"/media/{post.original.name}").status_code == 404  # kept, never served

    second = _remix(post, viewer, prompt="second generation")
    body = client_for(viewer).get(f"/api/comments/{second.comment_id}/credentials/").json()
    assert body["c2pa"]["state"] == "trusted"
    titles = [ingredient.get("title") for ingredient in body["c2pa"]["ingredients"]]
    assert titles, body["c2pa"]
    assert post.original.name


def test_an_iptc_only_ai_label_is_read_too(user: User) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), "orange").save(buffer, "JPEG", xmp=xmp)
    post = services.post_create(author=user, upload=SimpleUploadedFile("gen.jpg", buffer.getvalue()))
    assert post.ai_info == {
        "source": "iptc",
        "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        "c2pa_state": None,
    }
    assert not post.original  # nothing signed to pass on
    plain = services.post_create(author=user, upload=jpeg_upload())
    assert plain.ai_info is None


def test_no_signing_identity_fails_the_job_rather_than_publishing_unsigned(
    remixable_post: Post, viewer: User, settings: Any, tmp_path: Path
) -> None:
    settings.REMIX_C2PA_CERT_CHAIN = str(tmp_path / "missing-chain.pem")
    settings.REMIX_C2PA_PRIVATE_KEY = str(tmp_path / "missing.key")
    job = RemixJob.objects.create(post=remixable_post, requester=viewer, prompt="x", seed=1)
    assert worker.run_job(job.pk) is worker.Outcome.FAILED
    job.refresh_from_db()
    assert job.error_code == "provenance_unavailable" and job.error_detail
    assert not RemixResult.objects.exists()
