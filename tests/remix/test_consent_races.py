"""Consent races: a creator withdraws consent at every moment of a remix job's life, with the real worker and the
real tiny diffusion pipeline.

DESIGN.md promises that turning consent off (account switch, post toggle, an audience that no longer admits the
requester) cancels the content's queued and running jobs at once, that existing remix comments are hidden while
consent is off and shown again when it returns, and that a job yields at most one comment. These tests hold the
worker to that wherever a consent change can land:

- a matrix: {post toggle off, account switch off, audience narrowed, post deleted} × {queued, just claimed,
  mid-diffusion, just before attach}, each change injected at exactly its moment by wrapping the real functions
  (``worker.claim``, the pipeline's ``on_progress``, ``worker.attach``), then the message delivered again;
- the same changes landing while the request itself is being made (re-checked under the locks before the insert);
- a Hypothesis state machine over random interleavings of consent changes, follows, requests, cancels, worker
  deliveries (with consent changes drawn at the same three seams), worker crashes and redeliveries, checking after
  every step that comments are shown exactly while the creator consents, that withdrawn jobs never publish, and
  that no job yields two comments or leaves a file behind.

Everything runs in the test's own process (``worker.run_job`` is the body of the Celery task), so each change
happens at an exact point. The pipeline is observed, never replaced.
"""

from __future__ import annotations

import itertools
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import TestCase, override_settings
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from remix import consent, jobs, pipeline, policy, worker
from remix.consent import CONSENT_REVOKED
from remix.models import CreatorSettings, RemixJob, RemixResult
from remix.moderation import prompts
from remix.pipeline import ARCH_INSTRUCT_PIX2PIX, RemixPipeline
from remix.policy import Denial
from socialapp import extensions, selectors
from socialapp import services as social_services
from socialapp.models import Comment, Follow, Post, User
from tests.conftest import client_for, media_files
from tests.factories import PostFactory, UserFactory
from tests.remix.conftest import opt_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("model")]

PROMPT = "add fireworks"
REMIX_FILES = "remixes"


# --- seams: the real functions, wrapped so a test can act at an exact point of a delivery -------------------------


class Seams:
    """Wraps ``worker.claim`` (after a successful claim: "claimed"), the pipeline's ``on_progress`` (before the
    worker's own check at each denoising step: "diffusing") and ``worker.attach`` (before it stores the file and
    re-checks consent under the locks: "attaching"), and calls ``handler(seam, at)`` there (``at``: the job id, or
    the step number). Each wrapper runs the real function; the pipeline is counted, never faked.

    "attaching" is as late as a consent change can land in production: once attach holds lock 1 (the creator's
    settings row) and lock 2 (the post row), consent changes and post deletions wait for it to commit.

    The worker turns any ``Exception`` of a job into that job's failure (``internal_error``), so an assertion
    failing inside a handler would be swallowed: ``deliver`` re-raises it once ``run_job`` returns.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.handler: Callable[[str, int], None] | None = None
        self.model_calls = 0
        self.steps_run = 0
        self.step_times: list[float] = []  # perf_counter at each denoising step's callback
        self._errors: list[BaseException] = []
        real_claim, real_edit_batch, real_attach = worker.claim, RemixPipeline.edit_batch, worker.attach
        seams = self

        def claim(job_id: int, **kwargs: Any) -> Any:
            claimed = real_claim(job_id, **kwargs)
            if not isinstance(claimed, worker.Outcome):
                seams._fire("claimed", job_id)
            return claimed

        def edit_batch(pipeline: RemixPipeline, images: Any, *, on_progress: Any = None, **kwargs: Any) -> Any:
            seams.model_calls += 1
            step = 0

            def progress(fraction: float) -> Any:
                nonlocal step
                step += 1
                seams.steps_run += 1
                seams.step_times.append(time.perf_counter())
                seams._fire("diffusing", step)
                return on_progress(fraction) if on_progress is not None else None

            return real_edit_batch(pipeline, images, on_progress=progress, **kwargs)

        def attach(job_id: int, **kwargs: Any) -> worker.Outcome:
            seams._fire("attaching", job_id)
            return real_attach(job_id, **kwargs)

        monkeypatch.setattr(worker, "claim", claim)
        monkeypatch.setattr(RemixPipeline, "edit_batch", edit_batch)
        monkeypatch.setattr(worker, "attach", attach)

    def _fire(self, seam: str, at: int) -> None:
        if self.handler is None:
            return
        try:
            self.handler(seam, at)
        except BaseException as exc:
            self._errors.append(exc)
            raise

    def deliver(self, job_id: int, handler: Callable[[str, int], None] | None = None) -> worker.Outcome:
        """One delivery of the job's message (what the Celery task runs), with ``handler`` at the seams."""
        self.handler, self._errors = handler, []
        try:
            outcome = worker.run_job(job_id)
        finally:
            self.handler = None
        if self._errors:
            raise self._errors[0]
        return outcome


