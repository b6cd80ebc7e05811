"""Swap v2 `/build` in the sim: instructions the taker assembles, signs and lands itself.

Jupiter's `/build` (Metis routing, no Jupiter fee) answers a quote with instructions: compute
budget (the unit price only), setup (create token accounts, wrap SOL), one swap instruction into
Jupiter's program, an optional cleanup (unwrap SOL), lookup tables and a blockhash. The caller
adds the compute-unit limit, signs as the only signer and sends through its own RPC.

**How the sim settles without a swap program.** LiteSVM runs only the programs it is given, and
no SBF toolchain is at hand to compile one, so the maker settles through the SPL Token program's
delegation instead, still needing no signature but the taker's:

1. At `/build` the maker escrows the output: a fresh token account it owns, holding exactly
   `outAmount` (wrapped SOL for a SOL output), with the taker approved as delegate for exactly
   that amount. One transaction of the maker's, landed before the answer.
2. The taker's transaction pays the input (the last setup instruction: a System transfer of
   lamports, or a `transfer_checked` into the maker's associated account) and takes the escrow
   (the swap instruction: a `transfer_checked` signed by the taker as delegate). Both or
   neither: it is one transaction.
3. A SOL output arrives as wrapped SOL in the taker's wSOL account, which setup creates and the
   cleanup instruction closes (unwrapping it, its rent back to the taker), as Jupiter does with
   `wrapAndUnwrapSol`.
4. Once the blockhash can no longer land (the ledger's own window, never earlier than the
   `lastValidBlockHeight` answered), the maker takes back what is left and closes the escrow
   (`sweep`, on every request). A restarted sim cannot land an old blockhash at all, so it
   reclaims every escrow it finds (`reclaim_all`).

The quote is firm: the escrow pays exactly `outAmount`, and `otherAmountThreshold` is what a
Metis route would promise (`outAmount` less the slippage). One pricing function for every path
(`SimMaker.price_swap`). The unit price is the requested percentile of the recent priority fees
the sim's RPC reports (congestion included), `computeUnitPricePercentile` medium (p25) when
absent.
"""

from __future__ import annotations

import base64
import hashlib
import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.token.state import TokenAccount
from spl.token.constants import ACCOUNT_LEN, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    approve_checked,
    close_account,
    initialize_account3,
    transfer_checked,
)
from spl.token.models import (
    ApproveCheckedParams,
    CloseAccountParams,
    InitializeAccount3Params,
    TransferCheckedParams,
)

from solbot.chain.builders import (
    associated_token_address,
    compute_unit_price,
    create_associated_token_account,
    sol_transfer,
)
from solbot.sim.ledger import new_keypair_from_seed
from solbot.sim.maker import NATIVE_SOL_MINT, TOKEN_ACCOUNT_RENT, SimMaker
from solbot.sim.maker_types import InvalidRequestError, Pricing

__all__ = [
    "PERCENTILES",
    "TIP_ACCOUNT",
    "Built",
    "SwapBuilder",
    "instruction_json",
]

# `computeUnitPricePercentile`'s named levels, in basis points of the distribution.
PERCENTILES = {"medium": 2_500, "high": 5_000, "veryHigh": 7_500}
DEFAULT_PERCENTILE = PERCENTILES["medium"]
DEFAULT_SLOTS_TO_EXPIRY = 150  # Jupiter's default `blockhashSlotsToExpiry`
TIP_ACCOUNT = new_keypair_from_seed(b"solbot-sim-tip-account").pubkey()
RENT_EXEMPT_MINIMUM = 890_880  # lamports a 0-byte account must hold
_SWEEP_BATCH = 6  # escrows closed per maker transaction (two instructions each)
_BUILDERS: weakref.WeakKeyDictionary[SimMaker, SwapBuilder] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Built:
    """A `/build` answer before it is JSON: the quote and the taker's instructions."""

    pricing: Pricing
    unit_price: int  # micro-lamports per compute unit, the compute budget instruction's
    setup: tuple[Instruction, ...]
    swap: Instruction
    cleanup: Instruction | None
    tip: Instruction | None
    blockhash: Hash
    last_valid_block_height: int

    @property
    def compute_budget(self) -> tuple[Instruction, ...]:
        return (compute_unit_price(self.unit_price),)


@dataclass(frozen=True, slots=True)
class _Escrow:
    address: Pubkey
    mint: Pubkey
    lands_until: int  # the last block height at which the taker's blockhash is accepted


