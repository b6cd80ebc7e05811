"""Searching a strategy's parameters without fooling yourself (`solbot optimize`).

A parameter set that looks best on the data it was chosen on is mostly chosen for its luck. So:

- **Walk-forward windows.** The bars after the warm-up are cut into `windows` rolling pairs: a
  training span followed by a test span `train_ratio` times shorter, each pair shifted by one
  test span, so the test spans tile the end of the data without overlapping. Every candidate is
  simulated on every span with fresh cash (signals are computed once on the whole history: a
  strategy only looks back, which `--check-lookahead` proves).
- **The score is out of sample only**: a candidate's mean Sharpe ratio over the test spans.
  The training spans' scores are shown beside it, never used to rank.
- **The probability of backtest overfitting** (Bailey, Borwein, López de Prado and Zhu, "The
  probability of backtest overfitting", 2015: combinatorially symmetric cross-validation): the
  test spans are split every way into two halves; in each split, the candidate best on one half
  is ranked on the other; PBO is the share of splits where it lands in the bottom half. Near 0
  the search found something that holds; at 0.5 or more, what it found is noise.

Candidates are evaluated in parallel, one process per core (each computes its own signals and
runs the compiled kernel); the search space is a grid of listed values, seeded random draws from
it, or Optuna's TPE sampler proposing from it in the light of the scores so far.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.pool import Pool
from typing import Any

import numpy as np

from solbot.backtest.engine import align, signal_matrices, simulate
from solbot.backtest.metrics import compute_metrics
from solbot.backtest.result import BacktestConfig
from solbot.domain import CandleSeries
from solbot.errors import UserError
from solbot.strategy.base import Strategy

Space = dict[str, list[Any]]
MIN_TEST_BARS = 30  # a Sharpe ratio of fewer bars says nothing


@dataclass(frozen=True, slots=True)
class Window:
    """Rows `[train_start, test_start)` to choose on and `[test_start, test_end)` to test on."""

    train_start: int
    test_start: int
    test_end: int


def walk_forward(n: int, first: int, windows: int, train_ratio: float) -> list[Window]:
    """`windows` rolling train/test pairs over rows `[first, n)` (see the module docstring)."""
    if windows < 2:
        raise UserError(f"--windows must be at least 2, got {windows}")
    if not (math.isfinite(train_ratio) and train_ratio > 0):
        raise UserError(f"--train-ratio must be a positive number, got {train_ratio}")
    test = int((n - first) // (train_ratio + windows))
    train = int(test * train_ratio)
    if test < MIN_TEST_BARS:
        raise UserError(
            f"{max(n - first, 0)} bars after the warm-up cannot hold {windows} windows with "
            f"training {train_ratio:g} times the test and at least {MIN_TEST_BARS} bars to test "
            "on: use fewer windows or more data"
        )
    start = n - (train + windows * test)  # the spare rows go to the warm-up
    return [
        Window(start + i * test, start + i * test + train, start + i * test + train + test)
        for i in range(windows)
    ]


def grid(space: Space) -> list[dict[str, Any]]:
    """Every combination of the listed values."""
    names = list(space)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*space.values())]


def random_draws(space: Space, trials: int, seed: int) -> list[dict[str, Any]]:
    """`trials` distinct combinations drawn uniformly (all of them if the grid is smaller), in
    the grid's order. Drawn by their number in the grid, so a large grid is never built."""
    sizes = [len(values) for values in space.values()]
    total = math.prod(sizes)
    if trials >= total:
        return grid(space)
    rng = np.random.default_rng(seed)
    return [_combination(space, int(n)) for n in sorted(rng.choice(total, trials, replace=False))]


def _combination(space: Space, number: int) -> dict[str, Any]:
    """The `number`th combination of `grid(space)` (the last parameter varies fastest)."""
    picked: dict[str, Any] = {}
    for name in reversed(space):
        number, i = divmod(number, len(space[name]))
        picked[name] = space[name][i]
    return {name: picked[name] for name in space}


@dataclass(frozen=True)
class Candidate:
    """One parameter set's scores: Sharpe and return (%) per window, on train and on test."""

    params: dict[str, Any]
    train_sharpe: np.ndarray
    test_sharpe: np.ndarray
    test_return_pct: np.ndarray
    test_trades: int

    @property
    def score(self) -> float:
        """The rank: the mean out-of-sample Sharpe ratio."""
        return float(self.test_sharpe.mean())


@dataclass(frozen=True)
class Search:
    """The candidates best first, the windows, the PBO, and the sets the strategy refused."""

    candidates: list[Candidate]
    windows: list[Window]
    pbo: float | None
    refused: int


class _Job:
    """What each worker needs, set once per process (not pickled per candidate)."""

    strategy: type[Strategy]
    series: Mapping[str, CandleSeries]
    signal_series: Mapping[str, CandleSeries]
    config: BacktestConfig
    liquidity: np.ndarray | None
    windows: list[Window]
    index: np.ndarray  # the candles aligned once: every candidate shares them
    prices: dict[str, np.ndarray]


def _set_job(
    strategy: type[Strategy],
    series: Mapping[str, CandleSeries],
    signal_series: Mapping[str, CandleSeries],
    config: BacktestConfig,
    liquidity: np.ndarray | None,
    windows: list[Window],
) -> None:
    _Job.strategy, _Job.series, _Job.config = strategy, series, config
    _Job.signal_series = signal_series
    _Job.liquidity, _Job.windows = liquidity, windows
    _Job.index, _Job.prices = align(series)


def _evaluate(params: dict[str, Any]) -> Candidate:
    strategy = _Job.strategy(params)
    index, prices = _Job.index, _Job.prices
    entries, exits, stops, targets = signal_matrices(strategy, _Job.signal_series, index)
    timeframe = next(iter(_Job.series.values())).timeframe

    def run(rows: slice) -> tuple[float, float, int]:
        result = simulate(
            index[rows],
            prices["open"][rows],
            prices["high"][rows],
            prices["low"][rows],
            prices["close"][rows],
            entries[rows],
            exits[rows],
            config=_Job.config,
            tokens=tuple(_Job.series),
            timeframe=timeframe,
            stop_loss=stops[rows],
            take_profit=targets[rows],
            liquidity=_Job.liquidity,
        )
        metrics = compute_metrics(result)
        return metrics.sharpe or 0.0, metrics.total_return_pct, metrics.trades

    train, test, returns, trades = [], [], [], 0
    for w in _Job.windows:
        train.append(run(slice(w.train_start, w.test_start))[0])
        sharpe, total, count = run(slice(w.test_start, w.test_end))
        test.append(sharpe)
        returns.append(total)
        trades += count
    return Candidate(params, np.array(train), np.array(test), np.array(returns), trades)


@dataclass(frozen=True)
class Setup:
    """What every candidate of a search is run with: the strategy class, the candles, the
    backtest's configuration, the walk-forward shape, and how many processes."""

    strategy: type[Strategy]
    series: Mapping[str, CandleSeries]
    config: BacktestConfig
    windows: int
    train_ratio: float
    liquidity: Mapping[str, float] | None = None
    workers: int | None = None
    signal_series: Mapping[str, CandleSeries] | None = None  # what the strategy reads, if not
    # the candles traded (`backtest_strategy`)


def search(
    setup: Setup,
    candidates: Sequence[dict[str, Any]],
    on_done: Callable[[int], None] | None = None,
) -> Search:
    """Evaluate every valid candidate on the walk-forward windows, best out-of-sample first."""
    valid, refused, why = [], 0, ""
    for params in candidates:
        try:
            valid.append(setup.strategy(params).params.model_dump())
        except UserError as exc:
            refused += 1  # e.g. a fast period not below the slow one
            why = why or str(exc)
    if not valid:
        raise UserError(f"every one of the {len(candidates)} parameter sets is refused: {why}")
    plan = _plan(setup, valid)
    with _Evaluator(setup, plan) as evaluate:
        results = evaluate(valid, on_done)
    return _ranked(results, plan, refused)


def search_tpe(
    setup: Setup,
    base: dict[str, Any],
    space: Space,
    *,
    trials: int,
    seed: int,
    on_done: Callable[[int], None] | None = None,
) -> Search:
    """Optuna's TPE sampler over `space` (each parameter a categorical choice of its values),
    maximising the out-of-sample score, `trials` proposals in batches of one per worker. A
    proposal seen before is told its earlier score; one the strategy refuses is pruned."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    strategy = setup.strategy
    plan = _plan(setup, _extremes(strategy, base, space))
    seen: dict[tuple[Any, ...], Candidate] = {}
    refused = asked = 0
    with _Evaluator(setup, plan) as evaluate:
        while asked < trials:
            batch = [study.ask() for _ in range(min(evaluate.workers, trials - asked))]
            asked += len(batch)
            proposals = []
            for trial in batch:
                values = {name: trial.suggest_categorical(name, vs) for name, vs in space.items()}
                try:
                    params = strategy({**base, **values}).params.model_dump()
                except UserError:
                    refused += 1
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    continue
                proposals.append((trial, params))
            fresh = {_key(p): p for _t, p in proposals if _key(p) not in seen}
            for found in evaluate(list(fresh.values()), None):
                seen[_key(found.params)] = found
            for trial, params in proposals:
                study.tell(trial, seen[_key(params)].score)
            if on_done is not None:
                on_done(asked)
    if not seen:
        raise UserError(f"the strategy refused every one of the {trials} proposed sets")
    return _ranked(list(seen.values()), plan, refused)


def _key(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(params.items()))


def _extremes(strategy: type[Strategy], base: dict[str, Any], space: Space) -> list[dict[str, Any]]:
    """Sets whose warm-up bounds every set's: each parameter at its largest value, and at its
    smallest (periods are what make warm-ups long), where the strategy accepts them."""
    sets = []
    for pick in (max, min):
        try:
            sets.append(strategy({**base, **{k: pick(v) for k, v in space.items()}}).params)
        except UserError:
            continue
    return [p.model_dump() for p in sets] or [strategy(base).params.model_dump()]


def _plan(setup: Setup, candidates: Sequence[dict[str, Any]]) -> list[Window]:
    """The windows, after the longest warm-up of the candidates."""
    warm_up = max(setup.strategy(params).samples_needed for params in candidates)
    index, _prices = align(setup.series)
    return walk_forward(len(index), warm_up, setup.windows, setup.train_ratio)


def _ranked(results: list[Candidate], plan: list[Window], refused: int) -> Search:
    results.sort(key=lambda c: c.score, reverse=True)
    matrix = np.array([c.test_sharpe for c in results]).T  # windows × candidates
    return Search(results, plan, overfitting_probability(matrix), refused)


def _worker_start(*job: Any) -> None:
    """A worker leaves Ctrl-C to the parent, which stops them all at once (`_Evaluator`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_job(*job)


class _Evaluator:
    """Candidates evaluated in this process or on a pool of `workers` forked processes, which
    start with the candles (and numba's compiled kernel) already loaded. If the search ends
    early (Ctrl-C, an error), the workers are terminated, not waited for: a chunk of work can
    take seconds."""

    def __init__(self, setup: Setup, plan: list[Window]) -> None:
        depth = None
        if setup.liquidity is not None:
            depth = np.array([setup.liquidity[s] for s in setup.series], dtype=np.float64)
        read = setup.series if setup.signal_series is None else setup.signal_series
        self.job = (setup.strategy, setup.series, read, setup.config, depth, plan)
        self.workers = setup.workers or os.cpu_count() or 1
        self.pool: Pool | None = None

    def __enter__(self) -> _Evaluator:
        if self.workers > 1:
            self.pool = get_context("fork").Pool(self.workers, _worker_start, self.job)
        else:
            _set_job(*self.job)
        return self

    def __exit__(self, failed: type[BaseException] | None, *_exc: object) -> None:
        if self.pool is None:
            return
        if failed is None:
            self.pool.close()
        else:
            self.pool.terminate()
        self.pool.join()

    def __call__(
        self, candidates: list[dict[str, Any]], on_done: Callable[[int], None] | None
    ) -> list[Candidate]:
        if self.pool is None:
            found = map(_evaluate, candidates)
        else:
            chunk = max(1, min(16, len(candidates) // (self.workers * 8)))
            found = self.pool.imap(_evaluate, candidates, chunksize=chunk)
        results = []
        for n, candidate in enumerate(found, 1):
            results.append(candidate)
            if on_done is not None:
                on_done(n)
        return results


def overfitting_probability(performance: np.ndarray) -> float | None:
    """PBO by combinatorially symmetric cross-validation of a (periods × candidates) matrix;
    None with fewer than 4 periods or 2 candidates (nothing to split)."""
    periods, count = performance.shape
    usable = periods - periods % 2
    if usable < 4 or count < 2:
        return None
    rows = range(usable)
    below = total = 0
    for chosen in itertools.combinations(rows, usable // 2):
        rest = [r for r in rows if r not in chosen]
        in_sample = performance[list(chosen)].mean(axis=0)
        out_of_sample = performance[rest].mean(axis=0)
        best = int(np.argmax(in_sample))
        rank = int((out_of_sample < out_of_sample[best]).sum()) + 1  # 1: the worst
        omega = rank / (count + 1)
        below += math.log(omega / (1 - omega)) <= 0
        total += 1
    return below / total
