"""Every API error is ``{"code": ..., "detail": ...}`` with a stable code and a sentence.

Validation errors add ``errors`` (field → messages). Unexpected exceptions still become a
500 from Django, but nothing a client can cause should reach that path.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorSerializer(serializers.Serializer):
    """The shape of every error answer (for the OpenAPI schema)."""

    code = serializers.CharField()
    detail = serializers.CharField()


class ApiError(exceptions.APIException):
    """An error with a stable code chosen by the view: ``raise ApiError("invalid_media", "...", 400)``."""

    def __init__(self, code: str, detail: str, status_code: int = status.HTTP_400_BAD_REQUEST, **extra: Any) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.code = code
        self.extra = extra


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApiError):
        answer = Response({"code": exc.code, "detail": str(exc.detail), **exc.extra}, status=exc.status_code)
        if "retry_after" in exc.extra:  # the body says it for people, the header for HTTP clients
            answer["Retry-After"] = str(exc.extra["retry_after"])
        return answer
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    # A class of ours names its own code (too_deeply_nested, request_too_large); DRF's get one from the table.
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None) or str(
        getattr(exc, "default_code", "error")
    )
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        field, messages = next(iter(errors.items()), ("non_field_errors", ["Invalid input."]))
        message = str(messages[0] if isinstance(messages, list) and messages else messages)
        detail = message if field == "non_field_errors" else f"{field}: {message}"
        response.data = {"code": code, "detail": detail, "errors": errors}
    else:
        response.data = {"code": code, "detail": str(getattr(exc, "detail", exc))}
    return response
