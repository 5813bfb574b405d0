"""Template context every page gets."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .models import Notification


def unread_notifications(request: HttpRequest) -> dict[str, object]:
    """``unread_notifications``: the signed-in user's unread count for the nav badge (0 when signed out).

    Lazy: counted only when a template shows it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_notifications": 0}
    return {
        "unread_notifications": SimpleLazyObject(
            lambda: Notification.objects.filter(recipient=user, read_at__isnull=True).count()
        )
    }
