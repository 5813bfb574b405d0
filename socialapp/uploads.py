"""Upload validation by content: what a user uploads is sniffed, checked and rewritten before it is stored.

Nothing about an upload is trusted: not its name, not its client content type, not its header fields.
The bytes decide what it is (a small allow-list of magic numbers), then the real parsers (Pillow for
photos, PyAV for videos) read it with their own allow-lists, and what is stored is always a fresh file
written by us:

- photos are decoded and re-encoded (JPEG, or PNG when they have real transparency), which drops EXIF
  (GPS!), XMP, comments and anything appended after the image data (polyglots);
- videos are remuxed by stream copy into a new MP4 or WebM without the uploader's metadata, keeping one
  video stream and at most one audio stream the container can carry, and a real frame is decoded for the
  poster, which proves the video stream decodes.

Everything happens in a private temporary directory that is removed however the validation ends.
Bad content raises ``MediaRejected`` (400, or 413 when too large) with a sentence for the user; no
other exception escapes for bad content.
"""

from __future__ import annotations

import io
import logging
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)


class MediaRejected(Exception):
    """The upload is not media we accept. ``detail`` is a sentence for the user, ``status`` the HTTP status."""

    code = "invalid_media"

    def __init__(self, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class ValidatedMedia:
    """The processed upload; its files live only as long as the ``validated_upload`` block."""

    media_type: str  # "video" or "image"
    media_path: Path  # processed file inside a private temp dir
    media_ext: str  # ".mp4", ".webm", ".jpg" or ".png"
    content_type: str  # "video/mp4", "video/webm", "image/jpeg", "image/png"
    poster_path: Path  # JPEG poster: a decoded video frame, or the re-encoded photo itself (JPEG)
    width: int
    height: int
    duration: float | None  # seconds, videos only
    video_codec: str  # "" for images
    size_bytes: int  # size of processed media file


# --- what we accept ------------------------------------------------------------------------------

# Video codecs browsers play, and the container each is rewritten into.
_VIDEO_CODEC_CONTAINER = {"h264": "mp4", "hevc": "mp4", "av1": "mp4", "vp8": "webm", "vp9": "webm"}
# Audio codecs each output container carries; other audio is dropped (the video is still accepted).
_CONTAINER_AUDIO = {"mp4": frozenset({"aac", "mp3"}), "webm": frozenset({"opus", "vorbis"})}
_CONTAINER_FILE = {"mp4": (".mp4", "video/mp4"), "webm": (".webm", "video/webm")}

# ISO-BMFF brands of HEIF/AVIF *photos*: FFmpeg would read them as a one-frame "video", so they get a
# clear sentence instead.
_STILL_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)

# The demuxer is always named, never probed: probing is what lets a text file become an HLS playlist or
# an ffconcat script that opens URLs or other local files. protocol_whitelist keeps every nested open
# (should a demuxer try one) to local files, and the mov demuxer's external data references stay off.
_DEMUXER_OPTIONS = {"protocol_whitelist": "file", "enable_drefs": "0", "use_absolute_path": "0"}

# Timestamps are rounded by muxers and AAC adds priming samples; half a second of slack keeps a
# "3:00" video from being refused for being 3:00.02 long.
_DURATION_SLACK = 0.5

_POSTER_QUALITY = 85
_PHOTO_QUALITY = 90
# The largest width or height a JPEG can have; every photo gets a JPEG (the photo itself or its poster).
_JPEG_MAX_SIDE = 65500

# Errors a hostile or broken file can make the parsers raise. (av.error.FFmpegError and EOFError are
# OSError/ValueError subclasses in some PyAV versions and not in others, so they are named.)
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    UnidentifiedImageError,
    av.error.FFmpegError,
    OSError,
    EOFError,
    ValueError,
    SyntaxError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
)

_ICC_ERRORS: tuple[type[BaseException], ...] = (ImageCms.PyCMSError, *_PARSE_ERRORS)

_UNSUPPORTED = (
    "This file is not a photo or video we accept: upload a JPEG, PNG or WEBP photo, or an MP4, MOV or WebM video."
)


