"""How well prompt moderation does, measured the way an outsider would (``make moderation-report``).

Two sets, in ``data/``:

- ``dev/*.jsonl``: the development sets the classifier learns from and the thresholds were chosen on. Their
  figures come from k-fold cross-validation (each fold judged by a classifier that never saw it), so they are
  not a memory test; they are still the data everything was tuned on.
- ``heldout/heldout.jsonl``: the frozen held-out set, written before tuning by someone who never saw the rules
  (see its README). Judged by the classifier trained on all of ``dev/``. This is the honest figure.

Every text goes through ``text.check_text``, the function ``moderate_request`` calls for each request (meme
texts with their ``|`` read as a space, as there). An abusive text counts as stopped when refused or held;
a benign one as a false positive when refused or held. Rates are given per category, technique, language and
field, with the median time per check.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import classifier
from .classifier import BENIGN, Example, read_set
from .text import ALLOW, TextVerdict, check_text

HELDOUT = classifier.DATA_DIR / "heldout" / "heldout.jsonl"
HELDOUT_SHA256 = "4daf08aaed40c832573b313bd905a568a776e14157d93d0589d39669b06bd9ce"

# The bars the issue sets for the hidden set, printed next to the held-out figures.
TARGET_STOPPED = 0.90
TARGET_CATEGORY_STOPPED = 0.80
TARGET_MEME_STOPPED = 0.90
TARGET_FALSE_POSITIVES = 0.03


@dataclass(frozen=True)
class Outcome:
    example: Example
    verdict: TextVerdict
    ms: float

    @property
    def abusive(self) -> bool:
        return self.example.label != BENIGN

    @property
    def stopped(self) -> bool:
        return self.verdict.decision != ALLOW


def judge(
    examples: Iterable[Example], *, model: classifier.TextClassifier | None = None, matcher=None
) -> list[Outcome]:
    outcomes = []
    for example in examples:
        text = example.text.replace("|", " ") if example.field == "meme_text" else example.text
        started = time.perf_counter()
        verdict = check_text(text, field=example.field, matcher=matcher, model=model)
        outcomes.append(Outcome(example, verdict, (time.perf_counter() - started) * 1000))
    return outcomes


def cross_validated(examples: list[Example], *, folds: int = 5, matcher=None, seed: int = 7) -> list[Outcome]:
    """Each development example judged by a classifier trained on the other folds (and the project corpus)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)  # noqa: S311 (a reproducible split, not a secret)
    corpus = [e for e in classifier.training_examples() if e.field == "prompt" and not e.technique and not e.language]
    outcomes: list[Outcome | None] = [None] * len(examples)
    for fold in range(folds):
        test = [i for n, i in enumerate(order) if n % folds == fold]
        held = set(test)
        train = [examples[i] for i in order if i not in held] + corpus
        model = classifier.TextClassifier(classifier.fit(train), f"cv-{fold}")
        for i, outcome in zip(test, judge([examples[i] for i in test], model=model, matcher=matcher), strict=True):
            outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


def heldout_intact(path: Path = HELDOUT) -> bool:
    return hashlib.sha256(path.read_bytes()).hexdigest() == HELDOUT_SHA256


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} {100 * part / whole:5.1f}%" if whole else "-"


def table(outcomes: list[Outcome], key: str, title: str) -> list[str]:
    stopped: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    wrong: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes:
        group = getattr(o.example, key) if key != "category" else (o.example.label if o.abusive else "benign")
        target = stopped if o.abusive else wrong
        target[group][0] += o.stopped
        target[group][1] += 1
    lines = [f"  {title:<16} {'abusive stopped':>20}   {'benign refused/held':>20}"]
    for group in sorted(set(stopped) | set(wrong)):
        s, w = stopped.get(group, [0, 0]), wrong.get(group, [0, 0])
        lines.append(f"  {group or '-':<16} {_rate(*s):>20}   {_rate(*w):>20}")
    return lines


