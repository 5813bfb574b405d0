"""Trust-and-safety pieces of other pages: a remix's report form, the profile's block button, the
settings page's link to the safety page. socialapp's templates load these; its Python never imports remix.
"""

from __future__ import annotations

from typing import Any

from django import template

from socialapp.models import Comment, User

from ..models import RemixBlock
from ..safety_forms import ReportForm

register = template.Library()


@register.inclusion_tag("remix/_report_form.html", takes_context=True)
def remix_report_form(context: template.Context, comment: Comment) -> dict[str, Any]:
    """``{% remix_report_form comment %}``: a signed-in viewer's "Report" control on a remix comment."""
    request = context["request"]
    user = request.user
    return {
        "comment": comment,
        # Its requester deletes it instead; anyone else signed in may report it.
        "show": user.is_authenticated and comment.kind == Comment.Kind.REMIX and user.pk != comment.author_id,
        "form": ReportForm(comment_id=comment.pk),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("remix/_block_button.html", takes_context=True)
def remix_block_button(context: template.Context, profile_user: User) -> dict[str, Any]:
    """``{% remix_block_button profile_user %}``: block or unblock someone from remixing your posts."""
    request = context["request"]
    user = request.user
    show = user.is_authenticated and user.pk != profile_user.pk
    blocked = show and RemixBlock.objects.filter(creator=user, blocked=profile_user).exists()
    return {
        "profile_user": profile_user,
        "show": show,
        "blocked": blocked,
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
