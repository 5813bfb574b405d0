"""The worker's steps on one job with the real tiny pipeline: claim, consent races, delivery, sweeper.

These call ``remix.worker.run_job`` in the test's own process (the body of the Celery task), so a
consent change can be made at an exact point: queued, just claimed, mid-diffusion, just before
attaching.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from remix import consent, jobs, worker
from remix.models import RemixJob, RemixResult
from remix.pipeline import reset_pipeline_cache
from socialapp import services as social_services
from socialapp.models import Comment, Post, User
from tests.conftest import media_files
from tests.factories import FollowFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("model")]


def _job(post: Post, requester: User, **fields: Any) -> RemixJob:
    return RemixJob.objects.create(post=post, requester=requester, prompt="add fireworks", seed=3, **fields)


def _revocations(creator: User, post: Post, viewer: User) -> dict[str, Any]:
    """The four ways consent goes away for ``viewer``'s remix of ``post``."""

    def narrow_audience() -> None:
        consent.creator_settings_update(creator=creator, actor=creator, audience="following")

    return {
        "post toggle off": lambda: consent.post_allow_remix_set(post=post, actor=creator, value=False),
        "account switch off": lambda: consent.creator_settings_update(
            creator=creator, actor=creator, allow_remix=False
        ),
        "audience narrowed": narrow_audience,
        "post deleted": lambda: social_services.post_delete(post=Post.objects.get(pk=post.pk), actor=creator),
    }


REVOCATIONS = ["post toggle off", "account switch off", "audience narrowed", "post deleted"]


def _assert_no_remix(post: Post, job_id: int, deleted: bool) -> None:
    assert not Comment.objects.filter(kind=Comment.Kind.REMIX).exists()
    assert not RemixResult.objects.exists()
    job = RemixJob.objects.filter(pk=job_id).first()
    if deleted:
        assert job is None  # went with its post
    else:
        assert job is not None and job.status == "cancelled" and job.error_code == "consent_revoked"


@pytest.mark.parametrize("how", REVOCATIONS)
def test_revoked_while_queued(how: str, remixable_post: Post, creator: User, viewer: User) -> None:
    job = _job(remixable_post, viewer)
    _revocations(creator, remixable_post, viewer)[how]()
    if how != "post deleted":
        assert RemixJob.objects.get(pk=job.pk).status == "cancelled"  # at once, not when a worker looks
    assert worker.run_job(job.pk) in {worker.Outcome.SKIPPED, worker.Outcome.GONE}
    _assert_no_remix(remixable_post, job.pk, deleted=how == "post deleted")


