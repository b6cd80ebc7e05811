"""Kill the bot at each step of an order's journal, restart it, and check the books.

The bot runs as its own process against `solbot sim serve`, so SIGKILL takes the bot and leaves
the chain (and any swap that landed) where it was. `SOLBOT_SIM_CRASH_AFTER=<state>` makes the bot
kill itself right after the executor journals that state for the first time. Then a normal run
must finish every order from the journal and leave books that:
- never count a fill twice (one confirmed order per signal, one confirmed exit per position,
  one trade per confirmed order),
- never lose a fill (a swap the chain shows landed is a confirmed order with its trade; every
  quote atom the wallet lost or gained is accounted for by the positions),
- equal the chain (open positions = the wallet's token balances, to the atom).

The steps of a route run side by side, each bot with its own wallet and database on the shared
sim (a crash scenario is mostly process start-up; in sequence they would take four times as
long).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from solana.rpc.async_api import AsyncClient

from solbot.store.states import OrderState

from .support import (
    SIGKILL_CODE,
    USDC,
    SimServer,
    assert_books_match_chain,
    fund_wallet,
    landed,
    read_books,
    run_bot,
)

FUNDING = 2_000 * 10**USDC.decimals
LAMPORTS = 100_000_000  # 0.1 SOL: fees and token-account rent on the v1 route
# v1 adds two cases of its own: the signed bytes are journaled before the first send, so a
# restart re-sends them (after "signed") or checks and re-sends them (after "sent"). Its
# "created" and "confirmed" are the same code as v2's.
STEPS = {"v2": ("created", "signed", "sent", "confirmed"), "v1": ("signed", "sent")}


@pytest.mark.parametrize("route", ["v2", "v1"])
async def test_a_crash_after_any_journaled_step_loses_no_fill_and_makes_none_twice(
    sim: SimServer, tmp_path: Path, route: str
) -> None:
    async with AsyncClient(sim.rpc_url) as client:
        results = await asyncio.gather(
            *(
                _crash_and_restart(client, sim, tmp_path / step, route, step)
                for step in STEPS[route]
            ),
            return_exceptions=True,
        )
    failures = [
        f"after {step}: {result!r}"
        for step, result in zip(STEPS[route], results, strict=True)
        if isinstance(result, BaseException)
    ]
    assert not failures, "\n\n".join(failures)


async def _crash_and_restart(
    client: AsyncClient, sim: SimServer, folder: Path, route: str, step: str
) -> None:
    wallet = await fund_wallet(client, sim.wallet, FUNDING, LAMPORTS)
    crashed = await run_bot(
        folder,
        sim,
        str(wallet),
        "--stop-after",
        "6h",
        SOLBOT_JUPITER_ROUTE=route,
        SOLBOT_SIM_CRASH_AFTER=step,
    )
    assert crashed.code == SIGKILL_CODE, crashed.describe()
    at_crash = read_books(folder)
    # A tick's orders go through the journal as a group (one commit per step for all of
    # them), so the process died with every order of the group at this step.
    in_flight = [o for o in at_crash.orders if not OrderState(o.state).terminal]
    if step == "confirmed":
        assert not in_flight, crashed.describe()
        # The order the crash followed: the last confirmed one (a group's orders share their
        # creation time, so the last row by time may be one of its failed orders).
        victims = [o for o in at_crash.orders if o.state == OrderState.CONFIRMED][-1:]
        assert victims, crashed.describe()
    else:
        assert in_flight, crashed.describe()
        assert {o.state for o in in_flight} == {step}, crashed.describe()
        victims = in_flight
    assert all(v.state == step for v in victims)
    assert len(at_crash.trades) == len([o for o in at_crash.orders if o.state == "confirmed"])
    landed_before = {
        v.id: (await landed(client, v.signature) if v.signature else None) for v in victims
    }

    restarted = await run_bot(
        folder, sim, str(wallet), "--stop-after", "10m", SOLBOT_JUPITER_ROUTE=route
    )
    assert restarted.code == 0, restarted.describe()
    assert "recovered" in restarted.out or step == "confirmed", restarted.describe()
    books = read_books(folder)
    await assert_books_match_chain(client, books, wallet.pubkey(), FUNDING)
    for order in books.orders:
        if order.signature and await landed(client, order.signature):
            assert order.state == OrderState.CONFIRMED, order.id  # no lost fill

    assert all(OrderState(o.state).terminal for o in books.orders)
    confirmed = [o for o in books.orders if o.state == OrderState.CONFIRMED]
    assert max(Counter(o.idempotency_key for o in confirmed).values(), default=0) <= 1
    # An exit's key carries its attempt number, so the keys alone would not stop a position
    # from being sold twice: at most one confirmed exit per position.
    exits = Counter(o.position_id for o in confirmed if o.purpose == "exit")
    assert max(exits.values(), default=0) <= 1
    assert Counter(t.order_id for t in books.trades) == Counter(o.id for o in confirmed)
    # What each crashed order became follows from how far it got, and from the chain.
    for victim in victims:
        finished = next(o for o in books.orders if o.id == victim.id)
        victim_landed = landed_before[victim.id]
        landed_after = await landed(client, finished.signature) if finished.signature else None
        if step == "created":
            assert finished.state == OrderState.FAILED  # nothing was signed: closed as unsent
        elif step == "confirmed":
            assert finished.state == OrderState.CONFIRMED
            assert victim_landed
        else:
            # Confirmed exactly when its transaction landed; otherwise it ran out of blockhash.
            assert (finished.state == OrderState.CONFIRMED) == bool(landed_after), finished.error
            assert finished.state in (
                OrderState.CONFIRMED,
                OrderState.EXPIRED,
                OrderState.FAILED,
            )
            if route == "v1" or step == "signed":
                assert victim_landed is None  # the crash came before anything was sent
