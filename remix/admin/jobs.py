"""Admin for moderators: remix jobs (status, timings, parameters, errors), creators' consent and its ledger."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from socialapp.models import User

from .. import jobs
from ..models import ConsentChange, CreatorSettings, RemixJob, RemixResult


def _moderator(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # the admin site lets signed-in staff only in
    return request.user


class RemixResultInline(admin.StackedInline):
    model = RemixResult
    can_delete = False
    extra = 0
    readonly_fields = ["preview", "comment", "image", "width", "height", "created_at"]
    fields = ("preview", "comment", "image", "width", "height", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Image")
    def preview(self, result: RemixResult) -> str:
        return format_html('<img src="{}" alt="remix of job {}" height="240">', result.image.url, result.job_id)


@admin.register(RemixJob)
class RemixJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "post",
        "requester",
        "prompt_start",
        "progress",
        "attempts",
        "created_at",
        "model_seconds",
        "outside_model_ms",
    ]
    list_filter = ["status", "error_code", "created_at"]
    search_fields = ["prompt", "requester__username", "post__author__username", "error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["post", "requester"]
    inlines = [RemixResultInline]
    actions = ["cancel_jobs", "rerun_jobs"]
    readonly_fields = [
        "post",
        "requester",
        "status",
        "prompt",
        "meme_text",
        "frame_time",
        "seed",
        "params",
        "client_request_id",
        "progress",
        "error_code",
        "error_detail",
        "model_id",
        "model_revision",
        "created_at",
        "enqueued_at",
        "started_at",
        "finished_at",
        "model_seconds",
        "stage_timings",
        "attempts",
        "claim_token",
        "claimed_by",
        "lease_expires_at",
    ]
    fieldsets = [
        (None, {"fields": ["post", "requester", "status", "progress", "prompt", "meme_text", "frame_time"]}),
        ("Error", {"fields": ["error_code", "error_detail"]}),
        ("Model and parameters", {"fields": ["model_id", "model_revision", "seed", "params"]}),
        (
            "Timings",
            {"fields": ["created_at", "enqueued_at", "started_at", "finished_at", "model_seconds", "stage_timings"]},
        ),
        ("Delivery", {"fields": ["attempts", "claim_token", "claimed_by", "lease_expires_at", "client_request_id"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the row is the job's truth: only the worker and the actions below change it

    @admin.display(description="Prompt")
    def prompt_start(self, job: RemixJob) -> str:
        return job.prompt[:60]

    @admin.display(description="Outside model ms")
    def outside_model_ms(self, job: RemixJob) -> str:
        value = (job.timings or {}).get("outside_model")
        return f"{value:.0f}" if isinstance(value, int | float) else "–"

    @admin.display(description="Worker stages")
    def stage_timings(self, job: RemixJob) -> SafeString | str:
        """The delivery's milliseconds per stage (``remix.jobs.STAGES``, in order, any other key after them) and the
        batch it ran in, each batch-mate linked."""
        timings = dict(job.timings or {})
        batch = timings.pop("batch", None)
        batch_size = timings.pop("batch_size", None)
        stages = [name for name in jobs.STAGES if name in timings]
        stages += sorted(name for name, value in timings.items() if name not in jobs.STAGES)
        if not stages:
            return "–"
        total = timings.get("total")
        rows = []
        for name in stages:
            value = timings[name]
            if not isinstance(value, int | float):
                continue
            share = (
                f"{100 * value / total:.0f}%"
                if isinstance(total, int | float) and total > 0 and name not in ("total", "outside_model")
                else ""
            )
            rows.append((jobs.STAGES.get(name, ""), name, f"{value:,.1f}", share))
        table = format_html_join("", '<tr><th title="{}">{}</th><td class="nowrap">{}</td><td>{}</td></tr>', rows)
        caption = ""
        if batch:
            links = format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                ((reverse("admin:remix_remixjob_change", args=[pk]), pk) for pk in batch if isinstance(pk, int)),
            )
            caption = format_html("<caption>ran in a batch of {}: jobs {}</caption>", batch_size or len(batch), links)
        return format_html(
            "<table>{}<thead><tr><th>stage</th><th>ms</th><th>of total</th></tr></thead><tbody>{}</tbody></table>",
            caption,
            table,
        )

    # Each action needs its own permission (Django admin hides an action, and refuses it, without): a staff
    # account that may only view jobs can neither stop nor start one.
    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("remix.change_remixjob")

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("remix.add_remixjob")

    @admin.action(description="Cancel the selected queued or running jobs", permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[RemixJob]) -> None:
        moderator = _moderator(request)
        cancelled = sum(
            jobs.remix_job_cancel_by_moderator(job=job, moderator=moderator)
            for job in queryset.select_related("requester")
        )
        self.message_user(request, f"Cancelled {cancelled} job(s).", messages.SUCCESS)

    @admin.action(
        description="Re-run the selected jobs (new jobs with the same parameters, if their requester may still ask)",
        permissions=["rerun"],
    )
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet[RemixJob]) -> None:
        created, refused = 0, 0
        moderator = _moderator(request)
        for job in queryset.select_related("post", "requester"):
            try:
                jobs.remix_job_rerun(job=job, moderator=moderator)
                created += 1
            except (
                jobs.RemixNotAllowed,
                jobs.RemixRequestInvalid,
                jobs.PromptRejected,
                jobs.AccountTooNew,
                jobs.RateLimited,
                jobs.QueueFull,
            ):
                refused += 1
        self.message_user(
            request, f"Queued {created} new job(s); {refused} refused (consent, moderation, input or quota)."
        )


@admin.register(CreatorSettings)
class CreatorSettingsAdmin(admin.ModelAdmin):
    list_display = ["user", "allow_remix", "audience", "new_posts_allow_remix", "updated_at"]
    list_filter = ["allow_remix", "audience", "new_posts_allow_remix"]
    search_fields = ["user__username"]
    readonly_fields = ["user", "allow_remix", "audience", "new_posts_allow_remix", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # consent is the creator's to give; admins read it here

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConsentChange)
class ConsentChangeAdmin(admin.ModelAdmin):
    """The append-only consent ledger: readable, filterable, never editable."""

    list_display = ["created_at", "creator", "actor", "field", "post_ref", "old_value", "new_value", "cancelled_jobs"]
    list_filter = ["field", "created_at"]
    search_fields = ["creator__username", "actor__username"]
    date_hierarchy = "created_at"
    list_select_related = ["creator", "actor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
