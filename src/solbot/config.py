"""Settings from the environment, `.env` and an optional `solbot.toml`, with safe defaults.

Precedence (highest first): explicit arguments, environment (`SOLBOT_*`), `.env`, `solbot.toml`.
The defaults run everything offline: the simulated network, a SQLite file, no real money.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from solbot.domain import ExitRules, RiskLimits, Timeframe, TokenInfo
from solbot.errors import UserError
from solbot.store.paths import default_url
from solbot.worlds import Hints, World

if TYPE_CHECKING:  # the trading stack is imported where it runs, not for `solbot --help`
    from solbot.quarantine import BackoffPolicy
    from solbot.wallet.decrypt_guard import DecryptLimits


class TokenConfig(BaseModel):
    """One entry of the token list, as written in `solbot.toml` under `[[tokens]]`."""

    symbol: str
    mint: str
    decimals: int = Field(ge=0, le=18)
    pool: str = ""
    liquidity_usd: float = Field(default=5_000_000.0, gt=0)

    def to_domain(self) -> TokenInfo:
        return TokenInfo(
            self.symbol.upper(), self.mint, self.decimals, self.pool, self.liquidity_usd
        )


# Real mainnet mints. Pools are GeckoTerminal pool addresses used for history downloads; the
# liquidity figure is the depth of the constant-product pool the backtester models for impact.
DEFAULT_TOKENS: tuple[TokenConfig, ...] = (
    TokenConfig(
        symbol="SOL",
        mint="So11111111111111111111111111111111111111112",
        decimals=9,
        pool="58oQChx4yWmvKdwLLZzBi4ChoCc2fqCUWBkwMihLYQo2",
        liquidity_usd=20_000_000.0,
    ),
    TokenConfig(
        symbol="USDC",
        mint="EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        decimals=6,
        pool="",
        liquidity_usd=50_000_000.0,
    ),
    TokenConfig(
        symbol="JUP",
        mint="JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN",
        decimals=6,
        pool="C1MgLojNLWBKADvu9BHdtgzz1oZX4dZ5zGdGcgvvW8Wz",
        liquidity_usd=3_000_000.0,
    ),
    TokenConfig(
        symbol="BONK",
        mint="DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263",
        decimals=5,
        pool="HVNwzt7Pxfu76KHCMQPTLuTCLTm6WnQ1esLv4eizseSv",
        liquidity_usd=2_000_000.0,
    ),
    TokenConfig(
        symbol="WIF",
        mint="EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm",
        decimals=6,
        pool="EP2ib6dYdEeqD8MfE2ezHCxX3kP3K2eLKkirfPm5eyMx",
        liquidity_usd=2_000_000.0,
    ),
    TokenConfig(
        symbol="JTO",
        mint="jtojtomepa8beP8AuQc6eXt5FriJwfFMwQx2v2f9mCL",
        decimals=9,
        pool="G2FiE1yn9N9ZJx5e1E2LxxMnHvb1H3hCuHLPfKJ98smA",
        liquidity_usd=1_000_000.0,
    ),
    TokenConfig(
        symbol="PYTH",
        mint="HZ1JovNiVvGrGNiiYvEozEVgZ58xaU3RKwX8eACQBCt3",
        decimals=6,
        pool="9n3dSLrERZQp95dHXywft7xV8D8xnGFLaUHtEhQVaXaC",
        liquidity_usd=1_000_000.0,
    ),
    TokenConfig(
        symbol="RAY",
        mint="4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R",
        decimals=6,
        pool="AVs9TA4nWDzfPJE9gGVNJMVhcQy3V9PGazuz33BfG2RA",
        liquidity_usd=1_000_000.0,
    ),
)

QUOTE_ASSETS = ("USDC", "SOL")
ENV_FILE = Path(".env")
TOML_FILE = Path("solbot.toml")
LIVE_OPT_IN = "I_UNDERSTAND"  # the value of SOLBOT_LIVE that opts into real money


def _json(text: str, kind: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not {kind} ({exc})") from None


class Settings(BaseSettings):
    """Everything an operator can configure. See `.env.example` for the environment names."""

    model_config = SettingsConfigDict(
        env_prefix="SOLBOT_",
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        toml_file=TOML_FILE,
    )

    data_dir: Path = Path("data")
    log_level: Literal["debug", "info"] = "info"
    network: Literal["sim", "devnet", "mainnet"] = "sim"
    quote: Literal["USDC", "SOL"] = "USDC"
    timeframe: Timeframe = Timeframe.H1
    strategy: str = "ema_trend"
    strategy_params: Annotated[dict[str, Any], NoDecode] = Field(default_factory=dict)
    risk_tier: Literal["conservative", "moderate", "aggressive"] = "moderate"
    trade_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["JUP", "BONK", "WIF", "JTO"]
    )
    tokens: Annotated[list[TokenConfig], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_TOKENS)
    )
    fee_bps: float = Field(default=25.0, ge=0, lt=10_000)
    slippage_bps: float = Field(default=10.0, ge=0, lt=10_000)
    # Exits of every position, live and in a backtest alike (where a strategy suggests no stop or
    # target of its own); 0 switches a rule off.
    stop_loss_pct: float = Field(default=5.0, ge=0, lt=100)
    take_profit_pct: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    trailing_stop_pct: float = Field(default=0.0, ge=0, lt=100)
    max_hold_hours: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    geckoterminal_url: str = "https://api.geckoterminal.com/api/v2"

    # Trading loop (solbot run).
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file in the data dir",
        validation_alias=AliasChoices("DATABASE_URL", "SOLBOT_DATABASE_URL"),
    )
    poll_seconds: float = Field(default=10.0, gt=0)
    price_max_age_seconds: float = Field(default=60.0, gt=0)
    jupiter_url: str = "https://api.jup.ag"
    jupiter_api_key: SecretStr | None = None
    jupiter_route: Literal["v2", "build", "v1", "auto"] = "v2"
    # Our own landing (`jupiter_route = "build"`): the percentile of recent priority fees to bid,
    # and the most one transaction may pay in priority fees, in lamports (0.001 SOL).
    priority_fee_percentile: int = Field(default=75, ge=0, le=100)
    max_priority_fee_lamports: int = Field(default=1_000_000, ge=0, le=1_000_000_000)
    # Swap programs the wallet may sign for beside Jupiter's own (`solbot.execution.vetting`):
    # addresses, comma-separated; a transaction calling any other program is never signed.
    trusted_programs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    jupiter_rps: float = Field(default=1.0, gt=0)
    max_price_impact_pct: float = Field(default=1.0, gt=0, le=100)
    rpc_url: str | None = None
    live: str = Field(default="", description="must be I_UNDERSTAND to trade real money")
    # Orders that keep failing (`solbot.quarantine`): the wait after the first failure, doubled
    # after each next one up to the maximum; after this many failures in a row, quarantine.
    order_retry_seconds: float = Field(default=30.0, gt=0)
    order_retry_max_seconds: float = Field(default=1800.0, gt=0)
    order_max_attempts: int = Field(default=8, ge=1)

    # Paper trading: the network's real prices and quotes, fills booked in a database of its own.
    paper: bool = False
    paper_database_url: str | None = None
    paper_cash: float | None = Field(
        default=None, gt=0, description="starting paper balance in the quote asset"
    )

    # Phase 0: one operator wallet from the environment (the seed's names, no prefix).
    wallet_private_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("WALLET_PRIVATE_KEY", "SOLBOT_WALLET_PRIVATE_KEY"),
    )
    max_position_size_pct: float | None = Field(
        default=None,
        gt=0,
        le=100,
        validation_alias=AliasChoices("MAX_POSITION_SIZE_PCT", "SOLBOT_MAX_POSITION_SIZE_PCT"),
    )
    max_daily_loss_pct: float | None = Field(
        default=None,
        gt=0,
        le=100,
        validation_alias=AliasChoices("MAX_DAILY_LOSS_PCT", "SOLBOT_MAX_DAILY_LOSS_PCT"),
    )

    # Users (the multi-user loop).
    min_trade_cash: float | None = Field(
        default=None,
        ge=0,
        description="quote a user needs before positions open (default 10 USDC or 0.1 SOL)",
    )
    decrypt_per_user_per_minute: int = Field(default=30, ge=1)
    decrypt_per_minute: int = Field(default=50_000, ge=1)
    decrypt_pause_minutes: float = Field(default=15.0, ge=0)

    # Telegram (the seed's names, without the prefix).
    telegram_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "SOLBOT_TELEGRAM_BOT_TOKEN"),
    )
    telegram_allowed_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TELEGRAM_ALLOWED_IDS", "SOLBOT_TELEGRAM_ALLOWED_IDS"),
    )
    telegram_operator_chat_id: int | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TELEGRAM_OPERATOR_CHAT_ID", "SOLBOT_TELEGRAM_OPERATOR_CHAT_ID"
        ),
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        validation_alias=AliasChoices("TELEGRAM_API_URL", "SOLBOT_TELEGRAM_API_URL"),
    )
    telegram_commands_per_minute: int = Field(default=20, ge=1)
    # Friends' own withdrawals and exports (Telegram).
    withdrawal_timelock_hours: float = Field(default=24.0, ge=0)
    withdrawal_daily_limit_pct: float = Field(default=50.0, gt=0, le=100)
    # The operator's performance fee: a share of each user's realised profit above their
    # high-water mark, accrued per day (`solbot.fees`); 0 is off. `solbot set-fee` overrides
    # it per user.
    performance_fee_pct: float = Field(default=0.0, ge=0, lt=100)
    # Where accrued fees are paid (the operator's wallet address); unset: they accrue, unpaid.
    # `solbot run` sweeps each day's fees there, in the quote asset (`solbot.fee_sweeps`),
    # once at least `fee_sweep_minimum` quote units are owed (default 1 USDC or 0.01 SOL).
    fee_wallet: str | None = None
    fee_sweep_minimum: float | None = Field(default=None, gt=0)
    exports_per_day: int = Field(default=3, ge=1)
    daily_summary_utc: str = Field(default="20:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    export_visible_seconds: float = Field(default=60.0, gt=0)

    # The dashboard and its API (`solbot web`, `solbot run --web`): where it listens, and the
    # address friends open (sign-in links from Telegram's /web): the reverse proxy's https
    # address where the operator has a domain; unset, http://<web_host>:<web_port>.
    web: bool = False  # `solbot run` serves the dashboard too (`--web`)
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8780, ge=1, le=65535)
    web_url: str | None = None
    web_requests_per_minute: int = Field(default=240, ge=1)
    # The reverse proxy in front of the dashboard (its address): only its X-Forwarded-For is
    # believed, so that request budgets count each browser, not the proxy.
    web_trusted_proxy: str | None = None
    # Friends sign in with the Telegram Login Widget too, where the operator has a domain
    # (SOLBOT_WEB_URL https, linked to the bot with BotFather's /setdomain): the bot's
    # username, which the widget names.
    web_telegram_login: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{5,32}$")

    # The simulated network.
    sim_seed: int = Field(default=7, ge=0)
    sim_wallet_usdc: float = Field(default=10_000.0, ge=0)
    sim_wallet_sol: float = Field(default=5.0, ge=0)
    # What the sim's faucet deposits into each new user's wallet (the embedded sim only).
    sim_user_usdc: float = Field(default=1_000.0, ge=0)
    sim_user_sol: float = Field(default=1.0, ge=0)

    @field_validator("telegram_allowed_ids", "trade_tokens", "trusted_programs", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """A list from the environment as `JUP,BONK` (or one `JUP`) or as JSON `["JUP"]`."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return _json(text, "a valid JSON list")
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("strategy_params", "tokens", mode="before")
    @classmethod
    def _json_value(cls, value: Any) -> Any:
        """Structured settings from the environment are JSON text (solbot.toml gives tables)."""
        return _json(value, "valid JSON") if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} is a file, not a folder")
        return value

    @field_validator("trusted_programs")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        from solders.pubkey import Pubkey  # only when the setting is given: the CLI starts light

        for address in value:
            try:
                canonical = str(Pubkey.from_string(address)) == address
            except ValueError:
                canonical = False
            if not canonical:
                raise ValueError(f"{address[:60]!r} is not a Solana address")
        return value

    @field_validator("trade_tokens")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [v.upper() for v in value]

    @model_validator(mode="after")
    def _trade_tokens_are_known(self) -> Settings:
        self._merge_added_tokens()
        known = {t.symbol.upper() for t in self.tokens}
        unknown = [s for s in self.trade_tokens if s not in known]
        if unknown:
            raise ValueError(
                f"trade_tokens {', '.join(unknown)} not in the token list "
                f"({', '.join(sorted(known))})"
            )
        return self

    def _merge_added_tokens(self) -> None:
        """Tokens `solbot tokens add` kept in the data dir join the list (`added_tokens`)."""
        from solbot.added_tokens import load_added

        symbols = {t.symbol.upper() for t in self.tokens}
        mints = {t.mint for t in self.tokens}
        for entry in load_added(self.data_dir):
            token = TokenConfig.model_validate(entry)
            if token.symbol.upper() not in symbols and token.mint not in mints:
                self.tokens = [*self.tokens, token]
                symbols.add(token.symbol.upper())
                mints.add(token.mint)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
        )

    def token_map(self) -> dict[str, TokenInfo]:
        return {t.symbol.upper(): t.to_domain() for t in self.tokens}

    def token(self, symbol: str) -> TokenInfo:
        """Look a token up by symbol; the error names the known ones."""
        tokens = self.token_map()
        try:
            return tokens[symbol.upper()]
        except KeyError:
            known = ", ".join(sorted(tokens))
            raise KeyError(
                f"unknown token {symbol!r}; known tokens: {known} (add one with `solbot tokens "
                f"add MINT --symbol {symbol.upper()}`)"
            ) from None

    @property
    def world(self) -> World:
        """The network and mode this invocation acts in (see `solbot.worlds`)."""
        return World(self.network, self.paper)

    @property
    def world_dir(self) -> Path:
        """Everything of this world: its database, sim state, built candles and log."""
        return self.data_dir / self.world.name

    @property
    def database(self) -> str:
        """Where this world's trading state lives: `DATABASE_URL` (`SOLBOT_PAPER_DATABASE_URL`
        for paper trading, whose books must never be mistaken for real ones), else a SQLite
        file in the world's folder. Whatever the URL, the database records its world and every
        command checks it (`store.world_mark`)."""
        if self.paper:
            return self.paper_database_url or default_url(self.world_dir)
        return self.database_url or default_url(self.world_dir)

    def world_hints(self) -> Hints:
        """What tells an unmarked database's world from outside it (`store.world_mark`), for a
        command about to open this world's database; `UserError` while the default database
        cannot be opened because one from before worlds waits to be sorted (`legacy_layout`)."""
        from solbot.legacy_layout import unsorted
        from solbot.sim.network import wallet_keypair
        from solbot.store.db import shown_url, sqlite_path

        default = (self.paper_database_url if self.paper else self.database_url) is None
        problem = unsorted(self.data_dir, self.world) if default else None
        if problem is not None:
            raise UserError(problem)
        url = self.database
        path = sqlite_path(url)
        beside = path is not None and (path.parent / "sim-state.json").exists()
        return Hints(
            shown=shown_url(url),
            sim_state_beside=beside,
            sim_wallet=str(wallet_keypair(self.sim_seed).pubkey()),
        )

    def backoff_policy(self) -> BackoffPolicy:
        """The back-off and quarantine of orders that keep failing."""
        from solbot.quarantine import BackoffPolicy

        return BackoffPolicy(
            first_delay=self.order_retry_seconds,
            max_delay=max(self.order_retry_seconds, self.order_retry_max_seconds),
            max_attempts=self.order_max_attempts,
        )

    def exit_rules(self) -> ExitRules:
        """The configured exits, as `solbot run` trades them and `solbot backtest` tests them."""
        return ExitRules(
            stop_loss_pct=self.stop_loss_pct,
            take_profit_pct=self.take_profit_pct,
            trailing_stop_pct=self.trailing_stop_pct,
            max_hold_minutes=self.max_hold_hours * 60.0,
        )

    def operator_limits(self) -> RiskLimits:
        """The operator's breakers: the tier with the seed's `MAX_POSITION_SIZE_PCT` and
        `MAX_DAILY_LOSS_PCT` (other users' come from their rows: `roster.user_limits`)."""
        from solbot.risk import tier, with_overrides

        return with_overrides(
            tier(self.risk_tier), self.max_position_size_pct, self.max_daily_loss_pct
        )

    def min_trade_cash_for(self, quote: str) -> float:
        if self.min_trade_cash is not None:
            return self.min_trade_cash
        return 0.1 if quote == "SOL" else 10.0

    def fee_sweep_minimum_for(self, quote: str) -> float:
        if self.fee_sweep_minimum is not None:
            return self.fee_sweep_minimum
        return 0.01 if quote == "SOL" else 1.0

    def decrypt_limits(self) -> DecryptLimits:
        from solbot.wallet.decrypt_guard import DecryptLimits

        return DecryptLimits(
            per_user=self.decrypt_per_user_per_minute,
            overall=self.decrypt_per_minute,
            window_seconds=60.0,
            pause_seconds=self.decrypt_pause_minutes * 60.0,
        )

    @property
    def paper_starting_cash(self) -> float:
        """The quote units a new paper account starts with (10,000 USDC or 50 SOL by default)."""
        if self.paper_cash is not None:
            return self.paper_cash
        return 50.0 if self.quote == "SOL" else 10_000.0

    @property
    def sim_state_path(self) -> Path:
        """The embedded sim's accounts, clock and prices (a sim world's own)."""
        return self.world_dir / "sim-state.json"

    @property
    def telegram_login_problem(self) -> str | None:
        """Why the Telegram Login Widget cannot be offered (None: it can, or is not asked)."""
        if self.web_telegram_login is None:
            return None
        if self.telegram_bot_token is None:
            return "SOLBOT_WEB_TELEGRAM_LOGIN needs TELEGRAM_BOT_TOKEN (its hash is keyed by it)"
        if not (self.web_url or "").startswith("https://"):
            return (
                "SOLBOT_WEB_TELEGRAM_LOGIN needs SOLBOT_WEB_URL=https://<the domain linked to "
                "the bot with BotFather's /setdomain>"
            )
        return None

    @property
    def web_address(self) -> str:
        """Where friends open the dashboard (the links Telegram's /web sends)."""
        if self.web_url:
            return self.web_url.rstrip("/")
        host = f"[{self.web_host}]" if ":" in self.web_host else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def log_path(self) -> Path:
        """Where `solbot run` writes its JSON-lines log: the world's own."""
        return self.world_dir / "solbot.log"

    @property
    def rpc(self) -> str:
        if self.rpc_url:
            return self.rpc_url
        return {
            "mainnet": "https://api.mainnet-beta.solana.com",
            "devnet": "https://api.devnet.solana.com",
        }.get(self.network, "")

    @property
    def candles_dir(self) -> Path:
        """Market history: what `data synth`, `data import` and `data download` write and
        what backtests read. Candles a run builds go to its world's folder instead."""
        return self.data_dir / "candles"

    def built_candles_dir(self, world: World | None = None) -> Path:
        """The candles a run built in `world` (this one by default): apart from market history,
        since a sim's are made up and an accelerated sim's are dated in the future."""
        return self.data_dir / (world or self.world).name / "candles"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"
