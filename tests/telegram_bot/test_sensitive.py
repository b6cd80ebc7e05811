"""The second factor, exports, the whitelist and withdrawals through the real bot: codes are
good once and lock after five misses, keys leave only in one protected message that is deleted,
and withdrawals go only to whitelisted, time-locked addresses within the 24-hour limit, as real
transfers checked to the lamport."""

from __future__ import annotations

import asyncio
import json

import pyotp
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.errors import UserError
from solbot.services.second_factor import unseal
from solbot.services.withdrawal_policy import Limits, Policy, Whitelist, Whitelists
from solbot.services.withdrawals import WithdrawalService
from solbot.store.tables import AuditRow, UserRow, WithdrawalAddressRow, WithdrawalRow
from solbot.transfers import SIGNATURE_FEE

from .conftest import ALICE, BOB, KEY, OPERATOR, World
from .fake_bot_api import Sent
from .test_basics import onboard

SOL = 1_000_000_000


async def user_row(world: World, telegram_id: int) -> UserRow:
    async with world.services.db.session() as s:
        return (await s.scalars(select(UserRow).where(UserRow.telegram_id == telegram_id))).one()


async def code(
    world: World, telegram_id: int, steps_ahead: int = 0, at: float | None = None
) -> str:
    """The user's current code on the wall clock (or the code at the moment `at`)."""
    user = await user_row(world, telegram_id)
    assert user.totp_secret is not None
    secret = unseal(KEY, user.totp_secret, user.id)
    return pyotp.TOTP(secret).at((world.wall.now() if at is None else at) + 30 * steps_ahead)


async def with_second_factor(world: World, telegram_id: int) -> str:
    """Onboard, enrol and confirm the second factor; the wallet address."""
    address = await onboard(world, telegram_id)
    qr = await world.api.reply_to(telegram_id, "/2fa")
    assert qr.method == "sendPhoto"
    world.pass_time(300)  # the picture's five minutes
    await world.api.wait_for(lambda c: deleted(world, telegram_id, qr.result["message_id"]))
    world.clock.advance(30)
    done = await world.api.reply_to(telegram_id, f"/2fa {await code(world, telegram_id)}")
    assert done.text.startswith("The second factor is on")
    return address


def deleted(world: World, chat: int, message_id: int) -> bool:
    return any(
        c.method == "deleteMessage"
        and int(c.params["chat_id"]) == chat
        and int(c.params["message_id"]) == message_id
        for c in world.api.sent
    )


# ---------------------------------------------------------------------------------- 2FA
async def test_enrolment_sends_a_protected_qr_that_disappears(world: World) -> None:
    await onboard(world, ALICE)
    qr = await world.api.reply_to(ALICE, "/2fa")
    assert qr.method == "sendPhoto"
    assert qr.params.get("protect_content") is True
    assert qr.files["photo"].startswith(b"\x89PNG")
    assert "authenticator app" in qr.text
    world.pass_time(299)
    await asyncio.sleep(0.2)
    assert not deleted(world, ALICE, qr.result["message_id"])  # five minutes, not less
    world.pass_time(1)
    await world.api.wait_for(lambda c: deleted(world, ALICE, qr.result["message_id"]))
    user = await user_row(world, ALICE)
    assert user.totp_secret is not None
    secret = unseal(KEY, user.totp_secret, user.id)
    assert secret.encode() not in user.totp_secret  # sealed, not stored in the clear


async def test_a_code_is_good_once_and_five_misses_lock_the_factor(world: World) -> None:
    await with_second_factor(world, ALICE)
    world.clock.advance(30)
    good = await code(world, ALICE)
    assert (await world.api.reply_to(ALICE, f"/2fa {good}")).text == "Your code is right."
    again = await world.api.reply_to(ALICE, f"/2fa {good}")
    assert again.text == "Second factor: that code was already used; wait for the next one."
    for _ in range(3):  # with the replay above, four misses in a row
        wrong = await world.api.reply_to(ALICE, "/2fa 000000")
        assert wrong.text == "Second factor: wrong code."
    fifth = await world.api.reply_to(ALICE, "/2fa 000000")  # said now, not at the sixth try
    assert fifth.text.startswith(
        "Second factor: wrong code, the 5th in a row: the second factor is locked until "
    )
    alert = await world.api.wait_for(lambda c: c.chat_id == OPERATOR and "wrong" in c.text)
    assert "locked for an hour" in alert.text
    world.clock.advance(30)
    locked = await world.api.reply_to(ALICE, f"/2fa {await code(world, ALICE)}")
    assert locked.text.startswith("Too many wrong codes: the second factor is locked until")
    world.clock.advance(3600)
    assert (await world.api.reply_to(ALICE, f"/2fa {await code(world, ALICE)}")).text == (
        "Your code is right."
    )


