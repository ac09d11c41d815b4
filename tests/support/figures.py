"""Figures the reliability tests measure, printed again at the end of the run (CI's log shows them)."""

from __future__ import annotations

# Recorded by the running test, until its report carries them (tests/conftest.py): with
# pytest-xdist the test runs in a worker and the summary is printed by the controller.
PENDING: list[str] = []
# What the reports carried, in the process that prints the summary.
FIGURES: list[str] = []


def figure(*parts: object) -> None:
    """Record one measured figure (and print it for -s runs)."""
    text = " ".join(str(part) for part in parts).strip()
    PENDING.append(text)
    print("\n" + text)
