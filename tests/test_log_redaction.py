"""Secrets are masked in every log line, error report and printed email (portal/redaction.py).

The whole-stack proof (gunicorn, worker and beat through a real flow) is
tests/deploy/test_secret_free_logs.py; these tests pin down each piece quickly.
"""

from __future__ import annotations

import base64
import io
import logging
import secrets
import sys
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from celery.signals import after_setup_logger, after_setup_task_logger
from django.core import mail, signing
from django.test import RequestFactory

from api.models import ApiToken
from portal.redaction import RedactSecrets, redact
from rooms.models import generate_stream_key

API_TOKEN = ApiToken.generate()
STREAM_KEY = generate_stream_key()
SIGNED = signing.dumps({"r": 1, "u": 2, "n": "abc"}, salt="rooms.publish-credential")
INVITATION = secrets.token_urlsafe(32)
RESET = "cbv1xj-" + secrets.token_hex(16)
DESTINATION_KEY = "abcd-efgh-ijkl-mnop-qrst"  # a platform's key: no recognizable shape
PASSWORD = "hunter2-but-longer"
HEX_SECRET = secrets.token_hex(32)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("line", "secret", "kept"),
    [
        (f"Authorization: Basic {b64(API_TOKEN)}", b64(API_TOKEN), "Authorization: Basic ***"),
        (f"Authorization: Bearer {API_TOKEN}", API_TOKEN, "Bearer ***"),
        (f"token {API_TOKEN} revoked", API_TOKEN, "token sst_*** revoked"),
        (f'"GET /embed/room-1?link={quote(SIGNED)} HTTP/1.1" 200', SIGNED.split(":")[-1], "/embed/room-1?link=***"),
        (
            f"wss://ome.example.com:3334/app/room-1?direction=send&credential={quote(SIGNED, safe='')}",
            SIGNED.split(":")[-1],
            "/app/room-1?direction=send&credential=***",
        ),
        (f"https://ome.example.com:3334/app/room-1/llhls.m3u8?token={SIGNED}", SIGNED, "llhls.m3u8?token=***"),
        (f"playback token {SIGNED} refused", SIGNED, "playback token *** refused"),
        (
            f'{{"id": "p1", "url": "rtmp://live.example.com/app", "streamKey": "{DESTINATION_KEY}"}}',
            DESTINATION_KEY,
            '"id": "p1", "url": "rtmp://live.example.com/app", "streamKey": "***"',
        ),
        (f"{{'stream_key': '{DESTINATION_KEY}', 'name': 'YouTube'}}", DESTINATION_KEY, "'name': 'YouTube'"),
        (f"Push(stream_key='{DESTINATION_KEY}', state='error')", DESTINATION_KEY, "state='error'"),
        (
            f"push to rtmp://a.rtmp.youtube.com/live2/{DESTINATION_KEY} failed",
            DESTINATION_KEY,
            "rtmp://a.rtmp.youtube.com/live2/*** failed",
        ),
        (f"OBS connected to rtmp://stream.example.com:1935/app/{STREAM_KEY}", STREAM_KEY, "/app/***"),
        (f"unknown stream {STREAM_KEY}", STREAM_KEY, "unknown stream sk***"),
        (
            "srt://stream.example.com:9999?streamid="
            + quote(f"srt://stream.example.com:9999/app/{STREAM_KEY}", safe=""),
            STREAM_KEY,
            "srt://stream.example.com:9999?streamid=***",
        ),
        (f"Not Found: /invite/{INVITATION}/", INVITATION, "Not Found: /invite/***/"),
        (f"GET /accounts/login/?next=%2Finvite%2F{INVITATION}%2F", INVITATION, "next=%2Finvite%2F***%2F"),
        (f"GET /accounts/reset/MQ/{RESET}/", RESET, "/accounts/reset/MQ/***/"),
        (f"reset token {RESET}", RESET, "reset token ***"),
        (f"redis://:{PASSWORD}@redis.example.com:6379/0", PASSWORD, "redis://***@redis.example.com:6379/0"),
        (f"password={PASSWORD}&username=olive", PASSWORD, "password=***&username=olive"),
        (
            f"/accounts/login/?next=%2Frooms%2Fr1%2Frestream%3Fstream_key%3D{DESTINATION_KEY}",
            DESTINATION_KEY,
            "?next=%2Frooms%2Fr1%2Frestream%3Fstream_key%3D***",
        ),
        (f"stream_key = '{DESTINATION_KEY}'", DESTINATION_KEY, "stream_key = '***'"),
        (f"secret {HEX_SECRET} in a message", HEX_SECRET, "secret *** in a message"),
        (f"invitation {INVITATION}.", INVITATION, "invitation ***."),
    ],
)
def test_secret_shapes_are_masked_in_any_text(line, secret, kept):
    redacted = redact(line)
    assert secret not in redacted
    assert kept in redacted


