"""Output moderation: every finished remix is checked by the real NudeNet detector before anyone sees it; a flagged
one (or every one, with REMIX_HOLD_ALL_FOR_REVIEW) is attached as ``held`` and invisible everywhere until a
moderator approves it, or deletes it by rejecting it. Through the real worker and the tiny real pipeline."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient
from skimage import data as skimage_data

from remix import consent, review, worker
from remix.models import AuditEvent, RemixJob, RemixResult
from socialapp.models import Notification, Post, User
from tests.conftest import client_for, media_files, wait_for
from tests.factories import PostFactory, UserFactory
from tests.remix.conftest import opt_in


def _held(job: RemixJob) -> bool:
    return job.status == RemixJob.Status.HELD or job.is_terminal


def _remix_comments(api: APIClient, post: Post) -> list[dict[str, Any]]:
    return [c for c in api.get(f"/api/posts/{post.pk}/comments/").json()["results"] if c["kind"] == "remix"]


def _assert_invisible(post: Post, result: RemixResult, clients: list[APIClient]) -> None:
    for api in clients:
        assert _remix_comments(api, post) == []
        assert api.get(f"/api/posts/{post.pk}/").json()["remix_count"] == 0
        assert api.get(f"/api/comments/{result.comment_id}/credentials/").status_code == 404
    page = Client().get(f"/p/{post.pk}/").content.decode()
    assert result.image.url not in page and f"comment-{result.comment_id}" not in page


@pytest.fixture
def moderator(db: None) -> User:
    return UserFactory(username="moderator", is_staff=True, is_superuser=True)


# --- end to end ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker_settings(REMIX_HOLD_ALL_FOR_REVIEW=True)
def test_a_held_remix_is_invisible_until_a_moderator_approves_it(
    remixable_post: Post, creator: User, viewer: User, moderator: User, settings: Any, celery_worker: None
) -> None:
    settings.REMIX_HOLD_ALL_FOR_REVIEW = True
    viewer_api, creator_api = client_for(viewer), client_for(creator)
    response = viewer_api.post(f"/api/posts/{remixable_post.pk}/remixes/", {"prompt": "add a hat"}, format="json")
    job = wait_for(response.json()["id"], until=_held)
    assert job.status == "held", job.error
    assert job.moderation["hold_all"] is True and job.moderation["flagged"] is False  # checked all the same
    assert job.moderation["detector"] == "nudenet"
    result = RemixResult.objects.get(job=job)

    # The requester sees that it is held; nobody sees the remix; the creator has not been told.
    body = viewer_api.get(f"/api/remixes/{job.pk}/").json()
    assert body["status"] == "held" and body["error"] is None
    page = Client()
    page.force_login(viewer)
    assert "Held for review" in page.get(f"/remixes/{job.pk}/").content.decode()
    _assert_invisible(remixable_post, result, [viewer_api, creator_api, client_for(moderator), APIClient()])
    assert not Notification.objects.filter(recipient=creator).exists()
    held_event = AuditEvent.objects.get(job_ref=job.pk, action=AuditEvent.Action.OUTPUT_HELD)
    assert "every remix is held" in held_event.summary
    assert not AuditEvent.objects.filter(job_ref=job.pk, action=AuditEvent.Action.OUTPUT_PASSED).exists()

    assert review.held_remix_approve(job=job, moderator=moderator) is True
    job.refresh_from_db()
    assert job.status == "succeeded" and job.reviewed_by == moderator and job.reviewed_at is not None
    [comment] = _remix_comments(viewer_api, remixable_post)
    assert comment["id"] == result.comment_id and comment["remix"]["ai_label"] == "AI-generated"
    assert creator_api.get(f"/api/posts/{remixable_post.pk}/").json()["remix_count"] == 1
    assert viewer_api.get(f"/api/comments/{result.comment_id}/credentials/").json()["c2pa"]["state"] == "trusted"
    note = Notification.objects.get(recipient=creator)
    assert note.kind == Notification.Kind.REMIXED and note.actor == viewer and note.comment_id == result.comment_id
    assert AuditEvent.objects.filter(job_ref=job.pk, action=AuditEvent.Action.OUTPUT_APPROVED).count() == 1
    assert review.held_remix_approve(job=job, moderator=moderator) is False  # only held jobs
    assert review.held_remix_reject(job=job, moderator=moderator) is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker_settings(REMIX_HOLD_ALL_FOR_REVIEW=True)
def test_a_rejected_held_remix_is_deleted_with_its_file(
    remixable_post: Post, creator: User, viewer: User, moderator: User, settings: Any, celery_worker: None
) -> None:
    settings.REMIX_HOLD_ALL_FOR_REVIEW = True
    viewer_api = client_for(viewer)
    response = viewer_api.post(f"/api/posts/{remixable_post.pk}/remixes/", {"prompt": "add a hat"}, format="json")
    job = wait_for(response.json()["id"], until=_held)
    assert job.status == "held", job.error
    result = RemixResult.objects.get(job=job)
    image_path = Path(settings.MEDIA_ROOT) / result.image.name
    assert image_path.is_file()

    assert review.held_remix_reject(job=job, moderator=moderator, note="not ok") is True
    job.refresh_from_db()
    assert job.status == "rejected" and job.error_code == "rejected_by_moderator" and job.reviewed_by == moderator
    assert not RemixResult.objects.filter(job=job).exists()
    assert not image_path.exists()  # deleted once the rejection committed
    assert _remix_comments(viewer_api, remixable_post) == []
    body = viewer_api.get(f"/api/remixes/{job.pk}/").json()
    assert body["status"] == "rejected" and body["error"]["code"] == "rejected_by_moderator"
    note = Notification.objects.get(recipient=viewer)
    assert note.kind == Notification.Kind.REMIX_REJECTED and note.post_id == remixable_post.pk
    assert not Notification.objects.filter(recipient=creator).exists()
    event = AuditEvent.objects.get(job_ref=job.pk, action=AuditEvent.Action.OUTPUT_REJECTED)
    assert event.actor_ref == moderator.pk and event.detail["note"] == "not ok"


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker_settings(
    REMIX_OUTPUT_MIN_SIDE=512, REMIX_NUDITY_CLASSES=["FACE_FEMALE"], REMIX_NUDITY_THRESHOLD=0.5
)
def test_the_detectors_real_output_holds_a_remix(
    creator: User, viewer: User, settings: Any, celery_worker: None
) -> None:
    """A remix that shows the astronaut's face (face protection puts it back) is held when faces are configured
    as a flag: the detector's own finding on the finished image, not a switch."""
    opt_in(creator)
    consent.creator_settings_update(creator=creator, actor=creator, protect_face=True)
    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).save(buffer, "JPEG", quality=95)
    post = PostFactory(author=creator, upload=SimpleUploadedFile("astronaut.jpg", buffer.getvalue()))
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    assert Post.objects.get(pk=post.pk).review_state == "published"  # uploaded under the default classes

    settings.REMIX_OUTPUT_MIN_SIDE = 512
    settings.REMIX_NUDITY_CLASSES, settings.REMIX_NUDITY_THRESHOLD = ["FACE_FEMALE"], 0.5
    viewer_api = client_for(viewer)
    response = viewer_api.post(f"/api/posts/{post.pk}/remixes/", {"prompt": "on the moon", "seed": 4}, format="json")
    job = wait_for(response.json()["id"], until=_held)
    assert job.status == "held", job.error
    assert job.moderation["flagged"] is True and job.moderation["hold_all"] is False
    assert job.moderation["matched"][0]["class"] == "FACE_FEMALE"
    event = AuditEvent.objects.get(job_ref=job.pk, action=AuditEvent.Action.OUTPUT_HELD)
    assert "FACE_FEMALE" in event.summary
    assert event.category == "sexual"
    assert _remix_comments(viewer_api, post) == []


