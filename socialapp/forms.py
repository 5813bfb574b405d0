"""Forms of the browser pages: they check shape (lengths, required fields); services apply the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from .models import Comment, Post, Profile


class _PageForm(forms.Form):
    """Shared look: CSS hooks for required and invalid fields."""

    required_css_class = "field--required"
    error_css_class = "field--error"


class SignupForm(_PageForm):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Up to 150 characters: letters, digits and @ . + - _ only.",
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false", "autofocus": True}
        ),
    )
    email = forms.EmailField(
        required=False,
        help_text="Never shown on your page.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        strip=False,
        help_text="At least 8 characters; not too common, not all digits, not like your username.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_confirm = forms.CharField(
        label="Confirm password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password_confirm") and data["password"] != data["password_confirm"]:
            self.add_error("password_confirm", "The two passwords don't match.")
        return data


class ProfileForm(_PageForm):
    display_name = forms.CharField(
        max_length=Profile._meta.get_field("display_name").max_length,
        required=False,
        help_text="Shown instead of your username. Leave empty to show your username.",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    bio = forms.CharField(
        max_length=Profile._meta.get_field("bio").max_length,
        required=False,
        help_text="A line or two about you, shown on your page.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class UploadForm(_PageForm):
    # Not "media": that name is taken by Form.media (the widgets' CSS/JS assets).
    file = forms.FileField(
        label="Video or photo",
        help_text="An MP4, MOV or WebM video, or a JPEG, PNG or WebP photo.",
        widget=forms.FileInput(attrs={"accept": "video/*,image/*"}),
    )
    caption = forms.CharField(
        max_length=Post._meta.get_field("caption").max_length,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Say something about it"}),
    )
    allow_remix = forms.BooleanField(
        label="Allow others to make AI remixes of this post",
        required=False,
        initial=False,
        help_text="Off unless you tick it. Remixes are always labelled as AI-generated.",
    )


class CommentForm(_PageForm):
    text = forms.CharField(
        label="Add a comment",
        max_length=Comment._meta.get_field("text").max_length,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Write a comment"}),
    )

    def __init__(self, *args: Any, autofocus: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if autofocus:
            # A form htmx swaps in after a post takes the focus back, so typing can go on at once
            # (the button that was pressed is disabled during the request and loses focus).
            self.fields["text"].widget.attrs["autofocus"] = True
