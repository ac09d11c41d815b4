from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the receivers)


class ChatAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the login of accounts.admin_site (named in INSTALLED_APPS)."""

    default = False
    default_site = "accounts.admin_site.ChatAdminSite"
