"""Swap v2 `/build`: Jupiter's instructions, read and assembled into the taker's transaction.

Verified shapes (github.com/jup-ag/docs `openapi-spec/swap/v2/swap.yaml`, GetBuild; the pages
dev.jup.ag/docs/swap/v2/build and .../build/other-instructions, November 2026):

- `GET /swap/v2/build` query `inputMint`, `outputMint`, `amount` (atoms), `taker` (required),
  `slippageBps` (default 50), `mode` ("fast"), `maxAccounts` (1..64, default 64), `payer`,
  `wrapAndUnwrapSol` (default true), `blockhashSlotsToExpiry` (1..300, default 150),
  `computeUnitPricePercentile` (medium = p25, high = p50, veryHigh = p75, or 0..10000 bps),
  `tipAmount`, `dexes`/`excludeDexes`, `platformFeeBps` + `feeAccount`. Metis routing only, no
  Jupiter fee; `/execute` does not take these transactions: the caller lands them.
- 200 answer: `inputMint`, `outputMint`, `inAmount`, `outAmount`, `otherAmountThreshold`
  (strings), `swapMode`, `slippageBps`, `priceImpactPct` (a ratio as a string), `routePlan[]`,
  `computeBudgetInstructions[]` (the unit price only: no limit), `setupInstructions[]`,
  `swapInstruction`, `cleanupInstruction` (or null), `otherInstructions[]`, `tipInstruction`
  (or null), `addressesByLookupTableAddress` ({table: [addresses]} or null),
  `blockhashWithMetadata` {`blockhash` (an array of 32 bytes), `lastValidBlockHeight`,
  `fetchedAt` {secs_since_epoch, nanos_since_epoch}}. An instruction is `{programId, accounts:
  [{pubkey, isSigner, isWritable}], data (base64)}`. 400 answer: `{"error": ...}` ("No routes
  found" for an unknown dex label or no liquidity).
- Order of the instructions, as the docs give it: compute budget, setup, (the caller's own
  pre-swap instructions), swap, (the caller's post-swap ones), cleanup. Where the other and tip
  instructions go the docs do not say; they come last here (a tip is a plain transfer).

The caller sets the compute-unit limit (Jupiter: simulate, then 1.2× the units used) and its own
unit price: `assemble` replaces every compute-budget instruction Jupiter sent with exactly one
limit and one price, so a price Jupiter chose can never raise what the bot decided to pay.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey

from solbot.chain.builders import compute_unit_limit, compute_unit_price
from solbot.execution.jupiter_types import BadResponseError
from solbot.execution.jupiter_wire import (
    amount_field,
    check_mints,
    impact_pct,
    int_field,
    json_object,
    route_labels,
)

COMPUTE_BUDGET_PROGRAM = Pubkey.from_string("ComputeBudget111111111111111111111111111111")


@dataclass(frozen=True, slots=True)
class SwapBuild:
    """A `/build` answer: the quote and the instructions to assemble. Amounts are atoms."""

    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    other_amount_threshold: int
    slippage_bps: int | None
    price_impact_pct: Decimal
    route_labels: tuple[str, ...]
    setup: tuple[Instruction, ...] = field(repr=False)
    swap: Instruction = field(repr=False)
    cleanup: Instruction | None = field(repr=False)
    other: tuple[Instruction, ...] = field(repr=False)
    tip: Instruction | None = field(repr=False)
    lookup_tables: tuple[AddressLookupTableAccount, ...] = field(repr=False)
    blockhash: Hash
    last_valid_block_height: int

    def instructions(self, *, unit_limit: int, unit_price: int) -> list[Instruction]:
        """The transaction's instructions in Jupiter's order, with our compute budget."""
        found = [compute_unit_limit(unit_limit), compute_unit_price(unit_price)]
        found += self.setup
        found.append(self.swap)
        if self.cleanup is not None:
            found.append(self.cleanup)
        found += self.other
        if self.tip is not None:
            found.append(self.tip)
        return found

    def message(self, payer: Pubkey, *, unit_limit: int, unit_price: int) -> MessageV0:
        """The v0 message `payer` signs (its lookup tables compress the accounts)."""
        ixs = self.instructions(unit_limit=unit_limit, unit_price=unit_price)
        return MessageV0.try_compile(payer, ixs, list(self.lookup_tables), self.blockhash)


def parse_build(body: Any, what: str, in_mint: str, out_mint: str) -> SwapBuild:
    """A `/build` 200 answer, checked field by field (`BadResponseError` names the first that
    is not the documented shape)."""
    data = json_object(body, what)
    check_mints(data, what, in_mint, out_mint)
    budget = _instructions(data.get("computeBudgetInstructions", []), what, "computeBudget")
    stray = [ix for ix in budget if ix.program_id != COMPUTE_BUDGET_PROGRAM]
    if stray:
        raise BadResponseError(
            f"unexpected Jupiter answer to {what}: a compute budget instruction for "
            f"{stray[0].program_id}"
        )
    swap = data.get("swapInstruction")
    if swap is None:
        raise BadResponseError(f"unexpected Jupiter answer to {what}: no swapInstruction")
    return SwapBuild(
        input_mint=in_mint,
        output_mint=out_mint,
        in_amount=amount_field(data, "inAmount", what),
        out_amount=amount_field(data, "outAmount", what),
        other_amount_threshold=amount_field(data, "otherAmountThreshold", what),
        slippage_bps=int_field(data, "slippageBps", what),
        price_impact_pct=impact_pct(data, what),
        route_labels=route_labels(data, what),
        setup=tuple(_instructions(data.get("setupInstructions", []), what, "setup")),
        swap=_instruction(swap, what, "swapInstruction"),
        cleanup=_optional(data.get("cleanupInstruction"), what, "cleanupInstruction"),
        other=tuple(_instructions(data.get("otherInstructions", []), what, "other")),
        tip=_optional(data.get("tipInstruction"), what, "tipInstruction"),
        lookup_tables=_lookup_tables(data.get("addressesByLookupTableAddress"), what),
        blockhash=_blockhash(data.get("blockhashWithMetadata"), what),
        last_valid_block_height=_last_valid(data.get("blockhashWithMetadata"), what),
    )


def _instructions(value: Any, what: str, name: str) -> list[Instruction]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadResponseError(f"unexpected Jupiter answer to {what}: {name}Instructions")
    return [_instruction(item, what, f"{name}Instructions[{n}]") for n, item in enumerate(value)]


def _optional(value: Any, what: str, name: str) -> Instruction | None:
    return None if value is None else _instruction(value, what, name)


def _instruction(value: Any, what: str, name: str) -> Instruction:
    bad = BadResponseError(f"unexpected Jupiter answer to {what}: {name} is not an instruction")
    if not isinstance(value, Mapping):
        raise bad
    accounts = value.get("accounts")
    if not isinstance(accounts, list) or not isinstance(value.get("data"), str):
        raise bad
    try:
        program = Pubkey.from_string(str(value.get("programId")))
        data = base64.b64decode(value["data"], validate=True)
        metas = [_meta(account) for account in accounts]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise bad from None
    return Instruction(program, data, metas)


def _meta(account: Any) -> AccountMeta:
    if not isinstance(account, Mapping):
        raise TypeError("account is not an object")
    signer, writable = account.get("isSigner"), account.get("isWritable")
    if not isinstance(signer, bool) or not isinstance(writable, bool):
        raise TypeError("isSigner and isWritable must be booleans")
    return AccountMeta(Pubkey.from_string(str(account.get("pubkey"))), signer, writable)


def _lookup_tables(value: Any, what: str) -> tuple[AddressLookupTableAccount, ...]:
    if value is None:
        return ()
    bad = BadResponseError(f"unexpected Jupiter answer to {what}: addressesByLookupTableAddress")
    if not isinstance(value, Mapping):
        raise bad
    tables = []
    try:
        for key, addresses in value.items():
            if not isinstance(addresses, Sequence) or isinstance(addresses, str):
                raise bad
            table = [Pubkey.from_string(str(address)) for address in addresses]
            tables.append(AddressLookupTableAccount(Pubkey.from_string(str(key)), table))
    except ValueError:
        raise bad from None
    return tuple(tables)


def _blockhash(meta: Any, what: str) -> Hash:
    bad = BadResponseError(f"unexpected Jupiter answer to {what}: blockhashWithMetadata")
    if not isinstance(meta, Mapping):
        raise bad
    raw = meta.get("blockhash")
    if not isinstance(raw, list) or len(raw) != 32:
        raise bad
    if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in raw):
        raise bad
    return Hash(bytes(raw))


def _last_valid(meta: Any, what: str) -> int:
    height = int_field(meta, "lastValidBlockHeight", what) if isinstance(meta, Mapping) else None
    if height is None or height < 0:
        raise BadResponseError(
            f"unexpected Jupiter answer to {what}: no blockhashWithMetadata.lastValidBlockHeight"
        )
    return height
