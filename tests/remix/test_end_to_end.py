"""Remix end to end: the API, a real Celery worker and the real tiny diffusers pipelines."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from PIL import Image
from rest_framework.test import APIClient

from remix.models import RemixJob, RemixResult
from remix.pipeline import reset_pipeline_cache
from remix.tasks import run_remix_job
from socialapp.models import Notification, Post, User
from tests.conftest import client_for, wait_for

# Each test asks for `celery_worker` last, so the model it runs is chosen before the worker starts.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("model")]


def _remix_comments(api: APIClient, post: Post) -> list[dict[str, Any]]:
    return [c for c in api.get(f"/api/posts/{post.pk}/comments/").json()["results"] if c["kind"] == "remix"]


@pytest.fixture(params=["instruct-pix2pix", "flux-kontext"])
def arch_model(request: pytest.FixtureRequest, settings: Any, model: Path, tiny_kontext: Path) -> str:
    settings.REMIX_MODEL = str(model if request.param == "instruct-pix2pix" else tiny_kontext)
    reset_pipeline_cache()
    return request.param


def test_allowed_remix_becomes_a_labelled_comment(
    arch_model: str,
    remixable_post: Post,
    creator: User,
    viewer: User,
    viewer_api: APIClient,
    settings: Any,
    celery_worker: None,
) -> None:
    response = viewer_api.post(
        f"/api/posts/{remixable_post.pk}/remixes/",
        {"prompt": "make it a watercolour", "meme_text": "when the|model is tiny", "seed": 7},
        format="json",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert response.json()["status"] == "queued"

    job = wait_for(job_id)
    assert job.status == "succeeded", job.error
    assert job.progress == 1.0
    assert job.started_at and job.finished_at and job.model_seconds and job.model_seconds > 0
    assert job.model_id == f"remix-tiny-{arch_model}" and job.model_revision  # its public id, never the path
    assert job.params["seed"] == 7 and job.params["arch"] == arch_model

    body = viewer_api.get(f"/api/remixes/{job_id}/").json()
    assert body["status"] == "succeeded" and body["error"] is None and body["comment"]

    [comment] = _remix_comments(viewer_api, remixable_post)
    assert comment["author"]["username"] == viewer.username
    assert comment["text"] == "make it a watercolour"
    assert comment["remix"]["ai_label"] == "AI-generated"
    assert comment["remix"]["job"] == job_id and comment["remix"]["source_post"] == remixable_post.pk
    served = viewer_api.get(comment["remix"]["image_url"])
    assert served["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(served.streaming_content))) as image:
        assert max(image.size) >= settings.REMIX_OUTPUT_MIN_SIDE

    assert viewer_api.get(f"/api/posts/{remixable_post.pk}/").json()["remix_count"] == 1
    note = Notification.objects.get(recipient=creator)
    assert note.actor == viewer and note.post == remixable_post and "remix" in note.text


def test_the_same_message_delivered_twice_yields_one_comment(
    remixable_post: Post, viewer_api: APIClient, celery_worker: None
) -> None:
    job_id = viewer_api.post(f"/api/posts/{remixable_post.pk}/remixes/", {"prompt": "add a hat"}, format="json").json()[
        "id"
    ]
    run_remix_job.delay(job_id)  # a duplicate of the message the request enqueued
    run_remix_job.delay(job_id)
    job = wait_for(job_id)
    assert job.status == "succeeded"
    wait_for(job_id, until=lambda j: True, timeout=1)
    assert RemixResult.objects.filter(job_id=job_id).count() == 1
    assert len(_remix_comments(viewer_api, remixable_post)) == 1


def test_video_frame_is_remixed_at_the_chosen_time(
    creator: User, viewer_api: APIClient, tmp_path: Path, settings: Any, celery_worker: None
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from socialapp import demo_media, services
    from tests.remix.conftest import opt_in

    opt_in(creator)
    video = demo_media.make_video(tmp_path / "v.mp4", seconds=3, size=(160, 90))
    post = services.post_create(
        author=creator, upload=SimpleUploadedFile("v.mp4", video.read_bytes()), allow_remix=True
    )
    bad = viewer_api.post(f"/api/posts/{post.pk}/remixes/", {"prompt": "x", "frame_time": 9.5}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid" and "frame_time" in bad.json()["detail"]
    job_id = viewer_api.post(
        f"/api/posts/{post.pk}/remixes/", {"prompt": "snow", "frame_time": 2.0}, format="json"
    ).json()["id"]
    job = wait_for(job_id)
    assert job.status == "succeeded", job.error
    assert job.frame_time == 2.0 and job.params["source_size"] == [160, 90]


def test_revoking_while_queued_cancels_and_nothing_is_attached(
    remixable_post: Post, creator: User, viewer_api: APIClient, celery_worker: None
) -> None:
    creator_api = client_for(creator)
    # The message reaches the worker only when this block commits, by when consent is gone.
    with transaction.atomic():
        response = viewer_api.post(f"/api/posts/{remixable_post.pk}/remixes/", {"prompt": "x"}, format="json")
        job_id = response.json()["id"]
        creator_api.patch("/api/me/remix-settings/", {"allow_remix": False}, format="json")
        assert RemixJob.objects.get(pk=job_id).status == "cancelled"  # at once, before any worker
    job = wait_for(job_id)
    assert job.status == "cancelled" and job.error_code == "consent_revoked"
    assert not RemixResult.objects.exists()
    assert _remix_comments(viewer_api, remixable_post) == []
    assert viewer_api.get(f"/api/remixes/{job_id}/").json()["error"]["code"] == "consent_revoked"
