"""What a run did against what the backtest of its candles does, trade by trade, and why they
differ (`solbot reconcile`).

The live loop and the backtest share their rules (`solbot.engine`: bar time, the kernel's
order), so on the candles a run built they decide the same trades; every difference has a cause
outside the rules, and this module names it from what the run recorded:

- the same entry left on another bar or for another reason: a manual close (`/close`), tokens
  that left the wallet, or a stop or target ("fill price vs bar"): each side measures its levels
  from its own entry fill (the report prints both fills and levels), and the backtest fills at
  the level on the bar that reaches it where live sells at the first tick past it;
- an entry only the backtest made: the live order failed (and why), or a breaker refused it
  live (the run's log says which), or the user was paused;
- an entry only live made, with nothing different before it, is not explained: on the same
  candles and rules the backtest would have made it too;
- an entry only live made: the backtest's breaker that refused it at that close, if one did
  (before any other difference that is a parity gap, "not explained");
- after a first difference, the books differ (cash, a loss streak), so later differences are
  said to follow from it rather than explained one by one.

Plain data in, plain data out: the command gathers the run's records and prints the rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from solbot.execution.exits import PRICE_EXITS


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade of either side. Bars are open times (Unix seconds); `exit_bar` None: open.
    Prices are quote per token: the entry fill, and the stop and target it set (None: none)."""

    entry_bar: int
    token: str
    exit_bar: int | None
    reason: str  # how it ended ("stop_loss", "signal", ..., "open")
    pnl: float | None
    entry_price: float | None = None
    stop: float | None = None
    target: float | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Something the run recorded that kept an entry from happening at a bar."""

    bar: int
    token: str  # "*" for every token (a pause)
    why: str
    until: int | None = None  # a span's end (a pause); None: the one bar from `bar`

    def covers(self, bar: int, token: str, bar_seconds: int) -> bool:
        """Whether this kept an entry at `bar` (an open time) of `token` from happening."""
        if self.token not in (token, "*"):
            return False
        if self.until is None:  # recorded during that bar (at the tick after its close)
            return bar <= self.bar < bar + bar_seconds
        return self.bar <= bar < self.until


@dataclass(frozen=True, slots=True)
class Row:
    """A line of the report: the trades of both sides at one entry, and the verdict."""

    live: Trade | None
    backtest: Trade | None
    matched: bool
    cause: str  # empty when matched

    @property
    def trade(self) -> Trade:
        """The live trade, or the backtest's where live made none (a row has one or both)."""
        trade = self.live or self.backtest
        assert trade is not None
        return trade

    @property
    def entry_bar(self) -> int:
        return self.trade.entry_bar


def compare(
    live: Sequence[Trade],
    backtest: Sequence[Trade],
    refusals: Sequence[Refusal] = (),
    bar_seconds: int = 3600,
    backtest_refusals: Sequence[Refusal] = (),
) -> list[Row]:
    """Pair the trades by entry (bar, token) and name each difference's cause: `refusals` are
    what the run recorded against an entry, `backtest_refusals` the backtest's breakers (at the
    close that decided the entry: the fill bar's open)."""
    by_entry = {(t.entry_bar, t.token): t for t in backtest}
    live_entries = {(t.entry_bar, t.token): t for t in live}
    keys = sorted(set(by_entry) | set(live_entries))
    rows: list[Row] = []
    diverged = False
    for key in keys:
        ours, theirs = live_entries.get(key), by_entry.get(key)
        if ours is not None and theirs is not None and _same(ours, theirs):
            rows.append(Row(ours, theirs, True, ""))
            continue
        cause = _cause(ours, theirs, refusals, bar_seconds)
        kept_out = _refused(ours, theirs, backtest_refusals, bar_seconds)
        if kept_out is not None and cause.startswith(_UNEXPLAINED):
            cause = (
                f"{_FOLLOWS}: the backtest refused it ({kept_out})"
                if diverged
                else f"{_UNEXPLAINED}: the backtest refused it ({kept_out}), live did not"
            )
        elif diverged and cause.startswith(_UNEXPLAINED):
            cause = f"{_FOLLOWS} (cash, breakers)"
        rows.append(Row(ours, theirs, False, cause))
        diverged = True
    return rows


_UNEXPLAINED = "not explained"
_FOLLOWS = "follows an earlier difference"


def _refused(
    live: Trade | None, backtest: Trade | None, refusals: Sequence[Refusal], bar_seconds: int
) -> str | None:
    """Why the backtest made no entry where live made one, if its breakers said."""
    if live is None or backtest is not None:
        return None
    for refusal in refusals:
        if refusal.covers(live.entry_bar, live.token, bar_seconds):
            return refusal.why
    return None


def _same(a: Trade, b: Trade) -> bool:
    return a.exit_bar == b.exit_bar and a.reason == b.reason


def _cause(
    live: Trade | None, backtest: Trade | None, refusals: Sequence[Refusal], bar_seconds: int
) -> str:
    if live is not None and backtest is not None:  # the same entry, left otherwise
        if live.reason == "manual":
            return "closed by hand (/close)"
        if live.reason == "moved_out":
            return "its tokens left the wallet"
        if {live.reason, backtest.reason} & PRICE_EXITS:
            return _price_exit_cause(live, backtest)
        return f"{_UNEXPLAINED}: the exits differ"
    if backtest is not None:  # an entry live did not make
        for refusal in refusals:
            if refusal.covers(backtest.entry_bar, backtest.token, bar_seconds):
                return refusal.why
        return f"{_UNEXPLAINED}: live made no such entry"
    return f"{_UNEXPLAINED}: the backtest made no such entry"


def _price_exit_cause(live: Trade, backtest: Trade) -> str:
    """A stop or target ended one side otherwise: where each side filled and where the level
    that fired sat. A level is measured from its own side's fill, so a dearer entry live moves
    the stop and target up; with the same levels, what is left is tick against bar."""
    fired = live.reason if live.reason in PRICE_EXITS else backtest.reason
    name, ours, theirs = ("target", live.target, backtest.target)
    if fired != "take_profit":
        name, ours, theirs = ("stop", live.stop, backtest.stop)
    head = "fill price vs bar"
    if live.entry_price is None or backtest.entry_price is None:
        return f"{head}: the backtest fills a stop or target at its level"
    if ours is None or theirs is None:
        levels = ""
    else:
        levels = f", {name} {_price(ours)} vs {_price(theirs)}"
    if math.isclose(live.entry_price, backtest.entry_price, rel_tol=1e-9) and (
        ours is None or theirs is None or math.isclose(ours, theirs, rel_tol=1e-9)
    ):
        same = f"same entry and {name}" + ("" if ours is None else f" ({_price(ours)})")
        return (
            f"{head}: {same}; live exits at the first tick past the level, the backtest on "
            "the bar that reaches it"
        )
    gap = 100.0 * (live.entry_price / backtest.entry_price - 1.0)
    return (
        f"{head}: entry {gap:+.2f} % live ({_price(live.entry_price)} vs "
        f"{_price(backtest.entry_price)}){levels}"
    )


def _price(p: float) -> str:
    return f"{p:.6g}"


def summary(rows: Sequence[Row]) -> tuple[int, int, int]:
    """(matched, explained, not explained) rows."""
    matched = sum(r.matched for r in rows)
    unexplained = sum(r.cause.startswith(_UNEXPLAINED) for r in rows)
    return matched, len(rows) - matched - unexplained, unexplained
