"""Jupiter's swap instruction, read: what it takes from the wallet and where the output goes.

The aggregator program (v6, `JUP6Lk…`) moves the input with the wallet's signature, as its
instruction's arguments and accounts say: which token account it takes from, how much, where
the output goes and with what slippage. Those come from Jupiter's answer, so they are checked
against the order like every other instruction (`solbot.execution.vetting`); the program's code
is trusted, its arguments are not.

Layouts (Anchor: an 8-byte discriminator, then the arguments; verified against the program's
IDL as published on chain and by independent decoders, December 2026), the exact-in routes only
(the bot never asks for exact-out or a token ledger, and any other instruction is refused):

- `route` [229, 23, 203, 151, 122, 227, 173, 42]: accounts token_program, user_transfer_authority,
  user_source_token_account, user_destination_token_account, destination_token_account
  (optional: the program's id when absent), ...; arguments route_plan, then in_amount u64,
  quoted_out_amount u64, slippage_bps u16, platform_fee_bps u8 (the last 19 bytes).
- `shared_accounts_route` [193, 32, 155, 51, 65, 214, 156, 129]: accounts token_program,
  program_authority, user_transfer_authority, source_token_account, program_source,
  program_destination, destination_token_account, ...; arguments id u8, route_plan, then the
  same 19 bytes.
- `route_v2` [187, 100, 250, 204, 49, 196, 175, 20]: accounts user_transfer_authority,
  user_source_token_account, user_destination_token_account, source_mint, destination_mint,
  source_token_program, destination_token_program, destination_token_account (optional), ...;
  arguments in_amount u64, quoted_out_amount u64, slippage_bps u16, platform_fee_bps u16,
  positive_slippage_bps u16, route_plan (what `/build` answers today).
- `shared_accounts_route_v2` [209, 152, 83, 147, 124, 254, 216, 233]: accounts
  program_authority, user_transfer_authority, source_token_account, program_source,
  program_destination, destination_token_account, ...; arguments id u8, then as `route_v2`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from solbot.chain.builders import associated_token_address
from solbot.execution.jupiter_types import VenueError

JUPITER_AGGREGATOR = Pubkey.from_string("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")


@dataclass(frozen=True, slots=True)
class _Layout:
    name: str
    authority: int  # account indexes
    source: int
    destination: int
    optional_destination: int | None  # used instead of `destination` when present
    scalars_first: bool  # v2: the amounts come before the route plan; v1: they end the data
    shared: bool  # an `id: u8` comes first


_LAYOUTS = {
    bytes([229, 23, 203, 151, 122, 227, 173, 42]): _Layout("route", 1, 2, 3, 4, False, False),
    bytes([193, 32, 155, 51, 65, 214, 156, 129]): _Layout(
        "shared_accounts_route", 2, 3, 6, None, False, True
    ),
    bytes([187, 100, 250, 204, 49, 196, 175, 20]): _Layout("route_v2", 0, 1, 2, 7, True, False),
    bytes([209, 152, 83, 147, 124, 254, 216, 233]): _Layout(
        "shared_accounts_route_v2", 1, 2, 5, None, True, True
    ),
}


@dataclass(frozen=True, slots=True)
class Route:
    """What a route instruction does: `in_amount` from `source` to `destination`, at least
    `quoted_out` less `slippage_bps` arriving."""

    name: str
    authority: Pubkey
    source: Pubkey
    destination: Pubkey
    in_amount: int
    quoted_out: int
    slippage_bps: int
    platform_fee_bps: int


class RouteRefusedError(VenueError):
    """The route instruction does something else than the order (one line, never signed)."""


def read_route(data: bytes, accounts: Sequence[Pubkey]) -> Route:
    """The route instruction `data` over `accounts` (`RouteRefusedError` for any other)."""
    layout = _LAYOUTS.get(bytes(data[:8]))
    if layout is None:
        raise RouteRefusedError(
            f"Jupiter's transaction calls its program with an instruction solbot does not sign "
            f"({bytes(data[:8]).hex() or 'empty'}: not an exact-in route)"
        )
    needed = max(
        layout.authority, layout.source, layout.destination, layout.optional_destination or 0
    )
    if len(accounts) <= needed:
        raise RouteRefusedError(f"Jupiter's {layout.name} instruction lacks accounts")
    try:
        if layout.scalars_first:
            at = 8 + (1 if layout.shared else 0)
            in_amount, quoted_out, slippage, fee, _positive = struct.unpack_from("<QQHHH", data, at)
        else:
            in_amount, quoted_out, slippage, fee = struct.unpack_from("<QQHB", data, len(data) - 19)
            if len(data) < 8 + 4 + 19 + (1 if layout.shared else 0):
                raise struct.error("too short")
    except struct.error:
        raise RouteRefusedError(f"Jupiter's {layout.name} instruction is too short") from None
    destination = accounts[layout.destination]
    if layout.optional_destination is not None:
        chosen = accounts[layout.optional_destination]
        if chosen != JUPITER_AGGREGATOR:  # the program's own id stands for "none"
            destination = chosen
    return Route(
        layout.name,
        accounts[layout.authority],
        accounts[layout.source],
        destination,
        in_amount,
        quoted_out,
        slippage,
        fee,
    )


def own_accounts(owner: Pubkey, mint: Pubkey) -> frozenset[Pubkey]:
    """`owner`'s associated accounts of `mint`, under either token program."""
    return frozenset(
        associated_token_address(owner, mint, program)
        for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
    )
