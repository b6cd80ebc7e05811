"""`solbot optimize`'s engine: walk-forward windows that tile the data, out-of-sample ranking,
the same answer on one process or several, and a PBO that tells skill from luck."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from solbot.backtest.optimize import (
    MIN_TEST_BARS,
    Setup,
    grid,
    overfitting_probability,
    random_draws,
    search,
    search_tpe,
    walk_forward,
)
from solbot.backtest.result import BacktestConfig
from solbot.domain import ExitRules, Timeframe
from solbot.errors import UserError
from solbot.market.synth import synth_candles
from solbot.risk import tier
from solbot.strategy.ema_trend import EmaTrend


def test_the_test_spans_tile_the_end_of_the_data_and_follow_their_training() -> None:
    plan = walk_forward(1000, 100, windows=4, train_ratio=3.0)
    test = 900 // 7
    assert [w.test_end - w.test_start for w in plan] == [test] * 4
    assert [w.test_start - w.train_start for w in plan] == [3 * test] * 4
    assert plan[-1].test_end == 1000
    assert all(a.test_end == b.test_start for a, b in itertools.pairwise(plan))
    assert plan[0].train_start >= 100  # never inside the warm-up


@pytest.mark.parametrize(
    ("n", "windows", "ratio", "says"),
    [
        (500, 20, 3.0, "cannot hold 20 windows"),
        (500, 1, 3.0, "--windows must be at least 2"),
        (500, 4, 0.0, "--train-ratio must be a positive number"),
        (100 + 7 * MIN_TEST_BARS - 1, 4, 3.0, "at least 30 bars to test on"),
    ],
)
def test_windows_that_do_not_fit_are_one_line(n, windows, ratio, says) -> None:
    with pytest.raises(UserError, match=says):
        walk_forward(n, 100, windows, ratio)


def test_grids_and_seeded_draws() -> None:
    space = {"fast": [5, 8], "slow": [20, 30, 40]}
    assert len(grid(space)) == 6
    assert grid(space)[0] == {"fast": 5, "slow": 20}
    drawn = random_draws(space, 4, seed=7)
    assert drawn == random_draws(space, 4, seed=7)
    assert len({tuple(d.items()) for d in drawn}) == 4
    assert random_draws(space, 100, seed=7) == grid(space)


def test_pbo_tells_a_persistent_edge_from_noise() -> None:
    periods, sets = 8, 20
    skill = np.tile(np.linspace(-1, 1, sets), (periods, 1))  # the same set is best every time
    assert overfitting_probability(skill) == 0.0
    noise = np.random.default_rng(3).normal(size=(periods, sets))
    assert 0.25 < overfitting_probability(noise) < 0.75  # type: ignore[operator]
    assert overfitting_probability(skill[:3]) is None  # too few periods to split


@pytest.fixture(scope="module")
def market() -> dict:
    return {s: synth_candles(Timeframe.H1, 3000, seed, 1.0) for s, seed in (("A", 1), ("B", 2))}


CONFIG = BacktestConfig(
    initial_cash=10_000, fee_bps=25, slippage_bps=10, risk=tier("moderate"), exits=ExitRules()
)


def test_candidates_are_ranked_out_of_sample_and_workers_do_not_change_the_answer(market) -> None:
    space = {"fast": [5, 9, 30], "slow": [20, 40]}  # fast=30, slow=20 is refused
    sets = [{**EmaTrend().params.model_dump(), **v} for v in grid(space)]
    one = search(Setup(EmaTrend, market, CONFIG, 4, 2.0, workers=1), sets)
    two = search(Setup(EmaTrend, market, CONFIG, 4, 2.0, workers=2), sets)

    assert one.refused == 1
    assert len(one.candidates) == 5
    scores = [c.score for c in one.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(len(c.test_sharpe) == 4 and len(c.train_sharpe) == 4 for c in one.candidates)
    assert [(c.params, c.score, c.test_trades) for c in one.candidates] == [
        (c.params, c.score, c.test_trades) for c in two.candidates
    ]
    assert one.pbo is not None
    assert 0.0 <= one.pbo <= 1.0


def test_a_search_where_the_strategy_refuses_everything_says_why(market) -> None:
    sets = [{"fast": 30, "slow": 20}]
    with pytest.raises(UserError, match=r"refused: .*fast \(30\) must be less than slow"):
        search(Setup(EmaTrend, market, CONFIG, 4, 2.0, workers=1), sets)


def test_tpe_proposes_from_the_space_repeatably_and_scores_each_set_once(market) -> None:
    space = {"fast": [3, 5, 8, 12, 30], "slow": [20, 26, 40]}  # fast=30 with slow<=26 is refused
    base = EmaTrend().params.model_dump()

    def run():
        setup = Setup(EmaTrend, market, CONFIG, 4, 2.0, workers=2)
        return search_tpe(setup, base, space, trials=12, seed=4)

    first, again = run(), run()
    keys = [tuple(sorted(c.params.items())) for c in first.candidates]
    assert len(keys) == len(set(keys))  # a set proposed twice is evaluated once
    assert all(c.params["fast"] in space["fast"] for c in first.candidates)
    assert [(c.params, c.score) for c in first.candidates] == [
        (c.params, c.score) for c in again.candidates
    ]
    scores = [c.score for c in first.candidates]
    assert scores == sorted(scores, reverse=True)


def test_a_heatmap_cell_is_the_best_score_of_its_pair() -> None:
    from solbot.backtest.optimize import Candidate, Search
    from solbot.backtest.optimize_report import heatmap_grid

    def made(fast: int, slow: int, k: int, score: float) -> Candidate:
        test = np.full(2, score)
        return Candidate({"fast": fast, "slow": slow, "k": k}, test, test, test, 1)

    found = Search(
        [made(5, 20, 1, 0.5), made(5, 20, 2, 1.5), made(8, 20, 1, -1.0), made(5, 40, 1, 0.1)],
        [],
        None,
        0,
    )
    xs, ys, z = heatmap_grid(found, "fast", "slow")
    assert (xs, ys) == ([5, 8], [20, 40])
    assert z == [[1.5, -1.0], [0.1, None]]  # rows: slow; columns: fast
