"""What the bot needs from a Solana cluster, whichever cluster it is.

The executor is written against this protocol only; `LiteSvmChain` (the embedded sim) and
`RpcChain` (solana-py's `AsyncClient`: the sim's JSON-RPC server, devnet or mainnet) implement
it, and the same tests run against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

Commitment = Literal["processed", "confirmed", "finalized"]


@dataclass(frozen=True, slots=True)
class SignatureStatus:
    """Where a sent transaction stands. `err` is the runtime's error (None = it succeeded)."""

    slot: int
    err: str | None
    confirmation: Commitment

    @property
    def ok(self) -> bool:
        return self.err is None


@dataclass(frozen=True, slots=True)
class Simulation:
    """A dry run of a transaction (preflight)."""

    err: str | None
    logs: tuple[str, ...]
    units: int | None


@dataclass(frozen=True, slots=True)
class TxCosts:
    """What a processed transaction's metadata says it cost: `fee` (signatures and priority
    fee, paid landed or failed), `rent` (the lamports that went into accounts it created and
    kept: a new token account holds 2,039,280, given back when it is closed, `solbot
    cleanup`), and `payer_spent`, what the fee payer's balance lost in it: the fee, the rent
    and tips it paid, and any SOL it sent on purpose."""

    fee: int
    rent: int
    payer_spent: int

    @property
    def lamports(self) -> int:
        return self.fee + self.rent


@dataclass(frozen=True, slots=True)
class TokenHolding:
    """A token account among a transaction's accounts, with its balance before or after it, as
    `getTransaction`'s `preTokenBalances`/`postTokenBalances` list them."""

    owner: Pubkey
    mint: Pubkey
    amount: int


def received_in(
    owner: Pubkey,
    mint: Pubkey,
    keys: Sequence[Pubkey],
    balances: tuple[Sequence[int], Sequence[int]],
    tokens: tuple[Sequence[TokenHolding], Sequence[TokenHolding]],
) -> int:
    """What one transaction changed `owner`'s holding of `mint` by (negative: it left), from its
    metadata: the lamports of `owner`'s own account for SOL (as `holdings` counts SOL), else
    the balances of `owner`'s token accounts of `mint` after it less before it. Only what the
    transaction itself moved: a deposit landing beside it is not in its metadata."""
    if mint == NATIVE_MINT:
        pre, post = balances
        if owner not in keys:
            return 0
        index = list(keys).index(owner)
        return post[index] - pre[index]
    before, after = (
        sum(t.amount for t in side if t.owner == owner and t.mint == mint) for side in tokens
    )
    return after - before


def costs_of(fee: int, pre: Sequence[int], post: Sequence[int]) -> TxCosts:
    """`TxCosts` from a transaction's fee and its static accounts' balances before and after
    (the fee payer first): an account that had no lamports and has some now was created."""
    rent = sum(after for before, after in zip(pre, post, strict=False) if before == 0 and after)
    spent = pre[0] - post[0] if pre and post else fee
    return TxCosts(fee, rent, spent)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What an account is, as far as sending SOL to it goes: who owns it (the System Program
    for a wallet, the Token program for a mint or a token account, a loader for a program),
    whether it is a program (`executable`), and how many bytes of data it holds (`space`)."""

    lamports: int
    owner: Pubkey
    executable: bool
    space: int
    data: bytes = b""  # the account's bytes (a mint's decimals and authorities: `chain.mint`)


class SendError(Exception):
    """The cluster refused a transaction without executing it.

    `reason` is the runtime's error name (`BlockhashNotFound`, `AlreadyProcessed`, ...) or the
    RPC error message; `logs` are the preflight logs when there are any. Never carries the
    transaction's bytes or any key.
    """

    def __init__(self, reason: str, logs: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = tuple(logs)


class ChainUnavailableError(Exception):
    """The cluster could not be reached or answered garbage; the call may be retried."""


class Chain(Protocol):
    """Balances, blocks, and sending: everything the trading loop asks of a cluster."""

    async def balance(self, owner: Pubkey) -> int:
        """Lamports held by `owner`."""
        ...

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        """Atoms of `mint` in `owner`'s associated token account (0 when it does not exist)."""
        ...

    async def account(self, address: Pubkey) -> AccountInfo | None:
        """The account at `address`; None when there is none (never funded, or closed)."""
        ...

    async def latest_blockhash(self) -> tuple[Hash, int]:
        """A recent blockhash and the last block height at which it is accepted."""
        ...

    async def block_height(self) -> int: ...

    async def send(self, tx: VersionedTransaction) -> Signature:
        """Submit without waiting; raises `SendError` when refused before execution."""
        ...

    async def statuses(self, signatures: Sequence[Signature]) -> list[SignatureStatus | None]:
        """Status of each signature, None for one the cluster has not seen."""
        ...

    async def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = True) -> Simulation:
        """A dry run. Without `sig_verify` the signatures are not checked (a transaction not
        signed yet, to measure its compute units) and the blockhash may be replaced."""
        ...

    async def costs(self, signature: Signature) -> TxCosts | None:
        """The fee and rent a processed transaction paid (`TxCosts`); None when the cluster
        no longer has it (older than its history) or has not processed it."""
        ...

    async def received(self, signature: Signature, owner: Pubkey, mint: Pubkey) -> int | None:
        """What the processed transaction `signature` changed `owner`'s holding of `mint` by,
        in atoms (lamports for SOL), from its metadata (`received_in`); None when the cluster
        no longer has it or has not processed it."""
        ...

    async def recent_fees(self, accounts: Sequence[Pubkey] = ()) -> list[int]:
        """The priority fee (micro-lamports per compute unit) of each recent slot: the lowest a
        landed transaction paid, at least what one locking each of `accounts` writable paid
        (`getRecentPrioritizationFees`, up to 128 accounts)."""
        ...


NATIVE_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
SYSTEM_PROGRAM_ID = Pubkey.default()  # 11111111111111111111111111111111: owns every wallet


async def holdings(chain: Chain, owner: Pubkey, mint: Pubkey) -> int:
    """What `owner` holds of `mint`, in atoms: lamports for SOL (swaps against SOL move native
    SOL, not wrapped SOL), the associated token account's balance for any other mint."""
    if mint == NATIVE_MINT:
        return await chain.balance(owner)
    return await chain.token_balance(owner, mint)
