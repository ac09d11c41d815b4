from django.urls import path

from chat.rest import views

urlpatterns = [
    path("send", views.SendView.as_view(), name="chat-send"),
    path("attachments", views.AttachmentsView.as_view(), name="chat-attachments"),
    path("files/<str:token>", views.AttachmentFileView.as_view(), name="chat-attachment-file"),
    path("conversations", views.ConversationsView.as_view(), name="chat-conversations"),
    path("conversations/<int:conversation_id>/messages", views.MessagesView.as_view(), name="chat-messages"),
    path("conversations/<int:conversation_id>/read", views.ReadView.as_view(), name="chat-read"),
    path("conversations/<int:conversation_id>/search", views.SearchView.as_view(), name="chat-search"),
    path("search", views.SearchEverywhereView.as_view(), name="chat-search-everywhere"),
    path("unread-count", views.UnreadCountView.as_view(), name="chat-unread-count"),
    path("unread", views.UnreadView.as_view(), name="chat-unread"),
    path("messages/<int:message_id>", views.MessageView.as_view(), name="chat-message"),
    path("messages/<int:message_id>/report", views.ReportView.as_view(), name="chat-report"),
    path("conversations/<int:conversation_id>/mute", views.MuteView.as_view(), name="chat-mute"),
    path("conversations/<int:conversation_id>/archive", views.ArchiveView.as_view(), name="chat-archive"),
    path("conversations/<int:conversation_id>/unread", views.MarkUnreadView.as_view(), name="chat-mark-unread"),
    path("conversations/<int:conversation_id>/delivered", views.DeliveredView.as_view(), name="chat-delivered"),
    path("blocks", views.BlocksView.as_view(), name="chat-blocks"),
    path("blocks/<int:user_id>", views.BlockView.as_view(), name="chat-block"),
    path("messages/<int:message_id>/history", views.MessageHistoryView.as_view(), name="chat-message-history"),
    path("messages/<int:message_id>/reactions/<str:emoji>", views.ReactionView.as_view(), name="chat-reaction"),
]
