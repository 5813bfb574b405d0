"""Shared fixtures: an isolated media root per test, fast password hashing, API clients, and for
the remix feature the tiny real models and a real Celery worker.

The worker is the real one: on the embedded default an in-thread ``celery.contrib.testing``
worker consuming the configured broker (kombu's filesystem transport); where the suite runs on
PostgreSQL + Redis, a separate ``celery worker`` process pointed at the test database.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from remix.models import RemixJob
from remix.pipeline import ARCH_FLUX_KONTEXT, ARCH_INSTRUCT_PIX2PIX, reset_pipeline_cache
from socialapp.celery import app as celery_app
from tests.factories import UserFactory
from tests.remix.tiny_models import tiny_model

ROOT = Path(__file__).resolve().parents[1]

# The fault and load suites kill processes and restart services: only `make reliability` (tests/reliability/run.py,
# which sets REMIX_RELIABILITY and starts the services they control) collects them.
collect_ignore_glob = [] if os.environ.get("REMIX_RELIABILITY") else ["reliability/*"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Every test starts with an empty cache: DRF's throttles count in it by user id, and ids repeat across tests."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _signing_identity() -> None:
    """The test CA and signing certificate every remix is signed with (as `make run` makes them)."""
    from django.conf import settings

    from remix.provenance import make_test_ca

    make_test_ca(Path(settings.REMIX_C2PA_CERT_CHAIN).parent)


@pytest.fixture(autouse=True)
def _isolated_media(settings: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Each test writes media under its own folder, so 'nothing left behind' is checkable."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": None, "signup": None, "uploads": None, "verify": None, "reports": None},
    }
    return settings.MEDIA_ROOT


@pytest.fixture
def media_root(settings: pytest.FixtureRequest) -> Path:
    return Path(settings.MEDIA_ROOT)


def media_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def api() -> APIClient:
    """An anonymous API client."""
    return APIClient()


@pytest.fixture
def user(db: None) -> object:
    return UserFactory()


def client_for(user: object) -> APIClient:
    """An API client authenticated with the user's token, the way real clients call the API."""
    from socialapp import services

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {services.api_token_issue(user=user).key}")  # type: ignore[arg-type]
    return client


def web_client(user: object | None) -> Client:
    """A browser-like client, signed in as ``user`` (None: anonymous)."""
    client = Client()
    if user is not None:
        client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def user_api(user: object) -> APIClient:
    return client_for(user)


@pytest.fixture(scope="session")
def tiny_ip2p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory, ARCH_INSTRUCT_PIX2PIX)


@pytest.fixture(scope="session")
def tiny_kontext(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory, ARCH_FLUX_KONTEXT)


@pytest.fixture
def model(settings: Any, tiny_ip2p: Path) -> Iterator[Path]:
    """REMIX_MODEL pointed at the tiny InstructPix2Pix; the process-wide pipeline cache reset around."""
    settings.REMIX_MODEL = str(tiny_ip2p)
    settings.REMIX_OUTPUT_MIN_SIDE = 64
    reset_pipeline_cache()
    yield tiny_ip2p
    reset_pipeline_cache()


def _services_pass() -> bool:
    return connection.vendor == "postgresql"


def _purge_broker() -> None:
    with celery_app.connection_for_write() as conn:
        for queue in ("remix", "default"):
            with contextlib.suppress(Exception):  # a queue that does not exist yet has nothing to purge
                conn.default_channel.queue_purge(queue)


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


@pytest.fixture
def celery_worker(request: pytest.FixtureRequest, transactional_db: None, model: Path, settings: Any) -> Iterator[None]:
    """A real worker consuming the remix queue for the duration of the test, running settings.REMIX_MODEL
    (the tiny InstructPix2Pix, or what a fixture requested before this one set it to).

    On the services pass the worker is another process, which reads its settings from the environment at
    start: settings a test changes for the worker go in ``@pytest.mark.worker_settings(NAME=value)`` (and, for
    the in-thread worker of the embedded pass, in ``settings`` as usual)."""
    marker = request.node.get_closest_marker("worker_settings")
    worker_settings = dict(marker.kwargs) if marker is not None else {}
    _purge_broker()
    if not _services_pass():
        with start_worker(
            celery_app,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,
            queues=["remix", "default"],
            loglevel="WARNING",
        ):
            yield
        return
    # PostgreSQL + Redis: a worker in its own process, on the test database.
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{host}/{db['NAME']}",
        "REMIX_MODEL": str(settings.REMIX_MODEL),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "REMIX_OUTPUT_MIN_SIDE": str(settings.REMIX_OUTPUT_MIN_SIDE),
        "REMIX_JOB_LEASE_SECONDS": str(settings.REMIX_JOB_LEASE_SECONDS),
        **{name: _env_value(value) for name, value in worker_settings.items()},
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "socialapp", "worker", "-Q", "remix,default", "-P", "solo",
         "-n", f"e2e-{os.getpid()}@%h", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_for(job_id: int, *, until: Callable[[RemixJob], bool] | None = None, timeout: float = 90) -> RemixJob:
    """Poll the row (as the browser and API clients do) until it is terminal or ``until`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        job = RemixJob.objects.get(pk=job_id)
        if until(job) if until is not None else job.is_terminal:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.status} (progress {job.progress}) after {timeout} s")
        time.sleep(0.1)
