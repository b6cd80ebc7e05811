"""A key shown in the chat when the bot is killed (SIGKILL, inside its minute) is deleted by the
next start: the promise to delete it was in the database before the key was sent. Real
`solbot telegram` processes against the local Bot API."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyotp

from solbot.clock import ManualClock, WallClock
from solbot.config import Settings
from solbot.runner import open_sim_network
from solbot.services.custody import CustodyService
from solbot.services.second_factor import SecondFactor
from solbot.store.chat_deletions import ChatDeletions
from solbot.store.db import Database
from solbot.strategy.registry import load_strategy

from .conftest import ALICE, KEY, START
from .fake_bot_api import TOKEN, FakeBotApi

VISIBLE = 4.0  # SOLBOT_EXPORT_VISIBLE_SECONDS for the run


async def a_friend_with_a_second_factor(db_url: str) -> pyotp.TOTP:
    """Gina, onboarded from Telegram, her second factor confirmed; her authenticator."""
    db = Database(db_url)
    wall = WallClock()
    try:
        user, _key = await CustodyService(db, wall, KEY).create_user(
            "gina", actor="test", telegram_id=ALICE
        )
        factor = SecondFactor(KEY, wall)
        async with db.session() as s:
            totp = pyotp.parse_uri(await factor.enrol(s, user.id, "gina"))
        async with db.session() as s:
            assert (await factor.verify(s, user.id, totp.now())).ok
        assert isinstance(totp, pyotp.TOTP)
        return totp
    finally:
        await db.dispose()


def a_sim_world(data_dir: Path, db_url: str) -> None:
    """The embedded sim's world on disk, as `solbot run` leaves it."""
    settings = Settings(
        data_dir=data_dir, network="sim", database_url=db_url, tokens=Settings().tokens
    )
    network = open_sim_network(settings, ManualClock(START), load_strategy(settings.strategy, None))
    network.save(settings.sim_state_path)
    network.close()


async def polling(api: FakeBotApi, bot: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the process asks the Bot API for updates (or fail with its output)."""
    deadline = time.monotonic() + 90
    while api.calls.get("getUpdates", 0) == 0:
        assert bot.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        await asyncio.sleep(0.05)


async def until_attached(db_url: str) -> None:
    """Wait until one deletion is queued with its message id."""
    db = Database(db_url)
    try:
        for _ in range(500):
            if len(await ChatDeletions(db, WallClock()).pending_ids()) == 1:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("no deletion queued")
    finally:
        await db.dispose()


def start_bot(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "solbot.cli.app", "telegram"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_key_shown_when_the_bot_is_killed_is_deleted_after_the_restart(
    tmp_path: Path, api: FakeBotApi, db_url: str
) -> None:
    totp = await a_friend_with_a_second_factor(db_url)
    a_sim_world(tmp_path / "data", db_url)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        SOLBOT_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=db_url,
        MASTER_ENCRYPTION_KEY=KEY.hex(),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api.base_url,
        TELEGRAM_ALLOWED_IDS=str(ALICE),
        SOLBOT_EXPORT_VISIBLE_SECONDS=str(VISIBLE),
    )
    log = tmp_path / "bot.log"
    bot = start_bot(env, log)
    try:
        await polling(api, bot, log)
        mark = len(api.sent)
        api.say(ALICE, f"/export {totp.at(time.time() + 30)}")
        shown = await api.wait_for(lambda c: "private key" in c.text, after=mark, timeout=30)
        # Killed inside the key's minute, once the bot knows which message to delete (a kill
        # in the milliseconds before that asks the user to delete it: see test_secret_deletions)
        await until_attached(db_url)
        bot.kill()  # SIGKILL: no clean-up of any kind
        bot.wait(10)
    finally:
        if bot.poll() is None:
            bot.kill()
    key_message = shown.result["message_id"]
    await asyncio.sleep(VISIBLE + 1)
    assert api.exists(ALICE, key_message)  # its minute is over, and nobody is left to act
    await until_attached(db_url)  # still promised

    again = start_bot(env, log)
    try:
        await api.wait_for(
            lambda c: c.method == "deleteMessage" and int(c.params["message_id"]) == key_message,
            timeout=90,
        )
        assert not api.exists(ALICE, key_message)
        again.send_signal(signal.SIGTERM)
        assert again.wait(15) == 0, log.read_text()
    finally:
        if again.poll() is None:
            again.kill()
    assert "Traceback" not in log.read_text()
    db = Database(db_url)
    try:
        assert await ChatDeletions(db, WallClock()).pending_ids() == []
    finally:
        await db.dispose()
