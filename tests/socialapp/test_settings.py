"""Settings modes: the embedded default needs nothing; production is hardened and refuses weak secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3y-" + "x9Q2#vLm" * 8


def _manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS", "REMIX_C2PA"))
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
    env = {"DJANGO_ENV": "production", "ALLOWED_HOSTS": "remix.example.com"}
    if secret is not None:
        env["SECRET_KEY"] = secret
    result = _manage("check", tmp_path=tmp_path, **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_without_allowed_hosts(tmp_path: Path) -> None:
    result = _manage("check", tmp_path=tmp_path, DJANGO_ENV="production", SECRET_KEY=STRONG_KEY)
    assert result.returncode != 0 and "ALLOWED_HOSTS" in result.stderr


@pytest.mark.parametrize("missing", ["REMIX_C2PA_CERT_CHAIN", "REMIX_C2PA_PRIVATE_KEY", "both"])
def test_production_refuses_without_a_signing_identity(tmp_path: Path, missing: str) -> None:
    env = _signing_env(tmp_path)
    for name in ("REMIX_C2PA_CERT_CHAIN", "REMIX_C2PA_PRIVATE_KEY") if missing == "both" else (missing,):
        env[name] = str(tmp_path / "nowhere.pem") if missing != "both" else ""
    result = _manage(
        "check", tmp_path=tmp_path, DJANGO_ENV="production", SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="a.example", **env
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
