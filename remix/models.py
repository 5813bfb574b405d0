"""The remix feature's data: creators' consent, its ledger, jobs (the source of truth) and results."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from socialapp.models import Comment, Post


class CreatorSettings(models.Model):
    """A creator's account-level remix consent. Missing row = the site defaults (opt-in: off)."""

    class Audience(models.TextChoices):
        EVERYONE = "everyone", "Everyone"
        FOLLOWING = "following", "Only accounts I follow"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remix_settings")
    allow_remix = models.BooleanField(help_text="Master switch: may anyone remix my content at all?")
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.EVERYONE)
    new_posts_allow_remix = models.BooleanField(default=False, help_text="The remix toggle new uploads start with.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "creator remix settings"
        verbose_name_plural = "creator remix settings"

    def __str__(self) -> str:
        return f"remix settings of {self.user_id}"


class ConsentChange(models.Model):
    """One change of consent, append-only: who changed what, from what to what, when."""

    class Field(models.TextChoices):
        ALLOW_REMIX = "allow_remix", "Account: allow remixes"
        AUDIENCE = "audience", "Account: audience"
        NEW_POSTS_ALLOW_REMIX = "new_posts_allow_remix", "Account: default for new posts"
        POST_ALLOW_REMIX = "post.allow_remix", "Post: allow remixes"
        ALL_POSTS_ALLOW_REMIX = "posts.allow_remix", "All posts: allow remixes"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consent_changes")
    # The post (for per-post changes); its id is kept even after the post is deleted.
    post = models.ForeignKey(Post, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    post_ref = models.PositiveBigIntegerField(null=True, blank=True)
    field = models.CharField(max_length=30, choices=Field.choices)
    old_value = models.CharField(max_length=20)
    new_value = models.CharField(max_length=20)
    cancelled_jobs = models.PositiveIntegerField(default=0, help_text="Jobs this change cancelled.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value} → {self.new_value}"


class RemixJob(models.Model):
    """One requested remix. The row, not the broker message, is the source of truth."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"
        HELD = "held", "Held for review"

    TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.REJECTED})
    ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="remix_jobs")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remix_jobs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    prompt = models.CharField(max_length=500)
    meme_text = models.CharField(max_length=200, blank=True)
    frame_time = models.FloatField(null=True, blank=True, help_text="Seconds into the video; null = poster frame.")
    seed = models.BigIntegerField()
    params = models.JSONField(default=dict, blank=True, help_text="What the pipeline was given.")
    client_request_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (NULL = none given; unique only when set)
    progress = models.FloatField(default=0.0)
    error_code = models.CharField(max_length=40, blank=True)
    error_detail = models.CharField(max_length=500, blank=True)
    model_id = models.CharField(max_length=300, blank=True)
    model_revision = models.CharField(max_length=100, blank=True)
    # Timings: queued (created_at), started, finished, and the pipeline's own wall time.
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    model_seconds = models.FloatField(null=True, blank=True)
    # Delivery bookkeeping: how many times a worker claimed it, and until when the claim holds.
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["requester", "client_request_id"],
                condition=Q(client_request_id__isnull=False),
                name="remix_job_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="remix_job_progress_0_1"),
        ]
        indexes = [
            models.Index(fields=["requester", "created_at"]),
            models.Index(fields=["post", "status"]),
        ]

    def __str__(self) -> str:
        return f"remix job {self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def error(self) -> dict[str, str] | None:
        return {"code": self.error_code, "detail": self.error_detail} if self.error_code else None


class RemixResult(models.Model):
    """The edited image of a succeeded job and the comment that shows it; one per job, ever."""

    job = models.OneToOneField(RemixJob, on_delete=models.CASCADE, related_name="result")
    comment = models.OneToOneField(Comment, on_delete=models.CASCADE, related_name="remix_result")
    image = models.FileField(upload_to="remixes/", max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"result of job {self.job_id}"
