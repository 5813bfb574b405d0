"""Web throughput: requests/s of one gunicorn worker process and p50/p95 latency for the feed, a post,
its comments and a remix request, with 10,000 posts in the database, driven by wrk over loopback.

    .venv/bin/python bench/web.py [--quick] [--connections 4] [--duration 30] [--conn-max-age N]

Each run starts from scratch:
  1. A database of its own under ``VAR_DIR/bench/web/state`` (SQLite, WAL), or the one named by
     ``BENCH_DATABASE_URL`` (e.g. ``postgres://postgres@127.0.0.1:5432/remix_bench``; its public schema
     is DROPPED and re-created, so give it a database of its own). Migrated, then seeded with
     bulk_create: 200 users (half opted in to remixes, a fifth of those for followers only), 4,000
     follows, 1,000 posts; 100 of them have 20 text comments and 5 remixes (with their RemixJob and
     RemixResult rows). A few real media files are written once and shared by name.
  2. gunicorn ``socialapp.wsgi`` as ``make serve`` runs it behind nginx (no worker class given there, so
     gunicorn's default, sync), but alone, with one worker, on a free loopback port (the worker's own
     throughput, without the proxy's share of the 2 cores): development settings with DEBUG
     off, an access log (a file here, stdout there), the remix quotas raised by environment so the
     load is not turned away. CONN_MAX_AGE is the settings' (60 s: a connection kept across requests) unless
     ``--conn-max-age`` says otherwise.
  3. wrk, one thread: a C client costs a fraction of the CPU a Python generator (locust) would, and
     on a 2-core machine the client's CPU is taken from the server's. A Lua script adds the token,
     rotates over posts and users, sends the POST body and counts status codes. At a fixed
     concurrency, for a fixed duration each, after a warm-up: the feed at 1,000 posts; then 9,000
     older posts are added and the feed (first page, 20 items), a deep feed page (from the 5,000th
     post), post detail, comments (first page of 20) and remix create.

Reported per endpoint: requests/s, p50/p95/p99 latency, non-2xx answers (expected 0), and the
worker's own CPU per request (from /proc), which stays meaningful where neighbours share the
machine (load above the core count) and requests/s does not. Remix requests go onto the filesystem
broker with no worker running, as on a web node: the web path is what is measured (policy,
moderation, quotas, the job row, the message). Not a test: it prints and returns.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

POSTS_SMALL = 1_000
POSTS = 10_000
USERS = 200
HOT_POSTS = 100
HOT_TEXT_COMMENTS = 20
HOT_REMIX_COMMENTS = 5
DEEP_PAGE_AT = 5_000
# Targets from the issue (requests/s of one worker process).
TARGETS = {"post_detail": 300.0, "feed": 150.0}
PROMPTS = ["make it a watercolour", "put it on the beach", "add snow", "make it look like a comic", "neon lights"]

# Remix quotas out of the way of the load (each is one COUNT either way).
_QUOTAS = {
    "REMIX_RATE_LIMIT": "1000000000",
    "REMIX_USER_DAILY_LIMIT": "1000000000",
    "REMIX_POST_DAILY_LIMIT": "1000000000",
    "REMIX_QUEUE_MAX": "1000000000",
}


# --- the parent: no Django here (bench/run.py may have set up its own); seeding runs in a child -----


def run(out_dir: Path, *, quick: bool = False, **options: Any) -> dict[str, Any]:
    """Seed, serve, load, and return the summary (see the module docstring); files go to ``out_dir``.

    ``options``: ``connections`` (default 4), ``duration`` (seconds per endpoint; default 30, quick 3),
    ``worker_class`` (default "sync"), ``threads`` (gthread only), ``conn_max_age`` (seconds the web
    process keeps its database connection; default: the settings' own, 60 s unless CONN_MAX_AGE is set).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrk = _wrk_binary()
    connections = int(options.get("connections") or 4)
    duration = float(options.get("duration") or (3 if quick else 30))
    warmup = 1.0 if quick else 5.0
    worker_class = str(options.get("worker_class") or "sync")
    threads = int(options.get("threads") or 1)

    var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var").resolve()
    state = var_dir / "bench" / "web" / "state"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    env = _server_env(state)
    if options.get("conn_max_age") is not None:
        env["CONN_MAX_AGE"] = str(int(options["conn_max_age"]))

    fixture = _seed(env, state, total=POSTS_SMALL, fresh=True)
    results: dict[str, Any] = {}
    with _gunicorn(env, state, worker_class=worker_class, threads=threads) as server:
        load = _Load(wrk, server, state, out_dir, connections=connections, duration=duration, warmup=warmup)
        feed_small = load.run("feed@1000", ["/api/posts/"], fixture["tokens"])
        small_query_ms = fixture["feed_query_ms"]
        fixture = _seed(env, state, total=POSTS)
        results["feed"] = load.run("feed", ["/api/posts/"], fixture["tokens"])
        deep = load.run("feed_deep", [f"/api/posts/?cursor={fixture['deep_cursor']}"], fixture["tokens"])
        results["post_detail"] = load.run(
            "post_detail", [f"/api/posts/{pk}/" for pk in fixture["hot_posts"]], fixture["tokens"]
        )
        results["comments"] = load.run(
            "comments", [f"/api/posts/{pk}/comments/" for pk in fixture["hot_posts"]], fixture["tokens"]
        )
        results["remix_create"] = load.run(
            "remix_create",
            [f"/api/posts/{pk}/remixes/" for pk in fixture["hot_posts"]],
            fixture["tokens"],
            method="POST",
            bodies=[json.dumps({"prompt": prompt}) for prompt in PROMPTS],
        )
    summary: dict[str, Any] = {
        "feed": results["feed"],
        "post_detail": results["post_detail"],
        "comments": results["comments"],
        "remix_create": results["remix_create"],
        "posts": fixture["posts"],
        "workers": 1,
        "tool": (
            f"wrk {load.version} (1 thread, {connections} connections, {duration:g} s per endpoint) "
            f"against gunicorn {worker_class}{f' x{threads} threads' if worker_class == 'gthread' else ''}, "
            f"1 worker, CONN_MAX_AGE={env.get('CONN_MAX_AGE') or 'the settings default (60 s)'}, {fixture['database']}"
        ),
        "feed_latency_vs_posts": {
            "posts": [fixture["posts_small"], fixture["posts"]],
            "p50_ms": [feed_small["p50_ms"], results["feed"]["p50_ms"]],
            "p95_ms": [feed_small["p95_ms"], results["feed"]["p95_ms"]],
            "rps_per_process": [feed_small["rps_per_process"], results["feed"]["rps_per_process"]],
            # Steadier than latency where neighbours share the machine.
            "cpu_ms_per_request": [feed_small["cpu_ms_per_request"], results["feed"]["cpu_ms_per_request"]],
            "ratio_p50": _ratio(results["feed"]["p50_ms"], feed_small["p50_ms"]),
            "ratio_cpu": _ratio(results["feed"]["cpu_ms_per_request"], feed_small["cpu_ms_per_request"]),
            # The page query alone, timed in the database (median of 200): first page and deep page.
            "query_ms": [small_query_ms, fixture["feed_query_ms"]],
            # The page that starts at the 5,000th newest post, at 10,000 posts (a keyset page: same cost).
            "deep_page": {
                "starts_at_post": DEEP_PAGE_AT,
                "p50_ms": deep["p50_ms"],
                "p95_ms": deep["p95_ms"],
                "cpu_ms_per_request": deep["cpu_ms_per_request"],
            },
        },
    }
    (out_dir / "web.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _ratio(large: float | None, small: float | None) -> float | None:
    return round(large / small, 3) if large and small else None


def _server_env(state: Path) -> dict[str, str]:
    """The environment of the seeding child and of gunicorn: everything under ``state``."""
    env = dict(os.environ)
    env.update(
        VAR_DIR=str(state),
        DJANGO_SETTINGS_MODULE="socialapp.settings",
        DJANGO_ENV="development",
        DEBUG="0",
        # Empty = the embedded defaults under VAR_DIR (never the developer's own database or broker).
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", ""),
        CELERY_BROKER_URL="",
        CACHE_URL="",
        MEDIA_ROOT="",
        MEDIA_STORAGE_BACKEND="django.core.files.storage.FileSystemStorage",
        MEDIA_STORAGE_OPTIONS="{}",
        **_QUOTAS,
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def _seed(env: dict[str, str], state: Path, *, total: int, fresh: bool = False) -> dict[str, Any]:
    fixture = state / "fixture.json"
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_seed", "--total", str(total), "--fixture", str(fixture)]
        + (["--fresh"] if fresh else []),
        env=env,
        cwd=ROOT,
        check=True,
    )
    return json.loads(fixture.read_text())


def _wrk_binary() -> str:
    """wrk, installed from Debian's package when missing (root, or sudo without a password)."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print("wrk is missing: installing Debian's package (apt-get install wrk)", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        if subprocess.run([*sudo, *step], env=env, check=False, stdout=subprocess.DEVNULL).returncode != 0:
            break
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "bench/web.py needs wrk (an HTTP load generator) and could not install it. "
            "Install it with `sudo apt-get install wrk` (Debian/Ubuntu) and run again."
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    def __init__(self, base_url: str, arbiter_pid: int) -> None:
        self.base_url, self.arbiter_pid = base_url, arbiter_pid

    def worker_cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the arbiter's workers, from /proc (Linux)."""
        total = 0.0
        children = Path(f"/proc/{self.arbiter_pid}/task/{self.arbiter_pid}/children")
        with contextlib.suppress(OSError):
            for pid in children.read_text().split():
                with contextlib.suppress(OSError):
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], state: Path, *, worker_class: str, threads: int) -> Iterator[_Server]:
    """gunicorn with one worker on a free loopback port; stopped on the way out, Ctrl-C included."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "socialapp.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--access-logfile",
        str(state / "access.log"),
        "--error-logfile",
        str(state / "gunicorn.log"),
    ]
    # Its own session: a Ctrl-C reaches this process, which stops gunicorn in order (the finally).
    log = (state / "gunicorn.out").open("ab")  # the app's own log lines (INFO: every remix queued)
    server = subprocess.Popen(
        command, env={**env, "PORT": str(port)}, cwd=ROOT, start_new_session=True, stdout=log, stderr=log
    )
    # A SIGTERM (a CI timeout, `kill`) also stops gunicorn; signal handlers live in the main thread only.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_exit) if main_thread else None
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, server, state)
        yield _Server(base_url, server.pid)
    finally:
        _stop(server)
        log.close()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)  # the arbiter and its worker (started in its own group)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _wait_healthy(base_url: str, server: subprocess.Popen[bytes], state: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}; see {state / 'gunicorn.log'}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer /healthz within 60 s; see {state / 'gunicorn.log'}")


_LUA = r"""
local paths = {PATHS}
local tokens = {TOKENS}
local bodies = {BODIES}
local method = "METHOD"
local n = 0
non2xx = 0
statuses = {}