@pytest.mark.parametrize("how", REVOCATIONS)
def test_revoked_just_after_claim(
    how: str, remixable_post: Post, creator: User, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(remixable_post, viewer)
    real_load = worker.load_source

    def load_then_revoke(claimed: RemixJob) -> Any:
        image = real_load(claimed)
        _revocations(creator, remixable_post, viewer)[how]()
        return image

    monkeypatch.setattr(worker, "load_source", load_then_revoke)
    steps: list[float] = []
    real_progress = jobs.report_progress
    monkeypatch.setattr(jobs, "report_progress", lambda *a, **k: steps.append(k["fraction"]) or real_progress(*a, **k))
    assert worker.run_job(job.pk) is worker.Outcome.INTERRUPTED
    assert len(steps) == 1  # the first step's callback saw the cancellation and stopped the diffusion
    _assert_no_remix(remixable_post, job.pk, deleted=how == "post deleted")


@pytest.mark.parametrize("how", REVOCATIONS)
def test_revoked_mid_diffusion_stops_early(
    how: str, remixable_post: Post, creator: User, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(remixable_post, viewer)
    steps: list[float] = []
    real_progress = jobs.report_progress

    def progress(job_id: int, *, claim_token: str, fraction: float, **kwargs: Any) -> bool:
        steps.append(fraction)
        if len(steps) == 3:
            _revocations(creator, remixable_post, viewer)[how]()
        return real_progress(job_id, claim_token=claim_token, fraction=fraction, **kwargs)

    monkeypatch.setattr(jobs, "report_progress", progress)
    assert worker.run_job(job.pk) is worker.Outcome.INTERRUPTED
    assert len(steps) == 3, "the diffusion went on after consent was revoked"
    _assert_no_remix(remixable_post, job.pk, deleted=how == "post deleted")


@pytest.mark.parametrize("how", REVOCATIONS)
def test_revoked_just_before_attach(
    how: str, remixable_post: Post, creator: User, viewer: User, monkeypatch: pytest.MonkeyPatch, media_root: Path
) -> None:
    job = _job(remixable_post, viewer)
    real_finish = worker.finish_image

    def finish_then_revoke(image: Any, **kwargs: Any) -> Any:
        finished = real_finish(image, **kwargs)
        _revocations(creator, remixable_post, viewer)[how]()
        return finished

    monkeypatch.setattr(worker, "finish_image", finish_then_revoke)
    assert worker.run_job(job.pk) in {worker.Outcome.CANCELLED, worker.Outcome.INTERRUPTED, worker.Outcome.GONE}
    _assert_no_remix(remixable_post, job.pk, deleted=how == "post deleted")
    assert not list((media_root / "remixes").glob("*")) if (media_root / "remixes").exists() else True


def test_unfollow_narrows_a_following_audience(remixable_post: Post, creator: User, viewer: User) -> None:
    FollowFactory(follower=creator, followee=viewer)
    consent.creator_settings_update(creator=creator, actor=creator, audience="following")
    job = _job(remixable_post, viewer)
    social_services.unfollow(follower=creator, followee=viewer)
    assert RemixJob.objects.get(pk=job.pk).status == "cancelled"


def test_run_twice_attaches_once(remixable_post: Post, viewer: User) -> None:
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED
    assert worker.run_job(job.pk) is worker.Outcome.SKIPPED
    assert RemixResult.objects.filter(job=job).count() == 1


def test_attach_with_a_stolen_claim_does_nothing(remixable_post: Post, viewer: User) -> None:
    """A worker whose lease expired and whose job was taken over must not attach its late result."""
    job = _job(remixable_post, viewer)
    claimed = worker.claim(job.pk)
    assert not isinstance(claimed, worker.Outcome)
    _, token = claimed
    RemixJob.objects.filter(pk=job.pk).update(claim_token="someone-else")
    late = b"\xff\xd8 a late result \xff\xd9"
    assert worker.attach(job.pk, claim_token=token, image=late, width=8, height=8) is worker.Outcome.INTERRUPTED
    assert not RemixResult.objects.exists()


def test_live_lease_means_another_worker_has_it(remixable_post: Post, viewer: User) -> None:
    job = _job(remixable_post, viewer, status="running", lease_expires_at=timezone.now() + timedelta(minutes=1))
    assert worker.run_job(job.pk) is worker.Outcome.SKIPPED


def test_delivery_cap_fails_a_job_that_keeps_killing_workers(remixable_post: Post, viewer: User, settings: Any) -> None:
    job = _job(remixable_post, viewer, status="running", attempts=settings.REMIX_MAX_DELIVERIES)
    assert worker.run_job(job.pk) is worker.Outcome.FAILED
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "too_many_attempts"


def test_model_unavailable_fails_the_job_with_a_code(
    remixable_post: Post, viewer: User, settings: Any, tmp_path: Path
) -> None:
    settings.REMIX_MODEL = str(tmp_path / "missing-model")
    reset_pipeline_cache()
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.FAILED
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "model_unavailable" and job.error_detail


def test_progress_and_timings_are_recorded(remixable_post: Post, viewer: User, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    real_progress = jobs.report_progress
    monkeypatch.setattr(jobs, "report_progress", lambda *a, **k: seen.append(k["fraction"]) or real_progress(*a, **k))
    monkeypatch.setattr(worker, "PROGRESS_CHECK_SECONDS", 0.0)  # look at the row at every step
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED
    job.refresh_from_db()
    assert seen == sorted(seen) and seen[0] > 0 and seen[-1] < 1  # 1.0 only once attached
    assert job.progress == 1.0 and job.attempts == 1
    assert job.created_at <= job.started_at <= job.finished_at
    assert job.model_seconds is not None and job.params["steps"] == len(seen)


def test_the_row_is_read_at_most_every_check_interval(
    remixable_post: Post, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between progress writes the worker reads the job's row at most every PROGRESS_CHECK_SECONDS, not at every
    step: with intervals longer than the whole edit, only the first step (which always writes) touches the row."""
    calls: list[bool] = []
    real_progress = jobs.report_progress
    monkeypatch.setattr(jobs, "report_progress", lambda *a, **k: calls.append(k["write"]) or real_progress(*a, **k))
    monkeypatch.setattr(worker, "PROGRESS_CHECK_SECONDS", 3600.0)
    monkeypatch.setattr(worker, "PROGRESS_WRITE_SECONDS", 3600.0)
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED
    job.refresh_from_db()
    assert job.params["steps"] > 1 and calls == [True]


def test_terminal_states_never_change(remixable_post: Post, viewer: User, creator: User) -> None:
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED
    with pytest.raises(jobs.CannotCancel):
        jobs.remix_job_cancel(job=RemixJob.objects.get(pk=job.pk), actor=creator)
    assert not jobs.fail(job.pk, code="x", detail="y")
    consent.post_allow_remix_set(post=remixable_post, actor=creator, value=False)
    assert RemixJob.objects.get(pk=job.pk).status == "succeeded"


def test_sweeper_recovers_expired_leases_and_lost_messages(
    remixable_post: Post, viewer: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    monkeypatch.setattr("remix.tasks.run_remix_job.delay", lambda job_id: sent.append(job_id))
    past = timezone.now() - timedelta(hours=1)
    expired = _job(remixable_post, viewer, status="running", attempts=1, lease_expires_at=past)
    exhausted = _job(
        remixable_post, viewer, status="running", attempts=settings.REMIX_MAX_DELIVERIES, lease_expires_at=past
    )
    lost = _job(remixable_post, viewer, enqueued_at=past)
    fresh = _job(remixable_post, viewer, enqueued_at=timezone.now())
    counts = jobs.sweep_expired()
    assert counts == {"failed": 1, "requeued_running": 1, "requeued_queued": 1}
    assert sorted(sent) == sorted([expired.pk, lost.pk])
    assert RemixJob.objects.get(pk=exhausted.pk).error_code == "worker_lost"
    assert fresh.pk not in sent
    # The re-sent message of the expired job is taken over and finishes.
    assert worker.run_job(expired.pk) is worker.Outcome.SUCCEEDED
    assert RemixJob.objects.get(pk=expired.pk).attempts == 2


def test_cancel_by_requester_stops_a_running_job(
    remixable_post: Post, viewer: User, monkeypatch: pytest.MonkeyPatch, media_root: Path
) -> None:
    job = _job(remixable_post, viewer)
    real_progress = jobs.report_progress

    def progress(job_id: int, *, claim_token: str, fraction: float, **kwargs: Any) -> bool:
        jobs.remix_job_cancel(job=RemixJob.objects.get(pk=job_id), actor=viewer)
        return real_progress(job_id, claim_token=claim_token, fraction=fraction, **kwargs)

    monkeypatch.setattr(jobs, "report_progress", progress)
    assert worker.run_job(job.pk) is worker.Outcome.INTERRUPTED
    job.refresh_from_db()
    assert job.status == "cancelled" and job.error_code == "cancelled_by_user"
    assert not any(p.parent.name == "remixes" for p in media_files(media_root))


def test_an_unexpected_error_fails_the_job_with_a_code(
    remixable_post: Post, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("bug")

    monkeypatch.setattr(worker, "finish_image", broken)
    job = _job(remixable_post, viewer)
    assert worker.run_job(job.pk) is worker.Outcome.FAILED
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "internal_error"
    assert not RemixResult.objects.exists()
    # The failed delivery keeps the timings of the stages it went through, and none it did not reach.
    assert {"claim", "load_source", "fit", "model", "finish", "total"} <= set(job.timings)
    assert "attach" not in job.timings and "provenance" not in job.timings
    assert job.params["seed"] == job.seed  # what the model was given, recorded with the failure


# --- a claim whose holder is gone ------------------------------------------------------------------------------------


def _dead_holder() -> str:
    """A ``claimed_by`` of a process on this host that has since exited (what a killed pool process leaves)."""
    import socket
    import subprocess

    process = subprocess.Popen(["sleep", "30"])
    holder = f"{socket.gethostname()}:{process.pid}:{jobs._process_start(process.pid)}:1"
    process.kill()
    process.wait()
    return holder


def test_holder_identity_tells_live_gone_and_foreign_holders() -> None:
    import os
    import socket

    me = jobs.holder_id()
    assert me.startswith(f"{socket.gethostname()}:{os.getpid()}:")
    assert jobs.holder_gone(me)  # this thread is here, claiming: it is not running the job
    parent = os.getppid()
    assert not jobs.holder_gone(f"{socket.gethostname()}:{parent}:{jobs._process_start(parent)}:1")
    assert jobs.holder_gone(_dead_holder())
    assert jobs.holder_gone(f"{socket.gethostname()}:{parent}:1:1")  # the pid now belongs to another process
    assert not jobs.holder_gone(f"elsewhere.example:{parent}:1:1")  # another host: only its lease can tell
    assert not jobs.holder_gone("")


def test_a_redelivered_message_takes_over_at_once_from_a_killed_holder(
    remixable_post: Post, viewer: User, settings: Any
) -> None:
    live_lease = timezone.now() + timedelta(seconds=settings.REMIX_JOB_LEASE_SECONDS)
    job = _job(remixable_post, viewer, status="running", attempts=1, lease_expires_at=live_lease)
    RemixJob.objects.filter(pk=job.pk).update(claimed_by=_dead_holder())
    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED
    job.refresh_from_db()
    assert job.attempts == 2 and job.claimed_by == jobs.holder_id()
    assert Comment.objects.filter(remix_result__job=job).count() == 1


def test_a_live_holder_keeps_its_job(remixable_post: Post, viewer: User, settings: Any) -> None:
    import os
    import socket

    parent = os.getppid()
    live = f"{socket.gethostname()}:{parent}:{jobs._process_start(parent)}:1"
    live_lease = timezone.now() + timedelta(seconds=settings.REMIX_JOB_LEASE_SECONDS)
    job = _job(remixable_post, viewer, status="running", attempts=1, lease_expires_at=live_lease, claimed_by=live)
    assert worker.run_job(job.pk) is worker.Outcome.SKIPPED
    assert RemixJob.objects.get(pk=job.pk).attempts == 1


def test_the_sweeper_resends_jobs_of_a_killed_holder_before_their_lease_ends(
    remixable_post: Post, viewer: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    monkeypatch.setattr("remix.tasks.run_remix_job.delay", lambda job_id: sent.append(job_id))
    live_lease = timezone.now() + timedelta(seconds=settings.REMIX_JOB_LEASE_SECONDS)
    orphan = _job(remixable_post, viewer, status="running", attempts=1, lease_expires_at=live_lease)
    RemixJob.objects.filter(pk=orphan.pk).update(claimed_by=_dead_holder())
    foreign = _job(
        remixable_post, viewer, status="running", attempts=1, lease_expires_at=live_lease, claimed_by="elsewhere:1:1:1"
    )
    assert jobs.sweep_expired() == {"failed": 0, "requeued_running": 1, "requeued_queued": 0}
    assert sent == [orphan.pk] and foreign.pk not in sent


@pytest.mark.django_db(transaction=True)  # on_commit callbacks run for real
def test_a_broker_that_is_down_at_commit_leaves_the_job_queued_for_the_sweeper(
    remixable_post: Post, viewer: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request's job is committed but its message cannot be sent (the broker refuses): the request still
    answers 202 with the job, which stays queued, and the sweeper sends its message once it has waited
    REMIX_REQUEUE_AFTER_SECONDS."""
    from kombu.exceptions import OperationalError as BrokerDown

    from tests.conftest import client_for

    def refuse(job_id: int) -> None:
        raise BrokerDown("connection refused")

    monkeypatch.setattr("remix.tasks.run_remix_job.delay", refuse)
    response = client_for(viewer).post(f"/api/posts/{remixable_post.pk}/remixes/", {"prompt": "snow"}, format="json")
    assert response.status_code == 202, response.content
    job = RemixJob.objects.get(pk=response.json()["id"])
    assert job.status == "queued"
    sent: list[int] = []
    monkeypatch.setattr("remix.tasks.run_remix_job.delay", lambda job_id: sent.append(job_id))
    assert jobs.sweep_expired()["requeued_queued"] == 0  # not yet: it may still be on its way
    RemixJob.objects.filter(pk=job.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=settings.REMIX_REQUEUE_AFTER_SECONDS + 1)
    )
    assert jobs.sweep_expired()["requeued_queued"] == 1 and sent == [job.pk]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_request_enqueues_nothing(
    remixable_post: Post, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import transaction

    sent: list[int] = []
    monkeypatch.setattr("remix.tasks.run_remix_job.delay", lambda job_id: sent.append(job_id))
    with pytest.raises(RuntimeError), transaction.atomic():  # e.g. a later step of the same request failed
        jobs.remix_job_create(post=remixable_post, requester=viewer, request=jobs.JobRequest(prompt="snow"))
        raise RuntimeError("the request failed after the job was created")
    assert sent == [] and not RemixJob.objects.exists()
    jobs.remix_job_create(post=remixable_post, requester=viewer, request=jobs.JobRequest(prompt="snow"))
    assert sent == [RemixJob.objects.get().pk]  # committed: sent once