@contextmanager
def validated_upload(upload: UploadedFile) -> Iterator[ValidatedMedia]:
    """Validate ``upload`` by its content and yield the processed, safe-to-store files.

    Works inside a private temporary directory under ``settings.FILE_UPLOAD_TEMP_DIR`` that is
    deleted when the block exits, whether normally or by an exception. Raises ``MediaRejected``
    (status 413 when the upload is over the size limit for its kind, 400 for anything else).
    """
    max_any = max(settings.MAX_VIDEO_BYTES, settings.MAX_IMAGE_BYTES)
    declared = upload.size or 0
    if declared > max_any:
        raise _reject(f"The file is too large (the limit is {_human_size(max_any)}).", upload, status=413)

    parent = settings.FILE_UPLOAD_TEMP_DIR
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    # mkdtemp makes the directory 0700: other local users cannot read or swap files in it.
    with tempfile.TemporaryDirectory(prefix="upload-", dir=parent) as tmp:
        workdir = Path(tmp)
        media = _validate(upload, workdir, max_any)
        yield media


def extract_frame(video_path: Path | str, *, at: float | None = None) -> Image.Image:
    """Decode the frame shown at ``at`` seconds from the start of the video, as an RGB Pillow image.

    ``at=None`` picks the poster time: 10% into the video, but never later than 1 second (the first
    second usually shows what the video is about, and seeking there is cheap). Times past the end give
    the last frame. The frame is turned upright when the container says the video is rotated (phones
    record portrait video as rotated landscape). Raises ``MediaRejected`` if no frame can be decoded.
    """
    path = Path(video_path)
    try:
        demuxer = _video_demuxer(_read_head(path))
        if demuxer is None:
            raise MediaRejected("This file is not a video.")
        with _open_video(path, demuxer) as container:
            stream = _main_video_streams(container)[0]
            offset = (
                float(stream.start_time * stream.time_base)
                if stream.start_time is not None and stream.time_base
                else 0.0
            )
            duration = _header_duration(container, stream)
            target = _poster_time(duration) if at is None else max(0.0, float(at))
            if duration:
                target = min(target, duration)
            frame = _decode_frame_at(container, stream, offset + target)
            if frame is None and target > 0:
                # The seek went past the last keyframe with data (a short or oddly indexed file): read from the start.
                frame = _decode_frame_at(container, stream, offset + target, seek=False)
            if frame is None:
                raise MediaRejected("Could not read this video: no frame could be decoded.")
            image = frame.to_image().convert("RGB")
            return _upright(image, frame.rotation)
    except MediaRejected:
        raise
    except _PARSE_ERRORS as exc:
        logger.info("frame extraction failed for %s: %r", path.name, exc)
        raise MediaRejected("Could not read this video.") from exc


# --- the pipeline --------------------------------------------------------------------------------


def _validate(upload: UploadedFile, workdir: Path, max_any: int) -> ValidatedMedia:
    source = workdir / "source"
    size = _copy_upload(upload, source, max_any)
    if size == 0:
        raise _reject("The file is empty.", upload)
    head = _read_head(source)

    image_format = _image_format(head)
    if image_format is not None:
        if size > settings.MAX_IMAGE_BYTES:
            raise _reject(
                f"The photo is too large (the limit is {_human_size(settings.MAX_IMAGE_BYTES)}).", upload, status=413
            )
        media = _process_image(source, workdir, image_format, upload)
    else:
        demuxer = _video_demuxer(head)
        if demuxer is None:
            raise _reject(_unsupported_sentence(head), upload)
        if size > settings.MAX_VIDEO_BYTES:
            raise _reject(
                f"The video is too large (the limit is {_human_size(settings.MAX_VIDEO_BYTES)}).", upload, status=413
            )
        media = _process_video(source, workdir, demuxer, upload)
    source.unlink()  # only the processed files stay for the caller
    logger.info(
        "upload accepted: %s %dx%d %s, %d -> %d bytes",
        media.media_type,
        media.width,
        media.height,
        media.video_codec or media.content_type,
        size,
        media.size_bytes,
    )
    return media


