"""Settings modes: the embedded default needs nothing; production is hardened and refuses weak secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3y-" + "x9Q2#vLm" * 8
WATERMARK_KEY = "w4t-" + "Pq7!zR3s" * 8


def _manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS", "REMIX_C2PA", "REMIX_WATERMARK"))
    }
    clean.update(VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def _signing_env(tmp_path: Path) -> dict[str, str]:
    from remix.provenance import make_test_ca

    chain, key, _ = make_test_ca(tmp_path / "signing")
    return {"REMIX_C2PA_CERT_CHAIN": str(chain), "REMIX_C2PA_PRIVATE_KEY": str(key)}


def test_production_check_deploy_is_clean(tmp_path: Path) -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
        DJANGO_ENV="production",
        SECRET_KEY=STRONG_KEY,
        REMIX_WATERMARK_KEY=WATERMARK_KEY,
        ALLOWED_HOSTS="remix.example.com",
        **_signing_env(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "secret",
    [None, "django-insecure-remix-development-key-do-not-use-in-production", "short", "django-insecure-" + "a" * 60],
)
def test_production_refuses_default_or_weak_secret(tmp_path: Path, secret: str | None) -> None:
    env = {"DJANGO_ENV": "production", "ALLOWED_HOSTS": "remix.example.com", "REMIX_WATERMARK_KEY": WATERMARK_KEY}
    if secret is not None:
        env["SECRET_KEY"] = secret
    result = _manage("check", tmp_path=tmp_path, **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_without_allowed_hosts(tmp_path: Path) -> None:
    result = _manage(
        "check", tmp_path=tmp_path, DJANGO_ENV="production", SECRET_KEY=STRONG_KEY, REMIX_WATERMARK_KEY=WATERMARK_KEY
    )
    assert result.returncode != 0 and "ALLOWED_HOSTS" in result.stderr


@pytest.mark.parametrize("missing", ["REMIX_C2PA_CERT_CHAIN", "REMIX_C2PA_PRIVATE_KEY", "both"])
def test_production_refuses_without_a_signing_identity(tmp_path: Path, missing: str) -> None:
    env = _signing_env(tmp_path)
    for name in ("REMIX_C2PA_CERT_CHAIN", "REMIX_C2PA_PRIVATE_KEY") if missing == "both" else (missing,):
        env[name] = str(tmp_path / "nowhere.pem") if missing != "both" else ""
    result = _manage(
        "check",
        tmp_path=tmp_path,
        DJANGO_ENV="production",
        SECRET_KEY=STRONG_KEY,
        REMIX_WATERMARK_KEY=WATERMARK_KEY,
        ALLOWED_HOSTS="a.example",
        **env,
    )
    assert result.returncode != 0 and "REMIX_C2PA_CERT_CHAIN" in result.stderr


def test_embedded_default_keeps_all_state_under_var_dir(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['NAME']); print(s.MEDIA_ROOT); print(s.FILE_UPLOAD_TEMP_DIR); "
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in']); print(s.CELERY_BROKER_URL)"
    )
    result = _manage("shell", "-v", "0", "-c", code, tmp_path=tmp_path, DATABASE_URL="", CELERY_BROKER_URL="")
    assert result.returncode == 0, result.stderr
    *paths, broker = result.stdout.split()
    assert broker == "filesystem://"
    for path in paths:
        assert Path(path).is_relative_to(tmp_path), path


def test_importing_settings_does_not_load_torch(tmp_path: Path) -> None:
    code = "import sys, django; django.setup(); import socialapp.urls; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "socialapp.settings", "VAR_DIR": str(tmp_path)},
    )
    assert result.stdout.strip() == "False", result.stderr


def test_the_suite_runs_on_the_configured_database_and_broker() -> None:
    """`make test`'s second pass must really be on PostgreSQL + Redis, not silently on SQLite."""
    from django.conf import settings
    from django.db import connection

    database_url = os.environ.get("DATABASE_URL", "")
    expected_vendor = "postgresql" if database_url.startswith(("postgres", "pgsql")) else "sqlite"
    assert connection.vendor == expected_vendor
    broker = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
    assert broker == settings.CELERY_BROKER_URL


