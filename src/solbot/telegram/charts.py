"""Pictures for the chat: a user's equity curve (for `/pnl` and the daily summary), as PNG bytes
drawn with matplotlib's Agg canvas (no display, no pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

BLUE = "#1f77b4"


def equity_png(points: Sequence[tuple[datetime, Decimal]], quote: str, title: str) -> bytes:
    """The curve of `points` (time, value); a note instead of a line when there are none."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots()
    if len(points) >= 2:
        times = [t for t, _ in points]
        values = [float(v) for _, v in points]
        axes.plot(times, values, color=BLUE, linewidth=1.5)
        axes.fill_between(times, values, min(values), color=BLUE, alpha=0.12, linewidth=0)
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        axes.text(0.5, 0.5, "not enough history yet", ha="center", va="center")
        axes.set_xticks([])
    axes.set_ylabel(f"value ({quote})")
    axes.set_title(title, loc="left", fontsize=11)
    axes.grid(alpha=0.3)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