def run_on_commit() -> AbstractContextManager[Any]:
    """Run the on-commit hooks registered inside (a deleted post's files, a deleted result's image), as the
    commit would: the test's own transaction never commits."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def remix_files(root: Path) -> set[str]:
    """Stored remix images under the media root, as storage names (``remixes/…``)."""
    return {path.relative_to(root).as_posix() for path in media_files(root) if path.parent.name == REMIX_FILES}


def job_snapshot(job_id: int) -> dict[str, Any]:
    """What a redelivery could change in the database: the job's row, remix comments and results."""
    return {
        "job": RemixJob.objects.filter(pk=job_id).values().first(),
        "comments": list(Comment.objects.filter(kind=Comment.Kind.REMIX).values_list("pk", flat=True)),
        "results": list(RemixResult.objects.values_list("pk", "job_id", "image")),
    }


# --- the matrix -----------------------------------------------------------------------------------------------------

CHANGES = ("post toggle off", "account switch off", "audience narrowed", "post deleted")
MOMENTS = ("queued", "just claimed", "mid-diffusion", "just before attach")
MID_DIFFUSION_STEP = 3
DEFAULT_STEPS = pipeline.DEFAULT_STEPS[ARCH_INSTRUCT_PIX2PIX]

# What the first delivery returns. The final state is the same everywhere (cancelled for consent, or gone with
# the post); the outcome says which line of defence stopped the job:
# - queued: the change cancels (or deletes) the row, and the delivery finds nothing to do;
# - just claimed / mid-diffusion: the progress check sees the row is no longer its own and stops the diffusion;
#   a deleted post's files are gone before the model starts, so the delivery finds the job gone when it reads the
#   source;
# - just before attach: attach finds the row cancelled (no longer its claim) or the post gone.
INTERRUPTED, SKIPPED, GONE, FAILED = (
    worker.Outcome.INTERRUPTED,
    worker.Outcome.SKIPPED,
    worker.Outcome.GONE,
    worker.Outcome.FAILED,
)
EXPECTED_OUTCOME = {
    **{(change, "queued"): SKIPPED for change in CHANGES},
    **{(change, "just claimed"): INTERRUPTED for change in CHANGES},
    **{(change, "mid-diffusion"): INTERRUPTED for change in CHANGES},
    **{(change, "just before attach"): INTERRUPTED for change in CHANGES},
    ("post deleted", "queued"): GONE,
    ("post deleted", "just claimed"): GONE,
    ("post deleted", "just before attach"): GONE,
}


@pytest.fixture
def race_post(creator: User, viewer: User, request: pytest.FixtureRequest) -> Post:
    """A post ``viewer`` may remix. For the audience case the creator admits only accounts they follow and follows
    ``viewer``: unfollowing is then the narrowing (the other way, an audience change, is in the state machine)."""
    change = request.node.callspec.params["change"]
    if change == "audience narrowed":
        opt_in(creator, audience=CreatorSettings.Audience.FOLLOWING)
        social_services.follow(follower=creator, followee=viewer)
    else:
        opt_in(creator)
    post = PostFactory(author=creator)
    consent.post_allow_remix_set(post=post, actor=creator, value=True)
    return Post.objects.get(pk=post.pk)


def _withdraw(change: str, *, post: Post, creator: User, viewer: User) -> None:
    with run_on_commit():
        if change == "post toggle off":
            consent.post_allow_remix_set(post=Post.objects.get(pk=post.pk), actor=creator, value=False)
        elif change == "account switch off":
            consent.creator_settings_update(creator=creator, actor=creator, allow_remix=False)
        elif change == "audience narrowed":
            assert social_services.unfollow(follower=creator, followee=viewer)
        else:
            social_services.post_delete(post=Post.objects.get(pk=post.pk), actor=creator)


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("change", CHANGES)
def test_consent_withdrawn_at_each_moment_of_a_job(
    change: str,
    moment: str,
    race_post: Post,
    creator: User,
    viewer: User,
    monkeypatch: pytest.MonkeyPatch,
    media_root: Path,
) -> None:
    """A legitimately requested job (through the API) loses its consent at ``moment``; the worker then delivers
    its message, and the broker delivers it again. Nothing is ever published, the row ends cancelled for consent
    (or goes with its post), no file is left, and the redelivery changes nothing."""
    deleted = change == "post deleted"
    viewer_api = client_for(viewer)
    response = viewer_api.post(f"/api/posts/{race_post.pk}/remixes/", {"prompt": PROMPT, "seed": 3}, format="json")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    post_files = {race_post.media.name, race_post.poster.name}

    seams = Seams(monkeypatch)
    fired: list[str] = []
    withdrawn_at = 0.0

    def withdraw() -> None:
        nonlocal withdrawn_at
        fired.append(moment)
        _withdraw(change, post=race_post, creator=creator, viewer=viewer)
        withdrawn_at = time.perf_counter()
        job = RemixJob.objects.filter(pk=job_id).first()
        # At once, not when a worker next looks: the row is cancelled (or gone with its post).
        assert job is None if deleted else (job.status, job.error_code) == ("cancelled", CONSENT_REVOKED)

    def at_seam(seam: str, at: int) -> None:
        if fired:
            return
        if (moment, seam) in {("just claimed", "claimed"), ("just before attach", "attaching")} or (
            moment == "mid-diffusion" and seam == "diffusing" and at == MID_DIFFUSION_STEP
        ):
            withdraw()

    if moment == "queued":
        withdraw()
    outcome = seams.deliver(job_id, at_seam)
    assert fired == [moment], "the change was never made: the seam was not reached"
    assert outcome is EXPECTED_OUTCOME[change, moment]

    steps = seams.steps_run
    if moment == "queued" or (deleted and moment == "just claimed"):
        assert seams.model_calls == 0, "the model ran for a job that had lost its consent before it started"
    elif moment == "just claimed":
        assert steps == 1, "the first step's check must stop the diffusion"
    elif moment == "mid-diffusion":
        # The worker reads the row at most every PROGRESS_CHECK_SECONDS: it stops at the step of the change or at
        # the first step after that interval (on slow steps, at once; on fast hardware, a few steps later).
        times = seams.step_times
        longest_step = max(b - a for a, b in itertools.pairwise(times))
        went_on = times[-1] - withdrawn_at
        assert steps >= MID_DIFFUSION_STEP and went_on <= worker.PROGRESS_CHECK_SECONDS + longest_step, (
            f"the diffusion went on for {steps - MID_DIFFUSION_STEP} steps ({went_on:.2f} s) after the change"
        )
    else:
        assert steps == DEFAULT_STEPS

    _assert_nothing_published(job_id, post=race_post, deleted=deleted, viewer=viewer, creator=creator)
    remaining = {path.relative_to(media_root).as_posix() for path in media_files(media_root)}
    assert remaining == (set() if deleted else post_files), "a remix file (or a deleted post's file) was left"

    # The broker delivers the same message again: nothing changes.
    before = job_snapshot(job_id)
    assert seams.deliver(job_id) is (GONE if deleted else SKIPPED)
    assert job_snapshot(job_id) == before
    assert {path.relative_to(media_root).as_posix() for path in media_files(media_root)} == remaining


