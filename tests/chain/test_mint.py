"""A mint account's facts from its bytes: SPL Token and Token-2022, and what is not a mint."""

from __future__ import annotations

import re

import pytest
from solders.keypair import Keypair
from solders.token.state import Mint

from solbot.chain.mint import TOKEN_2022_PROGRAM, TOKEN_PROGRAM, parse_mint
from solbot.chain.port import AccountInfo

ISSUER = Keypair().pubkey()


def account(owner, data: bytes) -> AccountInfo:
    return AccountInfo(10**7, owner, False, len(data), data)


def mint_bytes(freeze=None, initialized=True) -> bytes:
    return bytes(
        Mint(
            mint_authority=None, supply=5, decimals=9, is_initialized=initialized,
            freeze_authority=freeze,
        )
    )  # fmt: skip


def test_a_token_2022_mint_with_extensions_reads_like_an_spl_one() -> None:
    facts = parse_mint(account(TOKEN_2022_PROGRAM, mint_bytes(ISSUER) + bytes(83)))
    assert (facts.decimals, facts.supply, facts.mint_authority) == (9, 5, None)
    assert facts.freeze_authority == ISSUER
    assert facts.token_2022


@pytest.mark.parametrize(
    ("owner", "data", "says"),
    [
        (ISSUER, mint_bytes(), "not a token mint (its owner is"),
        (TOKEN_PROGRAM, mint_bytes()[:40], "not a token mint (40 bytes of data)"),
        (TOKEN_PROGRAM, mint_bytes(initialized=False), "not initialized"),
    ],
)
def test_what_is_not_a_mint(owner, data, says) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_mint(account(owner, data))
