"""Secrets at rest: Fernet encryption for model fields, and keyed digests for lookups.

Stream keys and destination keys are stored encrypted (FIELD_ENCRYPTION_KEY; several keys
separated by commas allow rotation). Because Fernet is randomised, a secret that must be
found by value (an OBS stream key arriving in OME's admission webhook) is also stored as
an HMAC digest, which can be indexed and compared without decrypting anything.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("a secret could not be decrypted: FIELD_ENCRYPTION_KEY does not match") from exc


def secret_digest(secret: str) -> str:
    """A keyed, deterministic digest of a secret, safe to index and to compare."""
    key = hashlib.sha256(("digest:" + settings.FIELD_ENCRYPTION_KEYS[0]).encode()).digest()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def mask(secret: str, visible: int = 4) -> str:
    """'••••••1234': enough to recognise a secret, never enough to use it."""
    if not secret:
        return ""
    return "\u2022" * 8 + secret[-visible:] if len(secret) > visible else "\u2022" * 8


class EncryptedTextField(models.TextField):
    """A text field whose value is Fernet-encrypted in the database and plain in Python."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
