"""The fill-cost model: fee, slippage and constant-product price impact."""

import pytest

from solbot.execution.costs import buy_price, buy_quantity, sale_proceeds, sell_price


def test_no_costs_fill_at_market():
    assert buy_price(100.0, 1_000.0, 0.0, 0.0) == 100.0
    assert sell_price(100.0, 1_000.0, 0.0, 0.0) == 100.0


def test_constant_product_impact_matches_the_pool_formula():
    """Pool with 1,000,000 quote and 10,000 tokens (price 100): x*y = k by hand."""
    x, y = 1_000_000.0, 10_000.0
    dx = 50_000.0
    tokens_out = y - x * y / (x + dx)
    assert buy_price(100.0, dx, x, 0.0) == pytest.approx(dx / tokens_out)
    dy = 500.0  # tokens sold, worth 50,000 at the pre-trade price
    quote_out = x - x * y / (y + dy)
    assert sell_price(100.0, dy * 100.0, x, 0.0) == pytest.approx(quote_out / dy)


def test_bigger_orders_fill_worse():
    small, big = buy_price(100.0, 1e3, 1e6, 0.0), buy_price(100.0, 1e5, 1e6, 0.0)
    assert 100.0 < small < big
    assert sell_price(100.0, 1e5, 1e6, 0.0) < sell_price(100.0, 1e3, 1e6, 0.0) < 100.0


def test_slippage_goes_against_us_both_ways():
    assert buy_price(100.0, 0.0, 0.0, 0.01) == pytest.approx(101.0)
    assert sell_price(100.0, 0.0, 0.0, 0.01) == pytest.approx(99.0)


def test_fee_on_both_sides():
    qty = buy_quantity(1_003.0, 100.0, 0.003)
    assert qty == pytest.approx(10.0)
    assert sale_proceeds(10.0, 100.0, 0.003) == pytest.approx(997.0)
