"""A friend with only a phone can do everything: the 2FA secret comes as text and a link too;
a refused withdrawal leaves the code unspent; used buttons disappear; replies are sentences."""

from __future__ import annotations

import re

import pyotp
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from .conftest import ALICE, BOB, World
from .test_basics import onboard
from .test_sensitive import SOL, code, deleted, whitelisted, with_second_factor


async def test_the_second_factor_can_be_typed_in_by_hand(world: World) -> None:
    await onboard(world, ALICE)
    qr = await world.api.reply_to(ALICE, "/2fa")
    assert qr.params.get("protect_content") is True
    typed = re.search(r"with this key: ([A-Z2-7 ]+) \(time-based, 6 digits\)", qr.text)
    assert typed is not None
    secret = typed.group(1).replace(" ", "")
    link = re.search(r"otpauth://totp/\S+", qr.text)
    assert link is not None
    assert pyotp.parse_uri(link.group(0)).secret == secret
    # A friend types the key into the app and sends its code: the factor is on.
    world.clock.advance(30)
    done = await world.api.reply_to(ALICE, f"/2fa {pyotp.TOTP(secret).at(world.wall.now())}")
    assert done.text.startswith("The second factor is on")
    world.pass_time(300)  # the text goes with the picture: one message
    await world.api.wait_for(lambda c: deleted(world, ALICE, qr.result["message_id"]))


async def test_a_refused_withdrawal_does_not_spend_the_code(world: World) -> None:
    address = await with_second_factor(world, ALICE)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = await whitelisted(world, ALICE)
    world.clock.advance(30)
    one_code = await code(world, ALICE)
    for refused in (
        f"/withdraw {Keypair().pubkey()} 0.5 {one_code}",  # not on the whitelist
        f"/withdraw {to} 1.5 {one_code}",  # over the 24-hour limit
        f"/withdraw {to} 30 {one_code}",  # more than the wallet holds
    ):
        answer = await world.api.reply_to(ALICE, refused)
        assert not answer.text.startswith("Second factor"), answer.text
    ask = await world.api.reply_to(ALICE, f"/withdraw {to} 0.5 {one_code}")
    assert ask.text == f"Send 0.5 SOL to {to}? This cannot be undone."


async def test_used_buttons_disappear(world: World) -> None:
    disclosure = await world.api.reply_to(BOB, "/start")
    await world.api.after_press(BOB, disclosure.result, disclosure.buttons[0][1])
    await world.api.wait_for(
        lambda c: (
            c.method == "editMessageReplyMarkup"
            and int(c.params["message_id"]) == disclosure.result["message_id"]
            and not c.params.get("reply_markup")
        )
    )
    address = await with_second_factor(world, ALICE)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = await whitelisted(world, ALICE)
    world.clock.advance(30)
    for button in (1, 0):  # Cancel, then a new one confirmed
        world.clock.advance(30)
        ask = await world.api.reply_to(ALICE, f"/withdraw {to} 0.1 {await code(world, ALICE)}")
        await world.api.after_press(ALICE, ask.result, ask.buttons[button][1])
        await world.api.wait_for(
            lambda c, ask=ask: (
                c.method == "editMessageReplyMarkup"
                and int(c.params["message_id"]) == ask.result["message_id"]
                and not c.params.get("reply_markup")
            )
        )


async def test_refusals_read_as_sentences(world: World) -> None:
    address = await with_second_factor(world, ALICE)
    world.network.ledger.airdrop(Pubkey.from_string(address), 2 * SOL)
    to = await whitelisted(world, ALICE)
    world.clock.advance(30)
    answer = await world.api.reply_to(ALICE, f"/withdraw {to} 1.5 {await code(world, ALICE)}")
    assert answer.text.startswith("Over the 24-hour limit")


async def test_the_command_menu_is_set_and_plain_text_gets_a_hint(world: World) -> None:
    menu = await world.api.wait_for(lambda c: c.method == "setMyCommands")
    names = [entry["command"] for entry in menu.params["commands"]]
    assert {"balance", "withdraw", "export", "2fa", "help"} <= set(names)
    await onboard(world, ALICE)
    hint = await world.api.reply_to(ALICE, "hello, what can you do?")
    assert hint.text == "I answer commands: tap the menu button or send /help to see them."
    mark = len(world.api.sent)
    bare = world.api.say(ALICE, "123 456")
    told = await world.api.wait_for(
        lambda c: c.method == "sendMessage" and c.chat_id == ALICE, after=mark
    )
    assert told.text.startswith("That looked like a 2FA code, so I deleted it.")
    await world.api.wait_for(lambda c: deleted(world, ALICE, bare["message_id"]))
    quiet = len(world.api.sent)
    world.api.say(ALICE, "chatting in the group", chat_type="group", chat_id=-500)
    await world.api.reply_to(ALICE, "/help")  # the group's chatter got no answer before this
    assert all(c.chat_id != -500 for c in world.api.sent[quiet:])
