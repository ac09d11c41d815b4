"""The /api/chat REST endpoints: thin views over chat.services and chat.selectors."""
