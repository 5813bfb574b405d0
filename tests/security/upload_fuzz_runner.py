"""The child side of ``test_upload_fuzz``: validates uploads read from stdin, one at a time, under limits.

Run as ``python -m tests.security.upload_fuzz_runner --address-space-mb N --cpu-seconds M``. The child
limits itself with ``setrlimit`` once Django and the media libraries are loaded: its address space (an input
that makes the validator allocate without bound fails with MemoryError instead of taking the machine), the
size of any file it writes, no core files, and, before each input, its CPU time to what it has used so far
plus the per-input allowance, so an input that spins is stopped by the kernel (SIGXCPU) even inside C code
that never returns to Python. The parent adds the wall-clock limit (it kills a child that does not answer).

Protocol: the parent writes a 4-byte big-endian length and that many bytes; the child answers one JSON line
``{"outcome": "accepted" | "rejected" | "crash", ...}`` with the CPU seconds the input took and whether the
validator left anything in its temporary directory. A line ``{"ready": true}`` comes first.

``--canaries`` (the harness's own test only) makes inputs starting with ``CANARY:`` misbehave on purpose,
so the parent can show it notices every way an input can go wrong.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO

# The media types the validator writes, by the first bytes of the file.
_MAGIC = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "video/mp4": None,
    "video/webm": b"\x1a\x45\xdf\xa3",
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _check_output(media: Any) -> str | None:
    """Why the accepted media is not what the validator promises, or None."""
    for path in (media.media_path, media.poster_path):
        if not path.is_file() or path.stat().st_size == 0:
            return f"missing or empty output {path.name}"
    if media.content_type not in _MAGIC:
        return f"unexpected content type {media.content_type}"
    magic = _MAGIC[media.content_type]
    head = media.media_path.read_bytes()[:16]
    if (magic is not None and not head.startswith(magic)) or (magic is None and head[4:8] != b"ftyp"):
        return f"{media.content_type} output starts with {head!r}"
    if not media.poster_path.read_bytes().startswith(b"\xff\xd8\xff"):
        return "the poster is not a JPEG"
    if media.width < 1 or media.height < 1:
        return f"size {media.width}x{media.height}"
    return None


def validate(data: bytes) -> dict[str, Any]:
    """Run the real validator on ``data``: accepted, rejected with its own stable code, or a crash."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from socialapp.uploads import MediaRejected, validated_upload

    upload = SimpleUploadedFile("upload", data, content_type="application/octet-stream")
    try:
        with validated_upload(upload) as media:
            problem = _check_output(media)
            if problem is not None:
                return {"outcome": "crash", "error": f"accepted, but {problem}"}
            return {"outcome": "accepted", "media_type": media.media_type, "content_type": media.content_type}
    except MediaRejected as exc:
        if exc.code == "invalid_media" and exc.status in (400, 413) and exc.detail.strip():
            return {"outcome": "rejected", "status": exc.status, "detail": exc.detail}
        return {"outcome": "crash", "error": f"unclear rejection {exc.code!r} {exc.status} {exc.detail!r}"}
    except Exception as exc:  # everything else is what this fuzzer looks for
        frames = traceback.extract_tb(exc.__traceback__)[-4:]
        where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))
        return {"outcome": "crash", "error": f"{type(exc).__name__}: {str(exc)[:300]}", "where": where}


def _canary(name: bytes, data: bytes) -> dict[str, Any]:
    """Run ``validate`` with the validator swapped for one that misbehaves as named, as a bug would."""
    from django.conf import settings

    from socialapp import uploads

    def misbehave(upload: Any) -> Any:
        if name == b"raise":
            raise KeyError("a parser bug")
        if name == b"status-500":
            raise uploads.MediaRejected("Something broke.", status=500)
        if name == b"spin":
            while True:
                pass
        if name == b"sleep":
            time.sleep(3600)
        if name == b"allocate":
            return bytearray(64 * 1024**3)
        if name == b"segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if name == b"litter":
            (Path(settings.FILE_UPLOAD_TEMP_DIR) / "left-behind").touch()
            raise uploads.MediaRejected("Not a photo.")
        raise ValueError(name)

    real = uploads.validated_upload
    uploads.validated_upload = misbehave
    try:
        return validate(data)
    finally:
        uploads.validated_upload = real


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address-space-mb", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=float, required=True, help="CPU time allowed per input")
    parser.add_argument("--file-size-mb", type=int, default=512)
    parser.add_argument("--canaries", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialapp.settings")
    import django

    django.setup()
    from django.conf import settings

    import socialapp.uploads  # noqa: F401  (loads Pillow and PyAV before the limits)

    address_space = args.address_space_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    file_size = args.file_size_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    temp_dir = Path(settings.FILE_UPLOAD_TEMP_DIR)

    stdin, stdout = sys.stdin.buffer, sys.stdout
    print(json.dumps({"ready": True, "pid": os.getpid()}), file=stdout, flush=True)
    while True:
        header = _read_exactly(stdin, 4)
        if header is None:
            return
        data = _read_exactly(stdin, int.from_bytes(header, "big"))
        if data is None:
            return
        before = _cpu_seconds()
        soft = math.ceil(before + args.cpu_seconds)
        resource.setrlimit(
            resource.RLIMIT_CPU, (soft if cpu_hard == resource.RLIM_INFINITY else min(soft, cpu_hard), cpu_hard)
        )
        if args.canaries and data.startswith(b"CANARY:"):
            result = _canary(data.removeprefix(b"CANARY:"), data)
        else:
            result = validate(data)
        result["cpu"] = round(_cpu_seconds() - before, 4)
        result["leftovers"] = sorted(p.name for p in temp_dir.iterdir()) if temp_dir.is_dir() else []
        print(json.dumps(result), file=stdout, flush=True)


if __name__ == "__main__":
    main()
