"""What the app serves carries no EXIF and no GPS, read by ExifRead (an independent reader: not Pillow, which
also wrote the files).

Photos with camera make and model, a capture date and a GPS position (a JPEG's APP1, a PNG's eXIf chunk, a
WebP's EXIF chunk) are uploaded through the API; the media and poster URLs the API returns are fetched as a
client would and read. Each original is read first, to show the reader finds the GPS tags in that format,
so "nothing found" in the served file means the tags are gone. A remix made from such a photo by the real
tiny pipeline and worker carries what the app writes on purpose (XMP with the AI label, a C2PA manifest,
the invisible watermark) and still no EXIF or GPS.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import exifread
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image
from rest_framework.test import APIClient

from remix import consent, worker
from remix.models import RemixJob
from socialapp.models import Post, User
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.remix.conftest import opt_in

pytestmark = pytest.mark.django_db

LATITUDE, LONGITUDE = (48.0, 51.0, 29.5), (2.0, 17.0, 40.2)  # a spot in Paris


def _exif() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "LeakyCam"
    exif[ExifTags.Base.Model] = "Tracker 3000"
    exif[ExifTags.Base.DateTime] = "2024:05:17 09:30:00"
    exif[ExifTags.Base.Software] = "PhoneOS 17.4"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = LONGITUDE
    return exif.tobytes()


def _photo(mode: str) -> Image.Image:
    image = Image.linear_gradient("L").resize((160, 120)).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize((160, 120)))  # real transparency: stays a PNG
    return image


def _encode(fmt: str, mode: str) -> bytes:
    buffer = io.BytesIO()
    _photo(mode).save(buffer, fmt, exif=_exif(), **({"quality": 90} if fmt != "PNG" else {}))
    return _exif_header_in_webp(buffer.getvalue()) if fmt == "WEBP" else buffer.getvalue()


def _exif_header_in_webp(data: bytes) -> bytes:
    """The WebP with its EXIF chunk starting "Exif\0\0", as many cameras and phones write it.

    Pillow writes the bare TIFF structure the WebP spec asks for; ExifRead only finds the other form, and the
    uploads must be readable by it for "nothing found afterwards" to mean anything.
    """
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        payload = data[pos + 8 : pos + 8 + size]
        chunks.append(kind + (b"Exif\x00\x00" + payload if kind == b"EXIF" else payload))
        pos += 8 + size + (size & 1)
    body = b"".join(
        c[:4] + struct.pack("<I", len(c) - 4) + c[4:] + (b"\x00" if (len(c) - 4) & 1 else b"") for c in chunks
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _tags(data: bytes) -> dict[str, Any]:
    return dict(exifread.process_file(io.BytesIO(data), details=True, extract_thumbnail=True))


def _fetch(client: APIClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]


UPLOADS = [
    # (name the client sends, format, mode, the type the app serves the photo as)
    ("phone.jpg", "JPEG", "RGB", "image/jpeg"),
    ("sticker.png", "PNG", "RGBA", "image/png"),  # the eXIf chunk, on a photo that keeps its alpha
    ("screenshot.png", "PNG", "RGB", "image/jpeg"),
    ("photo.webp", "WEBP", "RGB", "image/jpeg"),
    ("sticker.webp", "WEBP", "RGBA", "image/png"),
]


@pytest.mark.parametrize(("filename", "fmt", "mode", "served_as"), UPLOADS, ids=[u[0] for u in UPLOADS])
def test_served_photo_and_poster_carry_no_exif_or_gps(
    user_api: APIClient, filename: str, fmt: str, mode: str, served_as: str
) -> None:
    original = _encode(fmt, mode)
    before = _tags(original)
    assert {"GPS GPSLatitude", "GPS GPSLongitude", "Image Make", "Image Model"} <= set(before), before
    assert str(before["Image Make"]) == "LeakyCam"

    response = user_api.post(
        "/api/posts/", {"media": SimpleUploadedFile(filename, original), "caption": filename}, format="multipart"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    media, poster = _fetch(user_api, body["media_url"]), _fetch(user_api, body["poster_url"])
    assert Post.objects.get().media_content_type == served_as
    for served in (media, poster):
        tags = _tags(served)
        assert not [name for name in tags if name.startswith("GPS")], tags
        assert tags == {}, f"EXIF survived: {sorted(tags)}"
        assert b"LeakyCam" not in served and b"Tracker 3000" not in served and b"PhoneOS" not in served
        assert b"Exif\x00\x00" not in served and b"eXIf" not in served


def test_a_remix_of_a_geotagged_photo_carries_no_exif_or_gps(model: Any) -> None:
    """The real worker remixes the uploaded photo; what it signs and serves has its own XMP and C2PA, nothing else."""
    creator: User = UserFactory(username="creator")
    viewer: User = UserFactory(username="viewer")
    opt_in(creator)
    upload = SimpleUploadedFile("phone.jpg", _encode("JPEG", "RGB"))
    response = client_for(creator).post("/api/posts/", {"media": upload, "allow_remix": "true"}, format="multipart")
    assert response.status_code == 201, response.content
    post = Post.objects.get(pk=response.json()["id"])
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    job = RemixJob.objects.create(post=post, requester=viewer, prompt="make it a watercolour", seed=3)

    assert worker.run_job(job.pk) is worker.Outcome.SUCCEEDED

    viewer_api = client_for(viewer)
    comments = viewer_api.get(f"/api/posts/{post.pk}/comments/").json()["results"]
    [remix] = [c["remix"] for c in comments if c["kind"] == "remix"]
    image = _fetch(viewer_api, remix["image_url"])
    assert image.startswith(b"\xff\xd8\xff")
    assert b"http://ns.adobe.com/xap/1.0/" in image and b"c2pa" in image  # what the app writes on purpose
    tags = _tags(image)
    assert not [name for name in tags if name.startswith("GPS")], tags
    assert not {"Image Make", "Image Model", "EXIF DateTimeOriginal"} & set(tags), tags
    assert tags == {}, f"EXIF in the remix: {sorted(tags)}"
    assert b"LeakyCam" not in image and b"Tracker 3000" not in image and b"PhoneOS" not in image
