"""Upload validation by content: a table of hostile, broken and valid files (tests/media_corpus.py)."""

from __future__ import annotations

import io
import logging
import mimetypes
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from PIL import Image, ImageChops, ImageStat

from socialapp.demo_media import make_video
from socialapp.uploads import MediaRejected, extract_frame, validated_upload
from tests.media_corpus import CORPUS, Case, CorpusEnv


@pytest.fixture
def upload_tmp(settings, tmp_path: Path) -> Path:
    """FILE_UPLOAD_TEMP_DIR pointed at a directory of its own, so leftovers are visible."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def _upload(case: Case, data: bytes) -> SimpleUploadedFile:
    # The client's content type is guessed from the name it sends: a lie for most hostile rows.
    claimed = mimetypes.guess_type(case.filename)[0] or "application/octet-stream"
    return SimpleUploadedFile(case.filename, data, content_type=claimed)


def test_corpus_is_big_enough() -> None:
    assert len({case.name for case in CORPUS}) == len(CORPUS)
    rejected = [case for case in CORPUS if case.status is not None]
    assert len(rejected) >= 18
    assert all(case.reason for case in rejected), "every rejected row says why it must be rejected"


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_upload_corpus(case: Case, env: CorpusEnv, upload_tmp: Path, settings) -> None:
    for name, value in case.settings.items():
        setattr(settings, name, value)
    data = case.build(env)

    if case.status is None:
        with validated_upload(_upload(case, data)) as media:
            assert media.media_type == case.media_type
            assert media.content_type == case.content_type
            assert (
                media.media_ext
                == {"video/mp4": ".mp4", "video/webm": ".webm", "image/jpeg": ".jpg", "image/png": ".png"}[
                    media.content_type
                ]
            )
            assert media.media_path.parent.parent == upload_tmp
            assert media.size_bytes == media.media_path.stat().st_size > 0
            with Image.open(media.poster_path, formats=["JPEG"]) as poster:
                assert poster.size == (media.width, media.height)
                assert poster.mode == "RGB"
            if media.media_type == "video":
                assert media.duration is not None and media.duration > 0
                assert media.video_codec in {"h264", "hevc", "av1", "vp8", "vp9"}
            else:
                assert media.duration is None and media.video_codec == ""
            if case.check is not None:
                case.check(media)
    else:
        with pytest.raises(MediaRejected) as caught, validated_upload(_upload(case, data)):
            pytest.fail("the upload was accepted")
        rejected = caught.value
        assert rejected.status == case.status
        assert rejected.code == "invalid_media"
        # A sentence for a person: no errno, no exception text, no temp path.
        assert rejected.detail.endswith(".") and "Errno" not in rejected.detail and "/" not in rejected.detail
        if case.reason is not None:
            assert case.reason in rejected.detail

    assert list(upload_tmp.iterdir()) == [], "the private temp dir was left behind"
    assert env.trap.connections == 0, "something connected to the network"
    assert not env.sensor.opened, "another local file was opened"


def test_temporary_uploaded_file_on_disk(env: CorpusEnv, upload_tmp: Path) -> None:
    """Large uploads reach us as TemporaryUploadedFile (already on disk); the same rules apply."""
    data = make_video(env.tmp_path / "clip.mp4", seconds=1.0, size=(160, 90)).read_bytes()
    upload = TemporaryUploadedFile("clip.mov", "video/quicktime", len(data), None)
    upload.write(data)
    upload.seek(0)
    try:
        with validated_upload(upload) as media:
            assert (media.media_type, media.media_ext, media.width, media.height) == ("video", ".mp4", 160, 90)
    finally:
        upload.close()  # deletes Django's own temp file
    assert list(upload_tmp.iterdir()) == []


def test_temp_dir_removed_and_error_kept_when_caller_fails(env: CorpusEnv, upload_tmp: Path) -> None:
    data = make_video(env.tmp_path / "clip.webm", seconds=1.0, size=(160, 90)).read_bytes()
    with (
        pytest.raises(RuntimeError, match="storage is down"),
        validated_upload(SimpleUploadedFile("c.webm", data)) as media,
    ):
        assert media.media_path.exists()
        raise RuntimeError("storage is down")
    assert list(upload_tmp.iterdir()) == []


def test_rejection_is_logged_without_trusting_the_name(upload_tmp: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="socialapp.uploads")
    with pytest.raises(MediaRejected), validated_upload(SimpleUploadedFile("x\nFAKE LOG LINE.mp4", b"hello")):
        pass
    (record,) = [r for r in caplog.records if r.name == "socialapp.uploads"]
    assert "rejected" in record.getMessage() and "\n" not in record.getMessage()


def test_extract_frame_follows_time(tmp_path: Path, settings) -> None:
    video = make_video(tmp_path / "clip.mp4", seconds=4.0, fps=24, size=(320, 180), scene="city")
    early, late = extract_frame(video, at=0.5), extract_frame(video, at=3.0)
    assert early.size == late.size == (320, 180)
    assert early.mode == late.mode == "RGB"
    # The scene moves every frame: frames 2.5 s apart differ clearly, not by codec noise.
    assert max(ImageStat.Stat(ImageChops.difference(early, late)).mean) > 2
    # Same time, same frame; the default (poster) time and times past the end still give a frame.
    assert ImageChops.difference(early, extract_frame(video, at=0.5)).getbbox() is None
    assert extract_frame(video).size == (320, 180)
    assert extract_frame(video, at=60).size == (320, 180)


def test_extract_frame_rejects_what_is_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("#EXTM3U\n")
    with pytest.raises(MediaRejected):
        extract_frame(text)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(1000))
    with pytest.raises(MediaRejected):
        extract_frame(broken)


# --- decode cost (the pen test's findings 11 and 12) ------------------------------------------------------------


def _upload_file(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/octet-stream")


def test_an_image_is_budgeted_by_decoded_bytes_not_only_pixels(settings, upload_tmp: Path) -> None:
    """A 16-bit RGBA PNG is under the pixel cap and compresses to almost nothing, but decodes to 4 bytes a pixel
    (and a great deal more on its way): refused from its header, before decoding."""
    from tests.security.attacks import png_bomb

    settings.MAX_DECODED_IMAGE_BYTES = 1_000_000
    bomb = SimpleUploadedFile("bomb.png", png_bomb(600), content_type="image/png")
    assert settings.MAX_IMAGE_PIXELS >= 600 * 600
    with pytest.raises(MediaRejected, match="too large to process") as refused, validated_upload(bomb):
        pass
    assert refused.value.status == 400
    plain = Image.new("RGB", (500, 500), "teal")  # 750 KB decoded: within the budget
    buffer = io.BytesIO()
    plain.save(buffer, "PNG")
    with validated_upload(SimpleUploadedFile("fine.png", buffer.getvalue())) as media:
        assert media.width == 500


def test_keyframes_too_far_apart_are_refused_at_upload(settings, tmp_path: Path, upload_tmp: Path) -> None:
    """A frame of a video is reached by decoding forward from the keyframe before it: a video with one keyframe made
    every later frame cost more (7.6 s at 29.9 s of a 4096² 60 fps clip). The longest run is bounded at upload."""
    settings.MAX_SEEK_DECODE_PIXELS = 10e6  # 43 frames of 640x360
    sparse = make_video(
        tmp_path / "sparse.mp4", seconds=4, fps=30, size=(640, 360), encoder_options={"g": "1000", "sc_threshold": "0"}
    )
    with (
        pytest.raises(MediaRejected, match="keyframes are too far apart") as refused,
        validated_upload(_upload_file(sparse)),
    ):
        pass
    assert "keyframe at least every 1.4 s" in refused.value.detail
    dense = make_video(tmp_path / "dense.mp4", seconds=4, fps=30, size=(640, 360), encoder_options={"g": "15"})
    with validated_upload(_upload_file(dense)) as media:
        assert media.duration == pytest.approx(4.0, abs=0.1)


def test_a_frame_rate_over_the_limit_is_refused(settings, tmp_path: Path, upload_tmp: Path) -> None:
    settings.MAX_VIDEO_FPS = 30
    fast = make_video(tmp_path / "fast.mp4", seconds=1, fps=60, size=(160, 90))
    with pytest.raises(MediaRejected, match="frame rate is too high"), validated_upload(_upload_file(fast)):
        pass


def test_a_seek_in_a_stored_video_is_bounded_too(settings, tmp_path: Path) -> None:
    """Videos stored before the upload rule (or any file) cannot make the worker decode without end."""
    sparse = make_video(
        tmp_path / "stored.mp4", seconds=4, fps=30, size=(640, 360), encoder_options={"g": "1000", "sc_threshold": "0"}
    )
    assert extract_frame(sparse, at=3.9).size == (640, 360)  # within the default budget
    settings.MAX_SEEK_DECODE_PIXELS = 10e6  # 86 frames of 640x360, with the reordering slack
    with pytest.raises(MediaRejected, match="too far from a keyframe"):
        extract_frame(sparse, at=3.9)
    assert extract_frame(sparse, at=0.5).size == (640, 360)  # near the keyframe: fine
