"""Circuit breakers: each one blocks entries with its own reason, and only entries."""

import pytest

from solbot.domain import BlockReason, RiskLimits
from solbot.risk import RISK_TIERS, RiskGate, tier

DAY = 86_400.0
T0 = 1_700_006_400.0  # a UTC midnight (2023-11-15)


def limits(**overrides):
    base = dict(
        position_size_pct=10.0,
        max_position_pct=20.0,
        max_daily_loss_pct=5.0,
        max_open_positions=2,
        cooldown_losses=2,
        cooldown_minutes=60.0,
        max_drawdown_pct=20.0,
        drawdown_pause_hours=24.0,
        fee_reserve_sol=0.05,
    )
    base.update(overrides)
    return RiskLimits(**base)


def test_t0_is_midnight():
    assert T0 % DAY == 0


def test_sizing_is_a_fraction_of_value_capped_by_max_position_and_cash():
    gate = RiskGate(limits(), equity=1_000.0, now=T0)
    assert gate.entry(1_000.0, 1_000.0, 0.0, 0, T0).budget == pytest.approx(100.0)
    capped = RiskGate(limits(position_size_pct=50.0, max_position_pct=20.0), 1_000.0, T0)
    assert capped.entry(1_000.0, 1_000.0, 0.0, 0, T0).budget == pytest.approx(200.0)
    short = gate.entry(1_000.0, 60.0, 0.05, 0, T0)
    assert short.budget == pytest.approx(59.95)


def test_fee_reserve_is_never_traded():
    gate = RiskGate(limits(), 1_000.0, T0)
    verdict = gate.entry(1_000.0, 0.05, 0.05, 0, T0)
    assert verdict.blocked is BlockReason.INSUFFICIENT_CASH
    assert verdict.budget == 0.0
    assert "0.05 SOL fee reserve" in gate.describe(verdict.blocked, T0)


def test_daily_loss_blocks_until_the_next_utc_day():
    gate = RiskGate(limits(), 1_000.0, T0)
    assert gate.mark(960.0, T0 + 3600) is BlockReason.NONE
    assert gate.mark(950.0, T0 + 7200) is BlockReason.DAILY_LOSS  # exactly -5%
    verdict = gate.entry(950.0, 950.0, 0.0, 0, T0 + 7300)
    assert verdict.blocked is BlockReason.DAILY_LOSS
    assert "next UTC day" in gate.describe(verdict.blocked, T0 + 7300)
    assert gate.entry(950.0, 950.0, 0.0, 0, T0 + DAY - 1).blocked is BlockReason.DAILY_LOSS
    # A new day resets the limit, even before the next mark arrives.
    assert gate.entry(950.0, 950.0, 0.0, 0, T0 + DAY + 60).allowed


def test_daily_loss_counts_from_the_value_at_midnight():
    gate = RiskGate(limits(), 1_000.0, T0)
    gate.mark(2_000.0, T0 + DAY - 60)  # big gain late on day 1
    assert gate.mark(1_950.0, T0 + DAY + 60) is BlockReason.NONE  # -2.5% of 2,000
    assert gate.mark(1_900.0, T0 + DAY + 120) is BlockReason.DAILY_LOSS  # -5% of 2,000


def test_drawdown_pauses_then_restarts_from_current_equity():
    gate = RiskGate(limits(max_daily_loss_pct=100.0), 1_000.0, T0)
    gate.mark(1_500.0, T0 + 3600)  # high-water mark 1,500
    assert gate.mark(1_250.0, T0 + DAY) is BlockReason.NONE
    assert gate.mark(1_200.0, T0 + DAY + 3600) is BlockReason.DRAWDOWN  # -20% of 1,500
    now = T0 + DAY + 7200
    verdict = gate.entry(1_200.0, 1_200.0, 0.0, 0, now)
    assert verdict.blocked is BlockReason.DRAWDOWN
    assert "23.0 h more" in gate.describe(verdict.blocked, now)
    after = T0 + 2 * DAY + 3600
    assert gate.mark(1_190.0, after) is BlockReason.NONE  # pause over; HWM restarts at 1,190
    assert gate.entry(1_190.0, 1_190.0, 0.0, 0, after).allowed
    assert gate.mark(952.0, after + 60) is BlockReason.DRAWDOWN  # -20% of 1,190


