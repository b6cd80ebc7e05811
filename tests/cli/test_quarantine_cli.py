"""`solbot positions` shows what is quarantined and why; `solbot rearm` lets it trade again,
audited like the other user commands (both databases). Bad input: one line, exit code 2,
nothing changed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select

from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.execution.executor import Outcome, SwapIntent
from solbot.quarantine import BackoffPolicy, OrderGuard
from solbot.store.db import Database
from solbot.store.positions import Positions
from solbot.store.states import OrderState, Purpose, Side
from solbot.store.tables import AuditRow, OrderHoldRow, UserRow

from .support import NOW, Run
from .test_users_cli import add, rows

MINTS = {t.symbol: t.mint for t in DEFAULT_TOKENS}


def quarantine(url: str, username: str, token: str, *, whole_user: bool = False) -> None:
    """Give the user an open `token` position whose exit failed until it was quarantined (or,
    with `whole_user`, a key that cannot sign)."""

    async def seed() -> None:
        db = Database(url)
        clock = ManualClock(NOW)
        try:
            async with db.session() as s:
                user = (await s.scalars(select(UserRow).where(UserRow.username == username))).one()
                await Positions(s, clock).open(
                    user_id=user.id,
                    token=token,
                    mint=MINTS[token],
                    quantity=5_000_000,
                    cost=4_000_000,
                    entry_price=Decimal("0.8"),
                )
            guard = OrderGuard(db, clock, BackoffPolicy(max_attempts=1))
            await guard.load()
            intent = SwapIntent(
                user.id,
                token,
                Side.SELL,
                MINTS[token],
                MINTS["USDC"],
                5_000_000,
                Purpose.EXIT,
                f"{token}:exit",
            )
            error = "not signed: the key does not open" if whole_user else "quote expired"
            outcome = Outcome("o", OrderState.FAILED, error=error, key_unusable=whole_user)
            assert len(await guard.record([(intent, outcome)])) == 1
        finally:
            await db.dispose()

    asyncio.run(seed())


def test_positions_show_a_quarantine_and_rearm_lifts_it(cli: Run, empty_url: str) -> None:
    add(cli, "alice")
    quarantine(empty_url, "alice", "JUP")
    shown = cli("positions")
    assert shown.code == 0, shown.err
    assert "quarantined" in shown.out
    assert "quote expired" in shown.out

    done = cli("rearm", "-u", "alice", "-t", "jup")
    assert done.code == 0, done.err
    assert "re-armed alice JUP" in done.out
    assert rows(empty_url, OrderHoldRow) == []
    (audit,) = [a for a in rows(empty_url, AuditRow) if a.action == "rearm"]
    assert audit.actor == "cli"
    assert '"token":"JUP"' in audit.details
    assert cli("audit", "verify").code == 0
    assert "quarantined" not in cli("positions").out

    again = cli("rearm", "-u", "alice", "-t", "JUP")
    assert again.code == 0
    assert "nothing to re-arm for alice JUP" in again.out
    assert len([a for a in rows(empty_url, AuditRow) if a.action == "rearm"]) == 1


def test_a_users_whole_trading_is_shown_and_rearmed_without_a_token(
    cli: Run, empty_url: str
) -> None:
    add(cli, "alice")
    add(cli, "bob")
    quarantine(empty_url, "alice", "BONK", whole_user=True)
    quarantine(empty_url, "bob", "JUP")
    shown = cli("positions")
    assert "all trading" in shown.out
    assert "the key does not open" in shown.out

    done = cli("rearm", "-u", "alice")
    assert done.code == 0, done.err
    assert "re-armed alice" in done.out
    left = rows(empty_url, OrderHoldRow)
    assert [(h.token, h.side) for h in left] == [("JUP", "sell")]  # bob's is his own


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rearm", "-u", "nobody", "-t", "JUP"), "no user named 'nobody'"),
        (("rearm", "-u", "alice", "-t", "NOPE"), "unknown token 'NOPE'"),
    ],
)
def test_bad_rearm_input_is_one_line_and_changes_nothing(
    cli: Run, empty_url: str, args: tuple[str, ...], message: str
) -> None:
    add(cli, "alice")
    quarantine(empty_url, "alice", "JUP")
    done = cli(*args)
    assert done.code == 2
    assert message in done.error_line()
    assert len(rows(empty_url, OrderHoldRow)) == 1


def test_rearm_needs_the_master_key(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli, "alice")
    quarantine(empty_url, "alice", "JUP")
    monkeypatch.delenv("MASTER_ENCRYPTION_KEY")
    done = cli("rearm", "-u", "alice", "-t", "JUP")
    assert done.code == 2
    assert "MASTER_ENCRYPTION_KEY" in done.error_line()
    assert len(rows(empty_url, OrderHoldRow)) == 1
