"""The text check every prompt and meme text goes through: layers, and one verdict.

1. **Rules** (``prompts.Matcher``): the admins' rules and the per-language lexicons, on the normalised text
   (``normalize.py``). Instant, editable, explainable. A block match refuses.
2. **Public figures** (``people.py``): a list of public figures' names, aliases and descriptions. Refuses.
3. **Classifier** (``classifier.py``): the learned stage, for wording nobody wrote down. At or above
   ``REMIX_TEXT_REFUSE_SCORE`` it refuses; at or above ``REMIX_TEXT_HOLD_SCORE`` it holds for a moderator.
4. **Names** (``people.person_name``): a person's name not on the list holds.
5. **Language** (``language.py``): text in a language or script the other layers do not cover holds.

When several layers refuse, the verdict names the gravest category (``SEVERITY``: minors before sexual).
Nothing here touches the database except the rules' cached signature check.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from . import classifier, language, people
from .normalize import emoji_meanings, normalize

ALLOW, HOLD, REFUSE = "allow", "hold", "refuse"

# When layers name several categories, the verdict names the gravest.
SEVERITY = ["minors", "sexual", "self_harm", "hate", "violence", "harassment", "real_persons"]

# One sentence per category for the person who typed the prompt: it names the category and never echoes the
# matched word (that would teach the filter's vocabulary one refusal at a time).
SENTENCES: dict[str, str] = {
    "sexual": "AI remixes can't be sexual or show nudity.",
    "minors": "AI remixes can't sexualise children or make someone look like a child.",
    "real_persons": "AI remixes can't put real or famous people into a picture or swap faces.",
    "violence": "AI remixes can't show violence or gore.",
    "hate": "AI remixes can't include hate symbols or slurs.",
    "self_harm": (
        "AI remixes can't show suicide or self-harm. If you are going through something hard, "
        "please talk to someone you trust."
    ),
    "harassment": "AI remixes can't humiliate, threaten or defame the person in the picture.",
}
HELD_SENTENCE = "A moderator will look at this request before it runs."
# Texts with fewer letters than this are not given to the classifier (the rules still read them).
MIN_LETTERS = 3


@dataclass(frozen=True)
class TextVerdict:
    decision: str  # ALLOW, HOLD or REFUSE
    category: str | None = None
    layer: str = ""  # rules, public_figures, classifier, person_name, language
    matched: str | None = None  # the rule pattern, list entry or name that decided
    score: float | None = None  # the classifier's probability of abuse
    language: str = ""
    normalized: str = ""
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW

    @property
    def held(self) -> bool:
        return self.decision == HOLD

    @property
    def sentence(self) -> str:
        if self.decision == REFUSE:
            return SENTENCES.get(self.category or "", "This remix request isn't allowed.")
        return HELD_SENTENCE if self.decision == HOLD else ""

    def as_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "category": self.category,
            "layer": self.layer,
            "matched": self.matched,
            "score": None if self.score is None else round(self.score, 4),
            "language": self.language,
            "reason": self.reason,
        }


def gravest(categories: list[str]) -> str:
    rank = {c: n for n, c in enumerate(SEVERITY)}
    return min(categories, key=lambda c: rank.get(c, len(rank)))


_known: dict[str, frozenset[str]] = {}


def _known_words(model: classifier.TextClassifier) -> frozenset[str]:
    """Every word the moderation has learned or been told: the classifier's vocabulary and the lexicons."""
    if model.digest in _known:
        return _known[model.digest]
    words: set[str] = set(model.vocabulary())
    from . import lexicon

    for _language, _category, _kind, pattern in lexicon.entries():
        words.update(normalize(pattern).replace("*", "").split())
    _known[model.digest] = frozenset(words)
    return _known[model.digest]


def check_text(
    text: str, *, field: str = "prompt", matcher=None, model: classifier.TextClassifier | None = None
) -> TextVerdict:
    """Every layer's verdict on one text. ``field``: ``prompt`` or ``meme_text`` (a meme's caption is held from
    ``REMIX_MEME_HOLD_SCORE``). ``matcher`` (a ``prompts.Matcher``) defaults to the active rules and ``model`` to
    the classifier trained on the current development sets (evaluation passes others)."""
    from .prompts import current_matcher

    normalized = normalize(text)
    rules = (matcher or current_matcher()).check_normalized(normalized)
    figure = people.figures_matcher().check_normalized(normalized)
    model = model or classifier.get()
    # When a rule or the list already refuses, the classifier's fast model is asked only whether it sees a graver
    # category; the sentence encoder is spent on texts no cheaper layer has settled.
    settled = not rules.allowed or not figure.allowed
    if sum(ch.isalpha() for ch in normalized) < MIN_LETTERS:
        # "x", "ok": too short to mean anything, and the sentence encoder reads noise into it.
        scored = classifier.Score(0.0, "", {classifier.BENIGN: 1.0})
    else:
        scored = model.score_normalized(normalized, emoji_meanings(text), original=text, fast_only=settled)
    refuse_at = settings.REMIX_TEXT_REFUSE_SCORE
    hold_at = settings.REMIX_MEME_HOLD_SCORE if field == "meme_text" else settings.REMIX_TEXT_HOLD_SCORE

    refusals: list[tuple[str, str, str | None]] = []
    if not rules.allowed:
        refusals.append((rules.category or "", "rules", rules.matched))
    if not figure.allowed:
        refusals.append(("real_persons", "public_figures", figure.matched))
    if scored.score >= refuse_at:
        refusals.append((scored.category, "classifier", None))
    if refusals:
        if rules.hold_category:  # "make her look 12" and something sexual: refused as minors
            refusals.append((rules.hold_category, "rules", rules.hold_matched))
        category = gravest([c for c, _, _ in refusals])
        layer, matched = next((lay, m) for c, lay, m in refusals if c == category)
        return TextVerdict(REFUSE, category, layer, matched, score=scored.score, normalized=normalized)
    if rules.hold_category:
        reason = "a hold rule matched"
        return TextVerdict(
            HOLD,
            rules.hold_category,
            "rules",
            rules.hold_matched,
            reason=reason,
            score=scored.score,
            normalized=normalized,
        )
    if scored.score >= hold_at:
        return TextVerdict(
            HOLD,
            scored.category,
            "classifier",
            None,
            reason="the classifier is unsure",
            score=scored.score,
            normalized=normalized,
        )
    name = people.person_name(text)
    if name:
        return TextVerdict(
            HOLD,
            "real_persons",
            "person_name",
            name,
            reason="it names a person",
            score=scored.score,
            normalized=normalized,
        )
    assessed = language.assess(text, normalized, _known_words(model))
    if not assessed.assessable:
        return TextVerdict(
            HOLD,
            None,
            "language",
            None,
            language=assessed.language,
            reason=assessed.reason,
            score=scored.score,
            normalized=normalized,
        )
    return TextVerdict(ALLOW, language=assessed.language, score=scored.score, normalized=normalized)
