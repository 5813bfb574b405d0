"""Fixtures of the fault and load suites: a remixable post, a viewer's API token, log files, and the workers
and web servers a test starts (stopped at its end whatever happens)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from remix import consent
from remix.models import RemixJob
from socialapp import services as social_services
from socialapp.models import Comment, Post, User
from tests.factories import PostFactory, UserFactory
from tests.reliability import services

# What every worker of the suite runs with: short leases and a sweeper every second, so a recovery that depends on
# them takes seconds (production: 120 s leases, a sweep every 30 s; the mechanism is the same).
FAST_RECOVERY = {
    "REMIX_JOB_LEASE_SECONDS": 4,
    "REMIX_SWEEP_INTERVAL_SECONDS": 1,
    "REMIX_REQUEUE_AFTER_SECONDS": 4,
    "REMIX_MAX_BATCH": 1,
    "REMIX_RATE_LIMIT": 100000,
    "REMIX_USER_DAILY_LIMIT": 100000,
    "REMIX_POST_DAILY_LIMIT": 100000,
}


@pytest.fixture(autouse=True)
def _on_the_services() -> None:
    if connection.vendor != "postgresql":
        pytest.fail("the reliability suite runs on PostgreSQL + Redis: use `make reliability`")


@dataclass
class Scene:
    creator: User
    viewer: User
    post: Post
    token: str  # the viewer's API token

    def request_remix(self, prompt: str = "make it snow") -> RemixJob:
        """A remix requested through the API, as a browser would (the job is enqueued on commit)."""
        from tests.conftest import client_for

        api = client_for(self.viewer)
        response = api.post(f"/api/posts/{self.post.pk}/remixes/", {"prompt": prompt}, format="json")
        assert response.status_code == 202, response.content
        return RemixJob.objects.get(pk=response.json()["id"])


@pytest.fixture
def scene(transactional_db: None, model: Path, settings: Any) -> Scene:
    for name, value in FAST_RECOVERY.items():
        setattr(settings, name, value)
    creator = UserFactory(username="creator")
    viewer = UserFactory(username="viewer")
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True)
    post = PostFactory(author=creator)
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    token = social_services.api_token_issue(user=viewer).key
    return Scene(creator=creator, viewer=viewer, post=post, token=token)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def start_worker(logs: Path) -> Iterator[Any]:
    started: list[services.Worker] = []

    def start(module: str = "celery", **env: Any) -> services.Worker:
        worker = services.Worker(logs, module=module, **{**FAST_RECOVERY, **env}).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_web(logs: Path) -> Iterator[Any]:
    started: list[services.Web] = []

    def start(**env: Any) -> services.Web:
        web = services.Web(logs, **{**FAST_RECOVERY, **env}).start()
        started.append(web)
        return web

    yield start
    for web in started:
        web.stop()
    services.database_up()


def remix_comments(job: RemixJob) -> int:
    return Comment.objects.filter(remix_result__job_id=job.pk).count()
