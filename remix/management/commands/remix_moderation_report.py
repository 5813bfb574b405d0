"""Print how prompt moderation does on the development sets (cross-validated) and the frozen held-out set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from remix.moderation import evaluation
from remix.moderation.prompts import current_matcher


class Command(BaseCommand):
    help = (
        "Run every text of the moderation sets through all layers (rules and lexicons as in the database, "
        "public figures, classifier, names, language) and print the share of abusive texts stopped (refused or "
        "held) and of benign texts refused or held, per category, technique, language and field, with the "
        "median check time. The development sets are judged by 5-fold cross-validation; the held-out set by the "
        "classifier trained on all development data. Held-out mistakes are not listed unless asked for: "
        "reading them is the first step to tuning on them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--set", choices=["dev", "heldout", "all"], default="all")
        parser.add_argument("--heldout", type=Path, default=evaluation.HELDOUT, help="the held-out set (JSON Lines)")
        parser.add_argument(
            "--mistakes", action="store_true", help="list the development sets' misses and false positives"
        )
        parser.add_argument(
            "--heldout-mistakes",
            action="store_true",
            help="list the held-out set's misses (for the record, never for tuning)",
        )

    def handle(
        self, *args: Any, set: str, heldout: Path, mistakes: bool, heldout_mistakes: bool, **options: Any
    ) -> None:
        matcher = current_matcher()
        self.stdout.write(f"{len(matcher.rules)} active rule patterns (rules and lexicons)")
        if set in ("dev", "all"):
            outcomes = evaluation.cross_validated(evaluation.dev_examples(), matcher=matcher)
            for line in evaluation.summary(outcomes, "development sets (5-fold cross-validation; tuned on)"):
                self.stdout.write(line)
            if mistakes:
                for line in evaluation.mistakes(outcomes, limit=400):
                    self.stdout.write(line)
        if set in ("heldout", "all"):
            if not evaluation.heldout_intact(heldout):
                self.stdout.write(
                    self.style.ERROR("the held-out set has changed since it was frozen: its figures mean nothing")
                )
            outcomes = evaluation.judge(evaluation.heldout_examples(heldout), matcher=matcher)
            for line in evaluation.summary(outcomes, "held-out set (frozen, never tuned on)", targets=True):
                self.stdout.write(line)
            if heldout_mistakes:
                for line in evaluation.mistakes(outcomes, limit=400):
                    self.stdout.write(line)
