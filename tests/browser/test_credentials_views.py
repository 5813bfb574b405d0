"""The credentials page and the "Check an image" page through Django's test client: who sees what,
and every answer an upload can get (no browser, no worker; test_credentials_ui.py drives them end
to end in Chromium on a remix the real worker signed)."""

from __future__ import annotations

import io
from typing import Any, cast

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from remix import consent
from remix.models import RemixJob, RemixResult
from remix.views import credentials_shown
from socialapp.models import Comment, Post, User
from tests.conftest import web_client
from tests.factories import CommentFactory, PostFactory, UserFactory
from tests.remix.conftest import opt_in

pytestmark = pytest.mark.django_db


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, "JPEG")
    return buffer.getvalue()


client_as = web_client


@pytest.fixture
def alice() -> User:
    return cast(User, UserFactory(username="alice"))


@pytest.fixture
def bob() -> User:
    return cast(User, UserFactory(username="bob"))


@pytest.fixture
def post(alice: User) -> Post:
    opt_in(alice)
    post = cast(Post, PostFactory(author=alice, caption="Teal square"))
    consent.post_allow_remix_set(post=post, actor=alice, value=True)
    return post


@pytest.fixture
def remix_comment(post: Post, bob: User) -> Comment:
    """What the worker leaves behind for a succeeded job (here an unsigned image: no worker runs)."""
    job = RemixJob.objects.create(post=post, requester=bob, prompt="make it pop", seed=1)
    name = default_storage.save("remixes/result.jpg", ContentFile(jpeg()))
    comment = Comment.objects.create(post=post, author=bob, kind=Comment.Kind.REMIX, text=job.prompt)
    RemixJob.objects.filter(pk=job.pk).update(status=RemixJob.Status.SUCCEEDED, progress=1.0)
    RemixResult.objects.create(job=job, comment=comment, image=name, width=64, height=48)
    return comment


# --- /c/<id>/credentials/ -----------------------------------------------------------------------


def test_a_remix_comment_has_a_credentials_page_and_panel(remix_comment: Comment) -> None:
    page = client_as(None).get(f"/c/{remix_comment.pk}/credentials/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Content credentials</h1>" in html
    assert 'class="credentials credentials--none"' in html  # this test image was never signed

    partial = client_as(None).get(f"/c/{remix_comment.pk}/credentials/?partial=1")
    assert partial.status_code == 200
    body = partial.content.decode().strip()
    assert body.startswith('<div class="credentials') and "<html" not in body and "<h1>" not in body


def test_the_post_page_offers_the_panel_on_remix_comments_only(post: Post, remix_comment: Comment) -> None:
    text = cast(Comment, CommentFactory(post=post, text="nice"))
    html = client_as(None).get(f"/p/{post.pk}/").content.decode()
    assert f'data-credentials-url="/c/{remix_comment.pk}/credentials/?partial=1"' in html
    assert f'href="/c/{remix_comment.pk}/credentials/"' in html
    assert f"/c/{text.pk}/credentials/" not in html


def test_credentials_page_is_404_for_text_hidden_and_missing_comments(
    post: Post, remix_comment: Comment, alice: User, bob: User
) -> None:
    text = cast(Comment, CommentFactory(post=post, text="nice"))
    assert client_as(alice).get(f"/c/{text.pk}/credentials/").status_code == 404
    assert client_as(alice).get(f"/c/{remix_comment.pk + 1000}/credentials/").status_code == 404

    # The creator turns remixing off: the remix is hidden, from everyone, and so are its credentials.
    consent.creator_settings_update(creator=alice, actor=alice, allow_remix=False)
    for who in (None, alice, bob):
        for suffix in ("", "?partial=1"):
            response = client_as(who).get(f"/c/{remix_comment.pk}/credentials/{suffix}")
            assert response.status_code == 404, (who, suffix)


def test_credentials_page_only_answers_reads(remix_comment: Comment, bob: User) -> None:
    assert client_as(bob).post(f"/c/{remix_comment.pk}/credentials/").status_code == 405


# --- /check/ --------------------------------------------------------------------------------------


def test_check_page_is_public_with_a_csrf_protected_form() -> None:
    response = client_as(None).get("/check/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html and 'name="csrfmiddlewaretoken"' in html
    assert 'name="image"' in html

    strict = Client(enforce_csrf_checks=True)
    refused = strict.post("/check/", {"image": SimpleUploadedFile("a.jpg", jpeg())})
    assert refused.status_code == 403


def test_check_page_reports_a_clean_photo_plainly() -> None:
    response = client_as(None).post("/check/", {"image": SimpleUploadedFile("a.jpg", jpeg((256, 256)))})
    assert response.status_code == 200
    html = response.content.decode()
    assert "No content credentials and no Remix watermark found." in html
    assert "This does not prove the image is not AI-generated." in html


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", b"just some text, not an image"),
        ("fake.jpg", b"GIF89a not really a jpeg"),
        ("sound.wav", b"RIFF\x24\x00\x00\x00WAVEfmt "),  # RIFF, but not WebP
    ],
)
def test_check_page_rejects_what_is_not_an_image(name: str, data: bytes) -> None:
    response = client_as(None).post("/check/", {"image": SimpleUploadedFile(name, data)})
    assert response.status_code == 400
    html = response.content.decode()
    assert "That file is not an image this page can check: choose a JPEG, PNG or WebP image." in html
    assert 'role="alert"' in html


