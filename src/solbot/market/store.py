"""Historical candles on disk: one Parquet file per token and timeframe.

Why Parquet and not the database: history is read in bulk, whole columns at a time, by backtests
and warm-ups. Parquet is columnar, typed and compressed, so a million 1m bars (two years) load
into numpy in a few tens of milliseconds from a file of about 45 MB; the database is for live,
transactional state (users, orders, positions), where row-by-row writes and constraints matter.
Snappy rather than zstd: price mantissas barely compress, and snappy decodes about three times
faster.

The layout `root/SYMBOL/TIMEFRAME.parquet` keeps files obvious and easy to delete or copy by hand.

Writes are atomic and private (`private_files.replacing`): the new content goes to a temporary
file (0600) in the same directory and replaces the old file with `os.replace`, so a crash or a
full disk leaves either the old file or the new one, never half of one.

Arrow allocates from the C library's malloc here, not from its default pool (mimalloc, in its
own 1 GiB reserved region), unless `ARROW_DEFAULT_MEMORY_POOL` says otherwise (set in
`solbot/__init__.py`, before pyarrow is imported: Arrow reads it once): a running bot
re-reads and rewrites its candle files every few minutes, and mimalloc kept what those bursts
freed. Measured with `benchmarks/soak.py --served 600` (the bot alone, a simulated week):
+5.5 % RSS by the fourth day with mimalloc, +1.7 % with malloc, the bot's Python objects flat
in both; loading a million bars is as fast either way (`benchmarks/candle_store.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from solbot.domain import CandleSeries, Timeframe
from solbot.errors import UserError
from solbot.private_files import replacing

__all__ = ["CandleStore", "StoredSeries"]

_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
_SCHEMA = pa.schema(
    [
        pa.field("open_time", pa.int64(), nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
    ]
)
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,31}$")


@dataclass(frozen=True, slots=True)
class StoredSeries:
    """What one file holds: first and last open times (Unix seconds) and the number of bars."""

    symbol: str
    timeframe: Timeframe
    first: int
    last: int
    count: int


class CandleStore:
    """Candle files under `root`; symbols are case-insensitive and stored upper-case."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    def path(self, symbol: str, timeframe: Timeframe) -> Path:
        return self._root / _symbol(symbol) / f"{timeframe.value}.parquet"

    def load(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: int | None = None,
        end: int | None = None,
    ) -> CandleSeries:
        """Candles with `start <= open_time < end` (either bound optional); empty if none stored."""
        path = self.path(symbol, timeframe)
        if not path.exists():
            return CandleSeries.empty(timeframe)
        table = self._read(path, _COLUMNS)
        times = _column(table, "open_time", np.int64)
        lo = 0 if start is None else int(np.searchsorted(times, start, side="left"))
        hi = len(times) if end is None else int(np.searchsorted(times, end, side="left"))
        hi = max(lo, hi)
        try:
            return CandleSeries(
                timeframe,
                times[lo:hi],
                *(_column(table, name, np.float64)[lo:hi] for name in _COLUMNS[1:]),
            )
        except ValueError as exc:
            raise UserError(f"candle file {path} is damaged: {exc}") from None

    def save(self, symbol: str, series: CandleSeries) -> Path:
        """Replace whatever is stored for the token and timeframe with `series`."""
        path = self.path(symbol, series.timeframe)
        self._write(path, series)
        return path

    def merge(self, symbol: str, series: CandleSeries) -> int:
        """Merge `series` into the stored rows (new rows win on equal open time).

        Returns the number of open times that were not stored before.
        """
        if len(series) == 0:
            return 0
        path = self.path(symbol, series.timeframe)
        old = self.load(symbol, series.timeframe)
        if len(old) == 0:
            self._write(path, series)
            return len(series)
        keep = ~np.isin(old.open_time, series.open_time, assume_unique=True)
        added = len(series) - (len(old) - int(keep.sum()))
        times = np.concatenate((old.open_time[keep], series.open_time))
        order = np.argsort(times, kind="stable")
        merged = CandleSeries(
            series.timeframe,
            times[order],
            *(
                np.concatenate((getattr(old, name)[keep], getattr(series, name)))[order]
                for name in _COLUMNS[1:]
            ),
        )
        self._write(path, merged)
        return added

    def coverage(self, symbol: str, timeframe: Timeframe) -> tuple[int, int, int] | None:
        """(first open time, last open time, bar count), or None when nothing is stored."""
        path = self.path(symbol, timeframe)
        if not path.exists():
            return None
        times = _column(self._read(path, ("open_time",)), "open_time", np.int64)
        if len(times) == 0:
            return None
        return int(times[0]), int(times[-1]), len(times)

    def list(self) -> tuple[StoredSeries, ...]:
        """Every stored token and timeframe, sorted by symbol then timeframe width."""
        if not self._root.is_dir():
            return ()
        found: list[StoredSeries] = []
        for directory in sorted(p for p in self._root.iterdir() if p.is_dir()):
            if not _SYMBOL.match(directory.name):
                continue
            for timeframe in sorted(Timeframe, key=lambda t: t.seconds):
                cover = self.coverage(directory.name, timeframe)
                if cover is not None:
                    found.append(StoredSeries(directory.name, timeframe, *cover))
        return tuple(found)

    def _read(self, path: Path, columns: tuple[str, ...]) -> pa.Table:
        try:
            table = pq.read_table(path, columns=list(columns))
        except (OSError, pa.ArrowException) as exc:
            raise UserError(f"cannot read candle file {path}: {exc}") from None
        for name in columns:
            expected = _SCHEMA.field(name).type
            if table.schema.field(name).type != expected:
                raise UserError(f"candle file {path}: column {name} is not {expected}")
        return table

    def _write(self, path: Path, series: CandleSeries) -> None:
        table = pa.Table.from_arrays(
            [pa.array(getattr(series, name)) for name in _COLUMNS], schema=_SCHEMA
        )
        with replacing(path) as handle:
            pq.write_table(table, handle, compression="snappy")


def _symbol(symbol: str) -> str:
    """Upper-case and check the symbol: it becomes a directory name, so no path tricks."""
    key = symbol.strip().upper()
    if not _SYMBOL.match(key):
        raise UserError(f"invalid token symbol {symbol!r}: use letters, digits, '_', '.' or '-'")
    return key


def _column(table: pa.Table, name: str, dtype: type[np.generic]) -> np.ndarray:
    return np.ascontiguousarray(table.column(name).to_numpy(), dtype=dtype)
