"""Small presentation filters for the browser pages (durations, names, avatar tones)."""

from __future__ import annotations

import datetime

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from socialapp.models import User

register = template.Library()

# How many avatar colours app.css defines (.avatar--tone-0 … .avatar--tone-5).
_AVATAR_TONES = 6


@register.filter
def duration(seconds: float | None) -> str:
    """``75.4`` → ``"1:15"``; empty for photos (no duration)."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    minutes, secs = divmod(total, 60)
    return f"{minutes}:{secs:02d}"


@register.filter
def display_name(user: User) -> str:
    """The profile's display name, or the username when it is blank or there is no profile."""
    profile = getattr(user, "profile", None) if user.pk else None
    return (profile.display_name if profile else "") or user.username


@register.filter
def initial(user: User) -> str:
    """The first letter shown in an avatar circle."""
    return display_name(user)[:1].upper() or "?"


@register.filter
def avatar_tone(user: User) -> str:
    """A stable colour class per account, so avatars tell people apart at a glance."""
    return f"avatar--tone-{(user.pk or 0) % _AVATAR_TONES}"


@register.filter
def ago(value: datetime.datetime | None) -> str:
    """``"just now"``, ``"5 minutes ago"``, ``"3 days ago"``: one unit, like most feeds."""
    if value is None:
        return ""
    if timezone.now() - value < datetime.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"
