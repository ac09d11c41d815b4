"""Every read of the chat; each checks who may see it (chat.access) and runs a fixed number of queries."""
