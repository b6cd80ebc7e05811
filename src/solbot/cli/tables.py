"""Tables for people, with whole values where they fit.

An address or a signature cut to `Abcd…wxyz` is easy to scan but cannot be copied. So a table
is laid out with whole values first, and shortened only when that does not fit the terminal;
a pipe or a file has no width, so it always gets the whole values (and lines as long as they
need).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table


def short(text: str) -> str:
    """'Abcd…wxyz' for a long address or signature."""
    return text if len(text) <= 12 else f"{text[:4]}…{text[-4:]}"


def print_table(console: Console, build: Callable[[bool], Table]) -> None:
    """Print `build(True)` (whole values) if it fits, else `build(False)` (shortened)."""
    whole = build(True)
    unbounded = console.options.update_width(1_000_000)
    needed = console.measure(whole, options=unbounded).maximum
    if not console.is_terminal:
        console.width = max(console.width, needed)  # print's own width cannot exceed it
        console.print(whole)
    elif needed <= console.width:
        console.print(whole)
    else:
        console.print(build(False))


def print_rows(
    console: Console, columns: Sequence[str], rows: Sequence[Sequence[str]], empty: str
) -> None:
    """A plain table of `rows` under `columns`, or the line `empty` when there are none."""
    if not rows:
        console.print(empty)
        return
    table = Table(show_edge=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
