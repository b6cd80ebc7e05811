"""A Jupiter that slips something into the swap it returns: the order fails before the wallet
signs, in one line naming what, and nothing reaches the chain. On every route, both backends.

The answers are the sim's real ones (its maker and `/build`), rewritten on their way to the bot's
real client: one more instruction in `/order`'s and `/swap`'s transaction, or in `/build`'s
`otherInstructions`. Before `solbot.execution.vetting` the bot signed all three."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import approve
from spl.token.models import ApproveParams

from solbot.chain.builders import associated_token_address, sol_transfer
from solbot.execution.groups import GroupExecutor
from solbot.sim.swap_build import instruction_json
from solbot.store.states import OrderState, Route

from .sim_rig import DECIMALS, MINTS, Rig

THIEF = Keypair.from_seed(bytes([66]) * 32).pubkey()
ROGUE_PROGRAM = Keypair.from_seed(bytes([67]) * 32).pubkey()
USDC_UNITS = 10 ** DECIMALS["USDC"]


def delegate_usdc(owner: Pubkey) -> Instruction:
    """Approve a thief to move all of the wallet's USDC later."""
    return approve(
        ApproveParams(
            program_id=TOKEN_PROGRAM_ID,
            source=associated_token_address(owner, Pubkey.from_string(MINTS["USDC"])),
            delegate=THIEF,
            owner=owner,
            amount=2**64 - 1,
        )
    )


def take_sol(owner: Pubkey) -> Instruction:
    return sol_transfer(owner, THIEF, 500_000_000)


def rogue_call(owner: Pubkey) -> Instruction:
    return Instruction(ROGUE_PROGRAM, b"\x00", [AccountMeta(owner, True, True)])


ATTACKS: dict[str, tuple[Callable[[Pubkey], Instruction], str]] = {
    "approve": (delegate_usdc, "token Approve naming the wallet"),
    "take SOL": (take_sol, "tips 500000000"),
    "rogue program": (rogue_call, f"calls program {ROGUE_PROGRAM}"),
}


def with_extra(encoded: str, extra: Instruction) -> str:
    """The base64 transaction `encoded`, one instruction longer, every signature slot blank."""
    message = VersionedTransaction.from_bytes(base64.b64decode(encoded)).message
    keys = message.account_keys
    ixs = [
        Instruction(
            keys[c.program_id_index],
            bytes(c.data),
            [
                AccountMeta(keys[i], message.is_signer(i), message.is_maybe_writable(i))
                for i in bytes(c.accounts)
            ],
        )
        for c in message.instructions
    ]
    longer = MessageV0.try_compile(keys[0], [*ixs, extra], [], message.recent_blockhash)
    blank = [Signature.default()] * longer.header.num_required_signatures
    return base64.b64encode(bytes(VersionedTransaction.populate(longer, blank))).decode()


def slip_in(route: Route, extra: Instruction) -> tuple[str, Callable[[Any], Any]]:
    """The path whose answer carries the transaction on `route`, and the rewrite adding `extra`."""
    if route is Route.BUILD:

        def build(body: Any) -> Any:
            others = body.get("otherInstructions") or []
            body["otherInstructions"] = [*others, instruction_json(extra)]
            return body

        return "/swap/v2/build", build
    field = "transaction" if route is Route.V2 else "swapTransaction"
    path = "/swap/v2/order" if route is Route.V2 else "/swap/v1/swap"

    def prebuilt(body: Any) -> Any:
        body[field] = with_extra(body[field], extra)
        return body

    return path, prebuilt


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("route", [Route.V2, Route.BUILD, Route.V1])
async def test_a_slipped_in_instruction_is_never_signed(rig: Rig, route: Route, attack: str):
    make, names = ATTACKS[attack]
    path, rewrite = slip_in(route, make(rig.owner))
    rig.transport.rewrite[path] = rewrite
    start = rig.holdings()
    ex = rig.executor(route)

    outcome = await ex.submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)

    assert outcome.state is OrderState.FAILED
    assert outcome.error is not None
    assert names in outcome.error
    assert "\n" not in outcome.error
    [order] = await rig.orders()
    assert order.signed_tx is None
    assert order.own_signature is None
    assert rig.chain.sends == 0
    assert "/swap/v2/execute" not in rig.transport.calls
    assert rig.holdings() == start
    await rig.check_books()

    del rig.transport.rewrite[path]  # the venue honest again: the next order fills
    honest = await ex.submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)
    assert honest.state is OrderState.CONFIRMED, honest.error


@pytest.mark.parametrize("route", [Route.V2, Route.BUILD, Route.V1])
async def test_a_group_signs_none_of_them_either(rig: Rig, route: Route):
    path, rewrite = slip_in(route, delegate_usdc(rig.owner))
    rig.transport.rewrite[path] = rewrite
    start = rig.holdings()
    group = GroupExecutor(rig.executor(route))

    outcomes = await group.submit_many(
        [
            (rig.buy("JUP", 30 * USDC_UNITS), rig.signer),
            (rig.buy("BONK", 20 * USDC_UNITS), rig.signer),
        ]
    )

    assert [o.state for o in outcomes] == [OrderState.FAILED] * 2
    assert all("token Approve naming the wallet" in (o.error or "") for o in outcomes)
    assert all(o.signed_tx is None for o in await rig.orders())
    assert rig.chain.sends == 0
    assert rig.holdings() == start