@pytest.mark.parametrize(
    "line",
    [
        "Task broadcasts.tasks.start_push_task[3fe7a6f0-bf35-4f82-a286-770f54ffe13c] succeeded in 0.05s: None",
        "admission refused: rtmp publish of app/<key> from 203.0.113.5: unknown stream key: it may have been "
        "replaced by a new one",
        "admission refused: webrtc play of app/room-ab12cd34 from 127.0.0.1: the playback token is not valid",
        '127.0.0.1 [01/Dec/2026:09:41:13 +0000] "GET /rooms/room-ab12cd34/status HTTP/1.1" 200 137 3ms '
        '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"',
        '127.0.0.1 [01/Dec/2026:09:41:13 +0000] "GET /player.html?room=room-ab12cd34 HTTP/1.1" 200 1558 4ms "-"',
        "could not delete /recordings/default/app/room-ab12cd34_2026-12-01T09-41-13.mp4: [Errno 2] No such file",
        'http://127.0.0.1:8081 "POST /v1/vhosts/default/apps/app:startPush HTTP/1.1" 200 764',
        "OME refused push push-12-a1b2c3: [HTTP] Duplicate ID (400)",
        "Basic authentication is required, bearer tokens too",
        "the publish credential expired: press Go live again",
        "Connected to redis://redis:6379/0",
        "TaskPool: Apply {'delivery_info': {'exchange': '', 'routing_key': 'celery'}, 'priority': 0}",
    ],
)
def test_ordinary_log_lines_stay_as_they_are(line):
    assert redact(line) == line


def test_the_portal_settings_secrets_are_masked_wherever_they_appear(settings):
    line = f"calling OME with {settings.OME_API_TOKEN} ({b64(settings.OME_API_TOKEN)}) and {settings.SECRET_KEY}"
    redacted = redact(line)
    assert settings.OME_API_TOKEN not in redacted
    assert b64(settings.OME_API_TOKEN).rstrip("=") not in redacted
    assert settings.SECRET_KEY not in redacted


def test_every_log_handler_of_the_portal_masks_secrets(settings):
    for name, handler in settings.LOGGING["handlers"].items():
        assert "redact_secrets" in handler.get("filters", []), f"the {name} log handler does not mask secrets"


def _capture(handler: logging.Handler) -> io.StringIO:
    stream = io.StringIO()
    handler.setStream(stream)
    return stream


def test_the_console_log_masks_secrets_in_messages_and_tracebacks():
    console = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(item, RedactSecrets) for item in handler.filters)
    )
    previous = console.stream
    stream = _capture(console)
    try:
        try:
            raise RuntimeError(f"OME answered for rtmp://live.example.com/app/{DESTINATION_KEY}")
        except RuntimeError:
            logging.getLogger("broadcasts.tasks").exception("push to %s failed (key %s)", "YouTube", STREAM_KEY)
        logging.getLogger("django.request").warning("Not Found: %s", f"/invite/{INVITATION}/")
    finally:
        console.setStream(previous)
    output = stream.getvalue()
    assert "push to YouTube failed (key sk***)" in output
    assert "RuntimeError: OME answered for rtmp://live.example.com/app/***" in output
    assert "Not Found: /invite/***/" in output
    for secret in (STREAM_KEY, DESTINATION_KEY, INVITATION):
        assert secret not in output


@pytest.mark.parametrize("signal", [after_setup_logger, after_setup_task_logger])
def test_celery_worker_and_beat_log_handlers_mask_secrets(signal):
    logger = logging.getLogger(f"tests.celery-{signal.name}")
    logger.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    try:
        # What Celery sends once it has set up its own handlers (the worker hijacks the root logger).
        signal.send(sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="", colorize=False)
        logger.warning("Retry in 2s: OmeUnavailable('credential=%s')", SIGNED)
    finally:
        logger.removeHandler(handler)
    assert "Retry in 2s: OmeUnavailable('credential=***')" in handler.stream.getvalue()


