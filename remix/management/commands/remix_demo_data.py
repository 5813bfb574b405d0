"""The remix side of the demo (after ``demo_data``): carol has opted in, so there is something to
remix at once; alice and bob have not, so a visitor can try opting in themselves. Idempotent."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from remix import consent
from socialapp.models import User


class Command(BaseCommand):
    help = "Opt the demo creator carol in to remixing (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo consent is for the embedded default, not production.")
        carol = User.objects.filter(username="carol").first()
        if carol is None:
            raise CommandError("Run `manage.py demo_data` first.")
        consent.creator_settings_update(
            creator=carol,
            actor=carol,
            allow_remix=True,
            audience="everyone",
            new_posts_allow_remix=True,
            apply_to_existing_posts=True,
        )
        self.stdout.write("Remix demo: carol's posts may be remixed by anyone; alice and bob have not opted in.")
