"""ASGI entry point: HTTP to Django, /ws/chat/ to the chat consumer behind the origin check."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.ws.routing import websocket_urlpatterns  # noqa: E402
from core.origin import OriginPolicy  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginPolicy(URLRouter(websocket_urlpatterns)),
    }
)
