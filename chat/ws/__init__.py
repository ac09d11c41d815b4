"""The WebSocket side of the chat: frames in, one service call each, acks, errors and events out."""
