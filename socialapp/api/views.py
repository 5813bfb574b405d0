"""API views: validate input, call a service or selector, serialize the result.

Object-level rule everywhere: an object the caller may not see is a 404 (nothing leaks
about what exists); one they may see but not change is a 403.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..models import Comment, Notification, Post, User
from ..throttling import AnonymousRateThrottle, ClientRateThrottle
from ..uploads import MediaRejected, upload_body_limit
from . import serializers as s
from .errors import ApiError, ErrorSerializer
from .pagination import OldestFirstCursorPagination
from .parsers import BoundedJSONParser


def _caller(request: Request) -> User:
    """The logged-in caller; only for handlers whose permission classes already demand a login."""
    return cast(User, request.user)


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


# Request bodies are JSON (the contract), except uploads, which are multipart; any other Content-Type is a
# 415. DRF's default also parses form encodings everywhere, where every value is text: the schema then
# promised three encodings per endpoint, and typed fields could not tell a JSON number from a form's digits.
JSON_BODY = [BoundedJSONParser]

# A list's paging can be refused: 400 for a page_size outside 1..100, 404 for a cursor that is not ours.
PAGE_ERRORS = (400, 404)


def query_flag(request: Request, name: str) -> bool:
    """A boolean query parameter (``?following=true``); absent is false, a value that is no boolean a 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return False
    try:
        return bool(serializers.BooleanField().run_validation(raw))
    except ValidationError as exc:
        raise ValidationError({name: exc.detail}) from None


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    parser_classes = JSON_BODY
    # Per client address, shared with the sign-up page: one client cannot mint accounts by the dozen.
    throttle_classes = [AnonymousRateThrottle]
    throttle_scope = "signup"

    @extend_schema(request=s.RegisterSerializer, responses={201: s.RegisteredSerializer, **_errors(400, 415, 429)})
    def post(self, request: Request) -> Response:
        data = s.RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services.user_register(**data.validated_data)
        except services.UsernameTaken:
            raise ApiError("username_taken", "That username is taken.") from None
        except DjangoValidationError as exc:
            raise ApiError("weak_password", " ".join(exc.messages)) from None
        return Response(s.RegisteredSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    """Sign in a client: a new token of its own. Wrong passwords count toward the lockout of the client address
    and of the account (django-axes; 429 ``too_many_attempts`` with ``retry_after`` while locked)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    parser_classes = JSON_BODY
    throttle_classes = [AnonymousRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=s.TokenRequestSerializer, responses={200: s.TokenSerializer, **_errors(400, 415, 429)})
    def post(self, request: Request) -> Response:
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # While locked out, authenticate() refuses even the right password, and AxesMiddleware answers the 429.
        user = authenticate(request._request, **data.validated_data)
        if user is None:
            raise ApiError("invalid_credentials", "Unable to log in with that username and password.")
        issued = services.api_token_issue(user=user)
        return Response({"token": issued.key, "expires_at": issued.expires_at})


class TokenRefreshView(APIView):
    """Rotate the token in use: a new one for this client, and the old one stops working."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.TokenSerializer, **_errors(401)})
    def post(self, request: Request) -> Response:
        issued = services.api_token_issue(user=_caller(request))
        services.api_token_revoke(token=request.auth)
        return Response({"token": issued.key, "expires_at": issued.expires_at})


class TokenRevokeView(APIView):
    """Sign this client out: the token in use stops working (``?all=true``: every token of the account)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("all", bool, description="Revoke every token of the account, not only this one.")],
        responses={204: None, **_errors(400, 401)},
    )
    def delete(self, request: Request) -> Response:
        if query_flag(request, "all"):
            services.api_tokens_revoke_all(user=_caller(request))
        else:
            services.api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = JSON_BODY

    @extend_schema(responses={200: s.MeSerializer, **_errors(401)})
    def get(self, request: Request) -> Response:
        return Response(s.MeSerializer(request.user).data)

    @extend_schema(request=s.MeSerializer, responses={200: s.MeSerializer, **_errors(400, 401, 415)})
    def patch(self, request: Request) -> Response:
        data = s.MeSerializer(request.user, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        me = _caller(request)
        services.profile_update(user=me, **data.validated_data.get("profile", {}))
        me.refresh_from_db()
        return Response(s.MeSerializer(me).data)


class UserDetailView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: s.UserProfileSerializer, **_errors(404)})
    def get(self, request: Request, username: str) -> Response:
        try:
            user = selectors.user_with_counts(username=username, viewer=request.user)
        except User.DoesNotExist:
            raise ApiError("not_found", "No such user.", status.HTTP_404_NOT_FOUND) from None
        return Response(s.UserProfileSerializer(user).data)


class FollowView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def _followee(self, username: str) -> User:
        return get_object_or_404(User, username=username, is_active=True)

    @extend_schema(
        request=None, responses={201: s.FollowStateSerializer, 200: s.FollowStateSerializer, **_errors(400, 401, 404)}
    )
    def post(self, request: Request, username: str) -> Response:
        followee = self._followee(username)
        try:
            created = services.follow(follower=_caller(request), followee=followee)
        except services.CannotFollowSelf:
            raise ApiError("cannot_follow_self", "You cannot follow yourself.") from None
        return Response(
            {"username": followee.username, "following": True},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=None, responses={204: None, **_errors(401, 404)})
    def delete(self, request: Request, username: str) -> Response:
        services.unfollow(follower=_caller(request), followee=self._followee(username))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PostListView(generics.ListAPIView):
    """The feed, newest first (``?following=true`` for accounts you follow, ``?author=`` for one user)."""

    serializer_class = s.PostSerializer
    # A file needs multipart; the form-urlencoded encoding DRF also offers can never carry one.
    parser_classes = [MultiPartParser]
    throttle_scope = "uploads"
    # Uploads may be as large as the largest media accepted (the validator then applies the per-kind limits).
    max_body_bytes = staticmethod(upload_body_limit)

    def get_throttles(self) -> list[Any]:
        return [ClientRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self) -> Any:
        following = query_flag(self.request, "following")
        return selectors.feed_for(
            user=self.request.user, following_only=following, author=self.request.query_params.get("author")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("following", bool, description="Only posts of accounts you follow."),
            OpenApiParameter("author", str, description="Only posts of this username."),
        ],
        responses={200: s.PostSerializer(many=True), **_errors(*PAGE_ERRORS)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.PostCreateSerializer, responses={201: s.PostSerializer, **_errors(400, 401, 413, 415, 429)}
    )
    def post(self, request: Request) -> Response:
        data = s.PostCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            post = services.post_create(
                author=_caller(request),
                upload=data.validated_data["media"],
                caption=data.validated_data["caption"],
                allow_remix=data.validated_data["allow_remix"],
            )
        except MediaRejected as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        return Response(s.PostSerializer(post, context={"request": request}).data, status=status.HTTP_201_CREATED)


class PostDetailView(APIView):
    parser_classes = JSON_BODY

    def _post(self, request: Request, pk: int) -> Post:
        return get_object_or_404(selectors.post_list_visible_to(user=request.user), pk=pk)

    @extend_schema(responses={200: s.PostSerializer, **_errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.PostSerializer(self._post(request, pk), context={"request": request}).data)

    @extend_schema(
        request=s.PostUpdateSerializer, responses={200: s.PostSerializer, **_errors(400, 401, 403, 404, 415)}
    )
    def patch(self, request: Request, pk: int) -> Response:
        post = self._post(request, pk)
        data = s.PostUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.post_update(post=post, actor=_caller(request), **data.validated_data)
        return Response(s.PostSerializer(post, context={"request": request}).data)

    @extend_schema(responses={204: None, **_errors(401, 403, 404)})
    def delete(self, request: Request, pk: int) -> Response:
        services.post_delete(post=self._post(request, pk), actor=_caller(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CommentListView(generics.ListAPIView):
    """Comments under a post, oldest first."""

    serializer_class = s.CommentSerializer
    pagination_class = OldestFirstCursorPagination
    parser_classes = JSON_BODY

    def _post(self) -> Post:
        return get_object_or_404(selectors.post_list_visible_to(user=self.request.user), pk=self.kwargs["pk"])

    def get_queryset(self) -> Any:
        return selectors.comment_list_for(post=self._post(), user=self.request.user)

    @extend_schema(responses={200: s.CommentSerializer(many=True), **_errors(*PAGE_ERRORS)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.CommentCreateSerializer, responses={201: s.CommentSerializer, **_errors(400, 401, 404, 415)}
    )
    def post(self, request: Request, pk: int) -> Response:
        post = self._post()
        data = s.CommentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = services.comment_create(post=post, author=_caller(request), text=data.validated_data["text"])
        return Response(s.CommentSerializer(comment, context={"request": request}).data, status=status.HTTP_201_CREATED)


class CommentDetailView(APIView):
    @extend_schema(responses={200: s.CommentSerializer, **_errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        comment = self._comment(request, pk)
        if not selectors.comment_is_visible(comment=comment, user=request.user):
            raise ApiError("not_found", "No such comment.", status.HTTP_404_NOT_FOUND)
        return Response(s.CommentSerializer(comment, context={"request": request}).data)

    @extend_schema(responses={204: None, **_errors(401, 403, 404)})
    def delete(self, request: Request, pk: int) -> Response:
        comment, caller = self._comment(request, pk), _caller(request)
        # A hidden remix stays deletable by its author and the post's creator; to anyone else it does not exist.
        may_delete = caller.pk in (comment.author_id, comment.post.author_id)
        if not may_delete and not selectors.comment_is_visible(comment=comment, user=caller):
            raise ApiError("not_found", "No such comment.", status.HTTP_404_NOT_FOUND)
        services.comment_delete(comment=comment, actor=caller)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _comment(self, request: Request, pk: int) -> Comment:
        visible_posts = selectors.post_list_visible_to(user=request.user)
        return get_object_or_404(
            Comment.objects.select_related("post", "author", "author__profile").filter(post__in=visible_posts), pk=pk
        )


class NotificationListView(generics.ListAPIView):
    """The caller's notifications, newest first (``?unread=true`` for the unread ones only)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.NotificationSerializer

    def get_queryset(self) -> Any:
        notes = selectors.notifications_for(user=_caller(self.request)).select_related("actor__profile")
        if query_flag(self.request, "unread"):
            notes = notes.filter(read_at__isnull=True)
        return notes

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool, description="Only unread notifications.")],
        responses={200: s.NotificationSerializer(many=True), **_errors(401, *PAGE_ERRORS)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class NotificationReadView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.NotificationSerializer, **_errors(401, 404)})
    def post(self, request: Request, pk: int) -> Response:
        try:
            note = services.notification_mark_read(user=_caller(request), notification_id=pk)
        except Notification.DoesNotExist:
            raise ApiError("not_found", "No such notification.", status.HTTP_404_NOT_FOUND) from None
        return Response(s.NotificationSerializer(note).data)


class NotificationsReadAllView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.NotificationsMarkedSerializer, **_errors(401)})
    def post(self, request: Request) -> Response:
        me = _caller(request)
        marked = services.notifications_mark_read(user=me)
        unread = Notification.objects.filter(recipient=me, read_at__isnull=True).count()  # any that arrived since
        return Response({"marked": marked, "unread_notifications": unread})


@extend_schema(exclude=True)
class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from the sidecar package (no CDN); its script is a separate file, so CSP holds."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        # Swagger UI sets inline style attributes and data: icons; scripts stay 'self' only.
        response["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "object-src 'none'; frame-ancestors 'none'"
        )
        return response


@csrf_exempt  # it only ever answers 404; without this a POST would get the CSRF failure page (HTML) instead
def endpoint_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The answer for a path under /api/ that names no endpoint (``/api/posts/abc/``): the API's own 404
    (``{code, detail}``, JSON) rather than the site's HTML "not found" page. Mounted last under /api/."""
    return JsonResponse({"code": "not_found", "detail": "No such API endpoint."}, status=404)
