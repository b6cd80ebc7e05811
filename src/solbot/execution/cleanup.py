"""Closing a wallet's empty token accounts (see `solbot.chain.token_accounts`): signed with the
wallet's key, sent and re-sent until it lands or its blockhash expires, a few accounts a
transaction. Used by `solbot cleanup`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain import builders
from solbot.chain.port import Chain
from solbot.chain.sending import deliver
from solbot.chain.token_accounts import (
    MAX_CLOSES_PER_TRANSACTION,
    EmptyAccount,
    close_instructions,
    empty_accounts,
)
from solbot.clock import Clock
from solbot.domain import TokenInfo
from solbot.execution.signing import Signer, reserve_signatures_apart, sign_own_slot


@dataclass
class Cleanup:
    """What a cleanup of one wallet found and did. `closed` landed; `failed` did not (each
    with the reason: the chain refused, or tokens arrived meanwhile); `fees` the network fees
    the closing transactions paid."""

    found: list[EmptyAccount]
    closed: list[EmptyAccount] = field(default_factory=list)
    failed: list[tuple[EmptyAccount, str]] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    fees: int = 0

    @property
    def reclaimed(self) -> int:
        """Lamports back in the wallet: the rent of the closed accounts less the fees."""
        return sum(a.lamports for a in self.closed) - self.fees


async def close_empty_accounts(
    chain: Chain,
    clock: Clock,
    signer: Signer,
    tokens: Sequence[TokenInfo],
    *,
    db: Any = None,
    dry_run: bool = False,
    resend_seconds: float = 2.0,
) -> Cleanup:
    """Find `signer`'s empty token accounts of `tokens` and (unless `dry_run`) close them.
    `db`: the database whose vault decryptions a vault signer counts (see `execution.signing`)."""
    owner = signer.pubkey()
    result = Cleanup(await empty_accounts(chain, owner, tokens))
    if dry_run:
        return result
    for start in range(0, len(result.found), MAX_CLOSES_PER_TRANSACTION):
        batch = result.found[start : start + MAX_CLOSES_PER_TRANSACTION]
        blockhash, last_valid = await chain.latest_blockhash()
        message = builders.build_message(owner, close_instructions(owner, batch), blockhash)
        blank = [Signature.default()] * message.header.num_required_signatures
        with await reserve_signatures_apart(db, [signer]):
            signed = sign_own_slot(VersionedTransaction.populate(message, blank), signer)
        delivery = await deliver(chain, clock, signed, last_valid, resend_seconds=resend_seconds)
        signature = str(signed.signatures[0])
        if delivery.status is not None:
            result.signatures.append(signature)
            result.fees += builders.SIGNATURE_FEE
        if delivery.status is not None and delivery.status.ok:
            result.closed += batch
            continue
        reason = (
            delivery.refused
            or (delivery.status.err if delivery.status is not None else None)
            or "did not land before its blockhash expired"
        )
        result.failed += [(account, str(reason)) for account in batch]
    return result
