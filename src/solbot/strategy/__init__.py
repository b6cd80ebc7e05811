"""Strategies: indicators (the only TA-Lib user), the Strategy interface, the built-ins, the
registry that loads them by name or dotted path, and the look-ahead check."""

from solbot.strategy.base import Strategy, StrategyParams
from solbot.strategy.lookahead import LookaheadReport, check_lookahead
from solbot.strategy.registry import DEFAULT_STRATEGY, list_strategies, load_strategy

__all__ = [
    "DEFAULT_STRATEGY",
    "LookaheadReport",
    "Strategy",
    "StrategyParams",
    "check_lookahead",
    "list_strategies",
    "load_strategy",
]
