"""Real people in a prompt: a large list of public figures, and a detector for names nobody listed.

1. ``data/public_figures.tsv`` (names, nicknames, misspellings, other scripts) and
   ``data/public_figure_descriptions.txt`` ("the richest man alive") are compiled into the same matcher the
   admins' rules use, so obfuscated spellings are found the same way. A hit refuses (``real_persons``).
2. Names not on the list: a capitalised first name from the US census name lists (shipped in the ``names``
   package, public-domain data) followed by a capitalised word, after a word that puts someone into the picture
   ("put Jessica Moreno next to me", "make her kiss Tom Hardy"). A name is not proof of a real person (fiction
   is full of them: "Harry Potter style" passes, having no such word), so this holds the request for a
   moderator instead of refusing it. Lower-case names were tried and dropped: on the development sets they
   caught fewer abusive prompts than they held harmless ones ("like peter pan", "tom sawyer").
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import itertools
import re
from pathlib import Path

from .normalize import normalize

DATA_DIR = Path(__file__).with_name("data")
FIGURES = DATA_DIR / "public_figures.tsv"
DESCRIPTIONS = DATA_DIR / "public_figure_descriptions.txt"
CATEGORY = "real_persons"

# How many of the census's most frequent first and last names count (beyond these they are rare words too).
FIRST_NAMES = 2500
LAST_NAMES = 20000
# Words that put someone into the picture; a name counts only after one of them.
_PUTTING = re.compile(
    r"\b(?:put|puts|putting|add|adding|insert|with|beside|next to|into|kiss\w*|hug\w*|swap\w*|replace\w*|face|"
    r"feat|featuring|starring|date|dating|marry|marrying|sleep\w* with|look like)\b"
)


def figure_patterns() -> list[str]:
    """Every name, alias and description on the lists, as matcher patterns."""
    patterns: list[str] = []
    if FIGURES.exists():
        with FIGURES.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                patterns.append(row["name"])
                patterns.extend(a for a in (row.get("aliases") or "").split("|"))
    if DESCRIPTIONS.exists():
        patterns.extend(DESCRIPTIONS.read_text(encoding="utf-8").splitlines())
    return [p.strip() for p in patterns if p.strip() and not p.startswith("#")]


@functools.cache
def figures_matcher():  # -> prompts.Matcher (imported here: prompts imports this module)
    from .prompts import Matcher

    return Matcher.compile((CATEGORY, "block", pattern) for pattern in figure_patterns())


def known_figure(text: str) -> str | None:
    """The list entry (name, alias or description) ``text`` names, if any."""
    verdict = figures_matcher().check(text)
    return None if verdict.allowed else verdict.matched


@functools.cache
def _census(name: str, limit: int) -> frozenset[str]:
    source = importlib.resources.files("names") / name
    words = []
    for line in source.read_text(encoding="ascii").splitlines()[:limit]:
        if line.strip():
            words.append(line.split()[0].lower())
    return frozenset(words)


def first_names() -> frozenset[str]:
    return _census("dist.male.first", FIRST_NAMES) | _census("dist.female.first", FIRST_NAMES)


def last_names() -> frozenset[str]:
    return _census("dist.all.last", LAST_NAMES)


_WORD = re.compile(r"[^\W\d_][^\W\d_'’-]*")


def person_name(text: str) -> str | None:
    """A first-name + surname pair in ``text`` that looks like a person's name, or None."""
    firsts, lasts = first_names(), last_names()
    words = list(_WORD.finditer(text))
    for left, right in itertools.pairwise(words):
        if text[left.end() : right.start()].strip():
            continue  # punctuation between them: not one name
        first, last = left.group(), right.group()
        if first.lower() not in firsts:
            continue
        if not (first[:1].isupper() and first[1:].islower() and last[:1].isupper() and len(last) > 1):
            continue
        if last.lower() not in lasts and not last[1:].islower():
            continue
        if _PUTTING.search(normalize(text[: left.start()])):
            return f"{first} {last}"
    return None
