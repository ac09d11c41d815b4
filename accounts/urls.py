from django.urls import path

from accounts import api

urlpatterns = [
    path("register", api.RegisterView.as_view(), name="auth-register"),
    path("token", api.TokenView.as_view(), name="auth-token"),
    path("token/refresh", api.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("me", api.MeView.as_view(), name="auth-me"),
    path("users", api.UsersView.as_view(), name="auth-users"),
]
