"""Stage timings and dynamic batching in the worker, with the real tiny pipeline and the real worker code.

Most tests call ``remix.worker.run_job`` in the test's own process (the body of the Celery task), so the
queue can be set up exactly and a consent change made at an exact step; the last one runs the real Celery
worker. ``RemixPipeline.edit_batch`` is observed (wrapped, still run), never replaced.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import transaction
from django.test import Client

from remix import consent, jobs, worker
from remix.models import RemixBlock, RemixJob, RemixResult
from remix.pipeline import EditResult, RemixPipeline, get_pipeline
from remix.tasks import run_remix_job
from socialapp.models import Comment, Post, User
from tests.conftest import client_for, wait_for
from tests.factories import PostFactory, UserFactory, jpeg_upload

STAGES_OF_EVERY_JOB = {
    "claim",
    "load_source",
    "fit",
    "batch_wait",
    "model",
    "progress",
    "finish",
    "moderation",
    "provenance",
    "attach",
    "total",
    "outside_model",
}


class BatchSpy:
    """Records every ``edit_batch`` call (images, prompts, seeds and what it returned) and runs the real one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = RemixPipeline.edit_batch
        self.calls: list[dict[str, Any]] = []
        spy = self

        def edit_batch(pipeline: RemixPipeline, images: Any, **kwargs: Any) -> list[EditResult | None]:
            call: dict[str, Any] = {"images": list(images), **kwargs}
            spy.calls.append(call)
            call["results"] = spy.real(pipeline, images, **kwargs)
            return call["results"]

        monkeypatch.setattr(RemixPipeline, "edit_batch", edit_batch)

    @property
    def sizes(self) -> list[int]:
        return [len(call["images"]) for call in self.calls]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch, model: Path) -> BatchSpy:
    return BatchSpy(monkeypatch)


def _job(post: Post, requester: User, prompt: str = "add fireworks", seed: int = 3) -> RemixJob:
    return RemixJob.objects.create(post=post, requester=requester, prompt=prompt, seed=seed)


def _remixable(creator: User, size: tuple[int, int]) -> Post:
    post = PostFactory(author=creator, upload=jpeg_upload(size=size))
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    return Post.objects.get(pk=post.pk)


# --- stage timings ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("model")
@pytest.mark.parametrize("protect_face", [False, True])
def test_a_job_records_every_stage(remixable_post: Post, creator: User, viewer: User, protect_face: bool) -> None:
    if protect_face:
        consent.creator_settings_update(creator=creator, actor=creator, protect_face=True)
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED
    job.refresh_from_db()
    timings = job.timings
    expected = STAGES_OF_EVERY_JOB | ({"faces"} if protect_face else set())
    assert expected <= set(timings) and set(timings) - expected <= {"batch_size", "batch"}
    assert set(timings) - {"batch_size", "batch"} <= set(jobs.STAGES)
    assert all(timings[name] >= 0 for name in expected)
    assert timings["batch_size"] == 1 and timings["batch"] == [job.pk]
    # The model is most of a job; the rest is its stages, measured back to back.
    assert timings["model"] + timings["progress"] <= timings["total"]
    assert timings["outside_model"] == pytest.approx(
        timings["total"] - timings["model"] - timings["batch_wait"], abs=0.1
    )
    # The stages happen one after another within total.
    sequential = sum(timings[name] for name in expected - {"total", "outside_model"})
    assert sequential <= timings["total"] + 0.1


@pytest.mark.django_db
@pytest.mark.usefixtures("model")
def test_the_admin_shows_the_stages(remixable_post: Post, viewer: User) -> None:
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED
    job.refresh_from_db()
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    listing = client.get("/admin/remix/remixjob/").content.decode()
    assert "Outside model ms" in listing and f"{job.timings['outside_model']:.0f}" in listing
    page = client.get(f"/admin/remix/remixjob/{job.pk}/change/").content.decode()
    assert "Worker stages" in page
    for stage in ("claim", "load_source", "model", "moderation", "provenance", "attach", "outside_model"):
        assert f">{stage}</th>" in page
    assert "ran in a batch of 1" in page


