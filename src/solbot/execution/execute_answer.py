"""What a Swap v2 `/execute` answer means for the books: which transaction to follow on the
chain, and whether the order ends here.

Jupiter lands `/order` transactions itself, so its answer is all the bot hears of the sending;
but the answer is a venue's word, and the chain is the record:

- When the wallet is the fee payer (an aggregator route, `gasless: false`), the wallet's own
  signature is the transaction's id and was journaled before `/execute`. That id is followed
  whatever the answer says: a "Failed" with "failed to land" or "timed out" is said of
  transactions that can still land, and a signature naming another transaction is a bug or a
  lie. (The answers that prove nothing was sent, a quote expired or a transaction not fully
  signed, are raised by the client and end the order before this.)
- On JupiterZ's RFQ routes the maker pays and signs last: its signature is the id, learned only
  from the answer. It is believed only if it is the maker's signature of this very message
  (account 0, the fee payer); otherwise the id is unknown and the order is decided as one whose
  answer was lost. A "Failed" answer there is final.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from solders.message import to_bytes_versioned
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.execution.jupiter_types import ExecuteResult
from solbot.execution.signing import verifies

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExecuteVerdict:
    """`follow`: the transaction id to look for on the chain (None: unknown, decide after
    expiry from balances); `error`: the order failed here, nothing to follow."""

    follow: str | None
    error: str | None = None


def read_execute(
    result: ExecuteResult, signed: VersionedTransaction, journaled: str | None
) -> ExecuteVerdict:
    """The verdict on `result` for the transaction `signed`, whose id was `journaled` before
    `/execute` when the wallet pays its fee (see the module docstring)."""
    if journaled is not None:
        if result.signature is not None and result.signature != journaled:
            log.warning(
                "/execute named transaction %s, not this order's %s: following ours",
                result.signature,
                journaled,
            )
        return ExecuteVerdict(journaled)
    named = result.signature if result.signature and _is_makers(result.signature, signed) else None
    if result.signature is not None and named is None:
        log.warning("/execute named %s, not a signature of this order's message", result.signature)
    if not result.ok:
        return ExecuteVerdict(named, result.error or f"execute failed ({result.code})")
    return ExecuteVerdict(named)


def _is_makers(signature: str, signed: VersionedTransaction) -> bool:
    """Whether `signature` is the fee payer's (account 0) signature of `signed`'s message."""
    try:
        parsed = Signature.from_string(signature)
    except ValueError:
        return False
    payer = signed.message.account_keys[0]
    return verifies(parsed, payer, to_bytes_versioned(signed.message))
