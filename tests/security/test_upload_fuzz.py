"""Hypothesis fuzzes the upload validator (``socialapp.uploads.validated_upload``) in a resource-limited child.

Inputs are made on the fly, a fixed derandomized number of them, from seeds that are the same bytes on
every run: mutations of small valid JPEG (with EXIF and GPS), progressive JPEG, PNG (alpha, ICC profile,
text; with and without its chunk CRCs repaired, so mutations also get past the CRC check), WebP (lossy,
lossless with alpha, animated), MP4 (H.264 + AAC, AV1), Matroska (H.264 with B-frames) and WebM (VP9)
files: bit flips, byte runs, boundary integers written over length fields (the ISO-BMFF box sizes found by
walking the boxes), insertions, deletions, repeats, splices of two files; plus truncations, random bytes,
and random bytes behind each accepted format's magic number.

Every input must be accepted (with real output files) or rejected with the validator's own answer
(``MediaRejected``: code ``invalid_media``, status 400 or 413, a sentence) and leave nothing in the upload
temp directory. Anything else is a crash; going past the per-input CPU or wall-clock limit is a hang. The
child (``tests/security/upload_fuzz_runner.py``) limits its address space, file size and CPU time with
``setrlimit``; the parent kills it when an input overruns the wall clock and starts a fresh one.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, PngImagePlugin

from socialapp.demo_media import make_photo, make_video

ROOT = Path(__file__).resolve().parents[2]
INPUTS = 2000  # generated inputs, plus the explicit examples below
ADDRESS_SPACE_MB = 2048  # the biggest photo accepted (40 Mpx) peaks near 800 MB
CPU_SECONDS = 10.0  # per input; the seeds are tiny, so real work is milliseconds
WALL_SECONDS = 30.0  # per input, generous: two cores shared with other work
BOUNDARY_INTS = [
    0,
    1,
    2,
    7,
    8,
    15,
    16,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
]
MAGIC = [
    b"\xff\xd8\xff\xe0",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"\x00\x00\x00\x18ftypisom",
    b"\x1a\x45\xdf\xa3",
]


# --- seeds ---------------------------------------------------------------------------------------


def _save(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _bitexact(path: Path, fmt: str) -> bytes:
    """The Matroska/WebM file remuxed without the random segment id and the date the muxer writes, so every
    run fuzzes the same bytes (a derandomized budget is only worth it if the seeds hold still too)."""
    buffer = io.BytesIO()
    with (
        av.open(str(path)) as source,
        av.open(buffer, "w", format=fmt, container_options={"fflags": "+bitexact"}) as out,
    ):
        streams = {s.index: out.add_stream_from_template(s, opaque=True) for s in source.streams}
        for packet in source.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return buffer.getvalue()


def _seeds(folder: Path) -> dict[str, bytes]:
    """Small valid files of every kind the validator takes (small, so each input costs milliseconds), the
    same bytes on every run."""
    gradient = Image.linear_gradient("L").resize((48, 32)).convert("RGB")
    alpha = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    alpha.paste((30, 160, 90, 255), (8, 6, 30, 24))
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "hello")
    srgb = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    srgb[24:36] = bytes(12)  # the profile's creation date
    frames = [Image.new("RGB", (24, 16), color) for color in ("red", "green", "blue")]
    return {
        "jpeg-exif-gps": make_photo(
            folder / "photo.jpg", size=(48, 64), exif_gps=True, exif_orientation=6
        ).read_bytes(),
        "jpeg-progressive": _save(gradient, "JPEG", progressive=True, quality=80),
        "png-alpha-icc-text": _save(alpha, "PNG", icc_profile=bytes(srgb), pnginfo=text),
        "png-palette": _save(gradient.convert("P"), "PNG"),
        "webp-lossy": _save(gradient, "WEBP", quality=60),
        "webp-lossless-alpha": _save(alpha, "WEBP", lossless=True),
        "webp-animated": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100),
        "mp4-h264-aac": make_video(
            folder / "clip.mp4", seconds=0.5, fps=12, size=(64, 48), with_audio=True
        ).read_bytes(),
        "webm-vp9": _bitexact(make_video(folder / "clip.webm", seconds=0.5, fps=12, size=(64, 48)), "webm"),
        # H.264 with B-frames in Matroska: the packets without decode timestamps the remuxer has to time.
        "mkv-h264": _bitexact(make_video(folder / "clip.mkv", seconds=0.5, fps=12, size=(64, 48)), "matroska"),
        "mp4-av1": make_video(
            folder / "av1.mp4", seconds=0.5, fps=12, size=(64, 48), codec="libsvtav1", encoder_options={"preset": "12"}
        ).read_bytes(),
    }


# --- mutations -----------------------------------------------------------------------------------


def _boxes(data: bytes | bytearray, start: int = 0, end: int | None = None, depth: int = 0) -> Iterator[int]:
    """Offsets of ISO-BMFF box headers, descending into the container boxes (where the sizes that matter are)."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end and depth < 6:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield pos
        if size < 8 or pos + size > end:
            return
        if kind in {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta", b"dinf"}:
            yield from _boxes(data, pos + 8, pos + size, depth + 1)
        pos += size


def _png_recrc(data: bytearray) -> bytearray:
    """Recompute every PNG chunk's CRC, so a mutated chunk reaches the decoder instead of the CRC check."""
    pos = 8
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if pos + 12 + length > len(data):
            break
        struct.pack_into(">I", data, pos + 8 + length, zlib.crc32(data[pos + 4 : pos + 8 + length]))
        pos += 12 + length
    return data


@st.composite
def _mutation(draw: st.DrawFn, data: bytearray, other: bytes) -> bytearray:
    size = len(data)
    # Headers are where the structure is: half the positions fall in the first 512 bytes.
    pos = draw(st.integers(0, max(0, min(size, 512) - 1)) | st.integers(0, max(0, size - 1)))
    kind = draw(st.sampled_from(["flip", "bytes", "int", "box", "insert", "delete", "repeat", "splice"]))
    if kind == "flip" and size:
        data[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "bytes":
        data[pos : pos + 4] = draw(st.binary(min_size=1, max_size=4))
    elif kind in {"int", "box"}:
        boxes = list(_boxes(data)) if kind == "box" else []
        if boxes:
            pos = draw(st.sampled_from(boxes))
        value = draw(st.sampled_from(BOUNDARY_INTS))
        width = draw(st.sampled_from([1, 2, 4]))
        if pos + width <= size:
            data[pos : pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(
                width, draw(st.sampled_from(["big", "little"]))
            )
    elif kind == "insert":
        data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
    elif kind == "delete":
        del data[pos : pos + draw(st.integers(1, 256))]
    elif kind == "repeat":
        chunk = data[pos : pos + draw(st.integers(1, 64))]
        data[pos:pos] = chunk * draw(st.integers(1, 16))
    elif kind == "splice" and other:
        cut = draw(st.integers(0, len(other) - 1))
        data[pos:] = other[cut:]
    return data


def _inputs(seeds: dict[str, bytes]) -> st.SearchStrategy[tuple[str, bytes]]:
    names = sorted(seeds)

    @st.composite
    def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
        name = draw(st.sampled_from(names))
        data = bytearray(seeds[name])
        for _ in range(draw(st.integers(1, 6))):
            data = draw(_mutation(data, seeds[draw(st.sampled_from(names))]))
        if name.startswith("png") and draw(st.booleans()):
            data = _png_recrc(data)
        return f"mutated {name}", bytes(data)

    @st.composite
    def truncated(draw: st.DrawFn) -> tuple[str, bytes]:
        name = draw(st.sampled_from(names))
        return f"truncated {name}", seeds[name][: draw(st.integers(0, len(seeds[name]) - 1))]

    random_bytes = st.binary(max_size=4096).map(lambda data: ("random", data))
    behind_magic = st.tuples(st.sampled_from(MAGIC), st.binary(max_size=4096)).map(lambda p: ("magic", p[0] + p[1]))
    return st.one_of(mutated(), mutated(), mutated(), truncated(), random_bytes, behind_magic)


# --- the child -----------------------------------------------------------------------------------


class Child:
    """A runner process; restarted after a crash or a hang, so one bad input cannot taint the next."""

    def __init__(
        self,
        var_dir: Path,
        *,
        cpu_seconds: float = CPU_SECONDS,
        wall_seconds: float = WALL_SECONDS,
        canaries: bool = False,
    ) -> None:
        self.var_dir = var_dir
        self.cpu_seconds, self.wall_seconds, self.canaries = cpu_seconds, wall_seconds, canaries
        self.log = var_dir / "child.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "VAR_DIR": str(self.var_dir), "DJANGO_SETTINGS_MODULE": "socialapp.settings"}
        command = [sys.executable, "-m", "tests.security.upload_fuzz_runner"]
        command += ["--address-space-mb", str(ADDRESS_SPACE_MB), "--cpu-seconds", str(self.cpu_seconds)]
        command += ["--canaries"] if self.canaries else []
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
            )
        self.starts += 1
        ready = self._line(proc, timeout=120)
        assert ready is not None and json.loads(ready)["ready"], self.log.read_text()[-2000:]
        return proc

    @staticmethod
    def _line(proc: subprocess.Popen[bytes], *, timeout: float) -> bytes | None:
        """One line from the child, or None if it died or said nothing within ``timeout`` seconds."""
        assert proc.stdout is not None
        deadline, line = time.monotonic() + timeout, b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                return None
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            line += chunk
        return line

    def check(self, data: bytes) -> dict[str, Any]:
        if self.proc is None:
            self.proc = self._start()
        proc = self.proc
        assert proc.stdin is not None
        started = time.monotonic()
        try:
            proc.stdin.write(len(data).to_bytes(4, "big") + data)
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died; the read below says how
        line = self._line(proc, timeout=self.wall_seconds)
        wall = time.monotonic() - started
        if line is not None:
            result: dict[str, Any] = json.loads(line)
            result["wall"] = wall
            if result["cpu"] > self.cpu_seconds:
                result.update(outcome="hang", reason=f"{result['cpu']:.1f} s of CPU")
            if result["outcome"] == "crash":
                self.stop()
            return result
        try:  # the pipe closed (it died: wait for its status) or the clock ran out (it is still going)
            code = proc.wait(timeout=5) if wall < self.wall_seconds else proc.poll()
        except subprocess.TimeoutExpired:
            code = None
        self.stop()
        if code is None:
            return {"outcome": "hang", "reason": f"no answer in {self.wall_seconds:g} s", "wall": wall}
        if code == -signal.SIGXCPU:
            return {"outcome": "hang", "reason": f"over {self.cpu_seconds:g} s of CPU (SIGXCPU)", "wall": wall}
        tail = self.log.read_text(errors="replace")[-1500:]
        return {"outcome": "crash", "error": f"child exited with {code}", "where": tail, "wall": wall}

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc = None


@dataclass
class Report:
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    accepted_kinds: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    max_cpu: float = 0.0
    max_wall: float = 0.0


def test_upload_validator_survives_fuzzing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = _seeds(tmp_path)
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    findings = tmp_path / "findings"
    findings.mkdir()
    child = Child(var_dir)
    report = Report()
    started = time.monotonic()

    @settings(
        max_examples=INPUTS,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # every input is counted once: no shrinking, no replay
        suppress_health_check=list(HealthCheck),
    )
    @given(_inputs(seeds))
    @example(("empty", b""))
    @example(("one byte", b"\xff"))
    @example(("seed jpeg", seeds["jpeg-exif-gps"]))
    @example(("seed mp4", seeds["mp4-h264-aac"]))
    def fuzz(labelled: tuple[str, bytes]) -> None:
        label, data = labelled
        result = child.check(data)
        report.outcomes[result["outcome"]] += 1
        report.max_cpu = max(report.max_cpu, result.get("cpu", 0.0))
        report.max_wall = max(report.max_wall, result["wall"])
        if result["outcome"] == "rejected":
            report.statuses[result["status"]] += 1
            report.reasons[result["detail"].partition(":")[0]] += 1
        elif result["outcome"] == "accepted":
            report.accepted_kinds[result["content_type"]] += 1
        else:
            kept = findings / f"{len(report.problems)}.bin"  # to reproduce it with
            kept.write_bytes(data)
            report.problems.append(f"{result['outcome']} on {label} ({len(data)} bytes, kept as {kept}): {result}")
        if result.get("leftovers"):
            report.problems.append(f"{label}: the upload temp dir kept {result['leftovers']}")

    try:
        fuzz()
    finally:
        child.stop()
    runtime = time.monotonic() - started

    with capsys.disabled():
        print(
            f"\nupload fuzz: {sum(report.outcomes.values())} inputs in {runtime:.1f} s: "
            f"{report.outcomes['accepted']} accepted {dict(report.accepted_kinds)}, "
            f"{report.outcomes['rejected']} rejected {dict(report.statuses)}, "
            f"{report.outcomes['crash']} crashes, {report.outcomes['hang']} hangs; "
            f"slowest input {report.max_cpu:.2f} s CPU / {report.max_wall:.2f} s wall; child started {child.starts}x"
        )
        for problem in report.problems[:10]:
            print(f"  {problem}")
    assert report.problems == []
    assert sum(report.outcomes.values()) >= INPUTS
    # The fuzz reached both sides of the validator, for photos and videos alike.
    assert report.outcomes["rejected"] > INPUTS // 4
    assert {"image/jpeg", "video/mp4"} <= set(report.accepted_kinds)


@pytest.mark.parametrize(
    ("canary", "outcome", "says"),
    [
        (b"raise", "crash", "KeyError"),
        (b"status-500", "crash", "unclear rejection"),
        (b"allocate", "crash", "MemoryError"),  # 64 GiB against the address-space limit
        (b"segfault", "crash", f"exited with {-signal.SIGSEGV}"),
        (b"spin", "hang", "SIGXCPU"),  # stopped by the kernel at the CPU limit
        (b"sleep", "hang", "no answer"),  # killed by the parent at the wall-clock limit
    ],
)
def test_the_harness_notices_crashes_and_hangs(tmp_path: Path, canary: bytes, outcome: str, says: str) -> None:
    """The fuzz's zero counts mean something: each way a validator can fail is reported as such, and the
    next input gets a working child again."""
    child = Child(tmp_path, cpu_seconds=1, wall_seconds=3, canaries=True)
    try:
        result = child.check(b"CANARY:" + canary)
        assert result["outcome"] == outcome, result
        assert says in json.dumps(result), result
        after = child.check(b"not an image")
        assert after["outcome"] == "rejected" and after["status"] == 400, after
    finally:
        child.stop()


def test_the_harness_notices_leftovers(tmp_path: Path) -> None:
    child = Child(tmp_path, canaries=True)
    try:
        assert child.check(b"CANARY:litter")["leftovers"] == ["left-behind"]
    finally:
        child.stop()


# --- what the fuzz found, kept -----------------------------------------------------------------------


def _unknown_codec_mp4(folder: Path) -> bytes:
    """A real MP4 whose video sample entry names a codec FFmpeg does not know ("avc1" → "zzzz"): PyAV gives
    that stream no codec context, and reading its codec name raised AttributeError (a 500)."""
    data = make_video(folder / "clip.mp4", seconds=0.5, fps=12, size=(64, 48)).read_bytes()
    entry = data.rindex(b"avc1")  # the sample entry in moov/trak/mdia/minf/stbl/stsd (the first is a brand)
    return data[:entry] + b"zzzz" + data[entry + 4 :]


def _strip_photo(width: int, fmt: str) -> bytes:
    """A photo few pixels in all but wider than any JPEG can be: it passed the pixel limit, decoded, and then the
    JPEG encoder raised OSError (a 500)."""
    return _save(Image.new("RGB", (width, 1), "teal"), fmt, **({"lossless": True} if fmt == "WEBP" else {}))


FINDINGS = [
    ("mp4-with-unknown-video-codec", "clip.mp4", _unknown_codec_mp4, "Videos encoded as 'unknown' are not accepted"),
    ("png-70000x1", "strip.png", lambda folder: _strip_photo(70_000, "PNG"), "at most 65500 pixels"),
    ("webp-16383x1-is-fine", "strip.webp", lambda folder: _strip_photo(16_383, "WEBP"), None),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "filename", "build", "sentence"), FINDINGS, ids=[f[0] for f in FINDINGS])
def test_fuzz_findings_through_the_api(
    tmp_path: Path, user_api: Any, media_root: Path, name: str, filename: str, build: Any, sentence: str | None
) -> None:
    """Each input the fuzz once crashed the validator with is a clean 400 through POST /api/posts/ now, with
    nothing stored (a control row shows a long strip within the limits is still taken)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from socialapp.models import Post

    response = user_api.post(
        "/api/posts/", {"media": SimpleUploadedFile(filename, build(tmp_path))}, format="multipart"
    )

    if sentence is None:
        assert response.status_code == 201, response.content
        return
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_media" and sentence in response.json()["detail"]
    assert not Post.objects.exists()
    assert [p for p in media_root.rglob("*") if p.is_file()] == []
