"""Stream-key lookup digests no longer depend on FIELD_ENCRYPTION_KEY (see portal/crypto.py).

The previous release stored an HMAC keyed by the first encryption key, so rotating that key made
every OBS stream key unknown. Each room's key is decrypted with the configured keys and its digest
recomputed as a plain SHA-256. The digest formulas are copied here, not imported, so that this
migration keeps meaning what it meant when it was written. It runs in one transaction: a key that
cannot be decrypted stops it with nothing changed.
"""

import hashlib
import hmac

from django.conf import settings
from django.db import migrations

import portal.crypto

BATCH = 500


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def legacy_digest(secret: str, encryption_key: str) -> str:
    key = hashlib.sha256(("digest:" + encryption_key).encode()).digest()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def _rewrite(apps, compute) -> None:
    Room = apps.get_model("rooms", "Room")
    changed = []
    for room in Room.objects.only("pk", "stream_key", "stream_key_digest").order_by("pk").iterator(chunk_size=BATCH):
        new = compute(room.stream_key)
        if room.stream_key_digest != new:
            room.stream_key_digest = new
            changed.append(room)
    Room.objects.bulk_update(changed, ["stream_key_digest"], batch_size=BATCH)


def recompute_digests(apps, schema_editor) -> None:
    _rewrite(apps, digest)


def restore_legacy_digests(apps, schema_editor) -> None:
    _rewrite(apps, lambda secret: legacy_digest(secret, settings.FIELD_ENCRYPTION_KEYS[0]))


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0002_room_embed_link_generation"),
    ]

    operations = [
        migrations.AlterField(
            model_name="room",
            name="stream_key",
            field=portal.crypto.EncryptedTextField(digest_field="stream_key_digest", editable=False),
        ),
        migrations.RunPython(recompute_digests, restore_legacy_digests, elidable=False),
    ]
