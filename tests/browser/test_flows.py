"""The browser UI end to end, in a real Chromium: sign up, upload, watch, comment, follow, settings.

Every page is screenshotted under ``VAR_DIR/screenshots/`` and must run without console errors,
uncaught exceptions or CSP violations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from socialapp.models import Comment, Follow, Post
from tests.browser.conftest import PASSWORD, BrowserPage, image_width, make_post, sign_up
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_upload_watch_comment_follow(
    open_page: Callable[..., BrowserPage], sample_video: Path, tmp_path: Path
) -> None:
    alice = open_page()
    page = alice.page

    # Sign up: lands on the feed, signed in, with its empty state.
    sign_up(alice, "alice", screenshot="signup")
    expect(page.get_by_text("No posts yet — upload the first one.")).to_be_visible()

    # Upload a real H.264 video with remixing left at its default (off).
    page.get_by_role("link", name="Upload", exact=True).click()
    expect(page.get_by_role("heading", name="Upload")).to_be_visible()
    remix_box = page.get_by_label("Allow others to make AI remixes of this post")
    expect(remix_box).not_to_be_checked()
    page.get_by_label("Video or photo").set_input_files(str(sample_video))
    page.get_by_label("Caption").fill("Sunset over the bay")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.get_by_text("Posted! Here it is.")).to_be_visible()
    alice.assert_clean()
    post = Post.objects.get()
    assert (post.media_type, post.caption, post.allow_remix) == ("video", "Sunset over the bay", False)

    # The feed shows its poster thumbnail, caption, author, duration and comment count.
    alice.goto("/")
    card = page.locator(".post-card").first
    expect(card.get_by_text("Sunset over the bay")).to_be_visible()
    expect(card.locator(".badge--duration")).to_have_text("Video, length 0:02")
    expect(card.locator(".post-card__author")).to_contain_text("alice")
    assert image_width(alice, ".post-card img") > 0
    alice.assert_clean()
    alice.screenshot("feed")

    # The post page plays the video: the browser loads its metadata (readyState >= HAVE_METADATA).
    card.locator(".post-card__link").click()
    assert alice.url_path() == f"/p/{post.pk}/"
    video = page.locator("video.post__video")
    expect(video).to_have_attribute("poster", post.poster.url)
    page.wait_for_function("() => document.querySelector('video').readyState >= 1", timeout=15_000)
    assert video.evaluate("v => v.duration") == pytest.approx(2.0, abs=0.2)
    expect(page.get_by_text("No comments yet — be the first.")).to_be_visible()
    alice.assert_clean()

    # A blank comment (the browser's own "required" check removed) comes back as the form with its
    # error, swapped in place by htmx (a 422 answer).
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Add a comment").evaluate("box => box.removeAttribute('required')")
    page.get_by_label("Add a comment").fill("   ")
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator("#id_text_error")).to_have_text("This field is required.")
    expect(page.get_by_label("Add a comment")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Add a comment")).to_be_focused()
    alice.assert_clean(allow_statuses=(422,))

    # Comment through htmx: it appears without a reload, the count goes up, the box empties.
    page.get_by_label("Add a comment").fill("First! Look at those colours.")
    page.get_by_role("button", name="Post comment").click()
    comment = page.locator("#comments .comment")
    expect(comment).to_have_count(1)
    expect(comment).to_contain_text("First! Look at those colours.")
    expect(page.locator("#comments-heading")).to_have_text("Comments 1")
    expect(page.get_by_label("Add a comment")).to_have_value("")
    expect(page.locator("#id_text_error")).to_have_count(0)
    expect(page.get_by_label("Add a comment")).to_be_focused()
    expect(page.get_by_text("No comments yet — be the first.")).to_be_hidden()
    assert page.evaluate("window.__sameDocument") is True, "the comment was posted with a full page load"
    assert Comment.objects.filter(post=post, author__username="alice").count() == 1
    alice.assert_clean()
    alice.screenshot("post")

    # A bad file (text named .mp4) is refused with a clear message; the caption survives.
    alice.goto("/upload/")
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video, just some text pretending to be one\n" * 20)
    page.get_by_label("Video or photo").set_input_files(str(fake))
    page.get_by_label("Caption").fill("Holiday clip")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Your post wasn't uploaded.")
    error = page.locator("#id_file_error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.get_by_label("Video or photo")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Caption")).to_have_value("Holiday clip")
    assert Post.objects.count() == 1
    alice.assert_clean(allow_statuses=(400,))
    alice.screenshot("upload-error")

    # Settings: edit the display name and bio. Remixing starts off (opt-in); test_remix_flow.py covers it.
    page.get_by_role("link", name="Settings").click()
    remix_section = page.locator("section", has=page.get_by_role("heading", name="AI remix"))
    expect(remix_section.get_by_label("Allow AI remixes of my content")).not_to_be_checked()
    page.get_by_label("Display name").fill("Alice Example")
    page.get_by_label("Bio").fill("Filming sunsets since 2019.")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    expect(page.get_by_label("Display name")).to_have_value("Alice Example")
    alice.assert_clean()
    alice.screenshot("settings")

    # Another account visits Alice's page and follows, then unfollows (htmx, no reload).
    bob = open_page()
    sign_up(bob, "bob")
    bob.goto("/u/alice/")
    bob_page = bob.page
    expect(bob_page.get_by_role("heading", name="Alice Example")).to_be_visible()
    expect(bob_page.get_by_text("Filming sunsets since 2019.")).to_be_visible()
    expect(bob_page.locator("#followers-count")).to_have_text("0")
    assert image_width(bob, ".post-card img") > 0
    bob.assert_clean()
    bob.screenshot("user")

    bob_page.get_by_role("button", name="Follow @alice", exact=True).click()
    expect(bob_page.get_by_role("button", name="Unfollow @alice", exact=True)).to_be_visible()
    expect(bob_page.locator("#followers-count")).to_have_text("1")
    assert Follow.objects.filter(follower__username="bob", followee__username="alice").exists()
    bob.assert_clean()

    # Following tab now shows Alice's post.
    bob.goto("/?tab=following")
    expect(bob_page.locator(".post-card")).to_have_count(1)
    bob.goto("/u/alice/")
    expect(bob_page.locator("#followers-count")).to_have_text("1")
    bob_page.get_by_role("button", name="Unfollow @alice", exact=True).click()
    expect(bob_page.get_by_role("button", name="Follow @alice", exact=True)).to_be_visible()
    expect(bob_page.locator("#followers-count")).to_have_text("0")
    assert not Follow.objects.exists()
    bob.assert_clean()

    # Bob may not delete Alice's comment: no button for him.
    bob.goto(f"/p/{post.pk}/")
    expect(bob_page.locator("#comments .comment")).to_have_count(1)
    expect(bob_page.get_by_role("button", name="Delete")).to_have_count(0)
    bob.assert_clean()

    # Log out (a POST from the nav) and back in.
    bob_page.get_by_role("button", name="Log out").click()
    expect(bob_page.get_by_role("link", name="Log in")).to_be_visible()
    bob_page.get_by_role("link", name="Log in").click()
    expect(bob_page.get_by_role("heading", name="Log in")).to_be_visible()
    bob.assert_clean()
    bob.screenshot("login")
    bob_page.get_by_label("Username").fill("bob")
    bob_page.get_by_label("Password").fill(PASSWORD)
    bob_page.get_by_role("button", name="Log in").click()
    expect(bob_page.get_by_role("button", name="Log out")).to_be_visible()
    bob.assert_clean()

    # Alice deletes her post (after the confirm dialog): gone from her page.
    alice.goto(f"/p/{post.pk}/")
    page.get_by_role("button", name="Delete post").click()
    expect(page.get_by_text("Your post was deleted.")).to_be_visible()
    expect(page.get_by_text("You haven't posted yet.")).to_be_visible()
    assert not Post.objects.exists()
    alice.assert_clean()


def test_forms_work_without_javascript(open_page: Callable[..., BrowserPage]) -> None:
    """Comment, follow and unfollow are plain form posts when JS (so htmx) is off."""
    author = UserFactory(username="carol")
    post = make_post(author=author, caption="A teal square")
    browser = open_page(javascript=False)
    sign_up(browser, "dave")
    page = browser.page

    browser.goto(f"/p/{post.pk}/")
    expect(page.locator("img.post__image")).to_be_visible()
    page.get_by_label("Add a comment").fill("Works without JavaScript")
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_text("Comment posted.")).to_be_visible()
    expect(page.locator("#comments .comment")).to_contain_text("Works without JavaScript")
    expect(page.locator("#comments-heading")).to_have_text("Comments 1")

    # The commenter can delete their own comment (no confirm dialog without JS).
    page.get_by_role("button", name="Delete comment by dave").click()
    expect(page.get_by_text("Comment deleted.")).to_be_visible()
    expect(page.locator("#comments .comment")).to_have_count(0)

    browser.goto("/u/carol/")
    page.get_by_role("button", name="Follow @carol", exact=True).click()
    expect(page.get_by_text("You now follow @carol.")).to_be_visible()
    expect(page.locator("#followers-count")).to_have_text("1")
    page.get_by_role("button", name="Unfollow @carol", exact=True).click()
    expect(page.get_by_text("You unfollowed @carol.")).to_be_visible()
    expect(page.locator("#followers-count")).to_have_text("0")
    browser.assert_clean()


def test_pages_fit_a_phone_screen(open_page: Callable[..., BrowserPage]) -> None:
    """At 375 px wide nothing scrolls sideways: the nav wraps and the grid narrows."""
    author = UserFactory(username="erin_with_a_rather_long_username")
    long_word = "Supercalifragilisticexpialidocious" * 3
    posts = [make_post(author=author, caption=f"Post {n} {long_word}") for n in range(5)]

    browser = open_page(viewport=(375, 812))
    sign_up(browser, "frank")
    page = browser.page
    for path in ("/", f"/p/{posts[0].pk}/", "/u/erin_with_a_rather_long_username/", "/upload/", "/settings/"):
        browser.goto(path)
        page.wait_for_load_state("load")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 375, f"{path} scrolls sideways at 375 px ({scroll_width} px wide)"
        browser.assert_clean()
        if path == "/":
            columns = page.evaluate(
                "getComputedStyle(document.querySelector('.post-grid')).gridTemplateColumns.split(' ').length"
            )
            assert columns == 2
            browser.screenshot("feed-phone")
        if path.startswith("/p/"):
            browser.screenshot("post-phone")


def test_feed_pages_older_posts(open_page: Callable[..., BrowserPage]) -> None:
    """20 posts a page, newest first; "Older posts" continues exactly where the page ended."""
    author = UserFactory(username="ivy")
    posts = [make_post(author=author, caption=f"Number {n}") for n in range(23)]
    browser = open_page()
    page = browser.page

    browser.goto("/")
    cards = page.locator(".post-card__caption")
    expect(cards).to_have_count(20)
    first_page = cards.all_inner_texts()
    assert first_page == [f"Number {n}" for n in range(22, 2, -1)]
    page.get_by_role("link", name="Older posts").click()
    expect(cards).to_have_count(3)
    assert cards.all_inner_texts() == ["Number 2", "Number 1", "Number 0"]
    expect(page.get_by_role("link", name="Older posts")).to_have_count(0)
    page.get_by_role("link", name="Back to newest").click()
    expect(cards).to_have_count(20)
    assert len(posts) == 23
    browser.assert_clean()


def test_error_pages(open_page: Callable[..., BrowserPage]) -> None:
    """Missing things are a friendly 404; another user's post cannot be deleted (403)."""
    post = make_post(author=UserFactory(username="gina"))
    browser = open_page()
    sign_up(browser, "hank")
    page = browser.page

    response = browser.goto("/p/999999/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    browser.assert_clean(allow_statuses=(404,))

    response = browser.goto("/u/nobody-at-all/")
    assert response.status == 404
    browser.assert_clean(allow_statuses=(404,))

    # Forge the owner's delete form: the service refuses and the 403 page says why.
    browser.goto(f"/p/{post.pk}/")
    page.evaluate(
        """pk => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = `/p/${pk}/delete/`;
            const token = document.querySelector('input[name=csrfmiddlewaretoken]').cloneNode();
            form.appendChild(token);
            document.body.appendChild(form);
            form.submit();
        }""",
        post.pk,
    )
    expect(page.get_by_role("heading", name="You can't do that")).to_be_visible()
    expect(page.get_by_text("Only the author can delete this post.")).to_be_visible()
    assert Post.objects.filter(pk=post.pk).exists()
    browser.assert_clean(allow_statuses=(403,))


def test_api_docs_render_offline_under_the_csp(open_page: Callable[..., BrowserPage]) -> None:
    """Swagger UI comes from the sidecar package: it renders the schema with no CDN and no CSP error."""
    browser = open_page()
    requested: list[str] = []
    browser.page.on("request", lambda request: requested.append(request.url))
    browser.goto("/api/docs/")
    expect(browser.page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(browser.page.get_by_text("/api/posts/", exact=True).first).to_be_visible()
    browser.screenshot("api-docs")
    assert all(url.startswith(browser.base_url) or url.startswith("data:") for url in requested), requested
    browser.assert_clean()


def test_video_can_seek_through_the_apps_media_view(open_page: Callable[..., BrowserPage], sample_video: Any) -> None:
    """The post page's video is served with byte ranges, so the browser can seek (and frame-pick)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from socialapp import services

    post = services.post_create(
        author=UserFactory(username="iris"), upload=SimpleUploadedFile("v.mp4", sample_video.read_bytes())
    )
    browser = open_page()
    browser.goto(f"/p/{post.pk}/")
    video = browser.page.locator("video")
    video.evaluate("v => new Promise(r => v.readyState >= 1 ? r() : v.addEventListener('loadedmetadata', r))")
    assert video.evaluate("v => v.seekable.length > 0 && v.seekable.end(0) > 1.5")
    video.evaluate("v => new Promise(r => { v.addEventListener('seeked', r, {once: true}); v.currentTime = 1.5; })")
    assert abs(video.evaluate("v => v.currentTime") - 1.5) < 0.2
    browser.assert_clean()
