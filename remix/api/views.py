"""Remix API views: validate, call ``policy``/``consent``/``jobs``, serialize. Errors are ``{code, detail}``."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from socialapp import selectors as social_selectors
from socialapp.api.errors import ApiError, ErrorSerializer
from socialapp.api.views import JSON_BODY, PAGE_ERRORS
from socialapp.models import Comment, User
from socialapp.throttling import ClientRateThrottle
from socialapp.uploads import image_body_limit

from .. import consent, credentials, jobs, policy, selectors
from ..models import ConsentChange, RemixJob
from . import serializers as s


def _caller(request: Request) -> User:
    return cast(User, request.user)


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


def _settings_body(user: User) -> dict[str, Any]:
    current = policy.settings_of(user)
    return {
        "allow_remix": current.allow_remix,
        "audience": current.audience,
        "new_posts_allow_remix": current.new_posts_allow_remix,
        "protect_face": current.protect_face,
    }


RATE_LIMIT_SENTENCES = {
    "hourly": "Too many remix requests; try again later.",
    "user_daily": "You have reached today's remix limit; try again tomorrow.",
    "post_daily": "This post has been remixed as many times as allowed today; try again tomorrow.",
}


class RemixSettingsView(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = JSON_BODY

    @extend_schema(responses={200: s.RemixSettingsSerializer, **_errors(401)})
    def get(self, request: Request) -> Response:
        return Response(_settings_body(_caller(request)))

    @extend_schema(
        request=s.RemixSettingsSerializer, responses={200: s.RemixSettingsSerializer, **_errors(400, 401, 415)}
    )
    def patch(self, request: Request) -> Response:
        data = s.RemixSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        me = _caller(request)
        consent.creator_settings_update(creator=me, actor=me, **data.validated_data)
        return Response(_settings_body(me))


class ConsentLedgerView(generics.ListAPIView):
    """The caller's consent ledger, newest first (append-only)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.ConsentChangeSerializer

    def get_queryset(self) -> QuerySet[ConsentChange]:
        return ConsentChange.objects.filter(creator=_caller(self.request)).select_related("actor")

    @extend_schema(responses={200: s.ConsentChangeSerializer(many=True), **_errors(401, *PAGE_ERRORS)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RemixCreateView(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = JSON_BODY

    @extend_schema(
        request=s.RemixRequestSerializer,
        responses={202: s.RemixJobSerializer, **_errors(400, 401, 403, 404, 415, 429)},
        description="Ask for an AI remix of a post. 202 with the job: `queued`, or `held` when prompt moderation "
        "cannot clear the request automatically (it does not run until a moderator approves it; a rejection notifies "
        "the requester). 400 `prompt_rejected` carries `category` (sexual, minors, real_persons, violence, hate, "
        "self_harm, harassment; and `field`: prompt or meme_text); 403 `remix_not_allowed` carries `reason`; "
        "403 `account_too_new` (with `retry_after`) for an "
        "account younger than the site's minimum age, on others' posts; 429 `rate_limited` "
        "carries `limit` (hourly, user_daily, post_daily) and `retry_after`; 429 `queue_full` (with `retry_after`) "
        "when the site's queue is at its cap. A repeated `client_request_id` returns the first job.",
    )
    def post(self, request: Request, pk: int) -> Response:
        me = _caller(request)
        post = get_object_or_404(social_selectors.post_list_visible_to(user=me), pk=pk)
        data = s.RemixRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job, _ = jobs.remix_job_create(post=post, requester=me, request=jobs.JobRequest(**data.validated_data))
        except jobs.RemixRequestInvalid as exc:
            raise ApiError("invalid", f"{exc.field}: {exc.detail}", errors={exc.field: [exc.detail]}) from None
        except jobs.PromptRejected as exc:
            raise ApiError("prompt_rejected", exc.sentence, category=exc.category, field=exc.field) from None
        except jobs.RemixNotAllowed as exc:
            raise ApiError(
                "remix_not_allowed",
                policy.DENIAL_SENTENCES[exc.reason],
                status.HTTP_403_FORBIDDEN,
                reason=str(exc.reason),
            ) from None
        except jobs.AccountTooNew as exc:
            raise ApiError(
                "account_too_new",
                exc.sentence,
                status.HTTP_403_FORBIDDEN,
                retry_after=exc.retry_after,
            ) from None
        except jobs.RateLimited as exc:
            error = ApiError(
                "rate_limited", RATE_LIMIT_SENTENCES[exc.limit], 429, retry_after=exc.retry_after, limit=exc.limit
            )
            raise error from None
        except jobs.QueueFull as exc:
            raise ApiError(
                "queue_full",
                "Too many remixes are waiting right now; try again in a minute.",
                # Back-pressure, not a fault: the site is working and says when to come back (a 5xx would read as
                # an outage to clients and monitors).
                status.HTTP_429_TOO_MANY_REQUESTS,
                retry_after=exc.retry_after,
            ) from None
        response = Response(s.RemixJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = f"/api/remixes/{job.pk}/"
        return response


class RemixDetailView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: s.RemixJobSerializer, **_errors(401, 404)})
    def get(self, request: Request, pk: int) -> Response:
        job = get_object_or_404(selectors.job_list_visible_to(user=_caller(request)), pk=pk)
        return Response(s.RemixJobSerializer(job).data)


class RemixCancelView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.RemixJobSerializer, **_errors(401, 403, 404, 409)})
    def post(self, request: Request, pk: int) -> Response:
        me = _caller(request)
        job = get_object_or_404(selectors.job_list_visible_to(user=me), pk=pk)
        try:
            job = jobs.remix_job_cancel(job=job, actor=me)
        except PermissionError:
            raise ApiError("permission_denied", "Only the requester or the post's creator can cancel.", 403) from None
        except jobs.CannotCancel:
            raise ApiError(
                "not_cancellable", f"The remix has already {job.status}.", status.HTTP_409_CONFLICT
            ) from None
        return Response(s.RemixJobSerializer(job).data)


