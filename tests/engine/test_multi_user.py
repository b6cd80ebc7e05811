"""The multi-user loop on the embedded sim: signals once per token, fanned out to every active
user; each user trades their own wallet (signed by the vault, just in time) with their own
breakers and sizing; a paused or broken user does not stop the others; changes made from another
process (pause, risk) take effect while the loop runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select, update

from booking import book_trade
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.errors import UserError
from solbot.events import Event
from solbot.group_admin import GroupAdmin
from solbot.runner import OPERATOR, build
from solbot.runtime import RunOptions, Runtime
from solbot.services.custody import CustodyService, RiskChange
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.tables import (
    AuditRow,
    FeeAccrualRow,
    FeeSweepRow,
    OrderRow,
    PositionRow,
    TradeRow,
    UserRow,
)
from solbot.wallet.master import MasterKey

from .test_sim_day import DAY, START, day_settings

KEY = MasterKey.generate()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    return day_settings(tmp_path, "v2")


async def add_users(settings: Settings, *specs: tuple[str, str]) -> dict[str, str]:
    """Create users (name, tier) through the custody service; name -> wallet address."""
    await schema.prepare(settings.database, settings.world)
    db = Database(settings.database)
    try:
        service = CustodyService(db, ManualClock(START), KEY)
        made = {}
        for name, tier in specs:
            user, _key = await service.create_user(name, actor="test", tier=tier)
            made[name] = user.wallet_pubkey
        return made
    finally:
        await db.dispose()


@pytest.fixture
def any_database(settings: Settings, empty_url: str) -> Settings:
    """The same settings on SQLite or on PostgreSQL (the `empty_url` fixture's two backends)."""
    return settings.model_copy(update={"database_url": empty_url})


async def test_every_user_trades_their_own_wallet_and_the_books_match_each_chain(
    any_database: Settings,
) -> None:
    settings = any_database
    wallets = await add_users(
        settings, ("alice", "aggressive"), ("bob", "aggressive"), ("carol", "conservative")
    )
    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=DAY / 2), events.append, clock) as runtime:
        names = {a.username for a in runtime.engine.accounts}
        assert names == {OPERATOR, "alice", "bob", "carol"}
        summary = await runtime.run()
        network = runtime.network
        assert network is not None
        async with runtime.db.session() as s:
            users = {u.id: u for u in await s.scalars(select(UserRow))}
            positions = list(await s.scalars(select(PositionRow)))
            orders = list(await s.scalars(select(OrderRow)))
            audit = list(await s.scalars(select(AuditRow)))
        usdc = Pubkey.from_string(settings.token("USDC").mint)
        deposit = int(settings.sim_user_usdc * 10**6)
        for user in users.values():
            if user.username == OPERATOR:
                continue
            owner = Pubkey.from_string(user.wallet_pubkey)
            mine = [p for p in positions if p.user_id == user.id]
            cash = network.ledger.token_balance(owner, usdc)
            spent = sum(p.cost for p in mine)
            back = sum(p.proceeds or 0 for p in mine)
            assert cash == deposit - spent + back, user.username  # to the atom
            for mint in {p.mint for p in mine}:
                held = network.ledger.token_balance(owner, Pubkey.from_string(mint))
                assert held == sum(
                    p.quantity for p in mine if p.mint == mint and p.status == "open"
                )

    assert summary.consistent
    assert [e.text for e in events if e.kind == "deposit"] == []  # no fill taken for one
    assert wallets["alice"] != wallets["bob"]
    per_user = Counter(users[p.user_id].username for p in positions)
    assert per_user["alice"] > 0
    assert per_user["bob"] > 0
    # The signal is the same for everyone; sizing is each user's own: conservative positions are
    # a smaller share of the same deposit.
    first = {}
    for p in sorted(positions, key=lambda p: p.entry_time):
        first.setdefault(users[p.user_id].username, p.cost)
    assert first["carol"] < first["alice"]
    assert not [e for e in events if e.kind == "added"]  # everyone was there from the start
    assert any(a.action == "decryptions" for a in audit)  # the vault's work is audited
    assert all(o.user_id in users for o in orders)


def at(clock: ManualClock, moment: float, change: Callable[[], Awaitable[object]]):
    """An `on_tick` hook that makes `change` (as another process would) once past `moment`."""
    done: list[asyncio.Task[object]] = []

    def hook(_runtime: Runtime) -> None:
        if clock.now() >= moment and not done:
            done.append(asyncio.ensure_future(change()))

    return hook


