from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from chat import signals  # noqa: F401  (connects the receivers)
        from chat.management.commands.seed_demo import demo_logins
        from core.management.commands.serve import START_HINTS

        if demo_logins not in START_HINTS:
            START_HINTS.append(demo_logins)