class SwapBuilder:
    """`/build` for `maker`: escrows each quote's output for its taker, and takes back what
    expired. Shares the maker's event loop and ledger (not thread-safe, like them)."""

    def __init__(self, maker: SimMaker) -> None:
        self.maker = maker
        self._open: list[_Escrow] = []  # in the order made: the stale ones are at the front
        self._made = 0

    @classmethod
    def of(cls, maker: SimMaker) -> SwapBuilder:
        """The maker's one builder (every API over the maker shares its escrows); the first
        call reclaims what an earlier process left (`reclaim_all`)."""
        builder = _BUILDERS.get(maker)
        if builder is None:
            builder = _BUILDERS[maker] = cls(maker)
            builder.reclaim_all()
            if maker.ledger.account(TIP_ACCOUNT) is None:  # a tip account exists, as on mainnet
                maker.ledger.airdrop(TIP_ACCOUNT, RENT_EXEMPT_MINIMUM)
        return builder

    def build(
        self,
        pricing: Pricing,
        taker: Pubkey,
        *,
        payer: Pubkey | None = None,
        unit_price: int = 0,
        tip_lamports: int = 0,
        slots_to_expiry: int = DEFAULT_SLOTS_TO_EXPIRY,
    ) -> Built:
        maker = self.maker.pubkey
        if taker == maker:
            raise InvalidRequestError("the taker cannot be the maker")
        payer = payer or taker
        self.sweep()
        blockhash, lands_until = self.maker.ledger.latest_blockhash()
        answered = min(lands_until, self.maker.ledger.block_height + slots_to_expiry)
        escrow = self._escrow(pricing, taker)
        self._open.append(_Escrow(escrow, pricing.output_mint, lands_until))
        out_mint, out_token = pricing.output_mint, self.maker.tokens[pricing.output_mint]
        receive = associated_token_address(taker, out_mint)
        setup = [create_associated_token_account(payer, taker, out_mint)]
        setup.append(self._payment(pricing, taker))
        swap = _transfer(escrow, receive, taker, out_mint, pricing.out_amount, out_token.decimals)
        cleanup = None
        if out_mint == NATIVE_SOL_MINT:  # unwrap: the wSOL account's lamports go to the taker
            cleanup = close_account(
                CloseAccountParams(
                    program_id=TOKEN_PROGRAM_ID, account=receive, dest=taker, owner=taker
                )
            )
        tip = sol_transfer(payer, TIP_ACCOUNT, tip_lamports) if tip_lamports else None
        return Built(pricing, unit_price, tuple(setup), swap, cleanup, tip, blockhash, answered)

    def _payment(self, pricing: Pricing, taker: Pubkey) -> Instruction:
        maker = self.maker.pubkey
        if pricing.input_mint == NATIVE_SOL_MINT:
            return sol_transfer(taker, maker, pricing.in_amount)
        decimals = self.maker.tokens[pricing.input_mint].decimals
        return _transfer(
            associated_token_address(taker, pricing.input_mint),
            associated_token_address(maker, pricing.input_mint),
            taker,
            pricing.input_mint,
            pricing.in_amount,
            decimals,
        )

    def _escrow(self, pricing: Pricing, taker: Pubkey) -> Pubkey:
        """Create, fund and approve the escrow of `pricing`'s output for `taker` (one maker
        transaction, landed now); also the maker's account for the input, if missing."""
        maker, ledger = self.maker.pubkey, self.maker.ledger
        self._made += 1
        seed = b"%s|%s|%d|%d" % (bytes(maker), bytes(taker), ledger.slot, self._made)
        account = Keypair.from_seed(hashlib.sha256(b"sim-escrow|" + seed).digest())
        escrow, mint = account.pubkey(), pricing.output_mint
        native = mint == NATIVE_SOL_MINT
        amount, decimals = pricing.out_amount, self.maker.tokens[mint].decimals
        lamports = TOKEN_ACCOUNT_RENT + (amount if native else 0)
        steps: list[Instruction] = []
        if (
            pricing.input_mint != NATIVE_SOL_MINT
            and self.maker.ledger.account(associated_token_address(maker, pricing.input_mint))
            is None
        ):
            steps.append(create_associated_token_account(maker, maker, pricing.input_mint))
        steps += [
            create_account(
                CreateAccountParams(
                    from_pubkey=maker,
                    to_pubkey=escrow,
                    lamports=lamports,
                    space=ACCOUNT_LEN,
                    owner=TOKEN_PROGRAM_ID,
                )
            ),
            initialize_account3(
                InitializeAccount3Params(
                    program_id=TOKEN_PROGRAM_ID, account=escrow, mint=mint, owner=maker
                )
            ),
        ]
        if not native:  # wrapped SOL holds its amount as lamports from the start
            steps.append(
                _transfer(
                    associated_token_address(maker, mint), escrow, maker, mint, amount, decimals
                )
            )
        steps.append(
            approve_checked(
                ApproveCheckedParams(
                    program_id=TOKEN_PROGRAM_ID,
                    source=escrow,
                    mint=mint,
                    delegate=taker,
                    owner=maker,
                    amount=amount,
                    decimals=decimals,
                )
            )
        )
        self.maker.land_own(steps, account)
        return escrow

    # ------------------------------------------------------------------ taking back
    def sweep(self) -> int:
        """Take back every escrow whose taker can no longer land (its blockhash expired);
        how many were closed."""
        height = self.maker.ledger.block_height
        stale = 0
        while stale < len(self._open) and self._open[stale].lands_until < height:
            stale += 1
        if not stale:
            return 0
        done, self._open = self._open[:stale], self._open[stale:]
        self._close([(e.address, e.mint) for e in done])
        return stale

    def reclaim_all(self) -> int:
        """At start: close every escrow a previous run of the sim left (nothing signed before a
        restart can land after it); how many. An escrow is any token account of the maker's
        that is not its associated account for the mint."""
        maker = self.maker.pubkey
        left = []
        for address, account in self.maker.ledger.token_accounts(maker):
            mint = TokenAccount.from_bytes(bytes(account.data)).mint
            if address != associated_token_address(maker, mint):
                left.append((address, mint))
        self._open = []
        self._close(left)
        return len(left)

    def _close(self, escrows: Sequence[tuple[Pubkey, Pubkey]]) -> None:
        maker, ledger = self.maker.pubkey, self.maker.ledger
        for start in range(0, len(escrows), _SWEEP_BATCH):
            steps: list[Instruction] = []
            for address, mint in escrows[start : start + _SWEEP_BATCH]:
                account = ledger.account(address)
                if account is None:
                    continue
                held = TokenAccount.from_bytes(bytes(account.data)).amount
                if held and mint != NATIVE_SOL_MINT:  # wrapped SOL goes back as lamports
                    home = associated_token_address(maker, mint)
                    decimals = self.maker.tokens[mint].decimals
                    steps.append(_transfer(address, home, maker, mint, held, decimals))
                steps.append(
                    close_account(
                        CloseAccountParams(
                            program_id=TOKEN_PROGRAM_ID, account=address, dest=maker, owner=maker
                        )
                    )
                )
            if steps:
                self.maker.land_own(steps)


