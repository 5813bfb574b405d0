"""The social core's data: users and profiles, follows, posts and comments.

Rules live in ``services.py`` (writes) and ``selectors.py`` (reads); models hold data,
constraints and the small properties that describe a row.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class User(AbstractUser):
    """The account. Custom from the first migration so it can grow without a data migration."""

    # When the password last changed (any path: sign-up, the settings page, admin, ``changepassword``, a reset):
    # API tokens issued before it are refused (socialapp.auth), as Django refuses sessions made before it.
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()


class Profile(models.Model):
    """What a user shows the world; created with the user by ``services.user_register``."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=80, blank=True)
    bio = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user.username}"


class Follow(models.Model):
    """``follower`` follows ``followee``; at most once, never oneself."""

    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_once"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="follow_not_self"),
        ]
        indexes = [models.Index(fields=["followee", "created_at"])]

    def __str__(self) -> str:
        return f"{self.follower_id} → {self.followee_id}"


def _media_path(instance: Post, filename: str) -> str:
    # The file name is chosen by services.post_create (a random token), never by the uploader.
    return f"posts/{filename}"


class Post(models.Model):
    """A video or a photo with a caption. Media files are written only after validation."""

    class MediaType(models.TextChoices):
        VIDEO = "video", "Video"
        IMAGE = "image", "Photo"

    author = models.ForeignKey(User, on_delete=models.CASCADE, related_name="posts")
    media_type = models.CharField(max_length=5, choices=MediaType.choices)
    # Indexed: the media gate finds the post a requested file belongs to (socialapp.media).
    media = models.FileField(upload_to=_media_path, max_length=200, db_index=True)
    # For a video, a real frame extracted with PyAV; for a photo, the photo itself (re-encoded).
    poster = models.FileField(upload_to=_media_path, max_length=200, db_index=True)
    media_content_type = models.CharField(max_length=40)
    caption = models.TextField(max_length=2000, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds; videos only.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    video_codec = models.CharField(max_length=20, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    # What the upload's own metadata said about its origin (C2PA or IPTC AI source type): the "AI info" label.
    # Only this is kept of the upload's metadata; the file itself is re-encoded and its manifest dropped.
    ai_info = models.JSONField(null=True, blank=True)
    # The creator's per-post remix consent; the remix feature reads it through its policy.
    allow_remix = models.BooleanField(default=False)

    # Upload moderation (the remix feature's detector, through extensions.review_upload): a flagged
    # post is hidden from everyone but its author and staff until a moderator approves it.
    class Review(models.TextChoices):
        PUBLISHED = "published", "Published"
        PENDING = "pending", "Hidden pending review"

    review_state = models.CharField(max_length=10, choices=Review.choices, default=Review.PUBLISHED, db_index=True)
    # What the upload detector saw ({"flagged": bool, "labels": [{class, score, box}], ...}); null = not checked.
    moderation = models.JSONField(null=True, blank=True)
    # Text comments, kept in step by services.comment_create / comment_remove so the feed needs no
    # COUNT per post (remixes are counted by the remix feature, which knows which are visible).
    comment_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["author", "-created_at"])]

    def __str__(self) -> str:
        return f"post {self.pk} by {self.author_id}"


class Comment(models.Model):
    """A comment under a post, shown oldest first."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        # An AI remix attached by the remix feature; its image and job live in remix.RemixResult.
        REMIX = "remix", "AI remix"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(User, on_delete=models.CASCADE, related_name="comments")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["post", "created_at"])]

    def __str__(self) -> str:
        return f"comment {self.pk} on post {self.post_id}"


class Notification(models.Model):
    """Something that happened to a user's content, shown in their in-app list until read."""

    class Kind(models.TextChoices):
        REMIXED = "remixed", "Post remixed"
        REMIX_TAKEN_DOWN = "remix_taken_down", "Remix taken down"
        REMIX_REJECTED = "remix_rejected", "Remix rejected by a moderator"
        REMIX_REMOVED = "remix_removed", "Remix removed by the creator"
        POST_HELD = "post_held", "Post held for review"
        POST_APPROVED = "post_approved", "Post approved"
        POST_REJECTED = "post_rejected", "Post removed by a moderator"

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    actor = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}"
