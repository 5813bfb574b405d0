"""Remix pages: the request form's answer, the job page, "My remixes", and the consent forms.

Thin like socialapp's pages: a form checks shape, ``jobs``/``consent``/``policy`` decide and write.
Every page works as plain HTML; remix.js adds the live progress bar and the frame picker, and htmx
(when present) swaps the request form with its errors in place.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from socialapp import selectors as social_selectors
from socialapp.forms import CommentForm, ProfileForm
from socialapp.middleware import body_limit
from socialapp.models import Comment, Post, User
from socialapp.throttling import throttle_page
from socialapp.uploads import image_body_limit
from socialapp.views import AuthenticatedRequest, is_htmx, login_required_page, safe_next

from . import consent, credentials, jobs, policy, provenance, selectors
from .forms import CreatorSettingsForm, PostRemixToggleForm, RemixForm
from .models import ConsentChange, RemixJob
from .templatetags.remix_tags import panel_context

PAGE_SIZE = 20


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
    if is_htmx(request):
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
        except jobs.PromptRejected as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.sentence)
        except jobs.RemixNotAllowed as exc:
            # The post page shows the current reason in place of the form.
            return _refused(request, post, form, sentence=policy.DENIAL_SENTENCES[exc.reason], status=403)
        except jobs.AccountTooNew as exc:
            form.add_error(None, exc.sentence)
            response = _refused(request, post, form, sentence=exc.sentence, status=403)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except (jobs.RateLimited, jobs.QueueFull) as exc:
            wait = _retry_wait(exc.retry_after)
            if isinstance(exc, jobs.QueueFull):
                sentence, code = f"Too many remixes are waiting right now. Please try again in {wait}.", 429
            elif exc.limit == "post_daily":
                sentence, code = f"This post has had as many remixes as allowed today. Try again in {wait}.", 429
            else:
                sentence, code = f"You've asked for a lot of remixes recently. Please try again in {wait}.", 429
            form.add_error(None, sentence)
            response = _refused(request, post, form, sentence=sentence, status=code)
            response["Retry-After"] = str(exc.retry_after)
            return response
        else:
            url = reverse("remix-job", args=[job.pk])
            if is_htmx(request):
                response = HttpResponse(status=200)
                response["HX-Redirect"] = url
                return response
            return redirect(url)

    if is_htmx(request):
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
    if is_htmx(request):
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
    return redirect(safe_next(request) or reverse("post-detail", args=[post.pk]))


# --- content credentials ----------------------------------------------------------------------

_STATES = {
    "trusted": (
        "Trusted",
        "Signed with a certificate this site trusts, and the image has not changed since it was signed.",
    ),
    "valid": (
        "Valid",
        "The signature is intact and the image has not changed since it was signed, but the signer's "
        "certificate is not on this site's trust list.",
    ),
    "invalid": (
        "Invalid",
        "The credentials do not match this image: it was changed after signing, or the signature is broken. "
        "Do not rely on what they say.",
    ),
}
_ACTIONS = {
    "c2pa.opened": "Opened an existing image",
    "c2pa.placed": "Placed an existing image",
    "c2pa.created": "Created",
    "c2pa.edited": "Edited",
    "c2pa.edited.metadata": "Edited the metadata",
    "c2pa.watermarked": "Invisible watermark added",
    "c2pa.converted": "Converted to another format",
    "c2pa.transcoded": "Re-encoded",
    "c2pa.resized": "Resized",
    "c2pa.cropped": "Cropped",
    "c2pa.color_adjustments": "Colours adjusted",
    "c2pa.filtered": "Filtered",
    "c2pa.drawing": "Drawn on",
    "c2pa.published": "Published",
    "c2pa.redacted": "Redacted",
    provenance.FACE_PROTECTED_ACTION: provenance.FACE_PROTECTED_DESCRIPTION,
}
_TRAINING_USES = {
    "cawg.ai_training": "AI training",
    "c2pa.ai_training": "AI training",
    "cawg.ai_generative_training": "Generative AI training",
    "c2pa.ai_generative_training": "Generative AI training",
    "cawg.ai_inference": "AI inference",
    "c2pa.ai_inference": "AI inference",
    "cawg.data_mining": "Data mining",
    "c2pa.data_mining": "Data mining",
}
_PERMISSIONS = {"notAllowed": "Not allowed", "allowed": "Allowed", "constrained": "Allowed with conditions"}


def _words(identifier: str) -> str:
    """``compositeWithTrainedAlgorithmicMedia`` or ``color_adjustments`` as a sentence fragment."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", identifier).replace("_", " ").replace(".", " ").strip()
    return spaced[:1].upper() + spaced[1:].lower()


def _source_type(uri: str | None) -> str | None:
    """An IPTC digital source type URI in words ("Composite with trained algorithmic media")."""
    return _words(uri.rstrip("/").rsplit("/", 1)[-1]) if uri else None


def _action(code: str) -> str:
    return _ACTIONS.get(code) or _words(code.removeprefix("c2pa."))


