"""Exit 0 when the configured database and broker answer, 1 otherwise (the checks /healthz runs)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from socialapp.health import service_checks


class Command(BaseCommand):
    help = "Check that the configured database and Celery broker answer."

    def handle(self, *args: Any, **options: Any) -> None:
        checks = service_checks()
        for name, state in checks.items():
            self.stdout.write(f"{name}: {state}")
        if any(state != "ok" for state in checks.values()):
            raise CommandError("a service does not answer")
