"""No built-in reads the future; the check catches strategies that do."""

from __future__ import annotations

import numpy as np
import pytest

from solbot.domain import CandleSeries, Signals
from solbot.strategy.base import Strategy
from solbot.strategy.lookahead import check_lookahead
from solbot.strategy.registry import BUILTINS

from .synthetic import random_series
from .user_strategies import CentredAverage, PeeksAtNextClose, SmaCross, WholeSeriesStop

SERIES = {seed: random_series(n, seed) for seed, n in ((101, 3000), (202, 4000), (303, 5000))}

# Non-default settings that switch on the optional rules, so those are checked too.
VARIANTS: dict[str, list[dict]] = {
    "ema_trend": [{}, {"fast": 5, "slow": 50, "rsi_exit": 75, "atr_period": 60}],
    "donchian_breakout": [{}, {"entry_period": 55, "exit_period": 80, "atr_target": 3}],
}


@pytest.fixture(scope="module")
def series() -> dict[int, CandleSeries]:
    return SERIES


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_has_no_lookahead(name: str, series: dict[int, CandleSeries]):
    # 3 series x 1000 cut points = 3000 prefixes per parameter set
    for params in VARIANTS.get(name, [{}]):
        strategy = BUILTINS[name](params)
        for seed, s in series.items():
            full = strategy.signals(s)
            assert full.entry.sum() >= 5, "the series must exercise the strategy"
            assert full.exit.sum() >= 5
            report = check_lookahead(strategy, s, cuts=1000, seed=seed)
            assert report.passed, report.summary()
            assert len(report.cuts) == 1000


@pytest.mark.parametrize(
    ("cheater", "fields"),
    [
        (PeeksAtNextClose(), ("entry", "exit")),
        (CentredAverage(), ("entry", "exit")),
        (WholeSeriesStop(), ("stop_loss",)),
    ],
)
def test_the_check_catches_a_cheater(cheater: Strategy, fields: tuple[str, ...]):
    s = SERIES[101][:1000]
    report = check_lookahead(cheater, s, cuts=200, seed=1)
    assert not report.passed
    assert report.bad_fields == fields
    assert "LOOK-AHEAD" in report.summary()
    for m in report.mismatches[:20]:
        full = getattr(cheater.signals(s), m.field)[m.index]
        assert m.full == full or (np.isnan(m.full) and np.isnan(full))


def test_peeking_is_caught_at_the_very_bar_it_peeks():
    s = SERIES[101][:300]
    report = check_lookahead(PeeksAtNextClose(), s, cuts=300)
    full = PeeksAtNextClose().signals(s)
    # on a prefix the next close is unknown, so every entry or exit of the full run is a mismatch
    expected = np.flatnonzero((full.entry | full.exit)[:-1]).tolist()
    assert list(report.bad_bars) == expected


def test_an_honest_user_strategy_passes_and_every_bar_is_checked_when_cuts_exceed_bars():
    s = SERIES[202][:500]
    calls: list[tuple[int, int]] = []
    report = check_lookahead(SmaCross(), s, cuts=10_000, progress=lambda d, t: calls.append((d, t)))
    assert report.passed
    assert report.cuts == tuple(range(500))
    assert calls[0] == (1, 500)
    assert calls[-1] == (500, 500)
    assert report.summary() == f"{SmaCross.name}: no look-ahead in 500 cut points of 500"


def test_cut_points_are_seeded():
    s = SERIES[303][:800]
    a = check_lookahead(SmaCross(), s, cuts=50, seed=5)
    b = check_lookahead(SmaCross(), s, cuts=50, seed=5)
    c = check_lookahead(SmaCross(), s, cuts=50, seed=6)
    assert a.cuts == b.cuts
    assert a.cuts != c.cuts
    assert min(a.cuts + c.cuts) < 200  # the warm-up region is sampled too


class LengthNoise(Strategy):
    """An honest signal whose stop wobbles in the last bits with the series length, like an
    order-dependent floating-point sum would."""

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, series: CandleSeries) -> Signals:
        n = len(series)
        stop = np.full(n, 0.05 * (1 + 1e-15 * (n % 2)))
        return Signals(np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), stop, np.full(n, np.nan))


def test_comparison_is_exact_unless_a_relative_tolerance_is_given():
    s = SERIES[101][:600]
    exact = check_lookahead(LengthNoise(), s, cuts=100)
    assert not exact.passed
    assert exact.bad_fields == ("stop_loss",)
    assert check_lookahead(LengthNoise(), s, cuts=100, rtol=1e-12).passed
    # a real leak moves by far more than any tolerance
    assert not check_lookahead(WholeSeriesStop(), s, cuts=100, rtol=1e-12).passed


def test_empty_series():
    report = check_lookahead(SmaCross(), SERIES[101][:0])
    assert report.passed
    assert report.cuts == ()
