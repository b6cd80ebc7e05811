"""The crash matrix on the embedded sim: SIGKILL takes the bot and its chain together.

`tests/integration/test_crash_safety.py` kills a bot whose chain lives in another process (`solbot
sim serve`). Here the chain is the bot's own embedded LiteSVM, so a kill also stops the chain
wherever its state file and journal left it. Before the sim journaled its changes, the state
file lagged up to 300 simulated seconds behind fills the database had committed, and a restart
rolled the chain back under them.

For each journaled step of an order's life (and each route), and of closing the token account an
exit emptied, on SQLite and on PostgreSQL: the bot
kills itself there (`SOLBOT_SIM_CRASH_AFTER`), a normal run starts on what was left, and then for
every user (the operator's sim wallet and a friend's vault wallet):
0 duplicates (one confirmed order per signal, one confirmed exit per position), 0 lost (every
traded token in the wallet is an open position, to the atom), 0 stuck (every order terminal), and
the run's own reconciliation of every asset printed ✓ (exit code 0).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import pytest
from solders.pubkey import Pubkey
from sqlalchemy import select

from databases import empty_database
from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.sim.network import SimNetwork
from solbot.store.db import Database
from solbot.store.states import OrderState
from solbot.store.tables import OrderRow, PositionRow, TradeRow, UserRow
from solbot.wallet.master import MasterKey

from .support import SIGKILL_CODE, TRADED, BotRun, run_solbot

KEY = MasterKey.generate()
TOKENS = {t.symbol: t.to_domain() for t in DEFAULT_TOKENS}
# v1's own steps are the ones where it re-sends signed bytes itself; its "created" and
# "confirmed" are the same code as v2's.
STEPS = [
    ("v2", "created"),
    ("v2", "signed"),
    ("v2", "sent"),
    ("v2", "confirmed"),
    ("v1", "sent"),
    ("build", "signed"),
    ("v2", "account_close:signed"),  # closing the token account an exit emptied
]


async def solbot(folder: Path, *args: str, **env: str) -> BotRun:
    """A `solbot` command on the embedded sim, with the test's master key."""
    return await run_solbot(
        folder, None, *args, timeout=90.0, MASTER_ENCRYPTION_KEY=KEY.hex(), **env
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_crash_at_any_step_on_the_embedded_sim_leaves_books_equal_to_the_chain(
    tmp_path: Path, backend: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        urls = []
        for route, step in STEPS:
            folder = tmp_path / _folder(route, step)
            folder.mkdir()
            if backend == "sqlite":  # the world's own default file
                urls.append(f"sqlite:///{folder / 'data' / 'sim' / 'solbot.db'}")
                continue
            url = await stack.enter_async_context(
                contextlib.asynccontextmanager(empty_database)(backend, folder)
            )
            urls.append(url)
        results = await asyncio.gather(
            *(
                _crash_and_restart(tmp_path / _folder(route, step), url, route, step)
                for (route, step), url in zip(STEPS, urls, strict=True)
            ),
            return_exceptions=True,
        )
    failures = [
        f"{route} after {step}: {result!r}"
        for (route, step), result in zip(STEPS, results, strict=True)
        if isinstance(result, BaseException)
    ]
    assert not failures, "\n\n".join(failures)


def _folder(route: str, step: str) -> str:
    return f"{route}-{step.replace(':', '-')}"


async def _crash_and_restart(folder: Path, url: str, route: str, step: str) -> None:
    env = {"SOLBOT_JUPITER_ROUTE": route}
    if not url.startswith("sqlite"):
        env["DATABASE_URL"] = url
    added = await solbot(folder, "add-user", "--username", "alice", "--no-show-key", **env)
    assert added.code == 0, added.describe()
    crashed = await solbot(
        folder, "run", "--speed", "600", "--stop-after", "6h", SOLBOT_SIM_CRASH_AFTER=step, **env
    )
    assert crashed.code == SIGKILL_CODE, crashed.describe()
    restarted = await solbot(folder, "run", "--speed", "600", "--stop-after", "10m", **env)
    assert restarted.code == 0, restarted.describe()
    assert "books = chain" in restarted.out, restarted.describe()
    verdict = restarted.out.split("books = chain")[1].splitlines()[0]
    assert "✓" in verdict, restarted.describe()  # SOL too: the fees each order paid are booked
    assert "✗" not in restarted.out, restarted.describe()
    await _assert_books_equal_chain(folder, url)


async def _assert_books_equal_chain(folder: Path, url: str) -> None:
    db = Database(url)
    try:
        async with db.session() as s:
            users = list(await s.scalars(select(UserRow)))
            orders = list(await s.scalars(select(OrderRow)))
            positions = list(await s.scalars(select(PositionRow)))
            trades = list(await s.scalars(select(TradeRow)))
    finally:
        await db.dispose()
    assert len(users) == 2  # the operator's sim wallet and alice's
    assert orders, "nothing traded"
    assert all(OrderState(o.state).terminal for o in orders)  # 0 stuck
    confirmed = [o for o in orders if o.state == OrderState.CONFIRMED]
    assert max(Counter(o.idempotency_key for o in confirmed).values(), default=1) == 1
    exits = Counter(o.position_id for o in confirmed if o.purpose == "exit")
    assert max(exits.values(), default=0) <= 1
    assert Counter(t.order_id for t in trades) == Counter(o.id for o in confirmed)
    state = folder / "data" / "sim" / "sim-state.json"
    saved = SimNetwork.saved_time(state)
    assert saved is not None
    network = SimNetwork.load(
        state, tokens=list(TOKENS.values()), clock=ManualClock(saved), writable=False
    )
    for user in users:
        owner = Pubkey.from_string(user.wallet_pubkey)
        for symbol in TRADED:  # 0 lost: the wallet holds exactly the open positions
            held = network.ledger.token_balance(owner, Pubkey.from_string(TOKENS[symbol].mint))
            books = sum(
                p.quantity
                for p in positions
                if p.user_id == user.id and p.token == symbol and p.status == "open"
            )
            assert held == books, (user.username, symbol)
