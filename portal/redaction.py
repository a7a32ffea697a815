"""Masking secrets in log lines, error reports and printed emails: the second line of defence.

The first line is the code itself: it never logs a stream key, a token or a URL that carries
one. Log lines also come from code that is not ours (gunicorn's access log, Django's "Not
Found: /invite/<token>/", Celery's retry messages, a traceback's exception text), so every
handler of the portal, gunicorn and Celery passes its records through `RedactSecrets`, which
masks what secrets look like here:

- API tokens (`sst_…`), stream keys (`sk` + 32 letters and digits), Django-signed values
  (publish credentials, playback tokens, embed links), password-reset tokens, and any other
  long random-looking word (40+ letters and digits: invitation tokens, hex secrets);
- the values of parameters named like secrets (`credential=`, `token=`, `link=`, `streamKey`,
  `stream_key`, `key`, `secret`, `password`, `streamid`, `Authorization`, `Cookie` …) in URLs,
  JSON and Python reprs, and `Basic …` / `Bearer …` credentials;
- the token segments of `/invite/<token>/` and `/reset/<uid>/<token>/`, the stream part of
  RTMP/SRT URLs (OBS's stream key, a destination key pasted into its URL), passwords in URLs;
- the values of the portal's own secret settings, wherever they appear.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable

from django.core.mail.backends import console
from django.views import debug

MASK = "***"

# A parameter, field or variable name that says its value is secret: streamKey, stream_key, api-key …
# (but not Celery's routing_key, all over its debug log)
_SECRET_NAME = re.compile(
    r"token|key|secret|passw|pwd|credential|signature|link|streamid|sessionid|csrf|authorization|cookie", re.I
)
_NOT_SECRET_NAMES = {"routing_key"}
_SEP = r"(?:/|%2F)"  # a path separator, also inside a percent-encoded URL (next=%2Finvite%2F…)
_SEGMENT = r"[^/?#&\s%\"'<>]+"
_ASSIGNED = re.compile(r"(?P<keep>\b(?P<name>[\w.\-]+)(?:=|%3D))(?P<value>[^\s&\"'<>,;)\]}]+)", re.I)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and name.lower() not in _NOT_SECRET_NAMES


def _mask_named_value(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")):
        return match.group(0)
    return match.group("keep") + MASK + (match.groupdict().get("close") or "")


def _mask_assigned(match: re.Match[str]) -> str:
    if is_secret_name(match.group("name")):
        return match.group("keep") + MASK
    # A harmless parameter may hold a percent-encoded URL with secret ones: next=%2Fwatch%3Flink%3D…
    return match.group("keep") + _ASSIGNED.sub(_mask_assigned, match.group("value"))


def _mask_long_word(match: re.Match[str]) -> str:
    word = match.group(0)
    looks_random = any(char.isdigit() for char in word) and any(char.isalpha() for char in word)
    return MASK if looks_random else word


# (substrings one of which the lowercased text must contain for the rule to run, pattern, replacement)
_RULES: list[tuple[tuple[str, ...], re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # scheme://user:password@host -> scheme://***@host
    (("@",), re.compile(r"(?P<keep>\b[a-z][a-z0-9+.\-]*://)[^/\s@?#\"'<>]+@", re.I), rf"\g<keep>{MASK}@"),
    # Authorization: Basic base64(token) / Bearer token (a word with digits or symbols, not prose)
    (
        ("basic", "bearer"),
        re.compile(r"(?P<keep>\b(?:basic|bearer)\s+)(?=[\w.~+/=\-]*[\d+/=_\-])[\w.~+/=\-]{8,}", re.I),
        rf"\g<keep>{MASK}",
    ),
    # "streamKey": "value", 'stream_key': 'value' (JSON and Python reprs)
    (
        ('"', "'"),
        re.compile(
            r"""(?P<keep>(?P<q>["'])(?P<name>[\w.\-]+)(?P=q)\s*:\s*(?P<v>["']))(?:\\.|(?!(?P=v)).)*(?P<close>(?P=v))"""
        ),
        _mask_named_value,
    ),
    # stream_key='value', password = "value"
    (
        ("=",),
        re.compile(r"""(?P<keep>\b(?P<name>[\w.\-]+)\s*=\s*(?P<v>["']))(?:\\.|(?!(?P=v)).)*(?P<close>(?P=v))"""),
        _mask_named_value,
    ),
    # ?credential=value&token=value, link%3Dvalue (query strings, forms, key=value logs)
    (("=", "%3d"), _ASSIGNED, _mask_assigned),
    # /invite/<token>/ and /accounts/reset/<uid>/<token>/ (Django's own set-password step is kept)
    (("invite",), re.compile(rf"(?P<keep>{_SEP}invite{_SEP})(?!\*\*\*){_SEGMENT}", re.I), rf"\g<keep>{MASK}"),
    (
        ("reset",),
        re.compile(rf"(?P<keep>{_SEP}reset{_SEP}{_SEGMENT}{_SEP})(?!set-password\b|\*\*\*){_SEGMENT}", re.I),
        rf"\g<keep>{MASK}",
    ),
    # rtmp://host/app/STREAM_KEY, srt://host/app/KEY: everything after the application is secret
    (
        ("rtmp", "srt:"),
        re.compile(r"(?P<keep>\b(?:rtmps?|srt)://[^/\s?#\"'<>]+/[^/\s?#\"'<>]+/)[^\s?#\"'<>]+", re.I),
        rf"\g<keep>{MASK}",
    ),
    # Shapes of the portal's own secrets
    (("sst_",), re.compile(r"\bsst_[\w\-]{8,}"), f"sst_{MASK}"),
    (("sk",), re.compile(r"\bsk[A-Za-z0-9]{32}\b"), f"sk{MASK}"),
    # django.core.signing values: payload[:timestamp]:signature (also percent-encoded)
    ((":", "%3a"), re.compile(r"(?<![\w\-.])\.?[\w\-]+(?:(?::|%3A)[\w\-]+)?(?::|%3A)[\w\-]{43}(?![\w\-])"), MASK),
    # password-reset tokens: base36 timestamp - 32 hex
    (("-",), re.compile(r"\b[0-9a-z]{1,13}-[0-9a-f]{32}\b"), MASK),
    # Any other long random word (invitation tokens, hex secrets); UUIDs (36) stay readable.
    ((), re.compile(r"(?<![\w\-])[\w\-]{40,}(?![\w\-])"), _mask_long_word),
]

