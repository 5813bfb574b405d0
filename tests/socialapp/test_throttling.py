"""Who is asking and how often: the client address behind trusted proxies, sign-up throttles, and the lockout of
password guessing on every sign-in path (the pen test's finding 1; the served stack replays it over the network
in tests/security/test_served_stack.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from socialapp.models import User
from socialapp.throttling import client_ip, retry_sentence
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "198.51.100.7", None, "198.51.100.7"),
        (0, "198.51.100.7", "203.0.113.1", "198.51.100.7"),  # nothing trusted: the header is the client's own words
        (1, "127.0.0.1", "203.0.113.1", "203.0.113.1"),  # nginx appended the address it saw
        (1, "127.0.0.1", "6.6.6.6, 203.0.113.1", "203.0.113.1"),  # what the client wrote on the left is ignored
        (2, "10.0.0.5", "6.6.6.6, 203.0.113.1, 10.0.0.9", "203.0.113.1"),  # a load balancer, then nginx
        (2, "10.0.0.5", "203.0.113.1", "10.0.0.5"),  # fewer entries than proxies: did not come through them
        (1, "127.0.0.1", "not-an-address", "127.0.0.1"),
        (1, "127.0.0.1", "2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),  # an IPv6 client counts as its /64
        (0, "::ffff:192.0.2.9", None, "192.0.2.9"),
        (0, "", None, None),  # no address at all (a test client's force_login, a shell): not a made-up one
    ],
)
def test_client_ip_believes_only_the_trusted_proxies(
    settings: Any, proxies: int, remote: str, forwarded: str | None, expected: str | None
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    assert client_ip(request) == expected


@pytest.fixture
def rates(settings: Any) -> dict[str, str]:
    rates = {"auth": "1000/minute", "signup": "3/hour", "uploads": None, "verify": "2/minute", "reports": None}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    from rest_framework.throttling import SimpleRateThrottle

    # DRF's throttles read the rates when they were imported; point them at these.
    SimpleRateThrottle.THROTTLE_RATES = rates
    return rates


@pytest.fixture(autouse=True)
def _restore_rates() -> Any:
    from rest_framework.throttling import SimpleRateThrottle

    saved = SimpleRateThrottle.THROTTLE_RATES
    yield
    SimpleRateThrottle.THROTTLE_RATES = saved


def test_api_sign_ups_are_throttled_per_address_whatever_the_header(rates: dict[str, str]) -> None:
    api = APIClient()
    statuses = [
        api.post(
            "/api/auth/register/",
            {"username": f"new{i}", "password": "a long passphrase 7"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(5)
    ]
    assert statuses == [201, 201, 201, 429, 429]
    refused = api.post("/api/auth/register/", {"username": "late", "password": "a long passphrase 7"}, format="json")
    assert refused.json()["code"] == "rate_limited" and int(refused["Retry-After"]) > 0
    assert User.objects.filter(username__startswith="new").count() == 3


def test_the_sign_up_page_shares_the_api_sign_up_throttle(rates: dict[str, str]) -> None:
    api, browser = APIClient(), Client()
    for i in range(2):
        api.post("/api/auth/register/", {"username": f"api{i}", "password": "a long passphrase 7"}, format="json")
    form = {"username": "page1", "password": "a long passphrase 7", "password_confirm": "a long passphrase 7"}
    assert browser.post("/signup/", form).status_code == 302
    refused = browser.post("/signup/", {**form, "username": "page2"})
    assert refused.status_code == 429 and "Too many requests" in refused.content.decode()
    assert not User.objects.filter(username="page2").exists()
    assert Client().get("/signup/").status_code == 200  # reading the form is not throttled


def test_the_check_page_shares_the_verify_throttle(rates: dict[str, str]) -> None:
    from tests.factories import jpeg_upload

    api, browser = APIClient(), Client()
    assert api.post("/api/credentials/verify/", {"image": jpeg_upload()}, format="multipart").status_code == 200
    assert browser.post("/check/", {"image": jpeg_upload()}).status_code == 200
    assert browser.post("/check/", {"image": jpeg_upload()}).status_code == 429
    assert api.post("/api/credentials/verify/", {"image": jpeg_upload()}, format="multipart").status_code == 429


def _api_guess(api: APIClient, username: str, password: str, **headers: str) -> Any:
    return api.post("/api/auth/token/", {"username": username, "password": password}, format="json", **headers)


def test_api_sign_in_locks_out_an_address_after_the_failure_limit(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    dana = UserFactory(username="dana")
    api = APIClient()
    answers = [_api_guess(api, "dana", f"wrong{i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}") for i in range(4)]
    assert [a.status_code for a in answers] == [400, 400, 429, 429]
    locked = answers[2].json()
    assert locked["code"] == "too_many_attempts" and "Try again in" in locked["detail"]
    assert int(answers[2]["Retry-After"]) == locked["retry_after"] > 0
    assert _api_guess(api, dana.username, PASSWORD).status_code == 429  # even the right password


def test_an_account_is_locked_whatever_address_the_guesses_come_from(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="erin")
    api = APIClient()
    statuses = [_api_guess(api, "erin", "nope", REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(3)]
    assert statuses == [400, 400, 429]
    assert _api_guess(api, "erin", PASSWORD, REMOTE_ADDR="192.0.2.200").status_code == 429
    # Another account from a fresh address is not affected.
    UserFactory(username="fay")
    assert _api_guess(api, "fay", PASSWORD, REMOTE_ADDR="192.0.2.201").status_code == 200


def test_the_lockout_doubles_with_each_round_of_failures(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    settings.LOGIN_LOCKOUT_SECONDS = 60
    UserFactory(username="gus")
    api = APIClient()
    waits = []
    for i in range(8):
        answer = _api_guess(api, "gus", f"wrong{i}")
        if answer.status_code == 429:
            waits.append(int(answer["Retry-After"]))
    # The second failure locks for a minute; each further round of two failures doubles it (the eighth: 4 minutes).
    assert waits[0] <= 60 and waits[-1] >= 4 * 60 - 5, waits


def test_guesses_at_one_account_from_many_addresses_back_off_on_the_api_too(settings: Any) -> None:
    """The lockout's length counts the account's failures on the JSON API as well (axes alone reads a form's
    field): each further round of guesses at one account doubles it, whatever address they come from."""
    settings.AXES_FAILURE_LIMIT = 2
    settings.LOGIN_LOCKOUT_SECONDS = 60
    UserFactory(username="kit")
    api = APIClient()
    waits = []
    for i in range(8):
        answer = _api_guess(api, "kit", f"wrong{i}", REMOTE_ADDR=f"198.51.100.{i + 1}")
        if answer.status_code == 429:
            waits.append(int(answer["Retry-After"]))
    assert waits[0] <= 60 and waits[-1] >= 4 * 60 - 5, waits


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_sign_in_pages_lock_out_with_a_page_that_says_so(settings: Any, path: str) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="hal", is_staff=True)
    browser = Client()
    statuses = [browser.post(path, {"username": "hal", "password": f"bad{i}"}).status_code for i in range(3)]
    assert statuses == [200, 200, 429]
    right = browser.post(path, {"username": "hal", "password": PASSWORD})
    assert right.status_code == 429
    assert "Too many failed sign-in attempts. Try again in" in right.content.decode()
    assert "_auth_user_id" not in browser.session


def test_failures_of_one_address_are_not_wiped_by_signing_in_to_another_account(settings: Any) -> None:
    """A guesser who owns an account must not reset their address's count by signing in to it."""
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="ivy")
    UserFactory(username="mallory")
    api = APIClient()
    for i in range(2):
        assert _api_guess(api, "ivy", f"wrong{i}").status_code == 400
    assert _api_guess(api, "mallory", PASSWORD).status_code == 200
    assert _api_guess(api, "ivy", "wrong-again").status_code == 429


@pytest.mark.parametrize(
    ("seconds", "words"), [(5, "a minute"), (60, "a minute"), (61, "2 minutes"), (5400, "2 hours"), (200000, "3 days")]
)
def test_retry_sentence(seconds: int, words: str) -> None:
    assert retry_sentence(seconds) == words
