"""The whole simulated network in one object: chain, prices, market maker, and their state file.

`SimNetwork` is what `solbot run` embeds (in-process: the Jupiter API over httpx's ASGI
transport, the chain through `LiteSvmChain`) and what `solbot sim serve` puts on sockets.

- The price path starts `history_seconds` before the network's own start, so the bot can
  back-fill the candles its strategy needs to warm up (`write_history`), built by the same
  `CandleBuilder` the live loop uses, from the same path it will then trade on.
- A test wallet is derived from the seed (like `solana-test-validator`'s known keys, it is a
  sim-only key that holds sim-only money) and funded with SOL and USDC at creation.
- `save` / `load` keep the world across restarts: the ledger's accounts, the clock and the price
  process, written atomically next to the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from starlette.applications import Starlette

from solbot.clock import Clock
from solbot.domain import CandleSeries, Timeframe, TokenInfo
from solbot.errors import UserError
from solbot.market.candles import CandleBuilder
from solbot.market.store import CandleStore
from solbot.private_files import write_private
from solbot.sim.journal import LedgerJournal, journal_path, read_journal
from solbot.sim.jupiter_http import InProcessJupiter, create_jupiter_app
from solbot.sim.ledger import SimLedger, new_keypair_from_seed
from solbot.sim.maker import SimMaker
from solbot.sim.maker_types import MakerConfig
from solbot.sim.prices import DEFAULT_STEP_SECONDS, ReplayPrices, SimPrices
from solbot.sim.rpc_faults import Congestion

STATE_VERSION = 1
LAMPORTS_PER_SOL = 1_000_000_000


def wallet_keypair(seed: int) -> Keypair:
    """The sim's funded test wallet: derived from the seed, so it is the same after a restart."""
    return new_keypair_from_seed(hashlib.sha256(f"solbot-sim-wallet:{seed}".encode()).digest())


def maker_keypair(seed: int) -> Keypair:
    return new_keypair_from_seed(hashlib.sha256(f"solbot-sim-maker:{seed}".encode()).digest())


