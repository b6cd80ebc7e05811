"""The Telegram bot inside `solbot run`: a friend who joins through Telegram while the loop runs
gets a wallet, the sim's faucet deposit, and trades at the next candles."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from engine.test_sim_day import day_settings
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.errors import UserError
from solbot.events import Event
from solbot.runner import RunOptions, build
from solbot.store.tables import OrderRow, UserRow

from .conftest import ALICE, KEY
from .fake_bot_api import TOKEN, FakeBotApi

START = 1_800_000_000.0


def settings_for(tmp_path: Path, api: FakeBotApi) -> Settings:
    return day_settings(tmp_path, "v2").model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_allowed_ids": [ALICE],
            "telegram_api_url": api.base_url,
        }
    )


async def test_a_friend_who_joins_on_telegram_is_traded_for(
    tmp_path: Path, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    settings = settings_for(tmp_path, api)
    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=6 * 3600), events.append, clock) as runtime:
        assert runtime.telegram is not None
        await runtime.telegram.start()  # before the loop, so that the friend can join first
        disclosure = await api.reply_to(ALICE, "/start")
        (_label, data) = disclosure.buttons[0]
        ready = await api.after_press(ALICE, disclosure.result, data)
        address = ready.text.splitlines()[1]
        summary = await runtime.run()
        async with runtime.db.session() as s:
            alice = (await s.scalars(select(UserRow).where(UserRow.telegram_id == ALICE))).one()
            orders = list(await s.scalars(select(OrderRow).where(OrderRow.user_id == alice.id)))
    assert alice.wallet_pubkey == address
    assert any(a for a in events if a.kind == "added" and a.user == alice.username)
    assert orders, "the new user was traded for"
    assert summary.consistent
    told = [c.text for c in api.messages_to(ALICE)]
    assert any(t.startswith("🟢 bought") for t in told), told  # the loop's events, in the chat
    assert not runtime.telegram.running  # stopped with the run


async def test_no_allowed_ids_is_refused(tmp_path: Path, api: FakeBotApi) -> None:
    settings = settings_for(tmp_path, api).model_copy(update={"telegram_allowed_ids": []})
    with pytest.raises(UserError, match="TELEGRAM_ALLOWED_IDS is empty"):
        async with build(settings, RunOptions(stop_after=60), clock=ManualClock(START)):
            pass
