"""Who a user shares a conversation with: the people who hear of their presence."""

from __future__ import annotations

from django.db import connection

from chat.models import Conversation

_PARTNERS_SQL = (
    f"SELECT participant_1_id, participant_2_id FROM {Conversation._meta.db_table} "  # noqa: S608 - table name only
    "WHERE participant_1_id = %s OR participant_2_id = %s"
)


def partner_ids(user_id: int) -> list[int]:
    """Ids of everyone who shares a conversation with the user (presence recipients).

    Runs on every socket's first connect and last disconnect, so it is a plain statement
    (docs/benchmarks.md, "partners").
    """
    with connection.cursor() as cursor:
        cursor.execute(_PARTNERS_SQL, [user_id, user_id])
        pairs = cursor.fetchall()
    return [p2 if p1 == user_id else p1 for p1, p2 in pairs]
