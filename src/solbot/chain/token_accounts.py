"""Token accounts a wallet no longer needs: found, and closed to give their rent back.

Every token a wallet has traded leaves an associated token account behind, 2,039,280 lamports
of rent each (about 0.002 SOL), still held after the position is sold. Closing an empty one
returns the rent to the wallet; the next swap into that token creates it again (the venues'
transactions carry an idempotent create).

**Never an account that holds tokens.** An account is a candidate only when the chain says it
holds 0 of its mint, and the close itself is the SPL Token program's `CloseAccount`, which
refuses an account with a balance (`NonNativeHasBalance`): should tokens arrive between the
look and the close (a swap landing meanwhile), the close transaction fails, its fee is the only
cost, and the tokens stay. Wrapped SOL is left alone (its "balance" is lamports; the swaps
unwrap their own). The closes themselves are journaled (`solbot.execution.cleanup`): harmless
to repeat, but they move SOL the books must count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount
from spl.token.constants import ACCOUNT_LEN, TOKEN_PROGRAM_ID
from spl.token.instructions import close_account
from spl.token.models import CloseAccountParams

from solbot.chain.builders import associated_token_address
from solbot.chain.port import NATIVE_MINT, Chain
from solbot.domain import TokenInfo

MAX_CLOSES_PER_TRANSACTION = 12  # 3 accounts each; well inside a transaction's size


@dataclass(frozen=True, slots=True)
class EmptyAccount:
    """An associated token account of the wallet holding none of its token."""

    token: TokenInfo
    address: Pubkey
    lamports: int  # the rent it gives back when closed


async def empty_accounts(
    chain: Chain, owner: Pubkey, tokens: Sequence[TokenInfo]
) -> list[EmptyAccount]:
    """`owner`'s associated token accounts of `tokens` that exist and hold nothing, in the
    order of `tokens` (wrapped SOL excluded)."""
    found = []
    for token in tokens:
        mint = Pubkey.from_string(token.mint)
        if mint == NATIVE_MINT:
            continue
        address = associated_token_address(owner, mint)
        account = await chain.account(address)
        if account is None or account.owner != TOKEN_PROGRAM_ID or account.space != ACCOUNT_LEN:
            continue
        state = TokenAccount.from_bytes(account.data)
        if state.amount == 0 and state.owner == owner and state.mint == mint:
            found.append(EmptyAccount(token, address, account.lamports))
    return found


def close_instructions(owner: Pubkey, accounts: Sequence[EmptyAccount]) -> list[Instruction]:
    """`CloseAccount` of each, the rent to `owner` (who signs)."""
    return [
        close_account(
            CloseAccountParams(
                program_id=TOKEN_PROGRAM_ID, account=account.address, dest=owner, owner=owner
            )
        )
        for account in accounts
    ]
