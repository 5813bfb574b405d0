"""Benchmark of the text check (``make bench-moderation``): how long one prompt takes through every layer.

    .venv/bin/python bench/moderation.py [--passes 2] [--sample 1000]

A throwaway VAR_DIR (SQLite, migrated: the default rules and every lexicon), the classifier trained on the
development sets (its training is timed apart), then ``text.check_text`` on a seeded sample of the development and
held-out texts, ``--passes`` times after one warm-up pass. Prints the median and p95 per check, the share of it
spent on the rules' signature query (one small query per call, so an admin's edit applies at once), and each layer's
own median. A benchmark, not a test: the machine's noise is in the figures; compare medians taken in one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--sample", type=int, default=1000, help="texts drawn (seeded) from the dev and held-out sets")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="remix-bench-moderation-"))
    os.environ.update(VAR_DIR=str(scratch), DJANGO_SETTINGS_MODULE="socialapp.settings")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_ENV"):
        os.environ.pop(name, None)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from remix.moderation import classifier, evaluation, language, people, prompts
        from remix.moderation.normalize import normalize
        from remix.moderation.text import check_text

        started = time.perf_counter()
        model = classifier.get()
        train_s = time.perf_counter() - started
        import random

        texts = [e.text for e in evaluation.dev_examples() + evaluation.heldout_examples()]
        texts = random.Random(7).sample(texts, min(args.sample, len(texts)))
        for text in texts:  # warm-up: compiled rules, caches, lazily loaded models
            check_text(text)
        total, signature, layers = (
            [],
            [],
            {"normalise": [], "rules": [], "figures": [], "classifier": [], "names": [], "language": []},
        )
        matcher = prompts.current_matcher()
        for _ in range(args.passes):
            for text in texts:
                t0 = time.perf_counter()
                check_text(text)
                total.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                prompts.current_matcher()
                signature.append((time.perf_counter() - t0) * 1000)
        for text in texts:
            t = time.perf_counter()
            normalized = normalize(text)
            layers["normalise"].append(time.perf_counter() - t)
            t = time.perf_counter()
            matcher.check_normalized(normalized)
            layers["rules"].append(time.perf_counter() - t)
            t = time.perf_counter()
            people.figures_matcher().check_normalized(normalized)
            layers["figures"].append(time.perf_counter() - t)
            t = time.perf_counter()
            model.score_normalized(normalized)
            layers["classifier"].append(time.perf_counter() - t)
            t = time.perf_counter()
            people.person_name(text)
            layers["names"].append(time.perf_counter() - t)
            t = time.perf_counter()
            language.assess(text, normalized, frozenset())
            layers["language"].append(time.perf_counter() - t)
        median = statistics.median(total)
        p95 = sorted(total)[int(len(total) * 0.95)]
        print(
            f"text check: {len(texts)} texts × {args.passes} passes, {len(matcher.rules)} rule patterns, "
            f"classifier ready in {train_s:.1f} s"
        )
        print(f"  per check: median {median:.2f} ms, p95 {p95:.2f} ms (target: median ≤ 5 ms)")
        print(
            f"  rules' signature query: median {statistics.median(signature):.2f} ms "
            f"({100 * statistics.median(signature) / median:.0f}% of a check)"
        )
        print(
            "  per layer, median ms: " + ", ".join(f"{k} {1000 * statistics.median(v):.2f}" for k, v in layers.items())
        )
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
