"""The bot against a sim whose RPC drops 30 % of sends and answers 503 to 10 % of all calls:
it keeps running, and every order it made ends confirmed, failed or expired.

On the v1 route the bot sends its swaps itself through the RPC, so dropped sends reach it (on v2
the sim's maker sends them); the journaled bytes are re-sent until they land or expire, and
`RetryingChain` rides out the 503s.
"""

from __future__ import annotations

from pathlib import Path

from solana.rpc.async_api import AsyncClient

from solbot.store.states import OrderState

from .support import (
    USDC,
    assert_books_match_chain,
    bot_log,
    read_books,
    run_bot,
    sim_server,
    token_balance,
)

FAULTS = ("--drop-rate", "0.3", "--error-rate", "0.1")


async def test_dropped_sends_and_failing_calls_leave_no_order_unfinished(tmp_path: Path) -> None:
    with sim_server(tmp_path / "sim", "--speed", "600", *FAULTS) as sim:
        async with AsyncClient(sim.rpc_url) as client:
            owner = sim.wallet.pubkey()
            usdc_before = await token_balance(client, owner, USDC.mint)
            bot = await run_bot(
                tmp_path / "bot",
                sim,
                sim.secret,
                "--stop-after",
                "1h",
                timeout=90,
                SOLBOT_JUPITER_ROUTE="v1",
            )
            assert bot.code == 0, bot.describe()
            books = read_books(tmp_path / "bot")
            await assert_books_match_chain(client, books, owner, usdc_before)
        assert sim.stop() == 0, sim.output()

    assert "run summary: 1.0 h of bot time" in bot.out, bot.describe()
    assert books.orders, bot.describe()
    unfinished = [(o.id, o.state) for o in books.orders if not OrderState(o.state).terminal]
    assert unfinished == []
    assert any(o.state == OrderState.CONFIRMED for o in books.orders)
    assert "; retry 1 in " in bot_log(tmp_path / "bot")  # the 503s did reach the bot
