"""Admin: the review queues. Remix requests held by prompt moderation before they run, remixes held by output
moderation, and uploads hidden pending review.

Each queue lists only what waits for a decision, shows what the detector saw, and offers two actions
(approve, or reject and delete) that call ``remix.review``; nothing is added or edited here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from socialapp.models import Post, User

from .. import review
from ..models import HeldRemix, PostUnderReview, RemixJob


def _labels(moderation: dict[str, Any] | None) -> str:
    """What the detector saw, flagged detections first, each as "CLASS 0.87"."""
    moderation = moderation or {}
    if moderation.get("error"):
        return format_html("<strong>Check failed:</strong> {}", moderation["error"])
    matched = moderation.get("matched") or []
    others = [label for label in moderation.get("labels") or [] if label not in matched]
    if not matched and not others:
        return "Nothing detected" if moderation else "Not checked"
    rows = [(True, label) for label in matched] + [(False, label) for label in others]
    return format_html_join(
        ", ",
        "{}",
        (
            (
                format_html("<strong>{} {}</strong>", label.get("class"), f"{float(label.get('score', 0)):.2f}")
                if flagged
                else format_html("{} {}", label.get("class"), f"{float(label.get('score', 0)):.2f}"),
            )
            for flagged, label in rows
        ),
    )


def _moderator(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # the admin site lets staff users only in


class _ReviewQueueAdmin(admin.ModelAdmin):
    """Read-only: a queue is worked through its actions, which need the queue's own change permission (a
    staff account that may only view a queue cannot decide anything in it)."""

    def has_review_permission(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # "reject" deletes, with its notification and audit record

    def _report(self, request: HttpRequest, *, done: int, total: int, verb: str, noun: str) -> None:
        skipped = total - done
        note = f" {skipped} {'was' if skipped == 1 else 'were'} no longer waiting for review." if skipped else ""
        self.message_user(request, f"{verb} {done} {noun}.{note}", messages.SUCCESS if done else messages.WARNING)


@admin.register(HeldRemix)
class HeldRemixAdmin(_ReviewQueueAdmin):
    list_display = ["id", "stage", "thumbnail", "prompt_start", "requester", "post_link", "detected", "created_at"]
    list_display_links = ["id", "thumbnail"]
    list_filter = ["created_at"]
    search_fields = ["prompt", "requester__username", "post__author__username"]
    list_select_related = ["requester", "post", "post__author", "result"]
    ordering = ["created_at", "id"]  # oldest first: a queue
    actions = ["approve", "reject"]
    fields = ("stage", "image", "prompt", "meme_text", "requester", "post_link", "detected", "moderation", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RemixJob]:
        return super().get_queryset(request).filter(status=RemixJob.Status.HELD)

    def _image(self, job: RemixJob, height: int) -> str:
        result = getattr(job, "result", None)
        if result is None:
            return "–"
        return format_html(
            '<img src="{}" alt="held remix {}" height="{}" loading="lazy">', result.image.url, job.pk, height
        )

    @admin.display(description="Remix")
    def thumbnail(self, job: RemixJob) -> str:
        return self._image(job, 64)

    @admin.display(description="Remix")
    def image(self, job: RemixJob) -> str:
        return self._image(job, 384)

    @admin.display(description="Prompt")
    def prompt_start(self, job: RemixJob) -> str:
        return job.prompt[:80]

    @admin.display(description="Post")
    def post_link(self, job: RemixJob) -> str:
        return format_html('<a href="/p/{}/">post {} by @{}</a>', job.post_id, job.post_id, job.post.author.username)

    @admin.display(description="Held")
    def stage(self, job: RemixJob) -> str:
        if review.held_before_running(job):
            severe = (job.moderation or {}).get("category") == "minors"
            return format_html("{}before it ran (request)", format_html("<strong>SEVERE</strong> · ") if severe else "")
        return "after it ran (image)"

    @admin.display(description="Why")
    def detected(self, job: RemixJob) -> str:
        if review.held_before_running(job):
            moderation = job.moderation or {}
            score = moderation.get("score")
            return format_html(
                "{} · {} · {}{}",
                moderation.get("layer") or "–",
                moderation.get("category") or "no category",
                moderation.get("reason") or "",
                f" (score {float(score):.2f})" if score is not None else "",
            )
        reasons = job.moderation.get("reasons")
        nothing_found = not reasons if reasons is not None else not job.moderation.get("flagged")
        if job.moderation.get("hold_all") and nothing_found:
            return format_html("Every remix is held · {}", _labels(job.moderation))
        if set(job.moderation.get("reasons") or []) - {"nudity"}:
            return format_html("{} · {}", review._found(job.moderation), _labels(job.moderation))
        return _labels(job.moderation)

    @admin.action(description="Approve: run the selected requests, show the selected remixes", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[RemixJob]) -> None:
        jobs = list(queryset)
        done = sum(review.held_remix_approve(job=job, moderator=_moderator(request)) for job in jobs)
        self._report(request, done=done, total=len(jobs), verb="Approved", noun="held job(s)")

    @admin.action(description="Reject the selected requests and remixes (remixes are deleted)", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[RemixJob]) -> None:
        jobs = list(queryset)
        done = sum(review.held_remix_reject(job=job, moderator=_moderator(request)) for job in jobs)
        self._report(request, done=done, total=len(jobs), verb="Rejected", noun="held job(s)")


@admin.register(PostUnderReview)
class PostUnderReviewAdmin(_ReviewQueueAdmin):
    list_display = ["id", "thumbnail", "author", "media_type", "caption_start", "detected", "created_at"]
    list_display_links = ["id", "thumbnail"]
    list_filter = ["media_type", "created_at"]
    search_fields = ["caption", "author__username"]
    list_select_related = ["author"]
    ordering = ["created_at", "id"]  # oldest first: a queue
    actions = ["approve", "reject"]
    fields = ("poster_preview", "author", "media_type", "caption", "detected", "moderation", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Post]:
        return super().get_queryset(request).filter(review_state=Post.Review.PENDING)

    def _poster(self, post: Post, height: int) -> str:
        return format_html(
            '<img src="{}" alt="poster of post {}" height="{}" loading="lazy">', post.poster.url, post.pk, height
        )

    @admin.display(description="Poster")
    def thumbnail(self, post: Post) -> str:
        return self._poster(post, 64)

    @admin.display(description="Poster")
    def poster_preview(self, post: Post) -> str:
        return self._poster(post, 384)

    @admin.display(description="Caption")
    def caption_start(self, post: Post) -> str:
        return post.caption[:80]

    @admin.display(description="Detector")
    def detected(self, post: Post) -> str:
        return _labels(post.moderation)

    @admin.action(description="Approve: publish the selected posts", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        posts = list(queryset)
        done = sum(review.post_review_approve(post=post, moderator=_moderator(request)) for post in posts)
        self._report(request, done=done, total=len(posts), verb="Published", noun="post(s)")

    @admin.action(description="Reject (delete) the selected posts and their files", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        posts = list(queryset)
        done = sum(review.post_review_reject(post=post, moderator=_moderator(request)) for post in posts)
        self._report(request, done=done, total=len(posts), verb="Rejected and deleted", noun="post(s)")
