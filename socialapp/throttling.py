"""Who is asking, and how often: the client's real address, request throttles, and password-guessing lockout.

- ``client_ip``: the address of the client, read from ``X-Forwarded-For`` only as far as
  ``TRUSTED_PROXY_COUNT`` proxies of ours wrote it (every entry further left was written by the client and
  is never believed). Everything that keys on a client (DRF's throttles, the page throttles, django-axes)
  asks this one function, so a new header value per request buys an attacker nothing.
- ``ClientRateThrottle``: DRF's scoped throttle keyed on that address (and on the user when logged in),
  for API views; ``throttle_page`` applies the same throttle, with the same rates, to browser pages.
- Password guessing is django-axes' job (every ``authenticate()`` call: the login page, the admin's, the
  API token endpoint): failures are counted per account and per client address, and each round of
  ``AXES_FAILURE_LIMIT`` failures doubles the lockout (``login_cool_off``). ``login_locked_out`` is the
  answer while locked: a 429 with a sentence and ``Retry-After``, JSON under ``/api/``.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import operator
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_credentials
from django.conf import settings
from django.db.models import Max, Q, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework.throttling import ScopedRateThrottle

TOO_MANY_ATTEMPTS = "too_many_attempts"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR`` with no trusted proxy, else the entry of ``X-Forwarded-For`` that the
    outermost of ``TRUSTED_PROXY_COUNT`` proxies appended (each appends the address it received the request from,
    so that entry is the one the client could not choose). An IPv6 client counts as its /64: one subscriber gets a
    whole /64 and could rotate through it. Falls back to ``REMOTE_ADDR`` when the header is missing, short or not
    an address (a request that reached the app without passing through the proxies); None when there is no address
    at all (a request made in a test or a shell, not by a server)."""
    remote = request.META.get("REMOTE_ADDR") or ""
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    candidate = remote
    if count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= count:
            candidate = forwarded[-count]
    return _normalised(candidate) or _normalised(remote)


def _normalised(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False).network_address)
    return str(address)


class ClientRateThrottle(ScopedRateThrottle):
    """DRF's ``ScopedRateThrottle`` (the view's ``throttle_scope``, rates in ``DEFAULT_THROTTLE_RATES``), keyed on
    the user when logged in and on ``client_ip`` otherwise."""

    def get_ident(self, request: Any) -> str:
        return client_ip(request) or "unknown"


class AnonymousRateThrottle(ClientRateThrottle):
    """Keyed on the client address even when a user is logged in: for sign-ups and sign-ins, where the caller's
    session says nothing about who is trying."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def retry_sentence(seconds: int) -> str:
    """ "a minute", "5 minutes", "2 hours": how long to wait, for people."""
    if seconds <= 60:
        return "a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    hours = math.ceil(minutes / 60)
    return f"{hours} hours" if hours < 36 else f"{math.ceil(hours / 24)} days"


def too_many_requests(
    request: HttpRequest, *, retry_after: int, detail: str, code: str = "rate_limited"
) -> HttpResponse:
    """The 429 of a throttle or lockout: ``{code, detail, retry_after}`` under ``/api/``, a page elsewhere."""
    retry_after = max(1, int(retry_after))
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"code": code, "detail": detail, "retry_after": retry_after}, status=429)
    else:
        response = render(request, "429.html", {"detail": detail, "retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def throttle_page(scope: str, *, methods: tuple[str, ...] = ("POST",), anonymous: bool = False) -> Callable[..., Any]:
    """Apply the API's throttle for ``scope`` (same rates, same counters) to a browser view's ``methods``.
    ``anonymous``: key on the client address even for a logged-in user (sign-up)."""
    throttle_class = AnonymousRateThrottle if anonymous else ClientRateThrottle

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method in methods:
                throttle = throttle_class()
                # DRF's throttles read only the request's META and user, and the view's throttle_scope.
                scoped: Any = SimpleNamespace(throttle_scope=scope)
                if not throttle.allow_request(cast(Any, request), scoped):
                    wait = throttle.wait() or 60
                    return too_many_requests(
                        request,
                        retry_after=math.ceil(wait),
                        detail=f"Too many requests from your network. Try again in {retry_sentence(int(wait))}.",
                    )
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# --- password guessing (django-axes) -------------------------------------------------------------------------


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check (first of AUTHENTICATION_BACKENDS), which also leaves the account asked for on the
    request: axes reads it from a form's field on its own, so without this the lockout's length (``login_cool_off``)
    would not count an account's failures on the JSON API, and guesses at one account from many addresses would
    never back off there."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is not None:
            request.login_credentials = get_credentials(username=username)  # type: ignore[attr-defined]
        return super().authenticate(request, username, password, **kwargs)


def _live_attempts() -> Any:
    """Axes' failure rows that have not expired."""
    from axes.models import AccessAttempt

    return AccessAttempt.objects.filter(expiration__expires_at__gt=timezone.now())


def _about(request: HttpRequest, credentials: dict[str, Any] | None) -> list[Q]:
    """What this request's failures are counted by: its client address, and the account it names (if it names one
    axes can read: a form's field, or the credentials it was handed)."""
    from axes.helpers import get_client_username

    about = [Q(ip_address=getattr(request, "axes_ip_address", None) or client_ip(request))]
    username = get_client_username(request, credentials)
    if username:
        about.append(Q(username=username))
    return about


def login_cool_off(request: HttpRequest | None) -> timedelta:
    """How long failures are remembered (and a lockout lasts): ``LOGIN_LOCKOUT_SECONDS`` after the first
    ``AXES_FAILURE_LIMIT`` failures of an address or account, doubled for each further round of that many, up to
    ``LOGIN_LOCKOUT_MAX_SECONDS``. Read once per request (axes asks several times)."""
    base = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    if request is None:
        return base
    cached = getattr(request, "_login_cool_off", None)
    if cached is not None:
        return cached
    live = _live_attempts()
    credentials = getattr(request, "axes_credentials", None) or getattr(request, "login_credentials", None)
    counts = [
        live.filter(parameter).aggregate(n=Sum("failures_since_start"))["n"] or 0
        for parameter in _about(request, credentials)
    ]
    rounds = max(counts, default=0) // max(1, int(settings.AXES_FAILURE_LIMIT))
    seconds = min(base.total_seconds() * 2 ** max(0, min(rounds - 1, 30)), settings.LOGIN_LOCKOUT_MAX_SECONDS)
    cool_off = timedelta(seconds=seconds)
    request._login_cool_off = cool_off  # type: ignore[attr-defined]
    return cool_off


def login_retry_after(request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    """Seconds until the lockout of this address or account ends."""
    about = functools.reduce(operator.or_, _about(request, credentials))
    latest = _live_attempts().filter(about).aggregate(until=Max("expiration__expires_at"))["until"]
    if latest is None:
        return int(login_cool_off(request).total_seconds())
    return max(1, math.ceil((latest - timezone.now()).total_seconds()))


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes' answer while an address or account is locked: 429 with when to try again."""
    retry_after = login_retry_after(request, credentials)
    detail = f"Too many failed sign-in attempts. Try again in {retry_sentence(retry_after)}."
    return too_many_requests(request, retry_after=retry_after, detail=detail, code=TOO_MANY_ATTEMPTS)
