"""What a remix job costs the worker outside the model, stage by stage, on the embedded default.

    .venv/bin/python bench/worker.py [--jobs 20] [--quick] [--out var/bench]

A throwaway VAR_DIR (SQLite, CPU, the tiny random-weight InstructPix2Pix, a fresh test signing CA), one
512×512 photo post, and ``--jobs`` jobs run one after another through ``remix.worker.run_job`` in this
process (the body of the Celery task; no broker), each queued alone, as a lone request on an idle worker is.
The tiny model works at 64×64 and the remix is scaled to REMIX_OUTPUT_MIN_SIDE (512), so every stage but the
denoising loop handles what a real 512×512 remix does. Two warm-up jobs (model, detector, signer loaded) are
not counted. Not a test.

Reported (medians over the jobs):

- ``stages_ms_p50``: each stage of ``RemixJob.timings`` (see ``remix.jobs.STAGES``), plus ``wall`` (run_job
  as the caller sees it) and ``after_total`` (wall − total: the final write's commit and the return);
- ``overhead_ms_p50``: median of wall − model − batch_wait. It includes the claim, source decode, fit, the
  progress callbacks (a row check at each of the 20 steps, a progress/lease write every 0.5 s), finish, output
  moderation, watermark + C2PA signing, attach and its commit. It excludes the denoising loop itself and
  ``batch_wait``: the time a lone job deliberately waits for batch companions (REMIX_BATCH_WAIT_MS from its
  claim, less its own preparation), which is a latency setting, not work; it is reported as its own stage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WARM_UP = 2
STAGE_ORDER = [
    "claim",
    "load_source",
    "faces",
    "fit",
    "batch_wait",
    "progress",
    "finish",
    "moderation",
    "provenance",
    "attach",
    "after_total",
    "model",
    "outside_model",
    "total",
    "wall",
]


def _setup_django(scratch: Path) -> None:
    """Django on a throwaway SQLite database under ``scratch`` (the environment is read at setup)."""
    os.environ.update(
        VAR_DIR=str(scratch),
        DJANGO_SETTINGS_MODULE="socialapp.settings",
        REMIX_RATE_LIMIT="100000",
        REMIX_USER_DAILY_LIMIT="100000",
        REMIX_POST_DAILY_LIMIT="100000",
        REMIX_DEVICE="cpu",  # the embedded default; no stage but the model would use a GPU
    )
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "REMIX_MODEL", "DJANGO_ENV"):
        os.environ.pop(name, None)
    import django

    django.setup()
    for name in ("remix", "socialapp"):  # a line per job and upload would bury the table
        logging.getLogger(name).setLevel(logging.WARNING)


def run(out_dir: Path | str, *, jobs: int = 20, quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; write ``out_dir/worker.json`` (medians and every job's timings) and return
    ``{"overhead_ms_p50": ..., "stages_ms_p50": {...}}``. Sets up Django: call once per process."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = 5 if quick else jobs
    scratch = Path(tempfile.mkdtemp(prefix="remix-bench-worker-"))
    _setup_django(scratch)
    try:
        return _measure(out, scratch, jobs=jobs)
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(scratch, ignore_errors=True)


def _measure(out: Path, scratch: Path, *, jobs: int) -> dict[str, Any]:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.utils import timezone

    from remix import consent, worker
    from remix.jobs import STAGES
    from remix.models import RemixJob
    from remix.pipeline import build_tiny_model, get_pipeline
    from remix.provenance import make_test_ca
    from socialapp import demo_media, services

    call_command("migrate", verbosity=0)
    build_tiny_model(Path(settings.REMIX_MODEL))
    make_test_ca(Path(settings.REMIX_C2PA_CERT_CHAIN).parent)
    creator = services.user_register(username="creator", password="bench-password-1")
    viewer = services.user_register(username="viewer", password="bench-password-1")
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True)
    photo = demo_media.make_photo(scratch / "photo.jpg", size=(512, 512))
    post = services.post_create(
        author=creator, upload=SimpleUploadedFile("photo.jpg", photo.read_bytes()), allow_remix=True
    )
    pipeline = get_pipeline()  # a worker loads it once, at start

    rows: list[dict[str, Any]] = []
    for i in range(WARM_UP + jobs):
        job = RemixJob.objects.create(
            post=post, requester=viewer, prompt="make it a watercolour", seed=i, enqueued_at=timezone.now()
        )
        started = time.perf_counter()
        outcome = worker.run_job(job.pk)
        wall = (time.perf_counter() - started) * 1000
        job.refresh_from_db()
        if outcome is not worker.Outcome.SUCCEEDED:
            raise RuntimeError(f"bench job {job.pk} ended {outcome}: {job.error}")
        if i < WARM_UP:
            continue
        timings = dict(job.timings)
        stages = {name: value for name, value in timings.items() if name in STAGES}
        rows.append(
            {
                **stages,
                "wall": round(wall, 2),
                "after_total": round(wall - stages["total"], 2),
                "overhead": round(wall - stages.get("model", 0.0) - stages.get("batch_wait", 0.0), 2),
                "batch_size": timings.get("batch_size"),
            }
        )

    names = [name for name in STAGE_ORDER if any(name in row for row in rows)]
    stages_p50 = {name: round(statistics.median(row.get(name, 0.0) for row in rows), 2) for name in names}
    result = {
        "overhead_ms_p50": round(statistics.median(row["overhead"] for row in rows), 2),
        "stages_ms_p50": stages_p50,
    }
    detail = {
        **result,
        "jobs": len(rows),
        "source": "photo 512x512",
        "model": f"tiny instruct-pix2pix at {pipeline.resolution}px, {pipeline.device}",
        "output_side": settings.REMIX_OUTPUT_MIN_SIDE,
        "settings": {"REMIX_MAX_BATCH": settings.REMIX_MAX_BATCH, "REMIX_BATCH_WAIT_MS": settings.REMIX_BATCH_WAIT_MS},
        "per_job": rows,
    }
    (out / "worker.json").write_text(json.dumps(detail, indent=2) + "\n", encoding="utf-8")
    return result


def table(result: dict[str, Any]) -> str:
    lines = [f"{'worker stage':24} {'p50 ms':>9}"]
    for name, value in result["stages_ms_p50"].items():
        note = "  (not overhead: waiting for batch companions)" if name == "batch_wait" else ""
        note = "  (the denoising loop: not overhead)" if name == "model" else note
        lines.append(f"{name:24} {value:>9.2f}{note}")
    lines.append(f"{'overhead (wall-model-wait)':24} {result['overhead_ms_p50']:>9.2f}  target <= 50")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 jobs")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench"), help="folder for worker.json")
    parser.add_argument("--json", help="also write the result dict to this file")
    args = parser.parse_args()
    result = run(args.out, jobs=args.jobs, quick=args.quick)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