# --- in process: consent on approval, and the admin queue -------------------------------------------------------------


def _held_job(post: Post, requester: User, settings: Any) -> RemixJob:
    settings.REMIX_HOLD_ALL_FOR_REVIEW = True
    job = RemixJob.objects.create(post=post, requester=requester, prompt="add fireworks", seed=3)
    assert worker.run_job(job.pk) is worker.Outcome.HELD
    job.refresh_from_db()
    return job


@pytest.mark.django_db
@pytest.mark.usefixtures("model")
def test_approving_after_consent_was_withdrawn_shows_nothing(
    remixable_post: Post, creator: User, viewer: User, moderator: User, settings: Any
) -> None:
    job = _held_job(remixable_post, viewer, settings)
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=False)
    assert RemixJob.objects.get(pk=job.pk).status == "held"  # consent changes cancel active jobs only
    assert review.held_remix_approve(job=job, moderator=moderator) is True
    assert _remix_comments(client_for(viewer), remixable_post) == []
    assert not Notification.objects.filter(recipient=creator, kind=Notification.Kind.REMIXED).exists()
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True)
    assert len(_remix_comments(client_for(viewer), remixable_post)) == 1  # as any remix when consent returns


@pytest.mark.django_db
@pytest.mark.usefixtures("model")
def test_the_admin_queue_and_its_actions(
    remixable_post: Post,
    creator: User,
    viewer: User,
    moderator: User,
    settings: Any,
    client: Client,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    kept, dropped = _held_job(remixable_post, viewer, settings), _held_job(remixable_post, viewer, settings)
    settings.REMIX_HOLD_ALL_FOR_REVIEW = False
    passed = RemixJob.objects.create(post=remixable_post, requester=viewer, prompt="not held", seed=1)
    assert worker.run_job(passed.pk) is worker.Outcome.SUCCEEDED
    client.force_login(moderator)

    listing = client.get("/admin/remix/heldremix/").content.decode()
    for job in (kept, dropped):
        assert RemixResult.objects.get(job=job).image.url in listing
    assert RemixResult.objects.get(job=passed).image.url not in listing
    assert "add fireworks" in listing and "Every remix is held" in listing
    assert (
        "Approve: run the selected requests, show the selected remixes" in listing and "delete_selected" not in listing
    )
    assert client.get("/admin/remix/heldremix/add/").status_code == 403
    detail = client.get(f"/admin/remix/heldremix/{kept.pk}/change/").content.decode()
    assert RemixResult.objects.get(job=kept).image.url in detail and 'name="prompt"' not in detail

    response = client.post("/admin/remix/heldremix/", {"action": "approve", "_selected_action": [kept.pk]}, follow=True)
    assert "Approved 1 held job(s)." in response.content.decode()
    dropped_file = media_root / RemixResult.objects.get(job=dropped).image.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/remix/heldremix/", {"action": "reject", "_selected_action": [dropped.pk]}, follow=True
        )
    assert "Rejected 1 held job(s)." in response.content.decode()
    assert RemixJob.objects.get(pk=kept.pk).status == "succeeded"
    assert RemixJob.objects.get(pk=dropped.pk).status == "rejected"
    assert not dropped_file.exists() and dropped_file not in media_files(media_root)
    assert len(_remix_comments(client_for(creator), remixable_post)) == 2  # the approved one and the passed one
    assert "add fireworks" not in client.get("/admin/remix/heldremix/").content.decode()
