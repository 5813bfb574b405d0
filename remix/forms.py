"""Forms of the remix pages: they check shape (lengths, types); ``jobs`` and ``consent`` apply the rules."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from socialapp.models import Post

from .jobs import MAX_PROMPT
from .memes import MAX_MEME_TEXT
from .models import CreatorSettings


class _PageForm(forms.Form):
    """The look of socialapp's page forms: CSS hooks for required and invalid fields."""

    required_css_class = "field--required"
    error_css_class = "field--error"


class RangeInput(forms.NumberInput):
    input_type = "range"


def poster_time(duration: float | None) -> float:
    """Where a video's poster frame is taken (as ``socialapp.uploads`` does): the frame picker starts there."""
    return round(min(1.0, 0.1 * duration), 1) if duration else 0.0


class RemixForm(_PageForm):
    """A remix request. ``frame_time`` exists only for videos; ``client_request_id`` is minted when the
    form is first rendered, so submitting the same page twice creates one job."""

    prompt = forms.CharField(
        label="Describe the edit",
        max_length=MAX_PROMPT,
        help_text=f"1 to {MAX_PROMPT} characters, e.g. “make it a watercolour” or “put her on the beach”.",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Make it a watercolour"}),
    )
    meme_text = forms.CharField(
        label="Meme text",
        max_length=MAX_MEME_TEXT,
        required=False,
        help_text="Drawn on the image. Write “top line|bottom line”, or just a top line.",
        widget=forms.TextInput(attrs={"placeholder": "top line|bottom line", "autocomplete": "off"}),
    )
    # Its range (0 to the video's length) is checked by jobs, which says so in a sentence.
    frame_time = forms.FloatField(label="Frame to remix", required=False)
    client_request_id = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, post: Post, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.post = post
        if not self.is_bound:
            self.initial.setdefault("client_request_id", uuid.uuid4().hex)
        if post.media_type == Post.MediaType.VIDEO and post.duration:
            field = self.fields["frame_time"]
            field.widget = RangeInput(attrs={"min": "0", "max": f"{post.duration:.1f}", "step": "0.1"})
            field.required = True  # a range input always sends a value
            field.help_text = "Slide to the moment you want to remix."
            self.initial.setdefault("frame_time", poster_time(post.duration))
        else:
            del self.fields["frame_time"]

    @property
    def is_video(self) -> bool:
        return "frame_time" in self.fields


class CreatorSettingsForm(_PageForm):
    allow_remix = forms.BooleanField(
        label="Allow AI remixes of my content",
        required=False,
        help_text="The master switch. While it is off, nobody can remix any of your posts.",
    )
    audience = forms.ChoiceField(
        label="Who may remix",
        choices=CreatorSettings.Audience.choices,
        widget=forms.RadioSelect,
    )
    new_posts_allow_remix = forms.BooleanField(
        label="New posts allow remixes by default",
        required=False,
        help_text="The remix box on the upload form starts ticked.",
    )
    apply_to_existing_posts = forms.BooleanField(
        label="Also apply the default to all my existing posts",
        required=False,
        help_text="Sets the remix toggle of every post you have already shared to the default above.",
    )
    protect_face = forms.BooleanField(
        label="Protect my face",
        required=False,
        help_text=(
            "Faces found in your posts are put back from the original in every remix, so a remix can change "
            "the scene but not your face. The remix's content credentials say so."
        ),
    )


class PostRemixToggleForm(_PageForm):
    # A checkbox: absent from the POST means off.
    allow_remix = forms.BooleanField(label="Allow AI remixes of this post", required=False)