def _assert_nothing_published(job_id: int, *, post: Post, deleted: bool, viewer: User, creator: User) -> None:
    assert not Comment.objects.filter(kind=Comment.Kind.REMIX).exists()
    assert not RemixResult.objects.exists()
    viewer_api = client_for(viewer)
    job = RemixJob.objects.filter(pk=job_id).first()
    if deleted:
        assert job is None  # went with its post
        assert viewer_api.get(f"/api/remixes/{job_id}/").status_code == 404
        assert viewer_api.get(f"/api/posts/{post.pk}/comments/").status_code == 404
        return
    assert job is not None
    assert job.status == RemixJob.Status.CANCELLED and job.error_code == CONSENT_REVOKED and job.error_detail
    assert job.finished_at is not None and job.lease_expires_at is None
    body = viewer_api.get(f"/api/remixes/{job_id}/").json()
    assert body["status"] == "cancelled" and body["error"]["code"] == CONSENT_REVOKED and body["comment"] is None
    for api in (viewer_api, client_for(creator)):
        comments = api.get(f"/api/posts/{post.pk}/comments/").json()["results"]
        assert [c for c in comments if c["kind"] == "remix"] == []
    assert client_for(creator).get(f"/api/posts/{post.pk}/").json()["remix_count"] == 0