# ---------------------------------------------------------------------------------- export
async def test_export_needs_the_second_factor_first(world: World) -> None:
    await onboard(world, ALICE)
    answer = await world.api.reply_to(ALICE, "/export 123456")
    assert answer.text == "Set up the second factor first (/2fa): /export needs it."
    assert (await world.api.reply_to(ALICE, "/export")).text == "Usage: /export <2FA code>"


async def test_export_sends_the_key_once_protected_and_deletes_it(world: World) -> None:
    address = await with_second_factor(world, BOB)
    world.clock.advance(30)
    command = world.api.say(BOB, f"/export {await code(world, BOB)}")
    sent: Sent = await world.api.wait_for(
        lambda c: c.method == "sendMessage" and c.chat_id == BOB and "private key" in c.text
    )
    key = sent.text.split("\n\n")[1]
    assert str(Keypair.from_base58_string(key).pubkey()) == address
    assert sent.params.get("protect_content") is True
    await world.api.wait_for(lambda c: deleted(world, BOB, command["message_id"]))  # the code
    await asyncio.sleep(0.2)
    assert not deleted(world, BOB, sent.result["message_id"])  # visible for its minute
    world.pass_time(60)
    await world.api.wait_for(lambda c: deleted(world, BOB, sent.result["message_id"]))
    await world.api.wait_for(lambda c: c.chat_id == OPERATOR and "exported" in c.text)
    # Nothing else the bot ever sent holds the key, in any chat.
    for call in world.api.sent:
        if call is not sent:
            assert key not in str(call.params)
    async with world.services.db.session() as s:
        exports = [a for a in await s.scalars(select(AuditRow)) if a.action == "export"]
    assert len(exports) == 1
    assert key not in exports[0].details


async def test_exports_are_limited_to_three_a_day(world: World) -> None:
    await with_second_factor(world, ALICE)
    for _ in range(3):
        world.clock.advance(31)
        mark = len(world.api.sent)
        world.api.say(ALICE, f"/export {await code(world, ALICE)}")
        key = await world.api.wait_for(lambda c: "disappears in" in c.text, after=mark)
        shown = key.result["message_id"]
        world.pass_time(60)
        await world.api.wait_for(lambda c, shown=shown: deleted(world, ALICE, shown))
    world.clock.advance(31)
    answer = await world.api.reply_to(ALICE, f"/export {await code(world, ALICE)}")
    assert answer.text == "You can export 3 times a day; try again later."
    # The rule is the service's, not the shell's: asked directly, it refuses before decrypting.
    custody = world.services.custody
    with pytest.raises(UserError, match="3 times a day"):
        await custody.export_key(f"tg_{ALICE}", "base58", actor=f"telegram:{ALICE}", per_day=3)
    other_channel = await custody.export_key(f"tg_{ALICE}", "base58", actor="cli", per_day=3)
    assert other_channel.reveal()  # the operator's own exports are another channel's


# ---------------------------------------------------------------------------------- withdraw
async def whitelisted(world: World, telegram_id: int) -> Pubkey:
    """A fresh address on the user's whitelist, past its time-lock."""
    to = Keypair().pubkey()
    added = await world.api.reply_to(telegram_id, f"/whitelist add {to} cold wallet")
    assert added.text.startswith(f"Added {to}. It can receive withdrawals from")
    await world.api.wait_for(lambda c: c.chat_id == OPERATOR and str(to) in c.text)
    world.clock.advance(24 * 3600 + 1)
    return to


async def test_whitelist_changes_are_audited_by_the_service_every_shell_calls(
    world: World,
) -> None:
    """`/whitelist add` and `remove` go through `services.withdrawal_policy.Whitelists`: the
    change and its audit row in one transaction, under the master key's check."""
    await onboard(world, ALICE)
    to = await whitelisted(world, ALICE)
    removed = await world.api.reply_to(ALICE, f"/whitelist remove {to}")
    assert removed.text == f"Removed {to} from your whitelist."
    async with world.services.db.session() as s:
        rows = list(await s.scalars(select(AuditRow).order_by(AuditRow.seq)))
    changes = [
        (a.action, json.loads(a.details)["address"]) for a in rows if "whitelist" in a.action
    ]
    assert changes == [("whitelist_add", str(to)), ("whitelist_remove", str(to))]
    alice = await user_row(world, ALICE)
    assert all(a.user_id == alice.id for a in rows if "whitelist" in a.action)
    whitelists = Whitelists(world.services.custody)
    await whitelists.add(alice, str(to), None, 0, actor="test")  # re-added: a new time-lock
    with pytest.raises(UserError, match="already on your whitelist"):
        await whitelists.add(alice, str(to), None, 0, actor="test")  # nothing written
    assert [w.address for w in await whitelists.entries(alice)] == [str(to)]


