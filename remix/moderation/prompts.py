"""Prompt moderation: the admins' rule sets (``ModerationRule``) applied to prompts and meme text
before a job exists.

Matching is by whole words, never by substring: that is what keeps "Essex", "cocktail" and "grapes"
clear of "sex", "cock" and "rape". Obfuscation is undone by looking at the text several ways at
once; each way may match a block rule, and every way must be innocent for the text to pass:

- normalisation (``normalize.py``): compatibility forms, emoji as words, Unicode's confusables (UTS #39)
  mapped to the letters they imitate, case, invisible characters and accents;
- leetspeak (``0→o 1→i/l 3→e 4→a 5→s 7→t 8→b 9→g @→a $→s !→i |→l/i +→t``), tried in words that
  also contain a letter or a leet symbol; pure numbers ("1488", "90") are kept as they are, and a
  word with digits is tried both decoded and as written;
- spacing: a run of single characters (``n u d e``, ``n.u.d.e``) is also read as one word, and so
  are the pieces of a word held together by punctuation (``self-harm``, ``sw@st1ka``, ``ex's``);
- stretched letters (``nuuuude``): a run of 3+ identical letters is also read as one or two;
- masked letters (``s*x``, ``f_ck``): ``*`` or ``_`` inside a word stands for one letter, compared
  with block words only, and only where at least two real letters remain and no more are masked
  than kept.

The pattern language is ``ModerationRule``'s: one or more words matched as consecutive whole words; a
trailing ``*`` matches any ending; a plain word also matches its plural in ``s``/``es``; a pattern
of several plain words also matches them written as one (``face swap`` → ``faceswap``). An ``allow``
rule is an exception: a block match lying inside text an allow rule of the same category covers
does not count ("blood orange" for "blood").

The compiled rules are cached per process and rebuilt when a cheap signature of the active rules
(count, newest ``updated_at``, sum of ids) changes, so an edit in the admin applies at once in every
web process without a restart or a cache broadcast.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Sum

from socialapp.models import Post, User

from .. import audit
from ..jobs import PromptRejected
from ..models import AuditEvent, ModerationRule, RemixJob
from .normalize import has_unspaced_script, normalize
from .text import REFUSE, SENTENCES, SEVERITY, TextVerdict, check_text

Category = ModerationRule.Category

# --- normalisation ------------------------------------------------------------------------------

LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "8": ("b",),
    "9": ("g",),
    "@": ("a",),
    "$": ("s",),
    "!": ("i",),
    "|": ("l", "i"),
    "+": ("t",),
}
LEET_SYMBOLS = frozenset("@$!|+")
MASKS = frozenset("*_")
MASK = "?"  # how a masked letter is written inside a form (never a letter, never left by the tokeniser)

# Pieces of text: runs of letters and digits ("atoms"), and between them the characters that join
# them inside one whitespace-separated chunk (punctuation, leet symbols, masks).
# Vowel signs and other combining marks of Indic, Thai, Arabic and Hebrew script belong to their word (Python's
# \w does not count them, which would cut "बर्फ़" into single letters).
_ATOM = re.compile(r"[^\W_](?:[^\W_]|[\u0591-\u05c7\u064b-\u065f\u0670\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f])*")

MAX_VARIANTS = 16  # per string: leet choices × stretch choices, beyond which only uniform choices are tried
MAX_JOIN = 12  # the longest run of single characters or chunk pieces read as one word


@dataclass(frozen=True)
class _Atom:
    text: str
    before: str  # the leet/mask characters between it and the previous atom of its chunk (or the chunk's start)
    chunk: int


def _connector(between: str) -> str:
    """What a stretch of non-letters between two atoms contributes when they are read as one word."""
    return "".join(MASK if ch in MASKS else ch for ch in between if ch in LEET_SYMBOLS or ch in MASKS)


def _atoms(normalized: str) -> tuple[list[_Atom], list[str]]:
    """The atoms of the text, and for each the leet/mask characters after it to the end of its chunk
    (only ever read for the last atom of a chunk: "snow!", "nud3!")."""
    atoms: list[_Atom] = []
    trailing: list[str] = []
    for chunk_no, chunk in enumerate(normalized.split()):
        position = 0
        for match in _ATOM.finditer(chunk):
            atoms.append(_Atom(match.group(), _connector(chunk[position : match.start()]), chunk_no))
            trailing.append("")
            position = match.end()
        if atoms and atoms[-1].chunk == chunk_no:
            trailing[-1] = _connector(chunk[position:])
    return atoms, trailing


def _choices(text: str) -> Iterator[str]:
    """Leet readings of ``text``: every combination of choices, or only uniform ones past MAX_VARIANTS."""
    options = [LEET.get(ch, (ch,)) for ch in text]
    ambiguous = sum(len(o) > 1 for o in options)
    if 2**ambiguous <= MAX_VARIANTS:
        for combo in itertools.product(*options):
            yield "".join(combo)
    else:
        for pick in (0, 1):
            yield "".join(o[min(pick, len(o) - 1)] for o in options)


_RUN = re.compile(r"([a-z])\1{2,}")


def _unstretched(text: str) -> Iterator[str]:
    """``text`` with each run of 3+ identical letters read as one letter or two ("nuuuude" → nude)."""
    runs = list(_RUN.finditer(text))
    if not runs:
        return
    if 2 ** len(runs) > MAX_VARIANTS:
        yield _RUN.sub(r"\1", text)
        yield _RUN.sub(r"\1\1", text)
        return
    for lengths in itertools.product((1, 2), repeat=len(runs)):
        parts, position = [], 0
        for run, length in zip(runs, lengths, strict=True):
            parts.append(text[position : run.start()] + run.group(1) * length)
            position = run.end()
        yield "".join(parts) + text[position:]


@functools.lru_cache(maxsize=8192)
def forms(raw: str) -> frozenset[str]:
    """Every reading of one word (already normalised; masks written as ``MASK``). Cached: a run of
    single characters yields many overlapping joins, and prompts repeat words."""
    core = raw.strip(MASK)
    if not core:
        return frozenset()
    readings = {core}
    has_letter = any(ch.isalpha() for ch in core)
    if has_letter or any(ch in LEET_SYMBOLS for ch in core):
        readings.update(_choices(core))
    if not any(ch.isdigit() for ch in core):
        readings = {r for r in readings if not any(ch in LEET_SYMBOLS for ch in r)} or readings
    for reading in list(readings):
        readings.update(_unstretched(reading))
    result = set()
    for reading in readings:
        if MASK in reading:
            letters = sum(ch != MASK for ch in reading)
            if letters >= 2 and reading.count(MASK) <= letters:
                result.add(reading)
        else:
            result.add(reading)
    return frozenset(result)


@dataclass(frozen=True)
class _Edge:
    start: int
    end: int
    forms: frozenset[str]


def _lattice(atoms: list[_Atom], trailing: list[str]) -> dict[int, list[_Edge]]:
    """Edges from atom position to atom position, each with the words that stretch of text can be."""
    edges: dict[int, list[_Edge]] = defaultdict(list)
    spans: set[tuple[int, int]] = set()
    n = len(atoms)
    for i in range(n):
        spans.add((i, i + 1))
        # Pieces of one chunk held together by punctuation, leet symbols or masks.
        for j in range(i + 2, min(n, i + MAX_JOIN) + 1):
            if atoms[j - 1].chunk != atoms[i].chunk:
                break
            spans.add((i, j))
    # Runs of single characters, across chunks: "n u d e", "s e x y".
    i = 0
    while i < n:
        j = i
        while j < n and len(atoms[j].text) == 1:
            j += 1
        for start in range(i, j):
            for end in range(start + 2, min(j, start + MAX_JOIN) + 1):
                spans.add((start, end))
        i = max(j, i + 1)
    for start, end in spans:
        text = atoms[start].text
        for k in range(start + 1, end):
            joiner = atoms[k].before if atoms[k].chunk == atoms[k - 1].chunk else ""
            text += joiner + atoms[k].text
        readings = set(forms(text))
        if end - start > 1 and all(len(atoms[k].text) == 1 for k in range(start, end)):
            # Between single characters a mask is spacing too ("n_u_d_e"), not a hidden letter.
            readings.update(forms(text.replace(MASK, "")))
        # Leet symbols at the edges are read both as letters ("$ex") and as punctuation ("snow!").
        lead = atoms[start].before if start == 0 or atoms[start - 1].chunk != atoms[start].chunk else ""
        tail = trailing[end - 1] if end == n or atoms[end].chunk != atoms[end - 1].chunk else ""
        if lead or tail:
            readings.update(forms(lead + text + tail))
        if readings:
            edges[start].append(_Edge(start, end, frozenset(readings)))
    return edges


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    stem: str
    prefix: bool

    def matches(self, form: str) -> bool:
        if MASK in form:
            return self._matches_masked(form)
        if self.prefix:
            return form.startswith(self.stem)
        return form == self.stem or form in (self.stem + "s", self.stem + "es")

    def _matches_masked(self, form: str) -> bool:
        if self.prefix:
            return len(form) >= len(self.stem) and _same(form[: len(self.stem)], self.stem)
        return any(len(form) == len(w) and _same(form, w) for w in (self.stem, self.stem + "s", self.stem + "es"))


def _same(masked: str, word: str) -> bool:
    return all(m in (MASK, w) for m, w in zip(masked, word, strict=True))


@dataclass(frozen=True)
class _Rule:
    category: str
    kind: str
    pattern: str
    words: tuple[_Word, ...]
    # For a pattern in a script written without spaces (Chinese, Japanese, Korean, Thai): the normalised
    # pattern without spaces, matched as a substring of the normalised text without spaces.
    substring: str = ""


# Substring matches are reported in character positions of the text without spaces, offset by this so they
# never overlap word matches (an allow rule covers a block match only in the same coordinates).
SUBSTRING_BASE = 1_000_000


def parse_pattern(pattern: str) -> tuple[tuple[_Word, ...], ...]:
    """A rule's pattern as the word sequences it matches (the words, and joined into one if all plain)."""
    words = []
    for token in normalize(pattern).split():
        prefix = token.endswith("*")
        pieces = _ATOM.findall(token)
        for k, piece in enumerate(pieces):
            words.append(_Word(piece, prefix and k == len(pieces) - 1))
    if not words:
        return ()
    sequences = [tuple(words)]
    if len(words) > 1 and not any(w.prefix for w in words[:-1]):
        sequences.append((_Word("".join(w.stem for w in words), words[-1].prefix),))
    return tuple(sequences)


