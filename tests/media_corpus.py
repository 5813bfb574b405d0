"""A corpus of hostile, broken and valid uploads, generated on the fly (nothing binary is committed).

Each ``Case`` says what a client claims (the file name; tests derive the content type from it, so the
claim is a lie for the hostile rows), how to build the bytes, and what must happen: rejected with a
status, or accepted (``status=None``) with an optional ``check`` of the processed media.

Builders receive a ``CorpusEnv``: a scratch directory plus two tripwires that must stay untouched —
a TCP listener (``trap_url``) that hostile playlists point at, and a FIFO (``sensor_path``) that
hostile ffconcat scripts reference. A FIFO tells whether anyone opened it, which an ordinary file's
access time would not (noatime mounts). ``corpus_env()`` sets both up and tears them down.

Used by ``tests/socialapp/test_uploads.py`` and reusable by API tests (``POST /api/posts/``).
"""

from __future__ import annotations

import io
import os
import random
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
from PIL import Image, ImageCms, PngImagePlugin

from socialapp.demo_media import make_photo, make_video
from socialapp.uploads import ValidatedMedia

# --- tripwires -----------------------------------------------------------------------------------


class TrapServer:
    """A TCP listener on 127.0.0.1 that counts the connections it receives (there should be none)."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return  # closed
            self.connections += 1
            conn.close()

    def close(self) -> None:
        # close() alone does not wake a thread blocked in accept() on Linux; shutdown() does.
        with suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=5)


class FifoSensor:
    """A named pipe whose opening for reading is detected: a writer thread blocks in open() until then."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._wait_for_reader, daemon=True)
        self._thread.start()

    def _wait_for_reader(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # returns only once someone opens the FIFO for reading
        self._opened.set()
        os.close(fd)

    @property
    def opened(self) -> bool:
        return self._opened.is_set()

    def close(self) -> None:
        # Open the read end ourselves so the writer thread's open() returns and the thread ends.
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._thread.join(timeout=5)
        os.close(fd)


@dataclass
class CorpusEnv:
    tmp_path: Path
    trap: TrapServer
    sensor: FifoSensor

    @property
    def trap_url(self) -> str:
        return f"http://127.0.0.1:{self.trap.port}/"

    @property
    def sensor_path(self) -> Path:
        return self.sensor.path


@contextmanager
def corpus_env(tmp_path: Path) -> Iterator[CorpusEnv]:
    trap = TrapServer()
    sensor = FifoSensor(tmp_path / "sensor.mp4")
    try:
        yield CorpusEnv(tmp_path=tmp_path, trap=trap, sensor=sensor)
    finally:
        trap.close()
        sensor.close()


# --- cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str  # the test id
    filename: str  # the name the client sends
    build: Callable[[CorpusEnv], bytes]
    status: int | None  # None: accepted; else the MediaRejected status
    media_type: str | None = None  # for accepted rows: "video" or "image"
    content_type: str | None = None  # for accepted rows: the processed file's type
    settings: Mapping[str, object] = field(default_factory=dict)  # overrides for this row (small limits)
    check: Callable[[ValidatedMedia], None] | None = None  # extra assertions on accepted media
    reason: str | None = None  # for rejected rows: words the user's sentence must contain


def _video_bytes(env: CorpusEnv, name: str, **options: object) -> bytes:
    return make_video(env.tmp_path / name, **options).read_bytes()  # type: ignore[arg-type]


def _small_mp4(env: CorpusEnv, **options: object) -> bytes:
    return _video_bytes(env, "small.mp4", **{"seconds": 2.0, "size": (320, 180), **options})


def _faststart(env: CorpusEnv, data: bytes) -> bytes:
    """The same MP4 with its index (moov) moved before the media data, as streaming-friendly files have."""
    source, target = env.tmp_path / "slow.mp4", env.tmp_path / "fast.mp4"
    source.write_bytes(data)
    with (
        av.open(str(source)) as inp,
        av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        streams = {s.index: out.add_stream_from_template(s, opaque=True) for s in inp.streams}
        for packet in inp.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return target.read_bytes()


def _mp4_boxes(
    data: bytes | bytearray, path: list[bytes], start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int]]:
    """(offset, header size) of every ISO-BMFF box at ``path`` (e.g. moov/trak/tkhd)."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        if kind == path[0]:
            if len(path) == 1:
                yield pos, header
            else:
                yield from _mp4_boxes(data, path[1:], pos + header, pos + size)
        pos += size


def _rotated_mp4(data: bytes, degrees: int) -> bytes:
    """Set the track's display matrix, as phones do for portrait video (stored landscape, shown rotated)."""
    one = 0x10000
    a, b, c, d = {90: (0, one, -one, 0), 180: (-one, 0, 0, -one), 270: (0, -one, one, 0)}[degrees]
    out = bytearray(data)
    for pos, header in _mp4_boxes(out, [b"moov", b"trak", b"tkhd"]):
        version = out[pos + header]
        # version/flags, times, track id, reserved, duration, reserved(8), layer, group, volume, reserved
        matrix = pos + header + 4 + (20 if version == 0 else 32) + 8 + 8
        struct.pack_into(">iiiiii", out, matrix, a, b, 0, c, d, 0)
    return bytes(out)


def _frames(size: tuple[int, int], count: int, color: tuple[int, int, int]) -> Iterator[av.VideoFrame]:
    for index in range(count):
        image = Image.new("RGB", size, (color[0], (color[1] + 9 * index) % 256, color[2]))
        frame = av.VideoFrame.from_image(image)
        frame.pts = index
        frame.time_base = Fraction(1, 12)
        yield frame


def _two_video_streams(env: CorpusEnv) -> bytes:
    path = env.tmp_path / "two.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        streams = []
        for _ in range(2):
            stream = out.add_stream("libx264", rate=12, options={"preset": "ultrafast"})
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            streams.append(stream)
        for stream, color in zip(streams, [(200, 0, 0), (0, 0, 200)], strict=True):
            for frame in _frames((64, 64), 12, color):
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    return path.read_bytes()


def _audio_only(env: CorpusEnv) -> bytes:
    path = env.tmp_path / "audio.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        for start in range(0, 48000, 4800):
            frame = av.AudioFrame(format="s16", layout="mono", samples=4800)
            frame.planes[0].update(bytes(random.Random(start).randbytes(9600)))
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path.read_bytes()


def _png_bomb(width: int, height: int) -> bytes:
    """A 1-bit greyscale PNG of the given size, all zeros: a few kilobytes that decode to width*height pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A tiny real JPEG whose frame header (SOF0) claims another size."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 120, 200)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _image_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(env: CorpusEnv, **options: object) -> bytes:
    return make_photo(env.tmp_path / "photo.jpg", size=(360, 450), **options).read_bytes()  # type: ignore[arg-type]


def _alpha_png(env: CorpusEnv) -> bytes:
    image = Image.new("RGBA", (200, 120), (0, 0, 0, 0))
    image.paste((30, 160, 90, 255), (40, 20, 160, 100))
    return _image_bytes(image, "PNG")


def _animated_webp(env: CorpusEnv) -> bytes:
    frames = [Image.new("RGB", (96, 64), color) for color in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    return _image_bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)


def _palette_with_hole() -> Image.Image:
    image = Image.new("P", (40, 30), 0)
    image.putpalette([0, 0, 0, 250, 40, 40] + [0] * 762)
    image.paste(1, (10, 5, 30, 25))
    return image


def _grey16() -> Image.Image:
    """A 16-bit greyscale ramp over the whole 0..65535 range (scanners and medical images write these)."""
    return Image.linear_gradient("L").resize((64, 64)).convert("I").point(lambda v: v * 257).convert("I;16")


def _png_text() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret-comment")
    return info


def _jpeg_with_baggage(env: CorpusEnv) -> bytes:
    """A JPEG carrying an ICC profile, XMP and a comment: none of it may survive."""
    image = Image.new("RGB", (120, 80), (200, 100, 50))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-xmp</x:xmpmeta>'
    return _image_bytes(image, "JPEG", icc_profile=icc, xmp=xmp, comment=b"secret-comment")


# --- checks on accepted media --------------------------------------------------------------------


def _streams(media: ValidatedMedia) -> list[tuple[str, str]]:
    with av.open(str(media.media_path)) as container:
        return [(s.type, s.codec_context.codec.canonical_name) for s in container.streams]


def _decoded_frames(media: ValidatedMedia) -> int:
    with av.open(str(media.media_path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _expect(
    *,
    streams: list[tuple[str, str]] | None = None,
    size: tuple[int, int] | None = None,
    duration: float | None = None,
    frames: int | None = None,
    absent: tuple[bytes, ...] = (),
    no_exif: bool = False,
) -> Callable[[ValidatedMedia], None]:
    def check(media: ValidatedMedia) -> None:
        if streams is not None:
            assert _streams(media) == streams
        if size is not None:
            assert (media.width, media.height) == size
        if duration is not None:
            assert media.duration is not None and abs(media.duration - duration) < 0.1, media.duration
        if frames is not None:
            assert _decoded_frames(media) == frames
        data = media.media_path.read_bytes()
        for needle in absent:
            assert needle not in data, needle
        if no_exif:
            with Image.open(media.media_path) as image:
                assert not image.getexif()
                assert not image.info.get("icc_profile")

    return check


def _all(*checks: Callable[[ValidatedMedia], None]) -> Callable[[ValidatedMedia], None]:
    def check(media: ValidatedMedia) -> None:
        for one in checks:
            one(media)

    return check


def _no_container_tags(media: ValidatedMedia) -> None:
    with av.open(str(media.media_path)) as container:
        assert not {"location", "location-eng", "title"} & set(container.metadata)


def _full_range(media: ValidatedMedia) -> None:
    with Image.open(media.media_path) as image:
        low, high = cast(tuple[int, int], image.convert("L").getextrema())
        assert low < 10 and high > 245, (low, high)


def _first_frame_red(media: ValidatedMedia) -> None:
    with Image.open(media.media_path) as image:
        red, green, blue = image.convert("RGB").getpixel((48, 32))  # type: ignore[misc]
        assert red > 200 and green < 50 and blue < 50


# --- the table -----------------------------------------------------------------------------------

_RANDOM = random.Random(1234).randbytes(64 * 1024)
_HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"
_SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'
_FTYP = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"


def _hls(env: CorpusEnv) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:10.0,\n{env.trap_url}segment0.ts\n#EXTINF:10.0,\nfile://{env.sensor_path}\n#EXT-X-ENDLIST\n"
    ).encode()


def _ffconcat(env: CorpusEnv) -> bytes:
    real = make_video(env.tmp_path / "real.mp4", seconds=1.0, size=(64, 64))
    return f"ffconcat version 1.0\nfile '{env.sensor_path}'\nfile '{real}'\n".encode()


CORPUS: list[Case] = [
    # --- not media at all, whatever the name says
    Case("zero-bytes", "empty.mp4", lambda env: b"", 400, reason="empty"),
    Case("random-bytes", "clip.mp4", lambda env: _RANDOM, 400, reason="not a photo or video we accept"),
    Case(
        "text-named-mp4",
        "notes.mp4",
        lambda env: b"just some notes, not a video\n" * 50,
        400,
        reason="not a photo or video we accept",
    ),
    Case("html-named-jpg", "photo.jpg", lambda env: _HTML, 400, reason="not a photo or video we accept"),
    Case("svg-named-png", "logo.png", lambda env: _SVG, 400, reason="not a photo or video we accept"),
    Case("gif", "funny.gif", lambda env: _image_bytes(Image.new("P", (32, 32)), "GIF"), 400, reason="GIF"),
    Case(
        "heic-photo", "IMG_0001.heic", lambda env: struct.pack(">I", 24) + b"ftypheic" + bytes(16), 400, reason="HEIC"
    ),
    Case(
        "jpeg-magic-then-html",
        "photo.jpg",
        lambda env: b"\xff\xd8\xff\xe0" + _HTML,
        400,
        reason="Could not read this photo",
    ),
    Case(
        "webp-header-only",
        "photo.webp",
        lambda env: b"RIFF\x24\x00\x00\x00WEBPVP8 ",
        400,
        reason="Could not read this photo",
    ),
    # --- FFmpeg's "formats" that fetch URLs or open other files must never be chosen
    Case("hls-playlist-named-mp4", "video.mp4", _hls, 400, reason="not a photo or video we accept"),
    Case(
        "hls-playlist-behind-ftyp", "video.mp4", lambda env: _FTYP + _hls(env), 400, reason="Could not read this video"
    ),
    Case("ffconcat-named-mp4", "video.mp4", _ffconcat, 400, reason="not a photo or video we accept"),
    Case(
        "ffconcat-behind-ebml-magic",
        "video.mkv",
        lambda env: b"\x1a\x45\xdf\xa3" + _ffconcat(env),
        400,
        reason="Could not read this video",
    ),
    Case("ftyp-then-garbage", "video.mp4", lambda env: _FTYP + _RANDOM[:4096], 400, reason="Could not read this video"),
    Case(
        "ebml-then-garbage",
        "video.webm",
        lambda env: b"\x1a\x45\xdf\xa3" + _RANDOM[:4096],
        400,
        reason="Could not read this video",
    ),
    # --- broken real files
    Case(
        "truncated-mp4",
        "video.mp4",
        lambda env: (d := _small_mp4(env))[: len(d) * 4 // 10],
        400,
        reason="Could not read this video",
    ),
    Case(
        "truncated-faststart-mp4",
        "video.mp4",
        lambda env: (d := _faststart(env, _small_mp4(env)))[: len(d) * 4 // 10],
        400,
        reason="incomplete",
    ),
    Case(
        "faststart-mp4-missing-its-last-tenth",  # too little missing for the duration check: the index tells
        "video.mp4",
        lambda env: (d := _faststart(env, _small_mp4(env)))[: len(d) * 9 // 10],
        400,
        reason="incomplete",
    ),
    Case(
        "truncated-webm",
        "clip.webm",
        lambda env: (d := _video_bytes(env, "cut.webm", seconds=4.0, size=(320, 180)))[: len(d) * 6 // 10],
        400,
        reason="incomplete",
    ),
    Case(
        "truncated-png",
        "photo.png",
        lambda env: (d := _alpha_png(env))[: len(d) // 2],
        400,
        reason="Could not read this photo",
    ),
    Case(
        "truncated-jpeg",
        "photo.jpg",
        lambda env: (d := _photo(env))[: len(d) // 2],
        400,
        reason="Could not read this photo",
    ),
    # --- decompression bombs and absurd sizes
    Case("png-pixel-bomb-20000x20000", "bomb.png", lambda env: _png_bomb(20000, 20000), 400, reason="too many pixels"),
    Case(
        "png-bomb-past-pillow-limit",
        "bomb.png",
        lambda env: _png_bomb(20000, 20000),
        400,
        settings={"MAX_IMAGE_PIXELS": 10**9},  # our limit out of the way: Pillow's own check must refuse
        reason="too many pixels",
    ),
    Case(
        "png-bomb-in-pillow-warning-range",
        "bomb.png",
        lambda env: _png_bomb(10000, 10000),
        400,
        settings={"MAX_IMAGE_PIXELS": 10**9},  # 100 Mpx only makes Pillow warn: the warning must refuse
        reason="too many pixels",
    ),
    Case(
        "jpeg-declaring-65000x65000",
        "photo.jpg",
        lambda env: _jpeg_declaring(65000, 65000),
        400,
        reason="too many pixels",
    ),
    Case(
        "jpeg-declaring-8000x8000", "photo.jpg", lambda env: _jpeg_declaring(8000, 8000), 400, reason="too many pixels"
    ),
    Case(
        "video-181-seconds",
        "long.mp4",
        lambda env: _video_bytes(env, "long.mp4", seconds=181, fps=1, size=(64, 64)),
        400,
        reason="too long",
    ),
    Case(
        "webm-181-seconds-without-duration-header",
        "long.webm",
        lambda env: _video_bytes(env, "long.webm", seconds=181, fps=1, size=(64, 64), seekable=False),
        400,
        reason="too long",
    ),
    Case(
        "video-4112-pixels-wide",
        "wide.mp4",
        lambda env: _video_bytes(env, "wide.mp4", seconds=0.25, size=(4112, 16)),
        400,
        reason="4096 pixels",
    ),
    Case("video-over-side-setting", "clip.mp4", _small_mp4, 400, settings={"MAX_VIDEO_SIDE": 256}, reason="256 pixels"),
    Case("oversize-photo", "photo.jpg", _photo, 413, settings={"MAX_IMAGE_BYTES": 1024}, reason="too large"),
    Case("oversize-video", "clip.mp4", _small_mp4, 413, settings={"MAX_VIDEO_BYTES": 1024}, reason="too large"),
    Case(
        "over-both-limits-before-sniffing",
        "clip.mp4",
        lambda env: _RANDOM,
        413,
        settings={"MAX_VIDEO_BYTES": 4096, "MAX_IMAGE_BYTES": 2048},
        reason="too large",
    ),
    # --- real videos we do not take
    Case(
        "mjpeg-in-matroska",
        "clip.mkv",
        lambda env: _video_bytes(env, "mj.mkv", seconds=0.5, size=(64, 64), codec="mjpeg"),
        400,
        reason="'mjpeg' are not accepted",
    ),
    Case(
        "mpeg4-part2-in-mp4",
        "clip.mp4",
        lambda env: _video_bytes(env, "m4.mp4", seconds=0.5, size=(64, 64), codec="mpeg4"),
        400,
        reason="'mpeg4' are not accepted",
    ),
    Case("two-video-streams", "clip.mp4", _two_video_streams, 400, reason="more than one video track"),
    Case("audio-only-mp4", "song.mp4", _audio_only, 400, reason="no video track"),
    # --- accepted, and cleaned up on the way
    Case(
        "valid-h264-aac-mp4",
        "clip.mp4",
        lambda env: _small_mp4(env, with_audio=True),
        None,
        "video",
        "video/mp4",
        check=_expect(streams=[("video", "h264"), ("audio", "aac")], size=(320, 180), duration=2.0, frames=48),
    ),
    Case(
        "valid-vp9-opus-webm",
        "clip.webm",
        lambda env: _video_bytes(env, "clip.webm", seconds=2.0, size=(320, 180), with_audio=True),
        None,
        "video",
        "video/webm",
        check=_expect(streams=[("video", "vp9"), ("audio", "opus")], size=(320, 180), duration=2.0),
    ),
    Case(
        "h264-with-bframes-in-matroska",
        "clip.mkv",
        lambda env: _video_bytes(env, "clip.mkv", seconds=2.0, size=(320, 180)),
        None,
        "video",
        "video/mp4",
        check=_expect(streams=[("video", "h264")], duration=2.0, frames=48),
    ),
    Case(
        "vp9-in-mp4-becomes-webm",
        "clip.mp4",
        lambda env: _small_mp4(env, codec="libvpx-vp9"),
        None,
        "video",
        "video/webm",
        check=_expect(streams=[("video", "vp9")], frames=48),
    ),
    Case(
        "av1-in-mp4",
        "clip.mp4",
        lambda env: _small_mp4(env, seconds=1.0, codec="libsvtav1", encoder_options={"preset": "12"}),
        None,
        "video",
        "video/mp4",
        check=_expect(streams=[("video", "av1")], frames=24),
    ),
    Case(
        "mp4-with-opus-audio-drops-audio",
        "clip.mp4",
        lambda env: _small_mp4(env, with_audio=True, audio_codec="libopus"),
        None,
        "video",
        "video/mp4",
        check=_expect(streams=[("video", "h264")]),
    ),
    Case(
        "mp4-with-mp3-audio",
        "clip.mp4",
        lambda env: _small_mp4(env, with_audio=True, audio_codec="libmp3lame"),
        None,
        "video",
        "video/mp4",
        check=_expect(streams=[("video", "h264"), ("audio", "mp3")]),
    ),
    Case(
        "live-recorded-webm-without-duration",
        "recording.webm",
        lambda env: _video_bytes(env, "rec.webm", seconds=2.0, size=(320, 180), seekable=False),
        None,
        "video",
        "video/webm",
        check=_expect(duration=2.0),
    ),
    Case(
        "mp4-with-gps-location-tags",
        "clip.mp4",
        lambda env: _small_mp4(env, metadata={"location": "+48.8584+002.2945/", "title": "home"}),
        None,
        "video",
        "video/mp4",
        check=_all(_no_container_tags, _expect(absent=(b"+48.8584", b"home"))),
    ),
    Case(
        "portrait-phone-video-rotated-90",
        "clip.mp4",
        lambda env: _rotated_mp4(_small_mp4(env), 90),
        None,
        "video",
        "video/mp4",
        check=_expect(size=(180, 320)),
    ),
    Case(
        "jpeg-with-gps-exif",
        "photo.jpg",
        lambda env: _photo(env, exif_gps=True),
        None,
        "image",
        "image/jpeg",
        check=_expect(size=(360, 450), absent=(b"Exif", b"RemixDemoCam", b"GPS-1"), no_exif=True),
    ),
    Case(
        "jpeg-exif-orientation-6",
        "photo.jpg",
        lambda env: _photo(env, exif_orientation=6),
        None,
        "image",
        "image/jpeg",
        check=_expect(size=(450, 360), absent=(b"Exif",), no_exif=True),
    ),
    Case(
        "jpeg-with-icc-xmp-comment",
        "photo.jpg",
        lambda env: _jpeg_with_baggage(env),
        None,
        "image",
        "image/jpeg",
        check=_expect(absent=(b"ICC_PROFILE", b"secret-xmp", b"secret-comment"), no_exif=True),
    ),
    Case(
        "polyglot-jpeg-with-appended-html",
        "photo.jpg",
        lambda env: _photo(env) + _HTML,
        None,
        "image",
        "image/jpeg",
        check=_expect(absent=(b"<html", b"<script"), no_exif=True),
    ),
    Case(
        "png-with-alpha",
        "sticker.png",
        _alpha_png,
        None,
        "image",
        "image/png",
        check=_expect(size=(200, 120)),
    ),
    Case(
        "png-opaque-rgba-becomes-jpeg",
        "screenshot.png",
        lambda env: _image_bytes(Image.new("RGBA", (64, 48), (10, 20, 30, 255)), "PNG"),
        None,
        "image",
        "image/jpeg",
    ),
    Case(
        "png-palette-with-transparency",
        "sticker.png",
        lambda env: _image_bytes(_palette_with_hole(), "PNG", transparency=0),
        None,
        "image",
        "image/png",
        check=_expect(size=(40, 30)),
    ),
    Case(
        "png-16-bit-greyscale",
        "scan.png",
        lambda env: _image_bytes(_grey16(), "PNG"),
        None,
        "image",
        "image/jpeg",
        check=_all(_expect(size=(64, 64)), _full_range),
    ),
    Case(
        "png-with-text-chunks",
        "screenshot.png",
        lambda env: _image_bytes(Image.new("RGBA", (32, 32), (1, 2, 3, 100)), "PNG", pnginfo=_png_text()),
        None,
        "image",
        "image/png",
        check=_expect(absent=(b"tEXt", b"secret-comment")),
    ),
    Case(
        "cmyk-jpeg",
        "print.jpg",
        lambda env: _image_bytes(Image.new("CMYK", (48, 32), (0, 255, 255, 0)), "JPEG"),
        None,
        "image",
        "image/jpeg",
        check=_expect(size=(48, 32)),
    ),
    Case(
        "webp",
        "photo.webp",
        lambda env: _image_bytes(Image.new("RGB", (96, 64), (20, 120, 220)), "WEBP", quality=80),
        None,
        "image",
        "image/jpeg",
        check=_expect(size=(96, 64)),
    ),
    Case("animated-webp-first-frame", "anim.webp", _animated_webp, None, "image", "image/jpeg", check=_first_frame_red),
]
