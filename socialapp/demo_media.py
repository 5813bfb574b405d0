"""Real demo media made on the spot: animated videos (PyAV) and photos (Pillow).

The demo data and the tests need genuine files (a real H.264 stream a browser plays, a real
JPEG with GPS EXIF) without committing binaries or downloading anything, so they are drawn
here frame by frame. Nothing needs numpy: frames go from Pillow to PyAV with
``VideoFrame.from_image`` and audio samples are packed with ``array``.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, cast

import av
from PIL import ExifTags, Image, ImageDraw, ImageFont

SCENES = ("sunset", "city", "ocean", "forest", "disco")

# Which container PyAV writes for a file suffix, and the video codec it gets by default.
_CONTAINERS = {
    ".mp4": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
    ".mkv": ("matroska", "libx264"),
}

# Encoder settings chosen for speed (demo data and tests make many small files) with decent quality.
_ENCODER_OPTIONS = {
    "libx264": {"preset": "veryfast", "crf": "23"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "33", "b": "0", "row-mt": "1"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "1M"},
}

# Encoders that want full-range ("J") pixels; everything else gets browser-friendly yuv420p.
_PIX_FMT = {"mjpeg": "yuvj420p"}

_Color = tuple[int, int, int]
_SKIES: dict[str, tuple[_Color, _Color]] = {
    "sunset": ((255, 120, 60), (60, 20, 90)),
    "city": ((20, 24, 60), (120, 90, 160)),
    "ocean": ((130, 200, 255), (20, 90, 170)),
    "forest": ((170, 220, 190), (30, 90, 50)),
    "disco": ((40, 0, 60), (200, 0, 120)),
}


def make_video(
    path: Path | str,
    *,
    seconds: float = 4.0,
    fps: int = 24,
    size: tuple[int, int] = (640, 360),
    scene: str = "sunset",
    codec: str | None = None,
    with_audio: bool = False,
    audio_codec: str | None = None,
    caption: str | None = None,
    encoder_options: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    seekable: bool = True,
) -> Path:
    """Write an animated scene to ``path`` and return it.

    The container follows the suffix (``.mp4``/``.mov``: H.264, ``.webm``: VP9, ``.mkv``: H.264);
    ``codec`` overrides the video encoder (any PyAV encoder name). Frames are yuv420p (even
    sizes only), so H.264 output plays in Chromium. ``with_audio`` adds a soft two-tone chime
    (AAC in mp4/mov, Opus in webm/mkv unless ``audio_codec`` says otherwise). ``metadata`` is
    written as container tags (e.g. ``{"location": "+48.8584+002.2945/"}``, as phones do).
    ``seekable=False`` writes through a pipe-like stream, so the muxer cannot go back to record
    the duration or an index: what a browser's MediaRecorder produces for WebM.
    """
    path = Path(path)
    width, height = size
    if width % 2 or height % 2:
        raise ValueError("yuv420p needs an even width and height")
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; choose one of {', '.join(SCENES)}")
    container_format, default_codec = _CONTAINERS.get(path.suffix.lower(), ("mp4", "libx264"))
    codec = codec or default_codec
    audio_codec = audio_codec or ("aac" if container_format in {"mp4", "mov"} else "libopus")

    total = max(1, round(seconds * fps))
    background = _sky(scene, size)
    painter = _PAINTERS[scene]
    font = _font(max(12, height // 14))
    label = caption if caption is not None else scene

    with ExitStack() as stack:
        target: str | _Unseekable = str(path)
        if not seekable:
            target = _Unseekable(stack.enter_context(path.open("wb")))
        output = stack.enter_context(av.open(target, "w", format=container_format))
        output.metadata.update(metadata or {})
        options = {**_ENCODER_OPTIONS.get(codec, {}), **(encoder_options or {})}
        video = cast(av.VideoStream, output.add_stream(codec, rate=fps, options=options))
        video.width, video.height = width, height
        video.pix_fmt = _PIX_FMT.get(codec, "yuv420p")
        # A keyframe every two seconds keeps seeking (poster frames, remix frame picks) cheap.
        video.codec_context.gop_size = max(1, fps * 2)
        audio = cast(av.AudioStream, output.add_stream(audio_codec, rate=48000)) if with_audio else None
        if audio is not None:
            audio.layout = "mono"

        # Audio is fed alongside the video it belongs to, so the file is interleaved as players expect.
        chime = deque(_chime_frames(total / fps, rate=48000) if audio is not None else [])
        for index in range(total):
            t = index / fps
            image = background.copy()
            painter(ImageDraw.Draw(image), size, t)
            _caption(ImageDraw.Draw(image), size, f"{label}  {t:4.1f}s", font)
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            output.mux(video.encode(frame))
            while audio is not None and chime and (chime[0].time or 0.0) <= t:
                output.mux(audio.encode(chime.popleft()))
        output.mux(video.encode(None))
        if audio is not None:
            for sound in chime:
                output.mux(audio.encode(sound))
            output.mux(audio.encode(None))
    return path


def make_photo(
    path: Path | str,
    *,
    size: tuple[int, int] = (1080, 1350),
    scene: str = "sunset",
    exif_gps: bool = False,
    exif_orientation: int | None = None,
    quality: int = 90,
) -> Path:
    """Write a JPEG photo of ``scene`` to ``path`` and return it.

    ``exif_gps`` adds camera tags and a GPS IFD (a spot in Paris) so tests can prove uploads strip
    them; ``exif_orientation`` sets the EXIF Orientation tag (e.g. 6 = rotate 90° clockwise to view).
    """
    path = Path(path)
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; choose one of {', '.join(SCENES)}")
    image = _sky(scene, size)
    _PAINTERS[scene](ImageDraw.Draw(image), size, 1.5)
    _caption(ImageDraw.Draw(image), size, scene, _font(max(12, size[1] // 20)))

    exif = Image.Exif()
    if exif_gps:
        exif[ExifTags.Base.Make] = "RemixDemoCam"
        exif[ExifTags.Base.Model] = "Model GPS-1"
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.5)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E"
        gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.2)
    if exif_orientation is not None:
        exif[ExifTags.Base.Orientation] = exif_orientation
    image.save(path, "JPEG", quality=quality, exif=exif.tobytes() if len(exif) else b"")
    return path


# --- drawing -------------------------------------------------------------------------------------


def _sky(scene: str, size: tuple[int, int]) -> Image.Image:
    """A vertical gradient, drawn once per video and copied for every frame."""
    top, bottom = _SKIES[scene]
    height = size[1]
    column = Image.new("RGB", (1, height))
    for y in range(height):
        k = y / max(1, height - 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * k) for a, b in zip(top, bottom, strict=True)))
    return column.resize(size)


def _ball(draw: ImageDraw.ImageDraw, size: tuple[int, int], t: float, color: _Color) -> None:
    """A ball bouncing across the frame: motion every frame, so any two frames differ."""
    width, height = size
    r = max(3, min(size) // 12)
    x = r + (width - 2 * r) * (0.5 + 0.5 * math.sin(t * 1.3))
    y = height - r - abs(math.sin(t * 2.7)) * (height * 0.6)
    draw.ellipse((x - r, y - r, x + r, y + r), fill=color, outline=(255, 255, 255))


def _paint_sunset(draw: ImageDraw.ImageDraw, size: tuple[int, int], t: float) -> None:
    width, height = size
    r = min(size) // 6
    sun_y = height * 0.3 + t * height * 0.05
    draw.ellipse((width * 0.6 - r, sun_y - r, width * 0.6 + r, sun_y + r), fill=(255, 210, 90))
    draw.rectangle((0, height * 0.72, width, height), fill=(40, 20, 40))
    for i in range(3):  # birds drifting right
        bx = (t * width * 0.15 + i * width * 0.3) % width
        by = height * (0.2 + 0.07 * i)
        draw.line((bx - 8, by - 4, bx, by, bx + 8, by - 4), fill=(30, 10, 30), width=2)
    _ball(draw, size, t, (250, 90, 90))


def _paint_city(draw: ImageDraw.ImageDraw, size: tuple[int, int], t: float) -> None:
    width, height = size
    step = max(8, width // 10)
    for i, x in enumerate(range(0, width, step)):
        top = height * (0.35 + 0.25 * ((i * 37) % 7) / 7)
        draw.rectangle((x, top, x + step - 4, height), fill=(25, 25, 35))
        for wy in range(int(top) + 6, height - 6, 14):  # windows blink in turn
            if (i + wy // 14 + int(t * 2)) % 3 == 0:
                draw.rectangle((x + 4, wy, x + 8, wy + 5), fill=(255, 230, 120))
    car_x = (t * width * 0.25) % (width + 60) - 60
    draw.rectangle((car_x, height * 0.9, car_x + 50, height * 0.96), fill=(220, 40, 40))
    _ball(draw, size, t, (90, 200, 255))


def _paint_ocean(draw: ImageDraw.ImageDraw, size: tuple[int, int], t: float) -> None:
    width, height = size
    for row in range(4):  # rolling waves
        base = height * (0.55 + 0.11 * row)
        points = [(x, base + 6 * math.sin(x / 25 + t * 3 + row)) for x in range(0, width + 8, 8)]
        draw.line(points, fill=(230, 245, 255), width=2)
    boat_x = width * 0.1 + (t * width * 0.08) % (width * 0.8)
    boat_y = height * 0.55 + 4 * math.sin(t * 2)
    draw.polygon(
        [(boat_x, boat_y), (boat_x + 60, boat_y), (boat_x + 48, boat_y + 14), (boat_x + 12, boat_y + 14)],
        fill=(120, 60, 30),
    )
    draw.polygon(
        [(boat_x + 30, boat_y - 45), (boat_x + 30, boat_y - 2), (boat_x + 55, boat_y - 2)], fill=(250, 250, 250)
    )
    _ball(draw, size, t, (255, 200, 0))


def _paint_forest(draw: ImageDraw.ImageDraw, size: tuple[int, int], t: float) -> None:
    width, height = size
    step = max(10, width // 9)
    for i, x in enumerate(range(-step // 2, width + step, step)):
        sway = 5 * math.sin(t * 1.5 + i)
        top = height * (0.3 + 0.1 * (i % 3))
        draw.polygon(
            [(x + sway, top), (x - step * 0.6, height * 0.85), (x + step * 0.6, height * 0.85)],
            fill=(20, 80 + 10 * (i % 4), 40),
        )
        draw.rectangle((x - 4, height * 0.85, x + 4, height), fill=(80, 50, 20))
    _ball(draw, size, t, (240, 80, 200))


def _paint_disco(draw: ImageDraw.ImageDraw, size: tuple[int, int], t: float) -> None:
    width, height = size
    tiles = 8
    for ix in range(tiles):
        for iy in range(tiles // 2, tiles):
            hue = (ix * 3 + iy * 5 + int(t * 6)) % 6
            color = [(255, 0, 80), (255, 160, 0), (250, 250, 0), (0, 220, 120), (0, 140, 255), (180, 0, 255)][hue]
            draw.rectangle(
                (ix * width / tiles, iy * height / tiles, (ix + 1) * width / tiles - 2, (iy + 1) * height / tiles - 2),
                fill=color,
            )
    _ball(draw, size, t, (255, 255, 255))


_PAINTERS: dict[str, Callable[[ImageDraw.ImageDraw, tuple[int, int], float], None]] = {
    "sunset": _paint_sunset,
    "city": _paint_city,
    "ocean": _paint_ocean,
    "forest": _paint_forest,
    "disco": _paint_disco,
}


def _font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    # Pillow >= 10.1 ships a scalable default font; no system fonts are needed.
    return ImageFont.load_default(size=px)


def _caption(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont
) -> None:
    if min(size) < 48:  # tiny test videos: text would only be noise
        return
    pad = max(4, size[1] // 60)
    draw.text((pad + 1, pad + 1), text, fill=(0, 0, 0), font=font)
    draw.text((pad, pad), text, fill=(255, 255, 255), font=font)


def _chime_frames(seconds: float, *, rate: int) -> list[av.AudioFrame]:
    """A quiet two-tone chime as s16 mono frames; PyAV resamples them to whatever the encoder wants."""
    frames = []
    per_frame = 4800
    total = round(seconds * rate)
    for start in range(0, total, per_frame):
        count = min(per_frame, total - start)
        samples = array("h")
        for n in range(start, start + count):
            t = n / rate
            tone = 440.0 if int(t * 2) % 2 == 0 else 660.0
            envelope = math.exp(-3.0 * (t % 0.5))
            samples.append(int(6000 * envelope * math.sin(2 * math.pi * tone * t)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        frames.append(frame)
    return frames


class _Unseekable:
    """A write-only stream: PyAV sees no ``seek`` and muxes as if to a pipe."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def write(self, data: bytes) -> int:
        return self._raw.write(data)
