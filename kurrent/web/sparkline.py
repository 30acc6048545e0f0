"""Small line and bar charts drawn as SVG coordinates on the server (no chart library).

Pure functions: values in, the numbers an <svg> template needs out, with a sentence that
says what the picture shows (its text alternative). A None value is a gap, not a zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 120
HEIGHT = 28
PAD = 2  # keeps the stroke inside the box


@dataclass(frozen=True)
class Line:
    """A polyline per unbroken run of values, and lone points as dots."""

    segments: tuple[str, ...]  # "x,y x,y ..." for <polyline points>
    dots: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # for its <title>


def scale_top(*series: Sequence[float | None]) -> float:
    """The value drawn at the top: the largest of all the series (at least 1)."""
    values = [v for s in series for v in s if v is not None]
    return max([1.0, *values])


def line(
    values: Sequence[float | None], top: float, width: int = WIDTH, height: int = HEIGHT
) -> Line:
    """Coordinates of `values` spread over `width`, 0 at the bottom and `top` at the top."""
    count = len(values)
    step = (width - 2 * PAD) / max(1, count - 1)
    runs: list[list[tuple[float, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        x = PAD + i * step
        y = height - PAD - (min(value, top) / top) * (height - 2 * PAD)
        runs[-1].append((round(x, 1), round(y, 1)))
    segments = tuple(" ".join(f"{x},{y}" for x, y in run) for run in runs if len(run) > 1)
    dots = tuple(run[0] for run in runs if len(run) == 1)
    return Line(segments, dots)


def bars(
    values: Sequence[int],
    labels: Sequence[str],
    width: int = WIDTH * 3,
    height: int = HEIGHT * 2,
) -> tuple[Bar, ...]:
    """One bar per value, side by side, the tallest reaching the top."""
    top = scale_top(values)
    slot = (width - 2 * PAD) / max(1, len(values))
    drawn = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        tall = (value / top) * (height - 2 * PAD)
        drawn.append(
            Bar(
                x=round(PAD + i * slot, 1),
                y=round(height - PAD - tall, 1),
                width=round(max(1.0, slot - 1), 1),
                height=round(tall, 1),
                label=label,
            )
        )
    return tuple(drawn)


def summary(
    what: str,
    values: Sequence[float | None],
    show: Callable[[float], str],
    *,
    window: str = "the last 15 minutes",
) -> str:
    """A sentence for a line of readings: latest, lowest, highest, how many measured."""
    known = [v for v in values if v is not None]
    if not known:
        return f"{what}, {window}: no readings yet."
    return (
        f"{what}, {window}: latest {show(known[-1])}, lowest {show(min(known))}, "
        f"highest {show(max(known))} ({len(known)} of {len(values)} half-minutes measured)."
    )


def count_summary(
    what: str, values: Sequence[int | None], *, window: str | None = "the last 15 minutes"
) -> str:
    """A sentence for counts per slot: the sum and the busiest slot (`window` None: the
    sentence follows one that named it)."""
    said = f"{what}, {window}" if window else what
    known = [v for v in values if v is not None]
    if not known:
        return f"{said}: not counted yet."
    return f"{said}: {sum(known)} in all, at most {max(known)} in a half-minute."
