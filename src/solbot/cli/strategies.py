"""`solbot strategies`: the built-in strategies and their parameters."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from solbot.strategy.registry import DEFAULT_STRATEGY, list_strategies


def strategies() -> None:
    """List the built-in strategies, their parameters and defaults.

    Pass parameters to a backtest with `--param NAME=VALUE`, or set them for the bot in
    solbot.toml under `strategy_params`. Your own strategy: `--strategy mypkg.module:MyStrategy`.
    """
    console = Console()
    for info in list_strategies():
        default = " (default)" if info.name == DEFAULT_STRATEGY else ""
        table = Table(title=f"{info.name}{default}: {info.summary}", title_justify="left")
        table.add_column("parameter")
        table.add_column("type")
        table.add_column("default", justify="right")
        table.add_column("meaning")
        for p in info.params:
            table.add_row(
                p.name, p.type, "–" if p.default is None else str(p.default), p.description
            )
        console.print(table)