@pytest.mark.parametrize("change", ["post toggle off", "account switch off", "audience narrowed"])
def test_consent_withdrawn_while_the_request_is_made(
    change: str, remixable_post: Post, creator: User, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change commits after the request's consent check and before its job is written (the request's prompt
    moderation runs in between). DESIGN.md: turning consent off cancels the content's queued jobs; so the
    request must be refused, or its job be cancelled already, when the request returns."""
    real_moderate = prompts.moderate_request

    def moderate_then_withdraw(**kwargs: Any) -> Any:
        verdict = real_moderate(**kwargs)
        if change == "post toggle off":
            consent.post_allow_remix_set(post=Post.objects.get(pk=remixable_post.pk), actor=creator, value=False)
        elif change == "account switch off":
            consent.creator_settings_update(creator=creator, actor=creator, allow_remix=False)
        else:
            consent.creator_settings_update(creator=creator, actor=creator, audience=CreatorSettings.Audience.FOLLOWING)
        return verdict

    monkeypatch.setattr(prompts, "moderate_request", moderate_then_withdraw)
    status_on_return = None
    try:
        job, _ = jobs.remix_job_create(post=remixable_post, requester=viewer, request=jobs.JobRequest(prompt=PROMPT))
        status_on_return = RemixJob.objects.get(pk=job.pk).status
    except jobs.RemixNotAllowed as refused:
        assert refused.reason != Denial.LOGIN_REQUIRED
    # Whatever the request answered, nothing is published: the worker's claim re-checks consent.
    if status_on_return is not None:
        assert worker.run_job(job.pk) in {worker.Outcome.CANCELLED, worker.Outcome.SKIPPED}
        assert RemixJob.objects.get(pk=job.pk).error_code == CONSENT_REVOKED
    assert not Comment.objects.filter(kind=Comment.Kind.REMIX).exists() and not RemixResult.objects.exists()
    # The promise under test: no job was left waiting for content whose creator had withdrawn consent.
    assert status_on_return not in RemixJob.ACTIVE, f"a {status_on_return} job after consent was withdrawn ({change})"


# --- the state machine ------------------------------------------------------------------------------------------------

VIEWERS = 3  # requesters 0..2 are viewers, 3 is the creator (who may always remix their own post while it is on)
CREATOR = VIEWERS
POSTS = 2
# The real tiny pipeline with fewer denoising steps (its default is 20): the loop, callbacks and VAE all run, at a
# fifth of the cost, so an example can afford whole deliveries.
MACHINE_STEPS = 4
MODEL_CALLS_PER_EXAMPLE = 2
CRASHES_PER_EXAMPLE = 3  # enough to exhaust REMIX_MAX_DELIVERIES (3) on one job
LIVE_SEAMS = ("claimed", "diffusing", "attaching")
BETWEEN = "between deliveries"

# What a step of the machine is, weighted by repetition: half the steps are people acting.
STEPS = (
    "someone acts",
    "worker delivers",
    "someone acts",
    "worker claims, then dies",
    "someone acts",
    "message comes again",
)
# One action of the creator, a viewer or a requester, as (kind, pick, flag): the same vocabulary between steps and
# at a delivery's seams. The simplest action (what shrinking tends to) is a request between steps, so shrunk
# examples still have jobs, and a post toggle going off at a seam, the race under test.
_ACTION_KINDS = ("post_toggle", "account_switch", "audience", "follow", "delete_post", "cancel")
ACTION = st.tuples(st.sampled_from(("request", *_ACTION_KINDS)), st.integers(0, 11), st.booleans())
SEAM_ACTION = st.tuples(st.sampled_from((*_ACTION_KINDS, "request")), st.integers(0, 11), st.booleans())


@dataclass
class Shadow:
    """Consent as DESIGN.md states it, kept by the machine independently of ``remix.policy``."""

    account_on: bool = True
    audience: str = CreatorSettings.Audience.EVERYONE
    post_on: list[bool] = field(default_factory=lambda: [True] * POSTS)
    deleted: list[bool] = field(default_factory=lambda: [False] * POSTS)
    creator_follows: set[int] = field(default_factory=set)

    def reason(self, requester: int, post: int) -> Denial | None:
        if self.deleted[post]:
            return Denial.POST_DISABLED  # not visible to anyone: nothing to remix
        if not self.account_on:
            return Denial.ACCOUNT_DISABLED
        if not self.post_on[post]:
            return Denial.POST_DISABLED
        following_only = self.audience == CreatorSettings.Audience.FOLLOWING
        if following_only and requester != CREATOR and requester not in self.creator_follows:
            return Denial.AUDIENCE
        return None


@dataclass
class Tracked:
    """What the machine knows of one job beyond its row."""

    pk: int
    requester: int
    post: int
    revoked_at: str | None = None  # where consent was withdrawn while the job was queued or running
    cancelled_by_user: bool = False
    gone: bool = False
    redelivered: bool = False
    final: tuple[str, str] | None = None  # (status, error code) once terminal: never changes again
    comment_id: int | None = None


@dataclass
class Figures:
    """What the machine did, over all examples (reported by the test and asserted as coverage)."""

    examples: int = 0
    checks: int = 0  # invariant checks between steps: one per step, plus one per example before its first
    model_calls: int = 0
    denoising_steps: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)
    revoked: Counter[str] = field(default_factory=Counter)
    final: Counter[str] = field(default_factory=Counter)
    hidden_seen: int = 0
    shown_again: int = 0


@dataclass
class Cast:
    """The people and posts every example starts from (created once; each example rolls back to them)."""

    creator: User
    viewers: list[User]
    posts: list[int]
    media: Path
    seams: Seams
    figures: Figures


class ConsentRaceMachine(RuleBasedStateMachine):
    """Random interleavings of consent changes, follows, requests, cancels and worker steps.

    Each example runs inside a savepoint rolled back at teardown, with its own copy of the media folder, so every
    example starts from the same clean state: the creator opted in (account on, audience everyone, both posts on),
    nobody follows anybody, no jobs.
    """

    cast: Cast

    def __init__(self) -> None:
        super().__init__()
        cast = self.cast
        cast.figures.examples += 1
        self.media = cast.media.parent / f"example-{cast.figures.examples}"
        shutil.copytree(cast.media, self.media)
        self._settings = override_settings(MEDIA_ROOT=self.media)
        self._settings.enable()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        self.shadow = Shadow()
        self.jobs: dict[int, Tracked] = {}
        self.where = BETWEEN
        self.data: Any = None
        self.diffuse_at = 0
        self.acting_seam: str | None = None
        self.lead = 0
        self.seams_reached: set[str] = set()
        self.model_calls = 0
        self.crashes = 0
        self.ever_hidden: set[int] = set()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)
        self._settings.disable()
        shutil.rmtree(self.media, ignore_errors=True)
        for tracked in self.jobs.values():
            self.cast.figures.final[tracked.final[0] if tracked.final else ("gone" if tracked.gone else "active")] += 1

    # --- helpers ---------------------------------------------------------------------------------------------------

    def user(self, index: int) -> User:
        return self.cast.creator if index == CREATOR else self.cast.viewers[index]

    def post(self, index: int) -> Post:
        return Post.objects.get(pk=self.cast.posts[index])

    def pick_job(self, pick: int, focus: Tracked | None = None) -> Tracked | None:
        live = [t for t in self.jobs.values() if not t.gone]
        if not live:
            return None
        return live[(pick + (live.index(focus) if focus in live else 0)) % len(live)]

    def active_rows(self) -> dict[int, str]:
        return dict(RemixJob.objects.filter(status__in=RemixJob.ACTIVE).values_list("pk", "status"))

    def deliverable(self) -> list[int]:
        """Jobs a delivery would work on: queued, or running under a lease that expired (their worker died)."""
        now = timezone.now()
        rows = RemixJob.objects.filter(status=RemixJob.Status.QUEUED) | RemixJob.objects.filter(
            status=RemixJob.Status.RUNNING, lease_expires_at__lt=now
        )
        return sorted(rows.values_list("pk", flat=True))

    # --- actions: each checks at once what DESIGN.md says it does to jobs ------------------------------------------

    def act(self, kind: str, pick: int, flag: bool, focus: Tracked | None = None) -> None:
        """Do one action. ``focus``: the job a worker has in hand, whose post, requester and row the picks count
        from (pick 0 is that job's own), so the drawn changes aim at the race under way."""
        before = self.active_rows()
        user_cancelled: int | None = None
        creator = self.cast.creator
        if kind == "post_toggle":
            index = (pick + (focus.post if focus else 0)) % POSTS
            if self.shadow.deleted[index]:
                return
            consent.post_allow_remix_set(post=self.post(index), actor=creator, value=flag)
            self.shadow.post_on[index] = flag
        elif kind == "account_switch":
            consent.creator_settings_update(creator=creator, actor=creator, allow_remix=flag)
            self.shadow.account_on = flag
        elif kind == "audience":
            audience = CreatorSettings.Audience.FOLLOWING if flag else CreatorSettings.Audience.EVERYONE
            consent.creator_settings_update(creator=creator, actor=creator, audience=audience)
            self.shadow.audience = audience
        elif kind == "follow":
            # The creator following a viewer can widen a "following" audience; a viewer following the creator
            # changes nothing (the audience is whom the creator follows).
            aimed = focus.requester if focus and focus.requester != CREATOR else 0
            viewer_index, creator_follows = (pick + aimed) % VIEWERS, pick // VIEWERS % 2 == 0
            viewer = self.cast.viewers[viewer_index]
            follower, followee = (creator, viewer) if creator_follows else (viewer, creator)
            if flag:
                social_services.follow(follower=follower, followee=followee)
            else:
                social_services.unfollow(follower=follower, followee=followee)
            if creator_follows:
                (self.shadow.creator_follows.add if flag else self.shadow.creator_follows.discard)(viewer_index)
        elif kind == "request":
            self.request(requester=pick % (VIEWERS + 1), post=pick // (VIEWERS + 1) % POSTS)
        elif kind == "cancel":
            user_cancelled = self.cancel(pick, focus)
        elif kind == "delete_post":
            index = (pick + (focus.post if focus else 0)) % POSTS
            if self.shadow.deleted[index] or self.shadow.deleted.count(False) < 2:
                return  # keep one post alive, or the rest of the example has nothing to remix
            with run_on_commit():
                social_services.post_delete(post=self.post(index), actor=creator)
            self.shadow.deleted[index] = True
        else:
            raise AssertionError(kind)
        self.expect_effects(kind, before, user_cancelled)

    def expect_effects(self, kind: str, before: dict[int, str], user_cancelled: int | None) -> None:
        """Every job that was queued or running before the action: cancelled for consent at once if its requester
        lost consent, gone if its post was deleted, cancelled by its requester if that was the action, and
        otherwise untouched (a change that keeps someone's consent must not cancel their job)."""
        rows = {job.pk: job for job in RemixJob.objects.filter(pk__in=before)}
        for pk, status in before.items():
            tracked, row = self.jobs[pk], rows.get(pk)
            if row is None:
                assert self.shadow.deleted[tracked.post], f"job {pk} vanished after {kind}"
                tracked.gone = True
            elif pk == user_cancelled:
                assert (row.status, row.error_code) == ("cancelled", "cancelled_by_user")
                tracked.cancelled_by_user = True
            elif self.shadow.reason(tracked.requester, tracked.post) is not None:
                assert (row.status, row.error_code) == ("cancelled", CONSENT_REVOKED), (
                    f"{kind} ({self.where}) withdrew consent but left job {pk} {row.status}"
                )
                tracked.revoked_at = self.where
                self.cast.figures.revoked[self.where] += 1
            else:
                assert row.status == status, f"{kind} kept the requester's consent but moved job {pk} to {row.status}"

    def request(self, *, requester: int, post: int) -> None:
        if self.shadow.deleted[post]:
            return  # the API answers 404 before any consent question
        expected = self.shadow.reason(requester, post)
        target = self.post(post)
        seed = len(self.jobs)
        try:
            job, created = jobs.remix_job_create(
                post=target, requester=self.user(requester), request=jobs.JobRequest(prompt=PROMPT, seed=seed)
            )
        except jobs.RemixNotAllowed as exc:
            assert expected is not None and exc.reason == expected, f"refused with {exc.reason}, expected {expected}"
            return
        assert expected is None, f"a request the creator does not consent to ({expected}) became job {job.pk}"
        assert created and job.status == RemixJob.Status.QUEUED
        self.jobs[job.pk] = Tracked(pk=job.pk, requester=requester, post=post)

    def cancel(self, pick: int, focus: Tracked | None = None) -> int | None:
        tracked = self.pick_job(pick, focus)
        if tracked is None:
            return None
        job = RemixJob.objects.select_related("post").filter(pk=tracked.pk).first()
        if job is None:
            return None
        was_active = job.status in RemixJob.ACTIVE
        try:
            jobs.remix_job_cancel(job=job, actor=self.user(tracked.requester))
        except jobs.CannotCancel:
            assert not was_active and job.status != RemixJob.Status.CANCELLED
            return None
        return tracked.pk if was_active else None

    # --- rules -----------------------------------------------------------------------------------------------------

    @initialize(
        requests=st.lists(st.tuples(st.integers(0, VIEWERS), st.integers(0, POSTS - 1)), min_size=2, max_size=3)
    )
    def viewers_ask_first(self, requests: list[tuple[int, int]]) -> None:
        """Every example starts with remixes requested, so worker steps have something to race with."""
        for requester, post in requests:
            self.act("request", requester + (VIEWERS + 1) * post, False)

    # One rule, the kind of step drawn from STEPS: Hypothesis's swarm testing switches whole rules off for an
    # example, which with several rules left many examples without a single delivery (or without anyone acting).
    @rule(kind=st.sampled_from(STEPS), pick=st.integers(0, 11), data=st.data())
    def step(self, kind: str, pick: int, data: st.DataObject) -> None:
        deliverable = self.deliverable()
        if kind == "worker delivers" and deliverable and self.model_calls < MODEL_CALLS_PER_EXAMPLE:
            self.lead = deliverable[pick % len(deliverable)]
            self.worker_delivers(self.lead, data)
        elif kind == "worker claims, then dies" and deliverable and self.crashes < CRASHES_PER_EXAMPLE:
            self.worker_claims_then_dies(deliverable[pick % len(deliverable)])
        elif kind == "message comes again" and (finished := self.finished_jobs()):
            self.message_redelivered(finished[pick % len(finished)])
        else:  # someone acts (also when the worker step drawn has nothing to work on)
            self.act(*data.draw(ACTION, label="action"))

    def worker_claims_then_dies(self, job_id: int) -> None:
        """A worker claims a job and dies before the model: its lease runs out (time passing, written directly),
        and the next delivery takes the job over, up to REMIX_MAX_DELIVERIES claims."""
        claimed = worker.claim(job_id)
        self.crashes += 1
        self.cast.figures.deliveries["claimed then died"] += 1
        if isinstance(claimed, worker.Outcome):
            row = RemixJob.objects.get(pk=job_id)
            assert claimed is worker.Outcome.FAILED and row.error_code == "too_many_attempts", (claimed, row.error)
            return
        RemixJob.objects.filter(pk=job_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    def worker_delivers(self, job_id: int, data: st.DataObject) -> None:
        """A delivery of a queued (or abandoned) job with the real pipeline, batching queued companions. Hypothesis
        chooses at which seams people act meanwhile (after a claim, at one denoising step, before an attach)."""
        self.data = data
        # Where people act during this delivery (none: it runs undisturbed), and at which denoising step.
        self.acting_seam = data.draw(st.sampled_from((None, *LIVE_SEAMS)), label="seam")
        self.diffuse_at = data.draw(st.integers(1, MACHINE_STEPS), label="denoising step to interleave at")
        self.seams_reached = set()
        before = self.active_rows()
        calls, steps = self.cast.seams.model_calls, self.cast.seams.steps_run
        try:
            outcome = self.cast.seams.deliver(job_id, self.at_seam)
        finally:
            self.data, self.where = None, BETWEEN
            self.model_calls += self.cast.seams.model_calls - calls
            self.cast.figures.model_calls += self.cast.seams.model_calls - calls
            self.cast.figures.denoising_steps += self.cast.seams.steps_run - steps
        self.cast.figures.deliveries[str(outcome)] += 1
        self.expect_delivery(job_id, outcome, before)

    def at_seam(self, seam: str, at: int) -> None:
        if seam != self.acting_seam or (seam == "diffusing" and at != self.diffuse_at):
            return
        # One or two actions where the seam is first reached; maybe one more at a later job's claim or attach in
        # the same batch.
        first = seam not in self.seams_reached
        self.seams_reached.add(seam)
        actions = self.data.draw(st.lists(SEAM_ACTION, min_size=int(first), max_size=2 if first else 1), label=seam)
        self.where = seam
        try:
            focus = self.jobs[self.lead if seam == "diffusing" else at]
            for kind, pick, flag in actions:
                self.act(kind, pick, flag, focus)
                self.design_holds()
        finally:
            self.where = BETWEEN

    def expect_delivery(self, lead: int, outcome: worker.Outcome, before: dict[int, str]) -> None:
        """How each job the delivery could touch must have ended: the lead is never left queued or running, and
        a job ends cancelled for consent only if the machine withdrew it, succeeded only if it did not, failed only
        for too many deliveries."""
        rows = {job.pk: job for job in RemixJob.objects.filter(pk__in=[*before, lead])}
        lead_row = rows.get(lead)
        if lead_row is None:
            assert self.shadow.deleted[self.jobs[lead].post]
            assert outcome in {worker.Outcome.GONE, worker.Outcome.INTERRUPTED, worker.Outcome.FAILED}, outcome
        else:
            assert lead_row.status not in RemixJob.ACTIVE, f"the delivery left job {lead} {lead_row.status}"
            expected = {
                worker.Outcome.SUCCEEDED: {"succeeded"},
                worker.Outcome.HELD: {"held"},
                worker.Outcome.CANCELLED: {"cancelled"},
                worker.Outcome.INTERRUPTED: {"cancelled"},
                worker.Outcome.FAILED: {"failed"},
            }[outcome]
            assert lead_row.status in expected, (outcome, lead_row.status, lead_row.error)
        for pk in before:
            tracked, row = self.jobs[pk], rows.get(pk)
            if row is None:
                assert self.shadow.deleted[tracked.post], f"job {pk} vanished in a delivery"
                continue
            if row.status in RemixJob.ACTIVE:
                continue  # not in this delivery's batch
            if row.status in {RemixJob.Status.SUCCEEDED, RemixJob.Status.HELD}:
                assert tracked.revoked_at is None and not tracked.cancelled_by_user, (
                    f"job {pk} was published after consent was withdrawn ({tracked.revoked_at}) or it was cancelled"
                )
            elif row.error_code == CONSENT_REVOKED:
                assert tracked.revoked_at is not None, f"job {pk} cancelled for consent the creator still gives"
            elif row.error_code == "cancelled_by_user":
                assert tracked.cancelled_by_user
            else:
                assert (row.status, row.error_code) == ("failed", "too_many_attempts"), (
                    f"job {pk} ended {row.status}: {row.error}"
                )

    def finished_jobs(self) -> list[int]:
        """Jobs over (terminal, held, or gone with their post) whose message the broker has not sent again yet:
        a job cancelled while queued, or batched as a companion, still has its own message in the queue."""
        waiting = [t.pk for t in self.jobs.values() if not t.redelivered]
        active = set(RemixJob.objects.filter(pk__in=waiting, status__in=RemixJob.ACTIVE).values_list("pk", flat=True))
        return [pk for pk in waiting if pk not in active]

    def message_redelivered(self, job_id: int) -> None:
        """The broker delivers a finished job's message (again, or late): nothing changes."""
        self.jobs[job_id].redelivered = True
        before = job_snapshot(job_id)
        files = remix_files(self.media)
        outcome = self.cast.seams.deliver(job_id)
        self.cast.figures.deliveries["redelivered"] += 1
        assert outcome in {worker.Outcome.SKIPPED, worker.Outcome.GONE}, outcome
        assert job_snapshot(job_id) == before and remix_files(self.media) == files

    # --- invariants ------------------------------------------------------------------------------------------------

    @invariant()
    def design_holds(self) -> None:
        self.cast.figures.checks += self.where == BETWEEN
        self.policy_agrees_with_design()
        self.comments_shown_exactly_while_consented()
        self.jobs_keep_their_promises()
        self.no_file_left_behind()

    def policy_agrees_with_design(self) -> None:
        for index, pk in enumerate(self.cast.posts):
            post = Post.objects.filter(pk=pk).first()
            assert (post is None) == self.shadow.deleted[index]
            if post is None:
                continue
            for requester in range(VIEWERS + 1):
                decided = policy.remix_denied_reason(viewer=self.user(requester), post=post)
                assert decided == self.shadow.reason(requester, index), (requester, index, decided, self.shadow)

    def comments_shown_exactly_while_consented(self) -> None:
        """DESIGN.md: a remix comment is shown while its creator consents to its requester's remix, hidden while
        consent is off, shown again when it returns (held remixes: never, until a moderator approves them)."""
        remixes = list(Comment.objects.filter(kind=Comment.Kind.REMIX).select_related("remix_result__job"))
        assert len(remixes) == RemixResult.objects.count(), "a remix comment without its result, or the reverse"
        anonymous = AnonymousUser()
        shown_per_post: Counter[int] = Counter()
        for comment in remixes:
            job = comment.remix_result.job
            tracked = self.jobs[job.pk]
            assert comment.author_id == job.requester_id and comment.post_id == job.post_id
            assert tracked.comment_id in (None, comment.pk), f"job {job.pk} yielded a second comment"
            tracked.comment_id = comment.pk
            assert job.status in {RemixJob.Status.SUCCEEDED, RemixJob.Status.HELD}, (job.status, job.error)
            consented = self.shadow.reason(tracked.requester, tracked.post) is None
            expected = job.status == RemixJob.Status.SUCCEEDED and consented
            post = comment.post
            for viewer in (anonymous, self.cast.creator, self.user(tracked.requester)):
                shown = selectors.comment_list_for(post=post, user=viewer).filter(pk=comment.pk).exists()
                assert shown == expected, f"remix {comment.pk} shown={shown} while consent is {consented}"
            if expected:
                shown_per_post[post.pk] += 1
                if comment.pk in self.ever_hidden:
                    self.ever_hidden.discard(comment.pk)
                    self.cast.figures.shown_again += 1
            elif comment.pk not in self.ever_hidden:
                self.ever_hidden.add(comment.pk)
                self.cast.figures.hidden_seen += 1
        extension = extensions.get()
        assert extension is not None
        live = list(Post.objects.filter(pk__in=self.cast.posts))
        counts = extension.post_states(live, viewer=anonymous)
        assert {pk: state["remix_count"] for pk, state in counts.items()} == {p.pk: shown_per_post[p.pk] for p in live}

    def jobs_keep_their_promises(self) -> None:
        rows = {job.pk: job for job in RemixJob.objects.all()}
        assert set(rows) <= set(self.jobs), "a job the machine did not request"
        results = Counter(RemixResult.objects.values_list("job_id", flat=True))
        for pk, tracked in self.jobs.items():
            row = rows.get(pk)
            if row is None:
                assert self.shadow.deleted[tracked.post], f"job {pk} vanished"
                tracked.gone = True
                continue
            assert not self.shadow.deleted[tracked.post], f"job {pk} outlived its post"
            assert results[pk] <= 1
            if row.status in RemixJob.ACTIVE:
                # Consent narrowing cancels at once, so whatever still waits or runs is consented now.
                assert self.shadow.reason(tracked.requester, tracked.post) is None, f"job {pk} {row.status} unconsented"
                continue
            final = (row.status, row.error_code)
            assert tracked.final in (None, final), f"job {pk} left terminal state {tracked.final} for {final}"
            tracked.final = final
            assert (results[pk] == 1) == (row.status in {RemixJob.Status.SUCCEEDED, RemixJob.Status.HELD})
            if tracked.revoked_at is not None:
                assert final == ("cancelled", CONSENT_REVOKED), f"job {pk} withdrawn at {tracked.revoked_at}: {final}"
            if tracked.cancelled_by_user:
                assert final == ("cancelled", "cancelled_by_user"), final

    def no_file_left_behind(self) -> None:
        stored = set(RemixResult.objects.values_list("image", flat=True))
        assert remix_files(self.media) == stored, "a stored remix image without its result, or the reverse"
        live = Post.objects.filter(pk__in=self.cast.posts)
        post_files = {name for post in live for name in (post.media.name, post.poster.name)}
        on_disk = {p.relative_to(self.media).as_posix() for p in media_files(self.media) if p.parent.name == "posts"}
        assert on_disk == post_files, "a deleted post's files were left behind"


MACHINE_SETTINGS = hypothesis_settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.fixture
def cast(
    creator: User, viewer: User, monkeypatch: pytest.MonkeyPatch, media_root: Path, settings: Any
) -> Iterator[Cast]:
    """The creator (opted in, two remixable photo posts), three viewers, and the seams, for every example."""
    settings.REMIX_BATCH_WAIT_MS = 0  # batch whatever is queued at the lead's claim; never sleep for companions
    settings.REMIX_MAX_BATCH = 2  # a companion is enough to race two attaches; more only costs time
    # Quotas are not under test here; an example may request more than an hour's worth for one viewer.
    settings.REMIX_RATE_LIMIT = settings.REMIX_USER_DAILY_LIMIT = settings.REMIX_POST_DAILY_LIMIT = 10_000
    monkeypatch.setitem(pipeline.DEFAULT_STEPS, ARCH_INSTRUCT_PIX2PIX, MACHINE_STEPS)
    opt_in(creator)
    posts = []
    for _ in range(POSTS):
        post = PostFactory(author=creator)
        consent.post_allow_remix_set(post=post, actor=creator, value=True)
        posts.append(post.pk)
    viewers = [viewer, *(UserFactory(username=f"viewer{n}") for n in range(1, VIEWERS))]
    assert not Follow.objects.exists()
    base = media_root.parent / "base-media"
    shutil.copytree(media_root, base)
    ConsentRaceMachine.cast = Cast(creator, viewers, posts, base, Seams(monkeypatch), Figures())
    yield ConsentRaceMachine.cast
    del ConsentRaceMachine.cast


def test_consent_holds_under_random_interleavings(cast: Cast) -> None:
    started = time.perf_counter()
    run_state_machine_as_test(ConsentRaceMachine, settings=MACHINE_SETTINGS)
    figures = cast.figures
    print(f"\nconsent race machine: {figures} in {time.perf_counter() - started:.1f} s")
    # Not vacuous: deliveries ran the real pipeline (within the budget), consent was withdrawn both during live
    # deliveries and between them, and remixes were published and then hidden. (Which seams got how many
    # withdrawals depends on the draws: the matrix above covers each seam deterministically.)
    assert 0 < figures.model_calls <= MODEL_CALLS_PER_EXAMPLE * figures.examples
    assert sum(figures.revoked[seam] for seam in LIVE_SEAMS) and figures.revoked[BETWEEN], figures.revoked
    assert figures.final["succeeded"] and figures.hidden_seen, figures
