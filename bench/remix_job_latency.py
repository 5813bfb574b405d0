"""Remix job latency on the tiny model (embedded default): worker overhead outside the model, and
end-to-end latency request → labelled comment through a real Celery worker.

    .venv/bin/python bench/remix_job_latency.py [--jobs 20]

Runs in a scratch VAR_DIR (SQLite, filesystem broker, CPU). Prints medians; not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="remix-bench-"))
    os.environ.update(VAR_DIR=str(scratch), DJANGO_SETTINGS_MODULE="socialapp.settings", REMIX_RATE_LIMIT="100000")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from remix import consent, jobs, worker
    from remix.models import RemixJob
    from remix.pipeline import build_tiny_model, get_pipeline
    from socialapp import demo_media, services
    from socialapp.celery import app

    call_command("migrate", verbosity=0)
    build_tiny_model(Path(settings.REMIX_MODEL))
    creator = services.user_register(username="creator", password="bench-password-1")
    viewer = services.user_register(username="viewer", password="bench-password-1")
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True)
    photo = demo_media.make_photo(scratch / "p.jpg", size=(1080, 1350))
    video = demo_media.make_video(scratch / "v.mp4", seconds=6, size=(1280, 720))
    posts = {
        "photo 1080x1350": services.post_create(
            author=creator, upload=SimpleUploadedFile("p.jpg", photo.read_bytes()), allow_remix=True
        ),
        "video 1280x720": services.post_create(
            author=creator, upload=SimpleUploadedFile("v.mp4", video.read_bytes()), allow_remix=True
        ),
    }
    get_pipeline()  # loaded once per worker process, as the worker does at start

    print(f"tiny model {settings.REMIX_MODEL}, {args.jobs} jobs per row, medians")
    print(f"{'source':18} {'worker total':>13} {'model':>9} {'outside model':>14}")
    for label, post in posts.items():
        totals, models = [], []
        for i in range(args.jobs):
            job, _ = jobs.remix_job_create(
                post=post,
                requester=viewer,
                request=jobs.JobRequest(
                    prompt="make it a watercolour", seed=i, frame_time=3.0 if "video" in label else None
                ),
            )
            started = time.perf_counter()
            assert worker.run_job(job.pk) == worker.Outcome.SUCCEEDED
            totals.append(time.perf_counter() - started)
            models.append(RemixJob.objects.get(pk=job.pk).model_seconds)
        overhead = [t - m for t, m in zip(totals, models, strict=True)]
        total_ms, model_ms, outside_ms = (statistics.median(xs) * 1000 for xs in (totals, models, overhead))
        print(f"{label:18} {total_ms:>10.0f} ms {model_ms:>6.0f} ms {outside_ms:>11.0f} ms")

    # End to end through the broker: request (row + message) → a worker claims → comment attached.
    latencies = []
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["remix"], loglevel="WARNING"):
        for i in range(args.jobs):
            job, _ = jobs.remix_job_create(
                post=posts["photo 1080x1350"], requester=viewer, request=jobs.JobRequest(prompt="snow", seed=i)
            )
            while not RemixJob.objects.get(pk=job.pk).is_terminal:
                time.sleep(0.01)
            job.refresh_from_db()
            assert job.status == "succeeded", job.error
            latencies.append((job.finished_at - job.created_at).total_seconds())
    median_ms, max_ms = statistics.median(latencies) * 1000, max(latencies) * 1000
    print(
        f"end to end (request → comment) via Celery, filesystem broker: median {median_ms:.0f} ms, max {max_ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