@dataclass(frozen=True)
class Match:
    rule: _Rule
    start: int
    end: int


@dataclass
class Matcher:
    """Compiled rules. Build with ``Matcher.compile``; ask with ``check``."""

    rules: list[_Rule] = field(default_factory=list)
    _substrings: list[_Rule] = field(default_factory=list)
    _literal: dict[str, list[_Rule]] = field(default_factory=dict)
    _prefix: dict[str, list[_Rule]] = field(default_factory=dict)
    # Block rules by the first letter of their first word, for masked forms (which start with a letter).
    _block_by_initial: dict[str, list[_Rule]] = field(default_factory=dict)

    @classmethod
    def compile(cls, rules: Iterable[tuple[str, str, str]]) -> Matcher:
        """From ``(category, kind, pattern)`` triples; patterns that normalise to nothing are skipped."""
        matcher = cls()
        literal: dict[str, list[_Rule]] = defaultdict(list)
        prefix: dict[str, list[_Rule]] = defaultdict(list)
        block: dict[str, list[_Rule]] = defaultdict(list)
        for category, kind, pattern in rules:
            if has_unspaced_script(pattern):
                compact = "".join(normalize(pattern).split())
                if compact:
                    rule = _Rule(category, kind, pattern, (), compact)
                    matcher.rules.append(rule)
                    matcher._substrings.append(rule)
                continue
            for words in parse_pattern(pattern):
                rule = _Rule(category, kind, pattern, words)
                matcher.rules.append(rule)
                first = words[0]
                (prefix if first.prefix else literal)[first.stem].append(rule)
                if kind != ModerationRule.Kind.ALLOW:
                    block[first.stem[:1]].append(rule)
        matcher._literal, matcher._prefix, matcher._block_by_initial = dict(literal), dict(prefix), dict(block)
        return matcher

    def _first_word_candidates(self, form: str) -> Iterator[_Rule]:
        if MASK in form:
            longest = len(form)
            for rule in self._block_by_initial.get(form[0], ()):
                first = rule.words[0]
                # Only stems the form's length allows (a plain word may add "s"/"es") are compared.
                fits = len(first.stem) <= longest and (first.prefix or len(first.stem) >= longest - 2)
                if fits and first.matches(form):
                    yield rule
            return
        for stem in {form, form[:-1] if form.endswith("s") else None, form[:-2] if form.endswith("es") else None}:
            if stem:
                yield from self._literal.get(stem, ())
        for end in range(1, len(form) + 1):
            yield from self._prefix.get(form[:end], ())

    def matches(self, text: str) -> list[Match]:
        """Every rule occurrence in ``text`` (allow and block), as atom spans."""
        return self._matches(normalize(text))

    def _matches(self, normalized: str) -> list[Match]:
        atoms, trailing = _atoms(normalized)
        lattice = _lattice(atoms, trailing)
        found: set[Match] = set()
        if self._substrings and has_unspaced_script(normalized):
            compact = "".join(normalized.split())
            for rule in self._substrings:
                at = compact.find(rule.substring)
                while at >= 0:
                    found.add(Match(rule, SUBSTRING_BASE + at, SUBSTRING_BASE + at + len(rule.substring)))
                    at = compact.find(rule.substring, at + 1)
        for start, edges in lattice.items():
            for edge in edges:
                for form in edge.forms:
                    for rule in self._first_word_candidates(form):
                        if MASK in form and rule.kind == ModerationRule.Kind.ALLOW:
                            continue
                        if not rule.words[0].matches(form):
                            continue
                        for end in self._rest(rule.words[1:], edge.end, lattice, allow_mask=rule.kind != "allow"):
                            found.add(Match(rule, start, end))
        return sorted(found, key=lambda m: (m.start, m.end, m.rule.pattern))

    def _rest(
        self, words: tuple[_Word, ...], position: int, lattice: dict[int, list[_Edge]], *, allow_mask: bool
    ) -> Iterator[int]:
        if not words:
            yield position
            return
        for edge in lattice.get(position, ()):
            if any(words[0].matches(f) for f in edge.forms if allow_mask or MASK not in f):
                yield from self._rest(words[1:], edge.end, lattice, allow_mask=allow_mask)

    def explain(self, text: str) -> list[tuple[Match, bool]]:
        """Every match in ``text``, each with whether an allow rule of its category covers it."""
        return self._explain(self.matches(text))

    def _explain(self, found: list[Match]) -> list[tuple[Match, bool]]:
        allows = [m for m in found if m.rule.kind == ModerationRule.Kind.ALLOW]
        return [
            (
                m,
                m.rule.kind != ModerationRule.Kind.ALLOW
                and any(a.rule.category == m.rule.category and a.start <= m.start and m.end <= a.end for a in allows),
            )
            for m in found
        ]

    def check(self, text: str) -> PromptVerdict:
        """The verdict on one text: the gravest block match that no allow rule of its category covers (and,
        where none, the gravest such hold match)."""
        return self.check_normalized(normalize(text))

    def check_normalized(self, normalized: str) -> PromptVerdict:
        explained = self._explain(self._matches(normalized))
        live = [m for m, covered in explained if m.rule.kind != ModerationRule.Kind.ALLOW and not covered]
        rank: dict[str, int] = {str(category): n for n, category in enumerate(SEVERITY)}

        def gravest(matches: list[Match]) -> Match:
            return min(matches, key=lambda m: (rank.get(m.rule.category, len(rank)), m.start))

        held = [m for m in live if m.rule.kind == ModerationRule.Kind.HOLD]
        hold = gravest(held) if held else None
        hold_fields = {"hold_category": hold.rule.category, "hold_matched": hold.rule.pattern} if hold else {}
        blocking = [m for m in live if m.rule.kind == ModerationRule.Kind.BLOCK]
        if not blocking:
            return PromptVerdict(allowed=True, normalized=normalized, **hold_fields)
        worst = gravest(blocking)
        return PromptVerdict(
            allowed=False,
            category=worst.rule.category,
            matched=worst.rule.pattern,
            normalized=normalized,
            **hold_fields,
        )


