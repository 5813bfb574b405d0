"""The API's JSON parser: bounded in size and in nesting.

DRF's ``JSONParser`` reads the whole body into memory and hands it to ``json.load``; a body nested thousands
deep makes the decoder recurse until Python's limit (a ``RecursionError``, a 500). The middleware already refuses
a body whose declared length is over the view's limit (``socialapp.middleware``); this parser never reads more
than that limit either, and refuses nesting past ``MAX_JSON_DEPTH`` with a stable code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

from ..middleware import REQUEST_TOO_LARGE, body_limit_of


class TooDeeplyNested(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "too_deeply_nested"


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = REQUEST_TOO_LARGE


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` deep (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = body_limit_of((parser_context or {}).get("view"))
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The request body is too large (the limit here is {limit} bytes).")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        max_depth = int(settings.MAX_JSON_DEPTH)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except RecursionError:
            raise TooDeeplyNested(f"The JSON body is nested too deeply (at most {max_depth} levels).") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if _depth_exceeds(data, max_depth):
            raise TooDeeplyNested(f"The JSON body is nested too deeply (at most {max_depth} levels).")
        return data


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (DRF's own parser refuses them too, with strict mode).
    raise ValueError(f"{name} is not valid JSON")
