"""Drop the single-column foreign-key indexes that composite indexes already cover.

conversation_pair_unique and conv_p1_recent lead with participant_1, conv_p2_recent with
participant_2, msg_conversation_id (and the (conversation, seq) constraint) with conversation.
The smaller redundant indexes were what PostgreSQL chose instead of the recency ones for the
conversation list (then sorting), and every insert paid for them. Only the indexes go: the
foreign-key constraints stay as they are, so no table is rewritten or re-validated.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = [
    ("chat_conversation_participant_1_id_98a3d82e", "chat_conversation", "participant_1_id"),
    ("chat_conversation_participant_2_id_fefba4d6", "chat_conversation", "participant_2_id"),
    ("chat_message_conversation_id_a1207bf4", "chat_message", "conversation_id"),
]


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0002_search_trigram_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="conversation",
                    name="participant_1",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name="conversation",
                    name="participant_2",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="conversation",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="messages", to="chat.conversation"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in INDEXES
            ],
        ),
    ]
