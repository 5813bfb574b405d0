"""Response hardening shared by every page and API answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

# Pages use only our own static files: no inline script, no CDN, nothing framed.
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """Adds a strict Content-Security-Policy unless the view set its own (media, API docs)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", _PAGE_POLICY)
        return response


V = TypeVar("V", bound=Callable[..., Any])

REQUEST_TOO_LARGE = "request_too_large"


def body_limit(max_bytes: int | Callable[[], int]) -> Callable[[V], V]:
    """Let a view take bodies up to ``max_bytes`` (a number, or a callable read per request so settings can change)
    instead of ``MAX_REQUEST_BODY_BYTES``. On a function view or an API view class."""

    def decorate(view: V) -> V:
        view.max_body_bytes = max_bytes  # type: ignore[attr-defined]
        return view

    return decorate


def declared_body_limit(view_func: Any) -> int | None:
    """The body limit a view declared with ``body_limit`` (or a ``max_body_bytes`` class attribute), else None. Takes
    a view function, or an API view instance (what DRF's parsers see)."""
    # A DRF or class-based view's as_view() function keeps its class as .cls / .view_class.
    owner = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    limit = getattr(view_func, "max_body_bytes", None) or getattr(owner, "max_body_bytes", None)
    if limit is None:
        return None
    return int(limit() if callable(limit) else limit)


def body_limit_of(view_func: Any) -> int:
    """The body limit that applies to a view: its own, else MAX_REQUEST_BODY_BYTES."""
    limit = declared_body_limit(view_func)
    return int(settings.MAX_REQUEST_BODY_BYTES) if limit is None else limit


class RequestBodyLimitMiddleware:
    """A body over the view's limit is refused with 413 ``request_too_large`` from its declared length, before a
    byte of it is read (DRF's parsers read a whole body into memory, whatever Django's upload limits say).

    A WSGI body without a Content-Length is never read (Django treats it as empty), so the declared length
    bounds what any view can read. Runs before the session, CSRF and DRF touch the body.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0  # Django reads such a body as empty
        limit = body_limit_of(view_func)
        if declared <= limit:
            return None
        logger.info("refused a %d-byte body to %s (limit %d)", declared, request.path, limit)
        detail = f"The request body is too large (the limit here is {_size(limit)})."
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"code": REQUEST_TOO_LARGE, "detail": detail}, status=413)
        else:
            response = render(request, "413.html", {"detail": detail}, status=413)
        return response


def _size(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} KB"


class ServerHeaderMiddleware:
    """No software versions in the answer: development servers name themselves and Python's version in ``Server``
    when the application has not set one (gunicorn and nginx are told not to)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response["Server"] = "remix"
        return response


class ServiceUnavailableMiddleware:
    """A database that cannot be reached is a 503 with a code, not a 500 with a stack trace."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception)
            response = JsonResponse(
                {"code": "service_unavailable", "detail": "The database is unavailable; try again shortly."},
                status=503,
            )
            response["Retry-After"] = "5"
            return response
        return None
