"""The remix feature in a real Chromium, end to end with a real Celery worker and the real tiny pipeline.

A creator opts in from the settings page; a viewer asks for a remix of her video from the post page,
follows the job live on its page until the labelled result shows, and finds it under the post; the
creator is notified; when she turns remixing off the remix disappears and the form gives way to a
sentence. Every page must run without console errors or CSP violations, and is screenshotted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from remix.models import ConsentChange, RemixJob
from socialapp.models import Post
from tests.browser.conftest import BrowserPage, image_width, log_in, make_post, sign_up, snap
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The tiny model runs on a CPU shared with other test runs: the whole job can take a while.
JOB_TIMEOUT_MS = 90_000

# Before any page script runs: note every state the job page goes through (status text, progress bar),
# so the test can tell afterwards that the bar was shown and followed the job, however fast it ran.
_TRACE_JOB_PAGE = """
document.addEventListener("DOMContentLoaded", () => {
  if (!document.querySelector("#remix-job")) return;
  window.__jobTrace = [];
  const note = () => {
    const bar = document.querySelector("#remix-job progress");
    const text = document.querySelector("#remix-job [data-job-status-text]");
    const progress = bar ? (bar.hasAttribute("value") ? bar.value : "busy") : "-";
    const state = `${text ? text.textContent.trim() : ""}|${progress}`;
    if (window.__jobTrace[window.__jobTrace.length - 1] !== state) window.__jobTrace.push(state);
  };
  note();
  const everything = { subtree: true, childList: true, attributes: true, characterData: true };
  new MutationObserver(note).observe(document.body, everything);
});
"""


def test_remix_from_consent_to_labelled_comment_and_back(
    open_page: Callable[..., BrowserPage], model: Path, celery_worker: None, sample_video: Path
) -> None:
    UserFactory(username="alice")
    upload = SimpleUploadedFile("sunset.mp4", sample_video.read_bytes(), content_type="video/mp4")
    video_post = make_post(author=UserFactory(username="alice"), upload=upload, caption="Sunset over the bay")
    photo_post = make_post(author=UserFactory(username="alice"), caption="Teal square")

    # --- Alice opts in from the settings page -------------------------------------------------
    alice = open_page()
    log_in(alice, "alice")
    page = alice.page
    page.get_by_role("link", name="Settings").click()
    section = page.locator("section", has=page.get_by_role("heading", name="AI remix"))
    expect(section.get_by_text("No changes yet.")).to_be_visible()
    expect(section.get_by_label("Everyone")).to_be_checked()
    expect(section.get_by_text("hides existing remix comments until you turn it back on")).to_be_visible()
    section.get_by_label("Allow AI remixes of my content").check()
    section.get_by_label("New posts allow remixes by default").check()
    section.get_by_label("Also apply the default to all my existing posts").check()
    section.get_by_role("button", name="Save remix settings").click()
    expect(page.get_by_text("Remix settings saved.")).to_be_visible()
    section = page.locator("section", has=page.get_by_role("heading", name="AI remix"))
    expect(section.get_by_label("Allow AI remixes of my content")).to_be_checked()
    expect(section.get_by_label("Also apply the default to all my existing posts")).not_to_be_checked()
    ledger = section.locator(".ledger__row")
    expect(ledger).to_have_count(3)
    expect(ledger.filter(has_text="Account: allow remixes")).to_contain_text("off → on")
    expect(ledger.filter(has_text="Account: default for new posts")).to_contain_text("off → on")
    expect(ledger.filter(has_text="All posts: allow remixes")).to_contain_text("2 posts set to on")
    expect(section.get_by_role("switch", name="Allow AI remixes of this post — Sunset over the bay")).to_be_checked()
    expect(section.get_by_role("switch", name="Allow AI remixes of this post — Teal square")).to_be_checked()
    assert ConsentChange.objects.filter(creator__username="alice").count() == 3
    alice.assert_clean()
    snap(alice, "settings-remix")

    # --- Bob asks for a remix of a frame of her video -------------------------------------------
    bob = open_page()
    sign_up(bob, "bob")
    bob_page = bob.page
    bob_page.add_init_script(_TRACE_JOB_PAGE)
    bob.goto(f"/p/{video_post.pk}/")
    panel = bob_page.locator("#remix-panel")
    expect(panel.get_by_role("heading", name="Remix with AI")).to_be_visible()
    expect(panel).to_contain_text("labelled “AI-generated”")
    expect(panel).to_contain_text("@alice allows AI remixes of this post.")
    expect(panel.get_by_role("switch")).to_have_count(0)  # the post's switch is Alice's
    # The frame picker: play the video a little, pause, and take the frame on screen. (Played, not
    # seeked: the live test server answers media without byte ranges, so its videos cannot seek.)
    paused_at = bob_page.evaluate(
        """async () => {
            const video = document.querySelector("video");
            video.muted = true;
            await video.play();
            while (video.currentTime < 0.8) await new Promise((r) => setTimeout(r, 50));
            video.pause();
            return video.currentTime;
        }"""
    )
    chosen = round(paused_at, 1)
    panel.get_by_role("button", name="Use current video time").click()
    expect(panel.get_by_label("Frame to remix")).to_have_value(str(chosen))
    expect(panel.locator("output")).to_have_text(f"0:0{chosen}")
    panel.get_by_label("Describe the edit").fill("make it a watercolour")
    # A mistake first: htmx swaps the form back in with the error on its field (a 422), input kept.
    panel.get_by_label("Meme text").fill("one|two|three")
    panel.get_by_role("button", name="Remix with AI").click()
    expect(panel.locator("#id_meme_text_error")).to_have_text(
        "Use at most one '|' to separate the top text from the bottom text."
    )
    expect(panel.get_by_label("Describe the edit")).to_have_value("make it a watercolour")
    expect(panel.get_by_label("Frame to remix")).to_have_value(str(chosen))
    expect(panel.get_by_role("button", name="Use current video time")).to_be_visible()
    assert not RemixJob.objects.exists()
    bob.assert_clean(allow_statuses=(422,))
    panel.get_by_label("Meme text").fill("when the sunset|is a remix")
    bob.assert_clean()
    snap(bob, "post-remix-form")
    panel.get_by_role("button", name="Remix with AI").click()

    # The job page: the bar follows the job through the API until the labelled result replaces it.
    bob_page.wait_for_url("**/remixes/*/")
    job = RemixJob.objects.get()
    assert bob.url_path() == f"/remixes/{job.pk}/"
    assert (job.prompt, job.meme_text, job.frame_time) == (
        "make it a watercolour",
        "when the sunset|is a remix",
        chosen,
    )
    expect(bob_page.get_by_text("“make it a watercolour”")).to_be_visible()
    snap(bob, "remix-progress")
    result = bob_page.locator("#remix-job .remix-image")
    expect(result.locator(".ai-badge")).to_have_text("AI-generated", timeout=JOB_TIMEOUT_MS)
    expect(bob_page.get_by_role("status")).to_have_text("Done! Your remix is ready.")
    expect(bob_page.locator("#remix-job progress")).to_have_count(0)
    expect(bob_page.get_by_role("button", name="Cancel remix")).to_have_count(0)
    expect(result.get_by_role("img", name="AI-generated remix: make it a watercolour")).to_be_visible()
    assert image_width(bob, "#remix-job .remix-image img") > 0
    trace = bob_page.evaluate("window.__jobTrace")
    assert trace[0].split("|")[1] != "-", f"the page opened without a progress bar: {trace}"
    assert trace[-1].startswith("Done!"), trace
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    comment_id = job.result.comment_id
    bob.assert_clean()
    snap(bob, "remix-result")

    # Under the post: the remix comment, with its label on the image, the prompt, the frame and the author.
    bob_page.get_by_role("link", name="See it under the post").click()
    assert bob.url_path() == f"/p/{video_post.pk}/#comment-{comment_id}"
    comment = bob_page.locator(f"#comment-{comment_id}")
    expect(comment.locator(".ai-badge")).to_have_text("AI-generated")
    expect(comment.get_by_role("img", name="AI-generated remix: make it a watercolour")).to_be_visible()
    expect(comment).to_contain_text(f"AI remix of this post, frame at 0:0{chosen}")
    expect(comment).to_contain_text("“make it a watercolour”")
    expect(comment.locator(".comment__author")).to_have_text("bob")
    expect(comment.get_by_role("button", name="Delete remix by bob")).to_be_visible()
    assert image_width(bob, f"#comment-{comment_id} .remix-image img") > 0
    bob.assert_clean()
    snap(bob, "post-with-remix")

    # My remixes lists it, with its labelled thumbnail.
    bob_page.get_by_role("link", name="My remixes").click()
    item = bob_page.locator(".remix-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("“make it a watercolour”")
    expect(item.locator(".status")).to_have_text("Succeeded")
    expect(item.locator(".ai-badge")).to_have_text("AI-generated")
    assert image_width(bob, ".remix-item img") > 0
    bob.assert_clean()
    snap(bob, "my-remixes")

    # The remix pages fit a phone: nothing scrolls sideways at 375 px.
    bob_page.set_viewport_size({"width": 375, "height": 812})
    for path in ("/me/remixes/", f"/remixes/{job.pk}/", f"/p/{video_post.pk}/", "/settings/"):
        bob.goto(path)
        bob_page.wait_for_load_state("load")
        width = bob_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways at 375 px ({width} px wide)"
        bob.assert_clean()
    bob_page.set_viewport_size({"width": 1280, "height": 900})

    # --- Alice is notified ----------------------------------------------------------------------
    alice.goto("/")
    badge = page.locator(".nav__badge")
    expect(badge).to_have_text("1 unread")
    page.get_by_role("link", name="Notifications").click()
    note = page.locator(".notification")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("bob made an AI remix of your post: “make it a watercolour”")
    expect(note).to_contain_text("New")
    note.get_by_role("button", name="Mark read").click()
    expect(badge).to_have_count(0)
    alice.assert_clean()
    snap(alice, "notifications")
    note.get_by_role("link").click()
    assert alice.url_path() == f"/p/{video_post.pk}/#comment-{comment_id}"
    expect(page.locator(f"#comment-{comment_id}").get_by_role("button", name="Delete remix by bob")).to_be_visible()
    expect(page.locator("#remix-panel").get_by_role("switch", name="Allow AI remixes of this post")).to_be_checked()
    alice.assert_clean()

    # --- Alice turns remixing off: the remix and the form go away -------------------------------
    alice.goto("/settings/")
    section = page.locator("section", has=page.get_by_role("heading", name="AI remix"))
    section.get_by_label("Allow AI remixes of my content").uncheck()
    section.get_by_role("button", name="Save remix settings").click()
    expect(page.get_by_text("Remix settings saved.")).to_be_visible()
    expect(page.locator(".ledger__row").first).to_contain_text("on → off")
    alice.assert_clean()
    # A post's own switch saves as soon as it is flipped (remix.js submits its form).
    section = page.locator("section", has=page.get_by_role("heading", name="AI remix"))
    section.get_by_role("switch", name="Allow AI remixes of this post — Teal square").uncheck()
    expect(page.get_by_text("AI remixes of this post are now off.")).to_be_visible()
    assert alice.url_path() == "/settings/#remix-posts"
    expect(page.locator(".ledger__row").first).to_contain_text(f"Post: allow remixes · post {photo_post.pk}")
    expect(section.get_by_role("switch", name="Allow AI remixes of this post — Teal square")).not_to_be_checked()
    alice.assert_clean()

    bob.goto(f"/p/{video_post.pk}/")
    expect(bob_page.locator(f"#comment-{comment_id}")).to_have_count(0)
    expect(bob_page.locator("#remix-panel")).to_contain_text("The creator has turned off AI remixes of their content.")
    expect(bob_page.get_by_role("button", name="Remix with AI")).to_have_count(0)
    expect(bob_page.locator("#comments-heading")).to_have_text("Comments 0")
    bob.assert_clean()
    assert Post.objects.get(pk=video_post.pk).allow_remix  # the post's switch is kept for when it comes back on


def test_remix_works_without_javascript(
    open_page: Callable[..., BrowserPage], model: Path, celery_worker: None
) -> None:
    """Without JS the form is a plain post and the job page reloads itself until the result is there."""
    carol = UserFactory(username="carol")
    from remix import consent

    consent.creator_settings_update(creator=carol, actor=carol, allow_remix=True, new_posts_allow_remix=True)
    post = make_post(author=carol, caption="Teal square", allow_remix=None)
    assert post.allow_remix  # the account's default for new posts

    browser = open_page(javascript=False)
    sign_up(browser, "dave")
    page = browser.page
    browser.goto(f"/p/{post.pk}/")
    page.get_by_label("Describe the edit").fill("add a rainbow")
    page.get_by_role("button", name="Remix with AI").click()
    page.wait_for_url("**/remixes/*/")
    expect(page.locator("#remix-job .ai-badge")).to_have_text("AI-generated", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_role("img", name="AI-generated remix: add a rainbow")).to_be_visible()
    browser.assert_clean()


def test_a_post_whose_creator_never_opted_in_cannot_be_remixed(open_page: Callable[..., BrowserPage]) -> None:
    post = make_post(author=UserFactory(username="erin"), caption="Not for remixing", allow_remix=True)

    browser = open_page(viewport=(375, 812))
    sign_up(browser, "frank")
    page = browser.page
    browser.goto(f"/p/{post.pk}/")
    panel = page.locator("#remix-panel")
    expect(panel).to_contain_text("The creator has turned off AI remixes of their content.")
    expect(panel.locator("form")).to_have_count(0)
    expect(page.get_by_role("button", name="Remix with AI")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    browser.assert_clean()
    snap(browser, "post-remix-denied")

    # Signed out, the panel asks you to log in and brings you back.
    visitor = open_page()
    visitor.goto(f"/p/{post.pk}/")
    visitor.page.get_by_role("link", name="Log in to make an AI remix.").click()
    expect(visitor.page.get_by_role("heading", name="Log in")).to_be_visible()
    assert visitor.url_path() == f"/login/?next=/p/{post.pk}/"
    visitor.assert_clean()
