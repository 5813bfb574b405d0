"""Run the prompt moderation corpus against the rules in the database and print how they do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from remix.moderation.corpus import CORPUS_PATH, MAX_FALSE_POSITIVE_RATE, MIN_BLOCK_RATE, evaluate_corpus


class Command(BaseCommand):
    help = (
        "Check every prompt of the moderation corpus against the active rule sets (the seeded defaults as "
        "admins have edited them) and print, per category and overall, the share of abusive prompts blocked "
        "and of benign prompts blocked by mistake, listing every miss and false positive. Exits non-zero "
        f"when fewer than {MIN_BLOCK_RATE:.0%} are blocked or more than {MAX_FALSE_POSITIVE_RATE:.0%} are false "
        "positives."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--corpus", type=Path, default=CORPUS_PATH, help="a JSON list of {prompt, expected, category} rows"
        )

    def handle(self, *args: Any, corpus: Path, **options: Any) -> None:
        try:
            report = evaluate_corpus(corpus)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the corpus {corpus}: {exc}") from None
        *body, verdict = report.lines()
        for line in body:
            self.stdout.write(line)
        if not report.passed:
            raise CommandError(verdict)
        self.stdout.write(self.style.SUCCESS(verdict))
