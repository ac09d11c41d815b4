from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from chat import asyncapi, web
from chatproject import health, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("accounts.urls")),
    path("api/chat/", include("chat.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/asyncapi.yaml", asyncapi.asyncapi_yaml, name="asyncapi"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", web.index, name="web-client"),
]

handler400 = "chatproject.api.handler400"
handler403 = "chatproject.api.handler403"
handler404 = "chatproject.api.handler404"
handler500 = "chatproject.api.handler500"
