"""URL configuration: the two APIs, their documents, the probes, the admin and the web client."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chat.rest.views import UserDirectoryView
from chat.web.views import index
from chat.ws.asyncapi import asyncapi_yaml
from core import health, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    # The user directory is the chat's (who you can start a chat with), under the contract's path.
    path("api/auth/users", UserDirectoryView.as_view(), name="auth-users"),
    path("api/auth/", include("accounts.urls")),
    path("api/chat/", include("chat.rest.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/asyncapi.yaml", asyncapi_yaml, name="asyncapi"),
    # The split view serves Swagger UI's init script as a file (?script=): no inline script, so
    # the page runs under SECURE_CSP's script-src 'self'.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", index, name="web-client"),
]

handler400 = "core.rest.handler400"
handler403 = "core.rest.handler403"
handler404 = "core.rest.handler404"
handler500 = "core.rest.handler500"
