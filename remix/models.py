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
    protect_face = models.BooleanField(
        default=False, help_text="Faces in my posts are restored from the original in every remix."
    )
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
        PROTECT_FACE = "protect_face", "Account: protect my face"
        BLOCKED = "blocked", "Blocked a user from remixing"
        UNBLOCKED = "unblocked", "Unblocked a user"
        REMOVED_ALL = "removed_all", "Turned off and removed all remixes"

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
    # Milliseconds per worker stage (claim, load_source, fit, model, faces, finish, moderation, provenance,
    # attach, …) of the delivery that finished the job, and the batch it ran in.
    timings = models.JSONField(default=dict, blank=True)
    # Delivery bookkeeping: how many times a worker claimed it, and until when the claim holds.
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True)
    # Which worker holds the claim ("host:pid:process start:thread", see remix.worker.holder_id): a redelivered
    # message on the same host takes over at once when that process is gone, instead of waiting for the lease.
    claimed_by = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Output moderation: what the detector saw on the finished image ({"flagged", "labels", ...}),
    # and, for a held job, the moderator who resolved it.
    moderation = models.JSONField(default=dict, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # Set when a moderator took the remix down after a report (its comment and files are gone).
    taken_down_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A retried request is recognised per post: the same key on another post is another request.
            models.UniqueConstraint(
                fields=["requester", "post", "client_request_id"],
                condition=Q(client_request_id__isnull=False),
                name="remix_job_idempotency_key_per_post",
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


class HeldRemix(RemixJob):
    """The admin's review queue of held jobs: requests held before they run, remixes held by output moderation."""

    class Meta:
        proxy = True
        verbose_name = "held remix (review queue)"
        verbose_name_plural = "held remixes (review queue)"


class PostUnderReview(Post):
    """The admin's review queue of uploads hidden by upload moderation (posts pending review)."""

    class Meta:
        proxy = True
        verbose_name = "post under review"
        verbose_name_plural = "posts under review (review queue)"


class RemixResult(models.Model):
    """The edited image of a succeeded job and the comment that shows it; one per job, ever."""

    job = models.OneToOneField(RemixJob, on_delete=models.CASCADE, related_name="result")
    comment = models.OneToOneField(Comment, on_delete=models.CASCADE, related_name="remix_result")
    # Indexed: the media gate finds the remix a requested file belongs to.
    image = models.FileField(upload_to="remixes/", max_length=200, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"result of job {self.job_id}"


class RemixBlock(models.Model):
    """``creator`` does not allow ``blocked`` to remix any of their content (whatever else they allow)."""

    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remix_blocks")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["creator", "blocked"], name="remix_block_once"),
            models.CheckConstraint(condition=~Q(creator=models.F("blocked")), name="remix_block_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.creator_id} blocks {self.blocked_id} from remixing"


class ModerationRule(models.Model):
    """One entry of a prompt rule set, edited by admins.

    ``pattern`` is one or more words matched as whole words after normalisation (case, accents,
    look-alike letters, leetspeak, spacing); a trailing ``*`` on a word matches any ending. A ``hold``
    rule sends the request to a moderator instead of refusing it (words that are abuse in some company
    and harmless in other: an age under 18). An ``allow`` rule is an exception: text it covers is not
    matched by the block or hold rules of its category (``blood orange`` for ``blood``).
    """

    class Category(models.TextChoices):
        SEXUAL = "sexual", "Sexual content and nudity"
        MINORS = "minors", "Minors"
        REAL_PERSONS = "real_persons", "Real or public persons"
        VIOLENCE = "violence", "Violence and gore"
        HATE = "hate", "Hate symbols and slurs"
        SELF_HARM = "self_harm", "Self-harm"
        HARASSMENT = "harassment", "Harassment, threats and humiliation"

    class Kind(models.TextChoices):
        BLOCK = "block", "Block"
        HOLD = "hold", "Hold for review"
        ALLOW = "allow", "Allow (exception)"

    category = models.CharField(max_length=20, choices=Category.choices)
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.BLOCK)
    pattern = models.CharField(max_length=200)
    # The language of a lexicon entry ("es", "hi-Latn"; blank: any). Every active rule applies to every text
    # (language identification of a six-word prompt is a guess); the language organises the lists.
    language = models.CharField(max_length=10, blank=True, db_index=True)
    note = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "kind", "pattern"]
        constraints = [models.UniqueConstraint(fields=["category", "kind", "pattern"], name="moderation_rule_once")]

    def __str__(self) -> str:
        return f"{self.category} {self.kind}: {self.pattern}"


class RemixReport(models.Model):
    """Someone reported a remix. Kept (with the refs) after a takedown removed the remix itself."""

    class Reason(models.TextChoices):
        SEXUAL = "sexual", "Sexual or nude content"
        MINOR = "minor", "Involves a minor"
        REAL_PERSON = "real_person", "Shows me or a real person without consent"
        HARASSMENT = "harassment", "Harassment or bullying"
        VIOLENCE = "violence", "Violence or gore"
        HATE = "hate", "Hate speech or symbols"
        SELF_HARM = "self_harm", "Self-harm"
        SPAM = "spam", "Spam or misleading"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Dismissed"
        TAKEN_DOWN = "taken_down", "Taken down"

    job = models.ForeignKey(RemixJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports")
    job_ref = models.PositiveBigIntegerField()
    comment_ref = models.PositiveBigIntegerField(null=True, blank=True)
    post_ref = models.PositiveBigIntegerField(null=True, blank=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    text = models.TextField(max_length=1000, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job_ref", "reporter"], condition=Q(status="open"), name="remix_report_open_once"
            )
        ]

    def __str__(self) -> str:
        return f"report {self.pk} on remix job {self.job_ref} ({self.status})"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: object) -> int:
        raise AuditLogIsAppendOnly

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly


class AuditLogIsAppendOnly(Exception):
    pass


class AuditEvent(models.Model):
    """The append-only audit log: consent changes, moderation decisions, reports, takedowns.

    No foreign keys on purpose: deleting a user, post or job must neither cascade into the log nor
    rewrite it (SET_NULL is an UPDATE), so subjects are kept as ids and names. Rows are never updated
    or deleted: the model and its queryset refuse, and a database trigger refuses UPDATE.
    """

    class Action(models.TextChoices):
        CONSENT_CHANGED = "consent.changed", "Consent changed"
        PROMPT_ALLOWED = "prompt.allowed", "Prompt allowed"
        PROMPT_REJECTED = "prompt.rejected", "Prompt rejected"
        PROMPT_HELD = "prompt.held", "Request held for review before it runs"
        PROMPT_APPROVED = "prompt.approved", "Held request approved (queued)"
        PROMPT_DISALLOWED = "prompt.disallowed", "Held request rejected by a moderator"
        UPLOAD_PASSED = "upload.passed", "Upload passed"
        UPLOAD_FLAGGED = "upload.flagged", "Upload flagged (hidden)"
        UPLOAD_APPROVED = "upload.approved", "Upload approved"
        UPLOAD_REJECTED = "upload.rejected", "Upload rejected (removed)"
        OUTPUT_PASSED = "output.passed", "Remix passed"
        OUTPUT_HELD = "output.held", "Remix held for review"
        OUTPUT_APPROVED = "output.approved", "Held remix approved"
        OUTPUT_REJECTED = "output.rejected", "Held remix rejected"
        REPORT_FILED = "report.filed", "Report filed"
        REPORT_DISMISSED = "report.dismissed", "Report dismissed"
        TAKEDOWN = "takedown", "Remix taken down"
        REMIX_DELETED = "remix.deleted", "Remix deleted (by its requester, the creator or an admin)"
        REMIXES_REMOVED_ALL = "remixes.removed_all", "Creator turned off and removed all remixes"
        USER_BLOCKED = "user.blocked", "User blocked from remixing"
        USER_UNBLOCKED = "user.unblocked", "User unblocked"
        RULE_CHANGED = "rule.changed", "Moderation rule changed"
        JOB_CANCELLED = "job.cancelled", "Remix job cancelled by a moderator"
        JOB_RERUN = "job.rerun", "Remix job re-run by a moderator"
        USER_DEACTIVATED = "user.deactivated", "Account deactivated"
        USER_REACTIVATED = "user.reactivated", "Account reactivated"
        USER_DELETED = "user.deleted", "Account deleted"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=30, choices=Action.choices, db_index=True)
    # Who did it (null: the system, e.g. the worker's detector) and whom it concerns.
    actor_ref = models.PositiveBigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    subject_ref = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    subject_name = models.CharField(max_length=150, blank=True)
    # What it concerns; a moderation category where there is one.
    post_ref = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    job_ref = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    comment_ref = models.PositiveBigIntegerField(null=True, blank=True)
    category = models.CharField(max_length=20, blank=True, db_index=True)
    # Severe: anything touching minors (a refused or held request, a report). The admin lists these first.
    severe = models.BooleanField(default=False, db_index=True)
    summary = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action}: {self.summary}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly
