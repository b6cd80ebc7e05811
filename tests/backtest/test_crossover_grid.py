"""The fused EMA-crossover sweep equals, column by column, a backtest built from the strategy
library's indicators and `simulate`: same EMAs bit for bit, same trades, same final equity."""

from __future__ import annotations

import numpy as np
import pytest

from solbot.backtest.crossover_grid import _emas, column, ema_crossover_grid
from solbot.backtest.metrics import compute_metrics
from solbot.backtest.result import BacktestConfig
from solbot.domain import CandleSeries, ExitRules, RiskLimits
from solbot.strategy import indicators as ind
from strategy.synthetic import random_series


def _config(fill: str = "close", **exits: float) -> BacktestConfig:
    return BacktestConfig(
        fee_bps=30.0,
        slippage_bps=5.0,
        price_impact=False,
        fill=fill,  # type: ignore[arg-type]
        risk=RiskLimits(
            position_size_pct=100.0,
            max_position_pct=100.0,
            max_open_positions=1,
            max_daily_loss_pct=100.0,
            max_drawdown_pct=100.0,
            cooldown_losses=0,
        ),
        exits=ExitRules(**exits),
    )


def _tokens() -> dict[str, CandleSeries]:
    """Three tokens of different lengths (a young token has fewer candles)."""
    return {
        "A": random_series(1500, seed=1),
        "B": random_series(1100, seed=2, start=3.0),
        "C": random_series(40, seed=3),  # shorter than the slow EMA: never trades
    }


def test_each_distinct_period_s_ema_is_ta_lib_s_bit_for_bit() -> None:
    tokens = _tokens()
    periods = np.array([2, 9, 26, 77], dtype=np.int64)
    n = max(len(c) for c in tokens.values())
    close = np.full((len(tokens), n, 1), np.nan)
    lengths = np.array([len(c) for c in tokens.values()], dtype=np.int64)
    for k, candles in enumerate(tokens.values()):
        close[k, : len(candles), 0] = candles.close
    emas = _emas(close, lengths, periods)
    for k, candles in enumerate(tokens.values()):
        for p, period in enumerate(periods):
            expected = ind.ema(candles.close, int(period))
            got = emas[p, k, : len(candles)]
            np.testing.assert_array_equal(got, expected)  # NaN where TA-Lib has NaN, too
            assert np.isnan(emas[p, k, len(candles) :]).all()


def test_an_ema_after_a_gap_is_blank_as_the_indicator_library_s() -> None:
    close = np.array([np.nan, 1.0, 2.0, 3.0, 4.0, np.nan, 6.0, 7.0])
    emas = _emas(close.reshape(1, -1, 1), np.array([8]), np.array([2]))
    np.testing.assert_array_equal(emas[0, 0], ind.ema(close, 2))


@pytest.mark.parametrize(
    ("fill", "exits"),
    [
        ("close", {"stop_loss_pct": 5.0}),
        ("next_open", {"stop_loss_pct": 3.0, "take_profit_pct": 8.0, "trailing_stop_pct": 4.0}),
    ],
)
def test_every_column_is_the_backtest_of_that_set_on_that_token_alone(
    fill: str, exits: dict[str, float]
) -> None:
    tokens = _tokens()
    fast = [3, 5, 8, 12, 12, 20]
    slow = [10, 21, 34, 26, 50, 60]
    config = _config(fill, **exits)
    sweep = ema_crossover_grid(tokens, fast, slow, config)
    assert sweep.final_equity.shape == (len(fast), len(tokens))
    assert sweep.trades[:, :2].min() >= 3  # the columns trade: the comparison means something
    assert (sweep.trades[:, 2] == 0).all()
    assert (sweep.final_equity[:, 2] == config.initial_cash).all()
    for i, (f, s) in enumerate(zip(fast, slow, strict=True)):
        for k, candles in enumerate(tokens.values()):
            reference = column(candles, f, s, config)
            assert sweep.final_equity[i, k] == reference.final_equity
            assert sweep.trades[i, k] == len(reference.trades)
            assert sweep.wins[i, k] == int((reference.trades.pnl > 0).sum())
            assert sweep.max_drawdown_pct[i, k] == pytest.approx(
                compute_metrics(reference).max_drawdown_pct, rel=1e-12, abs=1e-12
            )
    reference = compute_metrics(column(tokens["A"], fast[0], slow[0], config))
    assert sweep.return_pct[0, 0] == pytest.approx(reference.total_return_pct, rel=1e-12)


@pytest.mark.parametrize(
    ("fast", "slow", "says"),
    [
        ([], [], "non-empty"),
        ([5, 6], [10], "equally long"),
        ([1], [10], "at least 2"),
        ([10], [10], "below its slow"),
    ],
)
def test_bad_sets_are_refused(fast: list[int], slow: list[int], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        ema_crossover_grid(_tokens(), fast, slow, _config())
