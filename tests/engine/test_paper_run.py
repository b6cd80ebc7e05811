"""Paper trading end to end: the whole loop on real prices and quotes, fills booked at the quote
in a database of its own, and nothing signed or sent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from solders.pubkey import Pubkey
from sqlalchemy import select

from execution.fake_jupiter import serve
from solbot.chain.paper import PaperChain
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.runner import OPERATOR, build
from solbot.runtime import RunOptions
from solbot.store.states import OrderState
from solbot.store.tables import OrderRow, PositionRow
from solbot.wallet.keys import WatchOnly, paper_address

from .test_sim_day import DAY, START, day_settings


async def test_half_a_paper_day_on_the_sim_trades_on_its_quotes_and_leaves_the_chain_alone(
    tmp_path: Path,
) -> None:
    settings = day_settings(tmp_path, "v2").model_copy(update={"paper": True})
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=DAY / 2), clock=clock) as runtime:
        assert isinstance(runtime.chain, PaperChain)
        assert isinstance(runtime.signer, WatchOnly)
        account = runtime.signer.pubkey()
        assert account == paper_address(OPERATOR)
        network = runtime.network
        assert network is not None
        wallet = network.wallet.pubkey()
        mints = [Pubkey.from_string(t.mint) for t in settings.token_map().values()]

        def on_chain() -> list[int]:
            network.ledger.advance_to(clock.now())
            return [network.ledger.balance(wallet)] + [
                network.ledger.token_balance(wallet, m) for m in mints[1:]
            ]

        chain_before = on_chain()
        usdc = Pubkey.from_string(settings.token("USDC").mint)
        cash_before = await runtime.chain.token_balance(account, usdc)
        summary = await runtime.run()
        cash_after = await runtime.chain.token_balance(account, usdc)
        async with runtime.db.session() as s:
            orders = (await s.scalars(select(OrderRow))).all()
            positions = (await s.scalars(select(PositionRow))).all()
        for mint in {p.mint for p in positions}:
            held = await runtime.chain.token_balance(account, Pubkey.from_string(mint))
            assert held == sum(
                p.quantity for p in positions if p.mint == mint and p.status == "open"
            )
        assert on_chain() == chain_before  # the sim's funded wallet never traded

    assert cash_before == 10_000 * 10**6  # the default paper cash
    assert summary.entries > 0
    assert summary.exits > 0
    assert summary.consistent
    assert {o.route for o in orders} == {"paper"}
    assert all(OrderState(o.state).terminal for o in orders)
    assert all(o.signed_tx is None and o.signature is None for o in orders)
    spent = sum(p.cost for p in positions)
    received = sum(p.proceeds or 0 for p in positions)
    assert cash_after == cash_before - spent + received
    # The paper books live apart from the real ones.
    assert (tmp_path / "sim-paper" / "solbot.db").is_file()
    assert not (tmp_path / "sim" / "solbot.db").exists()


async def test_paper_on_mainnet_needs_no_key_no_rpc_and_no_opt_in(tmp_path: Path) -> None:
    """Against a Jupiter on 127.0.0.1 (the fake speaks the real shapes): prices rise, the
    momentum strategy enters, and the fill is booked at the quote without a transaction."""
    with serve() as fake:
        fake.out_per_in = (2, 1)  # 2 JUP atoms per USDC atom: the $0.50 the prices start at
        jup = Settings().token("JUP").mint
        settings = Settings(
            data_dir=tmp_path,
            network="mainnet",
            paper=True,
            paper_cash=500.0,
            jupiter_url=fake.base_url,
            geckoterminal_url="http://127.0.0.1:9",
            timeframe="1m",
            trade_tokens=["JUP"],
            strategy="cli.my_strategies:Momentum",
            strategy_params={"lookback": 1},
            risk_tier="aggressive",
            poll_seconds=60.0,
            wallet_private_key=None,
            live="",
        )
        clock = ManualClock(START)
        async with build(settings, RunOptions(), clock=clock) as runtime:
            await runtime.engine.start()
            for minute in range(6):
                price = Decimal("0.5") + Decimal(minute) / 100
                fake.prices[jup] = {"usdPrice": price, "blockId": minute, "decimals": 6}
                await runtime.engine.tick()
                clock.advance(60.0)
            summary = await runtime.summary(START)
            async with runtime.db.session() as s:
                (order,) = (await s.scalars(select(OrderRow))).all()

    assert summary.entries == 1
    assert summary.consistent
    assert order.route == "paper"
    assert order.state == "confirmed"
    probe, quote = fake.calls("/swap/v2/order")  # the start-up's probe of the path, the order
    assert probe.params["amount"] == "1000"
    assert "taker" not in quote.params  # a price, not a transaction to sign
    assert quote.params["amount"] == str(order.amount_in)
    assert order.filled_out == int(quote.params["amount"]) * 2  # the fake's quote
    assert fake.calls("/swap/v2/execute") == []
    assert {seen.path for seen in fake.requests} == {"/price/v3", "/swap/v2/order"}
    assert summary.cash == Decimal(500) - Decimal(order.amount_in).scaleb(-6)
