"""Settings of the Streaming Stack portal, read only from the environment.

Every variable is documented in the README's configuration table. The defaults make
`make run` work with nothing configured (SQLite, tasks run eagerly, the OME emulator on
loopback); production switches hardening on with DEBUG unset and real secrets.
"""

import base64
import hashlib
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from core.outbound import parse_allowed_hosts

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for local development).")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

DOMAIN = env("DOMAIN", default="localhost:8000")
_domain_host = DOMAIN.split(":")[0]
# The portal's address as the world sees it, for links that leave a request behind (webhook
# payloads, emails sent by workers).
PUBLIC_URL = env("PUBLIC_URL", default=f"{'http' if DEBUG else 'https'}://{DOMAIN}").rstrip("/")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", _domain_host, f"api.{_domain_host}"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[f"https://{DOMAIN}", f"https://api.{DOMAIN}"])

INSTALLED_APPS = [
    "core",
    "organizations",
    "rooms",
    "broadcasts",
    "recordings",
    "webhooks",
    "api",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal",
]

MIDDLEWARE = [
    # Before anything looks an address up: a NUL byte would reach PostgreSQL as a 500.
    "portal.middleware.RefuseNulInAddress",
    # First: OME's admission webhook skips everything below (see its docstring).
    "portal.middleware.OmeWebhookShortcut",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A public room's cached player page for anonymous viewers skips everything below.
    "portal.middleware.PlayerPageShortcut",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "organizations.tenancy.CurrentOrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it sees the views' exceptions first: a Redis outage becomes a 503 in words.
    "portal.middleware.OutageMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "organizations.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "rooms:list"
LOGOUT_REDIRECT_URL = "login"

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
                "organizations.context_processors.tenancy",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # Short socket timeouts: while Redis is down, a request that uses the cache fails (or goes on
    # without it) in about a second instead of waiting for the kernel's TCP timeouts.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    # Local runs only: a cache on disk is shared by the web server and the reconcile loop
    # (viewer counts, single-use credentials, rate limits), which run as separate processes.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env("CACHE_DIR", default=str(BASE_DIR / "var" / "cache")),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files: our own under static/, the browser SDKs straight out of node_modules (npm ci).
STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/ovenplayer", NODE_MODULES / "ovenplayer" / "dist"),
    ("vendor/ovenlivekit", NODE_MODULES / "ovenlivekit" / "dist"),
    ("vendor/hls.js", NODE_MODULES / "hls.js" / "dist"),
    ("vendor/pico", NODE_MODULES / "@picocss" / "pico" / "css"),
]
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_MAX_AGE = 3600
# Without collectstatic (local runs and tests) whitenoise serves straight from the finders.
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
WHITENOISE_AUTOREFRESH = DEBUG

# Secrets at rest (stream keys, destination keys) are Fernet-encrypted. Several comma-separated
# keys allow rotation: the first encrypts, all decrypt.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set FIELD_ENCRYPTION_KEY (generate one with `python -c "
            '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`).'
        )
    FIELD_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]

