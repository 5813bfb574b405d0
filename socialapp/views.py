"""Browser pages: validate with a form, call a service or selector, render a template.

Pages work as plain HTML forms; htmx (when present) posts the follow button and comments
without a reload and gets back just the fragment to swap. Permission failures raised by the
services (``PermissionDenied``) become the 403 page; objects that do not exist are 404s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from . import selectors, services
from .api.pagination import cursor_time
from .forms import CommentForm, ProfileForm, SignupForm, UploadForm
from .middleware import body_limit
from .models import Comment, Notification, Post, User
from .throttling import throttle_page
from .uploads import MediaRejected, upload_body_limit

PAGE_SIZE = 20

View = Callable[..., HttpResponseBase]


class AuthenticatedRequest(HttpRequest):
    """The request of a view behind ``login_required_page``: its user is a real account."""

    user: User


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _fragment(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def login_required_page(view: View) -> View:
    """``login_required`` that also copes with htmx: a fragment request whose session ended
    gets an ``HX-Redirect`` to the login page, instead of the login page swapped into a button."""
    plain = login_required(view)

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if is_htmx(request) and not request.user.is_authenticated:
            # Come back to the page the fragment lives on (path only: never an outside URL).
            next_path = urlsplit(request.headers.get("HX-Current-URL", "")).path or request.path
            response = HttpResponse(status=200)
            response["HX-Redirect"] = redirect_to_login(next_path).url
            return response
        return plain(request, *args, **kwargs)

    return wrapped


def safe_next(request: HttpRequest) -> str:
    """The ``next`` page to land on, if it is on this site; empty otherwise."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(candidate, {request.get_host()}, require_https=request.is_secure())
    return candidate if allowed else ""


# --- pagination --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostPage:
    posts: list[Post]
    older_url: str | None


def _post_page(posts: QuerySet[Post], params: QueryDict, **keep: str) -> PostPage:
    """One page of a newest-first post list, keyed on ``(created_at, id)`` of the last post seen.

    Keyset rather than page numbers: new posts arriving at the top never shift or repeat items
    on the older pages someone is scrolling through.
    """
    before = cursor_time(params.get("before", ""))
    before_id = params.get("id", "")
    if before is not None and before_id.isdigit() and len(before_id) <= 18:
        # The bound on the time alone lets the database seek in the created_at index to the cursor
        # (as the API's cursor pages do); the OR then drops the cursor's own timestamp up to its id.
        posts = posts.filter(Q(created_at__lte=before) & (Q(created_at__lt=before) | Q(id__lt=int(before_id))))
    rows = list(posts[: PAGE_SIZE + 1])
    older_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        last = rows[-1]
        query = {**{k: v for k, v in keep.items() if v}, "before": last.created_at.isoformat(), "id": str(last.pk)}
        older_url = "?" + urlencode(query)
    return PostPage(posts=rows, older_url=older_url)


# --- feed and posts ----------------------------------------------------------------------------


@require_safe
def feed(request: HttpRequest) -> HttpResponse:
    """Everyone's posts, or (signed in) only those of accounts you follow; newest first."""
    tab = "following" if request.GET.get("tab") == "following" else "everyone"
    if tab == "following" and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    posts = selectors.feed_for(user=request.user, following_only=tab == "following")
    page = _post_page(posts, request.GET, tab="following" if tab == "following" else "")
    return render(request, "socialapp/feed.html", {"tab": tab, "page": page})


def _visible_post(request: HttpRequest, pk: int) -> Post:
    return get_object_or_404(selectors.post_list_visible_to(user=request.user), pk=pk)


def _post_context(request: HttpRequest, post: Post, comment_form: CommentForm | None = None) -> dict[str, Any]:
    comments = list(selectors.comment_list_for(post=post, user=request.user))
    return {"post": post, "comments": comments, "comment_form": comment_form or CommentForm()}


@require_safe
def post_detail(request: HttpRequest, pk: int) -> HttpResponse:
    post = _visible_post(request, pk)
    return render(request, "socialapp/post_detail.html", _post_context(request, post))


