"""Schemathesis against the app's own OpenAPI schema (drf-spectacular's ``/api/schema/``), in process.

Every operation of the schema is called through Django's real WSGI application (no server and no test
client: middleware, authentication, parsers and the exception handler all run), authenticated with a
normal user's DRF token, and every response goes through *all* of Schemathesis's checks: no 5xx; status
codes, content types, headers and bodies as documented; schema-violating data rejected and schema-valid
data accepted; authentication enforced where the schema requires it; and the rest of the registry.

The database holds a small world (three accounts, photo and video posts, text and remix comments, remix
jobs in several states, notifications, a remix block), and valid generated ids and usernames are mostly
swapped for real ones, so the happy paths run, not only the 404s. Each example runs inside a savepoint
that is rolled back: a DELETE, a token revocation or "remove all remixes" in one example cannot spoil the
next, whatever order Hypothesis picks. Rate limits are off, as in the rest of the suite.

The budget is fixed and derandomized (the same requests on every run): Schemathesis's explicit coverage
cases (boundary and invalid values per parameter, other methods, other content types) plus
``MAX_EXAMPLES`` generated cases per operation; then ``WORKFLOWS`` stateful scenarios along the links
Schemathesis infers between operations (their exact steps vary a little from run to run, as they reuse
values read back from responses: timestamps, random file names).

Where a check cannot know a rule (a weak password is schema-valid) or misreads the wire (a form's "null"
is text), the exception is one narrow, commented filter below; everything else was fixed in the app.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.throttling import ScopedRateThrottle
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.transport.requests import prepare_multipart_parts
from schemathesis.transport.serialization import Binary, serialize_binary
from schemathesis.transport.wsgi import WSGI_TRANSPORT
from urllib3 import encode_multipart_formdata

from remix import consent
from remix.models import RemixJob
from socialapp import services
from socialapp.demo_media import make_video
from socialapp.models import Notification
from tests.factories import PostFactory, UserFactory
from tests.remix.conftest import opt_in
from tests.remix.remixes import active_job, finished_remix

MAX_EXAMPLES = 25  # generated examples per operation, on top of the explicit coverage cases
WORKFLOWS = 40  # stateful scenarios of up to 8 calls
TOKEN = "5c4e3a" + "0" * 58  # the caller's API token (knox: 64 hex digits, stored as its digest)
PASSWORD = "correct-horse-battery"  # every factory-made account's

load_all_checks()
# Every registered check. (``max_response_time`` is one only when a limit is configured, and none is: on two
# shared cores timings say nothing.)
ALL_CHECKS = [check for check in CHECKS.get_all() if not isinstance(check, type)]

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
schema.config.update(headers={"Authorization": f"Token {TOKEN}"})


# --- what a 400 may mean -------------------------------------------------------------------------

# 400s that enforce a rule no OpenAPI schema can state, by operation and error code (``invalid:<field>``
# for a service rule reported against a field): a weak password, a taken username, a wrong password,
# bytes that are no photo or video (``format: binary`` promises bytes, not a decodable JPEG), following or
# blocking yourself, a prompt the moderation refuses, a frame time outside *this* post's video, meme text
# with two '|' or control characters. Only ``positive_data_acceptance`` ("valid data was rejected") is
# excused, only for these codes; every other check and every other code still fails.
BUSINESS_RULES: dict[str, set[str]] = {
    "POST /api/auth/register/": {"weak_password", "username_taken"},
    "POST /api/auth/token/": {"invalid_credentials"},
    "POST /api/posts/": {"invalid_media"},
    "POST /api/credentials/verify/": {"invalid_media"},
    "POST /api/users/{username}/follow/": {"cannot_follow_self"},
    "POST /api/me/remix-blocks/": {"cannot_block_self"},
    "POST /api/posts/{id}/remixes/": {"prompt_rejected", "invalid:frame_time", "invalid:meme_text"},
}


def _sent_as_valid_form(case: schemathesis.Case) -> bool:
    """Whether a multipart body that Schemathesis generated as invalid was valid as the server reads it.

    A form field is text: a ``null`` generated for a string field goes on the wire as the four letters
    "null", which is a perfectly good caption (a field that admits null reads it as null), also when it is
    wrapped in a one-item list. Schemathesis reads numbers and booleans back from their text this way,
    but not null.
    """
    if not (case.media_type or "").startswith("multipart/") or not isinstance(case.body, dict):
        return False
    if case.meta is None or any(
        case.meta.is_negative_at(location)
        for location in (ParameterLocation.PATH, ParameterLocation.QUERY, ParameterLocation.HEADER)
    ):
        return False
    reference = case.operation.definition.raw["requestBody"]["content"][case.media_type]["schema"]["$ref"]
    properties = schema.raw_schema["components"]["schemas"][reference.rpartition("/")[2]]["properties"]

    def as_read(name: str, value: Any) -> Any:
        if isinstance(value, list) and len(value) == 1:  # a one-item list goes out as one field
            value = value[0]
        if value is None and not properties.get(name, {}).get("nullable", False):
            return "null"
        return "" if isinstance(value, bytes | Binary) else value  # file contents: any bytes are a binary string

    # An empty list goes out as no field at all.
    read = {name: as_read(name, value) for name, value in case.body.items() if value != []}
    return any(body.media_type == case.media_type and body.is_valid(read) for body in case.operation.body)


@schema.hook
def filter_failure(context: Any, failure: Any, case: schemathesis.Case, response: schemathesis.Response) -> bool:
    if isinstance(failure, AcceptedNegativeData):
        return not _sent_as_valid_form(case)
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    code = body.get("code")
    if code == "invalid":
        code = f"invalid:{','.join(body.get('errors', {}))}"
    return code not in BUSINESS_RULES.get(case.operation.label, set())


# --- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    """Real objects, by the kind of id a path names, and the accounts' usernames."""

    ids: dict[str, list[int]]
    usernames: list[str]


