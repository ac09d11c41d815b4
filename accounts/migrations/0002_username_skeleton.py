"""Each user's confusable skeleton (accounts.names), unique; accounts that look like an older
one keep no skeleton (the older keeps the name's look), so the migration never fails on old data."""

from typing import Any

from django.db import migrations, models


def fill_skeletons(apps: Any, schema_editor: Any) -> None:
    from accounts.names import skeleton

    User = apps.get_model("accounts", "User")
    seen: set[str] = set()
    for user in User.objects.order_by("date_joined", "id").only("id", "username").iterator():
        look = skeleton(user.username)
        if look not in seen:
            seen.add(look)
            User.objects.filter(pk=user.pk).update(username_skeleton=look)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="username_skeleton",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fill_skeletons, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(fields=("username_skeleton",), name="user_username_skeleton_unique"),
        ),
    ]
