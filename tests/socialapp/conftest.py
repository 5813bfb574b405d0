from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.media_corpus import CorpusEnv, corpus_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[CorpusEnv]:
    """The hostile-file corpus's scratch folder with its tripwires (a TCP listener, a FIFO)."""
    scratch = tmp_path / "corpus"
    scratch.mkdir()
    with corpus_env(scratch) as corpus:
        yield corpus
