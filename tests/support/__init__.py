"""What many tests share: the project root, API helpers, real processes on loopback, reliability figures."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
