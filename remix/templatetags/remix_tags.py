"""The remix feature's pieces of other pages: the post page's remix panel, the settings section, the label.

socialapp's templates load these tags; socialapp's Python code never imports the remix app.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.auth.models import AnonymousUser

from socialapp.models import Post, User

from .. import policy
from ..forms import CreatorSettingsForm, PostRemixToggleForm, RemixForm
from ..models import ConsentChange, RemixJob
from ..results import AI_LABEL

register = template.Library()

# How many posts the settings page lists with a toggle, and how many ledger rows it shows.
SETTINGS_POSTS = 50
SETTINGS_LEDGER = 50


def panel_context(*, user: User | AnonymousUser, post: Post, form: RemixForm | None = None) -> dict[str, Any]:
    """What ``remix/_panel.html`` shows ``user`` under ``post``: the form, or why there is none."""
    reason = policy.remix_denied_reason(viewer=user, post=post)
    is_creator = user.is_authenticated and user.pk == post.author_id
    if reason is None and form is None:
        form = RemixForm(post=post)
    return {
        "post": post,
        "user": user,
        "reason": str(reason) if reason is not None else "",
        "sentence": policy.DENIAL_SENTENCES[reason] if reason is not None else "",
        "form": form if reason is None else None,
        "is_creator": is_creator,
        "account_on": policy.settings_of(post.author).allow_remix if is_creator else None,
        "toggle_form": PostRemixToggleForm(initial={"allow_remix": post.allow_remix}) if is_creator else None,
        "ai_label": AI_LABEL,
    }


@register.inclusion_tag("remix/_panel.html", takes_context=True)
def remix_panel(context: template.Context, post: Post) -> dict[str, Any]:
    """``{% remix_panel post %}``: the "Remix with AI" form, or the sentence saying why not."""
    request = context["request"]
    panel = panel_context(user=request.user, post=post, form=context.get("remix_form"))
    return {**panel, "request": request, "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("remix/_settings_section.html", takes_context=True)
def remix_settings_section(context: template.Context) -> dict[str, Any]:
    """``{% remix_settings_section %}``: the account switch, per-post toggles and the consent ledger."""
    request = context["request"]
    user = request.user
    form = context.get("remix_settings_form")
    if form is None:
        current = policy.settings_of(user)
        form = CreatorSettingsForm(
            initial={
                "allow_remix": current.allow_remix,
                "audience": current.audience,
                "new_posts_allow_remix": current.new_posts_allow_remix,
                "protect_face": current.protect_face,
            }
        )
    posts = list(Post.objects.filter(author=user).order_by("-created_at", "-id")[: SETTINGS_POSTS + 1])
    ledger = ConsentChange.objects.filter(creator=user).select_related("actor", "post")[:SETTINGS_LEDGER]
    return {
        "request": request,
        "user": user,
        "csrf_token": context.get("csrf_token"),
        "form": form,
        "account_on": policy.settings_of(user).allow_remix,
        "posts": posts[:SETTINGS_POSTS],
        "more_posts": len(posts) > SETTINGS_POSTS,
        "ledger": list(ledger),
    }


@register.simple_tag
def ai_label() -> str:
    """The label every remix carries, from the one place that defines it."""
    return AI_LABEL


@register.filter
def percent(fraction: float | None) -> int:
    """``0.42`` → ``42``."""
    return round((fraction or 0) * 100)


@register.filter
def frame_clock(seconds: float | str | None) -> str:
    """``2.0`` → ``"0:02"``, ``75.4`` → ``"1:15.4"``: a frame's time, tenths only when they matter.
    Takes a bound form's raw value too (a string); anything unreadable is empty."""
    try:
        value = float(seconds) if seconds not in (None, "") else None
    except (TypeError, ValueError):
        value = None
    if value is None or value != value:  # None or NaN
        return ""
    tenths = round(max(0.0, value) * 10)
    minutes, rest = divmod(tenths, 600)
    secs, tenth = divmod(rest, 10)
    return f"{minutes}:{secs:02d}" + (f".{tenth}" if tenth else "")


@register.filter
def is_active_job(job: RemixJob) -> bool:
    return job.status in RemixJob.ACTIVE
