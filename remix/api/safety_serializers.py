"""Serializers of the trust-and-safety endpoints: reports, remix blocks, "remove all"."""

from __future__ import annotations

from rest_framework import serializers

from socialapp.api.fields import StrictCharField
from socialapp.api.serializers import AuthorSerializer

from ..models import RemixBlock, RemixReport


class RemixReportCreateSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=RemixReport.Reason.choices, help_text="Why the remix should come down (one of the listed codes)."
    )
    text = StrictCharField(
        required=False, allow_blank=True, default="", max_length=1000, help_text="Anything the moderators should know."
    )


class RemixReportSerializer(serializers.ModelSerializer):
    job = serializers.IntegerField(source="job_ref", read_only=True)
    comment = serializers.IntegerField(source="comment_ref", allow_null=True, read_only=True)
    post = serializers.IntegerField(source="post_ref", allow_null=True, read_only=True)

    class Meta:
        model = RemixReport
        fields = ["id", "job", "comment", "post", "reason", "text", "status", "created_at"]
        read_only_fields = fields


class RemixBlockCreateSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150, help_text="The account that may no longer remix your content.")


class RemixBlockSerializer(serializers.ModelSerializer):
    user = AuthorSerializer(source="blocked", read_only=True)

    class Meta:
        model = RemixBlock
        fields = ["user", "created_at"]
        read_only_fields = fields


class RemixesRemovedSerializer(serializers.Serializer):
    removed_remixes = serializers.IntegerField(help_text="Remix comments deleted from your posts.")
    cancelled_jobs = serializers.IntegerField(help_text="Queued or running remixes of your posts cancelled.")
    notified = serializers.IntegerField(help_text="People told that their remixes were removed.")
    allow_remix = serializers.BooleanField(help_text="Your account switch now (always false).")
