"""Content credentials in a real Chromium, on a remix the real worker made with the tiny pipeline.

A viewer's remix of an opted-in creator's photo is signed and watermarked by the worker; under the
post its "Content credentials" panel shows what c2pa says (the same state as the API), and without
JavaScript the panel links to the same rendering as a page. The public "Check an image" page then
reads the remix file as downloaded, the same picture stripped of all metadata and re-encoded as
JPEG (found by its watermark alone), and a photo that was never near the app.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from playwright.sync_api import expect

from remix import consent
from socialapp.models import Post, User
from tests.browser.conftest import BrowserPage, log_in, snap
from tests.conftest import client_for, wait_for
from tests.factories import PostFactory, UserFactory
from tests.remix.conftest import opt_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATE_LABELS = {"trusted": "Trusted", "valid": "Valid", "invalid": "Invalid"}
NOTHING_FOUND = (
    "No content credentials and no Remix watermark found. This does not prove the image is not AI-generated."
)


@pytest.fixture
def display_size(model: Path, settings: Any) -> None:
    """Remixes at the production display size (the tiny model's 64 px output scaled up), where the
    watermark has room; asked for before ``celery_worker`` so a worker process is started with it."""
    settings.REMIX_OUTPUT_MIN_SIDE = 512


def photo(size: tuple[int, int] = (320, 240)) -> bytes:
    """A photo with some texture (a gradient with a few shapes), made here: no credentials, no mark."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    pixels = image.load()
    assert pixels is not None
    for x in range(0, size[0], 7):
        for y in range(0, size[1], 5):
            pixels[x, y] = (200, (x * 3) % 256, (y * 5) % 256)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def stripped_jpeg(data: bytes) -> bytes:
    """The same picture with every byte of metadata gone, re-encoded as JPEG at quality 85."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = image.convert("RGB")
    clean = Image.new("RGB", pixels.size)
    clean.paste(pixels)  # a fresh image: no info, EXIF, XMP or ICC carried over
    buffer = io.BytesIO()
    clean.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def remixed_post(*, creator: User, viewer: User) -> tuple[Post, dict[str, Any], bytes]:
    """A post of ``creator``'s, the remix ``viewer`` asked for through the API (run by the real worker),
    the remix comment as the API lists it, and the remix image's bytes as the API client downloads them."""
    opt_in(creator)
    upload = SimpleUploadedFile("photo.jpg", photo())
    post = cast(Post, PostFactory(author=creator, caption="Teal square", upload=upload))
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    api = client_for(viewer)
    response = api.post(f"/api/posts/{post.pk}/remixes/", {"prompt": "make it a watercolour", "seed": 7}, format="json")
    assert response.status_code == 202, response.content
    job = wait_for(response.json()["id"])
    assert job.status == "succeeded", job.error
    comments = api.get(f"/api/posts/{post.pk}/comments/").json()["results"]
    (comment,) = [c for c in comments if c["kind"] == "remix"]
    image = api.get(urlsplit(comment["remix"]["image_url"]).path)
    assert image.status_code == 200
    data = b"".join(cast(Any, image).streaming_content) if image.streaming else image.content
    return post, comment, data


def check(browser: BrowserPage, name: str, data: bytes) -> Any:
    """Upload ``data`` on the check page; returns the result section."""
    browser.goto("/check/")
    page = browser.page
    page.get_by_label("Image").set_input_files(files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
    page.get_by_role("button", name="Check image").click()
    result = page.get_by_role("region", name=f"What “{name}” says")
    expect(result).to_be_visible()
    return result


def test_credentials_panel_and_check_page(
    open_page: Callable[..., BrowserPage], model: Path, display_size: None, celery_worker: None
) -> None:
    alice = cast(User, UserFactory(username="alice"))
    bob = cast(User, UserFactory(username="bob"))
    post, comment, remix_bytes = remixed_post(creator=alice, viewer=bob)
    comment_id, job_id = comment["id"], comment["remix"]["job"]
    api_answer = client_for(bob).get(f"/api/comments/{comment_id}/credentials/").json()
    state = api_answer["c2pa"]["state"]
    assert state in ("trusted", "valid"), api_answer
    assert api_answer["watermark"]["found"], api_answer

    # --- under the post: the panel loads the credentials when opened --------------------------------
    browser = open_page()
    log_in(browser, "bob")
    page = browser.page
    browser.goto(f"/p/{post.pk}/")
    item = page.locator(f"#comment-{comment_id}")
    panel = item.locator("details.credentials-panel")
    expect(panel).not_to_have_attribute("open", "")
    panel.get_by_text("Content credentials", exact=True).click()
    credentials = panel.locator(".credentials")
    expect(credentials.locator(".credentials__state-label")).to_have_text(STATE_LABELS[state])
    expect(credentials).to_contain_text("AI-generated")
    expect(credentials).to_contain_text("Composite with trained algorithmic media")
    expect(credentials).to_contain_text("Opened an existing image")
    expect(credentials).to_contain_text("Edited")
    expect(credentials).to_contain_text("Invisible watermark added")
    training = credentials.locator(".credentials__fact--training")
    expect(training.locator("dt")).to_have_text("AI training and data mining")
    expect(training.locator("dd")).to_have_text("Not allowed")
    expect(credentials).to_contain_text(f"Post {post.pk} by @alice")  # the ingredient: the source post
    watermark = credentials.locator(".credentials__fact--watermark")
    expect(watermark.locator("dd")).to_have_text("Found (points to this remix)")
    expect(panel.get_by_role("link", name="See the signed content credentials of this remix")).to_be_visible()
    browser.assert_clean()
    snap(browser, "remix-credentials")

    # At phone width the open panel fits.
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 900})

    # --- without JavaScript the panel is a link to the same rendering, as a page ---------------------
    plain = open_page(javascript=False)
    plain.goto(f"/p/{post.pk}/")
    plain_panel = plain.page.locator(f"#comment-{comment_id} details.credentials-panel")
    plain_panel.get_by_text("Content credentials", exact=True).click()
    plain_panel.get_by_role("link", name="See the signed content credentials of this remix").click()
    assert plain.url_path() == f"/c/{comment_id}/credentials/"
    expect(plain.page.get_by_role("heading", name="Content credentials")).to_be_visible()
    page_credentials = plain.page.locator(".credentials")
    expect(page_credentials.locator(".credentials__state-label")).to_have_text(STATE_LABELS[state])
    expect(page_credentials.locator(".credentials__fact--watermark dd")).to_have_text("Found (points to this remix)")
    plain.assert_clean()

    # --- the check page: the remix as downloaded ---------------------------------------------------
    visitor = open_page()
    visitor.goto("/")
    visitor.page.get_by_role("navigation", name="Main").get_by_role("link", name="Check an image").click()
    assert visitor.url_path() == "/check/"
    visitor.assert_clean()
    result = check(visitor, "remix.jpg", remix_bytes)
    expect(result.locator(".credentials__state-label")).to_have_text(STATE_LABELS[state])
    expect(result).to_contain_text("Composite with trained algorithmic media")
    expect(result.locator(".credentials__fact--watermark dd")).to_contain_text(
        f"This image is remix #{job_id} of a post here"
    )
    link = result.get_by_role("link", name="see it")
    expect(link).to_have_attribute("href", f"/p/{post.pk}/#comment-{comment_id}")
    visitor.assert_clean()
    snap(visitor, "check-signed")

    # --- stripped of metadata and re-encoded: only the watermark is left -----------------------------
    stripped = stripped_jpeg(remix_bytes)
    assert b"c2pa" not in stripped and b"http://ns.adobe.com/xap" not in stripped
    result = check(visitor, "stripped.jpg", stripped)
    expect(result.locator(".credentials__state-label")).to_have_text("No content credentials")
    expect(result.locator(".credentials__fact--ai dd")).to_have_text("Yes: this image carries a Remix watermark")
    expect(result.locator(".credentials__fact--watermark dd")).to_contain_text(
        f"Found. This image is remix #{job_id} of a post here"
    )
    visitor.assert_clean()
    snap(visitor, "check-stripped")
    result.get_by_role("link", name="see it").click()
    assert visitor.url_path() == f"/p/{post.pk}/#comment-{comment_id}"
    expect(visitor.page.locator(f"#comment-{comment_id} .ai-badge")).to_have_text("AI-generated")
    visitor.assert_clean()

    # --- a photo that was never here ---------------------------------------------------------------
    result = check(visitor, "holiday.jpg", photo((640, 480)))
    expect(result.locator(".credentials__nothing")).to_have_text(NOTHING_FOUND)
    expect(result.locator(".credentials__facts")).to_have_count(0)
    page = visitor.page
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    visitor.assert_clean()
    snap(visitor, "check-clean")
