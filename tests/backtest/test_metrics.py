"""Metrics checked against figures worked out by hand (plain Python arithmetic, no numpy)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from report_fixtures import START, TradeSpec, make_result, three_trades

from solbot.backtest.metrics import compute_metrics, drawdown_pct, equity_path
from solbot.domain import ExitReason, Timeframe

DAY = 86_400


def _hand_sharpe_sortino(returns: list[float], bar_seconds: int) -> tuple[float, float]:
    n = len(returns)
    mean = sum(returns) / n
    sample_var = sum((r - mean) ** 2 for r in returns) / (n - 1)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
    per_year = math.sqrt(365.25 * 86_400 / bar_seconds)
    return mean / math.sqrt(sample_var) * per_year, mean / downside * per_year


@pytest.mark.parametrize("timeframe", [Timeframe.D1, Timeframe.H1])
def test_four_bar_curve_by_hand(timeframe: Timeframe) -> None:
    m = compute_metrics(make_result([100, 110, 99, 121], timeframe=timeframe))
    width = timeframe.seconds

    assert m.total_return_pct == pytest.approx(21.0)
    # The peak is 110 at the close of bar 1, the trough 99 at the close of bar 2.
    assert m.max_drawdown_pct == pytest.approx(10.0)
    assert m.max_drawdown_peak_time == START + 2 * width
    assert m.max_drawdown_trough_time == START + 3 * width
    # Returns per bar, the first from the initial cash 100 to the first close 100.
    sharpe, sortino = _hand_sharpe_sortino([0.0, 0.1, -0.1, 121 / 99 - 1], width)
    assert m.sharpe == pytest.approx(sharpe)
    assert m.sortino == pytest.approx(sortino)
    years = 4 * width / (365.25 * 86_400)
    assert m.cagr_pct == pytest.approx(100 * (1.21 ** (1 / years) - 1))
    assert m.calmar == pytest.approx(m.cagr_pct / 10.0)
    assert (m.start_time, m.end_time, m.bars) == (START, START + 4 * width, 4)


def test_cagr_over_two_calendar_years() -> None:
    hours = int(2 * 365.25 * 24)  # 17,532 one-hour bars: exactly two 365.25-day years
    equity = np.linspace(100.0, 400.0, hours)
    m = compute_metrics(make_result(equity, timeframe=Timeframe.H1))
    assert m.cagr_pct == pytest.approx(100.0)  # x4 in two years is x2 a year
    assert m.total_return_pct == pytest.approx(300.0)


def test_deepest_drawdown_wins_and_peak_is_last_time_at_peak() -> None:
    # 120 → 90 is -25 %; 130 → 91 is -30 % and is the one reported.
    m = compute_metrics(make_result([120, 90, 130, 130, 91, 100]))
    assert m.max_drawdown_pct == pytest.approx(30.0)
    assert m.max_drawdown_peak_time == START + 4 * DAY  # the second 130 (close of bar 3)
    assert m.max_drawdown_trough_time == START + 5 * DAY


def test_loss_on_first_bar_is_a_drawdown_from_the_initial_cash() -> None:
    m = compute_metrics(make_result([95.0]))
    assert m.max_drawdown_pct == pytest.approx(5.0)
    assert m.max_drawdown_peak_time == START  # the initial cash, seen at the first open
    assert m.max_drawdown_trough_time == START + DAY
    assert m.sharpe is None  # one return has no sample deviation
    assert m.sortino == pytest.approx(-0.05 / 0.05 * math.sqrt(365.25))


def test_drawdown_series_is_percent_below_running_peak() -> None:
    result = make_result([110, 99, 121])
    times, values = equity_path(result)
    assert values.tolist() == [100, 110, 99, 121]
    assert times.tolist() == [START, START + DAY, START + 2 * DAY, START + 3 * DAY]
    assert drawdown_pct(values) == pytest.approx([0.0, 0.0, -10.0, 0.0])


def test_trade_figures_on_three_trades() -> None:
    result = make_result(
        [1000.0, 1040.0],
        initial_cash=1000.0,
        tokens=("SOL", "JUP"),
        trades=three_trades(),
        exposure=[True, False],
        blocked={"daily loss": 2, "cooldown": 1},
    )
    m = compute_metrics(result)

    assert m.trades == 3
    assert m.win_rate_pct == pytest.approx(200 / 3)
    assert (m.gross_profit, m.gross_loss) == (50.0, 10.0)
    assert m.profit_factor == pytest.approx(5.0)
    assert m.expectancy == pytest.approx(40 / 3)
    assert m.expectancy_pct == pytest.approx((10.0 - 5.0 + 5.0) / 3)  # 30/300, -10/200, 20/400
    assert m.avg_holding_seconds == pytest.approx((3600 + 7200 + 12_000) / 3)
    assert m.total_fees == pytest.approx(6.0)
    assert m.exposure_pct == pytest.approx(50.0)
    assert m.best_trade is not None
    assert m.worst_trade is not None
    assert (m.best_trade.token, m.best_trade.return_pct, m.best_trade.pnl) == ("SOL", 10.0, 30.0)
    assert (m.worst_trade.token, m.worst_trade.return_pct) == ("JUP", -5.0)
    assert m.exit_reasons == {
        "stop loss": 1,
        "take profit": 1,
        "trailing stop": 0,
        "signal": 1,
        "max hold": 0,
        "end of data": 0,
    }
    assert m.blocked == {
        "daily loss": 2,
        "drawdown": 0,
        "cooldown": 1,
        "max open positions": 0,
        "insufficient cash": 0,
        "paused": 0,
    }


def test_per_token_split() -> None:
    m = compute_metrics(
        make_result(
            [1000.0, 1040.0],
            initial_cash=1000.0,
            tokens=("SOL", "JUP", "BONK"),
            trades=three_trades(),
        )
    )
    sol, jup, bonk = m.per_token
    assert (sol.token, sol.trades, sol.win_rate_pct, sol.pnl) == ("SOL", 2, 100.0, 50.0)
    assert sol.contribution_pct == pytest.approx(5.0)
    assert sol.avg_return_pct == pytest.approx(7.5)
    assert (jup.token, jup.trades, jup.win_rate_pct, jup.pnl) == ("JUP", 1, 0.0, -10.0)
    assert jup.contribution_pct == pytest.approx(-1.0)
    assert jup.avg_return_pct == pytest.approx(-5.0)
    assert (bonk.trades, bonk.win_rate_pct, bonk.pnl, bonk.avg_return_pct) == (0, None, 0.0, None)
    # Every position closed: the contributions add up to the total return.
    assert sum(t.contribution_pct for t in m.per_token) == pytest.approx(m.total_return_pct)


def test_trades_split_by_their_entry_hour() -> None:
    m = compute_metrics(
        make_result(
            [1000.0, 1040.0], initial_cash=1000.0, tokens=("SOL", "JUP"), trades=three_trades()
        )
    )
    first = (START // 3600) % 24  # the trades enter 1, 2 and 5 hours after START
    hours = [(h.hour, h.trades, h.pnl, h.win_rate_pct) for h in m.per_entry_hour]
    assert hours == [
        ((first + 1) % 24, 1, 30.0, 100.0),
        ((first + 2) % 24, 1, -10.0, 0.0),
        ((first + 5) % 24, 1, 20.0, 100.0),
    ]
    assert m.to_dict()["per_entry_hour"][0]["hour"] == (first + 1) % 24


def test_no_trades() -> None:
    m = compute_metrics(make_result([100.0, 100.0, 100.0]))
    assert m.trades == 0
    assert m.win_rate_pct is None
    assert m.profit_factor is None
    assert m.expectancy is None
    assert m.expectancy_pct is None
    assert m.avg_holding_seconds is None
    assert m.best_trade is None
    assert m.worst_trade is None
    assert m.total_fees == 0.0
    assert set(m.exit_reasons.values()) == {0}
    assert m.exposure_pct == 0.0


def test_flat_equity_has_no_ratios() -> None:
    m = compute_metrics(make_result([100.0] * 5))
    assert m.total_return_pct == 0.0
    assert m.cagr_pct == 0.0
    assert m.max_drawdown_pct == 0.0
    assert m.max_drawdown_peak_time is None
    assert m.max_drawdown_trough_time is None
    assert m.sharpe is None
    assert m.sortino is None
    assert m.calmar is None
    assert m.to_dict()["sharpe"] is None


def test_rising_equity_has_no_downside() -> None:
    m = compute_metrics(make_result([101.0, 102.0, 104.0]))
    assert m.sharpe is not None
    assert m.sharpe > 0
    assert m.sortino is None  # no losing bar: downside deviation 0
    assert m.calmar is None  # no drawdown


def test_zero_bars() -> None:
    m = compute_metrics(make_result([]))
    assert m.bars == 0
    assert m.start_time is None
    assert m.end_time is None
    assert m.total_return_pct == 0.0
    assert m.final_equity == 100.0
    assert m.cagr_pct is None
    assert m.sharpe is None
    assert m.sortino is None
    assert m.exposure_pct is None
    assert json.loads(json.dumps(m.to_dict(), allow_nan=False))["bars"] == 0


def test_profit_factor_is_infinite_without_losses_and_null_in_json() -> None:
    trades = [
        TradeSpec(0, START, START + DAY, 50.0, 5.0),
        TradeSpec(0, START, START + DAY, 50.0, 1.0),
    ]
    m = compute_metrics(make_result([100.0, 106.0], trades=trades))
    assert m.profit_factor == math.inf
    data = m.to_dict()
    assert data["profit_factor"] is None
    assert (data["gross_profit"], data["gross_loss"]) == (6.0, 0.0)
    json.dumps(data, allow_nan=False)


def test_break_even_trades_are_not_wins_and_have_no_profit_factor() -> None:
    trades = [TradeSpec(0, START, START + DAY, 50.0, 0.0)]
    m = compute_metrics(make_result([100.0, 100.0], trades=trades))
    assert m.win_rate_pct == 0.0
    assert m.profit_factor is None


def test_ruin_is_minus_one_hundred_percent_and_raises_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compute_metrics(make_result([50.0, 0.0, 0.0]))
    assert m.total_return_pct == -100.0
    assert m.cagr_pct == -100.0
    assert m.max_drawdown_pct == pytest.approx(100.0)
    # Returns: -0.5, -1, then 0 after ruin (no ratio from zero equity).
    sharpe, _ = _hand_sharpe_sortino([-0.5, -1.0, 0.0], DAY)
    assert m.sharpe == pytest.approx(sharpe)


def test_cagr_that_overflows_a_float_is_none() -> None:
    # Doubling in one minute is 2 ** 525,960 a year.
    m = compute_metrics(make_result([200.0], timeframe=Timeframe.M1))
    assert m.cagr_pct is None
    assert m.calmar is None
    assert m.total_return_pct == pytest.approx(100.0)


def test_to_dict_uses_iso_times_and_plain_types() -> None:
    m = compute_metrics(
        make_result([100, 110, 99, 121], trades=three_trades(), tokens=("SOL", "JUP"))
    )
    data = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert data["start_time"] == "2024-01-01T00:00:00Z"
    assert data["max_drawdown_peak_time"] == "2024-01-03T00:00:00Z"
    assert data["max_drawdown_trough_time"] == "2024-01-04T00:00:00Z"
    assert data["best_trade"]["exit_time"] == "2024-01-01T02:00:00Z"
    assert data["per_token"][1] == {
        "token": "JUP",
        "trades": 1,
        "win_rate_pct": 0.0,
        "pnl": -10.0,
        "contribution_pct": -10.0,
        "avg_return_pct": -5.0,
    }
    assert data["exit_reasons"]["stop loss"] == 1
    assert data["total_return_pct"] == pytest.approx(21.0)


def test_exit_reason_labels_cover_every_reason_but_none() -> None:
    m = compute_metrics(make_result([100.0]))
    assert list(m.exit_reasons) == [r.label for r in ExitReason if r is not ExitReason.NONE]
