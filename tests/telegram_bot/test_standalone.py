"""`solbot telegram` (the bot without the loop) settles the withdrawals a dead process left in
flight before it answers anyone, and tells their users: in the chat, and on the console."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.chain.litesvm import LiteSvmChain
from solbot.cli.admin import serve_telegram
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.runner import open_sim_network
from solbot.services.custody import CustodyService
from solbot.services.withdrawals import WithdrawalService
from solbot.sim.network import SimNetwork
from solbot.store.db import Database
from solbot.store.tables import AuditRow, WithdrawalRow
from solbot.strategy.registry import load_strategy

from .conftest import ALICE, KEY
from .fake_bot_api import TOKEN, FakeBotApi

START = 1_800_000_000.0
SOL = 1_000_000_000


class Died(Exception):  # noqa: N818 (a process dying, not an error the code handles)
    """The process that was withdrawing died here."""


def die_when_signed(row: WithdrawalRow) -> None:
    if row.state == "signed":
        raise Died


def standalone(tmp_path: Path, api: FakeBotApi, db_url: str) -> Settings:
    """`solbot telegram`'s settings: the embedded sim, the fake Bot API, alice allowed."""
    return Settings(
        data_dir=tmp_path,
        network="sim",
        database_url=db_url,
        telegram_bot_token=SecretStr(TOKEN),
        telegram_allowed_ids=[ALICE],
        telegram_api_url=api.base_url,
        tokens=Settings().tokens,
    )


async def test_the_standalone_bot_settles_withdrawals_left_in_flight_first(
    tmp_path: Path,
    api: FakeBotApi,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    settings = standalone(tmp_path, api, db_url)
    # A process that died mid-withdrawal: the sim world it saved, and its journal.
    clock = ManualClock(START)
    network = open_sim_network(settings, clock, load_strategy(settings.strategy, None))
    db = Database(settings.database)
    custody = CustodyService(db, clock, KEY)
    user, _key = await custody.create_user("gina", actor="test", telegram_id=ALICE)
    network.ledger.airdrop(Pubkey.from_string(user.wallet_pubkey), 2 * SOL)
    to = Keypair().pubkey()
    chain = LiteSvmChain(network.ledger, clock)
    dying = WithdrawalService(db, clock, chain, custody, fee_reserve_lamports=0)
    dying.on_step = die_when_signed
    with pytest.raises(Died):
        await dying.withdraw("gina", str(to), "0.5", actor="telegram:1001")
    network.save(settings.sim_state_path)

    stop = asyncio.Event()
    bot = asyncio.ensure_future(serve_telegram(settings, stop))
    told = await api.wait_for(lambda c: c.chat_id == ALICE and "Withdrawal of" in c.text)
    stop.set()
    await bot
    async with db.session() as s:
        (row,) = list(await s.scalars(select(WithdrawalRow)))
        audit = select(AuditRow).where(AuditRow.action == "withdraw_outcome")
        outcome = list(await s.scalars(audit))
    await db.dispose()
    # Re-sent as the same bytes: it lands if the sim still takes its blockhash after the
    # restart, and expires otherwise; either way once, and the saved world agrees.
    assert row.state in ("confirmed", "expired")
    assert told.text.startswith(f"💸 Withdrawal of 0.5 SOL to {to} {row.state} after a restart")
    assert f"gina: withdrawal of 0.5 SOL to {to} {row.state}" in capsys.readouterr().out
    assert len(outcome) == 1
    saved = SimNetwork.load(settings.sim_state_path, tokens=network.tokens, clock=clock)
    assert saved.ledger.balance(to) == (500_000_000 if row.state == "confirmed" else 0)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # a lock on a connection
async def test_the_standalone_bot_stops_when_another_process_took_the_database(
    tmp_path: Path, api: FakeBotApi, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It holds the run lock for days: a lock connection lost and the database taken by
    another process (a `solbot run` started meanwhile) stops it before it moves money again."""
    from sqlalchemy import text

    from holders import holding_run_lock
    from solbot.cli import admin, stores
    from solbot.errors import EnvironmentFaultError

    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    monkeypatch.setattr(admin, "LOCK_LOOK_SECONDS", 0.2)
    settings = standalone(tmp_path, api, db_url)
    network = open_sim_network(settings, ManualClock(START), load_strategy(settings.strategy, None))
    network.save(settings.sim_state_path)
    stop = asyncio.Event()
    bot = asyncio.ensure_future(serve_telegram(settings, stop))
    db = Database(db_url)
    try:
        while True:  # it holds the lock once it runs
            async with db.session() as s:
                held = await s.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE :n"),
                    {"n": f"{stores.MOVES_MONEY}%"},
                )
            if held:
                break
            assert not bot.done(), bot
            await asyncio.sleep(0.05)
        async with db.session() as s:  # its lock connection dropped
            await s.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE :n"
                ),
                {"n": f"{stores.MOVES_MONEY}%"},
            )
        stops = pytest.raises(EnvironmentFaultError, match="in use by solbot run")
        with holding_run_lock(db_url), stops:  # and another process took the database
            await asyncio.wait_for(bot, 30)
    finally:
        stop.set()
        await db.dispose()
