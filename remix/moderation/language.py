"""Which language a prompt is in, and whether moderation can assess it.

The rules, lexicons and classifier cover English and the languages under ``lexicons/`` (Spanish, Portuguese,
French, German, Italian, Russian, Ukrainian, Polish, Turkish, Arabic, Hindi in Devanagari and romanised,
Indonesian, Chinese, Japanese, Korean, Vietnamese). Text in anything else cannot be cleared automatically:
it is held for a moderator. Two signals, because identifying the language of six words is a guess:

- the script: letters in a script none of those languages uses (Thai, Hebrew, Greek, Bengali, Tamil, Georgian,
  Amharic…) make up most of the text;
- for Latin script, py3langid (its model ships in the package) names an unsupported language with confidence
  *and* most of the words are unknown to everything the moderation has learned (the classifier's vocabulary and
  the lexicons), so "add a hat", which py3langid calls Welsh, still passes.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

SUPPORTED = ("en", "es", "pt", "fr", "de", "it", "ru", "uk", "pl", "tr", "ar", "hi", "id", "zh", "ja", "ko", "vi")
# Languages close enough to a supported one that its lexicon and examples read them (Malay ~ Indonesian,
# Galician ~ Portuguese, Catalan ~ Spanish, Belarusian/Bulgarian ~ Russian).
_NEAR = {"ms", "gl", "ca", "be", "bg", "mk", "sr", "hr", "bs", "sk", "cs", "oc", "an", "ast", "lb", "af", "nl", "la"}
SUPPORTED_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "ARABIC", "DEVANAGARI", "CJK", "HIRAGANA", "KATAKANA", "HANGUL"})
LANGID_CONFIDENCE = 0.8
UNKNOWN_WORDS = 0.5


@dataclass(frozen=True)
class Assessment:
    language: str  # ISO 639-1 guess ("und" when unknown)
    script: str
    assessable: bool
    reason: str = ""


def script_of(ch: str) -> str:
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0]
    if first == "CJK" or first in ("IDEOGRAPHIC",):
        return "CJK"
    return first


def dominant_script(text: str) -> tuple[str, float]:
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            script = script_of(ch)
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "", 0.0
    script = max(counts, key=counts.__getitem__)
    return script, counts[script] / sum(counts.values())


@functools.cache
def _identifier():
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True)


def identify(text: str) -> tuple[str, float]:
    language, probability = _identifier().classify(text)
    return str(language), float(probability)


_WORDS = re.compile(r"[^\W\d_]{3,}")


def assess(original: str, normalized: str, known_words: frozenset[str]) -> Assessment:
    """Whether the text is in a language (and script) the moderation covers."""
    script, share = dominant_script(unicodedata.normalize("NFKC", original))
    if not script:
        return Assessment("und", "", True)
    if script not in SUPPORTED_SCRIPTS and share >= 0.5:
        return Assessment("und", script, False, f"written in {script.title()} script, which moderation does not cover")
    if script != "LATIN":
        return Assessment("und", script, True)
    words = _WORDS.findall(normalized)
    if len(words) < 3:
        return Assessment("und", script, True)
    language, probability = identify(original)
    if language in SUPPORTED or language in _NEAR or probability < LANGID_CONFIDENCE:
        return Assessment(language, script, True)
    unknown = sum(w not in known_words for w in words) / len(words)
    if unknown >= UNKNOWN_WORDS:
        return Assessment(
            language, script, False, f"reads as {language} ({probability:.2f}), which moderation does not cover"
        )
    return Assessment(language, script, True)
