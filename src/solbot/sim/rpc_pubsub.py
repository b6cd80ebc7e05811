"""The sim's PubSub methods (the websocket on port + 1): signature, slot, account and logs
subscriptions over the ledger, and the notifications they are due.

Shapes as solana.com/docs/rpc/websocket and web3.js 1.x parse them: `signatureNotification`
`{context: {slot}, value: {err}}` (or `"receivedSignature"`), once, then the subscription ends;
`slotNotification` `{parent, root, slot}`; `accountNotification` `{context: {slot}, value:
<the account as getAccountInfo encodes it>}` on every change of the account; `logsNotification`
`{context: {slot}, value: {signature, err, logs}}` for each transaction that mentions the
address (`{"mentions": [address]}`, one address only, as agave) or for every one (`"all"`,
`"allWithVotes"`: the sim has no votes).

A notification waits for its commitment: the sim confirms a block at once and finalizes it
`FINALITY_SLOTS` later, so `processed` and `confirmed` are told at once, `finalized` then. A web3.js
client whose subscription is refused retries in a tight loop (79,000 calls in 15 s were seen
before account and logs subscriptions existed), so every method a client library subscribes
with is served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.signature import Signature
from websockets.asyncio.server import ServerConnection

from solbot.sim.ledger import FINALITY_SLOTS, SimLedger
from solbot.sim.rpc_wire import (
    COMMITMENTS,
    RpcError,
    config_param,
    error_value,
    invalid_params,
    notification,
    param,
    pubkey_param,
    send_text,
    signature_param,
)

# How an account is told: `(account, config) -> value`, the encoding of getAccountInfo.
EncodeAccount = Callable[[Account, dict[str, Any]], dict[str, Any]]


@dataclass
class _Subscription:
    connection: ServerConnection
    commitment: str


@dataclass
class _SignatureSubscription(_Subscription):
    signature: Signature
    received: bool  # enableReceivedNotification


@dataclass
class _AccountSubscription(_Subscription):
    address: Pubkey
    config: dict[str, Any]
    seen: bytes  # the account's state last told (or at subscribing)
    changed_at: int | None = None  # the slot of a change not told yet


@dataclass
class _LogsSubscription(_Subscription):
    mentions: Pubkey | None  # None: every transaction
    after: int  # the last transaction number looked at


class PubSub:
    """Every live subscription, by id (ids are unique across kinds, as a validator's)."""

    def __init__(self, ledger: SimLedger, encode_account: EncodeAccount) -> None:
        self.ledger = ledger
        self.encode_account = encode_account
        self._subs: dict[int, _Subscription] = {}
        self._slot_subs: dict[int, ServerConnection] = {}
        self._next = 0
        self._notified_slot = ledger.slot
        self._outbox: list[tuple[ServerConnection, str]] = []

    # ------------------------------------------------------------------ requests
    def call(self, connection: ServerConnection, method: str, params: list[Any]) -> Any:
        """Answer one PubSub request (`RpcError` for a refusal)."""
        if method == "slotSubscribe":
            return self._add_slot(connection)
        subscribe = {
            "signatureSubscribe": self._signature,
            "accountSubscribe": self._account,
            "logsSubscribe": self._logs,
        }.get(method)
        if subscribe is not None:
            subscription = subscribe(connection, params)
            self._subs[self._next] = subscription
            self._next += 1
            return self._next - 1
        kinds = {
            "signatureUnsubscribe": _SignatureSubscription,
            "accountUnsubscribe": _AccountSubscription,
            "logsUnsubscribe": _LogsSubscription,
        }
        if method in kinds or method == "slotUnsubscribe":
            return self._remove(connection, kinds.get(method), param(params, 0, "subscription"))
        raise RpcError(-32601, "Method not found")

    def _commitment(self, config: dict[str, Any]) -> str:
        commitment = config.get("commitment", "finalized")
        if commitment not in COMMITMENTS:
            raise invalid_params(f"Invalid params: unknown commitment `{commitment}`.")
        return str(commitment)

    def _signature(self, connection: ServerConnection, params: list[Any]) -> _Subscription:
        signature = signature_param(param(params, 0, "signature"))
        config = config_param(params, 1)
        received = bool(config.get("enableReceivedNotification"))
        return _SignatureSubscription(connection, self._commitment(config), signature, received)

    def _account(self, connection: ServerConnection, params: list[Any]) -> _Subscription:
        address = pubkey_param(param(params, 0, "pubkey"))
        config = config_param(params, 1)
        commitment = self._commitment(config)
        return _AccountSubscription(connection, commitment, address, config, self._state(address))

    def _logs(self, connection: ServerConnection, params: list[Any]) -> _Subscription:
        chosen = param(params, 0, "filter")
        mentions = None
        if isinstance(chosen, dict) and isinstance(chosen.get("mentions"), list):
            if len(chosen["mentions"]) != 1:
                raise invalid_params("Invalid Request: Only 1 address supported")
            mentions = pubkey_param(chosen["mentions"][0])
        elif chosen not in ("all", "allWithVotes"):
            raise invalid_params("Invalid params: unknown filter; use all or mentions.")
        commitment = self._commitment(config_param(params, 1))
        return _LogsSubscription(connection, commitment, mentions, self.ledger.transaction_count)

    def _add_slot(self, connection: ServerConnection) -> int:
        self._slot_subs[self._next] = connection
        self._next += 1
        return self._next - 1

    def _remove(self, connection: ServerConnection, kind: type | None, subscription: Any) -> bool:
        registry: dict[int, Any] = self._slot_subs if kind is None else self._subs
        entry = registry.get(subscription) if isinstance(subscription, int) else None
        owner = entry if kind is None else getattr(entry, "connection", None)
        if entry is None or owner is not connection or (kind and not isinstance(entry, kind)):
            raise invalid_params("Invalid subscription id.")
        del registry[subscription]
        return True

    def drop_connection(self, connection: ServerConnection) -> None:
        for subscription, entry in list(self._subs.items()):
            if entry.connection is connection:
                del self._subs[subscription]
        for subscription, owner in list(self._slot_subs.items()):
            if owner is connection:
                del self._slot_subs[subscription]

    # ------------------------------------------------------------------ notifications
    def mark_received(self, signature: Signature) -> None:
        """Queue "receivedSignature" for subscribers that asked for it (sent by `notify`, before
        any status notification, so the order is the validator's)."""
        for subscription, entry in self._subs.items():
            if (
                isinstance(entry, _SignatureSubscription)
                and entry.signature == signature
                and entry.received
            ):
                entry.received = False
                body = {"context": {"slot": self.ledger.slot}, "value": "receivedSignature"}
                message = notification("signatureNotification", subscription, body)
                self._outbox.append((entry.connection, message))

    async def notify(self) -> None:
        """Send what is due: a slot notification for a new slot (the latest one only, when the
        clock jumped several), then each subscription's notifications that reached their
        commitment.

        Everything is decided before the first `await`, so the ticker and a request handler
        running this at the same time never send a notification twice.
        """
        outbox, self._outbox = self._outbox, []
        slot = self.ledger.slot
        if slot != self._notified_slot:
            self._notified_slot = slot
            body = {"parent": slot - 1, "root": max(0, slot - FINALITY_SLOTS), "slot": slot}
            for subscription, connection in self._slot_subs.items():
                outbox.append((connection, notification("slotNotification", subscription, body)))
        for subscription, entry in list(self._subs.items()):
            for method, body in self._due(subscription, entry):
                outbox.append((entry.connection, notification(method, subscription, body)))
        for connection, message in outbox:
            await send_text(connection, message)

    def _due(self, subscription: int, entry: _Subscription) -> list[tuple[str, Any]]:
        if isinstance(entry, _SignatureSubscription):
            return self._signature_due(subscription, entry)
        if isinstance(entry, _AccountSubscription):
            return self._account_due(entry)
        assert isinstance(entry, _LogsSubscription)
        return self._logs_due(entry)

    def _reached(self, slot: int, commitment: str) -> bool:
        """Whether a block of `slot` has reached `commitment` by now."""
        return commitment != "finalized" or self.ledger.slot - slot >= FINALITY_SLOTS

    def _signature_due(
        self, subscription: int, entry: _SignatureSubscription
    ) -> list[tuple[str, Any]]:
        outcome = self.ledger.status(entry.signature)
        if outcome is None:
            return []
        reached = self.ledger.confirmation(outcome)
        if COMMITMENTS[reached] < COMMITMENTS[entry.commitment]:
            return []
        del self._subs[subscription]
        err = None if outcome.err is None else error_value(outcome.err)
        body = {"context": {"slot": outcome.slot}, "value": {"err": err}}
        return [("signatureNotification", body)]

    def _account_due(self, entry: _AccountSubscription) -> list[tuple[str, Any]]:
        state = self._state(entry.address)
        if state == entry.seen:
            entry.changed_at = None  # changed back before it was told: nothing to tell
            return []
        if entry.changed_at is None:
            entry.changed_at = self.ledger.slot
        if not self._reached(entry.changed_at, entry.commitment):
            return []
        entry.seen, entry.changed_at = state, None
        account = self.ledger.account(entry.address) or _EMPTY
        value = self.encode_account(account, entry.config)
        return [("accountNotification", {"context": {"slot": self.ledger.slot}, "value": value})]

    def _logs_due(self, entry: _LogsSubscription) -> list[tuple[str, Any]]:
        """The transactions since the last told, oldest first, up to the first whose block has
        not reached the commitment yet (blocks reach it in slot order)."""
        due = []
        for record in reversed(list(self.ledger.recent_transactions(entry.after))):
            outcome = record.outcome
            if not self._reached(outcome.slot, entry.commitment):
                break
            entry.after = record.seq
            keys = record.transaction.message.account_keys
            if entry.mentions is not None and entry.mentions not in keys:
                continue
            err = None if outcome.err is None else error_value(outcome.err)
            value = {"signature": str(outcome.signature), "err": err, "logs": list(outcome.logs)}
            due.append(("logsNotification", {"context": {"slot": outcome.slot}, "value": value}))
        return due

    def _state(self, address: Pubkey) -> bytes:
        account = self.ledger.account(address)
        return b"" if account is None else bytes(account)


_EMPTY = Account(0, b"", Pubkey.from_string("11111111111111111111111111111111"), False, 0)
