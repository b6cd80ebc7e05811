"""Secrets never outlive their minute: every deletion of a key, a 2FA secret or a message with
a code goes through a queue in the database, retried across Bot API outages until Telegram
confirms; a message Telegram will no longer delete is handed to its user and the operator; a
code is deleted whatever becomes of its command; and every security timer follows the wall
clock, not the trading clock of an accelerated sim."""

from __future__ import annotations

import asyncio

from solders.keypair import Keypair
from sqlalchemy import select

from solbot.clock import ManualClock
from solbot.store.chat_deletions import BY_HAND, ChatDeletions
from solbot.store.tables import ChatDeletionRow

from .conftest import ALICE, BOB, OPERATOR, START, World, open_world
from .fake_bot_api import FakeBotApi, Sent
from .test_basics import onboard
from .test_sensitive import code, deleted, with_second_factor

SOL = 1_000_000_000


async def queued(world: World) -> list[ChatDeletionRow]:
    async with world.services.db.session() as s:
        return list(await s.scalars(select(ChatDeletionRow).order_by(ChatDeletionRow.created_at)))


async def drained(world: World) -> None:
    """Wait until the queue is empty: Telegram confirms a deletion a moment before the bot
    removes its row."""
    for _ in range(200):
        if await queued(world) == []:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still queued: {[(r.state, r.error) for r in await queued(world)]}")


async def handed_over(world: World) -> ChatDeletionRow:
    """The one queued row, once the user and the operator have been told about it."""
    for _ in range(200):
        rows = await queued(world)
        if len(rows) == 1 and rows[0].state == BY_HAND:
            return rows[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"not handed over: {[(r.state, r.error) for r in rows]}")


async def exported(world: World, telegram_id: int) -> Sent:
    """Export the key; the message that shows it (its code's message deleted already)."""
    world.pass_time(30)
    mark = len(world.api.sent)
    command = world.api.say(telegram_id, f"/export {await code(world, telegram_id)}")
    shown = await world.api.wait_for(lambda c: "private key" in c.text, after=mark)
    await world.api.wait_for(lambda c: deleted(world, telegram_id, command["message_id"]))
    return shown


async def test_a_deletion_that_fails_in_an_outage_is_retried_until_telegram_confirms(
    world: World,
) -> None:
    await with_second_factor(world, ALICE)
    shown = await exported(world, ALICE)
    key_message = shown.result["message_id"]
    world.api.down["deleteMessage"] = 3  # the Bot API is away for three tries
    tried = world.api.calls["deleteMessage"]
    world.pass_time(60)
    for failed, wait in enumerate((2, 4, 8), start=1):  # the back-off: 2, 4, 8 seconds
        await world.api.wait_calls("deleteMessage", tried + failed)
        await asyncio.sleep(0.1)
        (row,) = await queued(world)
        assert (row.message_id, row.attempts) == (key_message, failed)
        assert "Bad Gateway" in (row.error or "")
        assert world.api.exists(ALICE, key_message)
        world.pass_time(wait - 0.5)  # not yet
        await asyncio.sleep(0.1)
        assert world.api.calls["deleteMessage"] == tried + failed
        world.pass_time(0.5)
    await world.api.wait_for(lambda c: deleted(world, ALICE, key_message))
    assert not world.api.exists(ALICE, key_message)
    await drained(world)


async def test_a_message_telegram_will_not_delete_goes_to_the_user_and_the_operator(
    world: World,
) -> None:
    await with_second_factor(world, BOB)
    shown = await exported(world, BOB)
    world.api.too_old.add(shown.result["message_id"])  # as if 48 hours had gone by
    world.pass_time(60)
    told = await world.api.wait_for(lambda c: c.chat_id == BOB and "delete it by hand" in c.text)
    assert told.text.startswith("⚠️ I could not delete a message with your private key")
    alert = await world.api.wait_for(
        lambda c: c.chat_id == OPERATOR and "delete it by hand" in c.text
    )
    assert "a user’s private key" in alert.text
    assert str(BOB) in alert.text
    await handed_over(world)
    world.pass_time(3600)  # told once, not again
    await asyncio.sleep(0.3)
    assert (
        len([c for c in world.api.sent if c.chat_id == BOB and "delete it by hand" in c.text]) == 1
    )


async def test_an_outage_past_telegrams_48_hours_ends_in_a_request_to_delete_by_hand(
    world: World,
) -> None:
    await with_second_factor(world, ALICE)
    shown = await exported(world, ALICE)
    world.api.down["deleteMessage"] = 10**6
    world.pass_time(60)
    await asyncio.sleep(0.2)
    for _ in range(12):  # five-minute back-offs at most: 48 hours are many tries
        world.pass_time(4 * 3600)
        await asyncio.sleep(0.1)
    told = await world.api.wait_for(lambda c: c.chat_id == ALICE and "delete it by hand" in c.text)
    assert "not deleted within 48 hours" in told.text
    assert world.api.exists(ALICE, shown.result["message_id"])
    await handed_over(world)


