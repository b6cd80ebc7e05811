"""One tick of the trading loop: prices → candles → signals (once per token) → each user's
exits, breakers and entries → the executor.

The same rules as the backtester, called the same way:
- a signal is computed once per token when its candle closes, from the rolling window
  (`Strategy.signal_at_last`), and then fanned out to every user;
- price exits (stop, trailing stop, target) are checked on every tick with the compiled exit
  functions; signal exits and the maximum holding time when a candle closes;
- entries pass the user's `RiskGate` (the compiled breakers) and are sized from the user's own
  portfolio value.
A missing or stale price never triggers anything: that token simply sits the tick out.

**Bar time.** The rules see what the backtest sees: the candles, not the ticks. A tick after a
candle's close decides entries, marks the breakers and sizes as of that close (its time and
each token's close price); a fill counts for the breakers and for the holding time from the
open of the bar it happens in; a trailing stop ratchets from closed candles' highs. Only the
price exits look at the tick itself, as the backtest looks inside a bar at its high and low.
So a run and a backtest of its candles decide the same trades (tests/engine/test_parity.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

from solders.pubkey import Pubkey
from sqlalchemy import func, select

from solbot.accounts import (
    Account,
    AccountSource,
    Notice,
    funding_notice,
    load_gate,
    save_gates,
)
from solbot.chain.port import NATIVE_MINT, Chain, ChainUnavailableError, holdings
from solbot.clock import Clock, WallClock
from solbot.domain import BlockReason, ExitReason, ExitRules, Signal, Timeframe
from solbot.domain import TokenInfo as Token
from solbot.entries import EntryPlanner, UserPlan
from solbot.errors import EnvironmentFaultError
from solbot.events import (
    Event,
    TickStats,
    entry_text,
    exit_text,
    failed_text,
    recovered_text,
)
from solbot.execution.executor import Executor, Outcome, SwapIntent
from solbot.execution.exits import PRICE_EXITS, PositionLevels, tick_exit
from solbot.execution.groups import GroupExecutor
from solbot.execution.jupiter import VenueError
from solbot.execution.signing import Signer
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.market.live import LiveCandles
from solbot.market.store import CandleStore
from solbot.moved_out import MovedOutWatch
from solbot.quarantine import BackoffPolicy, OrderGuard
from solbot.rent_reclaim import RentReclaim
from solbot.store import close_requests
from solbot.store.balances import Equity
from solbot.store.db import Database
from solbot.store.position_moves import MovedOut
from solbot.store.positions import Positions
from solbot.store.states import Purpose, Side
from solbot.store.tables import OrderRow, PositionRow
from solbot.store.users import Users
from solbot.strategy.base import Strategy

log = logging.getLogger(__name__)

# Orders journaled together at most (see `execution.groups`). Larger groups commit less often;
# smaller ones hold less in memory and finish their first users sooner. Measured with
# benchmarks/fanout.py: 500 keeps 10,000 users within the memory target at about the same
# total time as one group of all of them.
GROUP_SIZE = 500


class Engine:
    """Runs ticks for a set of accounts over one token universe and one strategy."""

    def __init__(
        self,
        *,
        tokens: Sequence[Token],
        quote: Token,
        strategy: Strategy,
        feed: JupiterPriceFeed,
        executor: Executor,
        chain: Chain,
        db: Database,
        clock: Clock,
        exits: ExitRules,
        timeframe: Timeframe,
        accounts: Sequence[Account] = (),
        roster: AccountSource | None = None,
        store: CandleStore | None = None,
        max_price_age: float = 60.0,
        min_cash: float = 0.0,
        on_event: Callable[[Event], None] | None = None,
        backoff: BackoffPolicy | None = None,
        reclaim: RentReclaim | None = None,
    ) -> None:
        self.tokens = list(tokens)
        self._rank = {t.symbol: n for n, t in enumerate(self.tokens)}  # exits' order
        self.quote = quote
        self.strategy = strategy
        self.feed = feed
        self.executor = executor
        self.chain = chain
        self.db = db
        self.clock = clock
        self.exits = exits
        self.roster = roster
        self._accounts = list(accounts)
        self.min_cash = min_cash  # quote units a user needs before the loop opens positions
        self._turn = 0  # where the next fan-out starts: see `_fan_out_order`
        self._names: dict[str, str] = {}
        self._equity_hour = 0  # the last hour whose equity points were written
        self._manual_exits: set[tuple[str, str]] = set()  # (user id, token) asked to sell
        self.wall: Clock = WallClock()  # close requests' lifetime (a security timer)
        self._started_wall = self.wall.now()
        self.failed_accounts = 0  # users whose tick raised (each one is skipped, not the loop)
        self.needs_recovery = False  # a user's tick failed mid-way: finish its orders first
        self.max_price_age = max_price_age
        self.on_event = on_event or (lambda _e: None)
        self.timeframe = timeframe
        priced = [quote] if quote.symbol != "USDC" else []  # its candles price a reconcile
        self.market = LiveCandles(self.tokens, strategy, timeframe, store, priced)
        self.book = self.market.book
        self.prices = self.market.prices  # last fresh USD price per symbol
        # Prices come in USD; a quote asset other than USDC needs its own USD price too.
        self._mints = [t.mint for t in self.tokens]
        if quote.symbol != "USDC":
            self._mints.append(quote.mint)
        if executor.quoter.auto and SOL_MINT not in self._mints:  # its costs are in lamports
            self._mints.append(SOL_MINT)
        self.stats = TickStats()
        self.group = GroupExecutor(executor)
        self._positions: dict[str, list[PositionRow]] = {}
        # Orders that keep failing back off and are quarantined (`solbot.quarantine`); tokens
        # that left a wallet close their position as moved out (`solbot.moved_out`).
        self.guard = OrderGuard(db, clock, backoff)
        self.entries = EntryPlanner(
            tokens=self.tokens,
            quote=quote,
            exits=exits,
            book=self.book,
            guard=self.guard,
            stats=self.stats,
            min_cash=min_cash,
            say=self._say,
        )
        self.moved_out = MovedOutWatch(db, clock)
        self.reclaim = reclaim  # the token accounts exits empty, closed for their rent

    @property
    def accounts(self) -> list[Account]:
        return self.roster.accounts if self.roster is not None else self._accounts

    # ------------------------------------------------------------------ start-up
    async def start(self) -> None:
        """Warm the candle windows from stored history and finish what a crash left open."""
        self._started_wall = self.wall.now()  # close requests asked before are not this run's
        self.market.warm_up(self.clock.now())
        if self.roster is not None:
            self._tell(await self.roster.refresh())
        await self.guard.load()
        for account in self.accounts:
            if self.roster is None:
                await load_gate(self.db, account)
            for outcome in await self.executor.recover(account.signer, account.user_id):
                text = recovered_text(outcome.order_id, outcome.state, outcome.error)
                self._say(account.user_id, "recovered", text)
                if outcome.confirmed:  # a fill this run finished counts in its summary
                    if outcome.purpose is Purpose.ENTRY:
                        self.stats.entries += 1
                    else:
                        self.stats.exits += 1

    # ------------------------------------------------------------------ one tick
    async def tick(self) -> None:
        now = self.clock.now()
        self.stats.ticks += 1
        if self.roster is not None:
            self._tell(await self.roster.before_tick())
        await self.guard.refresh()  # a re-arm from another process takes effect now
        # The positions users asked to sell (`/close`, the dashboard), from whichever process:
        # the loop alone sells, so a position never gets two exits. A request is this run's,
        # for ten wall-clock minutes; older ones are dropped and their users told.
        wall_now = self.wall.now()
        oldest = max(self._started_wall, wall_now - close_requests.LIFETIME_SECONDS)
        self._manual_exits, dropped = await close_requests.pending(self.db, oldest)
        for user_id, token, asked in dropped:
            why = "the bot restarted since" if asked < self._started_wall else "not sold in time"
            self._say(
                user_id,
                "close_dropped",
                f"{token}: your close was not done ({why}); ask again to sell it now",
            )
        try:
            snapshot = await self.feed.snapshot(self._mints)
        except VenueError as exc:
            self._say(None, "prices", f"no prices this tick: {exc}")
            return
        fresh = snapshot.fresh(now, self.max_price_age)
        if self.executor.quoter.auto:  # the route that costs less is told in USD
            self.executor.quoter.sol_usd = fresh.get(SOL_MINT)
        candles = self.market.observe(fresh, now)
        self.stats.candles += len(candles)
        closed = dict(candles)  # each token's last
        signals = self.market.signals(list(closed))
        if closed and self.roster is not None:
            self._tell(await self.roster.refresh())
        accounts = self._fan_out_order(bool(signals))
        quote_usd = self._quote_usd(fresh)
        if accounts and quote_usd is not None:  # without it positions cannot be valued
            await self._trade_all(accounts, fresh, signals, set(closed), now, quote_usd)
        if closed:
            # After the orders: storing a candle rewrites its token's file (milliseconds each),
            # which must not delay a signal's fills. A crash in between loses only candles the
            # next start back-fills.
            self.market.keep(closed)
            await self._save_values()
            if self.roster is not None:
                self._tell(await self.roster.flush())

    def _fan_out_order(self, advance: bool) -> list[Account]:
        """The accounts in the order they are served this tick. Under a venue rate limit the
        last users wait longest (and see the price move), so the starting point rotates by one
        with every tick that carries signals: over N signals each user is served first once."""
        accounts = self.accounts
        if not accounts:
            return []
        start = self._turn % len(accounts)
        if advance:
            self._turn += 1
        return accounts[start:] + accounts[:start]

    async def _trade_all(
        self,
        accounts: list[Account],
        fresh: dict[str, Decimal],
        signals: dict[str, Signal],
        closed: set[str],
        now: float,
        quote_usd: Decimal,
    ) -> None:
        """Every user's exits, then every user's entries, each as one group of orders (see
        `execution.groups`): per user the same decisions as one at a time, in a handful of
        transactions for all of them. A user whose part fails is told and skipped."""
        held = await self._open_positions([a.user_id for a in accounts])
        bar = self._bar_time(now)
        plans: list[UserPlan] = []
        highest: list[tuple[str, Decimal]] = []
        for account in accounts:
            try:
                plan = await self._plan_exits(
                    account, held.get(account.user_id, []), fresh, signals, closed, bar, quote_usd
                )
            except (ChainUnavailableError, EnvironmentFaultError):
                raise  # the cluster or the database is down for everyone, not for this user
            except Exception as exc:  # one user's failure never stops the others
                self._account_failed(account, exc)
                continue
            highest.extend(plan.highest)
            plans.append(plan)
        if highest:
            async with self.db.session() as s:
                positions = Positions(s, self.clock)
                for position_id, price in highest:
                    await positions.update_highest(position_id, price)
        # Entries are decided now, as the backtest decides them at the candle's close: before
        # this tick's exits fill and move the breakers (a stop hit on this first tick after the
        # close comes after the entries the close approved, as in the kernel's next bar).
        entries: list[tuple[SwapIntent, Signer]] = []
        for plan in plans:
            try:
                entries.extend(self.entries.plan(plan, signals, bar, self._entries_stopped()))
            except Exception as exc:
                self._account_failed(plan.account, exc)
        exits = [request for plan in plans for request in plan.exits]
        if exits:
            attempts = await self._exit_attempts([i.position_id or "" for i, _ in exits])
            exits = [
                (replace(i, signal_key=f"{i.position_id}:exit:{attempts.get(i.position_id, 0)}"), a)
                for i, a in exits
            ]
        accounts_by_signer = {id(p.account.signer): p.account for p in plans}

        def exited(intent: SwapIntent, signer: Signer, outcome: Outcome) -> None:
            self._exited(accounts_by_signer[id(signer)], intent, outcome, bar)

        # The kernel's order at the next open: exits the close decided, then the entries, then
        # the price exits of the bar (`execution.exits`).
        at_close = [x for x in exits if x[0].exit_reason not in PRICE_EXITS]
        on_price = [x for x in exits if x[0].exit_reason in PRICE_EXITS]
        await self._submit_all(at_close, exited)
        if at_close:  # a loss streak must survive a crash during the orders that follow
            await save_gates(self.db, [p.account for p in plans])
        await self._submit_all(
            entries, lambda i, s, o: self._entered(accounts_by_signer[id(s)], i, o)
        )
        await self._submit_all(on_price, exited)
        await save_gates(self.db, [p.account for p in plans])
        if self.reclaim is not None:  # after every order: it never delays one
            self.stats.costs_lamports -= await self.reclaim.close()

    async def _plan_exits(
        self,
        account: Account,
        positions: list[PositionRow],
        fresh: dict[str, Decimal],
        signals: dict[str, Signal],
        closed: set[str],
        bar: float,
        quote_usd: Decimal,
    ) -> UserPlan:
        """Value the user's portfolio, feed the breakers at a close, and decide which positions
        to exit. `bar` is the bar time (see the module docstring)."""
        owner = account.signer.pubkey()
        cash_atoms = await holdings(self.chain, owner, _pk(self.quote.mint))
        cash = self._units(self.quote, cash_atoms)
        value = float(cash) + sum(
            float(self._units_of(p) * self._in_quote(p, quote_usd)) for p in positions
        )
        account.value = value  # what the wallet is worth now, for the user's listings
        account.cash_atoms, account.marked_at = cash_atoms, self.clock.now()
        if closed:  # the breakers and the sizing see the closes, as the backtest's do
            value = float(cash) + sum(
                float(self._units_of(p) * self._at_close(p, quote_usd)) for p in positions
            )
            tripped = account.gate.mark(value, bar)
            if tripped is not BlockReason.NONE:
                self._say(account.user_id, "breaker", account.gate.describe(tripped, bar))
        plan = UserPlan(account, positions, cash, value)
        notice = funding_notice(account, value, self.min_cash, self.quote.symbol)
        if notice is not None:
            self._say(account.user_id, *notice)
        gone: list[PositionRow] = []
        # Exits at the same moment are booked in the token list's order, as the kernel books
        # a bar's exits: the order decides a loss streak (and so a cooldown) they both end.
        rank = self._rank
        for position in sorted(positions, key=lambda p: rank.get(p.token, len(rank))):
            reason = self._exit_reason(position, fresh, signals, closed, bar, quote_usd, plan)
            request = (account.user_id, position.token)
            if request in self._manual_exits:
                reason = reason or "manual"
            if reason is not None and not self.guard.allows(*request, Side.SELL):
                reason = None  # backing off or quarantined; a `/close` waits for it too
            if reason is None and not (position.token in closed and self.moved_out.due(position)):
                continue  # on closed candles every position is held against the chain now and then
            held = await holdings(self.chain, owner, _pk(position.mint))
            if held < position.quantity:
                moved = await self.moved_out.judge(position, held)
                if moved is None:
                    continue  # short, not proven yet: no order for tokens that may be gone
                await self._moved_out(account, position, moved)
                if moved.closed:
                    self._manual_exits.discard(request)
                    gone.append(position)
                    continue
            if reason is not None:
                self._manual_exits.discard(request)
                intent = SwapIntent(
                    user_id=account.user_id,
                    token=position.token,
                    side=Side.SELL,
                    input_mint=position.mint,
                    output_mint=self.quote.mint,
                    amount_in=position.quantity,
                    purpose=Purpose.EXIT,
                    signal_key=f"{position.id}:exit",  # the attempt number is added later
                    exit_reason=reason,
                    position_id=position.id,
                )
                plan.exits.append((intent, account.signer))
        if gone:
            plan.positions = [p for p in positions if p not in gone]
        return plan

    async def _moved_out(self, account: Account, position: PositionRow, moved: MovedOut) -> None:
        """Tell what was booked: the tokens left the wallet outside the loop."""
        self.stats.moved_out += 1
        token = self._token(position.token)
        left = self._units(token, moved.left)
        if moved.closed:
            await self.guard.forget(account.user_id, position.token)  # nothing left to sell
            text = f"{position.token}: {left:,f} left the wallet; position closed as moved out"
        else:
            text = (
                f"{position.token}: {left:,f} left the wallet; the position is now the "
                f"{self._units(token, moved.kept):,f} it still holds"
            )
        self._say(account.user_id, "moved_out", text)

    def _entries_stopped(self) -> bool:
        """The operator's switch: no new entries for anyone (`group_admin`)."""
        return self.roster is not None and self.roster.entries_stopped

    def _account_failed(self, account: Account, exc: Exception) -> None:
        self.failed_accounts += 1
        log.error("tick of %s failed: %s: %s", self._name(account.user_id), type(exc).__name__, exc)
        self._say(account.user_id, "failed", f"this tick was skipped: {exc}")
        self.needs_recovery = True

    def _exit_reason(
        self,
        position: PositionRow,
        fresh: dict[str, Decimal],
        signals: dict[str, Signal],
        closed: set[str],
        bar: float,
        quote_usd: Decimal,
        plan: UserPlan,
    ) -> str | None:
        """Why `position` should close now, or None (`execution.exits.tick_exit`: the
        kernel's order); a closed candle's new high ratchets the trailing stop."""
        usd = fresh.get(_mint_of(self.tokens, position.token))
        if usd is None:
            return None
        price = float(usd / quote_usd)
        levels = PositionLevels(
            entry_time=self._bar_time(position.entry_time.timestamp()),
            stop=float(position.stop_loss) if position.stop_loss is not None else None,
            target=float(position.take_profit) if position.take_profit is not None else None,
            trail_frac=float(position.trailing_stop_pct or 0) / 100.0,
            highest=float(position.highest_price),
            max_hold_seconds=self.exits.max_hold_minutes * 60.0,
        )
        signal = signals.get(position.token)
        candle = self.book.last(position.token) if position.token in closed else None
        reason, highest = tick_exit(
            levels,
            price,
            bar,
            closed_high=None if candle is None else float(Decimal(str(candle.high)) / quote_usd),
            signal_exit=bool(signal and signal.exit),
        )
        if reason is not ExitReason.NONE:
            return reason.name.lower()
        if highest > levels.highest:
            plan.highest.append((position.id, Decimal(str(highest))))
        return None

    def _exited(self, account: Account, intent: SwapIntent, outcome: Outcome, bar: float) -> None:
        if not outcome.confirmed:
            self._failed(account, intent, outcome)
            return
        position = next(p for p in self._plans_positions(account) if p.id == intent.position_id)
        proceeds = self._units(self.quote, outcome.filled_out or 0)
        pnl = proceeds - self._units(self.quote, position.cost)
        self.stats.exits += 1
        self.stats.realised_pnl += pnl
        # In the backtest's order within the bar: exits the close decided first, then price
        # exits, each in the token list's order (`RiskGate.record_trade`).
        phase = 1 if intent.exit_reason in PRICE_EXITS else 0
        order = phase * len(self._rank) + self._rank.get(position.token, len(self._rank))
        account.gate.record_trade(float(pnl), bar, order)
        if self.reclaim is not None:
            self.reclaim.note(account.user_id, account.signer, self._token(position.token))
        sold = self._units(self._token(position.token), outcome.filled_in or position.quantity)
        text = exit_text(position.token, sold, intent.exit_reason, pnl, self.quote.symbol)
        self._say(account.user_id, "exit", text)

    def _entered(self, account: Account, intent: SwapIntent, outcome: Outcome) -> None:
        if not outcome.confirmed:
            self._failed(account, intent, outcome)
            return
        self.stats.entries += 1
        spent = self._units(self.quote, outcome.filled_in or 0)
        bought = self._units(self._token(intent.token), outcome.filled_out or 0)
        self._say(
            account.user_id, "entry", entry_text(intent.token, bought, spent, self.quote.symbol)
        )

    def _failed(self, account: Account, intent: SwapIntent, outcome: Outcome) -> None:
        self.stats.failed += 1
        text = failed_text(intent.token, intent.side, outcome.state, outcome.error)
        self._say(account.user_id, "failed", text)

    async def _submit_all(
        self,
        requests: list[tuple[SwapIntent, Signer]],
        done: Callable[[SwapIntent, Signer, Outcome], None],
    ) -> None:
        """The orders through the executor in groups of `GROUP_SIZE` (one by one should a group
        itself fail: `GroupExecutor.submit_or_each`), each group's outcomes handed to `done` as
        soon as it finishes and told to the guard (back-off, quarantine)."""
        for start in range(0, len(requests), GROUP_SIZE):
            group = requests[start : start + GROUP_SIZE]
            outcomes = await self.group.submit_or_each(group)
            for (intent, signer), outcome in zip(group, outcomes, strict=True):
                self.stats.costs_lamports += outcome.costs_lamports or 0
                done(intent, signer, outcome)
            results = [(intent, o) for (intent, _), o in zip(group, outcomes, strict=True)]
            for hold in await self.guard.record(results):  # each told once, ever
                self._say(hold.user_id, "quarantined", hold.describe(self._name(hold.user_id)))

    async def _open_positions(self, user_ids: list[str]) -> dict[str, list[PositionRow]]:
        """Every listed user's open positions, in one query."""
        async with self.db.session() as s:
            rows = await Positions(s, self.clock).all_open()
        wanted = set(user_ids)
        out: dict[str, list[PositionRow]] = {}
        for row in rows:
            if row.user_id in wanted:
                out.setdefault(row.user_id, []).append(row)
        self._positions = out
        return out

    def _plans_positions(self, account: Account) -> list[PositionRow]:
        return self._positions.get(account.user_id, [])

    async def _exit_attempts(self, position_ids: list[str]) -> dict[str, int]:
        """Exit orders already made for each position: a failed one's key cannot be reused."""
        async with self.db.session() as s:
            rows = await s.execute(
                select(OrderRow.position_id, func.count())
                .where(OrderRow.position_id.in_(position_ids))
                .group_by(OrderRow.position_id)
            )
            return {str(pid): int(n) for pid, n in rows}

    # ------------------------------------------------------------------ helpers
    async def _save_values(self) -> None:
        """Each user's last marked value, for listings (once per closed candle)."""
        marked = [a for a in self.accounts if a.value is not None]
        if not marked:
            return
        values = {a.user_id: Decimal(str(round(a.value or 0.0, 9))) for a in marked}
        cash = {a.user_id: (a.cash_atoms, a.marked_at) for a in marked}
        hour = int(self.clock.now()) // 3600 * 3600
        async with self.db.session() as s:
            await Users(s, self.clock).set_portfolio_values(values, cash)
            if hour > self._equity_hour:  # the equity curve: one point an hour
                await Equity(s, self.clock).record(hour, values)
                self._equity_hour = hour

    def _tell(self, notices: Sequence[Notice]) -> None:
        for notice in notices:
            self._say(notice.user_id or None, notice.kind, notice.text, notice.username)

    def _quote_usd(self, fresh: dict[str, Decimal]) -> Decimal | None:
        """The quote asset's fresh USD price (USDC is taken as 1)."""
        return Decimal(1) if self.quote.symbol == "USDC" else fresh.get(self.quote.mint)

    def _bar_time(self, t: float) -> float:
        """The open of the bar `t` falls in: the time the rules see for a tick at `t`."""
        return float(self.timeframe.floor(int(t)))

    def _at_close(self, position: PositionRow, quote_usd: Decimal) -> Decimal:
        """A position's token at its last closed candle's close, in the quote asset."""
        candle = self.book.last(position.token)
        if candle is None:
            return self._in_quote(position, quote_usd)
        return Decimal(str(candle.close)) / quote_usd

    def _in_quote(self, position: PositionRow, quote_usd: Decimal) -> Decimal:
        """A position's token priced in the quote asset (its entry price until it has a price)."""
        usd = self.prices.get(position.token)
        return position.entry_price if usd is None else usd / quote_usd

    def _units(self, token: Token, atoms: int) -> Decimal:
        return Decimal(atoms).scaleb(-token.decimals)

    def _units_of(self, position: PositionRow) -> Decimal:
        token = self._token(position.token)
        return self._units(token, position.quantity)

    def _say(self, user_id: str | None, kind: str, text: str, username: str = "") -> None:
        name = username or self._name(user_id)
        log.info("%s %s: %s", kind, name, text)
        self.on_event(Event(self.clock.now(), user_id, kind, text, "" if user_id is None else name))

    def _name(self, user_id: str | None) -> str:
        """A user's name for logs (their id only if the loop does not know them)."""
        if user_id is None:
            return "-"
        if len(self._names) != len(self.accounts) or user_id not in self._names:
            self._names = {a.user_id: a.username or a.user_id for a in self.accounts}
        return self._names.get(user_id, user_id)

    def _token(self, symbol: str) -> Token:
        return next(t for t in self.tokens if t.symbol == symbol)

    def candles_missing(self) -> dict[str, int]:
        """Closed candles each token still needs before the strategy gives it a signal (0 once
        its window is full): what the status line's warm-up says."""
        return self.market.missing()


SOL_MINT = str(NATIVE_MINT)


def _pk(mint: str) -> Pubkey:
    return Pubkey.from_string(mint)


def _mint_of(tokens: Sequence[Token], symbol: str) -> str:
    return next(t.mint for t in tokens if t.symbol == symbol)
