from django.contrib import admin
from django.urls import include, path

from chat import web

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("accounts.urls")),
    path("api/chat/", include("chat.urls")),
    path("", web.index, name="web-client"),
]

handler400 = "chatproject.api.handler400"
handler403 = "chatproject.api.handler403"
handler404 = "chatproject.api.handler404"
handler500 = "chatproject.api.handler500"
