"""Read OHLCV candles from a CSV file, refusing anything a backtest should not be run on.

Every problem is reported as one line `FILE:LINE: problem` (a `UserError`), because the person who
fixes it opens the file at that line. Decisions:

* A header is required; columns are matched case-insensitively and extra columns are ignored.
  The time column is one of `timestamp`, `time`, `open_time`, `date`, holding Unix seconds, Unix
  milliseconds (any value above 10^11, i.e. after 1973 in milliseconds) or ISO-8601 (a time
  without an offset is UTC). A header with two of those names is ambiguous and refused.
* Rows may come in any order: they are sorted by time. A time repeated with identical values is
  a harmless duplicate and dropped; repeated with different values it is a conflict and refused,
  naming both lines.
* Each time must be the open of a candle of the chosen timeframe (e.g. on the hour for 1h).

Exports as people download them are read as they are:

* The separator is sniffed among `,`, `;` and tab.
* Lines before the header that name no column (a banner such as CryptoDataDownload's URL) are
  skipped. CryptoDataDownload's `unix` column is its time (its `date` beside it is the same
  moment, in words); a volume column named `Volume <asset>` counts when there is no plain
  `volume` (the first such: the base asset's).
* Dates may be 12-hour: `2019-10-17 09-AM`, `2019-10-17 09 PM`, `2019-10-17 09:00:00 PM`.
* A file without a header whose rows have Binance's 12 kline fields (open time, open, high,
  low, close, volume, close time, ...) is a Binance kline file; its times are milliseconds, or
  microseconds (Binance's spot files since 2025).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from solbot.domain import CandleSeries, Timeframe
from solbot.errors import UserError

__all__ = ["TIME_COLUMNS", "read_candles_csv"]

TIME_COLUMNS = ("timestamp", "time", "open_time", "date", "unix")
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_MILLISECONDS_ABOVE = 100_000_000_000
_MICROSECONDS_ABOVE = 100_000_000_000_000
_BINANCE_KLINE = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote",
                  "trades", "taker_base", "taker_quote", "ignore")  # fmt: skip
_TWELVE_HOUR = ("%Y-%m-%d %I-%p", "%Y-%m-%d %I %p", "%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %I:%M %p")


class _Reader(Protocol):
    """What we use of `csv.reader`: rows, and the physical line number of the last one."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


def read_candles_csv(path: Path, timeframe: Timeframe) -> CandleSeries:
    """Parse and validate `path`; returns the candles sorted by open time."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            text = handle.read()
            return _parse(
                path, csv.reader(io.StringIO(text), delimiter=_separator(text)), timeframe
            )
        except UnicodeDecodeError:
            raise UserError(f"{path}: not a UTF-8 text file") from None
        except csv.Error as exc:
            raise UserError(f"{path}: malformed CSV: {exc}") from None


def _separator(text: str) -> str:
    """`,`, `;` or tab, whichever the first lines are written with."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _parse(path: Path, reader: _Reader, timeframe: Timeframe) -> CandleSeries:
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    if header is None:
        raise UserError(f"{path}: the file is empty")
    first_line = reader.line_num
    pending: list[str] | None = None  # a Binance file's first row, which is data
    if _is_binance_kline(header):
        header, pending = list(_BINANCE_KLINE), header
    else:
        while not _names_a_column(header):  # a banner before the header
            following = next(reader, None)
            if following is None:
                break
            header = following
        if not _names_a_column(header):
            raise UserError(
                f"{path}:{first_line}: no header; the first line must name the columns, e.g. "
                "timestamp,open,high,low,close,volume"
            )
    header_line = reader.line_num
    index = _columns(path, header_line, header)
    time_col = next(name for name in TIME_COLUMNS if name in index)
    width = len(header)

    rows: list[tuple[int, int, tuple[float, ...]]] = []  # (open_time, line, values)
    records = reader if pending is None else itertools.chain([pending], reader)
    for record in records:
        line = first_line if record is pending else reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != width:
            raise UserError(f"{path}:{line}: expected {width} fields, found {len(record)}")
        open_time = _time(path, line, record[index[time_col]].strip(), time_col)
        if open_time % timeframe.seconds:
            raise UserError(
                f"{path}:{line}: time {_iso(open_time)} is not the start of a {timeframe} candle"
            )
        values = tuple(_number(path, line, name, record[index[name]]) for name in _VALUE_COLUMNS)
        _check_candle(path, line, *values)
        rows.append((open_time, line, values))
    if not rows:
        raise UserError(f"{path}: no candles after the header")
    return _series(path, rows, timeframe)


def _names_a_column(cells: list[str]) -> bool:
    known = set(TIME_COLUMNS) | set(_VALUE_COLUMNS)
    return bool(known.intersection(cell.strip().lower() for cell in cells))


