"""The HTML page of a parameter search (`solbot optimize`): the out-of-sample score over two
parameters as a heatmap, the best sets, the windows and the overfitting verdict.

A heatmap cell is the best score among the sets with that pair of values (the other parameters
vary inside it), so a lone bright cell in a dark field reads as what it usually is: luck, where
a broad bright region is a setting that holds.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

from solbot.backtest.optimize import Search
from solbot.backtest.plotly_asset import plotly_script
from solbot.backtest.report import Tabular
from solbot.backtest.report_charts import PAGE_CSS, html_table
from solbot.private_files import write_private

TOP_ROWS = 25


def heatmap_grid(
    found: Search, x: str, y: str
) -> tuple[list[Any], list[Any], list[list[float | None]]]:
    """The values of `x` and `y` that were run, and the best score of each pair (None: none)."""
    xs = sorted({c.params[x] for c in found.candidates})
    ys = sorted({c.params[y] for c in found.candidates})
    best: dict[tuple[Any, Any], float] = {}
    for c in found.candidates:
        key = (c.params[x], c.params[y])
        best[key] = max(best.get(key, -math.inf), c.score)
    return xs, ys, [[best.get((vx, vy)) for vx in xs] for vy in ys]


def write_optimize_html(
    found: Search, strategy: str, space: dict[str, list[Any]], path: Path, snippet: str
) -> None:
    """One file that opens offline (plotly's JavaScript the shared file beside it,
    `plotly_asset`), written 0600."""
    import plotly.graph_objects as go

    names = list(space)
    parts = [f"<h1>{escape(f'solbot optimize: {strategy}')}</h1>"]
    parts.append(f"<p>{escape(_verdict(found))}</p>")
    if len(names) >= 2:
        x, y = names[0], names[1]
        xs, ys, z = heatmap_grid(found, x, y)
        figure = go.Figure(
            go.Heatmap(
                x=[str(v) for v in xs],
                y=[str(v) for v in ys],
                z=z,
                colorscale="RdYlGn",
                zmid=0.0,
                colorbar={"title": "test Sharpe"},
                hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>test Sharpe %{{z:.2f}}<extra></extra>",
            )
        )
        figure.update_layout(
            title=f"Out-of-sample Sharpe by {x} and {y} (best over the other parameters)",
            xaxis_title=x,
            yaxis_title=y,
            height=520,
        )
        chart = figure.to_html(
            full_html=False, include_plotlyjs=False, config={"displaylogo": False}
        )
        parts += ["<h2>Heatmap</h2>", chart]
    parts.append(html_table(_top(found, names)))
    parts.append("<h2>The best out of sample, for solbot.toml</h2>")
    parts.append(f"<pre>{escape(snippet)}</pre>")
    script = plotly_script(path.parent)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(strategy)} parameter search</title>\n<style>{PAGE_CSS}</style>\n"
        f"{script}\n</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )
    write_private(path, page, durable=False)


def _verdict(found: Search) -> str:
    windows = f"{len(found.candidates)} parameter sets on {len(found.windows)} walk-forward windows"
    if found.pbo is None:
        return f"{windows}; too few to estimate the probability of backtest overfitting."
    return f"{windows}; probability of backtest overfitting {found.pbo:.0%}."


def _top(found: Search, names: list[str]) -> Tabular:
    rows = []
    for c in found.candidates[:TOP_ROWS]:
        rows.append(
            [(f"{c.params[n]:g}", 0) for n in names]
            + [
                (f"{c.score:+.2f}", (c.score > 0) - (c.score < 0)),
                (f"{c.test_return_pct.mean():+.2f}", 0),
                (f"{c.train_sharpe.mean():+.2f}", 0),
                (str(c.test_trades), 0),
            ]
        )
    headers = (*names, "test Sharpe", "test return %", "train Sharpe", "test trades")
    return Tabular("Best out of sample", headers, rows)
