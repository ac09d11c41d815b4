"""Figures the reliability tests measure, printed again at the end of the run (CI's log shows them)."""

from __future__ import annotations

FIGURES: list[str] = []


def figure(*parts: object) -> None:
    """Record one measured figure (and print it for -s runs)."""
    text = " ".join(str(part) for part in parts).strip()
    FIGURES.append(text)
    print("\n" + text)