class SimNetwork:
    """Ledger + prices + maker on one clock."""

    def __init__(
        self,
        *,
        tokens: Sequence[TokenInfo],
        clock: Clock,
        seed: int,
        ledger: SimLedger,
        prices: SimPrices | ReplayPrices,
        maker_config: MakerConfig | None = None,
    ) -> None:
        self.tokens = list(tokens)
        self.clock = clock
        self.seed = seed
        self.ledger = ledger
        self.prices = prices
        self.maker = SimMaker(
            ledger, prices, self.tokens, clock, keypair=maker_keypair(seed), config=maker_config
        )
        self.wallet = wallet_keypair(seed)
        self._journal: LedgerJournal | None = None  # attached by the process that owns the world

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        *,
        tokens: Sequence[TokenInfo],
        clock: Clock,
        seed: int,
        history_seconds: float,
        wallet_sol: float,
        wallet_usdc: float,
        maker_config: MakerConfig | None = None,
        replay: Mapping[str, CandleSeries] | None = None,
        tick_seconds: float = DEFAULT_STEP_SECONDS,
    ) -> SimNetwork:
        """A new world starting at the clock's now, with `history_seconds` of price past: the
        seeded walk, or for the tokens in `replay` their recorded candles (`ReplayPrices`,
        whose history is built from a tick every `tick_seconds`, as the loop will tick)."""
        now = clock.now()
        prices: SimPrices | ReplayPrices
        prices = SimPrices.for_tokens(tokens, seed, now - history_seconds, clock=clock)
        if replay is not None:
            prices = ReplayPrices(replay, clock=clock, others=prices, step_seconds=tick_seconds)
        network = cls(
            tokens=tokens,
            clock=clock,
            seed=seed,
            ledger=SimLedger(now),
            prices=prices,
            maker_config=maker_config,
        )
        network.maker.fund()
        owner = network.wallet.pubkey()
        network.ledger.airdrop(owner, int(wallet_sol * LAMPORTS_PER_SOL))
        usdc = network.token("USDC")
        network.ledger.set_token_balance(
            owner, Pubkey.from_string(usdc.mint), int(wallet_usdc * 10**usdc.decimals)
        )
        return network

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        tokens: Sequence[TokenInfo],
        clock: Clock,
        maker_config: MakerConfig | None = None,
        writable: bool = True,
    ) -> SimNetwork:
        """The world a state file and its journal describe, continuing where it stopped.

        `writable` is for the process that owns the world (it holds its `SimLock`): every later
        change is journaled. A reader (balances for `list-users`) leaves the files alone."""
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: unknown sim state version {state.get('version')!r}")
        if state["prices"].get("kind") == "replay":
            raise UserError(
                f"{path.parent.parent} is a replay's world (`solbot run --replay`): its books "
                "can be read (`positions`, `trades`, `reconcile`), its chain not continued; "
                "replay the candles again"
            )
        network = cls(
            tokens=tokens,
            clock=clock,
            seed=int(state["seed"]),
            ledger=SimLedger.restore(state["ledger"], read_journal(journal_path(path))),
            prices=SimPrices.restore(state["prices"], clock=clock),
            maker_config=maker_config,
        )
        if writable:
            network._attach(path)
        return network

    @staticmethod
    def saved_time(path: Path) -> float | None:
        """The simulated time a saved world stopped at, journal included (None when there is
        no world)."""
        if not path.exists():
            return None
        return SimNetwork.saved_span(path)[1]

    @staticmethod
    def saved_span(path: Path) -> tuple[float, float]:
        """The simulated time a saved world's price path covers: from its first price (before
        the world began, for the warm-up history) to where it stopped, journal included."""
        state = json.loads(path.read_text(encoding="utf-8"))
        end = float(state["ledger"]["now"])
        for entry in read_journal(journal_path(path)):
            end = max(end, float(entry["now"]))
        return float(state["prices"]["start_time"]), end

    def save(self, path: Path) -> None:
        """Write the world atomically and privately (0600): a crash while saving leaves the
        previous file."""
        self.ledger.advance_to(self.clock.now())
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "seed": self.seed,
            "ledger": self.ledger.snapshot(),
            "prices": self.prices.snapshot(),
        }
        write_private(path, json.dumps(state))  # atomic, fsynced, the folder too
        if self._journal is None:
            self._attach(path)
        assert self._journal is not None
        self._journal.reset()  # only once the state file holds what the journal did

    def _attach(self, path: Path) -> None:
        """Journal every change from now on, beside the state file (`sim/journal.py`)."""
        self._journal = LedgerJournal(journal_path(path))
        self.ledger.journal_to(self._journal)

    def close(self) -> None:
        """Stop journaling (the world is saved, or its owner is done with it)."""
        self.ledger.journal_to(None)
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # ------------------------------------------------------------------ what the bot uses
    def token(self, symbol: str) -> TokenInfo:
        for token in self.tokens:
            if token.symbol == symbol.upper():
                return token
        raise KeyError(f"the sim has no token {symbol!r}")

    def fund(self, owner: Pubkey, symbol: str, atoms: int) -> int:
        """Give `owner` `atoms` more of `symbol` (SOL: lamports; a token: in its associated
        account, created if needed); the new balance. For other programs tested against the
        sim (`solbot sim fund`); `KeyError` for a token the sim does not trade."""
        if symbol.upper() == "SOL":
            self.ledger.airdrop(owner, atoms)
            return self.ledger.balance(owner)
        mint = Pubkey.from_string(self.token(symbol).mint)
        balance = self.ledger.token_balance(owner, mint) + atoms
        self.ledger.set_token_balance(owner, mint, balance)
        return balance

    def jupiter_app(self, congestion: Congestion | None = None) -> Starlette:
        return create_jupiter_app(self.maker, congestion)

    def jupiter_in_process(self) -> InProcessJupiter:
        """The same API for a `JupiterClient` in this process, without HTTP."""
        return InProcessJupiter(self.maker)

    def history(self, symbol: str, timeframe: Timeframe, start: float, end: float) -> CandleSeries:
        """Closed candles of the price path in `[start, end)`, built as the live loop builds
        them: ticks through a `CandleBuilder`, one per grid step of the path."""
        builder = CandleBuilder(timeframe)
        step = self.prices.step_seconds
        candles = []
        t = float(max(start, self.prices.start_time))
        while t < end:
            candles.extend(builder.add(t, self.prices.price(symbol, t)))
            t += step
        candles.extend(builder.close_until(end))
        return CandleSeries.from_candles(
            [c for c in candles if c.open_time + timeframe.seconds <= end], timeframe
        )

    def write_history(
        self, store: CandleStore, symbols: Sequence[str], timeframe: Timeframe, bars: int
    ) -> None:
        """Store the `bars` closed candles before now for each symbol (what a mainnet bot gets
        from GeckoTerminal), unless the store already covers them."""
        end = timeframe.floor(int(self.clock.now()))
        start = end - bars * timeframe.seconds
        for symbol in symbols:
            cover = store.coverage(symbol, timeframe)
            if cover is not None and cover[0] <= start and cover[1] >= end - timeframe.seconds:
                continue
            store.merge(symbol, self.history(symbol, timeframe, start, end))
