"""The per-language lexicons (``lexicons/<language>.json``) as moderation rules.

Each file is ``{"language": "es", "block": {category: [patterns]}, "allow": {category: [patterns]}}`` in the
rules' own pattern language (patterns in Chinese, Japanese, Korean or Thai are matched as substrings). They are
loaded into ``ModerationRule`` rows with their ``language`` (migration 0010, ``manage.py
remix_load_lexicons``), so admins edit, deactivate and extend them like every other rule; a pattern already
present (in any language) is left as it is, so an admin's edit or deactivation is never undone by a reload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LEXICON_DIR = Path(__file__).with_name("lexicons")
CATEGORIES = ("sexual", "minors", "real_persons", "violence", "hate", "self_harm", "harassment")


def entries(directory: Path = LEXICON_DIR) -> Iterator[tuple[str, str, str, str]]:
    """``(language, category, kind, pattern)`` for every entry of every lexicon file, patterns stripped."""
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        language = str(data.get("language", path.stem))[:10]
        for kind in ("block", "allow"):
            for category, patterns in (data.get(kind) or {}).items():
                if category not in CATEGORIES:
                    raise ValueError(f"{path.name}: unknown category {category!r}")
                for pattern in patterns:
                    pattern = " ".join(str(pattern).split())[:200]
                    if pattern:
                        yield language, category, kind, pattern


def load(rule_model: Any, directory: Path = LEXICON_DIR) -> int:
    """Create the rules the lexicons name that do not exist yet; the number created. ``rule_model`` is
    ``ModerationRule`` or a migration's historical copy of it."""
    existing = set(rule_model.objects.values_list("category", "kind", "pattern"))
    new = []
    for language, category, kind, pattern in entries(directory):
        key = (category, kind, pattern)
        if key in existing:
            continue
        existing.add(key)
        new.append(rule_model(category=category, kind=kind, pattern=pattern, language=language, note="lexicon"))
    rule_model.objects.bulk_create(new, batch_size=500)
    return len(new)
