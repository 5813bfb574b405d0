"""Faults, with real processes on PostgreSQL + Redis: workers killed (pool process and whole worker), a poison
job, a deploy's SIGTERM, Redis restarted, PostgreSQL cut off, and messages lost at commit. Each test records its
line of ``make reliability``'s table (``services.record``)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from remix.models import RemixJob
from socialapp.models import Comment
from tests.reliability import services
from tests.reliability.conftest import Scene, remix_comments

KILLS = 20


def _status(job: RemixJob) -> RemixJob:
    return RemixJob.objects.get(pk=job.pk)


def _mid_diffusion(job: RemixJob) -> bool:
    current = _status(job)
    if current.status in ("succeeded", "failed", "cancelled"):
        raise _TooLate
    return current.status == "running" and current.progress > 0


class _TooLate(Exception):
    """The job finished before the fault could be injected (the trial is repeated, not counted)."""


def _succeeded(job: RemixJob) -> bool:
    return _status(job).status == "succeeded"


def _kill_trials(scene: Scene, kill: Any, *, what: str, trials: int = KILLS) -> dict[str, Any]:
    """``trials`` jobs, each killed mid-diffusion by ``kill(job)``; the seconds from kill to succeeded."""
    recoveries: list[float] = []
    jobs: list[RemixJob] = []
    while len(recoveries) < trials:
        job = scene.request_remix(prompt=f"make it snow {len(jobs)}")
        jobs.append(job)
        try:
            services.wait_until(
                lambda job=job: _mid_diffusion(job), timeout=120, what="a job mid-diffusion", interval=0.01
            )
        except _TooLate:
            continue
        killed_at = time.monotonic()
        kill(_status(job))
        services.wait_until(lambda job=job: _succeeded(job), timeout=180, what=f"job {job.pk} to recover after {what}")
        recoveries.append(time.monotonic() - killed_at)
    finals = {job.pk: _status(job) for job in jobs}
    lost = [pk for pk, job in finals.items() if job.status != "succeeded"]
    duplicated = [pk for pk in finals if Comment.objects.filter(remix_result__job_id=pk).count() != 1]
    return {
        "trials": trials,
        "recovered": len(recoveries),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "recovery_p50_s": round(statistics.median(recoveries), 2),
        "recovery_max_s": round(max(recoveries), 2),
        "max_attempts": max(job.attempts for job in finals.values()),
    }


def _line(figures: dict[str, Any]) -> str:
    return (
        f"{figures['recovered']}/{figures['trials']} recovered, {figures['lost']} lost, "
        f"{figures['duplicated']} duplicated, recovery p50 {figures['recovery_p50_s']} s "
        f"max {figures['recovery_max_s']} s"
    )


def test_pool_process_kill_9(scene: Scene, start_worker: Any) -> None:
    """The pool process dies mid-job: Celery redelivers the message at once (reject_on_worker_lost), and the new
    pool process takes the job over from its dead holder without waiting for the lease."""
    worker = start_worker()
    figures = _kill_trials(scene, lambda job: worker.kill_pool_process(job.claimed_by), what="a pool process kill -9")
    services.record("worker pool kill -9", _line(figures), **figures)
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["max_attempts"] == 2  # each job: the killed delivery and the one that finished


def test_whole_worker_kill_9(scene: Scene, start_worker: Any) -> None:
    """The whole worker (main process, pool, beat) dies mid-job and is started again: the message is stuck
    unacknowledged in Redis, so the sweeper of the restarted worker sees the dead holder and resends it."""
    holder: dict[str, services.Worker] = {"worker": start_worker()}

    def kill_and_restart(job: RemixJob) -> None:
        holder["worker"].kill()
        holder["worker"] = start_worker()

    figures = _kill_trials(scene, kill_and_restart, what="a worker kill -9 and restart")
    services.record("worker kill -9", _line(figures), **figures)
    assert figures["lost"] == 0 and figures["duplicated"] == 0


def test_poison_job(scene: Scene, start_worker: Any) -> None:
    """A job that kills its pool process every time is delivered at most REMIX_MAX_DELIVERIES times, then fails
    with a clear code; the jobs queued behind it and after it keep flowing."""
    from tests.reliability.poison_worker import POISON_MARK

    start_worker(module="tests.reliability.poison_worker")
    started = time.monotonic()
    poison = scene.request_remix(prompt=f"make it snow {POISON_MARK}")
    others = [scene.request_remix(prompt=f"make it rain {i}") for i in range(3)]
    services.wait_until(lambda: _status(poison).is_terminal, timeout=180, what="the poison job to be given up")
    failed_after = time.monotonic() - started
    services.wait_until(lambda: all(_succeeded(job) for job in others), timeout=180, what="the other jobs")
    later = scene.request_remix(prompt="make it sunny")
    services.wait_until(lambda: _succeeded(later), timeout=120, what="a job sent after the poison one")
    final = _status(poison)
    services.record(
        "poison job",
        f"{final.attempts} deliveries, then {final.status} ({final.error_code}) after {failed_after:.1f} s; "
        f"{len(others) + 1}/{len(others) + 1} other jobs succeeded",
        deliveries=final.attempts,
        status=final.status,
        code=final.error_code,
        seconds=round(failed_after, 2),
    )
    assert final.status == "failed" and final.error_code in ("too_many_attempts", "worker_lost")
    assert final.attempts <= 3 and remix_comments(final) == 0
    assert all(remix_comments(job) == 1 for job in [*others, later])


def test_sigterm_during_a_job(scene: Scene, start_worker: Any) -> None:
    """A deploy stops the worker with SIGTERM while a job runs and another waits: the running job finishes
    (Celery's warm shutdown), the waiting one is left in the broker for the next worker; nothing lost, nothing
    run twice."""
    worker = start_worker()
    running = scene.request_remix(prompt="make it snow")
    waiting = scene.request_remix(prompt="make it rain")
    services.wait_until(lambda: _mid_diffusion(running), timeout=120, what="a job mid-diffusion", interval=0.01)
    exit_status = worker.terminate()
    first = _status(running)
    start_worker()
    services.wait_until(lambda: _succeeded(waiting), timeout=120, what="the waiting job on the next worker")
    time.sleep(3)  # sweeps of the new worker: nothing may run again
    jobs = [_status(running), _status(waiting)]
    comments = [remix_comments(job) for job in jobs]
    services.record(
        "worker SIGTERM",
        f"running job {first.status} before exit (status {exit_status}), waiting job done by the next worker; "
        f"deliveries {[job.attempts for job in jobs]}, comments {comments}",
        exit_status=exit_status,
        attempts=[job.attempts for job in jobs],
        comments=comments,
    )
    assert first.status == "succeeded" and exit_status == 0
    assert [job.status for job in jobs] == ["succeeded", "succeeded"]
    assert [job.attempts for job in jobs] == [1, 1] and comments == [1, 1]


def _api_during(web: services.Web, scene: Scene, seconds: float) -> dict[str, Any]:
    """Read and write API calls for ``seconds`` (what browsers keep doing during an outage): statuses seen."""
    statuses: dict[str, int] = {}
    codes: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for method, path, body in (
            ("GET", "/api/posts/", None),
            ("GET", f"/api/posts/{scene.post.pk}/", None),
            ("POST", f"/api/posts/{scene.post.pk}/remixes/", {"prompt": "make it foggy"}),
        ):
            status, payload, _ = services.http(method, web.url(path), token=scene.token, body=body, timeout=30)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status >= 400:
                codes.add(str(payload.get("code")))
        time.sleep(0.1)
    return {"statuses": statuses, "codes": sorted(codes)}


def _five_hundreds(statuses: dict[str, int], *, allowed: tuple[str, ...] = ()) -> int:
    return sum(count for status, count in statuses.items() if status.startswith("5") and status not in allowed)


def test_redis_restarted_with_jobs_in_flight(scene: Scene, start_worker: Any, start_web: Any) -> None:
    """Redis (broker and cache, nothing kept on disk) is killed and started empty while a job runs and others
    wait: the running job finishes, the lost messages are resent by the sweeper, requests made while it was
    down are accepted and their jobs recover too; the API never answers 500."""
    start_worker()
    web = start_web()
    before = [scene.request_remix(prompt=f"make it snow {i}") for i in range(3)]
    services.wait_until(lambda: _mid_diffusion(before[0]), timeout=120, what="a job mid-diffusion", interval=0.01)
    services.redis_stop()
    down_at = time.monotonic()
    during = _api_during(web, scene, 3.0)
    health_status, health, _ = services.http("GET", web.url("/healthz"))
    services.redis_start()
    accepted = list(RemixJob.objects.exclude(pk__in=[job.pk for job in before]).order_by("pk"))
    jobs = [*before, *accepted]
    services.wait_until(lambda: all(_succeeded(job) for job in jobs), timeout=180, what="every job after Redis")
    recovered = time.monotonic() - down_at
    comments = [remix_comments(job) for job in jobs]
    services.record(
        "Redis restarted",
        f"{len(jobs)}/{len(jobs)} jobs succeeded ({len(accepted)} requested while it was down), "
        f"{sum(c != 1 for c in comments)} duplicated, all done {recovered:.1f} s after the kill; "
        f"API while down {during['statuses']}, /healthz {health_status} broker={health.get('broker')}",
        jobs=len(jobs),
        during=during,
        recovered_s=round(recovered, 2),
        healthz=health,
    )
    assert comments == [1] * len(jobs)
    assert _five_hundreds(during["statuses"], allowed=("503",)) == 0
    assert health_status == 503 and health["broker"].startswith("down")


def test_postgresql_unreachable_for_a_few_seconds(scene: Scene, start_worker: Any, start_web: Any) -> None:
    """PostgreSQL drops off the network for 4 s while a job is mid-diffusion: the API answers 503
    ``service_unavailable`` (never 500), /healthz says the database is down, and every job recovers."""
    from django.db import connection

    start_worker()
    web = start_web()
    jobs = [scene.request_remix(prompt=f"make it snow {i}") for i in range(2)]
    services.wait_until(lambda: _mid_diffusion(jobs[0]), timeout=120, what="a job mid-diffusion", interval=0.01)
    services.database_down()
    down_at = time.monotonic()
    during = _api_during(web, scene, 3.0)
    health_status, health, _ = services.http("GET", web.url("/healthz"))
    time.sleep(max(0.0, 4.0 - (time.monotonic() - down_at)))
    services.database_up()
    connection.close()  # this process's connection was cut too
    services.wait_until(lambda: all(_succeeded(job) for job in jobs), timeout=180, what="every job after the outage")
    recovered = time.monotonic() - down_at
    after_status, _after, _ = services.http("GET", web.url("/healthz"))
    comments = [remix_comments(job) for job in jobs]
    services.record(
        "PostgreSQL unreachable",
        f"cut 4 s: API {during['statuses']} codes {during['codes']}, /healthz {health_status} "
        f"database={health.get('database')} then {after_status}; {len(jobs)}/{len(jobs)} jobs succeeded "
        f"{recovered:.1f} s after the cut, {sum(c != 1 for c in comments)} duplicated",
        during=during,
        healthz=health,
        recovered_s=round(recovered, 2),
    )
    assert set(during["statuses"]) <= {"503"} and during["codes"] == ["service_unavailable"]
    assert health_status == 503 and health["database"].startswith("down") and after_status == 200
    assert comments == [1] * len(jobs)


def test_enqueue_is_atomic_with_the_request(scene: Scene, start_worker: Any) -> None:
    """A request rolled back after creating its job leaves no row and no message in Redis; a request made while
    the broker is down is accepted, its message lost, and the sweeper sends it once the broker is back."""
    import redis
    from django.db import transaction

    from remix import jobs

    broker = redis.Redis(port=services.redis_port(), db=0)
    before = broker.llen("remix")
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.remix_job_create(post=scene.post, requester=scene.viewer, request=jobs.JobRequest(prompt="snow"))
        raise RuntimeError("a later step of the request failed")
    rolled_back = {"rows": RemixJob.objects.count(), "messages": broker.llen("remix") - before}
    services.redis_stop()
    lost = scene.request_remix(prompt="make it rain")  # 202: committed, its message could not be sent
    services.redis_start()
    assert broker.llen("remix") == 0  # the restarted broker has no message for it
    sent_at = time.monotonic()
    start_worker()
    services.wait_until(lambda: _succeeded(lost), timeout=120, what="the sweeper to resend the lost message")
    recovered = time.monotonic() - sent_at
    services.record(
        "enqueue atomicity",
        f"rolled-back request: {rolled_back['rows']} jobs, {rolled_back['messages']} messages; request with the "
        f"broker down: accepted, message lost, resent by the sweeper and succeeded {recovered:.1f} s after the "
        f"broker came back (worker start included), {remix_comments(lost)} comment",
        rolled_back=rolled_back,
        recovered_s=round(recovered, 2),
    )
    assert rolled_back == {"rows": 0, "messages": 0}
    assert _status(lost).attempts == 1 and remix_comments(lost) == 1