def test_gunicorn_access_log_names_no_basic_user_and_masks_urls_and_credential_headers():
    from gunicorn.config import Config

    from portal.gunicorn_logger import Logger

    config = Config()
    config.set("accesslog", "-")
    config.set(
        "access_log_format",
        '%(h)s %(l)s %(u)s "%(r)s" %(s)s "%(f)s" %(U)s?%(q)s %({authorization}i)s %({Cookie}i)s '
        "%({set-cookie}o)s %({http_authorization}e)s %({x-request-id}i)s",
    )
    logger = Logger(config)
    stream = _capture(logger.access_log.handlers[0])
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/embed/room-1?link={quote(SIGNED)}",
        "PATH_INFO": f"/invite/{INVITATION}/",
        "QUERY_STRING": f"token={SIGNED}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_AUTHORIZATION": f"Basic {b64(API_TOKEN)}",
        "HTTP_REFERER": f"https://stream.example.com/accounts/reset/MQ/{RESET}/",
    }
    request = SimpleNamespace(
        headers=[("AUTHORIZATION", f"Basic {b64(API_TOKEN)}"), ("COOKIE", "sessionid=s3cr3t"), ("X-REQUEST-ID", "r1")]
    )
    response = SimpleNamespace(status="200 OK", sent=10, headers=[("Set-Cookie", "sessionid=s3cr3t; Secure")])
    logger.access(response, request, environ, timedelta(milliseconds=12))
    line = stream.getvalue()
    assert line.startswith('10.0.0.5 - - "GET /embed/room-1?link=*** HTTP/1.1" 200 ')
    assert "/invite/***/?token=***" in line
    assert line.rstrip().endswith("- - - - r1")
    for secret in (API_TOKEN, b64(API_TOKEN), SIGNED, quote(SIGNED), INVITATION, RESET, "s3cr3t"):
        assert secret not in line


def test_printed_emails_in_production_mask_their_links():
    stream = io.StringIO()
    connection = mail.get_connection("portal.redaction.ConsoleEmailBackend", stream=stream)
    mail.EmailMessage(
        subject="You are invited",
        body=f"Accept here: https://stream.example.com/invite/{INVITATION}/\n"
        f"or reset: https://stream.example.com/accounts/reset/MQ/{RESET}/",
        from_email="noreply@stream.example.com",
        to=["new@example.com"],
        connection=connection,
    ).send()
    printed = stream.getvalue()
    assert "Subject: You are invited" in printed and "To: new@example.com" in printed
    assert "https://stream.example.com/invite/***/" in printed
    assert "https://stream.example.com/accounts/reset/MQ/***/" in printed
    assert INVITATION not in printed and RESET not in printed


def test_error_reports_mailed_to_admins_carry_no_secret(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.REDIS_URL = f"redis://:{PASSWORD}@redis.example.com:6379/0"
    factory = RequestFactory()
    factory.cookies["sessionid"] = "s3ssion-" + secrets.token_hex(8)
    request = factory.post(
        f"/invite/{INVITATION}/?link={quote(SIGNED)}",
        data={"name": "YouTube", "stream_key": DESTINATION_KEY, "password": PASSWORD},
        HTTP_AUTHORIZATION=f"Basic {b64(API_TOKEN)}",
        HTTP_REFERER=f"https://stream.example.com/watch/room-1?token={SIGNED}",
    )
    try:
        raise ValueError(f"no room for stream key {STREAM_KEY}")
    except ValueError:
        logging.getLogger("django.request").error(
            "Internal Server Error: %s",
            request.path,
            exc_info=sys.exc_info(),
            extra={"status_code": 500, "request": request},
        )
    assert len(mail.outbox) == 1
    report = mail.outbox[0].subject + "\n" + mail.outbox[0].body
    assert "Internal Server Error: /invite/***/" in report
    assert "'YouTube'" in report, "the report should still show the form's other fields"
    for secret in (
        INVITATION,
        SIGNED,
        quote(SIGNED),
        DESTINATION_KEY,
        PASSWORD,
        API_TOKEN,
        b64(API_TOKEN),
        STREAM_KEY,
        factory.cookies["sessionid"].value,
    ):
        assert secret not in report, f"{secret!r} is in the error report"