async def test_a_secret_whose_sending_was_cut_short_is_announced_at_the_next_start(
    world: World,
) -> None:
    await onboard(world, ALICE)
    # A process died between sending a key and learning the message's id.
    queue = ChatDeletions(world.services.db, world.wall)
    await queue.reserve(ALICE, "key", None, 60)
    await world.bot.commands.secrets.resume()  # what a start does before polling
    told = await world.api.wait_for(lambda c: c.chat_id == ALICE and "delete it by hand" in c.text)
    assert "the bot stopped while sending it" in told.text
    await world.api.wait_for(lambda c: c.chat_id == OPERATOR and "delete it by hand" in c.text)
    await handed_over(world)


async def test_a_stop_deletes_every_pending_secret_at_once(api: FakeBotApi, db_url: str) -> None:
    async with open_world(api, db_url) as world:
        await with_second_factor(world, ALICE)
        shown = await exported(world, ALICE)
    assert deleted(world, ALICE, shown.result["message_id"])
    assert await ChatDeletions(world.services.db, world.wall).pending_ids() == []


async def test_a_code_is_deleted_whatever_becomes_of_its_command(world: World) -> None:
    await onboard(world, ALICE)
    address = Keypair().pubkey()
    refused = [
        ("/export 123456", "Set up the second factor first"),  # no 2FA yet
        (f"/withdraw {address}x 0.5 123456", "Set up the second factor first"),
        ("/2fa 123456 654321", "Usage: /2fa [code]"),
    ]
    for text, answer in refused:
        mark = len(world.api.sent)
        command = world.api.say(ALICE, text)
        reply = await world.api.wait_for(
            lambda c: c.method == "sendMessage" and c.chat_id == ALICE, after=mark
        )
        assert answer in reply.text
        await world.api.wait_for(lambda c, m=command: deleted(world, ALICE, m["message_id"]))
    # In a group, where it is refused unread.
    group = world.api.say(ALICE, "/export 123456", chat_type="group", chat_id=-500)
    await world.api.wait_for(lambda c: deleted(world, -500, group["message_id"]))
    # Over the command budget.
    world.bot.access.per_minute = 0
    flood = world.api.say(ALICE, "/withdraw a b 123456")
    await world.api.wait_for(lambda c: c.chat_id == ALICE and "Too many commands" in c.text)
    await world.api.wait_for(lambda c: deleted(world, ALICE, flood["message_id"]))
    await drained(world)


async def test_security_timers_follow_the_wall_clock_not_the_trading_clock(
    api: FakeBotApi, db_url: str
) -> None:
    wall = ManualClock(START)
    async with open_world(api, db_url, wall=wall) as world:
        address = await with_second_factor(world, ALICE)
        world.network.ledger.airdrop(world.wallet_of(address), 2 * SOL)
        to = Keypair().pubkey()
        added = await world.api.reply_to(ALICE, f"/whitelist add {to}")
        assert added.text.startswith(f"Added {to}.")
        # An accelerated sim: two trading days go by in a few wall minutes.
        world.clock.advance(2 * 86_400)
        world.pass_time(120)
        locked = await world.api.reply_to(ALICE, f"/withdraw {to} 0.5 {await code(world, ALICE)}")
        assert "is on your whitelist but usable only from" in locked.text
        # A code from the trading clock's time is refused: the factor reads the wall.
        world.pass_time(30)
        trading_code = await code(world, ALICE, at=world.clock.now())
        wrong = await world.api.reply_to(ALICE, f"/2fa {trading_code}")
        assert wrong.text == "Second factor: wrong code."
        world.pass_time(24 * 3600)
        ask = await world.api.reply_to(ALICE, f"/withdraw {to} 0.5 {await code(world, ALICE)}")
        assert ask.text == f"Send 0.5 SOL to {to}? This cannot be undone."


async def test_a_key_whose_sending_failed_midway_is_announced_at_once(world: World) -> None:
    await with_second_factor(world, ALICE)
    world.pass_time(30)
    world.api.down["sendMessage"] = 1  # the answer to the key's message is lost
    mark = len(world.api.sent)
    world.api.say(ALICE, f"/export {await code(world, ALICE)}")
    told = await world.api.wait_for(
        lambda c: c.chat_id == ALICE and "delete it by hand" in c.text, after=mark
    )
    assert "the connection failed while sending" in told.text
    await handed_over(world)
