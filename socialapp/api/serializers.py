"""Serializers: input validation and output shape only; writes happen in ``socialapp.services``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Comment, Post, User


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = serializers.CharField(write_only=True, min_length=8, max_length=128, style={"input_type": "password"})
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class RegisteredSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


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
    display_name = serializers.CharField(source="profile.display_name", max_length=80, allow_blank=True, required=False)
    bio = serializers.CharField(source="profile.bio", max_length=500, allow_blank=True, required=False)

    class Meta:
        model = User
        fields = ["id", "username", "email", "display_name", "bio", "date_joined"]
        read_only_fields = ["id", "username", "email", "date_joined"]


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


class PostSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    media_url = serializers.SerializerMethodField()
    poster_url = serializers.SerializerMethodField()

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
            "comment_count",
            "created_at",
        ]
        read_only_fields = fields

    def get_media_url(self, post: Post) -> str:
        return _absolute(self.context.get("request"), post.media.url)

    def get_poster_url(self, post: Post) -> str:
        return _absolute(self.context.get("request"), post.poster.url)


class PostCreateSerializer(serializers.Serializer):
    media = serializers.FileField(allow_empty_file=True, use_url=False)
    caption = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")
    allow_remix = serializers.BooleanField(required=False, allow_null=True, default=None)


class PostUpdateSerializer(serializers.Serializer):
    caption = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    allow_remix = serializers.BooleanField(required=False)


class CommentSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    remix = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "post", "author", "text", "kind", "created_at", "remix"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_remix(self, comment: Comment) -> dict[str, Any] | None:
        # Text comments carry no remix; the remix feature attaches image comments.
        return None


class CommentCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000, trim_whitespace=True)
