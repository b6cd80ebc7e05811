from __future__ import annotations

from pathlib import Path

import pytest

from solbot.domain import Timeframe
from solbot.errors import UserError
from solbot.market.csv_import import read_candles_csv

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
H = 3600


def write(tmp_path: Path, text: str, name: str = "candles.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = f"""timestamp,open,high,low,close,volume
{T0},10,11,9,10.5,100
{T0 + H},10.5,12,10,11,200
{T0 + 2 * H},11,11.5,10.5,11.2,0
"""


def test_good_file(tmp_path: Path) -> None:
    s = read_candles_csv(write(tmp_path, GOOD), Timeframe.H1)
    assert list(s.open_time) == [T0, T0 + H, T0 + 2 * H]
    assert list(s.close) == [10.5, 11.0, 11.2]
    assert list(s.volume) == [100, 200, 0]


@pytest.mark.parametrize(
    ("header", "times"),
    [
        ("Time,Open,High,Low,Close,Volume", [str(T0 * 1000), str((T0 + H) * 1000)]),
        ("DATE,OPEN,HIGH,LOW,CLOSE,VOLUME", ["2024-01-01", "2024-01-01T01:00:00Z"]),
        ("open_time,volume,close,low,high,open", ["2024-01-01 00:00:00", "2024-01-01T02:00+01:00"]),
    ],
)
def test_time_formats_and_column_order(tmp_path: Path, header: str, times: list[str]) -> None:
    cols = [c.strip().lower() for c in header.split(",")]
    values = {"open": "1", "high": "2", "low": "0.5", "close": "1.5", "volume": "3"}
    lines = [header]
    for t in times:
        lines.append(",".join(t if c in ("time", "date", "open_time") else values[c] for c in cols))
    s = read_candles_csv(write(tmp_path, "\n".join(lines) + "\n"), Timeframe.H1)
    assert list(s.open_time) == [T0, T0 + H]
    assert list(s.high) == [2.0, 2.0]


def test_unsorted_rows_are_sorted_and_exact_duplicates_dropped(tmp_path: Path) -> None:
    text = f"""timestamp,open,high,low,close,volume,extra
{T0 + 2 * H},3,3,3,3,1,x
{T0},1,1,1,1,1,y

{T0 + H},2,2,2,2,1,z
{T0},1,1,1,1,1,y
"""
    s = read_candles_csv(write(tmp_path, text), Timeframe.H1)
    assert list(s.open_time) == [T0, T0 + H, T0 + 2 * H]
    assert list(s.open) == [1.0, 2.0, 3.0]


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert len(read_candles_csv(path, Timeframe.H1)) == 3


HEADER = "timestamp,open,high,low,close,volume\n"


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        (f"{T0},10,abc,9,10,1\n", 2, "high is not a number: 'abc'"),
        (f"{T0},10,11,9,10,1\n{T0 + H},10,nan,9,10,1\n", 3, "high is not a finite number"),
        (f"{T0},10,9.5,9,10,1\n", 2, "high 9.5 is below max(open, close) = 10"),
        (f"{T0},10,11,10.5,10.2,1\n", 2, "low 10.5 is above min(open, close) = 10"),
        (f"{T0},10,11,9,10,-1\n", 2, "volume must not be negative"),
        (f"{T0},-10,11,9,10,1\n", 2, "open must be positive"),
        (f"{T0},0,11,9,10,1\n", 2, "open must be positive"),
        (f"{T0 + 60},10,11,9,10,1\n", 2, "is not the start of a 1h candle"),
        (f"{T0},10,11,9,10,1\n{T0},10,11,9,10.5,1\n", 3, "repeats line 2 with different values"),
        (f"{T0},10,11,9,10\n", 2, "expected 6 fields, found 5"),
        ("yesterday,10,11,9,10,1\n", 2, "neither a Unix time nor an ISO-8601 date"),
        (f"{T0}.5,10,11,9,10,1\n", 2, "is not a whole Unix time"),
        (f"{T0 * 1000 + 1},10,11,9,10,1\n", 2, "(milliseconds) is not on a whole second"),
        (",10,11,9,10,1\n", 2, "timestamp is empty"),
    ],
)
def test_each_bad_row_names_file_line_and_problem(
    tmp_path: Path, body: str, line: int, problem: str
) -> None:
    path = write(tmp_path, HEADER + body)
    with pytest.raises(UserError) as err:
        read_candles_csv(path, Timeframe.H1)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ")
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the file is empty"),
        (f"{T0},10,11,9,10,1\n", "1: no header"),
        ("timestamp,open,high,low,close\n", "1: missing column(s): volume"),
        ("open,high,low,close,volume\n", "1: no time column"),
        ("date,time,open,high,low,close,volume\n", "1: several time columns (time, date)"),
        ("time,open,open,high,low,close,volume\n", "1: column 'open' appears twice"),
        (HEADER, "no candles after the header"),
    ],
)
def test_file_level_problems(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as err:
        read_candles_csv(path, Timeframe.H1)
    assert str(err.value).startswith(str(path))
    assert problem in str(err.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cannot read .*nope\.csv"):
        read_candles_csv(tmp_path / "nope.csv", Timeframe.H1)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(UserError, match="not a UTF-8 text file"):
        read_candles_csv(binary, Timeframe.H1)


# Exports as downloaded (issue 13 §4): a banner line, other separators, 12-hour dates, newest
# first, CryptoDataDownload's and Binance's layouts.

CDD = f"""https://www.CryptoDataDownload.com
unix,date,symbol,open,high,low,close,Volume SOL,Volume USDT,tradecount
{(T0 + H) * 1000},2024-01-01 01:00:00,SOLUSDT,10.5,12,10,11,200,2100,40
{T0 * 1000},2024-01-01 00:00:00,SOLUSDT,10,11,9,10.5,100,1000,30
"""


def test_a_cryptodatadownload_file_with_its_banner_newest_first(tmp_path: Path) -> None:
    s = read_candles_csv(write(tmp_path, CDD), Timeframe.H1)
    assert list(s.open_time) == [T0, T0 + H]
    assert list(s.volume) == [100.0, 200.0]  # the base asset's volume


@pytest.mark.parametrize("separator", [";", "\t"])
def test_semicolons_and_tabs_are_sniffed(tmp_path: Path, separator: str) -> None:
    s = read_candles_csv(write(tmp_path, GOOD.replace(",", separator)), Timeframe.H1)
    assert list(s.close) == [10.5, 11.0, 11.2]


def test_twelve_hour_dates(tmp_path: Path) -> None:
    text = """date,open,high,low,close,volume
2024-01-01 12-PM,1,2,0.5,1.5,3
2024-01-01 11-AM,1,2,0.5,1.5,3
2024-01-01 12-AM,1,2,0.5,1.5,3
"""
    s = read_candles_csv(write(tmp_path, text), Timeframe.H1)
    assert list(s.open_time) == [T0, T0 + 11 * H, T0 + 12 * H]


@pytest.mark.parametrize("unit", [1000, 1_000_000])  # Binance spot: microseconds since 2025
def test_a_binance_kline_file_has_no_header(tmp_path: Path, unit: int) -> None:
    rows = [
        f"{t * unit},{o},{h},{lo},{c},{v},{(t + H) * unit - 1},1,2,3,4,0"
        for t, o, h, lo, c, v in ((T0, 10, 11, 9, 10.5, 100), (T0 + H, 10.5, 12, 10, 11, 200))
    ]
    s = read_candles_csv(write(tmp_path, "\n".join(rows) + "\n"), Timeframe.H1)
    assert list(s.open_time) == [T0, T0 + H]
    assert list(s.close) == [10.5, 11.0]


def test_a_banner_without_a_header_after_it_says_what_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "Downloaded from somewhere\nfoo,bar\n1,2\n")
    with pytest.raises(UserError, match=r":1: no header.*timestamp,open,high,low,close,volume"):
        read_candles_csv(path, Timeframe.H1)
