"""Reads of the remix feature that apply a rule."""

from __future__ import annotations

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from socialapp.models import User

from . import policy
from .models import RemixJob


def job_list_visible_to(*, user: User) -> QuerySet[RemixJob]:
    """Jobs a user may look at: their own requests, remixes of their posts, everything for staff.

    Each row carries ``result_shown``: whether its result may be shown now — like the remix
    comment, only while the creator consents to this requester's remix.
    """
    consented = policy.consented_remix_q(post_path="post", requester_path="requester")
    visible = RemixJob.objects.select_related("post", "post__author", "requester", "result").annotate(
        result_shown=ExpressionWrapper(consented, output_field=BooleanField())
    )
    return visible if user.is_staff else visible.filter(Q(requester=user) | Q(post__author=user))
