"""Trust and safety in a real Chromium: reporting a remix, blocking someone from remixing, reading
notifications one by one or all at once, and "turn off and remove all remixes" with its confirmation.

The remix itself is made the way the worker leaves it (tests/remix/remixes.py); the worker's own path is
tested end to end in tests/browser/test_remix_flow.py. Every page must run without console errors or CSP
violations.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from remix import consent
from remix.models import RemixBlock, RemixReport
from socialapp import services
from socialapp.models import Notification, Post, User
from tests.browser.conftest import BrowserPage, image_width, log_in, make_post, snap
from tests.factories import UserFactory
from tests.remix.remixes import finished_remix

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _remixable_post(alice: User) -> Post:
    consent.creator_settings_update(creator=alice, actor=alice, allow_remix=True)
    post = make_post(author=alice, caption="Teal square")
    consent.post_allow_remix_set(post=post, actor=alice, value=True)
    return post


def test_report_a_remix(open_page: Callable[..., BrowserPage]) -> None:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    UserFactory(username="carol")
    post = _remixable_post(alice)
    result = finished_remix(post, bob, "give him a moustache")

    carol = open_page()
    log_in(carol, "carol")
    carol.goto(f"/p/{post.pk}/")
    page = carol.page
    remix = page.locator(f"#comment-{result.comment_id}")
    assert image_width(carol, f"#comment-{result.comment_id} img") > 0
    expect(remix.get_by_role("button", name="Delete remix by bob")).to_have_count(0)  # not hers to delete
    remix.locator("summary", has_text="Report").click()
    form = remix.locator("form.report-form")
    expect(form).to_be_visible()
    carol.assert_clean()
    snap(carol, "report-form")
    # Sending without a reason says what is missing, in place.
    form.get_by_role("button", name="Send report").click()
    expect(remix.get_by_text("Choose a reason.")).to_be_visible()
    carol.assert_clean(allow_statuses=(422,))
    remix.get_by_label("Why should this remix come down?").select_option(label="Harassment or bullying")
    remix.get_by_label("Anything else the moderators should know").fill("It mocks my friend.")
    remix.get_by_role("button", name="Send report").click()
    expect(remix.get_by_role("status")).to_have_text("Thanks. Your report was sent to the moderators.")
    carol.assert_clean()
    snap(carol, "report-sent")
    report = RemixReport.objects.get()
    assert (report.reporter.username, report.reason, report.text, report.job_id) == (
        "carol",
        "harassment",
        "It mocks my friend.",
        result.job_id,
    )

    # The requester sees no "Report" on their own remix; a visitor who is not signed in sees none at all.
    bob_page = open_page()
    log_in(bob_page, "bob")
    bob_page.goto(f"/p/{post.pk}/")
    expect(bob_page.page.locator(f"#comment-{result.comment_id} .report-panel")).to_have_count(0)
    bob_page.assert_clean()
    visitor = open_page()
    visitor.goto(f"/p/{post.pk}/")
    expect(visitor.page.locator(f"#comment-{result.comment_id}")).to_be_visible()
    expect(visitor.page.locator(".report-panel")).to_have_count(0)
    visitor.assert_clean()


def test_block_and_unblock_someone_from_remixing(open_page: Callable[..., BrowserPage]) -> None:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    post = _remixable_post(alice)
    result = finished_remix(post, bob, "make it snow")

    browser = open_page()
    log_in(browser, "alice")
    page = browser.page
    browser.goto("/u/bob/")
    page.get_by_role("button", name="Block from remixing @bob").click()  # app.js asks first; accepted
    expect(page.get_by_text("@bob can no longer remix your posts.")).to_be_visible()
    expect(page.get_by_role("button", name="Unblock @bob from remixing")).to_be_visible()
    expect(page.get_by_text("You blocked @bob from remixing your posts.")).to_be_visible()
    browser.assert_clean()
    snap(browser, "profile-blocked")
    assert RemixBlock.objects.filter(creator=alice, blocked=bob).exists()
    # Her own page has no such button.
    browser.goto("/u/alice/")
    expect(page.get_by_role("button", name="Block from remixing")).to_have_count(0)
    browser.assert_clean()

    # Bob's remix is hidden under her post while he is blocked.
    browser.goto(f"/p/{post.pk}/")
    expect(page.locator(f"#comment-{result.comment_id}")).to_have_count(0)
    browser.assert_clean()

    # The safety page (linked from Settings) lists him, with Unblock.
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Blocked accounts and removing remixes").click()
    expect(page.get_by_role("heading", name="Remix safety")).to_be_visible()
    blocked = page.locator(".blocked-list__item")
    expect(blocked).to_have_count(1)
    expect(blocked).to_contain_text("@bob")
    browser.assert_clean()
    snap(browser, "remix-safety")
    blocked.get_by_role("button", name="Unblock @bob").click()
    expect(page.get_by_text("@bob may remix your posts again")).to_be_visible()
    expect(page.get_by_text("You haven't blocked anyone.")).to_be_visible()
    browser.assert_clean()
    assert not RemixBlock.objects.exists()
    browser.goto(f"/p/{post.pk}/")
    expect(page.locator(f"#comment-{result.comment_id}")).to_be_visible()
    browser.assert_clean()

    # Blocking by username from the safety page works too; a wrong name is explained.
    browser.goto("/settings/remix/safety/")
    page.get_by_label("Username").fill("nobody")
    page.get_by_role("button", name="Block from remixing").click()
    expect(page.get_by_text("There is no account with that username.")).to_be_visible()
    browser.assert_clean(allow_statuses=(400,))
    page.get_by_label("Username").fill("bob")
    page.get_by_role("button", name="Block from remixing").click()
    expect(page.locator(".blocked-list__item")).to_contain_text("@bob")
    browser.assert_clean()


def test_notifications_read_one_by_one_or_all(open_page: Callable[..., BrowserPage]) -> None:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    post = make_post(author=alice)
    for text in ("bob remixed your post", "bob remixed it again", "and once more"):
        services.notify(recipient=alice, actor=bob, kind=Notification.Kind.REMIXED, post=post, text=text)

    browser = open_page()
    log_in(browser, "alice")
    page = browser.page
    badge = page.locator(".nav__badge")
    expect(badge).to_have_text("3 unread")
    page.get_by_role("link", name="Notifications").click()
    unread = page.locator(".notification--unread")
    expect(unread).to_have_count(3)
    expect(badge).to_have_text("3 unread")  # opening the page reads nothing
    browser.assert_clean()
    snap(browser, "notifications-unread")

    item = page.locator(".notification", has_text="bob remixed it again")
    item.get_by_role("button", name="Mark read").click()
    expect(unread).to_have_count(2)
    expect(page.locator(".notification", has_text="bob remixed it again")).not_to_have_class("notification--unread")
    expect(badge).to_have_text("2 unread")
    browser.assert_clean()

    page.get_by_role("button", name="Mark all read").click()
    expect(unread).to_have_count(0)
    expect(badge).to_have_count(0)
    expect(page.get_by_role("button", name="Mark all read")).to_have_count(0)
    expect(page.locator(".notification")).to_have_count(3)
    browser.assert_clean()
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_turn_off_and_remove_all_remixes(open_page: Callable[..., BrowserPage]) -> None:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    post = _remixable_post(alice)
    results = [finished_remix(post, bob, "one"), finished_remix(post, bob, "two")]
    paths = [r.image.name for r in results]

    browser = open_page()
    log_in(browser, "alice")
    page = browser.page
    browser.goto("/settings/remix/safety/")
    page.get_by_role("link", name="Turn off and remove all remixes").click()
    expect(page.get_by_role("heading", name="Turn off and remove all remixes?")).to_be_visible()
    expect(page.get_by_text("for your whole account")).to_be_visible()
    expect(page.locator(".remove-all__list")).to_contain_text("delete 2 remixes under 1 of your posts")
    browser.assert_clean()
    snap(browser, "remove-all-confirm")
    page.get_by_role("button", name="Yes, turn off and remove all remixes").click()
    expect(page.get_by_text("AI remixes are now off for your account. 2 remixes removed.")).to_be_visible()
    browser.assert_clean()
    assert not any(default_storage.exists(p) for p in paths)

    browser.goto(f"/p/{post.pk}/")
    expect(page.locator(".comment--remix")).to_have_count(0)
    browser.assert_clean()
    browser.goto("/settings/")
    expect(page.get_by_label("Allow AI remixes of my content")).not_to_be_checked()
    browser.assert_clean()

    bob_browser = open_page()
    log_in(bob_browser, "bob")
    bob_browser.page.get_by_role("link", name="Notifications").click()
    expect(bob_browser.page.locator(".notification--unread .notification__text")).to_have_text(
        "New: @alice turned off AI remixes and removed every remix of their posts (2 of yours)."
    )
    bob_browser.assert_clean()
