"""The processes the fault and load suites start, stop and kill: a private Redis, the PostgreSQL proxy, Celery
workers (with the sweeper's beat) and the web tier (nginx in front of gunicorn), all on the configuration ``run.py``
exported.

The suite owns its Redis (a ``redis-server`` on a free port, nothing kept on disk, like production's broker) so it
can restart it at will without touching the machine's shared one, and reaches PostgreSQL through ``pgproxy.py`` so
it can cut the database off without stopping the shared server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.security.stack import ServedStack  # the served tier, shared with the attack tests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``condition`` until true; the seconds it took. Raises AssertionError after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


# --- Redis -------------------------------------------------------------------------------------------------------


def state_dir() -> Path:
    return Path(os.environ["RELIABILITY_STATE"])


def redis_port() -> int:
    return int(os.environ["RELIABILITY_REDIS_PORT"])


def redis_start(port: int | None = None) -> None:
    port = port or redis_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    (state_dir() / "redis.pid").write_text(str(process.pid))
    wait_until(lambda: port_open(port), timeout=10, what="redis-server")


def redis_stop() -> None:
    """SIGKILL: everything in it (queued messages, unacknowledged deliveries, cached counters) is gone."""
    pid_file = state_dir() / "redis.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        pid_file.unlink()
    wait_until(lambda: not port_open(redis_port()), timeout=10, what="redis-server to stop")


# --- PostgreSQL through the proxy ----------------------------------------------------------------------------------


def database_down() -> None:
    """Cut PostgreSQL off and return once the proxy has closed every open connection (until then a request
    could still be answered over a connection opened before the cut)."""
    (state_dir() / "pg-down.done").unlink(missing_ok=True)
    (state_dir() / "pg-down").touch()
    wait_until(lambda: (state_dir() / "pg-down.done").exists(), timeout=10, what="the database cut", interval=0.01)


def database_up() -> None:
    (state_dir() / "pg-down").unlink(missing_ok=True)


# --- workers and web ---------------------------------------------------------------------------------------------


def process_env(**overrides: Any) -> dict[str, str]:
    """The environment of a worker or web process: the test process's (run.py's exports), the test database
    pytest-django created, and ``overrides``."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "REMIX_MODEL": str(settings.REMIX_MODEL),
        "REMIX_OUTPUT_MIN_SIDE": str(settings.REMIX_OUTPUT_MIN_SIDE),
        "PYTHONPATH": str(ROOT),
    }
    env.update({name: str(value) for name, value in overrides.items()})
    return env


class Worker:
    """``celery worker`` (prefork, one pool process) with the sweeper's beat embedded, as ``make worker`` runs it.
    Its own session, so killing the group kills the pool process and beat too."""

    count = 0

    def __init__(self, log_dir: Path, *, module: str = "celery", **env: Any) -> None:
        Worker.count += 1
        self.name = f"rel{Worker.count}"
        self.log = log_dir / f"worker-{self.name}.log"
        self.env = process_env(**env)
        self.module = module
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        beat_schedule = self.log.with_suffix(".beat")
        command = [
            sys.executable, "-m", self.module, "-A", "socialapp", "worker", "-Q", "remix,default", "-P", "prefork",
            "-c", "1", "--beat", "-s", str(beat_schedule), "-n", f"{self.name}@%h", "--loglevel", "INFO",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(lambda: len(self.children()) >= 2, timeout=120, what=f"worker {self.name}'s pool and beat")
        wait_until(lambda: "ready." in self.log.read_text(errors="replace"), timeout=120, what="worker ready")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def children(self) -> list[int]:
        """The main process's children: its pool process and the embedded beat."""
        if self.process is None or self.process.poll() is not None:
            return []
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def kill_pool_process(self, claimed_by: str) -> int:
        """kill -9 the pool process running a job: the one its claim names (``host:pid:start:thread``)."""
        pid = int(claimed_by.split(":")[1])
        assert pid in self.children(), f"{pid} is not a pool process of worker {self.pid}"
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill(self) -> None:
        """kill -9 the whole worker: main process, pool process and beat."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def terminate(self, *, timeout: float = 120) -> int:
        """SIGTERM (a deploy): Celery's warm shutdown finishes the running task first. The exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.kill()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        self.kill()


class Web(ServedStack):
    """The production web tier (what ``make serve`` runs: nginx in front of gunicorn), on a free loopback port, with
    the suite's configuration (its database, broker, cache and media: process_env)."""

    def __init__(self, log_dir: Path, *, workers: int = 2, **env: Any) -> None:
        super().__init__(
            env=process_env(DJANGO_ENV="development", DEBUG="0", ALLOWED_HOSTS="127.0.0.1,localhost", **env),
            workers=workers,
        )
        self.log = log_dir / f"web-{self.port}.log"


def http(
    method: str, url: str, *, token: str | None = None, body: dict[str, Any] | None = None, timeout: float = 30
) -> tuple[int, dict[str, Any], float]:
    """One request: ``(status, json body or {}, seconds)``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    elapsed = time.perf_counter() - started
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"raw": raw[:200].decode(errors="replace")}
    return status, payload if isinstance(payload, dict) else {"items": payload}, elapsed


# --- the results table -------------------------------------------------------------------------------------------


def record(promise: str, line: str, **figures: Any) -> None:
    """One line of ``make reliability``'s table (and its figures, in results.json)."""
    path = state_dir() / "results.jsonl"
    with path.open("a") as out:
        out.write(json.dumps({"promise": promise, "line": line, "figures": figures}) + "\n")
