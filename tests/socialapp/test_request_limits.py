"""Request bodies are bounded before they are read, and JSON nesting is bounded (the pen test's finding 2; the served
stack replays it over the network in tests/security/test_served_stack.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from socialapp.api.parsers import BoundedJSONParser
from tests.factories import jpeg_upload

pytestmark = pytest.mark.django_db


def test_an_api_body_over_the_limit_is_413_from_its_declared_length(settings: Any) -> None:
    settings.MAX_REQUEST_BODY_BYTES = 1000
    body = b'{"username": "' + b"a" * 2000 + b'", "password": "x"}'
    response = Client().post("/api/auth/token/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "code": "request_too_large",
        "detail": "The request body is too large (the limit here is 1 KB).",
    }


def test_a_page_body_over_the_limit_is_a_413_page(settings: Any) -> None:
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = Client().post("/login/", {"username": "x" * 2000, "password": "y"})
    assert response.status_code == 413 and "too large" in response.content.decode()


def test_upload_views_take_their_own_larger_limit(settings: Any, user_api: APIClient) -> None:
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = user_api.post("/api/posts/", {"media": jpeg_upload(size=(200, 200))}, format="multipart")
    assert response.status_code == 201


def test_the_parser_never_reads_past_the_limit(settings: Any) -> None:
    """A body whose length was not declared (or lied about) is still read only up to the limit."""
    settings.MAX_REQUEST_BODY_BYTES = 100

    class Counting(io.BytesIO):
        read_sizes: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            self.read_sizes.append(-1 if size is None else size)
            return super().read(size)

    stream = Counting(b"[" + b"1," * 10_000 + b"1]")
    with pytest.raises(Exception) as refused:
        BoundedJSONParser().parse(stream, "application/json", {})
    assert getattr(refused.value, "status_code", None) == 413
    assert stream.read_sizes == [101]


@pytest.mark.parametrize("depth", [33, 5000, 200_000])
def test_json_nested_past_the_limit_is_a_400_not_a_500(api: APIClient, depth: int) -> None:
    body = b"[" * depth + b"]" * depth if depth < 10_000 else b"[" * depth
    response = api.generic("POST", "/api/auth/token/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "too_deeply_nested"


def test_json_within_the_depth_limit_is_parsed(api: APIClient) -> None:
    nested: Any = "x"
    for _ in range(31):
        nested = [nested]
    response = api.post("/api/auth/token/", {"username": nested, "password": "p"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"  # a field error, not a depth one
