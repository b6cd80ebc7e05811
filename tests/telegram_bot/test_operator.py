"""The operator runs the group from Telegram: newcomers are let in (or not) with a button,
and /users, /pauseall, /resumeall, /stopentry and /startentry act on everyone, audited, for
the operator only."""

from __future__ import annotations

from sqlalchemy import select

from solbot.group_admin import entries_stopped
from solbot.store.tables import AuditRow, UserRow

from .conftest import ALICE, BOB, OPERATOR, World, open_world
from .fake_bot_api import FakeBotApi
from .test_basics import onboard

NEWCOMER = 7777
ASKED = "This bot is private: I have asked its operator to let you in. You will hear back here."


async def audit(world: World) -> list[tuple[str, str]]:
    async with world.services.db.session() as s:
        rows = await s.scalars(select(AuditRow).order_by(AuditRow.seq))
        return [(a.action, a.actor) for a in rows]


async def request_of(world: World) -> dict:
    """A newcomer's /start, and the message it brings the operator."""
    assert (await world.api.reply_to(NEWCOMER, "/start")).text == ASKED
    asked = await world.api.wait_for(lambda c: c.chat_id == OPERATOR and "asks to use" in c.text)
    assert f"Telegram id {NEWCOMER}" in asked.text
    assert [label for label, _ in asked.buttons] == ["Approve", "Refuse"]
    return {"message": asked.result, "buttons": dict(asked.buttons)}


async def test_a_newcomer_approved_by_the_operator_can_start(api: FakeBotApi, db_url: str) -> None:
    async with open_world(api, db_url) as world:
        request = await request_of(world)
        again = await world.api.reply_to(NEWCOMER, "/start")  # asked once, not twice
        assert again.text == ASKED
        assert len([c for c in world.api.messages_to(OPERATOR) if "asks to use" in c.text]) == 1
        # A friend cannot answer for the operator, even with the button's data.
        forged = await world.api.reply_to(ALICE, "/help")
        world.api.press(ALICE, forged.result, request["buttons"]["Approve"])
        await world.api.wait_for(lambda c: c.chat_id == ALICE and "for the operator" in c.text)
        assert (await world.api.reply_to(NEWCOMER, "/balance")).text.startswith("Sorry")
        mark = len(world.api.sent)
        world.api.press(OPERATOR, request["message"], request["buttons"]["Approve"])
        told = await world.api.wait_for(lambda c: c.chat_id == NEWCOMER, after=mark)
        assert told.text == "The operator let you in. Send /start to begin."
        await world.api.wait_for(
            lambda c: c.method == "editMessageReplyMarkup" and c.chat_id == OPERATOR, after=mark
        )
        assert ("access_approve", f"telegram:{OPERATOR}") in await audit(world)
    async with open_world(api, db_url) as restarted:  # the approval outlives the process
        assert (await restarted.api.reply_to(NEWCOMER, "/start")).text.startswith("Before we start")


async def test_a_refused_newcomer_stays_out_and_is_not_asked_for_again(world: World) -> None:
    request = await request_of(world)
    mark = len(world.api.sent)
    world.api.press(OPERATOR, request["message"], request["buttons"]["Refuse"])
    await world.api.wait_for(lambda c: c.chat_id == OPERATOR and "was refused" in c.text)
    again = await world.api.reply_to(NEWCOMER, "/start")
    assert again.text == "Sorry, this bot is private."
    assert not [c for c in world.api.sent[mark:] if "asks to use" in c.text]
    assert ("access_refuse", f"telegram:{OPERATOR}") in await audit(world)


async def test_the_operator_pauses_resumes_and_lists_everyone(world: World) -> None:
    await onboard(world, ALICE)
    await onboard(world, BOB)
    refused = await world.api.reply_to(ALICE, "/pauseall")
    assert refused.text == "That command is for the operator."
    paused = await world.api.reply_to(OPERATOR, "/pauseall")
    assert paused.text == f"Paused 2 user(s): tg_{ALICE}, tg_{BOB}."
    async with world.services.db.session() as s:
        assert [u.is_active for u in await s.scalars(select(UserRow))] == [False, False]
    listing = await world.api.reply_to(OPERATOR, "/users")
    assert listing.text.startswith("2 user(s):")
    assert f"tg_{ALICE} (Telegram {ALICE}): paused, moderate, 0.00 USDC" in listing.text
    resumed = await world.api.reply_to(OPERATOR, "/resumeall")
    assert resumed.text == f"Resumed 2 user(s): tg_{ALICE}, tg_{BOB}."
    assert (await world.api.reply_to(OPERATOR, "/resumeall")).text.startswith("Nothing to do")
    actions = await audit(world)
    operator = f"telegram:{OPERATOR}"
    assert actions.count(("pause", operator)) == 2
    assert actions.count(("resume", operator)) == 2


async def test_the_operator_stops_and_restarts_new_entries(world: World) -> None:
    stop = await world.api.reply_to(OPERATOR, "/stopentry")
    assert stop.text.startswith("No new entries for anyone from the next candle")
    async with world.services.db.session() as s:
        assert await entries_stopped(s)
    assert (await world.api.reply_to(OPERATOR, "/stopentry")).text == (
        "New entries were stopped already."
    )
    assert "New entries are stopped" in (await world.api.reply_to(OPERATOR, "/users")).text
    assert (await world.api.reply_to(OPERATOR, "/startentry")).text == (
        "New entries are allowed again."
    )
    async with world.services.db.session() as s:
        assert not await entries_stopped(s)
    operator = f"telegram:{OPERATOR}"
    assert [a for a in await audit(world) if a[1] == operator] == [
        ("entries_stop", operator),
        ("entries_start", operator),
    ]
    menus = [c for c in world.api.sent if c.method == "setMyCommands"]
    assert any("stopentry" in str(c.params.get("commands")) for c in menus)


async def test_an_approval_can_be_revoked_by_the_operator(world: World) -> None:
    request = await request_of(world)
    mark = len(world.api.sent)
    world.api.press(OPERATOR, request["message"], request["buttons"]["Approve"])
    await world.api.wait_for(lambda c: c.chat_id == NEWCOMER, after=mark)
    assert (await world.api.reply_to(NEWCOMER, "/start")).text.startswith("Before we start")
    assert (await world.api.reply_to(ALICE, f"/revoke {NEWCOMER}")).text == (
        "That command is for the operator."
    )
    revoked = await world.api.reply_to(OPERATOR, f"/revoke {NEWCOMER}")
    assert revoked.text.endswith(
        "can no longer use the bot. Their wallet keeps trading until you pause it (solbot pause)."
    )
    assert (await world.api.reply_to(NEWCOMER, "/balance")).text == "Sorry, this bot is private."
    assert (await world.api.reply_to(OPERATOR, f"/revoke {NEWCOMER}")).text.endswith(
        "was refused already"
    )
    assert (await world.api.reply_to(OPERATOR, f"/revoke {ALICE}")).text.startswith(
        f"{ALICE} is in TELEGRAM_ALLOWED_IDS"
    )
    assert ("access_revoke", f"telegram:{OPERATOR}") in await audit(world)