# ---------------------------------------------------------------------- the answer's shapes
def instruction_json(ix: Instruction) -> dict[str, Any]:
    """Jupiter's Instruction schema: programId, accounts [{pubkey, isSigner, isWritable}], and
    the data in base64."""
    return {
        "programId": str(ix.program_id),
        "accounts": [
            {"pubkey": str(m.pubkey), "isSigner": m.is_signer, "isWritable": m.is_writable}
            for m in ix.accounts
        ],
        "data": base64.b64encode(bytes(ix.data)).decode(),
    }


def built_body(
    built: Built,
    *,
    slippage_bps: int,
    route_step: Mapping[str, Any],
    fetched_at: float,
) -> dict[str, Any]:
    """The `/build` 200 answer (openapi-spec/swap/v2/swap.yaml, GetBuild)."""
    pricing = built.pricing
    threshold = pricing.out_amount * (10_000 - slippage_bps) // 10_000
    impact = pricing.price_impact_pct / 100.0
    secs = math.floor(fetched_at)
    return {
        "inputMint": str(pricing.input_mint),
        "outputMint": str(pricing.output_mint),
        "inAmount": str(pricing.in_amount),
        "outAmount": str(pricing.out_amount),
        "otherAmountThreshold": str(threshold),
        "swapMode": "ExactIn",
        "slippageBps": slippage_bps,
        "priceImpactPct": repr(impact),
        "routePlan": [dict(route_step)],
        "computeBudgetInstructions": [instruction_json(ix) for ix in built.compute_budget],
        "setupInstructions": [instruction_json(ix) for ix in built.setup],
        "swapInstruction": instruction_json(built.swap),
        "cleanupInstruction": None if built.cleanup is None else instruction_json(built.cleanup),
        "otherInstructions": [],
        "tipInstruction": None if built.tip is None else instruction_json(built.tip),
        "addressesByLookupTableAddress": None,
        "blockhashWithMetadata": {
            "blockhash": list(bytes(built.blockhash)),
            "lastValidBlockHeight": built.last_valid_block_height,
            "fetchedAt": {
                "secs_since_epoch": secs,
                "nanos_since_epoch": round((fetched_at - secs) * 1e9) % 1_000_000_000,
            },
        },
    }


def _transfer(
    source: Pubkey, dest: Pubkey, authority: Pubkey, mint: Pubkey, amount: int, decimals: int
) -> Instruction:
    return transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=source,
            mint=mint,
            dest=dest,
            owner=authority,
            amount=amount,
            decimals=decimals,
        )
    )
