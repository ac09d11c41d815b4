"""The README's local commands work as written: `manage.py <command> --help` with no environment at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("args", [["chat_stats", "--help"], ["purge_deleted", "-h"], ["help", "seed_demo"], []])
def test_manage_py_help_works_with_no_environment_at_all(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    expected = f"usage: manage.py {args[0] if args[0] != 'help' else args[1]}" if args else "[chat]"
    assert expected in result.stdout, result.stdout


def test_a_command_that_runs_still_needs_the_secret_when_debug_is_off() -> None:
    """Only a help request gets by without JWT_SECRET: the requirement itself stands."""
    result = subprocess.run(
        [sys.executable, "manage.py", "chat_stats"], cwd=ROOT, env={}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: JWT_SECRET is required when DEBUG is off (set JWT_SECRET, or DEBUG=true for local use)"
    ]
