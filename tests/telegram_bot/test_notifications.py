"""Notifications as each user chose them, the daily summary with its chart, `/settings`,
`/pnl` and `/close`, through the real bot."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from solders.pubkey import Pubkey
from sqlalchemy import select

from booking import book_trade
from solbot.config import Settings
from solbot.deposits import Deposit
from solbot.events import Event, exit_text
from solbot.fees import FeeBook
from solbot.store import loop_beat
from solbot.store.balances import Equity
from solbot.store.loop_beat import LoopBeat
from solbot.store.loop_tables import CloseRequestRow
from solbot.store.positions import Positions
from solbot.store.tables import UserRow

from .conftest import ALICE, BOB, OPERATOR, World
from .test_basics import onboard


async def user_of(world: World, telegram_id: int) -> UserRow:
    async with world.services.db.session() as s:
        return (await s.scalars(select(UserRow).where(UserRow.telegram_id == telegram_id))).one()


USDC_INFO = Settings().token("USDC")


async def test_settings_switch_each_notification(world: World) -> None:
    await onboard(world, ALICE)
    panel = await world.api.reply_to(ALICE, "/settings")
    labels = [label for label, _ in panel.buttons]
    assert labels == [
        "✅ Trades opened",
        "✅ Positions closed",
        "✅ Circuit breakers",
        "✅ Daily summary",
    ]
    mark = len(world.api.sent)
    world.api.press(ALICE, panel.result, panel.buttons[0][1])
    edited = await world.api.wait_for(lambda c: c.method == "editMessageReplyMarkup", after=mark)
    assert edited.buttons[0][0] == "❌ Trades opened"
    assert (await user_of(world, ALICE)).notify_trade is False


async def test_events_reach_the_user_as_their_switches_say(world: World) -> None:
    await onboard(world, ALICE)
    user = await user_of(world, ALICE)
    notifier = world.bot.notifier
    now = world.clock.now()

    def event(kind: str, text: str) -> Event:
        return Event(now, user.id, kind, text)

    notifier.on_event(event("entry", "bought JUP for 100.00 USDC"))
    notifier.on_event(
        event("exit", exit_text("JUP", Decimal("12.5"), "take_profit", Decimal(5), "USDC"))
    )
    notifier.on_event(event("blocked", "BONK: already 3 open positions"))  # not a notification
    notifier.on_event(Event(now, None, "decrypt_alert", "31 key decryptions for tg_1 in 60 s"))
    await notifier.flush()
    texts = [c.text for c in world.api.messages_to(ALICE)]
    assert "🟢 Bought JUP for 100.00 USDC" in texts  # a sentence
    assert "🔴 Sold 12.5 JUP (take-profit reached), PnL +5.00 USDC" in texts  # reasons in words
    assert not [t for t in texts if "open positions" in t]
    operator = [c.text for c in world.api.messages_to(OPERATOR)]
    assert "⚠️ solbot alert: 31 key decryptions for tg_1 in 60 s" in operator

    async with world.services.db.session() as s:
        row = await s.get(UserRow, user.id)
        assert row is not None
        row.notify_trade = False
    notifier.on_event(event("entry", "bought WIF for 50.00 USDC"))
    notifier.on_event(event("paused", "trading paused"))  # always told
    await notifier.flush()
    texts = [c.text for c in world.api.messages_to(ALICE)]
    assert "🟢 bought WIF for 50.00 USDC" not in texts
    assert "⏸ Trading paused" in texts

    # Money in and out is always told, whatever the switches: a top-up of a wallet that
    # already trades, a performance fee paid; a fee payment that failed goes to the operator.
    deposit = Deposit(user.id, "tg_1", USDC_INFO, 250 * 10**6, 1_250 * 10**6)
    notifier.on_event(event("deposit", deposit.text))
    notifier.on_event(event("fee", "performance fee of 2.5 USDC paid to the operator"))
    notifier.on_event(event("fee_failed", "tg_1: fee payment of 2.5 USDC failed: x"))
    await notifier.flush()
    texts = [c.text for c in world.api.messages_to(ALICE)]
    assert "📥 Received 250 USDC in your wallet (it holds 1,250.00 USDC now)" in texts
    assert "🧾 Performance fee of 2.5 USDC paid to the operator" in texts
    assert not [t for t in texts if "failed" in t]
    operator = [c.text for c in world.api.messages_to(OPERATOR)]
    assert any("fee payment of 2.5 USDC failed" in t for t in operator)


async def open_jup(world: World, user: UserRow) -> None:
    """An open position of 1 JUP bought at 0.5 USDC."""
    async with world.services.db.session() as s:
        await Positions(s, world.clock).open(
            user_id=user.id,
            token="JUP",
            mint="JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN",
            quantity=10**6,
            cost=5 * 10**5,
            entry_price=Decimal("0.5"),
        )


async def add_trade(world: World, user: UserRow, pnl: str, when: float) -> None:
    await book_trade(world.services.db, user.id, pnl, when)


async def test_pnl_sums_the_periods_and_draws_the_curve(world: World) -> None:
    await onboard(world, BOB)
    user = await user_of(world, BOB)
    now = world.clock.now()
    await add_trade(world, user, "12.5", now - 3600)
    await add_trade(world, user, "-2.5", now - 3 * 86_400)
    await add_trade(world, user, "100", now - 60 * 86_400)
    async with world.services.db.session() as s:
        await Equity(s, world.clock).record(int(now) - 7200, {user.id: Decimal(1000)})
        await Equity(s, world.clock).record(int(now) - 3600, {user.id: Decimal(1010)})
    answer = await world.api.reply_to(BOB, "/pnl")
    assert answer.method == "sendPhoto"
    assert answer.files["photo"].startswith(b"\x89PNG")
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0)
    today = "+12.50" if now - 3600 >= midnight.timestamp() else "+0.00"
    assert f"Today: {today}" in answer.text
    assert "7 days: +10.00" in answer.text
    assert "30 days: +10.00" in answer.text
    assert "All time: +110.00" in answer.text
    assert (await world.api.reply_to(BOB, "/pnl now")).text == "Usage: /pnl"


async def test_the_daily_summary_goes_to_those_who_want_it(world: World) -> None:
    await onboard(world, ALICE)
    await onboard(world, BOB)
    bob = await user_of(world, BOB)
    async with world.services.db.session() as s:
        row = await s.get(UserRow, bob.id)
        assert row is not None
        row.notify_daily = False
    alice = await user_of(world, ALICE)
    await add_trade(world, alice, "7", world.clock.now() - 60)
    mark = len(world.api.sent)
    notifier = world.bot.notifier
    await notifier.stop()  # restarted, looking at the clock every 20 ms
    notifier.check_seconds = 0.02
    notifier.start()
    due = notifier._next_due(world.clock.now())
    world.clock.advance(due - world.clock.now() + 1)  # past the summary time
    summary = await world.api.wait_for(lambda c: c.method == "sendPhoto", after=mark)
    assert summary.chat_id == ALICE
    assert summary.text.startswith(
        "Your day: value 0.00 USDC, realised PnL +7.00 USDC, 1 trade(s)."
    )
    assert summary.files["photo"].startswith(b"\x89PNG")
    assert not [c for c in world.api.sent[mark:] if c.chat_id == BOB]


async def test_close_goes_to_the_loop(world: World) -> None:
    await onboard(world, ALICE)
    user = await user_of(world, ALICE)
    answer = await world.api.reply_to(ALICE, "/close JUP")
    assert answer.text == "You hold no open JUP position (/positions lists them)."
    assert (await world.api.reply_to(ALICE, "/close")).text == "Usage: /close <token>"
    await open_jup(world, user)
    answer = await world.api.reply_to(ALICE, "/close jup")
    assert answer.text == "Closing needs the trading loop running (solbot run); try later."
    # A loop beats on this database (in this process or another): the request is a row for it.
    await loop_beat.publish(world.services.db, LoopBeat(now=0.0, written_at=world.wall.now()))
    answer = await world.api.reply_to(ALICE, "/close jup")
    assert answer.text.startswith("Closing your JUP position at the next tick")
    async with world.services.db.session() as s:
        asked = [(r.user_id, r.token) for r in await s.scalars(select(CloseRequestRow))]
    assert asked == [(user.id, "JUP")]


async def test_balance_and_summary_value_every_asset_in_the_wallet(world: World) -> None:
    address = await onboard(world, ALICE)
    owner = Pubkey.from_string(address)
    settings = world.services.settings
    world.network.ledger.airdrop(owner, 10 * 10**9)  # 10 SOL and no USDC was "0.00 USDC"
    usdc, jup = settings.token("USDC"), settings.token("JUP")
    world.network.ledger.set_token_balance(owner, Pubkey.from_string(usdc.mint), 250 * 10**6)
    world.network.ledger.set_token_balance(
        owner, Pubkey.from_string(jup.mint), 1000 * 10**jup.decimals
    )

    async def sol_price() -> Decimal:
        return Decimal(150)

    world.services.sol_price = sol_price
    world.services.prices = lambda: {"JUP": Decimal("0.5")}
    balance = await world.api.reply_to(ALICE, "/balance")
    assert "SOL: 10.0000 (≈ 1,500.00)" in balance.text
    assert "USDC: 250.00" in balance.text
    assert "JUP: 1,000.000000 (≈ 500.00)" in balance.text
    assert "Total: ≈ 2,250.00 USDC" in balance.text
    mark = len(world.api.sent)
    assert await world.bot.notifier.send_daily_summaries() == 1
    summary = await world.api.wait_for(lambda c: c.method == "sendPhoto", after=mark)
    assert summary.text.startswith("Your day: value 2,250.00 USDC")
    # Without the loop's prices, what cannot be valued is listed and said to be left out.
    world.services.sol_price = None
    world.services.prices = None
    unpriced = await world.api.reply_to(ALICE, "/balance")
    assert "SOL: 10.0000 (no price here)" in unpriced.text
    assert "Total: ≈ 250.00 USDC, not counting SOL, JUP" in unpriced.text


async def test_positions_and_trades_give_prices_and_pnl_in_the_quote_asset(world: World) -> None:
    await onboard(world, ALICE)
    user = await user_of(world, ALICE)
    await open_jup(world, user)
    world.services.prices = lambda: {"JUP": Decimal("0.55")}
    positions = await world.api.reply_to(ALICE, "/positions")
    assert "JUP: 1.0000 bought at 0.5 USDC, now 0.55 USDC (+10.0%)" in positions.text
    await add_trade(world, user, "-2.5", world.clock.now() - 60)
    trades = await world.api.reply_to(ALICE, "/trades")
    assert trades.text.splitlines()[1].endswith("sold 1.0000 JUP at 0.5 USDC, PnL -2.50 USDC")


async def test_a_performance_fee_is_disclosed_at_start_and_shown_in_pnl(world: World) -> None:
    world.services.settings = world.services.settings.model_copy(
        update={"performance_fee_pct": 10.0}
    )
    disclosure = await world.api.reply_to(BOB, "/start")
    assert "The operator takes 10 % of your realised profit above its previous best" in (
        disclosure.text
    )
    await world.api.after_press(BOB, disclosure.result, disclosure.buttons[0][1])
    user = await user_of(world, BOB)
    day = 86_400
    await add_trade(world, user, "50", world.clock.now() - 2 * day)
    await FeeBook(world.services.db, world.clock, 10.0).accrue_due()
    pnl = await world.api.reply_to(BOB, "/pnl")
    assert (
        "Performance fee: 10 % of realised profit above your high-water mark (+45.00 USDC); "
        "accrued so far: 5.00 USDC, paid 0.00, owed 5.00"
    ) in pnl.text
