"""Attack probes against the served stack, as an outside attacker would run them (``make security`` prints one line
each; ``test_served_stack.py`` asserts what each must show).

Each probe takes a running ``ServedStack`` and loopback source addresses (distinct clients), does the attack with
bounded effort, and returns its figures. None of them knows the app's internals beyond its public URLs.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import struct
import threading
import time
import uuid
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from tests.security.stack import Answer, ServedStack


def record(promise: str, line: str, **figures: Any) -> None:
    """One line of ``make security``'s table (only when it runs the suite: SECURITY_RESULTS names the file)."""
    path = os.environ.get("SECURITY_RESULTS")
    if path:
        with Path(path).open("a") as out:
            out.write(json.dumps({"promise": promise, "line": line, "figures": figures}) + "\n")


def _rotating_address(i: int) -> str:
    return f"203.0.113.{i % 250 + 1}, 198.51.100.{(i * 7) % 250 + 1}"


# --- password guessing -----------------------------------------------------------------------------------------


def guess_api_password(
    stack: ServedStack, *, username: str, password: str, attempts: int, source: str
) -> dict[str, Any]:
    """Wrong passwords to POST /api/auth/token/, each with a new X-Forwarded-For (the old bypass), then the right
    one. Returns how many wrong guesses were answered before the first 429, and what the right password got."""
    statuses: list[int] = []
    retry_after = last_retry_after = code = None
    for i in range(attempts):
        answer = stack.post_json(
            "/api/auth/token/",
            {"username": username, "password": f"wrong-{i}"},
            headers={"X-Forwarded-For": _rotating_address(i)},
            source=source,
        )
        statuses.append(answer.status)
        if answer.status == 429:
            last_retry_after = answer.headers.get("Retry-After")
            if retry_after is None:
                retry_after, code = last_retry_after, answer.json().get("code")
    right = stack.post_json(
        "/api/auth/token/", {"username": username, "password": password}, headers={"X-Forwarded-For": "192.0.2.77"},
        source=source,
    )  # fmt: skip
    first_refused = statuses.index(429) + 1 if 429 in statuses else None
    return {
        "attempts": attempts,
        "statuses": dict(Counter(statuses)),
        "first_refused": first_refused,
        "code": code,
        "retry_after": retry_after,
        "last_retry_after": last_retry_after,
        "right_password": right.status,
    }


def _form_session(stack: ServedStack, path: str, source: str) -> tuple[str, str]:
    page = stack.get(path, source=source)
    cookie = next(
        (part.split("=", 1)[1] for part in page.headers.get("Set-Cookie", "").split(";") if "csrftoken=" in part), ""
    )
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert cookie and match, f"{path} gave no CSRF token ({page.status})"
    return cookie, html.unescape(match.group(1).decode())


def guess_page_password(
    stack: ServedStack, *, path: str, username: str, password: str, attempts: int, source: str
) -> dict[str, Any]:
    """The same against a sign-in page (``/login/`` or ``/admin/login/``), as a browser posts its form."""
    cookie, token = _form_session(stack, path, source)
    statuses: list[int] = []

    def post(secret: str, forwarded: str) -> Answer:
        body = f"csrfmiddlewaretoken={token}&username={username}&password={secret}".encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie}",
            "Referer": f"http://127.0.0.1:{stack.port}{path}",
            "X-Forwarded-For": forwarded,
        }
        return stack.request("POST", path, body=body, headers=headers, source=source)

    for i in range(attempts):
        statuses.append(post(f"wrong-{i}", _rotating_address(i)).status)
    right = post(password, "192.0.2.78")
    first_refused = statuses.index(429) + 1 if 429 in statuses else None
    return {"statuses": dict(Counter(statuses)), "first_refused": first_refused, "right_password": right.status}


def sign_up_flood(stack: ServedStack, *, accounts: int, source: str) -> dict[str, Any]:
    """Sign-ups through the API as fast as possible, a new X-Forwarded-For each."""
    statuses = []
    started = time.perf_counter()
    for i in range(accounts):
        answer = stack.post_json(
            "/api/auth/register/",
            {"username": f"flood{uuid.uuid4().hex[:10]}", "password": "a long passphrase 42"},
            headers={"X-Forwarded-For": _rotating_address(i)},
            source=source,
        )
        statuses.append(answer.status)
    return {"tried": accounts, "created": statuses.count(201), "seconds": round(time.perf_counter() - started, 2)}


# --- bodies ----------------------------------------------------------------------------------------------------


