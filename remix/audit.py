"""The append-only audit log: one place that writes ``AuditEvent`` rows.

Consent changes, moderation decisions (prompts, uploads, remix outputs), reports, takedowns and
creators' clean-up actions all call ``record``. Rows keep ids and names, never foreign keys, so
deleting a user, a post or a job leaves the log as it was.
"""

from __future__ import annotations

from typing import Any

from socialapp.models import Comment, Post, User

from .models import AuditEvent, RemixJob

Action = AuditEvent.Action


def record(
    action: str,
    *,
    summary: str,
    actor: User | None = None,
    subject: User | None = None,
    post: Post | int | None = None,
    job: RemixJob | int | None = None,
    comment: Comment | int | None = None,
    category: str = "",
    detail: dict[str, Any] | None = None,
    severe: bool | None = None,
) -> AuditEvent:
    """Append one event. ``actor`` None means the system (a detector, the worker, the sweeper). ``severe``
    defaults to whether the category is minors."""
    return AuditEvent.objects.create(
        action=action,
        summary=summary[:300],
        actor_ref=actor.pk if actor is not None else None,
        actor_name=actor.get_username() if actor is not None else "",
        subject_ref=subject.pk if subject is not None else None,
        subject_name=subject.get_username() if subject is not None else "",
        post_ref=_ref(post),
        job_ref=_ref(job),
        comment_ref=_ref(comment),
        category=category,
        severe=category in ("minors", "minor") if severe is None else severe,
        detail=detail or {},
    )


def _ref(value: Any) -> int | None:
    if value is None:
        return None
    return int(value if isinstance(value, int) else value.pk)
