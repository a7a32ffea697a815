"""Writing many rows' changed fields in one statement, fast enough for the reconcile loop.

Django's `bulk_update` builds one `CASE WHEN pk = … THEN …` expression per row and field; for
the reconcile loop's 1,000 pushes × 7 fields that is 7,000 expressions whose construction took
about 5 s of Python per pass (docs/performance.md). On PostgreSQL the same change is written
here as one `UPDATE … FROM (VALUES …)`, every value typed by its field; other databases (SQLite
for local runs) keep `bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, router
from django.db.models import Model


def bulk_update_rows(objs: Sequence[Model], fields: Sequence[str], *, batch_size: int = 1000) -> None:
    """Save `fields` of every object in `objs` (all of one model), like Model.objects.bulk_update."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        model._default_manager.db_manager(alias).bulk_update(objs, fields, batch_size=batch_size)
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    names = ", ".join(quote(f.column) for f in [pk, *columns])
    casts = ", ".join(f"%s::{f.db_type(connection)}" for f in [pk, *columns])
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            batch = objs[start : start + batch_size]
            rows = ", ".join(f"({casts})" for _ in batch)
            params = []
            for obj in batch:
                params.append(pk.get_db_prep_save(obj.pk, connection))
                params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns)
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} SET {assignments} FROM (VALUES {rows}) AS v({names}) "
                f"WHERE {quote(meta.db_table)}.{quote(pk.column)} = v.{quote(pk.column)}",
                params,
            )
