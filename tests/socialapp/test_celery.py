"""The Celery app: queues, routing, and a worker in its own process meeting the web at the broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from socialapp.celery import app

ROOT = Path(__file__).resolve().parents[2]


def test_remix_tasks_are_routed_to_the_remix_queue() -> None:
    route = app.amqp.router.route({}, "remix.tasks.run_remix_job")
    assert route["queue"].name == "remix"
    assert app.amqp.router.route({}, "socialapp.tasks.anything")["queue"].name == "default"
    assert {q.name for q in app.amqp.queues.values()} >= {"default", "remix"}


def test_acks_late_so_a_killed_worker_loses_no_message() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_worker_process_answers_over_the_configured_broker(tmp_path: Path) -> None:
    """Start a real worker process and ping it through the broker (filesystem or Redis)."""
    env = {**os.environ, "VAR_DIR": os.environ.get("VAR_DIR", str(tmp_path))}
    celery = [sys.executable, "-m", "celery", "-A", "socialapp"]
    worker = subprocess.Popen(
        [
            *celery,
            "worker",
            "-Q",
            "default,remix",
            "--concurrency",
            "1",
            "--pool",
            "solo",
            "-n",
            f"ping-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        answer = ""
        while time.monotonic() < deadline:
            result = subprocess.run(
                [*celery, "inspect", "ping", "-d", f"ping-{os.getpid()}@{os.uname().nodename}", "--timeout", "3"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            answer = result.stdout + result.stderr
            if result.returncode == 0 and "pong" in answer:
                break
            time.sleep(1)
        assert "pong" in answer, answer
    finally:
        worker.terminate()
        worker.wait(timeout=30)
