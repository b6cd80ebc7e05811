"""The Strategy base: parameter errors, masking of warm-up and NaN bars, live signal."""

from __future__ import annotations

import numpy as np
import pytest

from solbot.domain import CandleSeries, Signal, Signals
from solbot.errors import UserError
from solbot.strategy.base import Strategy
from solbot.strategy.donchian_breakout import DonchianBreakout
from solbot.strategy.ema_trend import EmaTrend
from solbot.strategy.registry import BUILTINS

from .synthetic import random_series, series_from
from .user_strategies import SmaCross, Strict


class Everything(Strategy):
    """Says yes to everything, so the base's masking is all that shapes the output."""

    @property
    def warmup(self) -> int:
        return 5

    def compute(self, series: CandleSeries) -> Signals:
        n = len(series)
        stop = np.linspace(-0.1, 0.2, n)
        target = np.full(n, 0.3)
        if n > 7:
            target[7] = np.inf
        return Signals(np.ones(n, dtype=bool), np.ones(n, dtype=bool), stop, target)


class WrongLength(Everything):
    def compute(self, series: CandleSeries) -> Signals:
        s = super().compute(series)
        return Signals(s.entry[:-1], s.exit, s.stop_loss, s.take_profit)


def test_signals_are_masked_during_warmup_and_on_nan_bars():
    close = np.linspace(1.0, 2.0, 31)
    close[20] = np.nan
    s = Everything().signals(series_from(close))
    assert not s.entry[:5].any()
    assert not s.exit[:5].any()
    assert np.isnan(s.stop_loss[:5]).all()
    assert s.entry[5:20].all()
    assert not s.entry[20]
    assert not s.exit[20]
    assert s.entry[21:].all()


def test_non_positive_or_infinite_distances_mean_no_suggestion():
    s = Everything().signals(series_from(np.linspace(1.0, 2.0, 31)))
    raw = np.linspace(-0.1, 0.2, 31)
    assert np.isnan(s.stop_loss[raw <= 0]).all()
    np.testing.assert_array_equal(s.stop_loss[11:], raw[11:])
    assert np.isnan(s.take_profit[7])
    assert s.take_profit[8] == 0.3


def test_compute_with_the_wrong_shape_is_a_bug_not_a_signal():
    with pytest.raises(ValueError, match=r"entry has shape \(30,\), expected \(31,\)"):
        WrongLength().signals(series_from(np.linspace(1.0, 2.0, 31)))


@pytest.mark.parametrize("name", sorted(BUILTINS))
@pytest.mark.parametrize("seed", [3, 4])
def test_signal_at_last_equals_the_vectorised_signal_at_the_last_bar(name: str, seed: int):
    strategy = BUILTINS[name]()
    series = random_series(1500, seed)
    for end in (1, strategy.warmup, strategy.warmup + 1, 400, 1500):
        assert strategy.signal_at_last(series[:end]) == strategy.signals(series[:end]).at(end - 1)
    entries = np.flatnonzero(strategy.signals(series).entry)
    assert len(entries) > 3
    for i in entries[:3]:
        assert strategy.signal_at_last(series[: i + 1]).entry


def test_signal_at_last_of_an_empty_window_is_no_signal():
    assert EmaTrend().signal_at_last(series_from([])) == Signal(False, False, None, None)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_a_rolling_window_of_samples_needed_matches_full_history(name: str):
    strategy = BUILTINS[name]()
    series = random_series(3000, 11)
    full = strategy.signals(series)
    m = strategy.samples_needed
    assert m == strategy.warmup + 1 + strategy.convergence
    for i in range(m - 1, len(series), 7):
        live = strategy.signal_at_last(series[i + 1 - m : i + 1])
        assert (live.entry, live.exit) == (bool(full.entry[i]), bool(full.exit[i])), i
        expected = full.at(i).stop_loss
        assert live.stop_loss == pytest.approx(expected, rel=1e-5), i


def test_warmups_and_samples_needed_of_the_defaults():
    assert (EmaTrend().warmup, EmaTrend().convergence, EmaTrend().samples_needed) == (26, 187, 214)
    d = DonchianBreakout()
    assert (d.warmup, d.convergence, d.samples_needed) == (20, 187, 208)
    assert DonchianBreakout({"atr_stop": 0}).convergence == 0
    assert EmaTrend({"atr_period": 40}).warmup == 40
    assert EmaTrend({"slow": 50}).warmup == 50


# --- parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        (EmaTrend, {"fast": 30}, "strategy ema_trend: fast (30) must be less than slow (26)"),
        (EmaTrend, {"slow": 0}, "strategy ema_trend: parameter 'slow': Input should be greater"),
        (EmaTrend, {"rsi_period": -3}, "parameter 'rsi_period': Input should be greater"),
        (EmaTrend, {"fast": "abc"}, "parameter 'fast': Input should be a valid integer"),
        (EmaTrend, {"fast": 12.5}, "parameter 'fast': Input should be a valid integer"),
        (EmaTrend, {"atr_stop": float("nan")}, "parameter 'atr_stop': Input should be a finite"),
        (EmaTrend, {"rsi_min": 80}, "rsi_min (80) must be less than rsi_max (70)"),
        (EmaTrend, {"rsi_exit": 60}, "rsi_exit (60) must not be below rsi_max (70)"),
        (EmaTrend, {"fsat": 5}, "unknown parameter 'fsat'; parameters: fast, slow, rsi_period"),
        (DonchianBreakout, {"entry_period": 1}, "parameter 'entry_period': Input should be"),
        (Strict, {"low": 3}, "low (3) must be below high (2)"),
    ],
)
def test_bad_parameters_are_one_line_user_errors(cls: type[Strategy], params: dict, message: str):
    with pytest.raises(UserError) as info:
        cls(params)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_several_bad_parameters_are_counted_on_the_same_line():
    with pytest.raises(UserError, match=r"\(and 1 more\)$"):
        EmaTrend({"slow": 0, "rsi_period": 0})


def test_parameters_parse_from_strings_and_accept_a_params_object():
    strategy = EmaTrend({"fast": "8", "slow": "21", "rsi_exit": "80"})
    assert (strategy.params.fast, strategy.params.slow, strategy.params.rsi_exit) == (8, 21, 80.0)
    again = EmaTrend(strategy.params)
    assert again.params is strategy.params
    assert SmaCross(SmaCross.Params(period=5)).params.period == 5


def test_params_are_frozen():
    strategy = EmaTrend()
    with pytest.raises(ValueError, match="frozen"):
        strategy.params.fast = 5  # type: ignore[misc]


def test_user_class_name_defaults_to_its_loadable_path():
    assert SmaCross.name == f"{SmaCross.__module__}:SmaCross"
    assert EmaTrend.name == "ema_trend"