def test_production_answers_carry_the_security_headers(tmp_path: Path) -> None:
    """In production every answer (page, API, health) carries HSTS, nosniff, frame options, referrer policy and
    the CSP, and plain HTTP is redirected to HTTPS (health checks excepted, so a load balancer can probe)."""
    script = """
import json
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="remix.example.com")
out = {}
for path in ("/", "/login/", "/api/posts/", "/healthz"):
    response = client.get(path, secure=True)
    out[path] = {"status": response.status_code, **{h: response.headers.get(h) for h in (
        "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
        "Content-Security-Policy")}}
out["http"] = client.get("/api/posts/").status_code
out["http-location"] = client.get("/api/posts/").headers.get("Location")
print(json.dumps(out))
"""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS"))}
    clean.update(
        VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="socialapp.settings",
        DJANGO_ENV="production",
        SECRET_KEY=STRONG_KEY,
        REMIX_WATERMARK_KEY=WATERMARK_KEY,
        ALLOWED_HOSTS="remix.example.com",
        **_signing_env(tmp_path),
    )
    production = {k: v for k, v in clean.items() if k != "VAR_DIR"}
    _manage("migrate", "--noinput", tmp_path=tmp_path, **production)
    _manage("collectstatic", "--noinput", tmp_path=tmp_path, **production)  # the pages name hashed static files
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    for path in ("/", "/login/", "/api/posts/", "/healthz"):
        headers = answers[path]
        assert headers["status"] in (200, 302), (path, headers)
        hsts = headers["Strict-Transport-Security"] or ""
        assert "max-age=" in hsts and int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000, (path, hsts)
        assert "includeSubDomains" in hsts
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "frame-ancestors 'none'" in (headers["Content-Security-Policy"] or "")
    assert answers["http"] == 301 and answers["http-location"] == "https://remix.example.com/api/posts/"


# --- secrets (the pen test's findings 6 and 13) -----------------------------------------------------------------


def _print_secrets(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    code = "from django.conf import settings as s; print(s.SECRET_KEY); print(s.REMIX_WATERMARK_KEY)"
    return _manage("shell", "-v", "0", "-c", code, tmp_path=tmp_path, **env)


def test_development_makes_random_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    first = _print_secrets(tmp_path)
    assert first.returncode == 0, first.stderr
    secret_key, watermark_key = first.stdout.split()
    assert secret_key != watermark_key and min(len(secret_key), len(watermark_key)) >= 50
    assert "django-insecure" not in secret_key
    for name in ("secret_key", "remix_watermark_key"):
        path = tmp_path / "secrets" / name
        assert path.stat().st_mode & 0o777 == 0o600, oct(path.stat().st_mode)
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    assert _print_secrets(tmp_path).stdout.split() == [secret_key, watermark_key]  # kept across restarts
    other = tmp_path / "other"
    other.mkdir()
    assert _print_secrets(other).stdout.split()[0] != secret_key  # another install, other secrets


def test_production_refuses_to_start_without_a_watermark_key(tmp_path: Path) -> None:
    env = {"DJANGO_ENV": "production", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "a.example", **_signing_env(tmp_path)}
    result = _manage("check", tmp_path=tmp_path, **env)
    assert result.returncode != 0 and "REMIX_WATERMARK_KEY" in result.stderr
    weak = _manage("check", tmp_path=tmp_path, REMIX_WATERMARK_KEY="short", **env)
    assert weak.returncode != 0 and "REMIX_WATERMARK_KEY" in weak.stderr
    assert not (tmp_path / "secrets").exists()  # production never makes its own


def test_state_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    result = _manage("migrate", "--noinput", tmp_path=tmp_path, DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "db.sqlite3").stat().st_mode & 0o077 == 0
    assert tmp_path.stat().st_mode & 0o777 == 0o700
    for folder in ("media", "tmp", "broker"):
        assert (tmp_path / folder).stat().st_mode & 0o077 == 0, folder
