"""The last 15 minutes of each environment, for the status cards' sparklines.

Kept in memory, per process (like the Prometheus counters it reads), for WINDOW_S:
- probe latency: every health probe's latency (None when the probe failed), recorded by
  the connection manager as it probes;
- calls and errors: the cumulative counters (metrics.call_totals) sampled every
  SAMPLE_S by a daemon thread started with the first status panel, and at every panel
  render; the calls of a slot are the difference of the counters at its two ends.

Both are read as SLOTS slots of SLOT_S seconds, oldest first; a slot with no reading is
None (a gap in the line), never a guessed zero. A restart starts an empty history.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from kurrent.connection import metrics

WINDOW_S = 15 * 60
SLOT_S = 30
SLOTS = WINDOW_S // SLOT_S
SAMPLE_S = 10.0


@dataclass(frozen=True)
class Series:
    """One environment's last WINDOW_S in SLOTS slots, oldest first."""

    latency_ms: tuple[float | None, ...]  # the slowest probe of the slot
    calls: tuple[int | None, ...]
    errors: tuple[int | None, ...]


class History:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._probes: dict[str, deque[tuple[float, float | None]]] = {}
        self._totals: dict[str, deque[tuple[float, int, int]]] = {}
        self._sampler: threading.Thread | None = None

    def record_probe(self, env: str, latency_ms: float | None, now: float | None = None) -> None:
        """A probe of `env` took `latency_ms` (None: it failed)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            probes = self._probes.setdefault(env, deque())
            probes.append((now, latency_ms))
            while probes and probes[0][0] < now - WINDOW_S - SLOT_S:
                probes.popleft()

    def sample_totals(
        self, now: float | None = None, totals: dict[str, tuple[int, int]] | None = None
    ) -> None:
        """Note every environment's cumulative calls and errors as of now."""
        now = time.monotonic() if now is None else now
        totals = metrics.call_totals() if totals is None else totals
        with self._lock:
            for env, (calls, errors) in totals.items():
                samples = self._totals.setdefault(env, deque())
                samples.append((now, calls, errors))
                # Keep one sample older than the window: the first slot's start.
                while len(samples) > 1 and samples[1][0] < now - WINDOW_S - SLOT_S:
                    samples.popleft()

    def start_sampler(self) -> None:
        """Sample the counters every SAMPLE_S from now on, in a daemon thread (once)."""
        with self._lock:
            if self._sampler is not None and self._sampler.is_alive():
                return
            self._sampler = threading.Thread(
                target=self._sample_forever, name="kurrent-history", daemon=True
            )
            self._sampler.start()

    def _sample_forever(self) -> None:
        while True:
            self.sample_totals()
            time.sleep(SAMPLE_S)

    def series(self, env: str, now: float | None = None) -> Series:
        now = time.monotonic() if now is None else now
        first = now - WINDOW_S
        with self._lock:
            probes = list(self._probes.get(env, ()))
            totals = list(self._totals.get(env, ()))
        slowest: list[float | None] = [None] * SLOTS
        for t, ms in probes:
            slot = int((t - first) // SLOT_S)
            if 0 <= slot < SLOTS and ms is not None:
                slowest[slot] = ms if slowest[slot] is None else max(ms, slowest[slot])
        calls: list[int | None] = []
        errors: list[int | None] = []
        for i in range(SLOTS):
            start = first + i * SLOT_S
            end_at = min(start + SLOT_S, now)
            begin = _at(totals, start)
            if begin is None and totals and totals[0][0] >= start:
                # Sampling began in this slot: count from its first sample.
                begin = _first_within(totals, start, end_at)
            end = _at(totals, end_at)
            if begin is None or end is None:
                calls.append(None)
                errors.append(None)
            else:
                calls.append(end[0] - begin[0])
                errors.append(end[1] - begin[1])
        return Series(tuple(slowest), tuple(calls), tuple(errors))

    def clear(self) -> None:
        with self._lock:
            self._probes.clear()
            self._totals.clear()


def _at(samples: list[tuple[float, int, int]], moment: float) -> tuple[int, int] | None:
    """The counters as of `moment`: the last sample at or before it, if it was taken at
    most SLOT_S before (else nobody sampled then, and the slot is unknown)."""
    found = None
    for t, calls, errors in samples:
        if t > moment:
            break
        found = (t, calls, errors)
    if found is None or moment - found[0] > SLOT_S:
        return None
    return found[1], found[2]


def _first_within(
    samples: list[tuple[float, int, int]], start: float, end: float
) -> tuple[int, int] | None:
    for t, calls, errors in samples:
        if start <= t <= end:
            return calls, errors
    return None


history = History()
