"""Uploaded media is served with its own type, nosniff and a sandbox; never as HTML or SVG."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(media_root: Path) -> Path:
    (media_root / "posts").mkdir()
    (media_root / "posts" / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"0123456789" * 10)
    (media_root / "posts" / "evil.html").write_text("<script>alert(1)</script>")
    (media_root / "posts" / "evil.svg").write_text("<svg onload=alert(1)></svg>")
    (media_root / "posts" / "noext").write_text("<html></html>")
    return media_root


def test_image_is_served_with_type_nosniff_and_sandbox(client: Client, files: Path) -> None:
    response = client.get("/media/posts/a.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path", ["posts/evil.html", "posts/evil.svg", "posts/noext", "../settings.py", "posts/missing.jpg"]
)
def test_anything_else_is_404(client: Client, files: Path, path: str) -> None:
    response = client.get(f"/media/{path}")
    assert response.status_code == 404
    assert b"<script>" not in response.content


@pytest.mark.parametrize(
    ("header", "status", "content_range", "length"),
    [
        ("bytes=0-9", 206, "bytes 0-9/103", 10),
        ("bytes=100-", 206, "bytes 100-102/103", 3),
        ("bytes=-3", 206, "bytes 100-102/103", 3),
        ("bytes=500-600", 416, "bytes */103", 0),
    ],
)
def test_byte_ranges(client: Client, files: Path, header: str, status: int, content_range: str, length: int) -> None:
    response = client.get("/media/posts/a.jpg", HTTP_RANGE=header)
    assert response.status_code == status
    assert response["Content-Range"] == content_range
    assert len(response.content) == length
    assert response["X-Content-Type-Options"] == "nosniff"


def test_media_is_read_only(client: Client, files: Path) -> None:
    assert client.post("/media/posts/a.jpg").status_code == 405
