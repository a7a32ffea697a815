"""Environment for the test run, set before Django reads its settings (loaded with -p).

Tests use real PostgreSQL and Redis (make test starts them); Celery runs tasks eagerly
unless a test starts a real worker.
"""

import os
import tempfile

_defaults = {
    "DJANGO_SETTINGS_MODULE": "portal.settings",
    "SECRET_KEY": "tests-only-secret-key",
    "FIELD_ENCRYPTION_KEY": "x3cPqGz3mJrQ4kC0r0W3e0Jx0b8m5l9d1s2a3f4g5h0=",
    "OME_WEBHOOK_SECRET": "tests-webhook-secret",
    "OME_API_TOKEN": "tests-ome-token",
    # Nothing listens here: a test that needs OME starts the emulator and points the portal at it.
    "OME_API_URL": "http://127.0.0.1:9",
    "OME_API_TIMEOUT": "2",
    "OME_RETRY_BASE_SECONDS": "0.2",
    "OME_RETRY_MAX_SECONDS": "1",
    "OME_RETRY_MAX_ATTEMPTS": "3",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
    # Live-server threads would otherwise keep connections open past their test.
    "CONN_MAX_AGE": "0",
    "CELERY_TASK_ALWAYS_EAGER": "true",
    "STATIC_MANIFEST": "false",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "DOMAIN": "testserver",
    "ALLOWED_HOSTS": "*",
    "RECORDINGS_DIR": tempfile.mkdtemp(prefix="portal-recordings-"),
    # The emulator's push destinations are local RTMP sinks (rtmp://127.0.0.1:PORT/...); tests of
    # the outbound-address rules set OUTBOUND_ALLOWED_HOSTS to [] themselves.
    "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
    # Playwright's sync API runs an event loop in the test thread; the ORM calls made next to
    # it in the same test are still plain synchronous calls.
    "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
}
for name, value in _defaults.items():
    os.environ.setdefault(name, value)