async def test_a_paused_user_opens_nothing_and_a_pause_while_running_takes_effect(
    settings: Settings,
) -> None:
    await add_users(settings, ("alice", "aggressive"), ("bob", "aggressive"))
    events: list[Event] = []
    clock = ManualClock(START)
    switch_at = START + DAY / 4
    async with build(settings, RunOptions(stop_after=DAY / 2), events.append, clock) as runtime:
        service = CustodyService(runtime.db, clock, KEY)
        await service.set_active("bob", False, actor="test", reason="holiday")

        async def switch() -> None:
            await service.set_active("alice", False, actor="cli")
            await service.set_active("bob", True, actor="cli")

        await runtime.run(on_tick=at(clock, switch_at, switch))
        async with runtime.db.session() as s:
            users = {u.username: u.id for u in await s.scalars(select(UserRow))}
            entries = list(
                await s.scalars(
                    select(OrderRow).where(
                        OrderRow.purpose == "entry", OrderRow.state == "confirmed"
                    )
                )
            )
    bob_times = [o.created_at.timestamp() for o in entries if o.user_id == users["bob"]]
    alice_times = [o.created_at.timestamp() for o in entries if o.user_id == users["alice"]]
    assert alice_times
    assert max(alice_times) < switch_at + settings.timeframe.seconds
    assert bob_times, "bob trades once resumed"
    assert min(bob_times) >= switch_at
    kinds = [(e.kind, e.user, e.text) for e in events]
    assert ("paused", "alice", "trading paused; open positions are still managed") in kinds
    assert ("resumed", "bob", "trading resumed") in kinds


async def break_wallet(settings: Settings, victim: str, donor: str) -> None:
    """`victim`'s row gets `donor`'s sealed key: bound to another user, it cannot open."""
    db = Database(settings.database)
    try:
        async with db.session() as s:
            rows = {u.username: u for u in await s.scalars(select(UserRow))}
            await s.execute(
                update(UserRow)
                .where(UserRow.username == victim)
                .values(encrypted_private_key=rows[donor].encrypted_private_key)
            )
    finally:
        await db.dispose()


async def test_one_users_broken_wallet_does_not_stop_the_others_and_is_quarantined_once(
    any_database: Settings,
) -> None:
    """The real vault: bob's row carries a sealed key that does not open. Alice trades on; bob's
    orders stop after `order_max_attempts`, he and the operator are told once, and the run's
    summary counts the quarantine."""
    settings = any_database.model_copy(update={"order_max_attempts": 2})
    await add_users(settings, ("alice", "aggressive"), ("bob", "aggressive"))
    await break_wallet(settings, "bob", "alice")
    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=DAY / 4), events.append, clock) as runtime:
        summary = await runtime.run()
        async with runtime.db.session() as s:
            ids = {u.username: u.id for u in await s.scalars(select(UserRow))}
            orders = list(await s.scalars(select(OrderRow)))
    bob = [o for o in orders if o.user_id == ids["bob"]]
    alice = [o for o in orders if o.user_id == ids["alice"]]
    assert len(bob) == 2  # today's loop tried every signal of the run
    assert all(o.state == "failed" for o in bob)
    assert all("not signed" in (o.error or "") for o in bob)
    assert any(o.state == "confirmed" for o in alice)
    alerts = [e for e in events if e.kind == "quarantined"]
    assert [e.user_id for e in alerts] == [ids["bob"]]
    assert "bob: all trading quarantined" in alerts[0].text
    assert [(h.user_id, h.whole_user) for h in summary.quarantined] == [(ids["bob"], True)]
    assert summary.consistent


async def test_a_risk_change_while_running_changes_the_limits(settings: Settings) -> None:
    await add_users(settings, ("alice", "aggressive"))
    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=3600.0), events.append, clock) as runtime:
        (alice,) = [a for a in runtime.engine.accounts if a.username == "alice"]
        assert alice.gate.limits.position_size_pct == 10.0
        service = CustodyService(runtime.db, clock, KEY)
        change = RiskChange(max_position_size_pct=Decimal("2"))
        await runtime.run(
            on_tick=at(clock, START + 600, lambda: service.set_risk("alice", change, actor="t"))
        )
    assert alice.gate.limits.position_size_pct == 2.0
    assert alice.gate.limits.max_position_pct == 2.0
    assert any(e.kind == "risk" and e.user == "alice" for e in events)


