"""Serializers: input validation and output shape only; writes happen in ``socialapp.services``."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import extensions
from ..models import Comment, Notification, Post, User
from .fields import StrictBooleanField, StrictCharField


class RegisterSerializer(serializers.Serializer):
    # Not trimmed: the validator refuses spaces anyway, and the schema's pattern then says what is checked.
    username = StrictCharField(max_length=150, trim_whitespace=False, validators=[UnicodeUsernameValidator()])
    # A password is taken as typed: DRF trims text fields by default, so "  my phrase " was stored as
    # "my phrase" and the same password then failed on the sign-in page (Django's forms do not trim it).
    password = StrictCharField(
        write_only=True, min_length=8, max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class RegisteredSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class AuthorSerializer(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]

    def get_display_name(self, user: User) -> str:
        profile = getattr(user, "profile", None)
        return (profile.display_name if profile else "") or user.username


class MeSerializer(serializers.ModelSerializer):
    display_name = StrictCharField(source="profile.display_name", max_length=80, allow_blank=True, required=False)
    bio = StrictCharField(source="profile.bio", max_length=500, allow_blank=True, required=False)
    unread_notifications = serializers.SerializerMethodField(help_text="How many notifications are unread.")

    class Meta:
        model = User
        fields = ["id", "username", "email", "display_name", "bio", "date_joined", "unread_notifications"]
        read_only_fields = ["id", "username", "email", "date_joined", "unread_notifications"]

    def get_unread_notifications(self, user: User) -> int:
        # One indexed COUNT (recipient, read_at).
        return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


class UserProfileSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="profile.display_name", read_only=True)
    bio = serializers.CharField(source="profile.bio", read_only=True)
    followers_count = serializers.IntegerField(read_only=True)
    following_count = serializers.IntegerField(read_only=True)
    posts_count = serializers.IntegerField(read_only=True)
    is_following = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "bio",
            "followers_count",
            "following_count",
            "posts_count",
            "is_following",
        ]

    def get_is_following(self, user: User) -> bool:
        return bool(getattr(user, "viewer_follows", False))


class FollowStateSerializer(serializers.Serializer):
    username = serializers.CharField()
    following = serializers.BooleanField()


def _absolute(request: Any, url: str) -> str:
    return request.build_absolute_uri(url) if request is not None else url


class _ExtendedListSerializer(serializers.ListSerializer):
    """Asks the feature extension for a whole page's extra fields at once (no query per item)."""

    def to_representation(self, data: Any) -> list[Any]:
        items = list(data.all() if hasattr(data, "all") else data)
        self.child.context["extension_states"] = self.child.extension_states(items)  # type: ignore[union-attr,index]
        return super().to_representation(items)


class PostSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    media_url = serializers.SerializerMethodField()
    poster_url = serializers.SerializerMethodField()
    remix_allowed = serializers.SerializerMethodField(help_text="May the caller remix this post now?")
    remix_denied_reason = serializers.SerializerMethodField(
        help_text="Why not: account_disabled, post_disabled, blocked, audience or login_required; null when allowed."
    )
    remix_count = serializers.SerializerMethodField(help_text="Remixes shown under the post.")
    ai_label = serializers.SerializerMethodField(
        help_text='"AI info" when the upload\'s own C2PA or IPTC metadata says it was made with AI; else null.'
    )

    class Meta:
        model = Post
        fields = [
            "id",
            "author",
            "caption",
            "media_type",
            "media_url",
            "poster_url",
            "duration",
            "width",
            "height",
            "allow_remix",
            "remix_allowed",
            "remix_denied_reason",
            "remix_count",
            "ai_label",
            "ai_info",
            "comment_count",
            "review_state",
            "created_at",
        ]
        read_only_fields = fields
        list_serializer_class = _ExtendedListSerializer

    def extension_states(self, posts: list[Post]) -> dict[int, dict[str, Any]]:
        extension = extensions.get()
        request = self.context.get("request")
        viewer = request.user if request is not None else AnonymousUser()
        return extension.post_states(posts, viewer=viewer) if extension is not None else {}

    def _state(self, post: Post) -> dict[str, Any]:
        # A page's states come from the list serializer; a single post's are asked for once and kept,
        # not once per remix field.
        states = cast(dict[str, Any], self.context).setdefault("extension_states", {})
        if post.pk not in states:
            states.update(self.extension_states([post]) or {post.pk: {}})
        return states.get(post.pk, {})

    def get_remix_allowed(self, post: Post) -> bool:
        return bool(self._state(post).get("remix_allowed", False))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_remix_denied_reason(self, post: Post) -> str | None:
        return self._state(post).get("remix_denied_reason", "account_disabled")

    def get_remix_count(self, post: Post) -> int:
        return int(self._state(post).get("remix_count", 0))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_ai_label(self, post: Post) -> str | None:
        return "AI info" if post.ai_info else None

    def get_media_url(self, post: Post) -> str:
        return _absolute(self.context.get("request"), post.media.url)

    def get_poster_url(self, post: Post) -> str:
        return _absolute(self.context.get("request"), post.poster.url)