_known_secrets: tuple[str, ...] | None = None


def _secret_settings() -> tuple[str, ...]:
    """The portal's secret settings and their base64 forms, longest first (once settings are loaded)."""
    global _known_secrets
    if _known_secrets is not None:
        return _known_secrets
    from django.conf import settings

    if not settings.configured:
        return ()
    database = settings.DATABASES.get("default", {})
    values = [
        getattr(settings, "SECRET_KEY", ""),
        getattr(settings, "OME_API_TOKEN", ""),
        getattr(settings, "OME_WEBHOOK_SECRET", ""),
        getattr(settings, "EMAIL_HOST_PASSWORD", ""),
        getattr(settings, "RECORDINGS_S3_ACCESS_KEY_ID", ""),
        getattr(settings, "RECORDINGS_S3_SECRET_ACCESS_KEY", ""),
        database.get("PASSWORD", ""),
        *getattr(settings, "FIELD_ENCRYPTION_KEYS", []),
    ]
    found = set()
    for value in values:
        if isinstance(value, str) and len(value) >= 8:
            found.add(value)
            found.add(base64.b64encode(value.encode()).decode().rstrip("="))
    _known_secrets = tuple(sorted(found, key=len, reverse=True))
    return _known_secrets


def redact(text: str) -> str:
    """`text` with every secret the portal knows the shape or the value of replaced by ***."""
    if not text:
        return text
    for secret in _secret_settings():
        if secret in text:
            text = text.replace(secret, MASK)
    lowered = text.lower()
    for triggers, pattern, replacement in _RULES:
        if not triggers or any(trigger in lowered for trigger in triggers):
            text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's final message and traceback; attached to every log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken record: the handler reports it as such, without its arguments
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redact_handlers(*loggers: logging.Logger | None) -> None:
    """Attach RedactSecrets to every handler of `loggers` (for handlers configured outside LOGGING)."""
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(existing, RedactSecrets) for existing in handler.filters):
                handler.addFilter(RedactSecrets())


class ConsoleEmailBackend(console.EmailBackend):
    """consolemail:// in production: prints who gets which email, with its links' tokens masked.

    The console backend writes to the process's output, which is its log; an invitation or a
    password reset link there would let anyone who reads the logs use it. Set EMAIL_URL to a
    real mail server for the links to reach people.
    """

    def write_message(self, message) -> None:
        to = ", ".join(str(address) for address in message.recipients())
        text = f"Subject: {message.subject}\nFrom: {message.from_email}\nTo: {to}\n\n{message.body}"
        self.stream.write(f"{redact(text)}\n{'-' * 79}\n")


class SafeExceptionReporterFilter(debug.SafeExceptionReporterFilter):
    """Django's filter (it hides settings, headers and cookies named like secrets) plus: URLs,
    paths and query strings in settings and request.META are redacted, and POST fields and
    local variables named like secrets (stream_key, token, password …) are hidden."""

    def cleanse_setting(self, key, value):
        cleansed = super().cleanse_setting(key, value)
        return redact(cleansed) if isinstance(cleansed, str) else cleansed

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if request is None or not self.is_active(request):
            return parameters
        parameters = parameters.copy()
        for name in parameters:
            if is_secret_name(name):
                parameters[name] = self.cleansed_substitute
        return parameters

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        if not self.is_active(request):
            return variables
        return [(name, self.cleansed_substitute if is_secret_name(name) else value) for name, value in variables]


class SafeExceptionReporter(debug.ExceptionReporter):
    """Error reports (the ADMINS email) with the request URL, GET parameters, exception texts and
    variables' reprs redacted too: Django prints those as they are."""

    def get_traceback_text(self):
        text = super().get_traceback_text()
        return redact(text) if self.filter.is_active(self.request) else text

    def get_traceback_html(self):
        html = super().get_traceback_html()
        return redact(html) if self.filter.is_active(self.request) else html
