"""``/healthz``: 200 when the database and the broker answer, else 503 saying which is down."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .celery import app as celery_app


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the detail goes to the answer
        return f"down: {exc.__class__.__name__}"
    return "ok"


def _broker() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"down: {exc.__class__.__name__}"
    return "ok"


def service_checks() -> dict[str, str]:
    """``{"database": "ok" | "down: <why>", "broker": ...}``."""
    return {"database": _database(), "broker": _broker()}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = service_checks()
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)
