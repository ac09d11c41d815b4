from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Installed so Django finds the `serve` management command."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
