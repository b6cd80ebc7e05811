"""The sim price process: seeded, on a fixed grid, independent of how it is queried; snapshots
continue the same path; replay follows stored candles."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from solbot.clock import ManualClock
from solbot.domain import Candle, CandleSeries, Timeframe
from solbot.sim.prices import CHUNK_STEPS, ReplayPrices, SimPrices

T0 = 1_767_225_600.0
SYMBOLS = ("SOL", "USDC", "JUP", "BONK")
DAY = 86_400.0


def _times(seed: int, n: int, span: float) -> np.ndarray:
    return T0 + np.random.default_rng(seed).uniform(0.0, span, n)


def test_same_seed_same_prices_however_irregularly_queried() -> None:
    times = _times(1, 400, 20 * DAY)
    # A: in time order, every symbol at every time.
    a = SimPrices(SYMBOLS, 42, T0)
    in_order = {(s, float(t)): a.price(s, float(t)) for t in np.sort(times) for s in SYMBOLS}
    # B: shuffled, far future first, symbols interleaved differently, some times asked twice.
    b = SimPrices(SYMBOLS, 42, T0)
    b.price("BONK", T0 + 25 * DAY)
    shuffled = list(in_order)
    np.random.default_rng(2).shuffle(shuffled)
    for symbol, t in shuffled + shuffled[:50]:
        assert b.price(symbol, t) == in_order[(symbol, t)]
    other = SimPrices(SYMBOLS, 43, T0)
    assert other.price("JUP", T0 + DAY) != a.price("JUP", T0 + DAY)


def test_grid_steps_start_price_and_stablecoin() -> None:
    clock = ManualClock(T0)
    p = SimPrices(SYMBOLS, 5, T0, step_seconds=10.0, clock=clock)
    assert p.price("SOL", T0) == 150.0  # token profile's start price, exactly
    assert p.price("BONK", T0) == pytest.approx(0.00002)
    # Flat within a step, and the step's value is the price at its grid point.
    grid = T0 + 10.0 * 1234
    assert p.price("JUP", grid) == p.price("JUP", grid + 9.999) == p.price("jup", grid + 5.0)
    assert p.price("JUP", grid + 10.0) != p.price("JUP", grid)
    assert p.step_index(grid + 9.999) == 1234
    # USDC never moves; the clock is the default time.
    assert {p.price("USDC", T0 + k * DAY) for k in range(30)} == {1.0}
    clock.advance(777.0)
    assert p.price("SOL") == p.price("SOL", T0 + 777.0)
    with pytest.raises(ValueError, match="starts at"):
        p.price("SOL", T0 - 1.0)
    with pytest.raises(KeyError, match="known"):
        p.price("NOPE", T0)


def test_overrides_and_prices_stay_positive_and_finite() -> None:
    p = SimPrices(["ABC", "SOL"], 9, T0, start_prices={"ABC": 3.0}, volatilities={"SOL": 0.5})
    assert p.price("ABC", T0) == 3.0
    values = np.array([p.price("ABC", T0 + k * 600.0) for k in range(0, 6 * 24 * 60)])
    assert np.all(np.isfinite(values))
    assert np.all(values > 0)
    with pytest.raises(ValueError, match="seed"):
        SimPrices(["SOL"], -1, T0)


def test_regimes_make_volatility_change_and_more_volatile_tokens_move_more() -> None:
    p = SimPrices(["SOL", "WIF", "USDC"], 21, T0)
    steps = np.arange(0, int(90 * DAY / 10.0), 6)  # 90 days, one sample a minute
    sol = np.log([p.price("SOL", T0 + 10.0 * s) for s in steps])
    wif = np.log([p.price("WIF", T0 + 10.0 * s) for s in steps])
    day = 1440
    moves = np.diff(sol)
    sol_daily_vol = moves[: len(moves) // day * day].reshape(-1, day).std(axis=1)
    # Calm and wild spells: daily volatility varies far beyond sampling noise.
    assert sol_daily_vol.max() / sol_daily_vol.min() > 2.0
    # WIF's profile is more volatile than SOL's.
    assert np.diff(wif).std() > np.diff(sol).std()


def test_chunks_are_regenerated_exactly_after_leaving_the_cache() -> None:
    p = SimPrices(["JUP"], 3, T0)
    early = [p.price("JUP", T0 + 10.0 * k) for k in (0, 1, CHUNK_STEPS - 1, CHUNK_STEPS)]
    p.price("JUP", T0 + 10.0 * CHUNK_STEPS * 80)  # pushes the early chunks out of the cache
    assert [p.price("JUP", T0 + 10.0 * k) for k in (0, 1, CHUNK_STEPS - 1, CHUNK_STEPS)] == early


def test_snapshot_restores_and_continues_the_same_path() -> None:
    original = SimPrices(SYMBOLS, 77, T0)
    seen = {s: original.price(s, T0 + 2 * DAY) for s in SYMBOLS}
    snap = json.loads(json.dumps(original.snapshot()))  # survives JSON text
    state = snap["tokens"]["JUP"]
    assert state["generated_steps"] == (len(state["checkpoints"]) - 1) * CHUNK_STEPS
    head = state["checkpoints"][-1]
    assert head["rng"]["bit_generator"] == "PCG64"
    assert len(head["regime"]) == 4

    restored = SimPrices.restore(snap)
    untouched = SimPrices(SYMBOLS, 77, T0)
    times = [T0 + 2 * DAY, T0 + 3.5 * DAY, T0 + 11 * DAY + 123.0, T0 + 5.0]
    for symbol in SYMBOLS:
        assert restored.price(symbol, T0 + 2 * DAY) == seen[symbol]
        for t in times:
            expected = untouched.price(symbol, t)
            assert restored.price(symbol, t) == expected
            assert original.price(symbol, t) == expected
    # A snapshot of the restored process continues from where it now stands.
    again = SimPrices.restore(json.loads(json.dumps(restored.snapshot())))
    assert again.price("BONK", T0 + 30 * DAY) == untouched.price("BONK", T0 + 30 * DAY)


def test_restore_refuses_foreign_snapshots() -> None:
    snap = SimPrices(["SOL"], 1, T0).snapshot()
    with pytest.raises(ValueError, match="not a sim price snapshot"):
        SimPrices.restore({**snap, "version": 99})
    with pytest.raises(ValueError, match="chunks"):
        SimPrices.restore({**snap, "chunk_steps": CHUNK_STEPS + 1})


def _series() -> CandleSeries:
    tf = Timeframe.M5
    start = int(T0)
    bars = [
        Candle(start, 10.0, 12.0, 9.0, 11.0, 1.0, tf),
        Candle(start + 300, 11.0, 11.5, 7.5, 8.0, 1.0, tf),
        # a hole of two bars, then a gap up
        Candle(start + 1200, 9.0, 10.0, 8.5, 9.5, 1.0, tf),
    ]
    return CandleSeries.from_candles(bars, tf)


def test_replay_moves_from_open_toward_close_within_each_bar() -> None:
    clock = ManualClock(T0 + 150.0)
    replay = ReplayPrices({"JUP": _series()}, clock=clock)
    assert replay.price("JUP", T0) == 10.0
    assert replay.price("JUP", T0 + 150.0) == pytest.approx(10.5)
    assert replay.price("JUP") == pytest.approx(10.5)  # the clock's now
    assert replay.price("JUP", T0 + 75.0) == pytest.approx(10.25)
    assert replay.price("JUP", T0 + 299.999) == pytest.approx(11.0, abs=1e-4)
    assert replay.price("JUP", T0 + 300.0) == 11.0  # next bar's open
    assert replay.price("JUP", T0 + 450.0) == pytest.approx(9.5)
    # In the hole the last close holds; the next bar starts at its own open.
    assert replay.price("JUP", T0 + 600.0) == 8.0
    assert replay.price("JUP", T0 + 1199.0) == 8.0
    assert replay.price("JUP", T0 + 1200.0) == 9.0
    # After the data, the last close holds; before it, there is no price.
    assert replay.price("JUP", T0 + 10 * DAY) == 9.5
    with pytest.raises(ValueError, match="start at"):
        replay.price("JUP", T0 - 1.0)
    assert replay.price("USDC", T0) == 1.0
    assert set(replay.symbols()) == {"USDC", "JUP"}
    with pytest.raises(KeyError):
        replay.price("SOL", T0)


def test_replay_of_a_synthetic_series_matches_its_closes_at_bar_ends() -> None:
    from solbot.market.synth import synth_candles

    s = synth_candles(Timeframe.M1, 500, seed=4, start_price=2.0, start_time=int(T0))
    replay = ReplayPrices({"WIF": s})
    for i in (0, 17, 250, 498):
        t0 = float(s.open_time[i])
        assert replay.price("WIF", t0) == float(s.open[i])
        assert math.isclose(replay.price("WIF", t0 + 59.9999), float(s.close[i]), rel_tol=1e-5)
        assert math.isclose(
            replay.price("WIF", t0 + 30.0), (float(s.open[i]) + float(s.close[i])) / 2
        )
