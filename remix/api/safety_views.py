"""Trust-and-safety API: report a remix, block accounts from remixing, remove all remixes.

Thin like the other views: validate, call ``reports``/``consent``/``creator_controls``, serialize.
Errors are ``{code, detail}``; a remix comment the caller cannot see is a 404 like any other.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from socialapp import selectors as social_selectors
from socialapp.api.errors import ApiError, ErrorSerializer
from socialapp.api.views import JSON_BODY, PAGE_ERRORS
from socialapp.models import Comment, User
from socialapp.throttling import ClientRateThrottle

from .. import consent, creator_controls, reports
from ..models import RemixBlock
from . import safety_serializers as s


def _caller(request: Request) -> User:
    return cast(User, request.user)


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


class CommentReportView(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = JSON_BODY
    throttle_classes = [ClientRateThrottle]
    throttle_scope = "reports"

    @extend_schema(
        request=s.RemixReportCreateSerializer,
        responses={201: s.RemixReportSerializer, 200: s.RemixReportSerializer, **_errors(400, 401, 404, 415, 429)},
        description="Report a remix comment to the moderators. 201: a new report; 200: your report on this remix "
        "is still open, and is returned as it is. 404 for anything that is not a remix you can see.",
    )
    def post(self, request: Request, pk: int) -> Response:
        me = _caller(request)
        visible_posts = social_selectors.post_list_visible_to(user=me)
        comment = get_object_or_404(
            Comment.objects.select_related("post", "author").filter(post__in=visible_posts, kind=Comment.Kind.REMIX),
            pk=pk,
        )
        data = s.RemixReportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            report, created = reports.report_file(comment=comment, reporter=me, **data.validated_data)
        except reports.NotReportable:
            raise ApiError("not_found", "No such remix.", status.HTTP_404_NOT_FOUND) from None
        return Response(
            s.RemixReportSerializer(report).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class RemixBlockListView(generics.ListAPIView):
    """Accounts the caller has blocked from remixing their content, newest first."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.RemixBlockSerializer
    parser_classes = JSON_BODY

    def get_queryset(self) -> QuerySet[RemixBlock]:
        return RemixBlock.objects.filter(creator=_caller(self.request)).select_related("blocked", "blocked__profile")

    @extend_schema(responses={200: s.RemixBlockSerializer(many=True), **_errors(401, *PAGE_ERRORS)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.RemixBlockCreateSerializer,
        responses={201: s.RemixBlockSerializer, 200: s.RemixBlockSerializer, **_errors(400, 401, 404, 415)},
        description="Block an account from remixing any of your content: its queued and running remixes of your "
        "posts are cancelled and its remixes under your posts are hidden until you unblock it. Idempotent "
        "(200 when already blocked); 400 `cannot_block_self`.",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        me = _caller(request)
        data = s.RemixBlockCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = User.objects.filter(username=data.validated_data["username"], is_active=True).first()
        if target is None:
            raise ApiError("not_found", "No such user.", status.HTTP_404_NOT_FOUND)
        try:
            created = consent.remix_block(creator=me, blocked=target, actor=me)
        except consent.CannotBlockSelf:
            raise ApiError("cannot_block_self", "You cannot block yourself from remixing your own content.") from None
        block = RemixBlock.objects.select_related("blocked", "blocked__profile").get(creator=me, blocked=target)
        return Response(
            s.RemixBlockSerializer(block).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class RemixBlockDetailView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        responses={204: None, **_errors(401, 404)},
        description="Unblock: the account may remix your content again (as your other settings allow). Idempotent.",
    )
    def delete(self, request: Request, username: str) -> Response:
        me = _caller(request)
        target = get_object_or_404(User, username=username)
        consent.remix_unblock(creator=me, blocked=target, actor=me)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RemoveAllRemixesView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: s.RemixesRemovedSerializer, **_errors(401)},
        description="Turn AI remixes off for your account and delete every remix of your posts, in one step: queued "
        "and running remixes are cancelled, remix comments and their images are deleted, and each person whose "
        "remix was removed is notified once. Safe to repeat.",
    )
    def post(self, request: Request) -> Response:
        me = _caller(request)
        done = creator_controls.remix_remove_all(creator=me, actor=me)
        return Response(
            {
                "removed_remixes": done.removed_remixes,
                "cancelled_jobs": done.cancelled_jobs,
                "notified": done.notified,
                "allow_remix": False,
            }
        )
