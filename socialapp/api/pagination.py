"""Cursor pages keyed on ``(created_at, id)``: each page is one index range scan, however deep."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from django.db.models import Model, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pages (``results``, ``next``, ``previous``): stable while new posts arrive.

    DRF's cursor keys on the first ordering field alone and skips ties with an offset, which grows
    with the number of rows sharing a timestamp (a bulk import) and is capped at 1,000. Here the
    position is the whole key, ``created_at`` and ``id``, so every position is unique (the offset
    stays 0) and a page is ``created_at <= t AND (created_at < t OR id < i)``: the first term bounds
    the scan of the ``created_at`` index, so the database starts at the cursor instead of counting
    its way to it. The cursor's text is opaque to clients either way.
    """

    ordering: tuple[str, ...] = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        """``?page_size=`` as documented (1 to ``max_page_size``), or a 400: DRF's own quietly falls back to the
        default for anything it cannot read, so a client's typo looked like a server that ignores it."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return cast(int, self.page_size)
        if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = cast(list[dict[str, Any]], super().get_schema_operation_parameters(view))
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1, "maximum": self.max_page_size}
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = "The pagination cursor value (from `next` or `previous`); 404 if invalid."
        return parameters

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        self.cursor = self.decode_cursor(request)
        offset, reverse = (self.cursor.offset, self.cursor.reverse) if self.cursor is not None else (0, False)
        # The decoded position is text, whatever DRF's type stubs say.
        position = cast(str | None, self.cursor.position if self.cursor is not None else None)

        ordering = [_reversed(field) for field in self.ordering] if reverse else list(self.ordering)
        queryset = queryset.order_by(*ordering)
        if position is not None:
            queryset = queryset.filter(self._after(position, descending=ordering[0].startswith("-")))

        rows = list(queryset[offset : offset + self.page_size + 1])
        self.page = rows[: self.page_size]
        following = self._get_position_from_instance(rows[-1], self.ordering) if len(rows) > self.page_size else None
        # The same bookkeeping as DRF's (which links to build), with the composite position.
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = position is not None or offset > 0, following is not None
            self.next_position, self.previous_position = position, following
        else:
            self.has_next, self.has_previous = following is not None, position is not None or offset > 0
            self.next_position, self.previous_position = following, position
        self.display_page_controls = (self.has_previous or self.has_next) and self.template is not None
        return self.page

    # Every position is unique, so the links need none of DRF's offset arithmetic for ties: the next
    # page starts after this page's last row, the previous one before its first.
    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        position = self._get_position_from_instance(self.page[-1], self.ordering) if self.page else self.next_position
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=cast(Any, position)))

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        position = (
            self._get_position_from_instance(self.page[0], self.ordering) if self.page else self.previous_position
        )
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=cast(Any, position)))

    def _get_position_from_instance(self, instance: Model | dict[str, Any], ordering: Any) -> str:
        time_field, id_field = (field.lstrip("-") for field in ordering[:2])
        if isinstance(instance, dict):
            created, pk = instance[time_field], instance[id_field]
        else:
            created, pk = getattr(instance, time_field), getattr(instance, id_field)
        return f"{created.isoformat()}|{pk}"

    def _after(self, position: str, *, descending: bool) -> Q:
        """Rows strictly past ``position`` in the scan's direction."""
        created, pk = _parse_position(position)
        time_field, id_field = (field.lstrip("-") for field in self.ordering[:2])
        # The redundant bound on the time alone is what lets the database seek in the time index;
        # the OR then drops the rows of the cursor's own timestamp up to and including its id.
        direction = "lt" if descending else "gt"
        return Q(**{f"{time_field}__{direction}e": created}) & (
            Q(**{f"{time_field}__{direction}": created}) | Q(**{f"{id_field}__{direction}": pk})
        )


class OldestFirstCursorPagination(NewestFirstCursorPagination):
    ordering: tuple[str, ...] = ("created_at", "id")


_DIGITS = re.compile(r"[0-9]{1,4}")  # ASCII only: int() would also take "٣" and " 3"


def _reversed(field: str) -> str:
    return field[1:] if field.startswith("-") else f"-{field}"


def cursor_time(text: str) -> dt.datetime | None:
    """A cursor's timestamp as an aware UTC datetime, or None when it is not one a row could have: unparsable,
    impossible (month 13), or so near year 1 or 9999 that its offset pushes it out of range (the database
    adapter's conversion raised OverflowError: a 500 on every list)."""
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            return None
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None


def _parse_position(position: str) -> tuple[dt.datetime, int]:
    created_text, _, pk_text = position.rpartition("|")
    created = cursor_time(created_text)
    # Ids are positive 63-bit integers; a longer digit string is no row's.
    if created is None or not pk_text.isdigit() or len(pk_text) > 18:
        raise NotFound(CursorPagination.invalid_cursor_message)
    return created, int(pk_text)
