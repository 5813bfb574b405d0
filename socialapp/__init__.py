"""The social core: users, follows, posts, comments, uploads, the REST API and the browser pages."""

from .celery import app as celery_app

__all__ = ["celery_app"]
