"""The remix pages through Django's test client: who sees what, and every answer a form can get.

No browser and no worker here (jobs are created but their messages are sent only on commit, which a
test transaction never reaches); test_remix_flow.py drives the same pages in Chromium end to end.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from remix import consent
from remix.models import ConsentChange, CreatorSettings, RemixJob, RemixResult
from socialapp import services
from socialapp.models import Comment, Notification, Post, User
from tests.factories import PostFactory, UserFactory

pytestmark = pytest.mark.django_db


def make_user(username: str, **fields: Any) -> User:
    return cast(User, UserFactory(username=username, **fields))


def opt_in(creator: User, **fields: Any) -> None:
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True, **fields)


def remixable_post(creator: User, **fields: Any) -> Post:
    opt_in(creator)
    post = cast(Post, PostFactory(author=creator, **fields))
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    post.refresh_from_db()
    return post


def client_as(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def remix_result(job: RemixJob) -> RemixResult:
    """What the worker leaves behind for a succeeded job: the remix comment and its labelled image."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buffer, "JPEG")
    name = default_storage.save("remixes/result.jpg", ContentFile(buffer.getvalue()))
    comment = Comment.objects.create(post=job.post, author=job.requester, kind=Comment.Kind.REMIX, text=job.prompt)
    RemixJob.objects.filter(pk=job.pk).update(status=RemixJob.Status.SUCCEEDED, progress=1.0)
    return RemixResult.objects.create(job=job, comment=comment, image=name, width=64, height=48)


@pytest.fixture
def alice() -> User:
    return make_user("alice")


@pytest.fixture
def bob() -> User:
    return make_user("bob")


@pytest.fixture
def post(alice: User) -> Post:
    return remixable_post(alice, caption="Teal square")


@pytest.fixture
def video_post(alice: User, tmp_path: Path) -> Post:
    from socialapp.demo_media import make_video

    video = make_video(tmp_path / "clip.mp4", seconds=2, size=(160, 96))
    upload = SimpleUploadedFile("clip.mp4", video.read_bytes(), content_type="video/mp4")
    return remixable_post(alice, upload=upload)


# --- the post page's panel --------------------------------------------------------------------


def test_post_page_offers_the_remix_form_when_allowed(post: Post, bob: User) -> None:
    html = client_as(bob).get(f"/p/{post.pk}/").content.decode()
    assert 'id="remix-form"' in html
    assert 'name="client_request_id"' in html
    assert "labelled “AI-generated”" in html
    assert "@alice allows AI remixes of this post." in html
    assert 'type="range"' not in html  # photos have no frame to choose
    assert "Allow AI remixes of this post" not in html  # the switch is the creator's


def test_video_posts_get_a_frame_picker(video_post: Post, bob: User) -> None:
    html = client_as(bob).get(f"/p/{video_post.pk}/").content.decode()
    assert 'type="range"' in html and 'max="2.0"' in html and 'step="0.1"' in html
    assert "Use current video time" in html


def test_each_rendering_mints_a_new_request_id(post: Post, bob: User) -> None:
    client = client_as(bob)
    ids = set()
    for _ in range(2):
        html = client.get(f"/p/{post.pk}/").content.decode()
        ids.add(html.split('name="client_request_id" value="')[1].split('"')[0])
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("setup", "sentence"),
    [
        ("never_opted_in", "The creator has turned off AI remixes of their content."),
        ("post_off", "The creator has turned off AI remixes for this post."),
        ("followers_only", "The creator allows AI remixes only from accounts they follow."),
    ],
)
def test_post_page_says_why_remixing_is_not_possible(alice: User, bob: User, setup: str, sentence: str) -> None:
    if setup == "never_opted_in":
        post = cast(Post, PostFactory(author=alice, allow_remix=True))
    elif setup == "post_off":
        opt_in(alice)
        post = cast(Post, PostFactory(author=alice))
    else:
        post = remixable_post(alice)
        consent.creator_settings_update(creator=alice, actor=alice, audience="following")
    html = client_as(bob).get(f"/p/{post.pk}/").content.decode()
    assert sentence in html
    assert 'id="remix-form"' not in html


def test_anonymous_viewers_are_asked_to_log_in(post: Post) -> None:
    html = client_as(None).get(f"/p/{post.pk}/").content.decode()
    assert f'href="/login/?next=/p/{post.pk}/"' in html and "Log in to make an AI remix." in html
    assert 'id="remix-form"' not in html


