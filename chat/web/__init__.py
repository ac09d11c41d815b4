"""The browser client: its page at `/` (the client itself is static files in chat/static/chat/)."""
