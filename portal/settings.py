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
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", _domain_host, f"api.{_domain_host}"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[f"https://{DOMAIN}", f"https://api.{DOMAIN}"])

INSTALLED_APPS = [
    "portal",
    "rooms",
    "broadcasts",
    "recordings",
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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.tenancy.CurrentOrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"
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
                "portal.context_processors.tenancy",
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
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
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
OME_RTMP_URL = env("OME_RTMP_URL", default="rtmp://127.0.0.1:1935")
OME_SRT_URL = env("OME_SRT_URL", default="srt://127.0.0.1:9999")
OME_RTMP_VARIANT_SUFFIX = env("OME_RTMP_VARIANT_SUFFIX", default="_rtmp")
# Output stream pushed to each platform (e.g. "youtube=_youtube,facebook=_facebook" when OME has one
# output profile per platform, as the original stack had); unlisted platforms use OME_RTMP_VARIANT_SUFFIX.
OME_PUSH_VARIANT_SUFFIXES = env.dict("OME_PUSH_VARIANT_SUFFIXES", default={})
# Celery tasks that call OME retry while it is unreachable: exponential backoff from BASE seconds,
# each wait at most MAX seconds, then the push or recording is marked as failed.
OME_RETRY_BASE_SECONDS = env.float("OME_RETRY_BASE_SECONDS", default=2.0)
OME_RETRY_MAX_SECONDS = env.float("OME_RETRY_MAX_SECONDS", default=60.0)
OME_RETRY_MAX_ATTEMPTS = env.int("OME_RETRY_MAX_ATTEMPTS", default=10)
# Where OME writes recordings as seen by OME (its FilePath/InfoPath prefix); the portal maps
# that prefix onto RECORDINGS_DIR, the same folder as mounted into the portal.
OME_RECORDINGS_DIR = env("OME_RECORDINGS_DIR", default="")
RECORDINGS_DIR = env.path("RECORDINGS_DIR", default=BASE_DIR / "var" / "recordings")
RECONCILE_SECONDS = env.float("RECONCILE_SECONDS", default=5.0)
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
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "reconcile-ome": {"task": "portal.tasks.reconcile", "schedule": RECONCILE_SECONDS},
    "delete-expired-recordings": {"task": "recordings.tasks.delete_expired_recordings", "schedule": 3600.0},
}

# Production hardening (DEBUG unset). Traefik terminates TLS and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Health checks and OME's webhooks come over the internal network, not through Traefik.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^ome/"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Requests per API token (REST API and the original stack's API), e.g. "600/minute"; empty: unlimited.
    "DEFAULT_THROTTLE_RATES": {"api_token": env("API_RATE_LIMIT", default="600/minute") or None},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
