"""Creator controls: blocking someone from remixing, "turn off and remove all remixes", deleting a remix."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.test import APIClient

from remix import consent, creator_controls, policy, worker
from remix.models import AuditEvent, ConsentChange, RemixBlock, RemixJob, RemixResult
from socialapp.models import Comment, Notification, Post, User
from tests.conftest import client_for
from tests.factories import PostFactory, UserFactory
from tests.remix.conftest import opt_in
from tests.remix.remixes import active_job, finished_remix

pytestmark = pytest.mark.django_db


def _comment_ids(api: APIClient, post: Post) -> list[int]:
    return [c["id"] for c in api.get(f"/api/posts/{post.pk}/comments/").json()["results"]]


def _web(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- blocking ---------------------------------------------------------------------------------


def test_a_block_denies_with_reason_blocked_everywhere(
    remixable_post: Post, creator: User, viewer: User, viewer_api: APIClient
) -> None:
    assert viewer_api.get(f"/api/posts/{remixable_post.pk}/").json()["remix_allowed"] is True

    response = client_for(creator).post("/api/me/remix-blocks/", {"username": "viewer"}, format="json")
    assert response.status_code == 201
    assert response.json()["user"]["username"] == "viewer"

    post = viewer_api.get(f"/api/posts/{remixable_post.pk}/").json()
    assert (post["remix_allowed"], post["remix_denied_reason"]) == (False, "blocked")
    feed = viewer_api.get(f"/api/posts/?author={creator.username}").json()["results"]
    assert feed[0]["remix_denied_reason"] == "blocked"
    refused = viewer_api.post(f"/api/posts/{remixable_post.pk}/remixes/", {"prompt": "snow"}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {
        "code": "remix_not_allowed",
        "detail": "The creator doesn't allow you to remix their content.",
        "reason": "blocked",
    }
    assert policy.remix_denied_reason(viewer=viewer, post=remixable_post) == policy.Denial.BLOCKED
    # Everyone else, and the creator, still may.
    other = UserFactory()
    assert policy.remix_denied_reason(viewer=other, post=remixable_post) is None
    assert policy.remix_denied_reason(viewer=creator, post=remixable_post) is None
    # The post page says why, in place of the form.
    html = _web(viewer).get(f"/p/{remixable_post.pk}/").content.decode()
    assert "The creator doesn&#x27;t allow you to remix their content." in html
    assert 'id="remix-form"' not in html


def test_the_account_switch_outranks_a_block_and_a_block_outranks_the_audience(creator: User, viewer: User) -> None:
    post = PostFactory(author=creator, allow_remix=True)
    consent.remix_block(creator=creator, blocked=viewer, actor=creator)
    assert policy.remix_denied_reason(viewer=viewer, post=post) == "account_disabled"
    opt_in(creator, audience="following")
    assert policy.remix_denied_reason(viewer=viewer, post=post) == "blocked"
    assert policy.denied_reasons_for(viewer=viewer, posts=[post]) == {post.pk: "blocked"}


def test_a_block_cancels_the_blocked_users_active_jobs_at_once(
    remixable_post: Post, creator: User, viewer: User
) -> None:
    queued = active_job(remixable_post, viewer)
    running = active_job(remixable_post, viewer, status=RemixJob.Status.RUNNING)
    someone_else = active_job(remixable_post, UserFactory())
    elsewhere_creator = UserFactory()
    opt_in(elsewhere_creator)
    elsewhere = active_job(PostFactory(author=elsewhere_creator, allow_remix=True), viewer)

    assert consent.remix_block(creator=creator, blocked=viewer, actor=creator) is True

    for job in (queued, running):
        job.refresh_from_db()
        assert (job.status, job.error_code) == ("cancelled", "consent_revoked")
        assert job.error_detail == "The creator doesn't allow you to remix their content."
    assert RemixJob.objects.get(pk=someone_else.pk).status == "queued"
    assert RemixJob.objects.get(pk=elsewhere.pk).status == "queued"
    change = ConsentChange.objects.get(creator=creator, field="blocked")
    assert (change.old_value, change.new_value, change.cancelled_jobs) == ("@viewer", "blocked", 2)
    event = AuditEvent.objects.get(action=AuditEvent.Action.USER_BLOCKED)
    assert (event.actor_name, event.subject_name, event.detail["cancelled_jobs"]) == ("creator", "viewer", 2)
    # Idempotent: a second block records nothing more.
    assert consent.remix_block(creator=creator, blocked=viewer, actor=creator) is False
    assert ConsentChange.objects.filter(field="blocked").count() == 1


def test_the_worker_refuses_a_blocked_requesters_job_at_claim(remixable_post: Post, creator: User) -> None:
    viewer = UserFactory()
    consent.remix_block(creator=creator, blocked=viewer, actor=creator)
    # A job that slipped in (e.g. created before the block's transaction was visible).
    job = active_job(remixable_post, viewer)
    assert worker.claim(job.pk) == worker.Outcome.CANCELLED
    job.refresh_from_db()
    assert job.status == "cancelled" and job.error_detail == "The creator doesn't allow you to remix their content."


def test_a_block_hides_existing_remixes_and_an_unblock_restores_them(
    remixable_post: Post, creator: User, viewer: User, api: APIClient
) -> None:
    blocked_remix = finished_remix(remixable_post, viewer)
    other_remix = finished_remix(remixable_post, UserFactory(), prompt="other")
    creator_api = client_for(creator)
    assert set(_comment_ids(api, remixable_post)) == {blocked_remix.comment_id, other_remix.comment_id}
    assert api.get(f"/api/posts/{remixable_post.pk}/").json()["remix_count"] == 2

    creator_api.post("/api/me/remix-blocks/", {"username": "viewer"}, format="json")
    assert _comment_ids(api, remixable_post) == [other_remix.comment_id]
    assert api.get(f"/api/posts/{remixable_post.pk}/").json()["remix_count"] == 1
    assert api.get(f"/api/comments/{blocked_remix.comment_id}/credentials/").status_code == 404
    assert f'id="comment-{blocked_remix.comment_id}"' not in Client().get(f"/p/{remixable_post.pk}/").content.decode()

    listed = creator_api.get("/api/me/remix-blocks/").json()["results"]
    assert [b["user"]["username"] for b in listed] == ["viewer"]
    assert creator_api.delete("/api/me/remix-blocks/viewer/").status_code == 204
    assert creator_api.delete("/api/me/remix-blocks/viewer/").status_code == 204  # idempotent
    assert set(_comment_ids(api, remixable_post)) == {blocked_remix.comment_id, other_remix.comment_id}
    assert policy.remix_denied_reason(viewer=viewer, post=remixable_post) is None
    assert list(AuditEvent.objects.filter(action__startswith="user.").values_list("action", flat=True)) == [
        "user.unblocked",
        "user.blocked",
    ]
    assert list(ConsentChange.objects.filter(creator=creator).values_list("field", flat=True))[:2] == [
        "unblocked",
        "blocked",
    ]


def test_block_api_answers(creator: User, viewer: User) -> None:
    creator_api = client_for(creator)
    assert creator_api.post("/api/me/remix-blocks/", {"username": "viewer"}, format="json").status_code == 201
    again = creator_api.post("/api/me/remix-blocks/", {"username": "viewer"}, format="json")
    assert again.status_code == 200 and again.json()["user"]["username"] == "viewer"
    self_block = creator_api.post("/api/me/remix-blocks/", {"username": "creator"}, format="json")
    assert self_block.status_code == 400 and self_block.json()["code"] == "cannot_block_self"
    missing = creator_api.post("/api/me/remix-blocks/", {"username": "nobody"}, format="json")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert creator_api.post("/api/me/remix-blocks/", {}, format="json").json()["code"] == "invalid"
    assert creator_api.delete("/api/me/remix-blocks/nobody/").status_code == 404
    assert RemixBlock.objects.count() == 1


def test_block_and_unblock_from_the_profile_page(creator: User, viewer: User) -> None:
    client = _web(creator)
    html = client.get("/u/viewer/").content.decode()
    assert "Block from remixing" in html and 'action="/u/viewer/remix-block/"' in html
    assert "Block from remixing" not in client.get("/u/creator/").content.decode()  # not on yourself
    assert "Block from remixing" not in Client().get("/u/viewer/").content.decode()  # signed out: nothing

    response = client.post("/u/viewer/remix-block/", {"action": "block", "next": "/u/viewer/"})
    assert response.status_code == 302 and response["Location"] == "/u/viewer/"
    assert RemixBlock.objects.filter(creator=creator, blocked=viewer).exists()
    html = client.get("/u/viewer/").content.decode()
    assert 'Unblock<span class="visually-hidden"> @viewer from remixing</span>' in html
    assert "can no longer remix your posts" in html  # the message

    safety = client.get("/settings/remix/safety/").content.decode()
    assert "@viewer" in safety and 'action="/u/viewer/remix-block/"' in safety
    client.post("/u/viewer/remix-block/", {"action": "unblock", "next": "https://evil.example/"})
    assert not RemixBlock.objects.exists()
    assert client.post("/u/creator/remix-block/", {"action": "block"}).status_code == 302
    assert not RemixBlock.objects.exists()  # never oneself
    assert Client().post("/u/viewer/remix-block/", {"action": "block"}).status_code == 302  # to the login page
    assert not RemixBlock.objects.exists()


def test_block_by_username_on_the_safety_page(creator: User, viewer: User) -> None:
    client = _web(creator)
    assert client.post("/settings/remix/safety/", {"username": "@viewer"}).status_code == 302
    assert RemixBlock.objects.filter(creator=creator, blocked=viewer).exists()
    bad = client.post("/settings/remix/safety/", {"username": "nobody"})
    assert bad.status_code == 400 and "There is no account with that username." in bad.content.decode()
    assert client.post("/settings/remix/safety/", {"username": "creator"}).status_code == 400


# --- remove all -------------------------------------------------------------------------------


def test_remove_all_turns_off_removes_every_remix_and_its_files_and_notifies_once(
    remixable_post: Post, creator: User, viewer: User, django_capture_on_commit_callbacks: Any
) -> None:
    second_post = PostFactory(author=creator, allow_remix=True)
    carol = UserFactory(username="carol")
    results = [
        finished_remix(remixable_post, viewer, "one"),
        finished_remix(second_post, viewer, "two"),
        finished_remix(remixable_post, carol, "three"),
        finished_remix(remixable_post, creator, "my own"),
    ]
    hidden = finished_remix(remixable_post, UserFactory(username="dave"), "hidden")
    consent.remix_block(creator=creator, blocked=hidden.comment.author, actor=creator)  # hidden, but removed too
    queued = active_job(remixable_post, carol)
    elsewhere = finished_remix(PostFactory(author=carol), viewer, "not the creator's")
    paths = [r.image.name for r in [*results, hidden]]
    assert all(default_storage.exists(p) for p in paths)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(creator).post("/api/me/remix-settings/remove-all/")
    assert response.status_code == 200
    assert response.json() == {"removed_remixes": 5, "cancelled_jobs": 1, "notified": 3, "allow_remix": False}

    assert policy.settings_of(creator).allow_remix is False
    assert not Comment.objects.filter(post__author=creator, kind=Comment.Kind.REMIX).exists()
    assert not RemixResult.objects.filter(job__post__author=creator).exists()
    assert not any(default_storage.exists(p) for p in paths)
    assert default_storage.exists(elsewhere.image.name)
    assert RemixJob.objects.get(pk=queued.pk).status == "cancelled"
    notes = Notification.objects.filter(kind=Notification.Kind.REMIX_REMOVED)
    assert sorted(notes.values_list("recipient__username", flat=True)) == ["carol", "dave", "viewer"]
    assert "(2 of yours)" in notes.get(recipient=viewer).text
    ledger = list(ConsentChange.objects.filter(creator=creator).values_list("field", "old_value", "new_value")[:2])
    assert ledger == [("removed_all", "5 remixes", "removed"), ("allow_remix", "on", "off")]
    event = AuditEvent.objects.get(action=AuditEvent.Action.REMIXES_REMOVED_ALL)
    assert event.detail["removed_remixes"] == 5 and event.detail["notified"] == 3
    assert event.detail["cancelled_jobs"] == 1 and sorted(event.detail["images"]) == sorted(paths)

    # Repeating it is harmless.
    again = creator_controls.remix_remove_all(creator=creator, actor=creator)
    assert (again.removed_remixes, again.cancelled_jobs, again.notified) == (0, 0, 0)


def test_remove_all_from_the_safety_page_asks_first(remixable_post: Post, creator: User, viewer: User) -> None:
    finished_remix(remixable_post, viewer)
    active_job(remixable_post, viewer)
    client = _web(creator)
    settings_page = client.get("/settings/").content.decode()
    assert 'href="/settings/remix/safety/"' in settings_page
    safety = client.get("/settings/remix/safety/").content.decode()
    assert 'href="/settings/remix/remove-all/"' in safety and "Turn off and remove all remixes" in safety
    confirm = client.get("/settings/remix/remove-all/").content.decode()
    assert "turn AI remixes <strong>off</strong> for your whole account" in confirm
    assert "cancel <strong>1</strong> queued or running remix of your posts" in confirm
    assert "delete <strong>1</strong> remix under 1 of your posts, with their images" in confirm
    assert "Yes, turn off and remove all remixes" in confirm
    assert Comment.objects.filter(kind=Comment.Kind.REMIX).exists()  # asking changed nothing

    response = client.post("/settings/remix/remove-all/", follow=True)
    assert "AI remixes are now off for your account. 1 remix removed; 1 queued remix cancelled." in (
        response.content.decode()
    )
    assert not Comment.objects.filter(kind=Comment.Kind.REMIX).exists()
    assert Client().post("/settings/remix/remove-all/").status_code == 302  # login first


# --- deleting one remix -----------------------------------------------------------------------


def test_the_creator_deleting_a_remix_is_audited_and_its_requester_told(
    remixable_post: Post, creator: User, viewer: User, django_capture_on_commit_callbacks: Any
) -> None:
    result = finished_remix(remixable_post, viewer, "put a hat on it")
    name = result.image.name
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(creator).delete(f"/api/comments/{result.comment_id}/").status_code == 204
    assert not default_storage.exists(name)
    assert RemixJob.objects.get(pk=result.job_id).status == "succeeded"
    event = AuditEvent.objects.get(action=AuditEvent.Action.REMIX_DELETED)
    assert (event.actor_name, event.subject_name, event.job_ref, event.comment_ref) == (
        "creator",
        "viewer",
        result.job_id,
        result.comment_id,
    )
    assert event.detail["image"] == name
    note = Notification.objects.get(recipient=viewer)
    assert note.kind == Notification.Kind.REMIX_REMOVED and note.actor == creator
    assert note.post_id == remixable_post.pk and note.comment_id is None
    assert note.text == "@creator removed your AI remix of their post: “put a hat on it”"


def test_the_creators_delete_button_on_the_page_does_the_same(remixable_post: Post, creator: User) -> None:
    bob = UserFactory(username="bob")
    result = finished_remix(remixable_post, bob)
    client = _web(creator)
    assert 'Delete<span class="visually-hidden"> remix by' in client.get(f"/p/{remixable_post.pk}/").content.decode()
    client.post(f"/c/{result.comment_id}/delete/")
    assert not Comment.objects.filter(pk=result.comment_id).exists()
    assert AuditEvent.objects.filter(action="remix.deleted", actor_name="creator").count() == 1
    assert Notification.objects.filter(recipient=bob, kind="remix_removed").count() == 1


def test_a_requester_deleting_their_own_remix_is_audited_without_a_notification(
    remixable_post: Post, viewer: User, viewer_api: APIClient
) -> None:
    result = finished_remix(remixable_post, viewer)
    assert viewer_api.delete(f"/api/comments/{result.comment_id}/").status_code == 204
    text = viewer_api.post(f"/api/posts/{remixable_post.pk}/comments/", {"text": "hi"}, format="json").json()
    assert client_for(remixable_post.author).delete(f"/api/comments/{text['id']}/").status_code == 204
    (event,) = AuditEvent.objects.filter(action="remix.deleted")  # the remix; a text comment is not audited
    assert event.actor_ref == viewer.pk and event.comment_ref == result.comment_id
    assert not Notification.objects.exists()
