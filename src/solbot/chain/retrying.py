"""A `Chain` that waits out a node that is unavailable for a moment (see `RetryingChain`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain.port import (
    AccountInfo,
    Chain,
    ChainUnavailableError,
    SignatureStatus,
    Simulation,
    TxCosts,
)
from solbot.clock import Clock
from solbot.http_retry import RetryPolicy

log = logging.getLogger(__name__)

# A node unavailable for a moment: 6 tries, 0.5 s doubling up to 8 s (about 16 s in all). The
# back-off rule is the HTTP clients' (`http_retry.RetryPolicy`), written once.
CHAIN_RETRIES = RetryPolicy(max_attempts=6, backoff=0.5, max_backoff=8.0)


class RetryingChain:
    """A `Chain` whose calls are retried when the node is unavailable (`ChainUnavailableError`:
    unreachable, HTTP 5xx/429, "node is behind", garbage), with exponential back-off on the
    bot's clock.

    Why here and not in the executor: every chain call of the loop (balances in a tick, the
    executor's sends and status polls, the closing summary) needs the same patience, and a
    provider that fails one call in ten is ordinary on mainnet. Retrying is safe for every
    method: reads have no effect, and `send` re-sends the same signed bytes, which can never
    execute twice (a second copy is refused as `AlreadyProcessed`, which the executor expects).
    """

    def __init__(self, inner: Chain, clock: Clock, policy: RetryPolicy = CHAIN_RETRIES) -> None:
        self.inner = inner
        self.clock = clock
        self.policy = policy
        self.retries = 0  # calls that failed and were tried again (for logs and tests)
        # The last call failed and no call succeeded since: the node is down as far as we
        # know (a stop then gives the closing summary less time: `Runtime.run`).
        self.failing = False

    async def _call(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                answer = await call()
            except ChainUnavailableError as exc:
                self.failing = True
                if attempt == self.policy.max_attempts:
                    raise
                self.retries += 1
                delay = self.policy.delay(attempt)
                log.info("%s: %s; retry %d in %.1f s", what, exc, attempt, delay)
                await self.clock.sleep(delay)
            else:
                self.failing = False
                return answer
        raise AssertionError("unreachable")  # the loop returns or raises

    async def balance(self, owner: Pubkey) -> int:
        return int(await self._call("getBalance", lambda: self.inner.balance(owner)))

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        return int(await self._call("token balance", lambda: self.inner.token_balance(owner, mint)))

    async def account(self, address: Pubkey) -> AccountInfo | None:
        result: AccountInfo | None = await self._call(
            "getAccountInfo", lambda: self.inner.account(address)
        )
        return result

    async def latest_blockhash(self) -> tuple[Hash, int]:
        result: tuple[Hash, int] = await self._call(
            "getLatestBlockhash", self.inner.latest_blockhash
        )
        return result

    async def block_height(self) -> int:
        return int(await self._call("getBlockHeight", self.inner.block_height))

    async def send(self, tx: VersionedTransaction) -> Signature:
        result: Signature = await self._call("sendTransaction", lambda: self.inner.send(tx))
        return result

    async def statuses(self, signatures: Sequence[Signature]) -> list[SignatureStatus | None]:
        result: list[SignatureStatus | None] = await self._call(
            "getSignatureStatuses", lambda: self.inner.statuses(signatures)
        )
        return result

    async def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = True) -> Simulation:
        result: Simulation = await self._call(
            "simulateTransaction", lambda: self.inner.simulate(tx, sig_verify=sig_verify)
        )
        return result

    async def costs(self, signature: Signature) -> TxCosts | None:
        result: TxCosts | None = await self._call(
            "getTransaction", lambda: self.inner.costs(signature)
        )
        return result

    async def received(self, signature: Signature, owner: Pubkey, mint: Pubkey) -> int | None:
        result: int | None = await self._call(
            "getTransaction", lambda: self.inner.received(signature, owner, mint)
        )
        return result

    async def recent_fees(self, accounts: Sequence[Pubkey] = ()) -> list[int]:
        result: list[int] = await self._call(
            "getRecentPrioritizationFees", lambda: self.inner.recent_fees(accounts)
        )
        return result
