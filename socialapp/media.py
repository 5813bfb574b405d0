"""Serving uploaded media when Django itself serves it (the embedded default).

Only the types the upload validator writes are served, each with its own content type,
``nosniff`` and a sandboxing CSP, so nothing user-uploaded is ever rendered as HTML or SVG.
Single byte ranges are honoured so HTML5 video can seek.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils._os import safe_join
from django.views.decorators.http import require_safe

# What the validator produces; any other file under MEDIA_ROOT is not ours to serve.
SERVED_TYPES = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}
_MAX_RANGE_BYTES = 8 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _harden(response: HttpResponseBase, content_type: str) -> HttpResponseBase:
    response["Content-Type"] = content_type
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "public, max-age=86400, immutable"
    response["Accept-Ranges"] = "bytes"
    return response


@require_safe
def serve_media(request: HttpRequest, path: str) -> HttpResponseBase:
    content_type = SERVED_TYPES.get(Path(path).suffix.lower())
    if content_type is None:
        raise Http404("Not a media file.")
    try:
        full_path = Path(safe_join(str(settings.MEDIA_ROOT), path))
    except Exception:  # SuspiciousFileOperation: a path that escapes MEDIA_ROOT
        raise Http404("Not a media file.") from None
    if not full_path.is_file():
        raise Http404("Not a media file.")
    size = full_path.stat().st_size

    match = _RANGE.match(request.headers.get("Range", ""))
    if match and (match.group(1) or match.group(2)):
        start_s, end_s = match.groups()
        if start_s:
            start, end = int(start_s), min(int(end_s) if end_s else size - 1, size - 1)
        else:  # a suffix range: the last N bytes
            start, end = max(size - int(end_s), 0), size - 1
        # Answer at most one chunk per request (video players ask again): memory stays bounded.
        end = min(end, start + _MAX_RANGE_BYTES - 1)
        if start > end or start >= size:
            response = _harden(HttpResponse(status=416), content_type)
            response["Content-Range"] = f"bytes */{size}"
            return response
        with full_path.open("rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        response = _harden(HttpResponse(body, status=206), content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        return response

    return _harden(FileResponse(full_path.open("rb")), content_type)


# Nothing else in the process should map our media suffixes differently.
for _suffix, _type in SERVED_TYPES.items():
    mimetypes.add_type(_type, _suffix)