async def test_a_withdrawal_to_a_whitelisted_address_moves_exactly_the_amount(
    world: World,
) -> None:
    address = await with_second_factor(world, ALICE)
    wallet = Pubkey.from_string(address)
    world.network.ledger.airdrop(wallet, 2 * SOL)
    to = await whitelisted(world, ALICE)
    listing = await world.api.reply_to(ALICE, "/whitelist")
    assert f"{to} (cold wallet): usable" in listing.text
    before = world.network.ledger.balance(wallet)
    world.clock.advance(30)
    ask = await world.api.reply_to(ALICE, f"/withdraw {to} 0.75 {await code(world, ALICE)}")
    assert ask.text == f"Send 0.75 SOL to {to}? This cannot be undone."
    (confirm, _), (cancel, _) = ask.buttons
    assert (confirm, cancel) == ("Confirm", "Cancel")
    done = await world.api.after_press(ALICE, ask.result, ask.buttons[0][1])
    assert done.text.startswith(f"Sent 0.75 SOL to {to}.\nTransaction: ")
    world.network.ledger.advance_to(world.clock.now())
    assert world.network.ledger.balance(to) == 750_000_000
    assert world.network.ledger.balance(wallet) == before - 750_000_000 - SIGNATURE_FEE
    await world.api.wait_for(lambda c: c.chat_id == OPERATOR and "new address" in c.text)
    again = await world.api.after_press(ALICE, ask.result, ask.buttons[0][1])
    assert again.text == "That withdrawal is no longer pending; send /withdraw again."


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        ("{to} 0.5", "Usage: /withdraw <address> <amount in SOL> <2FA code>"),
        (" {to}0 0.5 {code}", "is not a Solana address"),  # "0" is not base58
        ("{other} 0.5 {code}", "is not on your whitelist: /whitelist add"),
        ("{to} 0.0000000001 {code}", "more than 9 decimals"),
        ("{to} 1.5 {code}", "Over the 24-hour limit: 1 SOL can still be withdrawn now"),
        ("{to} 3 {code}", "more than can be withdrawn: 1.949995 SOL"),
        ("{to} 0.5 000000", "Second factor: wrong code."),
    ],
)
async def test_a_refused_withdrawal_says_why_in_one_line_and_moves_nothing(
    world: World, args: str, answer: str
) -> None:
    address = await with_second_factor(world, ALICE)
    wallet = Pubkey.from_string(address)
    world.network.ledger.airdrop(wallet, 2 * SOL)
    to = await whitelisted(world, ALICE)
    world.clock.advance(30)
    text = args.format(to=to, other=Keypair().pubkey(), code=await code(world, ALICE))
    reply = await world.api.reply_to(ALICE, f"/withdraw {text}")
    assert answer in reply.text
    assert "\n" not in reply.text
    assert not reply.buttons
    assert world.network.ledger.balance(to) == 0
    async with world.services.db.session() as s:
        assert list(await s.scalars(select(WithdrawalRow))) == []


RAY_MINT = "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R"  # on the curve, yet a mint


