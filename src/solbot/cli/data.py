"""`solbot data ...`: import, download and generate historical candles."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Historical candles: import a CSV, download, or generate offline.", no_args_is_help=True
)
