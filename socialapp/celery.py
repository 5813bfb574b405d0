"""The Celery app. Web and worker are separate processes that meet only at the broker.

Queues: ``default`` for small chores and ``remix`` for GPU jobs, so a GPU worker can consume
``remix`` alone (``celery -A socialapp worker -Q remix``). Its configuration is the ``CELERY_*``
block of ``socialapp/settings.py``; with the embedded default the broker is kombu's
filesystem transport under ``VAR_DIR/broker``: no service to run.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialapp.settings")

app = Celery("socialapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
