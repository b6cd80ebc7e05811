"""The Telegram bot inside `solbot run`: a friend who joins through Telegram while the loop runs
gets a wallet, the sim's faucet deposit, and trades at the next candles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select

from engine.test_sim_day import day_settings
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.errors import UserError
from solbot.events import Event
from solbot.runner import build
from solbot.runtime import RunOptions
from solbot.services.custody import CustodyService
from solbot.services.withdrawals import WithdrawalService
from solbot.store.tables import OrderRow, UserRow, WithdrawalRow

from .conftest import ALICE, KEY
from .fake_bot_api import TOKEN, FakeBotApi

START = 1_800_000_000.0
SOL = 1_000_000_000


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
    assert any(t.startswith("🟢 Bought") for t in told), told  # the loop's events, in the chat
    assert not runtime.telegram.running  # stopped with the run


async def test_no_allowed_ids_is_refused(tmp_path: Path, api: FakeBotApi) -> None:
    settings = settings_for(tmp_path, api).model_copy(update={"telegram_allowed_ids": []})
    with pytest.raises(UserError, match="TELEGRAM_ALLOWED_IDS is empty"):
        async with build(settings, RunOptions(stop_after=60), clock=ManualClock(START)):
            pass


class Died(Exception):  # noqa: N818 (a process dying, not an error the code handles)
    """The process that was withdrawing died here."""


def die_after(state: str) -> Callable[[WithdrawalRow], None]:
    def step(row: WithdrawalRow) -> None:
        if row.state == state:
            raise Died

    return step


async def test_a_withdrawal_left_in_flight_is_settled_when_the_run_starts_and_told(
    tmp_path: Path, api: FakeBotApi, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process died with a withdrawal signed but not settled: `solbot run` (with its bot)
    re-sends the same bytes before its first tick, and the user hears of it in their chat."""
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    settings = settings_for(tmp_path, api).model_copy(update={"database_url": db_url})
    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=600), events.append, clock) as runtime:
        assert runtime.network is not None
        custody = CustodyService(runtime.db, clock, KEY)
        user, _key = await custody.create_user("frank", actor="test", telegram_id=ALICE)
        runtime.network.ledger.airdrop(Pubkey.from_string(user.wallet_pubkey), 2 * SOL)
        to = Keypair().pubkey()
        dying = WithdrawalService(runtime.db, clock, runtime.chain, custody, fee_reserve_lamports=0)
        dying.on_step = die_after("signed")
        with pytest.raises(Died):
            await dying.withdraw("frank", str(to), "0.5", actor="telegram:1001")
        await runtime.run()
        runtime.network.ledger.advance_to(clock.now())
        arrived = runtime.network.ledger.balance(to)
        async with runtime.db.session() as s:
            (row,) = list(await s.scalars(select(WithdrawalRow)))
    assert arrived == 500_000_000
    assert row.state == "confirmed"
    (event,) = [e for e in events if e.kind == "withdrawal"]
    assert event.user_id == user.id
    assert event.text.startswith(f"withdrawal of 0.5 SOL to {to} confirmed after a restart")
    told = [c.text for c in api.messages_to(ALICE)]
    assert f"💸 W{event.text[1:]}" in told, told  # told as a sentence