# Email: console locally, SMTP in production (EMAIL_URL=smtp+tls://user:password@host:587).
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
if not DEBUG and EMAIL_CONFIG["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    # Printed emails land in the logs: in production their invitation and reset links are masked.
    EMAIL_CONFIG["EMAIL_BACKEND"] = "portal.redaction.ConsoleEmailBackend"
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default=f"Streaming Stack <noreply@{_domain_host}>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)

# OvenMediaEngine
OME_API_URL = env("OME_API_URL", default="http://127.0.0.1:8081")
# OME's <AccessToken>; it also opens the original stack's /v1/ API to every organization.
OME_API_TOKEN = env("OME_API_TOKEN", default=env("API_ACCESS_TOKEN", default=""))
if not OME_API_TOKEN:
    if not DEBUG:
        raise ImproperlyConfigured("Set OME_API_TOKEN (or API_ACCESS_TOKEN): the <AccessToken> of OME's REST API.")
    OME_API_TOKEN = "ome-access-token"
OME_API_TIMEOUT = env.float("OME_API_TIMEOUT", default=5.0)
OME_WEBHOOK_SECRET = env("OME_WEBHOOK_SECRET", default="")
if not OME_WEBHOOK_SECRET:
    if not DEBUG:
        raise ImproperlyConfigured("Set OME_WEBHOOK_SECRET (the <SecretKey> of OME's AdmissionWebhooks).")
    OME_WEBHOOK_SECRET = "local-webhook-secret"
# A signed webhook whose `time` is further than this from now is refused as a replay (0: no check).
OME_WEBHOOK_MAX_AGE = env.int("OME_WEBHOOK_MAX_AGE", default=300)
# Requests with a bad signature, per client address and window, before the webhook answers 429.
OME_WEBHOOK_FAILURES_PER_WINDOW = env.int("OME_WEBHOOK_FAILURES_PER_WINDOW", default=30)
OME_WEBHOOK_FAILURE_WINDOW_SECONDS = env.int("OME_WEBHOOK_FAILURE_WINDOW_SECONDS", default=60)
# Lifetimes of the browser's single-use publish credential and of private playback tokens.
PUBLISH_CREDENTIAL_SECONDS = env.int("PUBLISH_CREDENTIAL_SECONDS", default=120)
PLAYBACK_TOKEN_SECONDS = env.int("PLAYBACK_TOKEN_SECONDS", default=900)
OME_VHOST = env("OME_VHOST", default="default")
OME_APP = env("OME_APP", default="app")
OME_WEBRTC_URL = env("OME_WEBRTC_URL", default="ws://127.0.0.1:3333")
OME_LLHLS_URL = env("OME_LLHLS_URL", default="http://127.0.0.1:3333")
# LL-HLS as the web service reaches OME itself (the playability probe): the internal network.
OME_LLHLS_INTERNAL_URL = env("OME_LLHLS_INTERNAL_URL", default=OME_LLHLS_URL)
OME_RTMP_URL = env("OME_RTMP_URL", default="rtmp://127.0.0.1:1935")
OME_SRT_URL = env("OME_SRT_URL", default="srt://127.0.0.1:9999")
OME_RTMP_VARIANT_SUFFIX = env("OME_RTMP_VARIANT_SUFFIX", default="_rtmp")
# Output stream pushed to each platform (e.g. "youtube=_youtube,facebook=_facebook" when OME has one
# output profile per platform, as the original stack had); unlisted platforms use OME_RTMP_VARIANT_SUFFIX.
OME_PUSH_VARIANT_SUFFIXES = env.dict("OME_PUSH_VARIANT_SUFFIXES", default={})

# Quality (OME's TranscodeWebhook, POST /ome/transcode): the renditions an adaptive room gets below
# its source, as HEIGHTp=KBPS (video bitrate), and the highest frame rate they are encoded at.
ADAPTIVE_LADDER = env("ADAPTIVE_LADDER", default="720p=2500,480p=1200,360p=800")
ADAPTIVE_MAX_FRAMERATE = env.float("ADAPTIVE_MAX_FRAMERATE", default=30.0)


def _parse_ladder(text: str) -> tuple[tuple[int, int], ...]:
    rungs = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, _, kbps = entry.partition("=")
        height = name.strip().lower().removesuffix("p")
        if not (height.isdigit() and kbps.strip().isdigit() and 90 <= int(height) <= 4320 and int(kbps) > 0):
            raise ImproperlyConfigured(f"ADAPTIVE_LADDER: {entry!r} is not HEIGHTp=KBPS, like 480p=1200.")
        rungs.append((int(height), int(kbps) * 1000))
    return tuple(sorted(set(rungs), reverse=True))


ADAPTIVE_RENDITIONS = _parse_ladder(ADAPTIVE_LADDER)  # ((height, bits per second), …), highest first
if ADAPTIVE_MAX_FRAMERATE <= 0:
    raise ImproperlyConfigured("ADAPTIVE_MAX_FRAMERATE must be above 0.")
# Live thumbnails: OME's Thumbnail publisher as the portal reaches it (internal network; never
# published: OME serves any stream's thumbnail to anyone), and how long the portal keeps one.
OME_THUMBNAIL_URL = env("OME_THUMBNAIL_URL", default="http://127.0.0.1:3333")
THUMBNAIL_CACHE_SECONDS = env.int("THUMBNAIL_CACHE_SECONDS", default=5)
# Celery tasks that call OME retry while it is unreachable: exponential backoff from BASE seconds,
# each wait at most MAX seconds, then the push or recording is marked as failed.
OME_RETRY_BASE_SECONDS = env.float("OME_RETRY_BASE_SECONDS", default=2.0)
OME_RETRY_MAX_SECONDS = env.float("OME_RETRY_MAX_SECONDS", default=60.0)
OME_RETRY_MAX_ATTEMPTS = env.int("OME_RETRY_MAX_ATTEMPTS", default=10)
# Where OME writes recordings as seen by OME (its FilePath/InfoPath prefix); the portal maps
# that prefix onto RECORDINGS_DIR, the same folder as mounted into the portal.
OME_RECORDINGS_DIR = env("OME_RECORDINGS_DIR", default="")
RECORDINGS_DIR = env.path("RECORDINGS_DIR", default=BASE_DIR / "var" / "recordings")
# Where finished recordings are kept and served from: "local" (RECORDINGS_DIR, the folder OME
# writes into; web and workers must run next to it) or "s3" (an S3-compatible bucket: the
# recordings worker on OME's node uploads, verifies and removes the local copy; members get
# short-lived presigned URLs; web and the other workers run on any node). docs/deploy.md.
RECORDINGS_STORAGE = env("RECORDINGS_STORAGE", default="local")
if RECORDINGS_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured(f"RECORDINGS_STORAGE must be local or s3, not {RECORDINGS_STORAGE!r}.")
RECORDINGS_S3_BUCKET = env("RECORDINGS_S3_BUCKET", default="")
if RECORDINGS_STORAGE == "s3" and not RECORDINGS_S3_BUCKET:
    raise ImproperlyConfigured("RECORDINGS_STORAGE=s3 needs RECORDINGS_S3_BUCKET (a private bucket).")
RECORDINGS_S3_REGION = env("RECORDINGS_S3_REGION", default="") or None
STORAGES["recordings"] = {  # recordings/storage.py
    "BACKEND": "recordings.bucket.RecordingsBucket"
    if RECORDINGS_STORAGE == "s3"
    else "recordings.storage.RecordingsFolder"
}
# Empty: AWS S3. MinIO, Backblaze B2, Cloudflare R2, Wasabi ...: their S3 endpoint URL.
RECORDINGS_S3_ENDPOINT_URL = env("RECORDINGS_S3_ENDPOINT_URL", default="") or None
# Empty: boto3's own lookup (an instance or task role, ~/.aws); never logged (portal/redaction.py).
RECORDINGS_S3_ACCESS_KEY_ID = env("RECORDINGS_S3_ACCESS_KEY_ID", default="") or None
RECORDINGS_S3_SECRET_ACCESS_KEY = env("RECORDINGS_S3_SECRET_ACCESS_KEY", default="") or None
# Lifetime of the presigned URLs members play and download with (checked by the portal first).
RECORDINGS_S3_URL_SECONDS = env.int("RECORDINGS_S3_URL_SECONDS", default=900)
if not 1 <= RECORDINGS_S3_URL_SECONDS <= 604800:
    raise ImproperlyConfigured("RECORDINGS_S3_URL_SECONDS must be between 1 and 604800 (S3's 7 days).")
# Files from this size on are uploaded in parts of this size (S3's minimum part is 5 MB).
RECORDINGS_S3_PART_MB = env.int("RECORDINGS_S3_PART_MB", default=16)
if RECORDINGS_S3_PART_MB < 5:
    raise ImproperlyConfigured("RECORDINGS_S3_PART_MB must be at least 5 (S3's smallest part).")
# A failed upload is tried again after BASE seconds, doubling up to MAX, for as long as it fails
# (the local file stays until an upload is verified). One try may take UPLOAD_TIME_LIMIT seconds.
RECORDINGS_UPLOAD_RETRY_SECONDS = env.float("RECORDINGS_UPLOAD_RETRY_SECONDS", default=30.0)
RECORDINGS_UPLOAD_RETRY_MAX_SECONDS = env.float("RECORDINGS_UPLOAD_RETRY_MAX_SECONDS", default=1800.0)
RECORDINGS_UPLOAD_TIME_LIMIT = env.int("RECORDINGS_UPLOAD_TIME_LIMIT", default=3600)
# The Celery queue of the tasks that need RECORDINGS_DIR when RECORDINGS_STORAGE=s3: only the
# recordings worker, next to OME's volume, consumes it (docker/stack.yml's recordings-worker).
RECORDINGS_QUEUE = env("RECORDINGS_QUEUE", default="recordings")
RECONCILE_SECONDS = env.float("RECONCILE_SECONDS", default=5.0)
# The player's status request waits this long for the room's state to change (long polling), and
# at most this many such requests per web process wait at once for starting rooms, and as many
# for offline rooms (each holds one of the process's GUNICORN_THREADS).
WATCH_STATUS_WAIT_SECONDS = env.float("WATCH_STATUS_WAIT_SECONDS", default=20.0)
WATCH_STATUS_WAITERS = env.int("WATCH_STATUS_WAITERS", default=1)
# Streams whose statistics each reconcile pass reads (round robin) to correct viewer counts:
# every live room is read within ceil(live rooms / this) passes (1,000 rooms: 10 passes, 50 s).
RECONCILE_STATS_PER_PASS = env.int("RECONCILE_STATS_PER_PASS", default=100)

# Outgoing URLs (restream destinations, pushes) never reach loopback, private or internal
# addresses (portal/outbound.py) except these: host names, IPs or CIDR networks, optionally
# with :port, e.g. "ingest.studio.example,10.1.2.0/24:1935". None by default.
OUTBOUND_ALLOWED_HOSTS = [entry.strip() for entry in env.list("OUTBOUND_ALLOWED_HOSTS", default=[]) if entry.strip()]
parse_allowed_hosts(OUTBOUND_ALLOWED_HOSTS)  # a mistyped entry stops the portal here, naming it

# Webhooks to embedding sites (webhooks/delivery.py): each try waits this long for an answer;
# failed tries are retried after 30 s, 1 min, 2 min ... at most 3 h apart, 17 tries in all (about
# a day); an endpoint that failed every try for a day (at least 15 tries) is disabled.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=10800.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=17)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=15)
WEBHOOK_DISABLE_AFTER_SECONDS = env.float("WEBHOOK_DISABLE_AFTER_SECONDS", default=86400.0)
# How often beat sends the deliveries that are due (long retries, and messages a failure lost).
WEBHOOK_SWEEP_SECONDS = env.float("WEBHOOK_SWEEP_SECONDS", default=15.0)
# Deliveries are kept this long for the endpoints' pages, then deleted (hourly).
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)

