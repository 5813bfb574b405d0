"""The media gate: every uploaded or generated file is handed out here, and only to whom may see it.

Every media URL points here (``socialapp.storage.GatedStorage``). A request for a file is answered only when
the object the file belongs to is visible to the caller now, by the same rules as the pages and the API:
``selectors.media_visible_to`` (a post's files follow ``post_list_visible_to``; a remix image follows its
comment, through the remix feature). Anything else, a file no object owns included, is a 404 that reads like
a missing file. The check runs on every request, so a post held for review, a remix hidden because consent
went off or a takedown is a 404 from that moment on, and back when it changes back.

Answers are ``Cache-Control: private, no-cache`` with an ``ETag``: browsers keep the bytes but ask again each
time (a ``304`` after the check), and no shared cache keeps a copy that could outlive a revocation.

How the file goes out once allowed (``MEDIA_DELIVERY``): ``django`` streams it (the embedded default, single
byte ranges honoured so HTML5 video can seek), ``accel`` answers ``X-Accel-Redirect`` for nginx (``make serve``)
to send it from an internal location, ``redirect`` answers a 302 to the storage's own short-lived signed URL
(S3 with ``querystring_auth``). Only the types the upload validator and the worker write are served, each with
its own content type, ``nosniff`` and a sandboxing CSP, so nothing is ever rendered as HTML or SVG.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.encoding import filepath_to_uri
from django.utils.http import quote_etag
from django.views.decorators.http import require_safe

from . import selectors

# What the validator and the worker produce; any other file is not ours to serve.
SERVED_TYPES = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}
_MAX_RANGE_BYTES = 8 * 1024 * 1024
# Byte positions of at most 18 digits: a longer number is no file's offset (and int() of thousands of digits
# is refused by Python, which made a 500).
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")
CACHE_CONTROL = "private, no-cache"


def _harden(response: HttpResponseBase, content_type: str) -> HttpResponseBase:
    response["Content-Type"] = content_type
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = CACHE_CONTROL
    response["Accept-Ranges"] = "bytes"
    response["Vary"] = "Cookie, Authorization"
    return response


def _stored_name(path: str) -> str | None:
    """The storage name a URL path names, or None for anything that could escape the media root."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("", ".", "..") for part in path.split("/")) or "\\" in path:
        return None
    return str(pure)


@require_safe
def serve_media(request: HttpRequest, path: str) -> HttpResponseBase:
    content_type = SERVED_TYPES.get(PurePosixPath(path).suffix.lower())
    name = _stored_name(path)
    if content_type is None or name is None:
        raise Http404("Not a media file.")
    if not selectors.media_visible_to(name=name, user=request.user):
        raise Http404("Not a media file.")
    delivery = settings.MEDIA_DELIVERY
    if delivery == "redirect":
        # No look at the file here (a request to S3 each): the signed URL answers 404 for a missing one.
        response: HttpResponseBase = HttpResponseRedirect(default_storage.signed_url(name))  # type: ignore[attr-defined]
        response["Cache-Control"] = "private, no-store"
        return response
    if delivery == "accel":
        # nginx sends the file from its internal location: it answers Range, ETag and If-None-Match itself.
        response = _harden(HttpResponse(), content_type)
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_PREFIX + filepath_to_uri(name)
        return response
    return _stream(request, name, content_type)


def _stream(request: HttpRequest, name: str, content_type: str) -> HttpResponseBase:
    """The file itself (MEDIA_DELIVERY=django), with an ETag (a 304 when the browser has it) and byte ranges."""
    try:
        size = default_storage.size(name)
        modified = default_storage.get_modified_time(name)
    except (OSError, NotImplementedError, SuspiciousFileOperation):
        raise Http404("Not a media file.") from None
    etag = quote_etag(hashlib.sha256(f"{name}:{size}:{modified.timestamp()}".encode()).hexdigest()[:32])
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        not_modified = _harden(HttpResponse(status=304), content_type)
        not_modified["ETag"] = etag
        return not_modified
    response = _stream_bytes(request, name, size, content_type)
    response["ETag"] = etag
    return response


def _stream_bytes(request: HttpRequest, name: str, size: int, content_type: str) -> HttpResponseBase:
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
        with default_storage.open(name, "rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        response = _harden(HttpResponse(body, status=206), content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        return response
    return _harden(FileResponse(default_storage.open(name, "rb")), content_type)


# Nothing else in the process should map our media suffixes differently.
for _suffix, _type in SERVED_TYPES.items():
    mimetypes.add_type(_type, _suffix)