def _copy_upload(upload: UploadedFile, dest: Path, limit: int) -> int:
    """Copy the upload into our private directory, counting bytes rather than trusting ``upload.size``."""
    written = 0
    with dest.open("wb") as out:
        for chunk in upload.chunks():
            written += len(chunk)
            if written > limit:
                raise _reject(f"The file is too large (the limit is {_human_size(limit)}).", upload, status=413)
            out.write(chunk)
    return written


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(64)


def _image_format(head: bytes) -> str | None:
    """The Pillow format of a JPEG, PNG or WEBP file, or None. It is passed to ``Image.open(formats=...)``
    so no other Pillow plugin (there are dozens, some old and rarely fuzzed) ever parses an upload."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _video_demuxer(head: bytes) -> str | None:
    """The FFmpeg demuxer for an ISO-BMFF (MP4/MOV) or Matroska (MKV/WebM) file, or None."""
    if head[4:8] == b"ftyp" and head[8:12] not in _STILL_IMAGE_BRANDS:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    return None


def _unsupported_sentence(head: bytes) -> str:
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF files are not accepted: upload an MP4 or WebM video, or a JPEG, PNG or WEBP photo."
    if head[4:8] == b"ftyp":
        return "HEIC and AVIF photos are not accepted yet: export the photo as JPEG and upload that."
    return _UNSUPPORTED


def upload_body_limit() -> int:
    """The largest request body an upload view takes: the largest media accepted, plus room for the form around it
    (the validator then applies each kind's own limit)."""
    return max(settings.MAX_VIDEO_BYTES, settings.MAX_IMAGE_BYTES) + _FORM_SLACK


def image_body_limit() -> int:
    """The largest request body a view that takes one image (to check it) accepts."""
    return int(settings.MAX_IMAGE_BYTES) + _FORM_SLACK


_FORM_SLACK = 1024 * 1024


# --- photos --------------------------------------------------------------------------------------

# Bytes per pixel of each Pillow mode once decoded (16-bit PNGs of colour decode to 8-bit modes; "I;16" greyscale
# keeps 2 bytes). An unknown mode counts as the widest.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_MODE_BYTES |= {"RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4, "I": 4, "F": 4}


def decoded_bytes(image: Image.Image) -> int:
    """What decoding ``image`` (opened, not yet loaded) will allocate: width x height x bytes per pixel of its mode."""
    return image.width * image.height * _MODE_BYTES.get(image.mode, 8)


def within_decode_budget(image: Image.Image) -> bool:
    """Whether ``image`` may be decoded: at most MAX_IMAGE_PIXELS pixels and MAX_DECODED_IMAGE_BYTES bytes. Pixels
    alone do not bound memory: a 6320 x 6320 RGBA image is under 40 MP and decodes to 160 MB (and to more in the
    float arrays that read watermarks)."""
    pixels = image.width * image.height
    return 0 < pixels <= settings.MAX_IMAGE_PIXELS and decoded_bytes(image) <= settings.MAX_DECODED_IMAGE_BYTES


def _process_image(source: Path, workdir: Path, pil_format: str, upload: UploadedFile) -> ValidatedMedia:
    max_pixels = int(settings.MAX_IMAGE_PIXELS)
    too_many = f"The photo has too many pixels (the limit is {max_pixels / 1_000_000:g} megapixels)."
    try:
        # Pillow's own bomb check only warns between MAX_IMAGE_PIXELS and twice that; turn the warning
        # into an error. (catch_warnings is process-wide, but the filter only ever makes bomb warnings
        # stricter, so a concurrent request can only be refused for a bomb too.)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=[pil_format]) as opened:
                width, height = opened.size
                # Checked before load(): the header's size and mode are what decoding would allocate.
                if width < 1 or height < 1 or width * height > max_pixels:
                    raise _reject(too_many, upload)
                if not within_decode_budget(opened):
                    raise _reject(
                        "The photo is too large to process: it has too many pixels for its colour depth. "
                        "Save it as an 8-bit JPEG or PNG and upload that.",
                        upload,
                    )
                # Few pixels can still make a side no JPEG can hold (a 70000x10 strip): the encoder would
                # fail only after decoding, with an OSError.
                if max(width, height) > _JPEG_MAX_SIDE:
                    raise _reject(f"The photo is too large: at most {_JPEG_MAX_SIDE} pixels wide and high.", upload)
                opened.seek(0)  # an animated WEBP keeps only its first frame
                opened.load()  # a truncated file raises here (LOAD_TRUNCATED_IMAGES stays off)
                image = _exif_upright(opened)
        image = _to_srgb(image)
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _reject(too_many, upload) from exc
    except _PARSE_ERRORS as exc:
        raise _reject("Could not read this photo: the file is damaged or not really an image.", upload, exc) from exc

    # Pillow's PNG writer falls back to image.info for the ICC profile and text chunks: start clean so
    # nothing of the upload but its pixels is written.
    image.info = {}
    if image.mode == "RGBA":
        media_path = workdir / "photo.png"
        image.save(media_path, "PNG")
        poster_path = workdir / "poster.jpg"
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        flat.save(poster_path, "JPEG", quality=_POSTER_QUALITY)
        ext, content_type = ".png", "image/png"
    else:
        media_path = workdir / "photo.jpg"
        image.save(media_path, "JPEG", quality=_PHOTO_QUALITY)
        poster_path = media_path  # the re-encoded JPEG is its own poster
        ext, content_type = ".jpg", "image/jpeg"
    return ValidatedMedia(
        media_type="image",
        media_path=media_path,
        media_ext=ext,
        content_type=content_type,
        poster_path=poster_path,
        width=image.width,
        height=image.height,
        duration=None,
        video_codec="",
        size_bytes=media_path.stat().st_size,
    )


def _exif_upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, since the EXIF itself will not be kept. Broken EXIF is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(image)
    except _PARSE_ERRORS as exc:
        logger.info("ignoring unreadable EXIF orientation: %r", exc)
        return image.copy()


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB (or RGBA when any pixel is transparent), converted to sRGB when the photo carries an ICC profile.

    The profile is not kept (it can be large and is one more parser input for whoever views the photo),
    so wide-gamut phone photos (Display P3) are converted rather than left to look washed out.
    """
    has_alpha = image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info
    if image.mode in {"I", "I;16", "I;16B", "I;16L", "I;16N"}:
        # 16-bit greyscale: scale down to 8 bits instead of clipping everything above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    target = "RGBA" if has_alpha else "RGB"
    icc = image.info.get("icc_profile")
    base = image if image.mode in {"RGB", "RGBA", "CMYK", "L"} else image.convert(target)
    converted = None
    if icc:
        try:
            source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(base, source_profile, _SRGB, outputMode=target)
        except _ICC_ERRORS as exc:
            logger.info("ignoring unusable ICC profile: %r", exc)
    if converted is None:
        converted = base.convert(target)
    if target == "RGBA" and converted.getchannel("A").getextrema()[0] == 255:
        converted = converted.convert("RGB")  # an alpha channel that is opaque everywhere
    return converted


# --- videos --------------------------------------------------------------------------------------


def _open_video(path: Path, demuxer: str) -> av.container.InputContainer:
    return av.open(str(path), mode="r", format=demuxer, container_options=dict(_DEMUXER_OPTIONS))


def _main_video_streams(container: av.container.InputContainer) -> list[av.VideoStream]:
    """Video streams that are moving pictures: cover art ("attached pictures") does not count."""
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        raise MediaRejected("This file has no video track.")
    return streams


def _codec_name(stream: av.stream.Stream) -> str:
    """The codec's canonical name ("av1"), not the decoder's ("libdav1d"); "unknown" for a stream whose codec
    FFmpeg does not know (PyAV gives it no codec context), which no allow-list contains."""
    context = stream.codec_context
    return context.codec.canonical_name if context is not None else "unknown"


def _header_duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _process_video(source: Path, workdir: Path, demuxer: str, upload: UploadedFile) -> ValidatedMedia:
    try:
        output_path, info = _remux(source, workdir, demuxer, upload)
        poster = extract_frame(output_path)
    except MediaRejected as exc:
        raise _reject(exc.detail, upload, status=exc.status) from exc
    except _PARSE_ERRORS as exc:
        raise _reject("Could not read this video: the file is damaged or not really a video.", upload, exc) from exc

    # The poster is upright, so its size is the size the video is shown at (rotation applied).
    max_side = int(settings.MAX_VIDEO_SIDE)
    if max(poster.size) > max_side:
        raise _reject(f"The video is too large: at most {max_side} pixels wide and high.", upload)
    poster_path = workdir / "poster.jpg"
    poster.save(poster_path, "JPEG", quality=_POSTER_QUALITY)
    ext, content_type = _CONTAINER_FILE[info.container]
    return ValidatedMedia(
        media_type="video",
        media_path=output_path,
        media_ext=ext,
        content_type=content_type,
        poster_path=poster_path,
        width=poster.width,
        height=poster.height,
        duration=round(info.duration, 3),
        video_codec=info.codec,
        size_bytes=output_path.stat().st_size,
    )


@dataclass(frozen=True)
class _RemuxInfo:
    container: str
    codec: str
    duration: float


def _remux(source: Path, workdir: Path, demuxer: str, upload: UploadedFile) -> tuple[Path, _RemuxInfo]:
    """Check the streams, then copy one video stream (and a fitting audio stream) into a fresh container."""
    max_seconds = float(settings.MAX_VIDEO_SECONDS)
    max_side = int(settings.MAX_VIDEO_SIDE)
    too_long = f"The video is too long (the limit is {max_seconds:g} seconds)."

    with _open_video(source, demuxer) as container:
        videos = _main_video_streams(container)
        if len(videos) > 1:
            raise MediaRejected("The video has more than one video track; upload a video with exactly one.")
        video = videos[0]
        codec = _codec_name(video)
        if codec not in _VIDEO_CODEC_CONTAINER:
            raise MediaRejected(f"Videos encoded as {codec!r} are not accepted: use H.264, HEVC, VP8, VP9 or AV1.")
        width, height = video.codec_context.width, video.codec_context.height
        if width < 1 or height < 1:
            raise MediaRejected("Could not read this video: it has no picture size.")
        if max(width, height) > max_side:
            raise MediaRejected(f"The video is too large: at most {max_side} pixels wide and high.")
        header_duration = _header_duration(container, video)
        if header_duration is not None and header_duration > max_seconds + _DURATION_SLACK:
            raise MediaRejected(too_long)

        output_format = _VIDEO_CODEC_CONTAINER[codec]
        audio = next(iter(container.streams.audio), None)  # only the first audio stream is ever considered
        if audio is not None and _codec_name(audio) not in _CONTAINER_AUDIO[output_format]:
            audio = None
        inputs = [video] if audio is None else [video, audio]

        ext, _ = _CONTAINER_FILE[output_format]
        output_path = workdir / f"video{ext}"
        # faststart moves the index to the front so browsers can start playing before the download ends.
        muxer_options = {"movflags": "+faststart"} if output_format == "mp4" else {}
        span = _Span()
        video_span = _Span()
        gaps = _KeyframeGaps()
        with av.open(str(output_path), mode="w", format=output_format, container_options=muxer_options) as output:
            # opaque=True: take the template's decoder as the codec object; with False PyAV looks up an
            # *encoder* of the decoder's name, which does not exist for e.g. libdav1d or mp3float.
            outputs = {s.index: output.add_stream_from_template(s, opaque=True) for s in inputs}
            if codec == "hevc":
                # Safari plays HEVC in MP4 only with the hvc1 sample entry (FFmpeg defaults to hev1).
                outputs[video.index].codec_context.codec_tag = "hvc1"
            counts = dict.fromkeys(outputs, 0)
            timestamps = {s.index: _DecodeTimestamps(s) for s in inputs}
            for packet in container.demux(inputs):
                if packet.size == 0:
                    continue  # demuxers end each stream with an empty flush packet (dts None)
                index = packet.stream.index
                start = packet.pts if packet.pts is not None else packet.dts
                if start is None:  # MP4 and Matroska always time their samples: this file is broken
                    raise MediaRejected("Could not read this video: it has frames without timestamps.")
                tb = packet.time_base or packet.stream.time_base or Fraction(1, 1)
                begin = float(start * tb)
                end = float((start + max(packet.duration or 0, 0)) * tb)
                span.add(begin, end)
                if index == video.index:
                    video_span.add(begin, end)
                    gaps.add(packet.is_keyframe)
                # Headers can lie (or be absent, as in a live-recorded WebM): the packets' own
                # timestamps are what players follow, so they are what is limited.
                if span.length > max_seconds + _DURATION_SLACK:
                    raise MediaRejected(too_long)
                counts[index] += 1
                packet.stream = outputs[index]
                output.mux(timestamps[index].ready(packet))
            for fixer in timestamps.values():
                output.mux(fixer.flush())

        # A file cut short (an interrupted upload) still demuxes: MP4 indexes every sample up front, so
        # fewer packets than indexed gives it away; for Matroska, packets ending well before the
        # duration the header promised do.
        incomplete = "The video file is incomplete (was the upload interrupted?)."
        for stream in inputs:
            if stream.frames and counts[stream.index] < stream.frames:
                raise MediaRejected(incomplete)
        if header_duration is not None and header_duration - span.length > max(1.0, 0.05 * header_duration):
            raise MediaRejected(incomplete)
        if counts[video.index] == 0:
            raise MediaRejected("Could not read this video: its video track is empty.")
        _check_decode_cost(frames=counts[video.index], seconds=video_span.length, gaps=gaps, width=width, height=height)
    return output_path, _RemuxInfo(container=output_format, codec=codec, duration=video_span.length)


class _KeyframeGaps:
    """The longest run of video frames that decoding one of them may need: from a keyframe up to the frame before
    the next one (a seek lands on the keyframe at or before the time asked for and decodes forward from there)."""

    def __init__(self) -> None:
        self.current = 0
        self.longest = 0

    def add(self, is_keyframe: bool) -> None:
        self.current = 1 if is_keyframe or self.current == 0 else self.current + 1
        self.longest = max(self.longest, self.current)


def _check_decode_cost(*, frames: int, seconds: float, gaps: _KeyframeGaps, width: int, height: int) -> None:
    """Refuse videos whose frames cost too much to reach: a frame rate over MAX_VIDEO_FPS, or keyframes so far
    apart that choosing one frame (a remix of a moment of the video) decodes more than MAX_SEEK_DECODE_PIXELS."""
    max_fps = float(settings.MAX_VIDEO_FPS)
    if seconds >= 0.5 and frames / seconds > max_fps * 1.05:
        raise MediaRejected(f"The video's frame rate is too high (at most {max_fps:g} frames per second).")
    budget = float(settings.MAX_SEEK_DECODE_PIXELS)
    if gaps.longest * width * height > budget:
        rate = frames / seconds if seconds > 0 else max_fps
        longest = gaps.longest / rate if rate else 0.0
        allowed = budget / (width * height * rate) if rate else 0.0
        raise MediaRejected(
            f"The video's keyframes are too far apart ({longest:.1f} s at {width}x{height}), so picking a frame from "
            f"it would be too slow. Export it again with a keyframe at least every {max(allowed, 0.1):.1f} s."
        )


class _DecodeTimestamps:
    """Gives every packet of a stream a decode timestamp (dts) so it can be muxed.

    Matroska stores presentation times only, so for H.264/HEVC with B-frames FFmpeg cannot know the dts of
    the first few packets and leaves it unset. Skipping them would drop the first keyframe (the output
    then starts with undecodable frames); muxing them unset relies on libavformat guessing, which is
    deprecated. They are held back until the first known dts and then counted back from it, one frame
    apart; a later gap gets the previous dts plus one frame.
    """

    def __init__(self, stream: av.stream.Stream) -> None:
        tb = stream.time_base or Fraction(1, 1)
        rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None)
        self.frame_ticks = max(1, round(1 / (rate * tb))) if rate else 1
        self.pending: list[av.Packet] = []
        self.last: int | None = None

    def ready(self, packet: av.Packet) -> list[av.Packet]:
        """The packets that can be muxed now that ``packet`` arrived (possibly none, if it is held back)."""
        step = packet.duration if packet.duration and packet.duration > 0 else self.frame_ticks
        if packet.dts is None:
            if self.last is None:
                self.pending.append(packet)
                return []
            packet.dts = self.last + step
        held = self._count_back(packet.dts)
        self.last = packet.dts
        return [*held, packet]

    def flush(self) -> list[av.Packet]:
        """Packets still held at the end: a stream that never had a dts counts back from its earliest pts."""
        times = [p.pts for p in self.pending if p.pts is not None]
        return self._count_back(min(times) + self.frame_ticks) if times else []

    def _count_back(self, anchor: int) -> list[av.Packet]:
        held, self.pending = self.pending, []
        for position, packet in enumerate(held):
            packet.dts = anchor - (len(held) - position) * self.frame_ticks
        return held


class _Span:
    """The time covered by a set of packets, in seconds."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def add(self, begin: float, end: float) -> None:
        self.first = begin if self.first is None else min(self.first, begin)
        self.last = end if self.last is None else max(self.last, end)

    @property
    def length(self) -> float:
        return 0.0 if self.first is None or self.last is None else self.last - self.first


def _poster_time(duration: float | None) -> float:
    return min(1.0, 0.1 * duration) if duration else 0.0


def _decode_frame_at(
    container: av.container.InputContainer, stream: av.VideoStream, target: float, *, seek: bool = True
) -> av.VideoFrame | None:
    """The frame on screen at ``target`` seconds (stream time), to within half a frame; the last frame if
    ``target`` is past the end. None if nothing decodes.

    Decodes at most MAX_SEEK_DECODE_PIXELS worth of frames (twice that, for reordered frames), whatever the file:
    uploads are refused when their keyframes are further apart than that, and a file stored before that rule (or
    read without a seek) fails here with ``MediaRejected`` instead of tying up a worker for seconds."""
    tb = stream.time_base or Fraction(1, 1)
    context = stream.codec_context
    area = max(1, (context.width or 1) * (context.height or 1)) if context is not None else 1
    max_frames = max(64, int(2 * float(settings.MAX_SEEK_DECODE_PIXELS) / area))
    if seek:
        # Seeking lands on the keyframe at or before the target; decode forward from there.
        container.seek(int(target / tb), stream=stream, backward=True)
    else:
        container.seek(0, stream=stream, backward=True)
    rate = stream.average_rate or stream.guessed_rate
    half_frame = float(0.5 / rate) if rate else 0.0
    chosen: av.VideoFrame | None = None
    for decoded, frame in enumerate(container.decode(stream), start=1):
        if decoded > max_frames:
            raise MediaRejected("This moment of the video is too far from a keyframe to be decoded.")
        time = frame.time
        if chosen is not None and time is not None and time > target + half_frame:
            break
        chosen = frame
        if time is not None and time + half_frame >= target:
            break
    return chosen


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    """Apply the container's display rotation (counterclockwise degrees, as FFmpeg reports it)."""
    quarter = round(rotation / 90) % 4
    if quarter == 1:
        return image.transpose(Image.Transpose.ROTATE_90)
    if quarter == 2:
        return image.transpose(Image.Transpose.ROTATE_180)
    if quarter == 3:
        return image.transpose(Image.Transpose.ROTATE_270)
    return image


# --- small things --------------------------------------------------------------------------------


def _reject(detail: str, upload: UploadedFile, exc: BaseException | None = None, *, status: int = 400) -> MediaRejected:
    # The client's file name is logged with repr() so it cannot forge log lines.
    if exc is not None:
        logger.info("upload rejected (%s): %r, %d bytes: %s (%r)", status, upload.name, upload.size or 0, detail, exc)
    else:
        logger.info("upload rejected (%s): %r, %d bytes: %s", status, upload.name, upload.size or 0, detail)
    return MediaRejected(detail, status=status)


def _human_size(size: int) -> str:
    mib = size / (1024 * 1024)
    if mib >= 1:
        return f"{mib:.0f} MB"
    return f"{max(1, round(size / 1024))} KB"
