"""How the remix feature plugs into the social core (``socialapp.extensions``)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from socialapp import selectors as social_selectors
from socialapp.extensions import UploadProvenance, UploadReview
from socialapp.models import Comment, Post, User

from . import audit, consent, credentials, jobs, policy, provenance
from . import review as review_desk
from .models import RemixJob, RemixResult
from .results import payload

# IPTC digital source types that mean "made or changed by generative AI" (the "AI info" label).
AI_SOURCE_TYPES = frozenset(
    {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic"}
)


def _shown_remix_q() -> Q:
    """Remix comments whose job succeeded: a held remix (output moderation) stays hidden until approved."""
    return Q(remix_result__job__status=RemixJob.Status.SUCCEEDED)


@functools.cache
def _shown_remix_counts(account_default: bool) -> QuerySet[Comment, tuple[int, int]]:
    """``(post id, remixes shown)`` rows, to be narrowed to some posts: built once per process (and per
    site default, which the consent filter reads). Django takes longer to build this query (five
    correlated subqueries) than the database takes to run it, so each use only clones it.

    The job's state is a correlated EXISTS, not a join: joined, its equality on the status index
    tempts SQLite (no statistics) to start from every succeeded job in the database rather than from
    the posts asked about.
    """
    succeeded = RemixJob.objects.filter(result__comment=OuterRef("pk"), status=RemixJob.Status.SUCCEEDED)
    return (
        Comment.objects.filter(kind=Comment.Kind.REMIX)
        .filter(Exists(succeeded) & policy.consented_remix_q())
        .values_list("post")
        .annotate(n=Count("pk"))
        .values_list("post", "n")
    )


class RemixExtension:
    def new_post_allow_remix(self, *, author: User) -> bool:
        return policy.settings_of(author).new_posts_allow_remix

    def set_post_allow_remix(self, *, post: Post, actor: User, value: bool) -> None:
        consent.post_allow_remix_set(post=post, actor=actor, value=value)

    def visible_comments(self, comments: QuerySet[Comment], *, viewer: User | AnonymousUser) -> QuerySet[Comment]:
        # A remix is shown only once its job succeeded (not while held for review) and while its
        # creator consents to its requester's remix; its result (image, job) comes in the same query,
        # for the API payload and the templates alike.
        visible = comments.filter(~Q(kind=Comment.Kind.REMIX) | (_shown_remix_q() & policy.consented_remix_q()))
        return visible.select_related("remix_result", "remix_result__job")

    def post_states(self, posts: Iterable[Post], *, viewer: User | AnonymousUser) -> dict[int, dict[str, Any]]:
        # At most two queries for any number of posts: the creators' consent facts (none for an
        # anonymous viewer) and one grouped count of the remixes shown.
        posts = list(posts)
        reasons = policy.denied_reasons_for(viewer=viewer, posts=posts)
        return {
            post.pk: {
                "remix_allowed": reasons[post.pk] is None,
                "remix_denied_reason": str(reasons[post.pk]) if reasons[post.pk] is not None else None,
                "remix_count": count,
            }
            for post, count in zip(posts, self._remix_counts(posts, reasons=reasons), strict=True)
        }

    def _remix_counts(self, posts: list[Post], *, reasons: dict[int, policy.Denial | None]) -> list[int]:
        """Remix comments shown under each post: one grouped COUNT over the page's posts.

        Not a counter column: whether a remix is shown depends on its creator's consent now (account,
        post, audience, blocks of its requester) and on its job's state, so a stored number would need
        rewriting on every consent change, block or unfollow. Only posts that could show any are asked
        about: a post whose toggle is off, or whose creator's account switch is off, shows none.
        """
        candidates = [
            post.pk for post in posts if post.allow_remix and reasons.get(post.pk) is not policy.Denial.ACCOUNT_DISABLED
        ]
        counts: dict[int, int] = {}
        if candidates:
            counts = dict(_shown_remix_counts(policy.account_default()).filter(post__in=candidates))
        return [counts.get(post.pk, 0) for post in posts]

    def comment_payloads(self, comments: Iterable[Comment], *, request: Any) -> dict[int, dict[str, Any]]:
        comments = list(comments)
        # Loaded with the comments by visible_comments (select_related); one query for any others.
        cached = {
            c.pk: c._state.fields_cache.get("remix_result") for c in comments if "remix_result" in c._state.fields_cache
        }
        results = [r for r in cached.values() if r is not None]
        missing = [c.pk for c in comments if c.pk not in cached]
        if missing:
            results += RemixResult.objects.filter(comment__in=missing).select_related("job")
        return {result.comment_id: payload(result, request=request) for result in results}

    def media_visible(self, *, name: str, viewer: User | AnonymousUser) -> bool:
        result = RemixResult.objects.select_related("comment__post").filter(image=name).first()
        if result is None:
            return False
        if viewer.is_authenticated and viewer.is_staff and viewer.has_perm("remix.view_remixjob"):
            return True  # moderators look at held and reported remixes, which nobody else sees
        return social_selectors.comment_is_visible(comment=result.comment, user=viewer)

    def on_user_active_changed(self, *, user: User, active: bool, actor: User | None) -> None:
        cancelled = 0 if active else jobs.cancel_requested_by(requester=user)
        audit.record(
            audit.Action.USER_REACTIVATED if active else audit.Action.USER_DEACTIVATED,
            actor=actor,
            subject=user,
            summary=f"Account @{user.get_username()} {'reactivated' if active else 'deactivated'}",
            detail={"cancelled_jobs": cancelled},
        )

    def on_user_removed(self, *, user: User, actor: User | None) -> None:
        # Their jobs go with the account (a worker running one finds it gone); only the record stays.
        audit.record(  # by id only: the account's name goes with it
            audit.Action.USER_DELETED,
            actor=actor,
            summary=f"Account {user.pk} deleted",
            detail={"user": user.pk, "posts": Post.objects.filter(author=user).count()},
        )

    def on_unfollow(self, *, follower: User, followee: User) -> None:
        consent.follow_removed(creator=follower, former_follow=followee)

    def inspect_upload(self, *, data: bytes) -> UploadProvenance:
        mime = credentials.sniff_image_type(data)
        if mime is None:  # videos and anything else: nothing read (the validator decides what it is)
            return UploadProvenance()
        facts = provenance.read_credentials(data, mime_type=mime)
        c2pa_type = facts.get("digital_source_type")
        iptc_type = facts.get("iptc_digital_source_type")
        ai_type = next((t for t in (c2pa_type, iptc_type) if t and t.rsplit("/", 1)[-1] in AI_SOURCE_TYPES), None)
        ai_info = None
        if ai_type is not None:
            ai_info = {
                "source": "c2pa" if ai_type == c2pa_type else "iptc",
                "digital_source_type": ai_type,
                "c2pa_state": facts.get("state"),
            }
        return UploadProvenance(ai_info=ai_info)

    def review_upload(self, *, poster: bytes) -> UploadReview:
        return review_desk.upload_review(poster=poster)

    def on_post_created(self, *, post: Post, review: UploadReview | None) -> None:
        review_desk.upload_reviewed(post=post, review=review)

    def on_comment_deleted(self, *, comment: Comment, actor: User | None) -> None:
        from . import creator_controls

        creator_controls.remix_comment_deleted(comment=comment, actor=actor)