def test_the_creator_gets_the_posts_switch(alice: User) -> None:
    post = cast(Post, PostFactory(author=alice))
    html = client_as(alice).get(f"/p/{post.pk}/").content.decode()
    assert "Allow AI remixes of this post" in html
    assert "AI remixes are off for your whole account" in html
    assert 'id="remix-form"' not in html


# --- asking for a remix -----------------------------------------------------------------------


def _ask(client: Client, post: Post, **fields: Any) -> Any:
    return client.post(f"/p/{post.pk}/remix/", {"prompt": "make it a watercolour", **fields})


def test_a_request_creates_the_job_and_lands_on_its_page(post: Post, bob: User) -> None:
    response = _ask(client_as(bob), post, meme_text="top|bottom", client_request_id="req-1")
    job = RemixJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/remixes/{job.pk}/"
    assert (job.requester, job.post, job.prompt, job.meme_text, job.frame_time) == (
        bob,
        post,
        "make it a watercolour",
        "top|bottom",
        None,
    )


def test_a_double_submit_creates_one_job(post: Post, bob: User) -> None:
    client = client_as(bob)
    first = _ask(client, post, client_request_id="same-page")
    second = _ask(client, post, client_request_id="same-page")
    assert RemixJob.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_htmx_requests_are_redirected_by_header(post: Post, bob: User) -> None:
    response = client_as(bob).post(f"/p/{post.pk}/remix/", {"prompt": "pop art"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/remixes/{RemixJob.objects.get().pk}/"


def test_a_video_frame_is_passed_on(video_post: Post, bob: User) -> None:
    _ask(client_as(bob), video_post, frame_time="1.3")
    assert RemixJob.objects.get().frame_time == pytest.approx(1.3)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"prompt": "   "}, "prompt", "This field is required."),
        ({"prompt": "x" * 501}, "prompt", "Ensure this value has at most 500 characters"),
        ({"meme_text": "one|two|three"}, "meme_text", "Use at most one &#x27;|&#x27; to separate"),
    ],
)
def test_invalid_requests_come_back_with_the_error_on_the_field(
    post: Post, bob: User, fields: dict[str, str], field: str, message: str
) -> None:
    response = _ask(client_as(bob), post, **fields)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html and message in html
    assert "Your remix wasn't started." in html
    assert not RemixJob.objects.exists()


def test_a_frame_outside_the_video_is_explained(video_post: Post, bob: User) -> None:
    response = _ask(client_as(bob), video_post, frame_time="9")
    assert response.status_code == 400
    assert "Choose a time between 0 and 2.0 seconds." in response.content.decode()


