"""Tiny random-weight diffusion models, built once per test session and shared by every test that needs one.

    @pytest.fixture(scope="session")
    def tiny_ip2p(tmp_path_factory): return tiny_model(tmp_path_factory, "instruct-pix2pix")

Treat the folders as read-only: copy one (``shutil.copytree``) before damaging it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from remix.pipeline import ARCH_INSTRUCT_PIX2PIX, build_tiny_model

_built: dict[str, Path] = {}
_lock = threading.Lock()


def tiny_model(tmp_path_factory: pytest.TempPathFactory, arch: str = ARCH_INSTRUCT_PIX2PIX) -> Path:
    """The folder of the session's tiny ``arch`` model, built on first use (about a second) with seed 0."""
    with _lock:
        if arch not in _built:
            _built[arch] = build_tiny_model(tmp_path_factory.mktemp(f"tiny-{arch}"), arch=arch, seed=0)
        return _built[arch]