async def test_vault_users_without_the_master_key_are_refused_at_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_users(settings, ("alice", "moderate"))
    monkeypatch.delenv("MASTER_ENCRYPTION_KEY")
    with pytest.raises(UserError, match="1 user\\(s\\) have wallets in the vault"):
        async with build(settings, RunOptions(stop_after=60), clock=ManualClock(START)):
            pass
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", MasterKey.generate().hex())
    with pytest.raises(UserError, match="is not this database's master key"):
        async with build(settings, RunOptions(stop_after=60), clock=ManualClock(START)):
            pass


async def test_an_unfunded_user_is_skipped_and_told_once(settings: Settings) -> None:
    wallets = await add_users(settings, ("alice", "aggressive"), ("dora", "aggressive"))
    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=DAY / 4), events.append, clock) as runtime:
        network = runtime.network
        assert network is not None
        usdc = Pubkey.from_string(settings.token("USDC").mint)
        network.ledger.set_token_balance(Pubkey.from_string(wallets["dora"]), usdc, 5 * 10**6)
        await runtime.run()
        async with runtime.db.session() as s:
            ids = {u.username: u.id for u in await s.scalars(select(UserRow))}
            orders = list(await s.scalars(select(OrderRow)))
    told = [e for e in events if e.kind == "unfunded"]
    assert len(told) == 1
    assert told[0].user_id == ids["dora"]
    assert "5.00 USDC is below the 10.00 USDC minimum" in told[0].text
    assert wallets["dora"] in told[0].text
    assert not [o for o in orders if o.user_id == ids["dora"]]
    assert [o for o in orders if o.user_id == ids["alice"]]


async def test_a_deposit_that_makes_a_wallet_tradable_is_told_once(settings: Settings) -> None:
    wallets = await add_users(settings, ("dora", "aggressive"))
    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=DAY / 4), events.append, clock) as runtime:
        network = runtime.network
        assert network is not None
        usdc = Pubkey.from_string(settings.token("USDC").mint)
        dora = Pubkey.from_string(wallets["dora"])
        network.ledger.set_token_balance(dora, usdc, 0)  # a wallet before its deposit

        def deposit(event: Event) -> None:
            events.append(event)
            if event.kind == "unfunded":  # she reads it and deposits
                network.ledger.set_token_balance(dora, usdc, 250 * 10**6)

        runtime.engine.on_event = deposit
        await runtime.run()
    kinds = [e.kind for e in events if e.kind in ("unfunded", "funded")]
    assert kinds == ["unfunded", "funded"]
    (funded,) = [e for e in events if e.kind == "funded"]
    assert funded.text.startswith("your wallet now holds 250.00 USDC, enough to trade")


async def test_entries_stopped_by_the_operator_stop_every_user_until_restarted(
    settings: Settings,
) -> None:
    await add_users(settings, ("alice", "aggressive"), ("bob", "aggressive"))
    db = Database(settings.database)
    admin = GroupAdmin(CustodyService(db, ManualClock(START), KEY))
    try:
        assert await admin.set_entries(True, actor="telegram:9999")
    finally:
        await db.dispose()
    clock = ManualClock(START)
    said: list[Event] = []
    async with build(settings, RunOptions(stop_after=DAY / 2), clock=clock) as runtime:
        runtime.engine.on_event = said.append
        await runtime.run()
        async with runtime.db.session() as s:
            assert list(await s.scalars(select(OrderRow))) == []  # nobody entered
        await GroupAdmin(CustodyService(runtime.db, clock, KEY)).set_entries(
            False, actor="telegram:9999"
        )
    # said once, in the log too (`solbot reconcile` reads the span from it)
    (stopped,) = [e for e in said if e.kind == "entries"]
    assert stopped.user_id is None
    assert stopped.text == "new entries stopped by the operator; exits keep running"
    async with build(settings, RunOptions(stop_after=DAY / 2), clock=clock) as runtime:
        said.clear()
        runtime.engine.on_event = said.append
        await runtime.run()
        assert [e.text for e in said if e.kind == "entries"] == []  # allowed from the start
        async with runtime.db.session() as s:
            orders = list(await s.scalars(select(OrderRow)))
    assert {o.user_id for o in orders if o.purpose == "entry"}  # entries again


