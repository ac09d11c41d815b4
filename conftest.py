"""Test-wide environment that must exist before Django's settings are read."""

import os
import uuid

# Every run gets its own Redis key and channel namespace, so parallel runs never cross.
os.environ.setdefault("CHANNEL_PREFIX", f"test-{uuid.uuid4().hex[:8]}")
