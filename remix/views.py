"""Remix pages: the request form's answer, the job page, "My remixes", and the consent forms.

Thin like socialapp's pages: a form checks shape, ``jobs``/``consent``/``policy`` decide and write.
Every page works as plain HTML; remix.js adds the live progress bar and the frame picker, and htmx
(when present) swaps the request form with its errors in place.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from socialapp import selectors as social_selectors
from socialapp.forms import CommentForm, ProfileForm
from socialapp.models import Post, User
from socialapp.views import AuthenticatedRequest, login_required_page

from . import consent, jobs, policy, selectors
from .forms import CreatorSettingsForm, PostRemixToggleForm, RemixForm
from .models import ConsentChange, RemixJob
from .templatetags.remix_tags import panel_context

PAGE_SIZE = 20


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(candidate, {request.get_host()}, require_https=request.is_secure())
    return candidate if allowed else ""


def _visible_post(request: HttpRequest, pk: int) -> Post:
    return get_object_or_404(social_selectors.post_list_visible_to(user=request.user), pk=pk)


# --- the request ------------------------------------------------------------------------------


def _post_page(request: HttpRequest, post: Post, *, remix_form: RemixForm, status: int) -> HttpResponse:
    """The post page again (a refused or invalid request), with the remix form as it was sent."""
    context = {
        "post": post,
        "comments": list(social_selectors.comment_list_for(post=post, user=request.user)),
        "comment_form": CommentForm(),
        "remix_form": remix_form,
    }
    return render(request, "socialapp/post_detail.html", context, status=status)


def _refused(request: HttpRequest, post: Post, form: RemixForm, *, sentence: str, status: int) -> HttpResponse:
    if _is_htmx(request):
        # htmx leaves 4xx answers unswapped; app.js shows a plain-text answer as an error message.
        return HttpResponse(sentence, status=status, content_type="text/plain; charset=utf-8")
    return _post_page(request, post, remix_form=form, status=status)


def _retry_wait(seconds: int) -> str:
    if seconds < 90:
        return "a minute"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes" if minutes < 90 else f"{math.ceil(minutes / 60)} hours"


@require_POST
@login_required_page
def remix_create(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Ask for a remix. Success goes to the job page; a form error comes back on the form (400, or
    422 for htmx); a refusal is 403 (consent) or 429 (too many requests) with a sentence."""
    post = _visible_post(request, pk)
    form = RemixForm(request.POST, post=post)
    if form.is_valid():
        data = form.cleaned_data
        try:
            job, _ = jobs.remix_job_create(
                post=post,
                requester=request.user,
                request=jobs.JobRequest(
                    prompt=data["prompt"],
                    frame_time=data.get("frame_time"),
                    meme_text=data["meme_text"],
                    client_request_id=data["client_request_id"] or None,
                ),
            )
        except jobs.RemixRequestInvalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
        except jobs.RemixNotAllowed as exc:
            # The post page shows the current reason in place of the form.
            return _refused(request, post, form, sentence=policy.DENIAL_SENTENCES[exc.reason], status=403)
        except jobs.RateLimited as exc:
            sentence = (
                f"You've asked for a lot of remixes recently. Please try again in {_retry_wait(exc.retry_after)}."
            )
            form.add_error(None, sentence)
            response = _refused(request, post, form, sentence=sentence, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        else:
            url = reverse("remix-job", args=[job.pk])
            if _is_htmx(request):
                response = HttpResponse(status=200)
                response["HX-Redirect"] = url
                return response
            return redirect(url)

    if _is_htmx(request):
        response = render(
            request, "remix/_panel.html", panel_context(user=request.user, post=post, form=form), status=422
        )
        patch_vary_headers(response, ["HX-Request"])
        response["HX-Retarget"] = "#remix-panel"
        response["HX-Reswap"] = "outerHTML"
        return response
    return _post_page(request, post, remix_form=form, status=400)


# --- jobs -------------------------------------------------------------------------------------


def _job_context(job: RemixJob, user: User) -> dict[str, Any]:
    result = getattr(job, "result", None) if job.status == RemixJob.Status.SUCCEEDED else None
    return {
        "job": job,
        "result": result,
        "result_shown": result is not None and job.result_shown,  # type: ignore[attr-defined]
        "can_cancel": job.status in RemixJob.ACTIVE and user.pk in (job.requester_id, job.post.author_id),
    }


@require_safe
@login_required_page
def job_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """One job's status; remix.js follows it live and fetches the status fragment when it ends."""
    job = get_object_or_404(selectors.job_list_visible_to(user=request.user), pk=pk)
    context = _job_context(job, request.user)
    if _is_htmx(request):
        response = render(request, "remix/_job_status.html", context)
    else:
        response = render(request, "remix/job_detail.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@login_required_page
def job_cancel(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.job_list_visible_to(user=request.user), pk=pk)
    try:
        jobs.remix_job_cancel(job=job, actor=request.user)
    except PermissionError:
        raise PermissionDenied("Only the person who asked for the remix or the post's creator can cancel it.") from None
    except jobs.CannotCancel:
        messages.info(request, f"Too late to cancel: the remix is already {job.get_status_display().lower()}.")
    else:
        messages.success(request, "Remix cancelled.")
    return redirect("remix-job", pk=job.pk)


@require_safe
@login_required_page
def my_remixes(request: AuthenticatedRequest) -> HttpResponse:
    """The signed-in user's remix requests, newest first, 20 a page."""
    requested = (
        selectors.job_list_visible_to(user=request.user).filter(requester=request.user).order_by("-created_at", "-id")
    )
    page = Paginator(requested, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "remix/my_remixes.html", {"page": page})


# --- consent ----------------------------------------------------------------------------------


@require_POST
@login_required_page
def remix_settings(request: AuthenticatedRequest) -> HttpResponse:
    """The account-level consent form on the settings page."""
    me = request.user
    form = CreatorSettingsForm(request.POST)
    if not form.is_valid():
        profile = getattr(me, "profile", None)
        initial = {"display_name": profile.display_name, "bio": profile.bio} if profile else {}
        context = {"form": ProfileForm(initial=initial), "remix_settings_form": form}
        return render(request, "socialapp/settings.html", context, status=400)
    newest_before = ConsentChange.objects.filter(creator=me).values_list("pk", flat=True).first() or 0
    consent.creator_settings_update(creator=me, actor=me, **form.cleaned_data)
    cancelled = (
        ConsentChange.objects.filter(creator=me, pk__gt=newest_before).aggregate(n=Sum("cancelled_jobs"))["n"] or 0
    )
    note = f" {cancelled} queued remix{'es were' if cancelled != 1 else ' was'} cancelled." if cancelled else ""
    messages.success(request, f"Remix settings saved.{note}")
    return redirect(f"{reverse('settings')}#remix-heading")


@require_POST
@login_required_page
def post_remix_consent(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Turn one post's remix toggle on or off; its creator only."""
    post = _visible_post(request, pk)
    if post.author_id != request.user.pk:
        raise PermissionDenied("Only the post's creator can choose whether it may be remixed.")
    form = PostRemixToggleForm(request.POST)
    value = form.is_valid() and bool(form.cleaned_data["allow_remix"])
    consent.post_allow_remix_set(post=post, actor=request.user, value=value)
    messages.success(request, f"AI remixes of this post are now {'on' if value else 'off'}.")
    return redirect(_safe_next(request) or reverse("post-detail", args=[post.pk]))
