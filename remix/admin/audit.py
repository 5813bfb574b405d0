"""Admin: the append-only audit log, filterable, exportable as CSV (selected rows, or all that match).

Nobody adds, changes or deletes an event here: the log is written only by ``remix.audit.record``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from ..models import AuditEvent

# The export's columns, in a fixed order (header → how to read it off an event).
CSV_COLUMNS: list[tuple[str, Any]] = [
    ("id", lambda e: e.pk),
    ("created_at", lambda e: e.created_at.isoformat()),
    ("action", lambda e: e.action),
    ("action_label", lambda e: e.get_action_display()),
    ("actor_ref", lambda e: e.actor_ref),
    ("actor_name", lambda e: e.actor_name),
    ("subject_ref", lambda e: e.subject_ref),
    ("subject_name", lambda e: e.subject_name),
    ("post_ref", lambda e: e.post_ref),
    ("job_ref", lambda e: e.job_ref),
    ("comment_ref", lambda e: e.comment_ref),
    ("category", lambda e: e.category),
    ("severe", lambda e: "yes" if e.severe else ""),
    ("summary", lambda e: e.summary),
    ("detail", lambda e: json.dumps(e.detail, sort_keys=True, ensure_ascii=False)),
]

# A cell a spreadsheet would read as a formula (OWASP "CSV injection"): shown as text instead.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class _Echo:
    """csv.writer's file: hands each written line straight back, so rows stream as they are made."""

    def write(self, value: str) -> str:
        return value


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in CSV_COLUMNS])
    for event in events:
        yield writer.writerow([csv_cell(read(event)) for _, read in CSV_COLUMNS])


def csv_response(events: QuerySet[AuditEvent]) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(csv_lines(events.iterator(chunk_size=2000)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor_name", "subject_name", "category", "severe", "summary", "refs"]
    list_filter = ["severe", "action", "category", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["summary", "actor_name", "subject_name"]
    date_hierarchy = "created_at"
    actions = ["export_csv"]
    change_list_template = "admin/remix/auditevent/change_list.html"
    readonly_fields = [
        "created_at",
        "action",
        "actor_ref",
        "actor_name",
        "subject_ref",
        "subject_name",
        "post_ref",
        "job_ref",
        "comment_ref",
        "category",
        "severe",
        "summary",
        "detail",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Refs")
    def refs(self, event: AuditEvent) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (("post", event.post_ref), ("job", event.job_ref), ("comment", event.comment_ref))
            if value is not None
        ]
        return ", ".join(parts) or "—"

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> StreamingHttpResponse:
        return csv_response(queryset.order_by("-created_at", "-id"))

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_all_view),
            name="remix_auditevent_export",
        )
        return [export, *super().get_urls()]

    def export_all_view(self, request: HttpRequest) -> HttpResponseBase:
        """Every event the changelist shows with the same query string (filters, search, date drill-down)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Those filters do not apply to the audit log.")
        return csv_response(changelist.get_queryset(request).order_by("-created_at", "-id"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        query = request.GET.urlencode()
        export_url = reverse("admin:remix_auditevent_export") + (f"?{query}" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "export_url": export_url})
