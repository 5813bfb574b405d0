"""Admin: the prompt moderation rule sets and per-language lexicons, and a box to try a prompt against every
layer (rules, public figures, classifier, names, language), showing the normalised text and which layer decided.

Edits apply at once in every process (``remix.moderation.prompts`` rebuilds its compiled rules when
their signature changes), and each one is written to the audit log with the admin who made it.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from socialapp.models import User

from .. import audit
from ..models import AuditEvent, ModerationRule
from ..moderation import classifier, prompts
from ..moderation.text import check_text

LAYERS = {
    "rules": "the rules and lexicons",
    "public_figures": "the public-figure list",
    "classifier": "the learned classifier",
    "person_name": "the person-name detector",
    "language": "the language check",
}


class ModerationRuleForm(forms.ModelForm):
    class Meta:
        model = ModerationRule
        fields = ["category", "kind", "pattern", "language", "note", "is_active"]
        help_texts = {
            "pattern": "One or more words, matched as whole words after undoing case, accents, look-alike "
            "letters, leetspeak and spacing. A trailing * matches any ending (use it only where no innocent "
            "word shares the stem: stab* would hit “stable”); a plain word also matches its plural in -s/-es. "
            "A pattern in Chinese, Japanese, Korean or Thai is matched as a substring (those scripts have no spaces).",
            "language": "The lexicon it belongs to (es, hi-Latn, …; blank: any). Every active rule applies to every "
            "text whatever its language.",
        }

    def clean_pattern(self) -> str:
        pattern = " ".join(self.cleaned_data["pattern"].split())
        if any("*" in word.rstrip("*") for word in pattern.split()):
            raise forms.ValidationError("A * may only end a word (“kill*”), not stand inside one.")
        if not prompts.parse_pattern(pattern):
            raise forms.ValidationError("The pattern needs at least one letter or digit.")
        return pattern


def _admin_user(request: HttpRequest) -> User:
    return cast(User, request.user)  # the admin site lets staff users only in


def _record(request: HttpRequest, rule: ModerationRule, change: str, fields: list[str] | None = None) -> None:
    audit.record(
        AuditEvent.Action.RULE_CHANGED,
        summary=f"rule {change}: {rule.category} {rule.kind} '{rule.pattern}'"
        + ("" if rule.is_active else " (inactive)"),
        actor=_admin_user(request),
        category=rule.category,
        detail={
            "change": change,
            "rule": rule.pk,
            "category": rule.category,
            "kind": rule.kind,
            "pattern": rule.pattern,
            "is_active": rule.is_active,
            "note": rule.note,
            **({"fields": fields} if fields else {}),
        },
    )


@admin.register(ModerationRule)
class ModerationRuleAdmin(admin.ModelAdmin):
    form = ModerationRuleForm
    list_display = ["pattern", "category", "kind", "language", "is_active", "updated_at"]
    list_display_links = ["pattern"]
    list_editable = ["is_active"]
    list_filter = ["category", "kind", "language", "is_active"]
    search_fields = ["pattern", "note"]
    ordering = ["category", "kind", "pattern"]
    list_per_page = 200
    readonly_fields = ["created_at", "updated_at"]
    change_list_template = "admin/remix/moderationrule/change_list.html"

    def save_model(self, request: HttpRequest, obj: ModerationRule, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            _record(request, obj, "added")
        elif form.changed_data:
            _record(request, obj, "changed", fields=list(form.changed_data))

    def delete_model(self, request: HttpRequest, obj: ModerationRule) -> None:
        rule_id = obj.pk
        super().delete_model(request, obj)
        obj.pk = rule_id
        _record(request, obj, "deleted")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModerationRule]) -> None:
        rules = list(queryset)
        super().delete_queryset(request, queryset)
        for rule in rules:
            _record(request, rule, "deleted")

    def get_urls(self) -> list[URLPattern]:
        try_url = path("try/", self.admin_site.admin_view(self.try_prompt_view), name="remix_moderationrule_try")
        return [try_url, *super().get_urls()]

    def try_prompt_view(self, request: HttpRequest) -> HttpResponse:
        """The verdict of the active rules on a typed prompt, and every rule that matched in it."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        text = request.GET.get("prompt", "")[:500]
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Try a prompt",
            "prompt": text,
        }
        if text.strip():
            matcher = prompts.current_matcher()
            verdict = check_text(text, matcher=matcher)
            scored = classifier.get().score(text)
            context["probabilities"] = sorted(
                ((label, f"{p:.2f}") for label, p in scored.probabilities.items()), key=lambda r: r[1], reverse=True
            )[:4]
            rows = {(m.rule.category, m.rule.kind, m.rule.pattern, covered) for m, covered in matcher.explain(text)}
            context["verdict"] = verdict
            context["matches"] = [
                {
                    "pattern": pattern,
                    "category": ModerationRule.Category(category).label,
                    "kind": ModerationRule.Kind(kind).label,
                    "covered": covered,
                }
                for category, kind, pattern, covered in sorted(rows)
            ]
            if verdict.category:
                context["category_label"] = ModerationRule.Category(verdict.category).label
            context["layer_label"] = LAYERS.get(verdict.layer, verdict.layer)
        return TemplateResponse(request, "admin/remix/moderationrule/try_prompt.html", context)
