"""What a mint account says about its token: decimals, supply and who holds power over it.

The SPL Token mint layout (82 bytes, the same at the start of a Token-2022 mint, whose
extensions follow): mint authority `COption<Pubkey>` (4-byte tag + 32), supply `u64`, decimals
`u8`, initialized `bool`, freeze authority `COption<Pubkey>`. A freeze authority can freeze any
holder's account of the token, the bot's wallets included: `solbot tokens add` refuses such a
mint unless told otherwise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

from solbot.chain.port import AccountInfo

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
MINT_SIZE = 82


@dataclass(frozen=True, slots=True)
class MintFacts:
    decimals: int
    supply: int
    mint_authority: Pubkey | None
    freeze_authority: Pubkey | None
    token_2022: bool


def parse_mint(account: AccountInfo) -> MintFacts:
    """The facts of a mint account; `ValueError` says why an account is not one."""
    if account.owner not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
        raise ValueError(f"it is not a token mint (its owner is {account.owner})")
    data = account.data
    if len(data) < MINT_SIZE:
        raise ValueError(f"it is not a token mint ({len(data)} bytes of data)")
    supply, decimals, initialized = struct.unpack_from("<QB?", data, 36)
    if not initialized:
        raise ValueError("the mint is not initialized")
    return MintFacts(
        decimals=decimals,
        supply=supply,
        mint_authority=_option(data, 0),
        freeze_authority=_option(data, 46),
        token_2022=account.owner == TOKEN_2022_PROGRAM,
    )


def _option(data: bytes, at: int) -> Pubkey | None:
    (tag,) = struct.unpack_from("<I", data, at)
    return Pubkey.from_bytes(data[at + 4 : at + 36]) if tag == 1 else None
