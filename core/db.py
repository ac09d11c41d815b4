"""Database helpers every app uses: one row by primary key, and the pool's connection check.

The row loader skips the ORM's query building, which cost several times the query itself on the
lookups every request makes (docs/benchmarks.md, "row loader"); it applies the ORM's converters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import connection, models

# The largest id a bigint primary key holds; ids beyond it are "no such thing", never a query.
MAX_ID = 2**63 - 1

_Converter = Callable[[Any, Any, Any], Any]
# Per column index, the backend's and the field's converters, each with the column they take.
_Converters = list[tuple[int, list[tuple[_Converter, Any]]]]


@cache
def _select(model: type[models.Model], vendor: str) -> tuple[str, str, list[str], _Converters]:
    """The model's column list and `FROM ... WHERE pk = %s`, its attribute names and converters."""
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(quote(str(f.column)) for f in fields)
    pk = quote(str(model._meta.pk.column))
    where = f"FROM {quote(model._meta.db_table)} WHERE {pk} = %s"
    converters: _Converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, [(c, column) for c in found]))
    return columns, where, [f.attname for f in fields], converters


def by_pk[M: models.Model](model: type[M], pk: object) -> M | None:
    """The row of `model` with this primary key, or None (also for an id that cannot be one)."""
    found = by_pk_with(model, pk)
    return None if found is None else found[0]


def by_pk_with[M: models.Model](
    model: type[M], pk: object, extra: Sequence[str] = (), params: Sequence[int | str] = ()
) -> tuple[M, tuple[Any, ...]] | None:
    """`by_pk`, with the SQL expressions `extra` selected beside the row by the same statement
    (their placeholders take `params`): the row and the expressions' values, or None."""
    if isinstance(pk, bool) or not isinstance(pk, int | str):
        return None
    try:
        key = int(pk)
    except ValueError:
        return None
    if not 0 < key <= MAX_ID:
        return None
    columns, where, attnames, converters = _select(model, connection.vendor)
    sql = f"SELECT {', '.join([columns, *extra])} {where}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, key])
        row = cursor.fetchone()
    if row is None:
        return None
    return _loaded(model, row, attnames, converters)


# Rows whose primary key is in a list given as one parameter, so the statement's text (and with it
# its prepared plan) is the same for any number of keys.
_IN_LIST = {
    "postgresql": "= ANY(%s)",
    "sqlite": "IN (SELECT value FROM json_each(%s))",
}


def by_pks_with[M: models.Model](
    model: type[M], pks: Sequence[int], extra: Sequence[str] = ()
) -> dict[int, tuple[M, tuple[Any, ...]]]:
    """The rows of `model` with these primary keys, each with the SQL expressions `extra` selected
    beside it (they may name the row's table-qualified columns), in one statement:
    {pk: (row, the expressions' values)}; keys that name no row, or cannot be one, are left out."""
    keys = sorted({pk for pk in pks if 0 < pk <= MAX_ID})
    if not keys:
        return {}
    columns, where, attnames, converters = _select(model, connection.vendor)
    where = where.removesuffix("= %s") + _IN_LIST[connection.vendor]
    sql = f"SELECT {', '.join([columns, *extra])} {where}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [keys if connection.vendor == "postgresql" else json.dumps(keys)])
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        loaded = _loaded(model, row, attnames, converters)
        found[int(loaded[0].pk)] = loaded
    return found


def _loaded[M: models.Model](
    model: type[M], row: Sequence[Any], attnames: list[str], converters: _Converters
) -> tuple[M, tuple[Any, ...]]:
    values = list(row[: len(attnames)])
    for index, chain in converters:
        for convert, column in chain:
            values[index] = convert(values[index], column, connection)
    return model.from_db(connection.alias, attnames, values), tuple(row[len(attnames) :])


# A connection handed out this recently was working a moment ago: checking it again would add a
# round trip to every frame of a busy process (docs/benchmarks.md, "pool check").
RECENTLY_USED_SECONDS = 0.2


def check_pooled_connection(conn: Any) -> None:
    """The database pool's `check` callback (settings.py): psycopg_pool's own check before a
    checkout, unless the connection was handed out within RECENTLY_USED_SECONDS, and once one
    fails, every idle connection is checked at once too.

    A failed check most likely means PostgreSQL restarted and every idle connection is dead; the
    pool would otherwise hand them to one waiting request one by one, with back-off, until it timed out.
    """
    from psycopg_pool import ConnectionPool

    now = time.monotonic()
    used = getattr(conn, "_chat_handed_out_at", None)
    conn._chat_handed_out_at = now
    if used is not None and now - used < RECENTLY_USED_SECONDS:
        return
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool = getattr(conn, "_pool", None)  # the pool that is handing this connection out
        if pool is not None:
            pool.check()  # replaces the broken ones; the waiting request gets the first new one
        raise