class MyRemixesView(generics.ListAPIView):
    """The caller's remix requests, newest first."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.RemixJobSerializer

    def get_queryset(self) -> QuerySet[RemixJob]:
        return RemixJob.objects.filter(requester=_caller(self.request)).select_related("result")

    @extend_schema(responses={200: s.RemixJobSerializer(many=True), **_errors(401, *PAGE_ERRORS)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class CommentCredentialsView(APIView):
    """The content credentials of a remix comment's image: C2PA state, actions, source type, watermark."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: s.CredentialsSerializer, **_errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        comment = get_object_or_404(
            Comment.objects.select_related("post", "remix_result__job").filter(kind=Comment.Kind.REMIX), pk=pk
        )
        if not social_selectors.comment_is_visible(comment=comment, user=request.user):
            raise ApiError("not_found", "No such comment.", status.HTTP_404_NOT_FOUND)
        return Response(credentials.describe_remix(comment.remix_result, viewer=request.user))


class VerifyCredentialsView(APIView):
    """Check any image: its C2PA credentials, IPTC source type, and whether it carries a remix's watermark."""

    permission_classes = [permissions.AllowAny]
    parser_classes = [MultiPartParser]  # a file needs multipart
    throttle_classes = [ClientRateThrottle]
    throttle_scope = "verify"
    max_body_bytes = staticmethod(image_body_limit)

    @extend_schema(
        request=s.VerifyRequestSerializer, responses={200: s.CredentialsSerializer, **_errors(400, 413, 415, 429)}
    )
    def post(self, request: Request) -> Response:
        data = s.VerifyRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["image"]
        if upload.size > settings.MAX_IMAGE_BYTES:
            raise ApiError("invalid_media", "The image is too large to check.", 413)
        raw = upload.read()
        mime = credentials.sniff_image_type(raw)
        if mime is None:
            raise ApiError("invalid_media", "Only JPEG, PNG and WebP images can be checked.")
        try:
            return Response(credentials.describe(raw, viewer=request.user, mime_type=mime))
        except credentials.TooLargeToDecode as exc:
            raise ApiError("invalid_media", exc.sentence) from None
