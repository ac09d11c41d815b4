from django.urls import path

from chat import api

urlpatterns = [
    path("send", api.SendView.as_view(), name="chat-send"),
    path("conversations", api.ConversationsView.as_view(), name="chat-conversations"),
    path("conversations/<int:conversation_id>/messages", api.MessagesView.as_view(), name="chat-messages"),
    path("conversations/<int:conversation_id>/read", api.ReadView.as_view(), name="chat-read"),
    path("conversations/<int:conversation_id>/search", api.SearchView.as_view(), name="chat-search"),
    path("unread-count", api.UnreadCountView.as_view(), name="chat-unread-count"),
    path("unread", api.UnreadView.as_view(), name="chat-unread"),
    path("messages/<int:message_id>", api.MessageView.as_view(), name="chat-message"),
]
