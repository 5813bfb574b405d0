"""The attacks of the outside penetration test, replayed against the served stack (``manage.py serve``: nginx in front
of gunicorn, real processes on the test database), each from loopback addresses of its own.

Before the fixes each of these failed: password guesses were unlimited with a new X-Forwarded-For each, one client
made 40 accounts in 10 s, a 500 MB JSON body went into a web worker's memory and 200 KB of ``[`` was a 500, four
slow connections took both gunicorn workers (0 of 20 health probes answered), six 16-bit PNG bombs took seconds
and gigabytes, and media of hidden posts were served to anyone. ``make security`` runs this module and prints one
line per attack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from socialapp import services
from socialapp.management.commands.serve import nginx_binary
from socialapp.models import Post, User
from tests.factories import PostFactory, UserFactory
from tests.security import attacks
from tests.security.stack import ServedStack

pytestmark = pytest.mark.served

PASSWORD = "correct-horse-battery"  # the factories'
LIMIT = 10  # LOGIN_FAILURE_LIMIT's default


@pytest.fixture(scope="module")
def stack(django_db_setup: None, django_db_blocker: Any) -> Iterator[ServedStack]:
    if nginx_binary() is None:
        pytest.fail("nginx is not installed (make test and make serve install Debian's nginx-light)")
    with django_db_blocker.unblock():
        served = ServedStack().start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def account(transactional_db: None) -> User:
    return UserFactory()


def test_password_guessing_through_the_api_is_locked_out_whatever_the_forwarded_header(
    stack: ServedStack, account: User
) -> None:
    result = attacks.guess_api_password(
        stack, username=account.username, password=PASSWORD, attempts=30, source="127.0.0.11"
    )
    attacks.record(
        "api password guessing",
        f"30 wrong passwords, a new X-Forwarded-For each: refused from guess {result['first_refused']} "
        f"({result['code']}, Retry-After {result['retry_after']} s, {result['last_retry_after']} s after the 30th); "
        f"then the right one: {result['right_password']}",
        **result,
    )
    assert result["first_refused"] == LIMIT, result
    assert result["statuses"] == {400: LIMIT - 1, 429: 30 - LIMIT + 1}, result
    assert result["code"] == "too_many_attempts" and int(result["retry_after"]) >= 1
    # Backoff: each further round of LIMIT failures doubles the lockout (the 21st to 30th: twice the first).
    assert int(result["last_retry_after"]) >= 2 * int(result["retry_after"]) - 2
    assert result["right_password"] == 429  # locked out means the right password too


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_sign_in_pages_are_locked_out(stack: ServedStack, account: User, path: str) -> None:
    if path.startswith("/admin/"):
        User.objects.filter(pk=account.pk).update(is_staff=True)
    source = "127.0.0.12" if path == "/login/" else "127.0.0.13"
    result = attacks.guess_page_password(
        stack, path=path, username=account.username, password=PASSWORD, attempts=15, source=source
    )
    attacks.record(
        f"{path} password guessing",
        f"15 wrong passwords: refused from guess {result['first_refused']}; then the right one: "
        f"{result['right_password']}",
        **result,
    )
    assert result["first_refused"] == LIMIT, result
    assert result["right_password"] == 429, result


def test_an_account_is_locked_against_guesses_from_many_addresses(stack: ServedStack, account: User) -> None:
    """Per account, not only per address: ten addresses with a few guesses each lock the account."""
    statuses = []
    for i in range(LIMIT + 2):
        answer = stack.post_json(
            "/api/auth/token/", {"username": account.username, "password": f"nope-{i}"}, source=f"127.0.1.{i + 1}"
        )
        statuses.append(answer.status)
    right = stack.post_json(
        "/api/auth/token/", {"username": account.username, "password": PASSWORD}, source="127.0.1.200"
    )
    attacks.record(
        "distributed guessing",
        f"{LIMIT + 2} guesses from {LIMIT + 2} addresses at one account: refused from guess "
        f"{statuses.index(429) + 1 if 429 in statuses else None}; the owner from a new address: {right.status}",
    )
    assert statuses[: LIMIT - 1] == [400] * (LIMIT - 1) and statuses[LIMIT - 1 :] == [429] * 3
    assert right.status == 429


def test_one_client_cannot_sign_up_dozens_of_accounts(stack: ServedStack, transactional_db: None) -> None:
    result = attacks.sign_up_flood(stack, accounts=40, source="127.0.0.14")
    attacks.record(
        "sign-up flood",
        f"{result['tried']} sign-ups with a new X-Forwarded-For each in {result['seconds']} s: "
        f"{result['created']} accounts made",
        **result,
    )
    assert result["created"] == 10  # SIGNUP_THROTTLE_RATE's default, 10 an hour per client address


def test_an_oversized_body_is_refused_before_it_is_read(stack: ServedStack, transactional_db: None) -> None:
    result = attacks.oversized_body(stack, megabytes=500, path="/api/auth/token/", source="127.0.0.15")
    attacks.record(
        "oversized body",
        f"a 500 MB JSON body to /api/auth/token/: {result['status']} after {result['sent_mb']} MB sent in "
        f"{result['seconds']} s; web worker memory {result['rss_before_mb']} → {result['rss_after_mb']} MB",
        **result,
    )
    assert result["status"] == 413 and "request_too_large" in result["body"]
    assert result["sent_mb"] < 50
    assert result["rss_after_mb"] - result["rss_before_mb"] < 20


def test_deeply_nested_json_is_a_400(stack: ServedStack, transactional_db: None) -> None:
    result = attacks.nested_body(stack, kilobytes=200, path="/api/auth/token/", source="127.0.0.16")
    small = attacks.nested_body(stack, kilobytes=1, path="/api/auth/token/", source="127.0.0.16")
    attacks.record(
        "nested JSON", f"200 KB of '[': {result['status']} {result['code']}; 1 KB: {small['status']} {small['code']}"
    )
    # Both are under the 1 MB body limit, so they reach the API's JSON parser, which refuses the depth.
    assert result == {"status": 400, "code": "too_deeply_nested"}
    assert small == {"status": 400, "code": "too_deeply_nested"}


def test_slow_clients_do_not_starve_the_site(stack: ServedStack, transactional_db: None) -> None:
    result = attacks.slow_clients(
        stack, slow=40, probes=20, seconds=12.0, attacker="127.0.0.17", bystander="127.0.0.18"
    )
    attacks.record(
        "slow clients",
        f"{result['slow']} slowloris connections (headers and bodies a byte a second): {result['ok']}/"
        f"{result['probes']} health probes answered, slowest {result['slowest_ok_s']} s",
        **result,
    )
    assert result["ok"] == result["probes"], result
    assert result["slowest_ok_s"] < 2.0, result


def test_decode_bombs_in_parallel_are_refused_from_their_header(stack: ServedStack, transactional_db: None) -> None:
    result = attacks.decode_bombs(stack, parallel=6, sources=[f"127.0.2.{i}" for i in range(1, 7)])
    attacks.record(
        "decode bombs",
        f"{result['parallel']} × {result['bomb_kb']} KB 16-bit RGBA PNG (6320²) at once to /api/credentials/verify/: "
        f"{result['statuses']} {result['codes']}, slowest {result['slowest_s']} s, web worker peak "
        f"{result['peak_rss_mb']} MB",
        **result,
    )
    assert result["statuses"] == {400: 6} and result["codes"] == {"invalid_media": 6}
    assert result["slowest_s"] < 3.0
    assert result["peak_rss_mb"] < 400


def test_media_through_the_proxy_follow_visibility(stack: ServedStack, transactional_db: None, settings: Any) -> None:
    settings.MEDIA_ROOT = stack.media_root  # the files the stack's nginx sends
    stack.media_root.mkdir(exist_ok=True)
    post = PostFactory()
    url = f"/media/{post.media.name}"
    shown = stack.get(url, source="127.0.0.19")
    assert shown.status == 200 and shown.headers["Content-Type"] == "image/jpeg"
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert shown.headers["Cache-Control"] == "private, no-cache"
    assert "X-Accel-Redirect" not in shown.headers and shown.body.startswith(b"\xff\xd8\xff")
    # nginx's internal location is not reachable from outside.
    assert stack.get(f"/_protected_media/{post.media.name}", source="127.0.0.19").status == 404
    Post.objects.filter(pk=post.pk).update(review_state=Post.Review.PENDING)
    assert stack.get(url, source="127.0.0.19").status == 404
    Post.objects.filter(pk=post.pk).update(review_state=Post.Review.PUBLISHED)
    assert stack.get(url, source="127.0.0.19").status == 200
    services.user_set_active(user=post.author, active=False)
    assert stack.get(url, source="127.0.0.19").status == 404


def test_no_software_versions_in_answers(stack: ServedStack, transactional_db: None) -> None:
    for path in ("/healthz", "/static/socialapp/app.css", "/no-such-page/"):
        server = stack.get(path, source="127.0.0.20").headers.get("Server", "")
        assert not any(character.isdigit() for character in server), (path, server)