def _training(assertion: dict[str, str] | None) -> list[tuple[str, str]]:
    """The training-and-mining assertion as (use, permission) rows; one row when every use is refused."""
    if not assertion:
        return []
    if all(value == "notAllowed" for value in assertion.values()):
        return [("AI training and data mining", "Not allowed")]
    return [
        (_TRAINING_USES.get(use) or _words(use.split(".", 1)[-1]), _PERMISSIONS.get(value, value))
        for use, value in assertion.items()
    ]


def _web_link(url: Any) -> str | None:
    # An uploaded image's manifest says anything it likes: only ever link plain web addresses.
    return url if isinstance(url, str) and re.match(r"https?://[^\s]+$", url) else None


def credentials_shown(info: dict[str, Any]) -> dict[str, Any]:
    """What ``remix/_credentials.html`` shows of a ``remix.credentials.describe`` answer, in words."""
    c2pa = info["c2pa"]
    state = c2pa["state"] if c2pa["present"] else None
    state_label, state_sentence = _STATES.get(state or "", ("None", "This file carries no content credentials."))
    watermark = info["watermark"]
    pointer = watermark.get("remix") or {}
    actions = list(dict.fromkeys(_action(code) for code in c2pa["actions"]))  # in order, each once
    return {
        "present": c2pa["present"],
        "state": state or "none",
        "state_label": state_label,
        "state_sentence": state_sentence,
        "failures": c2pa["failures"],
        "ai_generated": info["ai_generated"],
        "source_type": _source_type(c2pa["digital_source_type"]),
        "iptc_source_type": _source_type(info["iptc_digital_source_type"]),
        "actions": actions,
        "software_agent": c2pa["software_agent"],
        "training": _training(c2pa["training_mining"]),
        "ingredients": [i.get("title") or "Untitled" for i in c2pa["ingredients"]],
        "source_url": _web_link(c2pa["source_url"]),
        "watermark_found": watermark["found"],
        # A comment's own panel says the mark points back at it; anywhere else it links to the remix.
        "watermark_is_this": bool(pointer.get("visible")) and pointer.get("comment") == info.get("comment"),
        "watermark_job": pointer.get("job"),
        "watermark_url": pointer.get("post_url"),
        "nothing": not (c2pa["present"] or watermark["found"] or info["iptc_digital_source_type"]),
    }


@require_safe
def comment_credentials(request: HttpRequest, pk: int) -> HttpResponse:
    """A remix comment's content credentials as a page; ``?partial=1`` answers only the panel's body
    (what the comment's "Content credentials" panel fetches, so the two never differ)."""
    comment = get_object_or_404(
        Comment.objects.select_related("author", "post__author", "remix_result__job").filter(
            kind=Comment.Kind.REMIX, remix_result__isnull=False
        ),
        pk=pk,
    )
    if not social_selectors.comment_is_visible(comment=comment, user=request.user):
        raise Http404("No such remix.")
    result = comment.remix_result
    try:
        info = credentials.describe_remix(result, viewer=request.user)
    except FileNotFoundError:
        raise Http404("The remix's image is gone.") from None
    context = {"comment": comment, "result": result, "post": comment.post, "credentials": credentials_shown(info)}
    if request.GET.get("partial"):
        return render(request, "remix/_credentials.html", context)
    return render(request, "remix/comment_credentials.html", context)


def _human_size(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


@require_http_methods(["GET", "HEAD", "POST"])
@throttle_page("verify")  # the API's rate and counters: the page and POST /api/credentials/verify/ share them
@body_limit(image_body_limit)
def check_image(request: HttpRequest) -> HttpResponse:
    """Anyone may check an image: its content credentials and whether it carries a remix's watermark.
    The same checks as ``POST /api/credentials/verify/``; nothing uploaded here is stored."""
    context: dict[str, Any] = {"max_size": _human_size(settings.MAX_IMAGE_BYTES)}
    if request.method != "POST":
        return render(request, "remix/check.html", context)

    too_large = f"That file is too large to check (the limit is {context['max_size']})."
    upload = request.FILES.get("image")
    if upload is None:
        return render(request, "remix/check.html", {**context, "error": "Choose an image to check."}, status=400)
    if upload.size is not None and upload.size > settings.MAX_IMAGE_BYTES:
        return render(request, "remix/check.html", {**context, "error": too_large}, status=413)
    data = upload.read()
    mime = credentials.sniff_image_type(data)
    if mime is None:
        error = "That file is not an image this page can check: choose a JPEG, PNG or WebP image."
        return render(request, "remix/check.html", {**context, "error": error}, status=400)
    try:
        info = credentials.describe(data, viewer=request.user, mime_type=mime)
    except credentials.TooLargeToDecode as exc:
        return render(request, "remix/check.html", {**context, "error": exc.sentence}, status=400)
    context.update(credentials=credentials_shown(info), filename=upload.name)
    return render(request, "remix/check.html", context)
