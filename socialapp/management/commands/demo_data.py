"""Create the demo: a few users, real short videos (drawn and encoded with PyAV) and photos.

Idempotent: run it as often as you like; users and posts that exist are kept as they are.
Everything goes through the same services (and upload validator) as a real upload.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError

from socialapp import demo_media, services
from socialapp.models import Post, User

DEMO_PASSWORD = "remix-demo-2026"  # noqa: S105 (the demo, refused in production)

# (username, display name, bio, [(kind, scene, caption, allow_remix)])
DEMO_USERS = [
    (
        "alice",
        "Alice Rivera",
        "Sunsets, skateboards and very short films.",
        [
            ("video", "sunset", "Golden hour at the pier 🌅", True),
            ("photo", "ocean", "Low tide this morning", True),
        ],
    ),
    (
        "bob",
        "Bob Okafor",
        "Night walks in the city.",
        [
            ("video", "city", "The 2 a.m. skyline never sleeps", False),
            ("photo", "city", "Neon and rain", False),
        ],
    ),
    (
        "carol",
        "Carol Nguyen",
        "Trees, mostly. Sometimes a disco.",
        [
            ("video", "forest", "Wind in the birches", True),
            ("video", "disco", "Friday night lights", False),
            ("photo", "forest", "Moss close-up", False),
        ],
    ),
]
DEMO_FOLLOWS = [("alice", "bob"), ("bob", "alice"), ("carol", "alice")]


class Command(BaseCommand):
    help = "Create demo users and posts with generated videos and photos (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo data with known passwords is for the embedded default, not production.")
        created_posts = 0
        with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
            for username, display_name, bio, posts in DEMO_USERS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = services.user_register(
                        username=username, password=DEMO_PASSWORD, email=f"{username}@example.com"
                    )
                    services.profile_update(user=user, display_name=display_name, bio=bio)
                for kind, scene, caption, allow_remix in posts:
                    if Post.objects.filter(author=user, caption=caption).exists():
                        continue
                    upload = self._media(Path(tmp), kind, scene, caption)
                    services.post_create(author=user, upload=upload, caption=caption, allow_remix=allow_remix)
                    created_posts += 1
        for follower, followee in DEMO_FOLLOWS:
            services.follow(follower=User.objects.get(username=follower), followee=User.objects.get(username=followee))
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", DEMO_PASSWORD)
        if not options["quiet"]:
            port = os.environ.get("PORT", "8000")
            self.stdout.write(f"Demo data ready ({created_posts} new posts).")
            self.stdout.write(f"  Open      http://127.0.0.1:{port}/")
            self.stdout.write(f"  Log in as alice, bob or carol with password {DEMO_PASSWORD}")
            self.stdout.write(f"  Admin     http://127.0.0.1:{port}/admin/  (admin / {DEMO_PASSWORD})")
            self.stdout.write(f"  API docs  http://127.0.0.1:{port}/api/docs/")

    def _media(self, tmp: Path, kind: str, scene: str, caption: str) -> SimpleUploadedFile:
        if kind == "video":
            path = demo_media.make_video(tmp / f"{scene}.mp4", seconds=5, scene=scene, caption=caption, with_audio=True)
        else:
            path = demo_media.make_photo(tmp / f"{scene}.jpg", scene=scene)
        return SimpleUploadedFile(path.name, path.read_bytes())