@pytest.fixture
def world(db: None, tmp_path: Path) -> World:
    """The caller ("me"), a creator who allows remixes, and a third account that "me" blocked from remixing."""
    me = UserFactory(username="me")
    creator = UserFactory(username="creator")
    other = UserFactory(username="other")
    AuthToken.objects.create(user=me, expiry=None)  # the manager makes a random key; this one is known:
    AuthToken.objects.filter(user=me).update(digest=hash_token(TOKEN), token_key=TOKEN[:15])
    opt_in(creator)
    opt_in(me)
    services.follow(follower=me, followee=creator)
    services.follow(follower=creator, followee=me)
    services.follow(follower=other, followee=me)

    photo = PostFactory(author=creator, caption="a remixable photo", allow_remix=True)
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0, size=(64, 64))
    upload = SimpleUploadedFile("clip.mp4", clip.read_bytes(), content_type="video/mp4")
    video = services.post_create(author=creator, upload=upload, caption="a remixable video", allow_remix=True)
    mine = PostFactory(author=me, caption="my photo", allow_remix=True)
    also_mine = PostFactory(author=me, caption="my other photo")  # PATCH and DELETE succeed only on the caller's
    theirs = PostFactory(author=other, caption="not remixable")
    comments = [
        services.comment_create(post=photo, author=me, text="nice"),
        services.comment_create(post=mine, author=creator, text="thanks for sharing"),
        services.comment_create(post=theirs, author=other, text="first"),
    ]
    my_remix = finished_remix(photo, me)
    their_remix = finished_remix(mine, creator)
    jobs = [
        my_remix.job,
        their_remix.job,
        active_job(photo, me),
        active_job(video, me, status=RemixJob.Status.RUNNING),
        active_job(mine, creator),
    ]
    consent.remix_block(creator=me, blocked=other, actor=me)
    services.notify(recipient=me, actor=creator, kind=Notification.Kind.REMIXED, text="remixed", post=mine)
    services.notify(recipient=me, kind=Notification.Kind.POST_APPROVED, text="approved", post=mine)
    return World(
        ids={
            "posts": [photo.pk, video.pk, mine.pk, also_mine.pk, theirs.pk],
            "comments": [c.pk for c in comments] + [my_remix.comment_id, their_remix.comment_id],
            "remixes": [j.pk for j in jobs],
            "notifications": list(Notification.objects.filter(recipient=me).values_list("pk", flat=True)),
        },
        usernames=["me", "creator", "other"],
    )