# --- batching ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_compatible_queued_jobs_run_as_one_batch(
    remixable_post: Post, viewer: User, spy: BatchSpy, settings: Any
) -> None:
    other = UserFactory(username="other")
    queued = [
        _job(remixable_post, viewer, prompt="make it a watercolour", seed=11),
        _job(remixable_post, other, prompt="add a hat", seed=22),
        _job(remixable_post, viewer, prompt="snow", seed=33),
    ]
    assert worker.run_job(queued[0].pk) is worker.Outcome.SUCCEEDED
    assert spy.sizes == [3]
    call = spy.calls[0]
    assert call["prompts"] == [job.prompt for job in queued] and call["seeds"] == [job.seed for job in queued]

    ids = [job.pk for job in queued]
    for job in queued:
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        assert job.attempts == 1 and job.timings["batch_size"] == 3 and job.timings["batch"] == ids
        assert job.params["seed"] == job.seed and job.params["batch_size"] == 3
        comment = Comment.objects.get(remix_result__job=job)
        assert comment.text == job.prompt and comment.author_id == job.requester_id
    assert RemixResult.objects.count() == 3

    # Each item is its own prompt and seed: it matches that edit run alone (to within an 8-bit level, from the
    # batched kernels' summation order), and differs from its batch-mates.
    pipeline = get_pipeline()
    pixels = [np.asarray(result.image, dtype=np.int16) for result in call["results"]]
    for image, prompt, seed, batched in zip(call["images"], call["prompts"], call["seeds"], pixels, strict=True):
        [alone] = spy.real(pipeline, [image], prompts=[prompt], seeds=[seed])
        assert alone is not None
        assert np.abs(np.asarray(alone.image, dtype=np.int16) - batched).max() <= 1
    assert np.abs(pixels[0] - pixels[1]).mean() > 1 and np.abs(pixels[1] - pixels[2]).mean() > 1

    # Their own messages come later: each finds its job finished and does nothing.
    assert [worker.run_job(job_id) for job_id in ids[1:]] == [worker.Outcome.SKIPPED] * 2
    assert RemixResult.objects.count() == 3 and spy.sizes == [3]


@pytest.mark.django_db
def test_the_batch_is_capped_at_remix_max_batch(
    remixable_post: Post, viewer: User, spy: BatchSpy, settings: Any
) -> None:
    settings.REMIX_MAX_BATCH = 2
    queued = [_job(remixable_post, viewer, seed=seed) for seed in range(3)]
    assert worker.run_job(queued[0].pk) is worker.Outcome.SUCCEEDED
    assert spy.sizes == [2]
    statuses = [RemixJob.objects.get(pk=job.pk).status for job in queued]
    assert statuses == ["succeeded", "succeeded", "queued"]  # oldest first; the third waits for its message


