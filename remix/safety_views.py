"""Trust-and-safety pages: report a remix, block someone from remixing, the safety settings page and
"turn off and remove all remixes" with its confirmation step.

Thin like the other pages: a form checks shape, ``reports``/``consent``/``creator_controls`` decide
and write. Everything works as plain HTML forms; htmx (when present) sends a report in place.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from socialapp import selectors as social_selectors
from socialapp.models import Comment, User
from socialapp.views import AuthenticatedRequest, is_htmx, login_required_page, safe_next

from . import consent, creator_controls, reports
from .models import RemixBlock, RemixJob
from .safety_forms import BlockForm, ReportForm

# --- reports ----------------------------------------------------------------------------------


def _reportable_comment(request: AuthenticatedRequest, pk: int) -> Comment:
    """A remix comment the viewer can see now, or 404 (a hidden remix reads like a missing one)."""
    visible_posts = social_selectors.post_list_visible_to(user=request.user)
    comment = get_object_or_404(
        Comment.objects.select_related("post", "post__author", "author", "remix_result__job").filter(
            post__in=visible_posts, kind=Comment.Kind.REMIX, remix_result__isnull=False
        ),
        pk=pk,
    )
    if not social_selectors.comment_is_visible(comment=comment, user=request.user):
        raise Http404("No such remix.")
    return comment


@require_http_methods(["GET", "HEAD", "POST"])
@login_required_page
def comment_report(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Report a remix. The post page's "Report" control posts here (htmx swaps in the confirmation);
    without JS, or with errors, this is also a page of its own."""
    comment = _reportable_comment(request, pk)
    if request.method != "POST":
        form = ReportForm(comment_id=comment.pk)
        return render(request, "remix/report.html", {"comment": comment, "form": form})

    form = ReportForm(request.POST, comment_id=comment.pk)
    if not form.is_valid():
        if is_htmx(request):
            response = render(
                request,
                "remix/_report_form.html",
                {"comment": comment, "form": form, "show": True, "open": True},
                status=422,
            )
            patch_vary_headers(response, ["HX-Request"])
            return response
        return render(request, "remix/report.html", {"comment": comment, "form": form}, status=400)
    try:
        _, created = reports.report_file(
            comment=comment, reporter=request.user, reason=form.cleaned_data["reason"], text=form.cleaned_data["text"]
        )
    except reports.NotReportable:
        raise Http404("No such remix.") from None
    sentence = (
        "Thanks. Your report was sent to the moderators."
        if created
        else "You have already reported this remix; the moderators have your report."
    )
    if is_htmx(request):
        response = render(request, "remix/_report_sent.html", {"comment": comment, "sentence": sentence})
        patch_vary_headers(response, ["HX-Request"])
        return response
    messages.success(request, sentence)
    return redirect(f"{reverse('post-detail', args=[comment.post_id])}#comment-{comment.pk}")


# --- blocks -----------------------------------------------------------------------------------


@require_POST
@login_required_page
def user_remix_block(request: AuthenticatedRequest, username: str) -> HttpResponse:
    """Block (``action=block``) or unblock (``action=unblock``) someone from remixing your content.
    Both idempotent, so a resubmitted form never flips the state back."""
    target = get_object_or_404(User, username=username)
    action = request.POST.get("action")
    back = safe_next(request) or reverse("user-detail", args=[target.username])
    if action == "block":
        try:
            consent.remix_block(creator=request.user, blocked=target, actor=request.user)
        except consent.CannotBlockSelf:
            messages.error(request, "You cannot block yourself.")
            return redirect(back)
        messages.success(
            request,
            f"@{target.username} can no longer remix your posts. Their remixes of your posts are hidden "
            "and any they had queued were cancelled.",
        )
    elif action == "unblock":
        consent.remix_unblock(creator=request.user, blocked=target, actor=request.user)
        messages.success(request, f"@{target.username} may remix your posts again, as your remix settings allow.")
    else:
        messages.error(request, "Choose whether to block or unblock.")
    return redirect(back)


def _safety_context(user: User, block_form: BlockForm | None = None) -> dict[str, Any]:
    blocks = RemixBlock.objects.filter(creator=user).select_related("blocked", "blocked__profile")
    return {"blocks": list(blocks), "block_form": block_form or BlockForm(), **_remix_counts(user)}


def _remix_counts(user: User) -> dict[str, int]:
    remixes = Comment.objects.filter(post__author=user, kind=Comment.Kind.REMIX)
    # The people who are told: everyone whose remix goes, but not the creator about their own.
    by_person = remixes.exclude(author=user).values("author").annotate(n=Count("pk"))
    return {
        "remix_total": remixes.count(),
        "remix_people": by_person.count(),
        "remix_posts": remixes.values("post").distinct().count(),
        "active_jobs": RemixJob.objects.filter(post__author=user, status__in=RemixJob.ACTIVE).count(),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@login_required_page
def remix_safety(request: AuthenticatedRequest) -> HttpResponse:
    """The safety settings page: who is blocked from remixing (with Unblock), a form to block someone
    by username, and the way to "turn off and remove all remixes"."""
    if request.method != "POST":
        return render(request, "remix/safety.html", _safety_context(request.user))
    form = BlockForm(request.POST)
    target = None
    if form.is_valid():
        target = User.objects.filter(username=form.cleaned_data["username"].lstrip("@"), is_active=True).first()
        if target is None:
            form.add_error("username", "There is no account with that username.")
        elif target.pk == request.user.pk:
            form.add_error("username", "You cannot block yourself.")
    if target is None or not form.is_valid():
        return render(request, "remix/safety.html", _safety_context(request.user, form), status=400)
    consent.remix_block(creator=request.user, blocked=target, actor=request.user)
    messages.success(request, f"@{target.username} can no longer remix your posts.")
    return redirect("remix-safety")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required_page
def remix_remove_all(request: AuthenticatedRequest) -> HttpResponse:
    """GET: the confirmation step, saying exactly what will happen. POST: do it."""
    if request.method != "POST":
        return render(request, "remix/remove_all_confirm.html", _remix_counts(request.user))
    done = creator_controls.remix_remove_all(creator=request.user, actor=request.user)
    removed, cancelled = done.removed_remixes, done.cancelled_jobs
    sentence = f"AI remixes are now off for your account. {removed} remix{'es' if removed != 1 else ''} removed"
    if cancelled:
        sentence += f"; {cancelled} queued remix{'es' if cancelled != 1 else ''} cancelled"
    messages.success(request, sentence + ".")
    return redirect("remix-safety")