def test_htmx_gets_the_form_with_its_errors_to_swap_in(post: Post, bob: User) -> None:
    response = client_as(bob).post(f"/p/{post.pk}/remix/", {"prompt": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#remix-panel"
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="remix-panel"') and "This field is required." in html


def test_a_request_without_consent_is_refused_with_the_sentence(alice: User, bob: User) -> None:
    post = cast(Post, PostFactory(author=alice, allow_remix=True))
    response = _ask(client_as(bob), post)
    assert response.status_code == 403
    assert "The creator has turned off AI remixes of their content." in response.content.decode()
    assert not RemixJob.objects.exists()


def test_too_many_requests_are_429_with_a_sentence(post: Post, bob: User, settings: Any) -> None:
    settings.REMIX_RATE_LIMIT = 1
    client = client_as(bob)
    assert _ask(client, post).status_code == 302
    response = _ask(client, post, prompt="and another one")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "You&#x27;ve asked for a lot of remixes recently. Please try again in" in response.content.decode()
    htmx = client.post(f"/p/{post.pk}/remix/", {"prompt": "again"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 429 and htmx["Content-Type"].startswith("text/plain")
    assert RemixJob.objects.count() == 1


def test_anonymous_requests_go_to_the_login_page(post: Post) -> None:
    response = _ask(client_as(None), post)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- the job page -----------------------------------------------------------------------------


@pytest.fixture
def job(post: Post, bob: User) -> RemixJob:
    return RemixJob.objects.create(post=post, requester=bob, prompt="make it pop", seed=1)


@pytest.mark.parametrize(("who", "status"), [("bob", 200), ("alice", 200), ("staff", 200), ("carol", 404)])
def test_job_pages_are_for_the_requester_the_creator_and_staff(job: RemixJob, who: str, status: int) -> None:
    user = make_user(who, is_staff=who == "staff")
    response = client_as(user).get(f"/remixes/{job.pk}/")
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert "<progress" in html and f'data-status-url="/api/remixes/{job.pk}/"' in html
        assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html


def test_job_pages_need_an_account(job: RemixJob) -> None:
    response = client_as(None).get(f"/remixes/{job.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client_as(make_user("carol")).get("/remixes/999999/").status_code == 404


def test_the_fragment_of_a_finished_job_shows_the_labelled_result(job: RemixJob, bob: User) -> None:
    result = remix_result(job)
    response = client_as(bob).get(f"/remixes/{job.pk}/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="remix-job"')
    assert 'alt="AI-generated remix: make it pop"' in html and '<span class="ai-badge">AI-generated</span>' in html
    assert f'href="/p/{job.post_id}/#comment-{result.comment_id}"' in html
    assert "<progress" not in html and "data-remix-job" not in html and "refresh" not in html


def test_a_result_is_hidden_while_consent_is_off(job: RemixJob, alice: User, bob: User) -> None:
    remix_result(job)
    consent.creator_settings_update(creator=alice, actor=alice, allow_remix=False)
    html = client_as(bob).get(f"/remixes/{job.pk}/").content.decode()
    assert "The remix is hidden while the creator has AI remixes turned off." in html
    assert "ai-badge" not in html


def test_the_requester_can_cancel(job: RemixJob, bob: User) -> None:
    client = client_as(bob)
    response = client.post(f"/remixes/{job.pk}/cancel/", follow=True)
    job.refresh_from_db()
    assert job.status == "cancelled" and job.error_code == "cancelled_by_user"
    html = response.content.decode()
    assert "Remix cancelled." in html and "Cancelled by the requester." in html
    assert "Cancel remix" not in html

    again = client.post(f"/remixes/{job.pk}/cancel/", follow=True)
    assert again.status_code == 200 and "Remix cancelled." in again.content.decode()


def test_a_finished_job_cannot_be_cancelled(job: RemixJob, bob: User) -> None:
    remix_result(job)
    response = client_as(bob).post(f"/remixes/{job.pk}/cancel/", follow=True)
    assert "Too late to cancel: the remix is already succeeded." in response.content.decode()
    assert RemixJob.objects.get(pk=job.pk).status == "succeeded"


def test_others_cannot_cancel(job: RemixJob) -> None:
    assert client_as(make_user("carol")).post(f"/remixes/{job.pk}/cancel/").status_code == 404
    staff = client_as(make_user("staff", is_staff=True)).post(f"/remixes/{job.pk}/cancel/")
    assert staff.status_code == 403
    assert "Only the person who asked for the remix or the post&#x27;s creator can cancel it." in staff.content.decode()
    assert RemixJob.objects.get(pk=job.pk).status == "queued"


def test_my_remixes_lists_my_requests_newest_first(post: Post, bob: User) -> None:
    mine = [RemixJob.objects.create(post=post, requester=bob, prompt=f"edit {n}", seed=n) for n in range(22)]
    RemixJob.objects.create(post=post, requester=make_user("carol"), prompt="not bob's", seed=1)
    remix_result(mine[-1])
    client = client_as(bob)
    html = client.get("/me/remixes/").content.decode()
    assert html.count('class="remix-item"') == 20
    assert html.index("edit 21") < html.index("edit 20") and "not bob&#x27;s" not in html
    assert 'alt="AI-generated remix: edit 21"' in html
    older = client.get("/me/remixes/?page=2").content.decode()
    assert older.count('class="remix-item"') == 2 and "edit 0" in older


# --- consent: account, posts, ledger ----------------------------------------------------------


def test_the_settings_form_writes_consent_and_the_ledger(alice: User) -> None:
    posts = [cast(Post, PostFactory(author=alice)) for _ in range(2)]
    client = client_as(alice)
    response = client.post(
        "/settings/remix/",
        {"allow_remix": "on", "audience": "following", "new_posts_allow_remix": "on", "apply_to_existing_posts": "on"},
        follow=True,
    )
    assert response.redirect_chain == [("/settings/#remix-heading", 302)]
    saved = CreatorSettings.objects.get(user=alice)
    assert (saved.allow_remix, saved.audience, saved.new_posts_allow_remix) == (True, "following", True)
    assert all(Post.objects.get(pk=p.pk).allow_remix for p in posts)
    fields = set(ConsentChange.objects.filter(creator=alice).values_list("field", flat=True))
    assert fields == {"allow_remix", "audience", "new_posts_allow_remix", "posts.allow_remix"}
    html = response.content.decode()
    assert "Remix settings saved." in html
    assert "Account: allow remixes" in html and "off → on" in html and "2 posts set to on" in html
    assert 'id="id_allow_remix" checked' in html and 'id="id_audience_1" required checked' in html


def test_turning_remixing_off_says_how_many_remixes_it_cancelled(post: Post, bob: User, alice: User) -> None:
    RemixJob.objects.create(post=post, requester=bob, prompt="make it pop", seed=1)
    response = client_as(alice).post("/settings/remix/", {"audience": "everyone"}, follow=True)
    assert "Remix settings saved. 1 queued remix was cancelled." in response.content.decode()
    assert RemixJob.objects.get().status == "cancelled"
    assert ConsentChange.objects.filter(creator=alice).first().cancelled_jobs == 1


def test_a_forged_audience_is_a_form_error(alice: User) -> None:
    response = client_as(alice).post("/settings/remix/", {"allow_remix": "on", "audience": "strangers"})
    assert response.status_code == 400
    assert "Your remix settings weren't saved." in response.content.decode()
    assert not CreatorSettings.objects.filter(user=alice, allow_remix=True).exists()


def test_the_post_switch_is_the_creators_alone(post: Post, alice: User, bob: User) -> None:
    response = client_as(bob).post(f"/p/{post.pk}/remix-consent/", {})
    assert response.status_code == 403
    assert Post.objects.get(pk=post.pk).allow_remix is True

    response = client_as(alice).post(f"/p/{post.pk}/remix-consent/", {"next": "/settings/#remix-posts"})
    assert response.status_code == 302 and response["Location"] == "/settings/#remix-posts"
    assert Post.objects.get(pk=post.pk).allow_remix is False
    change = ConsentChange.objects.filter(creator=alice).first()
    assert (change.field, change.post_ref, change.old_value, change.new_value) == (
        "post.allow_remix",
        post.pk,
        "on",
        "off",
    )

    offsite = client_as(alice).post(
        f"/p/{post.pk}/remix-consent/", {"allow_remix": "on", "next": "https://evil.example/"}
    )
    assert offsite["Location"] == f"/p/{post.pk}/"
    assert Post.objects.get(pk=post.pk).allow_remix is True


def test_settings_lists_each_post_with_its_switch(post: Post, alice: User) -> None:
    html = client_as(alice).get("/settings/").content.decode()
    assert f'action="/p/{post.pk}/remix-consent/"' in html
    assert f'id="remix-toggle-{post.pk}" role="switch" checked' in html
    assert "hides existing remix comments until you turn it back on" in html


# --- remix comments and notifications ---------------------------------------------------------


def test_a_remix_comment_shows_its_labelled_image_until_consent_is_off(video_post: Post, alice: User) -> None:
    carol = make_user("carol")
    job = RemixJob.objects.create(post=video_post, requester=carol, prompt="neon city", seed=1, frame_time=2.0)
    result = remix_result(job)
    client = client_as(make_user("dave"))
    html = client.get(f"/p/{video_post.pk}/").content.decode()
    assert f'id="comment-{result.comment_id}"' in html
    assert 'alt="AI-generated remix: neon city"' in html and 'loading="lazy"' in html
    assert '<span class="ai-badge">AI-generated</span>' in html
    assert "AI remix of this post, frame at 0:02" in html

    consent.creator_settings_update(creator=alice, actor=alice, allow_remix=False)
    html = client.get(f"/p/{video_post.pk}/").content.decode()
    assert f'id="comment-{result.comment_id}"' not in html and "neon city" not in html


def test_the_creator_may_delete_a_remix_comment(post: Post, alice: User, bob: User) -> None:
    result = remix_result(RemixJob.objects.create(post=post, requester=bob, prompt="pop", seed=1))
    html = client_as(alice).get(f"/p/{post.pk}/").content.decode()
    assert 'Delete<span class="visually-hidden"> remix by' in html
    client_as(alice).post(f"/c/{result.comment_id}/delete/")
    assert not Comment.objects.filter(pk=result.comment_id).exists()


def test_notifications_badge_and_page(post: Post, alice: User, bob: User) -> None:
    services.notify(recipient=alice, actor=bob, kind=Notification.Kind.REMIXED, post=post, text="bob remixed it")
    client = client_as(alice)
    feed = client.get("/").content.decode()
    assert '<span class="nav__badge">1<span class="visually-hidden"> unread</span></span>' in feed
    page = client.get("/notifications/").content.decode()
    assert "bob remixed it" in page and "notification--unread" in page
    assert "nav__badge" in page  # opening the page does not read them: the person marks them read
    assert Notification.objects.get().read_at is None
    client.post("/notifications/", {"action": "read-all"})
    assert Notification.objects.get().read_at is not None
    assert "nav__badge" not in client.get("/").content.decode()
    assert client_as(None).get("/notifications/").status_code == 302
