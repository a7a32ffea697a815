"""Re-encrypting every stored secret with the first FIELD_ENCRYPTION_KEY, so the others can go.

Behind `manage.py rotate_encryption_keys` (docs/deploy.md walks through a rotation). Every
`EncryptedTextField` of every installed model is found by introspection, so a new encrypted field
is covered without touching this module. Rows are read and written in batches of primary keys,
each batch in its own transaction with its rows locked (`SELECT … FOR UPDATE`), so a stream key
rotated by someone while this runs is never overwritten with the old one. Values already
encrypted with the first key are left alone: running it again changes nothing. A field's
lookup digest (`digest_field`) is recomputed where it is stale (one written by the previous
release during a rolling update).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast

from .crypto import EncryptedTextField, decrypt, first_key_encrypts, reencrypt, secret_digest

DEFAULT_BATCH_SIZE = 500


@dataclass
class FieldReport:
    """What happened to one encrypted field of one model."""

    label: str  # "rooms.Room.stream_key"
    digest_label: str | None = None
    counts: Counter = field(default_factory=Counter)  # reencrypted, current, failed, digests
    failed_pks: list = field(default_factory=list)


def encrypted_fields() -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every concrete model with encrypted fields, and those fields."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue  # a proxy shares its table with the concrete model, listed on its own
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            found.append((model, fields))
    return found


def rotate_encryption_keys(*, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False) -> list[FieldReport]:
    """Re-encrypt every stored secret with the first key; with dry_run, only count."""
    reports = []
    for model, fields in encrypted_fields():
        model_reports = {
            f.attname: FieldReport(
                label=f"{model._meta.label}.{f.name}",
                digest_label=f"{model._meta.label}.{f.digest_field}" if f.digest_field else None,
            )
            for f in fields
        }
        after = None
        while True:
            after = _rotate_batch(model, fields, model_reports, after=after, batch_size=batch_size, dry_run=dry_run)
            if after is None:
                break
        reports.extend(model_reports.values())
    return reports


def _rotate_batch(model, fields, reports, *, after, batch_size: int, dry_run: bool):
    """One batch of rows after primary key `after`; the last primary key done, or None at the end."""
    raw = {f"raw_{f.attname}": Cast(f.attname, output_field=models.TextField()) for f in fields}
    digests = [f.digest_field for f in fields if f.digest_field]
    with transaction.atomic():
        queryset = model._base_manager.order_by("pk")
        if after is not None:
            queryset = queryset.filter(pk__gt=after)
        if not dry_run:
            queryset = queryset.select_for_update()
        rows = list(queryset.annotate(**raw).values("pk", *raw, *digests)[:batch_size])
        for row in rows:
            updates = {}
            for f in fields:
                updates.update(_rotate_value(f, row, reports[f.attname]))
            if updates and not dry_run:
                model._base_manager.filter(pk=row["pk"]).update(**updates)
    return rows[-1]["pk"] if rows else None


def _rotate_value(f: EncryptedTextField, row: dict, report: FieldReport) -> dict:
    token = row[f"raw_{f.attname}"]
    if not token:
        return {}
    updates = {}
    if first_key_encrypts(token):
        report.counts["current"] += 1
    else:
        try:
            # A Value with a plain TextField: written as is, not encrypted a second time.
            updates[f.attname] = models.Value(reencrypt(token), output_field=models.TextField())
        except ValueError:
            report.counts["failed"] += 1
            report.failed_pks.append(row["pk"])
            return {}
        report.counts["reencrypted"] += 1
    if f.digest_field:
        digest = secret_digest(decrypt(token))
        if row[f.digest_field] != digest:
            updates[f.digest_field] = digest
            report.counts["digests"] += 1
    return updates
