"""What the API answers, field by field. Every answer is one of these models: a row of the
database never goes out whole, so a column added later (a sealed key, a 2FA secret) cannot
leak through the dashboard by accident. Amounts on chain are integer atoms; prices, values
and PnL are exact decimals, sent as strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, PlainSerializer

# An on-chain integer travels as a string, as in the CLI's --json: JavaScript's numbers lose
# integers above 2**53, which a BONK balance in atoms passes.
Atoms = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]


class ErrorDetail(BaseModel):
    status: int
    code: str = Field(description="stable, for scripts: unauthorized, forbidden, not_found, ...")
    message: str = Field(description="one line for people")


class ErrorBody(BaseModel):
    """Every error the API answers has this shape."""

    error: ErrorDetail


class Me(BaseModel):
    role: Literal["operator", "user"]
    username: str | None
    actor: str = Field(description="how the audit log names you")


class SignIn(BaseModel):
    secret: str = Field(
        max_length=128, description="a one-time link's secret, or an operator token"
    )


class SignInWays(BaseModel):
    telegram_login: bool = Field(description="the Telegram Login Widget at /signin/telegram")


class Breaker(BaseModel):
    reason: str
    text: str


class LoopStatus(BaseModel):
    """The running loop's state, from its heartbeat (written after every tick)."""

    now: datetime = Field(description="the trading clock at the loop's last tick")
    seen_at: datetime = Field(description="when the loop last beat (the wall clock)")
    ticks: int
    entries: int
    exits: int
    failed: int
    warming_up: str | None
    prices: dict[str, Decimal]


class UserState(BaseModel):
    username: str
    active: bool
    paused_reason: str | None
    risk_tier: str
    breaker: Breaker | None
    portfolio_value: Decimal
    today_pnl: Decimal = Field(description="realised since midnight UTC (the trading clock's)")
    open_positions: int


class Status(BaseModel):
    world: str
    network: str
    mode: Literal["sim", "paper", "live"]
    quote: str
    tokens: list[str] = Field(description="the tokens the bot trades")
    entries_stopped: bool
    loop: LoopStatus | None = Field(description="null when no trading loop runs")
    users: list[UserState] = Field(description="yours; every user's for the operator")


class UserDetail(UserState):
    wallet: str
    custody: str
    created_at: datetime


class Position(BaseModel):
    token: str
    mint: str
    quantity_atoms: Atoms
    quantity: Decimal
    cost_atoms: Atoms
    entry_price: Decimal
    entry_time: datetime
    stop_loss: Decimal | None
    take_profit: Decimal | None
    trailing_stop_pct: Decimal | None
    price_now: Decimal | None = Field(description="the loop's last price (USD); null without it")


class Holding(BaseModel):
    symbol: str
    mint: str
    atoms: Atoms
    units: Decimal


class Balances(BaseModel):
    """What the wallet held at the loop's last mark (cash), and the tokens of its open
    positions (the books). Assets the bot does not trade are not here: Telegram's /balance
    reads the wallet itself."""

    quote: str
    as_of: datetime | None = Field(description="the loop's last mark (trading clock); null before")
    cash: Holding | None = Field(description="the quote asset then; null before the first mark")
    tokens: list[Holding] = Field(description="held in open positions, one line per token")
    value: Decimal = Field(description="the marked value, in the quote asset")


class Overview(BaseModel):
    """A user's overview page in one answer."""

    user: UserState
    balances: Balances
    positions: list[Position]
    equity: Equity


class Trade(BaseModel):
    id: str
    timestamp: datetime
    token: str
    side: Literal["buy", "sell"]
    price: Decimal
    quantity_atoms: Atoms
    quantity: Decimal
    quote_atoms: Atoms
    quote_amount: Decimal = Field(description="quote_atoms in units of the quote asset")
    fee_lamports: Atoms
    pnl: Decimal | None
    signature: str | None


class TradePage(BaseModel):
    total: int = Field(description="trades matching the filter, on every page")
    offset: int
    limit: int
    trades: list[Trade]


class EquityPoint(BaseModel):
    at: datetime
    value: Decimal


class Equity(BaseModel):
    quote: str
    points: list[EquityPoint]


class Candle(BaseModel):
    """One bar, in USD (the price feed's unit; chart points, not amounts anyone books)."""

    t: datetime
    o: float
    h: float
    low: float = Field(serialization_alias="l")
    c: float


class Fill(BaseModel):
    """One of the user's trades of the token, to mark on its candles."""

    at: datetime
    side: Literal["buy", "sell"]
    price: Decimal = Field(description="the fill's price, in the quote asset")
    y: float = Field(
        description="where to draw it: the fill price on a USD quote, else the bar's close"
    )
    pnl: Decimal | None


class Chart(BaseModel):
    token: str
    timeframe: str
    quote: str
    candles: list[Candle]
    fills: list[Fill]


class Done(BaseModel):
    """An action's answer: `changed` False when it already was so."""

    changed: bool
    message: str


class RiskTierChange(BaseModel):
    tier: Literal["conservative", "moderate", "aggressive"]


class EntriesSwitch(BaseModel):
    stopped: bool


class Report(BaseModel):
    name: str = Field(description="open it at /reports/{name}")
    kind: Literal["backtest", "optimize", "other"]
    written_at: datetime
    size_bytes: int
    image: str | None = Field(description="its equity chart (PNG), when it has one")


HookKindName = Literal["discord", "slack", "json"]
HookGroup = Literal["entry", "exit", "breaker", "summary"]


class Webhook(BaseModel):
    """A user's webhook; its address only as a hint (it carries the endpoint's token)."""

    name: str
    kind: HookKindName
    address: str = Field(description="a hint: scheme, host and the address's last 4 characters")
    events: list[str]
    pending: int = Field(description="deliveries still owed to it")
    failed: int = Field(description="deliveries that gave up (the operator can replay them)")
    from_dashboard: bool = Field(description="added here: it posts to the public internet only")


class WebhookAdd(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="unique among webhooks")
    url: str = Field(
        max_length=2048, description="https:// on the public internet (the endpoint's secret)"
    )
    kind: HookKindName | None = Field(default=None, description="default: from the address")
    events: list[HookGroup] | None = Field(
        default=None, min_length=1, description="default: all of them"
    )
