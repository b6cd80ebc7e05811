"""The backtest loop, compiled: every bar, every token, the live rules, in one pass.

Order of events inside bar t (the same order live trading follows as a candle closes):

1. orders pending from the previous close fill at this bar's open (`next_open`): exits first,
   so their cash is there for the entries;
2. price exits (gap, stop, trailing stop, target; `execution.exits`) for positions held at
   this bar's open: a stop is active from the moment of the fill (the bar after a close fill; the
   fill bar itself after a next-open fill);
3. the portfolio is marked at the close and the breakers see it (`risk.mark`);
4. signal exits and maximum holding time, decided at the close;
5. entries, through the risk gate, sized from the value at the close.

With `close` fills, 4 and 5 fill at this bar's close; with `next_open`, at the next bar's open.
A token with no bar at t (NaN open) does nothing at t and is valued at its last close.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from solbot import risk
from solbot.domain import BlockReason, ExitReason
from solbot.execution import costs, exits
from solbot.risk import STATE_SIZE
from solbot.rules import compiled

# The shared rules, compiled from the same source live trading interprets (solbot.rules).
buy_price = compiled(costs.buy_price)
sell_price = compiled(costs.sell_price)
buy_quantity = compiled(costs.buy_quantity)
sale_proceeds = compiled(costs.sale_proceeds)
stop_level = compiled(exits.stop_level)
price_exit = compiled(exits.price_exit)
held_too_long = compiled(exits.held_too_long)
levels_from_fill = compiled(exits.levels_from_fill)
new_state = compiled(risk.new_state)
mark = compiled(risk.mark)
record_trade = compiled(risk.record_trade)
check_entry = compiled(risk.check_entry)
entry_budget = compiled(risk.entry_budget)

# Columns of the trade matrix the kernel fills (one row per trade).
T_TOKEN = 0
T_ENTRY_INDEX = 1
T_EXIT_INDEX = 2
T_ENTRY_TIME = 3
T_EXIT_TIME = 4
T_ENTRY_PRICE = 5
T_EXIT_PRICE = 6
T_QUANTITY = 7
T_ENTRY_VALUE = 8
T_EXIT_VALUE = 9
T_FEES = 10
T_PNL = 11
T_REASON = 12
T_COLUMNS = 13

_SIGNAL = int(ExitReason.SIGNAL)
_MAX_HOLD = int(ExitReason.MAX_HOLD)
_END = int(ExitReason.END_OF_DATA)
_CASH = int(BlockReason.INSUFFICIENT_CASH)
N_BLOCK_REASONS = max(int(r) for r in BlockReason) + 1

# Helpers called on every bar must not allocate: see solbot.risk for why.
_NO_ALLOC = {"cache": True, "nogil": True, "_nrt": False}

# Columns of the refusal matrix the kernel fills (one row per entry signal refused).
R_TIME = 0  # when it was decided: the close (a next-open entry short of cash: that open)
R_TOKEN = 1
R_REASON = 2  # a BlockReason
R_COLUMNS = 3

# Columns of the open-position matrix (one row per token; quantity 0 = flat).
P_QTY = 0
P_ENTRY_PRICE = 1
P_ENTRY_VALUE = 2
P_ENTRY_FEE = 3
P_ENTRY_INDEX = 4
P_ENTRY_TIME = 5
P_STOP = 6
P_TARGET = 7
P_HIGHEST = 8
P_COLUMNS = 9


def trade_capacity(entries: np.ndarray) -> int:
    """An upper bound on the trades a run can book, and on the entries it can refuse: every
    trade begins with its own entry signal, and a signal is refused at most once."""
    return int(entries.sum())


@njit(**_NO_ALLOC)
def _refuse(
    refusals: np.ndarray, n_refusals: int, blocked: np.ndarray, when: float, k: int, why: int
) -> int:
    """Count and record an entry refused; returns the new number of refusals."""
    blocked[why] += 1
    row = refusals[n_refusals]
    row[R_TIME] = when
    row[R_TOKEN] = k
    row[R_REASON] = why
    return n_refusals + 1


@njit(**_NO_ALLOC)
def _enter(
    pos: np.ndarray,
    k: int,
    budget: float,
    market_price: float,
    t: int,
    when: float,
    stop_frac: float,
    target_frac: float,
    liquidity: float,
    slippage: float,
    fee: float,
) -> None:
    """Spend `budget` of quote (fee included) on token k at `market_price`, costs applied."""
    swap_value = budget / (1.0 + fee)
    px = buy_price(market_price, swap_value, liquidity, slippage)
    p = pos[k]
    p[P_QTY] = buy_quantity(budget, px, fee)
    p[P_ENTRY_PRICE] = px
    p[P_ENTRY_VALUE] = budget
    p[P_ENTRY_FEE] = budget - swap_value
    p[P_ENTRY_INDEX] = t
    p[P_ENTRY_TIME] = when
    p[P_STOP], p[P_TARGET] = levels_from_fill(px, stop_frac, target_frac)
    p[P_HIGHEST] = px


@njit(**_NO_ALLOC)
def _close(
    trades: np.ndarray,
    n_trades: int,
    pos: np.ndarray,
    k: int,
    t: int,
    when: float,
    exit_price: float,
    fee: float,
    reason: int,
) -> float:
    """Write token k's position as trade number `n_trades`, closed at `exit_price` (costs already
    in it) less `fee`; flattens the position and returns the quote received."""
    p = pos[k]
    qty = p[P_QTY]
    proceeds = sale_proceeds(qty, exit_price, fee)
    row = trades[n_trades]
    row[T_TOKEN] = k
    row[T_ENTRY_INDEX] = p[P_ENTRY_INDEX]
    row[T_EXIT_INDEX] = t
    row[T_ENTRY_TIME] = p[P_ENTRY_TIME]
    row[T_EXIT_TIME] = when
    row[T_ENTRY_PRICE] = p[P_ENTRY_PRICE]
    row[T_EXIT_PRICE] = exit_price
    row[T_QUANTITY] = qty
    row[T_ENTRY_VALUE] = p[P_ENTRY_VALUE]
    row[T_EXIT_VALUE] = proceeds
    row[T_FEES] = p[P_ENTRY_FEE] + qty * exit_price * fee
    row[T_PNL] = proceeds - p[P_ENTRY_VALUE]
    row[T_REASON] = reason
    p[P_QTY] = 0.0
    return proceeds


@njit(**_NO_ALLOC)
def _exit(
    trades: np.ndarray,
    n_trades: int,
    state: np.ndarray,
    limits: np.ndarray,
    pos: np.ndarray,
    k: int,
    t: int,
    when: float,
    market_price: float,
    reason: int,
    liquidity: float,
    slippage: float,
    fee: float,
) -> float:
    """Sell token k's whole position at `market_price` with costs, book the trade and tell the
    breakers; returns the quote received."""
    px = sell_price(market_price, pos[k, P_QTY] * market_price, liquidity, slippage)
    entry_value = pos[k, P_ENTRY_VALUE]
    proceeds = _close(trades, n_trades, pos, k, t, when, px, fee, reason)
    record_trade(state, limits, proceeds - entry_value, when)
    return proceeds


@njit(cache=True, nogil=True)
def run(
    open_time: np.ndarray,
    bar_seconds: float,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    stop_frac: np.ndarray,
    target_frac: np.ndarray,
    default_stop: float,
    default_target: float,
    trail_frac: float,
    max_hold_seconds: float,
    fee: float,
    slippage: float,
    liquidity: np.ndarray,
    next_open: bool,
    initial_cash: float,
    reserve: float,
    limits: np.ndarray,
    trades: np.ndarray,
    refusals: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:
    """Simulate; returns (equity per bar, exposure per bar, number of trades, blocked counts,
    number of refusals).

    Trades are written into `trades` and refused entries into `refusals` (`R_*` columns), which
    must each have `trade_capacity(entries)` rows: the
    matrix is allocated by the caller because growing an array inside the loop makes numba
    reference-count it on every bar (measured: 10 ms per million bars); for the same reason the
    loop indexes `pos[k, column]` rather than taking row views.
    `stop_frac`/`target_frac` are per-bar suggestions (NaN = default); an empty matrix means the
    defaults everywhere, which spares callers an (n, k) array of NaN.
    """
    n, k_tokens = close.shape
    has_stop_frac = stop_frac.shape[0] > 0
    has_target_frac = target_frac.shape[0] > 0
    equity = np.empty(n, dtype=np.float64)
    exposure = np.zeros(n, dtype=np.bool_)
    blocked = np.zeros(N_BLOCK_REASONS, dtype=np.int64)
    n_trades = 0
    n_refusals = 0

    pos = np.zeros((k_tokens, P_COLUMNS))
    last_close = np.full(k_tokens, np.nan)
    pending_budget = np.zeros(k_tokens)
    pending_stop = np.zeros(k_tokens)
    pending_target = np.zeros(k_tokens)
    pending_exit = np.zeros(k_tokens, dtype=np.int64)

    state = np.zeros(STATE_SIZE)
    cash = initial_cash
    open_count = 0  # held positions plus entries waiting for the next open
    held = 0
    if n > 0:
        new_state(state, initial_cash, float(open_time[0]))

    for t in range(n):
        bar_open_time = float(open_time[t])
        now = bar_open_time + bar_seconds

        # 1. Pending orders fill at this bar's open: exits first, then entries.
        if next_open:
            for k in range(k_tokens):
                if pending_exit[k] != 0 and not math.isnan(open_[t, k]):
                    cash += _exit(
                        trades, n_trades, state, limits, pos, k, t, bar_open_time,
                        open_[t, k], pending_exit[k], liquidity[k], slippage, fee,
                    )  # fmt: skip
                    n_trades += 1
                    open_count -= 1
                    held -= 1
                    pending_exit[k] = 0
            for k in range(k_tokens):
                if pending_budget[k] > 0.0 and not math.isnan(open_[t, k]):
                    budget = min(pending_budget[k], cash - reserve)
                    pending_budget[k] = 0.0
                    if budget <= 0.0:
                        open_count -= 1
                        n_refusals = _refuse(refusals, n_refusals, blocked, bar_open_time, k, _CASH)
                        continue
                    _enter(
                        pos, k, budget, open_[t, k], t, bar_open_time, pending_stop[k],
                        pending_target[k], liquidity[k], slippage, fee,
                    )  # fmt: skip
                    cash -= budget
                    held += 1

        # 2. Price exits. A close fill of this bar happens later (step 5), so a stop is armed from
        # the next bar; a next-open fill happened at this bar's open, so the rest of this bar
        # already trades against it, as it would live.
        for k in range(k_tokens):
            if pos[k, P_QTY] <= 0.0 or math.isnan(open_[t, k]):
                continue
            level, owner = stop_level(pos[k, P_STOP], pos[k, P_HIGHEST], trail_frac)
            reason, raw = price_exit(
                open_[t, k], high[t, k], low[t, k], level, owner, pos[k, P_TARGET]
            )
            if reason != 0:
                cash += _exit(
                    trades, n_trades, state, limits, pos, k, t, bar_open_time, raw, reason,
                    liquidity[k], slippage, fee,
                )  # fmt: skip
                n_trades += 1
                open_count -= 1
                held -= 1

        # 3. Mark at the close; the breakers see realised and unrealised value.
        value = cash
        for k in range(k_tokens):
            if not math.isnan(close[t, k]):
                last_close[k] = close[t, k]
            if pos[k, P_QTY] > 0.0:
                value += pos[k, P_QTY] * last_close[k]
        mark(state, limits, value, now)

        # 4. Signal exits and maximum holding time, at the close.
        for k in range(k_tokens):
            if pos[k, P_QTY] <= 0.0 or pending_exit[k] != 0 or math.isnan(close[t, k]):
                continue
            why = 0
            if exits[t, k]:
                why = _SIGNAL
            elif held_too_long(pos[k, P_ENTRY_TIME], now, max_hold_seconds):
                why = _MAX_HOLD
            if why == 0:
                if high[t, k] > pos[k, P_HIGHEST]:
                    pos[k, P_HIGHEST] = high[t, k]
                continue
            if next_open:
                pending_exit[k] = why
                continue
            sold = pos[k, P_QTY]
            proceeds = _exit(
                trades, n_trades, state, limits, pos, k, t, now, close[t, k], why, liquidity[k],
                slippage, fee,
            )  # fmt: skip
            n_trades += 1
            value += proceeds - sold * close[t, k]
            cash += proceeds
            open_count -= 1
            held -= 1

        # 5. Entries through the risk gate, sized from the value at the close.
        for k in range(k_tokens):
            if not entries[t, k] or pos[k, P_QTY] > 0.0 or pending_budget[k] > 0.0:
                continue
            if math.isnan(close[t, k]):
                continue
            why = check_entry(state, limits, now, open_count)
            if why != 0:
                n_refusals = _refuse(refusals, n_refusals, blocked, now, k, why)
                continue
            budget = entry_budget(limits, value, cash, reserve)
            if budget <= 0.0:
                n_refusals = _refuse(refusals, n_refusals, blocked, now, k, _CASH)
                continue
            s = stop_frac[t, k] if has_stop_frac else math.nan
            if math.isnan(s):
                s = default_stop
            g = target_frac[t, k] if has_target_frac else math.nan
            if math.isnan(g):
                g = default_target
            open_count += 1
            if next_open:
                pending_budget[k] = budget
                pending_stop[k] = s
                pending_target[k] = g
                continue
            _enter(pos, k, budget, close[t, k], t, now, s, g, liquidity[k], slippage, fee)
            cash -= budget
            held += 1
            value += pos[k, P_QTY] * close[t, k] - budget

        equity[t] = value
        exposure[t] = held > 0

    # Positions still open are reported marked at the last close, without exit costs.
    for k in range(k_tokens):
        if pos[k, P_QTY] > 0.0:
            _close(
                trades, n_trades, pos, k, n - 1, float(open_time[n - 1]) + bar_seconds,
                last_close[k], 0.0, _END,
            )  # fmt: skip
            n_trades += 1

    return equity, exposure, n_trades, blocked, n_refusals