def summary(outcomes: list[Outcome], name: str, *, targets: bool = False) -> list[str]:
    prompts = [o for o in outcomes if o.example.field == "prompt"]
    memes = [o for o in outcomes if o.example.field == "meme_text"]
    abusive = [o for o in prompts if o.abusive]
    benign = [o for o in prompts if not o.abusive]
    meme_abusive = [o for o in memes if o.abusive]
    meme_benign = [o for o in memes if not o.abusive]
    refused = sum(o.verdict.decision == "refuse" for o in abusive)
    lines = [
        f"== {name}: {len(prompts)} prompts ({len(abusive)} abusive, {len(benign)} benign), "
        f"{len(memes)} meme texts ({len(meme_abusive)} abusive, {len(meme_benign)} benign)",
        f"  prompts: abusive stopped {_rate(sum(o.stopped for o in abusive), len(abusive))} "
        f"(refused {refused}, held {sum(o.stopped for o in abusive) - refused}); "
        f"benign refused or held {_rate(sum(o.stopped for o in benign), len(benign))}",
        f"  meme text: abusive stopped {_rate(sum(o.stopped for o in meme_abusive), len(meme_abusive))}; "
        f"benign refused or held {_rate(sum(o.stopped for o in meme_benign), len(meme_benign))}",
        f"  median check time {statistics.median(o.ms for o in outcomes):.2f} ms "
        f"(p95 {sorted(o.ms for o in outcomes)[int(len(outcomes) * 0.95)]:.2f} ms)",
    ]
    if targets and abusive and benign:
        rates = _category_rates(abusive)
        checks = [
            ("abusive prompts stopped", sum(o.stopped for o in abusive) / len(abusive), TARGET_STOPPED, True),
            ("every category stopped (lowest)", min(rates.values()), TARGET_CATEGORY_STOPPED, True),
            (
                "abusive meme text stopped",
                sum(o.stopped for o in meme_abusive) / max(1, len(meme_abusive)),
                TARGET_MEME_STOPPED,
                True,
            ),
            (
                "benign prompts refused or held",
                sum(o.stopped for o in benign) / len(benign),
                TARGET_FALSE_POSITIVES,
                False,
            ),
        ]
        for label, value, bar, at_least in checks:
            ok = value >= bar if at_least else value <= bar
            bar_text = f"{'≥' if at_least else '≤'} {100 * bar:.0f}%"
            lines.append(f"  {'meets' if ok else 'MISSES'} {label}: {100 * value:.1f}% ({bar_text})")
    lines.append("  -- prompts by category")
    lines += table(prompts, "category", "category")
    lines.append("  -- prompts by technique")
    lines += table(prompts, "technique", "technique")
    lines.append("  -- prompts by language")
    lines += table(prompts, "language", "language")
    lines.append("  -- meme text by category")
    lines += table(memes, "category", "category")
    decided: dict[str, int] = defaultdict(int)
    for o in outcomes:
        if o.abusive and o.stopped:
            decided[o.verdict.layer] += 1
    lines.append(
        "  -- which layer stopped the abusive texts: " + ", ".join(f"{k} {v}" for k, v in sorted(decided.items()))
    )
    return lines


def _category_rates(abusive: list[Outcome]) -> dict[str, float]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in abusive:
        counts[o.example.label][0] += o.stopped
        counts[o.example.label][1] += 1
    return {k: s / n for k, (s, n) in counts.items()}


def shown(text: str) -> str:
    """A text quoted, invisible characters spelled out (a zero-width space would vanish in a terminal)."""
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cf", "Cc", "Zl", "Zp") else ch for ch in text)


def mistakes(outcomes: list[Outcome], limit: int = 40) -> list[str]:
    misses = [o for o in outcomes if o.abusive and not o.stopped]
    wrong = [o for o in outcomes if not o.abusive and o.stopped]
    lines = [f"  misses (abusive allowed): {len(misses)}"]
    lines += [
        f"    [{o.example.label}/{o.example.technique}/{o.example.language}] {shown(o.example.text)}"
        for o in misses[:limit]
    ]
    lines.append(f"  false positives (benign refused or held): {len(wrong)}")
    lines += [
        f"    [{o.example.technique}/{o.example.language}] {shown(o.example.text)} → {o.verdict.decision} "
        f"{o.verdict.category} by {o.verdict.layer}"
        + (f" '{o.verdict.matched}'" if o.verdict.matched else "")
        + (f" {o.verdict.score:.2f}" if o.verdict.score is not None else "")
        for o in wrong[:limit]
    ]
    return lines


def dev_examples() -> list[Example]:
    return [e for path in sorted(classifier.DEV_DIR.glob("*.jsonl")) for e in read_set(path)]


def heldout_examples(path: Path = HELDOUT) -> list[Example]:
    return read_set(path)
