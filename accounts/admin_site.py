"""The admin site: Django's, whose login goes through accounts.services.check_credentials, so
/admin/login/ counts against the same failed-login limits as the REST login."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse

from accounts import services
from core.clientip import client_address
from core.errors import RateLimited, Unauthenticated


class LimitedAuthenticationForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password and self.request is not None:
            try:
                self.user_cache = services.check_credentials(
                    username=username, password=password, address=client_address(self.request.META)
                )
            except Unauthenticated:
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class ChatAdminSite(admin.AdminSite):
    login_form = LimitedAuthenticationForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().login(request, extra_context)
        except RateLimited as exc:
            response = HttpResponse(exc.message, status=429, content_type="text/plain; charset=utf-8")
            response["Retry-After"] = str(exc.retry_after)
            return response