class PostCreateSerializer(serializers.Serializer):
    media = serializers.FileField(allow_empty_file=True, use_url=False)
    caption = StrictCharField(max_length=2000, allow_blank=True, required=False, default="")
    allow_remix = StrictBooleanField(required=False, allow_null=True, default=None)


class PostUpdateSerializer(serializers.Serializer):
    caption = StrictCharField(max_length=2000, allow_blank=True, required=False)
    allow_remix = StrictBooleanField(required=False)


class RemixPayloadSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    image_url = serializers.URLField()
    ai_label = serializers.CharField(help_text='Always "AI-generated".')
    credentials_url = serializers.CharField(allow_null=True)
    prompt = serializers.CharField()
    source_post = serializers.IntegerField()
    frame_time = serializers.FloatField(allow_null=True)


class _CommentListSerializer(serializers.ListSerializer):
    def to_representation(self, data: Any) -> list[Any]:
        items = list(data.all() if hasattr(data, "all") else data)
        self.child.context["remix_payloads"] = self.child.remix_payloads(items)  # type: ignore[union-attr,index]
        return super().to_representation(items)


class CommentSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    remix = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "post", "author", "text", "kind", "created_at", "remix"]
        read_only_fields = fields
        list_serializer_class = _CommentListSerializer

    def remix_payloads(self, comments: list[Comment]) -> dict[int, dict[str, Any]]:
        extension = extensions.get()
        remixes = [c for c in comments if c.kind == Comment.Kind.REMIX]
        if extension is None or not remixes:
            return {}
        return extension.comment_payloads(remixes, request=self.context.get("request"))

    @extend_schema_field(RemixPayloadSerializer(allow_null=True))
    def get_remix(self, comment: Comment) -> dict[str, Any] | None:
        if comment.kind != Comment.Kind.REMIX:
            return None
        payloads = self.context.get("remix_payloads")
        if payloads is None or comment.pk not in payloads:
            payloads = self.remix_payloads([comment])
        return payloads.get(comment.pk)


class CommentCreateSerializer(serializers.Serializer):
    text = StrictCharField(max_length=2000, trim_whitespace=True)


class NotificationSerializer(serializers.ModelSerializer):
    actor = AuthorSerializer(read_only=True, allow_null=True, help_text="Who did it; null: the site (a moderator).")
    post = serializers.IntegerField(source="post_id", allow_null=True, read_only=True)
    comment = serializers.IntegerField(source="comment_id", allow_null=True, read_only=True)
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "actor", "post", "comment", "created_at", "read", "read_at"]
        read_only_fields = fields

    def get_read(self, note: Notification) -> bool:
        return note.read_at is not None


class NotificationsMarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications changed from unread to read.")
    unread_notifications = serializers.IntegerField()
