from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from series_asserts import assert_same

from solbot.domain import CandleSeries, Timeframe
from solbot.errors import UserError
from solbot.market.store import CandleStore, StoredSeries
from solbot.market.synth import synth_candles

T0 = 1_704_067_200
H = 3600


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".parquet")]


def test_round_trip_and_layout(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    data = synth_candles(Timeframe.H1, 500, seed=1, start_time=T0)
    path = store.save("jup", data)
    assert path == tmp_path / "JUP" / "1h.parquet"
    assert_same(store.load("JUP", Timeframe.H1), data)
    assert store.coverage("jup", Timeframe.H1) == (T0, T0 + 499 * H, 500)
    assert leftovers(tmp_path) == []


def test_load_with_bounds_and_missing_file(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    data = synth_candles(Timeframe.H1, 100, seed=1, start_time=T0)
    store.save("SOL", data)
    assert_same(store.load("SOL", Timeframe.H1, start=T0 + 10 * H, end=T0 + 20 * H), data[10:20])
    assert_same(store.load("SOL", Timeframe.H1, start=T0 + 10 * H + 1), data[11:])
    assert_same(store.load("SOL", Timeframe.H1, end=T0 + 5 * H), data[:5])
    assert len(store.load("SOL", Timeframe.H1, start=T0 + 50 * H, end=T0)) == 0
    assert len(store.load("SOL", Timeframe.D1)) == 0
    assert store.coverage("SOL", Timeframe.D1) is None


def test_merge_new_rows_win_on_equal_open_time(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    data = synth_candles(Timeframe.H1, 100, seed=1, start_time=T0)
    assert store.merge("BONK", data[20:60]) == 40
    newer = data[50:80]
    changed = CandleSeries(
        Timeframe.H1,
        newer.open_time,
        newer.open * 2,
        newer.high * 2,
        newer.low * 2,
        newer.close * 2,
        newer.volume,
    )
    assert store.merge("BONK", changed) == 20  # 50..59 overlap, 60..79 are new
    assert store.merge("BONK", data[0:10]) == 10
    merged = store.load("BONK", Timeframe.H1)
    assert list(merged.open_time) == list(data.open_time[0:10]) + list(data.open_time[20:80])
    np.testing.assert_array_equal(merged.close[10:40], data.close[20:50])
    np.testing.assert_array_equal(merged.close[40:], data.close[50:80] * 2)
    assert store.merge("BONK", CandleSeries.empty(Timeframe.H1)) == 0
    assert leftovers(tmp_path) == []


def test_failed_write_leaves_old_file_intact_and_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CandleStore(tmp_path)
    data = synth_candles(Timeframe.H1, 200, seed=1, start_time=T0)
    path = store.save("WIF", data[:100])
    before = path.read_bytes()
    real_write = pq.write_table

    def write_half_then_fail(table, where, **kwargs) -> None:
        real_write(table.slice(0, 10), where, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="No space"):
        store.merge("WIF", data[100:])
    with pytest.raises(OSError, match="No space"):
        store.save("WIF", data)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    assert_same(store.load("WIF", Timeframe.H1), data[:100])


def test_list_reports_every_file(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    assert store.list() == ()
    store.save("JUP", synth_candles(Timeframe.H1, 10, seed=1, start_time=T0))
    store.save("JUP", synth_candles(Timeframe.M5, 7, seed=1, start_time=T0))
    store.save("BONK", synth_candles(Timeframe.D1, 3, seed=1, start_time=T0))
    (tmp_path / "notes").mkdir()
    (tmp_path / "JUP" / "readme.txt").write_text("ignored")
    assert store.list() == (
        StoredSeries("BONK", Timeframe.D1, T0, T0 + 2 * 86400, 3),
        StoredSeries("JUP", Timeframe.M5, T0, T0 + 6 * 300, 7),
        StoredSeries("JUP", Timeframe.H1, T0, T0 + 9 * H, 10),
    )


def test_symbols_cannot_escape_the_root(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    with pytest.raises(UserError, match="invalid token symbol"):
        store.path("../etc", Timeframe.H1)


def test_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    path = store.path("JTO", Timeframe.H1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet at all")
    with pytest.raises(UserError, match=r"cannot read candle file .*JTO"):
        store.load("JTO", Timeframe.H1)


def test_a_million_bars_round_trip(tmp_path: Path) -> None:
    """How fast they load is `benchmarks/candle_store.py`'s (a timed test fails on a busy
    machine, not on slow code)."""
    store = CandleStore(tmp_path)
    data = synth_candles(Timeframe.M1, 1_000_000, seed=3, start_time=T0)
    store.save("SOL", data)
    loaded = store.load("SOL", Timeframe.M1)
    assert len(loaded) == 1_000_000
    assert loaded.close[-1] == data.close[-1]


def test_arrow_allocates_from_malloc_unless_the_operator_chose() -> None:
    """A bot rewrites its candle files all day; Arrow's default pool (mimalloc, a 1 GiB reserved
    mapping) kept what those rewrites freed (`benchmarks/soak.py --served`). With solbot
    imported, a Parquet round trip allocates from malloc and no such mapping appears;
    `ARROW_DEFAULT_MEMORY_POOL` set by the operator is left alone."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    chosen = subprocess.run(
        [sys.executable, "-c", _ARROW_PROBE], env=env, capture_output=True, text=True
    )
    assert chosen.stdout.split() == ["system", "0"], chosen.stderr
    env["ARROW_DEFAULT_MEMORY_POOL"] = "mimalloc"
    kept = subprocess.run(
        [sys.executable, "-c", _ARROW_PROBE], env=env, capture_output=True, text=True
    )
    assert kept.stdout.split() == ["mimalloc", "1"], kept.stderr


# The pool, and how many mappings of 1 GiB or more the process has after a Parquet round trip.
_ARROW_PROBE = """
import tempfile
from pathlib import Path
import solbot.market.store
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
path = Path(tempfile.mkdtemp()) / "t.parquet"
pq.write_table(pa.table({"a": np.arange(10**6)}), path)
pq.read_table(path)
spans = [l.split()[0].split("-") for l in open("/proc/self/maps")]
big = sum(1 for a, b in spans if int(b, 16) - int(a, 16) >= 2**30)
print(pa.default_memory_pool().backend_name, big)
"""
