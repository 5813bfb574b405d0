"""Forms of the trust-and-safety pages: they check shape; ``reports`` and ``consent`` apply the rules."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import RemixReport


class ReportForm(forms.Form):
    """Report a remix: a reason from the list and, optionally, a few words."""

    required_css_class = "field--required"
    error_css_class = "field--error"

    reason = forms.ChoiceField(
        label="Why should this remix come down?",
        choices=[("", "Choose a reason…"), *RemixReport.Reason.choices],
        error_messages={"required": "Choose a reason.", "invalid_choice": "Choose one of the listed reasons."},
    )
    text = forms.CharField(
        label="Anything else the moderators should know",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, comment_id: int, **kwargs: Any) -> None:
        # Ids unique per comment: a post page holds one report form per remix.
        kwargs.setdefault("auto_id", f"id_report_{comment_id}_%s")
        super().__init__(*args, **kwargs)


class BlockForm(forms.Form):
    username = forms.CharField(
        label="Username",
        max_length=150,
        help_text="They can no longer remix any of your posts, and their remixes of your posts are hidden.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}),
    )
