"""Settings for the Remix project, read from the environment in this one place.

The embedded default (no environment at all) needs no services: SQLite, media and the
Celery filesystem broker all live under ``VAR_DIR`` (default ``var/``). ``DATABASE_URL``
and ``CELERY_BROKER_URL`` switch to PostgreSQL and Redis. ``DJANGO_ENV=production``
turns on the deploy hardening and refuses to start with a default secret key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Where all local state lives: SQLite, the filesystem broker, media, models, certificates, secrets.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

# Everything this process writes (the database, media, secrets, logs) is readable by its own user only, and the
# state folder is closed to everyone else (a database or secret made before this still cannot be reached).
os.umask(0o077)
VAR_DIR.mkdir(parents=True, exist_ok=True)
with contextlib.suppress(PermissionError):  # a VAR_DIR someone else owns keeps its mode
    VAR_DIR.chmod(0o700)

# "development" (the embedded default) or "production" (deploy hardening, real secrets required).
DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'development' or 'production', not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"


def _local_secret(name: str) -> str:
    """A random secret kept in ``VAR_DIR/secrets/<name>``: made (mode 0600) by the first process that needs it, the
    same for every process and restart after. Written to a temporary file and linked into place, so two processes
    starting at once (web and worker) agree on one value."""
    folder = VAR_DIR / "secrets"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name
    if not path.exists():
        draft = folder / f".{name}.{os.getpid()}"
        draft.write_text(secrets.token_urlsafe(64))
        with contextlib.suppress(FileExistsError):  # another process won: its value is the one
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


def _secret(name: str, *, purpose: str) -> str:
    """A secret from the environment; in development, when unset, a random one kept under VAR_DIR. Production
    refuses to start without it (there is no public default anyone could read in the repository)."""
    value = env.str(name, default="")
    if value:
        if PRODUCTION and (len(value) < 50 or value.startswith("django-insecure")):
            raise ImproperlyConfigured(
                f"DJANGO_ENV=production needs {name} set to a random value of at least 50 characters ({purpose}; "
                "e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))')."
            )
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(
            f"DJANGO_ENV=production needs {name} ({purpose}): a random value of at least 50 characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    return _local_secret(name.lower())


# Signs sessions, CSRF tokens and password-reset links. Development keeps a random one in VAR_DIR/secrets.
SECRET_KEY = _secret("SECRET_KEY", purpose="it signs sessions and tokens")
# Older keys still accepted for signatures made before a rotation (comma-separated).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# Debug pages never in production, whatever the environment says.
DEBUG = env.bool("DEBUG", default=False) and not PRODUCTION

# Host names this site answers to (comma-separated).
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ENV=production needs ALLOWED_HOSTS.")

# The site's public address, for absolute links written into files (e.g. a remix's signed manifest).
SITE_URL = env.str("SITE_URL", default="") or f"http://127.0.0.1:{env.int('PORT', default=8000)}"

# Origins trusted for CSRF on unsafe requests (https://example.com, comma-separated).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens: stored hashed, one per client, expiring (knox); password guessing locked out (axes).
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "socialapp",
    "remix",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads a body (sessions, CSRF, DRF): an oversized one is refused from its declared length.
    "socialapp.middleware.RequestBodyLimitMiddleware",
    "socialapp.middleware.ServerHeaderMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "socialapp.middleware.ContentSecurityPolicyMiddleware",
    "socialapp.middleware.ServiceUnavailableMiddleware",
    # Last: turns a sign-in refused for too many failures into its 429 answer (socialapp.throttling).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "socialapp.urls"
WSGI_APPLICATION = "socialapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "socialapp.context_processors.unread_notifications",
            ],
        },
    },
]

# The database: SQLite under VAR_DIR by default, e.g. postgres://user@127.0.0.1:5432/remix in production.
# (An empty variable counts as unset, so `DATABASE_URL= make test` means the embedded default.)
DATABASES = {"default": env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Seconds a database connection is kept open between requests (0 closes it after each request).
# Reusing it saves a connect per request (about 2 ms of CPU on SQLite, more on PostgreSQL); health
# checks below replace a connection that died in between.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web and worker processes read while the other writes; the timeout rides out a writer.
    # synchronous=NORMAL is durable with WAL except for the last commits on power loss (not a crash of
    # the process), and saves an fsync per commit.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests use a file too, not Django's shared-cache in-memory database: shared-cache locks ignore
    # the busy timeout, so concurrent requests would fail where the real file database waits.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache (throttle counters): files under VAR_DIR by default, shared by every process of this machine (web
# workers each counting on their own would multiply every rate by their number), e.g. redis://127.0.0.1:6379/1.
CACHES = {"default": env.cache_url_config(env.str("CACHE_URL", default="") or f"filecache://{VAR_DIR / 'cache'}")}

AUTH_USER_MODEL = "socialapp.User"
# django-axes first: it refuses a sign-in while the client address or the account is locked out.
AUTHENTICATION_BACKENDS = ["socialapp.throttling.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Fast hashing makes the test suite quick; never set this in production.
if env.bool("FAST_PASSWORD_HASHER", default=False) and not PRODUCTION:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
# Sessions end after two weeks (Django's default), and when the password changes (Django's session hash).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 3600)
LOGIN_REDIRECT_URL = "feed"
LOGOUT_REDIRECT_URL = "feed"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    # Uploaded media: the local filesystem under VAR_DIR/media, or any Django storage
    # (e.g. storages.backends.s3.S3Storage with django-storages installed).
    # Wrapped so that every media URL points at the app's media gate (socialapp.media), which checks who may see
    # the file before handing it out, whatever the storage.
    "default": {
        "BACKEND": "socialapp.storage.GatedStorage",
        "OPTIONS": {
            "backend": env.str("MEDIA_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"),
            "options": env.json("MEDIA_STORAGE_OPTIONS", default={}),
        },
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
# Where local media files live (default under VAR_DIR).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or VAR_DIR / "media")
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
# How the media gate hands out a file once it has checked that the viewer may see it: "django" streams it (the
# embedded default), "accel" answers X-Accel-Redirect for the nginx of `make serve` to send it, "redirect" answers
# a 302 to the storage's own short-lived signed URL (S3 with querystring_auth; see the README).
MEDIA_DELIVERY = env.str("MEDIA_DELIVERY", default="django")
if MEDIA_DELIVERY not in {"django", "accel", "redirect"}:
    raise ImproperlyConfigured(f"MEDIA_DELIVERY must be 'django', 'accel' or 'redirect', not {MEDIA_DELIVERY!r}")
# The internal nginx location X-Accel-Redirect points at (MEDIA_DELIVERY=accel).
MEDIA_ACCEL_PREFIX = "/_protected_media/"
WHITENOISE_USE_FINDERS = not PRODUCTION

# Uploads: request bodies above this many bytes are spooled to disk, never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "tmp")
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Request bodies: anything over this many bytes is refused (413 request_too_large) from its declared length,
# before it is read; views that take uploads declare their own larger limit (socialapp.middleware.body_limit).
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=1024 * 1024)
# Django's own bounds on what it parses from a form body (the limit above comes first).
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
# JSON bodies nested deeper than this are refused (400 too_deeply_nested); the API's deepest body has depth 2.
MAX_JSON_DEPTH = env.int("MAX_JSON_DEPTH", default=32)
# Largest accepted video upload in bytes (413 above it).
MAX_VIDEO_BYTES = env.int("MAX_VIDEO_BYTES", default=200 * 1024 * 1024)
# Largest accepted image upload in bytes (413 above it).
MAX_IMAGE_BYTES = env.int("MAX_IMAGE_BYTES", default=25 * 1024 * 1024)
# Longest accepted video in seconds.
MAX_VIDEO_SECONDS = env.float("MAX_VIDEO_SECONDS", default=180.0)
# Largest accepted width or height of a video, in pixels.
MAX_VIDEO_SIDE = env.int("MAX_VIDEO_SIDE", default=4096)
# Largest accepted image, in pixels (width x height); larger is treated as a decompression bomb.
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=40_000_000)
# Largest image decode, in bytes of decoded pixels (width x height x bytes per pixel of its mode): a 16-bit RGBA
# image costs 8 bytes a pixel, so pixels alone do not bound memory. 40 MP of 8-bit RGB fits.
MAX_DECODED_IMAGE_BYTES = env.int("MAX_DECODED_IMAGE_BYTES", default=128 * 1024 * 1024)
# Highest accepted video frame rate (frames per second).
MAX_VIDEO_FPS = env.float("MAX_VIDEO_FPS", default=120.0)
# The most a seek in a video may have to decode, in pixels (frames from the previous keyframe x width x height):
# choosing a frame of a remix decodes forward from a keyframe. 2e9 is ~0.5 s of decoding here; 4K at 60 fps with
# a keyframe every 2 s is 1e9.
MAX_SEEK_DECODE_PIXELS = env.float("MAX_SEEK_DECODE_PIXELS", default=2e9)

# Celery: kombu's filesystem transport under VAR_DIR by default, e.g. redis://127.0.0.1:6379/0 in production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # Seconds between looks at the queue folder: a remix should start at once, not a second later.
        "polling_interval": 0.2,
    }
else:
    # Seconds before a message that was delivered but not acknowledged is delivered again.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = {
    "default": {"exchange": "default", "routing_key": "default"},
    # The GPU queue: a GPU worker consumes only this one.
    "remix": {"exchange": "remix", "routing_key": "remix"},
}
# Everything the remix feature enqueues goes to the GPU queue, except its sweeper (a chore that
# must not wait behind long GPU jobs).
CELERY_TASK_ROUTES = {
    "remix.tasks.sweep_expired_jobs": {"queue": "default", "routing_key": "default"},
    "remix.tasks.*": {"queue": "remix", "routing_key": "remix"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# Jobs are rows with a status machine: a message is acknowledged after its task ran, so a killed
# worker's message is delivered again and the row makes the redelivery harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Publishing a message tries a broker that is down a few times within about half a second, then gives up (the
# caller decides: a remix job stays queued and the sweeper resends it), instead of blocking a web request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.3}
# Seconds a pool process may take to start: each loads and warms the model in worker_process_init
# (tens of seconds for a real checkpoint, minutes with torch.compile); Celery's default of 4 s would
# kill it mid-load.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=900.0)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The remix feature.
# Master switch of a creator who never chose: remixing is opt-in, so off.
REMIX_ACCOUNT_DEFAULT = env.bool("REMIX_ACCOUNT_DEFAULT", default=False)
# The diffusion model: a hub id or a local folder (InstructPix2Pix or FLUX.1 Kontext). The embedded
# default is the tiny random-weight pipeline `make run` builds with `manage.py remix_build_tiny_model`.
REMIX_MODEL = env.str("REMIX_MODEL", default="") or (
    "timbrooks/instruct-pix2pix" if PRODUCTION else str(VAR_DIR / "models" / "tiny-instruct-pix2pix")
)
# A hub revision (branch, tag or commit) to pin REMIX_MODEL to; empty = the default branch.
REMIX_MODEL_REVISION = env.str("REMIX_MODEL_REVISION", default="")
# "cuda", "cpu" or empty for CUDA when present.
REMIX_DEVICE = env.str("REMIX_DEVICE", default="")
# Load the model in each worker process at start, so the first job does not wait for it.
REMIX_WARM_ON_START = env.bool("REMIX_WARM_ON_START", default=True)
# torch.compile the model on CUDA (minutes of compiling per worker start, cached under VAR_DIR; ignored on CPU).
REMIX_COMPILE = env.bool("REMIX_COMPILE", default=False)
# Batch sizes warm-up runs for every size bucket; a compiled model pads a batch up to the next of these.
REMIX_WARM_BATCH_SIZES = env.list("REMIX_WARM_BATCH_SIZES", cast=int, default=[1, 2, 4, 8])
# Remix requests one user may make per window (a database-backed quota, exact under concurrency).
REMIX_RATE_LIMIT = env.int("REMIX_RATE_LIMIT", default=20)
REMIX_RATE_WINDOW_SECONDS = env.int("REMIX_RATE_WINDOW_SECONDS", default=3600)
# Daily caps (rolling 24 hours): remixes one user may request, and remixes of one post from everyone.
REMIX_USER_DAILY_LIMIT = env.int("REMIX_USER_DAILY_LIMIT", default=100)
REMIX_POST_DAILY_LIMIT = env.int("REMIX_POST_DAILY_LIMIT", default=200)
# Jobs waiting (queued) site-wide before new requests get 429 queue_full instead of an unbounded queue.
REMIX_QUEUE_MAX = env.int("REMIX_QUEUE_MAX", default=500)
# Seconds an account must exist before it may ask for remixes of others' posts (403 account_too_new): throwaway
# accounts cannot dodge a block or spend a post's daily cap. A day in production, none in development.
REMIX_MIN_ACCOUNT_AGE_SECONDS = env.int("REMIX_MIN_ACCOUNT_AGE_SECONDS", default=86400 if PRODUCTION else 0)
# Trust and safety. NudeNet classes that flag an image, and the detector score from which they do.
REMIX_NUDITY_CLASSES = env.list(
    "REMIX_NUDITY_CLASSES",
    default=[
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    ],
)
REMIX_NUDITY_THRESHOLD = env.float("REMIX_NUDITY_THRESHOLD", default=0.45)
# Hold every finished remix for a moderator's review, flagged or not.
# The learned stage of prompt moderation (remix/moderation/classifier.py): a probability of abuse at or above
# REFUSE refuses the request, at or above HOLD holds it for a moderator before it runs. Chosen on the development
# sets by cross-validation (make moderation-report prints both sets' rates at these values).
# Where the trained text classifier is kept (a file per training-data digest; made by `manage.py
# remix_train_moderation`, or on first use). Several VAR_DIRs on one machine may share one.
REMIX_MODERATION_MODEL_DIR = Path(
    env.str("REMIX_MODERATION_MODEL_DIR", default="") or VAR_DIR / "models" / "moderation"
)
REMIX_TEXT_REFUSE_SCORE = env.float("REMIX_TEXT_REFUSE_SCORE", default=0.97)
REMIX_TEXT_HOLD_SCORE = env.float("REMIX_TEXT_HOLD_SCORE", default=0.8)
# Meme text is published as it is, in large letters over the subject's photo, and a caption's abuse lives in few
# words: it is held from a lower score (on the development sets, 0.6 stops 83% of abusive captions and holds 6% of
# harmless ones, against 75% and 4% at 0.8).
REMIX_MEME_HOLD_SCORE = env.float("REMIX_MEME_HOLD_SCORE", default=0.6)
REMIX_HOLD_ALL_FOR_REVIEW = env.bool("REMIX_HOLD_ALL_FOR_REVIEW", default=False)
# Seconds a worker's claim on a running job holds without progress before the sweeper recovers it.
REMIX_JOB_LEASE_SECONDS = env.int("REMIX_JOB_LEASE_SECONDS", default=120)
# Claims of one job before it is failed (a job that kills its worker must not loop forever).
REMIX_MAX_DELIVERIES = env.int("REMIX_MAX_DELIVERIES", default=3)
# Seconds a queued job may wait unclaimed before the sweeper sends its message again (lost message).
REMIX_REQUEUE_AFTER_SECONDS = env.int("REMIX_REQUEUE_AFTER_SECONDS", default=300)
# Hard wall-clock limit of one job on a worker, in seconds.
REMIX_JOB_TIME_LIMIT = env.int("REMIX_JOB_TIME_LIMIT", default=600)
# How often the sweeper runs (celery beat), in seconds.
REMIX_SWEEP_INTERVAL_SECONDS = env.int("REMIX_SWEEP_INTERVAL_SECONDS", default=30)
# Remix images smaller than this on their long side are scaled up for display.
REMIX_OUTPUT_MIN_SIDE = env.int("REMIX_OUTPUT_MIN_SIDE", default=512)
# Queued jobs of the same bucket, steps and guidance run as one batch of at most this many (1 = no batching).
REMIX_MAX_BATCH = env.int("REMIX_MAX_BATCH", default=4)
# Milliseconds a claimed job waits for companions when its batch is not full (0 = take only those queued).
REMIX_BATCH_WAIT_MS = env.int("REMIX_BATCH_WAIT_MS", default=50)
# The key of the watermark's tag (an HMAC of the job id): whoever holds it can make an image that
# /api/credentials/verify/ attributes to a real remix, so it is its own secret, not SECRET_KEY. Development keeps
# a random one in VAR_DIR/secrets; production refuses to start without it.
REMIX_WATERMARK_KEY = _secret("REMIX_WATERMARK_KEY", purpose="it keys the remix watermark's tag")
# Older watermark keys, still accepted when reading marks made before a rotation (comma-separated).
REMIX_WATERMARK_KEY_FALLBACKS = env.list("REMIX_WATERMARK_KEY_FALLBACKS", default=[])
# Provenance: the C2PA signing certificate chain (leaf first, PEM) and its private key (PEM), as files.
# The embedded default uses a local test CA made by `manage.py remix_make_signing_cert VAR_DIR/signing`;
# production must be given the operator's own and refuses to start without them.
_signing_dir = VAR_DIR / "signing"
REMIX_C2PA_CERT_CHAIN = env.str("REMIX_C2PA_CERT_CHAIN", default="") or (
    "" if PRODUCTION else str(_signing_dir / "chain.pem")
)
REMIX_C2PA_PRIVATE_KEY = env.str("REMIX_C2PA_PRIVATE_KEY", default="") or (
    "" if PRODUCTION else str(_signing_dir / "signer.key")
)
# Extra trust anchors (PEM file) for verifying credentials, e.g. the test CA; empty = c2pa's defaults only.
REMIX_C2PA_TRUST_ANCHORS = env.str("REMIX_C2PA_TRUST_ANCHORS", default="") or (
    "" if PRODUCTION else str(_signing_dir / "ca.pem")
)
# An RFC 3161 timestamp authority for signatures (optional; needs network access from the worker).
REMIX_C2PA_TSA_URL = env.str("REMIX_C2PA_TSA_URL", default="")
if PRODUCTION and not all(path and Path(path).is_file() for path in (REMIX_C2PA_CERT_CHAIN, REMIX_C2PA_PRIVATE_KEY)):
    raise ImproperlyConfigured(
        "DJANGO_ENV=production needs REMIX_C2PA_CERT_CHAIN and REMIX_C2PA_PRIVATE_KEY: the files of the C2PA "
        "signing certificate chain and its key (every remix is signed)."
    )

CELERY_BEAT_SCHEDULE = {
    "remix-sweeper": {"task": "remix.tasks.sweep_expired_jobs", "schedule": float(REMIX_SWEEP_INTERVAL_SECONDS)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Every folder of local state exists before anything writes to it.
for _folder in (
    VAR_DIR / "tmp",
    VAR_DIR / "media",
    STATIC_ROOT,
    *(VAR_DIR / "broker" / n for n in ("queue", "processed", "control")),
):
    _folder.mkdir(parents=True, exist_ok=True)

# Proxies of ours in front of the app that append to X-Forwarded-For (nginx of `make serve` is one; a TLS load
# balancer in front of it another). The client address every throttle and lockout keys on is the entry the
# outermost of them wrote; 0 (the embedded run, nothing in front) uses the connection's own address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Requests one client address may have in progress at once at the nginx of `make serve` (where nginx is the edge;
# behind a proxy of ours every client shares that proxy's address, so nginx does not count).
MAX_CONNECTIONS_PER_CLIENT = env.int("MAX_CONNECTIONS_PER_CLIENT", default=64)

# Password guessing (django-axes, every authenticate() call): after LOGIN_FAILURE_LIMIT failures from one client
# address, or against one account, sign-ins from it or to it are refused (429 too_many_attempts) for
# LOGIN_LOCKOUT_SECONDS, doubled for each further round of failures, up to LOGIN_LOCKOUT_MAX_SECONDS.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=60)
LOGIN_LOCKOUT_MAX_SECONDS = env.int("LOGIN_LOCKOUT_MAX_SECONDS", default=24 * 3600)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_COOLOFF_TIME = "socialapp.throttling.login_cool_off"
# Each failure row expires on its own (cool-offs differ per client), and a success resets nothing: signing in to
# an account of one's own must not wipe the failures of an address that is guessing someone else's password.
AXES_USE_ATTEMPT_EXPIRATION = True
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "socialapp.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "socialapp.throttling.login_locked_out"
AXES_ENABLE_ADMIN = True
AXES_VERBOSE = False

# API tokens (knox): a token per client, stored as a SHA-512 digest, expiring after API_TOKEN_TTL_HOURS (each
# use within its last half renews nothing: clients rotate with POST /api/auth/token/refresh/), refused after
# the account's password changes (socialapp.auth).
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=24 * 7)),
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKENS_PER_USER", default=20),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}

# DRF: token or session auth, {"code", "detail"} errors, cursor pagination.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "socialapp.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # JSON in and out only: no browsable HTML renderer (it showed the API's internals to anyone with a browser).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["socialapp.api.parsers.BoundedJSONParser"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "socialapp.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "socialapp.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_THROTTLE_RATES": {
        # Token requests per client address (password guessing itself is axes' job, per address and account).
        "auth": env.str("AUTH_THROTTLE_RATE", default="30/minute"),
        # Sign-ups per client address, on the site and the API.
        "signup": env.str("SIGNUP_THROTTLE_RATE", default="10/hour"),
        # Uploads per user.
        "uploads": env.str("UPLOAD_THROTTLE_RATE", default="60/hour"),
        # Image checks (content credentials) per client, on the API and the /check/ page.
        "verify": env.str("VERIFY_THROTTLE_RATE", default="30/minute"),
        # Reports of remixes per user (repeat reports of one remix are collapsed anyway).
        "reports": env.str("REPORT_THROTTLE_RATE", default="30/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Remix API",
    "DESCRIPTION": "Posts, comments, follows and consent-first AI remixes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # check --deploy fails on any schema warning, so the contract stays exact.
    "ENABLE_DJANGO_DEPLOY_CHECK": True,
}

# Security headers, everywhere; the HTTPS-only ones in production.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Seconds browsers remember to use HTTPS only.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