@pytest.mark.django_db
@pytest.mark.parametrize("whose", ["lead", "companion"])
@pytest.mark.parametrize("how", ["requester blocked", "cancelled by requester"])
def test_a_job_cancelled_mid_batch_leaves_without_spoiling_the_others(
    remixable_post: Post,
    creator: User,
    viewer: User,
    spy: BatchSpy,
    monkeypatch: pytest.MonkeyPatch,
    whose: str,
    how: str,
) -> None:
    intruder = UserFactory(username="intruder")
    if whose == "lead":
        queued = [_job(remixable_post, intruder, seed=1), _job(remixable_post, viewer, seed=2)]
    else:
        queued = [_job(remixable_post, viewer, seed=1), _job(remixable_post, intruder, seed=2)]
    queued.append(_job(remixable_post, viewer, seed=3))
    gone = next(job for job in queued if job.requester_id == intruder.pk)

    asked: Counter[int] = Counter()
    real_progress = jobs.report_progress

    def progress(job_id: int, **kwargs: Any) -> bool:
        asked[job_id] += 1
        if job_id == gone.pk and asked[job_id] == 3:  # mid-diffusion, from the progress path
            if how == "requester blocked":
                consent.remix_block(creator=creator, blocked=intruder, actor=creator)
            else:
                jobs.remix_job_cancel(job=RemixJob.objects.get(pk=job_id), actor=intruder)
        return real_progress(job_id, **kwargs)

    monkeypatch.setattr(jobs, "report_progress", progress)
    outcome = worker.run_job(queued[0].pk)
    assert outcome is (worker.Outcome.INTERRUPTED if whose == "lead" else worker.Outcome.SUCCEEDED)

    assert spy.sizes == [3]
    assert spy.calls[0]["results"][queued.index(gone)] is None  # dropped from the batch
    assert asked[gone.pk] == 3, "the cancelled job was still asked about after it was dropped"
    gone.refresh_from_db()
    assert gone.status == "cancelled"
    assert gone.error_code == ("consent_revoked" if how == "requester blocked" else "cancelled_by_user")
    assert not RemixResult.objects.filter(job=gone).exists()
    assert not Comment.objects.filter(author=intruder).exists()
    assert "model" in gone.timings and "attach" not in gone.timings  # what it got through, kept

    for job in queued:
        if job.pk != gone.pk:
            job.refresh_from_db()
            assert job.status == "succeeded", job.error
            assert asked[job.pk] == job.params["steps"]
            assert RemixResult.objects.filter(job=job, comment__text=job.prompt).count() == 1


@pytest.mark.django_db
def test_incompatible_jobs_are_not_batched(
    remixable_post: Post, creator: User, viewer: User, spy: BatchSpy, settings: Any
) -> None:
    portrait = _remixable(creator, (48, 64))  # remixable_post is 64×48: another bucket
    pipeline = get_pipeline()
    assert pipeline.bucket_for((remixable_post.width, remixable_post.height)) != pipeline.bucket_for(
        (portrait.width, portrait.height)
    )
    square_ones = [_job(remixable_post, viewer, seed=1), _job(remixable_post, viewer, seed=2)]
    other = _job(portrait, viewer, seed=3)
    assert worker.run_job(square_ones[0].pk) is worker.Outcome.SUCCEEDED
    assert spy.sizes == [2]
    assert RemixJob.objects.get(pk=other.pk).status == "queued"
    assert worker.run_job(other.pk) is worker.Outcome.SUCCEEDED
    assert spy.sizes == [2, 1]
    assert [RemixJob.objects.get(pk=job.pk).timings["batch_size"] for job in [*square_ones, other]] == [2, 2, 1]


@pytest.mark.django_db
def test_a_companion_no_longer_allowed_is_cancelled_at_its_claim_not_batched(
    remixable_post: Post, creator: User, viewer: User, spy: BatchSpy
) -> None:
    blocked = UserFactory(username="blocked")
    lead = _job(remixable_post, viewer, seed=1)
    refused = _job(remixable_post, blocked, seed=2)
    # A block without the cancellation ``consent.remix_block`` does: claim's own consent check must catch it.
    RemixBlock.objects.create(creator=creator, blocked=blocked)
    assert worker.run_job(lead.pk) is worker.Outcome.SUCCEEDED
    assert spy.sizes == [1]
    refused.refresh_from_db()
    assert refused.status == "cancelled" and refused.error_code == "consent_revoked"


