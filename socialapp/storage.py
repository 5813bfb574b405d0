"""Media storage whose URLs always lead through the app's media gate.

``GatedStorage`` wraps the configured storage (the local filesystem, or S3 through django-storages, or any
other) and keeps every operation of it except ``url``: a file's URL is ``MEDIA_URL + name``, served by
``socialapp.media.serve_media``, which checks that the viewer may see the object the file belongs to before
it hands the file out (streamed, by X-Accel-Redirect, or by a redirect to the inner storage's own short-lived
signed URL, ``signed_url``). So no template, serializer or admin page can publish a storage URL that skips
the visibility rules, whatever the backend.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import Storage
from django.utils.deconstruct import deconstructible
from django.utils.encoding import filepath_to_uri
from django.utils.module_loading import import_string


@deconstructible
class GatedStorage(Storage):
    def __init__(
        self, backend: str = "django.core.files.storage.FileSystemStorage", options: dict[str, Any] | None = None
    ) -> None:
        self.inner: Storage = import_string(backend)(**(options or {}))

    # --- the gate ------------------------------------------------------------------------------------------

    def url(self, name: str | None) -> str:
        return f"{settings.MEDIA_URL.rstrip('/')}/{filepath_to_uri(name or '')}"

    def signed_url(self, name: str) -> str:
        """The inner storage's own URL: for S3 with ``querystring_auth``, a presigned one that expires."""
        return self.inner.url(name)

    def is_local(self) -> bool:
        try:
            self.inner.path("")
        except NotImplementedError:
            return False
        return True

    # --- everything else is the inner storage's ------------------------------------------------------------

    def _open(self, name: str, mode: str = "rb") -> File:
        return self.inner.open(name, mode)

    def save(self, name: str | None, content: IO[Any], max_length: int | None = None) -> str:
        return self.inner.save(name, content, max_length=max_length)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return self.inner.get_available_name(name, max_length=max_length)

    def get_valid_name(self, name: str) -> str:
        return self.inner.get_valid_name(name)

    def generate_filename(self, filename: str | os.PathLike[str]) -> str:
        return self.inner.generate_filename(filename)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        return self.inner.listdir(path)

    def size(self, name: str) -> int:
        return self.inner.size(name)

    def path(self, name: str) -> str:
        return self.inner.path(name)

    def get_modified_time(self, name: str) -> datetime:
        return self.inner.get_modified_time(name)

    def get_created_time(self, name: str) -> datetime:
        return self.inner.get_created_time(name)

    def get_accessed_time(self, name: str) -> datetime:
        return self.inner.get_accessed_time(name)
