"""Groups and other people see nothing: whatever shows or changes an account answers only in
a private chat; forwarded and edited messages never run a command; a button pressed by anyone
but its owner changes nothing (the owner's pending withdrawal survives it)."""

from __future__ import annotations

import pytest
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.store.tables import AuditRow, UserRow

from .conftest import ALICE, BOB, STRANGER, World
from .test_basics import onboard
from .test_sensitive import SOL, code, whitelisted, with_second_factor

PRIVATE_ONLY = "Please send me this in a private chat, not in a group."
GROUP = -500


async def user_of(world: World, telegram_id: int) -> UserRow:
    async with world.services.db.session() as s:
        return (await s.scalars(select(UserRow).where(UserRow.telegram_id == telegram_id))).one()


@pytest.mark.parametrize(
    "command",
    [
        "/balance",
        "/positions",
        "/trades",
        "/pnl",
        "/risk aggressive",
        "/pause",
        "/resume",
        "/close JUP",
        "/settings",
        "/whitelist",
    ],
)
async def test_account_commands_in_a_group_answer_one_line_and_show_nothing(
    world: World, command: str
) -> None:
    address = await onboard(world, ALICE)
    answer = await world.api.reply_to(ALICE, command, chat_type="group", chat_id=GROUP)
    assert answer.text == PRIVATE_ONLY
    assert answer.method == "sendMessage"
    assert not answer.buttons
    assert all(address not in c.text for c in world.api.messages_to(GROUP))
    user = await user_of(world, ALICE)
    assert (user.is_active, user.risk_tier) == (True, "moderate")


async def test_a_stranger_in_a_group_learns_nothing(world: World) -> None:
    await onboard(world, ALICE)
    answer = await world.api.reply_to(STRANGER, "/balance", chat_type="group", chat_id=GROUP)
    assert answer.text == "Sorry, this bot is private."


async def test_a_forwarded_command_never_runs(world: World) -> None:
    await onboard(world, ALICE)
    await onboard(world, BOB)
    answer = await world.api.reply_to(BOB, "/pause", forwarded_from=ALICE)
    assert answer.text == "I don't act on forwarded messages: type the command yourself."
    assert (await user_of(world, BOB)).is_active
    assert (await user_of(world, ALICE)).is_active


async def test_an_edited_message_never_runs_a_command(world: World) -> None:
    await onboard(world, ALICE)
    mark = len(world.api.sent)
    helped = world.api.say(ALICE, "/help")
    first = await world.api.wait_for(lambda c: c.chat_id == ALICE, after=mark)
    assert first.text.startswith("solbot commands:")
    mark = len(world.api.sent)
    world.api.edit(helped, "/pause")  # "/help" edited into "/pause"
    answer = await world.api.wait_for(
        lambda c: c.method == "sendMessage" and c.chat_id == ALICE, after=mark
    )
    assert answer.text == "I don't act on edited messages: send the command again."
    assert (await user_of(world, ALICE)).is_active
    async with world.services.db.session() as s:
        assert [a.action for a in await s.scalars(select(AuditRow))] == ["create"]


async def test_a_button_pressed_by_another_user_changes_nothing(world: World) -> None:
    address = await with_second_factor(world, ALICE)
    await onboard(world, BOB)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = await whitelisted(world, ALICE)
    world.clock.advance(30)
    ask = await world.api.reply_to(ALICE, f"/withdraw {to} 0.5 {await code(world, ALICE)}")
    confirm = ask.buttons[0][1]
    mark = len(world.api.sent)
    world.api.press(BOB, ask.result, confirm)
    refused = await world.api.wait_for(
        lambda c: c.method == "answerCallbackQuery" and bool(c.params.get("text")), after=mark
    )
    assert refused.params["text"] == "That button is not yours."
    assert world.network.ledger.balance(to) == 0
    done = await world.api.after_press(ALICE, ask.result, confirm)  # still pending for Alice
    assert done.text.startswith(f"Sent 0.5 SOL to {to}.")
