"""The `Chain` port over the sim's in-process ledger (LiteSVM): the default chain of `solbot run`.

No network and no serialisation, yet the same runtime as mainnet: real programs, signature checks,
fees and the 150-block validity window (see `solbot.sim.ledger`). Every call first brings the
ledger up to the clock, so blocks, blockhashes and expiry follow simulated time even when nothing
else drives the ledger.

It behaves as `RpcChain` does against a cluster:
- a transaction the cluster refuses before executing it (expired blockhash, already processed,
  bad signature, fee payer unable to pay) raises `SendError` and costs nothing;
- a transaction that executes and fails in a program is *sent*: it has a signature, a failed
  status, and its fee is charged, as on mainnet.
"""

from __future__ import annotations

from collections.abc import Sequence

from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain.port import (
    AccountInfo,
    SendError,
    SignatureStatus,
    Simulation,
    TxCosts,
    costs_of,
    received_in,
)
from solbot.clock import Clock
from solbot.sim.ledger import SimLedger
from solbot.sim.ledger_outcomes import RejectedError
from solbot.sim.rpc_faults import Congestion
from solbot.sim.rpc_history import recent_prioritization_fees


class LiteSvmChain:
    """`Chain` over a `SimLedger` owned by the same event loop (the ledger is not thread-safe)."""

    def __init__(self, ledger: SimLedger, clock: Clock) -> None:
        self._ledger = ledger
        self._clock = clock

    def _sync(self) -> SimLedger:
        self._ledger.advance_to(self._clock.now())
        return self._ledger

    async def balance(self, owner: Pubkey) -> int:
        return self._sync().balance(owner)

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        return self._sync().token_balance(owner, mint)

    async def account(self, address: Pubkey) -> AccountInfo | None:
        found = self._sync().account(address)
        if found is None:
            return None
        return AccountInfo(
            found.lamports, found.owner, found.executable, len(found.data), bytes(found.data)
        )

    async def latest_blockhash(self) -> tuple[Hash, int]:
        return self._sync().latest_blockhash()

    async def block_height(self) -> int:
        return self._sync().block_height

    async def send(self, tx: VersionedTransaction) -> Signature:
        try:
            outcome = await self._sync().send_async(tx)
        except RejectedError as exc:
            raise SendError(exc.reason, exc.logs) from None
        return outcome.signature

    async def statuses(self, signatures: Sequence[Signature]) -> list[SignatureStatus | None]:
        ledger = self._sync()
        result: list[SignatureStatus | None] = []
        for signature in signatures:
            outcome = ledger.status(signature)
            result.append(
                None
                if outcome is None
                else SignatureStatus(outcome.slot, outcome.err, ledger.confirmation(outcome))
            )
        return result

    async def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = True) -> Simulation:
        try:
            outcome = self._sync().simulate(tx, sig_verify=sig_verify)
        except RejectedError as exc:
            # The RPC answers these as a simulation result too (`err`, no logs, no units).
            return Simulation(exc.reason, exc.logs, 0)
        return Simulation(outcome.err, outcome.logs, outcome.units)

    async def recent_fees(self, accounts: Sequence[Pubkey] = ()) -> list[int]:
        # the embedded sim is never congested: only what its own traffic paid
        ledger = self._sync()
        return [fee for _, fee in recent_prioritization_fees(ledger, Congestion(), accounts)]

    async def costs(self, signature: Signature) -> TxCosts | None:
        record = self._sync().transaction(signature)
        if record is None:
            return None
        return costs_of(record.outcome.fee, record.pre_balances, record.post_balances)

    async def received(self, signature: Signature, owner: Pubkey, mint: Pubkey) -> int | None:
        record = self._sync().transaction(signature)
        if record is None:
            return None
        return received_in(
            owner,
            mint,
            record.transaction.message.account_keys,
            (record.pre_balances, record.post_balances),
            (
                [t.holding for t in record.pre_tokens],
                [t.holding for t in record.post_tokens],
            ),
        )
