"""What the wallet signs for a swap: read as the runtime will run it, before the key sees it.

A swap transaction is made outside the bot: Jupiter builds it whole on `/order` and `/swap`, and
its instructions are what we assemble on `/build`. The wallet's signature authorises everything
in it, so an answer from a compromised, impersonated or mistaken endpoint could move anything the
wallet holds. `vet_swap` reads the message with every account resolved the way the runtime
resolves it (lookup tables from the chain: `solbot.chain.lookup_tables`) and refuses, in one line,
anything that is not a swap of the order's input:

- **Programs**: only System, Compute Budget, Token, Token-2022, Associated Token and Memo, and the
  swap programs: Jupiter's aggregator (v6), Jupiter's RFQ order engine, and any the operator
  trusts (`SOLBOT_TRUSTED_PROGRAMS`).
- **The input, and only the input, leaves**: outside a swap program, what the wallet's own
  signature sends to accounts that are not its own (System transfers of SOL; token transfers,
  only from its account of the input mint) comes to at most the order's `amount_in` of the input
  (SOL in: lamports or wrapped SOL). Jupiter's route instruction is read too
  (`jupiter_route`): from the wallet's input account, at most `amount_in`, the output to the
  wallet's own account, no more slippage than the order asked, no platform fee; any other
  instruction of Jupiter's program is refused. The RFQ order engine's and an operator-trusted
  program's instructions are not decoded: their code and arguments are trusted. Beside a swap
  instruction no token leaves by the wallet's hand.
- **Nothing that outlives the order**: no durable nonce (a transaction that never expires), no
  System instruction but a transfer, whoever it names; on the routes the bot sends (v1,
  `/build`) the wallet pays the fee.
- **No lasting powers**: no token approval, authority change, burn, or close whose rent goes to
  someone else; no System instruction on the wallet but a transfer (no assign, allocate, or
  account created from its SOL); token accounts made with its rent are its own, for the input,
  the output or wrapped SOL.
- **A bounded cost**: what it pays beyond the swap (the priority fee when it pays the fee, and any
  SOL beyond the input, i.e. tips) is at most the per-order cap,
  `SOLBOT_MAX_PRIORITY_FEE_LAMPORTS`.

Instructions that do not name the wallet cannot spend from it (its accounts move only with its
signature), so they are held only to the program list.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from solders.instruction import CompiledInstruction
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from spl.token.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WRAPPED_SOL_MINT,
)

from solbot.chain.builders import MAX_COMPUTE_UNITS, MEMO_PROGRAM_ID, associated_token_address
from solbot.execution.build import COMPUTE_BUDGET_PROGRAM
from solbot.execution.jupiter_route import (
    JUPITER_AGGREGATOR,
    RouteRefusedError,
    own_accounts,
    read_route,
)
from solbot.execution.jupiter_types import VenueError
from solbot.execution.landing import priority_fee

__all__ = [
    "JUPITER_AGGREGATOR",
    "JUPITER_ORDER_ENGINE",
    "SwapTerms",
    "UnsafeTransactionError",
    "vet_swap",
]

SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
MEMO_V1_PROGRAM = Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo")
JUPITER_ORDER_ENGINE = Pubkey.from_string("61DFfeTKM7trxYcPQCM78bJ794ddZprZpAwAnLiwTpYH")
SWAP_PROGRAMS = frozenset({JUPITER_AGGREGATOR, JUPITER_ORDER_ENGINE})
TOKEN_PROGRAMS = frozenset({TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID})
PLAIN_PROGRAMS = frozenset(
    {SYSTEM_PROGRAM, ASSOCIATED_TOKEN_PROGRAM_ID, MEMO_PROGRAM_ID, MEMO_V1_PROGRAM} | TOKEN_PROGRAMS
)
DEFAULT_UNITS_PER_INSTRUCTION = 200_000  # the runtime's limit for an instruction without one

# Instruction numbers (the first byte of a token instruction's data, the first four of a
# System one's, little-endian).
_SYSTEM_TRANSFER = 2
_TOKEN_TRANSFER, _TOKEN_TRANSFER_CHECKED, _TOKEN_CLOSE = 3, 12, 9
# Token instructions the wallet may appear in: they move nothing of its own without a check
# below (initialising an account it owns, revoking, syncing wrapped SOL).
_TOKEN_HARMLESS = frozenset({1, 5, 16, 17, 18})
_TOKEN_NAMES = {
    4: "Approve",
    6: "SetAuthority",
    7: "MintTo",
    8: "Burn",
    10: "FreezeAccount",
    11: "ThawAccount",
    13: "ApproveChecked",
    15: "BurnChecked",
}
_SYSTEM_NAMES = {
    0: "CreateAccount",
    1: "Assign",
    3: "CreateAccountWithSeed",
    4: "AdvanceNonceAccount",
    5: "WithdrawNonceAccount",
    6: "InitializeNonceAccount",
    7: "AuthorizeNonceAccount",
    8: "Allocate",
    9: "AllocateWithSeed",
    10: "AssignWithSeed",
    11: "TransferWithSeed",
}
_ATA_CREATE = frozenset({0, 1})  # Create, CreateIdempotent (empty data is Create too)


class UnsafeTransactionError(VenueError):
    """The venue's transaction does something to the wallet beyond the swap asked for: it is
    never signed (the message names what, in one line)."""


@dataclass(frozen=True, slots=True)
class SwapTerms:
    """The order a transaction must carry out: `owner` swaps `amount_in` atoms of `input_mint`
    (wrapped SOL's mint for SOL) for `output_mint`, paying at most `max_extra_lamports` beyond
    the swap (priority fee and tips together). `owner_pays`: the route where the wallet is the
    fee payer (ours to send: v1, `/build`); `max_slippage_bps`: what the order asked for, the
    most a Jupiter route instruction may allow."""

    owner: Pubkey
    input_mint: Pubkey
    output_mint: Pubkey
    amount_in: int
    max_extra_lamports: int
    owner_pays: bool | None = None  # None: either (v2: the maker pays on an RFQ route)
    max_slippage_bps: int = 10_000


@dataclass(slots=True)
class _Tally:
    sol_out: int = 0
    token_out: int = 0
    by_swap_program: bool = False
    unit_limit: int | None = None
    unit_price: int = 0
    instructions: int = 0  # outside the compute budget: the default limit counts them
    budget_kinds: set[bytes] = field(default_factory=set)


def vet_swap(
    message: Message | MessageV0,
    account_keys: Sequence[Pubkey],
    terms: SwapTerms,
    trusted_programs: Iterable[Pubkey] = (),
) -> None:
    """Raise `UnsafeTransactionError` unless `message` (whose loaded accounts, lookup tables
    resolved, are `account_keys`) only swaps `terms`' input, within its cost cap."""
    swap_programs = SWAP_PROGRAMS | frozenset(trusted_programs)
    allowed = PLAIN_PROGRAMS | swap_programs
    if terms.owner_pays is not None and (account_keys[:1] == [terms.owner]) != terms.owner_pays:
        payer = account_keys[0] if account_keys else "nobody"
        raise UnsafeTransactionError(
            f"Jupiter's transaction has {payer} pay its fee, not the one this route expects"
        )
    ours = _own_accounts(terms)
    tally = _Tally()
    for ix in message.instructions:
        program, accounts = _resolve(ix, account_keys)
        data = bytes(ix.data)
        if program == COMPUTE_BUDGET_PROGRAM:
            _budget(data, tally)
            continue
        tally.instructions += 1
        if program not in allowed:
            raise UnsafeTransactionError(
                f"Jupiter's transaction calls program {program}, which solbot does not sign for "
                "(SOLBOT_TRUSTED_PROGRAMS adds a swap program you trust)"
            )
        if program == SYSTEM_PROGRAM:
            _only_transfer(data)  # a durable nonce or an assignment is refused, whoever it names
        if terms.owner not in accounts:
            continue
        if program == JUPITER_AGGREGATOR:
            check_route(data, accounts, terms)
            tally.by_swap_program = True
        elif program in swap_programs:
            tally.by_swap_program = True
        elif program == SYSTEM_PROGRAM:
            _system(data, accounts, terms, ours, tally)
        elif program in TOKEN_PROGRAMS:
            _token(program, data, accounts, terms, tally)
        elif program == ASSOCIATED_TOKEN_PROGRAM_ID:
            _associated_account(data, accounts, terms)
    _settle(account_keys, terms, tally)


def check_route(data: bytes, accounts: list[Pubkey], terms: SwapTerms) -> None:
    """Jupiter's route instruction (`jupiter_route`) against the order: from the wallet's own
    input account, at most the order's amount, the output to the wallet's own account, no
    more slippage than asked, no platform fee."""
    try:
        route = read_route(data, accounts)
    except RouteRefusedError as exc:
        raise UnsafeTransactionError(str(exc)) from None
    what = f"Jupiter's {route.name} instruction"
    if route.authority != terms.owner:
        raise UnsafeTransactionError(f"{what} names the wallet, but another one swaps")
    if route.source not in own_accounts(terms.owner, terms.input_mint):
        raise UnsafeTransactionError(
            f"{what} takes from {route.source}, not the wallet's account of the input"
        )
    if route.in_amount > terms.amount_in:
        raise UnsafeTransactionError(
            f"{what} takes {route.in_amount} atoms, more than the order's {terms.amount_in}"
        )
    if route.destination not in own_accounts(terms.owner, terms.output_mint):
        raise UnsafeTransactionError(
            f"{what} sends the output to {route.destination}, not the wallet's account of it"
        )
    if route.slippage_bps > terms.max_slippage_bps:
        raise UnsafeTransactionError(
            f"{what} allows {route.slippage_bps} bps of slippage; the order asked for at most "
            f"{terms.max_slippage_bps}"
        )
    if route.platform_fee_bps:
        raise UnsafeTransactionError(f"{what} takes a platform fee solbot never asked for")


def _resolve(ix: CompiledInstruction, keys: Sequence[Pubkey]) -> tuple[Pubkey, list[Pubkey]]:
    indexes = [ix.program_id_index, *bytes(ix.accounts)]
    if max(indexes) >= len(keys):
        raise UnsafeTransactionError(
            f"Jupiter's transaction names account {max(indexes)} of {len(keys)}"
        )
    return keys[ix.program_id_index], [keys[i] for i in bytes(ix.accounts)]


def _own_accounts(terms: SwapTerms) -> frozenset[Pubkey]:
    """Where SOL the wallet sends stays its own: the wallet, and its wrapped-SOL account (under
    the classic token program, the only one that wraps SOL) when the swap wraps or unwraps."""
    found = {terms.owner}
    if WRAPPED_SOL_MINT in (terms.input_mint, terms.output_mint):
        found.add(associated_token_address(terms.owner, WRAPPED_SOL_MINT, TOKEN_PROGRAM_ID))
    return frozenset(found)


def _own_token_accounts(terms: SwapTerms, program: Pubkey) -> frozenset[Pubkey]:
    """The wallet's accounts of the swap's mints under the token `program` of an instruction."""
    return frozenset(
        associated_token_address(terms.owner, mint, program)
        for mint in (terms.input_mint, terms.output_mint)
    )


def _budget(data: bytes, tally: _Tally) -> None:
    kind = data[:1]
    if kind in tally.budget_kinds:  # the runtime refuses it; and which one counts is unclear
        raise UnsafeTransactionError(
            f"Jupiter's transaction sets its compute budget twice (instruction {kind.hex()})"
        )
    tally.budget_kinds.add(kind)
    if kind == b"\x02" and len(data) >= 5:
        tally.unit_limit = struct.unpack_from("<I", data, 1)[0]
    elif kind == b"\x03" and len(data) >= 9:
        tally.unit_price = struct.unpack_from("<Q", data, 1)[0]


def _only_transfer(data: bytes) -> None:
    """Refuse a System instruction that is not a transfer: the others assign or allocate
    accounts, or advance a durable nonce (a transaction that never expires)."""
    kind = struct.unpack_from("<I", data)[0] if len(data) >= 4 else -1
    if kind != _SYSTEM_TRANSFER or len(data) < 12:
        name = _SYSTEM_NAMES.get(kind, f"instruction {kind}")
        raise UnsafeTransactionError(
            f"Jupiter's transaction has a System {name}: solbot signs only transfers"
        )


def _system(
    data: bytes, accounts: list[Pubkey], terms: SwapTerms, ours: frozenset[Pubkey], tally: _Tally
) -> None:
    """A transfer (`_only_transfer` let nothing else through): SOL the wallet sends away."""
    if len(accounts) >= 2 and accounts[0] == terms.owner and accounts[1] not in ours:
        tally.sol_out += struct.unpack_from("<Q", data, 4)[0]


def _token(
    program: Pubkey,
    data: bytes,
    accounts: list[Pubkey],
    terms: SwapTerms,
    tally: _Tally,
) -> None:
    kind = data[0] if data else -1
    if kind in (_TOKEN_TRANSFER, _TOKEN_TRANSFER_CHECKED) and len(data) >= 9:
        checked = kind == _TOKEN_TRANSFER_CHECKED
        if len(accounts) < (4 if checked else 3):
            return  # the token program refuses it: nothing moves
        source, destination = accounts[0], accounts[2 if checked else 1]
        authority = accounts[3 if checked else 2]
        if authority != terms.owner or destination in _own_token_accounts(terms, program):
            return  # not the wallet's tokens leaving (another's, or into its own account)
        own_input = associated_token_address(terms.owner, terms.input_mint, program)
        if source != own_input or (checked and accounts[1] != terms.input_mint):
            raise UnsafeTransactionError(
                "Jupiter's transaction moves tokens of the wallet that are not the swap's input"
            )
        tally.token_out += struct.unpack_from("<Q", data, 1)[0]
        return
    if kind == _TOKEN_CLOSE and len(accounts) >= 3:
        if accounts[2] == terms.owner and accounts[1] != terms.owner:
            raise UnsafeTransactionError(
                "Jupiter's transaction closes a token account of the wallet with its rent going "
                f"to {accounts[1]}"
            )
        return
    if kind in _TOKEN_HARMLESS:
        return
    name = _TOKEN_NAMES.get(kind, f"instruction {kind}")
    raise UnsafeTransactionError(
        f"Jupiter's transaction has a token {name} naming the wallet: solbot never signs one"
    )


def _associated_account(data: bytes, accounts: list[Pubkey], terms: SwapTerms) -> None:
    kind = data[0] if data else 0
    if kind not in _ATA_CREATE:
        raise UnsafeTransactionError(
            f"Jupiter's transaction has an associated-token instruction {kind} naming the wallet"
        )
    if len(accounts) < 6 or accounts[0] != terms.owner:
        return  # someone else pays the rent (or the program refuses it)
    address, wallet, mint, token_program = accounts[1], accounts[2], accounts[3], accounts[5]
    if wallet != terms.owner or mint not in {terms.input_mint, terms.output_mint, WRAPPED_SOL_MINT}:
        raise UnsafeTransactionError(
            f"Jupiter's transaction spends the wallet's rent on a token account of {wallet} for "
            f"{mint}, not the swap's"
        )
    if (
        token_program not in TOKEN_PROGRAMS
        or accounts[4] != SYSTEM_PROGRAM
        or address != associated_token_address(wallet, mint, token_program)
    ):
        raise UnsafeTransactionError(
            "Jupiter's transaction spends the wallet's rent on an account no token program "
            f"would own ({address} under {token_program})"
        )


def _settle(keys: Sequence[Pubkey], terms: SwapTerms, tally: _Tally) -> None:
    """The input and the extras, added up: the first rule broken is the refusal."""
    if tally.by_swap_program:
        if tally.token_out:
            raise UnsafeTransactionError(
                "Jupiter's transaction sends tokens of the wallet beside its swap instruction"
            )
        tips = tally.sol_out
    elif terms.input_mint == WRAPPED_SOL_MINT:
        paid = tally.sol_out + tally.token_out
        tips = max(0, paid - terms.amount_in)
    else:
        if tally.token_out > terms.amount_in:
            raise UnsafeTransactionError(
                f"Jupiter's transaction sends {tally.token_out} atoms of the input, more than the "
                f"order's {terms.amount_in}"
            )
        tips = tally.sol_out
    priority = 0
    if keys and keys[0] == terms.owner and tally.unit_price:
        default = DEFAULT_UNITS_PER_INSTRUCTION * max(1, tally.instructions)
        limit = tally.unit_limit if tally.unit_limit is not None else default
        limit = min(limit, MAX_COMPUTE_UNITS)
        priority = priority_fee(tally.unit_price, limit)
    if priority + tips > terms.max_extra_lamports:
        raise UnsafeTransactionError(
            f"Jupiter's transaction would cost the wallet {priority + tips} lamports beyond the "
            f"swap (priority fee {priority}, tips {tips}), above the cap of "
            f"{terms.max_extra_lamports} (SOLBOT_MAX_PRIORITY_FEE_LAMPORTS)"
        )
