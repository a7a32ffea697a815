"""Domain errors raised by services and turned into HTTP answers in one place each
(form/message errors in the UI, 4xx bodies in the API)."""


class PortalError(Exception):
    """A request that the portal refuses, with a message fit to show to the user."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LimitReached(PortalError):
    status_code = 403


class NotAllowed(PortalError):
    status_code = 403


class Conflict(PortalError):
    status_code = 409
