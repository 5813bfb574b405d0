"""Build the tiny random-weight diffusion model the embedded run and the tests load like any other model."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from remix.pipeline import ARCH_FLUX_KONTEXT, ARCH_INSTRUCT_PIX2PIX, build_tiny_model


class Command(BaseCommand):
    help = (
        "Write a tiny random-weight InstructPix2Pix or FLUX.1 Kontext pipeline (the real diffusers classes, "
        "no download) into a folder, for REMIX_MODEL. Does nothing if the folder already holds a model."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", type=Path, help="the model folder to write")
        parser.add_argument("--arch", choices=[ARCH_INSTRUCT_PIX2PIX, ARCH_FLUX_KONTEXT], default=ARCH_INSTRUCT_PIX2PIX)
        parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
        parser.add_argument("--force", action="store_true", help="replace a model already in the folder")

    def handle(self, *args: Any, target: Path, arch: str, seed: int, force: bool, **options: Any) -> None:
        target = target.expanduser().resolve()
        if (target / "model_index.json").exists():
            if not force:
                self.stdout.write(f"{target} already holds a model; nothing to do (--force replaces it).")
                return
            # Replace, don't overlay: stale files of another arch would change the folder's revision.
            shutil.rmtree(target)
        started = time.perf_counter()
        build_tiny_model(target, arch=arch, seed=seed)
        seconds = time.perf_counter() - started
        size = sum(path.stat().st_size for path in target.rglob("*") if path.is_file())
        self.stdout.write(
            self.style.SUCCESS(f"Built a tiny {arch} model in {target} ({size / 1e6:.1f} MB, {seconds:.1f} s).")
        )
