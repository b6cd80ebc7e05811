"""`solbot reconcile`'s verdicts: each difference between a run and the backtest of its candles
gets the cause the run recorded, and later differences follow from the first."""

from __future__ import annotations

from solbot.backtest.run_diff import Refusal, Trade, compare, summary

H = 3600


def t(entry: int, token: str, exit_: int | None, reason: str, pnl: float | None = 1.0) -> Trade:
    return Trade(entry * H, token, None if exit_ is None else exit_ * H, reason, pnl)


def test_the_same_trades_match() -> None:
    trades = [t(1, "JUP", 3, "signal"), t(2, "BONK", None, "open", None)]
    rows = compare(trades, list(trades))
    assert [r.matched for r in rows] == [True, True]
    assert summary(rows) == (2, 0, 0)


def test_an_exit_that_differs_is_named_by_what_ended_the_live_trade() -> None:
    live = [t(1, "JUP", 2, "manual"), t(5, "WIF", 6, "moved_out"), t(8, "JTO", 9, "stop_loss")]
    tested = [t(1, "JUP", 4, "signal"), t(5, "WIF", 7, "signal"), t(8, "JTO", 10, "stop_loss")]
    rows = compare(live, tested)
    assert [r.cause for r in rows] == [
        "closed by hand (/close)",
        "its tokens left the wallet",
        "fill price vs bar: the backtest fills a stop or target at its level",
    ]
    assert summary(rows) == (0, 3, 0)


def test_a_stop_or_target_difference_names_both_fills_and_levels() -> None:
    """What a user asks first: where each side filled and where its stop sat. A dearer entry
    live puts the stop higher, so the live trade stops out first (or a cheaper one, later)."""
    live = [
        Trade(H, "JTO", 2 * H, "stop_loss", -5.7, entry_price=1.3052, stop=1.2400, target=1.4357),
        Trade(5 * H, "JUP", 7 * H, "take_profit", 6.5, entry_price=0.5, stop=0.49, target=0.55),
    ]
    tested = [
        Trade(H, "JTO", 4 * H, "take_profit", 1.6, entry_price=1.3, stop=1.235, target=1.43),
        Trade(5 * H, "JUP", 8 * H, "take_profit", 7.3, entry_price=0.5, stop=0.49, target=0.55),
    ]
    rows = compare(live, tested)
    assert [r.cause for r in rows] == [
        "fill price vs bar: entry +0.40 % live (1.3052 vs 1.3), stop 1.24 vs 1.235",
        "fill price vs bar: same entry and target (0.55); live exits at the first tick past "
        "the level, the backtest on the bar that reaches it",
    ]


def test_an_entry_live_did_not_make_is_named_by_the_refusal_of_its_bar() -> None:
    tested = [t(1, "JUP", 2, "signal"), t(3, "BONK", 4, "signal"), t(6, "WIF", 7, "signal")]
    refusals = [
        Refusal(1 * H + 120, "JUP", "the live order failed: slippage"),  # inside bar 1
        Refusal(3 * H, "*", "paused by the operator"),
        Refusal(5 * H, "WIF", "refused live: cooldown"),  # another bar: not this entry's
    ]
    rows = compare([], tested, refusals, bar_seconds=H)
    assert [r.cause for r in rows] == [
        "the live order failed: slippage",
        "paused by the operator",
        "follows an earlier difference (cash, breakers)",
    ]


def test_a_difference_with_nothing_before_it_and_no_record_is_not_explained() -> None:
    rows = compare([t(2, "JUP", 3, "signal")], [t(1, "BONK", 2, "signal")])
    causes = [r.cause.split(":")[0] for r in rows]
    assert causes == ["not explained", "follows an earlier difference (cash, breakers)"]
    assert summary(rows) == (0, 1, 1)


def test_a_pause_covers_every_entry_of_its_span() -> None:
    pause = Refusal(2 * H, "*", "the user was paused", until=5 * H)
    tested = [t(1, "JUP", 2, "signal"), t(2, "JUP", 3, "signal"), t(4, "WIF", 5, "signal")]
    tested.append(t(5, "BONK", 6, "signal"))
    rows = compare([], tested, [pause], bar_seconds=H)
    assert [r.cause.split(":")[0] for r in rows] == [
        "not explained",  # before the pause
        "the user was paused",
        "the user was paused",
        "follows an earlier difference (cash, breakers)",  # it ended at 5 H
    ]


def test_an_entry_only_live_made_names_the_backtest_s_refusal() -> None:
    """After a first difference the books differ; what kept the backtest out is said (its
    breaker at that close). Before any difference, the same refusal is a parity gap."""
    refused = [Refusal(4 * H, "JTO", "cooldown"), Refusal(1 * H, "WIF", "daily loss")]
    live = [t(1, "WIF", 2, "signal"), t(3, "JUP", 4, "stop_loss"), t(4, "JTO", 5, "signal")]
    tested = [t(3, "JUP", 6, "stop_loss")]
    rows = compare(live, tested, bar_seconds=H, backtest_refusals=refused)
    assert [r.cause for r in rows] == [
        "not explained: the backtest refused it (daily loss), live did not",
        "fill price vs bar: the backtest fills a stop or target at its level",
        "follows an earlier difference: the backtest refused it (cooldown)",
    ]
    assert summary(rows) == (0, 2, 1)
