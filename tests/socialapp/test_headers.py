"""Security headers on pages and API answers (the production-only ones are checked by check --deploy)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/login/", "/signup/", "/api/posts/", "/api/docs/", "/healthz"])
def test_security_headers(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def test_database_down_is_503_with_code(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    from socialapp import selectors

    def down(**kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "post_list_visible_to", down)
    response = client.get("/api/posts/")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