@dataclass(frozen=True)
class PromptVerdict:
    allowed: bool
    category: str | None = None
    matched: str | None = None  # the pattern of the block rule that decided
    normalized: str = ""
    # The gravest hold rule that matched (a hold rule never refuses on its own: text.check_text holds the request,
    # or, when something else refuses it, names the graver of the two categories).
    hold_category: str | None = None
    hold_matched: str | None = None

    @property
    def sentence(self) -> str:
        return SENTENCES.get(self.category or "", "This remix request isn't allowed.") if not self.allowed else ""


# --- the rules in the database, cached per process ----------------------------------------------

_cache_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], Matcher] | None = None


def _signature() -> tuple[Any, ...]:
    """Changes whenever an active rule is added, deleted, (de)activated or saved."""
    summary = ModerationRule.objects.filter(is_active=True).aggregate(
        count=Count("id"), newest=Max("updated_at"), ids=Sum("id")
    )
    return (summary["count"], summary["newest"], summary["ids"])


def current_matcher() -> Matcher:
    """The active rules, compiled; rebuilt only when their signature changed (one small query a call)."""
    global _cached
    signature = _signature()
    cached = _cached
    if cached is not None and cached[0] == signature:
        return cached[1]
    with _cache_lock:
        if _cached is not None and _cached[0] == signature:
            return _cached[1]
        rules = ModerationRule.objects.filter(is_active=True).values_list("category", "kind", "pattern")
        matcher = Matcher.compile(rules)
        _cached = (signature, matcher)
        return matcher


