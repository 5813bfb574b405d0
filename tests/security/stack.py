"""The served stack for attack tests: ``manage.py serve`` (nginx in front of gunicorn, what ``make serve`` runs) as
real processes on a free loopback port, on the test database, and a raw HTTP client that can speak from any
loopback address (Linux routes all of 127.0.0.0/8 to ``lo``), so each test is a client of its own to nginx's
per-address limits and the app's throttles, as separate attackers and bystanders would be.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    """The test database pytest-django made, as a URL a child process can use."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class ServedStack:
    """``manage.py serve`` in its own session, by default with its own VAR_DIR (secrets, nginx state, socket) and
    media folder; ``env`` overrides any of its environment (the reliability suite's workers share theirs)."""

    env: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    var_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="served-")))
    log: Path | None = None

    @property
    def media_root(self) -> Path:
        """Where the stack's media live: a test that stores files for it points MEDIA_ROOT here."""
        return self.var_dir / "media"

    def start(self, *, timeout: float = 60) -> ServedStack:
        env = {
            **os.environ,
            "VAR_DIR": str(self.var_dir),
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(self.media_root),
            "DJANGO_ENV": "development",
            "PYTHONPATH": str(ROOT),
            **self.env,
        }
        env.pop("TRUSTED_PROXY_COUNT", None)
        collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"]
        subprocess.run(collect, cwd=ROOT, env=env, check=True)
        self.log = self.log or self.var_dir / "serve.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(self.workers)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError):
                if self.get("/healthz", timeout=2).status in (200, 503):  # up, whatever the services say
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the served stack did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    # --- requests ------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        source: str = "127.0.0.1",
        timeout: float = 30,
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(source, 0))
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            return Answer(response.status, dict(response.getheaders()), data, time.perf_counter() - started)
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post_json(self, path: str, payload: Any, **kwargs: Any) -> Answer:
        import json

        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return self.request("POST", path, body=json.dumps(payload).encode(), headers=headers, **kwargs)

    def connect(self, *, source: str = "127.0.0.1", timeout: float = 30) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout, source_address=(source, 0))

    # --- the web workers -----------------------------------------------------------------------------------

    def web_workers(self) -> list[int]:
        """The gunicorn worker processes (the arbiter's children), which run Django."""
        assert self.process is not None
        arbiters = [pid for pid in _children(self.process.pid) if b"gunicorn" in _cmdline(pid)]
        return [pid for arbiter in arbiters for pid in _children(arbiter)]

    def web_rss_mb(self) -> float:
        """The largest resident memory of one web worker, in MB."""
        return max((_rss_kb(pid) for pid in self.web_workers()), default=0) / 1024


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