def test_cooldown_after_consecutive_losses_only():
    gate = RiskGate(limits(), 1_000.0, T0)
    assert gate.record_trade(-1.0, T0) is BlockReason.NONE
    assert gate.record_trade(+1.0, T0) is BlockReason.NONE  # a win resets the streak
    assert gate.record_trade(-1.0, T0) is BlockReason.NONE
    assert gate.record_trade(-1.0, T0 + 10) is BlockReason.COOLDOWN
    assert gate.entry(1_000.0, 1_000.0, 0.0, 0, T0 + 20).blocked is BlockReason.COOLDOWN
    assert "cooling down for 60 min" in gate.describe(BlockReason.COOLDOWN, T0 + 10)
    assert gate.entry(1_000.0, 1_000.0, 0.0, 0, T0 + 10 + 3600).allowed


def test_cooldown_disabled_with_zero_losses():
    gate = RiskGate(limits(cooldown_losses=0), 1_000.0, T0)
    for _ in range(10):
        assert gate.record_trade(-1.0, T0) is BlockReason.NONE
    assert gate.entry(1_000.0, 1_000.0, 0.0, 0, T0).allowed


def test_max_open_positions():
    gate = RiskGate(limits(), 1_000.0, T0)
    assert gate.entry(1_000.0, 1_000.0, 0.0, 1, T0).allowed
    verdict = gate.entry(1_000.0, 1_000.0, 0.0, 2, T0)
    assert verdict.blocked is BlockReason.MAX_OPEN_POSITIONS
    assert "2 open positions" in gate.describe(verdict.blocked, T0)


def test_tiers_are_ordered_from_careful_to_bold():
    c, m, a = (RISK_TIERS[name] for name in ("conservative", "moderate", "aggressive"))
    for field in ("position_size_pct", "max_position_pct", "max_daily_loss_pct"):
        assert getattr(c, field) < getattr(m, field) < getattr(a, field)
    assert c.max_drawdown_pct < m.max_drawdown_pct < a.max_drawdown_pct
    assert c.max_open_positions < m.max_open_positions < a.max_open_positions
    assert tier(" Moderate ") == m


def test_unknown_tier_names_the_choices():
    with pytest.raises(ValueError, match="conservative, moderate, aggressive"):
        tier("yolo")


@pytest.mark.parametrize(
    ("field", "value"),
    [("position_size_pct", -1.0), ("max_daily_loss_pct", 0.0), ("max_position_pct", 150.0)],
)
def test_limits_reject_bad_percentages(field, value):
    with pytest.raises(ValueError, match=field):
        limits(**{field: value})


def test_state_survives_a_restart():
    gate = RiskGate(limits(), 1_000.0, T0)
    gate.mark(950.0, T0 + 60)  # trips the daily limit
    again = RiskGate(limits(), 950.0, T0 + 120)
    assert again.entry(950.0, 950.0, 0.0, 0, T0 + 120).allowed  # a fresh gate forgot the trip
    again.restore(gate.state())
    assert again.entry(950.0, 950.0, 0.0, 0, T0 + 120).blocked is BlockReason.DAILY_LOSS
    with pytest.raises(ValueError, match="numbers"):
        again.restore([1.0])


def test_a_bars_trades_count_in_the_backtests_order_whatever_order_they_came_in():
    """Issue 13, seed 35: a stop (a loss) on a later token came a tick before a target (a win)
    on an earlier one in the same bar. The kernel books a bar's price exits in the token list's
    order, win first: no cooldown. Live counted the loss first: two in a row, twelve hours of
    cooldown the backtest never had."""
    gate = RiskGate(RiskLimits(cooldown_losses=2, cooldown_minutes=720.0), 10_000.0, T0)
    gate.record_trade(-1.0, T0)  # a loss in an earlier bar
    bar = T0 + 300
    assert gate.record_trade(-1.0, bar, order=3) is BlockReason.COOLDOWN  # as it came ...
    assert gate.record_trade(+1.0, bar, order=1) is BlockReason.NONE  # ... undone: win first
    assert gate.entry(10_000.0, 10_000.0, 0.0, 0, bar + 300).allowed
    # counted win then loss, the bar ends a loss streak of one: the next loss makes two
    assert gate.record_trade(-1.0, bar + 300) is BlockReason.COOLDOWN
    assert not gate.entry(10_000.0, 10_000.0, 0.0, 0, bar + 600).allowed