def _is_binance_kline(cells: list[str]) -> bool:
    """Twelve fields, all numbers, the first a time in milliseconds or microseconds."""
    if len(cells) != len(_BINANCE_KLINE):
        return False
    try:
        values = [float(cell) for cell in cells]
    except ValueError:
        return False
    return values[0] > _MILLISECONDS_ABOVE


def _columns(path: Path, line: int, header: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    known = set(TIME_COLUMNS) | set(_VALUE_COLUMNS)
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in index and name in known:
            raise UserError(f"{path}:{line}: column {name!r} appears twice in the header")
        index.setdefault(name, i)
    if "volume" not in index:  # CryptoDataDownload: "Volume BTC", "Volume USDT"
        volume = next((i for i, n in enumerate(names) if n.startswith("volume ")), None)
        if volume is not None:
            index["volume"] = volume
    if "unix" in index and "date" in index:  # CryptoDataDownload: the same moment twice
        del index["date"]
    times = [name for name in TIME_COLUMNS if name in index]
    missing = [name for name in _VALUE_COLUMNS if name not in index]
    if not times:
        raise UserError(f"{path}:{line}: no time column; name one of: {', '.join(TIME_COLUMNS)}")
    if len(times) > 1:
        raise UserError(
            f"{path}:{line}: several time columns ({', '.join(times)}); keep exactly one"
        )
    if missing:
        raise UserError(f"{path}:{line}: missing column(s): {', '.join(missing)}")
    return index


def _time(path: Path, line: int, text: str, column: str) -> int:
    if not text:
        raise UserError(f"{path}:{line}: {column} is empty")
    try:
        number = float(text)
    except ValueError:
        return _iso_time(path, line, text, column)
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise UserError(f"{path}:{line}: {column} {text!r} is not a whole Unix time")
    value = int(number)
    if value > _MICROSECONDS_ABOVE:
        if value % 1_000_000:
            raise UserError(
                f"{path}:{line}: {column} {text!r} (microseconds) is not on a whole second"
            )
        return value // 1_000_000
    if value > _MILLISECONDS_ABOVE:
        if value % 1000:
            raise UserError(
                f"{path}:{line}: {column} {text!r} (milliseconds) is not on a whole second"
            )
        value //= 1000
    return value


def _iso_time(path: Path, line: int, text: str, column: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = _twelve_hour(text)
        if moment is None:
            raise UserError(
                f"{path}:{line}: {column} {text!r} is neither a Unix time nor an ISO-8601 date "
                "(nor a 12-hour one like 2019-10-17 09-PM)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    if seconds != int(seconds):
        raise UserError(f"{path}:{line}: {column} {text!r} is not on a whole second")
    return int(seconds)


def _twelve_hour(text: str) -> datetime | None:
    for layout in _TWELVE_HOUR:
        try:
            return datetime.strptime(text.upper(), layout)
        except ValueError:
            continue
    return None


def _number(path: Path, line: int, name: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise UserError(f"{path}:{line}: {name} is not a number: {text.strip()!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{path}:{line}: {name} is not a finite number: {text.strip()!r}")
    return value


def _check_candle(
    path: Path, line: int, open_: float, high: float, low: float, close: float, volume: float
) -> None:
    for name, value in (("open", open_), ("high", high), ("low", low), ("close", close)):
        if value <= 0:
            raise UserError(f"{path}:{line}: {name} must be positive, got {value:g}")
    if volume < 0:
        raise UserError(f"{path}:{line}: volume must not be negative, got {volume:g}")
    if high < max(open_, close):
        raise UserError(
            f"{path}:{line}: high {high:g} is below max(open, close) = {max(open_, close):g}"
        )
    if low > min(open_, close):
        raise UserError(
            f"{path}:{line}: low {low:g} is above min(open, close) = {min(open_, close):g}"
        )


def _series(
    path: Path, rows: list[tuple[int, int, tuple[float, ...]]], timeframe: Timeframe
) -> CandleSeries:
    rows.sort(key=lambda row: (row[0], row[1]))
    unique: list[tuple[int, int, tuple[float, ...]]] = []
    for row in rows:
        if unique and unique[-1][0] == row[0]:
            if unique[-1][2] != row[2]:
                raise UserError(
                    f"{path}:{row[1]}: time {_iso(row[0])} repeats line {unique[-1][1]} "
                    "with different values"
                )
            continue
        unique.append(row)
    values = np.array([row[2] for row in unique], dtype=np.float64)
    return CandleSeries(
        timeframe,
        np.array([row[0] for row in unique], dtype=np.int64),
        *(np.ascontiguousarray(values[:, i]) for i in range(len(_VALUE_COLUMNS))),
    )


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
