"""The sim's market maker charges the configured costs, the ones a backtest models
(`SOLBOT_FEE_BPS`, `SOLBOT_SLIPPAGE_BPS`). Seen (issue 13): it hard-wired 25 bps of fee and a
20 bps spread whatever the configuration, so a backtest with other costs could not predict what
the sim did."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.execution.costs import buy_price, sale_proceeds, sell_price
from solbot.runner import open_sim_network
from solbot.strategy.registry import load_strategy

START = 1_800_000_000.0


def settings_with(tmp_path: Path, fee_bps: float, slippage_bps: float) -> Settings:
    return Settings(
        data_dir=tmp_path,
        network="sim",
        timeframe="5m",
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
        tokens=Settings().tokens,
    )


@pytest.mark.parametrize(("fee_bps", "slippage_bps"), [(60.0, 40.0), (0.0, 0.0), (25.0, 10.0)])
def test_the_maker_fills_at_the_configured_fee_and_slippage(
    tmp_path: Path, fee_bps: float, slippage_bps: float
) -> None:
    settings = settings_with(tmp_path, fee_bps, slippage_bps)
    strategy = load_strategy(settings.strategy, settings.strategy_params)
    clock = ManualClock(START)
    fee, slip = fee_bps / 10_000, slippage_bps / 10_000
    for _opening in ("created", "loaded"):  # a new world, then the same world after a restart
        network = open_sim_network(settings, clock, strategy)
        try:
            usdc, jup = network.token("USDC"), network.token("JUP")
            bought = network.maker.price_swap(usdc.mint, jup.mint, 100 * 10**usdc.decimals)
            liquidity = jup.liquidity_usd  # USDC is the quote: 1 USD
            expected = buy_price(bought.market_price, 100 / (1 + fee), liquidity, slip)
            assert bought.fill_price == pytest.approx(expected, rel=1e-12)
            assert bought.fee_amount == math.floor((100 - 100 / (1 + fee)) * 10**6)
            sold = network.maker.price_swap(jup.mint, usdc.mint, 1_000 * 10**jup.decimals)
            value = 1_000 * sold.market_price
            fill = sell_price(sold.market_price, value, liquidity, slip)
            assert sold.fill_price == pytest.approx(fill, rel=1e-12)
            proceeds = sale_proceeds(1_000, fill, fee) * 10**usdc.decimals
            assert sold.out_amount == pytest.approx(proceeds, abs=1)
            network.save(settings.sim_state_path)
        finally:
            network.close()
        clock.advance(60)
