"""Django admin for moderators: users, posts (with posters), comments and follows.

Every write goes through the same services as the site (``socialapp.services``): deactivating or deleting an
account, a post's remix toggle (its consent ledger and cancelled jobs), deleting posts, comments and follows
(an unfollow narrows a "following" audience). Nothing here saves a model row by itself.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from . import services
from .models import Comment, Follow, Post, Profile, User


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    readonly_fields = ["updated_at"]


@admin.register(User)
class RemixUserAdmin(UserAdmin):
    inlines = [ProfileInline]
    list_display = ["username", "email", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["username", "email", "profile__display_name"]
    readonly_fields = ["date_joined", "last_login"]

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool) -> None:
        wanted = obj.is_active
        activity_changed = change and "is_active" in form.changed_data
        if activity_changed:
            obj.is_active = not wanted  # the service makes that change, with its effects
        super().save_model(request, obj, form, change)
        if activity_changed:
            services.user_set_active(user=obj, active=wanted, actor=_staff(request))

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.user_remove(user=obj, actor=_staff(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.user_remove(user=user, actor=_staff(request))


def _staff(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # the admin site lets signed-in staff only in
    return request.user


def _poster(post: Post, height: int) -> str:
    if not post.poster:
        return "—"
    return format_html(
        '<img src="{}" alt="poster of post {}" height="{}" loading="lazy">', post.poster.url, post.pk, height
    )


class PostAdminForm(forms.ModelForm):
    class Meta:
        model = Post
        fields = ["caption", "allow_remix"]

    def clean_allow_remix(self) -> bool:
        value = bool(self.cleaned_data.get("allow_remix"))
        if value and self.instance.pk and not self.instance.allow_remix:
            # Consent is the creator's to give: a moderator may turn remixes of a post off, never on.
            raise forms.ValidationError("Only the post's creator can allow AI remixes of it.")
        return value


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    form = PostAdminForm
    list_display = [
        "id",
        "thumbnail",
        "author",
        "media_type",
        "caption_start",
        "duration",
        "comment_count",
        "created_at",
    ]
    list_display_links = ["id", "thumbnail"]
    list_filter = ["media_type", "allow_remix", "created_at"]
    search_fields = ["caption", "author__username"]
    date_hierarchy = "created_at"
    list_select_related = ["author"]
    raw_id_fields = ["author"]
    readonly_fields = [
        "poster_preview",
        "author",
        "media_type",
        "media",
        "poster",
        "media_content_type",
        "duration",
        "width",
        "height",
        "video_codec",
        "size_bytes",
        "comment_count",
        "created_at",
        "updated_at",
    ]
    fields = ["poster_preview", "author", "caption", "allow_remix", *readonly_fields[2:]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Posts come only through the upload validator (browser or API), never raw admin files.
        return False

    @admin.display(description="Poster")
    def thumbnail(self, post: Post) -> str:
        return _poster(post, 48)

    @admin.display(description="Poster")
    def poster_preview(self, post: Post) -> str:
        return _poster(post, 240)

    @admin.display(description="Caption")
    def caption_start(self, post: Post) -> str:
        return post.caption[:60]

    def save_model(self, request: HttpRequest, obj: Post, form: forms.ModelForm, change: bool) -> None:
        changed = set(form.changed_data)
        current = Post.objects.get(pk=obj.pk)  # the row as it is: the service changes it
        services.post_change(
            post=current,
            actor=_staff(request),
            caption=obj.caption if "caption" in changed else None,
            allow_remix=obj.allow_remix if "allow_remix" in changed else None,
        )

    def delete_model(self, request: HttpRequest, obj: Post) -> None:
        services.post_remove(post=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            services.post_remove(post=post)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["id", "post", "author", "kind", "text_start", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["text", "author__username"]
    date_hierarchy = "created_at"
    list_select_related = ["author", "post"]
    raw_id_fields = ["post", "author"]
    # Moderators delete comments (through the service); they do not rewrite what people said.
    readonly_fields = ["post", "author", "kind", "text", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Text")
    def text_start(self, comment: Comment) -> str:
        return comment.text[:80]

    def delete_model(self, request: HttpRequest, obj: Comment) -> None:
        services.comment_remove(comment=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Comment]) -> None:
        for comment in queryset.select_related("post"):
            services.comment_remove(comment=comment)


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["id", "follower", "followee", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["follower__username", "followee__username"]
    list_select_related = ["follower", "followee"]
    raw_id_fields = ["follower", "followee"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["follower", "followee", "created_at"] if obj else ["created_at"]

    def save_model(self, request: HttpRequest, obj: Follow, form: forms.ModelForm, change: bool) -> None:
        if not change:
            services.follow(follower=obj.follower, followee=obj.followee)
            obj.pk = Follow.objects.get(follower=obj.follower, followee=obj.followee).pk

    def delete_model(self, request: HttpRequest, obj: Follow) -> None:
        services.unfollow(follower=obj.follower, followee=obj.followee)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Follow]) -> None:
        for follow in queryset.select_related("follower", "followee"):
            services.unfollow(follower=follow.follower, followee=follow.followee)
