"""The cost of a fill: fee, slippage, and the price impact of a swap against a DEX pool.

Impact model: a constant-product pool (x·y = k) whose quote-side reserve is the token's
`liquidity` (in quote units). Swapping `v` of quote into it fills at an average price
`p·(1 + v/L)`; selling tokens worth `v` at the pre-trade price fills at `p / (1 + v/L)`. Those
are exact for x·y = k and are what real pools do to a market order: bigger orders, worse prices.
Slippage (`slippage` as a fraction) is charged on top, against us, like a fast market moving
between quote and landing. The fee is a fraction of the traded value: a buy that spends `A` of
quote receives `A / (p·(1 + fee))` tokens; a sale of `q` tokens receives `q·p·(1 − fee)`.
"""

from __future__ import annotations

from solbot.rules import rule


@rule(cache=True, nogil=True)
def buy_price(price: float, value: float, liquidity: float, slippage: float) -> float:
    """Average fill price of buying `value` of quote worth (fee excluded) at market `price`.

    `liquidity <= 0` disables impact.
    """
    fill = price * (1.0 + slippage)
    if liquidity > 0.0:
        fill *= 1.0 + value / liquidity
    return fill


@rule(cache=True, nogil=True)
def sell_price(price: float, value: float, liquidity: float, slippage: float) -> float:
    """Average fill price of selling tokens worth `value` at market `price`."""
    fill = price * (1.0 - slippage)
    if liquidity > 0.0:
        fill /= 1.0 + value / liquidity
    return fill


@rule(cache=True, nogil=True)
def buy_quantity(budget: float, fill_price: float, fee: float) -> float:
    """Tokens received for spending `budget` of quote, fee included."""
    return budget / (fill_price * (1.0 + fee))


@rule(cache=True, nogil=True)
def sale_proceeds(quantity: float, fill_price: float, fee: float) -> float:
    """Quote received for `quantity` tokens, net of the fee."""
    return quantity * fill_price * (1.0 - fee)
