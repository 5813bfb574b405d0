"""The hostile-file corpus through the real API: the right 4xx or a clean post, never a 5xx,
nothing half-written, no network connection, and served media carrying no EXIF/GPS."""

from __future__ import annotations

import io
import mimetypes
from pathlib import Path
from typing import Any

import av
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from socialapp import services
from socialapp.models import Post
from tests.conftest import media_files
from tests.factories import jpeg_upload
from tests.media_corpus import CORPUS, Case, CorpusEnv

pytestmark = pytest.mark.django_db


def _served_bytes(client: APIClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_corpus_through_the_api(
    case: Case, env: CorpusEnv, user_api: APIClient, media_root: Path, settings: Any
) -> None:
    for name, value in case.settings.items():
        setattr(settings, name, value)
    claimed = mimetypes.guess_type(case.filename)[0] or "application/octet-stream"
    upload = SimpleUploadedFile(case.filename, case.build(env), content_type=claimed)

    response = user_api.post("/api/posts/", {"media": upload, "caption": case.name}, format="multipart")

    assert response.status_code < 500, response.content
    if case.status is None:
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["media_type"] == case.media_type
        media = _served_bytes(user_api, body["media_url"])
        poster = _served_bytes(user_api, body["poster_url"])
        with Image.open(io.BytesIO(poster)) as image:
            # An independent reader of the served bytes: no EXIF at all, so no GPS.
            assert image.format == "JPEG" and not image.getexif()
        if case.media_type == "image":
            with Image.open(io.BytesIO(media)) as image:
                assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info
        else:
            with av.open(io.BytesIO(media)) as container:
                tags = {k.lower() for k in container.metadata} | {
                    k.lower() for s in container.streams for k in s.metadata
                }
                assert not tags & {"location", "com.apple.quicktime.location.iso6709", "gps", "creation_time"}
        assert b"<html" not in media.lower() and b"<script" not in media.lower()
        assert Post.objects.count() == 1
    else:
        assert response.status_code == case.status, response.content
        assert response.json()["code"] == "invalid_media"
        assert response.json()["detail"]
        assert not Post.objects.exists()
        assert media_files(media_root) == [], "a rejected upload left a file behind"
    assert env.trap.connections == 0, "the server opened a network connection"
    assert not env.sensor.opened, "the server opened another local file"


def test_database_failure_after_files_were_written_leaves_no_files(
    user: Any, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are written before the row; if the row cannot be written, the files go too."""

    def broken_create(**kwargs: Any) -> Post:
        raise RuntimeError("database went away")

    monkeypatch.setattr(Post.objects, "create", broken_create)
    with pytest.raises(RuntimeError):
        services.post_create(author=user, upload=jpeg_upload())
    assert media_files(media_root) == []
