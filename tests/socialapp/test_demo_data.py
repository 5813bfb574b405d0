"""`manage.py demo_data` (run by `make run`): real generated media through the real validator, idempotent."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from socialapp.models import Follow, Post, User

pytestmark = pytest.mark.django_db


def test_demo_data_is_idempotent_and_real() -> None:
    call_command("demo_data", "--quiet")
    posts = Post.objects.count()
    assert posts >= 6
    assert Post.objects.filter(media_type="video", duration__gt=1).count() >= 3
    assert Post.objects.filter(media_type="image").exists()
    assert User.objects.filter(username="admin", is_superuser=True).exists()
    assert Follow.objects.exists()
    call_command("demo_data", "--quiet")
    assert Post.objects.count() == posts
    assert User.objects.filter(username="alice").count() == 1


def test_demo_data_refuses_production(settings: object) -> None:
    from django.core.management.base import CommandError

    settings.PRODUCTION = True  # type: ignore[attr-defined]
    with pytest.raises(CommandError):
        call_command("demo_data", "--quiet")
