"""Admin actions need their own permission, and admin writes go through the site's services (the pen test's
findings 8, 9 and 10): a staff account that may only view cannot approve, publish, cancel or re-run; unticking a
post's remix toggle in admin writes the consent ledger and cancels queued jobs; deleting a follow narrows a
"following" audience; deleting or deactivating an account takes its content down, files included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from remix import audit, consent
from remix.models import AuditEvent, ConsentChange, RemixJob, RemixResult
from socialapp import services
from socialapp.models import Follow, Post, User
from tests.conftest import client_for, media_files
from tests.factories import FollowFactory, PostFactory, UserFactory
from tests.remix.conftest import opt_in
from tests.remix.remixes import active_job, finished_remix

pytestmark = pytest.mark.django_db


def staff_with(*codenames: str) -> Client:
    """A signed-in staff account with exactly these permissions (``app.codename``)."""
    user = UserFactory(is_staff=True)
    for name in codenames:
        app, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, changelist: str, action: str, *pks: int) -> Any:
    return client.post(changelist, {"action": action, "_selected_action": list(pks)}, follow=True)


def held_job(post: Post, requester: User) -> RemixJob:
    result = finished_remix(post, requester)
    RemixJob.objects.filter(pk=result.job_id).update(status=RemixJob.Status.HELD)
    return RemixJob.objects.get(pk=result.job_id)


VIEW_ONLY = (
    "remix.view_remixjob",
    "remix.view_heldremix",
    "remix.view_postunderreview",
    "remix.view_remixreport",
)


def test_a_view_only_moderator_cannot_approve_a_held_remix(remixable_post: Post, viewer: User) -> None:
    job = held_job(remixable_post, viewer)
    viewer_staff = staff_with(*VIEW_ONLY)
    listing = viewer_staff.get("/admin/remix/heldremix/").content.decode()
    assert "Approve: show the selected remixes" not in listing
    act(viewer_staff, "/admin/remix/heldremix/", "approve", job.pk)
    act(viewer_staff, "/admin/remix/heldremix/", "reject", job.pk)
    assert RemixJob.objects.get(pk=job.pk).status == RemixJob.Status.HELD
    reviewer = staff_with(*VIEW_ONLY, "remix.change_heldremix")
    act(reviewer, "/admin/remix/heldremix/", "approve", job.pk)
    assert RemixJob.objects.get(pk=job.pk).status == RemixJob.Status.SUCCEEDED


def test_a_view_only_moderator_cannot_publish_a_post_under_review(creator: User) -> None:
    post = PostFactory(author=creator)
    Post.objects.filter(pk=post.pk).update(review_state=Post.Review.PENDING)
    act(staff_with(*VIEW_ONLY), "/admin/remix/postunderreview/", "approve", post.pk)
    act(staff_with(*VIEW_ONLY), "/admin/remix/postunderreview/", "reject", post.pk)
    assert Post.objects.get(pk=post.pk).review_state == Post.Review.PENDING
    act(staff_with(*VIEW_ONLY, "remix.change_postunderreview"), "/admin/remix/postunderreview/", "approve", post.pk)
    assert Post.objects.get(pk=post.pk).review_state == Post.Review.PUBLISHED


def test_a_view_only_moderator_cannot_cancel_or_rerun_jobs(remixable_post: Post, viewer: User) -> None:
    queued = active_job(remixable_post, viewer)
    done = finished_remix(remixable_post, viewer).job
    view_only = staff_with(*VIEW_ONLY)
    act(view_only, "/admin/remix/remixjob/", "cancel_jobs", queued.pk)
    act(view_only, "/admin/remix/remixjob/", "rerun_jobs", done.pk)
    assert RemixJob.objects.get(pk=queued.pk).status == RemixJob.Status.QUEUED
    assert RemixJob.objects.count() == 2


def test_a_moderator_cancel_is_theirs_and_audited(remixable_post: Post, viewer: User) -> None:
    queued = active_job(remixable_post, viewer)
    act(staff_with("remix.view_remixjob", "remix.change_remixjob"), "/admin/remix/remixjob/", "cancel_jobs", queued.pk)
    job = RemixJob.objects.get(pk=queued.pk)
    assert (job.status, job.error_code) == (RemixJob.Status.CANCELLED, "cancelled_by_moderator")
    event = AuditEvent.objects.get(action=audit.Action.JOB_CANCELLED)
    assert event.job_ref == job.pk and event.subject_ref == viewer.pk and event.actor_ref is not None


def test_rerun_is_in_the_requesters_name_only_if_they_may_still_ask_and_is_audited(
    remixable_post: Post, viewer: User
) -> None:
    done = finished_remix(remixable_post, viewer).job
    rerunner = staff_with("remix.view_remixjob", "remix.add_remixjob")
    response = act(rerunner, "/admin/remix/remixjob/", "rerun_jobs", done.pk)
    assert "Queued 1 new job(s); 0 refused" in response.content.decode()
    rerun = RemixJob.objects.exclude(pk=done.pk).get()
    assert (rerun.requester_id, rerun.prompt) == (viewer.pk, done.prompt)
    event = AuditEvent.objects.get(action=audit.Action.JOB_RERUN)
    assert event.job_ref == rerun.pk and event.detail["original_job"] == done.pk

    creator = remixable_post.author
    consent.remix_block(creator=creator, blocked=viewer, actor=creator)
    response = act(rerunner, "/admin/remix/remixjob/", "rerun_jobs", done.pk)
    assert "Queued 0 new job(s); 1 refused" in response.content.decode()
    assert RemixJob.objects.count() == 2


def test_unticking_a_posts_toggle_in_admin_goes_through_consent(remixable_post: Post, viewer: User) -> None:
    queued = active_job(remixable_post, viewer)
    moderator = staff_with("socialapp.view_post", "socialapp.change_post")
    response = moderator.post(
        f"/admin/socialapp/post/{remixable_post.pk}/change/", {"caption": remixable_post.caption, "allow_remix": ""}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Post.objects.get(pk=remixable_post.pk).allow_remix
    change = ConsentChange.objects.filter(field=ConsentChange.Field.POST_ALLOW_REMIX).first()  # the newest
    assert change is not None and change.actor is not None and change.actor.is_staff
    assert (change.old_value, change.new_value, change.cancelled_jobs) == ("on", "off", 1)
    assert RemixJob.objects.get(pk=queued.pk).status == RemixJob.Status.CANCELLED


def test_a_moderator_cannot_turn_remixing_on_for_a_creator(creator: User) -> None:
    opt_in(creator)
    post = PostFactory(author=creator, allow_remix=False)
    moderator = staff_with("socialapp.view_post", "socialapp.change_post")
    response = moderator.post(f"/admin/socialapp/post/{post.pk}/change/", {"caption": "x", "allow_remix": "on"})
    assert response.status_code == 200 and "Only the post&#x27;s creator can allow" in response.content.decode()
    assert not Post.objects.get(pk=post.pk).allow_remix and not ConsentChange.objects.filter(post=post).exists()


def test_deleting_a_follow_in_admin_narrows_the_audience(creator: User, viewer: User) -> None:
    opt_in(creator, audience="following")
    post = PostFactory(author=creator, allow_remix=True)
    follow = FollowFactory(follower=creator, followee=viewer)
    queued = active_job(post, viewer)
    moderator = staff_with("socialapp.view_follow", "socialapp.delete_follow")
    response = moderator.post(f"/admin/socialapp/follow/{follow.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Follow.objects.exists()
    assert RemixJob.objects.get(pk=queued.pk).status == RemixJob.Status.CANCELLED


def test_deleting_an_account_in_admin_removes_its_files(
    media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    creator, other = UserFactory(), UserFactory()
    opt_in(other)
    PostFactory(author=creator)
    their_post = PostFactory(author=other, allow_remix=True)
    remix_by_creator = finished_remix(their_post, creator)
    assert len(media_files(media_root)) == 5  # two files (media, poster) a post, and the remix
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/admin/socialapp/user/{creator.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=creator.pk).exists()
    assert not RemixResult.objects.filter(pk=remix_by_creator.pk).exists()
    # Only the other user's post files remain.
    left = sorted(p.name for p in media_files(media_root))
    assert left == sorted(Path(name).name for name in (their_post.media.name, their_post.poster.name))
    event = AuditEvent.objects.get(action=audit.Action.USER_DELETED)
    assert event.detail["user"] == creator.pk and creator.username not in event.summary


def test_a_deactivated_accounts_content_is_hidden_and_not_remixable(creator: User, viewer: User) -> None:
    opt_in(creator)
    post = PostFactory(author=creator, allow_remix=True)
    other_post = PostFactory(author=viewer)
    comment = services.comment_create(post=other_post, author=creator, text="from the banned account")
    queued = active_job(PostFactory(author=viewer, allow_remix=True), creator)
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    form = {  # the change form with "Active" unticked (an unticked box is simply absent)
        "username": creator.username,
        "email": creator.email,
        "first_name": "",
        "last_name": "",
        "profile-TOTAL_FORMS": "1",
        "profile-INITIAL_FORMS": "1",
        "profile-MIN_NUM_FORMS": "0",
        "profile-MAX_NUM_FORMS": "1",
        "profile-0-id": str(creator.profile.pk),
        "profile-0-user": str(creator.pk),
        "profile-0-display_name": creator.profile.display_name,
        "profile-0-bio": "",
    }
    response = admin.post(f"/admin/socialapp/user/{creator.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not User.objects.get(pk=creator.pk).is_active
    api = client_for(viewer)
    assert api.get(f"/api/posts/{post.pk}/").status_code == 404
    assert post.pk not in [p["id"] for p in api.get("/api/posts/").json()["results"]]
    assert comment.pk not in [c["id"] for c in api.get(f"/api/posts/{other_post.pk}/comments/").json()["results"]]
    assert api.post(f"/api/posts/{post.pk}/remixes/", {"prompt": "snow"}, format="json").status_code == 404
    assert RemixJob.objects.get(pk=queued.pk).status == RemixJob.Status.CANCELLED
    assert AuditEvent.objects.filter(action=audit.Action.USER_DEACTIVATED, subject_ref=creator.pk).exists()