@pytest.mark.django_db
@pytest.mark.parametrize("wait_ms", [0, 300])
def test_a_lone_job_waits_at_most_the_batch_wait(
    remixable_post: Post, viewer: User, spy: BatchSpy, settings: Any, wait_ms: int
) -> None:
    settings.REMIX_BATCH_WAIT_MS = wait_ms
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED
    timings = RemixJob.objects.get(pk=job.pk).timings
    # Only the wait itself is bounded (not the stages around it, which a loaded CI machine stretches), with
    # slack for sleeps that overshoot: a wait that ignored the setting (seconds) would still fail here.
    assert timings["batch_wait"] <= wait_ms + 500
    if wait_ms:
        # It did wait for companions: the wait counts from the claim, so everything before the model (claim, loading
        # the pipeline, preparing the source) is part of it, and on a loaded machine may take all of it.
        after_start = ("model", "progress", "finish", "moderation", "provenance", "attach")
        before_model = timings["total"] - sum(timings.get(stage, 0.0) for stage in after_start)
        assert before_model >= wait_ms * 0.8


@pytest.mark.django_db
def test_a_companion_that_appears_while_waiting_joins_and_a_full_batch_starts_at_once(
    remixable_post: Post, viewer: User, spy: BatchSpy, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REMIX_MAX_BATCH, settings.REMIX_BATCH_WAIT_MS = 2, 5000
    lead = _job(remixable_post, viewer, seed=1)
    arrived: list[RemixJob] = []
    looks = 0
    real_look = worker._compatible_queued

    def look(*args: Any, **kwargs: Any) -> list[int]:
        nonlocal looks
        looks += 1
        if looks == 3:  # the lead has looked twice and found nothing; now a request commits
            arrived.append(_job(remixable_post, viewer, seed=2))
        return real_look(*args, **kwargs)

    monkeypatch.setattr(worker, "_compatible_queued", look)
    assert worker.run_job(lead.pk) is worker.Outcome.SUCCEEDED
    assert spy.sizes == [2]
    timings = RemixJob.objects.get(pk=lead.pk).timings
    assert timings["batch"] == [lead.pk, arrived[0].pk]
    assert timings["batch_wait"] < 2500  # full: it did not sit out the 5 s wait


@pytest.mark.django_db
def test_max_batch_one_turns_batching_off(remixable_post: Post, viewer: User, spy: BatchSpy, settings: Any) -> None:
    settings.REMIX_MAX_BATCH = 1
    first, second = _job(remixable_post, viewer, seed=1), _job(remixable_post, viewer, seed=2)
    assert worker.run_job(first.pk) is worker.Outcome.SUCCEEDED
    assert spy.sizes == [1] and RemixJob.objects.get(pk=second.pk).status == "queued"


# --- through the real Celery worker -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_redelivered_messages_of_a_batch_are_skipped(remixable_post: Post, viewer: User, celery_worker: None) -> None:
    """Three requests commit together, so the first message's delivery finds the other two queued and batches
    them; their own messages (and a duplicate of every message) then find them finished: one comment each."""
    api = client_for(viewer)
    with transaction.atomic():
        ids = [
            api.post(
                f"/api/posts/{remixable_post.pk}/remixes/", {"prompt": prompt, "seed": seed}, format="json"
            ).json()["id"]
            for prompt, seed in (("make it a watercolour", 1), ("add a hat", 2), ("snow", 3))
        ]
        for job_id in ids:
            run_remix_job.delay_on_commit(job_id)  # a duplicate of each message
    finished = [wait_for(job_id) for job_id in ids]
    assert [job.status for job in finished] == ["succeeded"] * 3, [job.error for job in finished]
    assert {job.timings["batch_size"] for job in finished} == {3}
    assert len({tuple(job.timings["batch"]) for job in finished}) == 1
    time.sleep(1)  # the five later deliveries (each a claim that finds the job finished) run meanwhile
    assert all(RemixJob.objects.get(pk=job_id).attempts == 1 for job_id in ids)
    assert RemixResult.objects.filter(job_id__in=ids).count() == 3
    comments = Comment.objects.filter(post=remixable_post, kind=Comment.Kind.REMIX)
    assert sorted(comments.values_list("text", flat=True)) == ["add a hat", "make it a watercolour", "snow"]
