"""The `Chain` port for paper trading: balances kept in the database, and nothing ever sent.

Paper trading runs the whole loop (prices, candles, signals, breakers, sizing, the order
journal, positions) but fills each order at the venue's quote instead of signing and sending a
transaction. The executor books the fill into `paper_balances` in the same database
transaction that opens or closes the position, and this adapter answers balance questions from
that table, so the engine values the paper account exactly as it values a wallet.

The sending half of the port is refused: a paper run that tried to send would be a bug, and
must not quietly reach a network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain.port import (
    NATIVE_MINT,
    AccountInfo,
    SignatureStatus,
    Simulation,
    TxCosts,
)
from solbot.clock import Clock
from solbot.store.balances import PaperBalances
from solbot.store.db import Database


class PaperModeError(RuntimeError):
    """Something tried to use the network in paper mode."""


class PaperChain:
    """`Chain` over the paper balances of a database; refuses to send anything."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def balance(self, owner: Pubkey) -> int:
        return await self.token_balance(owner, NATIVE_MINT)

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        async with self._db.session() as s:
            return await PaperBalances(s, self._clock).get(str(owner), str(mint))

    async def fund_once(self, owner: Pubkey, mint: Pubkey, atoms: int) -> bool:
        """The starting balance of a new paper account (see `PaperBalances.fund_once`)."""
        async with self._db.session() as s:
            return await PaperBalances(s, self._clock).fund_once(str(owner), str(mint), atoms)

    async def account(self, address: Pubkey) -> AccountInfo | None:
        """Paper books have balances, not accounts: what an address is lives on a network, and
        paper trading reads none (nothing it does sends to an address)."""
        _refuse("account")

    async def latest_blockhash(self) -> tuple[Hash, int]:
        _refuse("latest_blockhash")

    async def block_height(self) -> int:
        _refuse("block_height")

    async def send(self, tx: VersionedTransaction) -> Signature:
        _refuse("send")

    async def statuses(self, signatures: Sequence[Signature]) -> list[SignatureStatus | None]:
        _refuse("statuses")

    async def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = True) -> Simulation:
        _refuse("simulate")

    async def recent_fees(self, accounts: Sequence[Pubkey] = ()) -> list[int]:
        _refuse("recent_fees")

    async def costs(self, signature: Signature) -> TxCosts | None:
        _refuse("costs")

    async def received(self, signature: Signature, owner: Pubkey, mint: Pubkey) -> int | None:
        _refuse("received")


def _refuse(what: str) -> NoReturn:
    raise PaperModeError(f"paper trading sends nothing; {what} was called")
