"""Where a withdrawal may go: a plain wallet, checked as typed and then on chain.

"On the ed25519 curve" only says that some key *could* sign for an address; it says nothing of
what lives there. The RAY mint is on the curve, and so are token accounts created from a key:
SOL sent to a mint, a token account or a program sits in an account no wallet can spend from,
so it is gone. Hence two checks, both in `check_destination`, the one function every path that
accepts a destination calls (`solbot withdraw`, Telegram `/withdraw` and `/whitelist add`, and
`WithdrawalService.withdraw` itself, right before journaling):

1. as typed (`parse_destination`): a canonical base58 address, exactly as pasted, on the curve
   (a program-derived address has no key), and not the System Program;
2. on chain (`Chain.account`): either no account at all (a new address: it must then receive
   at least the rent-exempt minimum, see `withdrawals`), or an account owned by the System
   Program, not executable, with no data: a plain wallet. A program, a mint, a token account,
   a system account holding data (a durable nonce) or an account of any other program is
   refused with one line that says which it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey
from spl.token.constants import ACCOUNT_LEN, MINT_LEN, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from solbot.chain.port import SYSTEM_PROGRAM_ID, AccountInfo, Chain
from solbot.errors import UserError

TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination that passed both checks; `new` when no account exists there yet."""

    address: Pubkey
    new: bool


def parse_destination(text: str) -> Pubkey:
    """A wallet address exactly as a user should type it, or a one-line `UserError`."""
    if text != text.strip():
        raise UserError("the address has spaces or line breaks around it; paste it exactly")
    try:
        address = Pubkey.from_string(text)
    except ValueError:
        raise UserError(
            f"{text[:60]!r} is not a Solana address (32 bytes in base58, 32 to 44 characters)"
        ) from None
    if str(address) != text:
        raise UserError(f"{text[:60]!r} is not the canonical form of a Solana address")
    if address == SYSTEM_PROGRAM_ID:
        raise UserError(f"{text} is the System Program's address, not a wallet")
    if not address.is_on_curve():
        raise UserError(
            f"{text} is a program-derived address: no wallet holds a key for it, so SOL sent "
            "there could never be moved again"
        )
    return address


async def check_destination(chain: Chain, text: str) -> Destination:
    """`text` as a destination for SOL: parsed, then read on chain; else a one-line
    `UserError` saying what the address is instead of a wallet."""
    address = parse_destination(text)
    account = await chain.account(address)
    if account is not None:
        problem = _not_a_wallet(account)
        if problem is not None:
            raise UserError(f"{address} {problem}")
    return Destination(address, new=account is None)


def _not_a_wallet(account: AccountInfo) -> str | None:
    """Why an existing account is not a plain wallet (None when it is one)."""
    lost = "SOL sent there would be lost"
    if account.executable:
        return f"is a program, not a wallet: {lost}"
    if account.owner in TOKEN_PROGRAMS:
        if account.space == MINT_LEN:
            return f"is a token mint, not a wallet: {lost}"
        if account.space == ACCOUNT_LEN:
            return (
                "is a token account, not a wallet: send to its owner's wallet address instead "
                f"({lost})"
            )
        return f"is a mint or token account of {account.owner}, not a wallet: {lost}"
    if account.owner != SYSTEM_PROGRAM_ID:
        return (
            f"belongs to the program {account.owner}, not a plain wallet: only that program "
            "could move SOL sent there"
        )
    if account.space:
        return (
            f"holds data (a nonce account or similar), not a plain wallet: {account.space} "
            "bytes; send to a plain wallet address"
        )
    return None