def test_check_page_asks_for_a_file() -> None:
    response = client_as(None).post("/check/", {})
    assert response.status_code == 400
    assert "Choose an image to check." in response.content.decode()


def test_check_page_rejects_a_too_large_image(settings: Any) -> None:
    settings.MAX_IMAGE_BYTES = 1024
    response = client_as(None).post("/check/", {"image": SimpleUploadedFile("big.jpg", jpeg((512, 512)))})
    assert response.status_code == 413
    assert "That file is too large to check (the limit is 1 KB)." in response.content.decode()


def test_check_page_refuses_an_oversized_body_before_reading_it(settings: Any) -> None:
    settings.MAX_IMAGE_BYTES = 1024
    response = client_as(None).post(
        "/check/", {"image": SimpleUploadedFile("huge.jpg", b"\xff\xd8\xff" + b"\0" * (1024 * 1024 + 2048))}
    )
    assert response.status_code == 413


def _watermarked_png(job_id: int) -> bytes:
    """A picture carrying ``job_id``'s watermark and nothing else (PNG: lossless, so the mark is exact)."""
    from remix.provenance import embed_watermark

    base = Image.linear_gradient("L").resize((512, 512)).convert("RGB")
    buffer = io.BytesIO()
    embed_watermark(base, job_id=job_id).save(buffer, "PNG")
    return buffer.getvalue()


def test_check_page_links_a_watermarked_remix_only_while_it_is_visible(
    remix_comment: Comment, alice: User, bob: User
) -> None:
    job = remix_comment.remix_result.job
    data = _watermarked_png(job.pk)

    html = client_as(None).post("/check/", {"image": SimpleUploadedFile("x.png", data)}).content.decode()
    assert f"This image is remix #{job.pk} of a post here" in html
    assert f'href="/p/{job.post_id}/#comment-{remix_comment.pk}"' in html

    consent.creator_settings_update(creator=alice, actor=alice, allow_remix=False)
    for who in (None, bob):
        html = client_as(who).post("/check/", {"image": SimpleUploadedFile("x.png", data)}).content.decode()
        assert "No content credentials and no Remix watermark found" in html
        assert f"remix #{job.pk}" not in html and f"#comment-{remix_comment.pk}" not in html


# --- the wording ----------------------------------------------------------------------------------


def _answer(**c2pa: Any) -> dict[str, Any]:
    base = {
        "present": True,
        "state": "trusted",
        "failures": [],
        "title": None,
        "claim_generator": None,
        "actions": [],
        "digital_source_type": None,
        "software_agent": None,
        "training_mining": None,
        "ingredients": [],
        "source_url": None,
    }
    return {
        "c2pa": {**base, **c2pa},
        "iptc_digital_source_type": None,
        "ai_generated": True,
        "watermark": {"found": False, "remix": None},
    }


def test_credentials_are_put_in_words() -> None:
    shown = credentials_shown(
        _answer(
            actions=["c2pa.opened", "c2pa.edited", "c2pa.edited", "c2pa.watermarked", "c2pa.color_adjustments"],
            digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
            training_mining={"cawg.ai_generative_training": "notAllowed", "cawg.data_mining": "notAllowed"},
            source_url="javascript:alert(1)",
        )
    )
    assert shown["state_label"] == "Trusted"
    assert shown["source_type"] == "Composite with trained algorithmic media"
    assert shown["actions"] == ["Opened an existing image", "Edited", "Invisible watermark added", "Colours adjusted"]
    assert shown["training"] == [("AI training and data mining", "Not allowed")]
    assert shown["source_url"] is None  # only plain web links are ever linked

    mixed = credentials_shown(
        _answer(training_mining={"cawg.ai_training": "allowed", "cawg.data_mining": "notAllowed"})
    )
    assert mixed["training"] == [("AI training", "Allowed"), ("Data mining", "Not allowed")]

    invalid = credentials_shown(_answer(state="invalid", failures=["assertion.dataHash.mismatch"]))
    assert (invalid["state"], invalid["state_label"], invalid["failures"]) == (
        "invalid",
        "Invalid",
        ["assertion.dataHash.mismatch"],
    )
