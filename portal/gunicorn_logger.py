"""gunicorn's logger for the portal (`gunicorn --logger-class portal.gunicorn_logger.Logger`).

gunicorn's access log names the HTTP Basic user, which on the original /v1/ API is the whole
API token (`Authorization: Basic base64(TOKEN)`), and writes request lines with their query
strings (`?link=…`) and paths (`/invite/<token>/`). Here the user is never logged, header and
environ atoms that carry credentials print as "-", every other atom is redacted before it is
written, and every gunicorn handler (access and error log) masks secrets like the portal's own.
This holds for any --access-logformat an operator chooses.
"""

from __future__ import annotations

import re

from gunicorn import glogging

from .redaction import redact, redact_handlers

# {authorization}i, {cookie}i, {set-cookie}o, {http_authorization}e, {x-api-key}i …
_CREDENTIAL_ATOM = re.compile(
    r"^\{.*(?:auth|cookie|token|key|secret|signature|credential|session|csrf).*\}[ioe]$", re.I
)


class RedactedAtoms(glogging.SafeAtoms):
    def __getitem__(self, key: str):
        if key == "u" or _CREDENTIAL_ATOM.match(key):
            return "-"
        value = super().__getitem__(key)
        return redact(value) if isinstance(value, str) else value


class Logger(glogging.Logger):
    atoms_wrapper_class = RedactedAtoms

    def setup(self, cfg) -> None:
        super().setup(cfg)
        redact_handlers(self.error_log, self.access_log)