@require_POST
@login_required_page
def comment_create(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Add a comment. htmx gets the new comment to append (or the form with its errors, as 422)."""
    post = _visible_post(request, pk)
    form = CommentForm(request.POST, autofocus=is_htmx(request))
    if not form.is_valid():
        if is_htmx(request):
            response = _fragment(request, "socialapp/_comment_form.html", {"post": post, "comment_form": form}, 422)
            response["HX-Retarget"] = "#comment-form"
            response["HX-Reswap"] = "outerHTML"
            return response
        return render(request, "socialapp/post_detail.html", _post_context(request, post, form), status=400)

    comment = services.comment_create(post=post, author=request.user, text=form.cleaned_data["text"])
    if is_htmx(request):
        comment_total = selectors.comment_list_for(post=post, user=request.user).count()
        return _fragment(
            request,
            "socialapp/_comment_created.html",
            {
                "post": post,
                "comment": comment,
                "comment_total": comment_total,
                "comment_form": CommentForm(autofocus=True),
            },
        )
    messages.success(request, "Comment posted.")
    return redirect(f"{reverse('post-detail', args=[post.pk])}#comment-{comment.pk}")


@require_POST
@login_required_page
def post_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    post = _visible_post(request, pk)
    services.post_delete(post=post, actor=request.user)
    messages.success(request, "Your post was deleted.")
    return redirect("user-detail", username=request.user.get_username())


@require_POST
@login_required_page
def comment_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    visible_posts = selectors.post_list_visible_to(user=request.user)
    comment = get_object_or_404(Comment.objects.select_related("post").filter(post__in=visible_posts), pk=pk)
    services.comment_delete(comment=comment, actor=request.user)
    messages.success(request, "Comment deleted.")
    return redirect("post-detail", pk=comment.post_id)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required_page
@body_limit(upload_body_limit)
def upload(request: AuthenticatedRequest) -> HttpResponse:
    """Upload a video or photo. Rejected media is explained on the form, with nothing stored."""
    if request.method != "POST":
        return render(request, "socialapp/upload.html", {"form": UploadForm()})

    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "socialapp/upload.html", {"form": form}, status=400)
    try:
        post = services.post_create(
            author=request.user,
            upload=form.cleaned_data["file"],
            caption=form.cleaned_data["caption"],
            allow_remix=form.cleaned_data["allow_remix"],
        )
    except MediaRejected as exc:
        # The caption stays in the bound form; a browser never refills a file input.
        form.add_error("file", exc.detail)
        status = 413 if exc.status == 413 else 400
        return render(request, "socialapp/upload.html", {"form": form}, status=status)
    messages.success(request, "Posted! Here it is.")
    return redirect("post-detail", pk=post.pk)


# --- people -------------------------------------------------------------------------------------


def _profile_user(request: HttpRequest, username: str) -> User:
    try:
        return selectors.user_with_counts(username=username, viewer=request.user)
    except User.DoesNotExist:
        raise Http404("No such user.") from None


@require_safe
def user_detail(request: HttpRequest, username: str) -> HttpResponse:
    profile_user = _profile_user(request, username)
    posts = selectors.feed_for(user=request.user, author=profile_user.username)
    page = _post_page(posts, request.GET)
    return render(request, "socialapp/user_detail.html", {"profile_user": profile_user, "page": page})


@require_POST
@login_required_page
def follow_toggle(request: AuthenticatedRequest, username: str) -> HttpResponse:
    """Follow (``action=follow``) or unfollow (``action=unfollow``); both idempotent, so a double
    click or a resubmitted form can never flip the state back."""
    followee = get_object_or_404(User, username=username, is_active=True)
    action = request.POST.get("action")
    problem = None
    if action == "follow":
        try:
            services.follow(follower=request.user, followee=followee)
        except services.CannotFollowSelf:
            problem = "You cannot follow yourself."
    elif action == "unfollow":
        services.unfollow(follower=request.user, followee=followee)
    else:
        problem = "Choose whether to follow or unfollow."
    if problem is not None:
        if is_htmx(request):
            return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, problem)
        return redirect("user-detail", username=followee.username)

    if is_htmx(request):
        profile_user = _profile_user(request, followee.username)
        return _fragment(request, "socialapp/_follow_button.html", {"profile_user": profile_user, "oob_counts": True})
    name = followee.username
    messages.success(request, f"You now follow @{name}." if action == "follow" else f"You unfollowed @{name}.")
    return redirect("user-detail", username=name)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required_page
def account_settings(request: AuthenticatedRequest) -> HttpResponse:
    profile = getattr(request.user, "profile", None)
    if request.method != "POST":
        initial = {"display_name": profile.display_name, "bio": profile.bio} if profile else {}
        return render(request, "socialapp/settings.html", {"form": ProfileForm(initial=initial)})
    form = ProfileForm(request.POST)
    if not form.is_valid():
        return render(request, "socialapp/settings.html", {"form": form}, status=400)
    services.profile_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Profile saved.")
    return redirect("settings")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required_page
def notifications(request: AuthenticatedRequest) -> HttpResponse:
    """The user's notifications, newest first, unread ones marked. They stay unread until marked:
    POST ``action=read`` with ``id`` marks one, ``action=read-all`` every one; then back to the page."""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "read-all":
            services.notifications_mark_read(user=request.user)
        elif action == "read" and (request.POST.get("id") or "").isdigit():
            try:
                services.notification_mark_read(user=request.user, notification_id=int(request.POST["id"]))
            except Notification.DoesNotExist:
                raise Http404("No such notification.") from None
        else:
            messages.error(request, "Choose which notifications to mark read.")
        page_number = request.POST.get("page") or ""
        return redirect(reverse("notifications") + (f"?page={page_number}" if page_number.isdigit() else ""))

    listed = selectors.notifications_for(user=request.user).select_related("actor__profile")
    page = Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))
    items = list(page.object_list)
    return render(request, "socialapp/notifications.html", {"page": page, "items": items})


@require_http_methods(["GET", "HEAD", "POST"])
@throttle_page("signup", anonymous=True)
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account, sign in with it and land on the feed."""
    next_url = safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "feed")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_register(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                email=form.cleaned_data["email"],
            )
        except services.UsernameTaken:
            form.add_error("username", "That username is taken. Try another one.")
        except ValidationError as exc:
            form.add_error("password", exc.messages)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, @{user.username}! Your account is ready.")
            return redirect(next_url or "feed")
    context = {"form": form, "next": next_url}
    return render(request, "socialapp/signup.html", context, status=400 if form.is_bound else 200)
