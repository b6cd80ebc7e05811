"""Sending a signed transaction until it lands or its blockhash expires.

The practice Solana's docs and RPC providers recommend: send with `max_retries=0`, then re-send
the *same bytes* every couple of seconds until a status appears or the block height passes the
transaction's `lastValidBlockHeight`; never re-sign while the old bytes could still land. Re-
sending is safe because a copy that already landed is refused (`AlreadyProcessed`). The order
executor and withdrawals both send this way; what they journal around it is theirs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from solders.transaction import VersionedTransaction

from solbot.chain.port import Chain, SendError, SignatureStatus
from solbot.clock import Clock

HARMLESS = ("AlreadyProcessed", "BlockhashNotFound")  # a re-send of bytes that may have landed


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a send ended: a status (landed, failed or not), refused before execution (`refused`,
    the runtime's reason), or expired without a status."""

    status: SignatureStatus | None = None
    refused: str | None = None

    @property
    def expired(self) -> bool:
        return self.status is None and self.refused is None


async def deliver(
    chain: Chain,
    clock: Clock,
    tx: VersionedTransaction,
    last_valid_block_height: int | None,
    *,
    resend_seconds: float,
    on_resend: Callable[[], Awaitable[None]] | None = None,
) -> Delivery:
    """Send `tx` and re-send the same bytes until it has a status or has expired."""
    signature = tx.signatures[0]
    while True:
        try:
            await chain.send(tx)
        except SendError as exc:
            if exc.reason not in HARMLESS:
                status = (await chain.statuses([signature]))[0]
                if status is None:
                    return Delivery(refused=exc.reason)
        status = (await chain.statuses([signature]))[0]
        if status is not None:
            return Delivery(status=status)
        if last_valid_block_height is not None and (
            await chain.block_height() > last_valid_block_height
        ):
            status = (await chain.statuses([signature]))[0]  # it may have landed in the last block
            return Delivery(status=status)
        await clock.sleep(resend_seconds)
        if on_resend is not None:
            await on_resend()
