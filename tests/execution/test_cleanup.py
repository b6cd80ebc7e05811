"""Closing empty token accounts gives their rent back and never touches tokens: after a round
trip the token's account is closed (the wallet gets its rent, less the fee); an account that
holds tokens is never a candidate; tokens that arrive between the look and the close stay (the
token program refuses the close)."""

from __future__ import annotations

from solders.pubkey import Pubkey

from solbot.chain.builders import SIGNATURE_FEE, associated_token_address
from solbot.execution.cleanup import close_empty_accounts
from solbot.sim.maker import TOKEN_ACCOUNT_RENT
from solbot.store.states import OrderState, Route

from .sim_rig import DECIMALS, MINTS, TOKENS, Rig

USDC_UNITS = 10 ** DECIMALS["USDC"]


async def round_trip(rig: Rig, symbol: str) -> None:
    ex = rig.executor(Route.V2)
    bought = await ex.submit(rig.buy(symbol, 100 * USDC_UNITS), rig.signer)
    assert bought.state is OrderState.CONFIRMED
    (position,) = [p for p in await rig.positions() if p.token == symbol]
    rig.clock.advance(60)
    sold = await ex.submit(rig.sell(symbol, position.quantity, position.id), rig.signer)
    assert sold.state is OrderState.CONFIRMED


def account(rig: Rig, symbol: str) -> object:
    return rig.net.ledger.account(
        associated_token_address(rig.owner, Pubkey.from_string(MINTS[symbol]))
    )


async def test_an_emptied_account_is_closed_and_its_rent_comes_back(rig: Rig) -> None:
    await round_trip(rig, "JUP")
    assert account(rig, "JUP") is not None
    sol = rig.balance("SOL")
    holdings = rig.holdings()
    done = await close_empty_accounts(rig.chain, rig.clock, rig.signer, TOKENS, resend_seconds=1)
    assert [a.token.symbol for a in done.found] == ["JUP"]  # USDC holds cash: never a candidate
    assert [a.token.symbol for a in done.closed] == ["JUP"]
    assert done.failed == []
    assert account(rig, "JUP") is None
    assert done.reclaimed == TOKEN_ACCOUNT_RENT - SIGNATURE_FEE
    assert rig.balance("SOL") == sol + done.reclaimed
    assert {k: v for k, v in rig.holdings().items() if k != "SOL"} == {
        k: v for k, v in holdings.items() if k != "SOL"
    }
    again = await close_empty_accounts(rig.chain, rig.clock, rig.signer, TOKENS)
    assert again.found == []  # nothing left to close; running it twice is harmless


async def test_a_dry_run_finds_and_sends_nothing(rig: Rig) -> None:
    await round_trip(rig, "BONK")
    sends = rig.chain.sends
    done = await close_empty_accounts(rig.chain, rig.clock, rig.signer, TOKENS, dry_run=True)
    assert [a.token.symbol for a in done.found] == ["BONK"]
    assert done.closed == []
    assert rig.chain.sends == sends
    assert account(rig, "BONK") is not None


async def test_tokens_arriving_before_the_close_stay_and_the_close_fails(rig: Rig) -> None:
    await round_trip(rig, "JTO")
    mint = Pubkey.from_string(MINTS["JTO"])

    def tokens_arrive(_tx: object) -> None:  # a swap landing between the look and the close
        rig.net.ledger.set_token_balance(rig.owner, mint, 777)

    rig.chain.before_send = tokens_arrive
    done = await close_empty_accounts(rig.chain, rig.clock, rig.signer, TOKENS, resend_seconds=1)
    assert [a.token.symbol for a, _why in done.failed] == ["JTO"]
    assert done.closed == []
    assert '{"Custom":11}' in done.failed[0][1]  # TokenError::NonNativeHasBalance
    assert rig.balance("JTO") == 777  # the tokens are still there
