"""Provenance through the product: every remix the worker makes is watermarked, labelled in IPTC and
signed; the credentials endpoints read it back, also after its metadata is stripped; uploads that carry
AI credentials get the "AI info" label, and remixes of them say so, without ever carrying the upload's own
manifest (an uploader's EXIF, GPS, device and file name)."""

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
    # Not even "found, not visible to you": that would confirm to whoever holds a copy that the hidden remix exists.
    assert body["watermark"] == {"found": False, "remix": None}
    assert client_for(UserFactory()).get(f"/api/comments/{result.comment_id}/credentials/").status_code == 404
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True)  # shown again: found again
    assert _verify(client_for(UserFactory()), _stripped(_bytes(result))).json()["watermark"]["found"] is True


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


def test_an_uploaded_ai_image_gets_the_label_and_its_remixes_say_so_without_its_manifest(
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
    assert client_for(viewer).get(f"/api/posts/{post.pk}/").json()["ai_label"] == "AI info"
    assert sorted(p.name for p in media_root.rglob("*") if p.is_file() and "original" in p.name) == []

    second = _remix(post, viewer, prompt="second generation")
    body = client_for(viewer).get(f"/api/comments/{second.comment_id}/credentials/").json()
    assert body["c2pa"]["state"] == "trusted"
    assert [i["title"] for i in body["c2pa"]["ingredients"]] == [f"Post {post.pk} by @reuploader"]
    store = _manifest_store(_bytes(second))
    assert len(store["manifests"]) == 1  # the first remix's manifest does not travel along
    (source,) = [a["data"] for a in _active(store)["assertions"] if a["label"] == "remix.source"]
    assert source["digitalSourceType"] == DIGITAL_SOURCE_TYPE  # the AI origin, stated by us


def test_a_phone_photos_metadata_never_reaches_a_remix(
    creator: User, viewer: User, media_root: Path, settings: Any
) -> None:
    """The pen test's finding 4: a photo uploaded with its own C2PA manifest (GPS, capture time, device, the file
    name IMG_2041.jpg, a thumbnail) had all of it inside the remix's manifest, for anyone downloading the remix."""
    from tests.remix.test_provenance import assert_nothing_private, phone_photo

    opt_in(creator)
    photo = phone_photo(Path(settings.REMIX_C2PA_CERT_CHAIN).parent)
    upload = SimpleUploadedFile("IMG_2041.jpg", photo, content_type="image/jpeg")
    post = services.post_create(author=creator, upload=upload, caption="morning run", allow_remix=True)
    result = _remix(post, viewer, prompt="make it a watercolour")
    remix = _bytes(result)
    store = _manifest_store(remix)
    assert_nothing_private(remix, store)
    for stored in media_root.rglob("*"):  # nor is any of it kept on the server
        if stored.is_file():
            assert b"IMG_2041" not in stored.read_bytes() and b"39,21.102N" not in stored.read_bytes(), stored


def _manifest_store(data: bytes) -> dict[str, Any]:
    import json

    import c2pa

    with c2pa.Reader("image/jpeg", io.BytesIO(data)) as reader:
        return dict(json.loads(reader.json()))


def _active(store: dict[str, Any]) -> dict[str, Any]:
    return dict(store["manifests"][store["active_manifest"]])


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


# The development SECRET_KEY that used to be in the repository (and so known to anyone), which keyed the watermark.
PUBLIC_DEVELOPMENT_KEY = "django-insecure-remix-development-key-do-not-use-in-production"


def test_a_watermark_forged_with_the_repositorys_public_key_is_not_attributed(
    remixable_post: Post, viewer: User, api: APIClient, settings: Any
) -> None:
    """The pen test's finding 6: with the key from the repository anyone could make an image that the verify
    endpoint attributed to a real remix of a real creator."""
    from remix.provenance import embed_watermark
    from tests.remix.remixes import finished_remix

    real = finished_remix(remixable_post, viewer)
    ours = {name: getattr(settings, name) for name in ("SECRET_KEY", "REMIX_WATERMARK_KEY") if hasattr(settings, name)}
    for name in ours:  # the attacker's side: every key the repository made public
        setattr(settings, name, PUBLIC_DEVELOPMENT_KEY)
    forged = embed_watermark(Image.linear_gradient("L").resize((512, 512)).convert("RGB"), job_id=real.job_id)
    for name, value in ours.items():
        setattr(settings, name, value)
    buffer = io.BytesIO()
    forged.save(buffer, "PNG")
    body = _verify(api, buffer.getvalue(), name="forged.png").json()
    assert body["watermark"] == {"found": False, "remix": None}
    assert body["ai_generated"] is False
    assert PUBLIC_DEVELOPMENT_KEY not in ours.values()


def test_the_model_is_named_by_its_public_id_never_a_server_path(
    remixable_post: Post, viewer: User, settings: Any, tmp_path: Path
) -> None:
    """The pen test's finding 17: the tiny model's folder under VAR_DIR was shown to users and signed into manifests."""
    result = _remix(remixable_post, viewer)
    job = client_for(viewer).get(f"/api/remixes/{result.job_id}/").json()
    assert job["model_id"] == "remix-tiny-instruct-pix2pix"
    store = _manifest_store(_bytes(result))
    agents = [a.get("softwareAgent") for a in _active_actions(store)]
    assert {"name": "remix-tiny-instruct-pix2pix", "version": job["model_revision"]} in agents
    assert str(settings.REMIX_MODEL).encode() not in _bytes(result)
    assert str(Path(settings.REMIX_MODEL).parent) not in str(store)

    settings.REMIX_MODEL = str(tmp_path / "no-such-model")
    broken = RemixJob.objects.create(post=remixable_post, requester=viewer, prompt="x", seed=1)
    assert worker.run_job(broken.pk) is worker.Outcome.FAILED
    error = client_for(viewer).get(f"/api/remixes/{broken.pk}/").json()["error"]
    assert error["code"] == "model_unavailable" and str(tmp_path) not in error["detail"]


def _active_actions(store: dict[str, Any]) -> list[dict[str, Any]]:
    (actions,) = [a["data"]["actions"] for a in _active(store)["assertions"] if a["label"] == "c2pa.actions.v2"]
    return list(actions)
