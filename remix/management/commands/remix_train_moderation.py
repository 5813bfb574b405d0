"""Train the moderation text classifier on the development sets, unless the current one is already kept."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from remix.moderation import classifier


class Command(BaseCommand):
    help = (
        "Train the learned stage of prompt moderation on remix/moderation/data/dev (and the project corpus) and keep "
        "it in REMIX_MODERATION_MODEL_DIR, keyed by a digest of its training data; does nothing when that model "
        "exists. Web and worker processes load it (or train it themselves, taking seconds, on first use)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        model = classifier.get()
        self.stdout.write(
            f"moderation classifier {model.digest}: {len(model.classes)} classes, ready in "
            f"{time.perf_counter() - started:.1f} s ({classifier.model_dir()})"
        )
