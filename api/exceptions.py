"""The one place where errors become API answers.

- PortalError (a service refused: limit reached, not allowed, conflict) → its status, {"detail": message}.
- Django's ValidationError (a model's full_clean in a service) → 400, messages per field, with
  model field names translated to the API's (`view.field_aliases`, e.g. public_id → id).
- Everything else (401, 403, 404, 405, 429, DRF's own validation) → DRF's handler.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import PortalError


def _field_errors(error: DjangoValidationError, aliases: dict[str, str]) -> dict[str, list[str]]:
    if not hasattr(error, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: error.messages}
    errors: dict[str, list[str]] = {}
    for field, messages in error.message_dict.items():
        name = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else aliases.get(field, field)
        errors.setdefault(name, []).extend(messages)
    return errors


def api_exception_handler(exc, context):
    if isinstance(exc, PortalError):
        return Response({"detail": exc.message}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        aliases = getattr(context.get("view"), "field_aliases", {})
        return Response(_field_errors(exc, aliases), status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