def oversized_body(stack: ServedStack, *, megabytes: int, path: str, source: str) -> dict[str, Any]:
    """Declare and start sending a ``megabytes`` JSON body; stop when the server answers or hangs up. Returns the
    status, how much was sent, the seconds, and the web workers' memory before and after."""
    rss_before = stack.web_rss_mb()
    size = megabytes * 1024 * 1024
    chunk = b'{"username": "' + b"a" * (1024 * 1024 - 16) + b'"'
    sock = stack.connect(source=source)
    sent = 0
    started = time.perf_counter()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode())
    status = 0
    response = b""
    sock.settimeout(0.0)
    try:
        while sent < size:
            with contextlib.suppress(BlockingIOError):
                response += sock.recv(65536)
            if response:
                break
            try:
                sent += sock.send(chunk[: min(len(chunk), size - sent)])
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break  # the server hung up
        sock.settimeout(10)
        while b"\r\n" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    finally:
        sock.close()
    if response.startswith(b"HTTP/"):
        status = int(response.split(b" ", 2)[1])
    seconds = time.perf_counter() - started
    time.sleep(0.5)
    return {
        "status": status,
        "sent_mb": round(sent / 1024 / 1024, 1),
        "seconds": round(seconds, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(stack.web_rss_mb(), 1),
        "body": response.partition(b"\r\n\r\n")[2][:200].decode(errors="replace"),
    }


def nested_body(stack: ServedStack, *, kilobytes: int, path: str, source: str) -> dict[str, Any]:
    answer = stack.request(
        "POST", path, body=b"[" * (kilobytes * 1024), headers={"Content-Type": "application/json"}, source=source
    )
    try:
        code = answer.json().get("code")
    except ValueError:
        code = None
    return {"status": answer.status, "code": code}


# --- slow clients ----------------------------------------------------------------------------------------------


def slow_clients(
    stack: ServedStack, *, slow: int, probes: int, seconds: float, attacker: str, bystander: str
) -> dict[str, Any]:
    """Slowloris: ``slow`` connections from ``attacker`` trickle their headers (and half of them a declared body) one
    byte at a time, while ``bystander`` asks /healthz ``probes`` times over ``seconds``. Returns how many probes
    succeeded, the slowest, and how long the slow connections were kept."""
    stop = threading.Event()
    lifetimes: list[float] = []

    def trickle(index: int) -> None:
        started = time.monotonic()
        try:
            sock = stack.connect(source=attacker, timeout=5)
        except OSError:
            return
        try:
            if index % 2:
                sock.sendall(
                    b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n"
                )
            else:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while not stop.is_set():
                sock.sendall(b"{" if index % 2 else b"X")
                stop.wait(1.0)
        except OSError:
            pass  # the server gave up on us: what it should do
        finally:
            lifetimes.append(time.monotonic() - started)
            sock.close()

    threads = [threading.Thread(target=trickle, args=(i,), daemon=True) for i in range(slow)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the slow connections are in place before anyone else asks
    results: list[tuple[int, float]] = []
    interval = seconds / probes
    for _ in range(probes):
        try:
            answer = stack.get("/healthz", source=bystander, timeout=5)
            results.append((answer.status, answer.seconds))
        except OSError:
            results.append((0, 5.0))
        time.sleep(interval)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    ok = [took for status, took in results if status == 200]
    return {
        "slow": slow,
        "probes": probes,
        "ok": len(ok),
        "slowest_ok_s": round(max(ok), 3) if ok else None,
        "slow_kept_s": round(max(lifetimes), 1) if lifetimes else None,
    }


# --- decode bombs ----------------------------------------------------------------------------------------------


@cache
def png_bomb(side: int = 6320) -> bytes:
    """A 16-bit RGBA PNG of ``side`` x ``side`` that compresses to a few hundred KB (all zeros): under a 40 MP
    pixel cap, but 8 bytes a pixel to decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + side * 8)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def _multipart(name: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def decode_bombs(stack: ServedStack, *, parallel: int, sources: list[str]) -> dict[str, Any]:
    """``parallel`` decode bombs to POST /api/credentials/verify/ at once, from ``sources``. Returns the statuses,
    the slowest answer and the web workers' peak memory meanwhile."""
    body, content_type = _multipart("image", "bomb.png", png_bomb())
    peak = [stack.web_rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.append(stack.web_rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def send(i: int) -> Answer:
        return stack.request(
            "POST", "/api/credentials/verify/", body=body, headers={"Content-Type": content_type},
            source=sources[i % len(sources)], timeout=60,
        )  # fmt: skip

    with ThreadPoolExecutor(parallel) as pool:
        answers = list(pool.map(send, range(parallel)))
    done.set()
    sampler.join()
    codes = Counter(a.json().get("code") if a.status != 200 else "ok" for a in answers)
    return {
        "parallel": parallel,
        "bomb_kb": len(png_bomb()) // 1024,
        "statuses": dict(Counter(a.status for a in answers)),
        "codes": dict(codes),
        "slowest_s": round(max(a.seconds for a in answers), 2),
        "peak_rss_mb": round(max(peak), 1),
    }
