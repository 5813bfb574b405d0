"""``manage.py serve``: the production web tier, nginx in front of gunicorn, on ``$PORT``.

nginx (Debian's package, which ``make serve`` installs) listens on ``127.0.0.1:$PORT`` (``--bind`` to change),
holds the client connections, buffers request bodies, answers static files and sends media after Django's
check (X-Accel-Redirect). gunicorn's sync workers listen on a Unix socket that only nginx reaches; the socket,
nginx's configuration and its buffers live in ``$VAR_DIR/run/<address>/``. gunicorn is started with
``TRUSTED_PROXY_COUNT`` one more than the environment says (nginx appends the client address to
``X-Forwarded-For``) and, with local media, ``MEDIA_DELIVERY=accel``.

Both run in the foreground under this command; when either exits, or on SIGINT/SIGTERM, both stop.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from string import Template
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser

TEMPLATE = Path(__file__).resolve().parents[2] / "nginx.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def body_limits() -> dict[str, int]:
    """``{"/api/posts/": bytes, ...}``: every URL whose view declares its own body limit (``body_limit``), walked from
    the URLconf, so nginx refuses exactly what Django would. A declaring view on a route with parameters is an
    error here (nginx would need a pattern for it)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from socialapp.middleware import declared_body_limit

    limits: dict[str, int] = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                limit = declared_body_limit(pattern.callback)
                if limit is None:
                    continue
                if "<" in route or "^" in route:
                    raise CommandError(f"{route}: a view with its own body limit needs a fixed URL for nginx")
                limits["/" + route] = limit

    walk(get_resolver().url_patterns, "")
    return limits


def render_config(*, listen: str, state: Path, socket_path: Path, media_root: str, front_proxies: int) -> str:
    """The nginx configuration of one served instance, its files under ``state`` (see socialapp/nginx.conf)."""
    uploads = "\n".join(
        f"        location = {url} {{\n            client_max_body_size {limit};\n            proxy_pass http://django;\n"
        "        }"
        for url, limit in sorted(body_limits().items())
    )
    # As root (a container, CI), workers run as root too: every state file is 0600, readable by its owner only.
    user_line = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    return Template(TEMPLATE.read_text()).substitute(
        state=state,
        user_line=user_line,
        default_body=int(settings.MAX_REQUEST_BODY_BYTES),
        upload_locations=uploads,
        max_connections=int(settings.MAX_CONNECTIONS_PER_CLIENT) if front_proxies == 0 else 100000,
        socket=socket_path,
        listen=listen,
        static_root=Path(settings.STATIC_ROOT),
        media_root=media_root,
        accel_prefix=settings.MEDIA_ACCEL_PREFIX,
        # Behind a TLS proxy of ours, its X-Forwarded-Proto is the truth; at the edge, the connection's own scheme.
        forwarded_proto="$http_x_forwarded_proto" if front_proxies else "$scheme",
    )


class Command(BaseCommand):
    help = "Serve the site production-style: nginx in front of gunicorn (static files, media, slow clients)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=f"127.0.0.1:{os.environ.get('PORT', '8000')}", help="nginx's address")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))

    def handle(self, *args: Any, **options: Any) -> None:
        nginx = nginx_binary()
        if nginx is None:
            raise CommandError("nginx is not installed (make serve installs Debian's nginx-light).")
        var = Path(settings.VAR_DIR)
        # Each instance (by its address) keeps its runtime files apart, so several can run from one VAR_DIR.
        state = var / "run" / options["bind"].replace(":", "-").replace("/", "_")
        for folder in (state, *(state / n for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        socket_path = state / "gunicorn.sock"
        socket_path.unlink(missing_ok=True)
        front_proxies = int(settings.TRUSTED_PROXY_COUNT)
        local = bool(getattr(default_storage, "is_local", lambda: False)())
        media_root = str(default_storage.path("")).rstrip("/") if local else str(var / "media")
        config = state / "nginx.conf"
        config.write_text(
            render_config(
                listen=options["bind"],
                state=state,
                socket_path=socket_path,
                media_root=media_root,
                front_proxies=front_proxies,
            )
        )
        # Every argument below is this command's own (paths under VAR_DIR, the interpreter), nothing from a request.
        nginx_args = [nginx, "-e", "stderr", "-p", str(state), "-c", str(config)]
        test = subprocess.run([*nginx_args, "-t", "-q"], capture_output=True)  # noqa: S603
        if test.returncode != 0:
            raise CommandError(f"nginx refused its configuration:\n{test.stderr.decode(errors='replace')}")

        env = {**os.environ, "TRUSTED_PROXY_COUNT": str(front_proxies + 1)}
        if local:
            env.setdefault("MEDIA_DELIVERY", "accel")
        gunicorn_args = [sys.executable, "-m", "gunicorn", "socialapp.wsgi", "--bind", f"unix:{socket_path}"]
        gunicorn_args += ["--workers", str(options["workers"]), "--access-logfile", "-", "--graceful-timeout", "10"]
        # On a Unix socket gunicorn sees no peer address: log the one nginx appended (the client's) instead.
        gunicorn_args += ["--access-logformat", '%({x-forwarded-for}i)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"']
        gunicorn = subprocess.Popen([*gunicorn_args, "--no-control-socket"], env=env)  # noqa: S603
        nginx_process = subprocess.Popen(nginx_args)  # noqa: S603
        self.stdout.write(
            f"Serving on http://{options['bind']}/ (nginx in front of {options['workers']} gunicorn workers)"
        )
        self.stdout.flush()

        def stop(*_: Any) -> None:
            for process in (nginx_process, gunicorn):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while nginx_process.poll() is None and gunicorn.poll() is None:
                time.sleep(0.2)
        finally:
            stop()
            for process in (nginx_process, gunicorn):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        codes = (nginx_process.returncode, gunicorn.returncode)
        if any(code not in (0, -signal.SIGTERM, None) for code in codes):
            raise CommandError(f"the web tier stopped (nginx exit {codes[0]}, gunicorn exit {codes[1]})")