# Every start and stop of a push or recording reaches OME within about this many seconds, whatever
# happened to its queue message (a killed worker, Redis down or restarted empty): a beat sweep
# queues again the requests still waiting after 3/4 of it, checking every 1/4 of it.
REQUEST_REQUEUE_SECONDS = env.float("REQUEST_REQUEUE_SECONDS", default=120.0)
if REQUEST_REQUEUE_SECONDS <= OME_RETRY_MAX_SECONDS:
    raise ImproperlyConfigured(
        "REQUEST_REQUEUE_SECONDS must be longer than OME_RETRY_MAX_SECONDS (the longest wait between two tries)."
    )

# A live room whose stream OME stops listing without a closing webhook (OME crashed or restarted)
# stays "reconnecting" this long, its session, pushes and recording kept, so the encoder can
# come back; after that it goes offline. 0 takes it offline at once.
OME_RECONNECT_GRACE_SECONDS = env.float("OME_RECONNECT_GRACE_SECONDS", default=60.0)

# Celery: without REDIS_URL tasks run eagerly in the web process (local default only).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Every task is stopped if it runs away (an OME call is bounded by OME_API_TIMEOUT, a reconcile
# pass by its bounded number of calls): SoftTimeLimitExceeded first, then the process is killed.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=45)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT must be shorter than CELERY_TASK_TIME_LIMIT.")
if WEBHOOK_TIMEOUT_SECONDS >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("WEBHOOK_TIMEOUT_SECONDS must be shorter than CELERY_TASK_SOFT_TIME_LIMIT.")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker and beat outlive a broker outage: they reconnect for as long as it lasts.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
if REDIS_URL:
    # kombu's Redis transport, fixed so that the worker survives Redis going away while it holds
    # tasks waiting for a retry (portal/broker.py says how).
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
# Redis hands a message that a worker took but never acknowledged (the worker was killed) to
# another worker after this many seconds. Tasks waiting for a retry are such messages, so it
# must be longer than the longest wait (OME_RETRY_MAX_SECONDS), or a living worker's retry would
# run twice; kombu's default (an hour) would leave a killed worker's retry lost for an hour.
CELERY_VISIBILITY_TIMEOUT = env.float("CELERY_VISIBILITY_TIMEOUT", default=OME_RETRY_MAX_SECONDS + 30)
if CELERY_VISIBILITY_TIMEOUT <= OME_RETRY_MAX_SECONDS:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than OME_RETRY_MAX_SECONDS.")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Look for such messages every few seconds (kombu's default: every 100 s).
    "unacked_restore_interval": max(1, min(10, int(CELERY_VISIBILITY_TIMEOUT // 4))),
    "unacked_restore_throttle": 1,
    # A web request that queues a task while Redis is down fails in seconds, not minutes.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# With RECORDINGS_STORAGE=s3 only the recordings worker has RECORDINGS_DIR: the tasks that read
# or write it go to its queue. With local storage every worker has the folder (one queue).
RECORDINGS_FOLDER_TASKS = [
    "recordings.tasks.upload_recording_task",
    "recordings.tasks.finish_recording_task",
    "recordings.tasks.delete_local_files_task",
    "recordings.reconcile.settle_recording_task",
]
CELERY_TASK_ROUTES = (
    {name: {"queue": RECORDINGS_QUEUE} for name in RECORDINGS_FOLDER_TASKS} if RECORDINGS_STORAGE == "s3" else {}
)
CELERY_BEAT_SCHEDULE = {
    "reconcile-ome": {"task": "portal.tasks.reconcile", "schedule": RECONCILE_SECONDS},
    "requeue-stale-pushes": {
        "task": "broadcasts.tasks.requeue_stale_requests",
        "schedule": REQUEST_REQUEUE_SECONDS / 4,
    },
    "requeue-stale-recordings": {
        "task": "recordings.tasks.requeue_stale_requests",
        "schedule": REQUEST_REQUEUE_SECONDS / 4,
    },
    "send-due-webhook-deliveries": {"task": "webhooks.tasks.send_due_deliveries", "schedule": WEBHOOK_SWEEP_SECONDS},
    "delete-old-webhook-deliveries": {"task": "webhooks.tasks.delete_old_deliveries", "schedule": 3600.0},
    "delete-expired-recordings": {"task": "recordings.tasks.delete_expired_recordings", "schedule": 3600.0},
    "requeue-recording-uploads": {
        "task": "recordings.tasks.requeue_uploads",
        "schedule": max(5.0, min(RECORDINGS_UPLOAD_RETRY_SECONDS, 60.0)),
    },
}

# Proxies in front of the portal that append the client's address to X-Forwarded-For (Traefik in
# the Docker stack: 1). The client is the entry this many places from the right; 0: REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Failed sign-ins per client address (across accounts) and per account (across addresses) in a
# window; past either, sign-in answers 429 until the window ends (portal/throttle.py says why).
SIGNIN_FAILURES_PER_ADDRESS = env.int("SIGNIN_FAILURES_PER_ADDRESS", default=30)
SIGNIN_FAILURES_PER_ACCOUNT = env.int("SIGNIN_FAILURES_PER_ACCOUNT", default=10)
SIGNIN_FAILURE_WINDOW_SECONDS = env.int("SIGNIN_FAILURE_WINDOW_SECONDS", default=900)
# Password-reset requests (mails) per client address and per email address in a window.
PASSWORD_RESETS_PER_ADDRESS = env.int("PASSWORD_RESETS_PER_ADDRESS", default=5)
PASSWORD_RESETS_PER_EMAIL = env.int("PASSWORD_RESETS_PER_EMAIL", default=3)
PASSWORD_RESET_WINDOW_SECONDS = env.int("PASSWORD_RESET_WINDOW_SECONDS", default=3600)

# Production hardening (DEBUG unset). Traefik terminates TLS and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Health checks and OME's webhooks come over the internal network, not through Traefik.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^ome/", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# /metrics (Prometheus). Not routed by Traefik; when set, scrapes must also send this Bearer token.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# The API docs page serves Swagger UI from the portal's own static files (drf-spectacular-sidecar),
# never from a CDN.
SPECTACULAR_SETTINGS = {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Requests per API token (REST API and the original stack's API), e.g. "600/minute"; empty: unlimited.
    "DEFAULT_THROTTLE_RATES": {"api_token": env("API_RATE_LIMIT", default="600/minute") or None},
}

# Every handler masks secrets (portal/redaction.py); gunicorn's and Celery's handlers too
# (portal/gunicorn_logger.py, portal/celery.py). Django's own loggers are listed so that their
# handlers are these.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "portal.redaction.RedactSecrets"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_secrets"],
        },
        "mail_admins": {
            "level": "ERROR",
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false", "redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # boto3's debug output is every request's headers: signatures and credentials (masked
        # anyway), nothing an operator needs from the portal's log.
        "botocore": {"level": "INFO"},
        "boto3": {"level": "INFO"},
        "s3transfer": {"level": "INFO"},
    },
}
# Error reports (the ADMINS email, DEBUG pages): Django's cleansing plus URLs, GET parameters and
# secret-named POST fields and variables.
DEFAULT_EXCEPTION_REPORTER = "portal.redaction.SafeExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.redaction.SafeExceptionReporterFilter"