function init(args)
  n = math.random(0, #paths * #tokens)
end

function request()
  n = n + 1
  local headers = {["Authorization"] = "Token " .. tokens[n % #tokens + 1], ["Accept"] = "application/json"}
  local body = nil
  if #bodies > 0 then
    headers["Content-Type"] = "application/json"
    body = bodies[n % #bodies + 1]
  end
  return wrk.format(method, paths[n % #paths + 1], headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local bad, counts = 0, {}
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    for key, value in pairs(thread:get("statuses")) do counts[key] = (counts[key] or 0) + value end
  end
  local parts = {}
  for key, value in pairs(counts) do table.insert(parts, string.format('"%s": %d', key, value)) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "mean_us": %f, '
    .. '"max_us": %d, "non_2xx": %d, "statuses": {%s}, "socket_errors": {"connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.mean, latency.max, bad, table.concat(parts, ", "), e.connect, e.read, e.write, e.timeout))
end
"""


def _lua_list(items: list[str]) -> str:
    return "{" + ", ".join(json.dumps(item) for item in items) + "}"


class _Load:
    def __init__(
        self,
        wrk: str,
        server: _Server,
        state: Path,
        out_dir: Path,
        *,
        connections: int,
        duration: float,
        warmup: float,
    ) -> None:
        self.wrk, self.server, self.state, self.out_dir = wrk, server, state, out_dir
        self.connections, self.duration, self.warmup = connections, duration, warmup
        version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False).stdout
        self.version = version.split()[1] if len(version.split()) > 1 else "?"

    def run(
        self, name: str, paths: list[str], tokens: list[str], *, method: str = "GET", bodies: list[str] | None = None
    ) -> dict[str, Any]:
        script = self.state / f"{name}.lua"
        script.write_text(
            _LUA.replace("{PATHS}", _lua_list(paths))
            .replace("{TOKENS}", _lua_list(tokens))
            .replace("{BODIES}", _lua_list(bodies or []))
            .replace("METHOD", method)
        )
        self._wrk(script, self.warmup)
        load_before, cpu_before = os.getloadavg()[0], self.server.worker_cpu_seconds()
        raw = self._wrk(script, self.duration)
        cpu = self.server.worker_cpu_seconds() - cpu_before
        (self.out_dir / f"web-{name}.wrk.txt").write_text(raw)
        line = next((ln for ln in raw.splitlines() if ln.startswith("WRKJSON ")), None)
        if line is None:
            raise SystemExit(f"wrk printed no result for {name}:\n{raw}")
        stats = json.loads(line.removeprefix("WRKJSON "))
        seconds = stats["duration_us"] / 1e6
        return {
            "rps_per_process": round(stats["requests"] / seconds, 1),
            "p50_ms": round(stats["p50_us"] / 1000, 2),
            "p95_ms": round(stats["p95_us"] / 1000, 2),
            "p99_ms": round(stats["p99_us"] / 1000, 2),
            "requests": stats["requests"],
            "non_2xx": stats["non_2xx"],
            "statuses": stats["statuses"],
            "socket_errors": stats["socket_errors"],
            "concurrency": self.connections,
            "duration_s": round(seconds, 2),
            # The worker's own CPU per answer, and the rate that would give with a core to itself: on
            # a shared machine (load above the core count) requests/s measures the neighbours too.
            "cpu_ms_per_request": round(cpu * 1000 / stats["requests"], 2) if stats["requests"] else None,
            "cpu_bound_rps": round(stats["requests"] / cpu, 1) if cpu > 0 else None,
            "load_avg_1m": round(load_before, 2),
            "cores": os.cpu_count(),
        }

    def _wrk(self, script: Path, seconds: float) -> str:
        command = [
            self.wrk,
            "--threads",
            "1",
            "--connections",
            str(self.connections),
            "--duration",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--script",
            str(script),
            self.server.base_url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout


def _print_table(summary: dict[str, Any]) -> None:
    print(summary["tool"])
    print(f"{summary['posts']} posts in the database\n")
    print(
        f"{'endpoint':14} {'req/s/process':>14} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
        f"{'cpu ms/req':>10} {'load':>5}  target"
    )
    for name in ("feed", "post_detail", "comments", "remix_create"):
        row = summary[name]
        target = TARGETS.get(name)
        verdict = "" if target is None else f"≥{target:g} {'ok' if row['rps_per_process'] >= target else 'MISSED'}"
        print(
            f"{name:14} {row['rps_per_process']:>14.1f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {row['non_2xx']:>8} {row['cpu_ms_per_request'] or 0:>10.2f} "
            f"{row['load_avg_1m']:>5.2f}  {verdict}"
        )
    scaling = summary["feed_latency_vs_posts"]
    (small, large), (p50_small, p50_large) = scaling["posts"], scaling["p50_ms"]
    deep = scaling["deep_page"]
    cpu_small, cpu_large = scaling["cpu_ms_per_request"]
    query_small, query_large = (q["first_page"] for q in scaling["query_ms"])
    print(
        f"\nfeed at {small} posts: p50 {p50_small:.2f} ms, {cpu_small} cpu ms/req; at {large} posts: p50 "
        f"{p50_large:.2f} ms, {cpu_large} cpu ms/req (ratios: p50 {scaling['ratio_p50']}, cpu {scaling['ratio_cpu']})"
        f"\nfeed page query in the database: {query_small} ms at {small} posts, {query_large} ms at {large}"
        f"\nfeed page from the {deep['starts_at_post']}th post: p50 {deep['p50_ms']:.2f} ms, "
        f"{deep['cpu_ms_per_request']} cpu ms/req, query {scaling['query_ms'][1]['deep_page']} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: seconds per endpoint")
    parser.add_argument("--out", type=Path, default=None, help="where web.json goes (default VAR_DIR/bench/web)")
    parser.add_argument("--connections", type=int, default=None, help="concurrent connections (default 4)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per endpoint (default 30; quick 3)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (make serve: sync)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads (gthread)")
    parser.add_argument("--conn-max-age", type=int, default=None, help="CONN_MAX_AGE for the web process")
    args = parser.parse_args()
    out = args.out or Path(os.environ.get("VAR_DIR") or ROOT / "var").resolve() / "bench" / "web"
    summary = run(
        out,
        quick=args.quick,
        connections=args.connections,
        duration=args.duration,
        worker_class=args.worker_class,
        threads=args.threads,
        conn_max_age=args.conn_max_age,
    )
    _print_table(summary)
    print(f"\nwritten: {out / 'web.json'}")


# --- the seeding child: Django set up on the bench's own database --------------------------------------


def _seed_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--fixture", type=Path, required=True)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)
    import django

    django.setup()
    args.fixture.write_text(json.dumps(_grow_to(args.total, fresh=args.fresh)))


def _grow_to(total: int, *, fresh: bool) -> dict[str, Any]:
    """Seed the base (users, follows, consent, media, hot posts) when ``fresh``, then add older posts
    until there are ``total``; return what the load needs (tokens, post ids, a deep cursor)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from socialapp.models import Post, User

    if fresh and connection.vendor == "postgresql":
        # A database of the bench's own (see above), emptied the way a new one starts: migrations
        # (the default moderation rules are a data migration) rather than a flush that drops them.
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0)
    # Posts get the times a real feed would have (one every 7 minutes back from the newest), not the
    # moment of the insert: auto_now_add is set aside in this seeding process only.
    Post._meta.get_field("created_at").auto_now_add = False
    with transaction.atomic():
        if fresh:
            _seed_base()
        users = list(User.objects.filter(username__startswith="bench-").order_by("pk"))
        have = Post.objects.count()
        if have < total:
            _add_posts(users, start=have, stop=total)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # what autovacuum does soon after a bulk load
    return _fixture()


def _seed_base() -> None:
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from knox.models import AuthToken

    from remix.models import CreatorSettings
    from socialapp import demo_media
    from socialapp.models import Follow, Profile, User

    media = Path(settings.MEDIA_ROOT)
    (media / "posts").mkdir(parents=True, exist_ok=True)
    (media / "remixes").mkdir(parents=True, exist_ok=True)
    for n, scene in enumerate(("sunset", "city", "ocean")):
        demo_media.make_photo(media / "posts" / f"bench-photo-{n}.jpg", size=(1080, 1350), scene=scene)
    demo_media.make_video(media / "posts" / "bench-video.mp4", seconds=4, size=(640, 360))
    demo_media.make_photo(media / "posts" / "bench-video-poster.jpg", size=(640, 360))
    demo_media.make_photo(media / "remixes" / "bench-remix.jpg", size=(512, 640), scene="disco")

    password = make_password("bench-password-1")
    users = User.objects.bulk_create(
        User(username=f"bench-{i}", email=f"bench-{i}@example.com", password=password) for i in range(USERS)
    )
    Profile.objects.bulk_create(Profile(user=u, display_name=f"Bench User {i}") for i, u in enumerate(users))
    # Half the accounts opted in; a fifth of those only for accounts they follow.
    CreatorSettings.objects.bulk_create(
        CreatorSettings(
            user=u,
            allow_remix=True,
            audience=CreatorSettings.Audience.FOLLOWING if i % 10 == 0 else CreatorSettings.Audience.EVERYONE,
            new_posts_allow_remix=True,
        )
        for i, u in enumerate(users)
        if i % 2 == 0
    )
    Follow.objects.bulk_create(
        Follow(follower=u, followee=users[(i + k) % USERS]) for i, u in enumerate(users) for k in range(1, 21)
    )
    # The second half of the accounts are the clients of the load (token auth, as API clients call). Tokens are
    # stored hashed, so their keys are kept beside the database for the load generator.
    keys = [AuthToken.objects.create(user=u, expiry=None)[1] for u in users[USERS // 2 :]]
    _token_file().write_text(json.dumps(keys))


def _token_file() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "bench-tokens.json"


def _add_posts(users: list[Any], *, start: int, stop: int) -> None:
    """Posts ranked ``start``..``stop - 1`` from the newest; the first ``HOT_POSTS`` remixable ones among
    the newest thousand get 20 text comments and 5 remixes."""
    import datetime as dt

    from django.utils import timezone

    from remix.models import RemixJob, RemixResult
    from socialapp.models import Comment, Post

    newest = Post.objects.order_by("-created_at").values_list("created_at", flat=True).first() or timezone.now()
    posts = []
    for rank in range(start, stop):
        author_index = rank % USERS
        video = rank % 5 == 0
        posts.append(
            Post(
                author=users[author_index],
                media_type=Post.MediaType.VIDEO if video else Post.MediaType.IMAGE,
                media="posts/bench-video.mp4" if video else f"posts/bench-photo-{rank % 3}.jpg",
                poster="posts/bench-video-poster.jpg" if video else f"posts/bench-photo-{rank % 3}.jpg",
                media_content_type="video/mp4" if video else "image/jpeg",
                caption=f"Bench post {rank}: a day out, {['sunset', 'city', 'ocean'][rank % 3]} edition",
                duration=4.0 if video else None,
                width=640 if video else 1080,
                height=360 if video else 1350,
                video_codec="h264" if video else "",
                size_bytes=200_000,
                allow_remix=author_index % 2 == 0 and rank % 3 != 0,
                review_state=Post.Review.PENDING if rank % 200 == 199 else Post.Review.PUBLISHED,
                comment_count=2 if rank % 4 == 0 else 0,
                created_at=newest - dt.timedelta(minutes=7 * rank),
            )
        )
    posts = Post.objects.bulk_create(posts, batch_size=500)
    comments = [
        Comment(post=post, author=users[(rank + k + 3) % USERS], text=f"Nice one #{k}")
        for rank, post in zip(range(start, stop), posts, strict=True)
        if post.comment_count
        for k in range(post.comment_count)
    ]
    hot = [
        (rank, post)
        for rank, post in zip(range(start, stop), posts, strict=True)
        if rank < POSTS_SMALL and _remixable_by_everyone(rank) and post.review_state == Post.Review.PUBLISHED
    ][:HOT_POSTS]
    for rank, post in hot:
        comments += [
            Comment(post=post, author=users[(rank + k + 3) % USERS], text=f"Love it #{k}")
            for k in range(HOT_TEXT_COMMENTS - post.comment_count)
        ]
    Post.objects.filter(pk__in=[post.pk for _, post in hot]).update(comment_count=HOT_TEXT_COMMENTS)
    Comment.objects.bulk_create(comments, batch_size=500)

    # Finished remixes as the worker leaves them: the job, the labelled comment, the result.
    requests = [
        (post, users[(rank + 7 * k + 1) % USERS], PROMPTS[k % len(PROMPTS)])
        for rank, post in hot
        for k in range(HOT_REMIX_COMMENTS)
    ]
    done = RemixJob.Status.SUCCEEDED
    jobs = RemixJob.objects.bulk_create(
        RemixJob(post=post, requester=who, prompt=prompt, seed=1, status=done, progress=1.0)
        for post, who, prompt in requests
    )
    remixes = Comment.objects.bulk_create(
        Comment(post=post, author=who, kind=Comment.Kind.REMIX, text=prompt) for post, who, prompt in requests
    )
    RemixResult.objects.bulk_create(
        RemixResult(job=job, comment=comment, image="remixes/bench-remix.jpg", width=512, height=640)
        for job, comment in zip(jobs, remixes, strict=True)
    )


def _remixable_by_everyone(rank: int) -> bool:
    author_index = rank % USERS
    return author_index % 2 == 0 and author_index % 10 != 0 and rank % 3 != 0


def _feed_query_ms(position: str) -> dict[str, float]:
    """The database's own time for the feed's page query (first page, and the page from ``position``),
    as a signed-in viewer: the median of 200 runs, no HTTP and no serializing in the way."""
    import statistics

    from django.db import connection

    from socialapp import selectors
    from socialapp.api.pagination import NewestFirstCursorPagination
    from socialapp.models import User

    viewer = User.objects.filter(auth_token_set__isnull=False).order_by("pk").first()
    assert viewer is not None
    feed = selectors.feed_for(user=viewer)
    after = NewestFirstCursorPagination()._after(position, descending=True)
    timings = {}
    for name, page in (("first_page", feed[:21]), ("deep_page", feed.filter(after)[:21])):
        sql, params = page.query.sql_with_params()
        runs = []
        with connection.cursor() as cursor:
            for _ in range(200):
                started = time.perf_counter()
                cursor.execute(sql, params)
                cursor.fetchall()
                runs.append(time.perf_counter() - started)
        timings[name] = round(statistics.median(runs) * 1000, 3)
    return timings


def _fixture() -> dict[str, Any]:
    import base64
    import sqlite3
    from urllib.parse import quote, urlencode

    from django.db import connection

    from remix.models import RemixResult
    from socialapp.api.pagination import NewestFirstCursorPagination
    from socialapp.models import Post

    pagination = NewestFirstCursorPagination()
    published = Post.objects.filter(review_state=Post.Review.PUBLISHED).order_by("-created_at", "-id")
    deep = published[min(DEEP_PAGE_AT, published.count()) - 1]
    position = pagination._get_position_from_instance(deep, pagination.ordering)
    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()
    hot = sorted(set(RemixResult.objects.values_list("job__post_id", flat=True)))
    if connection.vendor == "sqlite":
        database = f"SQLite {sqlite3.sqlite_version} (WAL)"
    else:
        major, minor = divmod(getattr(connection, "pg_version", 0), 10000)
        database = f"PostgreSQL {major}.{minor}" if connection.vendor == "postgresql" else connection.vendor
    return {
        "posts": Post.objects.count(),
        "posts_small": POSTS_SMALL,
        "feed_query_ms": _feed_query_ms(position),
        "tokens": json.loads(_token_file().read_text()),
        "hot_posts": hot,
        "deep_cursor": quote(cursor, safe=""),
        "database": database,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["_seed"]:
        sys.path.insert(0, str(ROOT))
        _seed_main(sys.argv[2:])
    else:
        main()