async def test_the_running_loop_accrues_each_days_fee_and_pays_it(settings: Settings) -> None:
    await add_users(settings, ("alice", "aggressive"), ("bob", "aggressive"))
    db = Database(settings.database)
    try:  # alice's profit of the day before: the loop's first tick accrues and sweeps its fee
        async with db.session() as s:
            alice = await s.scalar(select(UserRow.id).where(UserRow.username == "alice"))
        assert alice is not None
        await book_trade(db, alice, "100", START - DAY / 2)
    finally:
        await db.dispose()
    fee_wallet = Keypair().pubkey()
    fee = settings.model_copy(
        update={
            "performance_fee_pct": 20.0,
            "fee_wallet": str(fee_wallet),
            "fee_sweep_minimum": 0.01,
        }
    )
    clock = ManualClock(START)
    events: list[Event] = []
    async with build(fee, RunOptions(stop_after=DAY), events.append, clock) as runtime:
        summary = await runtime.run()
        assert runtime.network is not None
        usdc = Pubkey.from_string(settings.token("USDC").mint)
        received = runtime.network.ledger.token_balance(fee_wallet, usdc)
        async with runtime.db.session() as s:
            trades = await s.scalars(select(TradeRow))
            closed = {t.user_id for t in trades if t.pnl is not None and t.user_id != OPERATOR}
            accrued = list(await s.scalars(select(FeeAccrualRow)))
            sweeps = list(await s.scalars(select(FeeSweepRow)))
    assert closed  # the sim's days closed positions
    # each friend's days, from their first trade; the operator's own wallet pays no fee
    assert {r.user_id for r in accrued} == closed | {alice}
    assert all(r.pct == Decimal(20) for r in accrued)
    for user_id in closed:
        days = sorted(r.day for r in accrued if r.user_id == user_id)
        assert len(days) == len(set(days))  # a day once
    # what accrued went to the fee wallet, and the books still agree with every wallet
    assert alice in {s.user_id for s in sweeps}  # 20 USDC at least
    assert {s.state for s in sweeps} == {"confirmed"}
    assert received == sum(s.atoms for s in sweeps)
    for user_id in {s.user_id for s in sweeps}:
        charged = max((r for r in accrued if r.user_id == user_id), key=lambda r: r.day).charged
        paid = sum(s.atoms for s in sweeps if s.user_id == user_id)
        assert paid == int(charged * 10**6)  # all of it: the wallets had the cash
    assert summary.consistent, summary.mismatches
    assert len([e for e in events if e.kind == "fee"]) == len(sweeps)


async def test_a_deposit_into_a_wallet_that_trades_is_told_once_and_fills_are_not(
    any_database: Settings,
) -> None:
    """Seen: only the unfunded → funded change was announced; a friend topping up a wallet
    that already trades heard nothing. Half a day of trading for two friends, with 250 USDC
    and 0.5 SOL sent to alice's wallet midway: exactly those two deposits are told, none of
    the fills (buys and sales move the same cash) is mistaken for one."""
    settings = any_database
    wallets = await add_users(settings, ("alice", "aggressive"), ("bob", "aggressive"))
    alice = Pubkey.from_string(wallets["alice"])
    usdc = Pubkey.from_string(settings.token("USDC").mint)
    events: list[Event] = []
    clock = ManualClock(START)
    sent = False

    def top_up(runtime: Runtime) -> None:
        nonlocal sent
        if not sent and clock.now() >= START + DAY / 8:
            ledger = runtime.network.ledger  # type: ignore[union-attr]
            ledger.set_token_balance(alice, usdc, ledger.token_balance(alice, usdc) + 250 * 10**6)
            ledger.airdrop(alice, 500_000_000)
            sent = True

    async with build(settings, RunOptions(stop_after=DAY / 4), events.append, clock) as runtime:
        await runtime.run(on_tick=top_up)
    assert sent
    deposits = [(e.user, e.text) for e in events if e.kind == "deposit"]
    assert [user for user, _text in deposits] == ["alice", "alice"], deposits
    texts = sorted(text for _user, text in deposits)
    assert texts[0].startswith("received 0.5 SOL in your wallet (it holds ")
    assert texts[1].startswith("received 250 USDC in your wallet (it holds ")
    assert sum(1 for e in events if e.kind in ("entry", "exit")) > 4  # it traded meanwhile
