"""Pure helpers of the benchmark: percentiles, the message ledger, targets and the printed table.

Kept free of I/O and third-party imports so tests/test_bench_smoke.py can check them in CI
without starting a server or installing the load clients.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks; NaN when empty.

    Interpolation (numpy's default) rather than nearest rank, so p99.9 of a few thousand
    samples still moves when the slowest few move.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in 0..100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Latency:
    """p50/p99/p99.9 and max of one series, in milliseconds."""

    count: int
    p50: float
    p99: float
    p999: float
    max: float

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Latency:
        return cls(
            count=len(values_ms),
            p50=percentile(values_ms, 50),
            p99=percentile(values_ms, 99),
            p999=percentile(values_ms, 99.9),
            max=max(values_ms) if values_ms else math.nan,
        )


@dataclass(frozen=True)
class Ledger:
    """What happened to every message of a load step, checked against the database.

    A message is fine when it was acked once, stored exactly once and delivered to the
    receiver exactly once. Anything else is counted under the way it went wrong.
    """

    sent: int
    acked: int
    unacked: list[str] = field(default_factory=list)  # sent, never acked (timeout or error)
    not_stored: list[str] = field(default_factory=list)  # acked, but no row in the database
    stored_twice: list[str] = field(default_factory=list)  # more than one row for one send
    undelivered: list[str] = field(default_factory=list)  # acked, never reached the receiver
    delivered_twice: list[str] = field(default_factory=list)  # reached the receiver more than once
    unexpected: list[str] = field(default_factory=list)  # stored or delivered but never sent

    @property
    def lost(self) -> int:
        return len(self.unacked) + len(self.not_stored) + len(self.undelivered)

    @property
    def duplicated(self) -> int:
        return len(self.stored_twice) + len(self.delivered_twice)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and not self.unexpected


def check_ledger(
    sent: Iterable[str], acked: Iterable[str], stored: Mapping[str, int], delivered: Mapping[str, int]
) -> Ledger:
    """Compare the client's view (sent, acked, delivered counts) with the rows stored per client id."""
    sent_ids = set(sent)
    acked_ids = set(acked)
    return Ledger(
        sent=len(sent_ids),
        acked=len(acked_ids & sent_ids),
        unacked=sorted(sent_ids - acked_ids),
        not_stored=sorted(i for i in acked_ids if stored.get(i, 0) == 0),
        stored_twice=sorted(i for i, n in stored.items() if n > 1),
        undelivered=sorted(i for i in acked_ids if delivered.get(i, 0) == 0),
        delivered_twice=sorted(i for i, n in delivered.items() if n > 1),
        unexpected=sorted((set(stored) | set(delivered) | acked_ids) - sent_ids),
    )


@dataclass(frozen=True)
class Step:
    """One offered rate of the sustained-chat load and what it achieved."""

    offered: float  # msg/s asked for
    acked_per_s: float  # msg/s acked over the step
    latency: Latency  # sender → receiver, ms
    ok: bool  # the step's Ledger.ok: nothing lost, nothing doubled


def best_step(steps: Iterable[Step], p99_limit_ms: float) -> Step | None:
    """The highest offered rate whose p99 stays under the limit with nothing lost or doubled."""
    good = [s for s in steps if s.ok and s.latency.count and s.latency.p99 < p99_limit_ms]
    return max(good, key=lambda s: s.offered, default=None)


@dataclass(frozen=True)
class Target:
    """One number the issue asks for: `value` must be >= (or <=) `bound`."""

    name: str
    value: float | None
    bound: float
    at_least: bool  # True: value >= bound is met; False: value <= bound is met
    unit: str = ""

    @property
    def met(self) -> bool:
        if self.value is None or math.isnan(self.value):
            return False
        return self.value >= self.bound if self.at_least else self.value <= self.bound

    def verdict(self) -> str:
        """`met` with the margin, or `MISSED` with how far off, in the target's unit and in percent."""
        if self.value is None or math.isnan(self.value):
            return "MISSED (not measured)"
        gap = self.value - self.bound
        percent = abs(gap) / self.bound * 100 if self.bound else math.inf
        if self.met:
            return "met" if gap == 0 or not self.bound else f"met ({percent:.0f}% margin)"
        if not self.bound:
            return f"MISSED by {fmt(abs(gap))}{self.unit}"
        return f"MISSED by {fmt(abs(gap))}{self.unit} ({percent:.0f}%)"

    def wanted(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {fmt(self.bound)}{self.unit}"


def fmt(value: float | int | None, digits: int = 3) -> str:
    """A number for the table: thousands separated, about `digits` significant figures, a dash for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{round(value):,}"
    magnitude = math.floor(math.log10(abs(value))) + 1 if value else 1
    decimals = max(0, digits - magnitude)
    return f"{value:,.{decimals}f}"


def ratio(ours: float | None, limit: float | None) -> float | None:
    """ours ÷ limit, or None when either is missing or the limit is zero."""
    if ours is None or limit is None or limit == 0 or math.isnan(ours) or math.isnan(limit):
        return None
    return ours / limit


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with a rule under the header; columns padded to their widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, the header {len(headers)}: {row!r}")
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
