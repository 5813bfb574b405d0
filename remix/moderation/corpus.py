"""The prompt moderation test corpus and its report: block rate on abusive prompts, false-positive
rate on benign ones, per category and overall (``manage.py remix_moderation_report``, the tests).

``prompt_corpus.json`` holds ``{"prompt", "expected": "block"|"allow", "category", "note"}`` rows:
half abusive across the six categories (with obfuscated spellings), half benign meme edits with the
Scunthorpe traps. A benign row's category is the one whose rules it sits near ("Essex": sexual) or
``none``. An abusive prompt counts as blocked whatever category blocked it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .evaluation import shown
from .prompts import Matcher, PromptVerdict, current_matcher

CORPUS_PATH = Path(__file__).with_name("prompt_corpus.json")

MIN_BLOCK_RATE = 0.95
MAX_FALSE_POSITIVE_RATE = 0.05


@dataclass(frozen=True)
class Outcome:
    prompt: str
    expected: str
    category: str
    note: str
    verdict: PromptVerdict

    @property
    def blocked(self) -> bool:
        return not self.verdict.allowed

    @property
    def correct(self) -> bool:
        return self.blocked == (self.expected == "block")


@dataclass
class Tally:
    abusive: int = 0
    blocked: int = 0
    benign: int = 0
    false_positives: int = 0

    @property
    def block_rate(self) -> float:
        return self.blocked / self.abusive if self.abusive else 1.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.benign if self.benign else 0.0


@dataclass
class CorpusReport:
    outcomes: list[Outcome]
    rule_count: int
    by_category: dict[str, Tally] = field(default_factory=dict)
    overall: Tally = field(default_factory=Tally)

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.expected == "block" and not o.blocked]

    @property
    def false_positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.expected == "allow" and o.blocked]

    @property
    def passed(self) -> bool:
        return self.overall.block_rate >= MIN_BLOCK_RATE and self.overall.false_positive_rate <= MAX_FALSE_POSITIVE_RATE

    def lines(self) -> list[str]:
        """The report as printed by the command."""
        total = self.overall
        out = [
            f"Prompt moderation report: {len(self.outcomes)} prompts ({total.abusive} abusive, {total.benign} benign) "
            f"against {self.rule_count} active rule patterns",
            "",
            f"{'category':<14} {'blocked (block rate)':<24} false positives",
        ]
        for category, tally in sorted(self.by_category.items()):
            out.append(_row(category, tally))
        out.append(_row("overall", total))
        out.append("")
        out.append(f"Misses (abusive prompts allowed): {len(self.misses)}")
        out += [f"  [{o.category}] {_shown(o.prompt)}  ({o.note})" for o in self.misses]
        out.append(f"False positives (benign prompts blocked): {len(self.false_positives)}")
        out += [
            f"  [{o.category}] {_shown(o.prompt)}  → {o.verdict.category} by rule '{o.verdict.matched}'"
            for o in self.false_positives
        ]
        out.append("")
        verdict = "PASS" if self.passed else "FAIL"
        out.append(
            f"{verdict}: block rate {_percent(total.block_rate)} (needs ≥ {_percent(MIN_BLOCK_RATE)}), "
            f"false positives {_percent(total.false_positive_rate)} (needs ≤ {_percent(MAX_FALSE_POSITIVE_RATE)})"
        )
        return out


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _row(name: str, tally: Tally) -> str:
    blocked = f"{tally.blocked}/{tally.abusive} ({_percent(tally.block_rate)})" if tally.abusive else "-"
    wrong = f"{tally.false_positives}/{tally.benign} ({_percent(tally.false_positive_rate)})" if tally.benign else "-"
    return f"{name:<14} {blocked:<24} {wrong}"


def _shown(text: str) -> str:
    """The prompt quoted, invisible characters spelled out (a zero-width space would vanish in a terminal)."""
    return f'"{shown(text)}"'


def load_corpus(path: Path | str | None = None) -> list[dict[str, Any]]:
    rows = json.loads(Path(path or CORPUS_PATH).read_text(encoding="utf-8"))
    for row in rows:
        if row.get("expected") not in ("block", "allow") or not isinstance(row.get("prompt"), str):
            raise ValueError(f"corpus row needs a prompt and expected block|allow: {row!r}")
    return rows


def evaluate_corpus(path: Path | str | None = None, *, matcher: Matcher | None = None) -> CorpusReport:
    """Run the corpus against ``matcher`` (default: the active rules in the database)."""
    matcher = matcher or current_matcher()
    outcomes = [
        Outcome(
            prompt=row["prompt"],
            expected=row["expected"],
            category=row.get("category") or "none",
            note=row.get("note", ""),
            verdict=matcher.check(row["prompt"]),
        )
        for row in load_corpus(path)
    ]
    report = CorpusReport(outcomes=outcomes, rule_count=len({(r.category, r.kind, r.pattern) for r in matcher.rules}))
    for outcome in outcomes:
        for tally in (report.by_category.setdefault(outcome.category, Tally()), report.overall):
            if outcome.expected == "block":
                tally.abusive += 1
                tally.blocked += outcome.blocked
            else:
                tally.benign += 1
                tally.false_positives += outcome.blocked
    return report