def _id_kind(path: str) -> str | None:
    if path.startswith("/api/me/notifications/"):
        return "notifications"
    first = path.removeprefix("/api/").split("/")[0]
    return first if first in {"posts", "comments", "remixes"} else None


def _real(value: Any, pool: list[Any]) -> Any:
    """Four in five valid values become a real object (chosen by the value, so shrinking still works)."""
    number = int(value) if isinstance(value, int) else sum(map(ord, str(value)))
    return pool[number % len(pool)] if pool and number % 5 else value


def _point_at_real_objects(case: schemathesis.Case, world: World) -> None:
    meta = case.meta
    if case.path_parameters and not (meta is not None and meta.is_negative_at(ParameterLocation.PATH)):
        for name, value in case.path_parameters.items():
            if name == "id" and (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
                case.path_parameters[name] = _real(value, world.ids.get(_id_kind(case.path) or "", []))
            elif name == "username" and isinstance(value, str):
                case.path_parameters[name] = _real(value, world.usernames)
    body_is_valid = not (meta is not None and meta.is_negative_at(ParameterLocation.BODY))
    if body_is_valid and isinstance(case.body, dict) and isinstance(case.body.get("username"), str):
        if case.operation.label == "POST /api/me/remix-blocks/":
            case.body["username"] = _real(case.body["username"], world.usernames)
        elif case.operation.label == "POST /api/auth/token/" and isinstance(case.body.get("password"), str):
            username = _real(case.body["username"], world.usernames)
            if username in world.usernames:  # a real account, with its real password
                case.body.update(username=username, password=PASSWORD)


# --- plumbing ------------------------------------------------------------------------------------


@pytest.fixture
def _unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    """No rate limits, as tests/conftest.py intends: DRF's ScopedRateThrottle read its rates when it was imported,
    so the settings override does not reach it, and hundreds of sign-ups would be answered 429."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", dict.fromkeys(ScopedRateThrottle.THROTTLE_RATES))


@pytest.fixture
def _in_process_requests() -> Iterator[None]:
    """Keep the test's database connection across requests, as Django's test client does: a WSGI request
    ends with ``close_old_connections``, which would close the connection holding the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


_WERKZEUG_MULTIPART = WSGI_TRANSPORT._serializers["multipart/form-data"]


def _multipart_body(ctx: schemathesis.SerializationContext, value: Any) -> dict[str, Any]:
    """Multipart bodies encoded by urllib3 rather than Werkzeug.

    Werkzeug 3.1's encoder writes an empty part (an empty caption, an empty file) without the CRLF that
    must precede the next boundary, so Django's parser takes the following part for its content and the
    field disappears: the server would be blamed for a malformed request it never got.
    """
    if not isinstance(value, dict):
        return _WERKZEUG_MULTIPART(ctx, value)
    files, data = prepare_multipart_parts(ctx, value)
    fields: list[tuple[str, Any]] = []
    for name, values in (data or {}).items():
        for item in values if isinstance(values, list) else [values]:
            if item is not None:
                fields.append((name, item if isinstance(item, str | bytes) else str(item)))
    for name, part in files or []:
        if isinstance(part, tuple):
            filename, content, *rest = part
            fields.append((name, (filename, serialize_binary(content), *rest)))
        else:
            fields.append((name, (name, serialize_binary(part))))
    body, content_type = encode_multipart_formdata(fields)
    return {"data": body, "content_type": content_type}


@pytest.fixture
def _multipart_encoding() -> Iterator[None]:
    WSGI_TRANSPORT.serializer("multipart/form-data")(_multipart_body)
    yield
    WSGI_TRANSPORT.serializer("multipart/form-data")(_WERKZEUG_MULTIPART)


@dataclass
class Tally:
    examples: Counter[str] = field(default_factory=Counter)
    failing: Counter[str] = field(default_factory=Counter)
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    steps: Counter[bool] = field(default_factory=Counter)  # workflow steps, by whether they followed a link


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """Counts for the whole module, written to the terminal at its end."""
    tally = Tally()
    yield tally
    lines = [
        f"schemathesis: {len(tally.examples)} operations, {sum(tally.examples.values())} examples, "
        f"{sum(tally.failing.values())} failing, {len(ALL_CHECKS)} checks on each response; "
        f"{WORKFLOWS} workflows, {sum(tally.steps.values())} steps ({tally.steps[True]} following a link)"
    ]
    if request.config.get_verbosity() > 0:
        lines += [
            f"  {label}: {count} examples, statuses {dict(sorted(tally.statuses[label].items()))}"
            for label, count in sorted(tally.examples.items())
        ]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print("\n" + "\n".join(lines))


@pytest.fixture
def reached(request: pytest.FixtureRequest, tally: Tally) -> Iterator[None]:
    """After an operation's examples: it must have succeeded (2xx) at least once, i.e. the run got past
    validation and permissions to the real thing, not only to errors."""
    yield
    label = request.node.name.partition("[")[2].rstrip("]")
    if label in tally.examples and not tally.failing[label]:
        assert any(200 <= status < 300 for status in tally.statuses[label]), (label, tally.statuses[label])


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # The world is per test (function scope) on purpose: each example then starts from it again.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@pytest.mark.usefixtures("_in_process_requests", "_multipart_encoding", "_unthrottled", "reached")
def test_api_conforms_to_its_schema(case: schemathesis.Case, world: World, tally: Tally) -> None:
    _point_at_real_objects(case, world)
    label = case.operation.label
    tally.examples[label] += 1
    with transaction.atomic():
        try:
            response = case.call_and_validate(checks=ALL_CHECKS)
        except BaseException:
            tally.failing[label] += 1
            raise
        finally:
            transaction.set_rollback(True)
    if response.request.method == case.operation.method.upper():  # not a probe with another method
        tally.statuses[label][response.status_code] += 1


@pytest.mark.usefixtures("_in_process_requests", "_multipart_encoding", "_unthrottled")
def test_api_workflows(world: World, tally: Tally) -> None:
    """Sequences of calls along the links Schemathesis infers between operations (create a post, then read,
    comment on, remix and delete it, ...), each scenario from the same world (a savepoint rolled back after
    it). This is what feeds the checks that judge a call by the ones before it: ``use_after_free`` (a deleted
    thing must be gone), ``ensure_resource_availability`` (a created thing must be there) and
    ``object_level_authorization``."""

    class Workflows(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            self.savepoint = transaction.savepoint()

        def teardown(self) -> None:
            transaction.savepoint_rollback(self.savepoint)

        def step(self, input: StepInput) -> StepOutput:
            if input.transition is None:  # a first call; later ones take their ids from earlier answers
                _point_at_real_objects(input.case, world)
            tally.steps[input.transition is not None and input.is_applied] += 1
            return super().step(input)

    Workflows.run(
        settings=settings(
            max_examples=WORKFLOWS,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The scenarios did follow links (ids from earlier answers), not only make unrelated first calls.
    assert tally.steps[True] >= WORKFLOWS // 2, tally.steps
