"""``make reliability``: the fault and load suites on PostgreSQL + Redis, with real worker and web processes.

Starts a private ``redis-server`` (free port, nothing on disk) and the PostgreSQL proxy (``pgproxy.py``) in front of
RELIABILITY_DATABASE_URL's server, exports the configuration that points the test process, its workers and its
web server at them, runs ``pytest tests/reliability`` and prints one line per promise with its figures (also in
``$VAR_DIR/reliability/results.json``). Exits with pytest's status. Extra arguments go to pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.reliability import services  # noqa: E402  (after the path is set)


def main(argv: list[str]) -> int:
    target = urllib.parse.urlsplit(
        os.environ.get("RELIABILITY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reliability")
    )
    if shutil.which("redis-server") is None:
        print("reliability: redis-server is not installed", file=sys.stderr)
        return 2
    var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var").resolve()
    state = var_dir / "reliability"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    redis_port, proxy_port = services.free_port(), services.free_port()
    os.environ.update(
        RELIABILITY_STATE=str(state),
        RELIABILITY_REDIS_PORT=str(redis_port),
        REMIX_RELIABILITY="1",
        VAR_DIR=str(state / "var"),
        DATABASE_URL=f"postgres://{target.username or 'postgres'}@127.0.0.1:{proxy_port}{target.path}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        CACHE_URL=f"redis://127.0.0.1:{redis_port}/1",
    )
    for name in ("REMIX_MODEL", "DJANGO_ENV", "MEDIA_ROOT"):
        os.environ.pop(name, None)
    services.redis_start(redis_port)
    proxy = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("pgproxy.py")), str(proxy_port),
         f"{target.hostname or '127.0.0.1'}:{target.port or 5432}", str(state)],
    )  # fmt: skip
    started = time.monotonic()
    try:
        services.wait_until(lambda: services.port_open(proxy_port), timeout=10, what="the PostgreSQL proxy")
        status = subprocess.call(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/reliability", *argv], cwd=ROOT
        )
    finally:
        proxy.send_signal(signal.SIGKILL)
        proxy.wait()
        services.redis_stop()
    rows = []
    results = state / "results.jsonl"
    if results.exists():
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    (state / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n== reliability: one line per promise")
    for row in rows:
        print(f"{row['promise']:<26} {row['line']}")
    print(f"(took {time.monotonic() - started:.0f} s; pytest exit {status}; {state / 'results.json'})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
