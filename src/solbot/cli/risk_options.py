"""The risk options of `solbot backtest` and `solbot optimize`: a tier, and any of its limits
set one by one (with `set-risk`'s names where it has them), or `--no-breakers` to see a
strategy without them."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated

import typer

from solbot.domain import RiskLimits
from solbot.errors import UserError
from solbot.risk import tier as risk_tier
from solbot.risk import with_overrides

NO_LIMIT_OPEN = 10_000  # open positions --no-breakers allows: more than any token list


def _pct(help_text: str) -> object:
    return typer.Option(metavar="PCT", help=help_text, show_default=False)


TierOption = Annotated[
    str | None,
    typer.Option(
        metavar="TIER",
        help="Risk tier (position size, circuit breakers): conservative, moderate or "
        "aggressive. Default: the configured risk_tier.",
        show_default=False,
    ),
]
PositionPctOption = Annotated[
    float | None,
    typer.Option(
        metavar="PCT",
        min=0,
        max=100,
        help="Position size in % of portfolio value, instead of the tier's.",
        show_default=False,
    ),
]
MaxOpenOption = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        min=1,
        help="Most positions open at once, instead of the tier's.",
        show_default=False,
    ),
]
MaxPositionOption = Annotated[
    float | None,
    _pct("A position's share of portfolio value, as `set-risk --max-position-pct` sets it."),
]
MaxDailyLossOption = Annotated[
    float | None,
    _pct("The day's loss that stops new entries, as `set-risk --max-daily-loss-pct` sets it."),
]
CooldownLossesOption = Annotated[
    int | None,
    typer.Option(
        metavar="N", min=0, help="Losses in a row that pause entries; 0 = off.", show_default=False
    ),
]
CooldownMinutesOption = Annotated[
    float | None,
    typer.Option(metavar="MIN", help="How long that pause lasts.", show_default=False),
]
MaxDrawdownOption = Annotated[
    float | None,
    _pct("The fall from the high-water mark that pauses entries."),
]
DrawdownPauseOption = Annotated[
    float | None,
    typer.Option(metavar="HOURS", help="How long that pause lasts.", show_default=False),
]
NoBreakersOption = Annotated[
    bool,
    typer.Option(
        "--no-breakers",
        help="Switch every circuit breaker off (daily loss, drawdown, cooldown, open "
        "positions): the strategy and its exits alone, sized as usual.",
    ),
]


# The breakers set one by one: the option, the `RiskLimits` field, the `RiskOptions` attribute.
_BREAKERS = (
    ("--cooldown-losses", "cooldown_losses", "cooldown_losses"),
    ("--cooldown-minutes", "cooldown_minutes", "cooldown_minutes"),
    ("--max-drawdown-pct", "max_drawdown_pct", "max_drawdown_pct"),
    ("--drawdown-pause-hours", "drawdown_pause_hours", "drawdown_pause_hours"),
    ("--max-open", "max_open_positions", "max_open"),
)


@dataclass(frozen=True)
class RiskOptions:
    """What the options said; `limits()` is the tier with them applied."""

    tier: str
    position_pct: float | None = None
    max_open: int | None = None
    max_position_pct: float | None = None
    max_daily_loss_pct: float | None = None
    cooldown_losses: int | None = None
    cooldown_minutes: float | None = None
    max_drawdown_pct: float | None = None
    drawdown_pause_hours: float | None = None
    no_breakers: bool = False

    def limits(self) -> RiskLimits:
        """The limits, or one line naming the option to fix."""
        for option, value, low, high in (
            ("--position-pct", self.position_pct, 0.0, 100.0),
            ("--max-position-pct", self.max_position_pct, 0.0, 100.0),
            ("--max-daily-loss-pct", self.max_daily_loss_pct, 0.0, 100.0),
            ("--max-drawdown-pct", self.max_drawdown_pct, 0.0, 100.0),
        ):
            if value is not None and not (math.isfinite(value) and low < value <= high):
                raise UserError(
                    f"{option} must be above {low:g} and at most {high:g}, got {value:g}"
                )
        for option, amount in (
            ("--cooldown-minutes", self.cooldown_minutes),
            ("--drawdown-pause-hours", self.drawdown_pause_hours),
        ):
            if amount is not None and not (math.isfinite(amount) and amount >= 0):
                raise UserError(f"{option} must be a number of at least 0, got {amount:g}")
        breakers = {option: getattr(self, attr) for option, _field, attr in _BREAKERS}
        if self.no_breakers:
            given = {"--max-daily-loss-pct": self.max_daily_loss_pct, **breakers}
            named = [option for option, value in given.items() if value is not None]
            if named:
                raise UserError(f"--no-breakers switches them all off; drop {', '.join(named)}")
        try:
            limits = risk_tier(self.tier)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        limits = with_overrides(limits, self.max_position_pct, self.max_daily_loss_pct)
        if self.position_pct is not None:
            limits = replace(
                limits,
                position_size_pct=self.position_pct,
                max_position_pct=max(self.position_pct, limits.max_position_pct),
            )
        changes: dict[str, float | int] = {
            field: breakers[option]
            for option, field, _attr in _BREAKERS
            if breakers[option] is not None
        }
        if self.no_breakers:
            changes = {
                "max_daily_loss_pct": 100.0,  # only a total loss: never, with positive prices
                "max_drawdown_pct": 100.0,
                "cooldown_losses": 0,
                "max_open_positions": NO_LIMIT_OPEN,
            }
        return replace(limits, **changes)