def check_prompt(text: str) -> PromptVerdict:
    """The verdict of the active rule sets alone on ``text`` (a prompt or a meme text)."""
    return current_matcher().check(text)


def moderate_request(*, prompt: str, meme_text: str, requester: User, post: Post) -> TextVerdict:
    """Check a remix request's prompt, then its meme text, through every layer (``text.check_text``).

    A refusal is recorded here (``PROMPT_REJECTED``: category, layer, what matched, the text; minors flagged
    severe) and raised as ``PromptRejected`` with the category's sentence and the field. Otherwise returns the
    verdict that decides the job: ``allow``, or ``hold`` (the job is created held, and does not run until a
    moderator approves it; the caller records ``PROMPT_HELD`` with the job). An allowed job is recorded by
    ``record_prompt_allowed``.
    """
    verdict = check_text(prompt)
    checked = [("prompt", verdict)]
    if meme_text:
        # The two lines of a meme ("top|bottom") are read as one text: a phrase may span them.
        checked.append(("meme_text", check_text(meme_text.replace("|", " "), field="meme_text")))
    for field_name, outcome in checked:
        if outcome.decision != REFUSE:
            continue
        category = outcome.category or ""
        audit.record(
            AuditEvent.Action.PROMPT_REJECTED,
            summary=f"{field_name.replace('_', ' ')} rejected ({category}) by {outcome.layer}"
            + (f" '{outcome.matched}'" if outcome.matched else ""),
            actor=requester,
            subject=post.author,
            post=post,
            category=category,
            detail={
                "field": field_name,
                **outcome.as_dict(),
                "rule": outcome.matched,
                "prompt": prompt,
                "meme_text": meme_text,
            },
        )
        raise PromptRejected(category, outcome.sentence, field=field_name)
    for field_name, outcome in checked:
        if outcome.held:
            return TextVerdict(**{**outcome.__dict__, "reason": f"{field_name.replace('_', ' ')}: {outcome.reason}"})
    return verdict


def record_prompt_allowed(*, job: RemixJob, requester: User, post: Post) -> None:
    """The audit record of an allowed request, carrying the job it became."""
    audit.record(
        AuditEvent.Action.PROMPT_ALLOWED,
        summary=f"prompt allowed for remix job {job.pk}",
        actor=requester,
        subject=post.author,
        post=post,
        job=job,
        detail={"prompt": job.prompt, "meme_text": job.meme_text},
    )


def record_prompt_held(*, job: RemixJob, requester: User, post: Post, verdict: TextVerdict) -> None:
    """The audit record of a request held before it runs (minors: severe)."""
    audit.record(
        AuditEvent.Action.PROMPT_HELD,
        summary=f"remix job {job.pk} held for review before it runs ({verdict.layer}: {verdict.reason})"[:300],
        actor=requester,
        subject=post.author,
        post=post,
        job=job,
        category=verdict.category or "",
        detail={**verdict.as_dict(), "prompt": job.prompt, "meme_text": job.meme_text},
    )
