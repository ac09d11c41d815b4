"""One row by primary key, without the ORM's query building, on the hottest lookups.

Every authenticated request and every socket connect loads its user, and every socket join,
history page and mark-read loads its conversation. On the benchmark machine
`Model.objects.get(pk=…)` cost ~700 us of CPU, almost all of it building the query; the same
SELECT through a cursor and `Model.from_db` ~230 us (docs/benchmarks.md). psycopg returns
every column already as its Python type, so the plain path is PostgreSQL's; other backends
(SQLite returns datetimes as text) go through the ORM, which converts them.
"""

from __future__ import annotations

from functools import cache

from django.db import connection, models

MAX_PK = 2**63 - 1


@cache
def _select(model: type[models.Model]) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(quote(str(f.column)) for f in fields)
    pk = quote(str(model._meta.pk.column))  # type: ignore[union-attr]
    sql = f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {pk} = %s"  # noqa: S608 - names from the model
    return sql, [f.attname for f in fields]


def by_pk[M: models.Model](model: type[M], pk: object) -> M | None:
    """The row of `model` with this primary key, or None (also for an id that cannot be one)."""
    if isinstance(pk, bool) or not isinstance(pk, int | str):
        return None
    try:
        key = int(pk)
    except ValueError:
        return None
    if not 0 < key <= MAX_PK:
        return None
    if connection.vendor != "postgresql":
        return model._default_manager.filter(pk=key).first()
    sql, attnames = _select(model)
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    return None if row is None else model.from_db(connection.alias, attnames, row)
