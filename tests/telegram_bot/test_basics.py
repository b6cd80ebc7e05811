"""Onboarding, who may talk to the bot and where, and the everyday commands, through the real
python-telegram-bot Application and the local Bot API."""

from __future__ import annotations

import pytest
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.store.tables import AuditRow, UserRow

from .conftest import ALICE, BOB, OPERATOR, STRANGER, World


async def onboard(world: World, user: int) -> str:
    """/start, accept the disclosure; the wallet address the bot gave."""
    disclosure = await world.api.reply_to(user, "/start")
    assert "Trading can lose money" in disclosure.text
    (label, data) = disclosure.buttons[0]
    assert label == "I understand and accept"
    ready = await world.api.after_press(user, disclosure.result, data)
    assert "Your wallet is ready" in ready.text
    # What to deposit, from the same rules as `solbot add-user` (USDC portfolio, defaults).
    assert "• USDC: at least 10; no position opens below 10 USDC" in ready.text
    assert "• SOL: at least 0.05 for network fees" in ready.text
    return ready.text.splitlines()[1]


async def users(world: World) -> list[UserRow]:
    async with world.services.db.session() as s:
        return list(await s.scalars(select(UserRow)))


async def test_start_makes_a_wallet_after_the_disclosure_and_welcomes_back(world: World) -> None:
    address = await onboard(world, ALICE)
    assert Pubkey.from_string(address).is_on_curve()
    (user,) = await users(world)
    assert (user.telegram_id, user.username, user.wallet_pubkey) == (ALICE, f"tg_{ALICE}", address)
    assert user.accepted_terms_at is not None
    again = await world.api.reply_to(ALICE, "/start")
    assert again.text.startswith("Welcome back!")
    assert address in again.text
    # The operator hears of new users; nothing the bot sent holds a key.
    alert = await world.api.wait_for(lambda c: c.chat_id == OPERATOR)
    assert f"tg_{ALICE}" in alert.text
    async with world.services.db.session() as s:
        actions = [a.action for a in await s.scalars(select(AuditRow))]
    assert actions == ["create"]


async def test_a_stranger_is_turned_away_and_nothing_is_made(world: World) -> None:
    for command in ("/balance", "/export 123456"):
        answer = await world.api.reply_to(STRANGER, command)
        assert answer.text == "Sorry, this bot is private."
    asked = await world.api.reply_to(STRANGER, "/start")  # a request to the operator, no wallet
    assert asked.text.startswith("This bot is private: I have asked its operator")
    assert await users(world) == []


async def test_sensitive_commands_only_in_a_private_chat(world: World) -> None:
    answer = await world.api.reply_to(ALICE, "/start", chat_type="group", chat_id=-500)
    assert answer.text == "Please send me this in a private chat, not in a group."
    assert answer.chat_id == -500
    assert await users(world) == []
    await onboard(world, ALICE)
    group = await world.api.reply_to(ALICE, "/balance", chat_type="group", chat_id=-500)
    assert group.text == "Please send me this in a private chat, not in a group."


async def test_balance_positions_and_trades_of_a_new_wallet(world: World) -> None:
    address = await onboard(world, BOB)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2_500_000_000)
    balance = await world.api.reply_to(BOB, "/balance")
    assert f"Wallet {address}" in balance.text
    assert "SOL: 2.5000" in balance.text
    assert "USDC: 0.00" in balance.text
    assert "Risk: moderate; trading active" in balance.text
    assert (await world.api.reply_to(BOB, "/positions")).text == "No open positions."
    assert (await world.api.reply_to(BOB, "/trades")).text == "No trades yet."


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/risk", "Usage: /risk <conservative|moderate|aggressive>"),
        ("/risk yolo", "Usage: /risk <conservative|moderate|aggressive>"),
        ("/risk moderate now", "Usage: /risk <conservative|moderate|aggressive>"),
        ("/trades x", "Usage: /trades [N] (N from 1 to 50)"),
        ("/trades 51", "Usage: /trades [N] (N from 1 to 50)"),
        ("/pause now", "Usage: /pause"),
        ("/frobnicate", "I don't know that command. /help lists them."),
    ],
)
async def test_bad_arguments_get_one_line_with_the_usage(
    world: World, command: str, answer: str
) -> None:
    await onboard(world, ALICE)
    assert (await world.api.reply_to(ALICE, command)).text == answer


async def test_commands_before_start_say_how_to_begin(world: World) -> None:
    assert (
        await world.api.reply_to(ALICE, "/balance")
    ).text == "You have no wallet yet: send /start."


async def test_risk_pause_and_resume_change_the_user_and_are_audited(world: World) -> None:
    await onboard(world, ALICE)
    assert (await world.api.reply_to(ALICE, "/risk Aggressive")).text == (
        "Risk tier is now aggressive."
    )
    assert (await world.api.reply_to(ALICE, "/pause")).text.startswith("Paused")
    assert (await world.api.reply_to(ALICE, "/pause")).text == "Already paused."
    assert (await world.api.reply_to(ALICE, "/resume")).text == "Trading resumed."
    (user,) = await users(world)
    assert (user.risk_tier, user.is_active) == ("aggressive", True)
    async with world.services.db.session() as s:
        audit = [
            (a.action, a.actor) for a in await s.scalars(select(AuditRow).order_by(AuditRow.seq))
        ]
    actor = f"telegram:{ALICE}"
    assert audit == [("create", actor), ("risk", actor), ("pause", actor), ("resume", actor)]


async def test_a_flood_of_commands_is_slowed_down_and_the_operator_told(world: World) -> None:
    await onboard(world, ALICE)
    answers = [(await world.api.reply_to(ALICE, "/help")).text for _ in range(25)]
    assert "Too many commands; please wait a minute." in answers
    await world.api.wait_for(lambda c: c.chat_id == OPERATOR and "rate limit" in c.text)
    world.clock.advance(61)
    assert (await world.api.reply_to(ALICE, "/help")).text.startswith("solbot commands:")
