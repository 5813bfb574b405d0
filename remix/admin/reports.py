"""Admin: reports of remixes (open ones first) and their two outcomes, dismiss or take down.

A takedown goes through ``remix.reports.remix_takedown``: the comment, the result and every stored
file go, the requester is told, and the audit log records which files and how fast they were gone.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.db.models.expressions import Combinable
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from socialapp.models import User

from .. import reports as desk
from ..models import RemixReport

# The report's page: everything is read-only (the actions are the only way to resolve a report).
SHOWN = (
    "preview",
    "status",
    "reason",
    "text",
    "reporter",
    "created_at",
    "job_link",
    "prompt",
    "requester",
    "post_link",
    "comment_ref",
    "resolved_at",
    "resolved_by",
)


@admin.register(RemixReport)
class RemixReportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "status",
        "reason",
        "thumbnail",
        "prompt",
        "requester",
        "post_link",
        "reporter",
        "text_start",
    ]
    list_display_links = ["id", "created_at"]
    list_filter = ["status", "reason", "created_at"]
    search_fields = ["text", "reporter__username", "job__prompt", "job__requester__username"]
    date_hierarchy = "created_at"
    actions = ["take_down", "dismiss"]
    readonly_fields = SHOWN
    fields = SHOWN

    def get_queryset(self, request: HttpRequest) -> QuerySet[RemixReport]:
        return (
            super()
            .get_queryset(request)
            .select_related("reporter", "resolved_by", "job__requester", "job__post__author", "job__result")
        )

    def get_ordering(self, request: HttpRequest) -> list[str | Combinable]:
        # The queue: open reports first, then the rest; newest first within each.
        open_first = Case(
            When(status=RemixReport.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        return [open_first.asc(), "-created_at", "-id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # reports come from people, through the site or the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # resolved only by the actions below, which audit what they do

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # kept, with their refs, after the remix itself is gone

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("remix.change_remixreport")

    # --- columns ---------------------------------------------------------------------------------

    def _image(self, report: RemixReport, height: int) -> str:
        result = getattr(report.job, "result", None) if report.job is not None else None
        if result is None:
            return "—"
        return format_html(
            '<img src="{}" alt="remix of job {}" height="{}" loading="lazy">', result.image.url, report.job_ref, height
        )

    @admin.display(description="Remix")
    def thumbnail(self, report: RemixReport) -> str:
        return self._image(report, 64)

    @admin.display(description="Remix")
    def preview(self, report: RemixReport) -> str:
        return self._image(report, 320)

    @admin.display(description="Prompt")
    def prompt(self, report: RemixReport) -> str:
        return report.job.prompt[:80] if report.job is not None else "—"

    @admin.display(description="Requester")
    def requester(self, report: RemixReport) -> str:
        return report.job.requester.get_username() if report.job is not None else "—"

    @admin.display(description="Post")
    def post_link(self, report: RemixReport) -> str:
        if report.post_ref is None:
            return "—"
        author = report.job.post.author.get_username() if report.job is not None else "?"
        return format_html('<a href="{}">post {} by @{}</a>', f"/p/{report.post_ref}/", report.post_ref, author)

    @admin.display(description="Job")
    def job_link(self, report: RemixReport) -> str:
        if report.job is None:
            return f"job {report.job_ref} (deleted)"
        url = reverse("admin:remix_remixjob_change", args=[report.job_ref])
        state = " — taken down" if report.job.taken_down_at else ""
        return format_html('<a href="{}">job {}</a>{}', url, report.job_ref, state)

    @admin.display(description="Text")
    def text_start(self, report: RemixReport) -> str:
        return report.text[:80]

    # --- actions ---------------------------------------------------------------------------------

    @admin.action(description="Take down the remix", permissions=["moderate"])
    def take_down(self, request: HttpRequest, queryset: QuerySet[RemixReport]) -> TemplateResponse | None:
        """Asks first (with a reason the requester is told), then takes each reported remix down once."""
        chosen = list(queryset)
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Take down the reported remixes?",
                "opts": self.model._meta,
                "reports": chosen,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "default_reason": chosen[0].get_reason_display() if chosen else "",
                "media": self.media,
            }
            return TemplateResponse(request, "admin/remix/remixreport/takedown_confirm.html", context)

        moderator = request.user
        assert isinstance(moderator, User)
        reason = request.POST.get("reason_text", "").strip()[:300]
        done: list[desk.Takedown] = []
        skipped = 0
        seen: set[int] = set()
        for report in chosen:
            if report.job is None or report.job_ref in seen:
                skipped += report.job is None
                continue
            seen.add(report.job_ref)
            done.append(
                desk.remix_takedown(
                    job=report.job,
                    moderator=moderator,
                    reason_text=reason or report.get_reason_display(),
                    report=report,
                )
            )
        for takedown in done:
            seconds = f"{takedown.seconds:.3f} s" if takedown.seconds is not None else "pending"
            level = messages.SUCCESS if takedown.files_gone is not False else messages.ERROR
            files = (
                f"{len(takedown.paths)} file(s) deleted" if takedown.files_gone is not False else "files NOT all gone"
            )
            self.message_user(
                request,
                f"Remix job {takedown.job.pk} taken down: {files}, gone {seconds} after the takedown began; "
                f"{takedown.reports_resolved} report(s) resolved.",
                level,
            )
        if skipped:
            self.message_user(request, f"{skipped} report(s) skipped: their remix job no longer exists.")
        return None

    @admin.action(description="Dismiss", permissions=["moderate"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[RemixReport]) -> None:
        moderator = request.user
        assert isinstance(moderator, User)
        dismissed = 0
        for report in queryset.filter(status=RemixReport.Status.OPEN):
            dismissed += desk.report_dismiss(report=report, moderator=moderator).status == "dismissed"
        self.message_user(request, f"Dismissed {dismissed} open report(s).", messages.SUCCESS)
