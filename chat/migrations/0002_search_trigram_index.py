"""A trigram GIN index for case-insensitive search, on PostgreSQL only.

Django's `icontains` compiles to `UPPER(content::text) LIKE UPPER(%s)` on PostgreSQL, so the
index is on that same expression. SQLite has no pg_trgm; there the migration does nothing.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS msg_content_upper_trgm ON chat_message USING gin (UPPER(content) gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS msg_content_upper_trgm")


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