@pytest.mark.parametrize(
    ("address", "why"),
    [
        (RAY_MINT, "is a token mint, not a wallet"),
        ("So11111111111111111111111111111111111111112", "is a token mint, not a wallet"),
        ("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "is a program, not a wallet"),
    ],
)
async def test_a_mint_or_a_program_never_reaches_the_whitelist(
    world: World, address: str, why: str
) -> None:
    await onboard(world, ALICE)
    reply = await world.api.reply_to(ALICE, f"/whitelist add {address} my exchange")
    assert reply.text.startswith(f"{address} {why}")
    assert "\n" not in reply.text
    async with world.services.db.session() as s:
        assert list(await s.scalars(select(WithdrawalAddressRow))) == []


async def test_a_whitelisted_address_that_became_a_token_account_is_refused(
    world: World,
) -> None:
    """Checked again when withdrawing: an address whitelisted while new can be created later
    (by whoever holds its key) as something else than a wallet."""
    address = await with_second_factor(world, ALICE)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = await whitelisted(world, ALICE)
    world.network.ledger.create_mint(to, 6, Keypair().pubkey())
    world.clock.advance(30)
    reply = await world.api.reply_to(ALICE, f"/withdraw {to} 0.5 {await code(world, ALICE)}")
    assert reply.text.startswith(f"{to} is a token mint, not a wallet")
    assert not reply.buttons


async def test_a_new_address_waits_for_its_time_lock(world: World) -> None:
    address = await with_second_factor(world, ALICE)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = Keypair().pubkey()
    await world.api.reply_to(ALICE, f"/whitelist add {to}")
    world.clock.advance(3600)
    reply = await world.api.reply_to(ALICE, f"/withdraw {to} 0.1 {await code(world, ALICE)}")
    assert f"{to} is on your whitelist but usable only from" in reply.text


async def test_the_same_withdrawal_confirmed_twice_is_sent_once(world: World) -> None:
    """Two confirmations of the same request (two asks, both confirmed): the second returns
    the first instead of sending again."""
    address = await with_second_factor(world, ALICE)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = await whitelisted(world, ALICE)
    asks = []
    for _ in range(2):
        world.clock.advance(30)
        asks.append(
            await world.api.reply_to(ALICE, f"/withdraw {to} 0.3 {await code(world, ALICE)}")
        )
    first = await world.api.after_press(ALICE, asks[0].result, asks[0].buttons[0][1])
    assert first.text.startswith(f"Sent 0.3 SOL to {to}.")
    second = await world.api.after_press(ALICE, asks[1].result, asks[1].buttons[0][1])
    assert second.text == "The same withdrawal was just asked for; it is confirmed, not sent again."
    world.network.ledger.advance_to(world.clock.now())
    assert world.network.ledger.balance(to) == 300_000_000


async def test_cancel_sends_nothing(world: World) -> None:
    address = await with_second_factor(world, ALICE)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = await whitelisted(world, ALICE)
    world.clock.advance(30)
    ask = await world.api.reply_to(ALICE, f"/withdraw {to} 0.2 {await code(world, ALICE)}")
    done = await world.api.after_press(ALICE, ask.result, ask.buttons[1][1])
    assert done.text == "Withdrawal cancelled."
    assert world.network.ledger.balance(to) == 0


async def test_repeated_withdrawals_measure_against_the_window_start(world: World) -> None:
    """0.6 SOL twice from a 2 SOL wallet: the second would pass a limit on the remaining
    balance (50 % of 1.4), but not the limit on the value at the window's start (50 % of 2)."""
    address = await with_second_factor(world, ALICE)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = await whitelisted(world, ALICE)
    world.clock.advance(30)
    ask = await world.api.reply_to(ALICE, f"/withdraw {to} 0.6 {await code(world, ALICE)}")
    await world.api.after_press(ALICE, ask.result, ask.buttons[0][1])
    world.clock.advance(30)
    second = await world.api.reply_to(ALICE, f"/withdraw {to} 0.6 {await code(world, ALICE)}")
    assert "Over the 24-hour limit: 0.4 SOL can still be withdrawn now" in second.text
    world.clock.advance(24 * 3600)
    world.clock.advance(30)
    later = await world.api.reply_to(ALICE, f"/withdraw {to} 0.6 {await code(world, ALICE)}")
    assert later.text.startswith("Send 0.6 SOL")


async def test_two_concurrent_withdrawals_cannot_both_pass_the_limit(world: World) -> None:
    """Straight through the services, on both databases: the limit is checked under the
    user's row lock inside the transaction that journals each withdrawal."""
    address = await onboard(world, BOB)
    wallet = Pubkey.from_string(address)
    world.network.ledger.airdrop(wallet, 2 * SOL)
    user = await user_row(world, BOB)
    to = Keypair().pubkey()
    async with world.services.db.session() as s:
        await Whitelist(s, world.clock).add(user, str(to), None, 0)
    world.clock.advance(1)
    service = WithdrawalService(
        world.services.db,
        world.clock,
        world.services.chain,  # type: ignore[arg-type]
        world.services.custody,
        fee_reserve_lamports=0,
        wall=world.clock,  # the policy's clock: the 24-hour window reads the rows' stamps
    )
    policy = Policy(world.clock, Limits(), sol_balance=2 * SOL, sol_price=None)
    results = await asyncio.gather(  # not identical: an identical one would be the same
        *(
            service.withdraw(user.username, str(to), amount, actor="test", check=policy)
            for amount in ("0.6", "0.61")
        ),
        return_exceptions=True,
    )
    done = [r for r in results if isinstance(r, WithdrawalRow)]
    refused = [r for r in results if isinstance(r, UserError)]
    assert len(done) == 1, results
    assert len(refused) == 1, results
    assert "over the 24-hour limit" in str(refused[0])
    world.network.ledger.advance_to(world.clock.now())
    assert world.network.ledger.balance(to) == done[0].lamports
