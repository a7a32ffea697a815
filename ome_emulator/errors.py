"""The two ways the emulator refuses a request over HTTP.

`ApiError` is OME's own refusal: rest.py renders it in OME's envelope, `[HTTP] message (status)`.
`ControlError` is the control API's (/emulator/..., not part of OME): a JSON object with "error"
and any extra fields.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An OME REST error: rest.py renders it as `[HTTP] message (status)`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ControlError(Exception):
    """Bad input to the control API (/emulator/...)."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra
