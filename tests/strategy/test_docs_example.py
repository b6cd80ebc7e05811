"""The strategy in docs/strategies.md is real: loaded from a file where it lies, it passes the
look-ahead check on every bar and trades in a backtest."""

from __future__ import annotations

import re
from pathlib import Path

from solbot.backtest.engine import backtest_strategy
from solbot.backtest.result import BacktestConfig
from solbot.domain import ExitRules, Timeframe
from solbot.market.synth import synth_candles
from solbot.risk import tier
from solbot.strategy.lookahead import check_lookahead
from solbot.strategy.registry import load_strategy

DOC = Path(__file__).parents[2] / "docs" / "strategies.md"


def test_the_documented_strategy_loads_looks_only_back_and_trades(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert code is not None
    path = tmp_path / "close_breakout.py"
    path.write_text(code.group(1), encoding="utf-8")

    strategy = load_strategy(f"{path}:CloseBreakout", {"period": 30})
    series = synth_candles(Timeframe.H1, 600, 5, 1.0)

    report = check_lookahead(strategy, series, cuts=len(series))
    assert report.passed, report.summary()
    assert len(report.cuts) == len(series)  # every bar
    config = BacktestConfig(initial_cash=1000, risk=tier("moderate"), exits=ExitRules())
    result = backtest_strategy(strategy, {"JUP": series}, config)
    assert len(result.trades.pnl) > 0
