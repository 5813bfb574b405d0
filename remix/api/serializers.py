from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from socialapp.api.errors import ErrorSerializer
from socialapp.api.fields import StrictBooleanField, StrictCharField, StrictFloatField, StrictIntegerField

from ..jobs import MAX_PROMPT
from ..memes import MAX_MEME_TEXT
from ..models import ConsentChange, CreatorSettings, RemixJob


class RemixSettingsSerializer(serializers.Serializer):
    allow_remix = StrictBooleanField(required=False, help_text="Master switch for all my content.")
    audience = serializers.ChoiceField(choices=CreatorSettings.Audience.choices, required=False)
    new_posts_allow_remix = StrictBooleanField(required=False, help_text="The toggle new uploads start with.")
    protect_face = StrictBooleanField(
        required=False, help_text="Restore faces found in my posts from the original in every remix."
    )
    apply_to_existing_posts = StrictBooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text="Also set every existing post's toggle to new_posts_allow_remix.",
    )


class ConsentChangeSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    post = serializers.IntegerField(source="post_ref", allow_null=True)

    class Meta:
        model = ConsentChange
        fields = ["id", "created_at", "actor", "field", "post", "old_value", "new_value", "cancelled_jobs"]
        read_only_fields = fields


class RemixRequestSerializer(serializers.Serializer):
    # The limits are the service's own (checked again there, after whitespace is collapsed), so the schema
    # states them: a request the schema calls valid is not refused for its length.
    prompt = StrictCharField(
        max_length=MAX_PROMPT, trim_whitespace=True, help_text=f"The edit, 1–{MAX_PROMPT} characters."
    )
    frame_time = StrictFloatField(required=False, allow_null=True, help_text="Seconds into a video.")
    meme_text = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=MAX_MEME_TEXT,
        default="",
        help_text="'top|bottom' text drawn on the image: at most one '|', no control characters.",
    )
    seed = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=2**63 - 1)
    client_request_id = StrictCharField(required=False, allow_null=True, max_length=64)


class RemixJobSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    comment = serializers.SerializerMethodField()

    class Meta:
        model = RemixJob
        fields = [
            "id",
            "post",
            "status",
            "progress",
            "error",
            "comment",
            "prompt",
            "meme_text",
            "frame_time",
            "seed",
            "created_at",
            "started_at",
            "finished_at",
            "model_seconds",
            "model_id",
            "model_revision",
        ]
        read_only_fields = fields

    @extend_schema_field(ErrorSerializer(allow_null=True))
    def get_error(self, job: RemixJob) -> dict[str, Any] | None:
        return job.error

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_comment(self, job: RemixJob) -> int | None:
        result = getattr(job, "result", None)
        return result.comment_id if result is not None else None


class VerifyRequestSerializer(serializers.Serializer):
    # An empty file is bytes like any other (the schema's ``format: binary``): it gets the same
    # "not a JPEG, PNG or WebP" answer as any other non-image.
    image = serializers.FileField(allow_empty_file=True, help_text="A JPEG, PNG or WebP image.")


class C2paSerializer(serializers.Serializer):
    present = serializers.BooleanField()
    state = serializers.CharField(allow_null=True, help_text="trusted, valid or invalid; null when absent.")
    failures = serializers.ListField(child=serializers.CharField(), help_text="c2pa validation failure codes.")
    title = serializers.CharField(allow_null=True)
    claim_generator = serializers.CharField(allow_null=True)
    actions = serializers.ListField(child=serializers.CharField())
    digital_source_type = serializers.CharField(allow_null=True)
    software_agent = serializers.CharField(allow_null=True)
    training_mining = serializers.DictField(child=serializers.CharField(), allow_null=True)
    ingredients = serializers.ListField(child=serializers.DictField())
    source_url = serializers.CharField(allow_null=True)


class RemixPointerSerializer(serializers.Serializer):
    visible = serializers.BooleanField(help_text="Always true: a remix hidden from you reads as no remix at all.")
    job = serializers.IntegerField(required=False)
    comment = serializers.IntegerField(required=False)
    post = serializers.IntegerField(required=False)
    post_url = serializers.CharField(required=False)


class WatermarkSerializer(serializers.Serializer):
    found = serializers.BooleanField()
    remix = RemixPointerSerializer(allow_null=True)


class CredentialsSerializer(serializers.Serializer):
    comment = serializers.IntegerField(required=False)
    job = serializers.IntegerField(required=False)
    c2pa = C2paSerializer()
    iptc_digital_source_type = serializers.CharField(allow_null=True)
    ai_generated = serializers.BooleanField()
    watermark = WatermarkSerializer()
